//! The connection tracker: socket records in, protocol records out. Keeps
//! each traced connection's two byte streams, runs the protocol the kernel
//! inferred over them, and hands stitched exchanges to a sink with the
//! connection's addresses and role.

use std::collections::HashMap;
use std::net::SocketAddr;

use scry_bpf::socket::{ConnId, DataRecord, Direction, OpenRecord, Role, SocketRecord, protocol};
use scry_protocols::dns::Dns;
use scry_protocols::http::Http;
use scry_protocols::mysql::Mysql;
use scry_protocols::pgsql::Pgsql;
use scry_protocols::redis::Redis;
use scry_protocols::{Exchange, Limits, MessageType, ParseState, Protocol};

use super::parsing::{ParseCounts, Parsing};
use super::stream::DataStream;
use super::tables::IntoRow;

/// Bytes one direction may hold unparsed before it is dropped.
const STREAM_LIMIT: usize = 4 << 20;
/// Bytes waiting beyond a hole before the hole is given up on.
const HOLE_LIMIT: usize = 256 << 10;
/// Parse errors on a connection, with no record, before its data stops being copied.
const INVALID_LIMIT: u64 = 8;
/// A connection with no record for this long is forgotten.
const IDLE_NS: u64 = 120_000_000_000;
/// Idle connections are looked for this often, not at every drain.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// What a record needs to know of its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    pub id: ConnId,
    pub role: Role,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// A datagram socket (DNS over UDP).
    pub udp: bool,
}

/// Where stitched records go.
pub trait RecordSink {
    fn record<R: IntoRow>(&mut self, conn: &ConnMeta, exchange: Exchange<R>);
}

/// The parser a connection runs, chosen from the kernel's inference.
enum Parser {
    Http(Parsing<Http>),
    Pgsql(Parsing<Pgsql>),
    Mysql(Parsing<Mysql>),
    Redis(Parsing<Redis>),
    /// DNS over TCP: length-prefixed messages in a stream.
    Dns(Parsing<Dns>),
    /// DNS over UDP: one message per datagram, parsed per peer (`Conn::peers`).
    DnsDatagrams,
}

impl Parser {
    fn for_protocol(protocol: u8, sock_type: u8, limits: Limits) -> Option<Parser> {
        Some(match protocol {
            protocol::HTTP => Parser::Http(Parsing::new(scry_protocols::http::State::with_limits(limits))),
            protocol::PGSQL => Parser::Pgsql(Parsing::default()),
            protocol::MYSQL => Parser::Mysql(Parsing::new(scry_protocols::mysql::MysqlState::with_limits(limits))),
            protocol::REDIS => Parser::Redis(Parsing::default()),
            protocol::DNS if sock_type == 2 => Parser::DnsDatagrams,
            protocol::DNS => Parser::Dns(Parsing::new(scry_protocols::dns::DnsState { tcp: true })),
            _ => return None,
        })
    }

    /// Whether `data` starts like a request of this protocol.
    fn looks_like_request(&self, data: &[u8]) -> bool {
        fn probe<P: Protocol>(data: &[u8]) -> bool {
            !data.is_empty()
                && !matches!(P::parse_frame(MessageType::Request, data, &mut Default::default()), ParseState::Invalid)
        }
        match self {
            Parser::Http(_) => probe::<Http>(data),
            Parser::Pgsql(_) => probe::<Pgsql>(data),
            Parser::Mysql(_) => probe::<Mysql>(data),
            Parser::Redis(_) => probe::<Redis>(data),
            Parser::Dns(_) => {
                let mut tcp = scry_protocols::dns::DnsState { tcp: true };
                !matches!(Dns::parse_frame(MessageType::Request, data, &mut tcp), ParseState::Invalid)
                    && !data.is_empty()
            }
            Parser::DnsDatagrams => false,
        }
    }
}

/// One peer of a datagram socket: a DNS server socket answers many clients
/// on one fd, so each peer is a connection of its own.
struct Peer {
    meta: ConnMeta,
    parsing: Parsing<Dns>,
}

struct Conn {
    meta: ConnMeta,
    /// `SOCK_STREAM` (1) or `SOCK_DGRAM` (2).
    sock_type: u8,
    parser: Option<Parser>,
    peers: HashMap<SocketAddr, Peer>,
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
    pub pgsql: ParseCounts,
    pub mysql: ParseCounts,
    pub redis: ParseCounts,
    pub dns: ParseCounts,
    pub conns: usize,
    /// Client sides left to the server side traced on this node: TCP
    /// connections (not parsed at all) and DNS-over-UDP exchanges.
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
    last_sweep: u64,
    /// Column sizes every connection's parser gets.
    limits: Limits,
    pub stats: TrackerStats,
}

impl Tracker {
    pub fn new(limits: Limits) -> Tracker {
        Tracker { limits, ..Default::default() }
    }

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
            SocketRecord::Totals(_) => None,
        }
    }

    fn open(&mut self, o: &OpenRecord) {
        let meta = ConnMeta { id: o.id, role: o.role, local: o.local, remote: o.remote, udp: o.sock_type == 2 };
        if o.role == Role::Server
            && let Some(local) = o.local
        {
            let e = self.servers.entry(local).or_default();
            e.open += 1;
            e.last_ts = o.ts;
        }
        let conn = Conn {
            meta,
            sock_type: o.sock_type,
            parser: None,
            peers: HashMap::new(),
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
        let Tracker { conns, servers, stats, limits, .. } = self;
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
            conn.parser = Parser::for_protocol(d.protocol, conn.sock_type, *limits);
            if conn.parser.is_none() {
                stats.unparsed_records += 1;
                return None;
            }
        }
        if matches!(conn.parser, Some(Parser::DnsDatagrams)) {
            datagram(conn, &d, servers, stats, sink);
            return None;
        }
        let stream = match d.dir {
            Direction::Egress => &mut conn.egress,
            Direction::Ingress => &mut conn.ingress,
        };
        stream.add(d.pos, d.ts, &d.data);
        if d.truncated {
            stream.mark_cut(d.pos + d.data.len() as u64);
        }
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
        // The client of a server traced on this node: the server's side
        // records its exchanges, so this side is not parsed at all and the
        // kernel stops copying it (it still counts its bytes).
        if conn.meta.role == Role::Client && conn.meta.remote.is_some_and(|r| servers.contains_key(&r)) {
            stats.deduplicated += 1;
            conn.disabled = true;
            conn.egress = DataStream::new(true);
            conn.ingress = DataStream::new(true);
            return Some(conn.meta.id);
        }
        let Conn { meta, parser, egress, ingress, records, invalid, .. } = conn;
        let (requests, responses) = match meta.role {
            Role::Server => (ingress, egress),
            _ => (egress, ingress),
        };
        let mut out = Step { meta, requests, responses, sink, records, invalid, stats: &mut *stats };
        let stop = match parser {
            Some(Parser::Http(p)) => {
                out.run(p, |s| &mut s.http);
                // After `Upgrade` (websocket, h2c) or a CONNECT tunnel the
                // bytes are no longer HTTP/1.
                p.state.switched_protocols()
            }
            Some(Parser::Pgsql(p)) => {
                out.run(p, |s| &mut s.pgsql);
                false
            }
            Some(Parser::Mysql(p)) => {
                out.run(p, |s| &mut s.mysql);
                false
            }
            Some(Parser::Redis(p)) => {
                out.run(p, |s| &mut s.redis);
                false
            }
            Some(Parser::Dns(p)) => {
                out.run(p, |s| &mut s.dns);
                false
            }
            Some(Parser::DnsDatagrams) | None => false,
        };
        // Too many parse errors and no record: the guess was wrong.
        if stop || (conn.records == 0 && conn.invalid >= INVALID_LIMIT) {
            conn.disabled = true;
            return Some(conn.meta.id);
        }
        None
    }

    /// Forgets connections idle since before `now - IDLE_NS` (their close was
    /// not seen: the process died, or the record was lost); looks at most
    /// once per `SWEEP_EVERY_NS`.
    pub fn sweep(&mut self, now_ts: u64) {
        self.stats.conns = self.conns.len();
        if now_ts < self.last_sweep + SWEEP_EVERY_NS {
            return;
        }
        self.last_sweep = now_ts;
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

/// One DNS datagram: parsed on its own, as a request or a response (the
/// header says which), queued with its peer's other messages and stitched.
fn datagram(
    conn: &mut Conn,
    d: &DataRecord,
    servers: &mut HashMap<SocketAddr, Endpoint>,
    stats: &mut TrackerStats,
    sink: &mut impl RecordSink,
) {
    let Some(peer_addr) = d.peer.or(conn.meta.remote) else {
        stats.skipped_bytes += d.data.len() as u64;
        return;
    };
    let base = &conn.meta;
    let peer = conn.peers.entry(peer_addr).or_insert_with(|| Peer {
        meta: ConnMeta { id: base.id, role: Role::Unknown, local: base.local, remote: Some(peer_addr), udp: true },
        parsing: Parsing::default(),
    });
    let parsed = [MessageType::Request, MessageType::Response].into_iter().find_map(|kind| {
        match Dns::parse_frame(kind, &d.data, &mut peer.parsing.state) {
            ParseState::Frame { frame, .. } => Some((kind, frame)),
            _ => None,
        }
    });
    let Some((kind, frame)) = parsed else {
        stats.dns.invalid += 1;
        return;
    };
    if peer.meta.role == Role::Unknown {
        // A request sent is a client's; a request received, a server's.
        peer.meta.role = match (kind, d.dir) {
            (MessageType::Request, Direction::Egress) | (MessageType::Response, Direction::Ingress) => Role::Client,
            _ => Role::Server,
        };
    }
    if peer.meta.role == Role::Server
        && let Some(local) = peer.meta.local
    {
        let e = servers.entry(local).or_default();
        e.last_ts = d.ts;
    }
    peer.parsing.push(kind, d.ts, frame, &mut stats.dns);
    let dedup = peer.meta.role == Role::Client && servers.contains_key(&peer_addr);
    for ex in peer.parsing.stitch(&mut stats.dns).records {
        conn.records += 1;
        if dedup {
            stats.deduplicated += 1;
        } else {
            sink.record(&peer.meta, ex);
        }
    }
    // Requests never answered are dropped after Pixie's 2 s, counted.
    peer.parsing.expire(|reqs| Dns::expire_requests(reqs, d.ts), &mut stats.dns);
}

/// One parse-and-stitch round over a connection's two streams.
struct Step<'a, S: RecordSink> {
    meta: &'a ConnMeta,
    requests: &'a mut DataStream,
    responses: &'a mut DataStream,
    sink: &'a mut S,
    records: &'a mut u64,
    invalid: &'a mut u64,
    stats: &'a mut TrackerStats,
}

impl<S: RecordSink> Step<'_, S> {
    fn run<P: Protocol>(&mut self, p: &mut Parsing<P>, counts: fn(&mut TrackerStats) -> &mut ParseCounts)
    where
        P::Record: IntoRow,
    {
        for (stream, kind) in
            [(&mut *self.requests, MessageType::Request), (&mut *self.responses, MessageType::Response)]
        {
            let before = counts(self.stats).invalid;
            p.parse(kind, stream, counts(self.stats));
            // Bytes were lost (the kernel cut a message, or a record never
            // came): in-order pairing cannot be trusted across the hole, so
            // the protocol starts over after it.
            if stream.hole_is_permanent() || stream.ahead_bytes() > HOLE_LIMIT {
                let before = stream.last_ts();
                stream.skip_hole();
                p.lost(kind, before, stream.ts_at(0), counts(self.stats));
                p.parse(kind, stream, counts(self.stats));
            }
            if stream.held_bytes() > STREAM_LIMIT {
                stream.reset();
                let at = stream.last_ts();
                p.lost(kind, at, at, counts(self.stats));
            }
            *self.invalid += counts(self.stats).invalid - before;
            self.stats.skipped_bytes += std::mem::take(&mut stream.skipped_bytes);
        }
        let out = p.stitch(counts(self.stats));
        *self.records += out.records.len() as u64;
        for ex in out.records {
            self.sink.record(self.meta, ex);
        }
    }
}

/// A connection first seen mid-stream: the side whose bytes start like a
/// request is the client.
fn infer_role(conn: &Conn) -> Role {
    let Some(parser) = &conn.parser else { return Role::Unknown };
    if parser.looks_like_request(conn.egress.data()) {
        Role::Client
    } else if parser.looks_like_request(conn.ingress.data()) {
        Role::Server
    } else {
        Role::Unknown
    }
}

#[cfg(test)]
mod tests {
    use scry_bpf::socket::protocol;

    use super::*;
    use crate::sockets::tables::Cell;

    /// Keeps each record's method, path and status.
    #[derive(Default)]
    struct Http(Vec<(String, String, i64)>);

    impl RecordSink for Http {
        fn record<R: IntoRow>(&mut self, _: &ConnMeta, ex: Exchange<R>) {
            let cells = ex.record.cells();
            let text = |i: usize| match &cells[i] {
                Cell::Text(t) => t.clone(),
                Cell::Int(v) => v.to_string(),
            };
            self.0.push((text(4), text(5), text(9).parse().unwrap()));
        }
    }

    const ID: ConnId = ConnId { tgid: 1, fd: 3, generation: 1 };

    fn data(dir: Direction, pos: u64, ts: u64, bytes: &[u8], msg_size: usize) -> SocketRecord {
        data_of(ID, dir, pos, ts, bytes, msg_size)
    }

    fn data_of(id: ConnId, dir: Direction, pos: u64, ts: u64, bytes: &[u8], msg_size: usize) -> SocketRecord {
        SocketRecord::Data(DataRecord {
            id,
            ts,
            dir,
            protocol: protocol::HTTP,
            role: Role::Unknown,
            pos,
            msg_size: msg_size as u32,
            truncated: msg_size > bytes.len(),
            peer: None,
            data: bytes.to_vec(),
        })
    }

    #[test]
    fn a_response_the_kernel_cut_loses_its_request_only() {
        let mut t = Tracker::default();
        let mut sink = Http::default();
        t.handle(
            SocketRecord::Open(OpenRecord {
                id: ID,
                ts: 1,
                role: Role::Server,
                sock_type: 1,
                mid_stream: false,
                local: Some("10.0.0.1:80".parse().unwrap()),
                remote: Some("10.0.0.2:5000".parse().unwrap()),
            }),
            &mut sink,
        );
        let big = b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
        let small = b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n";
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let cut = [&head[..], &[b'x'; 1000]].concat();
        let whole = head.len() + 100_000;
        for r in [
            data(Direction::Ingress, 0, 10, big, big.len()),
            data(Direction::Egress, 0, 20, &cut, whole),
            data(Direction::Ingress, big.len() as u64, 30, small, small.len()),
            data(Direction::Egress, whole as u64, 40, ok, ok.len()),
        ] {
            t.handle(r, &mut sink);
        }
        assert_eq!(sink.0, [("GET".to_owned(), "/small".to_owned(), 200)]);
        assert_eq!(t.stats.http.unmatched, 1, "the request whose response was cut");
        assert_eq!(t.stats.skipped_bytes, whole as u64, "the cut response and its lost rest");
    }

    fn open(id: ConnId, role: Role, local: &str, remote: &str) -> SocketRecord {
        SocketRecord::Open(OpenRecord {
            id,
            ts: 1,
            role,
            sock_type: 1,
            mid_stream: false,
            local: Some(local.parse().unwrap()),
            remote: Some(remote.parse().unwrap()),
        })
    }

    /// One GET and its answer on connection `id`, seen from `role`'s side.
    fn exchange(t: &mut Tracker, sink: &mut Http, id: ConnId, role: Role, ts: u64) {
        let (req, resp) = (b"GET /x HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let (out, back) = match role {
            Role::Client => (Direction::Egress, Direction::Ingress),
            _ => (Direction::Ingress, Direction::Egress),
        };
        t.handle(data_of(id, out, 0, ts, req, req.len()), sink);
        t.handle(data_of(id, back, 0, ts + 1, resp, resp.len()), sink);
    }

    #[test]
    fn the_client_side_records_only_when_the_server_is_not_traced_here() {
        let (mut t, mut sink) = (Tracker::default(), Http::default());
        let server = ConnId { tgid: 2, fd: 5, generation: 1 };
        let local_client = ConnId { tgid: 3, fd: 6, generation: 1 };
        let remote_client = ConnId { tgid: 3, fd: 7, generation: 1 };
        t.handle(open(server, Role::Server, "10.0.0.1:80", "10.0.0.2:4000"), &mut sink);
        t.handle(open(local_client, Role::Client, "10.0.0.2:4000", "10.0.0.1:80"), &mut sink);
        t.handle(open(remote_client, Role::Client, "10.0.0.2:4001", "192.0.2.7:80"), &mut sink);
        exchange(&mut t, &mut sink, server, Role::Server, 10);
        let client_data = data_of(local_client, Direction::Egress, 0, 10, b"GET /x HTTP/1.1\r\n\r\n", 18);
        assert_eq!(t.handle(client_data, &mut sink), Some(local_client), "the kernel stops copying it");
        exchange(&mut t, &mut sink, remote_client, Role::Client, 20);
        assert_eq!(sink.0.len(), 2, "the server's row and the untraced server's client row");
        assert_eq!((t.stats.http.records, t.stats.deduplicated, t.stats.skipped_bytes), (2, 1, 0));
    }
}
