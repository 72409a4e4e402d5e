//! nginx between pods: curl and a raw pipelining client in one pod, nginx in
//! another. Keep-alive, pipelining, chunked and gzip bodies, a POST, 404 and
//! 500 each become one `http_events` row from nginx's side, with the decoded
//! bodies cut at the configured size; `conn_stats` counts the same connections and bytes on both sides.

use std::process::Stdio;

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, Background, runtime, sql_until, wait_listening};
use serde_json::{Value, json};

const DATA: &str =
    r#"{"items":["apple","banana","cherry"],"note":"gzip makes this body smaller when repeated, repeated, repeated"}"#;

fn nginx_conf(dir: &std::path::Path, ip: &str) -> String {
    let d = dir.display();
    format!(
        "user root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\n\
         http {{\n  access_log off;\n  default_type text/plain;\n\
           types {{ text/plain txt; application/json json; }}\n\
           client_body_temp_path {d}/body;\n\
           gzip on;\n  gzip_min_length 1;\n  gzip_types application/json;\n\
           server {{\n    listen {ip}:80;\n    root {d}/www;\n\
             location = /fail {{ return 500 \"boom\\n\"; }}\n\
             location = /submit {{ return 201 \"created\\n\"; }}\n\
           }}\n}}\n"
    )
}

/// Two requests in one write, then the two responses on one connection.
const PIPELINE: &str = "import socket, sys\n\
    s = socket.create_connection((sys.argv[1], 80))\n\
    s.sendall(b'GET /hello.txt?p=1 HTTP/1.1\\r\\nHost: web\\r\\n\\r\\nGET /hello.txt?p=2 HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n')\n\
    data = b''\n\
    while True:\n\
    \x20   chunk = s.recv(65536)\n\
    \x20   if not chunk: break\n\
    \x20   data += chunk\n\
    assert data.count(b'HTTP/1.1 200') == 2, data\n";

#[test]
fn nginx_requests_of_every_shape_are_recorded_once_with_decoded_bodies() {
    let cluster = Cluster::new("nginx", 206, &[("shop", "web-1"), ("shop", "client-1")]);
    let mut args = cluster.agent_args();
    // Bodies are cut at 64 bytes instead of Pixie's 512: the JSON is longer.
    args.extend(["--conn-stats-interval".into(), "1".into(), "--max-body-bytes".into(), "64".into()]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client) = (cluster.pod("web-1"), cluster.pod("client-1"));
    let ip = web.ip.to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.path().join("www/data.json"), DATA).unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), &ip)).unwrap();
    let _server = Background(
        cluster.command(web, "/usr/sbin/nginx", &["-c", conf.to_str().unwrap()]).stdout(Stdio::null()).spawn().unwrap(),
    );
    wait_listening(&cluster, web, 80);

    let url = |path: &str| format!("http://{ip}{path}");
    let curl = |args: &[&str]| {
        let out =
            cluster.command(client, "/usr/bin/curl", &[&["-s", "-o", "/dev/null"], args].concat()).output().unwrap();
        assert!(out.status.success(), "curl {args:?}");
    };
    // Keep-alive: two requests on one connection.
    curl(&[&url("/hello.txt"), "-o", "/dev/null", &url("/missing")]);
    // A gzip-encoded, chunked JSON response.
    curl(&["--compressed", &url("/data.json")]);
    // A POST with a JSON body, then one with a chunked body.
    curl(&["-H", "Content-Type: application/json", "-d", r#"{"order":42}"#, &url("/submit")]);
    curl(&["-H", "Transfer-Encoding: chunked", "-d", "chunked-body", &url("/submit")]);
    curl(&[&url("/fail")]);
    let pipelined = cluster.command(client, "/usr/bin/python3", &["-c", PIPELINE, &ip]).output().unwrap();
    assert!(pipelined.status.success(), "{}", String::from_utf8_lossy(&pipelined.stderr));

    let data_cut = format!("{}... [TRUNCATED]", &DATA[..64]);
    let expected: [(&str, &str, i64, &str, &str); 8] = [
        ("GET", "/hello.txt", 200, "", "hello\n"),
        ("GET", "/missing", 404, "", ""),
        ("GET", "/data.json", 200, "", &data_cut),
        ("POST", "/submit", 201, r#"{"order":42}"#, "created\n"),
        ("POST", "/submit", 201, "chunked-body", "created\n"),
        ("GET", "/fail", 500, "", "boom\n"),
        ("GET", "/hello.txt?p=1", 200, "", "hello\n"),
        ("GET", "/hello.txt?p=2", 200, "", "hello\n"),
    ];
    let query = "SELECT req_method, req_path, resp_status, req_body, resp_body, trace_role, remote_addr, local_port, \
                 latency, upid_to_pod_name(upid), resp_headers, minor_version \
                 FROM http_events WHERE local_port = 80 OR remote_port = 80 ORDER BY time_";
    let rows = sql_until(&agent, query, expected.len());
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert_eq!(rows.len(), expected.len(), "one row per request: {rows:#?}\nstatus: {:?}", status.sockets);
    for (row, (method, path, code, req_body, resp_body)) in rows.iter().zip(expected) {
        assert_eq!((&row[0], &row[1], &row[2]), (&json!(method), &json!(path), &json!(code)), "{row:?}");
        assert_eq!(row[3], req_body, "{row:?}");
        if code != 404 {
            assert_eq!(row[4], resp_body, "{row:?}");
        }
        assert_eq!((&row[5], &row[6], &row[7]), (&json!(2), &json!(client.ip.to_string()), &json!(80)), "{row:?}");
        assert!(row[8].as_i64().unwrap() > 0, "latency: {row:?}");
        assert_eq!(row[9], "shop/web-1", "nginx's worker is attributed to its pod");
        assert_eq!(row[11], 1);
    }
    let headers: Value = serde_json::from_str(rows[2][10].as_str().unwrap()).unwrap();
    assert_eq!(
        (&headers["Content-Encoding"], &headers["Transfer-Encoding"]),
        (&json!("gzip"), &json!("chunked")),
        "the body was decoded from gzip and chunks: {headers}"
    );
    let http = status.sockets.protocols.iter().find(|p| p.name == "http").unwrap();
    assert_eq!((http.parse_errors, http.unmatched), (0, 0), "{:?}", status.sockets);
    assert_eq!(status.sockets.deduplicated, 6, "the clients' six connections are left to nginx's side");

    // conn_stats: six connections, on nginx's side one row for the client
    // pod's address (its ports collapse), on the clients' side one per
    // process, each attributed to the client pod; what the clients sent
    // nginx received and the other way round.
    let connections = 6;
    let server = "SELECT max(conn_open), max(conn_close), max(bytes_sent), max(bytes_recv), min(protocol), \
                  min(remote_port), upid_to_pod_name(upid) FROM conn_stats WHERE trace_role = 2 AND remote_addr = '{c}' \
                  GROUP BY upid HAVING max(conn_close) = {n}"
        .replace("{c}", &client.ip.to_string())
        .replace("{n}", &connections.to_string());
    let server = sql_until(&agent, &server, 1);
    assert_eq!(server.len(), 1, "{server:?}");
    let clients = format!(
        "SELECT sum(opened), sum(closed), sum(sent), sum(recv) FROM (SELECT upid, max(conn_open) AS opened, \
         max(conn_close) AS closed, max(bytes_sent) AS sent, max(bytes_recv) AS recv FROM conn_stats \
         WHERE trace_role = 1 AND remote_addr = '{ip}' AND remote_port = 80 \
         AND upid_to_pod_name(upid) = 'shop/client-1' GROUP BY upid)"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let clients = loop {
        let rows = sql_until(&agent, &clients, 1);
        if rows[0][1] == json!(connections) || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let s = &server[0];
    assert_eq!(
        (&s[0], &s[1], &s[4], &s[5], &s[6]),
        (&json!(connections), &json!(connections), &json!(1), &json!(0), &json!("shop/web-1"))
    );
    let c = &clients[0];
    assert_eq!((&c[0], &c[1]), (&json!(connections), &json!(connections)), "{clients:?}");
    assert_eq!((&c[2], &c[3]), (&s[3], &s[2]), "bytes each way agree: clients {c:?}, server {s:?}");
    assert!(s[2].as_i64().unwrap() > DATA.len() as i64 / 2, "{s:?}");
}
