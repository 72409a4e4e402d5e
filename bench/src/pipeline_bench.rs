//! The agent's user-space socket pipeline on a replay held in memory: CONNS
//! concurrent keep-alive server-side connections (default 1,000), each an
//! open record, EXCHANGES HTTP/1.1 exchanges (default 100) and a close, as
//! the raw bytes the socket tracer puts in its ring (laid out as
//! `crates/scry-bpf/src/bpf/socket.h` lays them out). Exchanges are a mix:
//! 80 % GET answered 200 with a ~200-byte JSON body and `Content-Length`,
//! 10 % GET answered with a chunked body in two writes, 10 % POST with a
//! JSON body (half of them read in two syscalls) answered 201. Records are
//! handled in batches of [`BATCH`], as the collector handles a drain.
//!
//! Per round, on one pinned core, passes over the same bytes:
//! - `decode`: `scry_bpf::socket::decode` alone;
//! - `tracker`: decode + `Tracker::handle` into a sink that counts records;
//! - `tables`: decode + `Tracker::handle` into the agent's own
//!   `SocketTables` (Arrow rows built and appended to a store, with the
//!   process known so each row gets its UPID), flushed after every batch;
//! - `tracker` and `tables` again on a second replay where every client is
//!   on the node too (the usual case of a load generator or a service
//!   calling a service on the same node): twice the records, the client
//!   side deduplicated by the tracker, the same rows out.
//!
//! Every exchange is checked first (method, path, status, bodies, once
//! each). Prints the medians as HTTP records per second of thread CPU time
//! (one core, whatever else runs on the machine) and of wall time, and
//! records produced / exchanges replayed, which must be equal.
//! (The collector's `conn_stats` accounting is not in these passes.)
//!
//! Usage: pipeline-bench [CONNS] [EXCHANGES] [ROUNDS]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scry_agent::directory::ProcessDirectory;
use scry_agent::events::EventBus;
use scry_agent::metadata::Attributor;
use scry_agent::metadata::cgroup::CgroupMounts;
use scry_agent::pipeline::{Pipeline, PipelineConfig};
use scry_agent::sockets::tables::{Cell, IntoRow, SocketTables};
use scry_agent::sockets::tracker::{ConnMeta, RecordSink, Tracker};
use scry_agent::tables::ProcessTables;
use scry_bench::{Rng, median};
use scry_bpf::process::ExecRecord;
use scry_bpf::socket::{ConnId, Direction, Role, SocketRecord, decode};
use scry_model::tables::{HTTP_EVENTS, PROC_EXEC_EVENTS, PROC_EXIT_EVENTS};
use scry_protocols::Exchange;
use scry_store::{Budget, Store};

/// Records handled per drain: the collector drains every 20 ms, so this is
/// ~100,000 records/s worth.
const BATCH: usize = 2048;
/// The server process all connections belong to.
const TGID: u32 = 4242;
/// The client process, when both sides are on the node.
const CLIENT_TGID: u32 = 5151;
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 8080);
/// Kernel time of the first record (ns since boot).
const T0: u64 = 1_000_000_000_000;
/// Kernel time between two records.
const TICK_NS: u64 = 2_000;

/// The C records of socket.h, written field by field (native byte order,
/// the compiler's padding).
mod wire {
    use std::net::SocketAddr;

    use scry_bpf::socket::ConnId;

    pub const OPEN: u8 = 1;
    pub const CLOSE: u8 = 2;
    pub const DATA: u8 = 3;
    pub const ROLE_CLIENT: u8 = 1;
    pub const ROLE_SERVER: u8 = 2;
    pub const PROTO_HTTP: u8 = 1;
    pub const DIR_EGRESS: u8 = 1;
    pub const DIR_INGRESS: u8 = 2;
    /// `sizeof(struct sock_open_event)`.
    pub const OPEN_SIZE: usize = 72;
    /// `sizeof(struct sock_close_event)`.
    pub const CLOSE_SIZE: usize = 48;
    /// `offsetof(struct sock_data_event, data)`: what the tracer submits
    /// before the bytes it copied.
    pub const DATA_HEADER: usize = 68;

    fn conn_id(out: &mut Vec<u8>, id: ConnId) {
        out.extend_from_slice(&id.tgid.to_ne_bytes());
        out.extend_from_slice(&id.fd.to_ne_bytes());
        out.extend_from_slice(&id.generation.to_ne_bytes());
    }

    /// `struct sock_addr`: family, port (host order), 16 address bytes.
    fn sock_addr(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
        let mut raw = [0u8; 16];
        let (family, port) = match addr {
            Some(SocketAddr::V4(a)) => {
                raw[..4].copy_from_slice(&a.ip().octets());
                (2u16, a.port())
            }
            Some(SocketAddr::V6(a)) => {
                raw = a.ip().octets();
                (10, a.port())
            }
            None => (0, 0),
        };
        out.extend_from_slice(&family.to_ne_bytes());
        out.extend_from_slice(&port.to_ne_bytes());
        out.extend_from_slice(&raw);
    }

    pub fn open(out: &mut Vec<u8>, id: ConnId, role: u8, ts: u64, local: SocketAddr, remote: SocketAddr) {
        let start = out.len();
        out.extend_from_slice(&[OPEN, role, 1 /* SOCK_STREAM */, 0 /* flags */]);
        out.extend_from_slice(&0u32.to_ne_bytes());
        conn_id(out, id);
        out.extend_from_slice(&ts.to_ne_bytes());
        sock_addr(out, Some(local));
        sock_addr(out, Some(remote));
        debug_assert_eq!(out.len() - start, OPEN_SIZE);
    }

    pub fn close(out: &mut Vec<u8>, id: ConnId, role: u8, ts: u64, wr_bytes: u64, rd_bytes: u64) {
        let start = out.len();
        out.extend_from_slice(&[CLOSE, role, PROTO_HTTP, 0, 0, 0, 0, 0]);
        conn_id(out, id);
        for v in [ts, wr_bytes, rd_bytes] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
        debug_assert_eq!(out.len() - start, CLOSE_SIZE);
    }

    pub fn data(out: &mut Vec<u8>, id: ConnId, role: u8, ts: u64, dir: u8, pos: u64, bytes: &[u8]) {
        let start = out.len();
        out.extend_from_slice(&[DATA, dir, PROTO_HTTP, role]);
        out.extend_from_slice(&0u32.to_ne_bytes()); // flags: not truncated
        conn_id(out, id);
        out.extend_from_slice(&ts.to_ne_bytes());
        out.extend_from_slice(&pos.to_ne_bytes());
        let len = u32::try_from(bytes.len()).expect("chunk fits");
        out.extend_from_slice(&len.to_ne_bytes()); // msg_size
        out.extend_from_slice(&len.to_ne_bytes()); // data_len
        sock_addr(out, None); // peer: stream sockets have none
        debug_assert_eq!(out.len() - start, DATA_HEADER);
        out.extend_from_slice(bytes);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// GET, 200 with a JSON body and Content-Length.
    Get,
    /// GET, 200 with a chunked JSON body written in two writes.
    Chunked,
    /// POST with a JSON body, 201 with a small JSON body.
    Post,
}

const DATE: &str = "Date: Tue, 14 May 2024 12:34:56 GMT\r\n";

fn request_head(method: &str, path: &str, rid: u64, body_len: Option<usize>) -> String {
    let mut s = format!(
        "{method} {path} HTTP/1.1\r\nHost: shop.internal:8080\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
         Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.5\r\n\
         Connection: keep-alive\r\nX-Request-Id: {rid:016x}-{:08x}\r\n",
        rid.wrapping_mul(0x9e37_79b9) & 0xffff_ffff
    );
    if let Some(n) = body_len {
        s.push_str(&format!("Content-Type: application/json\r\nContent-Length: {n}\r\n"));
    }
    s.push_str("\r\n");
    s
}

/// A JSON object of about 200 bytes.
fn item_json(id: u64, r: u64) -> String {
    format!(
        r#"{{"id":{id},"name":"item-{id}","price":{}.{:02},"currency":"EUR","in_stock":{},"tags":["blue","large","sale"],"updated_at":"2024-05-14T12:34:56Z","description":"Sample item for the parser"}}"#,
        r % 500,
        (r >> 9) % 100,
        r & 1 == 0,
    )
}

/// One exchange: the request's reads and the response's writes (each one
/// syscall, so one data record), and the response body's size.
fn exchange(ex: u64, kind: Kind, rng: &mut Rng) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let r = rng.next_u64();
    match kind {
        Kind::Get => {
            let req = request_head("GET", &format!("/api/v1/items/{ex}?fields=name,price,tags"), r, None);
            let body = item_json(ex, r);
            let resp = format!(
                "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n{DATE}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: keep-alive\r\nCache-Control: no-store\r\n\r\n{body}",
                body.len()
            );
            (vec![req.into_bytes()], vec![resp.into_bytes()])
        }
        Kind::Chunked => {
            let req = request_head("GET", &format!("/api/v1/feed/{ex}"), r, None);
            let (a, b) = (format!("[{}", item_json(ex, r)), format!(",{}]", item_json(ex + 1, r >> 3)));
            let first = format!(
                "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n{DATE}Content-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n{:x}\r\n{a}\r\n",
                a.len()
            );
            let second = format!("{:x}\r\n{b}\r\n0\r\n\r\n", b.len());
            (vec![req.into_bytes()], vec![first.into_bytes(), second.into_bytes()])
        }
        Kind::Post => {
            let body = format!(
                r#"{{"customer":"c-{:06}","items":[{{"id":{},"qty":{}}},{{"id":{},"qty":1}}],"shipping":"express","note":"leave at door"}}"#,
                r % 1_000_000,
                r % 977,
                1 + (r >> 5) % 4,
                (r >> 11) % 977
            );
            let head = request_head("POST", &format!("/api/v1/orders/{ex}"), r, Some(body.len()));
            let reads = if r & 2 == 0 {
                vec![format!("{head}{body}").into_bytes()]
            } else {
                vec![head.into_bytes(), body.into_bytes()]
            };
            let out = format!(r#"{{"order":"o-{ex}","status":"accepted","total":{}.{:02}}}"#, r % 900, (r >> 7) % 100);
            let resp = format!(
                "HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\n{DATE}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nLocation: /api/v1/orders/o-{ex}\r\nConnection: keep-alive\r\n\r\n{out}",
                out.len()
            );
            (reads, vec![resp.into_bytes()])
        }
    }
}

/// Ring records, back to back, and where each starts and ends.
struct Replay {
    bytes: Vec<u8>,
    /// Start, end and kernel time of each record.
    records: Vec<(usize, usize, u64)>,
    /// Kind of each exchange, by exchange number (the last path segment).
    kinds: Vec<Kind>,
    data_records: usize,
}

/// One end of a connection: its id, role, and the bytes it has written and
/// read so far (its two stream positions).
struct End {
    id: ConnId,
    role: u8,
    wr: u64,
    rd: u64,
}

impl Replay {
    fn push(&mut self, start: usize, ts: u64) {
        self.records.push((start, self.bytes.len(), ts));
    }

    fn open(&mut self, end: &End, ts: u64, local: SocketAddr, remote: SocketAddr) {
        let start = self.bytes.len();
        wire::open(&mut self.bytes, end.id, end.role, ts, local, remote);
        self.push(start, ts);
    }

    /// One syscall's bytes: written (egress) or read (ingress) by `end`.
    fn data(&mut self, end: &mut End, ts: &mut u64, dir: u8, chunk: &[u8]) {
        *ts += TICK_NS;
        let pos = if dir == wire::DIR_EGRESS { &mut end.wr } else { &mut end.rd };
        let start = self.bytes.len();
        wire::data(&mut self.bytes, end.id, end.role, *ts, dir, *pos, chunk);
        *pos += chunk.len() as u64;
        self.push(start, *ts);
        self.data_records += 1;
    }

    fn close(&mut self, end: &End, ts: u64) {
        let start = self.bytes.len();
        wire::close(&mut self.bytes, end.id, end.role, ts, end.wr, end.rd);
        self.push(start, ts);
    }
}

/// Connections open together; exchanges go in waves of `WAVE` connections,
/// requests first then their responses, so many requests are pending at once.
/// With `both_sides`, each connection's client is on the node too (its own
/// process, connecting to the server's address): its records come before
/// (request written) and after (response read) the server's, and the
/// tracker leaves them to the server side (deduplicated).
fn build_replay(conns: usize, per_conn: usize, both_sides: bool) -> Replay {
    const WAVE: usize = 64;
    let mut rng = Rng(0x5c27_d00d_cafe_f00d);
    let mut out = Replay { bytes: Vec::new(), records: Vec::new(), kinds: Vec::new(), data_records: 0 };
    let mut ts = T0;
    let mut ends: Vec<(End, Option<End>)> = Vec::with_capacity(conns);
    for c in 0..conns {
        ts += TICK_NS;
        let server =
            End { id: ConnId { tgid: TGID, fd: 16 + c as u32, generation: ts }, role: wire::ROLE_SERVER, wr: 0, rd: 0 };
        let remote = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 1, (c / 250) as u8, (c % 250) as u8 + 1)),
            32768 + (c % 28000) as u16,
        );
        out.open(&server, ts, SERVER, remote);
        let client = both_sides.then(|| {
            let id = ConnId { tgid: CLIENT_TGID, fd: 16 + c as u32, generation: ts };
            let client = End { id, role: wire::ROLE_CLIENT, wr: 0, rd: 0 };
            out.open(&client, ts, remote, SERVER);
            client
        });
        ends.push((server, client));
    }
    for _ in 0..per_conn {
        for wave in ends.chunks_mut(WAVE) {
            let mut responses = Vec::with_capacity(wave.len());
            for (server, client) in wave.iter_mut() {
                let ex = out.kinds.len() as u64;
                let kind = match rng.next_u64() % 10 {
                    0 => Kind::Chunked,
                    1 => Kind::Post,
                    _ => Kind::Get,
                };
                out.kinds.push(kind);
                let (request, response) = exchange(ex, kind, &mut rng);
                for chunk in &request {
                    if let Some(client) = client {
                        out.data(client, &mut ts, wire::DIR_EGRESS, chunk);
                    }
                    out.data(server, &mut ts, wire::DIR_INGRESS, chunk);
                }
                responses.push(response);
            }
            for ((server, client), response) in wave.iter_mut().zip(responses) {
                for chunk in &response {
                    out.data(server, &mut ts, wire::DIR_EGRESS, chunk);
                    if let Some(client) = client {
                        out.data(client, &mut ts, wire::DIR_INGRESS, chunk);
                    }
                }
            }
        }
    }
    for (server, client) in &ends {
        ts += TICK_NS;
        out.close(server, ts);
        if let Some(client) = client {
            out.close(client, ts);
        }
    }
    out
}

/// The first records decode to what was written: the layout matches socket.h.
fn check_layout(replay: &Replay) {
    let rec = |i: usize| {
        let (s, e, _) = replay.records[i];
        decode(&replay.bytes[s..e]).expect("decodes")
    };
    let SocketRecord::Open(o) = rec(0) else { panic!("record 0 is not an open") };
    assert_eq!((o.id.tgid, o.id.fd, o.id.generation, o.ts), (TGID, 16, T0 + TICK_NS, T0 + TICK_NS));
    assert_eq!((o.role, o.sock_type, o.mid_stream, o.local), (Role::Server, 1, false, Some(SERVER)));
    assert_eq!(o.remote, Some("10.1.0.1:32768".parse().unwrap()));
    let conns = replay.records.iter().take_while(|(s, e, _)| e - s == wire::OPEN_SIZE).count();
    let SocketRecord::Data(d) = rec(conns) else { panic!("record {conns} is not data") };
    assert_eq!(
        (d.id, d.dir, d.role, d.protocol, d.pos, d.truncated),
        (o.id, Direction::Ingress, Role::Server, 1, 0, false)
    );
    assert_eq!(d.msg_size as usize, d.data.len());
    assert!(d.data.starts_with(b"GET /api/v1/") || d.data.starts_with(b"POST /api/v1/"), "{:?}", &d.data[..16]);
    let SocketRecord::Close(c) = rec(replay.records.len() - 1) else { panic!("last record is not a close") };
    assert_eq!((c.role, c.protocol), (Role::Server, 1));
    assert!(c.wr_bytes > 0 && c.rd_bytes > 0);
}

/// Counts records, touching nothing else.
#[derive(Default)]
struct Count(u64);

impl RecordSink for Count {
    fn record<R: IntoRow>(&mut self, _conn: &ConnMeta, exchange: Exchange<R>) {
        self.0 += 1;
        std::hint::black_box(exchange);
    }
}

/// Checks every record against what was replayed: method, path, status,
/// body size, each exchange once.
struct Check<'a> {
    kinds: &'a [Kind],
    seen: Vec<bool>,
    records: u64,
}

impl RecordSink for Check<'_> {
    fn record<R: IntoRow>(&mut self, conn: &ConnMeta, exchange: Exchange<R>) {
        assert_eq!((conn.role, conn.local), (Role::Server, Some(SERVER)));
        assert!(exchange.resp_ts_ns > exchange.req_ts_ns, "latency");
        let cells = exchange.record.cells();
        let text = |i: usize| match &cells[i] {
            Cell::Text(s) => s.as_str(),
            Cell::Int(_) => panic!("cell {i} is not text"),
        };
        let int = |i: usize| match &cells[i] {
            Cell::Int(v) => *v,
            Cell::Text(_) => panic!("cell {i} is not an integer"),
        };
        let (method, path, status) = (text(4), text(5), int(9));
        let ex: usize =
            path.split('?').next().and_then(|p| p.rsplit('/').next()).and_then(|n| n.parse().ok()).expect(path);
        let want = match self.kinds[ex] {
            Kind::Get => ("GET", 200),
            Kind::Chunked => ("GET", 200),
            Kind::Post => ("POST", 201),
        };
        assert_eq!((method, status), want, "{path}");
        if self.kinds[ex] == Kind::Chunked {
            assert!(text(11).starts_with("[{") && text(11).ends_with("}]"), "chunked body de-chunked: {}", text(11));
        }
        if self.kinds[ex] == Kind::Post {
            assert!(int(7) > 0 && text(6).starts_with("{\"customer\""), "request body: {}", text(6));
        }
        assert!(!std::mem::replace(&mut self.seen[ex], true), "exchange {ex} recorded twice");
        self.records += 1;
    }
}

/// One pass over the replay: decode each batch, then hand it to the tracker;
/// `after_batch` runs where the collector flushes its tables.
fn pass<S: RecordSink>(replay: &Replay, sink: &mut S, mut after_batch: impl FnMut(&mut S)) -> (Tracker, u64) {
    let mut tracker = Tracker::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut disabled = 0;
    for chunk in replay.records.chunks(BATCH) {
        batch.extend(chunk.iter().map(|&(s, e, _)| decode(&replay.bytes[s..e]).expect("record decodes")));
        let now = chunk.last().map_or(0, |r| r.2);
        for rec in batch.drain(..) {
            disabled += u64::from(tracker.handle(rec, sink).is_some());
        }
        after_batch(sink);
        tracker.sweep(now);
    }
    (tracker, disabled)
}

/// The agent's process and socket tables in a fresh store, the server
/// process known (so each row's UPID is resolved as in the agent).
fn agent_tables() -> (Arc<Store>, SocketTables) {
    let store = Arc::new(Store::default());
    let budget = Budget::pixie_defaults(1280 << 20).split(scry_model::tables::ALL);
    let directory = Arc::new(ProcessDirectory::new("bench", 1024));
    let process_tables =
        ProcessTables::create(&store, directory, "bench", budget[PROC_EXEC_EVENTS], budget[PROC_EXIT_EVENTS])
            .expect("process tables");
    let pipeline = Pipeline::new(
        PipelineConfig {
            node_name: "bench".into(),
            enable_ancestors: false,
            process_cache_size: NonZeroUsize::new(1024).unwrap(),
            exit_grace: Duration::from_secs(10),
        },
        [0; 10],
        Attributor::new(CgroupMounts { v2: None, v1_memory: None }, None),
        Arc::new(EventBus::default()),
    )
    .with_tables(process_tables);
    pipeline.seed(vec![ExecRecord {
        pid: TGID,
        tid: TGID,
        ppid: 1,
        ktime: T0 / 2,
        creds: Default::default(),
        auid: u32::MAX,
        flags: 0,
        caps: Default::default(),
        ns: [0; 10],
        bin_props: 0,
        file: Default::default(),
        cgroup_v2: Default::default(),
        cgroup_v1: Default::default(),
        binary: "/usr/sbin/nginx".into(),
        cwd: "/".into(),
        argv: vec!["nginx: worker process".into()],
        args_orig_len: 21,
    }]);
    // Every process record is handled: rows are written at the next flush.
    pipeline.mark_drained(u64::MAX);
    let pipeline = Arc::new(pipeline);
    assert!(!pipeline.upid(TGID).is_empty(), "the server process is known");
    let tables = SocketTables::create(&store, pipeline, |name| budget.get(name).copied().unwrap_or_default())
        .expect("socket tables");
    (store, tables)
}

/// Pins this thread to the CPU it runs on; returns that CPU.
fn pin_to_one_core() -> i32 {
    // SAFETY: sched_getcpu has no preconditions; the set is a zeroed
    // cpu_set_t filled by CPU_SET and passed with its size.
    unsafe {
        let cpu = libc::sched_getcpu().max(0);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set), 0, "sched_setaffinity");
        cpu
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f`, returning its result, CPU seconds and wall seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let out = f();
    (out, (thread_cpu() - cpu0).as_secs_f64(), wall0.elapsed().as_secs_f64())
}

/// Every exchange comes out once, as it went in, and nothing else.
fn check(replay: &Replay, what: &str) {
    let expected = replay.kinds.len() as u64;
    let mut check = Check { kinds: &replay.kinds, seen: vec![false; replay.kinds.len()], records: 0 };
    let (tracker, disabled) = pass(replay, &mut check, |_| {});
    let (http, dedup) = (tracker.stats.http, tracker.stats.deduplicated);
    println!(
        "  check, {what}: {}/{expected} records, every exchange once with its method, path, status and body; \
         http frames {} parse errors {} unmatched {}; client side deduplicated {dedup}; connections disabled {disabled}",
        check.records, http.frames, http.invalid, http.unmatched
    );
    assert_eq!(check.records, expected, "records / exchanges");
    // Only the clients of servers on the node are disabled (left to their server).
    assert_eq!((http.invalid, http.unmatched, disabled), (0, 0, dedup));
}

/// One measured pass's figures over the rounds.
#[derive(Default)]
struct Figures {
    cpu: Vec<f64>,
    wall: Vec<f64>,
    produced: u64,
}

impl Figures {
    fn add(&mut self, (produced, cpu, wall): (u64, f64, f64)) {
        self.cpu.push(cpu);
        self.wall.push(wall);
        self.produced += produced;
    }

    fn last_cpu(&self) -> f64 {
        self.cpu.last().copied().unwrap_or_default()
    }

    /// `n` items per pass: median rate over CPU time, over wall time, and
    /// µs per item.
    fn line(&self, n: f64) -> String {
        let (c, w) = (median(self.cpu.clone()), median(self.wall.clone()));
        format!("{:>9.0} /s  ({:.0} wall)  {:.2} µs each", n / c, n / w, c * 1e6 / n)
    }
}

/// Decode + tracker into a counting sink: records produced, CPU s, wall s.
fn count_pass(replay: &Replay) -> (u64, f64, f64) {
    let mut count = Count::default();
    let (_, cpu, wall) = timed(|| pass(replay, &mut count, |_| {}));
    (count.0, cpu, wall)
}

/// Decode + tracker + the agent's tables: rows written, CPU s, wall s.
fn tables_pass(replay: &Replay) -> (u64, f64, f64) {
    let (store, mut tables) = agent_tables();
    let (_, cpu, wall) = timed(|| pass(replay, &mut tables, SocketTables::flush));
    (store.get(HTTP_EVENTS).expect("http_events").stats().appended_rows, cpu, wall)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().map_or(1_000, |a| a.parse().expect("CONNS"));
    let per_conn: usize = args.next().map_or(100, |a| a.parse().expect("EXCHANGES"));
    let rounds: usize = args.next().map_or(5, |a| a.parse().expect("ROUNDS"));
    let cpu = pin_to_one_core();

    let replay = build_replay(conns, per_conn, false);
    check_layout(&replay);
    let both = build_replay(conns, per_conn, true);
    let expected = replay.kinds.len() as u64;
    let count_kind = |k: Kind| replay.kinds.iter().filter(|&&x| x == k).count();
    println!(
        "pipeline bench: {conns} connections x {per_conn} exchanges = {expected} exchanges \
         ({} GET, {} chunked GET, {} POST); server side only: {} ring records ({} data), {:.1} MB; \
         both sides: {} records, {:.1} MB; batches of {BATCH}; pinned to CPU {cpu}",
        count_kind(Kind::Get),
        count_kind(Kind::Chunked),
        count_kind(Kind::Post),
        replay.records.len(),
        replay.data_records,
        replay.bytes.len() as f64 / 1e6,
        both.records.len(),
        both.bytes.len() as f64 / 1e6,
    );
    check(&replay, "server side");
    check(&both, "both sides");

    let (mut decoded, mut counted, mut tabled) = (Figures::default(), Figures::default(), Figures::default());
    let (mut counted_both, mut tabled_both) = (Figures::default(), Figures::default());
    for round in 0..rounds {
        decoded.add(timed(|| {
            let mut n = 0u64;
            for &(s, e, _) in &replay.records {
                n += u64::from(std::hint::black_box(decode(&replay.bytes[s..e])).is_ok());
            }
            n
        }));
        counted.add(count_pass(&replay));
        tabled.add(tables_pass(&replay));
        counted_both.add(count_pass(&both));
        tabled_both.add(tables_pass(&both));
        eprintln!(
            "round {round}: CPU s: decode {:.3}, tracker {:.3}, tracker+tables {:.3}; both sides: tracker {:.3}, \
             tracker+tables {:.3}",
            decoded.last_cpu(),
            counted.last_cpu(),
            tabled.last_cpu(),
            counted_both.last_cpu(),
            tabled_both.last_cpu()
        );
    }

    let n = expected as f64;
    let all = expected * rounds as u64;
    println!("  medians over {rounds} rounds on one core: per second of the thread's CPU time (of wall time):");
    println!("  decode only                    ring records {}", decoded.line(replay.records.len() as f64));
    println!("  decode + tracker (count)       HTTP records {}", counted.line(n));
    println!("  decode + tracker + tables      HTTP records {}   (target ≥ 200000)", tabled.line(n));
    println!("  both sides on the node, the client side deduplicated:");
    println!("  decode + tracker (count)       HTTP records {}", counted_both.line(n));
    println!("  decode + tracker + tables      HTTP records {}", tabled_both.line(n));
    let pct = |x: u64| format!("{x}/{all} ({:.2}%)", 100.0 * x as f64 / all as f64);
    println!(
        "  captured / expected            counting sink {}, http_events rows {}; both sides: {}, {}",
        pct(counted.produced),
        pct(tabled.produced),
        pct(counted_both.produced),
        pct(tabled_both.produced)
    );
    assert_eq!(decoded.produced, replay.records.len() as u64 * rounds as u64, "every record decodes");
    for (f, what) in [
        (&counted, "counted"),
        (&tabled, "rows"),
        (&counted_both, "counted, both sides"),
        (&tabled_both, "rows, both sides"),
    ] {
        assert_eq!(f.produced, all, "records produced ({what}) / exchanges replayed");
    }
}
