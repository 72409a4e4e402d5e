//! The socket collector: one thread that owns the socket tracer, drains its
//! ring, runs the connection tracker and writes the protocol tables.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use scry_bpf::socket::{SocketSource, SocketSourceConfig, decode};
use scry_model::status::{Fallback, ProtocolStatus, SocketTracingStatus, SourceStatus};

use super::SocketTracingConfig;
use super::conn_stats::ConnStats;
use super::parsing::ParseCounts;
use super::tables::SocketTables;
use super::tracker::{Tracker, TrackerStats};
use crate::collector::{DecodedRing, Ready, count_maps, spawn_collector};

/// What `scry status` shows of the socket source, refreshed every drain.
#[derive(Default)]
pub struct SocketStats {
    source: Mutex<SourceStatus>,
    tracing: Mutex<SocketTracingStatus>,
}

impl SocketStats {
    pub fn source(&self) -> SourceStatus {
        self.source.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn tracing(&self) -> SocketTracingStatus {
        self.tracing.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Socket tracing could not start: say why.
    pub fn unavailable(&self, detail: String) {
        *self.tracing.lock().unwrap_or_else(|e| e.into_inner()) = SocketTracingStatus { detail, ..Default::default() };
    }
}

fn protocol(name: &str, c: &ParseCounts) -> ProtocolStatus {
    ProtocolStatus {
        name: name.into(),
        frames: c.frames,
        parse_errors: c.invalid,
        unmatched: c.unmatched,
        records: c.records,
    }
}

fn tracing_status(t: &TrackerStats, conn_stats: &ConnStats, kernel_truncated: u64) -> SocketTracingStatus {
    SocketTracingStatus {
        conn_stats_keys: conn_stats.keys() as u64,
        conn_stats_dropped_keys: conn_stats.dropped_keys,
        enabled: true,
        detail: String::new(),
        connections: t.conns as u64,
        skipped_bytes: t.skipped_bytes,
        kernel_truncated,
        deduplicated: t.deduplicated,
        unparsed_records: t.unparsed_records,
        protocols: vec![
            protocol("http", &t.http),
            protocol("pgsql", &t.pgsql),
            protocol("mysql", &t.mysql),
            protocol("redis", &t.redis),
            protocol("dns", &t.dns),
        ],
    }
}

/// Loads the socket tracer on its own thread and runs it until `stop`.
/// Returns once loading succeeded or failed.
pub fn start_socket_collector(
    cfg: SocketSourceConfig,
    tracing: SocketTracingConfig,
    tables: SocketTables,
    stats: Arc<SocketStats>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    spawn_collector("socket-collector", move |ready| {
        let source = match SocketSource::load(&cfg) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        *stats.source.lock().unwrap_or_else(|e| e.into_inner()) = source_status(&source);
        if let Err(e) = run(&source, &tracing, tables, &stats, &stop, ready) {
            let _ = ready.send(Err(e));
        }
    })
}

/// The source's line in `scry status`: syscall tracepoints, and any this
/// kernel lacks, each a fallback with its reason.
fn source_status(source: &SocketSource) -> SourceStatus {
    SourceStatus {
        name: "socket".into(),
        hook: "tracepoint".into(),
        fallbacks: source
            .missing
            .iter()
            .map(|(prog, reason)| Fallback { kind: format!("{prog} (not attached)"), reason: reason.clone() })
            .collect(),
        ..Default::default()
    }
}

fn run(
    source: &SocketSource,
    cfg: &SocketTracingConfig,
    mut tables: SocketTables,
    stats: &SocketStats,
    stop: &AtomicBool,
    ready: &Ready,
) -> Result<(), String> {
    let ring = DecodedRing::new(source.ring(), "socket", decode)?;
    let _ = ready.send(Ok(()));
    let mut tracker = Tracker::new(cfg.limits);
    let mut conn_stats = ConnStats::default();
    let conn_stats_every = cfg.conn_stats_every.as_nanos() as u64;
    let mut last_sample = crate::pipeline::monotonic_ns();
    let mut events = 0u64;
    let mut maps_counted = None;
    while !stop.load(Ordering::Relaxed) {
        let records = ring.drain();
        events += records.len() as u64;
        for rec in records {
            conn_stats.handle(&rec);
            if let Some(id) = tracker.handle(rec, &mut tables)
                && let Err(e) = source.disable(id)
            {
                tracing::debug!("cannot stop copying connection {id:?}: {e}");
            }
        }
        let now = crate::pipeline::monotonic_ns();
        if now >= last_sample + conn_stats_every {
            last_sample = now;
            tables.conn_stats(now, conn_stats.sample(now));
        }
        tables.flush();
        tracker.sweep(now);
        let counters = source.counters();
        {
            let mut s = stats.source.lock().unwrap_or_else(|e| e.into_inner());
            s.events = events;
            s.kernel_lost = counters.data_lost + counters.control_lost;
            s.decode_errors = ring.decode_errors();
            ring.fill().write(&mut s);
            if let Some(maps) = count_maps(&mut maps_counted, &source.maps()) {
                s.maps = maps;
            }
        }
        *stats.tracing.lock().unwrap_or_else(|e| e.into_inner()) =
            tracing_status(&tracker.stats, &conn_stats, counters.data_truncated);
    }
    Ok(())
}
