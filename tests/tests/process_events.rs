//! Process exec/exit events from a running agent, as root on the real kernel:
//! exact binaries, argv, cwd, uid, exit codes, signals, parent chains,
//! container attribution, Tetragon-shaped JSON and compact lines.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use scry_e2e::{Agent, Events, NODE, copy_executable, exec_of, execs_of, exit_of, real, runtime, scry_bin};
use scry_model::filter::EventFilter;

const WAIT: Duration = Duration::from_secs(10);

/// One agent for this file's tests, with ancestors on.
fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| Agent::start(&["--enable-ancestors"]))
}

fn all() -> EventFilter {
    EventFilter::default()
}

#[test]
fn exit_code_argv_cwd_uid_and_parent() {
    let rt = runtime();
    rt.block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("/bin/sh").args(["-c", "exit 3"]).current_dir(dir.path()).spawn().unwrap();
        let pid = child.id();
        assert_eq!(child.wait().unwrap().code(), Some(3));
        events
            .until(WAIT, "exec and exit of sh -c 'exit 3'", |seen| {
                exec_of(seen, pid).is_some_and(|e| exit_of(seen, &e.process.exec_id).is_some())
            })
            .await;
        let exec = exec_of(&events.seen, pid).unwrap();
        let p = &exec.process;
        assert_eq!(p.binary, real("/bin/sh"));
        assert_eq!(p.arguments, "-c \"exit 3\"");
        assert_eq!(p.cwd, real(dir.path().to_str().unwrap()));
        assert_eq!(p.uid, Some(0));
        assert_eq!(p.tid, Some(pid));
        assert_eq!(p.flags, "execve clone");
        assert!(p.start_time.is_some());
        // The parent is this test process, which predates the agent.
        let parent = exec.parent.as_ref().expect("parent");
        assert_eq!(parent.pid, Some(std::process::id()));
        assert_eq!(p.parent_exec_id, parent.exec_id);
        assert!(parent.flags.contains("procFS"), "parent flags: {}", parent.flags);
        let exec_id = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&p.exec_id).unwrap()).unwrap();
        assert!(exec_id.starts_with(&format!("{NODE}:")) && exec_id.ends_with(&format!(":{pid}")), "{exec_id}");
        let exit = exit_of(&events.seen, &p.exec_id).unwrap();
        assert_eq!((exit.status, exit.signal.as_str()), (3, ""));
        assert_eq!(exit.parent.as_ref().map(|p| &p.exec_id), Some(&parent.exec_id));
        assert!(exit.time.unwrap() >= p.start_time.unwrap());
    });
}

#[test]
fn killed_by_sigkill() {
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let mut child = Command::new("/usr/bin/sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        events.until(WAIT, "exec of sleep 30", |seen| exec_of(seen, pid).is_some()).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let exec_id = exec_of(&events.seen, pid).unwrap().process.exec_id.clone();
        events.until(WAIT, "exit of sleep 30", |seen| exit_of(seen, &exec_id).is_some()).await;
        let exit = exit_of(&events.seen, &exec_id).unwrap();
        assert_eq!(exit.signal, "SIGKILL");
        assert_eq!(exit.status, 0, "no exit code when a signal ended it");
        assert_eq!(exit.process.binary, real("/usr/bin/sleep"));
        assert_eq!(exit.process.arguments, "30");
    });
}

#[test]
fn binary_copied_to_a_temp_dir_and_run_by_path() {
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("my-true");
        copy_executable("/usr/bin/true", &bin);
        let mut child = Command::new(&bin).args(["a b", "c"]).current_dir("/").spawn().unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        events
            .until(WAIT, "exec and exit of my-true", |seen| {
                exec_of(seen, pid).is_some_and(|e| exit_of(seen, &e.process.exec_id).is_some())
            })
            .await;
        let exec = exec_of(&events.seen, pid).unwrap();
        assert_eq!(exec.process.binary, real(bin.to_str().unwrap()));
        assert_eq!(exec.process.arguments, "\"a b\" c");
        assert_eq!(exec.process.cwd, "/");
        assert_eq!(exec.process.flags, "execve rootcwd clone");
        let exit = exit_of(&events.seen, &exec.process.exec_id).unwrap();
        assert_eq!((exit.status, exit.signal.as_str()), (0, ""));
    });
}

#[test]
fn shell_pipeline_children_share_the_shell_as_parent() {
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let out = Command::new("/bin/sh")
            .args(["-c", "/usr/bin/printf 'pipe\\n' | /usr/bin/tr a-z A-Z | /usr/bin/cat"])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"PIPE\n");
        let bins = [real("/usr/bin/printf"), real("/usr/bin/tr"), real("/usr/bin/cat")];
        let shell_args = "-c \"/usr/bin/printf 'pipe\\n' | /usr/bin/tr a-z A-Z | /usr/bin/cat\"";
        events
            .until(WAIT, "the pipeline's three execs and exits", |seen| {
                bins.iter().all(|b| {
                    execs_of(seen, b).iter().any(|e| {
                        e.parent.as_ref().is_some_and(|p| p.arguments == shell_args)
                            && exit_of(seen, &e.process.exec_id).is_some()
                    })
                })
            })
            .await;
        let shell = execs_of(&events.seen, &real("/bin/sh"))
            .into_iter()
            .find(|e| e.process.arguments == shell_args)
            .expect("the shell's exec");
        for (bin, args) in bins.iter().zip(["pipe\\n", "a-z A-Z", ""]) {
            let e = execs_of(&events.seen, bin)
                .into_iter()
                .find(|e| e.process.parent_exec_id == shell.process.exec_id)
                .unwrap_or_else(|| panic!("{bin} with the shell as parent"));
            assert_eq!(e.process.arguments, args);
            assert_eq!(exit_of(&events.seen, &e.process.exec_id).unwrap().status, 0);
        }
    });
}

#[test]
fn three_level_fork_exec_chain_with_ancestors() {
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        // The trailing `:` stops dash from exec'ing its last command in place,
        // so each level is a fork + exec.
        let mut child = Command::new("/bin/sh").args(["-c", "/bin/sh -c '/usr/bin/sleep 0.1; :'; :"]).spawn().unwrap();
        let top = child.id();
        assert!(child.wait().unwrap().success());
        let sleep_bin = real("/usr/bin/sleep");
        events
            .until(WAIT, "sleep 0.1 under two shells", |seen| {
                execs_of(seen, &sleep_bin).iter().any(|e| e.ancestors.first().is_some_and(|a| a.pid == Some(top)))
            })
            .await;
        let sleep = execs_of(&events.seen, &sleep_bin)
            .into_iter()
            .find(|e| e.ancestors.first().is_some_and(|a| a.pid == Some(top)))
            .unwrap();
        let level1 = exec_of(&events.seen, top).unwrap();
        let level2 = sleep.parent.as_ref().unwrap();
        assert_eq!(level2.binary, real("/bin/sh"));
        assert_eq!(level2.arguments, "-c \"/usr/bin/sleep 0.1; :\"");
        assert_eq!(level2.parent_exec_id, level1.process.exec_id);
        assert_eq!(sleep.process.parent_exec_id, level2.exec_id);
        assert_eq!(sleep.process.arguments, "0.1");
        // ancestors: level 1 shell, then this test process, then its parents.
        assert_eq!(sleep.ancestors[0].exec_id, level1.process.exec_id);
        assert_eq!(sleep.ancestors[1].pid, Some(std::process::id()));
        assert_eq!(sleep.ancestors[1].exec_id, level1.process.parent_exec_id);
        for pair in sleep.ancestors.windows(2) {
            assert_eq!(pair[0].parent_exec_id, pair[1].exec_id, "each ancestor's parent is the next one");
        }
    });
}

const CONTAINER: &str = "4f1d7a0c3b2e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const POD_UID: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";

/// Runs `/usr/bin/true` inside the cgroup at `dir` and returns its pid.
fn run_in_cgroup(dir: &std::path::Path) -> u32 {
    let procs = dir.join("cgroup.procs");
    let mut cmd = Command::new("/usr/bin/true");
    // SAFETY: only a write(2) through std between fork and exec.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, "0"));
    }
    let mut child = cmd.spawn().expect("process moved into the test cgroup");
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

/// A cgroup tree the test removes when done.
struct TestCgroup(Vec<std::path::PathBuf>);

impl TestCgroup {
    fn create(root: &str, path: &str) -> TestCgroup {
        let mut dirs = Vec::new();
        let mut cur = std::path::PathBuf::from(root);
        for part in path.split('/') {
            cur.push(part);
            std::fs::create_dir(&cur).unwrap_or_else(|e| panic!("mkdir {}: {e}", cur.display()));
            dirs.push(cur.clone());
        }
        TestCgroup(dirs)
    }

    fn leaf(&self) -> &std::path::Path {
        self.0.last().unwrap()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn cgroup_mount(fstype: &str, option: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        let ok = post.next() == Some(fstype)
            && option.is_none_or(|o| post.nth(1).is_some_and(|s| s.split(',').any(|x| x == o)));
        ok.then(|| pre.split(' ').nth(4).unwrap().to_owned())
    })
}

#[test]
fn containerd_cgroup_v2_systemd_layout_names_the_container() {
    let root = cgroup_mount("cgroup2", None).expect("a cgroup2 hierarchy is mounted");
    let uid_ = POD_UID.replace('-', "_");
    let cg = TestCgroup::create(
        &root,
        &format!("scry-test-kubepods.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{CONTAINER}.scope"),
    );
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let pid = run_in_cgroup(cg.leaf());
        events.until(WAIT, "exec in the containerd cgroup", |seen| exec_of(seen, pid).is_some()).await;
        let p = &exec_of(&events.seen, pid).unwrap().process;
        assert_eq!(p.docker, CONTAINER[..31]);
        assert!(p.pod.is_none(), "no pod metadata without Kubernetes");
        assert!(p.host.is_none());
    });
}

#[test]
fn docker_cgroup_v1_cgroupfs_layout_names_the_container() {
    let Some(root) = cgroup_mount("cgroup", Some("memory")) else {
        panic!("this test needs a cgroup v1 memory hierarchy (the CI machine has one)");
    };
    let cg = TestCgroup::create(&root, &format!("docker/{CONTAINER}"));
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let pid = run_in_cgroup(cg.leaf());
        events.until(WAIT, "exec in the docker v1 cgroup", |seen| exec_of(seen, pid).is_some()).await;
        assert_eq!(exec_of(&events.seen, pid).unwrap().process.docker, CONTAINER[..31]);
    });
}

#[test]
fn host_process_gets_its_cgroup_and_unit() {
    let root = cgroup_mount("cgroup2", None).expect("a cgroup2 hierarchy is mounted");
    let cg = TestCgroup::create(&root, "scry-test.slice/scry-host-test.service");
    runtime().block_on(async {
        let mut events = Events::subscribe(agent(), all()).await;
        let pid = run_in_cgroup(cg.leaf());
        events.until(WAIT, "exec in the host unit", |seen| exec_of(seen, pid).is_some()).await;
        let host = exec_of(&events.seen, pid).unwrap().process.host.clone().expect("host attribution");
        assert_eq!(host.unit, "scry-host-test.service");
        assert_eq!(host.cgroup, "/scry-test.slice/scry-host-test.service");
    });
}

/// `scry events -o json` and `-o compact` themselves, parsed as a consumer would.
#[test]
fn cli_json_has_tetragon_field_names_and_compact_lines_match() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("scry-cli-probe");
    copy_executable("/usr/bin/false", &bin);
    let bin_real = real(bin.to_str().unwrap());
    let socket = agent().socket.to_str().unwrap().to_owned();
    let regex = "scry-cli-probe$";
    let mut json = Command::new(scry_bin())
        .args(["events", "--socket", &socket, "-o", "json", "--binary", regex])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut compact = Command::new(scry_bin())
        .args([
            "events",
            "--socket",
            &socket,
            "-o",
            "compact",
            "--binary",
            regex,
            "--event-types",
            "process_exec,process_exit",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Each CLI's lines, as they come.
    let lines = |child: &mut std::process::Child| {
        let (tx, rx) = std::sync::mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    };
    let (json_rx, compact_rx) = (lines(&mut json), lines(&mut compact));
    // The CLIs subscribe in their own time, and the agent's subscriber count
    // is no sign of theirs (other tests subscribe and leave meanwhile): the
    // probe runs again until each has printed a whole run, an exec then its
    // exit (runs never overlap, so the line after an exec is its exit).
    let pair = |lines: &[String], exec: &dyn Fn(&str) -> bool| {
        let i = lines.iter().position(|l| exec(l))?;
        Some((lines[i].clone(), lines.get(i + 1)?.clone()))
    };
    let is_json_exec = |l: &str| l.starts_with(r#"{"process_exec""#);
    let is_compact_exec = |l: &str| l.starts_with("🚀 process");
    let (mut json_lines, mut compact_lines) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + WAIT;
    let (exec, exit, compact_exec, compact_exit) = loop {
        let status = Command::new(&bin).args(["--flag", "two words"]).status().unwrap();
        assert_eq!(status.code(), Some(1));
        let settle = Instant::now() + Duration::from_secs(1);
        while Instant::now() < settle {
            json_lines.extend(json_rx.try_iter());
            compact_lines.extend(compact_rx.try_iter());
            if pair(&json_lines, &is_json_exec).is_some() && pair(&compact_lines, &is_compact_exec).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let (Some((exec, exit)), Some((compact_exec, compact_exit))) =
            (pair(&json_lines, &is_json_exec), pair(&compact_lines, &is_compact_exec))
        {
            let parse = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap();
            break (parse(&exec), parse(&exit), compact_exec, compact_exit);
        }
        assert!(Instant::now() < deadline, "no whole run from the CLIs: {json_lines:?} {compact_lines:?}");
    };
    for mut child in [json, compact] {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // Envelope: one event key, node_name, time.
    let obj = exec.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["node_name", "process_exec", "time"]);
    assert_eq!(exec["node_name"], NODE);
    assert!(exec["time"].as_str().unwrap().ends_with('Z'));
    let p = &exec["process_exec"]["process"];
    assert_eq!(p["binary"], bin_real);
    assert_eq!(p["arguments"], "--flag \"two words\"");
    assert_eq!(p["uid"], 0);
    assert_eq!(p["auid"].as_u64(), Some(u64::from(u32::MAX)));
    assert!(p["pid"].as_u64().unwrap() > 0);
    assert_eq!(p["tid"], p["pid"]);
    assert_eq!(p["flags"], "execve clone");
    for key in ["exec_id", "cwd", "start_time", "parent_exec_id"] {
        assert!(p[key].as_str().is_some_and(|s| !s.is_empty()), "process.{key} missing: {p}");
    }
    assert_eq!(p["process_credentials"]["euid"], 0);
    assert!(p["cap"]["effective"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
    assert!(p["ns"]["net"]["inum"].as_u64().unwrap() > 0);
    assert_eq!(p["ns"]["net"]["is_host"], true);
    assert_eq!(exec["process_exec"]["parent"]["exec_id"], p["parent_exec_id"]);
    assert!(exec["process_exec"].get("ancestors").is_some_and(|a| a.as_array().is_some_and(|a| !a.is_empty())));
    let x = &exit["process_exit"];
    assert_eq!(x["process"]["exec_id"], p["exec_id"]);
    assert_eq!(x["status"], 1);
    assert!(x.get("signal").is_none(), "no signal key for a plain exit");
    assert!(x["time"].as_str().is_some());

    assert_eq!(compact_exec, format!("🚀 process {NODE} {bin_real} --flag \"two words\""));
    assert_eq!(compact_exit, format!("💥 exit    {NODE} {bin_real} --flag \"two words\" 1"));
}

#[test]
fn status_shows_hooks_source_and_cache() {
    let status = runtime().block_on(agent().client().status()).unwrap();
    assert_eq!(status.node_name, NODE);
    assert_eq!(status.hooks.len(), 9);
    let tp_btf = status.hooks.iter().find(|h| h.kind == "tp_btf").unwrap();
    let process = &status.sources[0];
    assert_eq!(process.name, "process");
    if tp_btf.error.is_none() {
        assert_eq!(process.hook, "tp_btf");
        assert!(process.fallbacks.is_empty());
    } else {
        assert_eq!(process.hook, "raw_tp");
        assert_eq!(process.fallbacks[0].kind, "tp_btf");
    }
    for h in &status.hooks {
        if let Some(e) = &h.error {
            assert!(!e.is_empty(), "{} refused with no reason", h.kind);
        }
    }
    assert!(process.events > 0);
    assert_eq!((process.kernel_lost, process.decode_errors), (0, 0));
    assert!(status.process_cache.size > 0);
    assert_eq!(status.process_cache.capacity, 65536);
    assert!(!status.kubernetes.enabled);
}

#[test]
fn filters_select_by_pid_binary_and_type() {
    runtime().block_on(async {
        let mut child = Command::new("/usr/bin/sleep").arg("0.3").spawn().unwrap();
        let pid = child.id();
        let filter =
            EventFilter { pid: vec![pid], event_types: vec![scry_model::EventType::ProcessExit], ..Default::default() };
        let mut events = Events::subscribe(agent(), filter).await;
        let mut other = Command::new("/usr/bin/true").spawn().unwrap();
        other.wait().unwrap();
        child.wait().unwrap();
        events.until(WAIT, "the exit of the filtered pid", |seen| !seen.is_empty()).await;
        let only = &events.seen[0];
        let scry_model::Event::ProcessExit(exit) = &only.event else { panic!("not an exit: {only:?}") };
        assert_eq!(exit.process.pid, Some(pid));
    });
}
