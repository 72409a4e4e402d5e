//! `scry observe`: network flows from the agent, with `hubble observe`'s
//! flags, filter semantics and output formats.

use std::io::Write;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, ValueEnum};
use scry_agent::client::Client;
use scry_model::event::Timestamp;
use scry_model::flow::filter::{
    DEFAULT_NAMESPACE, EVENT_TYPE_NAMES, EventTypeFilter, FlowFilter, FlowsRequest, RESERVED_IDENTITIES,
    TRACE_OBSERVATION_POINTS,
};
use scry_model::flow::print::{self, DICT_SEPARATOR, PrintOptions};
use scry_model::flow::{
    DropReason, EVENT_TYPE_TRACE, FlowResponse, IpVersion, TcpFlags, TrafficDirection, Verdict, Workload,
};

use crate::SocketArg;

/// What a plain `scry observe` shows, as `hubble observe`.
const DEFAULT_LAST: u64 = 20;

const FILTERS_HEADING: &str = "Filters (repeat a flag for OR; different flags AND)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per flow.
    Compact,
    /// A labeled block per flow.
    Dict,
    /// The flow response JSON, one per line.
    Json,
    /// The same as json.
    Jsonpb,
    /// Aligned columns, printed when the stream ends (so not with --follow).
    #[value(alias = "tab")]
    Table,
}

#[derive(Args)]
pub struct ObserveArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// Show the last N flows (the default, with N = 20, when no other selection is given).
    #[arg(long, value_name = "N", help_heading = "Selection")]
    last: Option<u64>,
    /// Show the first N flows in the agent's buffer.
    #[arg(long, value_name = "N", help_heading = "Selection")]
    first: Option<u64>,
    /// Show all flows in the agent's buffer.
    #[arg(long, help_heading = "Selection")]
    all: bool,
    /// Keep showing new flows as they come.
    #[arg(short, long, help_heading = "Selection")]
    follow: bool,
    /// Flows since this time: that long ago (3s, 4m, 1h43m) or RFC 3339 (2024-05-04T13:23:47Z).
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    since: Option<String>,
    /// Flows until this time, as --since (ignored with --follow).
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    until: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Compact, help_heading = "Output")]
    output: Output,
    /// Print the name of the node that observed each flow.
    #[arg(long, help_heading = "Output")]
    print_node_name: bool,
    /// Print the allowlist and denylist the filter flags make, and exit.
    #[arg(long, help_heading = "Output")]
    print_raw_filters: bool,
    /// FlowFilter JSON added to the allowlist as it is (also for fields without a flag: reply, dns_query).
    #[arg(long, value_name = "JSON", help_heading = FILTERS_HEADING)]
    allowlist: Vec<String>,
    /// FlowFilter JSON added to the denylist as it is.
    #[arg(long, value_name = "JSON", help_heading = FILTERS_HEADING)]
    denylist: Vec<String>,
    #[command(flatten)]
    filters: FilterFlags,
}

/// One filter flag of `hubble observe`.
struct FilterSpec {
    name: &'static str,
    short: Option<char>,
    /// `None`: a switch.
    value_name: Option<&'static str>,
    help: &'static str,
}

const fn flag(name: &'static str, value_name: &'static str, help: &'static str) -> FilterSpec {
    FilterSpec { name, short: None, value_name: Some(value_name), help }
}

const FILTERS: &[FilterSpec] = &[
    FilterSpec {
        name: "not",
        short: None,
        value_name: None,
        help: "Put the next filter flag in the denylist: --not --from-ip 10.0.0.1",
    },
    flag("uuid", "UUID", "Only the flow with this id"),
    flag("from-pod", "[NS/]POD", "Flows from pods with this name prefix (namespace: -n's, else default)"),
    flag("to-pod", "[NS/]POD", "Flows to pods with this name prefix"),
    flag("pod", "[NS/]POD", "Flows from or to pods with this name prefix"),
    flag("from-namespace", "NS", "Flows from this Kubernetes namespace"),
    flag("to-namespace", "NS", "Flows to this Kubernetes namespace"),
    FilterSpec {
        name: "namespace",
        short: Some('n'),
        value_name: Some("NS"),
        help: "Flows from or to this Kubernetes namespace; namespace of --pod values",
    },
    FilterSpec { name: "from-all-namespaces", short: None, value_name: None, help: "Flows from pods of any namespace" },
    FilterSpec { name: "to-all-namespaces", short: None, value_name: None, help: "Flows to pods of any namespace" },
    FilterSpec {
        name: "all-namespaces",
        short: Some('A'),
        value_name: None,
        help: "Flows from or to pods of any namespace",
    },
    flag("from-ip", "IP|CIDR", "Flows from this address or CIDR"),
    flag("to-ip", "IP|CIDR", "Flows to this address or CIDR"),
    flag("ip", "IP|CIDR", "Flows from or to this address or CIDR"),
    FilterSpec { name: "ipv4", short: Some('4'), value_name: None, help: "IPv4 flows only" },
    FilterSpec { name: "ipv6", short: Some('6'), value_name: None, help: "IPv6 flows only" },
    flag("ip-version", "v4|v6|none", "Flows of this IP version"),
    flag("from-port", "PORT", "Flows from this L4 port"),
    flag("to-port", "PORT", "Flows to this L4 port"),
    flag("port", "PORT", "Flows from or to this L4 port"),
    flag("from-label", "SELECTOR", "Flows from endpoints these labels select (k8s:app=x, reserved:world, !key, ...)"),
    flag("to-label", "SELECTOR", "Flows to endpoints these labels select"),
    FilterSpec {
        name: "label",
        short: Some('l'),
        value_name: Some("SELECTOR"),
        help: "Flows from or to endpoints these labels select",
    },
    flag("from-fqdn", "PATTERN", "Flows from this DNS name (* wildcards: *.cilium.io)"),
    flag("to-fqdn", "PATTERN", "Flows to this DNS name"),
    flag("fqdn", "PATTERN", "Flows from or to this DNS name"),
    flag("from-workload", "[KIND/]NAME", "Flows from this workload (Deployment/web; Deployment/ for any)"),
    flag("to-workload", "[KIND/]NAME", "Flows to this workload"),
    flag("workload", "[KIND/]NAME", "Flows from or to this workload"),
    flag("from-identity", "ID", "Flows from this security identity (a number, or host, world, ...)"),
    flag("to-identity", "ID", "Flows to this security identity"),
    flag("identity", "ID", "Flows from or to this security identity"),
    flag("verdict", "VERDICT", "FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED or TRANSLATED"),
    flag("drop-reason-desc", "REASON", "Drops for this reason (POLICY_DENIED, SOCKET_LOOKUP_FAILED, ...)"),
    FilterSpec {
        name: "type",
        short: Some('t'),
        value_name: Some("TYPE[:SUBTYPE]"),
        help: "Event type: drop, trace (subtypes to-stack, to-endpoint, ...), l7, or numbers",
    },
    flag("protocol", "PROTOCOL", "tcp, udp, icmp, icmpv4, icmpv6, dns or http"),
    flag("http-status", "CODE", "HTTP status code, exact (404) or a prefix (5+)"),
    flag("http-method", "METHOD", "HTTP method (case-insensitive)"),
    flag("http-path", "REGEX", "HTTP path regex"),
    flag("http-url", "REGEX", "HTTP URL regex"),
    flag("tcp-flags", "FLAGS", "TCP flags that must all be set (SYN,ACK)"),
    flag("traffic-direction", "DIRECTION", "ingress or egress"),
    flag("node-name", "PATTERN", "Node name pattern ([cluster/]node, * wildcards)"),
];

/// The filter flags in the order they were given: `--not` applies to the
/// flag after it, an order clap's derived fields would not keep.
#[derive(Clone, Debug)]
pub struct FilterFlags(Vec<(&'static str, String)>);

impl FromArgMatches for FilterFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for spec in FILTERS {
            if let (Some(indices), Some(values)) =
                (matches.indices_of(spec.name), matches.get_many::<String>(spec.name))
            {
                given.extend(indices.zip(values).map(|(i, v)| (i, spec.name, v.clone())));
            }
        }
        given.sort_by_key(|(i, _, _)| *i);
        Ok(FilterFlags(given.into_iter().map(|(_, name, value)| (name, value)).collect()))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = FilterFlags::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for FilterFlags {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(FILTERS.iter().map(|spec| {
            let arg = Arg::new(spec.name)
                .long(spec.name)
                .help(spec.help)
                .help_heading(FILTERS_HEADING)
                .action(ArgAction::Append);
            let arg = match spec.short {
                Some(c) => arg.short(c),
                None => arg,
            };
            match spec.value_name {
                Some(v) => arg.value_name(v).num_args(1),
                // Every occurrence of a switch is kept with its position.
                None => arg.num_args(0).default_missing_value("true"),
            }
        }))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        FilterFlags::augment_args(cmd)
    }
}

/// Filter flags that cannot be combined in one list: one side set twice, or
/// a namespace and an address for the same side.
const CONFLICTS: &[&[&str]] = &[
    &["from-fqdn", "from-ip", "ip", "fqdn", "from-namespace", "namespace", "from-all-namespaces", "all-namespaces"],
    &["from-fqdn", "from-ip", "ip", "fqdn", "from-pod", "pod"],
    &["to-fqdn", "to-ip", "ip", "fqdn", "to-namespace", "namespace", "to-all-namespaces", "all-namespaces"],
    &["to-fqdn", "to-ip", "ip", "fqdn", "to-pod", "pod"],
    &["to-pod", "namespace", "all-namespaces"],
    &["from-pod", "namespace", "all-namespaces"],
    &["label", "from-label"],
    &["label", "to-label"],
    &["port", "to-port"],
    &["port", "from-port"],
    &["identity", "to-identity"],
    &["identity", "from-identity"],
    &["workload", "to-workload"],
    &["workload", "from-workload"],
];

/// The allowlist or the denylist being built, as Hubble's CLI builds it: an
/// either-side flag puts its source form in `left` and its destination form
/// in `right`, every other flag goes to both, and the list is `left OR right`.
#[derive(Default)]
struct Tracker {
    left: Option<FlowFilter>,
    right: Option<FlowFilter>,
    /// Namespaces from -n (either side), --from-namespace and --to-namespace;
    /// `""` (from the all-namespaces flags) is any namespace.
    namespaces: Vec<String>,
    from_namespaces: Vec<String>,
    to_namespaces: Vec<String>,
    given: Vec<&'static str>,
}

impl Tracker {
    fn both(&mut self, update: impl Fn(&mut FlowFilter)) {
        update(self.left.get_or_insert_default());
        update(self.right.get_or_insert_default());
    }

    fn either(&mut self, source: impl FnOnce(&mut FlowFilter), destination: impl FnOnce(&mut FlowFilter)) {
        source(self.left.get_or_insert_default());
        destination(self.right.get_or_insert_default());
    }

    fn set(&mut self, name: &'static str, value: &str) -> anyhow::Result<()> {
        if !self.given.contains(&name) {
            self.given.push(name);
        }
        for group in CONFLICTS {
            let mut present = group.iter().filter(|f| self.given.contains(f));
            if let (Some(a), Some(b)) = (present.next(), present.next()) {
                bail!("filters --{a} and --{b} cannot be combined");
            }
        }
        let v = value.to_owned();
        match name {
            "uuid" => self.both(|f| f.uuid.push(v.clone())),
            "from-pod" | "to-pod" | "pod" => {
                check(name, value, FlowFilter { source_pod: vec![v.clone()], ..FlowFilter::default() })?;
                match name {
                    "from-pod" => self.both(|f| f.source_pod.push(v.clone())),
                    "to-pod" => self.both(|f| f.destination_pod.push(v.clone())),
                    _ => self.either(|f| f.source_pod.push(v.clone()), |f| f.destination_pod.push(v.clone())),
                }
            }
            "from-namespace" | "to-namespace" | "namespace" => {
                if value.is_empty() || value.contains('/') {
                    bail!("invalid --{name} {value:?}: expected a namespace name");
                }
                match name {
                    "from-namespace" => self.from_namespaces.push(v),
                    "to-namespace" => self.to_namespaces.push(v),
                    _ => self.namespaces.push(v),
                }
            }
            "from-all-namespaces" => self.from_namespaces.push(String::new()),
            "to-all-namespaces" => self.to_namespaces.push(String::new()),
            "all-namespaces" => self.namespaces.push(String::new()),
            "from-ip" | "to-ip" | "ip" => {
                check(name, value, FlowFilter { source_ip: vec![v.clone()], ..FlowFilter::default() })?;
                self.sided(name, |f| f.source_ip.push(v.clone()), |f| f.destination_ip.push(v.clone()));
            }
            "ipv4" => self.both(|f| f.ip_version.push(IpVersion::IPv4)),
            "ipv6" => self.both(|f| f.ip_version.push(IpVersion::IPv6)),
            "ip-version" => {
                let version = match value.to_ascii_lowercase().as_str() {
                    "4" | "v4" | "ipv4" | "ip4" => IpVersion::IPv4,
                    "6" | "v6" | "ipv6" | "ip6" => IpVersion::IPv6,
                    "none" => IpVersion::IpNotUsed,
                    _ => bail!("invalid --ip-version {value:?}: expected v4, v6 or none"),
                };
                self.both(|f| f.ip_version.push(version));
            }
            "from-port" | "to-port" | "port" => {
                check(name, value, FlowFilter { source_port: vec![v.clone()], ..FlowFilter::default() })?;
                self.sided(name, |f| f.source_port.push(v.clone()), |f| f.destination_port.push(v.clone()));
            }
            "from-label" | "to-label" | "label" => {
                check(name, value, FlowFilter { source_label: vec![v.clone()], ..FlowFilter::default() })?;
                self.sided(name, |f| f.source_label.push(v.clone()), |f| f.destination_label.push(v.clone()));
            }
            "from-fqdn" | "to-fqdn" | "fqdn" => {
                check(name, value, FlowFilter { source_fqdn: vec![v.clone()], ..FlowFilter::default() })?;
                self.sided(name, |f| f.source_fqdn.push(v.clone()), |f| f.destination_fqdn.push(v.clone()));
            }
            "from-workload" | "to-workload" | "workload" => {
                let w = match value.split_once('/') {
                    Some((kind, name)) => Workload { kind: kind.to_owned(), name: name.to_owned() },
                    None => Workload { kind: String::new(), name: v.clone() },
                };
                if w.kind.is_empty() && w.name.is_empty() {
                    bail!("invalid --{name} {value:?}: expected NAME, KIND/NAME or KIND/");
                }
                self.sided(name, |f| f.source_workload.push(w.clone()), |f| f.destination_workload.push(w.clone()));
            }
            "from-identity" | "to-identity" | "identity" => {
                let id = match RESERVED_IDENTITIES.iter().find(|(n, _)| *n == value) {
                    Some((_, id)) => *id,
                    None => value.parse().map_err(|_| {
                        let names: Vec<&str> = RESERVED_IDENTITIES.iter().map(|(n, _)| *n).collect();
                        anyhow!("invalid --{name} {value:?}: expected a number or one of {}", names.join(", "))
                    })?,
                };
                self.sided(name, |f| f.source_identity.push(id), |f| f.destination_identity.push(id));
            }
            "verdict" => {
                let verdict = Verdict::parse(value).filter(|v| *v != Verdict::VerdictUnknown).ok_or_else(|| {
                    anyhow!("invalid --verdict {value:?}: expected FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED or TRANSLATED")
                })?;
                self.both(|f| f.verdict.push(verdict));
            }
            "drop-reason-desc" => {
                let reason = DropReason::parse(value).ok_or_else(|| {
                    let names: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
                    anyhow!("invalid --drop-reason-desc {value:?}: Scry reports {}", names.join(", "))
                })?;
                self.both(|f| f.drop_reason_desc.push(reason));
            }
            "type" => {
                let filter = parse_type(value)?;
                self.both(|f| f.event_type.push(filter));
            }
            "protocol" => {
                check(name, value, FlowFilter { protocol: vec![v.clone()], ..FlowFilter::default() })?;
                self.both(|f| f.protocol.push(v.clone()));
            }
            "http-status" => {
                check(name, value, FlowFilter { http_status_code: vec![v.clone()], ..FlowFilter::default() })?;
                self.both(|f| f.http_status_code.push(v.clone()));
            }
            "http-method" => self.both(|f| f.http_method.push(v.clone())),
            "http-path" => {
                check(name, value, FlowFilter { http_path: vec![v.clone()], ..FlowFilter::default() })?;
                self.both(|f| f.http_path.push(v.clone()));
            }
            "http-url" => {
                check(name, value, FlowFilter { http_url: vec![v.clone()], ..FlowFilter::default() })?;
                self.both(|f| f.http_url.push(v.clone()));
            }
            "tcp-flags" => {
                let flags = parse_tcp_flags(value)?;
                self.both(|f| f.tcp_flags.push(flags));
            }
            "traffic-direction" => {
                let direction = match value.to_ascii_lowercase().as_str() {
                    "ingress" => TrafficDirection::Ingress,
                    "egress" => TrafficDirection::Egress,
                    _ => bail!("invalid --traffic-direction {value:?}: expected ingress or egress"),
                };
                self.both(|f| f.traffic_direction.push(direction));
            }
            "node-name" => {
                check(name, value, FlowFilter { node_name: vec![v.clone()], ..FlowFilter::default() })?;
                self.both(|f| f.node_name.push(v.clone()));
            }
            _ => unreachable!("--{name} is in FILTERS but not handled"),
        }
        self.check_namespaces()
    }

    /// `from-X` sets the source side, `to-X` the destination side, `X` either.
    fn sided(&mut self, name: &str, source: impl Fn(&mut FlowFilter), destination: impl Fn(&mut FlowFilter)) {
        if name.starts_with("from-") {
            self.both(source);
        } else if name.starts_with("to-") {
            self.both(destination);
        } else {
            self.either(source, destination);
        }
    }

    /// A pod named with its namespace must be in the namespace flags' ones.
    fn check_namespaces(&self) -> anyhow::Result<()> {
        let conflict = |namespaces: &[String], pods: &[String]| -> anyhow::Result<()> {
            for ns in namespaces.iter().filter(|ns| !ns.is_empty()) {
                for pod in pods {
                    if let Some((pod_ns, _)) = pod.split_once('/')
                        && !pod_ns.is_empty()
                        && pod_ns != ns
                    {
                        bail!("namespace conflict: {ns:?} does not contain {pod:?}");
                    }
                }
            }
            Ok(())
        };
        for f in [&self.left, &self.right].into_iter().flatten() {
            conflict(&self.namespaces, &f.source_pod)?;
            conflict(&self.namespaces, &f.destination_pod)?;
            conflict(&self.from_namespaces, &f.source_pod)?;
            conflict(&self.to_namespaces, &f.destination_pod)?;
        }
        Ok(())
    }

    /// The list: the namespace flags applied to the pod filters (a namespace
    /// alone becomes `ns/`, every pod of it), pods without a namespace in
    /// `default`, and one filter when both sides came out the same.
    fn filters(self) -> Vec<FlowFilter> {
        let no_namespaces =
            self.namespaces.is_empty() && self.from_namespaces.is_empty() && self.to_namespaces.is_empty();
        if self.left.is_none() && self.right.is_none() && no_namespaces {
            return Vec::new();
        }
        let (mut left, mut right) = (self.left.unwrap_or_default(), self.right.unwrap_or_default());
        let apply = |pods: &mut Vec<String>, namespaces: &[String]| {
            if namespaces.is_empty() {
                return;
            }
            if pods.is_empty() {
                pods.push(String::new());
            }
            *pods = pods
                .iter()
                .flat_map(|p| {
                    if p.contains('/') {
                        vec![p.clone()]
                    } else {
                        namespaces.iter().map(|ns| format!("{ns}/{p}")).collect()
                    }
                })
                .collect();
        };
        for f in [&mut left, &mut right] {
            apply(&mut f.destination_pod, &self.to_namespaces);
            apply(&mut f.source_pod, &self.from_namespaces);
        }
        apply(&mut left.source_pod, &self.namespaces);
        apply(&mut right.destination_pod, &self.namespaces);
        for f in [&mut left, &mut right] {
            for pod in f.source_pod.iter_mut().chain(f.destination_pod.iter_mut()) {
                if !pod.contains('/') {
                    *pod = format!("{DEFAULT_NAMESPACE}/{pod}");
                }
            }
        }
        if left == right { vec![left] } else { vec![left, right] }
    }
}

/// Validates one flag value with the filter code the agent runs, so the
/// error names the flag rather than the FlowFilter field.
fn check(flag: &str, value: &str, probe: FlowFilter) -> anyhow::Result<()> {
    probe.compile().map(drop).map_err(|e| anyhow!("invalid --{flag} {value:?}: {}", e.reason))
}

fn parse_type(value: &str) -> anyhow::Result<EventTypeFilter> {
    let (ty, sub) = match value.split_once(':') {
        Some((ty, sub)) => (ty, Some(sub)),
        None => (value, None),
    };
    let event_type = match EVENT_TYPE_NAMES.iter().find(|(n, _)| *n == ty) {
        Some((_, n)) => *n,
        None => ty.parse::<u8>().map(i32::from).map_err(|_| {
            let names: Vec<&str> = EVENT_TYPE_NAMES.iter().map(|(n, _)| *n).collect();
            anyhow!("invalid --type {value:?}: {ty:?} is neither a number nor one of {}", names.join(", "))
        })?,
    };
    let Some(sub) = sub else {
        return Ok(EventTypeFilter { event_type, ..EventTypeFilter::default() });
    };
    let named = TRACE_OBSERVATION_POINTS.iter().find(|(n, _)| event_type == EVENT_TYPE_TRACE && *n == sub);
    let sub_type = match named {
        Some((_, n)) => *n,
        None => sub.parse::<u8>().map(i32::from).map_err(|_| {
            let names: Vec<&str> = TRACE_OBSERVATION_POINTS.iter().map(|(n, _)| *n).collect();
            anyhow!(
                "invalid --type {value:?}: sub type {sub:?} is not a number (trace's are named: {})",
                names.join(", ")
            )
        })?,
    };
    Ok(EventTypeFilter { event_type, match_sub_type: true, sub_type })
}

fn parse_tcp_flags(value: &str) -> anyhow::Result<TcpFlags> {
    let mut flags = TcpFlags::default();
    for name in value.split(',') {
        let flag = match name.trim().to_ascii_uppercase().as_str() {
            "FIN" => &mut flags.fin,
            "SYN" => &mut flags.syn,
            "RST" => &mut flags.rst,
            "PSH" => &mut flags.psh,
            "ACK" => &mut flags.ack,
            "URG" => &mut flags.urg,
            "ECE" => &mut flags.ece,
            "CWR" => &mut flags.cwr,
            "NS" => &mut flags.ns,
            _ => bail!(
                "invalid --tcp-flags {value:?}: {name:?} is not one of SYN, ACK, FIN, RST, PSH, URG, ECE, CWR, NS"
            ),
        };
        *flag = true;
    }
    Ok(flags)
}

/// Go's duration syntax (`300ms`, `3s`, `1h43m`, `1.5h`), as `hubble observe` takes it.
fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::zero());
    }
    let (mut rest, mut nanos) = (s, 0f64);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += number * unit;
        rest = &rest[unit_end..];
    }
    // Truncation to whole nanoseconds is what Go does too.
    Some(Duration::nanoseconds(nanos as i64))
}

/// `3s`, `1h43m` (that long before `now`) or an RFC 3339 time.
fn parse_time(flag: &str, value: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Some(ago) = parse_duration(value) {
        return Ok(now - ago);
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| anyhow!("invalid --{flag} {value:?}: expected a time ago (3s, 4m, 1h43m) or RFC 3339"))
}

/// FlowFilters given as JSON, several per value allowed (as Hubble's decoder reads them).
fn raw_filters(flag: &str, values: &[String]) -> anyhow::Result<Vec<FlowFilter>> {
    let mut filters = Vec::new();
    for value in values {
        for filter in serde_json::Deserializer::from_str(value).into_iter::<FlowFilter>() {
            let filter = filter.with_context(|| format!("invalid --{flag} {value:?}"))?;
            filter.compile().with_context(|| format!("invalid --{flag} {value:?}"))?;
            filters.push(filter);
        }
    }
    Ok(filters)
}

/// The request the flags describe, with relative times taken from `now`.
fn flows_request(args: &ObserveArgs, now: Timestamp) -> anyhow::Result<FlowsRequest> {
    let (mut allow, mut deny) = (Tracker::default(), Tracker::default());
    let mut negate = false;
    for (name, value) in &args.filters.0 {
        if *name == "not" {
            if negate {
                bail!("--not cannot follow --not");
            }
            negate = true;
            continue;
        }
        let list = if negate { &mut deny } else { &mut allow };
        list.set(name, value)?;
        negate = false;
    }
    if negate {
        bail!("--not must be followed by a filter flag");
    }
    let mut whitelist = allow.filters();
    whitelist.extend(raw_filters("allowlist", &args.allowlist)?);
    let mut blacklist = deny.filters();
    blacklist.extend(raw_filters("denylist", &args.denylist)?);

    let (first, last) = (args.first.filter(|n| *n > 0), args.last.filter(|n| *n > 0));
    match (first, last) {
        (Some(_), Some(_)) => bail!("--first and --last cannot be combined"),
        (Some(_), _) if args.all => bail!("--first and --all cannot be combined"),
        (Some(_), _) if args.follow => bail!("--first and --follow cannot be combined"),
        (_, Some(_)) if args.all => bail!("--last and --all cannot be combined"),
        _ => {}
    }
    let since = args.since.as_deref().map(|s| parse_time("since", s, now)).transpose()?;
    // Following has no end.
    let until = args.until.as_deref().filter(|_| !args.follow).map(|s| parse_time("until", s, now)).transpose()?;
    let ranged = since.is_some() || until.is_some();
    let number = match (first, last) {
        (Some(n), _) | (_, Some(n)) if ranged => bail!(
            "--{} {n} and --since/--until cannot be combined: a time range shows all its flows",
            if first.is_some() { "first" } else { "last" }
        ),
        (Some(n), _) | (_, Some(n)) => Some(n),
        _ if ranged => None,
        _ if args.all => Some(u64::MAX),
        _ if args.follow => None,
        _ => Some(DEFAULT_LAST),
    };
    let req = FlowsRequest { number, first: first.is_some(), follow: args.follow, whitelist, blacklist, since, until };
    req.compile().context("the filters contradict each other")?;
    Ok(req)
}

/// `--print-raw-filters`: the lists as Hubble prints them (YAML of JSON strings).
fn raw_filters_yaml(req: &FlowsRequest) -> anyhow::Result<String> {
    let mut out = String::new();
    for (key, filters) in [("allowlist", &req.whitelist), ("denylist", &req.blacklist)] {
        if filters.is_empty() {
            continue;
        }
        out.push_str(key);
        out.push_str(":\n");
        for f in filters {
            out.push_str(&format!("    - '{}'\n", serde_json::to_string(f)?.replace('\'', "''")));
        }
    }
    Ok(if out.is_empty() { "{}\n".to_owned() } else { out })
}

pub async fn run(args: ObserveArgs) -> anyhow::Result<()> {
    let req = flows_request(&args, Utc::now())?;
    let mut out = std::io::stdout().lock();
    if args.print_raw_filters {
        write!(out, "{}", raw_filters_yaml(&req)?)?;
        return Ok(());
    }
    if args.output == Output::Table && args.follow {
        bail!("-o table aligns its columns once the stream ends, so it cannot --follow");
    }
    let opts = PrintOptions { node_name: args.print_node_name };
    let mut stream = Client::new(&args.socket.socket).flows(&req).await?;
    let mut table = vec![print::table_header(&opts)];
    let mut blocks = 0usize;
    while let Some(line) = stream.next_line().await? {
        let text = match args.output {
            Output::Json | Output::Jsonpb => line,
            Output::Compact | Output::Dict | Output::Table => {
                let response: FlowResponse = serde_json::from_str(&line)?;
                match args.output {
                    Output::Table => {
                        table.push(print::table_row(&response, &opts));
                        continue;
                    }
                    Output::Dict => {
                        blocks += 1;
                        let block = print::dict(&response, &opts);
                        if blocks == 1 { block } else { format!("{DICT_SEPARATOR}\n{block}") }
                    }
                    _ => print::compact(&response, &opts),
                }
            }
        };
        // A closed stdout (`| head`) ends the stream quietly.
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
    if table.len() > 1 {
        // Ignored like any write to a closed stdout.
        let _ = write!(out, "{}", print::align_table(&table));
    }
    if req.follow {
        bail!("the agent closed the flow stream (it stopped)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ObserveArgs,
    }

    fn now() -> Timestamp {
        "2024-05-04T13:23:47Z".parse().unwrap()
    }

    fn request(argv: &[&str]) -> anyhow::Result<FlowsRequest> {
        let cli = Cli::try_parse_from(std::iter::once("observe").chain(argv.iter().copied()))?;
        flows_request(&cli.args, now())
    }

    /// The allowlist and denylist as JSON, as `--print-raw-filters` shows them.
    fn lists(argv: &[&str]) -> (String, String) {
        let req = request(argv).unwrap();
        (serde_json::to_string(&req.whitelist).unwrap(), serde_json::to_string(&req.blacklist).unwrap())
    }

    fn allow(argv: &[&str]) -> String {
        lists(argv).0
    }

    fn error(argv: &[&str]) -> String {
        format!("{:#}", request(argv).unwrap_err())
    }

    #[test]
    fn selection_defaults_as_hubble() {
        let plain = request(&[]).unwrap();
        assert_eq!((plain.number, plain.first, plain.follow), (Some(20), false, false));
        assert_eq!(request(&["-f"]).unwrap().number, None);
        assert_eq!(request(&["--last", "5", "-f"]).unwrap().number, Some(5));
        assert_eq!(request(&["--all"]).unwrap().number, Some(u64::MAX));
        let first = request(&["--first", "3"]).unwrap();
        assert_eq!((first.number, first.first), (Some(3), true));
        let since = request(&["--since", "1h43m", "--until", "2024-05-04T13:00:00+02:00"]).unwrap();
        assert_eq!(since.number, None);
        assert_eq!(since.since, Some("2024-05-04T11:40:47Z".parse().unwrap()));
        assert_eq!(since.until, Some("2024-05-04T11:00:00Z".parse().unwrap()));
        assert_eq!(request(&["--since", "300ms"]).unwrap().since, Some("2024-05-04T13:23:46.700Z".parse().unwrap()));
        assert_eq!(request(&["-f", "--until", "1m"]).unwrap().until, None, "following has no end");
        assert!(error(&["--first", "1", "--last", "1"]).contains("--first and --last cannot be combined"));
        assert!(error(&["--first", "1", "-f"]).contains("cannot be combined"));
        assert!(error(&["--last", "1", "--all"]).contains("cannot be combined"));
        assert!(error(&["--last", "5", "--since", "1m"]).contains("--last 5 and --since/--until cannot be combined"));
        assert_eq!(
            error(&["--since", "yesterday"]),
            r#"invalid --since "yesterday": expected a time ago (3s, 4m, 1h43m) or RFC 3339"#
        );
    }

    #[test]
    fn same_flag_ors_different_flags_and() {
        assert_eq!(
            allow(&["--from-pod", "default/xwing", "--to-port", "80", "--to-port", "443", "--verdict", "dropped"]),
            r#"[{"source_pod":["default/xwing"],"verdict":["DROPPED"],"destination_port":["80","443"]}]"#
        );
    }

    #[test]
    fn either_side_flags_make_two_filters() {
        assert_eq!(
            allow(&["--pod", "xwing"]),
            r#"[{"source_pod":["default/xwing"]},{"destination_pod":["default/xwing"]}]"#
        );
        assert_eq!(
            allow(&["--ip", "10.0.0.0/8", "--protocol", "tcp"]),
            r#"[{"source_ip":["10.0.0.0/8"],"protocol":["tcp"]},{"destination_ip":["10.0.0.0/8"],"protocol":["tcp"]}]"#
        );
        assert_eq!(
            allow(&["-l", "k8s:app=web", "--port", "53"]),
            r#"[{"source_label":["k8s:app=web"],"source_port":["53"]},{"destination_label":["k8s:app=web"],"destination_port":["53"]}]"#
        );
        assert_eq!(
            allow(&["--fqdn", "*.github.com", "--identity", "world", "--workload", "Deployment/"]),
            r#"[{"source_fqdn":["*.github.com"],"source_workload":[{"name":"","kind":"Deployment"}],"source_identity":[2]},{"destination_fqdn":["*.github.com"],"destination_workload":[{"name":"","kind":"Deployment"}],"destination_identity":[2]}]"#
        );
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            allow(&["-n", "kube-system"]),
            r#"[{"source_pod":["kube-system/"]},{"destination_pod":["kube-system/"]}]"#
        );
        assert_eq!(
            allow(&["--pod", "coredns", "-n", "kube-system", "--protocol", "udp"]),
            r#"[{"source_pod":["kube-system/coredns"],"protocol":["udp"]},{"destination_pod":["kube-system/coredns"],"protocol":["udp"]}]"#
        );
        assert_eq!(
            allow(&["--from-namespace", "a", "--to-namespace", "b", "--to-namespace", "c"]),
            r#"[{"source_pod":["a/"],"destination_pod":["b/","c/"]}]"#
        );
        assert_eq!(allow(&["--to-pod", "web", "--to-namespace", "shop"]), r#"[{"destination_pod":["shop/web"]}]"#);
        assert_eq!(
            allow(&["-A", "--pod", "coredns"]),
            r#"[{"source_pod":["/coredns"]},{"destination_pod":["/coredns"]}]"#
        );
        assert_eq!(
            error(&["-n", "kube-system", "--pod", "default/xwing"]),
            r#"namespace conflict: "kube-system" does not contain "default/xwing""#
        );
        assert!(error(&["-n", "a/b"]).starts_with(r#"invalid --namespace "a/b""#));
    }

    #[test]
    fn not_puts_the_next_flag_in_the_denylist() {
        let (allow, deny) =
            lists(&["--from-ip", "10.0.0.1", "--not", "--to-port", "53", "--not", "--protocol", "icmp"]);
        assert_eq!(allow, r#"[{"source_ip":["10.0.0.1"]}]"#);
        assert_eq!(deny, r#"[{"protocol":["icmp"],"destination_port":["53"]}]"#);
        let (allow, deny) = lists(&["--not", "--pod", "xwing", "--verdict", "DROPPED"]);
        assert_eq!(allow, r#"[{"verdict":["DROPPED"]}]"#);
        assert_eq!(deny, r#"[{"source_pod":["default/xwing"]},{"destination_pod":["default/xwing"]}]"#);
        let (allow, deny) = lists(&["--not", "-4", "--ipv6", "--not", "-n", "kube-system"]);
        assert_eq!(allow, r#"[{"ip_version":["IPv6"]}]"#);
        assert_eq!(
            deny,
            r#"[{"source_pod":["kube-system/"],"ip_version":["IPv4"]},{"destination_pod":["kube-system/"],"ip_version":["IPv4"]}]"#
        );
        assert_eq!(error(&["--not", "--not", "--pod", "x"]), "--not cannot follow --not");
        assert_eq!(error(&["--pod", "x", "--not"]), "--not must be followed by a filter flag");
        assert_eq!(lists(&["--pod", "a", "--not", "--from-pod", "b"]).1, r#"[{"source_pod":["default/b"]}]"#);
    }

    #[test]
    fn conflicting_flags() {
        assert_eq!(error(&["--pod", "a", "--from-pod", "b"]), "filters --from-pod and --pod cannot be combined");
        assert_eq!(error(&["--ip", "10.0.0.1", "-n", "x"]), "filters --ip and --namespace cannot be combined");
        assert_eq!(error(&["--from-pod", "a", "-A"]), "filters --from-pod and --all-namespaces cannot be combined");
        assert_eq!(error(&["--label", "a", "--to-label", "b"]), "filters --label and --to-label cannot be combined");
        assert!(
            request(&["--from-ip", "10.0.0.1", "--to-ip", "10.0.0.2", "--from-port", "1", "--to-port", "2"]).is_ok()
        );
    }

    #[test]
    fn typed_values() {
        assert_eq!(
            allow(&[
                "-t",
                "trace:to-stack",
                "-t",
                "drop",
                "-t",
                "129",
                "--tcp-flags",
                "syn,ACK",
                "--traffic-direction",
                "Ingress"
            ]),
            r#"[{"traffic_direction":["INGRESS"],"event_type":[{"type":4,"match_sub_type":true,"sub_type":3},{"type":1},{"type":129}],"tcp_flags":[{"SYN":true,"ACK":true}]}]"#
        );
        assert_eq!(
            allow(&[
                "--type",
                "trace:to-endpoint",
                "--drop-reason-desc",
                "policy_denied",
                "--uuid",
                "u1",
                "--node-name",
                "kind-*"
            ]),
            r#"[{"uuid":["u1"],"drop_reason_desc":["POLICY_DENIED"],"event_type":[{"type":4,"match_sub_type":true}],"node_name":["kind-*"]}]"#
        );
        assert_eq!(
            allow(&["--from-identity", "1234", "--to-workload", "web", "--http-method", "get", "--http-status", "5+"]),
            r#"[{"destination_workload":[{"name":"web"}],"http_status_code":["5+"],"source_identity":[1234],"http_method":["get"]}]"#
        );
    }

    #[test]
    fn invalid_values_name_the_flag() {
        let starts = |argv: &[&str], prefix: &str| {
            let e = error(argv);
            assert!(e.starts_with(prefix), "{e}");
        };
        starts(&["--from-ip", "10.0.0.300"], r#"invalid --from-ip "10.0.0.300": not an IP address"#);
        starts(&["--ip", "10.0.0.0/40"], r#"invalid --ip "10.0.0.0/40": not a CIDR"#);
        starts(&["--port", "http"], r#"invalid --port "http": not a port number"#);
        starts(&["--verdict", "MAYBE"], r#"invalid --verdict "MAYBE": expected FORWARDED"#);
        starts(&["--drop-reason-desc", "NOPE"], r#"invalid --drop-reason-desc "NOPE": Scry reports"#);
        starts(&["-t", "foo"], r#"invalid --type "foo": "foo" is neither a number nor one of drop"#);
        starts(&["-t", "trace:to-moon"], r#"invalid --type "trace:to-moon": sub type "to-moon""#);
        starts(&["--http-path", "("], r#"invalid --http-path "(": regex parse error"#);
        starts(&["--http-status", "600"], r#"invalid --http-status "600""#);
        starts(&["--tcp-flags", "SYN,FOO"], r#"invalid --tcp-flags "SYN,FOO": "FOO" is not one of"#);
        starts(&["-l", "a b"], r#"invalid --label "a b": bad label selector"#);
        starts(&["--protocol", "sctp"], r#"invalid --protocol "sctp""#);
        starts(&["--to-identity", "nobody"], r#"invalid --to-identity "nobody": expected a number or one of"#);
        starts(&["--traffic-direction", "up"], r#"invalid --traffic-direction "up""#);
        starts(&["--fqdn", "a b"], r#"invalid --fqdn "a b""#);
        starts(&["--node-name", "a/b/c"], r#"invalid --node-name "a/b/c""#);
        starts(&["--workload", "/"], r#"invalid --workload "/""#);
        starts(&["-t", "drop", "--http-status", "404"], "the filters contradict each other: invalid http_status_code");
    }

    #[test]
    fn raw_lists() {
        let req = request(&["--pod", "x", "--allowlist", r#"{"reply":[true]} {"dns_query":["github"]}"#]).unwrap();
        assert_eq!(req.whitelist.len(), 4);
        assert_eq!(req.whitelist[2].reply, vec![true]);
        assert_eq!(
            serde_json::to_string(&request(&["--denylist", r#"{"source_ip":["1.2.3.4"]}"#]).unwrap().blacklist)
                .unwrap(),
            r#"[{"source_ip":["1.2.3.4"]}]"#
        );
        assert!(error(&["--allowlist", r#"{"source_service":["x"]}"#]).contains("unknown field `source_service`"));
        assert!(error(&["--denylist", r#"{"source_ip":["x"]}"#]).contains(r#"invalid source_ip "x""#));
    }

    #[test]
    fn raw_filters_print_as_hubble() {
        let req = request(&["--pod", "it's", "--not", "--port", "53"]).unwrap();
        assert_eq!(
            raw_filters_yaml(&req).unwrap(),
            "allowlist:\n    - '{\"source_pod\":[\"default/it''s\"]}'\n    - '{\"destination_pod\":[\"default/it''s\"]}'\n\
             denylist:\n    - '{\"source_port\":[\"53\"]}'\n    - '{\"destination_port\":[\"53\"]}'\n"
        );
        assert_eq!(raw_filters_yaml(&request(&[]).unwrap()).unwrap(), "{}\n");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h43m"), Some(Duration::minutes(103)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::milliseconds(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::zero()));
        for bad in ["", "5", "1d", "h", "-3s", "3 s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
