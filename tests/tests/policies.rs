//! TracingPolicies on the real agent: loaded from --policy-dir (a broken file
//! is reported and the rest still loads), a Sigkill policy kills the listed
//! binary before its syscall returns and spares other arguments and
//! binaries, the kill is a `process_kprobe` event naming the process and the
//! policy, and `scry policy add | list | disable | enable | delete` manage
//! policies live (a policy this engine cannot run is refused whole, by path).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::time::Duration;

use scry_e2e::{Agent, Events, runtime, scry_bin};
use scry_model::event::{Event, EventType};
use scry_model::filter::EventFilter;

fn python() -> String {
    std::fs::canonicalize("/usr/bin/python3").unwrap().to_string_lossy().into_owned()
}

fn python_umask(mask: &str) -> Output {
    let script = format!("import os; os.umask({mask}); print('alive', flush=True)");
    Command::new("/usr/bin/python3").args(["-c", &script]).output().unwrap()
}

fn alive(out: &Output) -> bool {
    out.status.success() && out.stdout == b"alive\n"
}

fn killed(out: &Output) -> bool {
    out.status.signal() == Some(9) && out.stdout.is_empty()
}

fn umask_policy(name: &str, mask: u32, action: &str, mode: &str) -> String {
    format!(
        r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  options:
  - name: policy-mode
    value: {mode}
  kprobes:
  - call: sys_umask
    syscall: true
    args:
    - index: 0
      type: int
      label: mask
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["{mask}"]
      matchBinaries:
      - operator: In
        values: ["{python}"]
      matchActions:
      - action: {action}
"#,
        python = python()
    )
}

fn scry_policy(agent: &Agent, args: &[&str]) -> Output {
    Command::new(scry_bin()).arg("policy").arg("--socket").arg(&agent.socket).args(args).output().unwrap()
}

#[test]
fn policies_kill_and_post_in_the_kernel_and_are_managed_live() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-umask.yaml"), umask_policy("no-umask", 0o077, "Sigkill", "enforce")).unwrap();
    let bad = umask_policy("bad", 0o077, "Sigkill", "enforce").replace("operator: Equal", "operator: Equals");
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let agent = Agent::start(&["--policy-dir", dir.path().to_str().unwrap()]);
    let rt = runtime();
    let status = rt.block_on(agent.client().status()).unwrap();
    let notice = status.notices.iter().find(|n| n.contains("bad.yaml")).expect("the broken file is reported");
    assert!(
        notice.contains(r#"rejected: spec.kprobes[0].selectors[0].matchArgs[0].operator: unknown operator "Equals""#),
        "{notice}"
    );

    let filter = EventFilter { event_types: vec![EventType::ProcessKprobe], ..Default::default() };
    let mut events = rt.block_on(Events::subscribe(&agent, filter));
    assert!(alive(&python_umask("0o022")), "another mask");
    assert!(alive(&Command::new("/usr/bin/perl").args(["-e", "umask 077; print \"alive\\n\""]).output().unwrap()));
    let out = python_umask("0o077");
    assert!(killed(&out), "{out:?}");
    rt.block_on(events.until(Duration::from_secs(10), "the kill", |seen| !seen.is_empty()));
    let Event::ProcessKprobe(k) = &events.seen[0].event else { panic!("{:?}", events.seen[0]) };
    assert_eq!(k.function_name, "__x64_sys_umask");
    assert_eq!(k.action, "KPROBE_ACTION_SIGKILL");
    assert_eq!(k.policy_name, "no-umask");
    assert_eq!(k.process.binary, python());
    assert!(k.process.arguments.contains("os.umask(0o077)"), "{:?}", k.process.arguments);
    // Its parent is this test, which ran it.
    let me = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    let parent = k.parent.as_ref().expect("the parent process");
    assert_eq!(parent.binary, me.to_string_lossy());
    assert_eq!(parent.pid, Some(std::process::id()));
    assert_eq!(k.process.parent_exec_id, parent.exec_id);
    assert_eq!((k.args[0].int_arg, k.args[0].label.as_str()), (Some(0o077), "mask"));
    let json = serde_json::to_value(&events.seen[0]).unwrap();
    assert_eq!(json["process_kprobe"]["args"][0], serde_json::json!({"int_arg": 63, "label": "mask"}));

    // Live: a monitor-mode policy posts instead of killing, and names the
    // action enforcement would have taken.
    let file = dir.path().join("watch.yaml");
    std::fs::write(&file, umask_policy("watch-umask", 0o027, "Sigkill", "monitor")).unwrap();
    let added = scry_policy(&agent, &["add", file.to_str().unwrap()]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(alive(&python_umask("0o027")), "monitor mode does not kill");
    rt.block_on(events.until(Duration::from_secs(10), "the monitor post", |seen| seen.len() >= 2));
    let Event::ProcessKprobe(k) = &events.seen[1].event else { panic!() };
    assert_eq!((k.policy_name.as_str(), k.action.as_str()), ("watch-umask", "KPROBE_ACTION_SIGKILL"));

    let list = String::from_utf8(scry_policy(&agent, &["list"]).stdout).unwrap();
    assert!(list.contains("no-umask (enabled, enforce): 1 events, 1 signals, 0 rate-limited\n"), "{list}");
    assert!(list.contains("watch-umask (enabled, monitor): 1 events, 0 signals, 0 rate-limited\n"), "{list}");
    assert!(
        list.contains("  spec.kprobes[0]: kprobe sys_umask (syscall) → tracepoint syscalls/sys_enter_umask\n"),
        "{list}"
    );

    // Disabled: no kill; enabled again: kill; deleted: no kill.
    assert!(scry_policy(&agent, &["disable", "no-umask"]).status.success());
    assert!(alive(&python_umask("0o077")), "disabled");
    assert!(scry_policy(&agent, &["enable", "no-umask"]).status.success());
    assert!(killed(&python_umask("0o077")), "enabled again");
    assert!(scry_policy(&agent, &["delete", "no-umask"]).status.success());
    assert!(alive(&python_umask("0o077")), "deleted");
    let list = String::from_utf8(scry_policy(&agent, &["list"]).stdout).unwrap();
    assert!(!list.contains("no-umask"), "{list}");

    // Refused whole, by path: a hook this engine cannot run here, and an
    // unknown name.
    let lsm = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: lsm\nspec:\n  lsmhooks:\n  - hook: file_open\n";
    let file = dir.path().join("lsm.yaml");
    std::fs::write(&file, lsm).unwrap();
    let refused = scry_policy(&agent, &["add", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("spec.lsmhooks[0]: this kernel runs no BPF LSM programs (load: "), "{err}");
    let missing = scry_policy(&agent, &["delete", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains(r#"no policy named "nope" is loaded"#));
    let list = String::from_utf8(scry_policy(&agent, &["list"]).stdout).unwrap();
    assert_eq!(list.lines().filter(|l| !l.starts_with(' ')).count(), 1, "only watch-umask: {list}");

    // The canonical tcp_connect policy, where this kernel has no kprobes:
    // NotDPort 80,443 with Sigkill (scoped to Python, so nothing else on
    // the test machine is killed). Port 4444 kills before any SYN; 443 connects.
    let blocked = std::net::TcpListener::bind("127.0.0.1:4444").expect("port 4444 is free");
    blocked.set_nonblocking(true).unwrap();
    let _https = std::net::TcpListener::bind("127.0.0.1:443").expect("port 443 is free");
    let connect_policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: egress-ports\nspec:\n  kprobes:\n  \
         - call: tcp_connect\n    syscall: false\n    args:\n    - index: 0\n      type: sock\n    selectors:\n    \
         - matchArgs:\n      - index: 0\n        operator: NotDPort\n        values: [\"80\", \"443\"]\n      \
         matchBinaries:\n      - operator: In\n        values: [\"{}\"]\n      matchActions:\n      - action: Sigkill\n",
        python()
    );
    let file = dir.path().join("egress.yaml");
    std::fs::write(&file, connect_policy).unwrap();
    let added = scry_policy(&agent, &["add", file.to_str().unwrap()]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let connect = |port: u16| {
        let script =
            format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('alive')");
        Command::new("/usr/bin/python3").args(["-c", &script]).output().unwrap()
    };
    assert!(alive(&connect(443)), "443 is allowed");
    assert!(killed(&connect(4444)), "4444 is not");
    assert_eq!(blocked.accept().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "nothing to accept");
    rt.block_on(events.until(Duration::from_secs(10), "the connect kill", |seen| {
        seen.iter().any(|e| matches!(&e.event, Event::ProcessKprobe(k) if k.function_name == "tcp_connect"))
    }));
    let k = events
        .seen
        .iter()
        .find_map(|e| match &e.event {
            Event::ProcessKprobe(k) if k.function_name == "tcp_connect" => Some(k),
            _ => None,
        })
        .unwrap();
    assert_eq!((k.action.as_str(), k.policy_name.as_str()), ("KPROBE_ACTION_SIGKILL", "egress-ports"));
    let sock = k.args[0].sock_arg.as_ref().expect("the socket");
    assert_eq!((sock.family.as_str(), sock.daddr.as_str(), sock.dport), ("AF_INET", "127.0.0.1", 4444));
    // The engine's line in `scry status`: its records, no loss, and why
    // kprobes are not used here.
    let status = rt.block_on(agent.client().status()).unwrap();
    let engine = status.sources.iter().find(|s| s.name == "policy").expect("the policy engine's source line");
    assert!(engine.events >= 4, "{engine:?}");
    assert_eq!((engine.kernel_lost, engine.decode_errors), (0, 0));
    assert!(engine.fallbacks.iter().any(|f| f.kind == "kprobe"), "{engine:?}");
    assert!(engine.maps.iter().any(|m| m.name.ends_with("task_binary")), "{engine:?}");
    // security_socket_connect, refusing one UDP destination with EPERM:
    // the socket and the address it was given, by their own operators.
    let udp_policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: no-udp-4445\nspec:\n  \
                      kprobes:\n  - call: security_socket_connect\n    syscall: false\n    args:\n    - index: 0\n      \
                      type: socket\n    - index: 1\n      type: sockaddr\n    selectors:\n    - matchArgs:\n      \
                      - index: 0\n        operator: Protocol\n        values: [IPPROTO_UDP]\n      - index: 1\n        \
                      operator: SPort\n        values: [\"4445\"]\n      - index: 1\n        operator: SAddr\n        \
                      values: [\"127.0.0.0/8\"]\n      matchActions:\n      - action: Override\n        argError: -1\n";
    let file = dir.path().join("udp.yaml");
    std::fs::write(&file, udp_policy).unwrap();
    let added = scry_policy(&agent, &["add", file.to_str().unwrap()]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let udp_connect = |port: u16| {
        let script = format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.connect(('127.0.0.1', \
             {port}))\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)"
        );
        Command::new("/usr/bin/python3").args(["-c", &script]).output().unwrap()
    };
    assert_eq!(udp_connect(4446).stdout, b"connected\n");
    assert_eq!(udp_connect(4445).stdout, b"refused 1\n", "EPERM");
    rt.block_on(events.until(Duration::from_secs(10), "the refused UDP connect", |seen| {
        seen.iter().any(|e| matches!(&e.event, Event::ProcessKprobe(k) if k.function_name == "security_socket_connect"))
    }));
    let (k, compact) = events
        .seen
        .iter()
        .find_map(|e| match &e.event {
            Event::ProcessKprobe(k) if k.function_name == "security_socket_connect" => {
                Some((k, scry_model::compact::format(e, false)))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!((k.action.as_str(), k.policy_name.as_str()), ("KPROBE_ACTION_OVERRIDE", "no-udp-4445"));
    let sock = k.args[0].sock_arg.as_ref().expect("the socket");
    assert_eq!(
        (sock.family.as_str(), sock.sock_type.as_str(), sock.protocol.as_str(), sock.state.as_str()),
        ("AF_INET", "SOCK_DGRAM", "IPPROTO_UDP", "TCP_CLOSE")
    );
    let to = k.args[1].sockaddr_arg.as_ref().expect("the address");
    assert_eq!((to.family.as_str(), to.addr.as_str(), to.port), ("AF_INET", "127.0.0.1", 4445));
    assert!(compact.starts_with("🔌 connect") && compact.ends_with(" udp -> 127.0.0.1:4445"), "{compact}");
    let list = String::from_utf8(scry_policy(&agent, &["list"]).stdout).unwrap();
    assert!(
        list.contains(
            "  spec.kprobes[0]: kprobe tcp_connect → cgroup connect4/connect6 (refuses before the SYN: a signal or \
             Override refuses the connection with EPERM; the signal follows when connect() returns)\n"
        ),
        "{list}"
    );
}

/// dig asking `server` (over TCP with `tcp`) once, for a name of its own.
fn dig(server: &str, tcp: bool) -> Output {
    let mut cmd = Command::new("/usr/bin/dig");
    cmd.args([&format!("@{server}"), "+tries=1", "+timeout=1", "scry-policy.test"]);
    if tcp {
        cmd.arg("+tcp");
    }
    cmd.output().unwrap()
}

#[test]
fn tetragons_dns_only_specified_servers_policy_kills_a_query_to_another_server_before_it_leaves() {
    // Tetragon's example, scoped to dig so nothing else here is killed.
    let dig_binary = std::fs::canonicalize("/usr/bin/dig").unwrap();
    let policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: dns-only-specified-servers\nspec:\n  \
         kprobes:\n  - call: ip_output\n    syscall: false\n    args:\n    - index: 2\n      type: skb\n    selectors:\n    \
         - matchArgs:\n      - index: 2\n        operator: Protocol\n        values: [IPPROTO_TCP, IPPROTO_UDP]\n      \
         - index: 2\n        operator: DPort\n        values: [53]\n      - index: 2\n        operator: NotDAddr\n        \
         values: [127.0.0.53]\n      matchBinaries:\n      - operator: In\n        values: [\"{}\"]\n      matchActions:\n      \
         - action: Sigkill\n",
        dig_binary.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dns.yaml"), policy).unwrap();
    let allowed = std::net::UdpSocket::bind("127.0.0.53:53").expect("127.0.0.53:53 is free");
    let blocked = std::net::UdpSocket::bind("127.0.0.2:53").expect("127.0.0.2:53 is free");
    let blocked_tcp = std::net::TcpListener::bind("127.0.0.2:53").expect("127.0.0.2:53 (TCP) is free");
    blocked_tcp.set_nonblocking(true).unwrap();
    for s in [&allowed, &blocked] {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    let agent = Agent::start(&["--policy-dir", dir.path().to_str().unwrap()]);
    let rt = runtime();
    let filter = EventFilter { event_types: vec![EventType::ProcessKprobe], ..Default::default() };
    let mut events = rt.block_on(Events::subscribe(&agent, filter));

    // The listed server gets the query (nobody answers: dig gives up, alive).
    let out = dig("127.0.0.53", false);
    assert_eq!(out.status.signal(), None, "{out:?}");
    let mut query = [0; 512];
    let n = allowed.recv(&mut query).expect("the query reached 127.0.0.53");
    assert!(query[..n].windows(12).any(|w| w == b"\x0bscry-policy"), "a DNS query: {:?}", &query[..n]);
    // Another server, over UDP and over TCP: killed, and nothing arrived.
    for tcp in [false, true] {
        let out = dig("127.0.0.2", tcp);
        assert_eq!(out.status.signal(), Some(9), "tcp {tcp}: {out:?}");
    }
    assert!(blocked.recv(&mut query).is_err(), "a refused query arrived");
    assert_eq!(blocked_tcp.accept().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);

    rt.block_on(events.until(Duration::from_secs(10), "both kills", |seen| seen.len() >= 2));
    assert_eq!(events.seen.len(), 2, "{:#?}", events.seen);
    let protocols: Vec<_> = events
        .seen
        .iter()
        .map(|e| {
            let Event::ProcessKprobe(k) = &e.event else { panic!("{e:?}") };
            assert_eq!((k.function_name.as_str(), k.action.as_str()), ("ip_output", "KPROBE_ACTION_SIGKILL"));
            assert_eq!(
                (k.policy_name.as_str(), k.process.binary.as_str()),
                ("dns-only-specified-servers", &*dig_binary.to_string_lossy())
            );
            let skb = k.args[0].skb_arg.as_ref().expect("the packet");
            assert_eq!((skb.family.as_str(), skb.daddr.as_str(), skb.dport), ("AF_INET", "127.0.0.2", 53));
            assert_eq!(skb.saddr, "", "the source is not chosen yet");
            skb.protocol.clone()
        })
        .collect();
    assert_eq!(protocols, ["IPPROTO_UDP", "IPPROTO_TCP"]);
    let list = String::from_utf8(scry_policy(&agent, &["list"]).stdout).unwrap();
    assert!(
        list.contains(
            "  spec.kprobes[0]: kprobe ip_output → cgroup connect4/connect6 and sendmsg4/sendmsg6 (IPv4 flows"
        ),
        "{list}"
    );
}
