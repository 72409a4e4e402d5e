//! What the node knows of its processes, and the `upid_to_<field>` functions
//! that read it: `upid_to_namespace`, `upid_to_pod_name`, ... (see [`Field`]).
//!
//! The agent supplies the knowledge through [`ProcessMetadata`]; the query
//! engine only asks. A UPID the source does not know gives "" (as in Pixie),
//! so a process that exited long ago still shows, just without names.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Volatility};

use super::scalar::{Arg, Kernel, family, one};

/// What the node knows of a process, for `df.ctx[...]` and the upid_to_* functions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub namespace: String,
    /// "namespace/pod", or "" outside a pod.
    pub pod_name: String,
    pub pod_id: String,
    pub container_name: String,
    pub container_id: String,
    pub node_name: String,
    pub hostname: String,
    pub cmdline: String,
    pub service_name: String,
    pub deployment_name: String,
}

/// Looks a process up by its UPID text.
pub trait ProcessMetadata: Send + Sync + 'static {
    fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>>;
}

/// Knows nothing (a node-less test engine, SQL tests).
pub struct NoMetadata;

impl ProcessMetadata for NoMetadata {
    fn process(&self, _upid: &str) -> Option<Arc<ProcessInfo>> {
        None
    }
}

/// One field of [`ProcessInfo`], each behind its own `upid_to_<field>` function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    Namespace,
    PodName,
    PodId,
    ContainerName,
    ContainerId,
    NodeName,
    Hostname,
    Cmdline,
    ServiceName,
    DeploymentName,
}

impl Field {
    const ALL: [(&str, Field); 10] = [
        ("upid_to_namespace", Field::Namespace),
        ("upid_to_pod_name", Field::PodName),
        ("upid_to_pod_id", Field::PodId),
        ("upid_to_container_name", Field::ContainerName),
        ("upid_to_container_id", Field::ContainerId),
        ("upid_to_node_name", Field::NodeName),
        ("upid_to_hostname", Field::Hostname),
        ("upid_to_cmdline", Field::Cmdline),
        ("upid_to_service_name", Field::ServiceName),
        ("upid_to_deployment_name", Field::DeploymentName),
    ];

    fn of(self, p: &ProcessInfo) -> &str {
        match self {
            Field::Namespace => &p.namespace,
            Field::PodName => &p.pod_name,
            Field::PodId => &p.pod_id,
            Field::ContainerName => &p.container_name,
            Field::ContainerId => &p.container_id,
            Field::NodeName => &p.node_name,
            Field::Hostname => &p.hostname,
            Field::Cmdline => &p.cmdline,
            Field::ServiceName => &p.service_name,
            Field::DeploymentName => &p.deployment_name,
        }
    }
}

struct Lookup {
    field: Field,
    source: Arc<dyn ProcessMetadata>,
}

impl Kernel for Lookup {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let upids = as_string_array(one(args)?)?;
        let mut out = StringBuilder::with_capacity(upids.len(), 0);
        // Rows of one process come in runs (a table is appended per process
        // event batch), so the last answer is often the next one too.
        let mut last: Option<(&str, Option<Arc<ProcessInfo>>)> = None;
        for upid in upids.iter() {
            let Some(upid) = upid else {
                out.append_null();
                continue;
            };
            if last.as_ref().is_none_or(|(u, _)| *u != upid) {
                last = Some((upid, self.source.process(upid)));
            }
            let info = last.as_ref().and_then(|(_, info)| info.as_deref());
            out.append_value(info.map_or("", |p| self.field.of(p)));
        }
        Ok(Arc::new(out.finish()))
    }
}

// Two lookups are the same function when they read the same field from the
// same source; the source itself cannot be compared or printed.
impl PartialEq for Lookup {
    fn eq(&self, other: &Lookup) -> bool {
        self.field == other.field && std::ptr::addr_eq(Arc::as_ptr(&self.source), Arc::as_ptr(&other.source))
    }
}

impl Eq for Lookup {}

impl Hash for Lookup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.field.hash(state);
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup").field("field", &self.field).finish_non_exhaustive()
    }
}

pub(super) fn functions(source: &Arc<dyn ProcessMetadata>) -> Vec<ScalarUDF> {
    let lookups = Field::ALL.map(|(name, field)| (name, Lookup { field, source: source.clone() }, DataType::Utf8));
    // Stable, not immutable: the answer is the node's knowledge at query time.
    family(&[DataType::Utf8], Volatility::Stable, lookups)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::functions::tests::query_with;

    const KNOWN: &str = "00000001-0000-1092-0000-00000001e240";

    /// Knows one process and counts how often it is asked.
    #[derive(Default)]
    struct OneProcess {
        asked: Mutex<usize>,
    }

    impl ProcessMetadata for OneProcess {
        fn process(&self, upid: &str) -> Option<Arc<ProcessInfo>> {
            *self.asked.lock().unwrap() += 1;
            (upid == KNOWN).then(|| {
                Arc::new(ProcessInfo {
                    namespace: "shop".into(),
                    pod_name: "shop/cart-7d9".into(),
                    pod_id: "pod-uid".into(),
                    container_name: "cart".into(),
                    container_id: "c0ffee".into(),
                    node_name: "node-1".into(),
                    hostname: "cart-7d9".into(),
                    cmdline: "/bin/cart --port 80".into(),
                    service_name: "shop/cart".into(),
                    deployment_name: "shop/cart".into(),
                })
            })
        }
    }

    #[test]
    fn known_upids_get_their_fields_unknown_get_empty_text() {
        let source = Arc::new(OneProcess::default());
        let columns: Vec<String> = Field::ALL.iter().map(|(name, _)| format!("{name}(u)")).collect();
        let sql = format!(
            "SELECT {} FROM (VALUES ('{KNOWN}'), ('{KNOWN}'), ('00000001-0000-0001-0000-000000000001'), (NULL)) \
             AS t(u)",
            columns.join(", ")
        );
        let rows = query_with(source.clone(), &sql);
        assert_eq!(
            rows[0],
            "shop|shop/cart-7d9|pod-uid|cart|c0ffee|node-1|cart-7d9|/bin/cart --port 80|shop/cart|shop/cart"
        );
        assert_eq!(rows[1], rows[0]);
        assert_eq!(rows[2], "|".repeat(9));
        assert_eq!(rows[3], ["NULL"; 10].join("|"));
        // Per function: one lookup for the run of two, one for the unknown.
        assert_eq!(*source.asked.lock().unwrap(), 2 * Field::ALL.len());
    }

    #[test]
    fn no_metadata_knows_nothing() {
        let rows = query_with(Arc::new(NoMetadata), &format!("SELECT upid_to_pod_name('{KNOWN}')"));
        assert_eq!(rows, [""]);
    }
}
