//! The `px` module: compile-time functions (time, durations, outputs),
//! `px.DataFrame`, and the runtime functions, which map to the session's
//! UDFs (Scry's `scry-query` functions and DataFusion's own).

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, cast, lit, try_cast, when};
use datafusion::prelude::coalesce;

use crate::ast::Pos;
use crate::compile::{Args, Compiler, plan_error};
use crate::error::{PxlError, Result};
use crate::time;
use crate::value::{Column, Value, time_literal};

const NS_PER: [(&str, i64); 6] = [
    ("microseconds", 1_000),
    ("milliseconds", 1_000_000),
    ("seconds", 1_000_000_000),
    ("minutes", 60_000_000_000),
    ("hours", 3_600_000_000_000),
    ("days", 86_400_000_000_000),
];

/// Semantic types: casts that only tell the UI how to format a value.
const SEMANTIC: &[&str] =
    &["Time", "DurationNanos", "Bytes", "Percent", "UPID", "Service", "Pod", "Node", "Namespace", "Container"];

const AGGREGATES: &[&str] = &["count", "sum", "mean", "min", "max", "any", "sample", "quantiles"];

const COMPILE_TIME: &[&str] = &[
    "DataFrame",
    "display",
    "debug",
    "now",
    "parse_duration",
    "format_duration",
    "parse_time",
    "strptime",
    "uint128",
    "equals_any",
    "select",
    "script_reference",
    "substring",
    "replace",
    "regex_match",
    "find",
    "strip_prefix",
    "atoi",
    "itoa",
    "round",
];

/// PxL names of functions DataFusion has under another name.
fn datafusion_name(name: &str) -> &str {
    match name {
        "tolower" => "lower",
        "toupper" => "upper",
        "length" => "character_length",
        "trim" => "btrim",
        "pow" => "power",
        other => other,
    }
}

/// `px.<attr>` (and `px.otel.<attr>` …).
pub fn member(c: &Compiler<'_>, pos: Pos, module: &str, attr: &str) -> Result<Value> {
    if module != "px" {
        return Err(PxlError::at(pos, format!("{module}.{attr} is not supported")));
    }
    if matches!(attr, "otel" | "vis" | "plugin") {
        return Ok(Value::Module(format!("px.{attr}")));
    }
    let known = COMPILE_TIME.contains(&attr)
        || SEMANTIC.contains(&attr)
        || AGGREGATES.contains(&attr)
        || NS_PER.iter().any(|(n, _)| *n == attr)
        || c.state.scalar_functions().contains_key(datafusion_name(attr));
    if !known {
        return Err(PxlError::at(pos, format!("px.{attr} is not a PxL function")));
    }
    Ok(Value::PxFn(attr.to_owned()))
}

fn one(args: Args, func: &str, param: &str) -> Result<Value> {
    let [v] = args.exact(func, [param])?;
    Ok(v)
}

pub fn call(c: &mut Compiler<'_>, pos: Pos, name: &str, args: Args) -> Result<Value> {
    if let Some((_, ns)) = NS_PER.iter().find(|(n, _)| *n == name) {
        return duration(pos, one(args, name, "n")?, *ns);
    }
    if SEMANTIC.contains(&name) {
        return Ok(match (name, one(args, name, "value")?) {
            ("Time", Value::Int(ns)) => Value::Time(ns),
            (_, v) => v,
        });
    }
    if AGGREGATES.contains(&name) {
        return Err(PxlError::at(pos, format!("px.{name} is an aggregate: use it in agg(out=('column', px.{name}))")));
    }
    match name {
        "DataFrame" => dataframe(c, pos, args),
        "display" | "debug" => {
            let [df, out] = args.bind(name, ["df", "name"], 1)?;
            let Some(Value::Frame(df)) = df else {
                return Err(PxlError::at(pos, format!("px.{name} shows a DataFrame")));
            };
            let out = out.map(|n| n.as_str(pos, "the output name").map(str::to_owned)).transpose()?;
            c.display(df, out.as_deref().unwrap_or("output"), name == "debug");
            Ok(Value::None)
        }
        "now" => {
            args.bind("now", [], 0)?;
            Ok(Value::Time(c.now_ns))
        }
        "parse_duration" => {
            let text = one(args, name, "duration")?;
            let text = text.as_str(pos, "the duration")?;
            time::parse_duration(text)
                .map(Value::Int)
                .ok_or_else(|| PxlError::at(pos, format!("`{text}` is not a duration such as -5m, 30s or 2h")))
        }
        "format_duration" => Ok(Value::Str(time::format_duration(one(args, name, "ns")?.as_int(pos, "the duration")?))),
        "parse_time" => Ok(Value::Time(time_arg(c, pos, &one(args, name, "time")?)?)),
        "strptime" => {
            let [text, format] = args.exact(name, ["time", "format"])?;
            let (text, format) = (text.as_str(pos, "the time")?, format.as_str(pos, "the format")?);
            chrono::NaiveDateTime::parse_from_str(text, format)
                .ok()
                .and_then(|t| t.and_utc().timestamp_nanos_opt())
                .map(Value::Time)
                .ok_or_else(|| PxlError::at(pos, format!("`{text}` does not match the format `{format}`")))
        }
        // UPIDs are stored as their UUID text, so a UUID literal is already one.
        "uint128" => Ok(Value::Str(one(args, name, "uuid")?.as_str(pos, "the UUID")?.to_owned())),
        "script_reference" => {
            let [label, _script, _args] = args.bind(name, ["label", "script", "args"], 2)?;
            Ok(label.unwrap_or(Value::None))
        }
        "equals_any" => {
            let [value, options] = args.exact(name, ["value", "options"])?;
            let (Value::List(options) | Value::Tuple(options)) = options else {
                return Err(PxlError::at(pos, "px.equals_any takes a list of values to compare with"));
            };
            let list = options.iter().map(|o| o.to_expr(pos)).collect::<Result<Vec<_>>>()?;
            let expr = value.to_expr(pos)?.in_list(list, false);
            Ok(derived(&[value], expr))
        }
        "select" => {
            let vals = args.exact(name, ["cond", "if_true", "if_false"])?;
            let expr = when(vals[0].to_expr(pos)?, vals[1].to_expr(pos)?)
                .otherwise(vals[2].to_expr(pos)?)
                .map_err(|e| plan_error(pos, e))?;
            Ok(derived(&vals, expr))
        }
        _ => runtime(c, pos, name, args),
    }
}

fn duration(pos: Pos, n: Value, ns: i64) -> Result<Value> {
    Ok(match n {
        Value::Int(i) => Value::Int(i.saturating_mul(ns)),
        Value::Float(f) => Value::Int((f * ns as f64) as i64),
        Value::Column(c) => Value::Column(Column { expr: c.expr.clone() * lit(ns), schema: c.schema.clone() }),
        other => return Err(PxlError::at(pos, format!("a duration takes a number, got {}", other.kind()))),
    })
}

/// A time argument: relative or absolute text, Unix nanoseconds, or a px.Time.
fn time_arg(c: &Compiler<'_>, pos: Pos, v: &Value) -> Result<i64> {
    match v {
        Value::Str(s) => time::parse_time(s, c.now_ns).ok_or_else(|| {
            PxlError::at(
                pos,
                format!("`{s}` is not a time: use a relative time like '-5m' or '2020-07-13 18:02:05.00 +0000'"),
            )
        }),
        Value::Int(ns) | Value::Time(ns) => Ok(*ns),
        other => Err(PxlError::at(pos, format!("a time must be a string, an int or px.now(), got {}", other.kind()))),
    }
}

/// `px.DataFrame(table, select=[…], start_time=…, end_time=…)`.
fn dataframe(c: &mut Compiler<'_>, pos: Pos, args: Args) -> Result<Value> {
    let params = ["table", "select", "start_time", "end_time"];
    let [table, select, start, end] = args.bind("px.DataFrame", params, 1)?;
    let table = table.unwrap_or(Value::None);
    let mut df = c.scan(pos, table.as_str(pos, "the table name")?)?;
    let err = |e| plan_error(pos, e);
    for (bound, lower) in [(start, true), (end, false)] {
        let Some(bound) = bound.filter(|b| !matches!(b, Value::None)) else { continue };
        if !crate::frame::names(&df).iter().any(|n| n == "time_") {
            return Err(PxlError::at(pos, "start_time / end_time need a `time_` column, and this table has none"));
        }
        let at = time_literal(time_arg(c, pos, &bound)?);
        let time = datafusion::logical_expr::col("time_");
        df = df.filter(if lower { time.gt_eq(at) } else { time.lt_eq(at) }).map_err(err)?;
    }
    if let Some(select) = select {
        let keep = select.as_names(pos, "select")?;
        if !keep.is_empty() {
            df = crate::frame::project(pos, df, &keep)?;
        }
    }
    Ok(Value::Frame(df))
}

/// A column expression typed like the first column among `inputs` (or
/// against no columns when every input is a constant).
fn derived(inputs: &[Value], expr: Expr) -> Value {
    let schema = inputs
        .iter()
        .find_map(|v| match v {
            Value::Column(c) => Some(c.schema.clone()),
            _ => None,
        })
        .unwrap_or_else(|| Arc::new(DFSchema::empty()));
    Value::Column(Column { expr, schema })
}

/// Functions evaluated per row. Pixie's argument orders and semantics are
/// kept where they differ from DataFusion's (0-based `substring`, regex
/// `replace(pattern, s, repl)`, full-match `regex_match`, string `round`).
fn runtime(c: &Compiler<'_>, pos: Pos, name: &str, args: Args) -> Result<Value> {
    if !args.named.is_empty() {
        return Err(PxlError::at(pos, format!("px.{name} takes its arguments by position")));
    }
    let vals = args.positional;
    let exprs = vals.iter().map(|v| v.to_expr(pos)).collect::<Result<Vec<_>>>()?;
    let udf = |n: &str, a: Vec<Expr>| -> Result<Expr> {
        let f = c.state.scalar_functions().get(n).ok_or_else(|| PxlError::at(pos, format!("px.{name} needs `{n}`")))?;
        Ok(f.call(a))
    };
    let arity = |n: usize| -> Result<()> {
        if exprs.len() == n {
            Ok(())
        } else {
            Err(PxlError::at(pos, format!("px.{name} takes {n} arguments, got {}", exprs.len())))
        }
    };
    let e = exprs.clone();
    let expr = match name {
        "substring" => {
            arity(3)?;
            udf("substr", vec![e[0].clone(), e[1].clone() + lit(1i64), e[2].clone()])?
        }
        "replace" => {
            arity(3)?;
            udf("regexp_replace", vec![e[1].clone(), e[0].clone(), e[2].clone(), lit("g")])?
        }
        "regex_match" => {
            arity(2)?;
            let pattern = vals[0].as_str(pos, "the pattern")?;
            regex::Regex::new(pattern).map_err(|err| PxlError::at(pos, format!("bad pattern: {err}")))?;
            udf("regexp_like", vec![e[1].clone(), lit(format!("^(?:{pattern})$"))])?
        }
        "find" => {
            arity(2)?;
            udf("strpos", e.clone())? - lit(1i64)
        }
        "strip_prefix" => {
            arity(2)?;
            let (prefix, s) = (e[0].clone(), e[1].clone());
            let rest = udf("substr", vec![s.clone(), udf("character_length", vec![prefix.clone()])? + lit(1i64)])?;
            when(udf("starts_with", vec![s.clone(), prefix])?, rest).otherwise(s).map_err(|err| plan_error(pos, err))?
        }
        "atoi" => {
            arity(1)?;
            coalesce(vec![try_cast(e[0].clone(), DataType::Int64), lit(0i64)])
        }
        "itoa" => {
            arity(1)?;
            cast(e[0].clone(), DataType::Utf8)
        }
        "round" => {
            arity(2)?;
            cast(udf("round", e.clone())?, DataType::Utf8)
        }
        "str" | "int" | "float" | "bool" => {
            arity(1)?;
            let to = match name {
                "str" => DataType::Utf8,
                "int" => DataType::Int64,
                "float" => DataType::Float64,
                _ => DataType::Boolean,
            };
            if let Some(v) = fold_cast(&vals[0], &to) {
                return Ok(v);
            }
            cast(e[0].clone(), to)
        }
        other => udf(datafusion_name(other), e.clone())?,
    };
    Ok(derived(&vals, expr))
}

/// `str(5)` and friends on constants stay constants.
fn fold_cast(v: &Value, to: &DataType) -> Option<Value> {
    let scalar = match v {
        Value::Int(i) => ScalarValue::Int64(Some(*i)),
        Value::Float(f) => ScalarValue::Float64(Some(*f)),
        Value::Str(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        _ => return None,
    };
    match scalar.cast_to(to).ok()? {
        ScalarValue::Int64(Some(i)) => Some(Value::Int(i)),
        ScalarValue::Float64(Some(f)) => Some(Value::Float(f)),
        ScalarValue::Utf8(Some(s)) => Some(Value::Str(s)),
        ScalarValue::Boolean(Some(b)) => Some(Value::Bool(b)),
        _ => None,
    }
}
