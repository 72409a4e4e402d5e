//! `/metrics` scraped by a real Prometheus (Debian's package): a known
//! workload between pods — HTTP requests with two statuses, DNS queries, SYNs
//! an nftables rule drops — and PromQL over what Prometheus stored returns
//! exactly those counts, labelled with the pods, next to the agent's health.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scry_e2e::pods::{Cluster, Pod};
use scry_e2e::{Agent, Background, dnsmasq, python_file_server, runtime};
use serde_json::Value;

const GETS: usize = 5;
const MISSING: usize = 3;
const DROPPED: usize = 2;
const LOOKUPS: usize = 4;

fn curl(cluster: &Cluster, from: &Pod, url: &str, extra: &[&str]) -> bool {
    let mut args = vec!["-s", "-o", "/dev/null"];
    args.extend_from_slice(extra);
    args.push(url);
    cluster.command(from, "/usr/bin/curl", &args).status().unwrap().success()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus scraping `target` every second, its data in a temp dir.
struct Prometheus {
    _server: Background,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: scry\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let server = Background(
            Command::new("/usr/bin/prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus starts (Debian's prometheus package; scripts/setup.sh installs it)"),
        );
        let prometheus = Prometheus { _server: server, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while prometheus.get("/-/ready").is_none() {
            assert!(Instant::now() < deadline, "prometheus was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    fn get(&self, path_and_query: &str) -> Option<String> {
        let out = Command::new("/usr/bin/curl")
            .args(["-sf", &format!("http://127.0.0.1:{}{path_and_query}", self.port)])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// An instant PromQL query's single value (None when it has no result).
    fn value(&self, promql: &str) -> Option<f64> {
        let out = Command::new("/usr/bin/curl")
            .args(["-sfG", &format!("http://127.0.0.1:{}/api/v1/query", self.port), "--data-urlencode"])
            .arg(format!("query={promql}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "query {promql}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        let result = v["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{promql} has more than one series: {v}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Polls `promql` until it equals `want` (scrapes come every second) or
    /// 30 s pass; returns the last value seen.
    fn value_until(&self, promql: &str, want: f64) -> Option<f64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.value(promql);
            if v == Some(want) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[test]
fn prometheus_scrapes_hubble_flow_metrics_and_agent_health_with_exact_counts() {
    let cluster = Cluster::new("metric", 211, &[("shop", "web-1"), ("shop", "client-1"), ("shop", "db-1")]);
    let mut args = cluster.agent_args();
    args.extend([
        "--flow-metrics".to_owned(),
        "flow:sourceContext=pod;destinationContext=pod drop:sourceContext=pod;destinationContext=pod \
         httpV2:sourceContext=pod;destinationContext=pod dns:query tcp port-distribution"
            .to_owned(),
    ]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let status = runtime().block_on(agent.client().status()).unwrap();
    let target = status.metrics.address.clone().expect("the agent serves /metrics on TCP");
    assert_eq!(status.metrics.flow_plugins, ["flow", "drop", "httpV2", "dns", "tcp", "port-distribution"]);
    let prometheus = Prometheus::start(&target);

    let (web, client, db) = (cluster.pod("web-1"), cluster.pod("client-1"), cluster.pod("db-1"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, web, dir.path());
    let nft = |rule: &str| assert!(cluster.command(db, "/usr/sbin/nft", &[rule]).status().unwrap().success(), "{rule}");
    nft("add table inet scry");
    nft("add chain inet scry input { type filter hook input priority 0; }");
    nft("add rule inet scry input tcp dport 9090 drop");
    let dns_ip = db.ip.to_string();
    let _dns = dnsmasq(&cluster, db, &["/cart.shop.test/10.211.0.100"]);

    let web_url = format!("http://{}:8080", web.ip);
    for _ in 0..GETS {
        assert!(curl(&cluster, client, &format!("{web_url}/hello.txt"), &[]));
    }
    for _ in 0..MISSING {
        assert!(curl(&cluster, client, &format!("{web_url}/missing"), &[]));
    }
    // Half a second is less than the first SYN retransmission (1 s): one
    // dropped packet per attempt.
    for _ in 0..DROPPED {
        assert!(!curl(&cluster, client, &format!("http://{}:9090/", db.ip), &["--max-time", "0.5"]));
    }
    for _ in 0..LOOKUPS {
        let mut dig =
            cluster.command(client, "/usr/bin/dig", &["+short", "+notcp", &format!("@{dns_ip}"), "cart.shop.test"]);
        assert_eq!(String::from_utf8(dig.output().unwrap().stdout).unwrap().trim(), "10.211.0.100");
    }

    let pods = r#"source="shop/client-1",destination="shop/web-1""#;
    let checks: Vec<(String, f64)> = vec![
        (format!(r#"sum(hubble_http_requests_total{{{pods},method="GET",status="200",reporter="server"}})"#), GETS as f64),
        (format!(r#"sum(hubble_http_requests_total{{{pods},method="GET",status="404",reporter="server"}})"#), MISSING as f64),
        (format!(r#"sum(hubble_http_request_duration_seconds_count{{{pods},method="GET"}})"#), (GETS + MISSING) as f64),
        // Every exchange is a request flow and a response flow (Prometheus'
        // own scrapes are HTTP flows too, between host endpoints).
        (format!(r#"sum(hubble_flows_processed_total{{{pods},type="L7",subtype="HTTP",verdict="FORWARDED"}})"#), (GETS + MISSING) as f64),
        (
            r#"sum(hubble_flows_processed_total{source="shop/web-1",destination="shop/client-1",type="L7",subtype="HTTP"})"#.into(),
            (GETS + MISSING) as f64,
        ),
        (
            r#"sum(hubble_drop_total{source="shop/client-1",destination="shop/db-1",reason="POLICY_DENIED",protocol="TCP"})"#.into(),
            DROPPED as f64,
        ),
        (
            r#"sum(hubble_flows_processed_total{source="shop/client-1",destination="shop/db-1",type="Drop",verdict="DROPPED"})"#.into(),
            DROPPED as f64,
        ),
        (r#"sum(hubble_dns_queries_total{query="cart.shop.test.",qtypes="A"})"#.into(), LOOKUPS as f64),
        (
            r#"sum(hubble_dns_responses_total{query="cart.shop.test.",rcode="No Error",qtypes="A",ips_returned="1"})"#.into(),
            LOOKUPS as f64,
        ),
        (r#"up{job="scry"}"#.into(), 1.0),
        (r#"sum(hubble_lost_events_total)"#.into(), 0.0),
        (r#"sum(scry_source_kernel_lost_total)"#.into(), 0.0),
        (r#"scry_metrics_series_refused_total{metric="hubble_drop_total"}"#.into(), 0.0),
    ];
    for (promql, want) in &checks {
        assert_eq!(prometheus.value_until(promql, *want), Some(*want), "{promql}");
    }
    // Health families are there with live values.
    for (promql, at_least) in [
        (r#"scry_source_events_total{source="net"}"#, 1.0),
        // Each request went to port 8080 (its SYN, its L7 request flow …).
        (r#"sum(hubble_port_distribution_total{protocol="TCP",port="8080"})"#, (GETS + MISSING) as f64),
        (r#"sum(hubble_tcp_flags_total{flag="SYN",family="IPv4"})"#, (GETS + MISSING) as f64),
        (r#"scry_ring_buffer_size_bytes{source="net"}"#, 4096.0),
        (r#"scry_bpf_map_capacity_entries{source="net",map="flows"}"#, 1.0),
        (r#"scry_process_cache_entries"#, 1.0),
        (r#"scry_table_rows{table="http_events"}"#, (GETS + MISSING) as f64),
        (r#"process_resident_memory_bytes"#, 1e6),
        (r#"process_cpu_seconds_total"#, 0.0),
    ] {
        let v = prometheus.value(promql).unwrap_or_else(|| panic!("{promql} has no value"));
        assert!(v >= at_least, "{promql} = {v}, want at least {at_least}");
    }
}
