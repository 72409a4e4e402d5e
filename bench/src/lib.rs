//! What the benchmark binaries share.

/// xorshift64*: reproducible data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scry_agent::client::Client;
use scry_model::status::AgentStatus;
use scry_query::wire::SqlRequest;

fn hz() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

/// CPU time (user + system) the process `pid` has used so far (all its
/// threads, ended ones included); zero once it is gone.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_micros(ticks * 1_000_000 / hz())
}

pub fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
}

pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Asserts the bench runs as root (it loads the agent).
pub fn require_root(bench: &str) {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "{bench} loads the agent: run as root");
}

/// The release agent: `SCRY_BIN`, else `scry` next to this executable.
pub fn scry_bin() -> PathBuf {
    let scry = std::env::var_os("SCRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_exe().unwrap().parent().unwrap().join("scry"));
    assert!(scry.exists(), "{} missing: cargo build --release --bin scry, or set SCRY_BIN", scry.display());
    scry
}

/// Other agents (say, a test's) would see the runs without this bench's
/// agent too: their command lines, for a warning.
pub fn other_agents() -> Vec<String> {
    let me = std::process::id();
    pids()
        .filter(|&p| p != me)
        .map(cmdline)
        .filter(|c| c.split(' ').next().is_some_and(|b| b.ends_with("scry")) && c.contains(" agent"))
        .collect()
}

/// A release agent for one run (`--kubernetes off --metrics-addr off`, its
/// log in the run's directory), stopped with SIGINT on drop.
pub struct Agent {
    child: Child,
    pub socket: PathBuf,
    pub client: Client,
    pub rt: tokio::runtime::Runtime,
}

impl Agent {
    /// Starts the agent with `extra` flags and waits until `ready` says its
    /// status is (Ok(true)), or panics with what `ready` says is wrong.
    pub fn start(
        scry: &Path,
        dir: &Path,
        extra: &[String],
        ready: impl Fn(&AgentStatus) -> Result<bool, String>,
    ) -> Agent {
        let socket = dir.join("bench.sock");
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(scry)
            .args(["agent", "--kubernetes", "off", "--metrics-addr", "off"])
            .args(extra)
            .arg("--socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("scry agent starts");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = Client::new(&socket);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(s) = rt.block_on(client.status()) {
                match ready(&s) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(Instant::now() < deadline, "agent not ready: {}", dir.join("agent.log").display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Agent { child, socket, client, rt }
    }

    pub fn status(&self) -> AgentStatus {
        self.rt.block_on(self.client.status()).expect("status")
    }

    pub fn cpu(&self) -> Duration {
        cpu_time(self.child.id())
    }

    /// Waits until `key` of the status stops changing (the agent has caught
    /// up), then returns the status.
    pub fn settle<K: PartialEq>(&self, key: impl Fn(&AgentStatus) -> K) -> AgentStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = self.status();
        let mut still = 0;
        while still < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.status();
            still = if key(&now) == key(&last) { still + 1 } else { 0 };
            last = now;
        }
        last
    }

    /// A query's rows; panics if there were more than `max_rows`.
    pub fn sql(&self, query: String, max_rows: usize) -> Vec<Vec<serde_json::Value>> {
        let req = SqlRequest { query, max_rows: Some(max_rows) };
        let mut resp = self.rt.block_on(self.client.sql(&req)).expect("sql");
        let table = resp.tables.swap_remove(0);
        assert!(!table.truncated, "more than {max_rows} rows");
        table.rows
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}
