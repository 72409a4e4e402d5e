//! The TracingPolicy engine's kernel side: `policy.bpf.c` (one program on
//! raw_syscalls:sys_enter serving every syscall hook, plus exec/fork/exit
//! programs that track each process's executable), hooks installed as
//! compiled selectors, and the records of hooks that acted.
//!
//! What a hook is comes from a validated policy (`scry-policy`); this module
//! only knows the kernel's layout: syscall numbers, argument indexes,
//! integer operators, executable paths, actions.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

use crate::policy_skel::{PolicySkel, PolicySkelBuilder, types};
use crate::{percpu_sum, read_prefix};

/// Hooks over all policies, selectors per hook, matchArgs per selector,
/// values per operator, binaries per selector, hooks per syscall (the
/// kernel's array sizes, `policy.h`).
pub const MAX_HOOKS: u32 = 256;
pub const MAX_SELECTORS: usize = 5;
pub const MAX_ARG_MATCHES: usize = 5;
pub const MAX_VALUES: usize = 4;
pub const MAX_BINARIES: usize = 8;
pub const MAX_HOOKS_PER_SYSCALL: usize = 8;
/// Longest executable path matchBinaries compares (bytes, without the NUL).
pub const MAX_BINARY_PATH: usize = 255;
/// Syscall numbers the engine indexes (x86_64's are below).
pub const MAX_SYSCALL: u32 = 512;

/// matchArgs integer operators, compared in the kernel on the raw 64-bit
/// argument (GreaterThan and LessThan as signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    Equal = 1,
    NotEqual,
    GreaterThan,
    LessThan,
    /// Any bit of any value set.
    Mask,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgMatch {
    /// The syscall argument, 0-5.
    pub index: u8,
    pub op: IntOp,
    /// 1 to [`MAX_VALUES`]; any may match (NotEqual: none may).
    pub values: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    In,
    NotIn,
}

/// What a matching selector does: post a record, and/or send a signal
/// (SIGKILL for Sigkill) to the calling process before the syscall runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub post: bool,
    pub signal: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// All must hold.
    pub args: Vec<ArgMatch>,
    /// The process's executable (full path) in or not in these.
    pub binaries: Option<(BinaryOp, Vec<String>)>,
    pub actions: Actions,
}

/// A hook on a syscall: its selectors, tried in order; the first that
/// matches acts. Without selectors every call is posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallHook {
    pub policy_id: u32,
    /// The x86_64 syscall number.
    pub syscall: u32,
    pub selectors: Vec<Selector>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("cannot load the policy engine: {0}")]
    Load(String),
    #[error("{0}")]
    Limit(String),
    #[error("cannot update the policy engine's {map} map: {reason}")]
    Map { map: &'static str, reason: String },
}

fn map_err(map: &'static str) -> impl Fn(libbpf_rs::Error) -> PolicyLoadError {
    move |e| PolicyLoadError::Map { map, reason: e.to_string() }
}

/// Records sent, and records the full ring refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyCounters {
    pub sent: u64,
    pub lost: u64,
}

/// The loaded engine. Dropping it detaches every hook.
pub struct PolicySource {
    skel: PolicySkel<'static>,
    _links: Vec<Link>,
    /// The sys_enter program runs on every syscall of the node: attached
    /// only while a hook is installed.
    sys_enter: Option<Link>,
    /// The connect programs (connect4, connect6, sys_exit_connect), attached
    /// while a connect hook is installed.
    connect: Vec<Link>,
    /// The root cgroup v2 the connect programs attach to.
    cgroup_root: std::path::PathBuf,
    connect_installed: HashMap<u32, ConnectHook>,
    /// Executable paths policies name, by id (ids from 1).
    binaries: HashMap<String, u32>,
    /// Installed hooks by slot, for rebuilding a syscall's list.
    installed: HashMap<u32, SyscallHook>,
}

/// A byte view of a plain BPF type for map updates.
fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: T is a repr(C) type generated from BTF without references; the
    // slice covers exactly its bytes and lives no longer than `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Refuses more than the kernel's arrays hold.
fn limit(what: &str, n: usize, max: usize) -> Result<(), PolicyLoadError> {
    if n > max { Err(PolicyLoadError::Limit(format!("{n} {what}; the engine takes at most {max}"))) } else { Ok(()) }
}

/// The kernel's action bits and signal.
fn action_bits(a: &Actions) -> (u32, u32) {
    (u32::from(a.post) | if a.signal.is_some() { 2 } else { 0 }, a.signal.unwrap_or(0))
}

/// A matchBinaries filter as the kernel compares it: operator, count, ids.
struct CompiledBinaries {
    op: u32,
    n: u32,
    ids: [u32; MAX_BINARIES],
}

fn binary_key(path: &str) -> Option<types::binary_key> {
    let mut key = types::binary_key::default();
    if path.len() > MAX_BINARY_PATH {
        return None;
    }
    for (dst, src) in key.path.iter_mut().zip(path.bytes()) {
        *dst = src as _;
    }
    Some(key)
}

impl PolicySource {
    /// Loads the engine; connect hooks attach to the cgroup v2 at `cgroup_root`.
    pub fn load(ring_bytes: u32, cgroup_root: &std::path::Path) -> Result<PolicySource, PolicyLoadError> {
        if !ring_bytes.is_power_of_two() || ring_bytes < 4096 {
            return Err(PolicyLoadError::Load(format!(
                "ring buffer size {ring_bytes} must be a power of two of at least 4096 bytes"
            )));
        }
        // As in process.rs: the skeleton borrows its storage for the agent's life.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let load_err = |e: libbpf_rs::Error| PolicyLoadError::Load(e.to_string());
        let mut open = PolicySkelBuilder::default().open(storage).map_err(load_err)?;
        open.maps.events.set_max_entries(ring_bytes).map_err(load_err)?;
        let mut skel = open.load().map_err(load_err)?;
        let mut links = Vec::new();
        for prog in skel.object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if name == "policy_sys_enter" || name.starts_with("policy_connect") {
                continue;
            }
            links.push(prog.attach().map_err(|e| PolicyLoadError::Load(format!("attaching {name}: {e}")))?);
        }
        Ok(PolicySource {
            skel,
            _links: links,
            sys_enter: None,
            connect: Vec::new(),
            cgroup_root: cgroup_root.to_owned(),
            connect_installed: HashMap::new(),
            binaries: HashMap::new(),
            installed: HashMap::new(),
        })
    }

    pub fn ring(&self) -> &dyn MapCore {
        &self.skel.maps.events
    }

    pub fn counters(&self) -> PolicyCounters {
        let sum = |idx: u32| percpu_sum(&self.skel.maps.stats, idx);
        PolicyCounters { sent: sum(0), lost: sum(1) }
    }

    /// The id of an executable path, registering it (and the processes
    /// already running it) the first time.
    fn binary_id(&mut self, path: &str) -> Result<u32, PolicyLoadError> {
        if let Some(id) = self.binaries.get(path) {
            return Ok(*id);
        }
        let key = binary_key(path).ok_or_else(|| {
            PolicyLoadError::Limit(format!("binary path {path:?} is longer than {MAX_BINARY_PATH} bytes"))
        })?;
        let id = self.binaries.len() as u32 + 1;
        self.skel
            .maps
            .binary_ids
            .update(bytes_of(&key), &id.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("binary_ids"))?;
        self.binaries.insert(path.to_owned(), id);
        // Processes that exec'd before the path was named.
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe.as_os_str() == path) {
                // A process gone meanwhile leaves a stale entry the LRU ages out.
                let _ = self.skel.maps.task_binary.update(&pid.to_ne_bytes(), &id.to_ne_bytes(), MapFlags::ANY);
            }
        }
        Ok(id)
    }

    fn compile_binaries(
        &mut self,
        binaries: &Option<(BinaryOp, Vec<String>)>,
    ) -> Result<CompiledBinaries, PolicyLoadError> {
        let mut out = CompiledBinaries { op: 0, n: 0, ids: [0; MAX_BINARIES] };
        if let Some((op, paths)) = binaries {
            limit("binaries", paths.len(), MAX_BINARIES)?;
            out.op = match op {
                BinaryOp::In => 1,
                BinaryOp::NotIn => 2,
            };
            out.n = paths.len() as u32;
            for (slot, path) in out.ids.iter_mut().zip(paths) {
                *slot = self.binary_id(path)?;
            }
        }
        Ok(out)
    }

    fn compile(&mut self, hook: &SyscallHook) -> Result<types::hook, PolicyLoadError> {
        limit("selectors", hook.selectors.len(), MAX_SELECTORS)?;
        let mut out = types::hook {
            policy_id: hook.policy_id,
            enabled: 1,
            nselectors: hook.selectors.len() as u32,
            ..Default::default()
        };
        for (dst, sel) in out.selectors.iter_mut().zip(&hook.selectors) {
            limit("matchArgs entries", sel.args.len(), MAX_ARG_MATCHES)?;
            dst.nargs = sel.args.len() as u32;
            for (m, a) in dst.args.iter_mut().zip(&sel.args) {
                limit("values", a.values.len(), MAX_VALUES)?;
                if a.index > 5 || a.values.is_empty() {
                    return Err(PolicyLoadError::Limit(format!("argument {} with {} values", a.index, a.values.len())));
                }
                m.index = a.index;
                m.op = a.op as u8;
                m.nvalues = a.values.len() as u8;
                m.values[..a.values.len()].copy_from_slice(&a.values);
            }
            let bins = self.compile_binaries(&sel.binaries)?;
            (dst.bin_op, dst.nbinaries, dst.binaries) = (bins.op, bins.n, bins.ids);
            (dst.actions, dst.signal) = action_bits(&sel.actions);
        }
        Ok(out)
    }

    /// Attaches the sys_enter program while hooks are installed, detaches it
    /// when none is.
    fn attach_while_needed(&mut self) -> Result<(), PolicyLoadError> {
        match (self.installed.is_empty(), self.sys_enter.is_some()) {
            (false, false) => {
                let link = self
                    .skel
                    .progs
                    .policy_sys_enter
                    .attach()
                    .map_err(|e| PolicyLoadError::Load(format!("attaching policy_sys_enter: {e}")))?;
                self.sys_enter = Some(link);
            }
            (true, true) => self.sys_enter = None,
            _ => {}
        }
        Ok(())
    }

    /// Whether the sys_enter program is attached (some hook is installed).
    pub fn syscalls_hooked(&self) -> bool {
        self.sys_enter.is_some()
    }

    /// Writes `syscall`'s list of hooks from what is installed.
    fn relist(&mut self, syscall: u32) -> Result<(), PolicyLoadError> {
        let mut slots: Vec<u32> =
            self.installed.iter().filter(|(_, h)| h.syscall == syscall).map(|(slot, _)| *slot).collect();
        slots.sort_unstable();
        let key = syscall.to_ne_bytes();
        if syscall >= MAX_SYSCALL {
            return Err(PolicyLoadError::Limit(format!(
                "syscall {syscall}; the engine takes numbers below {MAX_SYSCALL}"
            )));
        }
        if slots.len() > MAX_HOOKS_PER_SYSCALL {
            return Err(PolicyLoadError::Limit(format!(
                "{} hooks on syscall {syscall}; the engine takes at most {MAX_HOOKS_PER_SYSCALL}",
                slots.len()
            )));
        }
        let mut list = types::call_hooks { n: slots.len() as u32, ..Default::default() };
        list.hook[..slots.len()].copy_from_slice(&slots);
        self.skel.maps.call_hooks.update(&key, bytes_of(&list), MapFlags::ANY).map_err(map_err("call_hooks"))
    }

    /// Installs `hook` in `slot` (below [`MAX_HOOKS`]), replacing what was
    /// there; it acts from the next call on.
    pub fn install(&mut self, slot: u32, hook: &SyscallHook) -> Result<(), PolicyLoadError> {
        if slot >= MAX_HOOKS {
            return Err(PolicyLoadError::Limit(format!("hook slot {slot}; the engine has {MAX_HOOKS}")));
        }
        let compiled = self.compile(hook)?;
        self.skel
            .maps
            .hooks
            .update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY)
            .map_err(map_err("hooks"))?;
        let previous = self.installed.insert(slot, hook.clone());
        if let Err(e) = self.relist(hook.syscall) {
            self.remove(slot)?;
            return Err(e);
        }
        if let Some(p) = previous.filter(|p| p.syscall != hook.syscall) {
            self.relist(p.syscall)?;
        }
        self.attach_while_needed()
    }

    /// Stops and forgets the hook in `slot`.
    pub fn remove(&mut self, slot: u32) -> Result<(), PolicyLoadError> {
        let Some(hook) = self.installed.remove(&slot) else { return Ok(()) };
        self.relist(hook.syscall)?;
        let empty = types::hook::default();
        self.skel.maps.hooks.update(&slot.to_ne_bytes(), bytes_of(&empty), MapFlags::ANY).map_err(map_err("hooks"))?;
        self.attach_while_needed()
    }

    /// Pauses or resumes the hook in `slot` without forgetting it.
    pub fn set_enabled(&mut self, slot: u32, enabled: bool) -> Result<(), PolicyLoadError> {
        let Some(hook) = self.installed.get(&slot).cloned() else { return Ok(()) };
        let mut compiled = self.compile(&hook)?;
        compiled.enabled = u32::from(enabled);
        self.skel.maps.hooks.update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY).map_err(map_err("hooks"))
    }
}

/// DPort / NotDPort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortOp {
    In,
    NotIn,
}

/// A tcp_connect selector: the destination port, the executable, actions.
/// One that signals also refuses the connection before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectSelector {
    pub ports: Option<(PortOp, Vec<u16>)>,
    pub binaries: Option<(BinaryOp, Vec<String>)>,
    pub actions: Actions,
}

/// A hook on TCP connects (Tetragon's `tcp_connect`), through cgroup
/// connect4/connect6: tried in order, the first matching selector acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectHook {
    pub policy_id: u32,
    pub selectors: Vec<ConnectSelector>,
}

/// Connect hooks over all policies.
pub const MAX_CONNECT_HOOKS: u32 = 16;
/// DPort values per selector.
pub const MAX_PORTS: usize = 8;

impl PolicySource {
    fn compile_connect(&mut self, hook: &ConnectHook) -> Result<types::connect_hook, PolicyLoadError> {
        limit("selectors", hook.selectors.len(), MAX_SELECTORS)?;
        let mut out = types::connect_hook {
            policy_id: hook.policy_id,
            enabled: 1,
            nselectors: hook.selectors.len() as u32,
            ..Default::default()
        };
        for (dst, sel) in out.selectors.iter_mut().zip(&hook.selectors) {
            if let Some((op, ports)) = &sel.ports {
                limit("ports", ports.len(), MAX_PORTS)?;
                dst.port_op = match op {
                    PortOp::In => 1,
                    PortOp::NotIn => 2,
                };
                dst.nports = ports.len() as u32;
                dst.ports[..ports.len()].copy_from_slice(ports);
            }
            let bins = self.compile_binaries(&sel.binaries)?;
            (dst.bin_op, dst.nbinaries, dst.binaries) = (bins.op, bins.n, bins.ids);
            (dst.actions, dst.signal) = action_bits(&sel.actions);
        }
        Ok(out)
    }

    fn attach_connect_while_needed(&mut self) -> Result<(), PolicyLoadError> {
        match (self.connect_installed.is_empty(), self.connect.is_empty()) {
            (false, true) => {
                let cgroup = std::fs::File::open(&self.cgroup_root).map_err(|e| {
                    PolicyLoadError::Load(format!("opening the cgroup {}: {e}", self.cgroup_root.display()))
                })?;
                use std::os::fd::AsRawFd;
                let progs = &self.skel.progs;
                let attach = |what: &str, r: Result<Link, libbpf_rs::Error>| {
                    r.map_err(|e| PolicyLoadError::Load(format!("attaching {what}: {e}")))
                };
                self.connect = vec![
                    attach("policy_connect4", progs.policy_connect4.attach_cgroup(cgroup.as_raw_fd()))?,
                    attach("policy_connect6", progs.policy_connect6.attach_cgroup(cgroup.as_raw_fd()))?,
                    attach("policy_connect_exit", progs.policy_connect_exit.attach())?,
                ];
            }
            (true, false) => self.connect.clear(),
            _ => {}
        }
        Ok(())
    }

    /// Installs a connect hook in `slot` (below [`MAX_CONNECT_HOOKS`]).
    pub fn install_connect(&mut self, slot: u32, hook: &ConnectHook) -> Result<(), PolicyLoadError> {
        if slot >= MAX_CONNECT_HOOKS {
            return Err(PolicyLoadError::Limit(format!(
                "connect hook slot {slot}; the engine has {MAX_CONNECT_HOOKS}"
            )));
        }
        let compiled = self.compile_connect(hook)?;
        self.skel
            .maps
            .connect_hooks
            .update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY)
            .map_err(map_err("connect_hooks"))?;
        self.connect_installed.insert(slot, hook.clone());
        if let Err(e) = self.attach_connect_while_needed() {
            self.remove_connect(slot)?;
            return Err(e);
        }
        Ok(())
    }

    pub fn remove_connect(&mut self, slot: u32) -> Result<(), PolicyLoadError> {
        if self.connect_installed.remove(&slot).is_none() {
            return Ok(());
        }
        let empty = types::connect_hook::default();
        self.skel
            .maps
            .connect_hooks
            .update(&slot.to_ne_bytes(), bytes_of(&empty), MapFlags::ANY)
            .map_err(map_err("connect_hooks"))?;
        self.attach_connect_while_needed()
    }

    pub fn set_connect_enabled(&mut self, slot: u32, enabled: bool) -> Result<(), PolicyLoadError> {
        let Some(hook) = self.connect_installed.get(&slot).cloned() else { return Ok(()) };
        let mut compiled = self.compile_connect(&hook)?;
        compiled.enabled = u32::from(enabled);
        self.skel
            .maps
            .connect_hooks
            .update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY)
            .map_err(map_err("connect_hooks"))
    }
}

/// A hook's selector matched and its actions ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRecord {
    pub ktime: u64,
    pub pid: u32,
    pub tid: u32,
    pub hook: u32,
    pub policy_id: u32,
    pub syscall: u32,
    pub selector: u32,
    pub post: bool,
    /// The signal sent, and bpf_send_signal's result (0 on success).
    pub signal: Option<(u32, i32)>,
    /// The process's executable id when a policy names it.
    pub binary: u32,
    pub args: [u64; 6],
    /// A connect hook's record: where the socket was connecting.
    pub connect: Option<std::net::SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy record of {0} bytes is shorter than {1}")]
pub struct PolicyDecodeError(usize, usize);

pub fn decode(bytes: &[u8]) -> Result<PolicyRecord, PolicyDecodeError> {
    let need = size_of::<types::policy_event>();
    if bytes.len() < need {
        return Err(PolicyDecodeError(bytes.len(), need));
    }
    let e: types::policy_event = read_prefix(bytes);
    Ok(PolicyRecord {
        ktime: e.ktime,
        pid: e.pid,
        tid: e.tid,
        hook: e.hook,
        policy_id: e.policy_id,
        syscall: e.syscall,
        selector: e.selector,
        post: e.actions & 1 != 0,
        signal: (e.actions & 2 != 0).then_some((e.signal, e.signal_error)),
        binary: e.binary,
        args: e.args,
        connect: (e.connect != 0)
            .then(|| crate::ip_of(e.family, &e.daddr).map(|ip| std::net::SocketAddr::new(ip, e.dport)))
            .flatten(),
    })
}
