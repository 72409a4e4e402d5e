//! Exec storm: N short processes run by W parallel workers, timed without the
//! agent, with the agent, and with the agent plus a subscriber streaming every
//! event as JSON. Rounds alternate so drift hits every mode alike; medians are
//! printed with the ratios and events captured / expected.
//!
//! Usage (root): cargo run --release -p scry-bench --bin exec-storm -- [N] [ROUNDS] [WORKERS]
//! Needs the release agent: cargo build --release --bin scry

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scry_agent::client::Client;
use scry_bench::{Agent, median, require_root, scry_bin};
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

/// The shortest process there is: a static x86-64 ELF whose whole program is
/// `exit(0)`. No dynamic loader, no libc start-up, so exec and exit dominate
/// its cost and the agent's share of each exec is as visible as it can be.
/// Elsewhere the storm runs a copy of /usr/bin/true.
fn write_storm_binary(path: &Path) {
    if cfg!(target_arch = "x86_64") {
        const BASE: u64 = 0x40_0000;
        const CODE: [u8; 9] = [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]; // mov eax,60; xor edi,edi; syscall
        let size = (64 + 56 + CODE.len()) as u64;
        let mut elf = Vec::with_capacity(size as usize);
        elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&(BASE + 64 + 56).to_le_bytes()); // entry
        elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
        elf.extend_from_slice(&0u64.to_le_bytes()); // no sections
        elf.extend_from_slice(&0u32.to_le_bytes());
        for half in [64u16, 56, 1, 0, 0, 0] {
            elf.extend_from_slice(&half.to_le_bytes()); // ehsize, phentsize, phnum, sh*
        }
        elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
        for word in [0, BASE, BASE, size, size, 0x1000] {
            elf.extend_from_slice(&word.to_le_bytes());
        }
        elf.extend_from_slice(&CODE);
        std::fs::write(path, elf).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    } else {
        std::fs::copy("/usr/bin/true", path).unwrap();
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
                    // The bench loads no policy.
                    Event::ProcessKprobe(_)
                    | Event::ProcessLsm(_)
                    | Event::ProcessUprobe(_)
                    | Event::ProcessTracepoint(_) => 0,
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
    require_root("exec-storm");
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(20_000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    // Default: one worker per core, so the agent competes with the storm for
    // every cycle (the worst case). Fewer workers model a node with headroom.
    let cores = std::thread::available_parallelism().map_or(2, |p| p.get());
    let workers: usize = args.next().map_or(cores, |a| a.parse().expect("WORKERS"));
    let scry = scry_bin();

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("scry-storm-true");
    write_storm_binary(&bin);
    let bin_str = bin.to_str().unwrap().to_owned();
    storm(&bin, 500, workers); // warm caches

    let (mut base, mut agent_only, mut streamed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_only, mut cpu_streamed) = (Duration::ZERO, Duration::ZERO);
    let (mut captured_execs, mut captured_exits, mut lost) = (0, 0, 0);
    for round in 0..rounds {
        base.push(storm(&bin, n, workers).as_secs_f64());
        let agent = Agent::start(&scry, dir.path(), &[], |_| Ok(true));
        let cpu0 = agent.cpu();
        agent_only.push(storm(&bin, n, workers).as_secs_f64());
        // The agent drains its ring on a 20 ms timer: let the last storm's
        // events pass before counting this one's.
        std::thread::sleep(Duration::from_millis(200));
        let cpu1 = agent.cpu();
        cpu_only += cpu1 - cpu0;
        let counter = Counter::start(&agent.socket, &bin_str);
        streamed.push(storm(&bin, n, workers).as_secs_f64());
        counter.wait_for(n as u64);
        cpu_streamed += agent.cpu() - cpu1;
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
    let per_exec = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (n * rounds) as f64;
    println!(
        "  agent CPU per exec     {:.1} µs without a stream, {:.1} µs streaming JSON (BPF time is charged to the storm)",
        per_exec(cpu_only),
        per_exec(cpu_streamed)
    );
    println!(
        "  captured / expected    execs {captured_execs}/{expected} ({:.2}%), exits {captured_exits}/{expected} ({:.2}%), lost notices {lost}",
        100.0 * captured_execs as f64 / expected as f64,
        100.0 * captured_exits as f64 / expected as f64
    );
}
