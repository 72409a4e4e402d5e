//! The table store: every record Scry keeps, in memory-bounded columnar tables.
//!
//! A table is a FIFO of Arrow record batches under a byte budget. Writers
//! append small batches to a hot buffer; once it holds enough rows it is sealed
//! into one batch. Every batch carries the min and max of its `time_` column,
//! so a scan for a time range skips batches that cannot match. When an append
//! would exceed the budget, or a batch is older than the table's maximum age,
//! the oldest batches go, and the eviction is counted. A scan takes a snapshot
//! of `Arc`'d batches under a short read lock: appends and scans run together
//! and no scan copies the table.

mod table;

pub use table::{Scan, StoreError, TIME_COLUMN, Table, TableConfig, TableStats, TimeRange};

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;

/// Every table on this node, by name.
#[derive(Default)]
pub struct Store {
    tables: RwLock<BTreeMap<String, Arc<Table>>>,
}

impl Store {
    /// Adds a table; a table of the same name is an error.
    pub fn create(&self, name: &str, schema: SchemaRef, cfg: TableConfig) -> Result<Arc<Table>, StoreError> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        if tables.contains_key(name) {
            return Err(StoreError::Exists(name.to_owned()));
        }
        let table = Arc::new(Table::new(name, schema, cfg)?);
        tables.insert(name.to_owned(), Arc::clone(&table));
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// All tables, by name.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        self.tables.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

/// How a store's byte budget is split, in Pixie's manner: some tables get a
/// fixed share, the rest split what is left equally.
#[derive(Clone, Debug)]
pub struct Budget {
    pub total_bytes: u64,
    /// Tables with a share of the total (0.0–1.0), e.g. `http_events` 0.4.
    pub shares: BTreeMap<String, f64>,
    /// Tables with a fixed size in bytes, e.g. `proc_exit_events` 10 MiB.
    pub fixed: BTreeMap<String, u64>,
}

impl Budget {
    /// Pixie's defaults: 1280 MiB in all, 40 % for `http_events`, 10 MiB for
    /// `proc_exit_events`.
    pub fn pixie_defaults(total_bytes: u64) -> Budget {
        Budget {
            total_bytes,
            shares: BTreeMap::from([("http_events".to_owned(), 0.4)]),
            fixed: BTreeMap::from([("proc_exit_events".to_owned(), 10 << 20)]),
        }
    }

    /// Each table's bytes, given every table's name.
    pub fn split<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u64> {
        let names: Vec<&str> = names.into_iter().collect();
        let mut out = BTreeMap::new();
        let mut left = self.total_bytes;
        for &name in &names {
            let bytes = if let Some(&b) = self.fixed.get(name) {
                b
            } else if let Some(&share) = self.shares.get(name) {
                (self.total_bytes as f64 * share) as u64
            } else {
                continue;
            };
            out.insert(name.to_owned(), bytes);
            left = left.saturating_sub(bytes);
        }
        let rest: Vec<&str> = names.iter().copied().filter(|n| !out.contains_key(*n)).collect();
        for name in &rest {
            out.insert((*name).to_owned(), left / rest.len() as u64);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_splits_like_pixie() {
        let b = Budget::pixie_defaults(1000 << 20);
        let split = b.split(["http_events", "proc_exit_events", "dns_events", "conn_stats"]);
        assert_eq!(split["http_events"], 400 << 20);
        assert_eq!(split["proc_exit_events"], 10 << 20);
        assert_eq!(split["dns_events"], (1000u64 - 400 - 10) << 20 >> 1);
        assert_eq!(split["conn_stats"], split["dns_events"]);
    }
}
