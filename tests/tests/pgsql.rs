//! PostgreSQL between pods becomes `pgsql_events` rows: psql's simple
//! queries (one a syntax error) and a prepared statement through a client
//! library (psycopg: Parse, Bind, Describe, Execute), each once, from the
//! server's side — a backend forked per connection — with the query text,
//! the result or the error, latency and the pod.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Background, runtime, sql_until, wait_listening};
use serde_json::json;

/// The directory of the installed PostgreSQL's server programs.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/setup.sh)")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server")
}

/// A prepared statement run twice through psycopg 3, which sends it with
/// the extended protocol (named Parse once, then Bind/Execute).
const PREPARED: &str = "import psycopg, sys\n\
    with psycopg.connect(host=sys.argv[1], user='postgres', dbname='postgres', autocommit=True) as c:\n\
    \x20   for i in (1, 2):\n\
    \x20       r = c.execute('SELECT name FROM items WHERE id = %s', (i,), prepare=True).fetchall()\n\
    \x20       assert r == [(['apple', 'banana'][i - 1],)], r\n";

#[test]
fn psql_and_prepared_statements_are_recorded_once_with_results_and_errors() {
    let cluster = Cluster::new("pg", 207, &[("shop", "db-1"), ("shop", "app-1")]);
    let args = cluster.agent_args();
    let (db, app) = (cluster.pod("db-1"), cluster.pod("app-1"));
    let ip = db.ip.to_string();
    let bin = pg_bin();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
    assert!(chown.success());
    let as_postgres = ["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"];
    let initdb = Command::new("setpriv")
        .args(as_postgres)
        .arg(bin.join("initdb"))
        .args(["--auth=trust", "-U", "postgres", "-D"])
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(initdb.success(), "initdb");
    let hba = data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap() + "host all all 10.207.0.0/24 trust\n";
    std::fs::write(&hba, rules).unwrap();

    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let postgres = bin.join("postgres");
    let listen = format!("listen_addresses={ip}");
    let sockets = format!("unix_socket_directories={}", dir.path().display());
    let _server = Background(
        cluster
            .command(
                db,
                "/usr/bin/setpriv",
                &[
                    &as_postgres[..],
                    &[postgres.to_str().unwrap(), "-D", data.to_str().unwrap(), "-c", &listen, "-c", &sockets],
                ]
                .concat(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&cluster, db, 5432);

    let psql = cluster
        .command(
            app,
            "/usr/bin/psql",
            &[
                "-X",
                "-h",
                &ip,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "CREATE TABLE items (id int PRIMARY KEY, name text)",
                "-c",
                "INSERT INTO items VALUES (1, 'apple'), (2, 'banana')",
                "-c",
                "SELECT name FROM items ORDER BY id",
                "-c",
                "SELEC oops",
            ],
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&psql.stderr).contains("syntax error"), "{psql:?}");
    let prepared = cluster.command(app, "/usr/bin/python3", &["-c", PREPARED, &ip]).output().unwrap();
    assert!(prepared.status.success(), "{}", String::from_utf8_lossy(&prepared.stderr));

    let query = "SELECT req_cmd, req, resp, trace_role, remote_addr, local_port, latency, upid_to_pod_name(upid) \
                 FROM pgsql_events WHERE local_port = 5432 OR remote_port = 5432 ORDER BY time_";
    let q = "SELECT name FROM items WHERE id = $1";
    let expected = [
        ("Startup", "user=postgres database=postgres application_name=psql".to_owned(), "AuthenticationOk".to_owned()),
        ("Query", "CREATE TABLE items (id int PRIMARY KEY, name text)".into(), "CREATE TABLE".into()),
        ("Query", "INSERT INTO items VALUES (1, 'apple'), (2, 'banana')".into(), "INSERT 0 2".into()),
        ("Query", "SELECT name FROM items ORDER BY id".into(), "name\napple\nbanana\nSELECT 2".into()),
        (
            "Query",
            "SELEC oops".into(),
            "ERROR RESPONSE [Severity=ERROR InternalSeverity=ERROR Code=42601 Message=syntax error at or near \"SELEC\" \
             Position=1 File=scan.l Line=1188 Routine=scanner_yyerror]"
                .into(),
        ),
        ("Startup", "user=postgres database=postgres".into(), "AuthenticationOk".into()),
        ("Parse", q.into(), "PARSE COMPLETE".into()),
        // psycopg binds the integer in binary: an int2.
        ("Bind", format!("query=[{q}] params=[\\x0001]"), "BIND COMPLETE".into()),
        ("Describe", "type=Portal name=".into(), "ROW DESCRIPTION [name]".into()),
        ("Execute", format!("query=[{q}] params=[\\x0001]"), "name\napple\nSELECT 1".into()),
        ("Bind", format!("query=[{q}] params=[\\x0002]"), "BIND COMPLETE".into()),
        ("Describe", "type=Portal name=".into(), "ROW DESCRIPTION [name]".into()),
        ("Execute", format!("query=[{q}] params=[\\x0002]"), "name\nbanana\nSELECT 1".into()),
    ];
    let rows = sql_until(&agent, query, expected.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    let got: Vec<(&str, String, String)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap().to_owned(), r[2].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(got, expected, "status: {:?}", status.sockets);
    for r in &rows {
        assert_eq!((&r[3], &r[4], &r[5]), (&json!(2), &json!(app.ip.to_string()), &json!(5432)));
        assert!(r[6].as_i64().unwrap() > 0, "latency: {r:?}");
        assert_eq!(r[7], "shop/db-1");
    }
    let pgsql = status.sockets.protocols.iter().find(|p| p.name == "pgsql").unwrap();
    assert_eq!((pgsql.parse_errors, pgsql.unmatched), (0, 0), "{:?}", status.sockets);
    assert_eq!(status.sockets.deduplicated, 2, "psql's and psycopg's connections are left to the server's side");
}
