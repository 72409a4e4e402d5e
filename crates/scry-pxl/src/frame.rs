//! DataFrame operations: each returns a new plan, as in Pixie (a DataFrame
//! is immutable; `df.x = …` rebinds `df`).

use arrow::datatypes::DataType;
use datafusion::common::{Column as DfColumn, JoinType, TableReference};
use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::{any_value, avg, count, max, min, sum};
use datafusion::logical_expr::{Expr, cast, col};
use datafusion::prelude::DataFrame;

use crate::ast::Pos;
use crate::compile::{Args, column, plan_error};
use crate::error::{PxlError, Result};
use crate::value::Value;

const METHODS: &[&str] =
    &["filter", "drop", "groupby", "agg", "merge", "append", "head", "map", "sort", "stream", "rolling"];

pub(crate) fn names(df: &DataFrame) -> Vec<String> {
    df.schema().fields().iter().map(|f| f.name().clone()).collect()
}

fn col_ref(name: &str) -> Expr {
    Expr::Column(DfColumn::new_unqualified(name))
}

/// `df.name`: a method, `ctx`, or a column.
pub fn attribute(pos: Pos, df: DataFrame, attr: &str) -> Result<Value> {
    if attr == "ctx" {
        return Ok(Value::Ctx(df));
    }
    if let Some(m) = METHODS.iter().find(|m| **m == attr) {
        return Ok(Value::Method(Box::new(Value::Frame(df)), m));
    }
    column_value(pos, &df, attr)
}

fn column_value(pos: Pos, df: &DataFrame, name: &str) -> Result<Value> {
    check_columns(pos, df, &[name.to_owned()])?;
    Ok(column(df, col_ref(name)))
}

fn check_columns(pos: Pos, df: &DataFrame, wanted: &[String]) -> Result<()> {
    let have = names(df);
    match wanted.iter().find(|w| !have.contains(w)) {
        Some(missing) => {
            Err(PxlError::at(pos, format!("column `{missing}` is not in the DataFrame; it has: {}", have.join(", "))))
        }
        None => Ok(()),
    }
}

/// `df['col']`, `df[['a', 'b']]` or `df[bool_expr]`.
pub fn subscript(pos: Pos, df: DataFrame, index: Value) -> Result<Value> {
    match index {
        Value::Str(name) => column_value(pos, &df, &name),
        Value::List(_) => {
            let keep = index.as_names(pos, "the columns to keep")?;
            Ok(Value::Frame(project(pos, df, &keep)?))
        }
        Value::Column(c) => Ok(Value::Frame(df.filter(c.expr).map_err(|e| plan_error(pos, e))?)),
        other => Err(PxlError::at(
            pos,
            format!("a DataFrame is indexed by a column name, a list of names or a condition, not {}", other.kind()),
        )),
    }
}

pub(crate) fn project(pos: Pos, df: DataFrame, keep: &[String]) -> Result<DataFrame> {
    check_columns(pos, &df, keep)?;
    df.select(keep.iter().map(|n| col_ref(n))).map_err(|e| plan_error(pos, e))
}

/// `df.ctx[key]`: Pixie's metadata keys, resolved from the `upid` column.
pub fn ctx(pos: Pos, df: &DataFrame, key: &str) -> Result<Value> {
    let function = match key {
        "pod" | "pod_name" => "upid_to_pod_name",
        "pod_id" => "upid_to_pod_id",
        "service" | "service_name" => "upid_to_service_name",
        "namespace" => "upid_to_namespace",
        "node" | "node_name" => "upid_to_node_name",
        "host" | "hostname" => "upid_to_hostname",
        "container" | "container_name" => "upid_to_container_name",
        "container_id" => "upid_to_container_id",
        "deployment" | "deployment_name" => "upid_to_deployment_name",
        "cmd" | "cmdline" => "upid_to_cmdline",
        "asid" => "upid_to_asid",
        "pid" => "upid_to_pid",
        _ => {
            return Err(PxlError::at(
                pos,
                format!(
                    "unsupported df.ctx key `{key}`; supported: pod, pod_id, service, namespace, node, host, \
                     container, container_id, deployment, cmdline, asid, pid"
                ),
            ));
        }
    };
    if !names(df).iter().any(|n| n == "upid") {
        return Err(PxlError::at(
            pos,
            format!("df.ctx['{key}'] needs a `upid` column; this DataFrame has: {}", names(df).join(", ")),
        ));
    }
    let udf = df
        .task_ctx()
        .udf(function)
        .map_err(|_| PxlError::at(pos, format!("{function} is not registered in this session")))?;
    Ok(column(df, udf.call(vec![col_ref("upid")])))
}

pub fn method(pos: Pos, df: DataFrame, name: &str, args: Args) -> Result<Value> {
    let err = |e| plan_error(pos, e);
    Ok(Value::Frame(match name {
        "filter" => {
            let [cond] = args.exact("filter", ["expr"])?;
            df.filter(cond.to_expr(pos)?).map_err(err)?
        }
        "drop" => {
            let [columns] = args.exact("drop", ["columns"])?;
            let drop = columns.as_names(pos, "the columns to drop")?;
            check_columns(pos, &df, &drop)?;
            let keep: Vec<String> = names(&df).into_iter().filter(|n| !drop.contains(n)).collect();
            project(pos, df, &keep)?
        }
        "groupby" => {
            let [by] = args.exact("groupby", ["by"])?;
            let keys = by.as_names(pos, "groupby keys")?;
            check_columns(pos, &df, &keys)?;
            return Ok(Value::GroupBy(df, keys));
        }
        "agg" => return agg(pos, df, &[], args),
        "head" => {
            let [n] = args.bind("head", ["n"], 0)?;
            let n = n.map_or(Ok(5), |n| n.as_int(pos, "head's n"))?;
            let n = usize::try_from(n).map_err(|_| PxlError::at(pos, "head's n must not be negative"))?;
            df.limit(0, Some(n)).map_err(err)?
        }
        "map" => {
            let [name, expr] = args.exact("map", ["column", "expr"])?;
            df.with_column(name.as_str(pos, "the column name")?, expr.to_expr(pos)?).map_err(err)?
        }
        "append" => {
            let [other] = args.exact("append", ["objs"])?;
            append(pos, df, other)?
        }
        "merge" => merge(pos, df, args)?,
        "sort" => {
            let [by, ascending] = args.bind("sort", ["by", "ascending"], 1)?;
            let by = by.unwrap_or(Value::None).as_names(pos, "sort keys")?;
            check_columns(pos, &df, &by)?;
            let ascending = match ascending {
                None => vec![true; by.len()],
                Some(Value::Bool(b)) => vec![b; by.len()],
                Some(Value::List(v)) if v.len() == by.len() => v
                    .iter()
                    .map(|b| match b {
                        Value::Bool(b) => Ok(*b),
                        other => Err(PxlError::at(pos, format!("ascending takes bools, got {}", other.kind()))),
                    })
                    .collect::<Result<_>>()?,
                Some(_) => return Err(PxlError::at(pos, "ascending is a bool or one bool per sort key")),
            };
            df.sort(by.iter().zip(ascending).map(|(n, asc)| col_ref(n).sort(asc, false)).collect()).map_err(err)?
        }
        "stream" => {
            return Err(PxlError::at(
                pos,
                "df.stream() (live queries) is not supported; run the script again, or follow events with `scry events`",
            ));
        }
        "rolling" => {
            return Err(PxlError::at(pos, "df.rolling(…) is not supported; bucket time with px.bin(df.time_, …)"));
        }
        other => return Err(PxlError::at(pos, format!("DataFrame has no method `{other}`"))),
    }))
}

/// `groupby(keys).agg(out=('col', px.fn), …)`: keys first, then the
/// aggregates in the order written.
pub fn agg(pos: Pos, df: DataFrame, keys: &[String], args: Args) -> Result<Value> {
    if !args.positional.is_empty() {
        return Err(PxlError::at(pos, "agg takes named aggregates: agg(out=('column', px.count))"));
    }
    if args.named.is_empty() {
        return Err(PxlError::at(pos, "agg needs at least one aggregate: agg(out=('column', px.count))"));
    }
    let mut aggs = Vec::new();
    for (out, spec) in args.named {
        let (Value::Tuple(parts) | Value::List(parts)) = spec else {
            return Err(PxlError::at(pos, format!("aggregate `{out}` must be a tuple ('column', px.fn)")));
        };
        let [Value::Str(input), Value::PxFn(func)] = parts.as_slice() else {
            return Err(PxlError::at(pos, format!("aggregate `{out}` must be a tuple ('column', px.fn)")));
        };
        check_columns(pos, &df, std::slice::from_ref(input))?;
        let input_type = df.schema().field_with_unqualified_name(input).map(|f| f.data_type().clone()).ok();
        aggs.push(aggregate(pos, &df, func, col_ref(input), input_type)?.alias(out));
    }
    let group: Vec<Expr> = keys.iter().map(|k| col_ref(k)).collect();
    Ok(Value::Frame(df.aggregate(group, aggs).map_err(|e| plan_error(pos, e))?))
}

fn aggregate(pos: Pos, df: &DataFrame, func: &str, input: Expr, input_type: Option<DataType>) -> Result<Expr> {
    let boolean = input_type == Some(DataType::Boolean);
    Ok(match func {
        "count" => count(input),
        // Pixie sums and averages booleans (error rates: mean of `failure`).
        "sum" if boolean => sum(cast(input, DataType::Int64)),
        "sum" => sum(input),
        "mean" => avg(cast(input, DataType::Float64)),
        "min" => min(input),
        "max" => max(input),
        "any" | "sample" => any_value(input),
        "quantiles" => {
            let udaf = df
                .task_ctx()
                .udaf("quantiles")
                .map_err(|_| PxlError::at(pos, "quantiles is not registered in this session"))?;
            udaf.call(vec![input])
        }
        other => {
            return Err(PxlError::at(
                pos,
                format!("px.{other} is not an aggregate; aggregates: count, sum, mean, min, max, any, quantiles"),
            ));
        }
    })
}

fn append(pos: Pos, df: DataFrame, other: Value) -> Result<DataFrame> {
    let others = match other {
        Value::Frame(f) => vec![f],
        Value::List(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Frame(f) => Ok(f),
                v => Err(PxlError::at(pos, format!("append takes DataFrames, got {}", v.kind()))),
            })
            .collect::<Result<_>>()?,
        v => return Err(PxlError::at(pos, format!("append takes a DataFrame or a list of them, got {}", v.kind()))),
    };
    let mut out = df;
    for other in others {
        let (a, b) = (names(&out), names(&other));
        if a != b {
            return Err(PxlError::at(
                pos,
                format!("append needs the same columns in the same order: [{}] vs [{}]", a.join(", "), b.join(", ")),
            ));
        }
        out = out.union(other).map_err(|e| plan_error(pos, e))?;
    }
    if names(&out).iter().any(|n| n == "time_") {
        out = out.sort(vec![col("time_").sort(true, false)]).map_err(|e| plan_error(pos, e))?;
    }
    Ok(out)
}

const LEFT: &str = "__pxl_left";
const RIGHT: &str = "__pxl_right";

/// `df.merge(right, how, left_on, right_on, suffixes)`: an equijoin whose
/// output is the left keys, the other left columns, then the right
/// columns; a name on both sides takes the side's suffix.
fn merge(pos: Pos, left: DataFrame, args: Args) -> Result<DataFrame> {
    let params = ["right", "how", "left_on", "right_on", "suffixes"];
    let [right, how, left_on, right_on, suffixes] = args.bind("merge", params, 4)?;
    let Some(Value::Frame(right)) = right else {
        return Err(PxlError::at(pos, "merge's first argument is the right DataFrame"));
    };
    let join_type = match how.as_ref().map(|h| h.as_str(pos, "how")).transpose()? {
        Some("inner") | None => JoinType::Inner,
        Some("left") => JoinType::Left,
        Some("right") => JoinType::Right,
        Some("outer") => JoinType::Full,
        Some(other) => {
            return Err(PxlError::at(pos, format!("merge how=`{other}` is not one of inner, left, right, outer")));
        }
    };
    let left_on = left_on.unwrap_or(Value::None).as_names(pos, "left_on")?;
    let right_on = right_on.unwrap_or(Value::None).as_names(pos, "right_on")?;
    if left_on.len() != right_on.len() || left_on.is_empty() {
        return Err(PxlError::at(pos, "left_on and right_on must name the same number of columns (at least one)"));
    }
    check_columns(pos, &left, &left_on)?;
    check_columns(pos, &right, &right_on)?;
    let (suffix_l, suffix_r) = match suffixes {
        None => ("_x".to_owned(), "_y".to_owned()),
        Some(s) => match s.as_names(pos, "suffixes")?.as_slice() {
            [l, r] => (l.clone(), r.clone()),
            _ => return Err(PxlError::at(pos, "suffixes takes two strings, for the left and right columns")),
        },
    };
    let (lnames, rnames) = (names(&left), names(&right));
    let side = |qualifier: &str, name: &str| Expr::Column(DfColumn::new(Some(TableReference::bare(qualifier)), name));
    let on = left_on.iter().zip(&right_on).map(|(l, r)| side(LEFT, l).eq(side(RIGHT, r)));
    let err = |e| plan_error(pos, e);
    let joined =
        left.alias(LEFT).map_err(err)?.join_on(right.alias(RIGHT).map_err(err)?, join_type, on).map_err(err)?;
    let left_order = left_on.iter().chain(lnames.iter().filter(|n| !left_on.contains(n)));
    let mut out: Vec<(Expr, String)> = Vec::new();
    for n in left_order {
        let name = if rnames.contains(n) { format!("{n}{suffix_l}") } else { n.clone() };
        out.push((side(LEFT, n), name));
    }
    for n in &rnames {
        let name = if lnames.contains(n) { format!("{n}{suffix_r}") } else { n.clone() };
        out.push((side(RIGHT, n), name));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((_, dup)) = out.iter().find(|(_, n)| !seen.insert(n.clone())) {
        return Err(PxlError::at(pos, format!("merge would output column `{dup}` twice; choose other suffixes")));
    }
    joined.select(out.into_iter().map(|(e, n)| e.alias(n))).map_err(err)
}
