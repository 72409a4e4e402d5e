//! Runs as root on the real kernel: probes hook kinds, loads the process source
//! and checks the records a real exec, exit and fork produce.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use scry_bpf::probe::{HookKind, HookSupport};
use scry_bpf::process::{
    ExecRecord, ExitRecord, ForkRecord, ProcessRecord, ProcessSource, ProcessSourceConfig, decode, flags,
};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "these tests load BPF programs and must run as root");
}

#[test]
fn probing_finds_the_kinds_this_kernel_runs() {
    require_root();
    let support = HookSupport::probe();
    assert_eq!(support.results.len(), HookKind::ALL.len());
    // Every kernel Scry supports has these; the process source needs them.
    for kind in [HookKind::RawTp, HookKind::Tracepoint, HookKind::Ringbuf] {
        assert!(support.supports(kind), "{kind} refused: {:?}", support.refusal(kind));
    }
    for r in &support.results {
        if let Some(e) = &r.error {
            assert!(!e.is_empty(), "{} refused without a reason", r.kind);
        }
    }
}

#[test]
fn exec_exit_and_fork_records_carry_the_kernel_facts() {
    require_root();
    records_carry_the_kernel_facts(HookSupport::probe());
}

/// The raw_tp bodies read every field by helper, the tp_btf ones directly:
/// both must say the same.
#[test]
fn raw_tp_fallback_records_carry_the_same_facts() {
    require_root();
    let mut support = HookSupport::probe();
    for r in &mut support.results {
        if r.kind == HookKind::TpBtf {
            r.error = Some("refused by this test".into());
        }
    }
    records_carry_the_kernel_facts(support);
}

fn records_carry_the_kernel_facts(support: HookSupport) {
    let source = ProcessSource::load(&ProcessSourceConfig { args_max: 4096, ring_bytes: 1 << 22 }, &support)
        .expect("process source loads");
    let expected_kind = if support.supports(HookKind::TpBtf) { HookKind::TpBtf } else { HookKind::RawTp };
    assert_eq!(source.kind, expected_kind);

    let records = Rc::new(RefCell::new(Vec::new()));
    let sink = records.clone();
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    builder
        .add(source.ring(), move |bytes: &[u8]| {
            sink.borrow_mut().push(decode(bytes).expect("record decodes"));
            0
        })
        .unwrap();
    let ring = builder.build().unwrap();

    // The tests of this binary run in parallel threads of one process and every
    // source sees every exec: this test's own is the one in its own directory.
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap().to_str().unwrap().to_owned();
    let status =
        Command::new("/bin/sh").args(["-c", "exit 3", "arg with space"]).current_dir(dir.path()).status().unwrap();
    assert_eq!(status.code(), Some(3));

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut exec: Option<ExecRecord> = None;
    let mut exits = Vec::new();
    let mut forks = Vec::new();
    let complete = |exec: &Option<ExecRecord>, exits: &[ExitRecord], forks: &[ForkRecord]| {
        exec.as_ref().is_some_and(|e| exits.iter().any(|x| x.pid == e.pid) && forks.iter().any(|f| f.pid == e.pid))
    };
    while Instant::now() < deadline && !complete(&exec, &exits, &forks) {
        // Records do not wake the reader until the ring fills: drain it.
        ring.poll(Duration::from_millis(100)).unwrap();
        ring.consume().unwrap();
        for rec in records.borrow_mut().drain(..) {
            match rec {
                ProcessRecord::Exec(e) if e.cwd == cwd && e.argv.get(2).map(String::as_str) == Some("exit 3") => {
                    exec = Some(*e)
                }
                ProcessRecord::Exit(x) => exits.push(x),
                ProcessRecord::Fork(f) if f.ppid == std::process::id() => forks.push(f),
                _ => {}
            }
        }
    }
    let exec = exec.expect("exec record for /bin/sh");
    assert_eq!(exec.binary, std::fs::canonicalize("/bin/sh").unwrap().to_str().unwrap());
    assert_eq!(exec.cwd, cwd);
    assert_eq!(exec.argv, ["/bin/sh", "-c", "exit 3", "arg with space"]);
    assert_eq!(exec.ppid, std::process::id());
    assert_eq!(exec.creds.uid, 0);
    assert_ne!(exec.flags & flags::EXECVE, 0);
    assert_eq!(exec.flags & flags::TRUNC_ARGS, 0);
    assert!(exec.ns.iter().all(|&n| n != 0), "namespace inodes: {:?}", exec.ns);
    let ns_inode = |name: &str| std::fs::metadata(format!("/proc/self/ns/{name}")).unwrap().ino() as u32;
    assert_eq!(exec.ns[5], ns_inode("net"));
    assert_eq!(exec.ns[3], ns_inode("pid"));
    assert_eq!(exec.ns[9], ns_inode("user"));
    assert_ne!(exec.cgroup_v2.id, 0);
    assert_eq!(exec.caps.effective & (1 << 21), 1 << 21, "root has CAP_SYS_ADMIN");
    assert!(exec.ktime > 0);
    let exit = exits.into_iter().find(|x| x.pid == exec.pid).expect("exit record");
    assert_eq!(exit.status, 3 << 8);
    assert!(exit.ktime > exec.ktime);
    let fork = forks.into_iter().find(|f| f.pid == exec.pid).expect("fork record of the exec'd child");
    assert_eq!(fork.ppid, std::process::id());
    let counters = source.counters();
    assert!(counters.exec_sent >= 1 && counters.exit_sent >= 1 && counters.fork_sent >= 1, "{counters:?}");
    assert_eq!(counters.lost(), 0);
}
