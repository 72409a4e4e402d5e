//! DNS between pods becomes `dns_events` rows: dig in one pod, dnsmasq in
//! another; A, AAAA and NXDOMAIN over UDP and an A over TCP, each once, from
//! the server's side, with the questions, answers and rcode.

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, dnsmasq, runtime, sql_until};
use serde_json::{Value, json};

#[test]
fn dig_queries_to_dnsmasq_are_recorded_once_with_answers_and_rcodes() {
    let cluster = Cluster::new("dns", 205, &[("shop", "dns-1"), ("shop", "app-1")]);
    let args = cluster.agent_args();
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (dns, app) = (cluster.pod("dns-1"), cluster.pod("app-1"));
    let ip = dns.ip.to_string();
    let _server = dnsmasq(&cluster, dns, &["/web.test/10.1.2.3", "/v6.test/fd00::1", "/gone.test/"]);
    let server = format!("@{ip}");
    // dnsmasq answers TCP in a forked child that reads the length prefix a
    // byte at a time.
    let queries: [&[&str]; 4] =
        [&["web.test", "A"], &["v6.test", "AAAA"], &["gone.test", "A"], &["+tcp", "web.test", "A"]];
    for q in queries {
        let out = cluster
            .command(app, "/usr/bin/dig", &[&[server.as_str(), "+tries=1", "+time=2"], q].concat())
            .output()
            .unwrap();
        assert!(out.status.success(), "dig {q:?}");
    }
    let query = "SELECT req_body, resp_header, resp_body, trace_role, remote_addr, local_port, latency, \
                 upid_to_pod_name(upid) FROM dns_events WHERE local_port = 53 OR remote_port = 53 ORDER BY time_";
    let rows = sql_until(&agent, query, queries.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!(rows.len(), queries.len(), "{rows:?}\nstatus: {:?}", status.sockets);
    let parse = |v: &Value| -> Value { serde_json::from_str(v.as_str().unwrap()).unwrap() };
    let expected = [
        ("web.test", "A", 0, json!([{"name": "web.test", "type": "A", "addr": "10.1.2.3"}])),
        ("v6.test", "AAAA", 0, json!([{"name": "v6.test", "type": "AAAA", "addr": "fd00::1"}])),
        ("gone.test", "A", 3, json!([])),
        ("web.test", "A", 0, json!([{"name": "web.test", "type": "A", "addr": "10.1.2.3"}])),
    ];
    for (row, (name, qtype, rcode, answers)) in rows.iter().zip(expected) {
        assert_eq!(parse(&row[0]), json!({"queries": [{"name": name, "type": qtype}]}), "{row:?}");
        assert_eq!(parse(&row[1])["rcode"], rcode, "{row:?}");
        assert_eq!(parse(&row[2])["answers"], answers, "{row:?}");
        assert_eq!((&row[3], &row[4], &row[5]), (&json!(2), &json!(app.ip.to_string()), &json!(53)), "{row:?}");
        assert!(row[6].as_i64().unwrap() > 0, "latency: {row:?}");
        assert_eq!(row[7], "shop/dns-1");
    }
    let dns_counts = status.sockets.protocols.iter().find(|p| p.name == "dns").unwrap();
    assert_eq!((dns_counts.parse_errors, dns_counts.unmatched), (0, 0), "{:?}", status.sockets);
    assert_eq!(status.sockets.deduplicated, 4, "dig's side is left to dnsmasq's");
}
