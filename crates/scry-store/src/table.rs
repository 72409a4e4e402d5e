//! One table: a FIFO of batches (sealed, then hot) under a byte budget.

use std::collections::VecDeque;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, RecordBatch, TimestampNanosecondArray};
use arrow::compute::{concat_batches, max, min};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Every table has this column: the record's time, ns since the Unix epoch.
pub const TIME_COLUMN: &str = "time_";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("table {0} already exists")]
    Exists(String),
    #[error("table {table}: a `time_` column of type Timestamp(Nanosecond) is required")]
    NoTimeColumn { table: String },
    #[error("table {table}: batch schema does not match the table's: expected {expected}, got {got}")]
    SchemaMismatch { table: String, expected: String, got: String },
    #[error("table {table}: `time_` has nulls; every record needs a time")]
    NullTime { table: String },
    #[error("table {table}: a batch of {bytes} bytes exceeds the table's budget of {budget} bytes")]
    TooLarge { table: String, bytes: u64, budget: u64 },
    #[error("table {table}: cannot seal the hot buffer: {reason}")]
    Seal { table: String, reason: String },
}

#[derive(Clone, Debug)]
pub struct TableConfig {
    /// Bytes the table may hold; the oldest batches go to make room.
    pub budget_bytes: u64,
    /// Batches whose newest record is older than this go too.
    pub max_age: Option<Duration>,
    /// The hot buffer is sealed into one batch at this many rows.
    pub seal_rows: usize,
}

impl Default for TableConfig {
    fn default() -> TableConfig {
        TableConfig { budget_bytes: 64 << 20, max_age: None, seal_rows: 8192 }
    }
}

/// A time range for a scan, both ends inclusive, ns since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl TimeRange {
    fn overlaps(&self, min: i64, max: i64) -> bool {
        self.start.is_none_or(|s| max >= s) && self.end.is_none_or(|e| min <= e)
    }
}

/// What a scan returns: the batches that may hold rows in the range, oldest
/// first, and how many were skipped by their time bounds.
#[derive(Debug)]
pub struct Scan {
    pub batches: Vec<RecordBatch>,
    pub pruned: usize,
}

/// Sizes and counters of one table, for `scry tables` and metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub batches: u64,
    pub budget_bytes: u64,
    pub oldest_time: Option<i64>,
    pub newest_time: Option<i64>,
    pub appended_rows: u64,
    pub evicted_rows: u64,
    pub evicted_batches: u64,
    pub evicted_bytes: u64,
    pub scanned_batches: u64,
    pub pruned_batches: u64,
}

#[derive(Clone, Debug)]
struct Stored {
    batch: RecordBatch,
    min: i64,
    max: i64,
    bytes: u64,
}

#[derive(Default)]
struct Inner {
    sealed: VecDeque<Stored>,
    hot: VecDeque<Stored>,
    hot_rows: usize,
    rows: u64,
    bytes: u64,
}

impl Inner {
    /// Drops the oldest batch (sealed before hot); returns it.
    fn pop_oldest(&mut self) -> Option<Stored> {
        let s = self.sealed.pop_front().or_else(|| {
            let h = self.hot.pop_front()?;
            self.hot_rows -= h.batch.num_rows();
            Some(h)
        })?;
        self.rows -= s.batch.num_rows() as u64;
        self.bytes -= s.bytes;
        Some(s)
    }

    fn oldest(&self) -> Option<&Stored> {
        self.sealed.front().or_else(|| self.hot.front())
    }
}

#[derive(Default)]
struct Counters {
    appended_rows: AtomicU64,
    evicted_rows: AtomicU64,
    evicted_batches: AtomicU64,
    evicted_bytes: AtomicU64,
    scanned_batches: AtomicU64,
    pruned_batches: AtomicU64,
}

pub struct Table {
    name: String,
    schema: SchemaRef,
    time_index: usize,
    cfg: TableConfig,
    inner: RwLock<Inner>,
    counters: Counters,
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

impl Table {
    pub fn new(name: &str, schema: SchemaRef, cfg: TableConfig) -> Result<Table, StoreError> {
        let time_index = schema
            .fields()
            .iter()
            .position(|f| {
                f.name() == TIME_COLUMN && matches!(f.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _))
            })
            .ok_or_else(|| StoreError::NoTimeColumn { table: name.to_owned() })?;
        Ok(Table {
            name: name.to_owned(),
            schema,
            time_index,
            cfg: TableConfig { seal_rows: cfg.seal_rows.max(1), ..cfg },
            inner: RwLock::default(),
            counters: Counters::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    fn stored(&self, batch: RecordBatch) -> Result<Stored, StoreError> {
        let times = batch
            .column(self.time_index)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| StoreError::NoTimeColumn { table: self.name.clone() })?;
        if times.null_count() > 0 {
            return Err(StoreError::NullTime { table: self.name.clone() });
        }
        let (lo, hi) = (min(times).unwrap_or(i64::MIN), max(times).unwrap_or(i64::MAX));
        let bytes = batch.get_array_memory_size() as u64;
        Ok(Stored { batch, min: lo, max: hi, bytes })
    }

    /// Appends a batch of this table's schema, evicting the oldest batches
    /// first if it would not fit.
    pub fn append(&self, batch: RecordBatch) -> Result<(), StoreError> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(StoreError::SchemaMismatch {
                table: self.name.clone(),
                expected: format!("{:?}", self.schema.fields()),
                got: format!("{:?}", batch.schema().fields()),
            });
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let stored = self.stored(batch)?;
        if stored.bytes > self.cfg.budget_bytes {
            return Err(StoreError::TooLarge {
                table: self.name.clone(),
                bytes: stored.bytes,
                budget: self.cfg.budget_bytes,
            });
        }
        let rows = stored.batch.num_rows();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.expire_locked(&mut inner, now_ns());
        while inner.bytes + stored.bytes > self.cfg.budget_bytes {
            let Some(gone) = inner.pop_oldest() else { break };
            self.count_eviction(&gone);
        }
        inner.rows += rows as u64;
        inner.bytes += stored.bytes;
        inner.hot_rows += rows;
        inner.hot.push_back(stored);
        self.counters.appended_rows.fetch_add(rows as u64, Ordering::Relaxed);
        if inner.hot_rows >= self.cfg.seal_rows {
            self.seal_locked(&mut inner)?;
        }
        Ok(())
    }

    /// Seals the hot buffer now (normally it seals itself at `seal_rows`).
    pub fn seal(&self) -> Result<(), StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.seal_locked(&mut inner)
    }

    fn seal_locked(&self, inner: &mut Inner) -> Result<(), StoreError> {
        match inner.hot.len() {
            0 => return Ok(()),
            1 => {
                let only = inner.hot.pop_front().expect("one hot batch");
                inner.sealed.push_back(only);
            }
            _ => {
                let batches: Vec<&RecordBatch> = inner.hot.iter().map(|s| &s.batch).collect();
                let batch = concat_batches(&self.schema, batches)
                    .map_err(|e| StoreError::Seal { table: self.name.clone(), reason: e.to_string() })?;
                // The parts' time bounds are the whole's: no second pass over time_.
                let (mut lo, mut hi, mut old_bytes) = (i64::MAX, i64::MIN, 0);
                for part in inner.hot.drain(..) {
                    (lo, hi, old_bytes) = (lo.min(part.min), hi.max(part.max), old_bytes + part.bytes);
                }
                let bytes = batch.get_array_memory_size() as u64;
                inner.bytes = inner.bytes - old_bytes + bytes;
                inner.sealed.push_back(Stored { batch, min: lo, max: hi, bytes });
            }
        }
        inner.hot_rows = 0;
        // Concatenation can change the size a little: keep within budget.
        while inner.bytes > self.cfg.budget_bytes {
            let Some(gone) = inner.pop_oldest() else { break };
            self.count_eviction(&gone);
        }
        Ok(())
    }

    /// Drops batches older than the maximum age, as of `now` (ns since epoch).
    pub fn expire(&self, now: i64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.expire_locked(&mut inner, now);
    }

    fn expire_locked(&self, inner: &mut Inner, now: i64) {
        let Some(age) = self.cfg.max_age else { return };
        let cutoff = now.saturating_sub(age.as_nanos() as i64);
        while inner.oldest().is_some_and(|s| s.max < cutoff) {
            let gone = inner.pop_oldest().expect("an oldest batch");
            self.count_eviction(&gone);
        }
    }

    fn count_eviction(&self, gone: &Stored) {
        let c = &self.counters;
        c.evicted_rows.fetch_add(gone.batch.num_rows() as u64, Ordering::Relaxed);
        c.evicted_batches.fetch_add(1, Ordering::Relaxed);
        c.evicted_bytes.fetch_add(gone.bytes, Ordering::Relaxed);
    }

    /// The batches that may hold rows in `range`, oldest first. The caller
    /// still filters rows: a batch is kept whole when its bounds overlap.
    pub fn scan(&self, range: TimeRange) -> Scan {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut batches = Vec::new();
        let mut pruned = 0;
        for s in inner.sealed.iter().chain(inner.hot.iter()) {
            if range.overlaps(s.min, s.max) {
                batches.push(s.batch.clone());
            } else {
                pruned += 1;
            }
        }
        drop(inner);
        self.counters.scanned_batches.fetch_add(batches.len() as u64, Ordering::Relaxed);
        self.counters.pruned_batches.fetch_add(pruned as u64, Ordering::Relaxed);
        Scan { batches, pruned }
    }

    pub fn stats(&self) -> TableStats {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let all = || inner.sealed.iter().chain(inner.hot.iter());
        let c = &self.counters;
        TableStats {
            name: self.name.clone(),
            rows: inner.rows,
            bytes: inner.bytes,
            batches: (inner.sealed.len() + inner.hot.len()) as u64,
            budget_bytes: self.cfg.budget_bytes,
            oldest_time: all().map(|s| s.min).min(),
            newest_time: all().map(|s| s.max).max(),
            appended_rows: c.appended_rows.load(Ordering::Relaxed),
            evicted_rows: c.evicted_rows.load(Ordering::Relaxed),
            evicted_batches: c.evicted_batches.load(Ordering::Relaxed),
            evicted_bytes: c.evicted_bytes.load(Ordering::Relaxed),
            scanned_batches: c.scanned_batches.load(Ordering::Relaxed),
            pruned_batches: c.pruned_batches.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(TIME_COLUMN, DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            Field::new("v", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]))
    }

    /// `n` rows with times t0, t0+1, …
    fn batch(t0: i64, n: usize) -> RecordBatch {
        let times: Vec<i64> = (0..n as i64).map(|i| t0 + i).collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(TimestampNanosecondArray::from(times.clone())),
                Arc::new(Int64Array::from(times)),
                Arc::new(StringArray::from(vec!["x"; n])),
            ],
        )
        .unwrap()
    }

    fn table(budget: u64, seal_rows: usize) -> Table {
        Table::new("t", schema(), TableConfig { budget_bytes: budget, max_age: None, seal_rows }).unwrap()
    }

    fn rows(scan: &Scan) -> usize {
        scan.batches.iter().map(RecordBatch::num_rows).sum()
    }

    #[test]
    fn appends_seal_into_one_batch_and_scan_sees_everything() {
        let t = table(1 << 30, 100);
        for i in 0..25 {
            t.append(batch(i * 10, 10)).unwrap();
        }
        let s = t.stats();
        assert_eq!((s.rows, s.appended_rows), (250, 250));
        // 2 sealed batches of 100 rows, 5 hot batches of 10.
        assert_eq!(s.batches, 2 + 5);
        assert_eq!((s.oldest_time, s.newest_time), (Some(0), Some(249)));
        assert_eq!(rows(&t.scan(TimeRange::default())), 250);
    }

    #[test]
    fn budget_is_kept_to_within_one_batch_by_evicting_the_oldest() {
        let one = batch(0, 1000).get_array_memory_size() as u64;
        let t = table(one * 5 + one / 2, 1000);
        for i in 0..20 {
            t.append(batch(i * 1000, 1000)).unwrap();
            assert!(t.stats().bytes <= t.config().budget_bytes);
        }
        let s = t.stats();
        assert!(s.bytes + one > s.budget_bytes, "room for another batch was left: {s:?}");
        assert_eq!(s.rows, 5000);
        assert_eq!((s.evicted_rows, s.evicted_batches), (15_000, 15));
        // FIFO: what is left is the newest.
        assert_eq!(s.oldest_time, Some(15_000));
        assert_eq!(s.newest_time, Some(19_999));
    }

    #[test]
    fn time_bounds_prune_batches_and_the_pruning_is_counted() {
        let t = table(1 << 30, 100);
        for i in 0..10 {
            t.append(batch(i * 100, 100)).unwrap();
        }
        let scan = t.scan(TimeRange { start: Some(750), end: None });
        assert_eq!((scan.batches.len(), scan.pruned), (3, 7));
        let scan = t.scan(TimeRange { start: Some(150), end: Some(250) });
        assert_eq!((scan.batches.len(), scan.pruned), (2, 8));
        assert_eq!(t.stats().pruned_batches, 15);
    }

    #[test]
    fn max_age_expires_old_batches() {
        let t = Table::new(
            "t",
            schema(),
            TableConfig { budget_bytes: 1 << 30, max_age: Some(Duration::from_nanos(500)), seal_rows: 100 },
        )
        .unwrap();
        for i in 0..10 {
            t.append(batch(i * 100, 100)).unwrap();
        }
        // Appends expire against the wall clock, which is far past these times:
        // everything but the batch just appended is gone.
        assert_eq!(t.stats().rows, 100);
        t.expire(0);
        assert_eq!(t.stats().rows, 100);
        t.expire(i64::MAX);
        assert_eq!((t.stats().rows, t.stats().evicted_rows), (0, 1000));
    }

    #[test]
    fn bad_batches_are_refused_by_name() {
        let t = table(1 << 30, 100);
        let other = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let b = RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        assert!(matches!(t.append(b), Err(StoreError::SchemaMismatch { .. })));
        let small = table(10, 100);
        assert!(matches!(small.append(batch(0, 100)), Err(StoreError::TooLarge { .. })));
        let no_time = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        assert_eq!(
            Table::new("x", no_time, TableConfig::default()).err(),
            Some(StoreError::NoTimeColumn { table: "x".into() })
        );
    }

    #[test]
    fn concurrent_writers_and_readers_lose_nothing() {
        let t = Arc::new(table(1 << 30, 500));
        std::thread::scope(|s| {
            for w in 0..4 {
                let t = &t;
                s.spawn(move || {
                    for i in 0..100 {
                        t.append(batch((w * 100 + i) * 10, 10)).unwrap();
                    }
                });
            }
            let t = &t;
            s.spawn(move || {
                for _ in 0..200 {
                    let n = rows(&t.scan(TimeRange::default()));
                    assert!(n <= 4000 && n.is_multiple_of(10), "a scan saw a torn state: {n}");
                }
            });
        });
        assert_eq!(rows(&t.scan(TimeRange::default())), 4000);
        assert_eq!(t.stats().rows, 4000);
    }
}
