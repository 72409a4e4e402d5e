//! Sources turned off by flag: with `--socket-tracing off` no request is
//! recorded while flows still are; with `--flows off` requests are recorded
//! and no flow is; `scry status` says which is off and why. (Their own test
//! binary: http.rs counts every request its agent sees.)

use scry_e2e::pods::{Cluster, Pod};
use scry_e2e::{Agent, python_file_server, runtime, sql_until};
use serde_json::json;

/// An agent started with `flag off`, then `requests` curl requests from
/// `client` to a Python server in `web`: the cluster, the agent and `web`.
fn requests_with_source_off(
    name: &str,
    subnet: u8,
    (web, client): (&str, &str),
    flag: &str,
    requests: usize,
) -> (Cluster, Agent, Pod) {
    let cluster = Cluster::new(name, subnet, &[("shop", web), ("shop", client)]);
    let mut args = cluster.agent_args();
    args.extend([flag.to_owned(), "off".to_owned()]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod(web).clone(), cluster.pod(client));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, &web, dir.path());
    let url = format!("http://{}:8080/hello.txt", web.ip);
    for _ in 0..requests {
        let out = cluster
            .command(client, "/usr/bin/curl", &["-s", "-o", "/dev/null", "--retry", "5", "--retry-connrefused", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {url}");
    }
    (cluster, agent, web)
}

#[test]
fn with_socket_tracing_off_no_request_is_recorded_flows_still_are_and_status_says_why() {
    let (_cluster, agent, web) =
        requests_with_source_off("http-off", 214, ("web-2", "client-2"), "--socket-tracing", 2);
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!((status.sockets.enabled, status.sockets.detail.as_str()), (false, "turned off by --socket-tracing off"));
    // Flows still run: both connections are there (curl's retries while
    // the server starts are refused connections of their own ports, so
    // only the ones closed with a FIN are counted).
    let flows = "SELECT DISTINCT src_port FROM network_flows WHERE dst_pod = 'web-2' AND dst_port = 8080 \
                 AND tcp_flags LIKE '%FIN%'";
    assert_eq!(sql_until(&agent, flows, 2).len(), 2);
    // Waits its 15 s for a row that must not come.
    let query =
        format!("SELECT req_path FROM http_events WHERE local_addr = '{ip}' OR remote_addr = '{ip}'", ip = web.ip);
    let rows = sql_until(&agent, &query, 1);
    assert!(rows.is_empty(), "no socket tracing, no requests: {rows:?}");
}

#[test]
fn with_flows_off_requests_are_recorded_and_no_flow_is() {
    let (_cluster, agent, web) = requests_with_source_off("flows-off", 215, ("web-3", "client-3"), "--flows", 1);
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!((status.flows.enabled, status.flows.detail.as_str()), (false, "turned off by --flows off"));
    let query = format!("SELECT req_path, resp_status FROM http_events WHERE local_addr = '{}'", web.ip);
    let rows = sql_until(&agent, &query, 1);
    assert_eq!(rows, vec![vec![json!("/hello.txt"), json!(200)]]);
    let flows = sql_until(&agent, "SELECT src_port FROM network_flows", 1);
    assert!(flows.is_empty(), "no flows source, no flows: {flows:?}");
}
