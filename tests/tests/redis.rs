//! Redis commands between pods become `redis_events` rows: redis-cli in one
//! pod, redis-server in another; single commands, a MULTI transaction, a
//! pipeline in one write and a pub/sub message, each once, from the server's
//! side, with the command, its arguments, the reply (errors included) and
//! latency.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Background, runtime, sql_until, wait_listening};
use serde_json::json;

/// MULTI, two INCRs and EXEC, each sent once the previous reply came.
const MULTI: &str = "import socket, sys\n\
    s = socket.create_connection((sys.argv[1], 6379))\n\
    for cmd, reply in [('MULTI', b'+OK'), ('INCR counter', b'+QUEUED'), ('INCR counter', b'+QUEUED'), ('EXEC', b'*2')]:\n\
    \x20   words = cmd.split()\n\
    \x20   s.sendall(('*%d\\r\\n' % len(words) + ''.join('$%d\\r\\n%s\\r\\n' % (len(w), w) for w in words)).encode())\n\
    \x20   got = s.recv(4096)\n\
    \x20   assert got.startswith(reply), (cmd, got)\n";

/// Three commands in one write, then their three replies.
const PIPELINE: &str = "import socket, sys\n\
    s = socket.create_connection((sys.argv[1], 6379))\n\
    s.sendall(b'*1\\r\\n$4\\r\\nPING\\r\\n*3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\np\\r\\n$1\\r\\n1\\r\\n*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\np\\r\\n')\n\
    data = b''\n\
    while data.count(b'\\r\\n') < 4: data += s.recv(4096)\n\
    assert data == b'+PONG\\r\\n+OK\\r\\n$1\\r\\n1\\r\\n', data\n";

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
    // A transaction on one connection. (Not redis-cli reading stdin: its
    // REPL first fetches COMMAND DOCS, a reply larger than the tracer copies.)
    let multi = cluster.command(app, "/usr/bin/python3", &["-c", MULTI, &ip]).output().unwrap();
    assert!(multi.status.success(), "{}", String::from_utf8_lossy(&multi.stderr));
    let pipelined = cluster.command(app, "/usr/bin/python3", &["-c", PIPELINE, &ip]).output().unwrap();
    assert!(pipelined.status.success(), "{}", String::from_utf8_lossy(&pipelined.stderr));
    // Pub/sub: a subscriber, then a message published to it.
    let mut subscriber = Background(
        cluster
            .command(app, "/usr/bin/redis-cli", &["-h", &ip, "-p", "6379", "SUBSCRIBE", "news"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(subscriber.0.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!([next(), next(), next()], ["subscribe", "news", "1"]);
    let publish = cluster
        .command(app, "/usr/bin/redis-cli", &["-h", &ip, "-p", "6379", "PUBLISH", "news", "hello"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&publish.stdout), "1\n");
    assert_eq!([next(), next(), next()], ["message", "news", "hello"]);
    drop(subscriber);

    let query = "SELECT req_cmd, req_args, resp, trace_role, remote_addr, local_port, latency, upid_to_pod_name(upid) \
                 FROM redis_events WHERE local_port = 6379 OR remote_port = 6379 ORDER BY time_";
    let expected = [
        ("SET", r#"{"key":"greeting","value":"hello","options":[]}"#, "OK"),
        ("GET", r#"{"key":"greeting"}"#, "hello"),
        ("INCR", r#"{"key":"greeting"}"#, "-ERR value is not an integer or out of range"),
        ("GET", r#"{"key":"missing"}"#, "<NULL>"),
        ("MULTI", "[]", "OK"),
        ("INCR", r#"{"key":"counter"}"#, "QUEUED"),
        ("INCR", r#"{"key":"counter"}"#, "QUEUED"),
        ("EXEC", "[]", "[1, 2]"),
        ("PING", "[]", "PONG"),
        ("SET", r#"{"key":"p","value":"1","options":[]}"#, "OK"),
        ("GET", r#"{"key":"p"}"#, "1"),
        ("SUBSCRIBE", r#"{"channel":["news"]}"#, "[subscribe, news, 1]"),
        // Redis writes the publisher's reply before the subscriber's message.
        ("PUBLISH", r#"{"channel":"news","message":"hello"}"#, "1"),
        ("PUSH PUB", "", "[message, news, hello]"),
    ];
    let rows = sql_until(&agent, query, expected.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    let got: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap(), r[2].as_str().unwrap())).collect();
    assert_eq!(got, expected, "status: {:?}", status.sockets);
    for r in &rows {
        assert_eq!((&r[3], &r[4], &r[5]), (&json!(2), &json!(app.ip.to_string()), &json!(6379)));
        // A pushed message answers no request: no latency.
        assert_eq!(r[6].as_i64().unwrap() > 0, r[0] != "PUSH PUB", "latency: {r:?}");
        assert_eq!(r[7], "shop/cache-1", "{r:?}");
    }
    let redis = status.sockets.protocols.iter().find(|p| p.name == "redis").unwrap();
    let n = expected.len() as u64;
    assert_eq!(
        (redis.records, redis.parse_errors, redis.unmatched),
        (n, 0, 0),
        "the server side stitched, nothing lost"
    );
    assert_eq!(status.sockets.deduplicated, 8, "the clients' eight connections are left to the server's side");
}
