//! Network flows in Hubble's JSON shape (protojson of `observer.GetFlowsResponse`).
//!
//! Field names are the proto's: snake_case, except the ones the proto
//! declares in CamelCase (`IP`, `Type`, `ID`, `TCP`, `UDP`, `ICMPv4`,
//! `ICMPv6`, `ipVersion`, `Summary`). Zero values are omitted, enums are
//! written by name, 64-bit integers as strings. What Hubble has no field for
//! (bytes and packets each way, the kernel's own drop reason, retransmits,
//! the process) travels in `extensions`, as Hubble's `Any` extension does.

pub mod drop_reason;
pub mod filter;
pub mod print;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Timestamp;

pub use drop_reason::DropReason;

/// One line of `scry observe -o json`: a flow, or a notice of lost flows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowResponse {
    #[serde(flatten)]
    pub body: FlowBody,
    #[serde(default)]
    pub node_name: Arc<str>,
    pub time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowBody {
    Flow(Box<Flow>),
    LostEvents(LostFlows),
}

/// Hubble's `LostEvent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LostFlows {
    pub source: LostSource,
    #[serde(with = "crate::event::u64_string")]
    pub num_events_lost: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LostSource {
    #[default]
    UnknownLostEventSource,
    /// Between the kernel and the agent (Scry's BPF ring buffer).
    PerfEventRingBuffer,
    /// Between the agent's flow pipeline and this stream.
    ObserverEventsQueue,
    /// Overwritten in the flow buffer before this reader got them.
    HubbleRingBuffer,
}

impl LostSource {
    pub fn name(self) -> &'static str {
        match self {
            LostSource::UnknownLostEventSource => "UNKNOWN_LOST_EVENT_SOURCE",
            LostSource::PerfEventRingBuffer => "PERF_EVENT_RING_BUFFER",
            LostSource::ObserverEventsQueue => "OBSERVER_EVENTS_QUEUE",
            LostSource::HubbleRingBuffer => "HUBBLE_RING_BUFFER",
        }
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Hubble's `Flow`, the fields Scry fills.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flow {
    pub time: Option<Timestamp>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emitter: Option<Emitter>,
    #[serde(skip_serializing_if = "is_default")]
    pub verdict: Verdict,
    /// Deprecated numeric form of `drop_reason_desc`, still written by Hubble.
    #[serde(skip_serializing_if = "is_default")]
    pub drop_reason: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub drop_reason_desc: DropReason,
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ip>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l4: Option<Layer4>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Endpoint>,
    #[serde(rename = "Type", skip_serializing_if = "is_default")]
    pub flow_type: FlowType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l7: Option<Layer7>,
    /// Absent when the direction is unknown (the agent saw the connection
    /// only after it started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_reply: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<CiliumEventType>,
    #[serde(skip_serializing_if = "is_default")]
    pub traffic_direction: TrafficDirection,
    #[serde(skip_serializing_if = "is_default")]
    pub trace_observation_point: ObservationPoint,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub socket_cookie: u64,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub cgroup_id: u64,
    #[serde(rename = "Summary", skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<FlowExtensions>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Emitter {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    #[default]
    VerdictUnknown,
    Forwarded,
    Dropped,
    Error,
    Audit,
    Redirected,
    Traced,
    Translated,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::VerdictUnknown,
        Verdict::Forwarded,
        Verdict::Dropped,
        Verdict::Error,
        Verdict::Audit,
        Verdict::Redirected,
        Verdict::Traced,
        Verdict::Translated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::VerdictUnknown => "VERDICT_UNKNOWN",
            Verdict::Forwarded => "FORWARDED",
            Verdict::Dropped => "DROPPED",
            Verdict::Error => "ERROR",
            Verdict::Audit => "AUDIT",
            Verdict::Redirected => "REDIRECTED",
            Verdict::Traced => "TRACED",
            Verdict::Translated => "TRANSLATED",
        }
    }

    /// Case-insensitive, as `hubble observe --verdict` takes it.
    pub fn parse(s: &str) -> Option<Verdict> {
        let up = s.trim().to_ascii_uppercase();
        Verdict::ALL.into_iter().find(|v| v.name() == up)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ip {
    pub source: String,
    pub destination: String,
    #[serde(rename = "ipVersion", skip_serializing_if = "is_default")]
    pub ip_version: IpVersion,
}

impl Ip {
    pub fn new(source: IpAddr, destination: IpAddr) -> Ip {
        let ip_version = if source.is_ipv4() { IpVersion::IPv4 } else { IpVersion::IPv6 };
        Ip { source: source.to_string(), destination: destination.to_string(), ip_version }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpVersion {
    #[default]
    #[serde(rename = "IP_NOT_USED")]
    IpNotUsed,
    IPv4,
    IPv6,
}

/// Hubble's `Layer4`: a oneof, one key set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer4 {
    #[serde(rename = "TCP")]
    Tcp(Tcp),
    #[serde(rename = "UDP")]
    Udp(Udp),
    #[serde(rename = "ICMPv4")]
    IcmpV4(Icmp),
    #[serde(rename = "ICMPv6")]
    IcmpV6(Icmp),
}

impl Layer4 {
    /// (source, destination) ports; ICMP has none.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self {
            Layer4::Tcp(t) => Some((t.source_port, t.destination_port)),
            Layer4::Udp(u) => Some((u.source_port, u.destination_port)),
            Layer4::IcmpV4(_) | Layer4::IcmpV6(_) => None,
        }
    }

    /// The name `--protocol` matches.
    pub fn protocol(&self) -> &'static str {
        match self {
            Layer4::Tcp(_) => "tcp",
            Layer4::Udp(_) => "udp",
            Layer4::IcmpV4(_) => "icmpv4",
            Layer4::IcmpV6(_) => "icmpv6",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tcp {
    #[serde(skip_serializing_if = "is_default")]
    pub source_port: u16,
    #[serde(skip_serializing_if = "is_default")]
    pub destination_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<TcpFlags>,
}

/// Only the flags that are set are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::upper_case_acronyms)]
pub struct TcpFlags {
    #[serde(rename = "FIN", skip_serializing_if = "is_default")]
    pub fin: bool,
    #[serde(rename = "SYN", skip_serializing_if = "is_default")]
    pub syn: bool,
    #[serde(rename = "RST", skip_serializing_if = "is_default")]
    pub rst: bool,
    #[serde(rename = "PSH", skip_serializing_if = "is_default")]
    pub psh: bool,
    #[serde(rename = "ACK", skip_serializing_if = "is_default")]
    pub ack: bool,
    #[serde(rename = "URG", skip_serializing_if = "is_default")]
    pub urg: bool,
    #[serde(rename = "ECE", skip_serializing_if = "is_default")]
    pub ece: bool,
    #[serde(rename = "CWR", skip_serializing_if = "is_default")]
    pub cwr: bool,
    #[serde(rename = "NS", skip_serializing_if = "is_default")]
    pub ns: bool,
}

impl TcpFlags {
    /// From the TCP header's flag byte (FIN = bit 0 … CWR = bit 7).
    pub fn from_bits(bits: u8) -> TcpFlags {
        let b = |n: u8| bits & (1 << n) != 0;
        TcpFlags { fin: b(0), syn: b(1), rst: b(2), psh: b(3), ack: b(4), urg: b(5), ece: b(6), cwr: b(7), ns: false }
    }

    /// Set flags in Hubble's summary order: `SYN, ACK`, `ACK, FIN`, …
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.syn, "SYN"),
            (self.ack, "ACK"),
            (self.rst, "RST"),
            (self.fin, "FIN"),
            (self.psh, "PSH"),
            (self.urg, "URG"),
            (self.ece, "ECE"),
            (self.cwr, "CWR"),
            (self.ns, "NS"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Udp {
    #[serde(skip_serializing_if = "is_default")]
    pub source_port: u16,
    #[serde(skip_serializing_if = "is_default")]
    pub destination_port: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Icmp {
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub icmp_type: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub code: u32,
}

/// Hubble's `Endpoint`. Scry's identities: Cilium's reserved numbers for
/// `host` (1) and `world` (2); a pod's is derived from its namespace and
/// labels, so pods with the same labels share one, as with Cilium.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    #[serde(rename = "ID", skip_serializing_if = "is_default")]
    pub id: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub identity: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `k8s:key=value`, `reserved:host`, `reserved:world`; sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<Workload>,
}

pub const IDENTITY_HOST: u32 = 1;
pub const IDENTITY_WORLD: u32 = 2;

impl Endpoint {
    pub fn host() -> Endpoint {
        Endpoint { identity: IDENTITY_HOST, labels: vec!["reserved:host".into()], ..Endpoint::default() }
    }

    pub fn world() -> Endpoint {
        Endpoint { identity: IDENTITY_WORLD, labels: vec!["reserved:world".into()], ..Endpoint::default() }
    }

    /// The reserved identity's name (`host`, `world`) if this is one.
    pub fn reserved(&self) -> Option<&str> {
        self.labels.iter().find_map(|l| l.strip_prefix("reserved:"))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowType {
    #[default]
    UnknownType,
    #[serde(rename = "L3_L4")]
    L3L4,
    L7,
    Sock,
}

impl FlowType {
    /// Its serde name (`L3_L4`, `L7`).
    pub fn name(self) -> &'static str {
        match self {
            FlowType::UnknownType => "UNKNOWN_TYPE",
            FlowType::L3L4 => "L3_L4",
            FlowType::L7 => "L7",
            FlowType::Sock => "SOCK",
        }
    }
}

/// Cilium's monitor event type: 1 drop, 4 trace, 129 L7.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CiliumEventType {
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub event_type: i32,
    #[serde(skip_serializing_if = "is_default")]
    pub sub_type: i32,
}

pub const EVENT_TYPE_DROP: i32 = 1;
pub const EVENT_TYPE_TRACE: i32 = 4;
pub const EVENT_TYPE_L7: i32 = 129;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrafficDirection {
    #[default]
    TrafficDirectionUnknown,
    Ingress,
    Egress,
}

impl TrafficDirection {
    /// Its serde name (`INGRESS`).
    pub fn name(self) -> &'static str {
        match self {
            TrafficDirection::TrafficDirectionUnknown => "TRAFFIC_DIRECTION_UNKNOWN",
            TrafficDirection::Ingress => "INGRESS",
            TrafficDirection::Egress => "EGRESS",
        }
    }
}

/// Where the packet was seen. Scry sees packets where they enter or leave a
/// socket: leaving one is `TO_STACK`, arriving at one `TO_ENDPOINT`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObservationPoint {
    #[default]
    UnknownPoint,
    ToStack,
    ToEndpoint,
}

impl ObservationPoint {
    /// Hubble's compact-output name and its `--type trace:<sub>` value.
    pub fn name(self) -> &'static str {
        match self {
            ObservationPoint::UnknownPoint => "UNKNOWN",
            ObservationPoint::ToStack => "to-stack",
            ObservationPoint::ToEndpoint => "to-endpoint",
        }
    }

    /// The trace event's sub type: Cilium's datapath number for the point
    /// (`TRACE_TO_LXC` 0, `TRACE_TO_STACK` 3), which Hubble's flows carry in
    /// `event_type.sub_type` and `--type trace:<name>` asks for; not the
    /// `trace_observation_point` enum value (`TO_ENDPOINT` is 101 there).
    pub fn number(self) -> i32 {
        match self {
            ObservationPoint::UnknownPoint | ObservationPoint::ToEndpoint => 0,
            ObservationPoint::ToStack => 3,
        }
    }
}

/// Hubble's `Layer7`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Layer7 {
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub l7_type: L7Type,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub latency_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum L7Type {
    #[default]
    UnknownL7Type,
    Request,
    Response,
    Sample,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dns {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cnames: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub observation_source: String,
    #[serde(skip_serializing_if = "is_default")]
    pub rcode: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub qtypes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rrtypes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Http {
    #[serde(skip_serializing_if = "is_default")]
    pub code: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpHeader {
    pub key: String,
    pub value: String,
}

/// What Scry knows of a flow beyond Hubble's fields, written as the
/// `extensions` Any with this `@type`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowExtensions {
    #[serde(rename = "@type")]
    pub type_url: String,
    /// Packets and bytes the observing socket sent and received on this
    /// connection so far.
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub packets_sent: u64,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub packets_received: u64,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub bytes_sent: u64,
    #[serde(skip_serializing_if = "is_default", with = "crate::event::u64_string")]
    pub bytes_received: u64,
    /// TCP retransmits and resets on this connection so far.
    #[serde(skip_serializing_if = "is_default")]
    pub retransmits: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub resets: u32,
    /// The kernel's `SKB_DROP_REASON_*` name, without the prefix.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kernel_drop_reason: String,
    /// The process on the observing side, when the kernel saw it send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<FlowProcess>,
}

pub const EXTENSIONS_TYPE_URL: &str = "type.googleapis.com/scry.flow.v1.FlowExtensions";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowProcess {
    pub pid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exec_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_are_their_serde_names() {
        let serde = |v: serde_json::Value| v.as_str().unwrap().to_owned();
        for t in [FlowType::UnknownType, FlowType::L3L4, FlowType::L7, FlowType::Sock] {
            assert_eq!(t.name(), serde(serde_json::to_value(t).unwrap()));
        }
        for d in [TrafficDirection::TrafficDirectionUnknown, TrafficDirection::Ingress, TrafficDirection::Egress] {
            assert_eq!(d.name(), serde(serde_json::to_value(d).unwrap()));
        }
    }
}
