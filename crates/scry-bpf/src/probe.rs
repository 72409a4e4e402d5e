//! Hook probing: which kinds of BPF program this kernel really runs.
//!
//! Each kind is proven by loading *and attaching* a do-nothing program of that
//! kind (`src/bpf/probes.bpf.c`). Verifying alone is not enough: a kernel can
//! verify an fentry program and still refuse to attach it.

use std::fmt;
use std::mem::MaybeUninit;

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, UprobeOpts};
use serde::{Deserialize, Serialize};

use crate::probes_skel::ProbesSkelBuilder;

/// A kind of BPF program attachment, in the order hooks prefer them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    Fentry,
    Kprobe,
    TpBtf,
    RawTp,
    Tracepoint,
    Uprobe,
    Lsm,
    Ringbuf,
    PerfEvent,
}

impl HookKind {
    pub const ALL: [HookKind; 9] = [
        HookKind::Fentry,
        HookKind::Kprobe,
        HookKind::TpBtf,
        HookKind::RawTp,
        HookKind::Tracepoint,
        HookKind::Uprobe,
        HookKind::Lsm,
        HookKind::Ringbuf,
        HookKind::PerfEvent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookKind::Fentry => "fentry",
            HookKind::Kprobe => "kprobe",
            HookKind::TpBtf => "tp_btf",
            HookKind::RawTp => "raw_tp",
            HookKind::Tracepoint => "tracepoint",
            HookKind::Uprobe => "uprobe",
            HookKind::Lsm => "lsm",
            HookKind::Ringbuf => "ringbuf",
            HookKind::PerfEvent => "perf_event",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of probing one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub kind: HookKind,
    /// `None` when the kind loaded and attached; otherwise why not.
    pub error: Option<String>,
}

/// What the running kernel accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSupport {
    pub results: Vec<ProbeResult>,
}

impl HookSupport {
    /// Probes every kind. Takes a few tens of milliseconds.
    pub fn probe() -> HookSupport {
        let results = HookKind::ALL.iter().map(|&kind| ProbeResult { kind, error: probe_kind(kind).err() }).collect();
        HookSupport { results }
    }

    pub fn supports(&self, kind: HookKind) -> bool {
        self.results.iter().any(|r| r.kind == kind && r.error.is_none())
    }

    /// Why `kind` is unavailable, if it is.
    pub fn refusal(&self, kind: HookKind) -> Option<&str> {
        self.results.iter().find(|r| r.kind == kind).and_then(|r| r.error.as_deref())
    }
}

/// Target of the uprobe probe: a symbol in our own binary, so the probe needs no
/// other file on the host.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn scry_uprobe_probe_target() -> i32 {
    std::hint::black_box(0)
}

fn program_name(kind: HookKind) -> &'static str {
    match kind {
        HookKind::Fentry => "probe_fentry",
        HookKind::Kprobe => "probe_kprobe",
        HookKind::TpBtf => "probe_tp_btf",
        HookKind::RawTp => "probe_raw_tp",
        HookKind::Tracepoint => "probe_tracepoint",
        HookKind::Uprobe => "probe_uprobe",
        HookKind::Lsm => "probe_lsm",
        HookKind::Ringbuf => "probe_ringbuf",
        HookKind::PerfEvent => "probe_perf_event",
    }
}

/// Loads and attaches a do-nothing program of `kind`: `Err` says why it cannot.
pub fn probe_kind(kind: HookKind) -> Result<(), String> {
    probe_program(program_name(kind), Some(kind))
}

/// Whether fmod_ret can return an error in place of a syscall's function
/// (`Err` says why not): the kernel allows it on its error-injection list,
/// which syscalls are on only with CONFIG_FUNCTION_ERROR_INJECTION (not in
/// Debian's kernels).
pub fn probe_syscall_override() -> Result<(), String> {
    probe_program("probe_syscall_override", None)
}

/// Loads and attaches probe program `wanted` (of `kind`, for the kinds
/// attached their own way).
fn probe_program(wanted: &str, kind: Option<HookKind>) -> Result<(), String> {
    let mut storage = MaybeUninit::uninit();
    let mut open = ProbesSkelBuilder::default().open(&mut storage).map_err(|e| format!("open: {e}"))?;
    for mut prog in open.open_object_mut().progs_mut() {
        let keep = prog.name().to_str() == Some(wanted);
        prog.set_autoload(keep);
    }
    let skel = open.load().map_err(|e| format!("load: {e:#}"))?;
    let prog = skel
        .object()
        .progs_mut()
        .find(|p| p.name().to_str() == Some(wanted))
        .ok_or_else(|| format!("program {wanted} missing from the probe object"))?;
    let _link: Link = match kind {
        Some(HookKind::Uprobe) => {
            // Referencing the target keeps the linker from dropping it.
            std::hint::black_box(scry_uprobe_probe_target as extern "C" fn() -> i32);
            prog.attach_uprobe_with_opts(
                -1,
                "/proc/self/exe",
                0,
                UprobeOpts { func_name: Some("scry_uprobe_probe_target".into()), ..Default::default() },
            )
            .map_err(|e| format!("attach: {e:#}"))?
        }
        Some(HookKind::PerfEvent) => {
            let fd = open_cpu_clock_event().map_err(|e| format!("perf_event_open: {e}"))?;
            let link = prog.attach_perf_event(fd).map_err(|e| format!("attach: {e:#}"));
            // The link holds its own reference to the perf event.
            // SAFETY: fd was returned by perf_event_open and is owned here.
            unsafe { libc::close(fd) };
            link?
        }
        _ => prog.attach().map_err(|e| format!("attach: {e:#}"))?,
    };
    Ok(())
}

/// A software cpu-clock perf event on CPU 0, the kind a CPU profiler samples.
fn open_cpu_clock_event() -> std::io::Result<i32> {
    // SAFETY: perf_event_attr is plain data; zero is a valid initial state.
    let mut attr: libbpf_sys::perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = libbpf_sys::PERF_TYPE_SOFTWARE;
    attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
    attr.config = libbpf_sys::PERF_COUNT_SW_CPU_CLOCK as u64;
    attr.__bindgen_anon_1.sample_freq = 49;
    attr.set_freq(1);
    // SAFETY: attr is valid for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1,
            0,
            -1,
            libbpf_sys::PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 { Err(std::io::Error::last_os_error()) } else { Ok(fd as i32) }
}
