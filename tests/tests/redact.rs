//! With `--redact`, credentials and values in HTTP requests and responses
//! are redacted before rows are stored: the secret is in no table. (Its own
//! test binary: an agent traces the whole node, so tests with different
//! agents must not run side by side.)

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, python_file_server, sql_until};
use serde_json::json;

#[test]
fn with_redact_secrets_and_values_never_reach_the_tables() {
    let cluster = Cluster::new("redact", 209, &[("shop", "web-1"), ("shop", "client-1")]);
    let mut args = cluster.agent_args();
    args.push("--redact".into());
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod("web-1"), cluster.pod("client-1"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let ip = web.ip.to_string();
    let _server = python_file_server(&cluster, web, dir.path());
    let url = format!("http://{ip}:8080/hello.txt?token=abc123&page=2");
    let out = cluster
        .command(client, "/usr/bin/curl", &["-s", "-o", "/dev/null", "-H", "Authorization: Bearer s3cret", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = sql_until(&agent, "SELECT req_path, req_headers, resp_body, resp_status FROM http_events", 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "/hello.txt?token=<redacted>&page=<redacted>");
    let headers: serde_json::Value = serde_json::from_str(rows[0][1].as_str().unwrap()).unwrap();
    assert_eq!(headers["Authorization"], "<redacted>");
    assert_eq!((&rows[0][2], &rows[0][3]), (&json!("<redacted: 6 bytes>"), &json!(200)));
    let leaked = sql_until(
        &agent,
        "SELECT count(*) FROM http_events WHERE req_headers LIKE '%s3cret%' OR req_path LIKE '%abc123%' \
         OR resp_body LIKE '%hello%'",
        1,
    );
    assert_eq!(leaked[0][0], 0);
}
