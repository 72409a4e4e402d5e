//! Writes stitched protocol records into the store's tables, with Pixie's
//! columns: the connection's eight (`time_`, `upid`, addresses, role,
//! `encrypted`), the protocol's, then `latency`. A row waits until the
//! process collector has caught up with its response (so the process is
//! known), then goes into Arrow builders, and to the store once per drain.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use scry_bpf::socket::Role;
use scry_model::tables;
use scry_protocols::{Exchange, dns, http, mysql, pgsql, redis};
use scry_store::{Store, StoreError, Table, TableConfig};

use super::conn_stats::{self, Sample};
use super::tracker::{ConnMeta, RecordSink};
use crate::flows::{DnsAnswer, L7Event, L7Kind, L7Sink};
use crate::pipeline::Pipeline;
use crate::tables::Refill;

/// The connection columns every protocol table starts with.
const CONN_COLUMNS: usize = 8;

/// A protocol table the tracker writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoTable {
    Http,
    Pgsql,
    Mysql,
    Redis,
    Dns,
}

impl ProtoTable {
    const ALL: [ProtoTable; 5] =
        [ProtoTable::Http, ProtoTable::Pgsql, ProtoTable::Mysql, ProtoTable::Redis, ProtoTable::Dns];

    pub fn name(self) -> &'static str {
        match self {
            ProtoTable::Http => tables::HTTP_EVENTS,
            ProtoTable::Pgsql => tables::PGSQL_EVENTS,
            ProtoTable::Mysql => tables::MYSQL_EVENTS,
            ProtoTable::Redis => tables::REDIS_EVENTS,
            ProtoTable::Dns => tables::DNS_EVENTS,
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            ProtoTable::Http => tables::http_events(),
            ProtoTable::Pgsql => tables::pgsql_events(),
            ProtoTable::Mysql => tables::mysql_events(),
            ProtoTable::Redis => tables::redis_events(),
            ProtoTable::Dns => tables::dns_events(),
        }
    }
}

/// One protocol column's value.
pub enum Cell {
    Int(i64),
    Text(String),
}

/// A protocol record as the cells of its table's protocol columns (between
/// the connection columns and `latency`).
pub trait IntoRow {
    const TABLE: ProtoTable;
    fn cells(self) -> Vec<Cell>;

    /// What an L7 flow shows of the record (HTTP and DNS only); `redact`
    /// leaves the query string out.
    fn l7(&self, _redact: bool) -> Option<L7Kind> {
        None
    }
}

/// `http://host/path` as Hubble writes an HTTP flow's url; the path alone
/// when the request had no Host header.
fn http_url(req_headers: &str, path: &str) -> String {
    let headers: std::collections::HashMap<String, String> = serde_json::from_str(req_headers).unwrap_or_default();
    match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")) {
        Some((_, host)) => format!("http://{host}{path}"),
        None => path.to_owned(),
    }
}

impl IntoRow for http::Record {
    const TABLE: ProtoTable = ProtoTable::Http;
    fn cells(self) -> Vec<Cell> {
        vec![
            Cell::Int(self.major_version),
            Cell::Int(self.minor_version),
            Cell::Int(self.content_type as i64),
            Cell::Text(self.req_headers),
            Cell::Text(self.req_method),
            Cell::Text(self.req_path),
            Cell::Text(self.req_body),
            Cell::Int(self.req_body_size),
            Cell::Text(self.resp_headers),
            Cell::Int(self.resp_status),
            Cell::Text(self.resp_message),
            Cell::Text(self.resp_body),
            Cell::Int(self.resp_body_size),
        ]
    }

    fn l7(&self, redact: bool) -> Option<L7Kind> {
        let path = if redact { self.req_path.split('?').next().unwrap_or_default() } else { &self.req_path };
        Some(L7Kind::Http {
            method: self.req_method.clone(),
            url: http_url(&self.req_headers, path),
            protocol: format!("HTTP/{}.{}", self.major_version, self.minor_version),
            status: u32::try_from(self.resp_status).unwrap_or_default(),
        })
    }
}

impl IntoRow for pgsql::Record {
    const TABLE: ProtoTable = ProtoTable::Pgsql;
    fn cells(self) -> Vec<Cell> {
        vec![Cell::Text(self.req_cmd.to_owned()), Cell::Text(self.req), Cell::Text(self.resp)]
    }
}

impl IntoRow for mysql::MysqlRecord {
    const TABLE: ProtoTable = ProtoTable::Mysql;
    fn cells(self) -> Vec<Cell> {
        vec![
            Cell::Int(i64::from(self.req_cmd)),
            Cell::Text(self.req_body),
            Cell::Int(self.resp_status.code()),
            Cell::Text(self.resp_body),
        ]
    }
}

impl IntoRow for dns::DnsRecord {
    const TABLE: ProtoTable = ProtoTable::Dns;
    fn cells(self) -> Vec<Cell> {
        vec![
            Cell::Text(self.req_header.to_json()),
            Cell::Text(self.req_body()),
            Cell::Text(self.resp_header.to_json()),
            Cell::Text(self.resp_body()),
        ]
    }

    fn l7(&self, _redact: bool) -> Option<L7Kind> {
        let first = self.queries.first()?;
        let answers = self
            .answers
            .iter()
            .map(|a| DnsAnswer {
                name: a.name.clone(),
                rtype: a.rtype.clone(),
                ip: match &a.data {
                    dns::AnswerData::Addr(ip) => Some(*ip),
                    _ => None,
                },
                cname: match &a.data {
                    dns::AnswerData::Cname(c) => Some(c.clone()),
                    _ => None,
                },
            })
            .collect();
        Some(L7Kind::Dns {
            query: if first.name.ends_with('.') { first.name.clone() } else { format!("{}.", first.name) },
            qtypes: self.queries.iter().map(|q| q.qtype.clone()).collect(),
            answers,
            rcode: self.resp_header.rcode,
        })
    }
}

impl IntoRow for redis::Record {
    const TABLE: ProtoTable = ProtoTable::Redis;
    fn cells(self) -> Vec<Cell> {
        vec![Cell::Text(self.req_cmd), Cell::Text(self.req_args), Cell::Text(self.resp)]
    }
}

enum Column {
    Int(Int64Builder),
    Text(StringBuilder),
}

/// Builders for one table, made from its schema.
struct Rows {
    rows: usize,
    time: TimestampNanosecondBuilder,
    upid: StringBuilder,
    remote_addr: StringBuilder,
    remote_port: Int64Builder,
    local_addr: StringBuilder,
    local_port: Int64Builder,
    trace_role: Int64Builder,
    encrypted: BooleanBuilder,
    /// The protocol columns, then `latency`.
    columns: Vec<Column>,
}

/// Pixie's `trace_role` number.
pub(super) fn trace_role(role: Role) -> i64 {
    match role {
        Role::Client => 1,
        Role::Server => 2,
        Role::Unknown => 4,
    }
}

fn addr_columns(addr: Option<SocketAddr>) -> (String, i64) {
    addr.map_or_else(|| ("-".to_owned(), 0), |a| (a.ip().to_string(), i64::from(a.port())))
}

impl Rows {
    fn new(schema: &SchemaRef) -> Rows {
        let columns = schema.fields()[CONN_COLUMNS..]
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => Column::Int(Int64Builder::new()),
                _ => Column::Text(StringBuilder::new()),
            })
            .collect();
        Rows {
            rows: 0,
            time: TimestampNanosecondBuilder::new(),
            upid: StringBuilder::new(),
            remote_addr: StringBuilder::new(),
            remote_port: Int64Builder::new(),
            local_addr: StringBuilder::new(),
            local_port: Int64Builder::new(),
            trace_role: Int64Builder::new(),
            encrypted: BooleanBuilder::new(),
            columns,
        }
    }

    fn push(&mut self, time_ns: i64, upid: &str, row: Waiting) {
        let conn = &row.conn;
        let (raddr, rport) = addr_columns(conn.remote);
        let (laddr, lport) = addr_columns(conn.local);
        self.time.append_value(time_ns);
        self.upid.append_value(upid);
        self.remote_addr.append_value(raddr);
        self.remote_port.append_value(rport);
        self.local_addr.append_value(laddr);
        self.local_port.append_value(lport);
        self.trace_role.append_value(trace_role(conn.role));
        self.encrypted.append_value(false);
        let latency = Cell::Int(row.resp_ts.saturating_sub(row.req_ts) as i64);
        for (column, cell) in self.columns.iter_mut().zip(row.cells.into_iter().chain([latency])) {
            match (column, cell) {
                (Column::Int(b), Cell::Int(v)) => b.append_value(v),
                (Column::Text(b), Cell::Text(v)) => b.append_value(v),
                // A record type out of step with its schema: a bug here, kept
                // visible as nulls rather than a misaligned batch.
                (Column::Int(b), Cell::Text(_)) => b.append_null(),
                (Column::Text(b), Cell::Int(_)) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            self.time.finish_refilled(),
            self.upid.finish_refilled(),
            self.remote_addr.finish_refilled(),
            self.remote_port.finish_refilled(),
            self.local_addr.finish_refilled(),
            self.local_port.finish_refilled(),
            self.trace_role.finish_refilled(),
            self.encrypted.finish_refilled(),
        ];
        cols.extend(self.columns.iter_mut().map(|c| match c {
            Column::Int(b) => b.finish_refilled(),
            Column::Text(b) => b.finish_refilled(),
        }));
        cols
    }
}

struct Waiting {
    conn: ConnMeta,
    req_ts: u64,
    resp_ts: u64,
    cells: Vec<Cell>,
}

struct ProtoWriter {
    table: Arc<Table>,
    rows: Rows,
    waiting: VecDeque<Waiting>,
}

pub struct SocketTables {
    writers: Vec<(ProtoTable, ProtoWriter)>,
    conn_stats: Arc<Table>,
    /// Samples waiting, like records, for the process collector to catch up.
    conn_samples: VecDeque<(u64, Vec<Sample>)>,
    pipeline: Arc<Pipeline>,
    /// Redact each record before it is queued (`--redact`).
    redact: bool,
    /// Where HTTP and DNS records also go, as L7 flows.
    l7: Option<L7Sink>,
}

impl SocketTables {
    /// Creates every protocol table, each with the budget `budget` gives its name.
    pub fn create(
        store: &Store,
        pipeline: Arc<Pipeline>,
        budget: impl Fn(&str) -> u64,
    ) -> Result<SocketTables, StoreError> {
        let mut writers = Vec::new();
        for t in ProtoTable::ALL {
            let cfg = TableConfig { budget_bytes: budget(t.name()), ..TableConfig::default() };
            let schema = t.schema();
            let rows = Rows::new(&schema);
            let table = store.create(t.name(), schema, cfg)?;
            writers.push((t, ProtoWriter { table, rows, waiting: VecDeque::new() }));
        }
        let cfg = TableConfig { budget_bytes: budget(tables::CONN_STATS), ..TableConfig::default() };
        let conn_stats = store.create(tables::CONN_STATS, tables::conn_stats(), cfg)?;
        Ok(SocketTables { writers, conn_stats, conn_samples: VecDeque::new(), pipeline, redact: false, l7: None })
    }

    /// Rows are redacted before they are kept.
    pub fn redacting(self, redact: bool) -> SocketTables {
        SocketTables { redact, ..self }
    }

    /// HTTP and DNS records also become L7 flows.
    pub fn with_l7(self, l7: Option<L7Sink>) -> SocketTables {
        SocketTables { l7, ..self }
    }

    /// Queues a `conn_stats` sample taken at `ts`; written at a flush.
    pub fn conn_stats(&mut self, ts: u64, samples: Vec<Sample>) {
        if !samples.is_empty() {
            self.conn_samples.push_back((ts, samples));
        }
    }

    /// Writes the records whose process the process collector has handled by
    /// now, and hands the rows to the store.
    pub fn flush(&mut self) {
        let drained = self.pipeline.drained_until();
        while self.conn_samples.front().is_some_and(|(ts, _)| *ts < drained) {
            let Some((ts, samples)) = self.conn_samples.pop_front() else { break };
            conn_stats::write(&samples, ts, &self.conn_stats, &self.pipeline);
        }
        for (_, w) in &mut self.writers {
            while w.waiting.front().is_some_and(|r| r.resp_ts < drained) {
                let Some(row) = w.waiting.pop_front() else { break };
                // Pixie's time_ for these tables is the response's.
                let time = self.pipeline.wall_ns(row.resp_ts);
                let upid = self.pipeline.upid(row.conn.id.tgid);
                w.rows.push(time, &upid, row);
            }
            if w.rows.rows == 0 {
                continue;
            }
            crate::tables::append(&w.table, w.rows.finish());
        }
    }
}

impl RecordSink for SocketTables {
    /// Queues a record; it is written at a flush once its process is known.
    fn record<R: IntoRow>(&mut self, conn: &ConnMeta, ex: Exchange<R>) {
        if let Some(sink) = &self.l7
            && let Some(kind) = ex.record.l7(self.redact)
        {
            sink.send(L7Event {
                pid: conn.id.tgid,
                role: conn.role,
                local: conn.local,
                remote: conn.remote,
                udp: conn.udp,
                req_ts: ex.req_ts_ns,
                resp_ts: ex.resp_ts_ns,
                kind,
            });
        }
        if let Some((_, w)) = self.writers.iter_mut().find(|(t, _)| *t == R::TABLE) {
            let mut cells = ex.record.cells();
            if self.redact {
                super::redact::redact(R::TABLE, &mut cells);
            }
            w.waiting.push_back(Waiting { conn: conn.clone(), req_ts: ex.req_ts_ns, resp_ts: ex.resp_ts_ns, cells });
        }
    }
}
