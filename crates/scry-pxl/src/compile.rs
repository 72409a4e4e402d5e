//! The PxL compiler: runs a script's statements once, at compile time, the
//! way Pixie does. Python values are constants; DataFrame operations build
//! DataFusion logical plans; `px.display` collects them as outputs. Nothing
//! here touches data: the plans run after compilation.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{LogicalPlanBuilder, Operator, binary_expr};
use datafusion::prelude::DataFrame;

use scry_query::wire::ExecFunc;

use crate::ast::*;
use crate::error::{PxlError, Result};
use crate::value::{Column, Value};

/// The tables a script may read.
pub trait Tables {
    fn table(&self, name: &str) -> Option<Arc<dyn TableProvider>>;
    fn names(&self) -> Vec<String>;
}

/// One `px.display` (or exec func) result: a name and the plan computing it.
pub struct Output {
    pub name: String,
    pub frame: DataFrame,
}

pub struct Compiled {
    pub outputs: Vec<Output>,
    /// `#px:set max_output_rows_per_table=N`.
    pub max_rows: Option<usize>,
}

/// User functions may call each other; past this depth a script recurses forever.
const MAX_CALL_DEPTH: usize = 32;

pub(crate) enum Flow {
    Next,
    Return(Box<Value>),
}

pub struct Compiler<'a> {
    pub(crate) state: SessionState,
    pub(crate) tables: &'a dyn Tables,
    pub(crate) now_ns: i64,
    /// Globals at index 0, then one scope per active user-function call.
    scopes: Vec<HashMap<String, Value>>,
    outputs: Vec<Output>,
    /// Exec funcs were requested: top-level `px.display` is ignored, as in Pixie.
    ignore_display: bool,
}

pub fn compile(
    source: &str,
    exec_funcs: &[ExecFunc],
    state: SessionState,
    tables: &dyn Tables,
    now_ns: i64,
) -> Result<Compiled> {
    let max_rows = pragmas(source)?;
    let stmts = crate::parse::parse(source)?;
    let mut c = Compiler {
        state,
        tables,
        now_ns,
        scopes: vec![HashMap::new()],
        outputs: Vec::new(),
        ignore_display: !exec_funcs.is_empty(),
    };
    for s in &stmts {
        if let Flow::Return(_) = c.stmt(s)? {
            return Err(PxlError::at(s.pos, "`return` outside a function"));
        }
    }
    for f in exec_funcs {
        let df = c.call_exec_func(f)?;
        c.add_output(&f.output_name, df);
    }
    if c.outputs.is_empty() {
        return Err(PxlError::script("the script displays nothing: add px.display(df) or name a function to run"));
    }
    Ok(Compiled { outputs: c.outputs, max_rows })
}

/// `#px:set key=value` lines. Unknown keys are refused, not ignored.
fn pragmas(source: &str) -> Result<Option<usize>> {
    let mut max_rows = None;
    for (i, line) in source.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("#px:set") else { continue };
        let pos = Pos { line: i as u32 + 1, column: 1 };
        for setting in rest.split_whitespace() {
            let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
            match key {
                "max_output_rows_per_table" => {
                    let n = value.parse().map_err(|_| {
                        PxlError::at(
                            pos,
                            format!("max_output_rows_per_table must be a positive integer, got `{value}`"),
                        )
                    })?;
                    max_rows = Some(n);
                }
                _ => {
                    return Err(PxlError::at(
                        pos,
                        format!("unsupported #px:set key `{key}`; supported: max_output_rows_per_table"),
                    ));
                }
            }
        }
    }
    Ok(max_rows)
}

impl Compiler<'_> {
    pub(crate) fn add_output(&mut self, name: &str, frame: DataFrame) {
        let taken = |n: &str| self.outputs.iter().any(|o| o.name == n);
        let mut unique = name.to_owned();
        let mut i = 1;
        while taken(&unique) {
            unique = format!("{name}_{i}");
            i += 1;
        }
        self.outputs.push(Output { name: unique, frame });
    }

    pub(crate) fn display(&mut self, frame: DataFrame, name: &str, debug: bool) {
        if debug {
            self.add_output(&format!("_{name}"), frame);
        } else if !self.ignore_display {
            self.add_output(name, frame);
        }
    }

    fn lookup(&self, name: &str) -> Option<&Value> {
        let local = if self.scopes.len() > 1 { self.scopes.last().and_then(|s| s.get(name)) } else { None };
        local.or_else(|| self.scopes[0].get(name))
    }

    fn bind(&mut self, name: &str, value: Value) {
        self.scopes.last_mut().expect("globals always exist").insert(name.to_owned(), value);
    }

    fn stmts(&mut self, body: &[Stmt]) -> Result<Flow> {
        for s in body {
            if let Flow::Return(v) = self.stmt(s)? {
                return Ok(Flow::Return(v));
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt) -> Result<Flow> {
        match &s.kind {
            StmtKind::Import { alias, .. } => self.bind(alias, Value::Module("px".into())),
            StmtKind::Assign { target, value } => {
                let value = self.expr(value)?;
                self.assign(s.pos, target, value)?;
            }
            StmtKind::Expr(e) => {
                self.expr(e)?;
            }
            StmtKind::FuncDef(f) => self.bind(&f.name, Value::UserFn(Rc::new(f.clone()))),
            StmtKind::Return(e) => {
                let v = match e {
                    Some(e) => self.expr(e)?,
                    None => Value::None,
                };
                return Ok(Flow::Return(Box::new(v)));
            }
            StmtKind::Pass => {}
        }
        Ok(Flow::Next)
    }

    fn assign(&mut self, pos: Pos, target: &Target, value: Value) -> Result<()> {
        let (object, column) = match target {
            Target::Name(n) => {
                self.bind(n, value);
                return Ok(());
            }
            Target::Attr { object, name } => (object, name.clone()),
            Target::Subscript { object, key } => (object, self.expr(key)?.as_str(key.pos, "a column name")?.to_owned()),
        };
        let ExprKind::Name(var) = &object.kind else {
            return Err(PxlError::at(pos, "assign columns on a DataFrame variable: `df.col = …`"));
        };
        let Some(Value::Frame(df)) = self.lookup(var).cloned() else {
            return Err(PxlError::at(object.pos, format!("`{var}` is not a DataFrame; columns are assigned on one")));
        };
        let expr = value.to_expr(pos)?;
        let df = df.with_column(&column, expr).map_err(|e| plan_error(pos, e))?;
        self.bind(var, Value::Frame(df));
        Ok(())
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Value> {
        let pos = e.pos;
        Ok(match &e.kind {
            ExprKind::Name(n) => match (self.lookup(n), n.as_str()) {
                (Some(v), _) => v.clone(),
                (None, "str" | "int" | "float" | "bool") => Value::PxFn(n.clone()),
                (None, _) => return Err(PxlError::at(pos, format!("`{n}` is not defined"))),
            },
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::None => Value::None,
            ExprKind::List(items) => Value::List(self.values(items)?),
            ExprKind::Tuple(items) => Value::Tuple(self.values(items)?),
            ExprKind::Dict(items) => {
                Value::Dict(items.iter().map(|(k, v)| Ok((self.expr(k)?, self.expr(v)?))).collect::<Result<_>>()?)
            }
            ExprKind::Attr { value, attr } => {
                let v = self.expr(value)?;
                self.attribute(pos, v, attr)?
            }
            ExprKind::Subscript { value, index } => {
                let v = self.expr(value)?;
                let i = self.expr(index)?;
                self.subscript(pos, v, i)?
            }
            ExprKind::Call { func, args, kwargs } => {
                let callee = self.expr(func)?;
                let args = self.values(args)?;
                let kwargs = kwargs.iter().map(|(k, v)| Ok((k.clone(), self.expr(v)?))).collect::<Result<_>>()?;
                self.call(pos, callee, Args { pos, positional: args, named: kwargs })?
            }
            ExprKind::Binary { op, left, right } => {
                let (l, r) = (self.expr(left)?, self.expr(right)?);
                crate::ops::binary(pos, *op, l, r)?
            }
            ExprKind::Compare { op, left, right } => {
                let (l, r) = (self.expr(left)?, self.expr(right)?);
                crate::ops::compare(pos, *op, l, r)?
            }
            ExprKind::Unary { op, operand } => {
                let v = self.expr(operand)?;
                crate::ops::unary(pos, *op, v)?
            }
            ExprKind::Logical { op, values } => {
                let vals = self.values(values)?;
                crate::ops::logical(pos, *op, vals)?
            }
        })
    }

    fn values(&mut self, es: &[Expr]) -> Result<Vec<Value>> {
        es.iter().map(|e| self.expr(e)).collect()
    }

    fn attribute(&mut self, pos: Pos, v: Value, attr: &str) -> Result<Value> {
        match v {
            Value::Module(m) => crate::px::member(self, pos, &m, attr),
            Value::Frame(df) => crate::frame::attribute(pos, df, attr),
            Value::GroupBy(..) if attr == "agg" => Ok(Value::Method(Box::new(v), "agg")),
            other => Err(PxlError::at(pos, format!("{} has no attribute `{attr}`", other.kind()))),
        }
    }

    fn subscript(&mut self, pos: Pos, v: Value, index: Value) -> Result<Value> {
        match v {
            Value::Frame(df) => crate::frame::subscript(pos, df, index),
            Value::Ctx(df) => crate::frame::ctx(pos, &df, index.as_str(pos, "a df.ctx key")?),
            Value::List(items) | Value::Tuple(items) => {
                let i = index.as_int(pos, "a list index")?;
                let at = if i < 0 { items.len() as i64 + i } else { i };
                usize::try_from(at)
                    .ok()
                    .and_then(|at| items.get(at).cloned())
                    .ok_or_else(|| PxlError::at(pos, format!("index {i} is out of range")))
            }
            Value::Dict(items) => {
                let key = index.as_str(pos, "a dict key")?;
                items
                    .into_iter()
                    .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                    .map(|(_, v)| v)
                    .ok_or_else(|| PxlError::at(pos, format!("no key `{key}`")))
            }
            other => Err(PxlError::at(pos, format!("{} cannot be indexed", other.kind()))),
        }
    }

    fn call(&mut self, pos: Pos, callee: Value, args: Args) -> Result<Value> {
        match callee {
            Value::PxFn(name) => crate::px::call(self, pos, &name, args),
            Value::Method(receiver, name) => match *receiver {
                Value::Frame(df) => crate::frame::method(pos, df, name, args),
                Value::GroupBy(df, keys) => crate::frame::agg(pos, df, &keys, args),
                other => Err(PxlError::at(pos, format!("{} has no method `{name}`", other.kind()))),
            },
            Value::UserFn(f) => self.call_user(pos, &f, args),
            other => Err(PxlError::at(pos, format!("{} is not callable", other.kind()))),
        }
    }

    fn call_user(&mut self, pos: Pos, f: &FuncDef, args: Args) -> Result<Value> {
        if self.scopes.len() > MAX_CALL_DEPTH {
            return Err(PxlError::at(pos, format!("calls nest deeper than {MAX_CALL_DEPTH}: `{}` recurses", f.name)));
        }
        let mut bound = args.bind_params(f)?;
        let mut scope = HashMap::new();
        for (p, v) in f.params.iter().zip(bound.iter_mut()) {
            let v = match (v.take(), &p.default) {
                (Some(v), _) => v,
                (None, Some(d)) => self.expr(d)?,
                (None, None) => {
                    return Err(PxlError::at(pos, format!("`{}` needs argument `{}`", f.name, p.name)));
                }
            };
            scope.insert(p.name.clone(), v);
        }
        self.scopes.push(scope);
        let flow = self.stmts(&f.body);
        self.scopes.pop();
        Ok(match flow? {
            Flow::Return(v) => *v,
            Flow::Next => Value::None,
        })
    }

    /// Calls a script function by name with text arguments, converted by the
    /// parameters' annotations (`str`, `int`, `float`, `bool`, `px.Service` …).
    fn call_exec_func(&mut self, f: &ExecFunc) -> Result<DataFrame> {
        let Some(Value::UserFn(def)) = self.lookup(&f.func).cloned() else {
            return Err(PxlError::script(format!("the script has no function `{}` to run", f.func)));
        };
        let mut named = Vec::new();
        for (name, text) in &f.args {
            let Some(param) = def.params.iter().find(|p| &p.name == name) else {
                let known: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
                return Err(PxlError::script(format!(
                    "`{}` has no argument `{name}`; it takes: {}",
                    f.func,
                    known.join(", ")
                )));
            };
            named.push((name.clone(), self.typed_arg(&def.name, param, text)?));
        }
        let pos = Pos::default();
        match self.call_user(pos, &def, Args { pos, positional: Vec::new(), named })? {
            Value::Frame(df) => Ok(df),
            other => Err(PxlError::script(format!("`{}` returned {}, not a DataFrame", f.func, other.kind()))),
        }
    }

    fn typed_arg(&mut self, func: &str, param: &Param, text: &str) -> Result<Value> {
        let ty = match &param.annotation {
            Some(Expr { kind: ExprKind::Name(n), .. }) => n.as_str(),
            _ => "str",
        };
        let bad = |ty: &str| PxlError::script(format!("`{func}` argument `{}`: `{text}` is not {ty}", param.name));
        Ok(match ty {
            "int" => Value::Int(text.parse().map_err(|_| bad("an int"))?),
            "float" => Value::Float(text.parse().map_err(|_| bad("a float"))?),
            "bool" => Value::Bool(match text {
                "true" | "True" | "1" => true,
                "false" | "False" | "0" => false,
                _ => return Err(bad("a bool (true or false)")),
            }),
            _ => Value::Str(text.to_owned()),
        })
    }

    pub(crate) fn scan(&self, pos: Pos, table: &str) -> Result<DataFrame> {
        let Some(provider) = self.tables.table(table) else {
            let mut names = self.tables.names();
            names.sort();
            return Err(PxlError::at(pos, format!("table `{table}` does not exist; tables: {}", names.join(", "))));
        };
        let source = datafusion::datasource::provider_as_source(provider);
        let plan = LogicalPlanBuilder::scan(table, source, None)
            .and_then(LogicalPlanBuilder::build)
            .map_err(|e| plan_error(pos, e))?;
        Ok(DataFrame::new(self.state.clone(), plan))
    }
}

/// Arguments of a call, as written.
pub struct Args {
    pub pos: Pos,
    pub positional: Vec<Value>,
    pub named: Vec<(String, Value)>,
}

impl Args {
    /// Matches arguments to `params` (positional first, then by name); the
    /// first `required` must be given. Unknown names are refused.
    pub fn bind<const N: usize>(self, func: &str, params: [&str; N], required: usize) -> Result<[Option<Value>; N]> {
        let pos = self.pos;
        self.slots(func, &params, required)?
            .try_into()
            .map_err(|_| PxlError::at(pos, format!("`{func}` bound the wrong number of arguments")))
    }

    fn slots(self, func: &str, params: &[&str], required: usize) -> Result<Vec<Option<Value>>> {
        let pos = self.pos;
        if self.positional.len() > params.len() {
            return Err(PxlError::at(
                pos,
                format!(
                    "`{func}` takes {} arguments ({}), got {}",
                    params.len(),
                    params.join(", "),
                    self.positional.len()
                ),
            ));
        }
        let mut out: Vec<Option<Value>> = vec![None; params.len()];
        for (slot, v) in out.iter_mut().zip(self.positional) {
            *slot = Some(v);
        }
        for (name, v) in self.named {
            let Some(i) = params.iter().position(|p| *p == name) else {
                return Err(PxlError::at(
                    pos,
                    format!("`{func}` has no argument `{name}`; it takes: {}", params.join(", ")),
                ));
            };
            if out[i].replace(v).is_some() {
                return Err(PxlError::at(pos, format!("`{func}` got argument `{name}` twice")));
            }
        }
        if let Some(missing) = out.iter().take(required).position(Option::is_none) {
            return Err(PxlError::at(pos, format!("`{func}` needs argument `{}`", params[missing])));
        }
        Ok(out)
    }

    /// Binds a script function's arguments; defaults are the caller's business.
    fn bind_params(self, func: &FuncDef) -> Result<Vec<Option<Value>>> {
        let names: Vec<&str> = func.params.iter().map(|p| p.name.as_str()).collect();
        self.slots(&func.name, &names, 0)
    }

    /// Binds arguments that are all required.
    pub fn exact<const N: usize>(self, func: &str, params: [&str; N]) -> Result<[Value; N]> {
        Ok(self.bind(func, params, N)?.map(|v| v.unwrap_or(Value::None)))
    }
}

pub(crate) fn plan_error(pos: Pos, e: datafusion::error::DataFusionError) -> PxlError {
    PxlError::at(pos, e.strip_backtrace().trim().to_owned())
}

/// A column expression typed against `df`.
pub(crate) fn column(df: &DataFrame, expr: datafusion::logical_expr::Expr) -> Value {
    Value::Column(Column { expr, schema: df.logical_plan().schema().clone() })
}

pub(crate) fn string_concat(
    l: datafusion::logical_expr::Expr,
    r: datafusion::logical_expr::Expr,
) -> datafusion::logical_expr::Expr {
    binary_expr(l, Operator::StringConcat, r)
}
