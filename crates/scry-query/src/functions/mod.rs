//! Pixie's (PxL's) runtime functions, as DataFusion functions under Pixie's
//! names, so SQL and compiled PxL call the same code. Every session
//! [`QueryEngine::session`](crate::QueryEngine::session) makes has them.
//!
//! - `quantiles(x)`, an aggregate: numeric → Utf8 JSON
//!   `{"p01":..,"p10":..,"p25":..,"p50":..,"p75":..,"p90":..,"p99":..}` (`quantiles.rs`)
//! - `pluck(json, key)` → Utf8, `pluck_float64` → Float64, `pluck_int64` →
//!   Int64: a top-level member of a JSON object text; `pluck_array(json,
//!   index)` → Utf8: an element of a JSON array text (`json.rs`)
//! - `bin(x, size)`: Int64 or Timestamp(ns) `x` floored to a multiple of
//!   Int64 `size`, of `x`'s type; `time_to_int64(t)`, `int64_to_time(i)`
//!   (`time.rs`)
//! - `upid_to_pid`, `upid_to_asid`, `upid_to_start_ts`: Utf8 UPID → Int64,
//!   read from the UPID itself (`upid.rs`)
//! - `upid_to_namespace`, `upid_to_pod_name`, `upid_to_pod_id`,
//!   `upid_to_container_name`, `upid_to_container_id`, `upid_to_node_name`,
//!   `upid_to_hostname`, `upid_to_cmdline`, `upid_to_service_name`,
//!   `upid_to_deployment_name`: Utf8 UPID → Utf8, from [`ProcessMetadata`]
//!   (`metadata.rs`)
//! - `dns_rcode_name(code)`, `http_resp_message(status)`, `protocol_name(protocol)`:
//!   Int64 → Utf8 (`enums.rs`)
//! - `normalize_pgsql(req, req_cmd)` (Utf8, Utf8), `normalize_mysql(req_body,
//!   req_cmd)` (Utf8, Int64) → Utf8 JSON `{"query","params","error"}`: SQL
//!   with literals as placeholders; also [`normalize_sql`] for Rust callers
//!   (`sql.rs`)
//!
//! A null argument gives null; malformed input gives what Pixie gives (see
//! each module), never an error or a panic.

mod enums;
mod json;
mod metadata;
mod quantiles;
mod scalar;
mod sql;
mod time;
mod upid;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

pub use metadata::{NoMetadata, ProcessInfo, ProcessMetadata};
pub use sql::{Normalized, SqlDialect, normalize_mysql, normalize_pgsql, normalize_sql};

/// Adds every function to `ctx`; the `upid_to_<field>` ones ask `metadata`.
pub fn register(ctx: &SessionContext, metadata: Arc<dyn ProcessMetadata>) {
    let scalars = [
        json::functions(),
        time::functions(),
        upid::functions(),
        metadata::functions(&metadata),
        enums::functions(),
        sql::functions(),
    ];
    for f in scalars.into_iter().flatten() {
        ctx.register_udf(f);
    }
    ctx.register_udaf(quantiles::function());
}

#[cfg(test)]
pub(crate) mod tests {
    use arrow::compute::concat_batches;
    use arrow::util::display::{ArrayFormatter, FormatOptions};

    use super::*;

    /// Each result row as its values joined by `|`, null as `NULL`.
    pub(crate) fn query_with(metadata: Arc<dyn ProcessMetadata>, sql: &str) -> Vec<String> {
        let engine = crate::QueryEngine::new(Arc::default(), crate::EngineConfig { metadata, ..Default::default() });
        let ctx = engine.session().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (schema, batches) = rt.block_on(async {
            let df = ctx.sql(sql).await.unwrap();
            (Arc::new(df.schema().as_arrow().clone()), df.collect().await.unwrap())
        });
        let batch = concat_batches(&schema, &batches).unwrap();
        let options = FormatOptions::default().with_null("NULL");
        let columns: Vec<ArrayFormatter> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        (0..batch.num_rows())
            .map(|row| columns.iter().map(|c| c.value(row).to_string()).collect::<Vec<_>>().join("|"))
            .collect()
    }

    pub(crate) fn query(sql: &str) -> Vec<String> {
        query_with(Arc::new(NoMetadata), sql)
    }

    #[test]
    fn engine_sessions_find_every_function_by_name() {
        use datafusion::execution::FunctionRegistry;

        let engine = crate::QueryEngine::new(Arc::default(), crate::EngineConfig::default());
        let ctx = engine.session().unwrap();
        let names = [
            "pluck",
            "pluck_array",
            "bin",
            "time_to_int64",
            "upid_to_pid",
            "upid_to_pod_name",
            "dns_rcode_name",
            "protocol_name",
            "normalize_pgsql",
            "normalize_mysql",
        ];
        for name in names {
            assert!(ctx.udf(name).is_ok(), "{name}");
        }
        assert!(ctx.udaf("quantiles").is_ok());
    }
}
