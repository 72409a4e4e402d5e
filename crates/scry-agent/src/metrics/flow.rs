//! Hubble's flow metrics, counted from the flows the agent makes: the same
//! families, labels and rules as Hubble's plugins (so its dashboards and
//! alerts work unchanged), each family bounded in series.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use scry_model::flow::{self, DropReason, Endpoint, Flow, IpVersion, L7Type, Layer4, TrafficDirection, Verdict};

use super::spec::{Context, ContextOptions, FlowMetricsSpec, LabelContext, Plugin, PluginSpec, Side};

/// A series' labels: names are fixed per family, values come from flows.
pub type Labels = Vec<(&'static str, String)>;

/// Series one family keeps by default; observations that would make more
/// are dropped and counted.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// Prometheus' default histogram buckets, as Hubble's HTTP latency uses.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone)]
struct HistogramConstructor;

impl MetricConstructor<Histogram> for HistogramConstructor {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

/// A family that keeps at most `cap` series. At the cap, series idle for
/// [`SERIES_IDLE`] (a deleted pod's, a finished job's) give way to new
/// ones, as Hubble drops a deleted pod's series; only when every series is
/// active are new ones refused, and counted.
struct Capped<M: Clone, C: MetricConstructor<M> = fn() -> M> {
    family: Family<Labels, M, C>,
    cap: usize,
    series: Mutex<Series<M>>,
    /// Observations refused because the family was full.
    refused: Counter,
}

/// Each series' metric handle (a shared counter or histogram, so one hash
/// per observation) and when it was last counted; when idle series were
/// last swept.
struct Series<M> {
    by_labels: HashMap<Labels, (Instant, M)>,
    last_sweep: Option<Instant>,
}

impl<M> Default for Series<M> {
    fn default() -> Self {
        Series { by_labels: HashMap::new(), last_sweep: None }
    }
}

/// A series counted no more for this long may be removed to make room.
pub const SERIES_IDLE: Duration = Duration::from_secs(300);

/// A full family looks for idle series at most this often: the sweep walks
/// every series.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

impl<M: Clone, C: MetricConstructor<M>> Capped<M, C> {
    fn new(family: Family<Labels, M, C>, cap: usize, refused: Counter) -> Self {
        Capped { family, cap, series: Mutex::default(), refused }
    }

    fn with(&self, labels: &Labels, f: impl FnOnce(&M)) {
        self.with_at(labels, Instant::now(), f);
    }

    fn with_at(&self, labels: &Labels, now: Instant, f: impl FnOnce(&M)) {
        let mut guard = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let Series { by_labels: series, last_sweep } = &mut *guard;
        if let Some((touched, metric)) = series.get_mut(labels) {
            *touched = now;
            f(metric);
            return;
        }
        if series.len() >= self.cap && last_sweep.is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY) {
            *last_sweep = Some(now);
            series.retain(|l, (touched, _)| {
                let keep = now.duration_since(*touched) < SERIES_IDLE;
                if !keep {
                    self.family.remove(l);
                }
                keep
            });
        }
        if series.len() >= self.cap {
            self.refused.inc();
            return;
        }
        let metric = self.family.get_or_create_owned(labels);
        f(&metric);
        series.insert(labels.clone(), (now, metric));
    }
}

/// Where families are made: the registry they are shown in, the series cap
/// and the counter of what each cap refused.
struct Maker<'r> {
    registry: &'r mut Registry,
    cap: usize,
    refused: Family<Labels, Counter>,
    /// Every family's refused counter.
    made: Vec<Counter>,
}

impl Maker<'_> {
    fn counter(&mut self, name: &str, help: &str) -> Capped<Counter> {
        let family = Family::<Labels, Counter>::default();
        self.registry.register(name, help, family.clone());
        let refused = self.refused.get_or_create(&vec![("metric", format!("hubble_{name}_total"))]).clone();
        self.made.push(refused.clone());
        Capped::new(family, self.cap, refused)
    }

    fn latency(&mut self, name: &str, help: &str) -> Capped<Histogram, HistogramConstructor> {
        let family = Family::<Labels, Histogram, _>::new_with_constructor(HistogramConstructor);
        self.registry.register_with_unit(name, help, Unit::Seconds, family.clone());
        let refused = self.refused.get_or_create(&vec![("metric", format!("hubble_{name}_seconds"))]).clone();
        self.made.push(refused.clone());
        Capped::new(family, self.cap, refused)
    }
}

/// One plugin's families and how it reads a flow.
enum Handler {
    Flow(Capped<Counter>),
    Drop(Capped<Counter>),
    Tcp(Capped<Counter>),
    Dns { queries: Capped<Counter>, responses: Capped<Counter>, response_types: Capped<Counter> },
    Http { requests: Capped<Counter>, duration: Capped<Histogram, HistogramConstructor> },
    Icmp(Capped<Counter>),
    PortDistribution(Capped<Counter>),
    FlowsToWorld(Capped<Counter>),
}

struct PluginMetrics {
    spec: PluginSpec,
    handler: Handler,
}

/// The flow metrics `--flow-metrics` asked for.
pub struct FlowMetrics {
    plugins: Vec<PluginMetrics>,
    refused: Vec<Counter>,
}

impl FlowMetrics {
    /// Registers the families of `spec`'s plugins in `registry` (Hubble's
    /// names; the caller gives it the `hubble` prefix) and the counter of
    /// refused series in `refused`.
    pub fn register(
        spec: &FlowMetricsSpec,
        max_series: usize,
        registry: &mut Registry,
        refused: Family<Labels, Counter>,
    ) -> Arc<FlowMetrics> {
        let mut mk = Maker { registry, cap: max_series, refused, made: Vec::new() };
        let plugins = spec
            .plugins
            .iter()
            .map(|p| {
                let handler = match p.plugin {
                    Plugin::Flow => {
                        Handler::Flow(mk.counter("flows_processed", "Flows processed by type, subtype and verdict"))
                    }
                    Plugin::Drop => Handler::Drop(mk.counter("drop", "Dropped packets by reason and protocol")),
                    Plugin::Tcp => Handler::Tcp(mk.counter("tcp_flags", "TCP packets by flag")),
                    Plugin::Dns => Handler::Dns {
                        queries: mk.counter("dns_queries", "DNS queries observed"),
                        responses: mk.counter("dns_responses", "DNS responses observed"),
                        response_types: mk.counter("dns_response_types", "DNS response record types"),
                    },
                    Plugin::HttpV2 => Handler::Http {
                        requests: mk.counter("http_requests", "HTTP requests by method, protocol, status and reporter"),
                        duration: mk.latency("http_request_duration", "HTTP request latency"),
                    },
                    Plugin::Icmp => Handler::Icmp(mk.counter("icmp", "ICMP messages by family and type")),
                    Plugin::PortDistribution => Handler::PortDistribution(
                        mk.counter("port_distribution", "Destination ports of forwarded requests"),
                    ),
                    Plugin::FlowsToWorld => {
                        Handler::FlowsToWorld(mk.counter("flows_to_world", "Flows leaving the cluster for world"))
                    }
                };
                PluginMetrics { spec: p.clone(), handler }
            })
            .collect();
        Arc::new(FlowMetrics { plugins, refused: mk.made })
    }

    /// Observations the series caps refused, over all families.
    pub fn refused(&self) -> u64 {
        self.refused.iter().map(Counter::get).sum()
    }

    /// The plugins counting, by name.
    pub fn plugins(&self) -> Vec<String> {
        self.plugins.iter().map(|p| p.spec.plugin.name().to_owned()).collect()
    }

    /// Counts one flow in every family it belongs to.
    pub fn observe(&self, f: &Flow) {
        for p in &self.plugins {
            p.observe(f);
        }
    }
}

impl PluginMetrics {
    fn observe(&self, f: &Flow) {
        let ctx = &self.spec.context;
        match &self.handler {
            Handler::Flow(family) => {
                let (kind, subtype) = flow_type(f);
                let mut l = context_labels(ctx, f, false);
                l.extend([("type", kind.to_owned()), ("subtype", subtype), ("verdict", f.verdict.name().to_owned())]);
                family.with(&l, |c| {
                    c.inc();
                });
            }
            Handler::Drop(family) => {
                if f.verdict != Verdict::Dropped {
                    return;
                }
                let mut l = context_labels(ctx, f, false);
                l.extend([("reason", f.drop_reason_desc.name().to_owned()), ("protocol", protocol(f).to_owned())]);
                family.with(&l, |c| {
                    c.inc();
                });
            }
            Handler::Tcp(family) => {
                let (Some(Layer4::Tcp(tcp)), Some(ip)) = (&f.l4, &f.ip) else { return };
                let Some(flags) = tcp.flags else { return };
                if !matches!(f.verdict, Verdict::Forwarded | Verdict::Redirected) {
                    return;
                }
                let family_name = ip_family(ip.ip_version);
                let names = [
                    (flags.syn && !flags.ack, "SYN"),
                    (flags.syn && flags.ack, "SYN-ACK"),
                    (flags.fin, "FIN"),
                    (flags.rst, "RST"),
                ];
                let base = context_labels(ctx, f, false);
                for (_, name) in names.into_iter().filter(|(set, _)| *set) {
                    let mut l = base.clone();
                    l.extend([("flag", name.to_owned()), ("family", family_name.to_owned())]);
                    family.with(&l, |c| {
                        c.inc();
                    });
                }
            }
            Handler::Dns { queries, responses, response_types } => {
                let Some(dns) = f.l7.as_ref().and_then(|l7| l7.dns.as_ref()) else { return };
                if self.spec.has("ignoreAAAA") && dns.qtypes.first().is_some_and(|q| q == "AAAA") {
                    return;
                }
                let qtypes = dns.qtypes.join(",");
                let mut base = context_labels(ctx, f, false);
                if self.spec.has("query") {
                    base.push(("query", dns.query.clone()));
                }
                if f.is_reply == Some(true) {
                    let mut l = base.clone();
                    l.extend([
                        ("rcode", flow::print::rcode_text(dns.rcode).to_owned()),
                        ("qtypes", qtypes.clone()),
                        ("ips_returned", dns.ips.len().to_string()),
                    ]);
                    responses.with(&l, |c| {
                        c.inc();
                    });
                    for rr in &dns.rrtypes {
                        let mut l = base.clone();
                        l.extend([("type", rr.clone()), ("qtypes", qtypes.clone())]);
                        response_types.with(&l, |c| {
                            c.inc();
                        });
                    }
                } else {
                    let mut l = base;
                    l.extend([("rcode", String::new()), ("qtypes", qtypes), ("ips_returned", "0".to_owned())]);
                    queries.with(&l, |c| {
                        c.inc();
                    });
                }
            }
            Handler::Http { requests, duration } => {
                let Some(l7) = &f.l7 else { return };
                let Some(http) = &l7.http else { return };
                // Counted once, from the response: it has the status and the latency.
                if l7.l7_type != L7Type::Response {
                    return;
                }
                let reporter = match f.traffic_direction {
                    TrafficDirection::Ingress => "server",
                    TrafficDirection::Egress => "client",
                    TrafficDirection::TrafficDirectionUnknown => "unknown",
                };
                // Labels from the request's perspective: its source is the client.
                let base = context_labels(ctx, f, true);
                let mut l = base.clone();
                l.extend([
                    ("method", http.method.clone()),
                    ("protocol", http.protocol.clone()),
                    ("status", http.code.to_string()),
                    ("reporter", reporter.to_owned()),
                ]);
                requests.with(&l, |c| {
                    c.inc();
                });
                let mut l = base;
                l.extend([("method", http.method.clone()), ("reporter", reporter.to_owned())]);
                duration.with(&l, |h| h.observe(l7.latency_ns as f64 / 1e9));
            }
            Handler::Icmp(family) => {
                let (fam, kind) = match &f.l4 {
                    Some(Layer4::IcmpV4(i)) => ("IPv4", icmpv4_type(i.icmp_type, i.code)),
                    Some(Layer4::IcmpV6(i)) => ("IPv6", icmpv6_type(i.icmp_type)),
                    _ => return,
                };
                let mut l = context_labels(ctx, f, false);
                l.extend([("family", fam.to_owned()), ("type", kind)]);
                family.with(&l, |c| {
                    c.inc();
                });
            }
            Handler::PortDistribution(family) => {
                // Requests only; a flow whose direction is unknown (its
                // connection predates the agent) is not known to be one.
                if f.verdict != Verdict::Forwarded || f.is_reply != Some(false) {
                    return;
                }
                let Some(l4) = &f.l4 else { return };
                let port = l4.ports().map_or(0, |(_, dst)| dst);
                let mut l = context_labels(ctx, f, false);
                l.extend([("protocol", l4_name(l4).to_owned()), ("port", port.to_string())]);
                family.with(&l, |c| {
                    c.inc();
                });
            }
            Handler::FlowsToWorld(family) => {
                if f.destination.as_ref().and_then(Endpoint::reserved) != Some("world") {
                    return;
                }
                let counted = match f.verdict {
                    Verdict::Forwarded => f.is_reply == Some(false),
                    Verdict::Dropped => self.spec.has("any-drop") || f.drop_reason_desc == DropReason::PolicyDenied,
                    _ => false,
                };
                if !counted {
                    return;
                }
                if self.spec.has("syn-only") {
                    let syn = matches!(&f.l4, Some(Layer4::Tcp(t)) if t.flags.is_some_and(|fl| fl.syn && !fl.ack));
                    if !syn {
                        return;
                    }
                }
                let mut l = context_labels(ctx, f, false);
                l.extend([("protocol", protocol(f).to_owned()), ("verdict", f.verdict.name().to_owned())]);
                if self.spec.has("port") {
                    let port = f.l4.as_ref().and_then(Layer4::ports).map_or(0, |(_, dst)| dst);
                    l.push(("port", port.to_string()));
                }
                family.with(&l, |c| {
                    c.inc();
                });
            }
        }
    }
}

/// Hubble's `type` and `subtype` labels of `flows_processed_total`.
fn flow_type(f: &Flow) -> (&'static str, String) {
    match f.event_type.map(|e| e.event_type) {
        Some(flow::EVENT_TYPE_L7) => {
            let l7 = f.l7.as_ref();
            let sub = if l7.is_some_and(|l| l.dns.is_some()) {
                "DNS"
            } else if l7.is_some_and(|l| l.http.is_some()) {
                "HTTP"
            } else {
                ""
            };
            ("L7", sub.to_owned())
        }
        Some(flow::EVENT_TYPE_DROP) => ("Drop", String::new()),
        Some(flow::EVENT_TYPE_TRACE) => ("Trace", f.trace_observation_point.name().to_owned()),
        _ => ("Unknown", String::new()),
    }
}

fn l4_name(l4: &Layer4) -> &'static str {
    match l4 {
        Layer4::Tcp(_) => "TCP",
        Layer4::Udp(_) => "UDP",
        Layer4::IcmpV4(_) => "ICMPv4",
        Layer4::IcmpV6(_) => "ICMPv6",
    }
}

/// Hubble's flow protocol: the L7 protocol for L7 flows, else the L4 one.
fn protocol(f: &Flow) -> &'static str {
    if f.event_type.is_some_and(|e| e.event_type == flow::EVENT_TYPE_L7) {
        return match &f.l7 {
            Some(l) if l.dns.is_some() => "DNS",
            Some(l) if l.http.is_some() => "HTTP",
            _ => "Unknown L7",
        };
    }
    f.l4.as_ref().map_or("Unknown L4", l4_name)
}

fn ip_family(v: IpVersion) -> &'static str {
    match v {
        IpVersion::IPv4 => "IPv4",
        IpVersion::IPv6 => "IPv6",
        IpVersion::IpNotUsed => "",
    }
}

fn icmpv4_type(t: u32, code: u32) -> String {
    let unreachable = ["Net", "Host", "Protocol", "Port", "FragmentationNeeded", "SourceRoutingFailed"];
    match t {
        0 => "EchoReply".into(),
        3 => match unreachable.get(code as usize) {
            Some(c) => format!("DestinationUnreachable({c})"),
            None => format!("DestinationUnreachable(Code: {code})"),
        },
        5 => "Redirect".into(),
        8 => "EchoRequest".into(),
        11 => "TimeExceeded".into(),
        12 => "ParameterProblem".into(),
        13 => "TimestampRequest".into(),
        14 => "TimestampReply".into(),
        _ => t.to_string(),
    }
}

fn icmpv6_type(t: u32) -> String {
    match t {
        1 => "DestinationUnreachable".into(),
        2 => "PacketTooBig".into(),
        3 => "TimeExceeded".into(),
        4 => "ParameterProblem".into(),
        128 => "EchoRequest".into(),
        129 => "EchoReply".into(),
        133 => "RouterSolicitation".into(),
        134 => "RouterAdvertisement".into(),
        135 => "NeighborSolicitation".into(),
        136 => "NeighborAdvertisement".into(),
        _ => t.to_string(),
    }
}

/// One side of a flow as context labels see it.
struct SideView<'a> {
    endpoint: Option<&'a Endpoint>,
    ip: &'a str,
    names: &'a [String],
}

impl SideView<'_> {
    fn of(f: &Flow, side: Side) -> SideView<'_> {
        match side {
            Side::Source => SideView {
                endpoint: f.source.as_ref(),
                ip: f.ip.as_ref().map_or("", |ip| ip.source.as_str()),
                names: &f.source_names,
            },
            Side::Destination => SideView {
                endpoint: f.destination.as_ref(),
                ip: f.ip.as_ref().map_or("", |ip| ip.destination.as_str()),
                names: &f.destination_names,
            },
        }
    }

    fn namespace(&self) -> String {
        self.endpoint.map(|e| e.namespace.clone()).unwrap_or_default()
    }

    fn pod(&self) -> String {
        match self.endpoint {
            Some(e) if !e.pod_name.is_empty() => format!("{}/{}", e.namespace, e.pod_name),
            _ => String::new(),
        }
    }

    fn workload(&self) -> Option<&scry_model::flow::Workload> {
        self.endpoint.and_then(|e| e.workloads.first())
    }

    fn app(&self) -> String {
        let labels = self.endpoint.map_or(&[][..], |e| &e.labels[..]);
        ["k8s:app=", "k8s:app.kubernetes.io/name="]
            .iter()
            .find_map(|prefix| labels.iter().find_map(|l| l.strip_prefix(prefix)))
            .unwrap_or_default()
            .to_owned()
    }

    fn context(&self, c: Context) -> String {
        match c {
            Context::Namespace => self.namespace(),
            Context::Pod => self.pod(),
            Context::PodName => self.endpoint.map(|e| e.pod_name.clone()).unwrap_or_default(),
            Context::Dns => self.names.first().cloned().unwrap_or_default(),
            Context::Ip => self.ip.to_owned(),
            Context::ReservedIdentity => {
                self.endpoint.and_then(Endpoint::reserved).map(|r| format!("reserved:{r}")).unwrap_or_default()
            }
            Context::Workload => match (self.endpoint, self.workload()) {
                (Some(e), Some(w)) => format!("{}/{}", e.namespace, w.name),
                _ => String::new(),
            },
            Context::WorkloadName => self.workload().map(|w| w.name.clone()).unwrap_or_default(),
            Context::App => self.app(),
        }
    }

    /// The first context of `chain` with a value.
    fn first(&self, chain: &[Context]) -> String {
        chain.iter().map(|c| self.context(*c)).find(|v| !v.is_empty()).unwrap_or_default()
    }
}

/// The `source` / `destination` and `labelsContext` labels of a flow; with
/// `invert`, from the other side's perspective (a response counted as its
/// request).
fn context_labels(ctx: &ContextOptions, f: &Flow, invert: bool) -> Labels {
    let (src, dst) = if invert { (Side::Destination, Side::Source) } else { (Side::Source, Side::Destination) };
    let (source, destination) = (SideView::of(f, src), SideView::of(f, dst));
    let mut labels = Labels::new();
    let egress = f.traffic_direction == TrafficDirection::Egress;
    let ingress = f.traffic_direction == TrafficDirection::Ingress;
    if ctx.has_source() {
        let chain = match (&ctx.source_egress, &ctx.source_ingress) {
            (Some(c), _) if egress => c,
            (_, Some(c)) if ingress => c,
            _ => &ctx.source,
        };
        labels.push(("source", source.first(chain)));
    }
    if ctx.has_destination() {
        let chain = match (&ctx.destination_egress, &ctx.destination_ingress) {
            (Some(c), _) if egress => c,
            (_, Some(c)) if ingress => c,
            _ => &ctx.destination,
        };
        labels.push(("destination", destination.first(chain)));
    }
    for label in &ctx.labels {
        let value = match label {
            LabelContext::TrafficDirection => match f.traffic_direction {
                TrafficDirection::Ingress => "ingress".to_owned(),
                TrafficDirection::Egress => "egress".to_owned(),
                TrafficDirection::TrafficDirectionUnknown => "unknown".to_owned(),
            },
            LabelContext::Ip(s)
            | LabelContext::Namespace(s)
            | LabelContext::Pod(s)
            | LabelContext::Workload(s)
            | LabelContext::WorkloadKind(s)
            | LabelContext::App(s) => {
                let view = if *s == Side::Source { &source } else { &destination };
                match label {
                    LabelContext::Ip(_) => view.ip.to_owned(),
                    LabelContext::Namespace(_) => view.namespace(),
                    LabelContext::Pod(_) => view.endpoint.map(|e| e.pod_name.clone()).unwrap_or_default(),
                    LabelContext::Workload(_) => view.workload().map(|w| w.name.clone()).unwrap_or_default(),
                    LabelContext::WorkloadKind(_) => view.workload().map(|w| w.kind.clone()).unwrap_or_default(),
                    _ => view.app(),
                }
            }
        };
        labels.push((label.name(), value));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(port: u16) -> Labels {
        vec![("port", port.to_string())]
    }

    #[test]
    fn at_the_cap_idle_series_give_way_and_active_ones_refuse() {
        let family = Family::<Labels, Counter>::default();
        let capped = Capped::new(family.clone(), 2, Counter::default());
        let start = Instant::now();
        let inc = |port, at| {
            capped.with_at(&labels(port), at, |c: &Counter| {
                c.inc();
            })
        };
        inc(1, start);
        inc(2, start + SERIES_IDLE / 2);
        // Full, nothing idle: refused.
        inc(3, start + SERIES_IDLE / 2);
        assert_eq!(capped.refused.get(), 1);
        assert!(family.get(&labels(3)).is_none());
        // Port 1 has been idle long enough: it gives way to port 4.
        inc(4, start + SERIES_IDLE + Duration::from_secs(1));
        assert!(family.get(&labels(1)).is_none());
        assert_eq!(family.get(&labels(4)).map(|c| c.get()), Some(1));
        assert_eq!(family.get(&labels(2)).map(|c| c.get()), Some(1));
        // Counting an existing series never sweeps or refuses.
        inc(2, start + SERIES_IDLE * 3);
        assert_eq!(family.get(&labels(2)).map(|c| c.get()), Some(2));
        assert_eq!(capped.refused.get(), 1);
    }
}
