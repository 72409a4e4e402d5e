//! PxL, Pixie's query language, on DataFusion.
//!
//! A script is parsed by ruff's Python parser (`parse.rs`) into PxL's own
//! tree (`ast.rs`), then run once by the compiler (`compile.rs`), which
//! evaluates Python values at compile time and turns DataFrame operations
//! (`frame.rs`), operators (`ops.rs`) and `px.` functions (`px.rs`) into
//! DataFusion plans — one per `px.display` or exec func. The plans run on
//! the query engine's session, with its UDFs, bounded per output.
//! `library.rs` holds the `px/` scripts shipped in the binary and `vis.rs`
//! reads their Pixie-style `vis.json` (arguments and functions to call).

mod ast;
mod compile;
mod error;
mod frame;
pub mod library;
mod ops;
mod parse;
mod px;
mod time;
mod value;
pub mod vis;

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use scry_query::wire::{DEFAULT_MAX_ROWS, ScriptRequest};
use scry_query::{OutputTable, QueryEngine, QueryError, StoreTable, collect_bounded};
use scry_store::Store;

pub use ast::Pos;
pub use compile::{Compiled, Output, Tables, compile};
pub use error::PxlError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Script(#[from] PxlError),
    #[error("{0}")]
    Query(#[from] QueryError),
}

/// The store's tables, as a script sees them.
pub struct StoreTables(pub Arc<Store>);

impl Tables for StoreTables {
    fn table(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.0.get(name).map(|t| Arc::new(StoreTable::new(t)) as Arc<dyn TableProvider>)
    }

    fn names(&self) -> Vec<String> {
        self.0.tables().iter().map(|t| t.name().to_owned()).collect()
    }
}

/// Scripts longer than this are refused before parsing.
const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// Parsing and compiling recurse over the script's nesting. On a thread of
/// its own with this much (lazily committed) stack, even a script that is
/// one megabyte of brackets fails with an error instead of overflowing.
const COMPILE_STACK_BYTES: usize = 256 << 20;

/// Compiles and runs a script against the engine's tables; `now_ns` is the
/// script's `px.now()` (relative times count from it).
pub async fn run(engine: &QueryEngine, req: &ScriptRequest, now_ns: i64) -> Result<Vec<OutputTable>, RunError> {
    if req.script.len() > MAX_SCRIPT_BYTES {
        return Err(PxlError::script(format!("the script is over {MAX_SCRIPT_BYTES} bytes")).into());
    }
    let state = engine.session()?.state();
    let tables = StoreTables(engine.store().clone());
    let (script, exec_funcs) = (req.script.clone(), req.exec_funcs.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pxl-compile".into())
        .stack_size(COMPILE_STACK_BYTES)
        .spawn(move || {
            // The receiver is gone only if the query was abandoned.
            let _ = tx.send(compile(&script, &exec_funcs, state, &tables, now_ns));
        })
        .map_err(|e| PxlError::script(format!("cannot start the compiler thread: {e}")))?;
    let compiled = rx.await.map_err(|_| PxlError::script("the compiler stopped without an answer"))??;
    let max_rows = req.max_rows.or(compiled.max_rows).unwrap_or(DEFAULT_MAX_ROWS);
    let mut tables = Vec::with_capacity(compiled.outputs.len());
    for out in compiled.outputs {
        tables.push(collect_bounded(&out.name, out.frame, max_rows).await?);
    }
    Ok(tables)
}
