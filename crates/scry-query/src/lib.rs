//! Scry's query engine: DataFusion over the table store.
//!
//! Every store table is a DataFusion table (`provider.rs`) that pushes time
//! bounds down to the store, so batches outside a query's window are never
//! read. SQL runs as DataFusion parses it; results are bounded per output
//! table and the bound is reported. Pixie's functions (`functions`) are in
//! every session.

mod engine;
pub mod functions;
mod provider;
pub mod wire;

pub use engine::{EngineConfig, OutputTable, QueryEngine, QueryError, collect_bounded};
pub use functions::{NoMetadata, ProcessInfo, ProcessMetadata};
pub use provider::StoreTable;
