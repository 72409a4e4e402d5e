//! Policy filtering cost: two storms, each run with and without the agent
//! in one run (cases in an order rotating every round, so drift hits each
//! alike; medians):
//!
//! - an open() storm — 2 threads each calling openat("/dev/null") and
//!   close() — with no agent; the agent without policies (its socket
//!   tracer's syscall hooks still run); the agent with a policy that hooks
//!   openat and is evaluated in the kernel on every call but never triggers
//!   (matchArgs on the flags with a value nobody passes, matchBinaries In
//!   [/usr/bin/curl], Sigkill); the agent with a path policy evaluated on
//!   every call (the file name, read from the caller's memory each time,
//!   Prefix /etc/shadow, any binary, Sigkill); and the same three with the
//!   agent running runtime security alone (`--socket-tracing off --flows
//!   off`: no syscall tracepoints but the policy's, no per-packet work);
//! - a connect() storm — 2 threads each connecting to a loopback listener,
//!   reading the byte the acceptor (a third thread) sends, and closing
//!   (with an RST: no TIME_WAIT to exhaust ports) — with no agent; the agent; the agent with a `tcp_connect`
//!   policy evaluated on every connection that never triggers (DAddr
//!   10.99.0.0/16, Sigkill); and the same two with runtime security alone.
//!
//! Prints each case's rate, its ratio to no agent (the target: ≤
//! 1.05 slowdown for in-kernel-filtered policies), each policy's own cost
//! per call against the agent alone, and the events policies posted (must
//! be 0: nothing triggers).
//!
//! Usage (root): policy-bench [ROUNDS] [SECONDS]  (defaults 5, 3). Needs the
//! release agent: `scry` next to this executable, or `SCRY_BIN=/path/to/scry`.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scry_bench::{Agent, median, require_root, scry_bin};

const THREADS: usize = 2;

/// Flags nobody passes: the selector is evaluated and never matches.
const NEVER_FLAGS: u32 = 0x7eadbeef;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Storm {
    Open,
    Connect,
}

impl Storm {
    fn unit(self) -> &'static str {
        match self {
            Storm::Open => "opens/s",
            Storm::Connect => "connects/s",
        }
    }

    fn call(self) -> &'static str {
        match self {
            Storm::Open => "openat+close",
            Storm::Connect => "connect+close",
        }
    }
}

/// One way of running a storm.
struct Case {
    storm: Storm,
    name: &'static str,
    /// None: no agent.
    agent: Option<AgentSetup>,
}

#[derive(Clone, Copy)]
struct AgentSetup {
    /// `--socket-tracing off --flows off`: runtime security alone.
    security_only: bool,
    policy: Option<Policy>,
}

#[derive(Clone, Copy)]
enum Policy {
    /// sys_openat, flags Equal NEVER_FLAGS, matchBinaries In curl.
    OpenBinary,
    /// sys_openat, path Prefix /etc/shadow.
    OpenPath,
    /// tcp_connect, DAddr 10.99.0.0/16.
    Connect,
}

impl Policy {
    fn yaml(self) -> String {
        let head = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bench\nspec:\n  kprobes:\n";
        let body = match self {
            Policy::OpenBinary => format!(
                "  - call: sys_openat\n    syscall: true\n    args:\n    - index: 2\n      type: int\n    selectors:\n    \
                 - matchArgs:\n      - index: 2\n        operator: Equal\n        values: [\"{NEVER_FLAGS}\"]\n      \
                 matchBinaries:\n      - operator: In\n        values: [\"/usr/bin/curl\"]\n      matchActions:\n      \
                 - action: Sigkill\n"
            ),
            Policy::OpenPath => {
                "  - call: sys_openat\n    syscall: true\n    args:\n    - index: 1\n      type: string\n    \
                                 selectors:\n    - matchArgs:\n      - index: 1\n        operator: Prefix\n        \
                                 values: [\"/etc/shadow\"]\n      matchActions:\n      - action: Sigkill\n"
                    .to_owned()
            }
            Policy::Connect => {
                "  - call: tcp_connect\n    syscall: false\n    args:\n    - index: 0\n      type: sock\n    \
                                selectors:\n    - matchArgs:\n      - index: 0\n        operator: DAddr\n        \
                                values: [\"10.99.0.0/16\"]\n      matchActions:\n      - action: Sigkill\n"
                    .to_owned()
            }
        };
        format!("{head}{body}")
    }
}

/// THREADS threads calling `op` in batches for `seconds`: calls per second.
fn run_threads(seconds: u64, op: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        op();
                    }
                    n += 64;
                }
                ops.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    ops.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn open_storm(seconds: u64) -> f64 {
    let path = CString::new("/dev/null").unwrap();
    run_threads(seconds, || {
        // SAFETY: a valid C string; the fd is closed right away.
        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "openat /dev/null");
        // SAFETY: fd was just opened by this thread.
        unsafe { libc::close(fd) };
    })
}

/// Connects per second (each connect() succeeding: nothing was refused,
/// and a kill would end the bench).
fn connect_storm(seconds: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let (mut conn, _) = listener.accept().expect("accept");
                // One byte the client waits for: a client connects again
                // only once accepted, so the accept queue never overflows
                // (a dropped SYN would wait a second to be retried).
                let _ = conn.write_all(b"!");
                // Reads the client's RST so the socket is gone at once.
                let _ = conn.read(&mut [0; 1]);
            }
        });
        let rate = run_threads(seconds, || {
            let mut stream = TcpStream::connect(addr).expect("connect to the loopback listener");
            stream.read_exact(&mut [0; 1]).expect("the acceptor's byte");
            // Linger 0: close sends an RST, so no TIME_WAIT holds the port.
            let linger = libc::linger { l_onoff: 1, l_linger: 0 };
            // SAFETY: a valid socket and option of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "SO_LINGER");
        });
        done.store(true, Ordering::Release);
        // Wakes the acceptor to see `done`.
        drop(TcpStream::connect(addr).expect("the acceptor's last connection"));
        rate
    })
}

/// The agent as `setup` says; it idles 2 s so start-up work (BPF loads, the
/// /proc scan) is over.
fn start_agent(scry: &Path, dir: &Path, setup: AgentSetup) -> Agent {
    let mut extra = Vec::new();
    if setup.security_only {
        extra.extend(["--socket-tracing", "off", "--flows", "off"].map(str::to_owned));
    }
    let policies = dir.join("policies");
    let _ = std::fs::remove_dir_all(&policies);
    if let Some(policy) = setup.policy {
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(policies.join("bench.yaml"), policy.yaml()).unwrap();
        extra.extend(["--policy-dir".to_owned(), policies.display().to_string()]);
    }
    let agent = Agent::start(scry, dir, &extra, |_| Ok(true));
    if setup.policy.is_some() {
        let loaded = agent.rt.block_on(agent.client.policies()).unwrap();
        assert_eq!(loaded.len(), 1, "the bench policy loads: {loaded:?}");
    }
    std::thread::sleep(Duration::from_secs(2));
    agent
}

/// Events and signals the policies' hooks produced.
fn policy_counts(agent: &Agent) -> (u64, u64) {
    let list = agent.rt.block_on(agent.client.policies()).unwrap();
    list.iter().fold((0, 0), |(e, s), p| (e + p.events, s + p.signals))
}

/// The agent running runtime security alone.
const SECURITY: &str = "runtime security only";

fn cases() -> Vec<Case> {
    let agent = |security_only, policy| Some(AgentSetup { security_only, policy });
    let case = |storm, name, agent| Case { storm, name, agent };
    vec![
        case(Storm::Open, "no agent", None),
        case(Storm::Open, "agent", agent(false, None)),
        case(Storm::Open, "agent + binary-scoped policy", agent(false, Some(Policy::OpenBinary))),
        case(Storm::Open, "agent + path policy", agent(false, Some(Policy::OpenPath))),
        case(Storm::Open, SECURITY, agent(true, None)),
        case(Storm::Open, "runtime security only + binary-scoped policy", agent(true, Some(Policy::OpenBinary))),
        case(Storm::Open, "runtime security only + path policy", agent(true, Some(Policy::OpenPath))),
        case(Storm::Connect, "no agent", None),
        case(Storm::Connect, "agent", agent(false, None)),
        case(Storm::Connect, "agent + tcp_connect policy", agent(false, Some(Policy::Connect))),
        case(Storm::Connect, SECURITY, agent(true, None)),
        case(Storm::Connect, "runtime security only + tcp_connect policy", agent(true, Some(Policy::Connect))),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    require_root("policy-bench");
    let scry = scry_bin();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "policy bench: openat+close and connect+close storms, {THREADS} threads, {seconds} s per run, {rounds} rounds; \
         agent {}",
        scry.display()
    );
    let cases = cases();
    let mut rates = vec![Vec::new(); cases.len()];
    let (mut posted, mut signals) = (0, 0);
    for round in 0..rounds {
        for i in (0..cases.len()).map(|i| (i + round) % cases.len()) {
            let case = &cases[i];
            let run = || match case.storm {
                Storm::Open => open_storm(seconds),
                Storm::Connect => connect_storm(seconds),
            };
            let rate = match case.agent {
                None => run(),
                Some(setup) => {
                    let agent = start_agent(&scry, dir.path(), setup);
                    let rate = run();
                    let (e, s) = policy_counts(&agent);
                    posted += e;
                    signals += s;
                    rate
                }
            };
            rates[i].push(rate);
        }
        let line: Vec<String> = rates.iter().map(|r| format!("{:.0}", r[round])).collect();
        println!("round {round}: {}", line.join(" "));
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    for storm in [Storm::Open, Storm::Connect] {
        let of = |name: &str| {
            let i = cases.iter().position(|c| c.storm == storm && c.name == name).unwrap();
            medians[i]
        };
        let none = of("no agent");
        println!("{} storm (medians, {}):", storm.call(), storm.unit());
        for (case, &rate) in cases.iter().zip(&medians).filter(|(c, _)| c.storm == storm) {
            let mut line = format!("  {:<46} {rate:>10.0}", case.name);
            let Some(setup) = case.agent else {
                println!("{line}");
                continue;
            };
            line += &format!("   slowdown vs no agent {:.3}", none / rate);
            if setup.policy.is_some() {
                // Against the same agent without it, per call of one thread.
                let base = of(if setup.security_only { SECURITY } else { "agent" });
                let own = (1e9 / rate - 1e9 / base) * THREADS as f64;
                line += &format!(", policy's own cost {:.3} ({own:.0} ns per {})", base / rate, storm.call());
            }
            println!("{line}");
        }
    }
    println!("target: slowdown ≤ 1.05 for in-kernel-filtered policies");
    println!("policy events posted {posted}, signals {signals} (expected 0: nothing triggers)");
}
