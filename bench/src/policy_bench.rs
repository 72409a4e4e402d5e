//! Policy filtering cost: an open() storm — 2 threads each calling
//! openat("/dev/null") and close() for SECONDS — in three modes per round
//! (order rotating every round so drift hits each alike):
//!
//! - no agent;
//! - the agent without policies (the socket tracer's syscall hooks still run);
//! - the agent with a policy that hooks openat and is evaluated in the
//!   kernel on every call but never triggers: matchArgs on the flags with a
//!   value nobody passes, matchBinaries In [/usr/bin/curl], Sigkill;
//! - the agent with a path policy evaluated on every call: the file name
//!   (read from the caller's memory each time) Prefix /etc/shadow, for any
//!   binary, Sigkill — it never triggers either.
//!
//! Prints opens/s per mode (medians), the ratio of each agent mode to no
//! agent (the target: ≤ 1.05 slowdown for in-kernel-filtered
//! policies), the policy's added cost per call against the agent alone,
//! and the events the policy posted (must be 0: nothing triggers).
//!
//! Usage (root): policy-bench [ROUNDS] [SECONDS]  (defaults 5, 3). Needs the
//! release agent: `scry` next to this executable, or `SCRY_BIN=/path/to/scry`.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scry_bench::{Agent, median, require_root, scry_bin};

const THREADS: usize = 2;

/// Flags nobody passes: the selector is evaluated and never matches.
const NEVER_FLAGS: u32 = 0x7eadbeef;

fn storm(seconds: u64) -> f64 {
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    let path = CString::new("/dev/null").unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        // SAFETY: a valid C string; the fd is closed right away.
                        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
                        assert!(fd >= 0, "openat /dev/null");
                        // SAFETY: fd was just opened by this thread.
                        unsafe { libc::close(fd) };
                    }
                    n += 256;
                }
                ops.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    ops.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// The two policies: on the flags for one binary, and on the path for all.
fn policy_yaml(path: bool) -> String {
    if path {
        return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bench-path\nspec:\n  \
                kprobes:\n  - call: sys_openat\n    syscall: true\n    args:\n    - index: 1\n      type: string\n    \
                selectors:\n    - matchArgs:\n      - index: 1\n        operator: Prefix\n        \
                values: [\"/etc/shadow\"]\n      matchActions:\n      - action: Sigkill\n"
            .to_owned();
    }
    format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bench-openat\nspec:\n  kprobes:\n  \
         - call: sys_openat\n    syscall: true\n    args:\n    - index: 2\n      type: int\n    selectors:\n    \
         - matchArgs:\n      - index: 2\n        operator: Equal\n        values: [\"{NEVER_FLAGS}\"]\n      \
         matchBinaries:\n      - operator: In\n        values: [\"/usr/bin/curl\"]\n      matchActions:\n      \
         - action: Sigkill\n"
    )
}

/// The agent, with a never-triggering policy loaded when `policy` (the path
/// one when `Some(true)`); it idles 2 s so start-up work (BPF loads, the
/// /proc scan) is over.
fn start_agent(scry: &Path, dir: &Path, policy: Option<bool>) -> Agent {
    let mut extra = Vec::new();
    let policies = dir.join("policies");
    let _ = std::fs::remove_dir_all(&policies);
    if let Some(path) = policy {
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(policies.join("bench.yaml"), policy_yaml(path)).unwrap();
        extra = vec!["--policy-dir".to_owned(), policies.display().to_string()];
    }
    let agent = Agent::start(scry, dir, &extra, |_| Ok(true));
    if policy.is_some() {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    require_root("policy-bench");
    let scry = scry_bin();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "policy bench: openat+close storm, {THREADS} threads, {seconds} s per run, {rounds} rounds; agent {}",
        scry.display()
    );
    let (mut none, mut bare, mut policy, mut path) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut posted, mut signals) = (0, 0);
    for round in 0..rounds {
        for mode in (0..4).map(|m| (m + round) % 4) {
            match mode {
                0 => none.push(storm(seconds)),
                1 => {
                    let _agent = start_agent(&scry, dir.path(), None);
                    bare.push(storm(seconds));
                }
                _ => {
                    let by_path = mode == 3;
                    let agent = start_agent(&scry, dir.path(), Some(by_path));
                    if by_path { &mut path } else { &mut policy }.push(storm(seconds));
                    let (e, s) = policy_counts(&agent);
                    posted += e;
                    signals += s;
                }
            }
        }
        println!(
            "round {round}: no agent {:>9.0} opens/s, agent {:>9.0}, + binary-scoped policy {:>9.0}, + path policy {:>9.0}",
            none[round], bare[round], policy[round], path[round]
        );
    }
    let (n, b, p, q) = (median(none), median(bare), median(policy), median(path));
    println!("  medians: no agent {n:.0} opens/s; agent {b:.0}; + binary-scoped policy {p:.0}; + path policy {q:.0}");
    println!(
        "  slowdown vs no agent: agent {:.3}, + binary-scoped policy {:.3}, + path policy {:.3} (target ≤ 1.05)",
        n / b,
        n / p,
        n / q
    );
    let own = |x: f64| (1e9 / x - 1e9 / b) * THREADS as f64;
    println!(
        "  each policy's own cost vs the agent alone: binary-scoped {:.3} ({:.0} ns per openat+close), path {:.3} ({:.0} ns)",
        b / p,
        own(p),
        b / q,
        own(q)
    );
    println!("  policy events posted {posted}, signals {signals} (expected 0: nothing triggers)");
}
