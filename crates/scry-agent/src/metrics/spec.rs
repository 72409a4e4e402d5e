//! Which flow metrics to keep, in the syntax of Hubble's `--hubble-metrics`:
//! space-separated plugins, each optionally followed by `:` and
//! `;`-separated options, e.g.
//! `dns:query;ignoreAAAA drop flow:sourceContext=pod;destinationContext=pod|dns httpV2`.
//! Anything Scry does not do is refused by name, never ignored.

use std::fmt;
use std::str::FromStr;

/// The plugins `scry agent` enables when not told otherwise: every one Scry has.
pub const DEFAULT_FLOW_METRICS: &str = "dns drop tcp flow port-distribution icmp httpV2 flows-to-world";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plugin {
    Dns,
    Drop,
    Flow,
    FlowsToWorld,
    HttpV2,
    Icmp,
    PortDistribution,
    Tcp,
}

impl Plugin {
    const ALL: [Plugin; 8] = [
        Plugin::Dns,
        Plugin::Drop,
        Plugin::Flow,
        Plugin::FlowsToWorld,
        Plugin::HttpV2,
        Plugin::Icmp,
        Plugin::PortDistribution,
        Plugin::Tcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plugin::Dns => "dns",
            Plugin::Drop => "drop",
            Plugin::Flow => "flow",
            Plugin::FlowsToWorld => "flows-to-world",
            Plugin::HttpV2 => "httpV2",
            Plugin::Icmp => "icmp",
            Plugin::PortDistribution => "port-distribution",
            Plugin::Tcp => "tcp",
        }
    }

    /// The options of this plugin's own, besides the context ones.
    fn own_options(self) -> &'static [&'static str] {
        match self {
            Plugin::Dns => &["query", "ignoreAAAA"],
            Plugin::FlowsToWorld => &["any-drop", "port", "syn-only"],
            _ => &[],
        }
    }
}

/// What a `source` / `destination` label says about an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Namespace,
    /// `namespace/pod`
    Pod,
    PodName,
    /// The first DNS name observed for the address.
    Dns,
    Ip,
    /// `reserved:host`, `reserved:world`
    ReservedIdentity,
    /// `namespace/workload`
    Workload,
    WorkloadName,
    /// The pod's `app` (or `app.kubernetes.io/name`) label.
    App,
}

impl Context {
    const ALL: [(&'static str, Context); 9] = [
        ("namespace", Context::Namespace),
        ("pod", Context::Pod),
        ("pod-name", Context::PodName),
        ("dns", Context::Dns),
        ("ip", Context::Ip),
        ("reserved-identity", Context::ReservedIdentity),
        ("workload", Context::Workload),
        ("workload-name", Context::WorkloadName),
        ("app", Context::App),
    ];
}

/// Labels `labelsContext` adds, each always present (possibly empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelContext {
    Ip(Side),
    Namespace(Side),
    Pod(Side),
    Workload(Side),
    WorkloadKind(Side),
    App(Side),
    TrafficDirection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl LabelContext {
    const ALL: [LabelContext; 13] = [
        LabelContext::Ip(Side::Source),
        LabelContext::Namespace(Side::Source),
        LabelContext::Pod(Side::Source),
        LabelContext::Workload(Side::Source),
        LabelContext::WorkloadKind(Side::Source),
        LabelContext::App(Side::Source),
        LabelContext::Ip(Side::Destination),
        LabelContext::Namespace(Side::Destination),
        LabelContext::Pod(Side::Destination),
        LabelContext::Workload(Side::Destination),
        LabelContext::WorkloadKind(Side::Destination),
        LabelContext::App(Side::Destination),
        LabelContext::TrafficDirection,
    ];

    /// The label's name.
    pub fn name(self) -> &'static str {
        use LabelContext::*;
        use Side::*;
        match self {
            Ip(Source) => "source_ip",
            Namespace(Source) => "source_namespace",
            Pod(Source) => "source_pod",
            Workload(Source) => "source_workload",
            WorkloadKind(Source) => "source_workload_kind",
            App(Source) => "source_app",
            Ip(Destination) => "destination_ip",
            Namespace(Destination) => "destination_namespace",
            Pod(Destination) => "destination_pod",
            Workload(Destination) => "destination_workload",
            WorkloadKind(Destination) => "destination_workload_kind",
            App(Destination) => "destination_app",
            TrafficDirection => "traffic_direction",
        }
    }
}

/// The `source` and `destination` labels: a fallback chain each (the first
/// context with a value wins), optionally different per traffic direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextOptions {
    pub source: Vec<Context>,
    pub source_egress: Option<Vec<Context>>,
    pub source_ingress: Option<Vec<Context>>,
    pub destination: Vec<Context>,
    pub destination_egress: Option<Vec<Context>>,
    pub destination_ingress: Option<Vec<Context>>,
    pub labels: Vec<LabelContext>,
}

impl ContextOptions {
    pub fn has_source(&self) -> bool {
        !self.source.is_empty() || self.source_egress.is_some() || self.source_ingress.is_some()
    }

    pub fn has_destination(&self) -> bool {
        !self.destination.is_empty() || self.destination_egress.is_some() || self.destination_ingress.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSpec {
    pub plugin: Plugin,
    pub context: ContextOptions,
    /// The plugin's own switches (`query`, `ignoreAAAA`, `port` …).
    pub flags: Vec<&'static str>,
}

impl PluginSpec {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// The flow metrics to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMetricsSpec {
    pub plugins: Vec<PluginSpec>,
}

impl Default for FlowMetricsSpec {
    fn default() -> Self {
        DEFAULT_FLOW_METRICS.parse().unwrap_or(FlowMetricsSpec { plugins: Vec::new() })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err(msg: String) -> SpecError {
    SpecError(msg)
}

/// Hubble plugins Scry does not have, with what to use instead.
fn unsupported(name: &str) -> Option<&'static str> {
    match name {
        "http" => Some("the deprecated `http` plugin is not supported; use `httpV2`"),
        "kafka" => Some("Scry makes no Kafka flows yet"),
        "policy" => Some("Scry enforces no network policy, so there are no policy verdicts"),
        "flows-to-world-v2" | "dns-v2" => Some("not a plugin Scry knows"),
        _ => None,
    }
}

fn parse_chain(plugin: &str, key: &str, value: &str) -> Result<Vec<Context>, SpecError> {
    value
        .split('|')
        .map(|c| {
            if c == "identity" {
                return Err(err(format!(
                    "{plugin}: {key}=identity: Scry has no Cilium security identities; use pod, workload, namespace or reserved-identity"
                )));
            }
            Context::ALL.iter().find(|(n, _)| *n == c).map(|(_, ctx)| *ctx).ok_or_else(|| {
                let known: Vec<_> = Context::ALL.iter().map(|(n, _)| *n).collect();
                err(format!("{plugin}: {key}: unknown context `{c}` (known: {})", known.join(", ")))
            })
        })
        .collect()
}

fn parse_plugin(item: &str) -> Result<PluginSpec, SpecError> {
    let (name, options) = item.split_once(':').unwrap_or((item, ""));
    if let Some(why) = unsupported(name) {
        return Err(err(format!("{name}: {why}")));
    }
    let plugin = Plugin::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
        let known: Vec<_> = Plugin::ALL.iter().map(|p| p.name()).collect();
        err(format!("unknown flow metric plugin `{name}` (known: {})", known.join(", ")))
    })?;
    let mut spec = PluginSpec { plugin, context: ContextOptions::default(), flags: Vec::new() };
    for opt in options.split(';').filter(|o| !o.is_empty()) {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let c = &mut spec.context;
        match (key, value) {
            ("sourceContext", Some(v)) => c.source = parse_chain(name, key, v)?,
            ("sourceEgressContext", Some(v)) => c.source_egress = Some(parse_chain(name, key, v)?),
            ("sourceIngressContext", Some(v)) => c.source_ingress = Some(parse_chain(name, key, v)?),
            ("destinationContext", Some(v)) => c.destination = parse_chain(name, key, v)?,
            ("destinationEgressContext", Some(v)) => c.destination_egress = Some(parse_chain(name, key, v)?),
            ("destinationIngressContext", Some(v)) => c.destination_ingress = Some(parse_chain(name, key, v)?),
            ("labelsContext", Some(v)) => {
                for l in v.split(',') {
                    let label = LabelContext::ALL.into_iter().find(|x| x.name() == l).ok_or_else(|| {
                        let known: Vec<_> = LabelContext::ALL.iter().map(|x| x.name()).collect();
                        err(format!("{name}: labelsContext: unknown label `{l}` (known: {})", known.join(", ")))
                    })?;
                    if !c.labels.contains(&label) {
                        c.labels.push(label);
                    }
                }
            }
            (k, None) if plugin.own_options().contains(&k) => {
                let flag = plugin.own_options().iter().find(|o| **o == k).copied().unwrap_or_default();
                spec.flags.push(flag);
            }
            (k, _) => {
                let mut known = vec![
                    "sourceContext=…",
                    "sourceEgressContext=…",
                    "sourceIngressContext=…",
                    "destinationContext=…",
                    "destinationEgressContext=…",
                    "destinationIngressContext=…",
                    "labelsContext=…",
                ];
                known.extend(plugin.own_options());
                return Err(err(format!("{name}: unknown option `{k}` (known: {})", known.join(", "))));
            }
        }
    }
    Ok(spec)
}

impl FromStr for FlowMetricsSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let mut plugins: Vec<PluginSpec> = Vec::new();
        for item in s.split_whitespace() {
            let spec = parse_plugin(item)?;
            if plugins.iter().any(|p| p.plugin == spec.plugin) {
                return Err(err(format!("{}: given twice", spec.plugin.name())));
            }
            plugins.push(spec);
        }
        Ok(FlowMetricsSpec { plugins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(s: &str) -> String {
        s.parse::<FlowMetricsSpec>().unwrap_err().to_string()
    }

    #[test]
    fn hubble_syntax_with_options_and_contexts() {
        let spec: FlowMetricsSpec =
            "dns:query;ignoreAAAA flow:sourceContext=pod;destinationContext=dns|ip httpV2:labelsContext=source_namespace,traffic_direction"
                .parse()
                .unwrap();
        assert_eq!(spec.plugins.len(), 3);
        assert_eq!(spec.plugins[0].plugin, Plugin::Dns);
        assert_eq!(spec.plugins[0].flags, ["query", "ignoreAAAA"]);
        assert_eq!(spec.plugins[1].context.source, [Context::Pod]);
        assert_eq!(spec.plugins[1].context.destination, [Context::Dns, Context::Ip]);
        assert_eq!(
            spec.plugins[2].context.labels,
            [LabelContext::Namespace(Side::Source), LabelContext::TrafficDirection]
        );
    }

    #[test]
    fn the_default_has_every_plugin() {
        let names: Vec<_> = FlowMetricsSpec::default().plugins.iter().map(|p| p.plugin.name()).collect();
        assert_eq!(names.len(), Plugin::ALL.len());
    }

    #[test]
    fn what_scry_does_not_do_is_refused_by_name() {
        assert_eq!(error("flow kafka"), "kafka: Scry makes no Kafka flows yet");
        assert!(
            error("dns:qery").starts_with("dns: unknown option `qery` (known: sourceContext=…"),
            "{}",
            error("dns:qery")
        );
        assert!(error("dns:query drops").starts_with("unknown flow metric plugin `drops`"));
        assert!(error("flow:sourceContext=identity").starts_with("flow: sourceContext=identity: Scry has no Cilium"));
        assert!(
            error("flow:destinationContext=pod|nodes").starts_with("flow: destinationContext: unknown context `nodes`")
        );
        assert!(
            error("tcp:labelsContext=source_cluster").starts_with("tcp: labelsContext: unknown label `source_cluster`")
        );
        assert_eq!(error("tcp tcp"), "tcp: given twice");
        assert!(error("tcp:query").starts_with("tcp: unknown option `query`"));
    }
}
