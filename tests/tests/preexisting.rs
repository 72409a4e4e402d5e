//! A process started before the agent: seeded from /proc with identity and
//! parents, so its children and its own exit are fully attributed.

use std::process::Command;
use std::time::Duration;

use scry_e2e::{Agent, Events, exec_of, execs_of, exit_of, real, runtime};
use scry_model::filter::EventFilter;

#[test]
fn process_older_than_the_agent_has_identity_and_ancestry() {
    scry_e2e::require_root();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script =
        format!("while [ ! -e {} ]; do /usr/bin/sleep 0.05; done; /usr/bin/echo from-old-parent; :", go.display());
    let mut old = Command::new("/bin/sh").args(["-c", &script]).current_dir(dir.path()).spawn().unwrap();
    let old_pid = old.id();
    std::thread::sleep(Duration::from_millis(200));

    let agent = Agent::start(&["--enable-ancestors"]);
    runtime().block_on(async {
        let mut events = Events::subscribe(&agent, EventFilter::default()).await;
        std::fs::write(&go, "").unwrap();
        assert!(old.wait().unwrap().success());
        let echo = real("/usr/bin/echo");
        events
            .until(Duration::from_secs(10), "echo's exec and the old shell's exit", |seen| {
                execs_of(seen, &echo).iter().any(|e| e.parent.as_ref().is_some_and(|p| p.pid == Some(old_pid)))
                    && seen.iter().any(
                        |e| matches!(&e.event, scry_model::Event::ProcessExit(x) if x.process.pid == Some(old_pid)),
                    )
            })
            .await;
        let exec = execs_of(&events.seen, &echo)
            .into_iter()
            .find(|e| e.parent.as_ref().is_some_and(|p| p.pid == Some(old_pid)))
            .unwrap();
        assert_eq!(exec.process.arguments, "from-old-parent");
        assert_eq!(exec.process.flags, "execve clone");
        let parent = exec.parent.as_ref().unwrap();
        assert_eq!(parent.binary, real("/bin/sh"));
        assert_eq!(parent.arguments, format!("-c \"{script}\""));
        assert_eq!(parent.cwd, real(dir.path().to_str().unwrap()));
        assert_eq!(parent.flags, "procFS");
        assert_eq!(exec.process.parent_exec_id, parent.exec_id);
        // Its ancestors, also from /proc: this test process first.
        let first = exec.ancestors.first().expect("ancestors of a pre-existing parent");
        assert_eq!(first.pid, Some(std::process::id()));
        assert_eq!(parent.parent_exec_id, first.exec_id);
        assert!(exec.ancestors.iter().all(|a| a.flags.contains("procFS")));

        let exit = events
            .seen
            .iter()
            .find_map(|e| match &e.event {
                scry_model::Event::ProcessExit(x) if x.process.pid == Some(old_pid) => Some(x),
                _ => None,
            })
            .unwrap();
        assert_eq!(exit.process.exec_id, parent.exec_id);
        assert_eq!((exit.status, exit.signal.as_str()), (0, ""));
        assert!(exec_of(&events.seen, old_pid).is_none(), "the old shell never exec'd while watched");
        assert!(exit_of(&events.seen, &exec.process.exec_id).is_some());
    });
}
