//! Harness for the end-to-end tests: runs the `scry` binary built by the
//! workspace (as root, on the real kernel) and reads its event stream.

pub mod pods;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scry_agent::client::{Client, EventStream};
use scry_model::filter::EventFilter;
use scry_model::{Event, EventEnvelope};

pub const NODE: &str = "test-node";

/// Fails (never skips) when not root: these tests load BPF programs.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the end-to-end tests load BPF programs and must run as root (CI runs them as root)");
}

/// `target/<profile>/scry`, next to the directory holding this test binary.
pub fn scry_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").join("scry");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build --bins`, as scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running `scry agent`, stopped with SIGINT on drop (and by the kernel with
/// SIGTERM if the test process dies first).
pub struct Agent {
    child: Child,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(extra: &[&str]) -> Agent {
        require_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("scry.sock");
        let mut cmd = Command::new(scry_bin());
        cmd.args(["agent", "--node-name", NODE, "--socket"]).arg(&socket);
        // Kubernetes stays off unless a test brings its own API server.
        if !extra.iter().any(|a| a.starts_with("--kubeconfig")) {
            cmd.args(["--kubernetes", "off"]);
        }
        // Any free port: test agents must not collide with a running one.
        if !extra.iter().any(|a| a.starts_with("--metrics-addr")) {
            cmd.args(["--metrics-addr", "127.0.0.1:0"]);
        }
        cmd.args(extra).stdout(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        // The parent-death signal follows the thread that forks, so fork from a
        // thread that lives as long as the test process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        let child = rx.recv().expect("spawner thread").expect("scry agent starts");
        let agent = Agent { child, socket, _dir: dir };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        // On its own thread: the caller may be inside a runtime already.
        let client = self.client();
        let ready = std::thread::spawn(move || {
            let rt = runtime();
            while Instant::now() < deadline {
                if rt.block_on(client.status()).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        });
        if ready.join().expect("readiness thread") {
            return;
        }
        panic!("scry agent did not serve {} within 30 s", self.socket.display());
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// An event subscription that collects until a condition holds.
pub struct Events {
    stream: EventStream,
    pub seen: Vec<EventEnvelope>,
}

impl Events {
    pub async fn subscribe(agent: &Agent, filter: EventFilter) -> Events {
        Events { stream: agent.client().events(&filter).await.expect("subscribed"), seen: Vec::new() }
    }

    /// Reads whatever events arrive within `window`.
    pub async fn collect_for(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(next) = tokio::time::timeout_at(deadline, self.stream.next_event()).await {
            match next {
                Ok(Some(ev)) => self.seen.push(ev),
                Ok(None) => panic!("the agent closed the stream"),
                Err(e) => panic!("stream error: {e}"),
            }
        }
    }

    /// Reads events until `done(seen)` holds; panics after `timeout`.
    pub async fn until(&mut self, timeout: Duration, what: &str, done: impl Fn(&[EventEnvelope]) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.stream.next_event()).await {
                Ok(Ok(Some(ev))) => self.seen.push(ev),
                Ok(Ok(None)) => panic!("the agent closed the stream while waiting for {what}"),
                Ok(Err(e)) => panic!("stream error while waiting for {what}: {e}"),
                Err(_) => panic!("timed out waiting for {what}; saw {} events: {:#?}", self.seen.len(), self.seen),
            }
        }
    }
}

pub fn exec_of(events: &[EventEnvelope], pid: u32) -> Option<&scry_model::event::ProcessExec> {
    events.iter().find_map(|e| match &e.event {
        Event::ProcessExec(x) if x.process.pid == Some(pid) => Some(x),
        _ => None,
    })
}

pub fn execs_of<'a>(events: &'a [EventEnvelope], binary: &str) -> Vec<&'a scry_model::event::ProcessExec> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ProcessExec(x) if x.process.binary == binary => Some(x),
            _ => None,
        })
        .collect()
}

pub fn exit_of<'a>(events: &'a [EventEnvelope], exec_id: &str) -> Option<&'a scry_model::event::ProcessExit> {
    events.iter().find_map(|e| match &e.event {
        Event::ProcessExit(x) if x.process.exec_id == exec_id => Some(x),
        _ => None,
    })
}

/// The real path of a binary (`/bin/sh` is `/usr/bin/dash` on Debian).
pub fn real(path: &str) -> String {
    std::fs::canonicalize(path).expect("path exists").to_string_lossy().into_owned()
}

/// A process that is killed when the test ends (servers in pods).
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `query` until it returns at least `n` rows (tables fill on the
/// collectors' timers) or 15 s pass; the rows as JSON arrays.
pub fn sql_until(agent: &Agent, query: &str, n: usize) -> Vec<Vec<serde_json::Value>> {
    let rt = runtime();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let req = scry_query::wire::SqlRequest { query: query.into(), max_rows: None };
        let rows = rt.block_on(agent.client().sql(&req)).expect("query runs").tables.remove(0).rows;
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until something in `pod` listens on TCP `port` (checked in its
/// namespace, so no traffic is made).
pub fn wait_listening(cluster: &pods::Cluster, pod: &pods::Pod, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ss = cluster.command(pod, "/usr/bin/ss", &["-Hltn", "sport", "=", &format!(":{port}")]).output().unwrap();
        if !ss.stdout.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {}:{port}", pod.ip);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Python's file server on `pod`'s address, port 8080, serving `dir`; returns
/// once it listens. Not `python3 -m http.server`: that looks up the bind
/// address's host name, which in a pod without DNS takes ten seconds of
/// resolver timeouts.
pub fn python_file_server(cluster: &pods::Cluster, pod: &pods::Pod, dir: &std::path::Path) -> Background {
    const SERVER: &str = "import http.server, socketserver, sys\n\
        socketserver.TCPServer((sys.argv[1], 8080), http.server.SimpleHTTPRequestHandler).serve_forever()";
    let server = Background(
        cluster
            .command(pod, "/usr/bin/python3", &["-c", SERVER, &pod.ip.to_string()])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 starts"),
    );
    wait_listening(cluster, pod, 8080);
    server
}

/// dnsmasq in `pod`, answering on the pod's address with `addresses`
/// (`/name/ip` rules, dnsmasq's `--address`) and nothing else; returns once
/// it listens.
pub fn dnsmasq(cluster: &pods::Cluster, pod: &pods::Pod, addresses: &[&str]) -> Background {
    let mut args = vec![
        "--no-daemon".to_owned(),
        "--no-resolv".to_owned(),
        "--no-hosts".to_owned(),
        "--bind-interfaces".to_owned(),
        format!("--listen-address={}", pod.ip),
        "--user=root".to_owned(),
        "--pid-file=".to_owned(),
    ];
    args.extend(addresses.iter().map(|a| format!("--address={a}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Background(
        cluster
            .command(pod, "/usr/sbin/dnsmasq", &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dnsmasq starts"),
    );
    wait_listening(cluster, pod, 53);
    server
}

/// `scry observe -o json ARGS`: the flows.
pub fn observe(agent: &Agent, args: &[&str]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(scry_bin())
        .args(["observe", "--socket"])
        .arg(&agent.socket)
        .args(["-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "scry observe {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|mut v| v["flow"].take())
        .collect()
}

/// `observe` until `done` holds for the flows (they arrive on the
/// collector's timer) or 15 s pass; the last flows seen.
pub fn observe_until(
    agent: &Agent,
    args: &[&str],
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let flows = observe(agent, args);
        if done(&flows) || Instant::now() > deadline {
            return flows;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A flow endpoint as `namespace/pod`.
pub fn pod_of(endpoint: &serde_json::Value) -> String {
    format!("{}/{}", endpoint["namespace"].as_str().unwrap_or(""), endpoint["pod_name"].as_str().unwrap_or(""))
}

/// Copies a program with `cp`: a copy written by this process would leave its
/// write descriptor open in any child another test forks meanwhile, and
/// running the copy then fails with ETXTBSY ("Text file busy").
pub fn copy_executable(from: &str, to: &std::path::Path) {
    let status = Command::new("cp").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp {from} {}: {status}", to.display());
}
