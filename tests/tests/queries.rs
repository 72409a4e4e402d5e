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

/// A copy of /bin/sh named `name` in a fresh directory, so its processes are
/// told apart from every other shell: (directory, path, real path).
fn shell_copy(name: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(name);
    scry_e2e::copy_executable("/bin/sh", &bin);
    let bin_real = real(bin.to_str().unwrap());
    (dir, bin, bin_real)
}

/// Runs `bin -c SCRIPT` in `cwd` for each script, checking its exit code,
/// then one `sleep 30` killed with SIGKILL; the pids in that order.
fn exit_then_kill(bin: &std::path::Path, cwd: &std::path::Path, scripts: &[(&str, i32)]) -> Vec<u32> {
    let mut pids = Vec::new();
    for (script, code) in scripts {
        let mut child = Command::new(bin).args(["-c", script]).current_dir(cwd).spawn().unwrap();
        pids.push(child.id());
        assert_eq!(child.wait().unwrap().code(), Some(*code));
    }
    let mut killed = Command::new(bin).args(["-c", "sleep 30"]).current_dir(cwd).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    killed.kill().unwrap();
    killed.wait().unwrap();
    pids.push(killed.id());
    pids
}

#[test]
fn executed_processes_are_rows_in_the_process_tables() {
    let agent = Agent::start(&[]);
    let (dir, bin, bin_real) = shell_copy("scry-sql-probe");
    let pids = exit_then_kill(&bin, dir.path(), &[("exit 0", 0), ("exit 3", 3), ("exit 7", 7)]);

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
    assert_eq!(execs[3]["pid"], pids[3]);

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
    assert_eq!(
        names,
        [
            "conn_stats",
            "dns_events",
            "http_events",
            "mysql_events",
            "network_flows",
            "pgsql_events",
            "proc_exec_events",
            "proc_exit_events",
            "redis_events"
        ]
    );
    let exit = tables.iter().find(|t| t.stats.name == "proc_exit_events").unwrap();
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
    assert!(text.starts_with("conn_stats: "), "{text}");
    assert!(text.contains("  exit_code            Int64"), "{text}");
}

/// Runs `scry run ARGS… -o json`, feeding `stdin`; rows as JSON objects, or the error text.
fn scry_run(agent: &Agent, args: &[&str], stdin: &str) -> Result<Vec<Value>, String> {
    use std::io::Write;
    let mut child = Command::new(scry_bin())
        .args(["run", "--socket"])
        .arg(&agent.socket)
        .args(["-o", "json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

#[test]
fn pxl_scripts_show_executed_processes() {
    let agent = Agent::start(&[]);
    let (dir, bin, bin_real) = shell_copy("scry-pxl-probe");
    let pids = exit_then_kill(&bin, dir.path(), &[("sleep 0.05; exit 0", 0), ("sleep 0.05; exit 5", 5)]);

    // The library script, with arguments as `px run` takes them.
    let args = ["px/procs", "--", "--start_time=-1m", "--binary", "scry-pxl-probe"];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rows = scry_run(&agent, &args, "").unwrap();
    while rows.iter().filter(|r| !r["exit_code"].is_null()).count() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        rows = scry_run(&agent, &args, "").unwrap();
    }
    rows.sort_by_key(|r| r["time_"].as_str().unwrap().to_owned());
    assert_eq!(rows.len(), 3, "{rows:?}");
    let got: Vec<(u64, i64, i64)> = rows
        .iter()
        .map(|r| (r["pid"].as_u64().unwrap(), r["exit_code"].as_i64().unwrap(), r["signal"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [(u64::from(pids[0]), 0, 0), (u64::from(pids[1]), 5, 0), (u64::from(pids[2]), 0, 9)]);
    for r in &rows {
        assert_eq!(r["_tableName"], "Processes");
        assert_eq!(r["binary"], bin_real);
        assert_eq!(r["ppid"], std::process::id());
        assert!(r["lifetime"].as_i64().unwrap() > 0, "{r}");
    }
    assert_eq!(rows[1]["cmdline"], format!("{bin_real} -c \"sleep 0.05; exit 5\""));

    // A script from stdin: ctx lookups resolve through the agent's process directory.
    let script = format!(
        "import px\n\
         df = px.DataFrame('proc_exec_events', start_time='-1m')\n\
         df = df[df.binary == '{bin_real}']\n\
         df.cmd = df.ctx['cmdline']\n\
         df.node = df.ctx['node']\n\
         df.same_pid = px.upid_to_pid(df.upid) == df.pid\n\
         px.display(df.groupby(['node', 'same_pid']).agg(n=('cmd', px.count), cmd=('cmd', px.min)), 'by_node')\n"
    );
    let rows = scry_run(&agent, &["-"], &script).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["_tableName"], "by_node");
    assert_eq!((rows[0]["n"].as_i64(), rows[0]["same_pid"].as_bool()), (Some(3), Some(true)));
    assert_eq!(rows[0]["cmd"], format!("{bin_real} -c \"sleep 0.05; exit 0\""));
    assert!(!rows[0]["node"].as_str().unwrap().is_empty());

    // A broken script: the error names the line and column; the agent keeps serving.
    let err =
        scry_run(&agent, &["-"], "import px\ndf = px.DataFrame('proc_exec_events')\ndf = df[df.nope]\n").unwrap_err();
    assert!(err.contains("line 3, column 9: column `nope` is not in the DataFrame"), "{err}");
    let err = scry_run(&agent, &["px/procs", "--", "--namespce=x"], "").unwrap_err();
    assert!(err.contains("unknown script argument `--namespce`"), "{err}");
    assert_eq!(
        sql_rows(&agent, "SELECT upid_to_pid('00000001-0000-1092-0000-00000001e240') AS pid"),
        [serde_json::json!({"pid": 4242})]
    );
}
