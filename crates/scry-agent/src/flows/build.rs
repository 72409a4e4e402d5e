//! Kernel flow records and the socket tracer's L7 records, as Hubble flows.

use std::net::IpAddr;
use std::sync::Arc;

use scry_bpf::net::{FlowKey, NetDirection, NetEventKind, NetRecord, Origin, ip_proto};
use scry_bpf::socket::Role;
use scry_model::event::Timestamp;
use scry_model::flow::{
    self, CiliumEventType, DropReason, EXTENSIONS_TYPE_URL, Emitter, Endpoint, Flow, FlowBody, FlowExtensions,
    FlowProcess, FlowResponse, FlowType, Icmp, Ip, L7Type, Layer4, Layer7, ObservationPoint, Tcp, TcpFlags,
    TrafficDirection, Udp, Verdict,
};

use super::endpoints::{Endpoints, pod_endpoint};
use super::{L7Event, L7Kind};
use crate::pipeline::Pipeline;

/// Turns records into flows: endpoints, names, process, time, ids.
pub struct FlowBuilder {
    pipeline: Arc<Pipeline>,
    pub endpoints: Endpoints,
    node_name: Arc<str>,
    emitter: Emitter,
    /// This kernel's drop reason names by value (from its BTF).
    drop_reasons: Vec<(u32, String)>,
    /// Flow uuids: this agent's random prefix, then a sequence number.
    uuid_prefix: String,
    seq: u64,
}

/// One side of a flow.
struct Side {
    addr: IpAddr,
    port: u16,
    endpoint: Arc<Endpoint>,
}

impl FlowBuilder {
    pub fn new(pipeline: Arc<Pipeline>, node_name: &str, drop_reasons: Vec<(u32, String)>) -> FlowBuilder {
        let random = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
        FlowBuilder {
            endpoints: Endpoints::new(pipeline.clone()),
            pipeline,
            node_name: node_name.into(),
            emitter: Emitter { name: "Scry".into(), version: env!("CARGO_PKG_VERSION").into() },
            drop_reasons,
            uuid_prefix: random.trim().get(..24).unwrap_or("00000000-0000-4000-8000-").to_owned(),
            seq: 0,
        }
    }

    fn uuid(&mut self) -> String {
        self.seq += 1;
        format!("{}{:012x}", self.uuid_prefix, self.seq)
    }

    fn time(&self, ktime: u64) -> Timestamp {
        chrono::DateTime::from_timestamp_nanos(self.pipeline.wall_ns(ktime))
    }

    fn envelope(&mut self, mut flow: Flow, ktime: u64) -> FlowResponse {
        let time = self.time(ktime);
        flow.time = Some(time);
        flow.uuid = self.uuid();
        flow.emitter = Some(self.emitter.clone());
        flow.node_name = self.node_name.to_string();
        flow.summary = flow::print::summary(&flow);
        FlowResponse { body: FlowBody::Flow(Box::new(flow)), node_name: self.node_name.clone(), time }
    }

    /// The kernel's name for a drop reason value, without its prefix.
    fn drop_reason_name(&self, value: u32) -> String {
        self.drop_reasons
            .iter()
            .find(|(v, _)| *v == value)
            .map_or_else(|| format!("REASON_{value}"), |(_, n)| n.clone())
    }

    /// The local side's endpoint (the observing socket's) and the remote's.
    fn sides(&mut self, key: &FlowKey, cgroup_id: u64) -> (Side, Side) {
        let local_ep = if cgroup_id != 0 {
            let ep = self.endpoints.of_cgroup(cgroup_id);
            self.endpoints.learn(key.local, &ep);
            ep
        } else {
            self.endpoints.of_ip(key.local)
        };
        // Loopback stays inside the observing socket's network namespace.
        let remote_ep = if key.remote.is_loopback() { local_ep.clone() } else { self.endpoints.of_ip(key.remote) };
        (
            Side { addr: key.local, port: key.local_port, endpoint: local_ep },
            Side { addr: key.remote, port: key.remote_port, endpoint: remote_ep },
        )
    }

    /// A trace or drop record as a flow; retransmits and resets are not
    /// flows (they are counted on the flow's next record).
    pub fn from_kernel(&mut self, r: &NetRecord) -> Option<FlowResponse> {
        let (verdict, event_type) = match r.kind {
            NetEventKind::Trace => (Verdict::Forwarded, flow::EVENT_TYPE_TRACE),
            NetEventKind::Drop => (Verdict::Dropped, flow::EVENT_TYPE_DROP),
            NetEventKind::Retransmit | NetEventKind::Reset => return None,
        };
        let (local, remote) = self.sides(&r.key, r.cgroup_id);
        let (src, dst) = match r.dir {
            NetDirection::Egress => (local, remote),
            NetDirection::Ingress => (remote, local),
        };
        let l4 = match r.key.protocol {
            ip_proto::TCP => Layer4::Tcp(Tcp {
                source_port: src.port,
                destination_port: dst.port,
                flags: Some(TcpFlags::from_bits(r.tcp_flags)),
            }),
            ip_proto::UDP => Layer4::Udp(Udp { source_port: src.port, destination_port: dst.port }),
            ip_proto::ICMP => Layer4::IcmpV4(Icmp { icmp_type: u32::from(r.icmp_type), code: u32::from(r.icmp_code) }),
            _ => Layer4::IcmpV6(Icmp { icmp_type: u32::from(r.icmp_type), code: u32::from(r.icmp_code) }),
        };
        // A packet the flow's opener sent is a request; one the other side sent, a reply.
        let sent_by_local = r.dir == NetDirection::Egress;
        let is_reply = match r.origin {
            Origin::Local => Some(!sent_by_local),
            Origin::Remote => Some(sent_by_local),
            Origin::Unknown => None,
        };
        // Hubble's direction is the connection's, seen from the endpoint.
        let traffic_direction = match (r.origin, sent_by_local) {
            (Origin::Local, _) | (Origin::Unknown, true) => TrafficDirection::Egress,
            (Origin::Remote, _) | (Origin::Unknown, false) => TrafficDirection::Ingress,
        };
        let point = if sent_by_local { ObservationPoint::ToStack } else { ObservationPoint::ToEndpoint };
        let (drop_reason_desc, kernel_drop_reason, sub_type) = if r.kind == NetEventKind::Drop {
            let name = self.drop_reason_name(r.drop_reason);
            let desc = DropReason::from_kernel(&name);
            (desc, name, desc.code() as i32)
        } else {
            (DropReason::Unknown, String::new(), point.number())
        };
        let process = (r.pid != 0).then(|| {
            let p = self.pipeline.process_of(r.pid);
            FlowProcess {
                pid: r.pid,
                binary: p.as_ref().map(|p| p.binary.clone()).unwrap_or_default(),
                exec_id: p.as_ref().map(|p| p.exec_id.clone()).unwrap_or_default(),
            }
        });
        let c = r.counts;
        let flow = Flow {
            verdict,
            drop_reason: drop_reason_desc.code(),
            drop_reason_desc,
            ip: Some(Ip::new(src.addr, dst.addr)),
            l4: Some(l4),
            source_names: self.endpoints.names(src.addr),
            destination_names: self.endpoints.names(dst.addr),
            source: Some((*src.endpoint).clone()),
            destination: Some((*dst.endpoint).clone()),
            flow_type: FlowType::L3L4,
            is_reply,
            event_type: Some(CiliumEventType { event_type, sub_type }),
            traffic_direction,
            trace_observation_point: if r.kind == NetEventKind::Trace { point } else { ObservationPoint::UnknownPoint },
            socket_cookie: r.cookie,
            cgroup_id: r.cgroup_id,
            extensions: Some(FlowExtensions {
                type_url: EXTENSIONS_TYPE_URL.into(),
                packets_sent: c.packets_sent,
                packets_received: c.packets_received,
                bytes_sent: c.bytes_sent,
                bytes_received: c.bytes_received,
                retransmits: c.retransmits,
                resets: c.resets,
                kernel_drop_reason,
                process,
            }),
            ..Flow::default()
        };
        Some(self.envelope(flow, r.ts))
    }

    /// An HTTP or DNS exchange as two L7 flows, request then response, from
    /// the client to the server. DNS answers also name their addresses.
    pub fn from_l7(&mut self, e: &L7Event) -> Vec<FlowResponse> {
        if let L7Kind::Dns { answers, .. } = &e.kind {
            for (name, ip) in answers.iter().filter_map(|a| Some((&a.name, a.ip?))) {
                self.endpoints.learn_name(ip, name);
            }
        }
        let (Some(local), Some(remote)) = (e.local, e.remote) else { return Vec::new() };
        // The local side is a process of this node: its pod, else the host.
        let local_ep = match self.pipeline.process_of(e.pid) {
            Some(p) => p.pod.as_ref().map_or_else(|| self.endpoints.host(), |pod| Arc::new(pod_endpoint(pod))),
            None => self.endpoints.of_ip(local.ip()),
        };
        let remote_ep = if remote.ip().is_loopback() { local_ep.clone() } else { self.endpoints.of_ip(remote.ip()) };
        let local = (local, local_ep);
        let remote = (remote, remote_ep);
        // DNS over UDP has no role from connect/accept: the server is on port 53.
        let local_serves = match (&e.kind, e.role) {
            (_, Role::Server) => true,
            (L7Kind::Dns { .. }, Role::Unknown) => local.0.port() == 53,
            _ => false,
        };
        let (client, server, direction) = if local_serves {
            (remote, local, TrafficDirection::Ingress)
        } else {
            (local, remote, TrafficDirection::Egress)
        };
        let latency_ns = e.resp_ts.saturating_sub(e.req_ts);
        let mut out = Vec::with_capacity(2);
        for (l7_type, ts) in [(L7Type::Request, e.req_ts), (L7Type::Response, e.resp_ts)] {
            let reply = l7_type == L7Type::Response;
            let (src, dst) = if reply { (&server, &client) } else { (&client, &server) };
            let (http, dns, udp) = match &e.kind {
                L7Kind::Http { method, url, protocol, status } => {
                    let http = flow::Http {
                        code: if reply { *status } else { 0 },
                        method: method.clone(),
                        url: url.clone(),
                        protocol: protocol.clone(),
                        headers: Vec::new(),
                    };
                    (Some(http), None, false)
                }
                L7Kind::Dns { query, qtypes, answers, rcode } => {
                    let dns = flow::Dns {
                        query: query.clone(),
                        ips: if reply {
                            answers.iter().filter_map(|a| a.ip).map(|ip| ip.to_string()).collect()
                        } else {
                            Vec::new()
                        },
                        cnames: if reply {
                            answers.iter().filter_map(|a| a.cname.clone()).collect()
                        } else {
                            Vec::new()
                        },
                        observation_source: "scry".into(),
                        rcode: if reply { u32::from(*rcode) } else { 0 },
                        qtypes: qtypes.clone(),
                        rrtypes: if reply { answers.iter().map(|a| a.rtype.clone()).collect() } else { Vec::new() },
                        ttl: 0,
                    };
                    (None, Some(dns), e.udp)
                }
            };
            let (sp, dp) = (src.0.port(), dst.0.port());
            let l4 = if udp {
                Layer4::Udp(Udp { source_port: sp, destination_port: dp })
            } else {
                Layer4::Tcp(Tcp { source_port: sp, destination_port: dp, flags: None })
            };
            let flow = Flow {
                verdict: Verdict::Forwarded,
                ip: Some(Ip::new(src.0.ip(), dst.0.ip())),
                l4: Some(l4),
                source: Some((*src.1).clone()),
                destination: Some((*dst.1).clone()),
                source_names: self.endpoints.names(src.0.ip()),
                destination_names: self.endpoints.names(dst.0.ip()),
                flow_type: FlowType::L7,
                l7: Some(Layer7 { l7_type, latency_ns: if reply { latency_ns } else { 0 }, dns, http }),
                is_reply: Some(reply),
                event_type: Some(CiliumEventType { event_type: flow::EVENT_TYPE_L7, sub_type: 0 }),
                traffic_direction: direction,
                ..Flow::default()
            };
            out.push(self.envelope(flow, ts));
        }
        out
    }
}
