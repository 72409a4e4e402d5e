//! HTTP requests between pods become `http_events` rows: curl in one pod, a
//! Python HTTP server in another, each request exactly once (the server's
//! side), with method, path, status, body, addresses, latency and the pod.

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, python_file_server, runtime, sql_until};
use serde_json::json;

#[test]
fn curl_to_a_python_server_is_recorded_once_by_the_server_side() {
    let cluster = Cluster::new("http", 202, &[("shop", "web-1"), ("shop", "client-1")]);
    let args = cluster.agent_args();
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod("web-1"), cluster.pod("client-1"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let ip = web.ip.to_string();
    let _server = python_file_server(&cluster, web, dir.path());

    let paths = ["/hello.txt", "/hello.txt", "/missing", "/hello.txt?x=1"];
    for path in paths {
        let url = format!("http://{ip}:8080{path}");
        let out = cluster
            .command(client, "/usr/bin/curl", &["-s", "-o", "/dev/null", "--retry", "5", "--retry-connrefused", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {url}");
    }

    // This server's requests only: the other tests' pods serve on 8080 too.
    let query = format!(
        "SELECT req_method, req_path, resp_status, resp_body, trace_role, remote_addr, local_addr, local_port, \
         latency, upid_to_pod_name(upid) AS pod, major_version, minor_version, req_body_size \
         FROM http_events WHERE (local_port = 8080 AND local_addr = '{ip}') OR (remote_port = 8080 AND remote_addr = '{ip}') \
         ORDER BY time_"
    );
    let rows = sql_until(&agent, &query, paths.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!(rows.len(), paths.len(), "one row per request: {rows:?}\nstatus: {:?}", status.sockets);
    for (row, path) in rows.iter().zip(paths) {
        let missing = path == "/missing";
        assert_eq!(row[0], "GET");
        assert_eq!(row[1], path);
        assert_eq!(row[2], if missing { 404 } else { 200 });
        if !missing {
            assert_eq!(row[3], "hello\n");
        }
        assert_eq!(row[4], 2, "the server side records it");
        assert_eq!((&row[5], &row[6], &row[7]), (&json!(client.ip.to_string()), &json!(ip), &json!(8080)));
        assert!(row[8].as_i64().unwrap() > 0, "latency: {row:?}");
        assert_eq!(row[9], "shop/web-1");
        assert_eq!((&row[10], &row[11], &row[12]), (&json!(1), &json!(0), &json!(0)), "Python answers HTTP/1.0");
    }
    // The library script shows the same requests, requestor and responder named.
    let out = std::process::Command::new(scry_e2e::scry_bin())
        .args(["run", "--socket"])
        .arg(&agent.socket)
        .args(["-o", "json", "px/http_data", "--", "--destination_filter=shop/web-1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(shown.len(), paths.len(), "{shown:?}");
    assert!(shown.iter().all(|r| r["requestor"] == json!(client.ip.to_string()) && r["responder"] == "shop/web-1"));
    let http = status.sockets.protocols.iter().find(|p| p.name == "http").unwrap();
    assert_eq!(http.records, paths.len() as u64, "the server side only");
    assert_eq!(status.sockets.deduplicated, paths.len() as u64, "each curl connection left to the server side");
    assert_eq!((http.parse_errors, http.unmatched), (0, 0));
}
