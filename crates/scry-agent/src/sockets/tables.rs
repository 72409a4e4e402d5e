//! Writes stitched protocol records into the store's tables, with Pixie's
//! columns: the connection (`upid`, addresses, role) first, then the
//! protocol's. Rows collect in Arrow builders and go to the store once per
//! collector drain.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder};
use scry_bpf::socket::Role;
use scry_model::tables;
use scry_protocols::{Exchange, http};
use scry_store::{Store, StoreError, Table, TableConfig};

use super::tracker::{ConnMeta, RecordSink};
use crate::pipeline::Pipeline;

/// Pixie's first eight columns (`time_` … `encrypted`).
#[derive(Default)]
struct ConnColumns {
    time: TimestampNanosecondBuilder,
    upid: StringBuilder,
    remote_addr: StringBuilder,
    remote_port: Int64Builder,
    local_addr: StringBuilder,
    local_port: Int64Builder,
    trace_role: Int64Builder,
    encrypted: BooleanBuilder,
}

fn addr_columns(addr: Option<SocketAddr>) -> (String, i64) {
    addr.map_or_else(|| ("-".to_owned(), 0), |a| (a.ip().to_string(), i64::from(a.port())))
}

impl ConnColumns {
    fn push(&mut self, time_ns: i64, upid: &str, conn: &ConnMeta) {
        let (raddr, rport) = addr_columns(conn.remote);
        let (laddr, lport) = addr_columns(conn.local);
        self.time.append_value(time_ns);
        self.upid.append_value(upid);
        self.remote_addr.append_value(raddr);
        self.remote_port.append_value(rport);
        self.local_addr.append_value(laddr);
        self.local_port.append_value(lport);
        self.trace_role.append_value(match conn.role {
            Role::Client => 1,
            Role::Server => 2,
            Role::Unknown => 4,
        });
        self.encrypted.append_value(false);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.time.finish()),
            Arc::new(self.upid.finish()),
            Arc::new(self.remote_addr.finish()),
            Arc::new(self.remote_port.finish()),
            Arc::new(self.local_addr.finish()),
            Arc::new(self.local_port.finish()),
            Arc::new(self.trace_role.finish()),
            Arc::new(self.encrypted.finish()),
        ]
    }
}

#[derive(Default)]
struct HttpRows {
    rows: usize,
    conn: ConnColumns,
    ints: [Int64Builder; 3],
    req_headers: StringBuilder,
    req_method: StringBuilder,
    req_path: StringBuilder,
    req_body: StringBuilder,
    req_body_size: Int64Builder,
    resp_headers: StringBuilder,
    resp_status: Int64Builder,
    resp_message: StringBuilder,
    resp_body: StringBuilder,
    resp_body_size: Int64Builder,
    latency: Int64Builder,
}

impl HttpRows {
    fn push(&mut self, time_ns: i64, upid: &str, conn: &ConnMeta, ex: &Exchange<http::Record>) {
        let r = &ex.record;
        self.conn.push(time_ns, upid, conn);
        let [major, minor, content_type] = &mut self.ints;
        major.append_value(r.major_version);
        minor.append_value(r.minor_version);
        content_type.append_value(r.content_type as i64);
        self.req_headers.append_value(&r.req_headers);
        self.req_method.append_value(&r.req_method);
        self.req_path.append_value(&r.req_path);
        self.req_body.append_value(&r.req_body);
        self.req_body_size.append_value(r.req_body_size);
        self.resp_headers.append_value(&r.resp_headers);
        self.resp_status.append_value(r.resp_status);
        self.resp_message.append_value(&r.resp_message);
        self.resp_body.append_value(&r.resp_body);
        self.resp_body_size.append_value(r.resp_body_size);
        self.latency.append_value(ex.resp_ts_ns.saturating_sub(ex.req_ts_ns) as i64);
        self.rows += 1;
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut cols = self.conn.finish();
        cols.extend(self.ints.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.extend([
            Arc::new(self.req_headers.finish()) as ArrayRef,
            Arc::new(self.req_method.finish()),
            Arc::new(self.req_path.finish()),
            Arc::new(self.req_body.finish()),
            Arc::new(self.req_body_size.finish()),
            Arc::new(self.resp_headers.finish()),
            Arc::new(self.resp_status.finish()),
            Arc::new(self.resp_message.finish()),
            Arc::new(self.resp_body.finish()),
            Arc::new(self.resp_body_size.finish()),
            Arc::new(self.latency.finish()),
        ]);
        cols
    }
}

pub struct SocketTables {
    http: Arc<Table>,
    http_rows: HttpRows,
    /// Exchanges waiting for the process collector to catch up with them.
    http_waiting: VecDeque<(ConnMeta, Exchange<http::Record>)>,
    pipeline: Arc<Pipeline>,
}

impl SocketTables {
    pub fn create(store: &Store, pipeline: Arc<Pipeline>, http_budget: u64) -> Result<SocketTables, StoreError> {
        let cfg = TableConfig { budget_bytes: http_budget, ..TableConfig::default() };
        Ok(SocketTables {
            http: store.create(tables::HTTP_EVENTS, tables::http_events(), cfg)?,
            http_rows: HttpRows::default(),
            http_waiting: VecDeque::new(),
            pipeline,
        })
    }

    /// Writes the exchanges whose process is known by now, and hands the
    /// rows to the store.
    pub fn flush(&mut self) {
        let drained = self.pipeline.drained_until();
        while self.http_waiting.front().is_some_and(|(_, ex)| ex.resp_ts_ns < drained) {
            let Some((conn, ex)) = self.http_waiting.pop_front() else { break };
            // Pixie's time_ for HTTP is the response's.
            let time = self.pipeline.wall_ns(ex.resp_ts_ns);
            let upid = self.pipeline.upid(conn.id.tgid);
            self.http_rows.push(time, &upid, &conn, &ex);
        }
        if self.http_rows.rows == 0 {
            return;
        }
        let cols = self.http_rows.finish();
        let result = RecordBatch::try_new(self.http.schema(), cols)
            .map_err(|e| e.to_string())
            .and_then(|b| self.http.append(b).map_err(|e| e.to_string()));
        if let Err(e) = result {
            // The builders follow the schema, so this is a bug here: report it, keep running.
            tracing::error!("table {}: rows dropped: {e}", self.http.name());
        }
    }
}

impl RecordSink for SocketTables {
    fn http(&mut self, conn: &ConnMeta, ex: Exchange<http::Record>) {
        self.http_waiting.push_back((conn.clone(), ex));
    }
}
