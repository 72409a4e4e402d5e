//! `GET /metrics` in the Prometheus text format (OpenMetrics): Hubble's flow
//! families under `hubble_` (counted as flows are made), the agent's health
//! under `scry_` and the standard `process_` families (both read at scrape
//! time). Served on the API socket and, with `--metrics-addr`, on TCP for
//! Prometheus to scrape.

pub mod flow;
pub mod health;
pub mod spec;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use scry_store::Store;

use self::flow::{FlowMetrics, Labels};
use self::health::{AgentHealth, HubbleLost, ProcessHealth, StatusFn};
use self::spec::FlowMetricsSpec;

/// Hubble's metrics port.
pub const DEFAULT_ADDR: &str = "0.0.0.0:9965";

const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where Prometheus scrapes; `None` serves `/metrics` on the API socket only.
    pub listen: Option<SocketAddr>,
    pub flows: FlowMetricsSpec,
    /// Series each flow metric family keeps at most.
    pub max_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { listen: None, flows: FlowMetricsSpec::default(), max_series: flow::DEFAULT_MAX_SERIES }
    }
}

pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// The registry with the flow families `cfg` asks for, and where flows
    /// are counted.
    pub fn new(cfg: &MetricsConfig) -> (Metrics, Arc<FlowMetrics>) {
        let mut registry = Registry::default();
        let refused = Family::<Labels, Counter>::default();
        let flows = FlowMetrics::register(
            &cfg.flows,
            cfg.max_series,
            registry.sub_registry_with_prefix("hubble"),
            refused.clone(),
        );
        registry.sub_registry_with_prefix("scry").register(
            "metrics_series_refused",
            "Observations a flow metric family refused because it had its --metrics-max-series series",
            refused,
        );
        (Metrics { registry }, flows)
    }

    /// Adds the families read at scrape time: the agent's health and losses.
    pub fn with_health(mut self, status: StatusFn, store: Arc<Store>) -> Metrics {
        self.registry
            .sub_registry_with_prefix("hubble")
            .register_collector(Box::new(HubbleLost { status: status.clone() }));
        self.registry.sub_registry_with_prefix("scry").register_collector(Box::new(AgentHealth { status, store }));
        self.registry.sub_registry_with_prefix("process").register_collector(Box::new(ProcessHealth));
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String does not fail; a collector's error would be a bug.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("encoding metrics failed: {e}");
        }
        out
    }
}

/// `GET /metrics`.
pub async fn handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], metrics.render())
}

pub fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(handler)).with_state(metrics)
}

#[cfg(test)]
mod tests {
    use scry_model::flow::{
        CiliumEventType, Dns, DropReason, EVENT_TYPE_DROP, EVENT_TYPE_L7, EVENT_TYPE_TRACE, Endpoint, Flow, Http, Ip,
        L7Type, Layer4, Layer7, ObservationPoint, Tcp, TcpFlags, TrafficDirection, Udp, Verdict,
    };

    use super::*;

    fn pod(ns: &str, name: &str) -> Endpoint {
        Endpoint { namespace: ns.into(), pod_name: name.into(), ..Endpoint::default() }
    }

    fn tcp(flags: TcpFlags, verdict: Verdict, port: u16) -> Flow {
        let event_type = if verdict == Verdict::Dropped { EVENT_TYPE_DROP } else { EVENT_TYPE_TRACE };
        Flow {
            verdict,
            drop_reason_desc: if verdict == Verdict::Dropped { DropReason::PolicyDenied } else { DropReason::Unknown },
            ip: Some(Ip::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into())),
            l4: Some(Layer4::Tcp(Tcp { source_port: 40000, destination_port: port, flags: Some(flags) })),
            source: Some(pod("shop", "client")),
            destination: Some(pod("shop", "server")),
            is_reply: Some(false),
            event_type: Some(CiliumEventType { event_type, sub_type: 0 }),
            trace_observation_point: ObservationPoint::ToEndpoint,
            ..Flow::default()
        }
    }

    fn http_response(status: u32, latency_ns: u64) -> Flow {
        Flow {
            verdict: Verdict::Forwarded,
            ip: Some(Ip::new([10, 0, 0, 2].into(), [10, 0, 0, 1].into())),
            l4: Some(Layer4::Tcp(Tcp { source_port: 80, destination_port: 40000, flags: None })),
            source: Some(pod("shop", "server")),
            destination: Some(pod("shop", "client")),
            is_reply: Some(true),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_L7, sub_type: 0 }),
            traffic_direction: TrafficDirection::Ingress,
            l7: Some(Layer7 {
                l7_type: L7Type::Response,
                latency_ns,
                http: Some(Http { code: status, method: "GET".into(), protocol: "HTTP/1.1".into(), ..Http::default() }),
                dns: None,
            }),
            ..Flow::default()
        }
    }

    fn dns(reply: bool) -> Flow {
        Flow {
            verdict: Verdict::Forwarded,
            ip: Some(Ip::new([10, 0, 0, 1].into(), [10, 0, 0, 53].into())),
            l4: Some(Layer4::Udp(Udp { source_port: 5353, destination_port: 53 })),
            is_reply: Some(reply),
            event_type: Some(CiliumEventType { event_type: EVENT_TYPE_L7, sub_type: 0 }),
            l7: Some(Layer7 {
                l7_type: if reply { L7Type::Response } else { L7Type::Request },
                dns: Some(Dns {
                    query: "db.shop.".into(),
                    qtypes: vec!["A".into()],
                    ips: if reply { vec!["10.0.0.9".into()] } else { Vec::new() },
                    rrtypes: if reply { vec!["A".into()] } else { Vec::new() },
                    rcode: 0,
                    ..Dns::default()
                }),
                ..Layer7::default()
            }),
            ..Flow::default()
        }
    }

    fn render(spec: &str, max_series: usize, flows: &[Flow]) -> String {
        let cfg = MetricsConfig { listen: None, flows: spec.parse().unwrap(), max_series };
        let (metrics, counting) = Metrics::new(&cfg);
        for f in flows {
            counting.observe(f);
        }
        metrics.render()
    }

    fn has(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "no line\n{line}\nin\n{text}");
    }

    #[test]
    fn hubble_families_count_flows_with_their_labels() {
        let syn = TcpFlags { syn: true, ..TcpFlags::default() };
        let syn_ack = TcpFlags { syn: true, ack: true, ..TcpFlags::default() };
        let flows = [
            tcp(syn, Verdict::Forwarded, 80),
            tcp(syn_ack, Verdict::Forwarded, 80),
            tcp(syn, Verdict::Dropped, 9090),
            tcp(syn, Verdict::Dropped, 9090),
            http_response(200, 2_000_000),
            http_response(200, 30_000_000),
            http_response(500, 1_000_000),
            dns(false),
            dns(true),
        ];
        let text = render(
            "flow drop:sourceContext=pod;destinationContext=pod-name tcp port-distribution \
             httpV2:sourceContext=pod;destinationContext=pod dns:query",
            100,
            &flows,
        );
        has(&text, r#"hubble_flows_processed_total{type="Trace",subtype="to-endpoint",verdict="FORWARDED"} 2"#);
        has(&text, r#"hubble_flows_processed_total{type="Drop",subtype="",verdict="DROPPED"} 2"#);
        has(&text, r#"hubble_flows_processed_total{type="L7",subtype="HTTP",verdict="FORWARDED"} 3"#);
        has(&text, r#"hubble_flows_processed_total{type="L7",subtype="DNS",verdict="FORWARDED"} 2"#);
        has(
            &text,
            r#"hubble_drop_total{source="shop/client",destination="server",reason="POLICY_DENIED",protocol="TCP"} 2"#,
        );
        has(&text, r#"hubble_tcp_flags_total{flag="SYN",family="IPv4"} 1"#);
        has(&text, r#"hubble_tcp_flags_total{flag="SYN-ACK",family="IPv4"} 1"#);
        // Forwarded requests only: the drops and the replies are not counted.
        has(&text, r#"hubble_port_distribution_total{protocol="TCP",port="80"} 2"#);
        has(&text, r#"hubble_port_distribution_total{protocol="UDP",port="53"} 1"#);
        // Responses count from the request's perspective: the client is the source.
        let http = r#"source="shop/client",destination="shop/server",method="GET",protocol="HTTP/1.1""#;
        has(&text, &format!(r#"hubble_http_requests_total{{{http},status="200",reporter="server"}} 2"#));
        has(&text, &format!(r#"hubble_http_requests_total{{{http},status="500",reporter="server"}} 1"#));
        let lat = r#"source="shop/client",destination="shop/server",method="GET",reporter="server""#;
        has(&text, &format!(r#"hubble_http_request_duration_seconds_count{{{lat}}} 3"#));
        has(&text, &format!(r#"hubble_http_request_duration_seconds_bucket{{le="0.005",{lat}}} 2"#));
        has(&text, &format!(r#"hubble_http_request_duration_seconds_bucket{{le="0.05",{lat}}} 3"#));
        has(&text, r#"hubble_dns_queries_total{query="db.shop.",rcode="",qtypes="A",ips_returned="0"} 1"#);
        has(&text, r#"hubble_dns_responses_total{query="db.shop.",rcode="No Error",qtypes="A",ips_returned="1"} 1"#);
        has(&text, r#"hubble_dns_response_types_total{query="db.shop.",type="A",qtypes="A"} 1"#);
        has(&text, r#"scry_metrics_series_refused_total{metric="hubble_flows_processed_total"} 0"#);
    }

    #[test]
    fn a_family_at_its_cap_refuses_new_series_and_counts_them() {
        let flows: Vec<Flow> = (1..=5).map(|p| tcp(TcpFlags::default(), Verdict::Forwarded, p)).collect();
        let cfg = MetricsConfig { listen: None, flows: "port-distribution".parse().unwrap(), max_series: 2 };
        let (metrics, counting) = Metrics::new(&cfg);
        for f in flows.iter().chain(&flows) {
            counting.observe(f);
        }
        let text = metrics.render();
        has(&text, r#"hubble_port_distribution_total{protocol="TCP",port="1"} 2"#);
        has(&text, r#"hubble_port_distribution_total{protocol="TCP",port="2"} 2"#);
        assert!(!text.contains(r#"port="3""#), "{text}");
        has(&text, r#"scry_metrics_series_refused_total{metric="hubble_port_distribution_total"} 6"#);
        assert_eq!(counting.refused(), 6);
    }
}
