//! Python source → PxL tree. ruff's parser takes the whole of Python; this
//! lowering keeps PxL's subset and names everything else with its position
//! and what PxL offers instead.

use std::cell::Cell;

use ruff_python_ast as py;
use ruff_text_size::{Ranged, TextSize};

use crate::ast::*;
use crate::error::{PxlError, Result};

pub fn parse(source: &str) -> Result<Vec<Stmt>> {
    let lines = Lines::new(source);
    let parsed = ruff_python_parser::parse_module(source)
        .map_err(|e| PxlError::at(lines.pos(e.location.start()), format!("syntax error: {}", e.error)))?;
    let lower = Lower { lines, depth: Cell::new(0) };
    parsed.syntax().body.iter().map(|s| lower.stmt(s)).collect()
}

/// Byte offsets of line starts, to turn ruff's offsets into line and column.
struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(source: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Lines { source, starts }
    }

    fn pos(&self, offset: TextSize) -> Pos {
        let offset = usize::from(offset).min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.source.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        Pos { line: line as u32, column: column as u32 }
    }
}

/// Deeper expressions than this are refused: no real script comes close,
/// and the compiler recurses once per level.
const MAX_DEPTH: usize = 200;

struct Lower<'a> {
    lines: Lines<'a>,
    depth: Cell<usize>,
}

fn unsupported(pos: Pos, what: &str, instead: &str) -> PxlError {
    PxlError::at(pos, format!("{what} is not supported in PxL; {instead}"))
}

impl Lower<'_> {
    fn pos(&self, node: &impl Ranged) -> Pos {
        self.lines.pos(node.start())
    }

    fn stmt(&self, s: &py::Stmt) -> Result<Stmt> {
        self.nested(self.pos(s), || self.lower_stmt(s))
    }

    fn lower_stmt(&self, s: &py::Stmt) -> Result<Stmt> {
        let pos = self.pos(s);
        let kind = match s {
            py::Stmt::Import(i) => {
                let [alias] = i.names.as_slice() else {
                    return Err(PxlError::at(pos, "import one module per line: `import px`"));
                };
                let module = alias.name.id.to_string();
                if module != "px" && module != "pl" {
                    return Err(PxlError::at(pos, format!("no module `{module}`: PxL scripts import `px`")));
                }
                let alias = alias.asname.as_ref().map_or_else(|| module.clone(), |a| a.id.to_string());
                StmtKind::Import { module, alias }
            }
            py::Stmt::Assign(a) => {
                let [target] = &*a.targets else {
                    return Err(unsupported(pos, "chained assignment", "assign one name at a time"));
                };
                StmtKind::Assign { target: self.target(target)?, value: self.expr(&a.value)? }
            }
            py::Stmt::AnnAssign(a) => match &a.value {
                Some(value) => StmtKind::Assign { target: self.target(&a.target)?, value: self.expr(value)? },
                None => return Err(PxlError::at(pos, "an annotated name needs a value")),
            },
            py::Stmt::Expr(e) => StmtKind::Expr(self.expr(&e.value)?),
            py::Stmt::FunctionDef(f) => StmtKind::FuncDef(self.func(pos, f)?),
            py::Stmt::Return(r) => StmtKind::Return(r.value.as_deref().map(|v| self.expr(v)).transpose()?),
            py::Stmt::Pass(_) => StmtKind::Pass,
            py::Stmt::For(_) | py::Stmt::While(_) => {
                return Err(unsupported(
                    pos,
                    "a loop",
                    "operations apply to whole columns: use a filter, groupby/agg or px.select",
                ));
            }
            py::Stmt::If(_) => {
                return Err(unsupported(pos, "`if`", "choose per row with px.select(cond, a, b), or filter rows"));
            }
            py::Stmt::ImportFrom(_) => return Err(unsupported(pos, "`from … import`", "write `import px`")),
            py::Stmt::AugAssign(_) => {
                return Err(unsupported(pos, "augmented assignment", "write `df.x = df.x + 1`"));
            }
            py::Stmt::ClassDef(_) => return Err(unsupported(pos, "a class", "define functions with `def`")),
            other => {
                let name = format!("`{}`", stmt_keyword(other));
                return Err(unsupported(pos, &name, "PxL has imports, assignments, `def`, `return` and calls"));
            }
        };
        Ok(Stmt { pos, kind })
    }

    fn func(&self, pos: Pos, f: &py::StmtFunctionDef) -> Result<FuncDef> {
        if f.is_async || !f.decorator_list.is_empty() {
            return Err(unsupported(pos, "an async or decorated function", "write a plain `def`"));
        }
        let p = &f.parameters;
        if p.vararg.is_some() || p.kwarg.is_some() || !p.posonlyargs.is_empty() || !p.kwonlyargs.is_empty() {
            return Err(unsupported(pos, "`*args`, `**kwargs` or `/`, `*` markers", "list each parameter by name"));
        }
        let params = p
            .args
            .iter()
            .map(|a| {
                Ok(Param {
                    name: a.parameter.name.id.to_string(),
                    annotation: a.parameter.annotation.as_deref().map(|e| self.expr(e)).transpose()?,
                    default: a.default.as_deref().map(|e| self.expr(e)).transpose()?,
                })
            })
            .collect::<Result<_>>()?;
        let body = f.body.iter().map(|s| self.stmt(s)).collect::<Result<_>>()?;
        Ok(FuncDef { name: f.name.id.to_string(), params, body })
    }

    fn target(&self, e: &py::Expr) -> Result<Target> {
        Ok(match e {
            py::Expr::Name(n) => Target::Name(n.id.to_string()),
            py::Expr::Attribute(a) => Target::Attr { object: self.expr(&a.value)?, name: a.attr.id.to_string() },
            py::Expr::Subscript(s) => Target::Subscript { object: self.expr(&s.value)?, key: self.expr(&s.slice)? },
            _ => {
                return Err(unsupported(
                    self.pos(e),
                    "this assignment target",
                    "assign to a name, `df.col` or `df['col']`",
                ));
            }
        })
    }

    fn exprs(&self, es: &[py::Expr]) -> Result<Vec<Expr>> {
        es.iter().map(|e| self.expr(e)).collect()
    }

    fn expr(&self, e: &py::Expr) -> Result<Expr> {
        self.nested(self.pos(e), || self.lower_expr(e))
    }

    fn nested<T>(&self, pos: Pos, lower: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.depth.get() >= MAX_DEPTH {
            return Err(PxlError::at(pos, format!("the script nests deeper than {MAX_DEPTH} levels")));
        }
        self.depth.set(self.depth.get() + 1);
        let lowered = lower();
        self.depth.set(self.depth.get() - 1);
        lowered
    }

    fn lower_expr(&self, e: &py::Expr) -> Result<Expr> {
        let pos = self.pos(e);
        let boxed = |e: &py::Expr| self.expr(e).map(Box::new);
        let kind = match e {
            py::Expr::Name(n) => ExprKind::Name(n.id.to_string()),
            py::Expr::StringLiteral(s) => ExprKind::Str(s.value.to_str().to_owned()),
            py::Expr::NumberLiteral(n) => match &n.value {
                py::Number::Int(i) => {
                    ExprKind::Int(i.as_i64().ok_or_else(|| PxlError::at(pos, "integer does not fit in 64 bits"))?)
                }
                py::Number::Float(f) => ExprKind::Float(*f),
                py::Number::Complex { .. } => return Err(unsupported(pos, "a complex number", "use ints or floats")),
            },
            py::Expr::BooleanLiteral(b) => ExprKind::Bool(b.value),
            py::Expr::NoneLiteral(_) => ExprKind::None,
            py::Expr::List(l) => ExprKind::List(self.exprs(&l.elts)?),
            py::Expr::Tuple(t) => ExprKind::Tuple(self.exprs(&t.elts)?),
            py::Expr::Dict(d) => ExprKind::Dict(
                d.items
                    .iter()
                    .map(|item| match &item.key {
                        Some(k) => Ok((self.expr(k)?, self.expr(&item.value)?)),
                        None => Err(unsupported(pos, "`**` in a dict", "write the keys out")),
                    })
                    .collect::<Result<_>>()?,
            ),
            py::Expr::Attribute(a) => ExprKind::Attr { value: boxed(&a.value)?, attr: a.attr.id.to_string() },
            py::Expr::Subscript(s) => {
                if matches!(*s.slice, py::Expr::Slice(_)) {
                    return Err(unsupported(pos, "slicing", "take rows with df.head(n)"));
                }
                ExprKind::Subscript { value: boxed(&s.value)?, index: boxed(&s.slice)? }
            }
            py::Expr::Call(c) => {
                let mut kwargs = Vec::new();
                for k in &c.arguments.keywords {
                    let Some(name) = &k.arg else {
                        return Err(unsupported(self.pos(k), "`**kwargs` in a call", "name each argument"));
                    };
                    kwargs.push((name.id.to_string(), self.expr(&k.value)?));
                }
                if c.arguments.args.iter().any(|a| matches!(a, py::Expr::Starred(_))) {
                    return Err(unsupported(pos, "`*args` in a call", "pass each argument"));
                }
                ExprKind::Call { func: boxed(&c.func)?, args: self.exprs(&c.arguments.args)?, kwargs }
            }
            py::Expr::BinOp(b) => {
                let (left, right) = (boxed(&b.left)?, boxed(&b.right)?);
                match b.op {
                    py::Operator::Add => ExprKind::Binary { op: BinOp::Add, left, right },
                    py::Operator::Sub => ExprKind::Binary { op: BinOp::Sub, left, right },
                    py::Operator::Mult => ExprKind::Binary { op: BinOp::Mul, left, right },
                    py::Operator::Div => ExprKind::Binary { op: BinOp::Div, left, right },
                    py::Operator::Mod => ExprKind::Binary { op: BinOp::Mod, left, right },
                    py::Operator::FloorDiv => ExprKind::Binary { op: BinOp::FloorDiv, left, right },
                    py::Operator::Pow => ExprKind::Binary { op: BinOp::Pow, left, right },
                    py::Operator::BitAnd => ExprKind::Logical { op: LogicalOp::And, values: vec![*left, *right] },
                    py::Operator::BitOr => ExprKind::Logical { op: LogicalOp::Or, values: vec![*left, *right] },
                    op => {
                        return Err(unsupported(
                            pos,
                            &format!("operator `{}`", op.as_str()),
                            "use + - * / // % ** & |",
                        ));
                    }
                }
            }
            py::Expr::UnaryOp(u) => {
                let op = match u.op {
                    py::UnaryOp::Not => UnaryOp::Not,
                    py::UnaryOp::USub => UnaryOp::Neg,
                    py::UnaryOp::UAdd => UnaryOp::Pos,
                    py::UnaryOp::Invert => UnaryOp::Invert,
                };
                ExprKind::Unary { op, operand: boxed(&u.operand)? }
            }
            py::Expr::BoolOp(b) => {
                let op = match b.op {
                    py::BoolOp::And => LogicalOp::And,
                    py::BoolOp::Or => LogicalOp::Or,
                };
                ExprKind::Logical { op, values: self.exprs(&b.values)? }
            }
            py::Expr::Compare(c) => {
                let ([op], [right]) = (&*c.ops, &*c.comparators) else {
                    return Err(unsupported(pos, "a chained comparison", "join two comparisons with `and`"));
                };
                let op = match op {
                    py::CmpOp::Eq => CmpOp::Eq,
                    py::CmpOp::NotEq => CmpOp::NotEq,
                    py::CmpOp::Lt => CmpOp::Lt,
                    py::CmpOp::LtE => CmpOp::LtE,
                    py::CmpOp::Gt => CmpOp::Gt,
                    py::CmpOp::GtE => CmpOp::GtE,
                    other => {
                        return Err(unsupported(
                            pos,
                            &format!("comparison `{}`", other.as_str()),
                            "for membership use px.equals_any(col, [...]) or px.contains(col, s)",
                        ));
                    }
                };
                ExprKind::Compare { op, left: boxed(&c.left)?, right: boxed(right)? }
            }
            py::Expr::Lambda(_) => return Err(unsupported(pos, "lambda", "define a function with `def`")),
            py::Expr::If(_) => return Err(unsupported(pos, "`a if c else b`", "use px.select(c, a, b)")),
            py::Expr::ListComp(_) | py::Expr::SetComp(_) | py::Expr::DictComp(_) | py::Expr::Generator(_) => {
                return Err(unsupported(pos, "a comprehension", "write the list out"));
            }
            py::Expr::FString(_) | py::Expr::TString(_) => {
                return Err(unsupported(pos, "an f-string", "join strings with +"));
            }
            _ => return Err(unsupported(pos, "this expression", "see the PxL reference for what scripts can use")),
        };
        Ok(Expr { pos, kind })
    }
}

fn stmt_keyword(s: &py::Stmt) -> &'static str {
    match s {
        py::Stmt::Delete(_) => "del",
        py::Stmt::TypeAlias(_) => "type",
        py::Stmt::With(_) => "with",
        py::Stmt::Match(_) => "match",
        py::Stmt::Raise(_) => "raise",
        py::Stmt::Try(_) => "try",
        py::Stmt::Assert(_) => "assert",
        py::Stmt::Global(_) => "global",
        py::Stmt::Nonlocal(_) => "nonlocal",
        py::Stmt::Break(_) => "break",
        py::Stmt::Continue(_) => "continue",
        _ => "statement",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> PxlError {
        parse(src).unwrap_err()
    }

    #[test]
    fn positions_are_line_and_column() {
        let stmts = parse("import px\n\ndf = px.DataFrame('t')\n  \n").unwrap();
        assert_eq!(stmts[1].pos, Pos { line: 3, column: 1 });
        let StmtKind::Assign { value, .. } = &stmts[1].kind else { panic!() };
        assert_eq!(value.pos, Pos { line: 3, column: 6 });
    }

    #[test]
    fn unsupported_constructs_name_themselves_and_the_alternative() {
        let e = err("import px\nfor x in y:\n    pass\n");
        assert_eq!(e.pos, Some(Pos { line: 2, column: 1 }));
        assert!(e.message.contains("a loop is not supported") && e.message.contains("px.select"), "{e}");
        let e = err("x = 1\ny = [a for a in b]\n");
        assert_eq!(e.to_string(), "line 2, column 5: a comprehension is not supported in PxL; write the list out");
        let e = err("x = 1 if y else 2");
        assert_eq!(e.pos, Some(Pos { line: 1, column: 5 }));
        assert!(e.message.contains("px.select"), "{e}");
        let e = err("import os");
        assert_eq!(e.to_string(), "line 1, column 1: no module `os`: PxL scripts import `px`");
        let e = err("a = 1 < b < 3");
        assert!(e.message.contains("chained comparison"), "{e}");
        let e = err("a = b in [1]");
        assert!(e.message.contains("comparison `in`") && e.message.contains("equals_any"), "{e}");
        let e = err("x = 1\nwhile True:\n  pass");
        assert_eq!(e.pos, Some(Pos { line: 2, column: 1 }));
        let e = err("try:\n  pass\nexcept:\n  pass");
        assert!(e.message.starts_with("`try` is not supported"), "{e}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = err("import px\ndf = px.DataFrame(\n");
        assert_eq!(e.pos.map(|p| p.line), Some(3));
        assert!(e.message.starts_with("syntax error"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let e = err(&format!("x = {}1{}", "(-".repeat(300), ")".repeat(300)));
        assert!(e.message.contains("nests deeper than 200 levels"), "{e}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let stmts = parse("s = 'é'; t = 1").unwrap();
        assert_eq!(stmts[1].pos, Pos { line: 1, column: 10 });
    }
}
