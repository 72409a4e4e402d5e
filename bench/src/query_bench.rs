//! The query engine on a table the size of a busy node's: N synthetic
//! `http_events` rows (default 1,000,000) over ten minutes, 200 processes in
//! 50 services. Measures ingest (Arrow batches built and appended to the
//! store), bytes per row held, and per query the median time over runs, on
//! one core (one partition, pinned):
//!
//! - `let`: Pixie's LET script in PxL — service from `df.ctx`, groupby
//!   (service, path), count + quantiles, p50/p99 plucked.
//! - `let_sql`: the same in SQL.
//! - `filtered`: a one-minute window (the store skips older batches) with a
//!   filter on status and path, projected and counted.
//!
//! Usage: query-bench [ROWS] [RUNS]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder};
use scry_bench::{Rng, median};
use scry_model::tables;
use scry_query::wire::ScriptRequest;
use scry_query::{EngineConfig, ProcessInfo, ProcessMetadata, QueryEngine};
use scry_store::{Store, TableConfig};

const BATCH_ROWS: usize = 8192;
const PROCESSES: u32 = 200;
const SERVICES: u32 = 50;
const PATHS: u64 = 20;
const WINDOW_NS: i64 = 600 * 1_000_000_000;

struct Services(HashMap<String, Arc<ProcessInfo>>);

impl ProcessMetadata for Services {
    fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>> {
        self.0.get(upid).cloned()
    }
}

fn upid_of(pid: u32) -> String {
    tables::upid(0, 1000 + pid, 42)
}

/// Builds one batch of rows `first..first + n` the way the agent builds its rows.
fn batch(rng: &mut Rng, upids: &[String], now: i64, first: usize, n: usize, total: usize) -> RecordBatch {
    let mut time = TimestampNanosecondBuilder::with_capacity(n);
    let mut upid = StringBuilder::new();
    let (mut raddr, mut laddr) = (StringBuilder::new(), StringBuilder::new());
    let (mut rport, mut lport, mut role) = (Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let mut encrypted = BooleanBuilder::new();
    let (mut major, mut minor, mut content) = (Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let (mut req_headers, mut method, mut path, mut req_body) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut req_size, mut status, mut resp_size, mut latency) =
        (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let (mut resp_headers, mut message, mut resp_body) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for i in first..first + n {
        let r = rng.next_u64();
        let pid = (r % u64::from(PROCESSES)) as usize;
        let p = (r >> 8) % PATHS;
        let post = p.is_multiple_of(4);
        time.append_value(now - WINDOW_NS + (i as i64) * (WINDOW_NS / total as i64));
        upid.append_value(&upids[pid]);
        raddr.append_value(format!("10.0.{}.{}", (r >> 16) & 0xff, (r >> 24) & 0xff));
        rport.append_value(((r >> 32) % 30000 + 30000) as i64);
        laddr.append_value("10.1.0.7");
        lport.append_value(8080);
        role.append_value(2);
        encrypted.append_value(false);
        major.append_value(1);
        minor.append_value(1);
        content.append_value(1);
        req_headers.append_value(r#"{"Host":"svc","User-Agent":"curl/8.5.0","Accept":"*/*"}"#);
        method.append_value(if post { "POST" } else { "GET" });
        path.append_value(format!("/api/v1/resource{p}"));
        req_body.append_value(if post { r#"{"id":12345,"op":"update"}"# } else { "" });
        req_size.append_value(if post { 26 } else { 0 });
        let failed = (r >> 40).is_multiple_of(100);
        status.append_value(if failed { 500 } else { 200 });
        resp_headers.append_value(r#"{"Content-Type":"application/json","Content-Length":"42"}"#);
        message.append_value(if failed { "Internal Server Error" } else { "OK" });
        resp_body.append_value(r#"{"ok":true,"items":[1,2,3],"next":null}"#);
        resp_size.append_value(42);
        // Roughly log-uniform between 100 µs and 100 ms.
        let exp = ((r >> 44) % 3000) as f64 / 1000.0;
        latency.append_value((100_000.0 * 10f64.powf(exp)) as i64);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(upid.finish()),
        Arc::new(raddr.finish()),
        Arc::new(rport.finish()),
        Arc::new(laddr.finish()),
        Arc::new(lport.finish()),
        Arc::new(role.finish()),
        Arc::new(encrypted.finish()),
        Arc::new(major.finish()),
        Arc::new(minor.finish()),
        Arc::new(content.finish()),
        Arc::new(req_headers.finish()),
        Arc::new(method.finish()),
        Arc::new(path.finish()),
        Arc::new(req_body.finish()),
        Arc::new(req_size.finish()),
        Arc::new(resp_headers.finish()),
        Arc::new(status.finish()),
        Arc::new(message.finish()),
        Arc::new(resp_body.finish()),
        Arc::new(resp_size.finish()),
        Arc::new(latency.finish()),
    ];
    RecordBatch::try_new(tables::http_events(), columns).expect("columns follow the schema")
}

const LET_PXL: &str = r#"
import px
df = px.DataFrame(table='http_events', start_time='-10m')
df.service = df.ctx['service']
df.failure = df.resp_status >= 400
df = df.groupby(['service', 'req_path']).agg(
    latency=('latency', px.quantiles),
    error_rate=('failure', px.mean),
    throughput=('latency', px.count),
)
df.p50 = px.DurationNanos(px.floor(px.pluck_float64(df.latency, 'p50')))
df.p99 = px.DurationNanos(px.floor(px.pluck_float64(df.latency, 'p99')))
px.display(df.drop('latency'))
"#;

const LET_SQL: &str = "SELECT service, req_path, count(*) AS throughput, \
    avg(CAST(resp_status >= 400 AS DOUBLE)) AS error_rate, \
    floor(pluck_float64(quantiles(latency), 'p50')) AS p50, floor(pluck_float64(quantiles(latency), 'p99')) AS p99 \
    FROM (SELECT upid_to_service_name(upid) AS service, req_path, resp_status, latency FROM http_events) \
    GROUP BY service, req_path";

const FILTERED_PXL: &str = r#"
import px
df = px.DataFrame(table='http_events', start_time='-1m')
df = df[df.resp_status >= 500 and px.contains(df.req_path, 'resource1')]
df = df[['time_', 'upid', 'req_method', 'req_path', 'resp_status', 'latency']]
px.display(df.agg(n=('latency', px.count), worst=('latency', px.max)))
"#;

fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("ROWS and RUNS are numbers")).collect();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let runs = args.get(1).copied().unwrap_or(5).max(1);
    pin_to_one_cpu();
    let now = chrono::Utc::now().timestamp_nanos_opt().expect("a time before 2262");
    let upids: Vec<String> = (0..PROCESSES).map(upid_of).collect();
    let services = Services(
        upids
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let svc = format!("default/svc-{}", i as u32 % SERVICES);
                (u.clone(), Arc::new(ProcessInfo { service_name: svc, ..Default::default() }))
            })
            .collect(),
    );

    let store = Arc::new(Store::default());
    let table = store
        .create(tables::HTTP_EVENTS, tables::http_events(), TableConfig { budget_bytes: 4 << 30, ..Default::default() })
        .expect("a fresh store");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut build_s, mut append_s) = (0.0, 0.0);
    let mut first = 0;
    while first < rows {
        let n = BATCH_ROWS.min(rows - first);
        let t0 = Instant::now();
        let b = batch(&mut rng, &upids, now, first, n, rows);
        let t1 = Instant::now();
        table.append(b).expect("within budget");
        append_s += t1.elapsed().as_secs_f64();
        build_s += (t1 - t0).as_secs_f64();
        first += n;
    }
    let stats = table.stats();
    println!(
        "ingest: {rows} rows; build batches {:.0} rows/s, append {:.0} rows/s, both {:.0} rows/s; {:.0} bytes/row held ({} MiB, {} batches)",
        rows as f64 / build_s,
        rows as f64 / append_s,
        rows as f64 / (build_s + append_s),
        stats.bytes as f64 / stats.rows as f64,
        stats.bytes >> 20,
        stats.batches,
    );

    let engine = QueryEngine::new(
        store.clone(),
        EngineConfig { partitions: 1, metadata: Arc::new(services), memory_limit_bytes: 1 << 30 },
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let pxl = |script: &str| {
        let req = ScriptRequest { script: script.into(), exec_funcs: vec![], max_rows: Some(100_000) };
        let out = rt.block_on(scry_pxl::run(&engine, &req, now)).unwrap_or_else(|e| panic!("{e}"));
        out.iter().map(|t| t.num_rows()).sum::<usize>()
    };
    let sql = |query: &str| rt.block_on(engine.sql(query, 100_000)).unwrap_or_else(|e| panic!("{e}")).num_rows();
    let cases: [(&str, &dyn Fn() -> usize); 3] = [
        ("let (PxL: ctx service, groupby service+path, count, quantiles p50/p99, error rate)", &|| pxl(LET_PXL)),
        ("let_sql (same through SQL)", &|| sql(LET_SQL)),
        ("filtered (PxL: last 1 of 10 minutes, status >= 500 and path contains, count/max)", &|| pxl(FILTERED_PXL)),
    ];
    for (name, run) in cases {
        let out_rows = run();
        let pruned_before = table.stats().pruned_batches;
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let pruned = (table.stats().pruned_batches - pruned_before) / runs as u64;
        let ms = median(times);
        println!(
            "{name}: median {ms:.1} ms over {runs} runs, {:.1} M rows/s, {out_rows} output rows, {pruned} batches skipped per run",
            rows as f64 / ms / 1000.0
        );
    }
}
