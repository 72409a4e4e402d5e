//! `conn_stats`: per process, remote address and remote port, how many
//! connections were opened and closed and how many bytes went each way since
//! tracing began, sampled every interval as Pixie samples it. Every traced
//! connection counts, whether or not its protocol is parsed: bytes come from
//! data records, the kernel's 64 KiB totals and the totals at close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use scry_bpf::socket::{CloseRecord, ConnId, DataRecord, Direction, OpenRecord, Role, SocketRecord, protocol};
use scry_store::Table;

use super::tables::trace_role;
use crate::pipeline::Pipeline;

/// Keys kept at most; a new key beyond is counted in `dropped_keys`.
const MAX_KEYS: usize = 65_536;
/// A key with no open connection and no activity for this long is forgotten.
const KEY_IDLE_NS: u64 = 300_000_000_000;

/// What a row aggregates over: Pixie's (upid, remote_addr, remote_port),
/// with the port 0 on the server side so clients' ephemeral ports collapse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    tgid: u32,
    remote: IpAddr,
    remote_port: u16,
    role: Role,
}

#[derive(Debug, Default)]
struct Counters {
    protocol: u8,
    opened: u64,
    closed: u64,
    /// Bytes of connections already closed.
    closed_sent: u64,
    closed_recv: u64,
    /// Something changed since the last sample.
    dirty: bool,
    last_ts: u64,
}

struct Live {
    key: Key,
    sent: u64,
    recv: u64,
}

/// Pixie's protocol number for what the kernel inferred (its "gave up" is unknown).
fn pixie_protocol(p: u8) -> u8 {
    if p == protocol::NONE { protocol::UNKNOWN } else { p }
}

#[derive(Default)]
pub struct ConnStats {
    live: HashMap<ConnId, Live>,
    keys: HashMap<Key, Counters>,
    /// Keys refused because `MAX_KEYS` were held.
    pub dropped_keys: u64,
}

impl ConnStats {
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    pub fn handle(&mut self, rec: &SocketRecord) {
        match rec {
            SocketRecord::Open(o) => self.open(o),
            SocketRecord::Data(d) => self.data(d),
            SocketRecord::Totals(t) => self.totals(t),
            SocketRecord::Close(c) => {
                self.totals(c);
                if let Some(live) = self.live.remove(&c.id)
                    && let Some(k) = self.keys.get_mut(&live.key)
                {
                    k.closed += 1;
                    k.closed_sent += live.sent;
                    k.closed_recv += live.recv;
                }
            }
        }
    }

    fn open(&mut self, o: &OpenRecord) {
        // Pixie skips connections of unknown role and sockets with no peer
        // (an unconnected UDP socket has one per datagram, not one remote).
        let Some(remote) = o.remote.filter(|r| !r.ip().is_unspecified() && r.port() != 0) else { return };
        if o.role == Role::Unknown {
            return;
        }
        let key = Key {
            tgid: o.id.tgid,
            remote: remote.ip(),
            remote_port: if o.role == Role::Server { 0 } else { remote.port() },
            role: o.role,
        };
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_KEYS {
            self.dropped_keys += 1;
            return;
        }
        let k = self.keys.entry(key).or_default();
        k.opened += 1;
        k.dirty = true;
        k.last_ts = o.ts;
        // A reused id whose close was lost: its bytes are gone with it.
        self.live.insert(o.id, Live { key, sent: 0, recv: 0 });
    }

    fn data(&mut self, d: &DataRecord) {
        let Some(live) = self.live.get_mut(&d.id) else { return };
        // What this record carries is known to have moved (`msg_size` is the
        // whole syscall's, and a record may be its second iovec); the
        // kernel's totals cover the rest.
        let end = d.pos + d.data.len() as u64;
        match d.dir {
            Direction::Egress => live.sent = live.sent.max(end),
            Direction::Ingress => live.recv = live.recv.max(end),
        }
        if let Some(k) = self.keys.get_mut(&live.key) {
            k.protocol = pixie_protocol(d.protocol);
            k.dirty = true;
            k.last_ts = d.ts;
        }
    }

    /// Takes the kernel's byte totals.
    fn totals(&mut self, t: &CloseRecord) {
        let Some(live) = self.live.get_mut(&t.id) else { return };
        live.sent = live.sent.max(t.wr_bytes);
        live.recv = live.recv.max(t.rd_bytes);
        if let Some(k) = self.keys.get_mut(&live.key) {
            if t.protocol != protocol::UNKNOWN {
                k.protocol = pixie_protocol(t.protocol);
            }
            k.dirty = true;
            k.last_ts = t.ts;
        }
    }

    /// One sample per key that changed since the last; forgets keys with no
    /// open connection idle for `KEY_IDLE_NS`.
    pub fn sample(&mut self, now_ts: u64) -> Vec<Sample> {
        let mut open: HashMap<Key, (u64, u64)> = HashMap::new();
        for live in self.live.values() {
            let e = open.entry(live.key).or_default();
            e.0 += live.sent;
            e.1 += live.recv;
        }
        let mut out = Vec::new();
        for (key, k) in &mut self.keys {
            if !std::mem::take(&mut k.dirty) {
                continue;
            }
            let (sent, recv) = open.get(key).copied().unwrap_or_default();
            out.push(Sample {
                tgid: key.tgid,
                remote: key.remote,
                remote_port: key.remote_port,
                role: key.role,
                protocol: k.protocol,
                opened: k.opened,
                closed: k.closed,
                bytes_sent: k.closed_sent + sent,
                bytes_recv: k.closed_recv + recv,
            });
        }
        self.keys.retain(|key, k| open.contains_key(key) || k.last_ts + KEY_IDLE_NS >= now_ts);
        out.sort_by_key(|s| (s.tgid, s.remote, s.remote_port));
        out
    }
}

/// One `conn_stats` row before its process and time are filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub tgid: u32,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub role: Role,
    pub protocol: u8,
    pub opened: u64,
    pub closed: u64,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
}

/// Writes samples taken at `now_ts` (kernel time) into the table.
pub fn write(samples: &[Sample], now_ts: u64, table: &Table, pipeline: &Pipeline) {
    if samples.is_empty() {
        return;
    }
    let mut rows = Rows::default();
    let time = pipeline.wall_ns(now_ts);
    for s in samples {
        rows.push(time, &pipeline.upid(s.tgid), s);
    }
    crate::tables::append(table, rows.finish());
}

#[derive(Default)]
struct Rows {
    time: TimestampNanosecondBuilder,
    upid: StringBuilder,
    remote_addr: StringBuilder,
    remote_port: Int64Builder,
    trace_role: Int64Builder,
    addr_family: Int64Builder,
    protocol: Int64Builder,
    ssl: BooleanBuilder,
    conn_open: Int64Builder,
    conn_close: Int64Builder,
    conn_active: Int64Builder,
    bytes_sent: Int64Builder,
    bytes_recv: Int64Builder,
}

impl Rows {
    fn push(&mut self, time: i64, upid: &str, s: &Sample) {
        self.time.append_value(time);
        self.upid.append_value(upid);
        self.remote_addr.append_value(s.remote.to_string());
        self.remote_port.append_value(i64::from(s.remote_port));
        self.trace_role.append_value(trace_role(s.role));
        self.addr_family.append_value(if s.remote.is_ipv4() { 1 } else { 2 });
        self.protocol.append_value(i64::from(s.protocol));
        self.ssl.append_value(false);
        self.conn_open.append_value(s.opened as i64);
        self.conn_close.append_value(s.closed as i64);
        self.conn_active.append_value(s.opened.saturating_sub(s.closed) as i64);
        self.bytes_sent.append_value(s.bytes_sent as i64);
        self.bytes_recv.append_value(s.bytes_recv as i64);
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.time.finish()),
            Arc::new(self.upid.finish()),
            Arc::new(self.remote_addr.finish()),
            Arc::new(self.remote_port.finish()),
            Arc::new(self.trace_role.finish()),
            Arc::new(self.addr_family.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.ssl.finish()),
            Arc::new(self.conn_open.finish()),
            Arc::new(self.conn_close.finish()),
            Arc::new(self.conn_active.finish()),
            Arc::new(self.bytes_sent.finish()),
            Arc::new(self.bytes_recv.finish()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(fd: u32) -> ConnId {
        ConnId { tgid: 7, fd, generation: u64::from(fd) }
    }

    fn open(fd: u32, role: Role, remote: &str) -> SocketRecord {
        SocketRecord::Open(OpenRecord {
            id: id(fd),
            ts: 1,
            role,
            sock_type: 1,
            mid_stream: false,
            local: Some("10.0.0.1:80".parse().unwrap()),
            remote: Some(remote.parse().unwrap()),
        })
    }

    fn data(fd: u32, dir: Direction, pos: u64, len: u32) -> SocketRecord {
        SocketRecord::Data(DataRecord {
            id: id(fd),
            ts: 2,
            dir,
            protocol: protocol::HTTP,
            role: Role::Server,
            pos,
            msg_size: len,
            truncated: false,
            peer: None,
            data: vec![0; len as usize],
        })
    }

    fn totals(fd: u32, wr_bytes: u64, rd_bytes: u64) -> CloseRecord {
        CloseRecord { id: id(fd), ts: 3, role: Role::Server, protocol: protocol::HTTP, wr_bytes, rd_bytes }
    }

    #[test]
    fn server_connections_collapse_client_ports_and_count_cumulatively() {
        let mut s = ConnStats::default();
        for r in [
            open(3, Role::Server, "10.0.0.2:40000"),
            open(4, Role::Server, "10.0.0.2:40001"),
            data(3, Direction::Ingress, 0, 100),
            data(3, Direction::Egress, 0, 300),
            SocketRecord::Totals(totals(4, 70_000, 50)),
            SocketRecord::Close(totals(3, 310, 100)),
        ] {
            s.handle(&r);
        }
        let server = Sample {
            tgid: 7,
            remote: "10.0.0.2".parse().unwrap(),
            remote_port: 0,
            role: Role::Server,
            protocol: protocol::HTTP,
            opened: 2,
            closed: 1,
            bytes_sent: 70_310,
            bytes_recv: 150,
        };
        assert_eq!(s.sample(10), std::slice::from_ref(&server));
        assert_eq!(s.sample(11), [], "no activity, no row");
        s.handle(&data(4, Direction::Egress, 70_000, 5));
        assert_eq!(s.sample(12), [Sample { bytes_sent: 70_315, ..server }]);
    }

    #[test]
    fn unknown_roles_and_unconnected_sockets_are_not_counted() {
        let mut s = ConnStats::default();
        s.handle(&open(3, Role::Unknown, "10.0.0.2:40000"));
        s.handle(&open(4, Role::Client, "0.0.0.0:0"));
        s.handle(&open(5, Role::Client, "[2001:db8::1]:5432"));
        s.handle(&SocketRecord::Close(CloseRecord { protocol: protocol::NONE, ..totals(5, 10, 20) }));
        let sample = s.sample(10);
        assert_eq!(sample.len(), 1);
        assert_eq!(
            (sample[0].remote_port, sample[0].protocol, sample[0].closed, sample[0].bytes_recv),
            (5432, protocol::UNKNOWN, 1, 20)
        );
        assert_eq!(s.sample(10 + KEY_IDLE_NS), []);
        assert_eq!(s.keys(), 0, "idle keys with nothing open are forgotten");
    }
}
