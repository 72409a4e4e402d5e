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

    let query = "SELECT req_method, req_path, resp_status, resp_body, trace_role, remote_addr, local_addr, local_port, \
                 latency, upid_to_pod_name(upid) AS pod, major_version, minor_version, req_body_size \
                 FROM http_events WHERE local_port = 8080 OR remote_port = 8080 ORDER BY time_";
    let rows = sql_until(&agent, query, paths.len());
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

#[test]
fn with_socket_tracing_off_no_request_is_recorded_flows_still_are_and_status_says_why() {
    let cluster = Cluster::new("http-off", 214, &[("shop", "web-2"), ("shop", "client-2")]);
    let mut args = cluster.agent_args();
    args.extend(["--socket-tracing".to_owned(), "off".to_owned()]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod("web-2"), cluster.pod("client-2"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, web, dir.path());
    for _ in 0..2 {
        let url = format!("http://{}:8080/hello.txt", web.ip);
        let out = cluster
            .command(client, "/usr/bin/curl", &["-s", "-o", "/dev/null", "--retry", "5", "--retry-connrefused", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {url}");
    }
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!((status.sockets.enabled, status.sockets.detail.as_str()), (false, "turned off by --socket-tracing off"));
    // Flows still run: both connections are there (curl's retries while
    // the server starts are refused connections of their own ports, so
    // only the ones closed with a FIN are counted).
    let flows = "SELECT DISTINCT src_port FROM network_flows WHERE dst_pod = 'web-2' AND dst_port = 8080 \
                 AND tcp_flags LIKE '%FIN%'";
    assert_eq!(sql_until(&agent, flows, 2).len(), 2);
    // Waits its 15 s for a row that must not come.
    let rows = sql_until(&agent, "SELECT req_path FROM http_events", 1);
    assert!(rows.is_empty(), "no socket tracing, no requests: {rows:?}");
}

#[test]
fn with_flows_off_requests_are_recorded_and_no_flow_is() {
    let cluster = Cluster::new("flows-off", 215, &[("shop", "web-3"), ("shop", "client-3")]);
    let mut args = cluster.agent_args();
    args.extend(["--flows".to_owned(), "off".to_owned()]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod("web-3"), cluster.pod("client-3"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, web, dir.path());
    let url = format!("http://{}:8080/hello.txt", web.ip);
    let out = cluster
        .command(client, "/usr/bin/curl", &["-s", "-o", "/dev/null", "--retry", "5", "--retry-connrefused", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {url}");
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!((status.flows.enabled, status.flows.detail.as_str()), (false, "turned off by --flows off"));
    let rows = sql_until(&agent, "SELECT req_path, resp_status FROM http_events WHERE local_port = 8080", 1);
    assert_eq!(rows, vec![vec![json!("/hello.txt"), json!(200)]]);
    let flows = sql_until(&agent, "SELECT src_port FROM network_flows", 1);
    assert!(flows.is_empty(), "no flows source, no flows: {flows:?}");
}
