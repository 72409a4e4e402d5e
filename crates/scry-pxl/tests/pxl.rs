//! PxL end to end on known data: scripts written the way Pixie's are
//! (LET with quantiles, merges, ctx lookups, time windows, functions with
//! arguments) give exact tables; every construct compiles; errors name
//! the fault and its position.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::DataType;
use scry_model::tables;
use scry_pxl::{RunError, library};
use scry_query::wire::{ExecFunc, ResultTable, ScriptRequest};
use scry_query::{EngineConfig, ProcessInfo, ProcessMetadata, QueryEngine};
use scry_store::{Store, TableConfig};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;

fn upid_of(pid: u32) -> String {
    tables::upid(1, pid, 1000)
}

struct Pods(HashMap<String, Arc<ProcessInfo>>);

impl ProcessMetadata for Pods {
    fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>> {
        self.0.get(upid).cloned()
    }
}

fn pod(ns: &str, pod: &str, service: &str) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        namespace: ns.into(),
        pod_name: format!("{ns}/{pod}"),
        service_name: format!("{ns}/{service}"),
        ..Default::default()
    })
}

struct Request {
    at: i64,
    pid: u32,
    method: &'static str,
    path: String,
    status: i64,
    latency: i64,
    size: i64,
}

/// frontend (pid 100): 100 GETs at -60s..-50.1s, every 10th a 500, 10 ms each.
/// cart (pid 200): 50 POSTs, the first 10 ten minutes ago, the rest at -39s..-35.1s, 5 ms.
/// dns (pid 300): 20 GET /health at -30s..-11s, the first 5 a 404, 1 ms.
fn requests() -> Vec<Request> {
    let mut r = Vec::new();
    for i in 0..100 {
        let status = if i % 10 == 0 { 500 } else { 200 };
        let path = format!("/api/items/{}", i % 5);
        r.push(Request {
            at: NOW - 60 * S + i * 100 * MS,
            pid: 100,
            method: "GET",
            path,
            status,
            latency: 10 * MS,
            size: 100,
        });
    }
    for i in 0..50 {
        let at = if i < 10 { NOW - 600 * S + i * S } else { NOW - 40 * S + i * 100 * MS };
        r.push(Request { at, pid: 200, method: "POST", path: "/cart".into(), status: 200, latency: 5 * MS, size: 20 });
    }
    for i in 0..20 {
        let status = if i < 5 { 404 } else { 200 };
        r.push(Request {
            at: NOW - 30 * S + i * S,
            pid: 300,
            method: "GET",
            path: "/health".into(),
            status,
            latency: MS,
            size: 0,
        });
    }
    r
}

fn http_batch(rows: &[Request]) -> RecordBatch {
    let n = rows.len();
    let text = |f: &dyn Fn(&Request) -> String| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let int = |f: &dyn Fn(&Request) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.at))),
        text(&|r| upid_of(r.pid)),
        text(&|_| "10.0.0.1".into()),
        int(&|_| 40000),
        text(&|_| "10.0.0.2".into()),
        int(&|_| 80),
        int(&|_| 2),
        Arc::new(BooleanArray::from(vec![false; n])),
        int(&|_| 1),
        int(&|_| 1),
        int(&|_| 0),
        text(&|_| "{}".into()),
        text(&|r| r.method.into()),
        text(&|r| r.path.clone()),
        text(&|_| String::new()),
        int(&|_| 0),
        text(&|_| "{}".into()),
        int(&|r| r.status),
        text(&|_| "OK".into()),
        text(&|_| String::new()),
        int(&|r| r.size),
        int(&|r| r.latency),
    ];
    RecordBatch::try_new(tables::http_events(), columns).unwrap()
}

fn engine() -> QueryEngine {
    let store = Arc::new(Store::default());
    let http = store.create(tables::HTTP_EVENTS, tables::http_events(), TableConfig::default()).unwrap();
    // Several batches, so scans, pruning and partial aggregation see more than one.
    for chunk in requests().chunks(37) {
        http.append(http_batch(chunk)).unwrap();
    }
    store.create(tables::PROC_EXEC_EVENTS, tables::proc_exec_events(), TableConfig::default()).unwrap();
    store.create(tables::PROC_EXIT_EVENTS, tables::proc_exit_events(), TableConfig::default()).unwrap();
    store.create(tables::REDIS_EVENTS, tables::redis_events(), TableConfig::default()).unwrap();
    store.create(tables::PGSQL_EVENTS, tables::pgsql_events(), TableConfig::default()).unwrap();
    store.create(tables::MYSQL_EVENTS, tables::mysql_events(), TableConfig::default()).unwrap();
    store.create(tables::DNS_EVENTS, tables::dns_events(), TableConfig::default()).unwrap();
    store.create(tables::CONN_STATS, tables::conn_stats(), TableConfig::default()).unwrap();
    store.create(tables::NETWORK_FLOWS, tables::network_flows(), TableConfig::default()).unwrap();
    let pods = Pods(HashMap::from([
        (upid_of(100), pod("default", "frontend-1", "frontend")),
        (upid_of(200), pod("default", "cart-1", "cart")),
        (upid_of(300), pod("kube-system", "dns-1", "dns")),
    ]));
    QueryEngine::new(store, EngineConfig { metadata: Arc::new(pods), ..Default::default() })
}

fn run_request(req: ScriptRequest) -> Result<Vec<ResultTable>, RunError> {
    run_request_on(&engine(), req)
}

fn run_request_on(engine: &QueryEngine, req: ScriptRequest) -> Result<Vec<ResultTable>, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let outputs = rt.block_on(scry_pxl::run(engine, &req, NOW))?;
    Ok(outputs.iter().map(|o| ResultTable::from_output(o).unwrap()).collect())
}

fn run(script: &str) -> Vec<ResultTable> {
    run_request(ScriptRequest { script: script.into(), ..Default::default() }).unwrap_or_else(|e| panic!("{e}"))
}

fn error(script: &str) -> String {
    match run_request(ScriptRequest { script: script.into(), ..Default::default() }) {
        Ok(_) => panic!("compiled, but should not have:\n{script}"),
        Err(e) => e.to_string(),
    }
}

/// Column names, then rows sorted (PxL has no row order except after append).
fn shape(t: &ResultTable) -> (Vec<&str>, Vec<Vec<Value>>) {
    let mut rows = t.rows.clone();
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    (t.columns.iter().map(|c| c.name.as_str()).collect(), rows)
}

fn rows(expected: Value) -> Vec<Vec<Value>> {
    let mut rows: Vec<Vec<Value>> = serde_json::from_value(expected).unwrap();
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

#[test]
fn let_per_service_with_quantiles_ctx_and_a_time_window() {
    let out = run(r#"
import px

def let_stats(start_time: str):
    df = px.DataFrame(table='http_events', start_time=start_time)
    df.service = df.ctx['service']
    df.failure = df.resp_status >= 400
    df = df.groupby(['service']).agg(
        latency=('latency', px.quantiles),
        error_rate=('failure', px.mean),
        throughput=('latency', px.count),
        bytes=('resp_body_size', px.sum),
    )
    df.p50 = px.DurationNanos(px.floor(px.pluck_float64(df.latency, 'p50')))
    df.p99 = px.DurationNanos(px.floor(px.pluck_float64(df.latency, 'p99')))
    return df[['service', 'throughput', 'error_rate', 'p50', 'p99', 'bytes']]

px.display(let_stats('-5m'), 'let')
"#);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name, "let");
    let (columns, got) = shape(&out[0]);
    assert_eq!(columns, ["service", "throughput", "error_rate", "p50", "p99", "bytes"]);
    assert_eq!(
        got,
        rows(json!([
            ["default/frontend", 100, 0.1, 10_000_000.0, 10_000_000.0, 10_000],
            ["default/cart", 40, 0.0, 5_000_000.0, 5_000_000.0, 800],
            ["kube-system/dns", 20, 0.25, 1_000_000.0, 1_000_000.0, 0],
        ]))
    );
}

#[test]
fn merges_inner_and_left_with_suffixes() {
    let out = run(r#"
import px
df = px.DataFrame('http_events', start_time='-5m')
df.pod = df.ctx['pod']
reqs = df.groupby('pod').agg(requests=('latency', px.count))
errs = df[df.resp_status >= 400].groupby('pod').agg(errors=('latency', px.count))
both = reqs.merge(errs, how='left', left_on='pod', right_on='pod', suffixes=['', '_e'])
px.display(both.drop('pod_e'), 'pods')
inner = reqs.merge(errs, how='inner', left_on=['pod'], right_on=['pod'])
px.display(inner[['pod_x', 'errors', 'pod_y']], 'with_errors')
"#);
    let (columns, got) = shape(&out[0]);
    assert_eq!((out[0].name.as_str(), columns), ("pods", vec!["pod", "requests", "errors"]));
    assert_eq!(
        got,
        rows(json!([["default/frontend-1", 100, 10], ["default/cart-1", 40, null], ["kube-system/dns-1", 20, 5]]))
    );
    let (columns, got) = shape(&out[1]);
    assert_eq!(columns, ["pod_x", "errors", "pod_y"]);
    assert_eq!(
        got,
        rows(json!([["default/frontend-1", 10, "default/frontend-1"], ["kube-system/dns-1", 5, "kube-system/dns-1"]]))
    );
}

#[test]
fn exec_funcs_take_typed_arguments_and_bucket_time() {
    let script = r#"
import px

def buckets(start_time: str, path: str, slow_ms: int):
    df = px.DataFrame(table='http_events', start_time=start_time, select=['time_', 'req_path', 'latency'])
    df = df[px.contains(df.req_path, path)]
    df.speed = px.select(df.latency > slow_ms * 1000 * 1000, 'slow', 'fast')
    df.bucket = px.bin(df.time_, px.seconds(10))
    df = df.groupby(['bucket', 'speed']).agg(n=('latency', px.count))
    df.offset = px.DurationNanos(px.time_to_int64(df.bucket) - px.time_to_int64(px.now()))
    return df[['offset', 'speed', 'n']]

px.display(px.DataFrame('http_events'), 'ignored when functions are named')
"#;
    let args = BTreeMap::from([
        ("start_time".to_owned(), "-5m".to_owned()),
        ("path".to_owned(), "/".to_owned()),
        ("slow_ms".to_owned(), "4".to_owned()),
    ]);
    let req = ScriptRequest {
        script: script.into(),
        exec_funcs: vec![ExecFunc { func: "buckets".into(), output_name: "by_bucket".into(), args }],
        max_rows: None,
    };
    let out = run_request(req).unwrap();
    assert_eq!(out.len(), 1, "top-level px.display is ignored when exec funcs run");
    assert_eq!(out[0].name, "by_bucket");
    let (_, got) = shape(&out[0]);
    assert_eq!(
        got,
        rows(json!([[-60 * S, "slow", 100], [-40 * S, "slow", 40], [-30 * S, "fast", 10], [-20 * S, "fast", 10]]))
    );

    let bad = ScriptRequest {
        script: script.into(),
        exec_funcs: vec![ExecFunc {
            func: "buckets".into(),
            output_name: "x".into(),
            args: BTreeMap::from([("slow_ms".to_owned(), "fast".to_owned())]),
        }],
        max_rows: None,
    };
    assert_eq!(run_request(bad).unwrap_err().to_string(), "`buckets` argument `slow_ms`: `fast` is not an int");
}

#[test]
fn append_head_string_functions_and_whole_table_aggregates() {
    let out = run(r#"
import px
df = px.DataFrame('http_events', start_time=px.now() - px.minutes(5))
get = df[df.req_method == 'GET']
post = df[df.req_method == 'POST']
first = get.append(post).head(3)
first.short = px.substring(first.req_path, 0, 4)
first.masked = px.replace('[0-9]+', first.req_path, 'N')
first.item = px.atoi(px.strip_prefix('/api/items/', first.req_path))
px.display(first[['req_method', 'short', 'masked', 'item']], 'first')
errors = df[px.equals_any(df.resp_status, [404, 500]) and not (df.latency < 0)]
px.display(errors.agg(n=('latency', px.count), worst=('resp_status', px.max)), 'errors')
px.display(errors.agg(n=('latency', px.count)), 'errors')
"#);
    assert_eq!(out.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["first", "errors", "errors_1"]);
    assert_eq!(
        out[0].rows,
        rows(json!([
            ["GET", "/api", "/api/items/N", 0],
            ["GET", "/api", "/api/items/N", 1],
            ["GET", "/api", "/api/items/N", 2]
        ]))
    );
    assert_eq!(out[1].rows, rows(json!([[15, 500]])));
    assert_eq!(out[2].rows, rows(json!([[15]])));
}

#[test]
fn time_windows_filter_rows() {
    let out = run(r#"
import px
all = px.DataFrame('http_events')
recent = px.DataFrame('http_events', start_time='-45s', end_time='-20s')
px.display(all.agg(n=('latency', px.count)), 'all')
px.display(recent.agg(n=('latency', px.count)), 'recent')
old = px.DataFrame('http_events', start_time='2023-11-14 22:00:00.00 +0000', end_time=px.now() - px.minutes(9))
px.display(old.agg(n=('latency', px.count)), 'old')
"#);
    assert_eq!(out[0].rows, rows(json!([[170]])));
    // cart's 40 recent POSTs (-39s..-35.1s) and dns's first 11 (-30s..-20s).
    assert_eq!(out[1].rows, rows(json!([[51]])));
    assert_eq!(out[2].rows, rows(json!([[10]])));
}

#[test]
fn results_are_bounded_per_output() {
    let script = "import px\n#px:set max_output_rows_per_table=7\npx.display(px.DataFrame('http_events'))\n";
    let out = run(script);
    assert_eq!((out[0].rows.len(), out[0].truncated), (7, true));
    let req = ScriptRequest { script: script.into(), exec_funcs: vec![], max_rows: Some(3) };
    assert_eq!(run_request(req).unwrap()[0].rows.len(), 3, "the caller's bound wins over the script's");
}

#[test]
fn every_construct_compiles() {
    let out = run(r#"
import px
t = px.DataFrame(table='http_events', select=['time_', 'upid', 'latency', 'resp_status', 'req_path'])
t['ms'] = t.latency / 1000000
t.lat_us = t['latency'] / 1000
t = t.map('double', t.latency * 2)
t.neg = -t.latency
t.ok = t.resp_status < 400 or t.resp_status == 404
t.mixed = (t.latency % 3 + 1) - 1
t.label = 'status ' + px.itoa(t.resp_status)
t.upper = px.toupper(t.req_path)
t.len = px.length(t.req_path)
t.where = px.find(t.req_path, 'items')
t.match = px.regex_match('/api/items/[0-9]', t.req_path)
t.pid = px.upid_to_pid(t.upid)
t.ns = t.ctx['namespace']
t.rounded = px.round(t.ms, 1)
t.sq = px.sqrt(px.abs(t.neg))
t.later = t.time_ + px.seconds(1)
t.age = px.now() - t.time_
t.gap = t.later - t.time_
t = t.filter(t.latency > px.DurationNanos(0))
t = t[t.req_path != '']
t = t.drop(['neg', 'double'])
t = t.sort('latency', ascending=False)
s = t.groupby(['ns', 'pid']).agg(mn=('latency', px.min), mx=('latency', px.max), s=('ms', px.sum), a=('upper', px.any))
px.display(s.head(n=2), name='top')
px.debug(t.head(1), 'peek')
"#);
    assert_eq!(out.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["top", "_peek"]);
    assert_eq!(out[0].rows.len(), 2);
    let peek = &out[1];
    let column = |name: &str| peek.columns.iter().position(|c| c.name == name).unwrap();
    let row = &peek.rows[0];
    assert_eq!(row[column("latency")], json!(10_000_000), "sorted by latency, descending");
    assert_eq!(row[column("ms")], json!(10.0), "`/` divides as a float");
    assert_eq!(row[column("pid")], json!(100));
    assert_eq!(row[column("ns")], json!("default"));
    assert_eq!(row[column("match")], json!(true));
    assert_eq!(row[column("where")], json!(5));
    assert_eq!(row[column("rounded")], json!("10.0"));
    assert_eq!(row[column("gap")], json!(S), "time + duration - time");
    assert!(row[column("age")].as_i64().unwrap() >= 50 * S, "now - time_ is a duration in ns: {row:?}");
}

#[test]
fn unsupported_constructs_and_mistakes_say_what_and_where() {
    let cases: &[(&str, &str)] = &[
        (
            "import px\nfor r in px.DataFrame('http_events'):\n    pass\n",
            "line 2, column 1: a loop is not supported in PxL",
        ),
        (
            "import px\ndf = px.DataFrame('nope')\n",
            "line 2, column 6: table `nope` does not exist; tables: conn_stats, dns_events, http_events, mysql_events",
        ),
        (
            "import px\ndf = px.DataFrame('http_events')\ndf = df[df.lateny > 1]\n",
            "line 3, column 9: column `lateny` is not in the DataFrame; it has: time_, upid,",
        ),
        (
            "import px\ndf = px.DataFrame('http_events', start='-5m')\n",
            "line 2, column 6: `px.DataFrame` has no argument `start`",
        ),
        (
            "import px\ndf = px.DataFrame('http_events')\ndf = df.groupby('upid').agg(n=('latency', px.median))\n",
            "line 3, column 43: px.median is not a PxL function",
        ),
        (
            "import px\ndf = px.DataFrame('http_events', start_time='yesterday')\n",
            "line 2, column 6: `yesterday` is not a time",
        ),
        (
            "import px\ndf = px.DataFrame('http_events')\ndf.x = df.ctx['color']\n",
            "line 3, column 8: unsupported df.ctx key `color`",
        ),
        (
            "import px\ndf = px.DataFrame('http_events')\ndf.stream()\n",
            "line 3, column 1: df.stream() (live queries) is not supported",
        ),
        ("import px\ndf = px.DataFrame('http_events')\n", "the script displays nothing"),
        (
            "import px\n#px:set explain=true\npx.display(px.DataFrame('http_events'))\n",
            "line 2, column 1: unsupported #px:set key `explain`",
        ),
        ("import px\npx.display(undefined_df)\n", "line 2, column 12: `undefined_df` is not defined"),
        (
            "import px\ndf = px.DataFrame('http_events')\nx = df.merge(df, how='cross', left_on='upid', right_on='upid')\n",
            "line 3, column 5: merge how=`cross` is not one of inner, left, right, outer",
        ),
        (
            "import px\ndf = px.DataFrame('http_events')\nn = px.count(df.latency)\n",
            "line 3, column 5: px.count is an aggregate",
        ),
        ("def f():\n    return f()\nf()\n", "line 2, column 12: calls nest deeper than 32: `f` recurses"),
    ];
    let deep = format!("import px\nx = {}1{}\n", "[".repeat(300_000), "]".repeat(300_000));
    let cases = [cases, &[(deep.as_str(), "line 2, column 204: the script nests deeper than 200 levels")]].concat();
    for (script, expected) in cases {
        let got = error(script);
        assert!(got.starts_with(expected), "for:\n{script}\nexpected: {expected}\n     got: {got}");
    }
}

#[test]
fn library_scripts_compile_and_run_with_their_defaults() {
    for script in library::SCRIPTS {
        let exec_funcs = script.vis().unwrap().exec_funcs(&[]).unwrap();
        let req = ScriptRequest { script: script.pxl.into(), exec_funcs, max_rows: None };
        let out = run_request(req).unwrap_or_else(|e| panic!("{}: {e}", script.name));
        assert!(!out.is_empty(), "{}", script.name);
        let reads_http = script.name.starts_with("px/http") || script.name == "px/service_stats";
        if !reads_http {
            assert!(out.iter().all(|t| t.rows.is_empty()), "{}: only http_events has rows here", script.name);
        }
    }
}

/// Mutated scripts (bytes dropped, repeated, swapped for PxL's punctuation)
/// compile or fail with an error; none panics.
#[test]
fn mangled_scripts_never_panic() {
    let engine = engine();
    let tables = scry_pxl::StoreTables(engine.store().clone());
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"()[]{}:.,'\"=+-*/%<>!&|~# \n\tpxdfagr0123456789_";
    let mut compiled = 0;
    for script in library::SCRIPTS {
        for _ in 0..400 {
            let mut bytes = script.pxl.as_bytes().to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => drop(bytes.remove(at)),
                    1 => bytes.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                    _ => bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let funcs = script.vis().unwrap().exec_funcs(&[]).unwrap();
            if scry_pxl::compile(&text, &funcs, engine.session().unwrap().state(), &tables, NOW).is_ok() {
                compiled += 1;
            }
        }
    }
    assert!(compiled > 0, "some mutations (in comments, say) still compile");
}

/// One side of a flow record.
#[derive(Clone, Copy, Default)]
struct Side {
    addr: &'static str,
    port: i64,
    namespace: &'static str,
    pod: &'static str,
    names: &'static str,
}

/// One `network_flows` row; columns not here are '' or 0.
#[derive(Clone, Copy, Default)]
struct FlowRow {
    at: i64,
    verdict: &'static str,
    drop_reason: &'static str,
    kernel_drop_reason: &'static str,
    flow_type: &'static str,
    direction: &'static str,
    is_reply: i64,
    src: Side,
    dst: Side,
    /// bytes_sent, bytes_recv, packets_sent, packets_recv, retransmits, resets.
    counters: [i64; 6],
    cookie: i64,
}

fn flows_batch(rows: &[FlowRow]) -> RecordBatch {
    let schema = tables::network_flows();
    let text = |r: &FlowRow, name: &str| -> &'static str {
        match name {
            "verdict" => r.verdict,
            "drop_reason" => r.drop_reason,
            "kernel_drop_reason" => r.kernel_drop_reason,
            "type" => r.flow_type,
            "traffic_direction" => r.direction,
            "protocol" => "tcp",
            "src_addr" => r.src.addr,
            "src_namespace" => r.src.namespace,
            "src_pod" => r.src.pod,
            "src_names" => r.src.names,
            "dst_addr" => r.dst.addr,
            "dst_namespace" => r.dst.namespace,
            "dst_pod" => r.dst.pod,
            "dst_names" => r.dst.names,
            _ => "",
        }
    };
    let int = |r: &FlowRow, name: &str| -> i64 {
        let counters = ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "retransmits", "resets"];
        match name {
            "time_" => r.at,
            "is_reply" => r.is_reply,
            "src_port" => r.src.port,
            "dst_port" => r.dst.port,
            "socket_cookie" => r.cookie,
            _ => counters.iter().position(|c| *c == name).map_or(0, |i| r.counters[i]),
        }
    };
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            let ints = rows.iter().map(|r| int(r, f.name()));
            match f.data_type() {
                DataType::Utf8 => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| text(r, f.name())))),
                DataType::Timestamp(..) => Arc::new(TimestampNanosecondArray::from_iter_values(ints)),
                _ => Arc::new(Int64Array::from_iter_values(ints)),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

const CLIENT_1: Side = Side { addr: "10.0.1.1", port: 0, namespace: "shop", pod: "client-1", names: "" };
const WEB_1: Side = Side { addr: "10.0.2.1", port: 8080, namespace: "shop", pod: "web-1", names: "" };
const PROBE_1: Side = Side { addr: "10.0.3.1", port: 50000, namespace: "ops", pod: "probe-1", names: "" };
const WORLD: Side = Side { addr: "93.184.216.34", port: 443, namespace: "", pod: "", names: "api.example.com" };

/// Rows of one observing socket: `(is_reply, counters)` at one-second steps;
/// a request goes from `client` to `server`, a reply back.
fn observed(
    start: i64,
    direction: &'static str,
    cookies: &[i64],
    client: Side,
    server: Side,
    records: &[(i64, [i64; 6])],
) -> Vec<FlowRow> {
    records
        .iter()
        .zip(cookies.iter().chain(std::iter::repeat(cookies.last().unwrap())))
        .enumerate()
        .map(|(i, (&(is_reply, counters), &cookie))| {
            let (src, dst) = if is_reply == 1 { (server, client) } else { (client, server) };
            FlowRow {
                at: start + i as i64 * S,
                verdict: "FORWARDED",
                flow_type: "L3_L4",
                direction,
                is_reply,
                src,
                dst,
                counters,
                cookie,
                ..FlowRow::default()
            }
        })
        .collect()
}

/// shop/client-1 opens two connections to shop/web-1:8080, both observed by
/// the client's socket and the server's (whose first records carry its
/// listener's cookie), with cumulative counters at each record; the server
/// sees the first connection's last request bytes late. ops/probe-1 (of
/// another node) connects to web-1, seen by the server only. client-1
/// connects to a world address whose DNS name the agent learns after the
/// first record. Not connections: an L7 flow, a socket seen mid-stream, and
/// two dropped SYNs to web-1's port 5432.
fn flow_rows() -> Vec<FlowRow> {
    let at = NOW - 60 * S;
    let c1 = Side { port: 40001, ..CLIENT_1 };
    let c2 = Side { port: 40002, ..CLIENT_1 };
    let c3 = Side { port: 40003, ..CLIENT_1 };
    let mut rows = Vec::new();
    // Connection 1: the client sent 1100 B / 12 packets and retransmitted
    // once; the server sent 5160 B / 15 and retransmitted twice (its SYN-ACK
    // once, under the listener's cookie), the client got 5100 B / 14 of it.
    rows.extend(observed(
        at,
        "EGRESS",
        &[11],
        c1,
        WEB_1,
        &[
            (0, [60, 0, 1, 0, 0, 0]),
            (1, [60, 60, 1, 1, 0, 0]),
            (0, [1060, 5060, 10, 12, 1, 0]),
            (0, [1100, 5100, 12, 14, 1, 0]),
        ],
    ));
    rows.extend(observed(
        at,
        "INGRESS",
        &[21, 21, 22],
        c1,
        WEB_1,
        &[(0, [0, 60, 0, 1, 0, 0]), (1, [120, 60, 2, 1, 1, 0]), (1, [5160, 1060, 15, 10, 2, 0])],
    ));
    // Connection 2: 540 B / 6 packets up, 2040 B / 5 down; the client's reset, seen by both.
    rows.extend(observed(
        at + 10 * S,
        "EGRESS",
        &[12],
        c2,
        WEB_1,
        &[(0, [60, 0, 1, 0, 0, 0]), (0, [500, 2000, 5, 4, 0, 0]), (0, [540, 2040, 6, 5, 0, 1])],
    ));
    rows.extend(observed(
        at + 10 * S,
        "INGRESS",
        &[21, 23],
        c2,
        WEB_1,
        &[(0, [0, 60, 0, 1, 0, 0]), (1, [2000, 500, 4, 5, 0, 0]), (0, [2040, 540, 5, 6, 0, 1])],
    ));
    // probe-1 -> web-1: 200 B / 4 packets up, 300 B / 3 down, from the server's counters.
    rows.extend(observed(
        at + 20 * S,
        "INGRESS",
        &[24],
        PROBE_1,
        WEB_1,
        &[(0, [0, 60, 0, 1, 0, 0]), (1, [300, 200, 3, 4, 0, 0])],
    ));
    // client-1 -> api.example.com: 900 B / 8 up, 3100 B / 6 down, 3 retransmits, a reset received.
    let mut world = observed(
        at + 30 * S,
        "EGRESS",
        &[13],
        c3,
        WORLD,
        &[(0, [60, 0, 1, 0, 0, 0]), (1, [800, 3000, 6, 5, 2, 0]), (0, [900, 3100, 8, 6, 3, 1])],
    );
    world[0].dst.names = "";
    rows.extend(world);
    // An HTTP request as an L7 flow: no socket, no counters.
    rows.push(FlowRow {
        at: at + 2 * S,
        verdict: "FORWARDED",
        flow_type: "L7",
        direction: "EGRESS",
        src: c1,
        dst: WEB_1,
        ..FlowRow::default()
    });
    // A socket of client-1 first seen mid-stream: who opened it is unknown.
    rows.extend(observed(
        at + 40 * S,
        "EGRESS",
        &[14],
        Side { port: 40009, ..CLIENT_1 },
        WEB_1,
        &[(-1, [7000, 7000, 7, 7, 0, 0])],
    ));
    for port in [40010, 40011] {
        rows.push(FlowRow {
            at: at + 50 * S,
            verdict: "DROPPED",
            drop_reason: "POLICY_DENIED",
            kernel_drop_reason: "NETFILTER_DROP",
            flow_type: "L3_L4",
            direction: "EGRESS",
            is_reply: 0,
            src: Side { port, ..CLIENT_1 },
            dst: Side { port: 5432, ..WEB_1 },
            ..FlowRow::default()
        });
    }
    rows
}

fn run_flow_script(namespace: &str) -> Vec<ResultTable> {
    let store = Arc::new(Store::default());
    let flows = store.create(tables::NETWORK_FLOWS, tables::network_flows(), TableConfig::default()).unwrap();
    // Two batches, so aggregates combine partial states.
    let rows = flow_rows();
    let (first, second) = rows.split_at(rows.len() / 2);
    for rows in [first, second] {
        flows.append(flows_batch(rows)).unwrap();
    }
    let engine = QueryEngine::new(store, EngineConfig::default());
    let script = library::find("px/net_flow_graph").unwrap();
    let exec_funcs = script.vis().unwrap().exec_funcs(&[("namespace".into(), namespace.into())]).unwrap();
    let req = ScriptRequest { script: script.pxl.into(), exec_funcs, max_rows: None };
    let out = run_request_on(&engine, req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Net Flow Graph", "Dropped Flows"]);
    out
}

#[test]
fn net_flow_graph_combines_observers_of_each_connection() {
    let out = run_flow_script("");
    let (columns, got) = shape(&out[0]);
    assert_eq!(
        columns,
        [
            "requestor",
            "responder",
            "responder_port",
            "protocol",
            "connections",
            "bytes_to_responder",
            "bytes_to_requestor",
            "packets_to_responder",
            "packets_to_requestor",
            "retransmits",
            "resets"
        ]
    );
    assert_eq!(
        got,
        rows(json!([
            ["shop/client-1", "shop/web-1", 8080, "tcp", 2, 1640, 7200, 18, 20, 3, 1],
            ["ops/probe-1", "shop/web-1", 8080, "tcp", 1, 200, 300, 4, 3, 0, 0],
            ["shop/client-1", "api.example.com", 443, "tcp", 1, 900, 3100, 8, 6, 3, 1],
        ]))
    );
    let (columns, got) = shape(&out[1]);
    assert_eq!(
        columns,
        ["source", "destination", "destination_port", "protocol", "drop_reason", "kernel_drop_reason", "drops"]
    );
    assert_eq!(got, rows(json!([["shop/client-1", "shop/web-1", 5432, "tcp", "POLICY_DENIED", "NETFILTER_DROP", 2]])));
}

#[test]
fn net_flow_graph_keeps_flows_with_a_side_in_the_namespace() {
    let out = run_flow_script("ops");
    assert_eq!(shape(&out[0]).1, rows(json!([["ops/probe-1", "shop/web-1", 8080, "tcp", 1, 200, 300, 4, 3, 0, 0]])));
    assert!(out[1].rows.is_empty());
}
