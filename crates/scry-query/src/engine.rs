//! Sessions over the store, bounded results.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use scry_store::Store;

use crate::functions::{self, NoMetadata, ProcessMetadata};
use crate::provider::StoreTable;

#[derive(Clone)]
pub struct EngineConfig {
    /// Memory one query may use for joins, sorts and aggregations; past it the
    /// query fails with a clear error instead of growing the agent.
    pub memory_limit_bytes: usize,
    /// Threads a query's plan is split across.
    pub partitions: usize,
    /// What the `upid_to_<field>` functions know of processes.
    pub metadata: Arc<dyn ProcessMetadata>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig { memory_limit_bytes: 256 << 20, partitions: 2, metadata: Arc::new(NoMetadata) }
    }
}

// By hand: the metadata source need not be printable.
impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("memory_limit_bytes", &self.memory_limit_bytes)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("cannot encode the result: {0}")]
    Output(String),
}

/// One named result table, cut at the row bound.
#[derive(Clone, Debug)]
pub struct OutputTable {
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// More rows existed than the bound let through.
    pub truncated: bool,
}

impl OutputTable {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

pub struct QueryEngine {
    store: Arc<Store>,
    cfg: EngineConfig,
}

impl QueryEngine {
    pub fn new(store: Arc<Store>, cfg: EngineConfig) -> QueryEngine {
        QueryEngine { store, cfg }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A session that sees every store table by its name (names with a dot,
    /// like `kafka_events.beta`, are one name, not schema + table), with the
    /// px functions (`functions`).
    pub fn session(&self) -> Result<SessionContext, QueryError> {
        let runtime = RuntimeEnvBuilder::new().with_memory_limit(self.cfg.memory_limit_bytes, 1.0).build_arc()?;
        let config = SessionConfig::new().with_target_partitions(self.cfg.partitions.max(1));
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        functions::register(&ctx, self.cfg.metadata.clone());
        for table in self.store.tables() {
            ctx.register_table(TableReference::bare(table.name()), Arc::new(StoreTable::new(table)))?;
        }
        Ok(ctx)
    }

    /// Runs one read-only SQL statement; at most `max_rows` rows come back.
    pub async fn sql(&self, query: &str, max_rows: usize) -> Result<OutputTable, QueryError> {
        let ctx = self.session()?;
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = ctx.sql_with_options(query, read_only).await?;
        collect_bounded("output", df, max_rows).await
    }
}

/// Executes `df` as a stream and stops reading after `max_rows` rows.
pub async fn collect_bounded(name: &str, df: DataFrame, max_rows: usize) -> Result<OutputTable, QueryError> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let (mut batches, mut rows, mut truncated) = (Vec::new(), 0, false);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if rows + batch.num_rows() > max_rows {
            batches.push(batch.slice(0, max_rows - rows));
            truncated = true;
            break;
        }
        rows += batch.num_rows();
        batches.push(batch);
    }
    Ok(OutputTable { name: name.to_owned(), schema, batches, truncated })
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use scry_store::TableConfig;

    use super::*;

    fn store_with_rows(batches: i64, per_batch: i64) -> Arc<Store> {
        let store = Arc::new(Store::default());
        let schema = Arc::new(Schema::new(vec![
            Field::new("time_", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            Field::new("service", DataType::Utf8, false),
            Field::new("latency", DataType::Int64, false),
        ]));
        let t =
            store.create("http_events", schema.clone(), TableConfig { seal_rows: 1, ..Default::default() }).unwrap();
        for b in 0..batches {
            let times: Vec<i64> = (0..per_batch).map(|i| b * 1000 + i).collect();
            let svc: Vec<&str> = (0..per_batch).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(TimestampNanosecondArray::from(times.clone())),
                    Arc::new(StringArray::from(svc)),
                    Arc::new(Int64Array::from(times)),
                ],
            )
            .unwrap();
            t.append(batch).unwrap();
        }
        store
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn sql_groups_and_prunes_by_time() {
        let store = store_with_rows(10, 100);
        let engine = QueryEngine::new(store.clone(), EngineConfig::default());
        let out = rt()
            .block_on(engine.sql(
                "SELECT service, count(*) AS n FROM http_events \
                 WHERE time_ >= arrow_cast(8000, 'Timestamp(Nanosecond, None)') GROUP BY service ORDER BY service",
                100,
            ))
            .unwrap();
        let batch = arrow::compute::concat_batches(&out.schema, &out.batches).unwrap();
        let n = batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.values(), &[100, 100]);
        let stats = store.get("http_events").unwrap().stats();
        assert_eq!((stats.scanned_batches, stats.pruned_batches), (2, 8));
    }

    #[test]
    fn results_stop_at_the_row_bound_and_say_so() {
        let engine = QueryEngine::new(store_with_rows(3, 100), EngineConfig::default());
        let out = rt().block_on(engine.sql("SELECT * FROM http_events", 150)).unwrap();
        assert_eq!((out.num_rows(), out.truncated), (150, true));
        let all = rt().block_on(engine.sql("SELECT * FROM http_events", 10_000)).unwrap();
        assert_eq!((all.num_rows(), all.truncated), (300, false));
    }

    #[test]
    fn statements_that_change_things_are_refused() {
        let engine = QueryEngine::new(store_with_rows(1, 1), EngineConfig::default());
        let err = rt().block_on(engine.sql("CREATE TABLE x AS SELECT 1", 10)).unwrap_err();
        assert!(err.to_string().contains("DDL not supported"), "{err}");
        let err = rt().block_on(engine.sql("SELECT nope FROM http_events", 10)).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
