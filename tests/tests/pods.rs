//! The pods harness itself: a process started in a pod runs in its network
//! namespace with its IP, and the agent attributes it to the pod.

use std::time::{Duration, Instant};

use scry_e2e::pods::Cluster;
use scry_e2e::{Agent, real, runtime};
use scry_query::wire::SqlRequest;

#[test]
fn processes_in_a_pod_run_in_its_network_and_are_attributed_to_it() {
    let cluster = Cluster::new("pods", 201, &[("shop", "web-1"), ("shop", "db-1")]);
    let args = cluster.agent_args();
    let agent = Agent::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let rt = runtime();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt.block_on(agent.client().status()).unwrap().kubernetes.pods < 2 {
        assert!(Instant::now() < deadline, "the pod list never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    let web = cluster.pod("web-1");
    let out = cluster.command(web, "/usr/sbin/ip", &["-4", "-o", "addr", "show", "eth0"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("inet {}/24", web.ip)), "{text}");
    // The other pod answers from its own namespace.
    let db = cluster.pod("db-1");
    let ping = cluster.command(web, "/usr/bin/ping", &["-c", "1", "-W", "2", &db.ip.to_string()]).output().unwrap();
    assert!(ping.status.success(), "{}", String::from_utf8_lossy(&ping.stdout));

    let query =
        format!("SELECT namespace, pod, container FROM proc_exec_events WHERE binary = '{}'", real("/usr/sbin/ip"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let resp = rt.block_on(agent.client().sql(&SqlRequest { query: query.clone(), max_rows: None })).unwrap();
        if !resp.tables[0].rows.is_empty() || Instant::now() > deadline {
            break resp.tables[0].rows.clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(rows, [serde_json::json!(["shop", "shop/web-1", "app"]).as_array().unwrap().clone()]);
}
