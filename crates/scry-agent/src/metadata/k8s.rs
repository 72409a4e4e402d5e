//! Pod metadata for this node's pods, kept current by a `kube` watch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod as K8sPod;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use scry_model::event::{Container, Image, Pod};

/// One container of a pod, as the pod's status reports it.
#[derive(Clone, Debug, PartialEq)]
struct ContainerMeta {
    /// 64 hex characters, runtime prefix removed.
    hex_id: String,
    /// `<runtime>://<hex>`.
    id: String,
    name: String,
    image: String,
    image_id: String,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
struct PodMeta {
    namespace: String,
    name: String,
    uid: String,
    labels: BTreeMap<String, String>,
    workload: String,
    workload_kind: String,
    containers: Vec<ContainerMeta>,
    /// `status.podIPs` (or `status.podIP`); empty for host-network pods,
    /// whose addresses are the node's.
    ips: Vec<std::net::IpAddr>,
}

#[derive(Default)]
struct Index {
    pods: HashMap<String, PodMeta>,
    /// container hex id → pod uid
    containers: HashMap<String, String>,
    /// pod IP → pod uid
    ips: HashMap<std::net::IpAddr, String>,
}

/// This node's pods, by uid and by container id.
#[derive(Clone, Default)]
pub struct PodStore {
    inner: Arc<RwLock<Index>>,
    last_error: Arc<RwLock<String>>,
    /// The first full list of this node's pods has been applied.
    synced: Arc<std::sync::atomic::AtomicBool>,
}

impl PodStore {
    /// The pod (with its container) a container id belongs to; falls back to
    /// the pod uid from the cgroup path when the pod's status does not list the
    /// container yet.
    pub fn lookup(&self, container_hex: &str, pod_uid: Option<&str>) -> Option<Pod> {
        let index = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let uid = index.containers.get(container_hex).map(String::as_str).or(pod_uid)?;
        let meta = index.pods.get(uid)?;
        Some(meta.pod(Some(container_hex)))
    }

    /// The pod with this IP, without a container.
    pub fn by_ip(&self, ip: std::net::IpAddr) -> Option<Pod> {
        let index = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let meta = index.pods.get(index.ips.get(&ip)?)?;
        Some(meta.pod(None))
    }
}

impl PodMeta {
    /// The pod, with the container of `container_hex` when it is listed.
    fn pod(&self, container_hex: Option<&str>) -> Pod {
        let container = self.containers.iter().find(|c| Some(c.hex_id.as_str()) == container_hex).map(|c| Container {
            id: c.id.clone(),
            name: c.name.clone(),
            image: Some(Image { id: c.image_id.clone(), name: c.image.clone() }),
            start_time: c.started_at,
            maybe_exec_probe: false,
        });
        Pod {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            container,
            pod_labels: self.labels.clone(),
            workload: self.workload.clone(),
            workload_kind: self.workload_kind.clone(),
        }
    }
}

impl PodStore {
    pub fn counts(&self) -> (u64, u64) {
        let index = self.inner.read().unwrap_or_else(|e| e.into_inner());
        (index.pods.len() as u64, index.containers.len() as u64)
    }

    pub fn last_error(&self) -> String {
        self.last_error.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn apply(&self, pod: &K8sPod) {
        let Some(meta) = pod_meta(pod) else { return };
        let mut index = self.inner.write().unwrap_or_else(|e| e.into_inner());
        Self::remove_locked(&mut index, &meta.uid);
        for c in &meta.containers {
            index.containers.insert(c.hex_id.clone(), meta.uid.clone());
        }
        for ip in &meta.ips {
            index.ips.insert(*ip, meta.uid.clone());
        }
        index.pods.insert(meta.uid.clone(), meta);
    }

    fn delete(&self, pod: &K8sPod) {
        if let Some(uid) = pod.metadata.uid.as_deref() {
            let mut index = self.inner.write().unwrap_or_else(|e| e.into_inner());
            Self::remove_locked(&mut index, uid);
        }
    }

    fn remove_locked(index: &mut Index, uid: &str) {
        if let Some(old) = index.pods.remove(uid) {
            for c in old.containers {
                index.containers.remove(&c.hex_id);
            }
            for ip in old.ips {
                if index.ips.get(&ip) == Some(&old.uid) {
                    index.ips.remove(&ip);
                }
            }
        }
    }

    fn replace_all(&self, pods: &[K8sPod]) {
        {
            let mut index = self.inner.write().unwrap_or_else(|e| e.into_inner());
            *index = Index::default();
        }
        for pod in pods {
            self.apply(pod);
        }
    }

    /// Waits until the first list of pods is in, or `timeout` passes;
    /// returns whether it is in. Processes started before it would lack
    /// their pod.
    pub async fn wait_synced(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.synced.load(std::sync::atomic::Ordering::Acquire) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }

    /// Watches this node's pods until the task is dropped. Errors are kept for
    /// `scry status` and the watch retries with backoff.
    pub async fn watch(self, client: Client, node_name: String) {
        let api: Api<K8sPod> = Api::all(client);
        let config = watcher::Config::default().fields(&format!("spec.nodeName={node_name}"));
        let mut stream = watcher::watcher(api, config).boxed();
        let mut initial: Vec<K8sPod> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(Event::Apply(pod)) => self.apply(&pod),
                Ok(Event::Delete(pod)) => self.delete(&pod),
                Ok(Event::Init) => initial.clear(),
                Ok(Event::InitApply(pod)) => initial.push(pod),
                Ok(Event::InitDone) => {
                    self.replace_all(&std::mem::take(&mut initial));
                    self.synced.store(true, std::sync::atomic::Ordering::Release);
                }
                Err(e) => {
                    *self.last_error.write().unwrap_or_else(|e| e.into_inner()) = e.to_string();
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Deployment pods are owned by a ReplicaSet named `<deployment>-<hash>`;
/// CronJob pods by a Job named `<cronjob>-<schedule time>`.
fn workload(pod: &K8sPod) -> (String, String) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(owner) =
        pod.metadata.owner_references.as_ref().and_then(|o| o.iter().find(|o| o.controller == Some(true)))
    else {
        return (name, "Pod".to_owned());
    };
    let trim_suffix = |n: &str| n.rsplit_once('-').map_or(n.to_owned(), |(base, _)| base.to_owned());
    match owner.kind.as_str() {
        "ReplicaSet" => (trim_suffix(&owner.name), "Deployment".to_owned()),
        "Job"
            if owner
                .name
                .rsplit_once('-')
                .is_some_and(|(_, s)| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_digit())) =>
        {
            (trim_suffix(&owner.name), "CronJob".to_owned())
        }
        kind => (owner.name.clone(), kind.to_owned()),
    }
}

fn pod_meta(pod: &K8sPod) -> Option<PodMeta> {
    let uid = pod.metadata.uid.clone()?;
    let (workload, workload_kind) = workload(pod);
    let statuses = pod.status.iter().flat_map(|s| {
        let regular = s.container_statuses.iter().flatten();
        let init = s.init_container_statuses.iter().flatten();
        let ephemeral = s.ephemeral_container_statuses.iter().flatten();
        regular.chain(init).chain(ephemeral)
    });
    let containers = statuses
        .filter_map(|cs| {
            let id = cs.container_id.clone()?;
            let hex_id = id.rsplit_once("://").map_or(id.as_str(), |(_, h)| h).to_owned();
            let started_at = cs.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.as_ref());
            Some(ContainerMeta {
                hex_id,
                id,
                name: cs.name.clone(),
                image: cs.image.clone(),
                image_id: cs.image_id.clone(),
                started_at: started_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond() as u32)),
            })
        })
        .collect();
    Some(PodMeta {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        workload,
        workload_kind,
        containers,
        ips: pod_ips(pod),
    })
}

/// A pod's own IPs; none for a host-network pod, which shares the node's.
fn pod_ips(pod: &K8sPod) -> Vec<std::net::IpAddr> {
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let Some(status) = pod.status.as_ref().filter(|_| !host_network) else { return Vec::new() };
    let listed = status.pod_ips.iter().flatten().map(|p| p.ip.as_str());
    let mut ips: Vec<std::net::IpAddr> =
        listed.chain(status.pod_ip.as_deref()).filter_map(|s| s.parse().ok()).collect();
    ips.sort();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> K8sPod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn indexes_containers_and_workloads() {
        let store = PodStore::default();
        let hex = "a".repeat(64);
        store.apply(&pod(serde_json::json!({
            "metadata": {"name": "web-7d4b9c-x2x", "namespace": "shop", "uid": "u1",
                "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                                     "uid": "r1", "controller": true}]},
            "status": {"containerStatuses": [{"name": "nginx", "image": "nginx:1.27", "imageID": "sha256:1",
                "containerID": format!("containerd://{hex}"), "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-21T10:00:00Z"}}}]}
        })));
        let found = store.lookup(&hex, None).unwrap();
        assert_eq!((found.namespace.as_str(), found.name.as_str()), ("shop", "web-7d4b9c-x2x"));
        assert_eq!((found.workload.as_str(), found.workload_kind.as_str()), ("web", "Deployment"));
        let c = found.container.unwrap();
        assert_eq!((c.name.as_str(), c.id), ("nginx", format!("containerd://{hex}")));
        assert_eq!(c.image.unwrap().name, "nginx:1.27");
        assert_eq!(found.pod_labels.get("app").map(String::as_str), Some("web"));
        // A container the status does not list yet still finds its pod by uid.
        let by_uid = store.lookup(&"b".repeat(64), Some("u1")).unwrap();
        assert!(by_uid.container.is_none());
        store.delete(&pod(serde_json::json!({"metadata": {"uid": "u1"}})));
        assert!(store.lookup(&hex, None).is_none());
        assert_eq!(store.counts(), (0, 0));
    }
}
