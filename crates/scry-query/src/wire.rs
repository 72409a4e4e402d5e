//! What the query API sends and receives: requests, result tables as JSON
//! rows (positional, in column order), and table descriptions.

use std::io::Cursor;

use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::QueryError;
use crate::engine::OutputTable;

/// Pixie's default bound on rows per output table.
pub const DEFAULT_MAX_ROWS: usize = 10_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SqlRequest {
    pub query: String,
    /// Rows per output table at most; `DEFAULT_MAX_ROWS` when absent.
    #[serde(default)]
    pub max_rows: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Arrow's name for the type (`Int64`, `Utf8`, `Timestamp(ns)`).
    pub data_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultTable {
    pub name: String,
    pub columns: Vec<Column>,
    /// One array per row, values in column order; timestamps as RFC 3339 text.
    pub rows: Vec<Vec<Value>>,
    /// More rows matched than `max_rows` let through.
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    pub tables: Vec<ResultTable>,
}

/// A store table as `scry tables` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub columns: Vec<Column>,
    #[serde(flatten)]
    pub stats: scry_store::TableStats,
}

pub fn columns(schema: &arrow::datatypes::Schema) -> Vec<Column> {
    schema.fields().iter().map(|f| Column { name: f.name().clone(), data_type: f.data_type().to_string() }).collect()
}

impl ResultTable {
    pub fn from_output(out: &OutputTable) -> Result<ResultTable, QueryError> {
        let columns = columns(&out.schema);
        let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(Cursor::new(Vec::new()));
        for batch in &out.batches {
            writer.write(batch).map_err(|e| QueryError::Output(e.to_string()))?;
        }
        writer.finish().map_err(|e| QueryError::Output(e.to_string()))?;
        let bytes = writer.into_inner().into_inner();
        let objects: Vec<serde_json::Map<String, Value>> = if bytes.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&bytes).map_err(|e| QueryError::Output(e.to_string()))?
        };
        let rows = objects
            .into_iter()
            .map(|mut o| columns.iter().map(|c| o.remove(&c.name).unwrap_or(Value::Null)).collect())
            .collect();
        Ok(ResultTable { name: out.name.clone(), columns, rows, truncated: out.truncated })
    }
}

/// A PxL script to run, with the script functions to call by name (as
/// Pixie's `exec_funcs`); without them the script's `px.display` calls
/// make the outputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptRequest {
    pub script: String,
    #[serde(default)]
    pub exec_funcs: Vec<ExecFunc>,
    /// Rows per output table at most; the script's `#px:set
    /// max_output_rows_per_table`, else `DEFAULT_MAX_ROWS`, when absent.
    #[serde(default)]
    pub max_rows: Option<usize>,
}

/// One script function to call, its arguments as text (converted by the
/// parameters' annotations), and the name of the output it makes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecFunc {
    pub func: String,
    pub output_name: String,
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
}
