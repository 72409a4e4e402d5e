//! The agent's own health as metrics, read at each scrape from what
//! `scry status` shows (so the two never disagree), the tables' stats, and
//! the process's CPU and memory from /proc.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use scry_model::status::AgentStatus;
use scry_store::Store;

use super::flow::Labels;

pub type StatusFn = Arc<dyn Fn() -> AgentStatus + Send + Sync>;

/// Writes one family of constant samples.
struct Out<'a, 'e> {
    enc: &'a mut DescriptorEncoder<'e>,
}

impl Out<'_, '_> {
    /// A family of samples; one without labels is written as a bare sample.
    fn family<N>(
        &mut self,
        metric_type: MetricType,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        samples: impl IntoIterator<Item = (Labels, N)>,
        encode: impl Fn(N, MetricEncoder<'_>) -> Result<(), std::fmt::Error>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = self.enc.encode_descriptor(name, help, unit.as_ref(), metric_type)?;
        for (labels, v) in samples {
            if labels.is_empty() {
                encode(v, metric)?;
                break;
            }
            encode(v, metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> Result<(), std::fmt::Error> {
        self.family(MetricType::Counter, name, help, None, samples, |v, e| ConstCounter::new(v).encode(e))
    }

    fn gauge(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) -> Result<(), std::fmt::Error> {
        self.family(MetricType::Gauge, name, help, unit, samples, |v, e| ConstGauge::new(v).encode(e))
    }
}

fn one(v: impl Into<f64>) -> [(Labels, f64); 1] {
    [(Labels::new(), v.into())]
}

fn one_u64(v: u64) -> [(Labels, u64); 1] {
    [(Labels::new(), v)]
}

/// `scry_…` families: sources, streams, caches, tables, flows, sockets.
pub struct AgentHealth {
    pub status: StatusFn,
    pub store: Arc<Store>,
}

impl std::fmt::Debug for AgentHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentHealth")
    }
}

fn by<T>(items: &[T], label: &'static str, key: impl Fn(&T) -> String, v: impl Fn(&T) -> u64) -> Vec<(Labels, u64)> {
    items.iter().map(|i| (vec![(label, key(i))], v(i))).collect()
}

fn gauge_by<T>(
    items: &[T],
    label: &'static str,
    key: impl Fn(&T) -> String,
    v: impl Fn(&T) -> u64,
) -> Vec<(Labels, f64)> {
    items.iter().map(|i| (vec![(label, key(i))], v(i) as f64)).collect()
}

impl Collector for AgentHealth {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let st = (self.status)();
        let mut out = Out { enc: &mut enc };
        out.gauge(
            "build_info",
            "The agent's version, node and kernel (value 1)",
            None,
            [(
                vec![("version", st.version.clone()), ("node", st.node_name.clone()), ("kernel", st.kernel.clone())],
                1.0,
            )],
        )?;
        out.gauge("uptime", "Time since the agent started", Some(Unit::Seconds), one(st.uptime_seconds as f64))?;
        out.gauge(
            "hook_available",
            "Hook kinds probed at start: 1 attachable, 0 refused by this kernel",
            None,
            st.hooks.iter().map(|h| (vec![("kind", h.kind.clone())], if h.error.is_none() { 1.0 } else { 0.0 })),
        )?;

        let src = &st.sources;
        let name = |s: &scry_model::status::SourceStatus| s.name.clone();
        out.counter(
            "source_events",
            "Records read from each source's ring buffer",
            by(src, "source", name, |s| s.events),
        )?;
        out.counter(
            "source_kernel_lost",
            "Records a source's BPF programs could not put in the ring buffer (full)",
            by(src, "source", name, |s| s.kernel_lost),
        )?;
        out.counter(
            "source_decode_errors",
            "Records that did not decode",
            by(src, "source", name, |s| s.decode_errors),
        )?;
        out.gauge(
            "source_fallback",
            "Hooks a source could not use (value 1), with the kind used instead",
            None,
            src.iter().flat_map(|s| {
                s.fallbacks.iter().map(|f| {
                    (vec![("source", s.name.clone()), ("hook", s.hook.clone()), ("refused", f.kind.clone())], 1.0)
                })
            }),
        )?;
        out.gauge(
            "ring_buffer_size",
            "Each source's ring buffer size",
            Some(Unit::Bytes),
            gauge_by(src, "source", name, |s| s.ring_size_bytes),
        )?;
        out.gauge(
            "ring_buffer_used",
            "Bytes waiting in each ring buffer when it was last drained",
            Some(Unit::Bytes),
            gauge_by(src, "source", name, |s| s.ring_used_bytes),
        )?;
        out.gauge(
            "ring_buffer_peak_used",
            "The most bytes ever found waiting in each ring buffer",
            Some(Unit::Bytes),
            gauge_by(src, "source", name, |s| s.ring_peak_used_bytes),
        )?;
        let maps = |v: fn(&scry_model::status::MapStatus) -> u64| {
            src.iter()
                .flat_map(move |s| {
                    s.maps.iter().map(move |m| (vec![("source", s.name.clone()), ("map", m.name.clone())], v(m) as f64))
                })
                .collect::<Vec<_>>()
        };
        out.gauge("bpf_map_entries", "Entries in each BPF hash map", None, maps(|m| m.entries))?;
        out.gauge("bpf_map_capacity_entries", "Capacity of each BPF hash map", None, maps(|m| m.capacity))?;

        out.gauge("event_stream_subscribers", "Open event streams", None, one(st.stream.subscribers as f64))?;
        out.counter("events_published", "Process events published to streams", one_u64(st.stream.events_published))?;
        out.counter(
            "event_stream_dropped",
            "Events a stream missed because its queue was full",
            one_u64(st.stream.queue_dropped),
        )?;

        let pc = &st.process_cache;
        out.gauge("process_cache_entries", "Processes in the cache", None, one(pc.size as f64))?;
        out.gauge("process_cache_capacity_entries", "The process cache's capacity", None, one(pc.capacity as f64))?;
        out.gauge(
            "process_cache_exited_entries",
            "Exited processes kept for late events",
            None,
            one(pc.exited_pending_removal as f64),
        )?;
        out.counter("process_cache_evictions", "Live processes pushed out by the capacity", one_u64(pc.evictions))?;
        out.counter("process_cache_misses", "Events whose process was not in the cache", one_u64(pc.misses))?;

        out.gauge("kubernetes_pods", "Pods of this node the agent knows", None, one(st.kubernetes.pods as f64))?;

        let sk = &st.sockets;
        out.gauge("socket_connections", "Connections the socket tracer tracks", None, one(sk.connections as f64))?;
        out.counter("socket_skipped_bytes", "Stream bytes given up on (holes, bounds)", one_u64(sk.skipped_bytes))?;
        out.counter("socket_kernel_truncated", "Messages larger than the kernel copies", one_u64(sk.kernel_truncated))?;
        out.counter("socket_unparsed_records", "Data records of protocols not parsed", one_u64(sk.unparsed_records))?;
        out.counter(
            "conn_stats_dropped_keys",
            "conn_stats rows refused at the cap",
            one_u64(sk.conn_stats_dropped_keys),
        )?;
        let protos = &sk.protocols;
        let pname = |p: &scry_model::status::ProtocolStatus| p.name.clone();
        out.counter("protocol_frames", "Frames parsed per protocol", by(protos, "protocol", pname, |p| p.frames))?;
        out.counter(
            "protocol_parse_errors",
            "Stream positions where no frame could start, per protocol",
            by(protos, "protocol", pname, |p| p.parse_errors),
        )?;
        out.counter(
            "protocol_unmatched",
            "Requests without a response and responses without a request, per protocol",
            by(protos, "protocol", pname, |p| p.unmatched),
        )?;
        out.counter("protocol_records", "Records written per protocol", by(protos, "protocol", pname, |p| p.records))?;

        let fl = &st.flows;
        out.counter("flows", "Flows made (L3/L4, drops, L7)", one_u64(fl.seen))?;
        out.gauge("flow_buffer_flows", "Flows in the buffer `--last` reads", None, one(fl.buffered as f64))?;
        out.gauge("flow_buffer_capacity_flows", "The flow buffer's capacity", None, one(fl.capacity as f64))?;
        out.counter("tcp_retransmits", "TCP retransmits the kernel reported", one_u64(fl.retransmits))?;
        out.counter("tcp_resets", "TCP resets the kernel reported (sent and received)", one_u64(fl.resets))?;
        out.gauge(
            "flow_endpoints",
            "Endpoints the flow source knows, by how",
            None,
            [
                (vec![("by", "cgroup".to_owned())], fl.endpoints_by_cgroup as f64),
                (vec![("by", "ip".to_owned())], fl.endpoints_by_ip as f64),
            ],
        )?;
        out.gauge("dns_names", "Addresses with names from observed DNS answers", None, one(fl.dns_names as f64))?;

        let tables = self.store.tables();
        let stats: Vec<_> = tables.iter().map(|t| t.stats()).collect();
        let tname = |t: &scry_store::TableStats| t.name.clone();
        out.gauge("table_rows", "Rows each table holds", None, gauge_by(&stats, "table", tname, |t| t.rows))?;
        out.gauge(
            "table_size",
            "Bytes each table holds",
            Some(Unit::Bytes),
            gauge_by(&stats, "table", tname, |t| t.bytes),
        )?;
        out.gauge(
            "table_budget",
            "Bytes each table may hold",
            Some(Unit::Bytes),
            gauge_by(&stats, "table", tname, |t| t.budget_bytes),
        )?;
        out.counter(
            "table_appended_rows",
            "Rows written to each table",
            by(&stats, "table", tname, |t| t.appended_rows),
        )?;
        out.counter(
            "table_evicted_rows",
            "Rows each table dropped to stay in its budget",
            by(&stats, "table", tname, |t| t.evicted_rows),
        )?;
        Ok(())
    }
}

/// Hubble's `lost_events_total`, from the same counters: the kernel's ring
/// buffer, the queue from the socket tracer, and followers' queues.
pub struct HubbleLost {
    pub status: StatusFn,
}

impl std::fmt::Debug for HubbleLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubbleLost")
    }
}

impl Collector for HubbleLost {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let st = (self.status)();
        let kernel = st.sources.iter().find(|s| s.name == "net").map_or(0, |s| s.kernel_lost);
        Out { enc: &mut enc }.counter(
            "lost_events",
            "Flow events lost, by where",
            [
                (vec![("source", "perf_event_ring_buffer".to_owned())], kernel),
                (vec![("source", "observer_events_queue".to_owned())], st.flows.l7_dropped),
                (vec![("source", "hubble_ring_buffer".to_owned())], st.flows.follower_dropped),
            ],
        )
    }
}

/// The standard `process_…` families of the agent's own process.
#[derive(Debug)]
pub struct ProcessHealth;

/// Fields of /proc/self/stat after the command name, by their 1-based field number.
fn stat_field(fields: &[&str], n: usize) -> f64 {
    fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

impl Collector for ProcessHealth {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // The command name may hold spaces; the fields after it do not.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let (ticks, page) = (ticks.max(1) as f64, page.max(1) as f64);
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
            .unwrap_or(0.0);
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        let mut out = Out { enc: &mut enc };
        let cpu = (stat_field(&fields, 14) + stat_field(&fields, 15)) / ticks;
        out.family(
            MetricType::Counter,
            "cpu",
            "User and system CPU time the agent used",
            Some(Unit::Seconds),
            one(cpu),
            |v, e| ConstCounter::new(v).encode(e),
        )?;
        out.gauge("resident_memory", "Resident memory", Some(Unit::Bytes), one(stat_field(&fields, 24) * page))?;
        out.gauge("virtual_memory", "Virtual memory", Some(Unit::Bytes), one(stat_field(&fields, 23)))?;
        out.gauge("open_fds", "Open file descriptors", None, one(fds as f64))?;
        out.gauge("threads", "Threads", None, one(stat_field(&fields, 20)))?;
        out.gauge(
            "start_time",
            "When the agent started, in seconds since the epoch",
            Some(Unit::Seconds),
            one(boot + stat_field(&fields, 22) / ticks),
        )?;
        Ok(())
    }
}
