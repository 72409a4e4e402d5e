//! Redis commands between pods become `redis_events` rows: redis-cli in one
//! pod, redis-server in another; each command once, from the server's side,
//! with the command, its arguments, the reply (errors included) and latency.

use std::process::Stdio;

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Background, runtime, sql_until, wait_listening};
use serde_json::json;

#[test]
fn redis_cli_commands_are_recorded_once_with_their_replies() {
    let cluster = Cluster::new("redis", 204, &[("shop", "cache-1"), ("shop", "app-1")]);
    let args = cluster.agent_args();
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (cache, app) = (cluster.pod("cache-1"), cluster.pod("app-1"));
    let ip = cache.ip.to_string();
    let dir = tempfile::tempdir().unwrap();
    let _server = Background(
        cluster
            .command(
                cache,
                "/usr/bin/redis-server",
                &["--bind", &ip, "--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"],
            )
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&cluster, cache, 6379);
    let commands: [&[&str]; 4] =
        [&["SET", "greeting", "hello"], &["GET", "greeting"], &["INCR", "greeting"], &["GET", "missing"]];
    for command in commands {
        let out = cluster
            .command(app, "/usr/bin/redis-cli", &[&["-h", ip.as_str(), "-p", "6379"], command].concat())
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {command:?}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("DENIED"), "the server refused redis-cli");
    }
    let query = "SELECT req_cmd, req_args, resp, trace_role, remote_addr, local_port, latency, upid_to_pod_name(upid) \
                 FROM redis_events WHERE local_port = 6379 OR remote_port = 6379 ORDER BY time_";
    let rows = sql_until(&agent, query, commands.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    let got: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap(), r[2].as_str().unwrap())).collect();
    assert_eq!(
        got,
        [
            ("SET", r#"{"key":"greeting","value":"hello","options":[]}"#, "OK"),
            ("GET", r#"{"key":"greeting"}"#, "hello"),
            ("INCR", r#"{"key":"greeting"}"#, "-ERR value is not an integer or out of range"),
            ("GET", r#"{"key":"missing"}"#, "<NULL>"),
        ],
        "status: {:?}",
        status.sockets
    );
    for r in &rows {
        assert_eq!((&r[3], &r[4], &r[5]), (&json!(2), &json!(app.ip.to_string()), &json!(6379)));
        assert!(r[6].as_i64().unwrap() > 0, "latency: {r:?}");
        assert_eq!(r[7], "shop/cache-1");
    }
    let redis = status.sockets.protocols.iter().find(|p| p.name == "redis").unwrap();
    assert_eq!((redis.records, redis.parse_errors, redis.unmatched), (8, 0, 0), "both sides stitched, nothing lost");
    assert_eq!(status.sockets.deduplicated, 4);
}
