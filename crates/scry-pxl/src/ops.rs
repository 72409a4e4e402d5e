//! Operators. Constants fold at compile time (so `10 * 1000**3` and
//! `px.now() - px.minutes(5)` are numbers in the plan); anything touching a
//! column becomes a DataFusion expression with Pixie's semantics (`/`
//! always divides as FLOAT64).

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::logical_expr::{Expr, Operator, binary_expr, cast};

use crate::ast::{BinOp, CmpOp, LogicalOp, Pos, UnaryOp};
use crate::compile::string_concat;
use crate::error::{PxlError, Result};
use crate::value::{Column, Value};

fn column_of(l: &Value, r: &Value) -> Option<Column> {
    match (l, r) {
        (Value::Column(c), _) | (_, Value::Column(c)) => Some(c.clone()),
        _ => None,
    }
}

fn with_expr(template: &Column, expr: Expr) -> Value {
    Value::Column(Column { expr, schema: template.schema.clone() })
}

fn is_text(v: &Value) -> bool {
    match v {
        Value::Str(_) => true,
        Value::Column(c) => matches!(c.data_type(), Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)),
        _ => false,
    }
}

pub fn binary(pos: Pos, op: BinOp, l: Value, r: Value) -> Result<Value> {
    if let Some(v) = fold_binary(pos, op, &l, &r)? {
        return Ok(v);
    }
    let Some(template) = column_of(&l, &r) else {
        return Err(PxlError::at(pos, format!("cannot apply `{op:?}` to {} and {}", l.kind(), r.kind())));
    };
    if matches!(op, BinOp::Add | BinOp::Sub) && (is_time(&l) || is_time(&r)) {
        return time_arithmetic(pos, op, &template, &l, &r);
    }
    let text = is_text(&l) && is_text(&r);
    let (le, re) = (l.to_expr(pos)?, r.to_expr(pos)?);
    let expr = match op {
        BinOp::Add if text => string_concat(le, re),
        BinOp::Add => le + re,
        BinOp::Sub => le - re,
        BinOp::Mul => le * re,
        BinOp::Div => cast(le, DataType::Float64) / cast(re, DataType::Float64),
        BinOp::FloorDiv => binary_expr(le, Operator::Divide, re),
        BinOp::Mod => le % re,
        BinOp::Pow => datafusion::functions::math::expr_fn::power(le, re),
    };
    Ok(with_expr(&template, expr))
}

fn is_time(v: &Value) -> bool {
    match v {
        Value::Time(_) => true,
        Value::Column(c) => matches!(c.data_type(), Some(DataType::Timestamp(..))),
        _ => false,
    }
}

/// Times are nanosecond counts in PxL: time ± int is a time, time − time an
/// int. DataFusion keeps timestamps and integers apart, so both sides go
/// through Int64.
fn time_arithmetic(pos: Pos, op: BinOp, template: &Column, l: &Value, r: &Value) -> Result<Value> {
    let ns = |v: &Value| -> Result<Expr> { Ok(cast(v.to_expr(pos)?, DataType::Int64)) };
    let (le, re) = (ns(l)?, ns(r)?);
    let expr = match (op, is_time(l), is_time(r)) {
        (BinOp::Sub, true, true) => le - re,
        (BinOp::Add, true, true) => {
            return Err(PxlError::at(pos, "cannot add two times; subtract them for a duration"));
        }
        (BinOp::Add, ..) => cast(le + re, DataType::Timestamp(TimeUnit::Nanosecond, None)),
        (_, true, false) => cast(le - re, DataType::Timestamp(TimeUnit::Nanosecond, None)),
        _ => return Err(PxlError::at(pos, "cannot subtract a time from a number")),
    };
    Ok(with_expr(template, expr))
}

fn fold_binary(pos: Pos, op: BinOp, l: &Value, r: &Value) -> Result<Option<Value>> {
    use Value::*;
    let div0 = || PxlError::at(pos, "division by zero");
    Ok(Some(match (op, l, r) {
        (BinOp::Add, Str(a), Str(b)) => Str(format!("{a}{b}")),
        (BinOp::Add, Time(t), Int(d)) | (BinOp::Add, Int(d), Time(t)) => Time(t.saturating_add(*d)),
        (BinOp::Sub, Time(t), Int(d)) => Time(t.saturating_sub(*d)),
        (BinOp::Sub, Time(a), Time(b)) => Int(a.saturating_sub(*b)),
        (op, Int(a), Int(b)) => match op {
            BinOp::Add => Int(a.wrapping_add(*b)),
            BinOp::Sub => Int(a.wrapping_sub(*b)),
            BinOp::Mul => Int(a.wrapping_mul(*b)),
            BinOp::Div if *b == 0 => return Err(div0()),
            BinOp::Div => Float(*a as f64 / *b as f64),
            BinOp::FloorDiv | BinOp::Mod if *b == 0 => return Err(div0()),
            BinOp::FloorDiv => Int(a.div_euclid(*b)),
            BinOp::Mod => Int(a.rem_euclid(*b)),
            BinOp::Pow => match u32::try_from(*b) {
                Ok(e) => Int(a.wrapping_pow(e)),
                Err(_) => Float((*a as f64).powf(*b as f64)),
            },
        },
        (op, Int(_) | Float(_), Int(_) | Float(_)) => {
            let (a, b) = (as_f64(l), as_f64(r));
            Float(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div | BinOp::FloorDiv | BinOp::Mod if b == 0.0 => return Err(div0()),
                BinOp::Div => a / b,
                BinOp::FloorDiv => (a / b).floor(),
                BinOp::Mod => a.rem_euclid(b),
                BinOp::Pow => a.powf(b),
            })
        }
        _ => return Ok(Option::None),
    }))
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

pub fn compare(pos: Pos, op: CmpOp, l: Value, r: Value) -> Result<Value> {
    if l.is_constant() && r.is_constant() {
        let ord = match (&l, &r) {
            (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.partial_cmp(b),
            (Value::Time(a), Value::Time(b)) => a.partial_cmp(b),
            (Value::Int(a), Value::Int(b)) => a.partial_cmp(b),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => as_f64(&l).partial_cmp(&as_f64(&r)),
            (Value::None, Value::None) => Some(std::cmp::Ordering::Equal),
            _ => None,
        };
        let Some(ord) = ord else {
            return Ok(Value::Bool(op == CmpOp::NotEq));
        };
        return Ok(Value::Bool(match op {
            CmpOp::Eq => ord.is_eq(),
            CmpOp::NotEq => ord.is_ne(),
            CmpOp::Lt => ord.is_lt(),
            CmpOp::LtE => ord.is_le(),
            CmpOp::Gt => ord.is_gt(),
            CmpOp::GtE => ord.is_ge(),
        }));
    }
    let Some(template) = column_of(&l, &r) else {
        return Err(PxlError::at(pos, format!("cannot compare {} with {}", l.kind(), r.kind())));
    };
    let operator = match op {
        CmpOp::Eq => Operator::Eq,
        CmpOp::NotEq => Operator::NotEq,
        CmpOp::Lt => Operator::Lt,
        CmpOp::LtE => Operator::LtEq,
        CmpOp::Gt => Operator::Gt,
        CmpOp::GtE => Operator::GtEq,
    };
    Ok(with_expr(&template, binary_expr(l.to_expr(pos)?, operator, r.to_expr(pos)?)))
}

pub fn unary(pos: Pos, op: UnaryOp, v: Value) -> Result<Value> {
    Ok(match (op, v) {
        (UnaryOp::Pos, v) => v,
        (UnaryOp::Not | UnaryOp::Invert, Value::Bool(b)) => Value::Bool(!b),
        (UnaryOp::Invert, Value::Int(i)) => Value::Int(!i),
        (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
        (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
        (UnaryOp::Not | UnaryOp::Invert, Value::Column(c)) => with_expr(&c, Expr::Not(Box::new(c.expr.clone()))),
        (UnaryOp::Neg, Value::Column(c)) => with_expr(&c, Expr::Negative(Box::new(c.expr.clone()))),
        (op, v) => return Err(PxlError::at(pos, format!("cannot apply `{op:?}` to {}", v.kind()))),
    })
}

pub fn logical(pos: Pos, op: LogicalOp, values: Vec<Value>) -> Result<Value> {
    let mut acc: Option<Value> = None;
    for v in values {
        acc = Some(match (acc, v) {
            (None, v) => v,
            (Some(Value::Bool(a)), Value::Bool(b)) => Value::Bool(if op == LogicalOp::And { a && b } else { a || b }),
            (Some(a), v) => {
                let Some(template) = column_of(&a, &v) else {
                    return Err(PxlError::at(pos, format!("cannot combine {} and {}", a.kind(), v.kind())));
                };
                let (le, re) = (a.to_expr(pos)?, v.to_expr(pos)?);
                with_expr(&template, if op == LogicalOp::And { le.and(re) } else { le.or(re) })
            }
        });
    }
    acc.ok_or_else(|| PxlError::at(pos, "empty boolean expression"))
}
