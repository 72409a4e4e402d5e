//! MariaDB between pods becomes `mysql_events` rows: the mariadb client's
//! queries (one a syntax error) and server-side prepared statements through
//! a client library (Perl's DBD::MariaDB: COM_STMT_PREPARE, COM_STMT_EXECUTE,
//! COM_STMT_CLOSE), each once, from the server's side, with the command,
//! the statement, the status and the result or error, latency and the pod.

use std::process::{Command, Stdio};

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Background, runtime, sql_until, wait_listening};
use serde_json::json;

/// One statement prepared on the server and executed twice.
const PREPARED: &str = "use DBI;\n\
    my $dbh = DBI->connect(\"DBI:MariaDB:database=shop;host=$ARGV[0]\", 'root', '',\n\
    \x20   { RaiseError => 1, mariadb_server_prepare => 1 });\n\
    my $sth = $dbh->prepare('SELECT name FROM items WHERE id = ?');\n\
    for my $id (1, 2) { $sth->execute($id); my @row = $sth->fetchrow_array; print \"@row\\n\"; }\n\
    $sth->finish; undef $sth; $dbh->disconnect;\n";

#[test]
fn mariadb_queries_and_prepared_statements_are_recorded_once_with_results_and_errors() {
    let cluster = Cluster::new("maria", 208, &[("shop", "db-1"), ("shop", "app-1")]);
    let args = cluster.agent_args();
    let (db, app) = (cluster.pod("db-1"), cluster.pod("app-1"));
    let ip = db.ip.to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let datadir = format!("--datadir={}", data.display());
    let install = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", &datadir])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(install.success(), "mariadb-install-db");

    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let bind = format!("--bind-address={ip}");
    let socket = format!("--socket={}", dir.path().join("mysqld.sock").display());
    let pid_file = format!("--pid-file={}", dir.path().join("mysqld.pid").display());
    let _server = Background(
        cluster
            .command(
                db,
                "/usr/sbin/mariadbd",
                &[
                    "--no-defaults",
                    "--user=root",
                    &datadir,
                    &bind,
                    "--port=3306",
                    &socket,
                    &pid_file,
                    "--skip-grant-tables",
                    "--skip-name-resolve",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&cluster, db, 3306);

    let client =
        |sql: &str| cluster.command(app, "/usr/bin/mariadb", &["-h", &ip, "-u", "root", "-e", sql]).output().unwrap();
    let setup = client(
        "CREATE DATABASE shop; CREATE TABLE shop.items (id int PRIMARY KEY, name text); \
         INSERT INTO shop.items VALUES (1, 'apple'), (2, 'banana'); SELECT name FROM shop.items ORDER BY id",
    );
    assert!(setup.status.success(), "{setup:?}");
    let error = client("SELEC oops");
    assert!(String::from_utf8_lossy(&error.stderr).contains("1064"), "{error:?}");
    let prepared = cluster.command(app, "/usr/bin/perl", &["-e", PREPARED, &ip]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&prepared.stdout), "apple\nbanana\n", "{prepared:?}");

    let query = "SELECT req_cmd, req_body, resp_status, resp_body, trace_role, remote_addr, local_port, latency, \
                 upid_to_pod_name(upid) FROM mysql_events WHERE local_port = 3306 OR remote_port = 3306 ORDER BY time_";
    // COM_QUERY 3, COM_QUIT 1, COM_STMT_PREPARE 0x16, EXECUTE 0x17, CLOSE 0x19;
    // status 1 none, 2 OK, 3 error.
    let expected: [(i64, &str, i64, &str); 16] = [
        (3, "CREATE DATABASE shop", 2, "Affected rows = 1"),
        (3, "CREATE TABLE shop.items (id int PRIMARY KEY, name text)", 2, ""),
        (
            3,
            "INSERT INTO shop.items VALUES (1, 'apple'), (2, 'banana')",
            2,
            "Affected rows = 2, Records: 2  Duplicates: 0  Warnings: 0",
        ),
        (3, "SELECT name FROM shop.items ORDER BY id", 2, "Resultset rows = 2"),
        (1, "", 1, ""),
        (
            3,
            "SELEC oops",
            3,
            "ERROR 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your \
             MariaDB server version for the right syntax to use near 'SELEC oops' at line 1",
        ),
        (1, "", 1, ""),
        // DBD::MariaDB's connection set-up.
        (3, "SET NAMES 'utf8mb4'", 2, ""),
        (3, "SET character_set_server = 'utf8mb4'", 2, ""),
        (3, "SET collation_connection = 'utf8mb4_unicode_ci'", 2, ""),
        (3, "SET collation_server = 'utf8mb4_unicode_ci'", 2, ""),
        (0x16, "SELECT name FROM items WHERE id = ?", 2, ""),
        (0x17, "SELECT name FROM items WHERE id = ? [params: '1']", 2, "Resultset rows = 1"),
        (0x17, "SELECT name FROM items WHERE id = ? [params: '2']", 2, "Resultset rows = 1"),
        (0x19, "", 1, ""),
        (1, "", 1, ""),
    ];
    let rows = sql_until(&agent, query, expected.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    let got: Vec<(i64, &str, i64, &str)> = rows
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap(), r[2].as_i64().unwrap(), r[3].as_str().unwrap()))
        .collect();
    assert_eq!(got, expected, "status: {:?}", status.sockets);
    for r in &rows {
        assert_eq!((&r[4], &r[5], &r[6]), (&json!(2), &json!(app.ip.to_string()), &json!(3306)));
        // COM_QUIT and COM_STMT_CLOSE have no response: no latency.
        let answered = r[2] != json!(1);
        assert_eq!(r[7].as_i64().unwrap() > 0, answered, "latency: {r:?}");
        assert_eq!(r[8], "shop/db-1");
    }
    let mysql = status.sockets.protocols.iter().find(|p| p.name == "mysql").unwrap();
    assert_eq!((mysql.parse_errors, mysql.unmatched), (0, 0), "{:?}", status.sockets);
    assert_eq!(status.sockets.deduplicated, 3, "the three clients' connections are left to the server's side");
}
