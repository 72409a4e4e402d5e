//! What a PxL expression evaluates to while a script compiles: constants,
//! column expressions over a DataFrame, DataFrames (DataFusion plans) and
//! the callables that make them.

use std::rc::Rc;

use arrow::datatypes::DataType;
use datafusion::common::{DFSchemaRef, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable, lit};
use datafusion::prelude::DataFrame;

use crate::ast::{FuncDef, Pos};
use crate::error::{PxlError, Result};

#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Unix nanoseconds (`px.now()`, `px.parse_time(…)`).
    Time(i64),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// An expression over the columns of the DataFrame it came from.
    Column(Column),
    Frame(DataFrame),
    /// `df.groupby(keys)`, waiting for `.agg(…)`.
    GroupBy(DataFrame, Vec<String>),
    /// `df.ctx`, waiting for `['pod']`.
    Ctx(DataFrame),
    /// The `px` module or one of its submodules (`px.otel`, `px.vis`).
    Module(String),
    /// A `px.` function, by its PxL name.
    PxFn(String),
    /// A method bound to its receiver, such as `df.groupby`.
    Method(Box<Value>, &'static str),
    UserFn(Rc<FuncDef>),
}

#[derive(Clone)]
pub struct Column {
    pub expr: Expr,
    /// Schema the expression is typed against.
    pub schema: DFSchemaRef,
}

impl Column {
    pub fn data_type(&self) -> Option<DataType> {
        self.expr.get_type(&self.schema).ok()
    }
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Time(_) => "a time",
            Value::List(_) => "a list",
            Value::Tuple(_) => "a tuple",
            Value::Dict(_) => "a dict",
            Value::Column(_) => "a column expression",
            Value::Frame(_) => "a DataFrame",
            Value::GroupBy(..) => "a groupby (call .agg on it)",
            Value::Ctx(_) => "df.ctx (index it: df.ctx['pod'])",
            Value::Module(_) => "a module",
            Value::PxFn(_) => "a px function",
            Value::Method(..) => "a method",
            Value::UserFn(_) => "a function",
        }
    }

    pub fn is_constant(&self) -> bool {
        matches!(self, Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Time(_))
    }

    /// The value as a DataFusion expression; constants become literals.
    pub fn to_expr(&self, pos: Pos) -> Result<Expr> {
        Ok(match self {
            Value::Column(c) => c.expr.clone(),
            Value::None => lit(ScalarValue::Null),
            Value::Bool(b) => lit(*b),
            Value::Int(i) => lit(*i),
            Value::Float(f) => lit(*f),
            Value::Str(s) => lit(s.as_str()),
            Value::Time(ns) => time_literal(*ns),
            other => return Err(PxlError::at(pos, format!("expected a column or a value, got {}", other.kind()))),
        })
    }

    pub fn as_str(&self, pos: Pos, what: &str) -> Result<&str> {
        match self {
            Value::Str(s) => Ok(s),
            other => Err(PxlError::at(pos, format!("{what} must be a string, got {}", other.kind()))),
        }
    }

    pub fn as_int(&self, pos: Pos, what: &str) -> Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            other => Err(PxlError::at(pos, format!("{what} must be an int, got {}", other.kind()))),
        }
    }

    /// A string or a list of strings (`groupby('a')` / `groupby(['a', 'b'])`).
    pub fn as_names(&self, pos: Pos, what: &str) -> Result<Vec<String>> {
        match self {
            Value::Str(s) => Ok(vec![s.clone()]),
            Value::List(items) | Value::Tuple(items) => {
                items.iter().map(|v| v.as_str(pos, what).map(str::to_owned)).collect()
            }
            other => {
                Err(PxlError::at(pos, format!("{what} must be a string or a list of strings, got {}", other.kind())))
            }
        }
    }
}

pub fn time_literal(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(ns), None))
}
