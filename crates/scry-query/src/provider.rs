//! A store table as a DataFusion table: projection, `time_` bounds and limit
//! are pushed down; rows outside the bounds are still filtered by DataFusion
//! (a batch is read whole when its time span overlaps the bounds).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use scry_store::{Table, TimeRange};

pub struct StoreTable {
    table: Arc<Table>,
}

impl StoreTable {
    pub fn new(table: Arc<Table>) -> StoreTable {
        StoreTable { table }
    }
}

impl fmt::Debug for StoreTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreTable({})", self.table.name())
    }
}

/// One bound on `time_` a filter sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    AtLeast(i64),
    AtMost(i64),
    Exactly(i64),
}

fn time_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => Some(*v),
        Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _) => v.checked_mul(1_000),
        Expr::Literal(ScalarValue::TimestampMillisecond(Some(v), _), _) => v.checked_mul(1_000_000),
        Expr::Literal(ScalarValue::TimestampSecond(Some(v), _), _) => v.checked_mul(1_000_000_000),
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(*v),
        _ => None,
    }
}

fn is_time_column(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == scry_store::TIME_COLUMN)
}

/// The bound a filter puts on `time_`, if it is `time_ <op> literal` (either way round).
fn time_bound(filter: &Expr) -> Option<Bound> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else { return None };
    let (op, v) = if is_time_column(left) {
        (*op, time_literal(right)?)
    } else if is_time_column(right) {
        (op.swap()?, time_literal(left)?)
    } else {
        return None;
    };
    match op {
        Operator::Gt | Operator::GtEq => Some(Bound::AtLeast(v)),
        Operator::Lt | Operator::LtEq => Some(Bound::AtMost(v)),
        Operator::Eq => Some(Bound::Exactly(v)),
        _ => None,
    }
}

/// The narrowest range all the filters allow.
fn time_range(filters: &[Expr]) -> TimeRange {
    let mut r = TimeRange::default();
    for b in filters.iter().filter_map(time_bound) {
        let (lo, hi) = match b {
            Bound::AtLeast(v) => (Some(v), None),
            Bound::AtMost(v) => (None, Some(v)),
            Bound::Exactly(v) => (Some(v), Some(v)),
        };
        if let Some(lo) = lo {
            r.start = Some(r.start.map_or(lo, |s| s.max(lo)));
        }
        if let Some(hi) = hi {
            r.end = Some(r.end.map_or(hi, |e| e.min(hi)));
        }
    }
    r
}

#[async_trait]
impl TableProvider for StoreTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if time_bound(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let scan = self.table.scan(time_range(filters));
        let source =
            MemorySourceConfig::try_new(&[scan.batches], self.schema(), projection.cloned())?.with_limit(limit);
        Ok(DataSourceExec::from_data_source(source))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(v), None))
    }

    #[test]
    fn time_filters_become_a_range() {
        let filters = [col("time_").gt_eq(ts(100)), ts(500).gt(col("time_")), col("time_").lt(ts(900))];
        assert_eq!(time_range(&filters), TimeRange { start: Some(100), end: Some(500) });
        assert_eq!(time_range(&[col("time_").eq(ts(7))]), TimeRange { start: Some(7), end: Some(7) });
        assert_eq!(time_range(&[col("other").gt(ts(7))]), TimeRange::default());
        assert_eq!(time_bound(&col("time_").not_eq(ts(7))), None);
    }
}
