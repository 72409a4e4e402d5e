//! Hubble FlowFilter semantics (allowlist/denylist), and the request `scry observe` sends.
//!
//! A flow passes a request's filters iff it matches at least one allowlist
//! filter (an empty allowlist allows everything) and no denylist filter.
//! Within one [`FlowFilter`] every field that is set must match; within one
//! field any of its values may.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{
    DropReason, EVENT_TYPE_L7, Endpoint, Flow, FlowBody, FlowResponse, IpVersion, Layer4, TcpFlags, TrafficDirection,
    Verdict, Workload,
};
use crate::event::Timestamp;

/// Cilium's monitor message types by the names `--type` takes.
pub const EVENT_TYPE_NAMES: &[(&str, i32)] = &[
    ("drop", 1),
    ("debug", 2),
    ("capture", 3),
    ("trace", 4),
    ("policy-verdict", 5),
    ("recorder", 6),
    ("trace-sock", 7),
    ("l7", 129),
    ("agent", 130),
];

/// Cilium's trace observation points as a trace event's sub type (the
/// datapath's numbering, which `--type trace:<name>` sends).
pub const TRACE_OBSERVATION_POINTS: &[(&str, i32)] = &[
    ("to-endpoint", 0),
    ("to-proxy", 1),
    ("to-host", 2),
    ("to-stack", 3),
    ("to-overlay", 4),
    ("from-endpoint", 5),
    ("from-proxy", 6),
    ("from-host", 7),
    ("from-stack", 8),
    ("from-overlay", 9),
    ("from-network", 10),
    ("to-network", 11),
    ("from-crypto", 12),
    ("to-crypto", 13),
];

/// Cilium's reserved security identities by name, as `--identity` takes them.
pub const RESERVED_IDENTITIES: &[(&str, u32)] = &[
    ("unknown", 0),
    ("host", 1),
    ("world", 2),
    ("unmanaged", 3),
    ("health", 4),
    ("init", 5),
    ("remote-node", 6),
    ("kube-apiserver", 7),
    ("ingress", 8),
    ("world-ipv4", 9),
    ("world-ipv6", 10),
];

/// The namespace Hubble assumes for a pod filter value without one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Hubble prefixes node names that lack a cluster with this one.
const DEFAULT_CLUSTER: &str = "default";

/// Hubble's `FlowFilter`, the fields Scry can match. Hubble's other fields
/// (service, cluster, SNAT IP, interface, CEL expressions, trace ids, node
/// labels, HTTP headers) are refused by name rather than ignored: Scry's flows
/// never carry them, so a filter on them would silently match nothing or
/// everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uuid: Vec<String>,
    /// Exact IPs or CIDRs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_ip: Vec<String>,
    /// `[namespace/]pod-name-prefix`; `namespace/` is the whole namespace, a
    /// value without `/` is in namespace `default`, and `/prefix` (what
    /// `--all-namespaces` writes) is in any namespace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_pod: Vec<String>,
    /// FQDN patterns with `*` wildcards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_fqdn: Vec<String>,
    /// Kubernetes label selectors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_label: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_workload: Vec<Workload>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_ip: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_pod: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_fqdn: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_label: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_workload: Vec<Workload>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic_direction: Vec<TrafficDirection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verdict: Vec<Verdict>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drop_reason_desc: Vec<DropReason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_type: Vec<EventTypeFilter>,
    /// `404` exact, or a prefix such as `4+` or `50+`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_status_code: Vec<String>,
    /// `tcp`, `udp`, `icmp`, `icmpv4`, `icmpv6`, `dns`, `http`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocol: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_port: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_port: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reply: Vec<bool>,
    /// Regexes on the DNS query name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_query: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_identity: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_identity: Vec<u32>,
    /// Case-insensitive.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_method: Vec<String>,
    /// Regexes on the URL's path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_path: Vec<String>,
    /// Regexes on the whole URL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_url: Vec<String>,
    /// One value matches when all of its flags are set on the flow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_flags: Vec<TcpFlags>,
    /// `[cluster/]node` patterns with `*` wildcards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_name: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_version: Vec<IpVersion>,
}

/// Hubble's `EventTypeFilter`: a monitor message type (0 = any) and, when
/// `match_sub_type` is set, its sub type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventTypeFilter {
    #[serde(rename = "type")]
    pub event_type: i32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub match_sub_type: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub sub_type: i32,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// Hubble's `GetFlowsRequest`, the fields Scry serves: what `POST /v1/flows` takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsRequest {
    /// How many flows from the buffer: the last ones, or the first ones with
    /// `first`. Absent: all of the time range, or none when following.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub first: bool,
    /// Keep streaming new flows after the buffered ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
    /// The allowlist (Hubble's name for it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub whitelist: Vec<FlowFilter>,
    /// The denylist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blacklist: Vec<FlowFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// A filter value Scry cannot use, named by its field.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: {reason}")]
pub struct FlowFilterError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

fn error(field: &'static str, value: &str, reason: impl Into<String>) -> FlowFilterError {
    FlowFilterError { field, value: value.to_owned(), reason: reason.into() }
}

impl FlowsRequest {
    /// Checks the request and compiles its filters.
    pub fn compile(&self) -> Result<CompiledFilters, FlowFilterError> {
        if let Some(n) = self.number
            && (self.since.is_some() || self.until.is_some())
        {
            return Err(error("number", &n.to_string(), "a number of flows and a time range exclude each other"));
        }
        if self.first && self.follow {
            return Err(error("first", "true", "the first flows cannot be followed"));
        }
        let compile = |filters: &[FlowFilter]| filters.iter().map(FlowFilter::compile).collect::<Result<Vec<_>, _>>();
        Ok(CompiledFilters { allow: compile(&self.whitelist)?, deny: compile(&self.blacklist)? })
    }
}

/// A request's allowlist and denylist, ready to match.
#[derive(Clone, Debug, Default)]
pub struct CompiledFilters {
    allow: Vec<CompiledFlowFilter>,
    deny: Vec<CompiledFlowFilter>,
}

impl CompiledFilters {
    pub fn matches(&self, flow: &Flow) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|f| f.matches(flow)))
            && !self.deny.iter().any(|f| f.matches(flow))
    }

    /// Lost-flow notices concern the stream itself and always pass, as in Hubble.
    pub fn matches_response(&self, response: &FlowResponse) -> bool {
        match &response.body {
            FlowBody::Flow(flow) => self.matches(flow),
            FlowBody::LostEvents(_) => true,
        }
    }
}

/// One [`FlowFilter`], compiled: every check must pass.
#[derive(Clone, Debug, Default)]
pub struct CompiledFlowFilter {
    checks: Vec<Check>,
}

impl CompiledFlowFilter {
    pub fn matches(&self, flow: &Flow) -> bool {
        self.checks.iter().all(|c| c.matches(flow))
    }
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Source,
    Destination,
}

impl Side {
    fn endpoint(self, flow: &Flow) -> Option<&Endpoint> {
        match self {
            Side::Source => flow.source.as_ref(),
            Side::Destination => flow.destination.as_ref(),
        }
    }

    fn ip(self, flow: &Flow) -> Option<&str> {
        let ip = flow.ip.as_ref()?;
        let s = match self {
            Side::Source => &ip.source,
            Side::Destination => &ip.destination,
        };
        (!s.is_empty()).then_some(s.as_str())
    }

    fn port(self, flow: &Flow) -> Option<u16> {
        let (src, dst) = flow.l4.as_ref()?.ports()?;
        Some(match self {
            Side::Source => src,
            Side::Destination => dst,
        })
    }

    fn names(self, flow: &Flow) -> &[String] {
        match self {
            Side::Source => &flow.source_names,
            Side::Destination => &flow.destination_names,
        }
    }
}

#[derive(Clone, Debug)]
enum Check {
    Uuid(Vec<String>),
    Ip(Side, Vec<IpMatch>),
    Pod(Side, Vec<PodMatch>),
    Fqdn(Side, Regex),
    Label(Side, Vec<Selector>),
    Workload(Side, Vec<Workload>),
    Identity(Side, Vec<u32>),
    Port(Side, Vec<u16>),
    TrafficDirection(Vec<TrafficDirection>),
    Verdict(Vec<Verdict>),
    DropReason(Vec<DropReason>),
    EventType(Vec<EventTypeFilter>),
    HttpStatus { exact: Vec<String>, prefix: Vec<String> },
    Protocol(Vec<Protocol>),
    Reply(Vec<bool>),
    DnsQuery(Vec<Regex>),
    HttpMethod(Vec<String>),
    HttpPath(Vec<Regex>),
    HttpUrl(Vec<Regex>),
    TcpFlags(Vec<TcpFlags>),
    NodeName(Regex),
    IpVersion(Vec<IpVersion>),
}

impl Check {
    fn matches(&self, flow: &Flow) -> bool {
        let http = || flow.l7.as_ref().and_then(|l7| l7.http.as_ref());
        match self {
            Check::Uuid(ids) => ids.contains(&flow.uuid),
            Check::Ip(side, ips) => side
                .ip(flow)
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| ips.iter().any(|m| m.contains(ip))),
            Check::Pod(side, pods) => side.endpoint(flow).is_some_and(|ep| pods.iter().any(|p| p.matches(ep))),
            Check::Fqdn(side, re) => side.names(flow).iter().any(|name| re.is_match(&canonical_name(name))),
            Check::Label(side, selectors) => {
                let labels: Vec<Label> =
                    side.endpoint(flow).map_or_else(Vec::new, |ep| ep.labels.iter().map(|l| Label::parse(l)).collect());
                selectors.iter().any(|s| s.matches(&labels))
            }
            Check::Workload(side, wanted) => side.endpoint(flow).is_some_and(|ep| {
                ep.workloads.iter().any(|w| {
                    wanted
                        .iter()
                        .any(|f| (f.name.is_empty() || f.name == w.name) && (f.kind.is_empty() || f.kind == w.kind))
                })
            }),
            Check::Identity(side, ids) => side.endpoint(flow).is_some_and(|ep| ids.contains(&ep.identity)),
            Check::Port(side, ports) => side.port(flow).is_some_and(|p| ports.contains(&p)),
            Check::TrafficDirection(dirs) => dirs.contains(&flow.traffic_direction),
            Check::Verdict(verdicts) => verdicts.contains(&flow.verdict),
            Check::DropReason(reasons) => reasons.contains(&flow.drop_reason_desc),
            Check::EventType(types) => flow.event_type.is_some_and(|ev| {
                types.iter().any(|t| {
                    (t.event_type == 0 || t.event_type == ev.event_type)
                        && (!t.match_sub_type || t.sub_type == ev.sub_type)
                })
            }),
            Check::HttpStatus { exact, prefix } => http().filter(|h| h.code != 0).is_some_and(|h| {
                let code = format!("{:03}", h.code);
                exact.contains(&code) || prefix.iter().any(|p| code.starts_with(p.as_str()))
            }),
            Check::Protocol(protocols) => protocols.iter().any(|p| p.matches(flow)),
            Check::Reply(wanted) => {
                // As Hubble: a drop of unknown direction counts as a request,
                // because older clients filtered drops on the deprecated
                // `reply` field, which was false for them.
                if flow.is_reply.is_none() && flow.verdict != Verdict::Dropped {
                    return false;
                }
                wanted.contains(&flow.is_reply.unwrap_or(false))
            }
            Check::DnsQuery(res) => flow
                .l7
                .as_ref()
                .and_then(|l7| l7.dns.as_ref())
                .is_some_and(|dns| res.iter().any(|re| re.is_match(&dns.query))),
            Check::HttpMethod(methods) => http()
                .filter(|h| !h.method.is_empty())
                .is_some_and(|h| methods.iter().any(|m| m.eq_ignore_ascii_case(&h.method))),
            Check::HttpPath(res) => {
                http().and_then(|h| url_path(&h.url)).is_some_and(|path| res.iter().any(|re| re.is_match(path)))
            }
            Check::HttpUrl(res) => {
                http().filter(|h| !h.url.is_empty()).is_some_and(|h| res.iter().any(|re| re.is_match(&h.url)))
            }
            Check::TcpFlags(wanted) => match &flow.l4 {
                Some(Layer4::Tcp(tcp)) => tcp.flags.is_some_and(|have| wanted.iter().any(|w| flags_subset(w, &have))),
                _ => false,
            },
            Check::NodeName(re) => {
                if flow.node_name.is_empty() {
                    return false;
                }
                let name = flow.node_name.to_ascii_lowercase();
                if name.contains('/') { re.is_match(&name) } else { re.is_match(&format!("{DEFAULT_CLUSTER}/{name}")) }
            }
            Check::IpVersion(versions) => {
                versions.contains(&flow.ip.as_ref().map_or(IpVersion::IpNotUsed, |ip| ip.ip_version))
            }
        }
    }
}

fn flags_subset(want: &TcpFlags, have: &TcpFlags) -> bool {
    let pairs = [
        (want.fin, have.fin),
        (want.syn, have.syn),
        (want.rst, have.rst),
        (want.psh, have.psh),
        (want.ack, have.ack),
        (want.urg, have.urg),
        (want.ece, have.ece),
        (want.cwr, have.cwr),
        (want.ns, have.ns),
    ];
    pairs.iter().all(|&(w, h)| !w || h)
}

/// The path of a request URL (`http://host/p?q` or `/p?q`), as Go's
/// `url.ParseRequestURI` finds it; `None` for what that function refuses.
fn url_path(url: &str) -> Option<&str> {
    let rest = match url.split_once("://") {
        Some((_, after)) => after.find('/').map_or("", |i| &after[i..]),
        None if url.starts_with('/') => url,
        None => return None,
    };
    Some(rest.split_once('?').map_or(rest, |(path, _)| path))
}

/// DNS names compare lowercased and without the root's trailing dot.
fn canonical_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[derive(Clone, Debug)]
enum IpMatch {
    Exact(IpAddr),
    Cidr(IpNet),
}

impl IpMatch {
    fn parse(field: &'static str, s: &str) -> Result<IpMatch, FlowFilterError> {
        if s.contains('/') {
            s.parse().map(IpMatch::Cidr).map_err(|e| error(field, s, format!("not a CIDR: {e}")))
        } else {
            s.parse().map(IpMatch::Exact).map_err(|e| error(field, s, format!("not an IP address: {e}")))
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match self {
            IpMatch::Exact(want) => *want == ip,
            IpMatch::Cidr(net) => net.contains(&ip),
        }
    }
}

#[derive(Clone, Debug)]
struct PodMatch {
    /// `None`: any namespace.
    namespace: Option<String>,
    prefix: String,
}

impl PodMatch {
    fn parse(field: &'static str, s: &str) -> Result<PodMatch, FlowFilterError> {
        if s.is_empty() {
            return Err(error(field, s, "expected [namespace/]pod-name-prefix"));
        }
        Ok(match s.split_once('/') {
            Some(("", prefix)) => PodMatch { namespace: None, prefix: prefix.to_owned() },
            Some((ns, prefix)) => PodMatch { namespace: Some(ns.to_owned()), prefix: prefix.to_owned() },
            None => PodMatch { namespace: Some(DEFAULT_NAMESPACE.to_owned()), prefix: s.to_owned() },
        })
    }

    /// Endpoints that are not pods never match, as in Hubble.
    fn matches(&self, ep: &Endpoint) -> bool {
        !ep.pod_name.is_empty()
            && self.namespace.as_ref().is_none_or(|ns| *ns == ep.namespace)
            && ep.pod_name.starts_with(&self.prefix)
    }
}

/// An endpoint label, `source:key=value` (`k8s:app=web`, `reserved:world`).
struct Label<'a> {
    source: &'a str,
    key: &'a str,
    value: &'a str,
}

impl<'a> Label<'a> {
    fn parse(s: &'a str) -> Label<'a> {
        let (key, value) = s.split_once('=').unwrap_or((s, ""));
        let (source, key) = key.split_once(':').unwrap_or(("", key));
        Label { source, key, value }
    }
}

/// One requirement of a Kubernetes label selector. The key may name Cilium's
/// label source (`k8s:app`); without one (or with `any:`) it matches a label
/// of any source.
#[derive(Clone, Debug)]
struct Requirement {
    source: Option<String>,
    key: String,
    op: LabelOp,
}

#[derive(Clone, Debug)]
enum LabelOp {
    Exists,
    NotExists,
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// A Kubernetes label selector: comma-separated requirements, all of which must hold.
#[derive(Clone, Debug)]
struct Selector(Vec<Requirement>);

impl Selector {
    fn parse(field: &'static str, s: &str) -> Result<Selector, FlowFilterError> {
        let set_re = Regex::new(r"^([^\s=!()]+)\s+(in|notin)\s*\(([^()]*)\)$").expect("static regex");
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            let (key, op) = if let Some(c) = set_re.captures(part) {
                let values = c[3].split(',').map(|v| v.trim().to_owned()).collect();
                (c[1].to_owned(), if &c[2] == "in" { LabelOp::In(values) } else { LabelOp::NotIn(values) })
            } else if let Some(key) = part.strip_prefix('!') {
                (key.trim().to_owned(), LabelOp::NotExists)
            } else if let Some((key, value)) = part.split_once("!=") {
                (key.trim().to_owned(), LabelOp::NotIn(vec![value.trim().to_owned()]))
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (key.trim().to_owned(), LabelOp::In(vec![value.trim().to_owned()]))
            } else {
                (part.to_owned(), LabelOp::Exists)
            };
            let valid_key = |k: &str| {
                !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
            };
            if !valid_key(&key) {
                return Err(error(field, s, format!("bad label selector requirement {part:?}")));
            }
            let (source, key) = match key.split_once(':') {
                Some(("any", key)) => (None, key.to_owned()),
                Some((source, key)) => (Some(source.to_owned()), key.to_owned()),
                None => (None, key),
            };
            requirements.push(Requirement { source, key, op });
        }
        Ok(Selector(requirements))
    }

    fn matches(&self, labels: &[Label]) -> bool {
        self.0.iter().all(|r| {
            let mut values = labels
                .iter()
                .filter(|l| l.key == r.key && r.source.as_ref().is_none_or(|s| s == l.source))
                .map(|l| l.value);
            match &r.op {
                LabelOp::Exists => values.next().is_some(),
                LabelOp::NotExists => values.next().is_none(),
                LabelOp::In(set) => values.any(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => !values.any(|v| set.iter().any(|s| s == v)),
            }
        })
    }
}

/// Splits on commas outside parentheses (`a=b,c in (x,y)` is two requirements).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Hubble's FQDN pattern: lowercase, one trailing dot ignored, `*` for any
/// run of name characters (dots included).
fn fqdn_pattern_regex(field: &'static str, pattern: &str, out: &mut String) -> Result<(), FlowFilterError> {
    let p = pattern.trim();
    let p = p.strip_suffix('.').unwrap_or(p).to_ascii_lowercase();
    if p.is_empty() {
        return Err(error(field, pattern, "empty pattern"));
    }
    if p.ends_with('.') {
        return Err(error(field, pattern, "more than one trailing dot"));
    }
    for c in p.chars() {
        match c {
            '.' => out.push_str(r"\."),
            '*' => out.push_str("[-.0-9a-z_]*"),
            '-' | '_' | '0'..='9' | 'a'..='z' => out.push(c),
            _ => return Err(error(field, pattern, format!("{c:?} is not allowed in a name pattern"))),
        }
    }
    Ok(())
}

const ANY_NAME: &str = r"(?:[-0-9_a-z]+(?:\.[-0-9_a-z]+)*)";

fn compile_fqdn(field: &'static str, patterns: &[String]) -> Result<Regex, FlowFilterError> {
    let mut re = String::from(r"\A(?:");
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            re.push('|');
        }
        fqdn_pattern_regex(field, p, &mut re)?;
    }
    re.push_str(r")\z");
    Ok(Regex::new(&re).expect("built from escaped characters"))
}

/// `[cluster/]node` patterns; an empty or absent part matches any name.
fn compile_node_names(patterns: &[String]) -> Result<Regex, FlowFilterError> {
    const FIELD: &str = "node_name";
    let mut re = String::from(r"\A(?:");
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            re.push('|');
        }
        if p.is_empty() {
            return Err(error(FIELD, p, "empty pattern"));
        }
        let (cluster, node) = match p.split('/').collect::<Vec<_>>()[..] {
            [node] => ("", node),
            [cluster, node] => (cluster, node),
            _ => return Err(error(FIELD, p, "more than one '/'")),
        };
        for (i, part) in [cluster, node].into_iter().enumerate() {
            if i == 1 {
                re.push('/');
            }
            if part.is_empty() {
                re.push_str(ANY_NAME);
            } else {
                fqdn_pattern_regex(FIELD, part, &mut re)?;
            }
        }
    }
    re.push_str(r")\z");
    Ok(Regex::new(&re).expect("built from escaped characters"))
}

fn compile_regexes(field: &'static str, patterns: &[String]) -> Result<Vec<Regex>, FlowFilterError> {
    patterns.iter().map(|p| Regex::new(p).map_err(|e| error(field, p, e.to_string()))).collect()
}

fn parse_ports(field: &'static str, ports: &[String]) -> Result<Vec<u16>, FlowFilterError> {
    ports.iter().map(|p| p.parse().map_err(|_| error(field, p, "not a port number (0-65535)"))).collect()
}

#[derive(Clone, Copy, Debug)]
enum Protocol {
    Tcp,
    Udp,
    Icmp,
    IcmpV4,
    IcmpV6,
    Dns,
    Http,
}

const DNS_PORT: u16 = 53;

impl Protocol {
    fn parse(s: &str) -> Result<Protocol, FlowFilterError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "icmpv4" => Protocol::IcmpV4,
            "icmpv6" => Protocol::IcmpV6,
            "dns" => Protocol::Dns,
            "http" => Protocol::Http,
            _ => return Err(error("protocol", s, "Scry knows tcp, udp, icmp, icmpv4, icmpv6, dns, http")),
        })
    }

    fn matches(self, flow: &Flow) -> bool {
        let l7 = flow.l7.as_ref();
        match (self, &flow.l4) {
            (Protocol::Tcp, Some(Layer4::Tcp(_))) | (Protocol::Udp, Some(Layer4::Udp(_))) => true,
            (Protocol::Icmp | Protocol::IcmpV4, Some(Layer4::IcmpV4(_))) => true,
            (Protocol::Icmp | Protocol::IcmpV6, Some(Layer4::IcmpV6(_))) => true,
            // Unlike Hubble, whose DNS flows all come from its DNS proxy, Scry
            // also sees DNS as plain packets, which are DNS by their port.
            (Protocol::Dns, l4) => {
                l7.is_some_and(|l7| l7.dns.is_some())
                    || l4.as_ref().and_then(Layer4::ports).is_some_and(|(s, d)| s == DNS_PORT || d == DNS_PORT)
            }
            (Protocol::Http, _) => l7.is_some_and(|l7| l7.http.is_some()),
            _ => false,
        }
    }
}

impl FlowFilter {
    pub fn compile(&self) -> Result<CompiledFlowFilter, FlowFilterError> {
        let mut checks = Vec::new();
        let mut push = |check: Check, values_len: usize| {
            if values_len > 0 {
                checks.push(check);
            }
        };
        push(Check::Uuid(self.uuid.clone()), self.uuid.len());
        for (side, ips, field) in
            [(Side::Source, &self.source_ip, "source_ip"), (Side::Destination, &self.destination_ip, "destination_ip")]
        {
            let parsed = ips.iter().map(|s| IpMatch::parse(field, s)).collect::<Result<_, _>>()?;
            push(Check::Ip(side, parsed), ips.len());
        }
        for (side, pods, field) in [
            (Side::Source, &self.source_pod, "source_pod"),
            (Side::Destination, &self.destination_pod, "destination_pod"),
        ] {
            let parsed = pods.iter().map(|s| PodMatch::parse(field, s)).collect::<Result<_, _>>()?;
            push(Check::Pod(side, parsed), pods.len());
        }
        for (side, patterns, field) in [
            (Side::Source, &self.source_fqdn, "source_fqdn"),
            (Side::Destination, &self.destination_fqdn, "destination_fqdn"),
        ] {
            if !patterns.is_empty() {
                push(Check::Fqdn(side, compile_fqdn(field, patterns)?), patterns.len());
            }
        }
        for (side, selectors, field) in [
            (Side::Source, &self.source_label, "source_label"),
            (Side::Destination, &self.destination_label, "destination_label"),
        ] {
            let parsed = selectors.iter().map(|s| Selector::parse(field, s)).collect::<Result<_, _>>()?;
            push(Check::Label(side, parsed), selectors.len());
        }
        push(Check::Workload(Side::Source, self.source_workload.clone()), self.source_workload.len());
        push(Check::Workload(Side::Destination, self.destination_workload.clone()), self.destination_workload.len());
        push(Check::Identity(Side::Source, self.source_identity.clone()), self.source_identity.len());
        push(Check::Identity(Side::Destination, self.destination_identity.clone()), self.destination_identity.len());
        push(Check::Port(Side::Source, parse_ports("source_port", &self.source_port)?), self.source_port.len());
        push(
            Check::Port(Side::Destination, parse_ports("destination_port", &self.destination_port)?),
            self.destination_port.len(),
        );
        push(Check::TrafficDirection(self.traffic_direction.clone()), self.traffic_direction.len());
        push(Check::Verdict(self.verdict.clone()), self.verdict.len());
        push(Check::DropReason(self.drop_reason_desc.clone()), self.drop_reason_desc.len());
        push(Check::EventType(self.event_type.clone()), self.event_type.len());
        self.check_http_needs_l7()?;
        let (mut exact, mut prefix) = (Vec::new(), Vec::new());
        let exact_re = Regex::new(r"^[1-5][0-9]{2}$").expect("static regex");
        let prefix_re = Regex::new(r"^[1-5][0-9]?\+$").expect("static regex");
        for code in &self.http_status_code {
            if exact_re.is_match(code) {
                exact.push(code.clone());
            } else if prefix_re.is_match(code) {
                prefix.push(code.trim_end_matches('+').to_owned());
            } else {
                return Err(error(
                    "http_status_code",
                    code,
                    "expected a code such as 404 or a prefix such as 4+ or 50+",
                ));
            }
        }
        push(Check::HttpStatus { exact, prefix }, self.http_status_code.len());
        let protocols = self.protocol.iter().map(|p| Protocol::parse(p)).collect::<Result<_, _>>()?;
        push(Check::Protocol(protocols), self.protocol.len());
        push(Check::Reply(self.reply.clone()), self.reply.len());
        push(Check::DnsQuery(compile_regexes("dns_query", &self.dns_query)?), self.dns_query.len());
        push(Check::HttpMethod(self.http_method.clone()), self.http_method.len());
        push(Check::HttpPath(compile_regexes("http_path", &self.http_path)?), self.http_path.len());
        push(Check::HttpUrl(compile_regexes("http_url", &self.http_url)?), self.http_url.len());
        push(Check::TcpFlags(self.tcp_flags.clone()), self.tcp_flags.len());
        if !self.node_name.is_empty() {
            push(Check::NodeName(compile_node_names(&self.node_name)?), self.node_name.len());
        }
        push(Check::IpVersion(self.ip_version.clone()), self.ip_version.len());
        Ok(CompiledFlowFilter { checks })
    }

    /// As Hubble: HTTP fields only exist on L7 flows, so an event type
    /// filter that excludes them makes an HTTP filter a contradiction.
    fn check_http_needs_l7(&self) -> Result<(), FlowFilterError> {
        if self.event_type.is_empty() || self.event_type.iter().any(|t| t.event_type == EVENT_TYPE_L7) {
            return Ok(());
        }
        let http_fields = [
            ("http_status_code", &self.http_status_code),
            ("http_method", &self.http_method),
            ("http_path", &self.http_path),
            ("http_url", &self.http_url),
        ];
        match http_fields.into_iter().find_map(|(field, values)| values.first().map(|v| (field, v))) {
            Some((field, value)) => Err(error(field, value, "needs the event_type filter to include l7 events (129)")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{
        CiliumEventType, Dns, EVENT_TYPE_DROP, EVENT_TYPE_TRACE, FlowExtensions, FlowType, Http, Icmp, Ip, L7Type,
        Layer7, LostFlows, LostSource, ObservationPoint, Tcp, Udp,
    };

    fn endpoint(identity: u32, ns: &str, pod: &str, labels: &[&str], workload: (&str, &str)) -> Endpoint {
        Endpoint {
            identity,
            namespace: ns.into(),
            pod_name: pod.into(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            workloads: vec![Workload { kind: workload.0.into(), name: workload.1.into() }],
            ..Endpoint::default()
        }
    }

    /// xwing's SYN to deathstar:80, seen leaving xwing's socket.
    fn syn() -> Flow {
        Flow {
            uuid: "6a1b0c6e-5d47-4f0e-9d57-0f6c6e7c1a10".into(),
            verdict: Verdict::Forwarded,
            ip: Some(Ip::new("10.0.1.5".parse().unwrap(), "10.0.2.9".parse().unwrap())),
            l4: Some(Layer4::Tcp(Tcp {
                source_port: 42818,
                destination_port: 80,
                flags: Some(TcpFlags { syn: true, ..TcpFlags::default() }),
            })),
            source: Some(endpoint(
                1234,
                "default",
                "xwing",
                &["k8s:app=xwing", "k8s:class=xwing", "k8s:io.kubernetes.pod.namespace=default"],
                ("Deployment", "xwing"),
            )),
            destination: Some(endpoint(
                5678,
                "default",
                "deathstar-c74d84667-cx5kp",
                &["k8s:app=deathstar", "k8s:org=empire"],
                ("Deployment", "deathstar"),
            )),
            flow_type: FlowType::L3L4,
            node_name: "node-1".into(),
            is_reply: Some(false),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_TRACE, sub_type: 3 }),
            traffic_direction: TrafficDirection::Egress,
            trace_observation_point: ObservationPoint::ToStack,
            ..Flow::default()
        }
    }

    /// A DNS answer to xwing from the world, by plain UDP.
    fn dns_answer() -> Flow {
        Flow {
            verdict: Verdict::Forwarded,
            ip: Some(Ip::new("8.8.8.8".parse().unwrap(), "10.0.1.5".parse().unwrap())),
            l4: Some(Layer4::Udp(Udp { source_port: 53, destination_port: 40000 })),
            source: Some(Endpoint::world()),
            destination: syn().source,
            source_names: vec!["dns.Google.".into()],
            flow_type: FlowType::L7,
            is_reply: Some(true),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_L7, sub_type: 0 }),
            l7: Some(Layer7 {
                l7_type: L7Type::Response,
                dns: Some(Dns {
                    query: "api.github.com.".into(),
                    ips: vec!["140.82.112.6".into()],
                    ttl: 30,
                    qtypes: vec!["A".into()],
                    ..Dns::default()
                }),
                ..Layer7::default()
            }),
            ..Flow::default()
        }
    }

    /// deathstar's 200 to xwing's GET, 12 ms.
    fn http_response() -> Flow {
        Flow {
            l7: Some(Layer7 {
                l7_type: L7Type::Response,
                latency_ns: 12_000_000,
                http: Some(Http {
                    code: 200,
                    method: "GET".into(),
                    url: "http://deathstar/v1/request-landing?x=1".into(),
                    protocol: "HTTP/1.1".into(),
                    ..Http::default()
                }),
                ..Layer7::default()
            }),
            ip: Some(Ip::new("10.0.2.9".parse().unwrap(), "10.0.1.5".parse().unwrap())),
            l4: Some(Layer4::Tcp(Tcp {
                source_port: 80,
                destination_port: 42818,
                flags: Some(TcpFlags { ack: true, psh: true, ..TcpFlags::default() }),
            })),
            source: syn().destination,
            destination: syn().source,
            flow_type: FlowType::L7,
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_L7, sub_type: 0 }),
            is_reply: Some(true),
            ..syn()
        }
    }

    /// A SYN from the world that the kernel dropped: no socket listened.
    fn dropped() -> Flow {
        Flow {
            verdict: Verdict::Dropped,
            drop_reason_desc: DropReason::SocketLookupFailed,
            drop_reason: DropReason::SocketLookupFailed.code(),
            ip: Some(Ip::new("2001:db8::7".parse().unwrap(), "2001:db8::1".parse().unwrap())),
            source: Some(Endpoint::world()),
            destination: Some(Endpoint::host()),
            is_reply: None,
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_DROP, sub_type: 178 }),
            extensions: Some(FlowExtensions { kernel_drop_reason: "NO_SOCKET".into(), ..FlowExtensions::default() }),
            ..syn()
        }
    }

    fn ping() -> Flow {
        Flow { l4: Some(Layer4::IcmpV4(Icmp { icmp_type: 8, code: 0 })), ..syn() }
    }

    fn filter(json: &str) -> CompiledFlowFilter {
        serde_json::from_str::<FlowFilter>(json).unwrap().compile().unwrap()
    }

    fn matches(json: &str, flow: &Flow) -> bool {
        filter(json).matches(flow)
    }

    fn compile_error(json: &str) -> String {
        serde_json::from_str::<FlowFilter>(json).unwrap().compile().unwrap_err().to_string()
    }

    #[test]
    fn pods_by_namespace_and_name_prefix() {
        let f = syn();
        assert!(matches(r#"{"source_pod":["default/xw"]}"#, &f));
        assert!(matches(r#"{"source_pod":["xwing"]}"#, &f), "no namespace means default");
        assert!(matches(r#"{"destination_pod":["default/"]}"#, &f), "ns/ is the whole namespace");
        assert!(matches(r#"{"source_pod":["/xw"]}"#, &f), "/prefix is any namespace");
        assert!(!matches(r#"{"source_pod":["kube-system/xwing"]}"#, &f));
        assert!(!matches(r#"{"source_pod":["default/deathstar"]}"#, &f));
        assert!(matches(r#"{"source_pod":["kube-system/","default/x"]}"#, &f), "values OR");
        assert!(!matches(r#"{"source_pod":["/"]}"#, &dropped()), "the world is no pod");
        assert_eq!(
            compile_error(r#"{"source_pod":[""]}"#),
            r#"invalid source_pod "": expected [namespace/]pod-name-prefix"#
        );
    }

    #[test]
    fn ips_exact_and_cidr() {
        let f = syn();
        assert!(matches(r#"{"source_ip":["10.0.1.5"]}"#, &f));
        assert!(matches(r#"{"destination_ip":["10.0.0.0/16"]}"#, &f));
        assert!(!matches(r#"{"destination_ip":["10.0.1.0/24"]}"#, &f));
        assert!(matches(r#"{"source_ip":["2001:db8::/32"]}"#, &dropped()));
        assert!(matches(r#"{"destination_ip":["2001:db8:0::1"]}"#, &dropped()), "compared as addresses");
        assert!(!matches(r#"{"source_ip":["10.0.0.0/8"]}"#, &Flow { ip: None, ..f }));
        assert!(
            compile_error(r#"{"source_ip":["10.0.0.300"]}"#)
                .starts_with(r#"invalid source_ip "10.0.0.300": not an IP"#)
        );
        assert!(compile_error(r#"{"destination_ip":["10.0.0.0/33"]}"#).starts_with("invalid destination_ip"));
    }

    #[test]
    fn ports_of_tcp_and_udp() {
        assert!(matches(r#"{"destination_port":["80"]}"#, &syn()));
        assert!(matches(r#"{"source_port":["8080","42818"]}"#, &syn()));
        assert!(!matches(r#"{"source_port":["80"]}"#, &syn()));
        assert!(matches(r#"{"source_port":["53"]}"#, &dns_answer()));
        assert!(!matches(r#"{"destination_port":["0"]}"#, &ping()), "ICMP has no ports");
        assert!(compile_error(r#"{"source_port":["http"]}"#).contains("not a port number"));
        assert!(compile_error(r#"{"destination_port":["70000"]}"#).starts_with("invalid destination_port"));
    }

    #[test]
    fn label_selectors() {
        let f = syn();
        let m = |sel: &str| matches(&serde_json::json!({ "source_label": [sel] }).to_string(), &f);
        assert!(m("k8s:app=xwing"));
        assert!(m("app=xwing"), "no source: any source");
        assert!(m("any:app==xwing"));
        assert!(!m("container:app=xwing"), "another source");
        assert!(m("app"));
        assert!(!m("!app"));
        assert!(m("!k8s:org"));
        assert!(!m("app!=xwing"));
        assert!(m("org!=empire"), "!= holds when the label is absent");
        assert!(m("k8s:app in (ywing, xwing)"));
        assert!(!m("app notin (xwing)"));
        assert!(m("app=xwing,class=xwing"), "comma ANDs");
        assert!(!m("app=xwing,class=tiefighter"));
        assert!(m("k8s:io.kubernetes.pod.namespace=default"));
        assert!(matches(r#"{"source_label":["reserved:world"]}"#, &dns_answer()));
        assert!(!matches(r#"{"source_label":["reserved:host"]}"#, &dns_answer()));
        assert!(matches(r#"{"destination_label":["org=alliance","org=empire"]}"#, &f), "selectors OR");
        assert_eq!(
            compile_error(r#"{"destination_label":["a b=c"]}"#),
            r#"invalid destination_label "a b=c": bad label selector requirement "a b=c""#
        );
        assert!(compile_error(r#"{"source_label":[""]}"#).starts_with("invalid source_label"));
    }

    #[test]
    fn fqdn_patterns() {
        let f = dns_answer();
        assert!(matches(r#"{"source_fqdn":["dns.google"]}"#, &f), "case and the trailing dot ignored");
        assert!(matches(r#"{"source_fqdn":["*.google."]}"#, &f));
        assert!(matches(r#"{"source_fqdn":["DNS.*"]}"#, &f));
        assert!(!matches(r#"{"source_fqdn":["*.cloudflare.com"]}"#, &f));
        assert!(!matches(r#"{"destination_fqdn":["*"]}"#, &f), "no names known");
        assert!(compile_error(r#"{"source_fqdn":["a b"]}"#).contains("' ' is not allowed"));
        assert!(compile_error(r#"{"source_fqdn":["x.."]}"#).contains("more than one trailing dot"));
    }

    #[test]
    fn workloads_identities_and_uuid() {
        let f = syn();
        assert!(matches(r#"{"source_workload":[{"kind":"Deployment","name":"xwing"}]}"#, &f));
        assert!(matches(r#"{"destination_workload":[{"kind":"Deployment"}]}"#, &f), "Kind/ is any name");
        assert!(matches(r#"{"destination_workload":[{"name":"deathstar"}]}"#, &f));
        assert!(!matches(r#"{"source_workload":[{"kind":"StatefulSet","name":"xwing"}]}"#, &f));
        assert!(matches(r#"{"source_identity":[1234],"destination_identity":[5678]}"#, &f));
        assert!(!matches(r#"{"source_identity":[5678]}"#, &f));
        assert!(matches(r#"{"source_identity":[2]}"#, &dns_answer()));
        assert!(matches(r#"{"uuid":["6a1b0c6e-5d47-4f0e-9d57-0f6c6e7c1a10"]}"#, &f));
        assert!(!matches(r#"{"uuid":["other"]}"#, &f));
    }

    #[test]
    fn verdicts_drop_reasons_directions_ip_versions() {
        assert!(matches(r#"{"verdict":["DROPPED","ERROR"]}"#, &dropped()));
        assert!(!matches(r#"{"verdict":["DROPPED"]}"#, &syn()));
        assert!(matches(r#"{"drop_reason_desc":["SOCKET_LOOKUP_FAILED"]}"#, &dropped()));
        assert!(!matches(r#"{"drop_reason_desc":["POLICY_DENIED"]}"#, &dropped()));
        assert!(matches(r#"{"traffic_direction":["EGRESS"]}"#, &syn()));
        assert!(!matches(r#"{"traffic_direction":["INGRESS"]}"#, &syn()));
        assert!(matches(r#"{"ip_version":["IPv4"]}"#, &syn()));
        assert!(matches(r#"{"ip_version":["IPv6"]}"#, &dropped()));
        assert!(matches(r#"{"ip_version":["IP_NOT_USED"]}"#, &Flow { ip: None, ..syn() }));
    }

    #[test]
    fn event_types_and_sub_types() {
        assert!(matches(r#"{"event_type":[{"type":4}]}"#, &syn()));
        assert!(matches(r#"{"event_type":[{"type":4,"match_sub_type":true,"sub_type":3}]}"#, &syn()));
        assert!(!matches(r#"{"event_type":[{"type":4,"match_sub_type":true,"sub_type":0}]}"#, &syn()));
        assert!(matches(r#"{"event_type":[{"type":1},{"type":129}]}"#, &dns_answer()));
        assert!(!matches(r#"{"event_type":[{"type":1}]}"#, &syn()));
        assert!(matches(r#"{"event_type":[{"type":0}]}"#, &syn()), "type 0 is any type");
        assert!(!matches(r#"{"event_type":[{"type":0}]}"#, &Flow { event_type: None, ..syn() }));
    }

    #[test]
    fn protocols() {
        assert!(matches(r#"{"protocol":["TCP"]}"#, &syn()));
        assert!(!matches(r#"{"protocol":["udp"]}"#, &syn()));
        assert!(matches(r#"{"protocol":["icmp"]}"#, &ping()));
        assert!(matches(r#"{"protocol":["icmpv4"]}"#, &ping()));
        assert!(!matches(r#"{"protocol":["icmpv6"]}"#, &ping()));
        assert!(matches(r#"{"protocol":["dns"]}"#, &dns_answer()));
        let plain_dns = Flow { l7: None, ..dns_answer() };
        assert!(matches(r#"{"protocol":["dns"]}"#, &plain_dns), "port 53 is DNS");
        assert!(!matches(r#"{"protocol":["dns"]}"#, &syn()));
        assert!(matches(r#"{"protocol":["http"]}"#, &http_response()));
        assert!(!matches(r#"{"protocol":["http"]}"#, &syn()));
        assert!(compile_error(r#"{"protocol":["sctp"]}"#).starts_with(r#"invalid protocol "sctp""#));
    }

    #[test]
    fn http_fields() {
        let f = http_response();
        assert!(matches(r#"{"http_status_code":["200"]}"#, &f));
        assert!(matches(r#"{"http_status_code":["2+"]}"#, &f));
        assert!(matches(r#"{"http_status_code":["404","20+"]}"#, &f));
        assert!(!matches(r#"{"http_status_code":["4+"]}"#, &f));
        assert!(!matches(r#"{"http_status_code":["2+"]}"#, &syn()));
        assert!(matches(r#"{"http_method":["get"]}"#, &f));
        assert!(!matches(r#"{"http_method":["POST"]}"#, &f));
        assert!(matches(r#"{"http_path":["^/v1/request-landing$"]}"#, &f), "the path without the query");
        assert!(!matches(r#"{"http_path":["deathstar"]}"#, &f));
        assert!(matches(r#"{"http_url":["^http://deathstar/.*x=1"]}"#, &f));
        assert!(compile_error(r#"{"http_status_code":["600"]}"#).starts_with(r#"invalid http_status_code "600""#));
        assert!(compile_error(r#"{"http_status_code":["2"]}"#).starts_with("invalid http_status_code"));
        assert!(compile_error(r#"{"http_path":["("]}"#).starts_with(r#"invalid http_path "(""#));
        assert_eq!(
            compile_error(r#"{"event_type":[{"type":1}],"http_method":["GET"]}"#),
            r#"invalid http_method "GET": needs the event_type filter to include l7 events (129)"#
        );
        assert!(matches(r#"{"event_type":[{"type":129}],"http_method":["GET"]}"#, &f));
        assert_eq!(url_path("/a/b?c"), Some("/a/b"));
        assert_eq!(url_path("http://h"), Some(""));
        assert_eq!(url_path("h/a"), None);
    }

    #[test]
    fn tcp_flags_all_of_one_value() {
        let synack = Flow {
            l4: Some(Layer4::Tcp(Tcp {
                source_port: 80,
                destination_port: 42818,
                flags: Some(TcpFlags { syn: true, ack: true, ..TcpFlags::default() }),
            })),
            ..syn()
        };
        assert!(matches(r#"{"tcp_flags":[{"SYN":true}]}"#, &syn()));
        assert!(matches(r#"{"tcp_flags":[{"SYN":true}]}"#, &synack));
        assert!(!matches(r#"{"tcp_flags":[{"SYN":true,"ACK":true}]}"#, &syn()));
        assert!(matches(r#"{"tcp_flags":[{"SYN":true,"ACK":true}]}"#, &synack));
        assert!(matches(r#"{"tcp_flags":[{"FIN":true},{"SYN":true}]}"#, &syn()));
        assert!(!matches(r#"{"tcp_flags":[{"SYN":true}]}"#, &dns_answer()));
    }

    #[test]
    fn node_name_patterns() {
        let f = syn();
        assert!(matches(r#"{"node_name":["node-1"]}"#, &f));
        assert!(matches(r#"{"node_name":["node-*"]}"#, &f));
        assert!(matches(r#"{"node_name":["default/node-1"]}"#, &f), "a name without cluster is in cluster default");
        assert!(matches(r#"{"node_name":["/node-1"]}"#, &f));
        assert!(!matches(r#"{"node_name":["prod/node-1"]}"#, &f));
        assert!(!matches(r#"{"node_name":["node-2"]}"#, &f));
        assert!(matches(r#"{"node_name":["prod/*"]}"#, &Flow { node_name: "prod/node-9".into(), ..syn() }));
        assert!(compile_error(r#"{"node_name":["a/b/c"]}"#).contains("more than one '/'"));
    }

    #[test]
    fn reply_and_dns_query() {
        assert!(matches(r#"{"reply":[false]}"#, &syn()));
        assert!(!matches(r#"{"reply":[true]}"#, &syn()));
        assert!(matches(r#"{"reply":[true]}"#, &dns_answer()));
        let unknown = Flow { is_reply: None, ..syn() };
        assert!(!matches(r#"{"reply":[false]}"#, &unknown) && !matches(r#"{"reply":[true]}"#, &unknown));
        assert!(matches(r#"{"reply":[false]}"#, &dropped()), "a drop of unknown direction is a request");
        assert!(matches(r#"{"dns_query":["github\\.com\\.$"]}"#, &dns_answer()));
        assert!(!matches(r#"{"dns_query":["^google"]}"#, &dns_answer()));
        assert!(!matches(r#"{"dns_query":[".*"]}"#, &syn()));
    }

    #[test]
    fn fields_and_values_combine() {
        let f = syn();
        assert!(matches("{}", &f), "an empty filter matches everything");
        assert!(matches(r#"{"source_pod":["default/xwing"],"destination_port":["80","443"]}"#, &f));
        assert!(!matches(r#"{"source_pod":["default/xwing"],"destination_port":["443"]}"#, &f));
    }

    #[test]
    fn allowlist_and_denylist() {
        let request = |json: &str| serde_json::from_str::<FlowsRequest>(json).unwrap().compile().unwrap();
        let all = request("{}");
        assert!(all.matches(&syn()) && all.matches(&dropped()));
        let some = request(
            r#"{"whitelist":[{"source_pod":["default/xwing"]},{"destination_pod":["default/xwing"]},{"verdict":["DROPPED"]}],
                "blacklist":[{"destination_port":["80"],"tcp_flags":[{"SYN":true}]}]}"#,
        );
        assert!(!some.matches(&syn()), "allowed, then denied");
        assert!(some.matches(&http_response()), "allowed by its destination, and no SYN");
        assert!(some.matches(&dns_answer()));
        let elsewhere = Flow { verdict: Verdict::Forwarded, l4: None, ..dropped() };
        assert!(!some.matches(&elsewhere), "in no allow filter");
        assert!(some.matches(&Flow { l4: None, ..dropped() }), "allowed by its verdict");
        assert!(!some.matches(&dropped()), "a dropped SYN to port 80 is denied");
        let deny_all = request(r#"{"blacklist":[{}]}"#);
        assert!(!deny_all.matches(&syn()));
        let lost = FlowResponse {
            body: FlowBody::LostEvents(LostFlows { source: LostSource::HubbleRingBuffer, num_events_lost: 3 }),
            node_name: "node-1".into(),
            time: chrono::DateTime::UNIX_EPOCH,
        };
        assert!(deny_all.matches_response(&lost), "lost notices always pass");
        let flow = FlowResponse { body: FlowBody::Flow(Box::new(syn())), ..lost };
        assert!(!deny_all.matches_response(&flow));
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let err = serde_json::from_str::<FlowFilter>(r#"{"source_service":["default/x"]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `source_service`"), "{err}");
        let err = serde_json::from_str::<FlowsRequest>(r#"{"field_mask":{}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `field_mask`"), "{err}");
    }

    #[test]
    fn request_json_and_checks() {
        let req = FlowsRequest {
            number: Some(20),
            whitelist: vec![FlowFilter {
                source_pod: vec!["kube-system/".into()],
                event_type: vec![EventTypeFilter { event_type: 4, match_sub_type: true, sub_type: 3 }],
                tcp_flags: vec![TcpFlags { syn: true, ..TcpFlags::default() }],
                source_workload: vec![Workload { name: String::new(), kind: "Deployment".into() }],
                ..FlowFilter::default()
            }],
            ..FlowsRequest::default()
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"number":20,"whitelist":[{"source_pod":["kube-system/"],"source_workload":[{"name":"","kind":"Deployment"}],"event_type":[{"type":4,"match_sub_type":true,"sub_type":3}],"tcp_flags":[{"SYN":true}]}]}"#
        );
        assert_eq!(serde_json::from_str::<FlowsRequest>(&json).unwrap(), req);
        let ranged = FlowsRequest { since: Some(chrono::DateTime::UNIX_EPOCH), ..req };
        assert!(ranged.compile().unwrap_err().to_string().contains("exclude each other"));
        let first_follow = FlowsRequest { first: true, follow: true, ..FlowsRequest::default() };
        assert!(first_follow.compile().is_err());
    }
}
