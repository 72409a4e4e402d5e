//! The process source: loads `process.bpf.c` on the best hook kind the kernel
//! accepts and decodes its ring-buffer records into plain Rust types.

use std::mem::{MaybeUninit, size_of};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, OpenObject};
use serde::{Deserialize, Serialize};

use crate::probe::{HookKind, HookSupport};
use crate::process_skel::{ProcessSkel, ProcessSkelBuilder, types};
use crate::{percpu_sum, read_prefix};

/// Hook kinds the process source can run on, best first. Both exist on every
/// kernel with a BPF ring buffer (5.8+); plain tracepoints would lose the task
/// pointers fork needs, and fentry gains nothing over tp_btf here.
const CANDIDATES: [HookKind; 2] = [HookKind::TpBtf, HookKind::RawTp];

/// Upper bound on captured argv bytes (the BPF buffer's size, less one).
pub const ARGS_MAX_LIMIT: u32 = 16383;

#[derive(Clone, Debug)]
pub struct ProcessSourceConfig {
    /// argv bytes captured per exec; longer argv is cut and flagged `truncArgs`.
    pub args_max: u32,
    /// Ring buffer size in bytes: a power of two, at least a page.
    pub ring_bytes: u32,
}

/// A hook kind that was tried and refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    pub kind: HookKind,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Config(String),
    #[error("no hook kind could run the process source: {}", describe(.0))]
    NoHook(Vec<Fallback>),
}

fn describe(fallbacks: &[Fallback]) -> String {
    fallbacks.iter().map(|f| format!("{}: {}", f.kind, f.reason)).collect::<Vec<_>>().join("; ")
}

/// Counters the BPF programs keep (summed over CPUs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounters {
    pub exec_sent: u64,
    pub exec_lost: u64,
    pub exit_sent: u64,
    pub exit_lost: u64,
    pub fork_sent: u64,
    pub fork_lost: u64,
}

impl KernelCounters {
    pub fn lost(&self) -> u64 {
        self.exec_lost + self.exit_lost + self.fork_lost
    }
}

/// The loaded and attached process programs. Dropping it detaches them.
pub struct ProcessSource {
    skel: ProcessSkel<'static>,
    _links: Vec<Link>,
    pub kind: HookKind,
    pub fallbacks: Vec<Fallback>,
}

impl ProcessSource {
    pub fn load(cfg: &ProcessSourceConfig, support: &HookSupport) -> Result<Self, LoadError> {
        if cfg.args_max == 0 || cfg.args_max > ARGS_MAX_LIMIT {
            return Err(LoadError::Config(format!(
                "args size {} is out of range: it must be between 1 and {ARGS_MAX_LIMIT} bytes",
                cfg.args_max
            )));
        }
        if !cfg.ring_bytes.is_power_of_two() || cfg.ring_bytes < 4096 {
            return Err(LoadError::Config(format!(
                "ring buffer size {} must be a power of two of at least 4096 bytes",
                cfg.ring_bytes
            )));
        }
        let mut fallbacks = Vec::new();
        for kind in CANDIDATES {
            if let Some(reason) = support.refusal(kind) {
                fallbacks.push(Fallback { kind, reason: format!("probe: {reason}") });
                continue;
            }
            match Self::load_as(cfg, kind) {
                Ok((skel, links)) => {
                    return Ok(ProcessSource { skel, _links: links, kind, fallbacks });
                }
                Err(reason) => fallbacks.push(Fallback { kind, reason }),
            }
        }
        Err(LoadError::NoHook(fallbacks))
    }

    fn load_as(cfg: &ProcessSourceConfig, kind: HookKind) -> Result<(ProcessSkel<'static>, Vec<Link>), String> {
        // The skeleton borrows its object storage for as long as it lives, and
        // it lives as long as the agent: one small allocation per load.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = ProcessSkelBuilder::default().open(storage).map_err(|e| format!("open: {e}"))?;
        let suffix = match kind {
            HookKind::TpBtf => "_tp_btf",
            HookKind::RawTp => "_raw_tp",
            other => return Err(format!("{other} is not a process hook kind")),
        };
        for mut prog in open.open_object_mut().progs_mut() {
            let keep = prog.name().to_str().is_some_and(|n| n.ends_with(suffix));
            prog.set_autoload(keep);
        }
        open.maps.events.set_max_entries(cfg.ring_bytes).map_err(|e| format!("ring size: {e}"))?;
        let rodata = open.maps.rodata_data.as_deref_mut().ok_or("no .rodata in the process object")?;
        rodata.args_max = cfg.args_max;
        rodata.wakeup_bytes = u64::from(cfg.ring_bytes / 4);
        let skel = open.load().map_err(|e| format!("load: {e}"))?;
        let mut links = Vec::new();
        for prog in skel.object().progs_mut() {
            if prog.name().to_str().is_some_and(|n| n.ends_with(suffix)) {
                let name = prog.name().to_string_lossy().into_owned();
                links.push(prog.attach().map_err(|e| format!("attach {name}: {e}"))?);
            }
        }
        Ok((skel, links))
    }

    /// The ring buffer the programs write records into.
    pub fn ring(&self) -> &dyn MapCore {
        &self.skel.maps.events
    }

    pub fn counters(&self) -> KernelCounters {
        let sum = |idx: u32| percpu_sum(&self.skel.maps.stats, idx);
        KernelCounters {
            exec_sent: sum(0),
            exec_lost: sum(1),
            exit_sent: sum(2),
            exit_lost: sum(3),
            fork_sent: sum(4),
            fork_lost: sum(5),
        }
    }
}

/// Flag bits from `process.h`.
pub mod flags {
    pub const EXECVE: u32 = 0x01;
    pub const TRUNC_ARGS: u32 = 0x10;
    pub const ERROR_FILENAME: u32 = 0x100;
    pub const ERROR_ARGS: u32 = 0x200;
    pub const ROOT_CWD: u32 = 0x1000;
    pub const TRUNC_FILENAME: u32 = 0x100000;
    pub const TRUNC_CWD: u32 = 0x200000;

    pub const BIN_SETUID: u32 = 0x1;
    pub const BIN_SETGID: u32 = 0x2;
    pub const BIN_UNLINKED: u32 = 0x4;
}

/// A cgroup as the kernel saw it at the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupRef {
    pub id: u64,
    pub name: String,
    pub parent_name: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The executed file's owner and identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecFile {
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub ino: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub ktime: u64,
    pub creds: Creds,
    pub auid: u32,
    pub flags: u32,
    pub caps: Caps,
    /// Namespace inode numbers, indexed as `NAMESPACES` names them.
    pub ns: [u32; 10],
    pub bin_props: u32,
    pub file: ExecFile,
    pub cgroup_v2: CgroupRef,
    pub cgroup_v1: CgroupRef,
    pub binary: String,
    pub cwd: String,
    pub argv: Vec<String>,
    /// argv length in bytes before any truncation.
    pub args_orig_len: u32,
}

/// Names of `ExecRecord::ns`, in order.
pub const NAMESPACES: [&str; 10] =
    ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children", "cgroup", "user"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    pub pid: u32,
    pub tid: u32,
    pub ktime: u64,
    /// wait(2) status: exit code in bits 8..16, terminating signal in bits 0..7.
    pub status: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkRecord {
    pub pid: u32,
    pub ppid: u32,
    pub ktime: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessRecord {
    Exec(Box<ExecRecord>),
    Exit(ExitRecord),
    Fork(ForkRecord),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty record")]
    Empty,
    #[error("record of kind {kind} is {len} bytes, shorter than its {need}-byte header")]
    Short { kind: u8, len: usize, need: usize },
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    #[error("exec record lengths exceed the record: binary {bin}, cwd {cwd}, args {args}, data {data}")]
    BadLengths { bin: u32, cwd: u32, args: u32, data: usize },
}

const EXEC: u8 = 1;
const EXIT: u8 = 2;
const FORK: u8 = 3;

fn c_str(raw: &[i8]) -> String {
    let bytes: Vec<u8> = raw.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn cgroup(raw: &types::cgroup_ref) -> CgroupRef {
    CgroupRef { id: raw.id, name: c_str(&raw.name), parent_name: c_str(&raw.parent_name) }
}

/// Decodes one ring-buffer record. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<ProcessRecord, DecodeError> {
    let kind = *bytes.first().ok_or(DecodeError::Empty)?;
    let need = |n: usize| {
        if bytes.len() < n { Err(DecodeError::Short { kind, len: bytes.len(), need: n }) } else { Ok(()) }
    };
    match kind {
        EXEC => {
            let header = std::mem::offset_of!(types::exec_event, data);
            need(header)?;
            let head: types::exec_event_header = read_prefix(bytes);
            decode_exec(&head, &bytes[header..]).map(|r| ProcessRecord::Exec(Box::new(r)))
        }
        EXIT => {
            need(size_of::<types::exit_event>())?;
            let e: types::exit_event = read_prefix(bytes);
            Ok(ProcessRecord::Exit(ExitRecord { pid: e.pid, tid: e.tid, ktime: e.ktime, status: e.exit_code }))
        }
        FORK => {
            need(size_of::<types::fork_event>())?;
            let e: types::fork_event = read_prefix(bytes);
            Ok(ProcessRecord::Fork(ForkRecord { pid: e.pid, ppid: e.ppid, ktime: e.ktime }))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

fn decode_exec(e: &types::exec_event_header, data: &[u8]) -> Result<ExecRecord, DecodeError> {
    let bad = || DecodeError::BadLengths { bin: e.bin_len, cwd: e.cwd_len, args: e.args_len, data: data.len() };
    let (bin_len, cwd_len, args_len) = (e.bin_len as usize, e.cwd_len as usize, e.args_len as usize);
    let end = bin_len.checked_add(cwd_len).and_then(|n| n.checked_add(args_len)).ok_or_else(bad)?;
    if end > data.len() {
        return Err(bad());
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let binary = text(&data[..bin_len]);
    let cwd = text(&data[bin_len..bin_len + cwd_len]);
    let args = &data[bin_len + cwd_len..end];
    // argv is NUL-separated with a trailing NUL (absent when truncated).
    let args = args.strip_suffix(&[0]).unwrap_or(args);
    let argv = if args.is_empty() { Vec::new() } else { args.split(|&b| b == 0).map(text).collect() };
    Ok(ExecRecord {
        pid: e.pid,
        tid: e.tid,
        ppid: e.ppid,
        ktime: e.ktime,
        creds: Creds {
            uid: e.uid,
            gid: e.gid,
            euid: e.euid,
            egid: e.egid,
            suid: e.suid,
            sgid: e.sgid,
            fsuid: e.fsuid,
            fsgid: e.fsgid,
        },
        auid: e.auid,
        flags: e.flags,
        caps: Caps { effective: e.cap_effective, permitted: e.cap_permitted, inheritable: e.cap_inheritable },
        ns: e.ns,
        bin_props: e.bin_props,
        file: ExecFile { uid: e.file_uid, gid: e.file_gid, nlink: e.file_nlink, ino: e.file_ino },
        cgroup_v2: cgroup(&e.cgrp_v2),
        cgroup_v1: cgroup(&e.cgrp_v1),
        binary,
        cwd,
        argv,
        args_orig_len: e.args_orig_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_bytes(bin: &str, cwd: &str, args: &[u8]) -> Vec<u8> {
        let mut head = types::exec_event_header { kind: EXEC, pid: 7, ppid: 1, ..Default::default() };
        head.bin_len = bin.len() as u32;
        head.cwd_len = cwd.len() as u32;
        head.args_len = args.len() as u32;
        let mut out = vec![0u8; std::mem::offset_of!(types::exec_event, data)];
        // SAFETY: the header is POD and no larger than the prefix.
        let raw = unsafe {
            std::slice::from_raw_parts((&head as *const types::exec_event_header).cast::<u8>(), size_of_val(&head))
        };
        out[..raw.len()].copy_from_slice(raw);
        out.extend_from_slice(bin.as_bytes());
        out.extend_from_slice(cwd.as_bytes());
        out.extend_from_slice(args);
        out
    }

    #[test]
    fn decodes_exec_paths_and_argv() {
        let rec = decode(&exec_bytes("/usr/bin/echo", "/tmp", b"echo\0a b\0c\0")).unwrap();
        let ProcessRecord::Exec(e) = rec else { panic!("not an exec") };
        assert_eq!(e.binary, "/usr/bin/echo");
        assert_eq!(e.cwd, "/tmp");
        assert_eq!(e.argv, ["echo", "a b", "c"]);
        assert_eq!((e.pid, e.ppid), (7, 1));
    }

    #[test]
    fn truncated_argv_keeps_last_partial_argument() {
        let ProcessRecord::Exec(e) = decode(&exec_bytes("/b", "/", b"b\0abc")).unwrap() else { panic!() };
        assert_eq!(e.argv, ["b", "abc"]);
    }

    #[test]
    fn rejects_lengths_beyond_the_record() {
        let mut bytes = exec_bytes("/b", "/", b"");
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(decode(&bytes), Err(DecodeError::BadLengths { .. })));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        for len in 0..2048usize {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            if let Some(b) = bytes.first_mut() {
                *b = (len % 4) as u8;
            }
            let _ = decode(&bytes);
        }
    }
}
