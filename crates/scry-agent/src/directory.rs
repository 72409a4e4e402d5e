//! What the query engine may ask about a process by its UPID (`df.ctx[…]`,
//! `upid_to_pod_name` …). Every process the agent records — exec'd, exited
//! or found running at start — is remembered here, the most recently seen
//! first, up to a bound, so rows keep their names after the process and the
//! process cache have moved on.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use scry_model::Process;
use scry_query::{ProcessInfo, ProcessMetadata};

pub struct ProcessDirectory {
    node: String,
    entries: Mutex<LruCache<String, Arc<ProcessInfo>>>,
}

impl ProcessDirectory {
    pub fn new(node: &str, capacity: usize) -> ProcessDirectory {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        ProcessDirectory { node: node.to_owned(), entries: Mutex::new(LruCache::new(capacity)) }
    }

    /// Records what `p` is under `upid`, replacing what was known: an exec
    /// keeps its UPID (same pid, same start time) but is what the process
    /// is from then on, where the fork before it was its parent's copy.
    pub fn remember(&self, upid: &str, p: &Process) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let pod = p.pod.as_deref();
        let container = pod.and_then(|pod| pod.container.as_ref());
        let qualified = |name: &str| pod.map(|pod| format!("{}/{name}", pod.namespace)).unwrap_or_default();
        let info = ProcessInfo {
            namespace: pod.map(|pod| pod.namespace.clone()).unwrap_or_default(),
            pod_name: pod.map(|pod| qualified(&pod.name)).unwrap_or_default(),
            pod_id: pod.map(|pod| pod.uid.clone()).unwrap_or_default(),
            container_name: container.map(|c| c.name.clone()).unwrap_or_default(),
            container_id: container.map_or_else(|| p.docker.clone(), |c| c.id.clone()),
            node_name: self.node.clone(),
            hostname: self.node.clone(),
            cmdline: command_line(p),
            service_name: String::new(),
            deployment_name: pod
                .filter(|pod| pod.workload_kind == "Deployment")
                .map(|pod| qualified(&pod.workload))
                .unwrap_or_default(),
        };
        entries.put(upid.to_owned(), Arc::new(info));
    }
}

impl ProcessMetadata for ProcessDirectory {
    fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).peek(upid).cloned()
    }
}

pub fn command_line(p: &Process) -> String {
    if p.arguments.is_empty() { p.binary.clone() } else { format!("{} {}", p.binary, p.arguments) }
}
