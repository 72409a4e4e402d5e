//! Network flows between pods, as `scry observe` shows them: curl from one pod
//! to a Python server in another (FORWARDED, both observation points, L7 HTTP
//! flows), an nftables DROP rule in a third (DROPPED, Policy denied, the
//! kernel's NETFILTER_DROP), a closed port (a reset), an address no local
//! socket owns (world, named by an observed DNS answer), and `--last`,
//! `--follow` and the filter flags against the flows each should select.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use scry_e2e::pods::{Cluster, Pod};
use scry_e2e::{
    Agent, Background, dnsmasq, observe, observe_until, pod_of, python_file_server, runtime, scry_bin, sql_until,
};
use serde_json::Value;

const WORLD_IP: &str = "10.210.0.200";

fn curl(cluster: &Cluster, from: &Pod, url: &str, extra: &[&str]) -> bool {
    let mut args = vec!["-s", "-o", "/dev/null"];
    args.extend_from_slice(extra);
    args.push(url);
    cluster.command(from, "/usr/bin/curl", &args).status().unwrap().success()
}

#[test]
fn observe_shows_forwarded_dropped_reset_world_and_l7_flows_with_hubble_filters() {
    let cluster = Cluster::new("flow", 210, &[("shop", "web-1"), ("shop", "client-1"), ("shop", "db-1")]);
    let args = cluster.agent_args();
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, client, db) = (cluster.pod("web-1"), cluster.pod("client-1"), cluster.pod("db-1"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, web, dir.path());
    // The db pod drops what comes to port 9090, before any socket sees it.
    let nft = |rule: &str| {
        let ok = cluster.command(db, "/usr/sbin/nft", &[rule]).status().unwrap().success();
        assert!(ok, "nft {rule}");
    };
    nft("add table inet scry");
    nft("add chain inet scry input { type filter hook input priority 0; }");
    nft("add rule inet scry input tcp dport 9090 drop");
    // dnsmasq in the db pod names an address nothing on this node owns.
    let dns_ip = db.ip.to_string();
    let _dns = dnsmasq(&cluster, db, &[&format!("/api.world.test/{WORLD_IP}")]);

    let web_ip = web.ip.to_string();
    assert!(curl(&cluster, client, &format!("http://{web_ip}:8080/hello.txt"), &[]));
    assert!(curl(&cluster, client, &format!("http://{web_ip}:8080/missing"), &[]));
    assert!(!curl(&cluster, client, &format!("http://{}:9090/", db.ip), &["--max-time", "2"]));
    assert!(!curl(&cluster, client, &format!("http://{web_ip}:9999/"), &["--max-time", "2"]));
    let dig = cluster.command(client, "/usr/bin/dig", &["+short", &format!("@{dns_ip}"), "api.world.test"]).output();
    assert_eq!(String::from_utf8(dig.unwrap().stdout).unwrap().trim(), WORLD_IP);
    assert!(!curl(&cluster, client, &format!("http://{WORLD_IP}:80/"), &["--connect-timeout", "1"]));

    // Each connection's SYN, as it left the client: exactly the two curls.
    let syns = observe_until(
        &agent,
        &[
            "--last",
            "1000",
            "--from-pod",
            "shop/client-1",
            "--to-pod",
            "shop/web-1",
            "--to-port",
            "8080",
            "--protocol",
            "tcp",
            "--verdict",
            "FORWARDED",
            "--tcp-flags",
            "SYN",
            "--type",
            "trace:to-stack",
        ],
        |f| f.len() >= 2,
    );
    let syns: Vec<&Value> = syns.iter().filter(|f| f["l4"]["TCP"]["flags"].get("ACK").is_none()).collect();
    assert_eq!(syns.len(), 2, "{syns:#?}");
    for f in &syns {
        assert_eq!(f["verdict"], "FORWARDED");
        assert_eq!(f["Type"], "L3_L4");
        assert_eq!(f["IP"]["source"], client.ip.to_string());
        assert_eq!(f["IP"]["destination"], web_ip);
        assert_eq!(f["l4"]["TCP"]["destination_port"], 8080);
        assert_eq!(pod_of(&f["source"]), "shop/client-1");
        assert_eq!(pod_of(&f["destination"]), "shop/web-1");
        assert!(f["source"]["labels"].as_array().unwrap().contains(&Value::from("k8s:app=client-1")));
        assert_eq!(f["is_reply"], false);
        assert_eq!(f["traffic_direction"], "EGRESS");
        assert_eq!(f["trace_observation_point"], "TO_STACK");
        assert_eq!(f["extensions"]["process"]["binary"], "/usr/bin/curl");
    }
    // The server saw each SYN arrive, and its FIN carries the bytes it sent.
    let at_server = observe(
        &agent,
        &["--last", "1000", "--to-pod", "shop/web-1", "--to-port", "8080", "--type", "trace:to-endpoint"],
    );
    let server_syns = at_server.iter().filter(|f| f["l4"]["TCP"]["flags"] == serde_json::json!({"SYN": true})).count();
    assert_eq!(server_syns, 2, "{at_server:#?}");
    assert!(at_server.iter().all(|f| f["traffic_direction"] == "INGRESS" && f["is_reply"] == false));
    let replies = observe(
        &agent,
        &[
            "--last",
            "1000",
            "--from-pod",
            "shop/web-1",
            "--from-port",
            "8080",
            "--tcp-flags",
            "FIN",
            "--type",
            "trace:to-stack",
        ],
    );
    assert!(!replies.is_empty());
    for f in &replies {
        assert_eq!(f["is_reply"], true, "{f:#}");
        let sent: u64 = f["extensions"]["bytes_sent"].as_str().map_or(0, |s| s.parse().unwrap());
        assert!(sent > 100, "the server sent headers and a body: {f:#}");
    }

    // The nftables rule's drops: Policy denied, the kernel's NETFILTER_DROP.
    let dropped = observe(&agent, &["--last", "1000", "--verdict", "DROPPED", "--to-pod", "shop/db-1"]);
    assert!(!dropped.is_empty(), "no drop flows");
    for f in &dropped {
        assert_eq!(f["drop_reason_desc"], "POLICY_DENIED", "{f:#}");
        assert_eq!(f["drop_reason"], 133);
        assert_eq!(f["extensions"]["kernel_drop_reason"], "NETFILTER_DROP");
        assert_eq!(f["event_type"]["type"], 1);
        assert_eq!(f["l4"]["TCP"]["destination_port"], 9090);
        assert_eq!(pod_of(&f["source"]), "shop/client-1");
        assert_eq!(pod_of(&f["destination"]), "shop/db-1");
    }
    // The same drops are rows of network_flows.
    let query = "SELECT src_namespace, src_pod, dst_pod, dst_port, drop_reason, kernel_drop_reason, tcp_flags \
                 FROM network_flows WHERE verdict = 'DROPPED' AND dst_pod = 'db-1'";
    let rows = sql_until(&agent, query, dropped.len());
    assert_eq!(rows.len(), dropped.len(), "{rows:?}");
    for row in &rows {
        let expected = serde_json::json!(["shop", "client-1", "db-1", 9090, "POLICY_DENIED", "NETFILTER_DROP", "SYN"]);
        assert_eq!(Value::from(row.clone()), expected);
    }
    // --drop-reason-desc and --not select the same drops from both sides.
    let by_reason = observe(&agent, &["--last", "1000", "--drop-reason-desc", "POLICY_DENIED", "--pod", "shop/db-1"]);
    assert_eq!(by_reason.len(), dropped.len());
    let not_forwarded =
        observe(&agent, &["--last", "1000", "--to-pod", "shop/db-1", "--not", "--verdict", "FORWARDED"]);
    assert_eq!(not_forwarded.len(), dropped.len());

    // The closed port answered with a reset, which reached the client.
    let resets = observe(&agent, &["--last", "1000", "--from-port", "9999", "--tcp-flags", "RST"]);
    assert!(!resets.is_empty(), "no reset flow");
    assert!(
        resets.iter().all(|f| pod_of(&f["source"]) == "shop/web-1" && pod_of(&f["destination"]) == "shop/client-1"),
        "{resets:#?}"
    );
    let status = runtime().block_on(agent.client().status()).unwrap();
    assert!(status.flows.resets >= 1, "{:?}", status.flows);

    // The address nobody here owns is the world, named by the DNS answer seen.
    let world = observe(&agent, &["--last", "1000", "--to-ip", WORLD_IP, "--to-port", "80", "--verdict", "FORWARDED"]);
    assert!(!world.is_empty(), "no flow to the world");
    for f in &world {
        assert_eq!(f["destination"]["labels"], serde_json::json!(["reserved:world"]));
        assert_eq!(f["destination"]["identity"], 2);
        assert_eq!(f["destination_names"], serde_json::json!(["api.world.test"]));
    }
    let by_name = observe(&agent, &["--last", "1000", "--to-fqdn", "*.world.test", "--verdict", "FORWARDED"]);
    assert_eq!(by_name.len(), world.len());

    // L7: the socket tracer's records, as request and response flows.
    let not_found = observe_until(&agent, &["--last", "1000", "--http-status", "404"], |f| !f.is_empty());
    assert_eq!(not_found.len(), 1, "{not_found:#?}");
    let f = &not_found[0];
    assert_eq!(f["Type"], "L7");
    assert_eq!(f["l7"]["type"], "RESPONSE");
    assert_eq!(f["l7"]["http"]["code"], 404);
    assert_eq!(f["l7"]["http"]["method"], "GET");
    assert_eq!(f["l7"]["http"]["url"], format!("http://{web_ip}:8080/missing"));
    assert!(f["l7"]["latency_ns"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!((pod_of(&f["source"]), pod_of(&f["destination"])), ("shop/web-1".into(), "shop/client-1".into()));
    assert_eq!(f["is_reply"], true);
    let requests =
        observe(&agent, &["--last", "1000", "--type", "l7", "--http-method", "get", "--to-pod", "shop/web-1"]);
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests.iter().all(|f| f["l7"]["type"] == "REQUEST"));
    let paths = observe(&agent, &["--last", "1000", "--http-path", "^/hello", "--http-status", "2+"]);
    assert_eq!(paths.len(), 1, "{paths:#?}");

    // --last N gives the newest N; compact output names both pods.
    assert_eq!(observe(&agent, &["--last", "3"]).len(), 3);
    let compact = Command::new(scry_bin())
        .args(["observe", "--socket"])
        .arg(&agent.socket)
        .args(["--last", "1000", "--http-status", "404"])
        .output()
        .unwrap();
    let line = String::from_utf8(compact.stdout).unwrap();
    assert!(line.contains("shop/web-1:8080") && line.contains("shop/client-1:"), "{line}");
    assert!(line.contains("http-response FORWARDED"), "{line}");

    // --follow streams what comes next, filtered.
    let mut follow = Background(
        Command::new(scry_bin())
            .args(["observe", "--socket"])
            .arg(&agent.socket)
            .args(["-o", "json", "--follow", "--http-status", "200", "--to-pod", "shop/client-1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = follow.0.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(curl(&cluster, client, &format!("http://{web_ip}:8080/hello.txt"), &[]));
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let followed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(followed["flow"]["l7"]["http"]["code"], 200);
    assert_eq!(followed["flow"]["l7"]["http"]["url"], format!("http://{web_ip}:8080/hello.txt"));
}
