//! TracingPolicies on the kernel functions policies most often hook, where
//! this kernel attaches neither kprobes nor fentry: the agent runs them
//! through equivalent hooks and the effect is the function's. Each test
//! asserts what happened (killed, not printed, written) and the event:
//! - the canonical `security_bprm_check` policy (exec of curl / wget /
//!   python3, Post): the event names the executed file, the caller as the
//!   process (in its pod), its parent and ancestors; other programs post
//!   nothing; the matchBinaries form names the exec *made by* python3;
//! - `security_file_open` with Sigkill on one file for one binary: the
//!   content never reaches stdout; other binaries and files are untouched;
//!   Override is refused here by its path in the policy;
//! - a `write` to a watched path, found through the descriptor.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use scry_agent::client::PolicyCommand;
use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Events, NODE, real, runtime};
use scry_model::event::{Event, EventEnvelope, EventType, ProcessKprobe};
use scry_model::filter::EventFilter;

const WAIT: Duration = Duration::from_secs(10);

/// One agent (ancestors on, pods from the cluster) for this file's tests.
fn setup() -> &'static (Cluster, Agent) {
    static SETUP: OnceLock<(Cluster, Agent)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let cluster = Cluster::new("phook", 213, &[("shop", "tools-1")]);
        let mut args = cluster.agent_args();
        args.push("--enable-ancestors".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let agent = Agent::start(&args);
        (cluster, agent)
    })
}

fn add(agent: &Agent, yaml: &str) {
    let rt = runtime();
    if let Err(e) = rt.block_on(agent.client().add_policy(yaml)) {
        panic!("policy refused: {e}");
    }
}

fn kprobes<'a>(seen: &'a [EventEnvelope], policy: &str) -> Vec<&'a ProcessKprobe> {
    envelopes(seen, policy)
        .into_iter()
        .filter_map(|e| match &e.event {
            Event::ProcessKprobe(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn envelopes<'a>(seen: &'a [EventEnvelope], policy: &str) -> Vec<&'a EventEnvelope> {
    seen.iter().filter(|e| matches!(&e.event, Event::ProcessKprobe(k) if k.policy_name == policy)).collect()
}

/// Subscribes on `rt`, which must outlive the subscription.
fn subscribe(rt: &tokio::runtime::Runtime, types: &[EventType]) -> Events {
    let filter = EventFilter { event_types: types.to_vec(), ..Default::default() };
    rt.block_on(Events::subscribe(&setup().1, filter))
}

const EXEC_WATCH: &str = r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: exec-watch-net-tools
spec:
  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/usr/bin/curl", "/usr/bin/wget", "/usr/bin/python3"]
      matchActions:
      - action: Post
"#;

#[test]
fn exec_of_network_tools_names_the_file_the_caller_its_pod_and_its_parent_chain() {
    let (cluster, agent) = setup();
    add(agent, EXEC_WATCH);
    let list = runtime().block_on(agent.client().policies()).unwrap();
    let p = list.iter().find(|p| p.name == "exec-watch-net-tools").unwrap();
    assert!(p.hooks[0].attachment.starts_with("tp_btf sched_process_exec"), "{:?}", p.hooks);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe, EventType::ProcessExec]);
    let pod = cluster.pod("tools-1");
    // The shell forks and execs curl, then ls (not watched), then python3.
    let script = "echo $$; /usr/bin/curl --version >/dev/null; /bin/ls / >/dev/null; /usr/bin/python3 -c pass; true";
    let out = cluster.command(pod, "/bin/sh", &["-c", script]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // Other tests run python3 too: this shell's children only.
    let ours = |seen: &[EventEnvelope]| -> Vec<EventEnvelope> {
        envelopes(seen, "exec-watch-net-tools")
            .into_iter()
            .filter(
                |e| matches!(&e.event, Event::ProcessKprobe(k) if k.parent.as_ref().and_then(|p| p.pid) == Some(shell)),
            )
            .cloned()
            .collect()
    };
    rt.block_on(events.until(WAIT, "two exec hooks and the python exec", |seen| {
        ours(seen).len() >= 2
            && scry_e2e::execs_of(seen, &real("/usr/bin/python3"))
                .iter()
                .any(|e| e.parent.as_ref().and_then(|p| p.pid) == Some(shell))
    }));
    let mine = ours(&events.seen);
    let hooks = kprobes(&mine, "exec-watch-net-tools");
    let paths: Vec<&str> = hooks.iter().map(|k| k.args[0].linux_binprm_arg.as_ref().unwrap().path.as_str()).collect();
    assert_eq!(paths, ["/usr/bin/curl", real("/usr/bin/python3").as_str()], "ls posts nothing");
    let curl = hooks[0];
    assert_eq!((curl.function_name.as_str(), curl.action.as_str()), ("security_bprm_check", "KPROBE_ACTION_POST"));
    // The process is the caller: the shell's fork, which then became curl.
    let exec = scry_e2e::execs_of(&events.seen, "/usr/bin/curl")
        .into_iter()
        .find(|e| e.parent.as_ref().and_then(|p| p.pid) == Some(shell))
        .expect("curl's exec");
    assert_eq!(curl.process.binary, real("/bin/sh"));
    assert_eq!(curl.process.pid, exec.process.pid, "the same task, before and after its exec");
    assert_ne!(curl.process.exec_id, exec.process.exec_id);
    let in_pod = curl.process.pod.as_ref().expect("the caller's pod");
    assert_eq!((in_pod.namespace.as_str(), in_pod.name.as_str()), ("shop", "tools-1"));
    // Its parent is the shell, whose parent is this test.
    let parent = curl.parent.as_ref().expect("the parent");
    assert_eq!((parent.pid, parent.binary.as_str()), (Some(shell), real("/bin/sh").as_str()));
    assert_eq!(curl.process.parent_exec_id, parent.exec_id);
    let me = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(curl.ancestors.first().map(|a| a.binary.as_str()), Some(me.to_str().unwrap()), "{:?}", curl.ancestors);
    let json = serde_json::to_value(mine[0].clone()).unwrap();
    assert_eq!(json["process_kprobe"]["args"][0], serde_json::json!({"linux_binprm_arg": {"path": "/usr/bin/curl"}}));
}

#[test]
fn match_binaries_on_an_exec_hook_names_the_program_making_the_exec() {
    let (_, agent) = setup();
    let python = real("/usr/bin/python3");
    let policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: execs-by-python\nspec:\n  kprobes:\n  \
         - call: security_bprm_check\n    syscall: false\n    args:\n    - index: 0\n      type: linux_binprm\n    \
         selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\"{python}\"]\n      \
         matchActions:\n      - action: Post\n"
    );
    add(agent, &policy);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    // python3 execs a shell, which execs id: only the first is python's.
    let out = Command::new("/usr/bin/python3").args(["-c", "import os; os.system('/usr/bin/id >/dev/null')"]).output();
    assert!(out.unwrap().status.success());
    rt.block_on(events.until(WAIT, "python's exec", |seen| !kprobes(seen, "execs-by-python").is_empty()));
    // Whatever else would post arrives within the same drain.
    rt.block_on(events.collect_for(Duration::from_secs(1)));
    let hooks = kprobes(&events.seen, "execs-by-python");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    assert_eq!(hooks[0].process.binary, python);
    assert_eq!(hooks[0].args[0].linux_binprm_arg.as_ref().unwrap().path, real("/bin/sh"));
}

#[test]
fn a_file_open_is_denied_to_one_binary_by_sigkill_and_override_is_refused_by_path() {
    let (_, agent) = setup();
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "classified\n").unwrap();
    std::fs::write(dir.join("public.txt"), "public\n").unwrap();
    let cat = real("/usr/bin/cat");
    let policy = |name: &str, action: &str| {
        format!(
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n  kprobes:\n  \
             - call: security_file_open\n    syscall: false\n    args:\n    - index: 0\n      type: file\n    \
             selectors:\n    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: [\"{}\"]\n      \
             matchBinaries:\n      - operator: In\n        values: [\"{cat}\"]\n      matchActions:\n      \
             - action: {action}\n",
            secret.display()
        )
    };
    let rt = runtime();
    let refused = rt.block_on(agent.client().add_policy(&policy("deny-override", "Override\n        argError: -1")));
    let err = refused.unwrap_err().to_string();
    assert!(
        err.contains(
            "spec.kprobes[0].selectors[0].matchActions[0].action: Override changes a function's return value, which \
             needs fmod_ret, an LSM hook or kprobe override"
        ),
        "{err}"
    );
    add(agent, &policy("deny-secret", "Sigkill"));
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    let run = |program: &str, file: &str| Command::new(program).arg(dir.join(file)).output().unwrap();
    let out = run("/usr/bin/cat", "public.txt");
    assert_eq!((out.status.success(), out.stdout.as_slice()), (true, b"public\n".as_slice()));
    let out = run("/usr/bin/head", "secret.txt");
    assert_eq!(out.stdout, b"classified\n", "another binary reads it");
    let out = run("/usr/bin/cat", "secret.txt");
    assert_eq!((out.status.signal(), out.stdout.as_slice()), (Some(9), b"".as_slice()), "{out:?}");
    rt.block_on(events.until(WAIT, "the kill", |seen| !kprobes(seen, "deny-secret").is_empty()));
    let k = kprobes(&events.seen, "deny-secret")[0];
    assert_eq!((k.function_name.as_str(), k.action.as_str()), ("security_file_open", "KPROBE_ACTION_SIGKILL"));
    assert_eq!(k.process.binary, cat);
    assert_eq!(k.args[0].file_arg.as_ref().unwrap().path, secret.to_string_lossy());
    assert_eq!(kprobes(&events.seen, "deny-secret").len(), 1);
}

#[test]
fn a_write_to_a_watched_path_is_found_through_its_descriptor() {
    let (_, agent) = setup();
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: watch-writes\nspec:\n  kprobes:\n  \
         - call: sys_write\n    syscall: true\n    args:\n    - index: 0\n      type: fd\n    - index: 2\n      \
         type: size_t\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Prefix\n        \
         values: [\"{}/watched\"]\n",
        dir.display()
    );
    add(agent, &policy);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    let write = |file: &str| {
        let script = format!("printf 'hello\\n' > {}/{file}", dir.display());
        assert!(Command::new("/bin/sh").args(["-c", &script]).status().unwrap().success());
    };
    write("other.log");
    write("watched.log");
    rt.block_on(events.until(WAIT, "the watched write", |seen| !kprobes(seen, "watch-writes").is_empty()));
    let hooks = kprobes(&events.seen, "watch-writes");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    let k = hooks[0];
    assert_eq!(k.function_name, "__x64_sys_write");
    assert_eq!(k.args[0].file_arg.as_ref().unwrap().path, dir.join("watched.log").to_string_lossy());
    assert_eq!(k.args[1].size_arg.as_deref(), Some("6"));
    assert_eq!(k.process.binary, real("/bin/sh"));
    let line = scry_model::compact::format(envelopes(&events.seen, "watch-writes")[0], false);
    assert!(line.starts_with(&format!("📝 write   {NODE} /usr/bin/dash ")), "{line}");
    assert!(line.ends_with(&format!("{}/watched.log 6 bytes", dir.display())), "{line}");
    assert_eq!(std::fs::read_to_string(dir.join("watched.log")).unwrap(), "hello\n");
}

#[test]
fn a_rate_limited_post_is_sent_once_per_window_and_the_rest_are_counted() {
    let (_, agent) = setup();
    let policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: once-a-minute\nspec:\n  \
                  kprobes:\n  - call: sys_getpriority\n    syscall: true\n    args:\n    - index: 1\n      type: int\n    \
                  selectors:\n    - matchArgs:\n      - index: 1\n        operator: Equal\n        values: [\"525252\"]\n      \
                  matchActions:\n      - action: Post\n        rateLimit: 1m\n        rateLimitScope: process\n";
    add(agent, policy);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    // Ten calls from two threads of one process: one window for both.
    let script = "import os, threading\ndef calls():\n    for _ in range(5):\n        try:\n            \
                  os.getpriority(os.PRIO_PROCESS, 525252)\n        except OSError:\n            pass\n\
                  t = threading.Thread(target=calls)\nt.start(); calls(); t.join()";
    assert!(Command::new("/usr/bin/python3").args(["-c", script]).status().unwrap().success());
    rt.block_on(events.until(WAIT, "the first post", |seen| !kprobes(seen, "once-a-minute").is_empty()));
    rt.block_on(events.collect_for(Duration::from_secs(1)));
    assert_eq!(kprobes(&events.seen, "once-a-minute").len(), 1);
    let list = rt.block_on(agent.client().policies()).unwrap();
    let p = list.iter().find(|p| p.name == "once-a-minute").unwrap();
    assert_eq!((p.events, p.rate_limited), (1, 9));
}

/// A function of this test binary for the uprobe policy.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn scry_e2e_uprobe_target(count: i32, name: *const std::ffi::c_char) -> i32 {
    std::hint::black_box(name);
    std::hint::black_box(count)
}

#[test]
fn a_uprobe_on_a_function_of_this_binary_captures_its_arguments() {
    let (_, agent) = setup();
    let me = std::fs::canonicalize("/proc/self/exe").unwrap().to_string_lossy().into_owned();
    let policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: test-uprobe\nspec:\n  uprobes:\n  \
         - path: \"{me}\"\n    symbols: [scry_e2e_uprobe_target]\n    args:\n    - index: 0\n      type: int\n      \
         label: count\n    - index: 1\n      type: string\n    selectors:\n    - matchArgs:\n      - index: 0\n        \
         operator: GreaterThan\n        values: [\"100\"]\n"
    );
    add(agent, &policy);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessUprobe]);
    assert_eq!(scry_e2e_uprobe_target(7, c"too small".as_ptr()), 7);
    assert_eq!(scry_e2e_uprobe_target(250, c"widgets".as_ptr()), 250);
    let uprobe = |seen: &[EventEnvelope]| -> Vec<scry_model::event::ProcessUprobe> {
        seen.iter()
            .filter_map(|e| match &e.event {
                Event::ProcessUprobe(u) if u.policy_name == "test-uprobe" => Some(u.clone()),
                _ => None,
            })
            .collect()
    };
    rt.block_on(events.until(WAIT, "the uprobe", |seen| !uprobe(seen).is_empty()));
    rt.block_on(events.collect_for(Duration::from_millis(500)));
    let got = uprobe(&events.seen);
    assert_eq!(got.len(), 1, "{got:#?}");
    let u = &got[0];
    assert_eq!((u.path.as_str(), u.symbol.as_str()), (me.as_str(), "scry_e2e_uprobe_target"));
    assert_eq!((u.process.pid, u.process.binary.as_str()), (Some(std::process::id()), me.as_str()));
    assert_eq!((u.args[0].int_arg, u.args[0].label.as_str()), (Some(250), "count"));
    assert_eq!(u.args[1].string_arg.as_deref(), Some("widgets"));
    let envelope = events.seen.iter().find(|e| matches!(&e.event, Event::ProcessUprobe(_))).unwrap();
    let json = serde_json::to_value(envelope).unwrap();
    assert_eq!(json["process_uprobe"]["symbol"], "scry_e2e_uprobe_target");
    let line = scry_model::compact::format(envelope, false);
    assert!(line.starts_with("🕵️ uprobe "), "{line}");
    assert!(line.ends_with(&format!("{me} scry_e2e_uprobe_target")), "{line}");
}

#[test]
fn a_tracepoint_hook_reads_its_fields_by_position_in_the_format_file() {
    let (_, agent) = setup();
    // sched_process_exec: the four common fields, then filename (a
    // __data_loc string) and pid.
    let policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: exec-tracepoint\nspec:\n  \
                  tracepoints:\n  - subsystem: sched\n    event: sched_process_exec\n    args:\n    - index: 4\n      \
                  type: string\n    - index: 5\n      type: int\n    selectors:\n    - matchArgs:\n      - index: 4\n        \
                  operator: Postfix\n        values: [\"/perl\"]\n";
    add(agent, policy);
    let list = runtime().block_on(agent.client().policies()).unwrap();
    let p = list.iter().find(|p| p.name == "exec-tracepoint").unwrap();
    assert_eq!(
        (p.hooks[0].hook.as_str(), p.hooks[0].attachment.as_str()),
        ("tracepoint sched/sched_process_exec", "tracepoint")
    );
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessTracepoint]);
    let child = Command::new("/usr/bin/perl").args(["-e", "1"]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    let mine = |seen: &[EventEnvelope]| -> Vec<scry_model::event::ProcessTracepoint> {
        seen.iter()
            .filter_map(|e| match &e.event {
                Event::ProcessTracepoint(t) if t.policy_name == "exec-tracepoint" && t.process.pid == Some(pid) => {
                    Some(t.clone())
                }
                _ => None,
            })
            .collect()
    };
    rt.block_on(events.until(WAIT, "perl's exec", |seen| !mine(seen).is_empty()));
    let t = &mine(&events.seen)[0];
    assert_eq!((t.subsys.as_str(), t.event.as_str()), ("sched", "sched_process_exec"));
    assert_eq!(t.args[0].string_arg.as_deref(), Some("/usr/bin/perl"));
    assert_eq!(t.args[1].int_arg, Some(pid as i32));
}

#[test]
fn new_credentials_are_seen_where_commit_creds_cannot_be_hooked() {
    let (_, agent) = setup();
    let policy = format!(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: creds-watch\nspec:\n  kprobes:\n  \
         - call: commit_creds\n    syscall: false\n    args:\n    - index: 0\n      type: cred\n    selectors:\n    \
         - matchBinaries:\n      - operator: In\n        values: [\"{}\"]\n",
        real("/usr/bin/python3")
    );
    add(agent, &policy);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    // Root drops its group, then its user: two commits, then nothing.
    let script = "import os; os.setresgid(4242, 4242, 4242); os.setresuid(4243, 4243, 4243)";
    let mut child = Command::new("/usr/bin/python3").args(["-c", script]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let mine = |seen: &[EventEnvelope]| -> Vec<ProcessKprobe> {
        kprobes(seen, "creds-watch").into_iter().filter(|k| k.process.pid == Some(pid)).cloned().collect()
    };
    rt.block_on(events.until(WAIT, "both commits", |seen| mine(seen).len() >= 2));
    rt.block_on(events.collect_for(Duration::from_millis(500)));
    let got = mine(&events.seen);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got.iter().all(|k| k.function_name == "commit_creds" && k.action == "KPROBE_ACTION_POST"));
    let creds = |k: &ProcessKprobe| k.args[0].process_credentials_arg.clone().expect("the credentials");
    let (first, second) = (creds(&got[0]), creds(&got[1]));
    let ids = |c: &scry_model::event::ProcessCredentials| {
        [c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid].map(Option::unwrap_or_default)
    };
    assert_eq!(ids(&first), [0, 0, 0, 0, 4242, 4242, 4242, 4242]);
    assert!(first.caps.as_ref().unwrap().effective.names().any(|c| c == "CAP_SYS_ADMIN"), "{first:?}");
    assert_eq!(ids(&second), [4243, 4243, 4243, 4243, 4242, 4242, 4242, 4242]);
    // Dropping root's uids clears the permitted and effective sets.
    let caps = second.caps.as_ref().unwrap();
    assert!(caps.effective.is_empty() && caps.permitted.is_empty(), "{second:?}");
    let list = rt.block_on(agent.client().policies()).unwrap();
    let p = list.iter().find(|p| p.name == "creds-watch").unwrap();
    assert!(p.hooks[0].attachment.starts_with("tp_btf sys_exit of setuid, setgid,"), "{p:?}");
}

/// A policy on getpriority(2) for `who` 626262, Post, with `scope` (YAML
/// under `spec:`, or a namespaced kind).
fn scoped_policy(name: &str, kind: &str, scope: &str) -> String {
    let namespace = if kind == "TracingPolicyNamespaced" { "  namespace: shop\n" } else { "" };
    format!(
        "apiVersion: cilium.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{namespace}spec:\n{scope}  kprobes:\n  \
         - call: sys_getpriority\n    syscall: true\n    args:\n    - index: 1\n      type: int\n    selectors:\n    \
         - matchArgs:\n      - index: 1\n        operator: Equal\n        values: [\"626262\"]\n"
    )
}

#[test]
fn scoped_policies_run_only_in_the_pods_and_containers_they_select() {
    let (cluster, agent) = setup();
    let pod = cluster.pod("tools-1");
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe, EventType::ProcessExec]);
    // The agent knows the pod (its execs carry it) before the policies come.
    let marker = cluster.command(pod, "/bin/sh", &["-c", "echo $$"]).output().unwrap();
    let marker: u32 = String::from_utf8_lossy(&marker.stdout).trim().parse().unwrap();
    rt.block_on(events.until(WAIT, "an exec attributed to the pod", |seen| {
        scry_e2e::exec_of(seen, marker).is_some_and(|e| e.process.pod.is_some())
    }));
    add(agent, &scoped_policy("scoped-shop", "TracingPolicyNamespaced", ""));
    add(
        agent,
        &scoped_policy("scoped-elsewhere", "TracingPolicy", "  podSelector:\n    matchLabels:\n      app: web\n"),
    );
    add(agent, &scoped_policy("scoped-host", "TracingPolicy", "  hostSelector: {}\n"));
    add(
        agent,
        &scoped_policy(
            "scoped-container",
            "TracingPolicy",
            "  podSelector:\n    matchLabels:\n      app: tools-1\n  containerSelector:\n    matchExpressions:\n    \
             - key: repo\n      operator: In\n      values: [scry-test]\n",
        ),
    );
    let script =
        "import os\ntry:\n    os.getpriority(os.PRIO_PROCESS, 626262)\nexcept OSError:\n    pass\nprint(os.getpid())";
    let in_pod = cluster.command(pod, "/usr/bin/python3", &["-c", script]).output().unwrap();
    let in_pod: u32 = String::from_utf8_lossy(&in_pod.stdout).trim().parse().unwrap();
    let on_host = Command::new("/usr/bin/python3").args(["-c", script]).output().unwrap();
    let on_host: u32 = String::from_utf8_lossy(&on_host.stdout).trim().parse().unwrap();
    let scoped = |seen: &[EventEnvelope]| -> Vec<(String, u32)> {
        ["scoped-shop", "scoped-elsewhere", "scoped-container", "scoped-host"]
            .iter()
            .flat_map(|p| kprobes(seen, p))
            .map(|k| (k.policy_name.clone(), k.process.pid.unwrap_or_default()))
            .collect()
    };
    rt.block_on(events.until(WAIT, "the pod's two posts and the host's", |seen| scoped(seen).len() >= 3));
    rt.block_on(events.collect_for(Duration::from_millis(500)));
    let mut got = scoped(&events.seen);
    got.sort();
    // Other tests' processes run on the host too: this one's only.
    got.retain(|(_, pid)| *pid == in_pod || *pid == on_host);
    assert_eq!(
        got,
        vec![
            ("scoped-container".to_owned(), in_pod),
            ("scoped-host".to_owned(), on_host),
            ("scoped-shop".to_owned(), in_pod)
        ]
    );
    for name in ["scoped-shop", "scoped-elsewhere", "scoped-container", "scoped-host"] {
        rt.block_on(agent.client().policy_command(PolicyCommand::Delete, name)).unwrap();
    }
}

#[test]
fn a_written_buffer_is_captured_by_its_length_a_long_one_says_it_was_cut_and_max_data_keeps_it_whole() {
    use base64::Engine as _;
    let (_, agent) = setup();
    let policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: write-bytes\nspec:\n  kprobes:\n  \
                  - call: sys_write\n    syscall: true\n    args:\n    - index: 0\n      type: int\n    - index: 1\n      \
                  type: char_buf\n      sizeArgIndex: 3\n    - index: 2\n      type: size_t\n    selectors:\n    \
                  - matchArgs:\n      - index: 1\n        operator: Prefix\n        values: [\"scry-e2e-\"]\n";
    add(agent, policy);
    // With maxData, the whole of a long buffer.
    let max_data = policy
        .replace("name: write-bytes", "name: write-bytes-max")
        .replace("sizeArgIndex: 3", "sizeArgIndex: 3\n      maxData: true")
        .replace("scry-e2e-", "scry-max-");
    add(agent, &max_data);
    let rt = runtime();
    let mut events = subscribe(&rt, &[EventType::ProcessKprobe]);
    let script = "import os\nfd = os.open('/dev/null', os.O_WRONLY)\nos.write(fd, b'scry-e2e-bytes\\x00\\x01')\n\
                  os.write(fd, b'scry-e2e-' + b'y' * 6000)\nos.write(fd, b'scry-max-' + b'z' * 60000)\nprint(os.getpid())";
    let out = Command::new("/usr/bin/python3").args(["-c", script]).output().unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let mine = |seen: &[EventEnvelope]| -> Vec<ProcessKprobe> {
        kprobes(seen, "write-bytes").into_iter().filter(|k| k.process.pid == Some(pid)).cloned().collect()
    };
    rt.block_on(events.until(WAIT, "both writes", |seen| mine(seen).len() >= 2));
    let got = mine(&events.seen);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    assert_eq!(got[0].args[1].bytes_arg.as_deref(), Some(b64(b"scry-e2e-bytes\x00\x01").as_str()));
    assert_eq!(got[0].args[2].size_arg.as_deref(), Some("16"));
    let cut = got[1].args[1].truncated_bytes_arg.as_ref().expect("cut");
    assert_eq!(cut.orig_size, 6009);
    assert_eq!(cut.bytes_arg, b64(&[b"scry-e2e-".as_slice(), &[b'y'; 4086]].concat()));
    let whole = |seen: &[EventEnvelope]| -> Vec<ProcessKprobe> {
        kprobes(seen, "write-bytes-max").into_iter().filter(|k| k.process.pid == Some(pid)).cloned().collect()
    };
    rt.block_on(events.until(WAIT, "the maxData write", |seen| !whole(seen).is_empty()));
    let got = whole(&events.seen);
    assert_eq!(got.len(), 1, "one write matches the maxData policy");
    assert_eq!(
        got[0].args[1].bytes_arg.as_deref(),
        Some(b64(&[b"scry-max-".as_slice(), &[b'z'; 60000]].concat()).as_str())
    );
    assert_eq!(got[0].args[2].size_arg.as_deref(), Some("60009"));
    for name in ["write-bytes", "write-bytes-max"] {
        rt.block_on(agent.client().policy_command(PolicyCommand::Delete, name)).unwrap();
    }
}
