//! Hubble output formats for flows: compact, dict, table (`hubble observe -o …`).
//!
//! Lines carry no trailing newline; the caller writes them.

use super::filter::{RESERVED_IDENTITIES, TRACE_OBSERVATION_POINTS};
use super::{
    DropReason, EVENT_TYPE_DROP, EVENT_TYPE_TRACE, Endpoint, Flow, FlowBody, FlowResponse, Icmp, IpVersion, L7Type,
    Layer4, Layer7, LostFlows, ObservationPoint,
};

#[derive(Clone, Copy, Debug, Default)]
pub struct PrintOptions {
    /// Print the node that observed the flow (`--print-node-name`).
    pub node_name: bool,
}

/// Printed between two `dict` blocks.
pub const DICT_SEPARATOR: &str = "------------";

/// Go's `time.StampMilli` (`Jan _2 15:04:05.000`), Hubble's default.
const TIME_FORMAT: &str = "%b %e %H:%M:%S%.3f";

/// The flow's `Summary` if it has one, else the summary Hubble's parsers
/// would have written: `TCP Flags: SYN, ACK`, `UDP`, `ICMPv4 EchoRequest`,
/// `HTTP/1.1 GET http://host/path`, `DNS Query name. A`, …
pub fn summary(flow: &Flow) -> String {
    if !flow.summary.is_empty() {
        return flow.summary.clone();
    }
    if let Some(l7) = &flow.l7 {
        return l7_summary(l7);
    }
    match &flow.l4 {
        Some(Layer4::Tcp(tcp)) => format!("TCP Flags: {}", tcp.flags.map(|f| f.names().join(", ")).unwrap_or_default()),
        Some(Layer4::Udp(_)) => "UDP".to_owned(),
        Some(Layer4::IcmpV4(icmp)) => format!("ICMPv4 {}", icmp_text(icmp, ICMPV4_TYPES)),
        Some(Layer4::IcmpV6(icmp)) => format!("ICMPv6 {}", icmp_text(icmp, ICMPV6_TYPES)),
        // Hubble names the last layer it decoded.
        None => match flow.ip.as_ref().map(|ip| ip.ip_version) {
            Some(IpVersion::IPv4) => "IPv4".to_owned(),
            Some(IpVersion::IPv6) => "IPv6".to_owned(),
            _ => String::new(),
        },
    }
}

fn l7_summary(l7: &Layer7) -> String {
    if let Some(http) = &l7.http {
        let request = format!("{} {}", http.method, http.url);
        return match l7.l7_type {
            L7Type::Request => format!("{} {request}", http.protocol),
            L7Type::Response => {
                format!("{} {} {}ms ({request})", http.protocol, http.code, l7.latency_ns / 1_000_000)
            }
            _ => String::new(),
        };
    }
    let Some(dns) = &l7.dns else {
        return String::new();
    };
    let qtypes = dns.qtypes.join(",");
    match l7.l7_type {
        L7Type::Request => format!("DNS Query {} {qtypes}", dns.query).trim_end().to_owned(),
        L7Type::Response => {
            let answer = if dns.rcode != 0 {
                format!("RCode: {}", rcode_text(dns.rcode))
            } else {
                let mut parts = Vec::new();
                if !dns.ips.is_empty() {
                    parts.push(format!("{:?}", dns.ips.join(",")));
                }
                if !dns.cnames.is_empty() {
                    parts.push(format!("CNAMEs: {:?}", dns.cnames.join(",")));
                }
                parts.join(" ")
            };
            let source = if dns.observation_source == "proxy" { "Proxy" } else { "Query" };
            format!("DNS Answer {answer} TTL: {} ({source} {} {qtypes})", dns.ttl, dns.query)
        }
        _ => String::new(),
    }
}

/// gopacket's `DNSResponseCode` texts, which Hubble prints and names its
/// metrics' `rcode` label with.
pub fn rcode_text(rcode: u32) -> &'static str {
    match rcode {
        0 => "No Error",
        1 => "Format Error",
        2 => "Server Failure",
        3 => "Non-Existent Domain",
        4 => "Not Implemented",
        5 => "Query Refused",
        _ => "Unknown",
    }
}

/// An ICMP type's name and, for the types that use it, its codes' names.
type IcmpType = (u32, &'static str, &'static [(u32, &'static str)]);

/// gopacket's names, which Hubble's summaries use.
const ICMPV4_TYPES: &[IcmpType] = &[
    (0, "EchoReply", &[]),
    (
        3,
        "DestinationUnreachable",
        &[
            (0, "Net"),
            (1, "Host"),
            (2, "Protocol"),
            (3, "Port"),
            (4, "FragmentationNeeded"),
            (5, "SourceRoutingFailed"),
            (6, "NetUnknown"),
            (7, "HostUnknown"),
            (8, "SourceIsolated"),
            (9, "NetAdminProhibited"),
            (10, "HostAdminProhibited"),
            (11, "NetTOS"),
            (12, "HostTOS"),
            (13, "CommAdminProhibited"),
            (14, "HostPrecedence"),
            (15, "PrecedenceCutoff"),
        ],
    ),
    (4, "SourceQuench", &[]),
    (5, "Redirect", &[(0, "Net"), (1, "Host"), (2, "TOS+Net"), (3, "TOS+Host")]),
    (8, "EchoRequest", &[]),
    (9, "RouterAdvertisement", &[]),
    (10, "RouterSolicitation", &[]),
    (11, "TimeExceeded", &[(0, "TTLExceeded"), (1, "FragmentReassemblyTimeExceeded")]),
    (12, "ParameterProblem", &[(0, "PointerIndicatesError"), (1, "MissingOption"), (2, "BadLength")]),
    (13, "TimestampRequest", &[]),
    (14, "TimestampReply", &[]),
    (15, "InfoRequest", &[]),
    (16, "InfoReply", &[]),
    (17, "AddressMaskRequest", &[]),
    (18, "AddressMaskReply", &[]),
];

const ICMPV6_TYPES: &[IcmpType] = &[
    (
        1,
        "DestinationUnreachable",
        &[
            (0, "NoRouteToDst"),
            (1, "AdminProhibited"),
            (2, "BeyondScopeOfSrc"),
            (3, "AddressUnreachable"),
            (4, "PortUnreachable"),
            (5, "SrcAddressFailedPolicy"),
            (6, "RejectRouteToDst"),
        ],
    ),
    (2, "PacketTooBig", &[]),
    (3, "TimeExceeded", &[(0, "HopLimitExceeded"), (1, "FragmentReassemblyTimeExceeded")]),
    (
        4,
        "ParameterProblem",
        &[(0, "ErroneousHeaderField"), (1, "UnrecognizedNextHeader"), (2, "UnrecognizedIPv6Option")],
    ),
    (128, "EchoRequest", &[]),
    (129, "EchoReply", &[]),
    (133, "RouterSolicitation", &[]),
    (134, "RouterAdvertisement", &[]),
    (135, "NeighborSolicitation", &[]),
    (136, "NeighborAdvertisement", &[]),
    (137, "Redirect", &[]),
];

/// As gopacket's `ICMPv4TypeCode.String()`: `EchoRequest`,
/// `DestinationUnreachable(Port)`, `EchoRequest(Code: 1)`, `42(0)`.
fn icmp_text(icmp: &Icmp, types: &[IcmpType]) -> String {
    let (t, c) = (icmp.icmp_type, icmp.code);
    let Some((_, name, codes)) = types.iter().find(|(n, _, _)| *n == t) else {
        return format!("{t}({c})");
    };
    if codes.is_empty() && c == 0 {
        return (*name).to_owned();
    }
    match codes.iter().find(|(n, _)| *n == c) {
        Some((_, code)) => format!("{name}({code})"),
        None => format!("{name}(Code: {c})"),
    }
}

/// `http-request`, `dns-response`, `to-stack`, `Policy denied`, `UNKNOWN`.
fn type_text(flow: &Flow) -> String {
    if let Some(l7) = &flow.l7 {
        let kind = match l7.l7_type {
            L7Type::UnknownL7Type => "unknown_l7_type",
            L7Type::Request => "request",
            L7Type::Response => "response",
            L7Type::Sample => "sample",
        };
        return match (&l7.http, &l7.dns) {
            (Some(_), _) => format!("http-{kind}"),
            (None, Some(dns)) if !dns.observation_source.is_empty() => {
                format!("dns-{kind} {}", dns.observation_source)
            }
            (None, Some(_)) => format!("dns-{kind}"),
            (None, None) => format!("l7-{kind}"),
        };
    }
    let Some(ev) = flow.event_type else {
        return "UNKNOWN".to_owned();
    };
    match ev.event_type {
        EVENT_TYPE_TRACE if flow.trace_observation_point != ObservationPoint::UnknownPoint => {
            flow.trace_observation_point.name().to_owned()
        }
        EVENT_TYPE_TRACE => TRACE_OBSERVATION_POINTS
            .iter()
            .find(|(_, n)| *n == ev.sub_type)
            .map_or_else(|| ev.sub_type.to_string(), |(name, _)| (*name).to_owned()),
        EVENT_TYPE_DROP => match flow.extensions.as_ref().map(|x| x.kernel_drop_reason.as_str()) {
            Some(kernel) if flow.drop_reason_desc == DropReason::Unknown && !kernel.is_empty() => kernel.to_owned(),
            _ => flow.drop_reason_desc.text().to_owned(),
        },
        _ => "UNKNOWN".to_owned(),
    }
}

/// `(ID:1234)`, or the reserved identity's name: `(world)`, `(host)`.
fn identity(ep: Option<&Endpoint>) -> String {
    let id = ep.map_or(0, |ep| ep.identity);
    match RESERVED_IDENTITIES.iter().find(|(_, n)| *n == id) {
        Some((name, _)) => format!("({name})"),
        None => format!("(ID:{id})"),
    }
}

/// `ns/pod`, else the DNS names joined by `,`, else the IP; `:port` when
/// the port is not 0, an IPv6 address bracketed.
fn host(ip: &str, port: Option<u16>, ep: Option<&Endpoint>, names: &[String]) -> String {
    let host = match ep {
        Some(ep) if !ep.pod_name.is_empty() && ep.namespace.is_empty() => ep.pod_name.clone(),
        Some(ep) if !ep.pod_name.is_empty() => format!("{}/{}", ep.namespace, ep.pod_name),
        _ if !names.is_empty() => names.join(","),
        _ => ip.to_owned(),
    };
    match port {
        Some(p) if p != 0 && host.contains(':') => format!("[{host}]:{p}"),
        Some(p) if p != 0 => format!("{host}:{p}"),
        _ => host,
    }
}

/// Source and destination as printed; empty without an IP layer.
fn hosts(flow: &Flow) -> (String, String) {
    let Some(ip) = &flow.ip else {
        return (String::new(), String::new());
    };
    let ports = flow.l4.as_ref().and_then(Layer4::ports);
    (
        host(&ip.source, ports.map(|p| p.0), flow.source.as_ref(), &flow.source_names),
        host(&ip.destination, ports.map(|p| p.1), flow.destination.as_ref(), &flow.destination_names),
    )
}

fn time(response: &FlowResponse, flow: &Flow) -> String {
    flow.time.unwrap_or(response.time).format(TIME_FORMAT).to_string()
}

fn node_name<'a>(response: &'a FlowResponse, flow: &'a Flow) -> &'a str {
    if flow.node_name.is_empty() { &response.node_name } else { &flow.node_name }
}

fn lost_summary(lost: &LostFlows, separator: &str) -> String {
    // Scry's notices carry no CPU; Hubble prints an absent one as 0.
    format!("CPU(0){separator}{}", lost.num_events_lost)
}

/// One line: `<time>[ [node]]: <src> <src-identity> <arrow> <dst>
/// <dst-identity> <type> <verdict> (<summary>)`. A reply (`<-`) shows the
/// client on the left, so source and destination are swapped back.
pub fn compact(response: &FlowResponse, opts: &PrintOptions) -> String {
    let flow = match &response.body {
        FlowBody::Flow(flow) => flow,
        FlowBody::LostEvents(lost) => {
            return format!("EVENTS LOST: {} {}", lost.source.name(), lost_summary(lost, " "));
        }
    };
    let node = if opts.node_name { format!(" [{}]", node_name(response, flow)) } else { String::new() };
    let (mut src, mut dst) = hosts(flow);
    let (mut src_id, mut dst_id) = (identity(flow.source.as_ref()), identity(flow.destination.as_ref()));
    let arrow = match flow.is_reply {
        None => "<>",
        Some(false) => "->",
        Some(true) => {
            std::mem::swap(&mut src, &mut dst);
            std::mem::swap(&mut src_id, &mut dst_id);
            "<-"
        }
    };
    format!(
        "{}{node}: {src} {src_id} {arrow} {dst} {dst_id} {} {} ({})",
        time(response, flow),
        type_text(flow),
        flow.verdict,
        summary(flow)
    )
}

/// One labeled block (without the [`DICT_SEPARATOR`] that goes between blocks).
pub fn dict(response: &FlowResponse, opts: &PrintOptions) -> String {
    let (timestamp, node, source, destination, ty, verdict, summary_text) = match &response.body {
        FlowBody::Flow(flow) => {
            let (src, dst) = hosts(flow);
            (
                time(response, flow),
                node_name(response, flow).to_owned(),
                src,
                Some(dst),
                type_text(flow),
                flow.verdict.to_string(),
                summary(flow),
            )
        }
        FlowBody::LostEvents(lost) => (
            String::new(),
            String::new(),
            lost.source.name().to_owned(),
            None,
            "EVENTS LOST".to_owned(),
            String::new(),
            lost_summary(lost, " - "),
        ),
    };
    let mut lines = vec![format!("  TIMESTAMP: {timestamp}")];
    if opts.node_name {
        lines.push(format!("       NODE: {node}"));
    }
    lines.push(format!("     SOURCE: {source}"));
    if let Some(destination) = destination {
        lines.push(format!("DESTINATION: {destination}"));
    }
    lines.push(format!("       TYPE: {ty}"));
    lines.push(format!("    VERDICT: {verdict}"));
    lines.push(format!("    SUMMARY: {summary_text}"));
    lines.join("\n")
}

/// The tab-separated header of `table` output.
pub fn table_header(opts: &PrintOptions) -> String {
    let node = if opts.node_name { "NODE\t" } else { "" };
    format!("TIMESTAMP\t{node}SOURCE\tDESTINATION\tTYPE\tVERDICT\tSUMMARY")
}

/// One tab-separated row of `table` output; [`align_table`] lines rows up.
pub fn table_row(response: &FlowResponse, opts: &PrintOptions) -> String {
    let cells = match &response.body {
        FlowBody::Flow(flow) => {
            let (src, dst) = hosts(flow);
            let mut cells = vec![time(response, flow)];
            if opts.node_name {
                cells.push(node_name(response, flow).to_owned());
            }
            cells.extend([src, dst, type_text(flow), flow.verdict.to_string()]);
            cells.push(summary(flow));
            cells
        }
        FlowBody::LostEvents(lost) => {
            let mut cells = vec![String::new()];
            if opts.node_name {
                cells.push(String::new());
            }
            cells.extend([lost.source.name().to_owned(), String::new(), "EVENTS LOST".to_owned(), String::new()]);
            cells.push(lost_summary(lost, " - "));
            cells
        }
    };
    cells.join("\t")
}

/// Lines tab-separated cells up in columns, as Go's tabwriter does for
/// Hubble (padding 3, minimum width 2); the last cell of a line is not padded.
pub fn align_table(lines: &[String]) -> String {
    const PADDING: usize = 3;
    const MIN_WIDTH: usize = 2;
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().take(row.len() - 1).enumerate() {
            let w = (cell.chars().count() + PADDING).max(MIN_WIDTH);
            match widths.get_mut(i) {
                Some(width) => *width = (*width).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{
        CiliumEventType, Dns, EVENT_TYPE_L7, Emitter, FlowExtensions, Http, Ip, L7Type, LostSource, Tcp, TcpFlags, Udp,
        Verdict,
    };

    fn at() -> chrono::DateTime<chrono::Utc> {
        "2024-05-04T13:23:47.852Z".parse().unwrap()
    }

    fn pod(identity: u32, name: &str) -> Endpoint {
        Endpoint { identity, namespace: "default".into(), pod_name: name.into(), ..Endpoint::default() }
    }

    fn tcp(src: u16, dst: u16, flags: TcpFlags) -> Option<Layer4> {
        Some(Layer4::Tcp(Tcp { source_port: src, destination_port: dst, flags: Some(flags) }))
    }

    fn syn() -> Flow {
        Flow {
            time: Some(at()),
            emitter: Some(Emitter { name: "scry".into(), version: String::new() }),
            verdict: Verdict::Forwarded,
            ip: Some(Ip::new("10.0.1.5".parse().unwrap(), "10.0.2.9".parse().unwrap())),
            l4: tcp(42818, 80, TcpFlags { syn: true, ..TcpFlags::default() }),
            source: Some(pod(1234, "xwing")),
            destination: Some(pod(5678, "deathstar-c74d84667-cx5kp")),
            node_name: "node-1".into(),
            is_reply: Some(false),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_TRACE, sub_type: 3 }),
            trace_observation_point: ObservationPoint::ToStack,
            ..Flow::default()
        }
    }

    fn response(flow: Flow) -> FlowResponse {
        FlowResponse { body: FlowBody::Flow(Box::new(flow)), node_name: "node-1".into(), time: at() }
    }

    fn lost() -> FlowResponse {
        FlowResponse {
            body: FlowBody::LostEvents(LostFlows { source: LostSource::HubbleRingBuffer, num_events_lost: 12 }),
            node_name: "node-1".into(),
            time: at(),
        }
    }

    const PLAIN: PrintOptions = PrintOptions { node_name: false };

    fn line(flow: Flow) -> String {
        compact(&response(flow), &PLAIN)
    }

    #[test]
    fn compact_request_with_identities() {
        assert_eq!(
            line(syn()),
            "May  4 13:23:47.852: default/xwing:42818 (ID:1234) -> default/deathstar-c74d84667-cx5kp:80 (ID:5678) \
             to-stack FORWARDED (TCP Flags: SYN)"
        );
        assert_eq!(
            compact(&response(syn()), &PrintOptions { node_name: true }),
            "May  4 13:23:47.852 [node-1]: default/xwing:42818 (ID:1234) -> default/deathstar-c74d84667-cx5kp:80 \
             (ID:5678) to-stack FORWARDED (TCP Flags: SYN)"
        );
    }

    #[test]
    fn compact_reply_shows_the_client_first() {
        let http = Flow {
            ip: Some(Ip::new("10.0.2.9".parse().unwrap(), "10.0.1.5".parse().unwrap())),
            l4: tcp(80, 42818, TcpFlags { ack: true, psh: true, ..TcpFlags::default() }),
            source: syn().destination,
            destination: syn().source,
            is_reply: Some(true),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_L7, sub_type: 0 }),
            l7: Some(Layer7 {
                l7_type: L7Type::Response,
                latency_ns: 12_700_000,
                http: Some(Http {
                    code: 200,
                    method: "GET".into(),
                    url: "http://deathstar/v1/".into(),
                    protocol: "HTTP/1.1".into(),
                    ..Http::default()
                }),
                ..Layer7::default()
            }),
            ..syn()
        };
        assert_eq!(
            line(http),
            "May  4 13:23:47.852: default/xwing:42818 (ID:1234) <- default/deathstar-c74d84667-cx5kp:80 (ID:5678) \
             http-response FORWARDED (HTTP/1.1 200 12ms (GET http://deathstar/v1/))"
        );
    }

    #[test]
    fn compact_drops_ipv6_names_and_reserved_identities() {
        let drop = Flow {
            verdict: Verdict::Dropped,
            ip: Some(Ip::new("2001:db8::7".parse().unwrap(), "2001:db8::1".parse().unwrap())),
            l4: tcp(51000, 22, TcpFlags { ack: true, ..TcpFlags::default() }),
            source: Some(Endpoint::world()),
            destination: Some(Endpoint::host()),
            is_reply: None,
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_DROP, sub_type: 0 }),
            trace_observation_point: ObservationPoint::UnknownPoint,
            extensions: Some(FlowExtensions { kernel_drop_reason: "TCP_OLD_ACK".into(), ..FlowExtensions::default() }),
            ..syn()
        };
        assert_eq!(
            line(drop.clone()),
            "May  4 13:23:47.852: [2001:db8::7]:51000 (world) <> [2001:db8::1]:22 (host) TCP_OLD_ACK DROPPED \
             (TCP Flags: ACK)"
        );
        let denied = Flow { drop_reason_desc: DropReason::PolicyDenied, ..drop };
        assert!(line(denied).ends_with("(host) Policy denied DROPPED (TCP Flags: ACK)"));
        let dns = Flow {
            ip: Some(Ip::new("10.0.1.5".parse().unwrap(), "8.8.8.8".parse().unwrap())),
            l4: Some(Layer4::Udp(Udp { source_port: 40000, destination_port: 53 })),
            destination: Some(Endpoint::world()),
            destination_names: vec!["dns.google".into(), "google-public-dns-a.google.com".into()],
            ..syn()
        };
        assert_eq!(
            line(dns),
            "May  4 13:23:47.852: default/xwing:40000 (ID:1234) -> dns.google,google-public-dns-a.google.com:53 \
             (world) to-stack FORWARDED (UDP)"
        );
        let bare = Flow { source: None, destination: None, l4: None, is_reply: Some(false), ..syn() };
        assert_eq!(
            line(bare),
            "May  4 13:23:47.852: 10.0.1.5 (unknown) -> 10.0.2.9 (unknown) to-stack FORWARDED (IPv4)"
        );
    }

    #[test]
    fn types() {
        let trace_by_sub_type = Flow {
            trace_observation_point: ObservationPoint::UnknownPoint,
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_TRACE, sub_type: 0 }),
            ..syn()
        };
        assert_eq!(type_text(&trace_by_sub_type), "to-endpoint");
        for point in [ObservationPoint::ToStack, ObservationPoint::ToEndpoint] {
            let by_number = TRACE_OBSERVATION_POINTS.iter().find(|(_, n)| *n == point.number());
            assert_eq!(by_number.map(|(name, _)| *name), Some(point.name()), "what --type trace:<name> sends");
        }
        assert_eq!(type_text(&Flow { event_type: None, ..syn() }), "UNKNOWN");
        let dns = |source: &str| Flow {
            l7: Some(Layer7 {
                l7_type: L7Type::Request,
                dns: Some(Dns { observation_source: source.into(), ..Dns::default() }),
                ..Layer7::default()
            }),
            ..syn()
        };
        assert_eq!(type_text(&dns("")), "dns-request");
        assert_eq!(type_text(&dns("proxy")), "dns-request proxy");
    }

    #[test]
    fn summaries() {
        let with_l4 = |l4| summary(&Flow { l4: Some(l4), ..syn() });
        let flags = TcpFlags { ack: true, psh: true, fin: true, ..TcpFlags::default() };
        assert_eq!(with_l4(tcp(1, 2, flags).unwrap()), "TCP Flags: ACK, FIN, PSH");
        assert_eq!(with_l4(Layer4::IcmpV4(Icmp { icmp_type: 8, code: 0 })), "ICMPv4 EchoRequest");
        assert_eq!(with_l4(Layer4::IcmpV4(Icmp { icmp_type: 3, code: 3 })), "ICMPv4 DestinationUnreachable(Port)");
        assert_eq!(with_l4(Layer4::IcmpV4(Icmp { icmp_type: 8, code: 1 })), "ICMPv4 EchoRequest(Code: 1)");
        assert_eq!(with_l4(Layer4::IcmpV4(Icmp { icmp_type: 42, code: 0 })), "ICMPv4 42(0)");
        assert_eq!(with_l4(Layer4::IcmpV6(Icmp { icmp_type: 129, code: 0 })), "ICMPv6 EchoReply");
        assert_eq!(summary(&Flow { summary: "given".into(), ..syn() }), "given");

        let l7 = |l7_type, dns: Dns| {
            summary(&Flow { l7: Some(Layer7 { l7_type, dns: Some(dns), ..Layer7::default() }), ..syn() })
        };
        let query = Dns { query: "api.github.com.".into(), qtypes: vec!["A".into()], ..Dns::default() };
        assert_eq!(l7(L7Type::Request, query.clone()), "DNS Query api.github.com. A");
        let answer = Dns {
            ips: vec!["140.82.112.6".into(), "140.82.112.5".into()],
            cnames: vec!["github.com.".into()],
            ttl: 30,
            ..query.clone()
        };
        assert_eq!(
            l7(L7Type::Response, answer),
            r#"DNS Answer "140.82.112.6,140.82.112.5" CNAMEs: "github.com." TTL: 30 (Query api.github.com. A)"#
        );
        let nx = Dns { rcode: 3, observation_source: "proxy".into(), ..query };
        assert_eq!(l7(L7Type::Response, nx), "DNS Answer RCode: Non-Existent Domain TTL: 0 (Proxy api.github.com. A)");
        let request = Flow {
            l7: Some(Layer7 {
                l7_type: L7Type::Request,
                http: Some(Http {
                    method: "POST".into(),
                    url: "http://deathstar/v1/request-landing".into(),
                    protocol: "HTTP/1.1".into(),
                    ..Http::default()
                }),
                ..Layer7::default()
            }),
            ..syn()
        };
        assert_eq!(summary(&request), "HTTP/1.1 POST http://deathstar/v1/request-landing");
    }

    #[test]
    fn lost_events() {
        assert_eq!(compact(&lost(), &PLAIN), "EVENTS LOST: HUBBLE_RING_BUFFER CPU(0) 12");
        assert_eq!(
            dict(&lost(), &PLAIN),
            "  TIMESTAMP: \n     SOURCE: HUBBLE_RING_BUFFER\n       TYPE: EVENTS LOST\n    VERDICT: \n    SUMMARY: CPU(0) - 12"
        );
        assert_eq!(table_row(&lost(), &PLAIN), "\tHUBBLE_RING_BUFFER\t\tEVENTS LOST\t\tCPU(0) - 12");
    }

    #[test]
    fn dict_block() {
        assert_eq!(
            dict(&response(syn()), &PrintOptions { node_name: true }),
            "  TIMESTAMP: May  4 13:23:47.852\n       NODE: node-1\n     SOURCE: default/xwing:42818\n\
             DESTINATION: default/deathstar-c74d84667-cx5kp:80\n       TYPE: to-stack\n    VERDICT: FORWARDED\n\
             \x20   SUMMARY: TCP Flags: SYN"
        );
    }

    #[test]
    fn table() {
        let opts = PrintOptions { node_name: true };
        assert_eq!(table_header(&opts), "TIMESTAMP\tNODE\tSOURCE\tDESTINATION\tTYPE\tVERDICT\tSUMMARY");
        assert_eq!(
            table_row(&response(syn()), &PLAIN),
            "May  4 13:23:47.852\tdefault/xwing:42818\tdefault/deathstar-c74d84667-cx5kp:80\tto-stack\tFORWARDED\t\
             TCP Flags: SYN"
        );
        let lines = vec!["A\tBB\tC".to_owned(), "AAAA\t\tlast cell".to_owned()];
        assert_eq!(align_table(&lines), "A      BB   C\nAAAA        last cell\n");
    }
}
