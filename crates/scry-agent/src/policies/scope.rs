//! Workload scopes: a `TracingPolicyNamespaced`'s namespace, `podSelector`
//! and `containerSelector`. The kernel checks each call's cgroup against the
//! policy's set (`policy_scope`); this module says which cgroups belong in
//! it, from the pod each container cgroup is attributed to, as pods come
//! and go.

use std::collections::BTreeMap;
use std::path::Path;

use scry_bpf::process::CgroupRef;
use scry_model::event::Pod;
use scry_policy::{LabelSelector, Policy, Scope};

/// The pod label Tetragon's podSelector offers for the pod's namespace.
const NAMESPACE_LABEL: &str = "k8s:io.kubernetes.pod.namespace";

/// Which workloads a scoped policy runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadScope {
    namespace: Option<String>,
    pods: Option<LabelSelector>,
    containers: Option<LabelSelector>,
    /// `hostSelector: {}`: processes outside any pod too (alone: only them).
    host: bool,
}

impl WorkloadScope {
    /// The policy's scope, or `None` when it runs everywhere.
    pub fn of(policy: &Policy) -> Option<WorkloadScope> {
        let namespace = match &policy.scope {
            Scope::Namespace(ns) => Some(ns.clone()),
            Scope::Cluster => None,
        };
        let w = &policy.workloads;
        (namespace.is_some() || w.pods.is_some() || w.containers.is_some() || w.host).then(|| WorkloadScope {
            namespace,
            pods: w.pods.clone(),
            containers: w.containers.clone(),
            host: w.host,
        })
    }

    /// Whether a process in a cgroup of `pod` (or of no pod) is in scope.
    pub fn admits(&self, pod: Option<&Pod>) -> bool {
        match pod {
            None => self.host,
            // hostSelector alone: the host only.
            Some(_) if self.host && self.pods.is_none() && self.containers.is_none() => false,
            Some(pod) => self.admits_pod(pod),
        }
    }

    fn admits_pod(&self, pod: &Pod) -> bool {
        if self.namespace.as_ref().is_some_and(|ns| *ns != pod.namespace) {
            return false;
        }
        if let Some(pods) = &self.pods {
            let mut labels = pod.pod_labels.clone();
            labels.insert(NAMESPACE_LABEL.to_owned(), pod.namespace.clone());
            if !pods.matches(&labels) {
                return false;
            }
        }
        match (&self.containers, &pod.container) {
            (None, _) => true,
            // The pod's status does not list the container yet.
            (Some(_), None) => false,
            (Some(selector), Some(c)) => {
                let repo = c.image.as_ref().map(|i| repository(&i.name)).unwrap_or_default();
                let labels = BTreeMap::from([("name".to_owned(), c.name.clone()), ("repo".to_owned(), repo)]);
                selector.matches(&labels)
            }
        }
    }
}

/// An image reference without its tag or digest
/// (`docker.io/library/nginx:1.25@sha256:…` → `docker.io/library/nginx`).
fn repository(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => image[..colon].to_owned(),
        _ => image.to_owned(),
    }
}

/// Every cgroup under the cgroup v2 mount `root` and the root itself, with
/// its id (the directory's inode) and the names attribution reads
/// (container runtimes nest a container at most a few levels down).
pub fn cgroups(root: &Path) -> Vec<CgroupRef> {
    use std::os::unix::fs::MetadataExt;
    const DEPTH: usize = 8;
    let mut out: Vec<CgroupRef> = std::fs::metadata(root)
        .map(|m| CgroupRef { id: m.ino(), name: String::new(), parent_name: String::new() })
        .into_iter()
        .collect();
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let parent_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push(CgroupRef { id: meta.ino(), name, parent_name: parent_name.clone() });
            if depth < DEPTH {
                dirs.push((entry.path(), depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_model::event::{Container, Image};

    fn pod(namespace: &str, app: &str, container: &str, image: &str) -> Pod {
        Pod {
            namespace: namespace.into(),
            name: format!("{app}-1"),
            pod_labels: [("app".to_owned(), app.to_owned())].into(),
            container: Some(Container {
                name: container.into(),
                image: Some(Image { name: image.into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn scope(yaml_scope: &str, kind: &str) -> WorkloadScope {
        let yaml = format!(
            "apiVersion: cilium.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: p\n  namespace: shop\nspec:\n\
             {yaml_scope}  kprobes:\n  - call: sys_setuid\n    syscall: true\n"
        );
        let yaml = if kind == "TracingPolicy" { yaml.replace("  namespace: shop\n", "") } else { yaml };
        WorkloadScope::of(&scry_policy::parse(&yaml).unwrap()).expect("scoped")
    }

    #[test]
    fn namespaces_labels_and_containers_select_pods() {
        let web = pod("shop", "web", "nginx", "docker.io/library/nginx:1.25@sha256:00");
        let db = pod("shop", "db", "postgres", "postgres:16");
        let other = pod("bank", "web", "nginx", "nginx");
        let admits = |s: &WorkloadScope, p: &Pod| s.admits(Some(p));
        let namespaced = scope("", "TracingPolicyNamespaced");
        assert!(admits(&namespaced, &web) && admits(&namespaced, &db) && !admits(&namespaced, &other));
        assert!(!namespaced.admits(None), "not the host");
        let by_label = scope("  podSelector:\n    matchLabels:\n      app: web\n", "TracingPolicy");
        assert!(admits(&by_label, &web) && !admits(&by_label, &db) && admits(&by_label, &other));
        let host_only = scope("  hostSelector: {}\n", "TracingPolicy");
        assert!(host_only.admits(None) && !admits(&host_only, &web));
        let label_and_host =
            scope("  podSelector:\n    matchLabels:\n      app: web\n  hostSelector: {}\n", "TracingPolicy");
        assert!(label_and_host.admits(None) && admits(&label_and_host, &web) && !admits(&label_and_host, &db));
        let by_ns_label =
            scope("  podSelector:\n    matchLabels:\n      k8s:io.kubernetes.pod.namespace: bank\n", "TracingPolicy");
        assert!(!admits(&by_ns_label, &web) && admits(&by_ns_label, &other));
        let by_repo = scope(
            "  containerSelector:\n    matchExpressions:\n    - key: repo\n      operator: In\n      \
             values: [docker.io/library/nginx, postgres]\n",
            "TracingPolicy",
        );
        assert!(admits(&by_repo, &web) && admits(&by_repo, &db) && !admits(&by_repo, &other));
        let by_name = scope("  containerSelector:\n    matchLabels:\n      name: postgres\n", "TracingPolicy");
        assert!(!admits(&by_name, &web) && admits(&by_name, &db));
        assert!(!admits(&by_name, &Pod { container: None, ..db.clone() }), "no container known yet");
    }

    #[test]
    fn image_references_lose_tag_and_digest() {
        assert_eq!(repository("nginx"), "nginx");
        assert_eq!(repository("nginx:1.25"), "nginx");
        assert_eq!(repository("registry:5000/team/app"), "registry:5000/team/app");
        assert_eq!(repository("registry:5000/team/app:v2@sha256:ab"), "registry:5000/team/app");
    }
}
