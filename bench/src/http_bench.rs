//! nginx under wrk, without and with the agent, in one run. nginx (2
//! workers, its own config in a temp dir, `return 200 "ok\n"`) listens on a
//! loopback port; each round runs, alternating without/with the agent (the
//! order flips every round so drift hits both modes alike):
//!
//! - saturation: `wrk -t2 -c50 -dS` → requests/s each mode and the ratio;
//! - fixed rate: `wrk -t2 -c(RATE/100)` with a Lua `delay()` of 10 ms per
//!   request and connection (Debian's wrk 4.1 has no `-R`) → ~RATE req/s.
//!
//! The agent is started afresh for every "with" run. Each run's requests go
//! to a path with a prefix of their own; after the run the bench waits until
//! the agent's counters stop moving and counts that prefix's rows in
//! `http_events` (SQL through the client API): captured / completed, where
//! completed is wrk's own count (its Lua `done()`). A request wrk sent but
//! had not read the answer to when the duration ran out is recorded by the
//! agent but not counted by wrk, so captured may exceed completed by at most
//! the connection count. Agent CPU comes from /proc/<pid>/stat over the run
//! (until its counters settle, before any query), per 1,000 requests; nginx's
//! CPU (master and workers, where the BPF programs run) and wrk's (its
//! rusage) are shown per 1,000 requests in both modes.
//!
//! Usage (root): http-bench [ROUNDS] [SECONDS] [RATE]
//! Needs nginx and wrk (scripts/setup.sh) and the release agent: `scry` next
//! to this executable, or `SCRY_BIN=/path/to/scry`.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scry_bench::{Agent, cpu_time, free_port, median, other_agents, pids, require_root, scry_bin};
use scry_model::status::AgentStatus;

const THREADS: u32 = 2;
const SATURATION_CONNS: u32 = 50;
/// Per request and connection at the fixed rate: RATE / 100 connections.
const DELAY_MS: u32 = 10;
/// The agent idles this long after start-up, before each run with it.
const IDLE: Duration = Duration::from_secs(2);

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
}

struct Nginx {
    child: Child,
    pids: Vec<u32>,
}

impl Nginx {
    fn start(dir: &Path, port: u16) -> Nginx {
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 2;\n\
                 daemon off;\n\
                 pid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n\
                 \x20   access_log off;\n\
                 \x20   keepalive_requests 100000;\n\
                 \x20   client_body_temp_path {d}/body;\n\
                 \x20   proxy_temp_path {d}/proxy;\n\
                 \x20   fastcgi_temp_path {d}/fastcgi;\n\
                 \x20   uwsgi_temp_path {d}/uwsgi;\n\
                 \x20   scgi_temp_path {d}/scgi;\n\
                 \x20   server {{\n\
                 \x20       listen 127.0.0.1:{port};\n\
                 \x20       location / {{ return 200 \"ok\\n\"; }}\n\
                 \x20   }}\n\
                 }}\n"
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("nginx starts (scripts/setup.sh installs nginx-light)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx is not listening: {}", dir.join("error.log").display());
            std::thread::sleep(Duration::from_millis(20));
        }
        let master = child.id();
        let mut pids = vec![master];
        while pids.len() < 3 {
            assert!(Instant::now() < deadline, "nginx workers did not start");
            std::thread::sleep(Duration::from_millis(20));
            pids = std::iter::once(master).chain(pids_with_parent(master)).collect();
        }
        Nginx { child, pids }
    }

    fn cpu(&self) -> Duration {
        self.pids.iter().map(|&p| cpu_time(p)).sum()
    }
}

fn pids_with_parent(parent: u32) -> Vec<u32> {
    pids().filter(|&p| parent_of(p) == Some(parent)).collect()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The agent, ready once socket tracing is.
fn start_agent(scry: &Path, dir: &Path) -> Agent {
    Agent::start(scry, dir, &[], |s| match (s.sockets.enabled, s.sockets.detail.as_str()) {
        (true, _) => Ok(true),
        (false, "") => Ok(false),
        (false, why) => Err(format!("socket tracing is off: {why}")),
    })
}

/// Until the socket source's events and the HTTP records stop changing.
fn settle(agent: &Agent) -> AgentStatus {
    agent.settle(|s| {
        let events = s.sources.iter().find(|x| x.name == "socket").map_or(0, |x| x.events);
        let http = s.sockets.protocols.iter().find(|p| p.name == "http").map_or(0, |p| p.records);
        (events, http)
    })
}

/// Rows of `http_events` whose path starts with `prefix`, once the count
/// stops growing (or reaches `want`).
fn count(agent: &Agent, prefix: &str, want: u64) -> u64 {
    let count = || {
        let query = format!("SELECT count(*) AS n FROM http_events WHERE starts_with(req_path, '{prefix}')");
        agent.sql(query, 1)[0][0].as_u64().expect("count")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut still) = (count(), 0);
    while last < want && still < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = count();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    last
}

struct WrkRun {
    /// Requests completed, as wrk counts them.
    requests: u64,
    errors: u64,
    seconds: f64,
    /// wrk's own CPU time (its rusage).
    cpu: Duration,
}

impl WrkRun {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Runs wrk against `url`; with `delay_ms`, each connection waits that long
/// before each request.
#[allow(clippy::zombie_processes, reason = "reaped with wait4, which also gives its rusage")]
fn wrk(dir: &Path, url: &str, conns: u32, secs: u32, delay_ms: Option<u32>) -> WrkRun {
    let script = dir.join("bench.lua");
    let delay = delay_ms.map_or(String::new(), |ms| format!("function delay() return {ms} end\n"));
    std::fs::write(
        &script,
        format!(
            "{delay}function done(summary, latency, requests)\n\
             \x20 local e = summary.errors\n\
             \x20 io.write(string.format(\"SCRY requests=%d errors=%d duration_us=%d\\n\", summary.requests,\n\
             \x20   e.connect + e.read + e.write + e.status + e.timeout, summary.duration))\n\
             end\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("wrk")
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(&script)
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("wrk starts (scripts/setup.sh installs it)");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    // Reaped here rather than by Child::wait, to get its rusage.
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointers; the pid is our unreaped child.
    let reaped = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(reaped, child.id() as i32, "wait4 wrk");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "wrk failed:\n{out}");
    let line = out.lines().find(|l| l.starts_with("SCRY ")).unwrap_or_else(|| panic!("no summary from wrk:\n{out}"));
    let field = |name: &str| -> u64 {
        line.split(' ').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok()).expect(name)
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    WrkRun {
        requests: field("requests"),
        errors: field("errors"),
        seconds: field("duration_us") as f64 / 1e6,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}

/// One run with the agent: what it captured and cost.
struct Traced {
    run: WrkRun,
    captured: u64,
    /// Agent CPU from the run's start until its counters settled.
    agent_cpu: Duration,
    /// Agent CPU over [`IDLE`] before the run.
    idle_cpu: Duration,
    nginx_cpu: Duration,
    status: AgentStatus,
}

#[derive(Default)]
struct Mode {
    rates: Vec<f64>,
    requests: u64,
    nginx_cpu: Duration,
    wrk_cpu: Duration,
    errors: u64,
}

impl Mode {
    fn add(&mut self, run: &WrkRun, nginx_cpu: Duration) {
        self.rates.push(run.rate());
        self.requests += run.requests;
        self.errors += run.errors;
        self.nginx_cpu += nginx_cpu;
        self.wrk_cpu += run.cpu;
    }

    fn per_1k(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e3 * 1e3 / self.requests as f64
    }
}

#[derive(Default)]
struct Capture {
    captured: u64,
    completed: u64,
    agent_cpu: Duration,
    agent_seconds: f64,
    idle_cpu: Duration,
    idle_seconds: f64,
    kernel_lost: u64,
    decode_errors: u64,
    skipped_bytes: u64,
    truncated: u64,
    parse_errors: u64,
    unmatched: u64,
    deduplicated: u64,
}

impl Capture {
    fn add(&mut self, t: &Traced) {
        self.captured += t.captured;
        self.completed += t.run.requests;
        self.agent_cpu += t.agent_cpu;
        self.agent_seconds += t.run.seconds;
        self.idle_cpu += t.idle_cpu;
        self.idle_seconds += IDLE.as_secs_f64();
        let socket = t.status.sources.iter().find(|s| s.name == "socket").cloned().unwrap_or_default();
        self.kernel_lost += socket.kernel_lost;
        self.decode_errors += socket.decode_errors;
        let s = &t.status.sockets;
        self.skipped_bytes += s.skipped_bytes;
        self.truncated += s.kernel_truncated;
        self.deduplicated += s.deduplicated;
        if let Some(http) = s.protocols.iter().find(|p| p.name == "http") {
            self.parse_errors += http.parse_errors;
            self.unmatched += http.unmatched;
        }
    }

    fn line(&self) -> String {
        format!(
            "{}/{} ({:.2}%)",
            self.captured,
            self.completed,
            100.0 * self.captured as f64 / self.completed.max(1) as f64
        )
    }

    /// Agent CPU ms per 1,000 requests, and ms per second when idle.
    fn agent_cpu(&self) -> String {
        format!(
            "{:.2} ms per 1k requests, {:.0}% of a core (idle: {:.1} ms/s)",
            self.agent_cpu.as_secs_f64() * 1e6 / self.completed.max(1) as f64,
            100.0 * self.agent_cpu.as_secs_f64() / self.agent_seconds,
            self.idle_cpu.as_secs_f64() * 1e3 / self.idle_seconds
        )
    }

    fn counters(&self) -> String {
        format!(
            "kernel lost {}, decode errors {}, skipped bytes {}, kernel truncated {}, http parse errors {}, \
             unmatched {}, client side deduplicated {}",
            self.kernel_lost,
            self.decode_errors,
            self.skipped_bytes,
            self.truncated,
            self.parse_errors,
            self.unmatched,
            self.deduplicated
        )
    }
}

struct Bench {
    dir: PathBuf,
    scry: PathBuf,
    port: u16,
    secs: u32,
    nonce: u32,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn plain(&self, nginx: &Nginx, conns: u32, delay: Option<u32>) -> (WrkRun, Duration) {
        let cpu0 = nginx.cpu();
        let run = wrk(&self.dir, &self.url("/plain"), conns, self.secs, delay);
        (run, nginx.cpu() - cpu0)
    }

    fn traced(&self, nginx: &Nginx, conns: u32, delay: Option<u32>, prefix: &str) -> Traced {
        let agent = start_agent(&self.scry, &self.dir);
        // Idle first: what the agent costs with no traffic (its drain timers,
        // the rest of its start-up), shown on its own.
        let idle0 = agent.cpu();
        std::thread::sleep(IDLE);
        let (agent0, nginx0) = (agent.cpu(), nginx.cpu());
        let idle_cpu = agent0 - idle0;
        let run = wrk(&self.dir, &self.url(&format!("{prefix}/x")), conns, self.secs, delay);
        let nginx_cpu = nginx.cpu() - nginx0;
        let status = settle(&agent);
        let agent_cpu = agent.cpu() - agent0;
        let captured = count(&agent, prefix, run.requests);
        Traced { run, captured, agent_cpu, idle_cpu, nginx_cpu, status }
    }
}

fn main() {
    require_root("http-bench");
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    let secs: u32 = args.next().map_or(10, |a| a.parse().expect("SECONDS"));
    let rate: u32 = args.next().map_or(10_000, |a| a.parse().expect("RATE"));
    let fixed_conns = (rate * DELAY_MS / 1000).max(THREADS);
    let scry = scry_bin();
    let others = other_agents();
    if !others.is_empty() {
        eprintln!("warning: other agents run and trace the runs without this one's agent too: {others:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nginx = Nginx::start(dir.path(), port);
    let bench = Bench { dir: dir.path().to_owned(), scry, port, secs, nonce: std::process::id() };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    println!(
        "http bench: nginx (2 workers, return 200) on {addr}, wrk -t{THREADS}, {rounds} rounds of {secs} s runs, \
         saturation -c{SATURATION_CONNS}, fixed rate -c{fixed_conns} with delay {DELAY_MS} ms (~{rate} req/s); \
         agent {}",
        bench.scry.display()
    );
    wrk(dir.path(), &bench.url("/warmup"), SATURATION_CONNS, 2, None);

    let (mut sat_off, mut sat_on, mut fix_off, mut fix_on) =
        (Mode::default(), Mode::default(), Mode::default(), Mode::default());
    let (mut sat_cap, mut fix_cap) = (Capture::default(), Capture::default());
    let mut sat_ratios = Vec::new();
    for round in 0..rounds {
        let with_first = round % 2 == 1;
        let tag = |kind: &str| format!("/b{}/r{round}/{kind}", bench.nonce);
        for (conns, delay, off, on, cap, kind) in [
            (SATURATION_CONNS, None, &mut sat_off, &mut sat_on, &mut sat_cap, "sat"),
            (fixed_conns, Some(DELAY_MS), &mut fix_off, &mut fix_on, &mut fix_cap, "fixed"),
        ] {
            let mut plain = None;
            if !with_first {
                plain = Some(bench.plain(&nginx, conns, delay));
            }
            let traced = bench.traced(&nginx, conns, delay, &tag(kind));
            if with_first {
                plain = Some(bench.plain(&nginx, conns, delay));
            }
            let (run, nginx_cpu) = plain.unwrap();
            off.add(&run, nginx_cpu);
            on.add(&traced.run, traced.nginx_cpu);
            cap.add(&traced);
            if kind == "sat" {
                sat_ratios.push(traced.run.rate() / run.rate());
            }
            eprintln!(
                "round {round} {kind:>5}: without {:>8.0} req/s, with {:>8.0} req/s ({:.3}), captured {}/{} \
                 agent CPU {:.0} ms, nginx CPU {:.0}/{:.0} ms without/with",
                run.rate(),
                traced.run.rate(),
                traced.run.rate() / run.rate(),
                traced.captured,
                traced.run.requests,
                traced.agent_cpu.as_secs_f64() * 1e3,
                nginx_cpu.as_secs_f64() * 1e3,
                traced.nginx_cpu.as_secs_f64() * 1e3,
            );
        }
    }

    let (s0, s1) = (median(sat_off.rates.clone()), median(sat_on.rates.clone()));
    let (f0, f1) = (median(fix_off.rates.clone()), median(fix_on.rates.clone()));
    println!("  saturation (wrk -t{THREADS} -c{SATURATION_CONNS}), medians:");
    println!("    without agent          {s0:>9.0} req/s");
    println!(
        "    with agent             {s1:>9.0} req/s   ratio {:.3} (median of per-round ratios {:.3}; target ≥ 0.95)",
        s1 / s0,
        median(sat_ratios)
    );
    println!("    captured / completed   {}", sat_cap.line());
    println!("    agent CPU              {}", sat_cap.agent_cpu());
    println!(
        "    nginx CPU              {:.2} ms per 1k requests without, {:.2} ms with",
        sat_off.per_1k(sat_off.nginx_cpu),
        sat_on.per_1k(sat_on.nginx_cpu)
    );
    println!(
        "    wrk CPU                {:.2} ms per 1k requests without, {:.2} ms with",
        sat_off.per_1k(sat_off.wrk_cpu),
        sat_on.per_1k(sat_on.wrk_cpu)
    );
    println!("    agent counters         {}", sat_cap.counters());
    println!("  fixed rate (wrk -t{THREADS} -c{fixed_conns}, delay {DELAY_MS} ms), medians:");
    println!("    without agent          {f0:>9.0} req/s");
    println!("    with agent             {f1:>9.0} req/s");
    println!("    captured / completed   {}", fix_cap.line());
    println!("    agent CPU              {}", fix_cap.agent_cpu());
    println!(
        "    nginx CPU              {:.2} ms per 1k requests without, {:.2} ms with (BPF programs run in its syscalls)",
        fix_off.per_1k(fix_off.nginx_cpu),
        fix_on.per_1k(fix_on.nginx_cpu)
    );
    println!(
        "    wrk CPU                {:.2} ms per 1k requests without, {:.2} ms with",
        fix_off.per_1k(fix_off.wrk_cpu),
        fix_on.per_1k(fix_on.wrk_cpu)
    );
    println!("    agent counters         {}", fix_cap.counters());
    let errors = sat_off.errors + sat_on.errors + fix_off.errors + fix_on.errors;
    if errors > 0 {
        println!("  wrk errors: {errors}");
    }
}
