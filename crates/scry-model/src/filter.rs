//! Event filters, with Tetragon's semantics: values of one field OR, fields AND.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventType};

/// What a client asks for. An empty field matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventFilter {
    pub event_types: Vec<EventType>,
    /// Regexes on `process.binary`.
    pub binary_regex: Vec<String>,
    pub pid: Vec<u32>,
    /// Exact Kubernetes namespaces; `""` matches host processes.
    pub namespace: Vec<String>,
    /// Regexes on the pod name; never match host processes.
    pub pod_regex: Vec<String>,
    /// Regexes on the container id or the container name.
    pub container_regex: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {field} regex {pattern:?}: {source}")]
pub struct FilterError {
    pub field: &'static str,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

#[derive(Clone, Debug)]
pub struct CompiledFilter {
    event_types: Vec<EventType>,
    binary: Vec<Regex>,
    pid: Vec<u32>,
    namespace: Vec<String>,
    pod: Vec<Regex>,
    container: Vec<Regex>,
}

fn compile(field: &'static str, patterns: &[String]) -> Result<Vec<Regex>, FilterError> {
    patterns.iter().map(|p| Regex::new(p).map_err(|source| FilterError { field, pattern: p.clone(), source })).collect()
}

impl EventFilter {
    pub fn compile(&self) -> Result<CompiledFilter, FilterError> {
        Ok(CompiledFilter {
            event_types: self.event_types.clone(),
            binary: compile("binary", &self.binary_regex)?,
            pid: self.pid.clone(),
            namespace: self.namespace.clone(),
            pod: compile("pod", &self.pod_regex)?,
            container: compile("container", &self.container_regex)?,
        })
    }
}

fn any_or_empty<T>(set: &[T], pred: impl Fn(&T) -> bool) -> bool {
    set.is_empty() || set.iter().any(pred)
}

impl CompiledFilter {
    /// Lost-event notices concern the stream itself and always pass.
    pub fn matches(&self, event: &Event) -> bool {
        let Some(p) = event.process() else {
            return true;
        };
        let ty = event.event_type();
        let pod = p.pod.as_ref();
        let container = pod.and_then(|pod| pod.container.as_ref());
        any_or_empty(&self.event_types, |t| *t == ty)
            && any_or_empty(&self.binary, |re| re.is_match(&p.binary))
            && any_or_empty(&self.pid, |pid| p.pid == Some(*pid))
            && any_or_empty(&self.namespace, |ns| pod.map_or("", |pod| pod.namespace.as_str()) == ns)
            && any_or_empty(&self.pod, |re| pod.is_some_and(|pod| re.is_match(&pod.name)))
            && any_or_empty(&self.container, |re| {
                (!p.docker.is_empty() && re.is_match(&p.docker))
                    || container.is_some_and(|c| re.is_match(&c.id) || re.is_match(&c.name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Container, LostEvents, Pod, Process, ProcessExec, ProcessExit};

    fn exec(binary: &str, pid: u32, pod: Option<(&str, &str, &str)>) -> Event {
        let pod = pod.map(|(ns, name, cname)| Pod {
            namespace: ns.into(),
            name: name.into(),
            container: Some(Container { id: "containerd://abc123".into(), name: cname.into(), ..Default::default() }),
            ..Default::default()
        });
        Event::ProcessExec(ProcessExec {
            process: Process { binary: binary.into(), pid: Some(pid), pod: pod.map(Into::into), ..Default::default() }
                .into(),
            ..Default::default()
        })
    }

    #[test]
    fn values_or_fields_and() {
        let f = EventFilter {
            binary_regex: vec!["curl$".into(), "^/bin/sh$".into()],
            namespace: vec!["default".into()],
            ..Default::default()
        }
        .compile()
        .unwrap();
        assert!(f.matches(&exec("/usr/bin/curl", 1, Some(("default", "a", "c")))));
        assert!(f.matches(&exec("/bin/sh", 1, Some(("default", "a", "c")))));
        assert!(!f.matches(&exec("/bin/sh", 1, Some(("kube-system", "a", "c")))));
        assert!(!f.matches(&exec("/bin/ls", 1, Some(("default", "a", "c")))));
        assert!(!f.matches(&exec("/usr/bin/curl", 1, None)));
    }

    #[test]
    fn empty_namespace_means_host_and_pod_never_matches_host() {
        let host = EventFilter { namespace: vec![String::new()], ..Default::default() }.compile().unwrap();
        assert!(host.matches(&exec("/bin/ls", 1, None)));
        assert!(!host.matches(&exec("/bin/ls", 1, Some(("default", "a", "c")))));
        let pod = EventFilter { pod_regex: vec![".*".into()], ..Default::default() }.compile().unwrap();
        assert!(!pod.matches(&exec("/bin/ls", 1, None)));
    }

    #[test]
    fn types_pids_containers_and_lost_notices() {
        let f = EventFilter {
            event_types: vec![EventType::ProcessExit],
            pid: vec![7, 8],
            container_regex: vec!["^web$".into()],
            ..Default::default()
        }
        .compile()
        .unwrap();
        assert!(!f.matches(&exec("/bin/ls", 7, Some(("d", "p", "web")))));
        let Event::ProcessExec(e) = exec("/bin/ls", 8, Some(("d", "p", "web"))) else { unreachable!() };
        let exit = Event::ProcessExit(ProcessExit { process: e.process, ..Default::default() });
        assert!(f.matches(&exit));
        assert!(f.matches(&Event::LostEvents(LostEvents { count: 1, source: "ring_buffer".into() })));
    }

    #[test]
    fn bad_regex_names_the_field() {
        let err = EventFilter { binary_regex: vec!["(".into()], ..Default::default() }.compile().unwrap_err();
        assert!(err.to_string().starts_with("invalid binary regex \"(\""), "{err}");
    }
}
