//! Writes process events into the store's process tables. Rows collect in
//! Arrow builders and go to the store as one batch per collector drain (or
//! sooner when a batch is full), so a table costs no batch per event.

use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int64Builder, PrimitiveBuilder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::ArrowPrimitiveType;
use scry_model::Process;
use scry_model::tables::{self, upid};
use scry_store::{Store, StoreError, Table, TableConfig};

use crate::directory::{ProcessDirectory, command_line};
use crate::process_cache::ExecKey;

/// A builder finished batch after batch, refilled with room for as many
/// values (and bytes) as the batch it made: the next batch, of about the
/// same size, fills it without regrowing (each regrowth copies the column
/// so far, and its fresh pages fault one by one).
pub trait Refill {
    fn finish_refilled(&mut self) -> ArrayRef;
}

impl Refill for StringBuilder {
    fn finish_refilled(&mut self) -> ArrayRef {
        let done = self.finish();
        *self = StringBuilder::with_capacity(done.len(), done.value_data().len());
        Arc::new(done)
    }
}

impl<T: ArrowPrimitiveType> Refill for PrimitiveBuilder<T> {
    fn finish_refilled(&mut self) -> ArrayRef {
        let done = self.finish();
        *self = PrimitiveBuilder::<T>::with_capacity(done.len()).with_data_type(done.data_type().clone());
        Arc::new(done)
    }
}

impl Refill for BooleanBuilder {
    fn finish_refilled(&mut self) -> ArrayRef {
        let done = self.finish();
        *self = BooleanBuilder::with_capacity(done.len());
        Arc::new(done)
    }
}

/// Rows per batch before a flush is forced.
const BATCH_ROWS: usize = 4096;

/// Nanoseconds per clock tick (USER_HZ = 100), the unit of a UPID's start time.
const NS_PER_TICK: u64 = 10_000_000;

/// Where a process runs: the columns every process table ends with.
#[derive(Default)]
struct Placement {
    namespace: StringBuilder,
    pod: StringBuilder,
    container: StringBuilder,
    container_id: StringBuilder,
    unit: StringBuilder,
    node: StringBuilder,
}

impl Placement {
    fn push(&mut self, p: &Process, node: &str) {
        let pod = p.pod.as_deref();
        let container = pod.and_then(|pod| pod.container.as_ref());
        self.namespace.append_value(pod.map_or("", |pod| pod.namespace.as_str()));
        match pod {
            Some(pod) => self.pod.append_value(format!("{}/{}", pod.namespace, pod.name)),
            None => self.pod.append_value(""),
        }
        self.container.append_value(container.map_or("", |c| c.name.as_str()));
        self.container_id.append_value(container.map_or(p.docker.as_str(), |c| c.id.as_str()));
        self.unit.append_value(p.host.as_ref().map_or("", |h| h.unit.as_str()));
        self.node.append_value(node);
    }

    fn finish(&mut self) -> [ArrayRef; 6] {
        [
            self.namespace.finish_refilled(),
            self.pod.finish_refilled(),
            self.container.finish_refilled(),
            self.container_id.finish_refilled(),
            self.unit.finish_refilled(),
            self.node.finish_refilled(),
        ]
    }
}

#[derive(Default)]
struct ExecRows {
    rows: usize,
    time: TimestampNanosecondBuilder,
    upid: StringBuilder,
    pid: Int64Builder,
    ppid: Int64Builder,
    exec_id: StringBuilder,
    parent_exec_id: StringBuilder,
    binary: StringBuilder,
    cmdline: StringBuilder,
    cwd: StringBuilder,
    uid: Int64Builder,
    place: Placement,
}

impl ExecRows {
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            self.time.finish_refilled(),
            self.upid.finish_refilled(),
            self.pid.finish_refilled(),
            self.ppid.finish_refilled(),
            self.exec_id.finish_refilled(),
            self.parent_exec_id.finish_refilled(),
            self.binary.finish_refilled(),
            self.cmdline.finish_refilled(),
            self.cwd.finish_refilled(),
            self.uid.finish_refilled(),
        ];
        cols.extend(self.place.finish());
        cols
    }
}

#[derive(Default)]
struct ExitRows {
    rows: usize,
    time: TimestampNanosecondBuilder,
    upid: StringBuilder,
    exit_code: Int64Builder,
    signal: Int64Builder,
    comm: StringBuilder,
    pid: Int64Builder,
    exec_id: StringBuilder,
    binary: StringBuilder,
    place: Placement,
}

impl ExitRows {
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            self.time.finish_refilled(),
            self.upid.finish_refilled(),
            self.exit_code.finish_refilled(),
            self.signal.finish_refilled(),
            self.comm.finish_refilled(),
            self.pid.finish_refilled(),
            self.exec_id.finish_refilled(),
            self.binary.finish_refilled(),
        ];
        cols.extend(self.place.finish());
        cols
    }
}

/// The task name the kernel gives an exec'd binary: its file name, 15 bytes at most.
fn comm_of(binary: &str) -> &str {
    let name = binary.rsplit('/').next().unwrap_or(binary);
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

struct Rows {
    exec: ExecRows,
    exit: ExitRows,
}

pub struct ProcessTables {
    exec: Arc<Table>,
    exit: Arc<Table>,
    node: String,
    asid: u32,
    rows: Mutex<Rows>,
    directory: Arc<ProcessDirectory>,
}

impl ProcessTables {
    /// Creates the process tables in `store`, each with its budget in bytes;
    /// every process written is also remembered in `directory`.
    pub fn create(
        store: &Store,
        directory: Arc<ProcessDirectory>,
        node: &str,
        exec_budget: u64,
        exit_budget: u64,
    ) -> Result<ProcessTables, StoreError> {
        let cfg = |budget_bytes| TableConfig { budget_bytes, ..TableConfig::default() };
        Ok(ProcessTables {
            exec: store.create(tables::PROC_EXEC_EVENTS, tables::proc_exec_events(), cfg(exec_budget))?,
            exit: store.create(tables::PROC_EXIT_EVENTS, tables::proc_exit_events(), cfg(exit_budget))?,
            node: node.to_owned(),
            asid: 0,
            rows: Mutex::new(Rows { exec: ExecRows::default(), exit: ExitRows::default() }),
            directory,
        })
    }

    pub fn upid(&self, key: ExecKey) -> String {
        upid(self.asid, key.pid, key.ktime / NS_PER_TICK)
    }

    /// Makes a process found running at start known by its UPID.
    pub fn remember(&self, key: ExecKey, p: &Process) {
        self.directory.remember(&self.upid(key), p);
    }

    pub fn on_exec(&self, key: ExecKey, p: &Process, parent: Option<&Process>) {
        let upid = self.upid(key);
        self.directory.remember(&upid, p);
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let r = &mut rows.exec;
        r.time.append_value(p.start_time.and_then(|t| t.timestamp_nanos_opt()).unwrap_or_default());
        r.upid.append_value(upid);
        r.pid.append_value(i64::from(key.pid));
        r.ppid.append_value(parent.and_then(|p| p.pid).map_or(0, i64::from));
        r.exec_id.append_value(&p.exec_id);
        r.parent_exec_id.append_value(&p.parent_exec_id);
        r.binary.append_value(&p.binary);
        r.cmdline.append_value(command_line(p));
        r.cwd.append_value(&p.cwd);
        r.uid.append_value(p.uid.map_or(-1, i64::from));
        r.place.push(p, &self.node);
        r.rows += 1;
        if r.rows >= BATCH_ROWS {
            self.flush_exec(&mut rows);
        }
    }

    /// `key` is None for a process the cache never knew.
    pub fn on_exit(&self, key: Option<ExecKey>, time_ns: i64, p: &Process, exit_code: u32, signal: u32) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let r = &mut rows.exit;
        r.time.append_value(time_ns);
        r.upid.append_value(key.map(|k| self.upid(k)).unwrap_or_default());
        r.exit_code.append_value(i64::from(exit_code));
        r.signal.append_value(i64::from(signal));
        r.comm.append_value(comm_of(&p.binary));
        r.pid.append_value(p.pid.map_or(0, i64::from));
        r.exec_id.append_value(&p.exec_id);
        r.binary.append_value(&p.binary);
        r.place.push(p, &self.node);
        r.rows += 1;
        if r.rows >= BATCH_ROWS {
            self.flush_exit(&mut rows);
        }
    }

    /// Hands the rows collected so far to the store.
    pub fn flush(&self) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        self.flush_exec(&mut rows);
        self.flush_exit(&mut rows);
    }

    fn flush_exec(&self, rows: &mut Rows) {
        if rows.exec.rows > 0 {
            let cols = rows.exec.finish();
            append(&self.exec, cols);
        }
    }

    fn flush_exit(&self, rows: &mut Rows) {
        if rows.exit.rows > 0 {
            let cols = rows.exit.finish();
            append(&self.exit, cols);
        }
    }
}

/// Appends one batch of built columns to `table`.
pub(crate) fn append(table: &Table, cols: Vec<ArrayRef>) {
    // The builders follow the schema column by column, so a mismatch is a bug
    // in the writer; report it rather than take the agent down.
    let result = RecordBatch::try_new(table.schema(), cols)
        .map_err(|e| e.to_string())
        .and_then(|b| table.append(b).map_err(|e| e.to_string()));
    if let Err(e) = result {
        tracing::error!("table {}: rows dropped: {e}", table.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_the_file_name_cut_like_the_kernel_cuts_it() {
        assert_eq!(comm_of("/usr/bin/true"), "true");
        assert_eq!(comm_of("/opt/a-very-long-binary-name"), "a-very-long-bin");
    }

    #[test]
    fn rows_reach_the_store_on_flush() {
        let store = Store::default();
        let directory = Arc::new(ProcessDirectory::new("n1", 16));
        let t = ProcessTables::create(&store, directory.clone(), "n1", 1 << 20, 1 << 20).unwrap();
        let p = Process {
            exec_id: "e1".into(),
            pid: Some(42),
            uid: Some(1000),
            binary: "/bin/sleep".into(),
            arguments: "1".into(),
            start_time: chrono::DateTime::from_timestamp(1, 5),
            ..Default::default()
        };
        let key = ExecKey { pid: 42, ktime: 3 * NS_PER_TICK };
        t.on_exec(key, &p, None);
        t.on_exit(Some(key), 2_000_000_000, &p, 0, 9);
        assert_eq!(store.get("proc_exec_events").unwrap().stats().rows, 0, "nothing before a flush");
        t.flush();
        let exec = store.get("proc_exec_events").unwrap().scan(Default::default());
        let batch = &exec.batches[0];
        assert_eq!(batch.num_rows(), 1);
        let col = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let cmdline = col("cmdline");
        let cmdline = cmdline.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert_eq!(cmdline.value(0), "/bin/sleep 1");
        let upid = col("upid");
        let upid = upid.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert_eq!(upid.value(0), "00000000-0000-002a-0000-000000000003");
        use scry_query::ProcessMetadata;
        let known = directory.process(upid.value(0)).unwrap();
        assert_eq!((known.cmdline.as_str(), known.node_name.as_str()), ("/bin/sleep 1", "n1"));
        let exit = store.get("proc_exit_events").unwrap().scan(Default::default());
        let signal = exit.batches[0].column(3).clone();
        assert_eq!(signal.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0), 9);
    }
}
