//! Who is on each side of a flow: the observing socket's endpoint from its
//! cgroup (pod, or the host), the other side from its IP — a pod Kubernetes
//! lists, an address a local socket was seen to own, else `world` — and the
//! DNS names observed answers gave for an IP.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use scry_model::event::Pod;
use scry_model::flow::{Endpoint, Workload};

use crate::pipeline::Pipeline;

/// Entries each map keeps; past it the oldest half is forgotten (they are
/// re-learned from the next packet or answer).
const MAX_ENTRIES: usize = 65_536;
/// Names kept per IP.
const MAX_NAMES: usize = 8;

/// Cilium's first identity for cluster-local labels; lower ones are reserved.
const FIRST_POD_IDENTITY: u32 = 256;

/// An endpoint as a flow shows it.
pub fn pod_endpoint(pod: &Pod) -> Endpoint {
    let mut labels: Vec<String> = pod.pod_labels.iter().map(|(k, v)| format!("k8s:{k}={v}")).collect();
    // Cilium labels every pod with its namespace; filters rely on it.
    labels.push(format!("k8s:io.kubernetes.pod.namespace={}", pod.namespace));
    labels.sort();
    // Pods with the same namespace and labels share an identity, as Cilium's do.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    let identity = FIRST_POD_IDENTITY + (h.finish() % u64::from(u16::MAX - FIRST_POD_IDENTITY as u16)) as u32;
    let workloads = if pod.workload.is_empty() {
        Vec::new()
    } else {
        vec![Workload { name: pod.workload.clone(), kind: pod.workload_kind.clone() }]
    };
    Endpoint {
        identity,
        namespace: pod.namespace.clone(),
        labels,
        pod_name: pod.name.clone(),
        workloads,
        ..Endpoint::default()
    }
}

/// A bounded map that forgets its oldest entries first.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new() -> Self {
        Bounded { map: HashMap::new(), order: VecDeque::new() }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    fn get_mut_or_insert_with(&mut self, k: K, v: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&k) {
            if self.map.len() >= MAX_ENTRIES {
                for old in self.order.drain(..MAX_ENTRIES / 2) {
                    self.map.remove(&old);
                }
            }
            self.order.push_back(k.clone());
        }
        self.map.entry(k).or_insert_with(v)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

pub struct Endpoints {
    pipeline: Arc<Pipeline>,
    by_cgroup: Bounded<u64, Arc<Endpoint>>,
    /// Addresses local sockets own, with their endpoint.
    by_ip: Bounded<IpAddr, Arc<Endpoint>>,
    names: Bounded<IpAddr, Vec<String>>,
    host: Arc<Endpoint>,
    world: Arc<Endpoint>,
}

impl Endpoints {
    pub fn new(pipeline: Arc<Pipeline>) -> Endpoints {
        Endpoints {
            pipeline,
            by_cgroup: Bounded::new(),
            by_ip: Bounded::new(),
            names: Bounded::new(),
            host: Arc::new(Endpoint::host()),
            world: Arc::new(Endpoint::world()),
        }
    }

    pub fn host(&self) -> Arc<Endpoint> {
        self.host.clone()
    }

    /// The endpoint of a local socket's cgroup: its pod, else the host.
    pub fn of_cgroup(&mut self, cgroup_id: u64) -> Arc<Endpoint> {
        if cgroup_id == 0 {
            return self.host.clone();
        }
        if let Some(e) = self.by_cgroup.get(&cgroup_id) {
            return e.clone();
        }
        let pod = self.pipeline.attribute_cgroup(cgroup_id).pod;
        let ep = pod.map_or_else(|| self.host.clone(), |p| Arc::new(pod_endpoint(&p)));
        self.by_cgroup.get_mut_or_insert_with(cgroup_id, || ep.clone());
        ep
    }

    /// A local socket owns `ip` (not loopback: every netns has its own).
    pub fn learn(&mut self, ip: IpAddr, endpoint: &Arc<Endpoint>) {
        if ip.is_loopback() || ip.is_unspecified() {
            return;
        }
        *self.by_ip.get_mut_or_insert_with(ip, || endpoint.clone()) = endpoint.clone();
    }

    /// The endpoint that owns `ip`: a listed pod, a local socket's, else `world`.
    pub fn of_ip(&mut self, ip: IpAddr) -> Arc<Endpoint> {
        if let Some(pod) = self.pipeline.pod_by_ip(ip) {
            return Arc::new(pod_endpoint(&pod));
        }
        self.by_ip.get(&ip).cloned().unwrap_or_else(|| self.world.clone())
    }

    /// A DNS answer said `name` resolves to `ip`.
    pub fn learn_name(&mut self, ip: IpAddr, name: &str) {
        let name = name.trim_end_matches('.');
        let names = self.names.get_mut_or_insert_with(ip, Vec::new);
        if let Some(at) = names.iter().position(|n| n == name) {
            names.remove(at);
        } else if names.len() >= MAX_NAMES {
            names.remove(0);
        }
        names.push(name.to_owned());
    }

    /// Names known for `ip`, most recent last.
    pub fn names(&self, ip: IpAddr) -> Vec<String> {
        self.names.get(&ip).cloned().unwrap_or_default()
    }

    /// Entries kept (cgroups, addresses, names), for status.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.by_cgroup.len(), self.by_ip.len(), self.names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_endpoints_carry_labels_namespace_and_a_label_derived_identity() {
        let pod = |name: &str| Pod {
            namespace: "shop".into(),
            name: name.into(),
            pod_labels: [("app".to_owned(), "cart".to_owned())].into(),
            workload: "cart".into(),
            workload_kind: "Deployment".into(),
            ..Pod::default()
        };
        let a = pod_endpoint(&pod("cart-1"));
        let b = pod_endpoint(&pod("cart-2"));
        assert_eq!(a.labels, ["k8s:app=cart", "k8s:io.kubernetes.pod.namespace=shop"]);
        assert_eq!(a.pod_name, "cart-1");
        assert_eq!(a.workloads, [Workload { name: "cart".into(), kind: "Deployment".into() }]);
        assert!(a.identity >= FIRST_POD_IDENTITY);
        assert_eq!(a.identity, b.identity, "same labels, same identity");
    }
}
