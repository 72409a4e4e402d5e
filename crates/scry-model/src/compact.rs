//! One human line per event, in the spirit of `tetra getevents -o compact`.

use crate::event::{Event, EventEnvelope, KprobeArgument, Process, ProcessKprobe};

/// Quotes like Go's `%q` when a string has spaces or non-printables.
fn quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control())) {
        s.to_owned()
    } else {
        format!("{s:?}")
    }
}

/// `namespace/pod` for a pod's process, else the node name.
fn source(p: &Process, node: &str) -> String {
    match &p.pod {
        Some(pod) => format!("{}/{}", pod.namespace, pod.name),
        None => node.to_owned(),
    }
}

fn head(emoji_word: &str, p: &Process, node: &str) -> String {
    let mut line = format!("{emoji_word} {} {}", source(p, node), quote(&p.binary));
    if !p.arguments.is_empty() {
        line.push(' ');
        line.push_str(&p.arguments);
    }
    line
}

/// A hook's line: the function's own word and details where Tetragon has
/// one (`📬 open` and the path, `🔌 connect` and the tuple …), `❓ syscall`
/// and the function's name otherwise; a killing hook says `💥 killed`.
fn kprobe(k: &ProcessKprobe, node: &str) -> String {
    let arg = |i: usize| k.args.get(i);
    let text = |i: usize| arg(i).and_then(KprobeArgument::text).map(quote).unwrap_or_default();
    let number = |i: usize| arg(i).and_then(KprobeArgument::number).unwrap_or_default();
    // read / write: the count is the last integer captured (the policy may
    // leave out the buffer).
    let size = || k.args.iter().skip(1).rev().find_map(KprobeArgument::number).unwrap_or_default();
    let function = k.function_name.strip_prefix("__x64_").unwrap_or(&k.function_name);
    let function = function.strip_prefix("sys_").unwrap_or(function);
    let (word, details) = match function {
        "write" => ("📝 write  ", format!("{} {} bytes", text(0), size())),
        "read" => ("📚 read   ", format!("{} {} bytes", text(0), size())),
        "fd_install" => ("📬 open   ", text(1)),
        "security_file_open" => ("📬 open   ", text(0)),
        "openat" => ("📬 openat ", text(1)),
        "open" => ("📬 open   ", text(0)),
        "close" => ("📪 close  ", text(0)),
        "setuid" => ("🔑 setuid ", number(0)),
        "security_bprm_check" => ("🚀 exec   ", text(0)),
        "tcp_connect" => {
            let tuple = arg(0)
                .and_then(|a| a.sock_arg.as_ref())
                .map(|s| connection(&s.protocol, (&s.saddr, s.sport), (&s.daddr, s.dport)));
            ("🔌 connect", tuple.unwrap_or_default())
        }
        "security_socket_connect" => {
            let protocol = arg(0).and_then(|a| a.sock_arg.as_ref()).map_or("", |s| &s.protocol);
            let to = arg(1).and_then(|a| a.sockaddr_arg.as_ref());
            let from = arg(0).and_then(|a| a.sock_arg.as_ref()).map_or(("", 0), |s| (&s.saddr, s.sport));
            ("🔌 connect", to.map(|to| connection(protocol, from, (&to.addr, to.port))).unwrap_or_default())
        }
        _ => ("❓ syscall", k.function_name.clone()),
    };
    let word = if k.action == "KPROBE_ACTION_SIGKILL" { "💥 killed " } else { word };
    let line = head(word, &k.process, node);
    if details.trim().is_empty() { line } else { format!("{line} {}", details.trim()) }
}

/// `tcp A:P -> B:Q`: the protocol's short name, the source when known.
fn connection(protocol: &str, from: (&str, u32), to: (&str, u32)) -> String {
    let at = |(addr, port): (&str, u32)| if port == 0 { addr.to_owned() } else { format!("{addr}:{port}") };
    let protocol = protocol.strip_prefix("IPPROTO_").unwrap_or(protocol).to_ascii_lowercase();
    let unknown = from.1 == 0 && matches!(from.0, "" | "0.0.0.0" | "::");
    if unknown { format!("{protocol} -> {}", at(to)) } else { format!("{protocol} {} -> {}", at(from), at(to)) }
}

pub fn format(ev: &EventEnvelope, timestamps: bool) -> String {
    let body = match &ev.event {
        Event::ProcessExec(e) => head("🚀 process", &e.process, &ev.node_name),
        Event::ProcessExit(e) => {
            let outcome = if e.signal.is_empty() { e.status.to_string() } else { e.signal.clone() };
            format!("{} {outcome}", head("💥 exit   ", &e.process, &ev.node_name))
        }
        Event::ProcessKprobe(k) => kprobe(k, &ev.node_name),
        Event::ProcessUprobe(u) => {
            let word = if u.action == "KPROBE_ACTION_SIGKILL" { "💥 killed " } else { "🕵️ uprobe " };
            format!("{} {} {}", head(word, &u.process, &ev.node_name), quote(&u.path), u.symbol)
        }
        Event::ProcessTracepoint(t) => {
            let (word, what) = match (t.subsys.as_str(), t.event.as_str()) {
                ("raw_syscalls", "sys_enter") => ("☎  syscall", String::new()),
                _ => ("⁉️ tracepoint", format!("{} {}", t.subsys, t.event)),
            };
            let word = if t.action == "KPROBE_ACTION_SIGKILL" { "💥 killed " } else { word };
            let line = head(word, &t.process, &ev.node_name);
            if what.is_empty() { line } else { format!("{line} {what}") }
        }
        Event::ProcessLsm(k) => {
            let word = if k.action == "KPROBE_ACTION_SIGKILL" { "💥 killed " } else { "🔒 LSM    " };
            format!("{} {}", head(word, &k.process, &ev.node_name), k.function_name)
        }
        Event::LostEvents(l) => format!("⚠️  lost {} events ({})", l.count, l.source),
    };
    if timestamps { format!("{} {body}", ev.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)) } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Pod, ProcessExec, ProcessExit};
    use std::sync::Arc;

    fn envelope(event: Event) -> EventEnvelope {
        EventEnvelope { event, node_name: "n1".into(), time: chrono::DateTime::UNIX_EPOCH }
    }

    #[test]
    fn exec_in_a_pod_and_exit_on_the_host() {
        let pod = Pod { namespace: "default".into(), name: "xwing".into(), ..Default::default() };
        let p = Arc::new(Process {
            binary: "/usr/bin/curl".into(),
            arguments: "https://ebpf.io/".into(),
            pod: Some(Arc::new(pod)),
            ..Default::default()
        });
        let exec = envelope(Event::ProcessExec(ProcessExec { process: p.clone(), ..Default::default() }));
        assert_eq!(format(&exec, false), "🚀 process default/xwing /usr/bin/curl https://ebpf.io/");
        let killed = ProcessExit { process: p, signal: "SIGKILL".into(), ..Default::default() };
        assert_eq!(
            format(&envelope(Event::ProcessExit(killed)), false),
            "💥 exit    default/xwing /usr/bin/curl https://ebpf.io/ SIGKILL"
        );
        let host = Process { binary: "/my bin/x".into(), ..Default::default() };
        let exit = ProcessExit { process: Arc::new(host), status: 3, ..Default::default() };
        assert_eq!(format(&envelope(Event::ProcessExit(exit)), false), "💥 exit    n1 \"/my bin/x\" 3");
    }

    #[test]
    fn hooks_use_their_functions_word_and_details() {
        use crate::event::{KprobePath, ProcessKprobe};
        let p = Arc::new(Process { binary: "/usr/bin/dash".into(), ..Default::default() });
        let file = |path: &str| KprobeArgument {
            file_arg: Some(KprobePath { path: path.into(), ..Default::default() }),
            ..Default::default()
        };
        let size = KprobeArgument { size_arg: Some("6".into()), ..Default::default() };
        let hook = |function: &str, args: Vec<KprobeArgument>, action: &str| {
            envelope(Event::ProcessKprobe(ProcessKprobe {
                process: p.clone(),
                function_name: function.into(),
                args,
                action: action.into(),
                ..Default::default()
            }))
        };
        let write = hook("__x64_sys_write", vec![file("/tmp/a b"), size], "KPROBE_ACTION_POST");
        assert_eq!(format(&write, false), "📝 write   n1 /usr/bin/dash \"/tmp/a b\" 6 bytes");
        let open = hook("security_file_open", vec![file("/etc/shadow")], "KPROBE_ACTION_SIGKILL");
        assert_eq!(format(&open, false), "💥 killed  n1 /usr/bin/dash /etc/shadow");
        let other = hook("__x64_sys_umask", Vec::new(), "KPROBE_ACTION_POST");
        assert_eq!(format(&other, false), "❓ syscall n1 /usr/bin/dash __x64_sys_umask");
    }
}
