//! Pod attribution through `kube` against a local fake API server that serves
//! this node's pod list and a watch stream.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use scry_e2e::{Agent, Events, NODE, exec_of, runtime};
use scry_model::filter::EventFilter;

const CONTAINER: &str = "9a8b7c6d5e4f30211a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081";
const POD_UID: &str = "5f0c8a52-6e3b-4a1d-9c7e-2b8d4f6a1e30";

async fn pods(State(queries): State<Arc<Mutex<Vec<String>>>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    queries.lock().unwrap().push(query.clone());
    if query.contains("watch=true") {
        // A watch that stays open with nothing new to say.
        return Response::new(Body::from_stream(
            futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>(),
        ));
    }
    let pod = serde_json::json!({
        "metadata": {
            "name": "web-7d4b9c-x2x9z", "namespace": "shop", "uid": POD_UID, "resourceVersion": "10",
            "labels": {"app": "web", "tier": "front"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                                 "uid": "rs-1", "controller": true}]
        },
        "spec": {"nodeName": NODE, "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": {"containerStatuses": [{
            "name": "nginx", "image": "nginx:1.27", "imageID": "docker.io/library/nginx@sha256:0123",
            "containerID": format!("containerd://{CONTAINER}"), "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-21T10:00:00Z"}}
        }]}
    });
    let list = serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": [pod]});
    Response::builder().header("content-type", "application/json").body(Body::from(list.to_string())).unwrap()
}

#[test]
fn pod_metadata_from_the_api_server_attributes_container_processes() {
    scry_e2e::require_root();
    let queries = Arc::new(Mutex::new(Vec::new()));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/api/v1/pods", axum::routing::get(pods)).with_state(queries.clone());
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = scry_e2e::pods::kubeconfig(dir.path(), port);

    let agent = Agent::start(&["--kubeconfig", kubeconfig.to_str().unwrap()]);
    let rt = runtime();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let k = rt.block_on(agent.client().status()).unwrap().kubernetes;
        assert!(k.enabled);
        if k.pods == 1 && k.containers == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the pod list never arrived: {k:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = queries.lock().unwrap().clone();
    assert!(
        seen.iter().all(|q| q.contains("fieldSelector=spec.nodeName%3Dtest-node")),
        "every request is scoped to this node's pods: {seen:?}"
    );

    let root = "/sys/fs/cgroup/unified";
    assert!(std::path::Path::new(root).join("cgroup.procs").exists(), "cgroup2 at {root}");
    let uid_ = POD_UID.replace('-', "_");
    let slice = format!("{root}/scry-k8s-test.slice");
    let pod_dir = format!("{slice}/kubepods-burstable-pod{uid_}.slice");
    let leaf = format!("{pod_dir}/cri-containerd-{CONTAINER}.scope");
    for d in [&slice, &pod_dir, &leaf] {
        std::fs::create_dir(d).unwrap();
    }
    rt.block_on(async {
        let mut events = Events::subscribe(&agent, EventFilter::default()).await;
        let procs = format!("{leaf}/cgroup.procs");
        let mut cmd = Command::new("/usr/bin/true");
        // SAFETY: only a write(2) through std between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || std::fs::write(&procs, "0"));
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        events.until(Duration::from_secs(10), "exec in the pod's container", |s| exec_of(s, pid).is_some()).await;
        let p = exec_of(&events.seen, pid).unwrap().process.clone();
        let pod = p.pod.as_deref().expect("pod attribution");
        assert_eq!(pod.namespace, "shop");
        assert_eq!(pod.name, "web-7d4b9c-x2x9z");
        assert_eq!(pod.uid, POD_UID);
        assert_eq!(pod.workload, "web");
        assert_eq!(pod.workload_kind, "Deployment");
        assert_eq!(pod.pod_labels.get("tier").map(String::as_str), Some("front"));
        let c = pod.container.as_ref().expect("container");
        assert_eq!(c.name, "nginx");
        assert_eq!(c.id, format!("containerd://{CONTAINER}"));
        assert_eq!(c.image.as_ref().unwrap().name, "nginx:1.27");
        assert_eq!(p.docker, CONTAINER[..31]);

        // The events filter selects by namespace and pod.
        let f = EventFilter { namespace: vec!["shop".into()], pod_regex: vec!["^web-".into()], ..Default::default() };
        assert!(
            f.compile().unwrap().matches(
                &events.seen.iter().find(|e| e.event.process().and_then(|p| p.pid) == Some(pid)).unwrap().event
            )
        );
    });
    for d in [&leaf, &pod_dir, &slice] {
        let _ = std::fs::remove_dir(d);
    }
}
