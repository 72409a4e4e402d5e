//! TCP health and the other families of flows, between pods on a bridge:
//! packet loss on one pod's link (an nftables rule dropping a random fifth
//! of what the server sends it: this kernel has no `sch_netem`) makes the
//! server retransmit — counted on that pod pair's flows and not on a clean
//! pair's, each drop a DROPPED flow; IPv6 connections and ICMP echoes are
//! flows with their addresses, types and pods.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use scry_e2e::pods::{Cluster, Pod};
use scry_e2e::{Agent, Background, observe, observe_until, pod_of, python_file_server, scry_bin, wait_listening};
use serde_json::Value;

const FILE_BYTES: usize = 2 << 20;

/// Every buffered flow `args` select, not only the last 20.
fn every<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&["--last", "100000"][..], args].concat()
}

/// Retransmits over a set of flows: each observing socket's count is
/// cumulative, so its largest, summed over sockets.
fn retransmits(flows: &[Value]) -> u64 {
    let mut per_socket: HashMap<String, u64> = HashMap::new();
    for f in flows {
        let n = f["extensions"]["retransmits"].as_u64().unwrap_or(0);
        let socket = f["socket_cookie"].as_str().unwrap_or("0").to_owned();
        let max = per_socket.entry(socket).or_default();
        *max = (*max).max(n);
    }
    per_socket.values().sum()
}

/// The forwarded flows between two pods, both ways: a socket's records
/// follow its packets, so its counters show on flows of either direction.
fn pair_flows(agent: &Agent, a: &str, b: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let both = |flows: &mut Vec<Value>| {
        flows.extend(observe(agent, &every(&["--from-pod", b, "--to-pod", a, "--verdict", "FORWARDED"])));
    };
    observe_until(agent, &every(&["--from-pod", a, "--to-pod", b, "--verdict", "FORWARDED"]), |f| {
        let mut all = f.to_vec();
        both(&mut all);
        done(&all)
    });
    let mut flows = observe(agent, &every(&["--from-pod", a, "--to-pod", b, "--verdict", "FORWARDED"]));
    both(&mut flows);
    flows
}

/// `scry run -o json SCRIPT -- ARGS`: the rows of its tables.
fn run_script(agent: &Agent, args: &[&str]) -> Vec<Value> {
    let out =
        Command::new(scry_bin()).args(["run", "--socket"]).arg(&agent.socket).args(["-o", "json"]).args(args).output();
    let out = out.unwrap();
    assert!(out.status.success(), "scry run {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A counter of the pod's network namespace (`nstat`), e.g. TcpRetransSegs.
fn nstat(cluster: &Cluster, pod: &Pod, counter: &str) -> u64 {
    let out = cluster.command(pod, "/usr/bin/nstat", &["-az", "--json", counter]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("nstat: {e}"));
    v["kernel"][counter].as_u64().unwrap_or_else(|| panic!("no {counter} in {v}"))
}

/// The packets an nftables rule with a `counter` has matched in `pod`.
fn nft_counter(cluster: &Cluster, pod: &Pod) -> u64 {
    let out = cluster.command(pod, "/usr/sbin/nft", &["list", "ruleset"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let after = text.split("counter packets ").nth(1).unwrap_or_else(|| panic!("no counter in {text}"));
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn curl(cluster: &Cluster, from: &Pod, url: &str) -> Vec<u8> {
    let out = cluster.command(from, "/usr/bin/curl", &["-sf", "-g", "--max-time", "60", url]).output().unwrap();
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

const WEB_V6: &str = "fd00:212::10";

/// Python's file server on [::]:8081 in `pod` (IPv6 and IPv4).
fn python_v6_server(cluster: &Cluster, pod: &Pod, dir: &std::path::Path) -> Background {
    const SERVER: &str = "import http.server, socket, socketserver\n\
        class S(socketserver.TCPServer):\n    address_family = socket.AF_INET6\n\
        S(('::', 8081), http.server.SimpleHTTPRequestHandler).serve_forever()";
    let server = Background(
        cluster
            .command(pod, "/usr/bin/python3", &["-c", SERVER])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts"),
    );
    wait_listening(cluster, pod, 8081);
    server
}

#[test]
fn loss_makes_retransmits_per_pod_pair_and_ipv6_and_icmp_are_flows() {
    let cluster = Cluster::new("tcph", 212, &[("shop", "web-1"), ("shop", "client-1"), ("shop", "client-2")]);
    let mut args = cluster.agent_args();
    args.extend(["--flow-buffer-capacity".to_owned(), "65535".to_owned()]);
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (web, lossy, clean) = (cluster.pod("web-1"), cluster.pod("client-1"), cluster.pod("client-2"));
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..FILE_BYTES).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &body).unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let _server = python_file_server(&cluster, web, dir.path());

    // Loss: client-1 loses a random fifth of what the server sends it.
    for rule in [
        "add table inet loss",
        "add chain inet loss input { type filter hook input priority 0; }",
        "add rule inet loss input tcp sport 8080 numgen random mod 10 < 2 counter drop",
    ] {
        assert!(cluster.command(lossy, "/usr/sbin/nft", &[rule]).status().unwrap().success(), "{rule}");
    }
    let retrans_before = nstat(&cluster, web, "TcpRetransSegs");
    let url = format!("http://{}:8080/big.bin", web.ip);
    assert!(curl(&cluster, lossy, &url) == body, "the lossy download arrived whole");
    let retrans_kernel = nstat(&cluster, web, "TcpRetransSegs") - retrans_before;
    assert!(curl(&cluster, clean, &url) == body);
    let lost = nft_counter(&cluster, lossy);
    assert!(
        lost > 0 && retrans_kernel > 0,
        "the rule dropped {lost} packets, the server retransmitted {retrans_kernel}"
    );

    // Every packet the rule dropped is a DROPPED flow, server → client-1,
    // with the netfilter reason. (TCP may discard a duplicate segment a
    // retransmit brought too: that is a drop with the kernel's TCP reason.)
    let drop_args = ["--verdict", "DROPPED", "--from-pod", "shop/web-1", "--to-pod", "shop/client-1"];
    let netfilter = |flows: &[Value]| -> Vec<Value> {
        flows.iter().filter(|d| d["extensions"]["kernel_drop_reason"] == "NETFILTER_DROP").cloned().collect()
    };
    let drops = netfilter(&observe_until(&agent, &every(&drop_args), |f| netfilter(f).len() as u64 >= lost));
    assert_eq!(drops.len() as u64, lost, "one DROPPED flow per dropped packet");
    for d in &drops {
        assert_eq!(d["drop_reason_desc"], "POLICY_DENIED");
        assert_eq!(d["l4"]["TCP"]["source_port"], 8080);
        // Replies on client-1's connection: the direction is the connection's.
        assert_eq!((&d["is_reply"], &d["traffic_direction"]), (&Value::Bool(true), &Value::from("EGRESS")), "{d}");
    }

    // Retransmits: the server's socket toward client-1 counted them (a
    // retransmitted skb may carry several segments, so at most the kernel's
    // segment count); none toward client-2.
    let lossy = || retransmits(&pair_flows(&agent, "shop/web-1", "shop/client-1", |f| retransmits(f) > 0));
    let mut counted = lossy();
    let clean_pair = pair_flows(&agent, "shop/web-1", "shop/client-2", |f| f.len() >= 4);
    assert!(clean_pair.len() >= 4, "{clean_pair:#?}");
    assert_eq!(retransmits(&clean_pair), 0, "no loss, no retransmits");

    // Per pod pair, one query away: the service map script combines each
    // connection's two observers. A last retransmit's flow record may land
    // between the two queries: both are read again until they agree or 5 s
    // pass (then the asserts below say which differs).
    let script = ["px/net_flow_graph", "--", "--start_time=-5m", "--namespace=shop"];
    let mut graph = run_script(&agent, &script);
    let graph_retransmits = |graph: &[Value]| {
        graph
            .iter()
            .find(|r| r["requestor"] == "shop/client-1" && r["responder"] == "shop/web-1")
            .map(|e| e["retransmits"].clone())
    };
    for _ in 0..10 {
        if graph_retransmits(&graph) == Some(Value::from(counted)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        counted = lossy();
        graph = run_script(&agent, &script);
    }
    assert!((1..=retrans_kernel).contains(&counted), "{counted} retransmits counted, the kernel made {retrans_kernel}");
    let edge = |requestor: &str| {
        let e = graph.iter().find(|r| r["requestor"] == requestor && r["responder"] == "shop/web-1");
        e.unwrap_or_else(|| panic!("no edge {requestor} -> shop/web-1 in {graph:#?}"))
    };
    for (client, retransmitted) in [("shop/client-1", counted), ("shop/client-2", 0)] {
        let e = edge(client);
        assert_eq!(e["responder_port"], 8080, "{e}");
        assert_eq!(e["protocol"], "tcp", "{e}");
        assert_eq!(e["connections"], 1, "{e}");
        assert_eq!(e["retransmits"], retransmitted, "{e}");
        assert_eq!(e["resets"], 0, "{e}");
        // The file and the response headers as IP packets (with their
        // headers), the retransmitted ones again: the server sent them.
        let to_requestor = e["bytes_to_requestor"].as_u64().unwrap();
        assert!(to_requestor > FILE_BYTES as u64 && to_requestor < FILE_BYTES as u64 * 2, "{e}");
    }

    // IPv6: a connection to the server's v6 address is a flow with IPv6
    // addresses and both pods, and its HTTP exchange an L7 flow.
    let v6_of = |pod: &Pod| format!("fd00:212::{}", pod.ip.octets()[3]);
    for pod in [web, clean] {
        let cmd = ["-6", "addr", "add", &format!("{}/64", v6_of(pod)), "dev", "eth0", "nodad"];
        assert!(cluster.command(pod, "/usr/sbin/ip", &cmd).status().unwrap().success());
    }
    assert_eq!(v6_of(web), WEB_V6);
    let _v6_server = python_v6_server(&cluster, web, dir.path());
    assert_eq!(curl(&cluster, clean, &format!("http://[{WEB_V6}]:8081/hello.txt")), b"hello\n");
    let v6_args = ["--to-ip", WEB_V6, "--to-port", "8081", "--type", "trace:to-endpoint"];
    let v6 = observe_until(&agent, &every(&v6_args), |f| !f.is_empty());
    let syn = v6
        .iter()
        .find(|f| f["l4"]["TCP"]["flags"]["SYN"] == true)
        .unwrap_or_else(|| panic!("no SYN reached the v6 server: {v6:#?}"));
    assert_eq!(syn["IP"]["ipVersion"], "IPv6");
    assert_eq!(syn["IP"]["source"], v6_of(clean));
    assert_eq!(syn["IP"]["destination"], WEB_V6);
    assert_eq!(pod_of(&syn["destination"]), "shop/web-1");
    assert_eq!(pod_of(&syn["source"]), "shop/client-2");
    assert_eq!(syn["verdict"], "FORWARDED");
    assert_eq!(syn["is_reply"], false);
    let l7 = observe_until(&agent, &every(&["--to-ip", WEB_V6, "--type", "l7"]), |f| !f.is_empty());
    assert_eq!(l7.len(), 1, "{l7:#?}");
    assert_eq!(l7[0]["l7"]["http"]["method"], "GET");
    assert_eq!(l7[0]["IP"]["ipVersion"], "IPv6");

    // ICMP: three echoes from client-2 to the server's pod and their replies.
    let ping = cluster.command(clean, "/usr/bin/ping", &["-c", "3", "-i", "0.2", "-n", &web.ip.to_string()]).output();
    assert!(ping.unwrap().status.success());
    // Type 0 (echo reply) is left out of the JSON, as protobuf's JSON does.
    let icmp_type = |f: &Value| f["l4"]["ICMPv4"].is_object().then(|| f["l4"]["ICMPv4"]["type"].as_u64().unwrap_or(0));
    let icmp = observe_until(&agent, &every(&["--protocol", "icmp", "--ip", &web.ip.to_string()]), |f| {
        f.iter().any(|x| icmp_type(x) == Some(8)) && f.iter().any(|x| icmp_type(x) == Some(0))
    });
    // Each echo was answered: no drops (a raw socket's ping reply is not one).
    assert!(icmp.iter().all(|f| f["verdict"] == "FORWARDED"), "{icmp:#?}");
    let request = icmp.iter().find(|f| icmp_type(f) == Some(8)).unwrap_or_else(|| panic!("{icmp:#?}"));
    assert_eq!(request["IP"]["source"], clean.ip.to_string());
    assert_eq!(request["IP"]["destination"], web.ip.to_string());
    assert_eq!(pod_of(&request["source"]), "shop/client-2");
    assert_eq!(pod_of(&request["destination"]), "shop/web-1");
    assert_eq!(request["is_reply"], false);
    let reply = icmp.iter().find(|f| icmp_type(f) == Some(0)).unwrap();
    assert_eq!(reply["IP"]["source"], web.ip.to_string());
    assert_eq!(reply["IP"]["destination"], clean.ip.to_string());
    assert_eq!(reply["is_reply"], true);
}
