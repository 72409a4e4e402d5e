//! PxL end to end on known data: scripts written the way Pixie's are
//! (LET with quantiles, merges, ctx lookups, time windows, functions with
//! arguments) give exact tables; every construct compiles; errors name
//! the fault and its position.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
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
    let pods = Pods(HashMap::from([
        (upid_of(100), pod("default", "frontend-1", "frontend")),
        (upid_of(200), pod("default", "cart-1", "cart")),
        (upid_of(300), pod("kube-system", "dns-1", "dns")),
    ]));
    QueryEngine::new(store, EngineConfig { metadata: Arc::new(pods), ..Default::default() })
}

fn run_request(req: ScriptRequest) -> Result<Vec<ResultTable>, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let outputs = rt.block_on(scry_pxl::run(&engine(), &req, NOW))?;
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
