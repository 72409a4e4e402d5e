//! `scry status` output.

use std::fmt::Write;

use scry_agent::client::Client;
use scry_model::status::AgentStatus;

use crate::StatusOutput;

pub async fn show(client: &Client, output: StatusOutput) -> anyhow::Result<()> {
    let status = client.status().await?;
    match output {
        StatusOutput::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        StatusOutput::Text => print!("{}", text(&status)),
    }
    Ok(())
}

fn text(s: &AgentStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Scry agent {} on {} (up {}s)", s.version, s.node_name, s.uptime_seconds);
    let _ = writeln!(o, "Kernel:  {}", s.kernel);
    let _ = writeln!(o, "BTF:     {}", s.btf.as_deref().unwrap_or("none"));
    let _ = writeln!(o, "\nHook kinds (probed by load + attach):");
    for h in &s.hooks {
        match &h.error {
            None => {
                let _ = writeln!(o, "  {:<11} ok", h.kind);
            }
            Some(e) => {
                let _ = writeln!(o, "  {:<11} refused: {e}", h.kind);
            }
        }
    }
    let _ = writeln!(o, "\nSources:");
    for src in &s.sources {
        let _ = writeln!(
            o,
            "  {:<8} hook {:<7} events {:<10} kernel lost {:<8} decode errors {}",
            src.name, src.hook, src.events, src.kernel_lost, src.decode_errors
        );
        for f in &src.fallbacks {
            let _ = writeln!(o, "           fell back from {}: {}", f.kind, f.reason);
        }
        if src.ring_size_bytes > 0 {
            let _ = writeln!(
                o,
                "           ring {} KiB: {} bytes waiting at the last drain, at most {}",
                src.ring_size_bytes >> 10,
                src.ring_used_bytes,
                src.ring_peak_used_bytes
            );
        }
        if !src.maps.is_empty() {
            let maps: Vec<String> =
                src.maps.iter().map(|m| format!("{} {}/{}", m.name, m.entries, m.capacity)).collect();
            let _ = writeln!(o, "           maps: {}", maps.join(", "));
        }
    }
    let st = &s.stream;
    let _ = writeln!(
        o,
        "\nEvent stream: {} subscribers, {} events published, {} dropped (subscriber queues full)",
        st.subscribers, st.events_published, st.queue_dropped
    );
    let pc = &s.process_cache;
    let _ = writeln!(
        o,
        "Process cache: {} / {} entries, {} exited awaiting removal, {} evictions, {} misses",
        pc.size, pc.capacity, pc.exited_pending_removal, pc.evictions, pc.misses
    );
    let t = &s.sockets;
    if t.enabled {
        let _ = writeln!(
            o,
            "Socket tracing: {} connections, {} bytes skipped (holes, bounds), {} messages cut by the kernel, \
             {} client-side exchanges left to their server, {} records of unparsed protocols",
            t.connections, t.skipped_bytes, t.kernel_truncated, t.deduplicated, t.unparsed_records
        );
        let _ = writeln!(
            o,
            "  {:<8} {:>10} {:>12} {:>10} {:>10}",
            "protocol", "frames", "parse errors", "unmatched", "records"
        );
        for p in &t.protocols {
            let _ = writeln!(
                o,
                "  {:<8} {:>10} {:>12} {:>10} {:>10}",
                p.name, p.frames, p.parse_errors, p.unmatched, p.records
            );
        }
        let _ = writeln!(
            o,
            "  conn_stats: {} endpoints, {} refused at the cap",
            t.conn_stats_keys, t.conn_stats_dropped_keys
        );
    } else {
        let _ = writeln!(o, "Socket tracing: off ({})", t.detail);
    }
    let f = &s.flows;
    if f.enabled {
        let _ = writeln!(
            o,
            "Flows: {} made, {} / {} buffered, {} followers ({} flows missed by full queues), {} L7 records dropped \
             (queue full), {} retransmits, {} resets, endpoints {} by cgroup / {} by address, {} DNS names",
            f.seen,
            f.buffered,
            f.capacity,
            f.followers,
            f.follower_dropped,
            f.l7_dropped,
            f.retransmits,
            f.resets,
            f.endpoints_by_cgroup,
            f.endpoints_by_ip,
            f.dns_names
        );
    } else {
        let _ = writeln!(o, "Flows: off ({})", f.detail);
    }
    let m = &s.metrics;
    let _ = writeln!(
        o,
        "Metrics: /metrics on {} and the API socket; flow plugins: {}; {} observations refused at {} series per family",
        m.address.as_deref().unwrap_or("no TCP address (--metrics-addr off)"),
        if m.flow_plugins.is_empty() { "none".to_owned() } else { m.flow_plugins.join(" ") },
        m.series_refused,
        m.max_series
    );
    let k = &s.kubernetes;
    if k.enabled {
        let err = if k.detail.is_empty() { String::new() } else { format!(" (last error: {})", k.detail) };
        let _ = writeln!(o, "Kubernetes: watching this node's pods: {} pods, {} containers{err}", k.pods, k.containers);
    } else {
        let _ = writeln!(o, "Kubernetes: off ({})", k.detail);
    }
    for n in &s.notices {
        let _ = writeln!(o, "Notice: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use scry_model::status::{
        FlowsStatus, MapStatus, MetricsStatus, ProtocolStatus, SocketTracingStatus, SourceStatus,
    };

    use super::*;

    #[test]
    fn socket_tracing_losses_are_shown_per_protocol() {
        let status = AgentStatus {
            sockets: SocketTracingStatus {
                enabled: true,
                connections: 3,
                skipped_bytes: 1000,
                kernel_truncated: 2,
                protocols: vec![ProtocolStatus {
                    name: "http".into(),
                    frames: 10,
                    parse_errors: 1,
                    unmatched: 4,
                    records: 5,
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let out = text(&status);
        assert!(
            out.contains("Socket tracing: 3 connections, 1000 bytes skipped (holes, bounds), 2 messages cut"),
            "{out}"
        );
        assert!(out.contains("\n  http             10            1          4          5\n"), "{out}");
        let off = text(&AgentStatus {
            sockets: SocketTracingStatus { detail: "no BTF".into(), ..Default::default() },
            ..Default::default()
        });
        assert!(off.contains("Socket tracing: off (no BTF)"), "{off}");
    }

    #[test]
    fn flows_metrics_and_ring_fill_are_shown() {
        let status = AgentStatus {
            sources: vec![SourceStatus {
                name: "net".into(),
                ring_size_bytes: 8 << 20,
                ring_used_bytes: 64,
                ring_peak_used_bytes: 4096,
                maps: vec![MapStatus { name: "flows".into(), entries: 12, capacity: 65536 }],
                ..Default::default()
            }],
            flows: FlowsStatus { enabled: true, seen: 40, capacity: 4095, retransmits: 3, ..Default::default() },
            metrics: MetricsStatus {
                address: Some("0.0.0.0:9965".into()),
                flow_plugins: vec!["flow".into(), "drop".into()],
                max_series: 10_000,
                series_refused: 7,
            },
            ..Default::default()
        };
        let out = text(&status);
        assert!(out.contains("ring 8192 KiB: 64 bytes waiting at the last drain, at most 4096"), "{out}");
        assert!(out.contains("maps: flows 12/65536"), "{out}");
        assert!(out.contains("Flows: 40 made, 0 / 4095 buffered"), "{out}");
        assert!(out.contains(", 3 retransmits, "), "{out}");
        assert!(
            out.contains("Metrics: /metrics on 0.0.0.0:9965 and the API socket; flow plugins: flow drop; 7 observations refused at 10000 series per family"),
            "{out}"
        );
    }
}
