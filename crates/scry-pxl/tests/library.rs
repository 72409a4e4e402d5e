//! The px/ library scripts on small known data, run as `scry run` runs
//! them (the functions their vis.json names, with its defaults unless
//! given): every output table exact, columns and values.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, SchemaRef};
use scry_model::tables;
use scry_pxl::library;
use scry_query::wire::{ResultTable, ScriptRequest};
use scry_query::{EngineConfig, ProcessInfo, ProcessMetadata, QueryEngine};
use scry_store::{Store, TableConfig};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;

/// One cell; times are `I` (Unix ns).
#[derive(Clone, Debug)]
enum V {
    I(i64),
    S(String),
    B(bool),
}

impl From<i64> for V {
    fn from(i: i64) -> V {
        V::I(i)
    }
}

impl From<&str> for V {
    fn from(s: &str) -> V {
        V::S(s.to_owned())
    }
}

impl From<bool> for V {
    fn from(b: bool) -> V {
        V::B(b)
    }
}

fn batch(schema: SchemaRef, rows: &[Vec<V>]) -> RecordBatch {
    let cell = |row: &Vec<V>, c: usize| row.get(c).cloned().unwrap_or_else(|| panic!("row {row:?} has no column {c}"));
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, field)| -> ArrayRef {
            let ints = || {
                rows.iter().map(|r| match cell(r, c) {
                    V::I(i) => i,
                    other => panic!("{}: {other:?} is not an integer", field.name()),
                })
            };
            match field.data_type() {
                DataType::Timestamp(..) => Arc::new(TimestampNanosecondArray::from_iter_values(ints())),
                DataType::Int64 => Arc::new(Int64Array::from_iter_values(ints())),
                DataType::Utf8 => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| match cell(r, c) {
                    V::S(s) => s,
                    other => panic!("{}: {other:?} is not text", field.name()),
                }))),
                DataType::Boolean => Arc::new(BooleanArray::from_iter(rows.iter().map(|r| match cell(r, c) {
                    V::B(b) => Some(b),
                    other => panic!("{}: {other:?} is not a bool", field.name()),
                }))),
                other => panic!("no test values for {other}"),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn upid_of(pid: u32) -> String {
    tables::upid(1, pid, 1000)
}

const CLIENT: i64 = 1;
const SERVER: i64 = 2;

/// The eight columns every socket table starts with, then `rest` (the
/// table's own columns, latency last).
fn socket(at: i64, pid: u32, remote_addr: &str, trace_role: i64, rest: Vec<V>) -> Vec<V> {
    let mut row: Vec<V> = vec![
        at.into(),
        upid_of(pid).as_str().into(),
        remote_addr.into(),
        40000.into(),
        "10.1.0.2".into(),
        5432.into(),
        trace_role.into(),
        false.into(),
    ];
    row.extend(rest);
    row
}

/// shop/api-1 (pid 10) asks db/postgres-0 (20) and db/mysql-0 (30) from
/// 10.1.0.5; pid 40 is a host process; kube-system/coredns-1 (50) answers DNS.
fn pods() -> Pods {
    let pod = |ns: &str, pod: &str, service: &str| {
        Arc::new(ProcessInfo {
            namespace: ns.into(),
            pod_name: format!("{ns}/{pod}"),
            service_name: format!("{ns}/{service}"),
            ..Default::default()
        })
    };
    Pods(HashMap::from([
        (upid_of(10), pod("shop", "api-1", "api")),
        (upid_of(20), pod("db", "postgres-0", "postgres")),
        (upid_of(30), pod("db", "mysql-0", "mysql")),
        (upid_of(50), pod("kube-system", "coredns-1", "kube-dns")),
    ]))
}

struct Pods(HashMap<String, Arc<ProcessInfo>>);

impl ProcessMetadata for Pods {
    fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>> {
        self.0.get(upid).cloned()
    }
}

/// db/postgres-0 serving 10.1.0.5: five lookups by id within a second
/// (an N+1), a prepared statement executed twice, a failed transaction, a
/// Bind of a statement prepared before tracing; and a host process's query
/// to an outside server.
fn pgsql_rows() -> Vec<Vec<V>> {
    let pg = |at: i64, cmd: &str, req: &str, resp: &str, latency: i64| {
        socket(NOW + at, 20, "10.1.0.5", SERVER, vec![cmd.into(), req.into(), resp.into(), latency.into()])
    };
    let orders = "SELECT * FROM orders WHERE user_id = $1 AND status = 'open'";
    let mut rows: Vec<Vec<V>> = (1..=5)
        .map(|i| {
            let (req, resp) = (format!("SELECT * FROM users WHERE id = {i}"), format!("id,name\n{i},u{i}\nSELECT 1"));
            pg(-50 * S + i * 100 * MS, "Query", &req, &resp, i * MS)
        })
        .collect();
    rows.extend([
        pg(-40 * S, "Parse", orders, "PARSE COMPLETE", MS),
        pg(-40 * S, "Bind", &format!("query=[{orders}] params=[7]"), "BIND COMPLETE", MS),
        pg(-40 * S, "Execute", &format!("query=[{orders}] params=[7]"), "id\n3\nSELECT 1", 30 * MS),
        pg(-35 * S, "Execute", &format!("query=[{orders}] params=[8]"), "SELECT 0", 50 * MS),
        pg(
            -20 * S,
            "Query",
            "BEGIN; INSERT INTO audit VALUES ('x'); COMMIT",
            "BEGIN\nERROR RESPONSE [Severity=ERROR Code=23505 Message=duplicate key value]",
            8 * MS,
        ),
        pg(-5 * S, "Bind", "query=[[unknown statement \"s9\"]] params=[]", "ERROR RESPONSE [Code=26000]", MS),
        socket(
            NOW - 10 * S,
            40,
            "10.2.0.9",
            CLIENT,
            vec!["Query".into(), "SELECT now()".into(), "now\n2023-11-14\nSELECT 1".into(), (3 * MS).into()],
        ),
    ]);
    rows
}

/// db/mysql-0 serving 10.1.0.5: two product lookups half a second apart,
/// a statement prepared and executed twice (the second fails), a QUIT;
/// and shop/api-1 asking a server outside the node.
fn mysql_rows() -> Vec<Vec<V>> {
    let my = |at: i64, cmd: i64, body: &str, status: i64, latency: i64| {
        socket(
            NOW + at,
            30,
            "10.1.0.5",
            SERVER,
            vec![cmd.into(), body.into(), status.into(), "".into(), latency.into()],
        )
    };
    vec![
        my(-45 * S, 3, "SELECT name FROM products WHERE sku = 'A1'", 2, 2 * MS),
        my(-44 * S - 500 * MS, 3, "SELECT name FROM products WHERE sku = 'B2'", 2, 4 * MS),
        my(-30 * S, 0x16, "UPDATE stock SET qty = qty - ? WHERE sku = ?", 2, MS),
        my(-30 * S + 100 * MS, 0x17, "UPDATE stock SET qty = qty - ? WHERE sku = ? [params: 1, 'A1']", 2, 7 * MS),
        my(-29 * S, 0x17, "UPDATE stock SET qty = qty - ? WHERE sku = ? [params: 2, 'B2']", 3, 9 * MS),
        my(-28 * S, 1, "", 1, 0),
        socket(
            NOW - 8 * S,
            10,
            "10.3.0.7",
            CLIENT,
            vec![3.into(), "SELECT 1".into(), 2.into(), "".into(), (7 * MS).into()],
        ),
    ]
}

/// shop/api-1 resolving two names through 10.96.0.10, coredns answering
/// 10.1.0.5, and a lookup from ten minutes ago.
fn dns_rows() -> Vec<Vec<V>> {
    let header = |rcode: i64| {
        format!(
            r#"{{"txid":1,"qr":1,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":1,"ad":0,"cd":0,"rcode":{rcode},"num_queries":1,"num_answers":1,"num_auth":0,"num_addl":0}}"#
        )
    };
    let dns = |at: i64,
               pid: u32,
               remote: &str,
               role: i64,
               name: &str,
               kind: &str,
               rcode: i64,
               answers: &str,
               latency: i64| {
        let req = format!(r#"{{"queries":[{{"name":"{name}","type":"{kind}"}}]}}"#);
        let rest = vec![
            r#"{"txid":1,"qr":0}"#.into(),
            req.as_str().into(),
            header(rcode).as_str().into(),
            format!(r#"{{"answers":{answers}}}"#).as_str().into(),
            latency.into(),
        ];
        socket(NOW + at, pid, remote, role, rest)
    };
    vec![
        dns(-600 * S, 10, "10.96.0.10", CLIENT, "old.shop.svc", "A", 0, "[]", MS),
        dns(
            -30 * S,
            10,
            "10.96.0.10",
            CLIENT,
            "db.shop.svc",
            "A",
            0,
            r#"[{"name":"db.shop.svc","type":"A","addr":"10.1.0.9"}]"#,
            MS,
        ),
        dns(-20 * S, 10, "10.96.0.10", CLIENT, "nope.example", "AAAA", 3, "[]", 2 * MS),
        dns(
            -10 * S,
            50,
            "10.1.0.5",
            SERVER,
            "example.com",
            "A",
            0,
            r#"[{"name":"example.com","type":"CNAME","cname":"www.example.net"}]"#,
            3 * MS,
        ),
    ]
}

/// Samples of cumulative counters: shop/api-1's pool to postgres (the
/// protocol inferred after the first sample; one sample before the window),
/// postgres's server side (remote port 0), a host process's TLS connection
/// and its server side closing connections opened before tracing began.
fn conn_rows() -> Vec<Vec<V>> {
    let sample =
        |at: i64, pid: u32, remote: &str, port: i64, role: i64, protocol: i64, ssl: bool, counters: [i64; 5]| {
            let mut row: Vec<V> = vec![
                (NOW + at).into(),
                upid_of(pid).as_str().into(),
                remote.into(),
                port.into(),
                role.into(),
                1.into(),
                protocol.into(),
                ssl.into(),
            ];
            row.extend(counters.map(V::from));
            row
        };
    vec![
        sample(-600 * S, 10, "10.1.0.9", 5432, CLIENT, 0, false, [1, 0, 1, 10, 20]),
        sample(-60 * S, 10, "10.1.0.9", 5432, CLIENT, 0, false, [3, 1, 2, 1000, 5000]),
        sample(-50 * S, 10, "10.1.0.9", 5432, CLIENT, 5, false, [5, 2, 3, 4000, 9000]),
        sample(-40 * S, 10, "10.1.0.9", 5432, CLIENT, 5, false, [6, 4, 2, 6000, 15000]),
        sample(-50 * S, 20, "10.1.0.5", 0, SERVER, 5, true, [10, 8, 2, 50000, 20000]),
        sample(-20 * S, 20, "10.1.0.5", 0, SERVER, 5, true, [12, 9, 3, 80000, 26000]),
        sample(-30 * S, 40, "93.184.215.14", 443, CLIENT, 13, true, [1, 0, 1, 700, 3000]),
        sample(-25 * S, 40, "10.9.9.9", 0, SERVER, 1, false, [0, 2, 0, 100, 200]),
        sample(-15 * S, 40, "10.9.9.9", 0, SERVER, 1, false, [0, 3, 0, 150, 300]),
    ]
}

/// shop/api-1 serving four requests in the bucket at -60 s (one a 500) and
/// a 404 at -15 s; its client side and an unnamed host process are not
/// services' answers.
fn http_rows() -> Vec<Vec<V>> {
    let http = |at: i64, pid: u32, role: i64, status: i64, latency: i64, size: i64| {
        let rest = vec![
            1.into(),
            1.into(),
            0.into(),
            "{}".into(),
            "GET".into(),
            "/items".into(),
            "".into(),
            0.into(),
            "{}".into(),
            status.into(),
            "".into(),
            "".into(),
            size.into(),
            latency.into(),
        ];
        socket(NOW + at, pid, "10.1.0.7", role, rest)
    };
    vec![
        http(-55 * S, 10, SERVER, 200, 10 * MS, 100),
        http(-54 * S, 10, SERVER, 200, 20 * MS, 100),
        http(-53 * S, 10, SERVER, 500, 30 * MS, 100),
        http(-52 * S, 10, SERVER, 200, 40 * MS, 100),
        http(-15 * S, 10, SERVER, 404, 5 * MS, 10),
        http(-15 * S, 10, CLIENT, 200, 5 * MS, 10),
        http(-15 * S, 40, SERVER, 200, 5 * MS, 10),
    ]
}

/// Every table with its rows, except the `empty` ones (created without rows).
fn engine(empty: &[&str]) -> QueryEngine {
    let store = Arc::new(Store::default());
    let tables: [(&str, SchemaRef, Vec<Vec<V>>); 5] = [
        (tables::PGSQL_EVENTS, tables::pgsql_events(), pgsql_rows()),
        (tables::MYSQL_EVENTS, tables::mysql_events(), mysql_rows()),
        (tables::DNS_EVENTS, tables::dns_events(), dns_rows()),
        (tables::CONN_STATS, tables::conn_stats(), conn_rows()),
        (tables::HTTP_EVENTS, tables::http_events(), http_rows()),
    ];
    for (name, schema, rows) in tables {
        let table = store.create(name, schema.clone(), TableConfig::default()).unwrap();
        if empty.contains(&name) {
            continue;
        }
        // Two batches, so scans and aggregates see more than one.
        let (first, second) = rows.split_at(rows.len() / 2);
        for rows in [first, second] {
            table.append(batch(schema.clone(), rows)).unwrap();
        }
    }
    QueryEngine::new(store, EngineConfig { metadata: Arc::new(pods()), ..Default::default() })
}

/// The library script's outputs, its arguments the vis.json defaults
/// unless given.
fn run(name: &str, args: &[(&str, &str)]) -> Vec<ResultTable> {
    run_on(&engine(&[]), name, args)
}

fn run_on(engine: &QueryEngine, name: &str, args: &[(&str, &str)]) -> Vec<ResultTable> {
    let script = library::find(name).unwrap_or_else(|| panic!("no library script {name}"));
    let given: Vec<(String, String)> = args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let exec_funcs = script.vis().unwrap().exec_funcs(&given).unwrap();
    let req = ScriptRequest { script: script.pxl.into(), exec_funcs, max_rows: None };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let outputs = rt.block_on(scry_pxl::run(engine, &req, NOW)).unwrap_or_else(|e| panic!("{name}: {e}"));
    outputs.iter().map(|o| ResultTable::from_output(o).unwrap()).collect()
}

fn output<'a>(tables: &'a [ResultTable], name: &str) -> &'a ResultTable {
    tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no output {name}"))
}

fn columns(t: &ResultTable) -> Vec<&str> {
    t.columns.iter().map(|c| c.name.as_str()).collect()
}

/// Rows as the script ordered them.
fn ordered(expected: Value) -> Vec<Vec<Value>> {
    serde_json::from_value(expected).unwrap()
}

/// Rows in a fixed order, for outputs the script does not order.
fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

fn assert_table(t: &ResultTable, expected_columns: &[&str], expected: Value) {
    assert_eq!(columns(t), expected_columns, "{}", t.name);
    assert_eq!(sorted(t.rows.clone()), sorted(ordered(expected)), "{}", t.name);
}

const STATS_COLUMNS: [&str; 9] = [
    "time_",
    "service",
    "pod",
    "requests",
    "requests_per_s",
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p99",
];

const QUERIES_COLUMNS: [&str; 10] = [
    "normed_query",
    "protocol",
    "service",
    "pod",
    "requests",
    "errors",
    "error_rate",
    "latency_p50",
    "latency_p99",
    "total_latency",
];
const PG: [&str; 3] = ["pgsql", "db/postgres", "db/postgres-0"];
const MY: [&str; 3] = ["mysql", "db/mysql", "db/mysql-0"];
const USERS: &str = "SELECT * FROM users WHERE id = $1";
const AUDIT: &str = "BEGIN; INSERT INTO audit VALUES ($1); COMMIT";
const NOW_QUERY: &str = "SELECT now()";

#[test]
fn sql_queries_groups_normalized_statements() {
    let out = run("px/sql_queries", &[("max_num_records", "3"), ("min_repeats", "2")]);
    assert_eq!(out.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Queries", "Slow Queries", "N+1 Queries"]);

    // Parse and Bind rows, a PREPARE, a QUIT and a Bind of an unknown
    // statement are no statements run.
    let orders = "SELECT * FROM orders WHERE user_id = $1 AND status = $2";
    let update = "UPDATE stock SET qty = qty - ? WHERE sku = ?";
    assert_table(
        output(&out, "Queries"),
        &QUERIES_COLUMNS,
        json!([
            [orders, PG[0], PG[1], PG[2], 2, 0, 0.0, 40_000_000.0, 50_000_000.0, 80 * MS],
            [update, MY[0], MY[1], MY[2], 2, 1, 0.5, 8_000_000.0, 9_000_000.0, 16 * MS],
            [USERS, PG[0], PG[1], PG[2], 5, 0, 0.0, 3_000_000.0, 5_000_000.0, 15 * MS],
            [AUDIT, PG[0], PG[1], PG[2], 1, 1, 1.0, 8_000_000.0, 8_000_000.0, 8 * MS],
            ["SELECT ?", "mysql", "shop/api", "shop/api-1", 1, 0, 0.0, 7_000_000.0, 7_000_000.0, 7 * MS],
            [
                "SELECT name FROM products WHERE sku = ?",
                MY[0],
                MY[1],
                MY[2],
                2,
                0,
                0.0,
                3_000_000.0,
                4_000_000.0,
                6 * MS
            ],
            [NOW_QUERY, "pgsql", "", "", 1, 0, 0.0, 3_000_000.0, 3_000_000.0, 3 * MS],
        ]),
    );

    let slow = output(&out, "Slow Queries");
    assert_eq!(
        columns(slow),
        ["time_", "source", "destination", "protocol", "normed_query", "params", "latency", "failed"]
    );
    assert_eq!(
        slow.rows,
        ordered(json!([
            ["2023-11-14T22:12:45", "10.1.0.5", "db/postgres-0", "pgsql", orders, r#"["8","'open'"]"#, 50 * MS, false],
            ["2023-11-14T22:12:40", "10.1.0.5", "db/postgres-0", "pgsql", orders, r#"["7","'open'"]"#, 30 * MS, false],
            ["2023-11-14T22:12:51", "10.1.0.5", "db/mysql-0", "mysql", update, r#"["2","'B2'"]"#, 9 * MS, true],
        ]))
    );

    // Repeats per requestor and second, at least `min_repeats`.
    assert_table(
        output(&out, "N+1 Queries"),
        &["time_", "source", "destination", "protocol", "normed_query", "repeats", "total_latency"],
        json!([
            ["2023-11-14T22:12:30", "10.1.0.5", "db/postgres-0", "pgsql", USERS, 5, 15 * MS],
            [
                "2023-11-14T22:12:35",
                "10.1.0.5",
                "db/mysql-0",
                "mysql",
                "SELECT name FROM products WHERE sku = ?",
                2,
                6 * MS
            ],
        ]),
    );
}

/// Aggregating the union of an empty and a non-empty table once made
/// DataFusion's plan check fail when a sort followed (apache/datafusion#18989);
/// the script must not be planned that way.
#[test]
fn sql_queries_with_one_database_silent() {
    let out = run_on(&engine(&[tables::MYSQL_EVENTS]), "px/sql_queries", &[("min_repeats", "5")]);
    let orders = "SELECT * FROM orders WHERE user_id = $1 AND status = $2";
    assert_table(
        output(&out, "Queries"),
        &QUERIES_COLUMNS,
        json!([
            [orders, PG[0], PG[1], PG[2], 2, 0, 0.0, 40_000_000.0, 50_000_000.0, 80 * MS],
            [USERS, PG[0], PG[1], PG[2], 5, 0, 0.0, 3_000_000.0, 5_000_000.0, 15 * MS],
            [AUDIT, PG[0], PG[1], PG[2], 1, 1, 1.0, 8_000_000.0, 8_000_000.0, 8 * MS],
            [NOW_QUERY, "pgsql", "", "", 1, 0, 0.0, 3_000_000.0, 3_000_000.0, 3 * MS],
        ]),
    );
    assert_eq!(output(&out, "N+1 Queries").rows.len(), 1);
    let out = run_on(&engine(&[tables::PGSQL_EVENTS, tables::MYSQL_EVENTS]), "px/sql_queries", &[]);
    assert!(out.iter().all(|t| t.rows.is_empty()));
}

#[test]
fn sql_queries_filter_by_pod_and_name_host_processes_by_pid() {
    let out = run("px/sql_queries", &[("pod", "shop"), ("min_repeats", "1")]);
    assert_eq!(
        output(&out, "Slow Queries").rows,
        ordered(json!([[
            "2023-11-14T22:13:12",
            "shop/api-1",
            "10.3.0.7",
            "mysql",
            "SELECT ?",
            r#"["1"]"#,
            7 * MS,
            false
        ]]))
    );
    let out = run("px/sql_queries", &[("min_repeats", "1")]);
    let host = json!(["2023-11-14T22:13:10", "pid 40", "10.2.0.9", "pgsql", "SELECT now()", 1, 3 * MS]);
    assert!(output(&out, "N+1 Queries").rows.iter().any(|r| json!(r) == host), "{host}");
}

#[test]
fn mysql_stats_per_bucket_and_pod() {
    let out = run("px/mysql_stats", &[]);
    assert_eq!(out.len(), 1);
    // COM_QUIT (resp_status None) is no request; one of three failed at -30 s.
    assert_table(
        output(&out, "MySQL Stats"),
        &STATS_COLUMNS,
        json!([
            ["2023-11-14T22:12:30", "db/mysql", "db/mysql-0", 2, 0.2, 0.0, 3_000_000.0, 4_000_000.0, 4_000_000.0],
            ["2023-11-14T22:12:50", "db/mysql", "db/mysql-0", 3, 0.3, 1.0 / 3.0, 7_000_000.0, 9_000_000.0, 9_000_000.0],
            ["2023-11-14T22:13:10", "shop/api", "shop/api-1", 1, 0.1, 0.0, 7_000_000.0, 7_000_000.0, 7_000_000.0],
        ]),
    );
}

#[test]
fn pgsql_stats_count_statements_and_failed_messages() {
    let out = run("px/pgsql_stats", &[]);
    // Executions, not their Parse and Bind; the failed transaction and the
    // failed Bind are errors; the host process has no pod or service.
    assert_table(
        output(&out, "PostgreSQL Stats"),
        &STATS_COLUMNS,
        json!([
            ["2023-11-14T22:12:30", "db/postgres", "db/postgres-0", 5, 0.5, 0.0, 3_000_000.0, 5_000_000.0, 5_000_000.0],
            [
                "2023-11-14T22:12:40",
                "db/postgres",
                "db/postgres-0",
                2,
                0.2,
                0.0,
                40_000_000.0,
                50_000_000.0,
                50_000_000.0
            ],
            ["2023-11-14T22:13:00", "db/postgres", "db/postgres-0", 1, 0.1, 1.0, 8_000_000.0, 8_000_000.0, 8_000_000.0],
            ["2023-11-14T22:13:10", "db/postgres", "db/postgres-0", 1, 0.1, 1.0, 1_000_000.0, 1_000_000.0, 1_000_000.0],
            ["2023-11-14T22:13:10", "", "", 1, 0.1, 0.0, 3_000_000.0, 3_000_000.0, 3_000_000.0],
        ]),
    );
    let out = run("px/pgsql_stats", &[("pod", "postgres"), ("start_time", "-15s")]);
    assert_eq!(
        output(&out, "PostgreSQL Stats").rows,
        ordered(json!([[
            "2023-11-14T22:13:10",
            "db/postgres",
            "db/postgres-0",
            1,
            0.1,
            1.0,
            1_000_000.0,
            1_000_000.0,
            1_000_000.0
        ]]))
    );
}

#[test]
fn dns_data_shows_newest_requests_first() {
    let dns_columns = ["time_", "requestor", "responder", "query_name", "query_type", "rcode", "answers", "latency"];
    let out = run("px/dns_data", &[("max_num_records", "2")]);
    let t = output(&out, "DNS Data");
    assert_eq!(columns(t), dns_columns);
    let cname = r#"[{"name":"example.com","type":"CNAME","cname":"www.example.net"}]"#;
    assert_eq!(
        t.rows,
        ordered(json!([
            ["2023-11-14T22:13:10", "10.1.0.5", "kube-system/coredns-1", "example.com", "A", "NOERROR", cname, 3 * MS],
            ["2023-11-14T22:13:00", "shop/api-1", "10.96.0.10", "nope.example", "AAAA", "NXDOMAIN", "[]", 2 * MS],
        ]))
    );
    let out = run("px/dns_data", &[("source_filter", "shop"), ("destination_filter", "10.96")]);
    let answer = r#"[{"name":"db.shop.svc","type":"A","addr":"10.1.0.9"}]"#;
    assert_eq!(
        output(&out, "DNS Data").rows,
        ordered(json!([
            ["2023-11-14T22:13:00", "shop/api-1", "10.96.0.10", "nope.example", "AAAA", "NXDOMAIN", "[]", 2 * MS],
            ["2023-11-14T22:12:50", "shop/api-1", "10.96.0.10", "db.shop.svc", "A", "NOERROR", answer, MS],
        ]))
    );
}

#[test]
fn conn_stats_differences_of_counters_in_the_window() {
    let conn_columns = [
        "pod",
        "pid",
        "remote_addr",
        "remote_port",
        "role",
        "protocol",
        "ssl",
        "conn_open",
        "conn_close",
        "conn_active",
        "bytes_sent",
        "bytes_recv",
    ];
    // The sample from ten minutes ago is outside the window; the first
    // sample in it saw no protocol yet.
    let out = run("px/conn_stats", &[]);
    assert_table(
        output(&out, "Connections"),
        &conn_columns,
        json!([
            ["shop/api-1", 10, "10.1.0.9", 5432, "client", "PGSQL", false, 3, 3, 2, 5000, 10000],
            ["db/postgres-0", 20, "10.1.0.5", 0, "server", "PGSQL", true, 2, 1, 3, 30000, 6000],
            ["", 40, "93.184.215.14", 443, "client", "TLS", true, 0, 0, 1, 0, 0],
            ["", 40, "10.9.9.9", 0, "server", "HTTP", false, 0, 1, 0, 50, 100],
        ]),
    );
    let out = run("px/conn_stats", &[("pod", "db/")]);
    assert_eq!(
        output(&out, "Connections").rows,
        ordered(json!([["db/postgres-0", 20, "10.1.0.5", 0, "server", "PGSQL", true, 2, 1, 3, 30000, 6000]]))
    );
}

#[test]
fn service_stats_per_service_and_bucket() {
    let out = run("px/service_stats", &[]);
    // Only the service's answers: its client side and unnamed processes are left out.
    assert_table(
        output(&out, "Service Stats"),
        &[
            "time_",
            "service",
            "requests",
            "requests_per_s",
            "error_rate",
            "latency_p50",
            "latency_p90",
            "latency_p99",
            "bytes_per_s",
        ],
        json!([
            ["2023-11-14T22:12:20", "shop/api", 4, 0.4, 0.25, 25_000_000.0, 40_000_000.0, 40_000_000.0, 40.0],
            ["2023-11-14T22:13:00", "shop/api", 1, 0.1, 1.0, 5_000_000.0, 5_000_000.0, 5_000_000.0, 1.0],
        ]),
    );
    assert!(output(&run("px/service_stats", &[("service", "nope")]), "Service Stats").rows.is_empty());
}
