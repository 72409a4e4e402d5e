//! Network flows under load, without and with the agent, in one run. Each
//! round runs three workloads on loopback, each without and with the agent
//! (the order flips every round so drift hits both modes alike):
//!
//! - connection storm: CONNECTIONS connections as fast as 2 client threads
//!   go, each connect → write 4 bytes → read the 4-byte reply → close →
//!   connections/s each mode and the ratio;
//! - fixed rate: RATE (5,000) connections/s for SECONDS, each of the 2
//!   client threads sleeping to a schedule (connection i starts i/RATE s
//!   after the first) → the rate achieved each mode;
//! - throughput: `iperf3 -s -1 -p PORT` and `iperf3 -c 127.0.0.1 -p PORT
//!   -t SECONDS -J` (one stream) → Gbit/s received each mode and the ratio.
//!
//! The server of the connection workloads is 2 threads of this process
//! accepting on one listener (read 4 bytes, reply, close). Threads rather
//! than a process: the BPF programs run in the kernel inside the client's
//! and the server's syscalls, so this process's CPU (from /proc, client and
//! server together) per 1,000 connections is the cost they add to the
//! workload; a separate server process would split that figure in two and
//! add nothing else. Every run listens on a port of its own, so runs' flows
//! never mix.
//!
//! The agent (`--kubernetes off --metrics-addr off`, socket tracing on as
//! by default) is started afresh for every "with" run and idles 2 s first.
//! After the run the bench waits until the agent's counters stop moving and
//! counts, in `network_flows` (SQL through the client API), the SYN flows to
//! the run's server port (`protocol` `tcp`, `tcp_flags` `SYN`, not
//! `SYN,ACK`), by client port. Captured = connections whose client SYN
//! (`EGRESS`, the client socket's) is a flow / connections made, matching
//! each client port's flows to the connections that used it: a port is used
//! again within a run once the ephemeral range wraps (a 15,000-connection
//! run used ~9,900 ports), so distinct ports alone would undercount.
//! Distinct ports seen / used, and the server side (`INGRESS`, the
//! listening socket's), are shown too. For iperf3: its 2 connections
//! (control and stream) and the bytes the flows counted on the receiving
//! socket (IP and TCP headers included) / the bytes iperf3 received. Agent
//! CPU comes from /proc/<pid>/stat over the run (until its counters settle,
//! before any query). Losses: the flow source's kernel_lost and decode
//! errors, the L7 queue's and followers' drops from `scry status`, and the
//! rows `network_flows` evicted.
//!
//! Store budget: a connection makes 10 flow rows (SYN, SYN-ACK and FIN each
//! way, seen by both sockets, and each socket's close record), ~2.7 KB of
//! the table's budget (measured). The default `--store-size-mb 1280` gives `network_flows`
//! (1280 × 0.6 − 10) / 7 ≈ 108 MiB, shared with the rest of the node's
//! traffic: too tight for a 25,000-connection run to be sure nothing is
//! evicted before counting. So the agent runs with `--store-size-mb` raised
//! until the table has 10 KB per connection of the largest run (at least
//! the default): 2,805 MiB with the default arguments — a bound on what the
//! tables may hold, not memory taken up front. Eviction is reported all the
//! same.
//!
//! Usage (root): flow-bench [ROUNDS] [CONNECTIONS] [SECONDS]
//! (defaults 3, 10,000, 5). Needs iperf3 (scripts/setup.sh) and the release
//! agent: `scry` next to this executable, or `SCRY_BIN=/path/to/scry`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scry_bench::{Agent, cpu_time, free_port, median, other_agents, require_root, scry_bin};
use scry_model::status::{AgentStatus, SourceStatus};
use scry_store::TableStats;
use serde_json::Value;

/// Client threads, and the server's accepting threads.
const THREADS: usize = 2;
/// Connections per second in the fixed-rate runs: the target.
const RATE: u32 = 5_000;
/// The agent idles this long after start-up, before each run with it.
const IDLE: Duration = Duration::from_secs(2);
const REQUEST: &[u8; 4] = b"ping";
const REPLY: &[u8; 4] = b"pong";
/// `network_flows` bytes a connection takes, with room to spare (measured:
/// 10 rows, ~2.7 KB; the rest of the node's traffic shares the table).
const TABLE_BYTES_PER_CONNECTION: u64 = 10_000;
/// The agent's default `--store-size-mb`.
const DEFAULT_STORE_MB: u64 = 1280;
const IPERF3: &str = "iperf3";
/// iperf3's connections to its server: control and one stream.
const IPERF3_CONNECTIONS: u64 = 2;

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// The `--store-size-mb` that gives `network_flows` (an equal share of what
/// is left after 40 % for `http_events` and 10 MiB for `proc_exit_events`,
/// over 7 tables) room for `connections`, at least the default.
fn store_mb(connections: u64) -> u64 {
    let table_mb = (connections * TABLE_BYTES_PER_CONNECTION).div_ceil(1 << 20);
    ((table_mb * 7 + 10) * 10).div_ceil(6).max(DEFAULT_STORE_MB)
}

/// The accept-and-reply server: threads of this process on a listener of
/// its own (a fresh port for every run).
struct Server {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let threads = (0..THREADS)
            .map(|_| {
                let listener = listener.try_clone().unwrap();
                let (stop, errors) = (stop.clone(), errors.clone());
                std::thread::spawn(move || {
                    loop {
                        match listener.accept() {
                            Ok((mut s, _)) => {
                                let mut buf = [0u8; REQUEST.len()];
                                if s.read_exact(&mut buf).and_then(|()| s.write_all(REPLY)).is_err() {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) if stop.load(Ordering::Relaxed) => break,
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                })
            })
            .collect();
        Server { listener, stop, errors, threads }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Stops accepting (on Linux, shutting a listener down fails the accept
    /// calls waiting on it, so no wake-up connection joins the run's flows)
    /// and returns the server's errors.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        // SAFETY: shutdown has no memory-safety preconditions; the fd is open.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        for t in self.threads {
            t.join().expect("server thread");
        }
        self.errors.load(Ordering::Relaxed)
    }
}

/// One connection: its client port once connected, and whether the
/// exchange went through.
fn connection(port: u16) -> (Option<u16>, bool) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (None, false) };
    let local = s.local_addr().ok().map(|a| a.port());
    let mut buf = [0u8; REPLY.len()];
    let ok = s.write_all(REQUEST).and_then(|()| s.read_exact(&mut buf)).is_ok() && &buf == REPLY;
    (local, ok)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// CONNECTIONS connections as fast as they go.
    Storm,
    /// RATE connections/s for SECONDS.
    Fixed,
    /// iperf3 for SECONDS.
    Iperf,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Storm => "storm",
            Work::Fixed => "fixed",
            Work::Iperf => "iperf",
        }
    }
}

/// One run of a workload.
struct Run {
    /// The server's port, this run's alone.
    port: u16,
    /// Connections made (iperf3: its control and stream connections).
    connections: u64,
    /// Distinct client ports those connections used.
    ports: u64,
    /// Connections by client port: a port is used again once free (the
    /// server closes first, so the client's side does not linger in
    /// TIME_WAIT), after a wrap of the ephemeral range.
    uses: HashMap<u16, u64>,
    errors: u64,
    seconds: f64,
    /// Connections/s, or for iperf3 bits/s received.
    rate: f64,
    /// Bytes iperf3 received; zero for the connection workloads.
    bytes: u64,
    /// This process's CPU (client and server threads) over the run; zero for iperf3.
    cpu: Duration,
}

/// `total` connections to a fresh server from [`THREADS`] threads; with
/// `rate`, connection i starts i/rate seconds after the first (sleeping to
/// that schedule, catching up without sleeping when behind).
fn connections(total: u64, rate: Option<u32>) -> Run {
    let server = Server::start();
    let port = server.port();
    let cpu0 = cpu_time(std::process::id());
    let start = Instant::now();
    let per_thread: Vec<(Vec<u16>, u64)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                s.spawn(move || {
                    let (mut ports, mut errors) = (Vec::new(), 0u64);
                    for i in (t..total).step_by(THREADS) {
                        if let Some(rate) = rate {
                            let due = start + Duration::from_nanos(i * 1_000_000_000 / u64::from(rate));
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                        }
                        let (port, ok) = connection(port);
                        ports.extend(port);
                        errors += u64::from(!ok);
                    }
                    (ports, errors)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("client thread")).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_time(std::process::id()) - cpu0;
    let server_errors = server.stop();
    let connections: u64 = per_thread.iter().map(|(p, _)| p.len() as u64).sum();
    let mut uses = HashMap::new();
    for &p in per_thread.iter().flat_map(|(p, _)| p) {
        *uses.entry(p).or_default() += 1;
    }
    Run {
        port,
        connections,
        ports: uses.len() as u64,
        uses,
        errors: per_thread.iter().map(|(_, e)| e).sum::<u64>() + server_errors,
        seconds,
        rate: connections as f64 / seconds,
        bytes: 0,
        cpu,
    }
}

/// Whether something listens on TCP `port` (IPv4 or IPv6), from /proc;
/// connecting to find out would be iperf3's one test.
fn listening(port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f).unwrap_or_default().lines().skip(1).any(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&suffix) && fields[3] == "0A"
        })
    })
}

struct Iperf3Server(Child);

impl Drop for Iperf3Server {
    fn drop(&mut self) {
        // `-1`: it ends after its one test; a failed run may leave it waiting.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.0.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An iperf3 test of `secs` seconds (one stream) against a fresh server.
fn iperf3(secs: u32) -> Run {
    let port = free_port();
    let server = Iperf3Server(
        Command::new(IPERF3)
            .args(["-s", "-1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("iperf3 starts (scripts/setup.sh installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "iperf3 -s is not listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(IPERF3)
        .args(["-c", "127.0.0.1", "-p", &port.to_string(), "-t", &secs.to_string(), "-J"])
        .stdin(Stdio::null())
        .output()
        .expect("iperf3 -c runs");
    drop(server);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "iperf3 -c failed:\n{text}");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("iperf3 -J output: {e}\n{text}"));
    let received = &json["end"]["sum_received"];
    let field = |name: &str| received[name].as_f64().unwrap_or_else(|| panic!("no end.sum_received.{name}:\n{text}"));
    Run {
        port,
        connections: IPERF3_CONNECTIONS,
        ports: IPERF3_CONNECTIONS,
        uses: HashMap::new(),
        errors: 0,
        seconds: field("seconds"),
        rate: field("bits_per_second"),
        bytes: field("bytes") as u64,
        cpu: Duration::ZERO,
    }
}

/// One side's SYN flows to a server port, from `network_flows`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Syns {
    rows: u64,
    /// Distinct client ports.
    ports: u64,
    /// Connections with a SYN flow: for each client port, its flows up to
    /// the connections that used it (for iperf3, whose ports the bench does
    /// not know, the distinct ports).
    matched: u64,
}

/// The SYN flows of one run's connections, both sides.
#[derive(Default)]
struct SynFlows {
    /// The client sockets' SYNs leaving (`EGRESS`).
    client: Syns,
    /// The listening socket's SYNs arriving (`INGRESS`).
    server: Syns,
}

/// The agent with room for the run's flows, ready once flows are.
fn start_agent(scry: &Path, dir: &Path, store_mb: u64) -> Agent {
    Agent::start(scry, dir, &["--store-size-mb".to_owned(), store_mb.to_string()], |s| {
        match (s.flows.enabled, s.flows.detail.as_str()) {
            (true, _) => Ok(true),
            (false, "") => Ok(false),
            (false, why) => Err(format!("network flows are off: {why}")),
        }
    })
}

/// Until the flow source's records and the flows made stop changing.
fn settle(agent: &Agent) -> AgentStatus {
    agent.settle(|s| (net_source(s).events, s.flows.seen))
}

/// The SYN flows (`tcp_flags` `SYN`, not `SYN,ACK`) to `run`'s server
/// port, once the client side's stop growing (or cover every connection).
fn syn_flows(agent: &Agent, run: &Run) -> SynFlows {
    let count = || {
        let rows = agent.sql(
            format!(
                "SELECT traffic_direction, src_port, count(*) AS n FROM network_flows \
                 WHERE protocol = 'tcp' AND dst_port = {} AND starts_with(tcp_flags, 'SYN') \
                 AND NOT starts_with(tcp_flags, 'SYN,ACK') GROUP BY traffic_direction, src_port",
                run.port
            ),
            2 * run.ports as usize + 16,
        );
        let mut f = SynFlows::default();
        for row in rows {
            let side = match row[0].as_str() {
                Some("EGRESS") => &mut f.client,
                Some("INGRESS") => &mut f.server,
                _ => continue,
            };
            let port = row[1].as_u64().and_then(|p| u16::try_from(p).ok()).expect("src_port");
            let n = row[2].as_u64().expect("count");
            side.rows += n;
            side.ports += 1;
            side.matched += if run.uses.is_empty() { 1 } else { n.min(run.uses.get(&port).copied().unwrap_or(0)) };
        }
        f
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut still) = (count(), 0);
    while last.client.matched < run.connections && still < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = count();
        still = if now.client == last.client { still + 1 } else { 0 };
        last = now;
    }
    last
}

/// The most bytes a socket of a connection to `port` counted as
/// received: for iperf3, its server's stream socket.
fn received_bytes(agent: &Agent, port: u16) -> u64 {
    let rows = agent.sql(
        format!(
            "SELECT max(bytes_recv) FROM network_flows WHERE protocol = 'tcp' \
             AND (dst_port = {port} OR src_port = {port})"
        ),
        1,
    );
    rows.first().and_then(|r| r[0].as_u64()).unwrap_or(0)
}

fn flow_table(agent: &Agent) -> TableStats {
    let tables = agent.rt.block_on(agent.client.tables()).expect("tables");
    tables.into_iter().find(|t| t.stats.name == "network_flows").map(|t| t.stats).expect("network_flows table")
}

fn net_source(s: &AgentStatus) -> SourceStatus {
    s.sources.iter().find(|x| x.name == "net").cloned().unwrap_or_default()
}

/// One run with the agent: what it captured and cost.
struct Traced {
    run: Run,
    flows: SynFlows,
    /// For iperf3: [`Agent::received_bytes`].
    flow_bytes: u64,
    /// Agent CPU from the run's start until its counters settled.
    agent_cpu: Duration,
    /// Agent CPU over [`IDLE`] before the run.
    idle_cpu: Duration,
    status: AgentStatus,
    table: TableStats,
}

/// One mode's runs of one workload.
#[derive(Default)]
struct Mode {
    rates: Vec<f64>,
    connections: u64,
    cpu: Duration,
    errors: u64,
}

impl Mode {
    fn add(&mut self, run: &Run) {
        self.rates.push(run.rate);
        self.connections += run.connections;
        self.cpu += run.cpu;
        self.errors += run.errors;
    }

    /// This process's CPU ms per 1,000 connections.
    fn per_1k(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.connections.max(1) as f64
    }

    fn median(&self) -> f64 {
        median(self.rates.clone())
    }
}

/// What the agent captured and cost over one workload's "with" runs.
#[derive(Default)]
struct Capture {
    connections: u64,
    ports: u64,
    client: Syns,
    server: Syns,
    received: u64,
    flow_bytes: u64,
    agent_cpu: Duration,
    agent_seconds: f64,
    idle_cpu: Duration,
    idle_seconds: f64,
    kernel_lost: u64,
    decode_errors: u64,
    l7_dropped: u64,
    follower_dropped: u64,
    evicted_rows: u64,
    table_rows: u64,
    table_bytes: u64,
    ring_peak: u64,
    ring_size: u64,
}

impl Capture {
    fn add(&mut self, t: &Traced) {
        self.connections += t.run.connections;
        self.ports += t.run.ports;
        for (sum, run) in [(&mut self.client, t.flows.client), (&mut self.server, t.flows.server)] {
            sum.rows += run.rows;
            sum.ports += run.ports;
            sum.matched += run.matched;
        }
        self.received += t.run.bytes;
        self.flow_bytes += t.flow_bytes;
        self.agent_cpu += t.agent_cpu;
        self.agent_seconds += t.run.seconds;
        self.idle_cpu += t.idle_cpu;
        self.idle_seconds += IDLE.as_secs_f64();
        let net = net_source(&t.status);
        self.kernel_lost += net.kernel_lost;
        self.decode_errors += net.decode_errors;
        self.l7_dropped += t.status.flows.l7_dropped;
        self.follower_dropped += t.status.flows.follower_dropped;
        self.evicted_rows += t.table.evicted_rows;
        self.table_rows = self.table_rows.max(t.table.rows);
        self.table_bytes = self.table_bytes.max(t.table.bytes);
        self.ring_peak = self.ring_peak.max(net.ring_peak_used_bytes);
        self.ring_size = net.ring_size_bytes;
    }

    fn complete(&self) -> bool {
        self.connections > 0 && self.client.matched == self.connections
    }

    /// Connections whose client SYN is a flow.
    fn captured(&self) -> String {
        format!(
            "{}/{} connections ({:.2}%) as client SYN flows",
            self.client.matched,
            self.connections,
            pct(self.client.matched, self.connections)
        )
    }

    fn detail(&self) -> String {
        format!(
            "distinct client ports {}/{} ({:.2}%), {} client SYN rows; server side {}/{} connections ({:.2}%), \
             {} rows",
            self.client.ports,
            self.ports,
            pct(self.client.ports, self.ports),
            self.client.rows,
            self.server.matched,
            self.connections,
            pct(self.server.matched, self.connections),
            self.server.rows
        )
    }

    /// Agent CPU ms per 1,000 connections, and ms per second when idle.
    fn agent_cpu(&self) -> String {
        format!(
            "{:.2} ms per 1k connections, {:.0}% of a core (idle: {:.1} ms/s)",
            self.agent_cpu.as_secs_f64() * 1e6 / self.connections.max(1) as f64,
            100.0 * self.agent_cpu.as_secs_f64() / self.agent_seconds,
            self.idle_cpu.as_secs_f64() * 1e3 / self.idle_seconds
        )
    }

    fn counters(&self) -> String {
        format!(
            "kernel lost {}, decode errors {}, L7 dropped {}, follower dropped {}, network_flows evicted {} rows \
             (largest {} rows, {:.1} MiB), ring peak {} KiB of {} KiB",
            self.kernel_lost,
            self.decode_errors,
            self.l7_dropped,
            self.follower_dropped,
            self.evicted_rows,
            self.table_rows,
            self.table_bytes as f64 / f64::from(1 << 20),
            self.ring_peak >> 10,
            self.ring_size >> 10
        )
    }
}

struct Bench {
    dir: PathBuf,
    scry: PathBuf,
    connections: u64,
    secs: u32,
    store_mb: u64,
}

impl Bench {
    fn run(&self, work: Work) -> Run {
        match work {
            Work::Storm => connections(self.connections, None),
            Work::Fixed => connections(u64::from(RATE) * u64::from(self.secs), Some(RATE)),
            Work::Iperf => iperf3(self.secs),
        }
    }

    fn traced(&self, work: Work) -> Traced {
        let agent = start_agent(&self.scry, &self.dir, self.store_mb);
        // Idle first: what the agent costs with no traffic, shown on its own.
        let idle0 = agent.cpu();
        std::thread::sleep(IDLE);
        let agent0 = agent.cpu();
        let run = self.run(work);
        let status = settle(&agent);
        let agent_cpu = agent.cpu() - agent0;
        let flows = syn_flows(&agent, &run);
        let flow_bytes = if work == Work::Iperf { received_bytes(&agent, run.port) } else { 0 };
        let table = flow_table(&agent);
        Traced { run, flows, flow_bytes, agent_cpu, idle_cpu: agent0 - idle0, status, table }
    }
}

fn main() {
    require_root("flow-bench");
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    let conns: u64 = args.next().map_or(10_000, |a| a.parse().expect("CONNECTIONS"));
    let secs: u32 = args.next().map_or(5, |a| a.parse().expect("SECONDS"));
    assert!(rounds > 0 && conns > 0 && secs > 0, "ROUNDS, CONNECTIONS and SECONDS must be positive");
    let scry = scry_bin();
    let others = other_agents();
    if !others.is_empty() {
        eprintln!("warning: other agents run and see the runs without this one's agent too: {others:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let store_mb = store_mb(conns.max(u64::from(RATE) * u64::from(secs)));
    let bench = Bench { dir: dir.path().to_owned(), scry, connections: conns, secs, store_mb };
    println!(
        "flow bench: loopback, {rounds} rounds; storm: {conns} connections from {THREADS} threads; fixed rate: \
         {RATE} connections/s for {secs} s; iperf3 -t {secs}; agent {} --store-size-mb {store_mb}",
        bench.scry.display()
    );
    connections(2_000, None);

    let works = [Work::Storm, Work::Fixed, Work::Iperf];
    let mut off: Vec<Mode> = works.iter().map(|_| Mode::default()).collect();
    let mut on: Vec<Mode> = works.iter().map(|_| Mode::default()).collect();
    let mut cap: Vec<Capture> = works.iter().map(|_| Capture::default()).collect();
    let mut ratios: Vec<Vec<f64>> = works.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let with_first = round % 2 == 1;
        for (w, &work) in works.iter().enumerate() {
            let mut plain = None;
            if !with_first {
                plain = Some(bench.run(work));
            }
            let traced = bench.traced(work);
            if with_first {
                plain = Some(bench.run(work));
            }
            let run = plain.unwrap();
            off[w].add(&run);
            on[w].add(&traced.run);
            cap[w].add(&traced);
            let ratio = traced.run.rate / run.rate;
            ratios[w].push(ratio);
            let f = &traced.flows;
            let agent_ms = traced.agent_cpu.as_secs_f64() * 1e3;
            if work == Work::Iperf {
                eprintln!(
                    "round {round} {:>5}: without {:>7.2} Gbit/s, with {:>7.2} Gbit/s ({ratio:.3}), connections \
                     {}/{}, bytes in flows / received {:.4}, agent CPU {agent_ms:.0} ms",
                    work.name(),
                    run.rate / 1e9,
                    traced.run.rate / 1e9,
                    f.client.matched,
                    traced.run.connections,
                    traced.flow_bytes as f64 / traced.run.bytes.max(1) as f64,
                );
            } else {
                eprintln!(
                    "round {round} {:>5}: without {:>6.0} conn/s, with {:>6.0} conn/s ({ratio:.3}), captured {}/{} \
                     (server side {}; {} ports), agent CPU {agent_ms:.0} ms, bench CPU {:.0}/{:.0} ms without/with, \
                     table {} rows {:.1} MiB",
                    work.name(),
                    run.rate,
                    traced.run.rate,
                    f.client.matched,
                    traced.run.connections,
                    f.server.matched,
                    traced.run.ports,
                    run.cpu.as_secs_f64() * 1e3,
                    traced.run.cpu.as_secs_f64() * 1e3,
                    traced.table.rows,
                    traced.table.bytes as f64 / f64::from(1 << 20),
                );
            }
        }
    }

    let [storm, fixed, iperf] = [0, 1, 2];
    let (s0, s1) = (off[storm].median(), on[storm].median());
    println!("  connection storm ({conns} connections, {THREADS} client threads), medians:");
    println!("    without agent          {s0:>9.0} connections/s");
    println!(
        "    with agent             {s1:>9.0} connections/s   ratio {:.3} (median of per-round ratios {:.3})",
        s1 / s0,
        median(ratios[storm].clone())
    );
    println!("    captured               {}", cap[storm].captured());
    println!("                           {}", cap[storm].detail());
    println!("    agent CPU              {}", cap[storm].agent_cpu());
    println!(
        "    bench CPU              {:.2} ms per 1k connections without, {:.2} with (client and server; the BPF \
         programs run in their syscalls)",
        off[storm].per_1k(),
        on[storm].per_1k()
    );
    println!("    agent counters         {}", cap[storm].counters());
    let (f0, f1) = (off[fixed].median(), on[fixed].median());
    println!("  fixed rate ({RATE} connections/s for {secs} s), medians:");
    println!("    without agent          {f0:>9.0} connections/s");
    println!("    with agent             {f1:>9.0} connections/s");
    println!("    captured               {}", cap[fixed].captured());
    println!("                           {}", cap[fixed].detail());
    println!("    agent CPU              {}", cap[fixed].agent_cpu());
    println!(
        "    bench CPU              {:.2} ms per 1k connections without, {:.2} with",
        off[fixed].per_1k(),
        on[fixed].per_1k()
    );
    println!("    agent counters         {}", cap[fixed].counters());
    let (i0, i1) = (off[iperf].median() / 1e9, on[iperf].median() / 1e9);
    let iperf_ratio = median(ratios[iperf].clone());
    println!("  throughput (iperf3 -t {secs}, 1 stream), medians:");
    println!("    without agent          {i0:>9.2} Gbit/s");
    println!(
        "    with agent             {i1:>9.2} Gbit/s   ratio {:.3} (median of per-round ratios {iperf_ratio:.3})",
        i1 / i0
    );
    let c = &cap[iperf];
    println!(
        "    flows                  {}/{} connections, bytes in flows / received {:.4}",
        c.client.matched,
        c.connections,
        c.flow_bytes as f64 / c.received.max(1) as f64
    );
    println!(
        "    agent CPU              {:.0}% of a core (idle: {:.1} ms/s)",
        100.0 * c.agent_cpu.as_secs_f64() / c.agent_seconds,
        c.idle_cpu.as_secs_f64() * 1e3 / c.idle_seconds
    );
    println!("    agent counters         {}", c.counters());
    let met = [
        (cap[storm].complete() && cap[fixed].complete(), "100% of connections as flows".to_owned()),
        (s1 >= f64::from(RATE), format!("storm with the agent ≥ {RATE} connections/s ({s1:.0})")),
        (f1 >= 0.99 * f64::from(RATE), format!("fixed rate achieved with the agent ({f1:.0}/s)")),
        (iperf_ratio >= 0.97, format!("throughput ratio ≥ 0.97 ({iperf_ratio:.3})")),
    ];
    let failed: Vec<&str> = met.iter().filter(|(ok, _)| !ok).map(|(_, what)| what.as_str()).collect();
    if failed.is_empty() {
        println!("  target met: 100% of connections as flows at ≥ {RATE} connections/s, throughput ratio ≥ 0.97");
    } else {
        println!("  target NOT met: {}", failed.join("; "));
    }
    let errors: u64 = off.iter().chain(&on).map(|m| m.errors).sum();
    if errors > 0 {
        println!("  connection errors: {errors}");
    }
    if cap.iter().any(|c| c.evicted_rows > 0) {
        println!("  network_flows evicted rows: captured counts may be low; raise TABLE_BYTES_PER_CONNECTION");
    }
}
