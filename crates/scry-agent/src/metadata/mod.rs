//! Who a process is beyond its pid: container, pod, or host unit.

pub mod cgroup;
pub mod k8s;

use std::sync::Arc;

use scry_bpf::process::CgroupRef;
use scry_model::event::{HostAttribution, Pod};

use cgroup::{CgroupMounts, CgroupPaths, container_of, pod_uid_of, unit_of};
use k8s::PodStore;

/// What an event says about where its process runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attribution {
    /// Container id as Tetragon's `docker` field carries it (31 hex characters).
    pub docker: String,
    pub pod: Option<Arc<Pod>>,
    pub host: Option<HostAttribution>,
}

/// Tetragon prints this many characters of the container id.
const DOCKER_ID_LEN: usize = 31;

pub struct Attributor {
    mounts: CgroupMounts,
    v2: Option<CgroupPaths>,
    v1: Option<CgroupPaths>,
    pods: Option<PodStore>,
}

impl Attributor {
    pub fn new(mounts: CgroupMounts, pods: Option<PodStore>) -> Attributor {
        Attributor {
            v2: mounts.v2.clone().map(CgroupPaths::new),
            v1: mounts.v1_memory.clone().map(CgroupPaths::new),
            mounts,
            pods,
        }
    }

    /// The cgroup refs worth reading, v2 first: a ref of a hierarchy that is not
    /// mounted says nothing about containers.
    fn refs<'a>(&self, v2: &'a CgroupRef, v1: &'a CgroupRef) -> impl Iterator<Item = &'a CgroupRef> {
        let v2 = (self.mounts.v2.is_some() && v2.id != 0).then_some(v2);
        let v1 = (self.mounts.v1_memory.is_some() && v1.id != 0).then_some(v1);
        v2.into_iter().chain(v1)
    }

    pub fn attribute(&mut self, v2: &CgroupRef, v1: &CgroupRef) -> Attribution {
        for r in self.refs(v2, v1) {
            if let Some(c) = container_of(&r.name, &r.parent_name) {
                let pod_uid = pod_uid_of(&r.parent_name);
                let pod = self.pods.as_ref().and_then(|p| p.lookup(&c.id, pod_uid.as_deref())).map(Arc::new);
                return Attribution { docker: c.id[..DOCKER_ID_LEN].to_owned(), pod, host: None };
            }
        }
        let path = self.path(v2, v1).unwrap_or_default();
        let unit = unit_of(&path).unwrap_or_default();
        let host = (!path.is_empty()).then_some(HostAttribution { unit, cgroup: path });
        Attribution { docker: String::new(), pod: None, host }
    }

    /// Attribution from a cgroup v2 id alone (what network hooks know of a
    /// socket): its path names the leaf and parent the container layouts use.
    pub fn attribute_v2_id(&mut self, id: u64) -> Attribution {
        let path = self.v2.as_mut().and_then(|p| p.path(id)).unwrap_or_default();
        let mut parts = path.rsplit('/');
        let name = parts.next().unwrap_or_default().to_owned();
        let parent_name = parts.next().unwrap_or_default().to_owned();
        self.attribute(&CgroupRef { id, name, parent_name }, &CgroupRef::default())
    }

    /// The pod that owns `ip`, when Kubernetes says so.
    pub fn pod_by_ip(&self, ip: std::net::IpAddr) -> Option<Pod> {
        self.pods.as_ref()?.by_ip(ip)
    }

    fn path(&mut self, v2: &CgroupRef, v1: &CgroupRef) -> Option<String> {
        if self.mounts.v2.is_some() && v2.id != 0 {
            self.v2.as_mut()?.path(v2.id)
        } else {
            self.v1.as_mut()?.path(v1.id)
        }
    }
}
