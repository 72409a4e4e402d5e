//! Pods without Kubernetes, for end-to-end tests: each pod is a network
//! namespace on a bridge (its own IP) and a cgroup laid out as containerd
//! lays out a pod's container, and a fake API server lists them for the
//! agent (pass `Cluster::agent_args()` to `Agent::start`). Everything is
//! removed on drop.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;

use crate::{NODE, runtime};

/// cgroup v2 as this machine mounts it (hybrid layouts put it under `unified`).
fn cgroup2_root() -> PathBuf {
    let unified = PathBuf::from("/sys/fs/cgroup/unified");
    if unified.join("cgroup.procs").exists() { unified } else { PathBuf::from("/sys/fs/cgroup") }
}

#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub container: String,
    /// 64 hex characters, as containerd names it.
    pub container_id: String,
    pub ip: Ipv4Addr,
    netns: String,
    cgroup: PathBuf,
}

pub struct Cluster {
    pub pods: Vec<Pod>,
    bridge: String,
    slice: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

fn run(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed");
}

impl Cluster {
    /// Pods named `(namespace, name)`, on subnet 10.`subnet`.0.0/24 (pick one per
    /// test: tests run in parallel). `tag` (≤ 6 characters) names the bridge,
    /// veths and netns.
    pub fn new(tag: &str, subnet: u8, pods: &[(&str, &str)]) -> Cluster {
        crate::require_root();
        let bridge = format!("sbr-{tag}");
        let _ = Command::new("ip").args(["link", "del", &bridge]).status();
        run(&["ip", "link", "add", &bridge, "type", "bridge"]);
        run(&["ip", "addr", "add", &format!("10.{subnet}.0.1/24"), "dev", &bridge]);
        run(&["ip", "link", "set", &bridge, "up"]);
        let slice = cgroup2_root().join(format!("scry-test-{tag}.slice"));
        let _ = std::fs::create_dir(&slice);
        let mut out = Vec::new();
        for (i, (namespace, name)) in pods.iter().enumerate() {
            let n = i as u8 + 10;
            let uid = format!("00000000-0000-4000-8000-{tag:0>6}{n:06}");
            let container_id =
                format!("{:0>64}", format!("{tag}{n}").bytes().map(|b| format!("{b:02x}")).collect::<String>());
            let netns = format!("scry-{tag}-{n}");
            let veth = format!("sv-{tag}{n}");
            let _ = Command::new("ip").args(["netns", "del", &netns]).status();
            // A deleted netns takes its veth along asynchronously: remove a
            // leftover one now, or adding it again can race with that.
            let _ = Command::new("ip").args(["link", "del", &veth]).stderr(std::process::Stdio::null()).status();
            run(&["ip", "netns", "add", &netns]);
            run(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns]);
            run(&["ip", "link", "set", &veth, "master", &bridge, "up"]);
            let ip = Ipv4Addr::new(10, subnet, 0, n);
            let inside = |args: &[&str]| run(&[&["ip", "netns", "exec", netns.as_str()], args].concat());
            inside(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            inside(&["ip", "link", "set", "eth0", "up"]);
            inside(&["ip", "link", "set", "lo", "up"]);
            inside(&["ip", "route", "add", "default", "via", &format!("10.{subnet}.0.1")]);
            let pod_dir = slice.join(format!("kubepods-besteffort-pod{}.slice", uid.replace('-', "_")));
            let cgroup = pod_dir.join(format!("cri-containerd-{container_id}.scope"));
            std::fs::create_dir_all(&cgroup).unwrap();
            out.push(Pod {
                namespace: namespace.to_string(),
                name: name.to_string(),
                uid,
                container: "app".into(),
                container_id,
                ip,
                netns,
                cgroup,
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = kubeconfig(dir.path(), serve_pods(out.clone()));
        Cluster { pods: out, bridge, slice, kubeconfig, _dir: dir }
    }

    /// Agent flags that point it at this cluster's API server.
    pub fn agent_args(&self) -> Vec<String> {
        vec!["--kubeconfig".into(), self.kubeconfig.display().to_string()]
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// `program args…` run inside `pod`: in its network namespace and its
    /// container's cgroup, from the first instruction.
    pub fn command(&self, pod: &Pod, program: &str, args: &[&str]) -> Command {
        let netns = std::fs::File::open(format!("/run/netns/{}", pod.netns)).expect("the pod's netns");
        let procs = pod.cgroup.join("cgroup.procs");
        let mut cmd = Command::new(program);
        cmd.args(args);
        // SAFETY: only setns(2) and write(2) between fork and exec; the netns
        // file stays open in the closure until exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                std::fs::write(&procs, "0")
            });
        }
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pod in &self.pods {
            // Stop what a test left running in the pod, then remove it.
            let _ = std::fs::write(pod.cgroup.join("cgroup.kill"), "1");
            let _ = Command::new("ip").args(["netns", "del", &pod.netns]).status();
            let _ = std::fs::remove_dir(&pod.cgroup);
            if let Some(dir) = pod.cgroup.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        let _ = std::fs::remove_dir(&self.slice);
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
    }
}

/// Writes a kubeconfig for an API server on 127.0.0.1:`port` into `dir`.
pub fn kubeconfig(dir: &std::path::Path, port: u16) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\n\
             users:\n- name: fake\n  user:\n    token: test-token\n"
        ),
    )
    .expect("kubeconfig written");
    path
}

fn pod_json(p: &Pod) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": "10",
            "labels": {"app": p.name},
        },
        "spec": {"nodeName": NODE, "containers": [{"name": p.container, "image": "scry-test:1"}]},
        "status": {
            "podIP": p.ip.to_string(),
            "containerStatuses": [{
                "name": p.container, "image": "scry-test:1", "imageID": "docker.io/library/scry-test@sha256:0123",
                "containerID": format!("containerd://{}", p.container_id), "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-21T10:00:00Z"}}
            }]
        }
    })
}

async fn list_pods(State(pods): State<std::sync::Arc<Vec<Pod>>>, RawQuery(query): RawQuery) -> Response {
    if query.unwrap_or_default().contains("watch=true") {
        // A watch that stays open with nothing new to say.
        return Response::new(Body::from_stream(
            futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>(),
        ));
    }
    let items: Vec<_> = pods.iter().map(pod_json).collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": items});
    Response::builder().header("content-type", "application/json").body(Body::from(list.to_string())).unwrap()
}

/// Serves `pods` as this node's pod list; returns the port.
fn serve_pods(pods: Vec<Pod>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let app =
        axum::Router::new().route("/api/v1/pods", axum::routing::get(list_pods)).with_state(std::sync::Arc::new(pods));
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    port
}
