//! Runs as root on the real kernel: the policy engine's syscall hooks filter
//! by argument and executable in the kernel, kill a matching process before
//! its syscall returns, post records, and can be paused and removed. The
//! syscall is umask(2) (x86_64 number 95), which Python and Perl call with
//! the mask a test chooses.

use std::cell::RefCell;
use std::process::{Command, Output};
use std::rc::Rc;
use std::time::{Duration, Instant};

use scry_bpf::policy::{
    Actions, ArgKind, ArgMatch, ArgSource, ArgSpec, BinariesOp, BinaryOp, CapabilityMatch, CapabilitySet, ConnectView,
    DataJoiner, Hook, IntOp, IpVersion, LsmHook, MAX_DATA, NamespaceMatch, NamespaceType, PidMatch, PolicyRecord,
    PolicySource, RateLimit, RateScope, Selector, Side, Site, SockField, SockTuple, StrOp, TracepointField,
    UserFunction, UserTarget, decode,
};

const SYS_UMASK: u32 = 95;
const SYS_OPENAT: u32 = 257;
const SIGKILL: u32 = 9;

/// Notes for the kernel matrix (vmtests/payload.sh) that a test really ran
/// a hook of `kind` on this kernel.
fn exercised(kind: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("SCRY_VMTEST_EXERCISED") {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("the matrix's exercised file");
        writeln!(f, "{kind}").unwrap();
    }
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "these tests load BPF programs and must run as root");
}

fn python() -> String {
    std::fs::canonicalize("/usr/bin/python3").unwrap().to_string_lossy().into_owned()
}

fn python_umask(mask: &str) -> Output {
    let script = format!("import os; os.umask({mask}); print('alive', flush=True)");
    Command::new("/usr/bin/python3").args(["-c", &script]).output().unwrap()
}

fn perl_umask(mask: &str) -> Output {
    Command::new("/usr/bin/perl").args(["-e", &format!("umask {mask}; print \"alive\\n\"")]).output().unwrap()
}

fn alive(out: &Output) -> bool {
    out.status.success() && out.stdout == b"alive\n"
}

fn killed(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(SIGKILL as i32) && out.stdout.is_empty()
}

/// Reads the engine's records.
struct Records {
    ring: libbpf_rs::RingBuffer<'static>,
    got: Rc<RefCell<Vec<PolicyRecord>>>,
}

impl Records {
    fn new(source: &PolicySource) -> Records {
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = got.clone();
        let mut joiner = DataJoiner::default();
        let mut builder = libbpf_rs::RingBufferBuilder::new();
        builder
            .add(source.ring(), move |bytes: &[u8]| {
                let record = decode(bytes).expect("record decodes");
                sink.borrow_mut().extend(joiner.push(record));
                assert_eq!(joiner.orphaned, 0, "every data record joins its event");
                0
            })
            .unwrap();
        Records { ring: builder.build().unwrap(), got }
    }

    /// The records of `pid`, once one of `marker`'s has arrived (records
    /// of earlier processes arrive before it) or 5 s pass.
    fn of(&self, pids: &[u32], marker: u32) -> Vec<PolicyRecord> {
        self.until(pids, |got| got.iter().any(|r| r.pid == marker))
    }

    /// Reads what arrives within `window`.
    fn settle(&self, window: Duration) {
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            self.ring.poll(Duration::from_millis(20)).unwrap();
        }
    }

    /// The records of `pids`, once `done` holds for them (or 5 s pass).
    fn until(&self, pids: &[u32], done: impl Fn(&[PolicyRecord]) -> bool) -> Vec<PolicyRecord> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mine = || self.got.borrow().iter().filter(|r| pids.contains(&r.pid)).cloned().collect::<Vec<_>>();
        while Instant::now() < deadline && !done(&mine()) {
            self.ring.poll(Duration::from_millis(50)).unwrap();
            self.ring.consume().unwrap();
        }
        let got = mine();
        assert!(done(&got), "the awaited records arrived: {got:#?}");
        got
    }
}

/// A process's pid from its output: each child prints nothing else, so the
/// tests run them through `sh -c 'echo $$; exec …'`.
fn run_with_pid(program: &str, args: &[&str]) -> (u32, Output) {
    let mut cmd = vec!["-c".to_owned(), "echo $$; exec \"$0\" \"$@\"".to_owned(), program.to_owned()];
    cmd.extend(args.iter().map(|a| a.to_string()));
    let out = Command::new("/bin/sh").args(&cmd).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (pid, rest) = text.split_once('\n').expect("the pid line");
    let stripped = Output { stdout: rest.as_bytes().to_vec(), ..out };
    (pid.trim().parse().unwrap(), stripped)
}

/// The engine every test shares, one test at a time: loading one costs
/// seconds of verification on the matrix's emulated CPUs. A test's hooks
/// are removed when its guard drops.
struct Engine(std::sync::MutexGuard<'static, Shared>);

struct Shared(PolicySource);

// SAFETY: the engine is only reached through the mutex, by one thread at a
// time; libbpf's objects may move between threads when not shared.
unsafe impl Send for Shared {}

impl std::ops::Deref for Engine {
    type Target = PolicySource;
    fn deref(&self) -> &PolicySource {
        &self.0.0
    }
}

impl std::ops::DerefMut for Engine {
    fn deref_mut(&mut self) -> &mut PolicySource {
        &mut self.0.0
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for slot in 0..scry_bpf::policy::MAX_HOOKS {
            let _ = self.0.0.remove(slot);
        }
        self.0.0.set_prefer_kprobes(false);
    }
}

fn load() -> Engine {
    require_root();
    static ENGINE: std::sync::OnceLock<std::sync::Mutex<Shared>> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let cgroup = scry_bpf::net::cgroup2_mount().expect("cgroup v2 is mounted");
        std::sync::Mutex::new(Shared(PolicySource::load(1 << 20, &cgroup).expect("policy engine loads")))
    });
    // A test that failed holding it left nothing the next one needs undone.
    Engine(engine.lock().unwrap_or_else(|e| e.into_inner()))
}

fn umask_hook(selectors: Vec<Selector>) -> Hook {
    Hook {
        policy_id: 7,
        sites: vec![Site::Enter(SYS_UMASK)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int }],
        skip_failed: false,
        selectors,
    }
}

#[test]
fn sigkill_stops_a_matching_binary_and_spares_other_arguments_and_binaries() {
    let mut source = load();
    assert!(!source.syscalls_hooked(), "no hook, no program on every syscall");
    let hook = umask_hook(vec![Selector {
        args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![0o077, 0o007] }],
        binaries: Some((BinariesOp::In, vec![python()])),
        actions: Actions { post: true, signal: Some(SIGKILL), ..Default::default() },
        ..Default::default()
    }]);
    source.install(3, &hook).unwrap();
    let records = Records::new(&source);
    let py = |mask: &str| {
        let script = format!("import os; os.umask({mask}); print('alive', flush=True)");
        run_with_pid("/usr/bin/python3", &["-c", &script])
    };
    let (other_mask, out) = py("0o022");
    assert!(alive(&out), "{out:?}");
    let (other_binary, out) = run_with_pid("/usr/bin/perl", &["-e", "umask 077; print \"alive\\n\""]);
    assert!(alive(&out), "{out:?}");
    let (victim, out) = py("0o077");
    assert!(killed(&out), "killed before print: {out:?}");
    exercised("tracepoint");
    let got = records.of(&[other_mask, other_binary, victim], victim);
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!(
        (r.pid, r.site, r.args[0], r.hook, r.policy_id, r.selector),
        (victim, Site::Enter(SYS_UMASK), 0o077, 3, 7, 0)
    );
    assert_eq!(r.signal, Some((SIGKILL, 0)));
    assert!(r.post);
    assert_ne!(r.binary, 0, "python is a listed binary");
    // Not by pid: the process itself, without the sh wrapper.
    assert!(killed(&python_umask("0o007")));
    assert!(alive(&perl_umask("007")));
}

#[test]
fn not_in_and_greater_than_post_without_killing_and_pause_and_removal_stop_it() {
    let mut source = load();
    let hook = umask_hook(vec![Selector {
        args: vec![ArgMatch::Int { index: 0, op: IntOp::GreaterThan, values: vec![0o070] }],
        binaries: Some((BinariesOp::NotIn, vec![python()])),
        actions: Actions { post: true, ..Default::default() },
        ..Default::default()
    }]);
    source.install(0, &hook).unwrap();
    let records = Records::new(&source);
    let perl = |mask: &str| run_with_pid("/usr/bin/perl", &["-e", &format!("umask {mask}; print \"alive\\n\"")]);
    let (small, out) = perl("022");
    assert!(alive(&out));
    // 0o075: not a mask the Sigkill test (running alongside) kills Python for.
    let (listed, out) = run_with_pid("/usr/bin/python3", &["-c", "import os; os.umask(0o075); print('alive')"]);
    assert!(alive(&out), "{out:?}");
    let (posted, out) = perl("077");
    assert!(alive(&out), "posted, not killed: {out:?}");
    let got = records.of(&[small, listed, posted], posted);
    assert_eq!(got.iter().map(|r| (r.pid, r.args[0])).collect::<Vec<_>>(), [(posted, 0o077)]);
    assert_eq!((got[0].signal, got[0].binary), (None, 0));

    // Paused: nothing; resumed: posted again; removed: nothing.
    source.set_enabled(0, false).unwrap();
    let (paused, _) = perl("077");
    source.set_enabled(0, true).unwrap();
    let (resumed, _) = perl("077");
    let got = records.of(&[paused, resumed], resumed);
    assert_eq!(got.iter().map(|r| r.pid).collect::<Vec<_>>(), [resumed]);
    source.remove(0).unwrap();
    let (removed, _) = perl("077");
    // A second hook (every call posted) is the marker now.
    source.install(1, &umask_hook(Vec::new())).unwrap();
    let (marker, _) = perl("077");
    let got = records.of(&[removed, marker], marker);
    assert_eq!(got.iter().map(|r| (r.pid, r.hook)).collect::<Vec<_>>(), [(marker, 1)]);
    assert!(source.syscalls_hooked());
    source.remove(1).unwrap();
    assert!(!source.syscalls_hooked(), "the last hook gone, the program detaches");
}

#[test]
fn limits_are_refused_with_what_was_exceeded() {
    let mut source = load();
    let many =
        vec![Selector { args: Vec::new(), binaries: None, actions: Actions::default(), ..Default::default() }; 6];
    let err = source.install(0, &umask_hook(many)).unwrap_err().to_string();
    assert_eq!(err, "6 selectors; the engine takes at most 5");
    let long = format!("/{}", "x".repeat(300));
    let sel = Selector {
        args: Vec::new(),
        binaries: Some((BinariesOp::In, vec![long])),
        actions: Actions::default(),
        ..Default::default()
    };
    let err = source.install(0, &umask_hook(vec![sel])).unwrap_err().to_string();
    assert!(err.ends_with("is longer than 255 bytes"), "{err}");
    let err = source.install(300, &umask_hook(Vec::new())).unwrap_err().to_string();
    assert_eq!(err, "hook slot 300; the engine has 256");
}

/// Python connecting a TCP socket to `host`:`port`; prints "connected", or
/// "refused" and the errno.
fn python_connect(host: &str, port: u16) -> (u32, Output) {
    let script = format!(
        "import socket\ntry:\n    socket.create_connection(('{host}', {port}), timeout=2)\n    print('connected', flush=True)\n\
         except OSError as e:\n    print('refused', e.errno, flush=True)"
    );
    run_with_pid("/usr/bin/python3", &["-c", &script])
}

/// Python connecting a UDP socket (of `family`, "AF_INET" or "AF_INET6") to
/// `host`:`port`; prints as [`python_connect`].
fn python_udp_connect(family: &str, host: &str, port: u16) -> (u32, Output) {
    let script = format!(
        "import socket\ns = socket.socket(socket.{family}, socket.SOCK_DGRAM)\ntry:\n    s.connect(('{host}', {port}))\n\
         \x20   print('connected', flush=True)\nexcept OSError as e:\n    print('refused', e.errno, flush=True)"
    );
    run_with_pid("/usr/bin/python3", &["-c", &script])
}

fn sock_addr(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

#[test]
fn tcp_connect_hooks_match_address_port_and_protocol_and_kill_before_any_packet_leaves() {
    let mut source = load();
    let blocked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    blocked.set_nonblocking(true).unwrap();
    let (blocked_port, allowed_port) = (blocked.local_addr().unwrap().port(), allowed.local_addr().unwrap().port());
    let hook = Hook {
        policy_id: 9,
        sites: vec![Site::TcpConnect],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Connect(ConnectView::Connecting) }],
        skip_failed: false,
        selectors: vec![
            Selector {
                args: vec![
                    ArgMatch::Addr {
                        index: 0,
                        side: Side::Destination,
                        negated: false,
                        cidrs: vec![("127.0.0.2".parse().unwrap(), 32)],
                    },
                    ArgMatch::Field { index: 0, field: SockField::Protocol, values: vec![6] },
                ],
                actions: Actions { post: true, ..Default::default() },
                ..Default::default()
            },
            Selector {
                args: vec![ArgMatch::Port {
                    index: 0,
                    side: Side::Destination,
                    negated: true,
                    ranges: vec![(80, 80), (443, 443), (allowed_port, allowed_port)],
                }],
                binaries: Some((BinariesOp::In, vec![python()])),
                actions: Actions { post: true, signal: Some(SIGKILL), ..Default::default() },
                ..Default::default()
            },
        ],
    };
    source.install(2, &hook).unwrap();
    let records = Records::new(&source);
    let (ok_pid, out) = python_connect("127.0.0.1", allowed_port);
    assert_eq!(out.stdout, b"connected\n", "{out:?}");
    // Posted, not killed: the first selector matches (nobody listens there).
    let (posted, out) = python_connect("127.0.0.2", allowed_port);
    assert_eq!(out.stdout, b"refused 111\n", "{out:?}");
    let (victim, out) = python_connect("127.0.0.1", blocked_port);
    assert!(killed(&out), "{out:?}");
    // Refused before the SYN: the listener has nothing to accept.
    assert_eq!(blocked.accept().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    exercised("cgroup_sock_addr");
    let got = records.of(&[ok_pid, posted, victim], victim);
    assert_eq!(got.len(), 2, "{got:#?}");
    let tcp = |to: &str| SockTuple {
        family: 2,
        sock_type: 1,
        protocol: 6,
        state: 2,
        source: Some(sock_addr("0.0.0.0:0")),
        destination: Some(sock_addr(to)),
    };
    let r = &got[0];
    assert_eq!((r.pid, r.hook, r.policy_id, r.site, r.selector, r.signal), (posted, 2, 9, Site::TcpConnect, 0, None));
    assert_eq!(r.sockets, vec![tcp(&format!("127.0.0.2:{allowed_port}"))]);
    let r = &got[1];
    assert_eq!((r.pid, r.selector, r.signal), (victim, 1, Some((SIGKILL, 0))));
    assert_eq!(r.sockets, vec![tcp(&format!("127.0.0.1:{blocked_port}"))]);
    source.remove(2).unwrap();
    let (_, out) = python_connect("127.0.0.1", blocked_port);
    assert_eq!(out.stdout, b"connected\n", "removed: {out:?}");
}

#[test]
fn socket_connect_hooks_see_the_socket_and_its_address_and_refuse_with_eperm_or_the_errno_asked() {
    let mut source = load();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = listener.local_addr().unwrap().port();
    let loopback = vec![("127.0.0.0".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)];
    let hook = Hook {
        policy_id: 10,
        sites: vec![Site::SocketConnect],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Connect(ConnectView::Socket) },
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::Connect(ConnectView::Address) },
            ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Int },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Field { index: 0, field: SockField::Protocol, values: vec![17] },
                ArgMatch::Port { index: 1, side: Side::Source, negated: false, ranges: vec![(port, port)] },
                ArgMatch::Addr { index: 1, side: Side::Source, negated: false, cidrs: loopback },
            ],
            actions: Actions { post: true, override_error: Some(-1), ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(3, &hook).unwrap();
    // The same connects at the syscall, their address read from the caller.
    let syscall = Hook {
        policy_id: 11,
        sites: vec![Site::Enter(42)],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int },
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::UserSockAddr },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Port { index: 1, side: Side::Source, negated: false, ranges: vec![(port, port)] }],
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(4, &syscall).unwrap();
    let records = Records::new(&source);
    let (v4, out) = python_udp_connect("AF_INET", "127.0.0.1", port);
    assert_eq!(out.stdout, b"refused 1\n", "{out:?}");
    let (v6, out) = python_udp_connect("AF_INET6", "::1", port);
    assert_eq!(out.stdout, b"refused 1\n", "{out:?}");
    // TCP is not refused.
    let (tcp, out) = python_connect("127.0.0.1", tcp_port);
    assert_eq!(out.stdout, b"connected\n", "{out:?}");
    let got = records.until(&[v4, v6, tcp], |got| got.iter().filter(|r| r.pid == v6).count() >= 2);
    let hooked: Vec<_> = got.iter().filter(|r| r.policy_id == 10).collect();
    assert_eq!(hooked.len(), 2, "{got:#?}");
    // What the kernel read, unset fields as zeros.
    let unset = |family| Some(sock_addr(if family == 2 { "0.0.0.0:0" } else { "[::]:0" }));
    let address = |family, to: &str| SockTuple {
        family,
        source: Some(sock_addr(to)),
        destination: unset(family),
        ..Default::default()
    };
    let socket = |family| SockTuple {
        family,
        sock_type: 2,
        protocol: 17,
        state: 7,
        source: unset(family),
        destination: unset(family),
    };
    let r = hooked[0];
    assert_eq!((r.pid, r.site, r.args[2]), (v4, Site::SocketConnect, 16));
    assert_eq!(r.sockets, vec![socket(2), address(2, &format!("127.0.0.1:{port}"))]);
    let r = hooked[1];
    assert_eq!((r.pid, r.args[2]), (v6, 28));
    assert_eq!(r.sockets, vec![socket(10), address(10, &format!("[::1]:{port}"))]);
    let at_syscall: Vec<_> = got.iter().filter(|r| r.policy_id == 11).map(|r| (r.pid, r.sockets.clone())).collect();
    assert_eq!(
        at_syscall,
        vec![(v4, vec![address(2, &format!("127.0.0.1:{port}"))]), (v6, vec![address(10, &format!("[::1]:{port}"))])]
    );
    source.remove(3).unwrap();
    source.remove(4).unwrap();
    let (_, out) = python_udp_connect("AF_INET", "127.0.0.1", port);
    assert_eq!(out.stdout, b"connected\n", "removed: {out:?}");
    // Override's argError is connect()'s error where cgroup programs may set it.
    let refusing = |error| Hook {
        selectors: vec![Selector {
            args: vec![ArgMatch::Port { index: 1, side: Side::Source, negated: false, ranges: vec![(port, port)] }],
            actions: Actions { override_error: Some(error), ..Default::default() },
            ..Default::default()
        }],
        ..hook.clone()
    };
    source.install(3, &refusing(-111)).unwrap();
    let (_, out) = python_udp_connect("AF_INET", "127.0.0.1", port);
    let want: &[u8] = if source.kernel().connect_errno { b"refused 111\n" } else { b"refused 1\n" };
    assert_eq!(out.stdout, want, "{out:?}");
    source.remove(3).unwrap();
}

/// Python sending one UDP datagram from a fresh socket of `family` with
/// sendto(), or (`connected`) with connect() then send(); prints "sent", or
/// "refused" and the errno.
fn python_udp_send(family: &str, host: &str, port: u16, connected: bool) -> (u32, Output) {
    let send = if connected {
        format!("s.connect(('{host}', {port}))\n    s.send(b'query')")
    } else {
        format!("s.sendto(b'query', ('{host}', {port}))")
    };
    let script = format!(
        "import socket\ns = socket.socket(socket.{family}, socket.SOCK_DGRAM)\ntry:\n    {send}\n    \
         print('sent', flush=True)\nexcept OSError as e:\n    print('refused', e.errno, flush=True)"
    );
    run_with_pid("/usr/bin/python3", &["-c", &script])
}

/// Whether a datagram waits on `socket` (within 1 s).
fn received(socket: &std::net::UdpSocket) -> bool {
    socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    socket.recv(&mut [0; 64]).is_ok()
}

#[test]
fn output_hooks_stop_datagrams_and_connections_to_unlisted_servers_before_anything_leaves() {
    let mut source = load();
    // Tetragon's dns-only-specified-servers, on a port of the test's own:
    // TCP or UDP to port P anywhere but 127.0.0.53 kills.
    let allowed = std::net::UdpSocket::bind("127.0.0.53:0").unwrap();
    let port = allowed.local_addr().unwrap().port();
    let blocked = std::net::UdpSocket::bind(("127.0.0.2", port)).unwrap();
    let blocked_v6 = std::net::UdpSocket::bind(("::1", port)).unwrap();
    let blocked_tcp = std::net::TcpListener::bind(("127.0.0.2", port)).unwrap();
    blocked_tcp.set_nonblocking(true).unwrap();
    let packet = ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Connect(ConnectView::Packet) };
    let hook = |actions| Hook {
        policy_id: 12,
        sites: vec![Site::Output(IpVersion::V4), Site::Output(IpVersion::V6)],
        args: vec![packet],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Field { index: 0, field: SockField::Protocol, values: vec![6, 17] },
                ArgMatch::Port { index: 0, side: Side::Destination, negated: false, ranges: vec![(port, port)] },
                ArgMatch::Addr {
                    index: 0,
                    side: Side::Destination,
                    negated: true,
                    cidrs: vec![("127.0.0.53".parse().unwrap(), 32)],
                },
            ],
            binaries: Some((BinariesOp::In, vec![python()])),
            actions,
            ..Default::default()
        }],
    };
    source.install(5, &hook(Actions { post: true, signal: Some(SIGKILL), ..Default::default() })).unwrap();
    let records = Records::new(&source);
    let (ok, out) = python_udp_send("AF_INET", "127.0.0.53", port, false);
    assert_eq!(out.stdout, b"sent\n", "{out:?}");
    assert!(received(&allowed), "the allowed server got its datagram");
    let (to, out) = python_udp_send("AF_INET", "127.0.0.2", port, false);
    assert!(killed(&out), "sendto: {out:?}");
    let (connected, out) = python_udp_send("AF_INET", "127.0.0.2", port, true);
    assert!(killed(&out), "connect: {out:?}");
    let (tcp, out) = python_connect("127.0.0.2", port);
    assert!(killed(&out), "TCP: {out:?}");
    // A v6 socket's IPv4-mapped destination leaves as IPv4.
    let (mapped, out) = python_udp_send("AF_INET6", "::ffff:127.0.0.2", port, false);
    assert!(killed(&out), "mapped: {out:?}");
    let (v6, out) = python_udp_send("AF_INET6", "::1", port, false);
    assert!(killed(&out), "v6: {out:?}");
    exercised("cgroup_sock_addr");
    // Nothing left: no datagram, no connection to accept.
    assert!(!received(&blocked) && !received(&blocked_v6), "a refused datagram arrived");
    assert_eq!(blocked_tcp.accept().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    let pids = [ok, to, connected, tcp, mapped, v6];
    let got = records.of(&pids, v6);
    let seen: Vec<_> = got.iter().map(|r| (r.pid, r.site, r.signal)).collect();
    let v4 = Site::Output(IpVersion::V4);
    let killed_at = |pid, site| (pid, site, Some((SIGKILL, 0)));
    assert_eq!(
        seen,
        vec![
            killed_at(to, v4),
            killed_at(connected, v4),
            killed_at(tcp, v4),
            killed_at(mapped, v4),
            killed_at(v6, Site::Output(IpVersion::V6)),
        ]
    );
    // The packet: protocol and destination; the source as bound (sendto
    // binds a port first, connect() later).
    let view: Vec<_> = got
        .iter()
        .map(|r| {
            let t = &r.sockets[0];
            let from = t.source.unwrap();
            (t.family, t.protocol, t.destination.unwrap(), from.ip().is_unspecified(), from.port() != 0)
        })
        .collect();
    let at = |s: &str| sock_addr(&format!("{s}:{port}"));
    assert_eq!(
        view,
        vec![
            (2, 17, at("127.0.0.2"), true, true),
            (2, 17, at("127.0.0.2"), true, false),
            (2, 6, at("127.0.0.2"), true, false),
            (2, 17, at("127.0.0.2"), true, true),
            (10, 17, at("[::1]"), true, true),
        ]
    );
    // Override refuses the send with its argError where cgroup programs
    // may set it (EPERM elsewhere); nothing is sent, nobody is killed.
    source.remove(5).unwrap();
    let (error, want): (i32, &[u8]) =
        if source.kernel().connect_errno { (-13, b"refused 13\n") } else { (-1, b"refused 1\n") };
    source.install(5, &hook(Actions { override_error: Some(error), ..Default::default() })).unwrap();
    assert_eq!(python_udp_send("AF_INET", "127.0.0.2", port, false).1.stdout, want);
    assert_eq!(python_udp_send("AF_INET", "127.0.0.2", port, true).1.stdout, want);
    assert!(!received(&blocked), "a refused datagram arrived");
    source.remove(5).unwrap();
    assert_eq!(python_udp_send("AF_INET", "127.0.0.2", port, false).1.stdout, b"sent\n", "removed");
    assert!(received(&blocked), "sent once removed");
}

#[test]
fn a_kernel_socket_argument_is_read_where_kernel_functions_are_hooked() {
    let mut source = load();
    if source.kernel().kprobes.is_err() && source.kernel().fentry.is_err() {
        // This machine's own kernel: the refusal is the kprobe test's.
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let site = source.kprobe_site("tcp_connect").unwrap();
    let hook = Hook {
        policy_id: 12,
        sites: vec![site],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Sock }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Port { index: 0, side: Side::Destination, negated: false, ranges: vec![(port, port)] },
                ArgMatch::PrivilegedPort { index: 0, side: Side::Source, negated: true },
                ArgMatch::Field { index: 0, field: SockField::State, values: vec![2] },
            ],
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(5, &hook).unwrap();
    let records = Records::new(&source);
    let (pid, out) = python_connect("127.0.0.1", port);
    assert_eq!(out.stdout, b"connected\n", "{out:?}");
    let got = records.of(&[pid], pid);
    assert_eq!(got.len(), 1, "{got:#?}");
    let t = got[0].sockets[0];
    assert_eq!((t.family, t.sock_type, t.protocol, t.state), (2, 1, 6, 2), "{t:?}");
    assert_eq!(t.destination, Some(sock_addr(&format!("127.0.0.1:{port}"))));
    // The kernel chose the source port before tcp_connect.
    let from = t.source.unwrap();
    assert_eq!(from.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    assert!(from.port() >= 1024, "{t:?}");
    exercised(function_hook_kind(&source));
    source.remove(5).unwrap();
}

/// A fresh directory for one test's files, by its canonical path.
fn test_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("scry-bpf-policy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::canonicalize(&dir).unwrap().to_string_lossy().into_owned()
}

const SYS_WRITE: u32 = 1;
const SYS_OPEN: u32 = 2;

fn str_arg(r: &PolicyRecord, k: usize) -> String {
    String::from_utf8_lossy(&r.strings[k].bytes).into_owned()
}

#[test]
fn a_user_string_argument_is_compared_by_prefix_and_postfix_before_the_call_returns() {
    let mut source = load();
    let dir = test_dir("string");
    std::fs::write(format!("{dir}/a.secret"), "classified\n").unwrap();
    std::fs::write(format!("{dir}/a.txt"), "public\n").unwrap();
    let deny = Selector {
        args: vec![
            ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec![format!("{dir}/"), "/nowhere/".into()] },
            ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec![".secret".into(), ".key".into()] },
        ],
        binaries: None,
        actions: Actions { post: true, signal: Some(SIGKILL), ..Default::default() },
        ..Default::default()
    };
    let hook = Hook {
        policy_id: 3,
        sites: vec![Site::Enter(SYS_OPENAT), Site::Enter(SYS_OPEN)],
        args: vec![ArgSpec { source: ArgSource::Register(1), kind: ArgKind::UserString }],
        skip_failed: false,
        selectors: vec![deny],
    };
    source.install(10, &hook).unwrap();
    let records = Records::new(&source);
    let (reader, out) = run_with_pid("/bin/cat", &[&format!("{dir}/a.txt")]);
    assert_eq!(out.stdout, b"public\n", "{out:?}");
    let (victim, out) = run_with_pid("/bin/cat", &[&format!("{dir}/a.secret")]);
    assert!(killed(&out), "the content never reaches stdout: {out:?}");
    let got = records.of(&[reader, victim], victim);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].site, got[0].signal), (Site::Enter(SYS_OPENAT), Some((SIGKILL, 0))));
    assert_eq!(str_arg(&got[0], 0), format!("{dir}/a.secret"));
    assert!(!got[0].strings[0].truncated);
    source.remove(10).unwrap();
    assert!(!source.syscalls_hooked());
}

#[test]
fn a_returned_descriptor_is_resolved_to_its_full_path_at_the_syscalls_exit() {
    let mut source = load();
    let dir = test_dir("fd");
    std::fs::write(format!("{dir}/b.secret"), "classified\n").unwrap();
    std::fs::write(format!("{dir}/b.txt"), "public\n").unwrap();
    std::os::unix::fs::symlink(format!("{dir}/b.secret"), format!("{dir}/innocent")).unwrap();
    let hook = Hook {
        policy_id: 4,
        sites: vec![Site::Exit(SYS_OPENAT), Site::Exit(SYS_OPEN)],
        args: vec![ArgSpec { source: ArgSource::Return, kind: ArgKind::Fd }],
        skip_failed: true,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Equal, values: vec![format!("{dir}/b.secret")] }],
            binaries: None,
            actions: Actions { post: true, signal: Some(SIGKILL), ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(11, &hook).unwrap();
    let records = Records::new(&source);
    let in_dir = |file: &str| {
        let out =
            Command::new("/bin/sh").args(["-c", &format!("echo $$; cd {dir} && exec /usr/bin/cat {file}")]).output();
        let out = out.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (pid, rest) = text.split_once('\n').unwrap();
        (pid.parse::<u32>().unwrap(), rest.to_owned(), out.status)
    };
    let (reader, text, _) = in_dir("b.txt");
    assert_eq!(text, "public\n");
    // Relative, and through a symlink: the kernel compares the file's path.
    let (victim, text, status) = in_dir("innocent");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!((text.as_str(), status.signal()), ("", Some(SIGKILL as i32)));
    let got = records.of(&[reader, victim], victim);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].site, Site::Exit(SYS_OPENAT));
    assert!(got[0].ret >= 0 && got[0].args[0] == got[0].ret as u64, "{:?}", got[0]);
    assert_eq!(str_arg(&got[0], 0), format!("{dir}/b.secret"));
}

#[test]
fn an_exec_hook_sees_the_executed_file_and_the_callers_binary() {
    let mut source = load();
    let sh = std::fs::canonicalize("/bin/sh").unwrap().to_string_lossy().into_owned();
    let hook = Hook {
        policy_id: 5,
        sites: vec![Site::Exec],
        args: vec![ArgSpec { source: ArgSource::Bprm, kind: ArgKind::Bprm }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec!["/usr/bin/python3".into()] }],
            // matchBinaries at exec names the caller: here, the shell.
            binaries: Some((BinariesOp::In, vec![sh])),
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(12, &hook).unwrap();
    let records = Records::new(&source);
    // Executed by this test's child (not the shell), then by the shell.
    let direct = Command::new("/usr/bin/python3").args(["-c", "import os; print(os.getpid())"]).output().unwrap();
    let direct: u32 = String::from_utf8_lossy(&direct.stdout).trim().parse().unwrap();
    let (other, _) = run_with_pid("/usr/bin/perl", &["-e", "1"]);
    let (by_shell, out) = run_with_pid("/usr/bin/python3", &["-c", "print('alive')"]);
    assert!(alive(&out), "{out:?}");
    let got = records.of(&[direct, other, by_shell], by_shell);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].site, Site::Exec);
    assert_eq!(str_arg(&got[0], 0), python());
    assert_ne!(got[0].binary, 0, "the caller is the listed shell");
    exercised("tp_btf");
}

#[test]
fn a_descriptor_argument_on_entry_names_the_file_written() {
    let mut source = load();
    let dir = test_dir("write");
    let hook = Hook {
        policy_id: 6,
        sites: vec![Site::Enter(SYS_WRITE)],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Fd },
            ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Int },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec![format!("{dir}/watched")] },
                ArgMatch::Str { index: 0, op: StrOp::NotPostfix, values: vec![".tmp".into()] },
            ],
            binaries: None,
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(13, &hook).unwrap();
    let records = Records::new(&source);
    let write = |file: &str| {
        let out =
            Command::new("/bin/sh").args(["-c", &format!("echo $$; echo hello > {dir}/{file}")]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap()
    };
    let skipped = write("watched.tmp");
    let other = write("elsewhere.log");
    let watched = write("watched.log");
    let got = records.of(&[skipped, other, watched], watched);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].site, got[0].args[1]), (Site::Enter(SYS_WRITE), 6));
    assert_eq!(str_arg(&got[0], 0), format!("{dir}/watched.log"));
    assert_eq!(std::fs::read_to_string(format!("{dir}/watched.log")).unwrap(), "hello\n", "posted, not stopped");
}

#[test]
fn a_rate_limit_posts_the_same_event_once_per_window_and_counts_the_rest() {
    let mut source = load();
    const SYS_GETPRIORITY: u32 = 140;
    let hook = Hook {
        policy_id: 8,
        sites: vec![Site::Enter(SYS_GETPRIORITY)],
        args: vec![ArgSpec { source: ArgSource::Register(1), kind: ArgKind::Int }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Int { index: 0, op: IntOp::GreaterThan, values: vec![424_000] }],
            binaries: None,
            actions: Actions {
                post: true,
                rate_limit: Some(RateLimit { window_ms: 60_000, scope: RateScope::Thread }),
                ..Default::default()
            },
            ..Default::default()
        }],
    };
    source.install(14, &hook).unwrap();
    let records = Records::new(&source);
    // Five calls with one argument, five with another, in one thread (no
    // such process: each call fails, and is hooked all the same).
    let script = "import os\nfor who in [424242] * 5 + [424243] * 5:\n    try:\n        os.getpriority(os.PRIO_PROCESS, who)\n    except OSError:\n        pass\nprint('alive')";
    let (first, out) = run_with_pid("/usr/bin/python3", &["-c", script]);
    assert!(alive(&out), "{out:?}");
    // Another thread: its own window.
    let (second, out) = run_with_pid("/usr/bin/python3", &["-c", script]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[first, second], |got| got.len() >= 4);
    let seen: Vec<(u32, u64)> = got.iter().map(|r| (r.pid, r.args[0])).collect();
    assert_eq!(seen, [(first, 424242), (first, 424243), (second, 424242), (second, 424243)]);
    assert_eq!(source.rate_limited(14), 16);
}

/// `cat FILE` with stdout and stderr.
fn cat(path: &str) -> Output {
    Command::new("/usr/bin/cat").arg(path).output().unwrap()
}

#[test]
fn kernel_functions_run_through_fentry_and_kprobes_where_the_kernel_has_them() {
    let mut source = load();
    if let (Err(why), Err(_)) = (source.kernel().kprobes.clone(), source.kernel().fentry.clone()) {
        // This machine's own kernel: a clear refusal, nothing installed.
        let err = source.kprobe_site("security_file_open").unwrap_err().to_string();
        assert_eq!(
            err,
            format!("cannot load the policy engine: security_file_open: this kernel attaches no kprobes ({why})")
        );
        return;
    }
    each_function_hook(&mut source, |source| {
        file_open_and_exec_hooks_deny_and_post(source);
        exercised(function_hook_kind(source));
    });
}

/// Runs `scenario` once per way this kernel hooks kernel functions:
/// fentry/fexit where they run, then kprobes where they do.
fn each_function_hook(source: &mut PolicySource, mut scenario: impl FnMut(&mut PolicySource)) {
    let mut done = Vec::new();
    for prefer_kprobes in [false, true] {
        source.set_prefer_kprobes(prefer_kprobes);
        let trampolines = source.uses_trampolines();
        if !done.contains(&trampolines) {
            done.push(trampolines);
            scenario(source);
        }
    }
    source.set_prefer_kprobes(false);
}

/// Which kind the engine hooks kernel functions with now.
fn function_hook_kind(source: &PolicySource) -> &'static str {
    if source.uses_trampolines() { "fentry" } else { "kprobe" }
}

fn file_open_and_exec_hooks_deny_and_post(source: &mut PolicySource) {
    let dir = test_dir("kprobe");
    std::fs::write(format!("{dir}/c.secret"), "classified\n").unwrap();
    std::fs::write(format!("{dir}/c.txt"), "public\n").unwrap();
    // Removing a function's last hook frees its site: each install takes it anew.
    let deny = |source: &mut PolicySource, actions| Hook {
        policy_id: 20,
        sites: vec![source.kprobe_site("security_file_open").unwrap()],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::File }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec![format!("{dir}/")] },
                ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec![".secret".into()] },
            ],
            binaries: None,
            actions,
            ..Default::default()
        }],
    };
    // Override: fmod_ret where trampolines run, bpf_override_return on the
    // kprobe where the kernel has it.
    let overriding = deny(source, Actions { post: true, override_error: Some(-13), ..Default::default() });
    if source.uses_trampolines() || source.kernel().override_return {
        source.install(20, &overriding).unwrap();
        let out = cat(&format!("{dir}/c.secret"));
        assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(1), b"".as_slice()), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{out:?}");
        source.remove(20).unwrap();
        if source.uses_trampolines() {
            exercised("fmod_ret");
        }
    } else {
        // Debian's kernels: no bpf_override_return.
        let err = source.install(20, &overriding).unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot load the policy engine: Override on a kernel function needs fmod_ret or bpf_override_return, \
             which this kernel lacks"
        );
    }
    let killing = deny(source, Actions { post: true, signal: Some(SIGKILL), ..Default::default() });
    let open = killing.sites[0];
    source.install(20, &killing).unwrap();
    let bprm = source.kprobe_site("security_bprm_check").unwrap();
    let exec = Hook {
        policy_id: 21,
        sites: vec![bprm],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Bprm }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Equal, values: vec!["/usr/bin/cat".into()] }],
            binaries: None,
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(21, &exec).unwrap();
    let records = Records::new(source);
    let out = cat(&format!("{dir}/c.txt"));
    assert_eq!(out.stdout, b"public\n", "{out:?}");
    let (victim, out) = run_with_pid("/usr/bin/cat", &[&format!("{dir}/c.secret")]);
    assert!(killed(&out), "{out:?}");
    let got = records.until(&[victim], |got| got.len() >= 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    // The exec first (in the caller, before the new program), then the open.
    assert_eq!((got[0].site, got[0].policy_id, str_arg(&got[0], 0)), (bprm, 21, "/usr/bin/cat".to_owned()));
    assert_eq!((got[1].site, got[1].signal), (open, Some((SIGKILL, 0))));
    assert_eq!(str_arg(&got[1], 0), format!("{dir}/c.secret"));
    source.remove(20).unwrap();
    source.remove(21).unwrap();
    assert_eq!(cat(&format!("{dir}/c.secret")).stdout, b"classified\n", "removed");
}

#[test]
fn syscall_hooks_run_on_the_syscalls_own_function_where_trampolines_run_and_fmod_ret_overrides_them() {
    let mut source = load();
    let dir = test_dir("fmod_ret");
    let target = format!("{dir}/never-created");
    let hook = Hook {
        policy_id: 40,
        sites: vec![Site::Enter(SYS_OPENAT)],
        args: vec![ArgSpec { source: ArgSource::Register(1), kind: ArgKind::UserString }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec!["/never-created".into()] }],
            binaries: Some((BinariesOp::In, vec![python()])),
            actions: Actions { post: true, override_error: Some(-13), ..Default::default() },
            ..Default::default()
        }],
    };
    let refused = |source: &mut PolicySource| source.install(40, &hook).unwrap_err().to_string();
    let overrides = match (source.uses_trampolines(), source.kernel().syscall_override.clone()) {
        (false, _) => {
            // Syscall tracepoints cannot change a return value.
            assert_eq!(
                refused(&mut source),
                "cannot load the policy engine: Override needs fmod_ret, a kprobe or an LSM hook; Enter(257) \
                 cannot change a return value here"
            );
            return;
        }
        // Debian's kernels: syscalls are not on the error-injection list.
        (true, Err(why)) => {
            assert_eq!(refused(&mut source), format!("cannot load the policy engine: Override on a syscall: {why}"));
            let mut posting = hook.clone();
            posting.selectors[0].actions.override_error = None;
            source.install(40, &posting).unwrap();
            false
        }
        (true, Ok(())) => {
            source.install(40, &hook).unwrap();
            true
        }
    };
    // The return, at the syscall function's fexit.
    let returned = Hook {
        policy_id: 41,
        sites: vec![Site::Exit(SYS_OPENAT)],
        args: vec![
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::UserString },
            ArgSpec { source: ArgSource::Return, kind: ArgKind::Int },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec![format!("{dir}/")] }],
            binaries: Some((BinariesOp::In, vec![python()])),
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(41, &returned).unwrap();
    let records = Records::new(&source);
    let script = format!(
        "try:\n    open('{target}', 'w')\n    print('opened', flush=True)\nexcept OSError as e:\n    \
         print('refused', e.errno, flush=True)"
    );
    let (pid, out) = run_with_pid("/usr/bin/python3", &["-c", &script]);
    let got = records.until(&[pid], |got| got.len() >= 2);
    let seen: Vec<_> = got.iter().map(|r| (r.site, r.policy_id, str_arg(r, 0), r.ret)).collect();
    assert_eq!(seen[0], (Site::Enter(SYS_OPENAT), 40, target.clone(), 0));
    assert_eq!((seen[1].0, seen[1].1, &seen[1].2), (Site::Exit(SYS_OPENAT), 41, &target));
    if overrides {
        assert_eq!(out.stdout, b"refused 13\n", "{out:?}");
        assert!(!std::path::Path::new(&target).exists(), "the file was never created");
        assert_eq!(seen[1].3, -13);
        exercised("fmod_ret");
    } else {
        assert_eq!(out.stdout, b"opened\n", "{out:?}");
        assert!(seen[1].3 >= 0, "a descriptor: {seen:?}");
        std::fs::remove_file(&target).unwrap();
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    exercised("fexit");
    source.remove(40).unwrap();
    source.remove(41).unwrap();
}

#[test]
fn an_lsm_hook_refuses_an_open_where_bpf_lsm_runs() {
    let mut source = load();
    let hook = Hook {
        policy_id: 30,
        sites: vec![Site::Lsm(LsmHook::FileOpen)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::File }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec!["/d.secret".into()] }],
            binaries: None,
            actions: Actions { post: true, override_error: Some(-13), ..Default::default() },
            ..Default::default()
        }],
    };
    if let Err(why) = source.kernel().lsm.clone() {
        let err = source.install(30, &hook).unwrap_err().to_string();
        assert_eq!(err, format!("cannot load the policy engine: this kernel runs no BPF LSM programs ({why})"));
        return;
    }
    let dir = test_dir("lsm");
    std::fs::write(format!("{dir}/d.secret"), "classified\n").unwrap();
    source.install(30, &hook).unwrap();
    let records = Records::new(&source);
    let (pid, out) = run_with_pid("/usr/bin/cat", &[&format!("{dir}/d.secret")]);
    assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(1), b"".as_slice()), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{out:?}");
    let got = records.of(&[pid], pid);
    assert_eq!((got.len(), got[0].site), (1, Site::Lsm(LsmHook::FileOpen)));
    assert_eq!(str_arg(&got[0], 0), format!("{dir}/d.secret"));
    exercised("lsm");
    source.remove(30).unwrap();
    assert_eq!(cat(&format!("{dir}/d.secret")).stdout, b"classified\n", "removed");
}

/// A user function of this test binary for the uprobe test.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn scry_policy_uprobe_target(value: u64, name: *const std::ffi::c_char) -> u64 {
    std::hint::black_box(name);
    std::hint::black_box(value)
}

#[test]
fn a_uprobe_captures_a_user_functions_arguments() {
    let mut source = load();
    let exe = std::fs::canonicalize("/proc/self/exe").unwrap().to_string_lossy().into_owned();
    let function = UserFunction { path: exe, target: UserTarget::Symbol("scry_policy_uprobe_target".into()) };
    let site = source.uprobe_site(&function).unwrap();
    let hook = Hook {
        policy_id: 40,
        sites: vec![site],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int },
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::UserString },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![42] }],
            binaries: None,
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(40, &hook).unwrap();
    let records = Records::new(&source);
    let me = std::process::id();
    assert_eq!(scry_policy_uprobe_target(41, c"not this one".as_ptr()), 41);
    assert_eq!(scry_policy_uprobe_target(42, c"the answer".as_ptr()), 42);
    let got = records.of(&[me], me);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].site, got[0].args[0], str_arg(&got[0], 0)), (site, 42, "the answer".to_owned()));
    exercised("uprobe");
    source.remove(40).unwrap();
    scry_policy_uprobe_target(42, c"removed".as_ptr());
    records.settle(Duration::from_millis(300));
    assert_eq!(records.of(&[me], me).len(), 1, "nothing after the removal");
}

#[test]
fn pid_namespace_and_capability_filters_pick_the_processes_they_name() {
    use std::os::unix::fs::MetadataExt;
    let mut source = load();
    const SYS_GETPGID: u32 = 121;
    let host_net = std::fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
    let me = std::process::id();
    let post = Actions { post: true, ..Default::default() };
    let hook = Hook {
        policy_id: 50,
        sites: vec![Site::Enter(SYS_GETPGID)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int }],
        skip_failed: false,
        selectors: vec![
            Selector {
                args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![777_777] }],
                pids: vec![PidMatch { op: BinaryOp::In, pids: vec![me], namespace_pid: false, follow_forks: false }],
                actions: post,
                ..Default::default()
            },
            Selector {
                args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![777_777] }],
                namespaces: vec![NamespaceMatch {
                    ns: NamespaceType::Net,
                    op: BinaryOp::NotIn,
                    inodes: vec![host_net],
                }],
                actions: post,
                ..Default::default()
            },
            Selector {
                args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![777_777] }],
                capabilities: vec![CapabilityMatch {
                    set: CapabilitySet::Effective,
                    op: BinaryOp::NotIn,
                    namespace_capability: false,
                    mask: 1 << 21, // CAP_SYS_ADMIN
                }],
                actions: post,
                ..Default::default()
            },
        ],
    };
    source.install(50, &hook).unwrap();
    let records = Records::new(&source);
    let script = "import os\ntry:\n    os.getpgid(777777)\nexcept OSError:\n    pass\nprint('alive')";
    // SAFETY: getpgid has no preconditions (the pid does not exist).
    assert_eq!(unsafe { libc::getpgid(777_777) }, -1);
    let (root, out) = run_with_pid("/usr/bin/python3", &["-c", script]);
    assert!(alive(&out), "{out:?}");
    let (netns, out) = run_with_pid("/usr/bin/unshare", &["--net", "/usr/bin/python3", "-c", script]);
    assert!(alive(&out), "{out:?}");
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script];
    let (unprivileged, out) = run_with_pid("/usr/bin/setpriv", &nobody);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[me, root, netns, unprivileged], |got| got.iter().any(|r| r.pid == unprivileged));
    let seen: Vec<(u32, u32)> = got.iter().map(|r| (r.pid, r.selector)).collect();
    assert_eq!(seen, [(me, 0), (netns, 1), (unprivileged, 2)], "root in the host's netns matches none");
}

#[test]
fn tracepoint_hooks_read_their_fields_at_the_places_tracefs_gives() {
    let mut source = load();
    let dir = test_dir("tracepoint");
    std::fs::write(format!("{dir}/e.txt"), "public\n").unwrap();
    let field = |subsystem: &str, event: &str, name: &str| {
        let fields = scry_bpf::tracefs::format(subsystem, event).unwrap();
        let f = fields.into_iter().find(|f| f.name == name).unwrap();
        let data_loc = f.is_data_loc();
        TracepointField { offset: f.offset, size: if data_loc { 4 } else { f.size }, signed: f.signed, data_loc }
    };
    let post = Actions { post: true, ..Default::default() };
    // A syscall tracepoint's pointer into the caller's memory.
    let open = source
        .tracepoint_site("syscalls", "sys_enter_openat", &[field("syscalls", "sys_enter_openat", "filename")])
        .unwrap();
    let opens = Hook {
        policy_id: 60,
        sites: vec![open],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::UserString }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Prefix, values: vec![format!("{dir}/")] }],
            actions: post,
            ..Default::default()
        }],
    };
    // A __data_loc string in the record, and a signed integer.
    let exec_fields = [field("sched", "sched_process_exec", "filename"), field("sched", "sched_process_exec", "pid")];
    let exec = source.tracepoint_site("sched", "sched_process_exec", &exec_fields).unwrap();
    let execs = Hook {
        policy_id: 61,
        sites: vec![exec],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::KernelString },
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::Int },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec!["/perl".into()] }],
            actions: post,
            ..Default::default()
        }],
    };
    source.install(60, &opens).unwrap();
    source.install(61, &execs).unwrap();
    let records = Records::new(&source);
    let (reader, out) = run_with_pid("/usr/bin/cat", &[&format!("{dir}/e.txt")]);
    assert_eq!(out.stdout, b"public\n");
    let (perl, out) = run_with_pid("/usr/bin/perl", &["-e", "print \"alive\\n\""]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[reader, perl], |got| got.iter().any(|r| r.pid == perl));
    let seen: Vec<(u32, Site, String)> = got.iter().map(|r| (r.pid, r.site, str_arg(r, 0))).collect();
    assert_eq!(seen, [(reader, open, format!("{dir}/e.txt")), (perl, exec, "/usr/bin/perl".to_owned())]);
    assert_eq!(got[1].args[1], u64::from(perl), "the pid field");
    exercised("tracepoint");
}

#[test]
fn a_raw_tracepoint_hook_reads_tp_protos_arguments() {
    let mut source = load();
    // sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm).
    let site = source.raw_tracepoint_site("sched_process_exec").unwrap();
    let hook = Hook {
        policy_id: 50,
        sites: vec![site],
        args: vec![
            ArgSpec { source: ArgSource::Register(1), kind: ArgKind::Int },
            ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Bprm },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 1, op: StrOp::Equal, values: vec!["/usr/bin/cat".into()] }],
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(6, &hook).unwrap();
    let records = Records::new(&source);
    let (pid, out) = run_with_pid("/usr/bin/cat", &["/dev/null"]);
    assert!(out.status.success(), "{out:?}");
    let got = records.of(&[pid], pid);
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!((r.site, r.policy_id, r.args[0], str_arg(r, 0)), (site, 50, u64::from(pid), "/usr/bin/cat".to_owned()));
    exercised("raw_tp");
    source.remove(6).unwrap();
}

#[test]
fn follow_children_matches_the_descendants_of_a_listed_binary() {
    let mut source = load();
    const SYS_GETPGID: u32 = 121;
    let sh = std::fs::canonicalize("/bin/sh").unwrap().to_string_lossy().into_owned();
    let hook = Hook {
        policy_id: 70,
        sites: vec![Site::Enter(SYS_GETPGID)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![888_888] }],
            binaries: Some((BinariesOp::In, vec![sh])),
            follow_children: true,
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(70, &hook).unwrap();
    let records = Records::new(&source);
    let script = "import os\ntry:\n    os.getpgid(888888)\nexcept OSError:\n    pass\nprint(os.getpid(), flush=True)";
    let pid_of = |out: Output| String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap();
    // Python forked by this test: not a shell's descendant.
    let direct = pid_of(Command::new("/usr/bin/python3").args(["-c", script]).output().unwrap());
    // Python forked by a shell (not exec'd in its place): a descendant.
    let quoted = script.replace('"', "\\\"");
    let via_shell = pid_of(
        Command::new("/bin/sh").args(["-c", &format!("/usr/bin/python3 -c \"{quoted}\"; true")]).output().unwrap(),
    );
    let got = records.until(&[direct, via_shell], |got| got.iter().any(|r| r.pid == via_shell));
    assert_eq!(got.iter().map(|r| r.pid).collect::<Vec<_>>(), [via_shell], "{got:#?}");
    source.remove(70).unwrap();
}

#[test]
fn follow_forks_matches_a_listed_process_and_its_descendants() {
    let mut source = load();
    const SYS_GETPGID: u32 = 121;
    let script = "import os\ntry:\n    os.getpgid(999999)\nexcept OSError:\n    pass\nprint(os.getpid(), flush=True)";
    // A shell that waits for its turn, then runs python twice.
    let mut shell = Command::new("/bin/sh")
        .args(["-c", &format!("read go; /usr/bin/python3 -c \"{}\"; true", script.replace('"', "\\\""))])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let hook = Hook {
        policy_id: 80,
        sites: vec![Site::Enter(SYS_GETPGID)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int }],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![999_999] }],
            pids: vec![PidMatch { op: BinaryOp::In, pids: vec![shell.id()], namespace_pid: false, follow_forks: true }],
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(80, &hook).unwrap();
    let records = Records::new(&source);
    let outsider = Command::new("/usr/bin/python3").args(["-c", script]).output().unwrap();
    let outsider: u32 = String::from_utf8_lossy(&outsider.stdout).trim().parse().unwrap();
    use std::io::Write;
    shell.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = shell.wait_with_output().unwrap();
    let child: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let got = records.until(&[outsider, child], |got| got.iter().any(|r| r.pid == child));
    assert_eq!(got.iter().map(|r| r.pid).collect::<Vec<_>>(), [child], "the shell's child, not the outsider");
    source.remove(80).unwrap();
}

#[test]
fn credentials_are_read_from_the_task_after_a_change_and_from_a_kprobe_argument() {
    let mut source = load();
    const SYS_SETRESUID: u32 = 117;
    let python_posts = || Selector {
        binaries: Some((BinariesOp::In, vec![python()])),
        actions: Actions { post: true, ..Default::default() },
        ..Default::default()
    };
    let after = Hook {
        policy_id: 13,
        sites: vec![Site::Exit(SYS_SETRESUID)],
        args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::CurrentCred }],
        skip_failed: true,
        selectors: vec![python_posts()],
    };
    source.install(6, &after).unwrap();
    let kprobes = source.kernel().kprobes.is_ok() || source.kernel().fentry.is_ok();
    if kprobes {
        let site = source.kprobe_site("commit_creds").unwrap();
        let hook = Hook {
            policy_id: 14,
            sites: vec![site],
            args: vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Cred }],
            skip_failed: false,
            selectors: vec![python_posts()],
        };
        source.install(7, &hook).unwrap();
    }
    let records = Records::new(&source);
    let (pid, out) = run_with_pid("/usr/bin/python3", &["-c", "import os; os.setresuid(4243, 4243, 4243)"]);
    assert!(out.status.success(), "{out:?}");
    let want = if kprobes { 2 } else { 1 };
    let got = records.until(&[pid], |got| got.len() >= want);
    assert_eq!(got.len(), want, "{got:#?}");
    for r in &got {
        let c = r.cred.expect("the credentials");
        let ids = c.ids;
        assert_eq!((ids.uid, ids.euid, ids.suid, ids.fsuid, ids.gid), (4243, 4243, 4243, 4243, 0), "{r:?}");
        assert_eq!((c.caps.permitted, c.caps.effective), (0, 0), "root's capabilities are gone: {r:?}");
    }
    if kprobes {
        assert_eq!(got.iter().filter(|r| r.policy_id == 14).count(), 1);
        exercised(function_hook_kind(&source));
        source.remove(7).unwrap();
    }
    source.remove(6).unwrap();
}

#[test]
fn match_binaries_prefix_and_postfix_compare_the_executables_full_path() {
    let mut source = load();
    let python = python();
    let python_tail = &python[python.len() - 6..];
    let posting = |op, values: Vec<String>| Selector {
        args: vec![ArgMatch::Int { index: 0, op: IntOp::Equal, values: vec![0o031] }],
        binaries: Some((op, values)),
        actions: Actions { post: true, ..Default::default() },
        ..Default::default()
    };
    // Overlapping prefixes: the longest listed one must carry both bits.
    let hook = umask_hook(vec![
        posting(BinariesOp::Prefix, vec!["/usr/bin/pyth".into(), "/nowhere/".into()]),
        posting(BinariesOp::Postfix, vec!["/perl".into()]),
    ]);
    source.install(90, &hook).unwrap();
    let other = umask_hook(vec![posting(BinariesOp::NotPostfix, vec![python_tail.to_owned()])]);
    source.install(91, &other).unwrap();
    let wide = umask_hook(vec![posting(BinariesOp::Prefix, vec!["/usr/".into()])]);
    source.install(92, &wide).unwrap();
    let records = Records::new(&source);
    let (py, out) = run_with_pid("/usr/bin/python3", &["-c", "import os; os.umask(0o031); print('alive')"]);
    assert!(alive(&out), "{out:?}");
    let (pl, out) = run_with_pid("/usr/bin/perl", &["-e", "umask 031; print \"alive\\n\""]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[py, pl], |got| got.len() >= 5);
    let mut seen: Vec<(u32, u32, u32)> = got.iter().map(|r| (r.pid, r.hook, r.selector)).collect();
    seen.sort();
    let mut want = vec![(py, 90, 0), (py, 92, 0), (pl, 90, 1), (pl, 91, 0), (pl, 92, 0)];
    want.sort();
    assert_eq!(seen, want, "{got:#?}");
    // Removing the wide prefix leaves the others' bits as they were.
    source.remove(92).unwrap();
    let records = Records::new(&source);
    let (py, _) = run_with_pid("/usr/bin/python3", &["-c", "import os; os.umask(0o031)"]);
    let got = records.of(&[py], py);
    assert_eq!(got.iter().map(|r| (r.hook, r.selector)).collect::<Vec<_>>(), [(90, 0)]);
}

#[test]
fn buffers_are_read_by_their_length_argument_at_entry_or_at_return_and_iovecs_in_order() {
    let mut source = load();
    const SYS_READ: u32 = 0;
    const SYS_WRITEV: u32 = 20;
    let dir = test_dir("buffers");
    let file = format!("{dir}/data");
    std::fs::write(&file, "scry-read-data").unwrap();
    let prefix = |index: u8| Selector {
        args: vec![ArgMatch::Str { index, op: StrOp::Prefix, values: vec!["scry-".into()] }],
        binaries: Some((BinariesOp::In, vec![python()])),
        actions: Actions { post: true, ..Default::default() },
        ..Default::default()
    };
    let hook = |sites, kind| Hook {
        policy_id: 15,
        sites,
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int },
            ArgSpec { source: ArgSource::Register(1), kind },
        ],
        skip_failed: true,
        selectors: vec![prefix(1)],
    };
    source
        .install(
            100,
            &hook(vec![Site::Enter(SYS_WRITE)], ArgKind::UserBuffer { size: ArgSource::Register(2), max_data: false }),
        )
        .unwrap();
    source
        .install(
            101,
            &hook(vec![Site::Exit(SYS_READ)], ArgKind::UserBuffer { size: ArgSource::Return, max_data: false }),
        )
        .unwrap();
    source
        .install(102, &hook(vec![Site::Enter(SYS_WRITEV)], ArgKind::UserIovec { count: ArgSource::Register(2) }))
        .unwrap();
    let records = Records::new(&source);
    let script = format!(
        "import os\nfd = os.open('/dev/null', os.O_WRONLY)\nos.write(fd, b'scry-secret')\nos.write(fd, b'scry-' + b'x' * 5000)\n\
         os.writev(fd, [b'scry-', b'iov', b'ec'])\nr = os.open('{file}', os.O_RDONLY)\nos.read(r, 100)\nprint('alive')"
    );
    let (pid, out) = run_with_pid("/usr/bin/python3", &["-c", &script]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[pid], |got| got.len() >= 4);
    let seen: Vec<(u32, Vec<u8>, u64, bool)> =
        got.iter().map(|r| (r.hook, r.strings[0].bytes.clone(), r.args[1], r.strings[0].truncated)).collect();
    let long = [b"scry-".as_slice(), &[b'x'; 4090]].concat();
    assert_eq!(
        seen,
        vec![
            (100, b"scry-secret".to_vec(), 11, false),
            (100, long, 5005, true),
            (102, b"scry-iovec".to_vec(), 10, false),
            (101, b"scry-read-data".to_vec(), 14, false),
        ]
    );
}

#[test]
fn a_max_data_buffer_arrives_whole_up_to_its_bound_and_beyond_it_cut_with_its_length() {
    let mut source = load();
    const SYS_WRITE: u32 = 1;
    let hook = Hook {
        policy_id: 17,
        sites: vec![Site::Enter(SYS_WRITE)],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int },
            ArgSpec {
                source: ArgSource::Register(1),
                kind: ArgKind::UserBuffer { size: ArgSource::Register(2), max_data: true },
            },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![ArgMatch::Str { index: 1, op: StrOp::Prefix, values: vec!["bigw-".into()] }],
            binaries: Some((BinariesOp::In, vec![python()])),
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(103, &hook).unwrap();
    let records = Records::new(&source);
    // Below one chunk's end, across chunks, and beyond the bound; every
    // byte numbered by its position so a misplaced chunk shows.
    let script = "import os\nfd = os.open('/dev/null', os.O_WRONLY)\n\
                  for n in (5000, 100000, 400000):\n    \
                  os.write(fd, (b'bigw-' + bytes(i % 251 for i in range(n)))[:n])\nprint('alive')";
    let (pid, out) = run_with_pid("/usr/bin/python3", &["-c", script]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[pid], |got| got.len() >= 3);
    let want =
        |n: usize| (b"bigw-".iter().copied().chain((0..n).map(|i| (i % 251) as u8))).take(n).collect::<Vec<u8>>();
    let seen: Vec<(usize, u64, bool)> =
        got.iter().map(|r| (r.strings[0].bytes.len(), r.args[1], r.strings[0].truncated)).collect();
    assert_eq!(seen, vec![(5000, 5000, false), (100_000, 100_000, false), (MAX_DATA, 400_000, true)]);
    assert_eq!(got[0].strings[0].bytes, want(5000));
    assert_eq!(got[1].strings[0].bytes, want(100_000));
    assert_eq!(got[2].strings[0].bytes, want(400_000)[..MAX_DATA]);
}

#[test]
fn a_kernel_functions_return_is_hooked_at_fexit_and_kretprobe_with_its_arguments() {
    let mut source = load();
    if let (Err(why), Err(_)) = (source.kernel().kprobes.clone(), source.kernel().fentry.clone()) {
        let err = source.kretprobe_site("security_file_open").unwrap_err().to_string();
        assert_eq!(
            err,
            format!("cannot load the policy engine: security_file_open: this kernel attaches no kprobes ({why})")
        );
        return;
    }
    let dir = test_dir("kretprobe");
    std::fs::write(format!("{dir}/kret-target"), "x").unwrap();
    each_function_hook(&mut source, |source| {
        returns_are_matched(source, &dir);
        exercised(if source.uses_trampolines() { "fexit" } else { "kretprobe" });
    });
}

/// A hook at security_file_open's return (its site taken anew: removing
/// a function's last hook frees its id).
fn returns_are_matched(source: &mut PolicySource, dir: &str) {
    let site = source.kretprobe_site("security_file_open").unwrap();
    let hook = Hook {
        policy_id: 16,
        sites: vec![site],
        args: vec![
            ArgSpec { source: ArgSource::Register(0), kind: ArgKind::File },
            ArgSpec { source: ArgSource::Return, kind: ArgKind::Int },
        ],
        skip_failed: false,
        selectors: vec![Selector {
            args: vec![
                ArgMatch::Str { index: 0, op: StrOp::Postfix, values: vec!["/kret-target".into()] },
                ArgMatch::Int { index: 1, op: IntOp::Equal, values: vec![0] },
            ],
            binaries: Some((BinariesOp::In, vec![python()])),
            actions: Actions { post: true, ..Default::default() },
            ..Default::default()
        }],
    };
    source.install(110, &hook).unwrap();
    let records = Records::new(source);
    let script = format!("open('{dir}/kret-target').read(); open('{dir}/kret-target').read(); print('alive')");
    let (pid, out) = run_with_pid("/usr/bin/python3", &["-c", &script]);
    assert!(alive(&out), "{out:?}");
    let got = records.until(&[pid], |got| got.len() >= 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    for r in &got {
        assert_eq!((r.site, r.ret, str_arg(r, 0)), (site, 0, format!("{dir}/kret-target")));
    }
    source.remove(110).unwrap();
}
