//! The process collector: one thread that owns the loaded BPF programs, reads
//! their ring buffer and feeds the pipeline. Dropping out of its loop detaches
//! the programs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use scry_bpf::probe::HookSupport;
use scry_bpf::process::{KernelCounters, ProcessSource, ProcessSourceConfig, decode};
use scry_model::status::{Fallback, MapStatus, SourceStatus};

use crate::metadata::cgroup::CgroupMounts;
use crate::pipeline::Pipeline;
use crate::procfs;

/// How long records may wait in the ring. The BPF side wakes the reader only
/// when the ring fills past a quarter (a wakeup per record costs more than the
/// record), so the reader drains it on this timer: it bounds event latency.
pub const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// Live counters of one source, shared with `scry status`.
#[derive(Default)]
pub struct SourceStats {
    events: AtomicU64,
    decode_errors: AtomicU64,
    kernel: Mutex<KernelCounters>,
    ring: Mutex<RingGauge>,
    info: Mutex<SourceStatus>,
}

impl SourceStats {
    pub fn status(&self) -> SourceStatus {
        let mut s = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.events = self.events.load(Ordering::Relaxed);
        s.decode_errors = self.decode_errors.load(Ordering::Relaxed);
        s.kernel_lost = self.kernel.lock().unwrap_or_else(|e| e.into_inner()).lost();
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).write(&mut s);
        s
    }
}

/// Where a collector thread says it has loaded its programs (or why not).
pub type Ready = mpsc::Sender<Result<(), String>>;

/// Runs a collector on a thread of its own and returns once it has loaded
/// its BPF programs (the thread then runs until told to stop) or failed to.
pub fn spawn_collector(name: &str, body: impl FnOnce(&Ready) + Send + 'static) -> Result<JoinHandle<()>, String> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || body(&ready_tx))
        .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(format!("the {name} thread ended while loading")),
    }
}

/// A ring buffer whose records are decoded in its callback and handed out
/// as a batch after each drain, where the collector can borrow its tracker
/// and tables mutably (the callback cannot).
pub struct DecodedRing<'a, R> {
    ring: libbpf_rs::RingBuffer<'a>,
    batch: Rc<RefCell<Vec<R>>>,
    decode_errors: Rc<Cell<u64>>,
    fill: Cell<RingGauge>,
    what: &'static str,
}

/// A ring's size and the backlog its reader finds when it drains: the last
/// one and the largest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingGauge {
    pub size_bytes: u64,
    pub used_bytes: u64,
    pub peak_used_bytes: u64,
}

impl RingGauge {
    /// Reads `ring`'s backlog; call after a poll and before consuming.
    pub fn observe(&mut self, ring: &libbpf_rs::RingBuffer<'_>) {
        let fill = scry_bpf::usage::ring_fill(ring);
        self.size_bytes = fill.size_bytes;
        self.used_bytes = fill.used_bytes;
        self.peak_used_bytes = self.peak_used_bytes.max(fill.used_bytes);
    }

    /// Copies the gauge into a source's status line.
    pub fn write(&self, s: &mut SourceStatus) {
        s.ring_size_bytes = self.size_bytes;
        s.ring_used_bytes = self.used_bytes;
        s.ring_peak_used_bytes = self.peak_used_bytes;
    }
}

/// How often collectors count their maps' entries (a syscall per entry).
pub const COUNT_MAPS_EVERY: Duration = Duration::from_secs(10);

/// Counts the entries of `maps` when [`COUNT_MAPS_EVERY`] has passed since `last`.
pub fn count_maps(last: &mut Option<std::time::Instant>, maps: &[&dyn libbpf_rs::MapCore]) -> Option<Vec<MapStatus>> {
    if last.is_some_and(|t| t.elapsed() < COUNT_MAPS_EVERY) {
        return None;
    }
    *last = Some(std::time::Instant::now());
    Some(
        maps.iter()
            .map(|m| {
                let f = scry_bpf::usage::map_fill(*m);
                MapStatus { name: f.name, entries: f.entries, capacity: f.capacity }
            })
            .collect(),
    )
}

impl<'a, R: 'static> DecodedRing<'a, R> {
    /// `what` names the source in messages ("socket", "flow").
    /// `map` is borrowed only while the ring is built (libbpf maps it into
    /// memory), so its source stays free to update its other maps; the
    /// source must outlive the ring.
    pub fn new<E: std::fmt::Display + 'static>(
        map: &dyn libbpf_rs::MapCore,
        what: &'static str,
        decode: fn(&[u8]) -> Result<R, E>,
    ) -> Result<DecodedRing<'a, R>, String> {
        let batch: Rc<RefCell<Vec<R>>> = Rc::default();
        let decode_errors: Rc<Cell<u64>> = Rc::default();
        let (sink, errors) = (batch.clone(), decode_errors.clone());
        let mut builder = libbpf_rs::RingBufferBuilder::new();
        builder
            .add(map, move |bytes: &[u8]| {
                match decode(bytes) {
                    Ok(r) => sink.borrow_mut().push(r),
                    Err(e) => {
                        errors.set(errors.get() + 1);
                        tracing::warn!("{what} record did not decode: {e}");
                    }
                }
                0
            })
            .map_err(|e| format!("{what} ring buffer: {e}"))?;
        let ring = builder.build().map_err(|e| format!("{what} ring buffer: {e}"))?;
        Ok(DecodedRing { ring, batch, decode_errors, fill: Cell::default(), what })
    }

    /// Waits up to [`DRAIN_EVERY`] for records, reads all there are, and
    /// returns them.
    pub fn drain(&self) -> Vec<R> {
        let polled = self.ring.poll(DRAIN_EVERY);
        let mut fill = self.fill.get();
        fill.observe(&self.ring);
        self.fill.set(fill);
        // EINTR (a signal) is not an error worth reporting.
        if let Err(e) = polled.and_then(|_| self.ring.consume())
            && e.kind() != libbpf_rs::ErrorKind::Interrupted
        {
            tracing::error!("{} ring buffer read failed: {e}", self.what);
        }
        std::mem::take(&mut *self.batch.borrow_mut())
    }

    pub fn decode_errors(&self) -> u64 {
        self.decode_errors.get()
    }

    pub fn fill(&self) -> RingGauge {
        self.fill.get()
    }
}

/// Loads the process source on its own thread, seeds the cache from /proc
/// (after attaching, so nothing starting in between is missed), and then
/// streams records until `stop` is set. Returns once loading succeeded or failed.
pub fn start_process_collector(
    cfg: ProcessSourceConfig,
    support: HookSupport,
    mounts: CgroupMounts,
    pipeline: Arc<Pipeline>,
    stats: Arc<SourceStats>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    spawn_collector("process-collector", move |ready| {
        let source = match ProcessSource::load(&cfg, &support) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        *stats.info.lock().unwrap_or_else(|e| e.into_inner()) = SourceStatus {
            name: "process".into(),
            hook: source.kind.to_string(),
            fallbacks: source
                .fallbacks
                .iter()
                .map(|f| Fallback { kind: f.kind.to_string(), reason: f.reason.clone() })
                .collect(),
            ..Default::default()
        };
        pipeline.seed(procfs::scan(&mounts));
        if let Err(e) = run(&source, &pipeline, &stats, &stop, ready) {
            let _ = ready.send(Err(e));
        }
    })
}

fn run(
    source: &ProcessSource,
    pipeline: &Arc<Pipeline>,
    stats: &Arc<SourceStats>,
    stop: &AtomicBool,
    ready: &Ready,
) -> Result<(), String> {
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    let (p, s) = (pipeline.clone(), stats.clone());
    builder
        .add(source.ring(), move |bytes: &[u8]| {
            s.events.fetch_add(1, Ordering::Relaxed);
            match decode(bytes) {
                Ok(record) => p.handle(record),
                Err(e) => {
                    s.decode_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("process record did not decode: {e}");
                }
            }
            0
        })
        .map_err(|e| format!("ring buffer: {e}"))?;
    let ring = builder.build().map_err(|e| format!("ring buffer: {e}"))?;
    let _ = ready.send(Ok(()));
    let mut reported_lost = 0;
    let mut fill = RingGauge::default();
    while !stop.load(Ordering::Relaxed) {
        // Everything submitted before `started` is in the ring now, and is
        // handled by the time poll + consume return.
        let started = crate::pipeline::monotonic_ns();
        // Returns early only on a forced wakeup; EINTR (a signal) is not an
        // error worth stopping for.
        let polled = ring.poll(DRAIN_EVERY);
        fill.observe(&ring);
        if let Err(e) = polled.and_then(|_| ring.consume())
            && e.kind() != libbpf_rs::ErrorKind::Interrupted
        {
            tracing::error!("ring buffer read failed: {e}");
        }
        pipeline.mark_drained(started);
        let counters = source.counters();
        let lost = counters.lost();
        if lost > reported_lost {
            pipeline.report_lost(lost - reported_lost, "ring_buffer");
            reported_lost = lost;
        }
        *stats.kernel.lock().unwrap_or_else(|e| e.into_inner()) = counters;
        *stats.ring.lock().unwrap_or_else(|e| e.into_inner()) = fill;
        pipeline.flush_tables();
        pipeline.sweep();
    }
    Ok(())
}
