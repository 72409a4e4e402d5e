//! Exec storm: N short processes run by W parallel workers, timed without the
//! agent, with the agent, and with the agent plus a subscriber streaming every
//! event as JSON. Rounds alternate so drift hits every mode alike; medians are
//! printed with the ratios and events captured / expected.
//!
//! Usage (root): cargo run --release -p scry-bench --bin exec-storm -- [N] [ROUNDS]
//! Needs the release agent: cargo build --release --bin scry

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scry_agent::client::Client;
use scry_model::Event;
use scry_model::filter::EventFilter;

fn storm(bin: &Path, n: usize, workers: usize) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let count = n / workers + usize::from(w < n % workers);
            s.spawn(move || {
                for _ in 0..count {
                    let status = Command::new(bin).status().expect("spawn");
                    assert!(status.success());
                }
            });
        }
    });
    start.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(scry: &Path, dir: &Path) -> Agent {
        let socket = dir.join("bench.sock");
        let child = Command::new(scry)
            .args(["agent", "--kubernetes", "off", "--socket"])
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scry agent starts");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while rt.block_on(Client::new(&socket).status()).is_err() {
            assert!(Instant::now() < deadline, "agent not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Agent { child, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Counts exec and exit events of `binary` (and lost notices) from a live stream.
struct Counter {
    execs: Arc<AtomicU64>,
    exits: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

impl Counter {
    fn start(socket: &Path, binary: &str) -> Counter {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (execs, exits, lost): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) = Default::default();
        let filter = EventFilter { binary_regex: vec![format!("^{binary}$")], ..Default::default() };
        let mut stream = rt.block_on(Client::new(socket).events(&filter)).expect("subscribe");
        let (e, x, l) = (Arc::clone(&execs), Arc::clone(&exits), Arc::clone(&lost));
        rt.spawn(async move {
            while let Ok(Some(ev)) = stream.next_event().await {
                match ev.event {
                    Event::ProcessExec(_) => e.fetch_add(1, Ordering::Relaxed),
                    Event::ProcessExit(_) => x.fetch_add(1, Ordering::Relaxed),
                    Event::LostEvents(n) => l.fetch_add(n.count, Ordering::Relaxed),
                };
            }
        });
        Counter { execs, exits, lost, _rt: rt }
    }

    fn wait_for(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while (self.execs.load(Ordering::Relaxed) < n || self.exits.load(Ordering::Relaxed) < n)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "exec-storm loads the agent and must run as root");
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(20_000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get());
    let exe = std::env::current_exe().unwrap();
    let scry = exe.parent().unwrap().join("scry");
    assert!(scry.exists(), "{} missing: cargo build --release --bin scry", scry.display());

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("scry-storm-true");
    std::fs::copy("/usr/bin/true", &bin).unwrap();
    let bin_str = bin.to_str().unwrap().to_owned();
    storm(&bin, 500, workers); // warm caches

    let (mut base, mut agent_only, mut streamed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut captured_execs, mut captured_exits, mut lost) = (0, 0, 0);
    for round in 0..rounds {
        base.push(storm(&bin, n, workers).as_secs_f64());
        let agent = Agent::start(&scry, dir.path());
        agent_only.push(storm(&bin, n, workers).as_secs_f64());
        let counter = Counter::start(&agent.socket, &bin_str);
        streamed.push(storm(&bin, n, workers).as_secs_f64());
        counter.wait_for(n as u64);
        let (e, x, l) = (
            counter.execs.load(Ordering::Relaxed),
            counter.exits.load(Ordering::Relaxed),
            counter.lost.load(Ordering::Relaxed),
        );
        eprintln!(
            "round {round}: base {:.3}s, agent {:.3}s, agent+stream {:.3}s, captured {e}/{n} execs {x}/{n} exits, lost {l}",
            base[round], agent_only[round], streamed[round]
        );
        captured_execs += e;
        captured_exits += x;
        lost += l;
    }
    let expected = (n * rounds) as u64;
    let (b, a, s) = (median(base), median(agent_only), median(streamed));
    println!("exec storm: {n} processes x {rounds} rounds, {workers} workers");
    println!("  without agent          {:>8.0} execs/s  ({b:.3} s median)", n as f64 / b);
    println!("  with agent             {:>8.0} execs/s  ({a:.3} s)  wall ratio {:.3}", n as f64 / a, a / b);
    println!("  with agent + stream    {:>8.0} execs/s  ({s:.3} s)  wall ratio {:.3}", n as f64 / s, s / b);
    println!(
        "  captured / expected    execs {captured_execs}/{expected} ({:.2}%), exits {captured_exits}/{expected} ({:.2}%), lost notices {lost}",
        100.0 * captured_execs as f64 / expected as f64,
        100.0 * captured_exits as f64 / expected as f64
    );
}
