//! The process tables through the query API and the CLI: real processes run,
//! and `scry sql` / `scry tables` return exactly them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scry_e2e::{Agent, real, runtime, scry_bin};
use scry_query::wire::SqlRequest;
use serde_json::Value;

/// Runs `scry sql QUERY -o json` against the agent; one JSON object per row.
fn sql_rows(agent: &Agent, query: &str) -> Vec<Value> {
    let out = Command::new(scry_bin())
        .args(["sql", "--socket"])
        .arg(&agent.socket)
        .args(["-o", "json", query])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "scry sql failed for {query}");
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Polls until `query` returns `n` rows (the collector flushes rows on a timer).
fn rows_when(agent: &Agent, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = sql_rows(agent, query);
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn executed_processes_are_rows_in_the_process_tables() {
    let agent = Agent::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("scry-sql-probe");
    std::fs::copy("/bin/sh", &bin).unwrap();
    let bin_real = real(bin.to_str().unwrap());
    let mut pids = Vec::new();
    for code in [0, 3, 7] {
        let mut child =
            Command::new(&bin).args(["-c", &format!("exit {code}")]).current_dir(dir.path()).spawn().unwrap();
        pids.push(child.id());
        assert_eq!(child.wait().unwrap().code(), Some(code));
    }
    let mut killed = Command::new(&bin).args(["-c", "sleep 30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    killed.kill().unwrap();
    killed.wait().unwrap();

    let execs = rows_when(
        &agent,
        &format!(
            "SELECT pid, ppid, binary, cmdline, cwd, uid, upid, exec_id FROM proc_exec_events WHERE binary = '{bin_real}' ORDER BY time_"
        ),
        4,
    );
    assert_eq!(execs.len(), 4, "{execs:?}");
    for (row, pid) in execs.iter().zip(&pids) {
        assert_eq!(row["pid"], *pid);
        assert_eq!(row["ppid"], std::process::id());
        assert_eq!(row["binary"], bin_real);
        assert_eq!(row["uid"], 0);
        assert_eq!(row["cwd"], real(dir.path().to_str().unwrap()));
        assert!(row["upid"].as_str().unwrap().contains(&format!("{pid:04x}")), "{row}");
        assert!(!row["exec_id"].as_str().unwrap().is_empty());
    }
    assert_eq!(execs[1]["cmdline"], format!("{bin_real} -c \"exit 3\""));
    assert_eq!(execs[3]["pid"], killed.id());

    let exits = rows_when(
        &agent,
        &format!(
            "SELECT pid, exit_code, signal, comm, exec_id FROM proc_exit_events WHERE binary = '{bin_real}' ORDER BY time_"
        ),
        4,
    );
    let codes: Vec<(i64, i64)> =
        exits.iter().map(|r| (r["exit_code"].as_i64().unwrap(), r["signal"].as_i64().unwrap())).collect();
    assert_eq!(codes, [(0, 0), (3, 0), (7, 0), (0, 9)]);
    assert!(exits.iter().all(|r| r["comm"] == "scry-sql-probe"));
    // Exit rows join to their exec rows.
    let joined = sql_rows(
        &agent,
        &format!(
            "SELECT count(*) AS n FROM proc_exec_events e JOIN proc_exit_events x ON e.exec_id = x.exec_id \
             WHERE e.binary = '{bin_real}'"
        ),
    );
    assert_eq!(joined, [serde_json::json!({"n": 4})]);
}

#[test]
fn tables_are_listed_and_bad_queries_are_refused_with_the_reason() {
    let agent = Agent::start(&[]);
    assert!(Command::new("/usr/bin/true").status().unwrap().success());
    let rt = runtime();
    let tables = rt.block_on(agent.client().tables()).unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.stats.name.as_str()).collect();
    assert_eq!(names, ["proc_exec_events", "proc_exit_events"]);
    let exit = &tables[1];
    let columns: Vec<&str> = exit.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns[..5], ["time_", "upid", "exit_code", "signal", "comm"], "Pixie's columns first");
    assert_eq!(exit.stats.budget_bytes, 10 << 20, "Pixie's proc_exit_events budget");

    let err = rt
        .block_on(agent.client().sql(&SqlRequest { query: "SELECT nope FROM proc_exec_events".into(), max_rows: None }))
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let err = rt
        .block_on(agent.client().sql(&SqlRequest { query: "DROP TABLE proc_exec_events".into(), max_rows: None }))
        .unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
    // The agent is still serving.
    let bounded = rt
        .block_on(
            agent.client().sql(&SqlRequest { query: "SELECT 1 AS one UNION ALL SELECT 2".into(), max_rows: Some(1) }),
        )
        .unwrap();
    assert_eq!((bounded.tables[0].rows.len(), bounded.tables[0].truncated), (1, true));

    let out = Command::new(scry_bin()).args(["tables", "--socket"]).arg(&agent.socket).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("proc_exec_events: "), "{text}");
    assert!(text.contains("  exit_code            Int64"), "{text}");
}
