//! The connection tracker: socket records in, protocol records out. Keeps
//! each traced connection's two byte streams, runs the protocol the kernel
//! inferred over them, and hands stitched exchanges to a sink with the
//! connection's addresses and role.

use std::collections::HashMap;
use std::net::SocketAddr;

use scry_bpf::socket::{ConnId, DataRecord, Direction, OpenRecord, Role, SocketRecord, protocol};
use scry_protocols::http::Http;
use scry_protocols::{Exchange, MessageType, http};

use super::parsing::{ParseCounts, Parsing};
use super::stream::DataStream;

/// Bytes one direction may hold unparsed before it is dropped.
const STREAM_LIMIT: usize = 4 << 20;
/// Bytes waiting beyond a hole before the hole is given up on.
const HOLE_LIMIT: usize = 256 << 10;
/// Parse errors on a connection, with no record, before its data stops being copied.
const INVALID_LIMIT: u64 = 8;
/// A connection with no record for this long is forgotten.
const IDLE_NS: u64 = 120_000_000_000;

/// What a record needs to know of its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    pub id: ConnId,
    pub role: Role,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

/// Where stitched records go.
pub trait RecordSink {
    fn http(&mut self, conn: &ConnMeta, exchange: Exchange<http::Record>);
}

enum Parser {
    Http(Parsing<Http>),
}

struct Conn {
    meta: ConnMeta,
    parser: Option<Parser>,
    egress: DataStream,
    ingress: DataStream,
    last_ts: u64,
    records: u64,
    invalid: u64,
    disabled: bool,
}

/// Per-protocol parse counts and the tracker's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub http: ParseCounts,
    pub conns: usize,
    /// Client-side exchanges not recorded because this node traces the server.
    pub deduplicated: u64,
    /// Bytes given up on: holes, streams over their bound, connections expired.
    pub skipped_bytes: u64,
    /// Data for protocols the tracker does not parse yet.
    pub unparsed_records: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Endpoint {
    open: usize,
    last_ts: u64,
}

#[derive(Default)]
pub struct Tracker {
    conns: HashMap<ConnId, Conn>,
    /// Local addresses of server-side connections on this node: how many are
    /// open, and when one was last seen. A client talking to one of them is
    /// recorded by the server side. Kept for a while after the last close: a
    /// server may close before its client has read the response.
    servers: HashMap<SocketAddr, Endpoint>,
    pub stats: TrackerStats,
}

impl Tracker {
    /// Handles one record. Returns a connection whose data the kernel should
    /// stop copying (it does not parse).
    pub fn handle(&mut self, rec: SocketRecord, sink: &mut impl RecordSink) -> Option<ConnId> {
        match rec {
            SocketRecord::Open(o) => {
                self.open(&o);
                None
            }
            SocketRecord::Close(c) => {
                if let Some(conn) = self.conns.remove(&c.id) {
                    self.forget(&conn);
                }
                None
            }
            SocketRecord::Data(d) => self.data(d, sink),
        }
    }

    fn open(&mut self, o: &OpenRecord) {
        let meta = ConnMeta { id: o.id, role: o.role, local: o.local, remote: o.remote };
        if o.role == Role::Server
            && let Some(local) = o.local
        {
            let e = self.servers.entry(local).or_default();
            e.open += 1;
            e.last_ts = o.ts;
        }
        let conn = Conn {
            meta,
            parser: None,
            egress: DataStream::new(!o.mid_stream),
            ingress: DataStream::new(!o.mid_stream),
            last_ts: o.ts,
            records: 0,
            invalid: 0,
            disabled: false,
        };
        if let Some(old) = self.conns.insert(o.id, conn) {
            self.forget(&old);
        }
    }

    fn forget(&mut self, conn: &Conn) {
        self.stats.skipped_bytes += (conn.egress.held_bytes() + conn.ingress.held_bytes()) as u64;
        if conn.meta.role == Role::Server
            && let Some(local) = conn.meta.local
            && let Some(e) = self.servers.get_mut(&local)
        {
            e.open = e.open.saturating_sub(1);
            e.last_ts = e.last_ts.max(conn.last_ts);
        }
    }

    fn data(&mut self, d: DataRecord, sink: &mut impl RecordSink) -> Option<ConnId> {
        let Tracker { conns, servers, stats } = self;
        let Some(conn) = conns.get_mut(&d.id) else {
            // Its open record was lost (the ring was full): nothing to attribute it to.
            stats.skipped_bytes += d.data.len() as u64;
            return None;
        };
        conn.last_ts = d.ts;
        if conn.disabled {
            return None;
        }
        if conn.parser.is_none() {
            conn.parser = match d.protocol {
                protocol::HTTP => Some(Parser::Http(Parsing::default())),
                _ => {
                    stats.unparsed_records += 1;
                    return None;
                }
            };
        }
        let stream = match d.dir {
            Direction::Egress => &mut conn.egress,
            Direction::Ingress => &mut conn.ingress,
        };
        stream.add(d.pos, d.ts, &d.data);
        if conn.meta.role == Role::Unknown {
            conn.meta.role = infer_role(conn);
            if conn.meta.role == Role::Server
                && let Some(local) = conn.meta.local
            {
                let e = servers.entry(local).or_default();
                e.open += 1;
                e.last_ts = d.ts;
            }
        }
        let Some(Parser::Http(p)) = conn.parser.as_mut() else { return None };
        let (requests, responses) = match conn.meta.role {
            Role::Server => (&mut conn.ingress, &mut conn.egress),
            _ => (&mut conn.egress, &mut conn.ingress),
        };
        for (stream, kind) in [(requests, MessageType::Request), (responses, MessageType::Response)] {
            let before = stats.http.invalid;
            p.parse(kind, stream, &mut stats.http);
            conn.invalid += stats.http.invalid - before;
            // Bytes were lost: in-order pairing cannot be trusted across the
            // hole, so the protocol starts over (counted frames stay counted).
            if stream.ahead_bytes() > HOLE_LIMIT {
                stream.skip_hole();
                p.state = Default::default();
                p.parse(kind, stream, &mut stats.http);
            }
            if stream.held_bytes() > STREAM_LIMIT {
                stream.reset();
                p.state = Default::default();
            }
            stats.skipped_bytes += std::mem::take(&mut stream.skipped_bytes);
        }
        let out = p.stitch(&mut stats.http);
        conn.records += out.records.len() as u64;
        let dedup = conn.meta.role == Role::Client && conn.meta.remote.is_some_and(|r| servers.contains_key(&r));
        for ex in out.records {
            if dedup {
                stats.deduplicated += 1;
            } else {
                sink.http(&conn.meta, ex);
            }
        }
        // After `Upgrade` (websocket, h2c) or a CONNECT tunnel the bytes are
        // no longer HTTP/1; after too many parse errors they never were.
        if p.state.switched_protocols() || (conn.records == 0 && conn.invalid >= INVALID_LIMIT) {
            conn.disabled = true;
            return Some(conn.meta.id);
        }
        None
    }

    /// Forgets connections idle since before `now - IDLE_NS` (their close was
    /// not seen: the process died, or the record was lost).
    pub fn sweep(&mut self, now_ts: u64) {
        let idle: Vec<ConnId> =
            self.conns.iter().filter(|(_, c)| c.last_ts + IDLE_NS < now_ts).map(|(id, _)| *id).collect();
        for id in idle {
            if let Some(conn) = self.conns.remove(&id) {
                self.forget(&conn);
            }
        }
        self.servers.retain(|_, e| e.open > 0 || e.last_ts + IDLE_NS >= now_ts);
        self.stats.conns = self.conns.len();
    }
}

/// A connection first seen mid-stream: the side whose bytes start like a
/// request is the client.
fn infer_role(conn: &Conn) -> Role {
    let looks_like_request = |s: &DataStream| {
        let mut state = Default::default();
        !s.data().is_empty()
            && !matches!(
                <Http as scry_protocols::Protocol>::parse_frame(MessageType::Request, s.data(), &mut state),
                scry_protocols::ParseState::Invalid
            )
    };
    if looks_like_request(&conn.egress) {
        Role::Client
    } else if looks_like_request(&conn.ingress) {
        Role::Server
    } else {
        Role::Unknown
    }
}
