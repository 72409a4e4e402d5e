//! Turns the process source's records into Tetragon-shaped events: keeps the
//! process cache, attributes each image to its container, pod or host unit, and
//! publishes exec and exit events on the bus.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use scry_bpf::process::{ExecRecord, ExitRecord, ForkRecord, ProcessRecord, flags};
use scry_model::caps::CapSet;
use scry_model::event::{
    BinaryProperties, Capabilities, Event, EventEnvelope, FileProperties, InodeProperties, LostEvents, Namespace,
    Namespaces, Process, ProcessCredentials, ProcessExec, ProcessExit, Timestamp, signal_name,
};
use scry_model::status::ProcessCacheStatus;

use crate::events::EventBus;
use crate::metadata::Attributor;
use crate::process_cache::{CloneIdentity, Entry, ExecKey, ProcessCache};
use crate::procfs::FLAG_PROCFS;
use crate::tables::ProcessTables;

/// Tetragon's bit for "this image was forked, not exec'd, from its parent".
const FLAG_CLONE: u32 = 0x4000;

/// Flag bits and their words, in Tetragon's order; the last two are Scry's.
const FLAG_WORDS: [(u32, &str); 11] = [
    (flags::EXECVE, "execve"),
    (FLAG_PROCFS, "procFS"),
    (flags::TRUNC_ARGS, "truncArgs"),
    (flags::ERROR_FILENAME, "errorFilename"),
    (flags::ERROR_ARGS, "errorArgs"),
    (0x800, "nocwd"),
    (flags::ROOT_CWD, "rootcwd"),
    (0x2000, "errorCWD"),
    (FLAG_CLONE, "clone"),
    (flags::TRUNC_FILENAME, "truncFilename"),
    (flags::TRUNC_CWD, "truncCwd"),
];

/// Ancestor chains stop here even when longer (a fork bomb has no end).
const MAX_ANCESTORS: usize = 64;

fn flag_words(bits: u32) -> String {
    FLAG_WORDS.iter().filter(|(b, _)| bits & b != 0).map(|(_, w)| *w).collect::<Vec<_>>().join(" ")
}

/// A process as events name it: itself, its parent, and the parent's
/// ancestors (when the agent tracks them).
pub struct Lineage {
    pub process: Arc<Process>,
    pub parent: Option<Arc<Process>>,
    pub ancestors: Vec<Arc<Process>>,
}

/// How far apart the exec record and an exec hook's record of one exec may
/// be stamped: both come from programs on the same sched_process_exec.
const EXEC_RECORD_SKEW_NS: u64 = 5_000_000;

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub node_name: String,
    pub enable_ancestors: bool,
    pub process_cache_size: NonZeroUsize,
    /// How long an exited process stays in the cache for late events.
    pub exit_grace: Duration,
}

/// Converts kernel times (ns since boot) to wall-clock times.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    monotonic_to_wall: i128,
    boottime_to_wall: i128,
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC) as u64
}

impl Clock {
    pub fn now() -> Clock {
        let wall = clock_ns(libc::CLOCK_REALTIME);
        Clock {
            monotonic_to_wall: wall - clock_ns(libc::CLOCK_MONOTONIC),
            boottime_to_wall: wall - clock_ns(libc::CLOCK_BOOTTIME),
        }
    }

    fn to_wall(offset: i128, ktime: u64) -> Timestamp {
        let ns = offset + ktime as i128;
        let secs = ns.div_euclid(1_000_000_000) as i64;
        let nanos = ns.rem_euclid(1_000_000_000) as u32;
        chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default()
    }

    /// BPF's `bpf_ktime_get_ns` and `task->start_time` are CLOCK_MONOTONIC.
    pub fn monotonic(&self, ktime: u64) -> Timestamp {
        Self::to_wall(self.monotonic_to_wall, ktime)
    }

    /// `/proc/<pid>/stat` start times count from boot, suspend included.
    pub fn boottime(&self, ktime: u64) -> Timestamp {
        Self::to_wall(self.boottime_to_wall, ktime)
    }
}

pub struct Pipeline {
    cfg: PipelineConfig,
    /// Shared by every event's envelope.
    node_name: Arc<str>,
    clock: Clock,
    host_ns: [u32; 10],
    cache: Mutex<ProcessCache>,
    attributor: Mutex<Attributor>,
    bus: Arc<EventBus>,
    tables: Option<ProcessTables>,
    /// Monotonic time before which every process record has been handled:
    /// other sources wait for it before naming a process, so a process's
    /// exec is known before its first request is attributed.
    drained_until: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pipeline {
    pub fn new(cfg: PipelineConfig, host_ns: [u32; 10], attributor: Attributor, bus: Arc<EventBus>) -> Pipeline {
        Pipeline {
            node_name: cfg.node_name.as_str().into(),
            cache: Mutex::new(ProcessCache::new(cfg.process_cache_size, cfg.exit_grace)),
            cfg,
            clock: Clock::now(),
            host_ns,
            attributor: Mutex::new(attributor),
            bus,
            tables: None,
            drained_until: AtomicU64::new(0),
        }
    }

    /// Also writes every exec and exit into the process tables.
    pub fn with_tables(mut self, tables: ProcessTables) -> Pipeline {
        self.tables = Some(tables);
        self
    }

    /// The UPID of the process `pid` is now, as the tables write it; empty
    /// for a process the cache does not know.
    pub fn upid(&self, pid: u32) -> String {
        let key = lock(&self.cache).current(pid).map(|(k, _)| k);
        match (key, &self.tables) {
            (Some(key), Some(t)) => t.upid(key),
            _ => String::new(),
        }
    }

    /// Where the socket in cgroup (v2) `id` runs: container, pod or host unit.
    pub fn attribute_cgroup(&self, id: u64) -> crate::metadata::Attribution {
        lock(&self.attributor).attribute_v2_id(id)
    }

    /// The pod that owns `ip`, when Kubernetes says so.
    /// The pod a cgroup belongs to, from its leaf and parent names.
    pub fn pod_of_cgroup(&self, cgroup: &scry_bpf::process::CgroupRef) -> Option<Arc<scry_model::event::Pod>> {
        lock(&self.attributor).attribute(cgroup, &scry_bpf::process::CgroupRef::default()).pod
    }

    pub fn pod_by_ip(&self, ip: std::net::IpAddr) -> Option<scry_model::event::Pod> {
        lock(&self.attributor).pod_by_ip(ip)
    }

    /// The process `pid` is now, if the cache knows it.
    pub fn process_of(&self, pid: u32) -> Option<Arc<Process>> {
        lock(&self.cache).current_process(pid).map(|(_, p)| p)
    }

    /// The process `pid` runs now, with its parent and their ancestors.
    pub fn lineage(&self, pid: u32) -> Option<Lineage> {
        let mut cache = lock(&self.cache);
        let (key, process) = cache.current_process(pid)?;
        let parent = cache.parent_process(key);
        let ancestors = self.ancestors(&mut cache, key);
        Some(Lineage { process, parent, ancestors })
    }

    /// The process that made `pid`'s exec at `ktime`: the image the exec
    /// replaced (a clone, or the program that exec'd without forking).
    /// Until the exec is handled that is still `pid`'s current image.
    pub fn exec_caller(&self, pid: u32, ktime: u64) -> Option<Lineage> {
        let mut cache = lock(&self.cache);
        let (key, entry) = cache.current(pid)?;
        let caller = entry.caller.clone().filter(|_| key.ktime + EXEC_RECORD_SKEW_NS >= ktime);
        let Some((process, parent_key)) = caller else {
            drop(cache);
            return self.lineage(pid);
        };
        let parent = parent_key.and_then(|k| cache.process(k));
        let ancestors =
            if self.cfg.enable_ancestors { cache.ancestors_above(parent_key, MAX_ANCESTORS) } else { Vec::new() };
        Some(Lineage { process, parent, ancestors })
    }

    /// Every process record from before `ktime` has been handled.
    pub fn mark_drained(&self, ktime: u64) {
        self.drained_until.store(ktime, Ordering::Release);
    }

    pub fn drained_until(&self) -> u64 {
        self.drained_until.load(Ordering::Acquire)
    }

    /// Unix nanoseconds of a BPF `bpf_ktime_get_ns` time.
    pub fn wall_ns(&self, ktime: u64) -> i64 {
        self.clock.monotonic(ktime).timestamp_nanos_opt().unwrap_or_default()
    }

    /// Hands the table rows collected since the last call to the store.
    pub fn flush_tables(&self) {
        if let Some(t) = &self.tables {
            t.flush();
        }
    }

    fn exec_id(&self, key: ExecKey) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}:{}", self.cfg.node_name, key.ktime, key.pid))
    }

    fn envelope(&self, event: Event) -> EventEnvelope {
        EventEnvelope { event, node_name: Arc::clone(&self.node_name), time: chrono::Utc::now() }
    }

    /// Loads processes found in `/proc`, oldest first; publishes nothing.
    pub fn seed(&self, records: Vec<ExecRecord>) {
        let mut cache = lock(&self.cache);
        for r in records {
            let key = ExecKey { pid: r.pid, ktime: r.ktime };
            let parent = cache.current_process(r.ppid);
            let process = self.process(&r, key, r.flags, parent.as_ref().map(|(_, p)| p.exec_id.clone()));
            if let Some(t) = &self.tables {
                t.remember(key, &process);
            }
            cache.insert(key, Entry::image(process, parent.map(|(k, _)| k)));
        }
    }

    pub fn handle(&self, record: ProcessRecord) {
        match record {
            ProcessRecord::Exec(r) => self.on_exec(&r),
            ProcessRecord::Exit(r) => self.on_exit(&r),
            ProcessRecord::Fork(r) => self.on_fork(&r),
        }
    }

    /// Publishes a `lost N events` notice to every stream.
    pub fn report_lost(&self, count: u64, source: &str) {
        self.bus.publish(self.envelope(Event::LostEvents(LostEvents { count, source: source.to_owned() })));
    }

    pub fn sweep(&self) {
        lock(&self.cache).sweep(Instant::now());
    }

    pub fn cache_status(&self) -> ProcessCacheStatus {
        let cache = lock(&self.cache);
        ProcessCacheStatus {
            size: cache.len() as u64,
            capacity: cache.capacity() as u64,
            evictions: cache.counters.evictions,
            misses: cache.counters.misses,
            exited_pending_removal: cache.retiring() as u64,
        }
    }

    fn on_exec(&self, r: &ExecRecord) {
        let now = Instant::now();
        let key = ExecKey { pid: r.pid, ktime: r.ktime };
        let mut cache = lock(&self.cache);
        // After fork + exec the parent is the forking process; after an exec
        // without fork it is the image this one replaced.
        let prev = cache.current(r.pid).map(|(k, e)| (k, e.is_clone, e.parent));
        let (parent_key, forked) = match prev {
            Some((_, true, clone_parent)) => (clone_parent, true),
            Some((k, false, _)) => (Some(k), false),
            None => (cache.current(r.ppid).map(|(k, _)| k), false),
        };
        let parent = parent_key.and_then(|k| cache.process(k));
        if parent.is_none() {
            cache.miss();
        }
        let bits = if forked { r.flags | FLAG_CLONE } else { r.flags };
        let process = self.process(r, key, bits, parent.as_ref().map(|p| p.exec_id.clone()));
        let caller = prev.and_then(|(k, _, caller_parent)| Some((cache.process(k)?, caller_parent)));
        cache.insert(key, Entry::image(Arc::clone(&process), parent_key).with_caller(caller));
        match prev {
            Some((k, true, _)) => cache.remove(k, now),
            Some((k, false, _)) => cache.retire(k, now),
            None => {}
        }
        let ancestors = self.ancestors(&mut cache, key);
        drop(cache);
        if let Some(t) = &self.tables {
            t.on_exec(key, &process, parent.as_deref());
        }
        self.bus.publish(self.envelope(Event::ProcessExec(ProcessExec { process, parent, ancestors })));
    }

    fn on_fork(&self, f: &ForkRecord) {
        let mut cache = lock(&self.cache);
        let Some((parent_key, parent)) = cache.current_process(f.ppid) else {
            cache.miss();
            return;
        };
        let key = ExecKey { pid: f.pid, ktime: f.ktime };
        let identity = CloneIdentity { exec_id: self.exec_id(key), start_time: self.clock.monotonic(f.ktime) };
        cache.insert(key, Entry::clone_of(parent_key, parent, identity));
        // A forked worker (nginx's, a forking server's child) serves traffic
        // under its own UPID: queries resolve it to its pod like an exec.
        if let Some(t) = &self.tables
            && let Some((_, process)) = cache.current_process(f.pid)
        {
            t.remember(key, &process);
        }
    }

    fn on_exit(&self, x: &ExitRecord) {
        let mut cache = lock(&self.cache);
        let (key, process, parent, ancestors) = match cache.current_process(x.pid) {
            Some((key, process)) => {
                let parent = cache.parent_process(key);
                let ancestors = self.ancestors(&mut cache, key);
                cache.retire(key, Instant::now());
                (Some(key), process, parent, ancestors)
            }
            None => {
                cache.miss();
                let unknown = Arc::new(Process {
                    pid: Some(x.pid),
                    tid: Some(x.tid),
                    flags: "unknown".into(),
                    ..Default::default()
                });
                (None, unknown, None, Vec::new())
            }
        };
        drop(cache);
        let signal = x.status & 0x7f;
        let code = (x.status >> 8) & 0xff;
        let time = self.clock.monotonic(x.ktime);
        if let Some(t) = &self.tables {
            t.on_exit(key, time.timestamp_nanos_opt().unwrap_or_default(), &process, code, signal);
        }
        let exit = ProcessExit {
            process,
            parent,
            signal: if signal != 0 { signal_name(signal) } else { String::new() },
            status: if signal != 0 { 0 } else { code },
            time: Some(time),
            ancestors,
        };
        self.bus.publish(self.envelope(Event::ProcessExit(exit)));
    }

    fn ancestors(&self, cache: &mut ProcessCache, key: ExecKey) -> Vec<Arc<Process>> {
        if self.cfg.enable_ancestors { cache.ancestors(key, MAX_ANCESTORS) } else { Vec::new() }
    }

    fn process(&self, r: &ExecRecord, key: ExecKey, bits: u32, parent_exec_id: Option<String>) -> Arc<Process> {
        let attribution = lock(&self.attributor).attribute(&r.cgroup_v2, &r.cgroup_v1);
        let start_time =
            if r.flags & FLAG_PROCFS != 0 { self.clock.boottime(r.ktime) } else { self.clock.monotonic(r.ktime) };
        let ns = |i: usize| Some(Namespace { inum: r.ns[i], is_host: r.ns[i] != 0 && r.ns[i] == self.host_ns[i] });
        let c = &r.creds;
        Arc::new(Process {
            exec_id: self.exec_id(key),
            pid: Some(r.pid),
            uid: Some(c.euid),
            cwd: r.cwd.clone(),
            binary: r.binary.clone(),
            arguments: Process::join_arguments(r.argv.get(1..).unwrap_or_default()),
            flags: flag_words(bits),
            start_time: Some(start_time),
            auid: Some(r.auid),
            pod: attribution.pod,
            docker: attribution.docker,
            parent_exec_id: parent_exec_id.unwrap_or_default(),
            refcnt: 0,
            cap: Some(capabilities(&r.caps)),
            ns: Some(Namespaces {
                uts: ns(0),
                ipc: ns(1),
                mnt: ns(2),
                pid: ns(3),
                pid_for_children: ns(4),
                net: ns(5),
                time: ns(6),
                time_for_children: ns(7),
                cgroup: ns(8),
                user: ns(9),
            }),
            tid: Some(r.tid),
            process_credentials: Some(credentials(c)),
            binary_properties: binary_properties(r),
            host: attribution.host,
        })
    }
}

fn binary_properties(r: &ExecRecord) -> Option<BinaryProperties> {
    let mut props = BinaryProperties::default();
    if r.bin_props & flags::BIN_SETUID != 0 {
        props.setuid = Some(r.file.uid);
        props.privileges_changed.push("PRIVILEGES_RAISED_EXEC_FILE_SETUID".into());
    }
    if r.bin_props & flags::BIN_SETGID != 0 {
        props.setgid = Some(r.file.gid);
        props.privileges_changed.push("PRIVILEGES_RAISED_EXEC_FILE_SETGID".into());
    }
    if r.bin_props & flags::BIN_UNLINKED != 0 {
        props.file = Some(FileProperties {
            inode: Some(InodeProperties { number: r.file.ino, links: Some(r.file.nlink) }),
            path: r.binary.clone(),
        });
    }
    (props != BinaryProperties::default()).then_some(props)
}

/// A task's ids as Tetragon's `process_credentials` carries them.
pub(crate) fn credentials(c: &scry_bpf::process::Creds) -> ProcessCredentials {
    ProcessCredentials {
        uid: Some(c.uid),
        gid: Some(c.gid),
        euid: Some(c.euid),
        egid: Some(c.egid),
        suid: Some(c.suid),
        sgid: Some(c.sgid),
        fsuid: Some(c.fsuid),
        fsgid: Some(c.fsgid),
        ..Default::default()
    }
}

/// A task's capability sets as Tetragon writes them.
pub(crate) fn capabilities(c: &scry_bpf::process::Caps) -> Capabilities {
    Capabilities { permitted: CapSet(c.permitted), effective: CapSet(c.effective), inheritable: CapSet(c.inheritable) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::cgroup::CgroupMounts;

    fn pipeline(ancestors: bool) -> (Pipeline, crate::events::Subscription<EventEnvelope>) {
        let bus = Arc::new(EventBus::default());
        let sub = bus.subscribe(Box::new(|_| true), 64);
        let cfg = PipelineConfig {
            node_name: "n1".into(),
            enable_ancestors: ancestors,
            process_cache_size: NonZeroUsize::new(64).unwrap(),
            exit_grace: Duration::from_secs(10),
        };
        (Pipeline::new(cfg, [0; 10], Attributor::new(CgroupMounts::default(), None), bus), sub)
    }

    fn exec(pid: u32, ppid: u32, ktime: u64, argv: &[&str]) -> ProcessRecord {
        ProcessRecord::Exec(Box::new(ExecRecord {
            pid,
            tid: pid,
            ppid,
            ktime,
            creds: Default::default(),
            auid: u32::MAX,
            flags: flags::EXECVE | flags::ROOT_CWD,
            caps: Default::default(),
            ns: [0; 10],
            bin_props: 0,
            file: Default::default(),
            cgroup_v2: Default::default(),
            cgroup_v1: Default::default(),
            binary: argv[0].into(),
            cwd: "/".into(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            args_orig_len: 0,
        }))
    }

    fn next(sub: &mut crate::events::Subscription<EventEnvelope>) -> Event {
        sub.rx.try_recv().expect("an event").event.clone()
    }

    #[test]
    fn fork_exec_chain_links_exec_ids_and_exit_reports_signal() {
        let (p, mut sub) = pipeline(true);
        p.handle(exec(100, 1, 10, &["/bin/bash"]));
        p.handle(ProcessRecord::Fork(ForkRecord { pid: 101, ppid: 100, ktime: 20 }));
        p.handle(exec(101, 100, 30, &["/bin/sh", "-c", "exit 3"]));
        p.handle(ProcessRecord::Fork(ForkRecord { pid: 102, ppid: 101, ktime: 40 }));
        p.handle(exec(102, 101, 50, &["/usr/bin/sleep", "1"]));
        p.handle(ProcessRecord::Exit(ExitRecord { pid: 102, tid: 102, ktime: 60, status: 9 }));
        let Event::ProcessExec(bash) = next(&mut sub) else { panic!() };
        let Event::ProcessExec(sh) = next(&mut sub) else { panic!() };
        let Event::ProcessExec(sleep) = next(&mut sub) else { panic!() };
        let Event::ProcessExit(exit) = next(&mut sub) else { panic!() };
        assert_eq!(sh.process.parent_exec_id, bash.process.exec_id);
        assert_eq!(sh.process.flags, "execve rootcwd clone");
        assert_eq!(sh.process.arguments, "-c \"exit 3\"");
        assert_eq!(sleep.parent.as_ref().unwrap().exec_id, sh.process.exec_id);
        assert_eq!(sleep.ancestors.iter().map(|a| a.binary.as_str()).collect::<Vec<_>>(), ["/bin/bash"]);
        assert_eq!(exit.process.exec_id, sleep.process.exec_id);
        assert_eq!((exit.signal.as_str(), exit.status), ("SIGKILL", 0));
        let decoded = base64::engine::general_purpose::STANDARD.decode(&sh.process.exec_id).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "n1:30:101");
    }

    #[test]
    fn exec_without_fork_has_the_previous_image_as_parent() {
        let (p, mut sub) = pipeline(false);
        p.handle(exec(200, 1, 10, &["/bin/sh"]));
        p.handle(exec(200, 1, 20, &["/bin/ls"]));
        p.handle(ProcessRecord::Exit(ExitRecord { pid: 200, tid: 200, ktime: 30, status: 3 << 8 }));
        let Event::ProcessExec(sh) = next(&mut sub) else { panic!() };
        let Event::ProcessExec(ls) = next(&mut sub) else { panic!() };
        let Event::ProcessExit(exit) = next(&mut sub) else { panic!() };
        assert_eq!(ls.process.parent_exec_id, sh.process.exec_id);
        assert!(ls.ancestors.is_empty());
        assert_eq!((exit.status, exit.signal.as_str()), (3, ""));
        assert_eq!(exit.process.binary, "/bin/ls");
    }

    #[test]
    fn exit_of_an_unknown_process_is_flagged_and_counted() {
        let (p, mut sub) = pipeline(false);
        p.handle(ProcessRecord::Exit(ExitRecord { pid: 999, tid: 999, ktime: 5, status: 0 }));
        let Event::ProcessExit(exit) = next(&mut sub) else { panic!() };
        assert_eq!(exit.process.flags, "unknown");
        assert_eq!(p.cache_status().misses, 1);
    }
}
