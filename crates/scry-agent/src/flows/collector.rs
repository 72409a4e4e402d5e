//! The flow collector: one thread that owns the flow source, drains its ring
//! and the socket tracer's L7 queue, and publishes flows to the hub.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use scry_bpf::net::{NetEventKind, NetRecord, NetSource, NetSourceConfig, decode};
use scry_model::status::{Fallback, FlowsStatus, SourceStatus};

use scry_model::flow::FlowBody;

use super::build::FlowBuilder;
use super::hub::FlowHub;
use super::table::FlowTable;
use super::{L7Event, L7Sink};
use crate::collector::{DecodedRing, Ready, count_maps, spawn_collector};
use crate::metrics::flow::FlowMetrics;
use crate::pipeline::Pipeline;

/// What `scry status` shows of the flow source, refreshed every drain.
#[derive(Default)]
pub struct FlowStats {
    source: Mutex<SourceStatus>,
    flows: Mutex<FlowsStatus>,
}

impl FlowStats {
    pub fn source(&self) -> SourceStatus {
        self.source.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn flows(&self) -> FlowsStatus {
        self.flows.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Flows could not start: say why.
    pub fn unavailable(&self, detail: String) {
        *self.flows.lock().unwrap_or_else(|e| e.into_inner()) = FlowsStatus { detail, ..Default::default() };
    }
}

pub struct FlowCollector {
    pub cfg: NetSourceConfig,
    pub pipeline: Arc<Pipeline>,
    pub node_name: String,
    pub hub: Arc<FlowHub>,
    pub l7: (L7Sink, Receiver<L7Event>),
    pub stats: Arc<FlowStats>,
    pub stop: Arc<AtomicBool>,
    /// Where flows are also written as rows.
    pub table: FlowTable,
    /// Where flows are counted for `/metrics`.
    pub metrics: Arc<FlowMetrics>,
}

impl FlowCollector {
    /// Loads the flow source on its own thread and runs it until `stop`.
    /// Returns once loading succeeded or failed.
    pub fn start(mut self) -> Result<JoinHandle<()>, String> {
        spawn_collector("flow-collector", move |ready| {
            let source = match NetSource::load(&self.cfg) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            // Without names a drop still counts, under its number.
            let reasons = source.drop_reasons.clone().unwrap_or_else(|e| {
                tracing::warn!("drop reasons will show as numbers: {e}");
                Vec::new()
            });
            *self.stats.source.lock().unwrap_or_else(|e| e.into_inner()) = source_status(&source);
            if let Err(e) = self.run(&source, reasons, ready) {
                let _ = ready.send(Err(e));
            }
        })
    }

    fn run(&mut self, source: &NetSource, reasons: Vec<(u32, String)>, ready: &Ready) -> Result<(), String> {
        let ring = DecodedRing::new(source.ring(), "network", decode)?;
        let _ = ready.send(Ok(()));
        let mut flows = FlowBuilder::new(self.pipeline.clone(), &self.node_name, reasons);
        let (mut events, mut retransmits, mut resets) = (0u64, 0u64, 0u64);
        // Kernel records wait one drain: a DNS answer travels through the
        // socket tracer before it names an address here, and a client
        // connects right after its answer, so the connection's first packet
        // can reach this thread first.
        let mut pending: Vec<NetRecord> = Vec::new();
        let mut maps_counted = None;
        while !self.stop.load(Ordering::Relaxed) {
            let records = std::mem::replace(&mut pending, ring.drain());
            events += pending.len() as u64;
            let mut out = Vec::with_capacity(records.len());
            for e in self.l7.1.try_iter() {
                out.extend(flows.from_l7(&e));
            }
            for r in &records {
                match r.kind {
                    NetEventKind::Retransmit => retransmits += 1,
                    NetEventKind::Reset => resets += 1,
                    NetEventKind::Trace | NetEventKind::Drop => {}
                }
                out.extend(flows.from_kernel(r));
            }
            // Flows leave in time order across the kernel's and the tracer's.
            out.sort_by_key(|f| f.time);
            for f in &out {
                self.table.push(f);
                if let FlowBody::Flow(flow) = &f.body {
                    self.metrics.observe(flow);
                }
            }
            self.table.flush();
            self.hub.publish(out);
            let counters = source.counters();
            {
                let mut s = self.stats.source.lock().unwrap_or_else(|e| e.into_inner());
                s.events = events;
                s.kernel_lost = counters.lost();
                s.decode_errors = ring.decode_errors();
                ring.fill().write(&mut s);
                if let Some(maps) = count_maps(&mut maps_counted, &[source.flow_map()]) {
                    s.maps = maps;
                }
            }
            let hub = self.hub.counters();
            let (by_cgroup, by_ip, names) = flows.endpoints.sizes();
            *self.stats.flows.lock().unwrap_or_else(|e| e.into_inner()) = FlowsStatus {
                enabled: true,
                detail: String::new(),
                seen: hub.seen,
                buffered: hub.buffered,
                capacity: hub.capacity,
                follower_dropped: hub.follower_dropped,
                followers: hub.subscribers,
                l7_dropped: self.l7.0.dropped(),
                retransmits,
                resets,
                endpoints_by_cgroup: by_cgroup as u64,
                endpoints_by_ip: by_ip as u64,
                dns_names: names as u64,
            };
        }
        Ok(())
    }
}

/// The source's line in `scry status`: cgroup_skb for packets, tp_btf for
/// drops and TCP health; a hook this kernel refused, or what it does not show
/// (flows' pids, resets from closed ports), is a fallback with its reason.
fn source_status(source: &NetSource) -> SourceStatus {
    SourceStatus {
        name: "net".into(),
        hook: "cgroup_skb+tp_btf".into(),
        fallbacks: source
            .missing
            .iter()
            .map(|(prog, reason)| Fallback { kind: format!("{prog} (not attached)"), reason: reason.clone() })
            .chain(source.no_pids.iter().map(|reason| Fallback { kind: "flow pids".into(), reason: reason.clone() }))
            .chain(
                source
                    .no_socketless_resets
                    .iter()
                    .map(|reason| Fallback { kind: "resets from closed ports".into(), reason: reason.clone() }),
            )
            .collect(),
        ..Default::default()
    }
}
