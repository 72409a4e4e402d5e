//! The TracingPolicy engine's kernel side: `policy.bpf.c` (one program per
//! kind of site — a syscall's entry, its exit, exec, kprobes, uprobes,
//! tracepoints, LSM hooks — serving every hook there, plus exec/fork/exit programs that track each process's
//! executable, and cgroup connect programs), hooks installed as compiled
//! selectors, and the records of hooks that acted.
//!
//! What a hook is comes from a validated policy (`scry-policy`); this module
//! only knows the kernel's layout: sites, where each argument comes from and
//! what it is, operators, executable paths, actions.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use std::os::fd::AsFd;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

use crate::policy_skel::{PolicySkel, PolicySkelBuilder, types};
use crate::{percpu_sum, read_prefix};

/// Hooks over all policies, selectors per hook, matchArgs per selector,
/// values per integer operator, binaries per selector, hooks per site,
/// arguments and string arguments per hook (the kernel's array sizes,
/// `policy.h`).
pub const MAX_HOOKS: u32 = 256;
pub const MAX_SELECTORS: usize = 5;
pub const MAX_ARG_MATCHES: usize = 5;
pub const MAX_VALUES: usize = 4;
pub const MAX_BINARIES: usize = 8;
pub const MAX_HOOKS_PER_SITE: usize = 8;
pub const MAX_ARGS: usize = 6;
pub const MAX_STRING_ARGS: usize = 2;
/// Longest executable path matchBinaries compares (bytes, without the NUL).
pub const MAX_BINARY_PATH: usize = 255;
/// Syscall numbers the engine indexes (x86_64's are below).
pub const MAX_SYSCALL: u32 = 512;
/// Bytes kept of a string or path argument; longer ones are truncated.
pub const MAX_STRING: usize = 4095;
/// The ring's record kinds (each record's first u32).
const RECORD_DATA: u32 = 1;
/// Longest value of Equal / NotEqual, Prefix / NotPrefix, Postfix / NotPostfix.
pub const MAX_EQUAL: usize = 255;
pub const MAX_PREFIX: usize = 254;
pub const MAX_POSTFIX: usize = 128;
/// String values over all hooks, per operator family.
const MAX_STRING_VALUES: usize = 8192;

/// Where a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// Entering the syscall of this (x86_64) number.
    Enter(u32),
    /// Returning from it: the return value is known.
    Exit(u32),
    /// An exec that succeeded, before the new program runs (sched_process_exec).
    Exec,
    /// A kernel function's kprobe, by the id [`PolicySource::kprobe_site`] gave it.
    Kprobe(u32),
    /// A BPF LSM hook.
    Lsm(LsmHook),
    /// A user function's uprobe, by the id [`PolicySource::uprobe_site`] gave it.
    Uprobe(u32),
    /// A tracepoint, by the id [`PolicySource::tracepoint_site`] gave it.
    Tracepoint(u32),
    /// connect() of a TCP socket (IPv4 or IPv6) before anything is sent,
    /// from cgroup connect4/connect6: what tcp_connect sees.
    TcpConnect,
    /// connect() of any IPv4 or IPv6 socket, from the same hooks: what
    /// security_socket_connect sees.
    SocketConnect,
    /// A flow's first packet before it exists, as ip_output (IPv4) or
    /// ip6_output (IPv6) would see it: TCP and UDP connect() from the same
    /// hooks, and UDP datagrams sent to an address from cgroup
    /// sendmsg4/sendmsg6 (a connected socket's go where its connect said).
    Output(IpVersion),
    /// A kernel function's return (kretprobe), by the id its kprobe has:
    /// the arguments kept at its entry and the return value.
    KprobeReturn(u32),
    /// A raw tracepoint, by the id [`PolicySource::raw_tracepoint_site`]
    /// gave it: its arguments are TP_PROTO's.
    RawTracepoint(u32),
}

/// An IP version: which of ip_output (4) and ip6_output (6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

/// Where a tracepoint hook's value is in the record (from tracefs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracepointField {
    pub offset: u16,
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    pub signed: bool,
    /// A `__data_loc` field: the value is the address of its data.
    pub data_loc: bool,
}

/// Tracepoint attachments at once over all policies.
pub const MAX_TRACEPOINTS: u32 = 32;

/// The BPF LSM hooks the engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LsmHook {
    /// `file_open(struct file *)`.
    FileOpen,
    /// `bprm_check_security(struct linux_binprm *)`.
    BprmCheck,
}

/// Kernel functions hooked at once over all policies.
pub const MAX_KPROBES: u32 = 64;
const SITE_EXEC: u32 = 2 * MAX_SYSCALL;
const SITE_KPROBE: u32 = SITE_EXEC + 1;
const SITE_LSM: u32 = SITE_KPROBE + MAX_KPROBES;
const SITE_UPROBE: u32 = SITE_LSM + 2;
/// User functions hooked at once over all policies.
pub const MAX_UPROBES: u32 = 64;
const SITE_TRACEPOINT: u32 = SITE_UPROBE + MAX_UPROBES;
const SITE_TCP_CONNECT: u32 = SITE_TRACEPOINT + MAX_TRACEPOINTS;
const SITE_IP_OUTPUT: u32 = SITE_TCP_CONNECT + 2;
const SITE_KRETPROBE: u32 = SITE_IP_OUTPUT + 2;
const SITE_RAW_TRACEPOINT: u32 = SITE_KRETPROBE + MAX_KPROBES;
/// Raw tracepoint attachments at once over all policies.
pub const MAX_RAW_TRACEPOINTS: u32 = 16;

impl Site {
    fn index(self) -> u32 {
        match self {
            Site::Enter(nr) => nr,
            Site::Exit(nr) => MAX_SYSCALL + nr,
            Site::Exec => SITE_EXEC,
            Site::Kprobe(id) => SITE_KPROBE + id,
            Site::Lsm(LsmHook::FileOpen) => SITE_LSM,
            Site::Lsm(LsmHook::BprmCheck) => SITE_LSM + 1,
            Site::Uprobe(id) => SITE_UPROBE + id,
            Site::Tracepoint(id) => SITE_TRACEPOINT + id,
            Site::TcpConnect => SITE_TCP_CONNECT,
            Site::SocketConnect => SITE_TCP_CONNECT + 1,
            Site::Output(IpVersion::V4) => SITE_IP_OUTPUT,
            Site::Output(IpVersion::V6) => SITE_IP_OUTPUT + 1,
            Site::KprobeReturn(id) => SITE_KRETPROBE + id,
            Site::RawTracepoint(id) => SITE_RAW_TRACEPOINT + id,
        }
    }

    fn from_index(i: u32) -> Site {
        match i {
            i if i < MAX_SYSCALL => Site::Enter(i),
            i if i < SITE_EXEC => Site::Exit(i - MAX_SYSCALL),
            SITE_EXEC => Site::Exec,
            i if i < SITE_LSM => Site::Kprobe(i - SITE_KPROBE),
            SITE_LSM => Site::Lsm(LsmHook::FileOpen),
            i if i == SITE_LSM + 1 => Site::Lsm(LsmHook::BprmCheck),
            i if i < SITE_TRACEPOINT => Site::Uprobe(i - SITE_UPROBE),
            i if i < SITE_TCP_CONNECT => Site::Tracepoint(i - SITE_TRACEPOINT),
            SITE_TCP_CONNECT => Site::TcpConnect,
            i if i < SITE_IP_OUTPUT => Site::SocketConnect,
            SITE_IP_OUTPUT => Site::Output(IpVersion::V4),
            i if i < SITE_KRETPROBE => Site::Output(IpVersion::V6),
            i if i < SITE_RAW_TRACEPOINT => Site::KprobeReturn(i - SITE_KRETPROBE),
            i => Site::RawTracepoint(i - SITE_RAW_TRACEPOINT),
        }
    }

    fn syscall(self) -> Option<u32> {
        match self {
            Site::Enter(nr) | Site::Exit(nr) => Some(nr),
            _ => None,
        }
    }
}

/// What this kernel lets the engine hook besides syscalls and exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelHooks {
    /// Kprobes on kernel functions, or why not.
    pub kprobes: Result<(), String>,
    /// fentry and fexit on kernel functions (with bpf_get_func_arg, 5.17),
    /// or why not: cheaper than kprobes, preferred where a hook does not
    /// override.
    pub fentry: Result<(), String>,
    /// `bpf_override_return` (Override on kprobes; functions must be on the
    /// kernel's error-injection list).
    pub override_return: bool,
    /// fmod_ret on syscalls' functions (Override on syscall hooks), or why
    /// not: needs fentry and syscalls on the error-injection list.
    pub syscall_override: Result<(), String>,
    /// BPF LSM programs, or why not.
    pub lsm: Result<(), String>,
    /// bpf_set_retval in cgroup programs (5.18): a refused connect fails
    /// with Override's argError rather than EPERM.
    pub connect_errno: bool,
}

/// Where a hook argument's raw value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgSource {
    /// A syscall argument, 0-5.
    Register(u8),
    /// The syscall's return value (exit sites).
    Return,
    /// Exec's `struct linux_binprm *` (the exec site).
    Bprm,
}

/// What a hook argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// The raw 64-bit value.
    Int,
    /// A NUL-terminated string in the calling process's memory.
    UserString,
    /// A descriptor of the calling process, resolved to its file's full path.
    Fd,
    /// A `struct file *`, resolved to its full path.
    File,
    /// A `struct linux_binprm *`: the executed file's full path.
    Bprm,
    /// A `struct path *`, resolved to its text.
    Path,
    /// A NUL-terminated string in kernel memory.
    KernelString,
    /// A `struct filename *`: its name.
    Filename,
    /// A `struct sock *`: family, type, protocol, state, addresses, ports.
    Sock,
    /// A `struct socket *`: its sock.
    Socket,
    /// A `struct sockaddr *` in kernel memory: family, address, port.
    SockAddr,
    /// A `struct sockaddr *` in the calling process's memory.
    UserSockAddr,
    /// What a connect site knows of its connect().
    Connect(ConnectView),
    /// A `struct cred *`: ids, securebits, capability sets.
    Cred,
    /// The calling task's own credentials (at an exit: after the call).
    CurrentCred,
    /// A `kernel_cap_t *`: its 64 bits, compared as an integer.
    KernelCap,
    /// Bytes in the calling process's memory, as many as `size` says (the
    /// first [`MAX_STRING`] kept, or with `max_data` the first
    /// [`MAX_DATA`] in data records before the event; the record's value is
    /// the length).
    UserBuffer { size: ArgSource, max_data: bool },
    /// The same in kernel memory.
    KernelBuffer { size: ArgSource, max_data: bool },
    /// A `struct iovec` array in the caller's memory, `count` entries (up
    /// to 64): their bytes one after another ([`MAX_STRING`] kept; the
    /// record's value is their total length). The hook's first string-like
    /// argument.
    UserIovec { count: ArgSource },
}

impl ArgKind {
    /// A socket or address (compared with the socket operators).
    pub fn is_socket(self) -> bool {
        matches!(
            self,
            ArgKind::Sock | ArgKind::Socket | ArgKind::SockAddr | ArgKind::UserSockAddr | ArgKind::Connect(_)
        )
    }

    /// A string or a path (compared with the string operators).
    pub fn is_string(self) -> bool {
        matches!(
            self,
            ArgKind::UserString
                | ArgKind::Fd
                | ArgKind::File
                | ArgKind::Bprm
                | ArgKind::Path
                | ArgKind::KernelString
                | ArgKind::Filename
                | ArgKind::UserBuffer { .. }
                | ArgKind::KernelBuffer { .. }
                | ArgKind::UserIovec { .. }
        )
    }

    /// Compared with the integer operators.
    pub fn is_integer(self) -> bool {
        matches!(self, ArgKind::Int | ArgKind::KernelCap)
    }

    /// Credentials (not compared by matchArgs).
    pub fn is_cred(self) -> bool {
        matches!(self, ArgKind::Cred | ArgKind::CurrentCred)
    }
}

/// What a connect site knows of the connect() it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectView {
    /// The socket as tcp_connect sees it: the destination set, state
    /// TCP_SYN_SENT, the source as bound (the kernel picks it later).
    Connecting = 0,
    /// The socket before it connects (security_socket_connect's first argument).
    Socket,
    /// The address it connects to (security_socket_connect's second), as
    /// a sockaddr: family, address and port.
    Address,
    /// The first packet (ip_output's skb): family, protocol, the source as
    /// bound and the destination.
    Packet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    pub source: ArgSource,
    pub kind: ArgKind,
}

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

/// matchArgs string operators, on string and path arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrOp {
    Equal = 6,
    NotEqual,
    Prefix,
    NotPrefix,
    Postfix,
    NotPostfix,
}

/// One matchArgs entry on the hook's argument `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgMatch {
    /// 1 to [`MAX_VALUES`]; any may match (NotEqual: none may).
    Int { index: u8, op: IntOp, values: Vec<u64> },
    /// Any number of values, each within the operator's length limit.
    Str { index: u8, op: StrOp, values: Vec<String> },
    /// SPort/DPort (negated: NotSPort/NotDPort) on a socket or address:
    /// 1 to [`MAX_PORT_RANGES`] inclusive ranges.
    Port { index: u8, side: Side, negated: bool, ranges: Vec<(u16, u16)> },
    /// SPortPriv/DPortPriv: below 1024 (negated: not).
    PrivilegedPort { index: u8, side: Side, negated: bool },
    /// SAddr/DAddr: in one of any number of CIDRs (address, prefix length).
    Addr { index: u8, side: Side, negated: bool, cidrs: Vec<(std::net::IpAddr, u8)> },
    /// Protocol, Family, State: equal to one of 1 to [`MAX_VALUES`] values.
    Field { index: u8, field: SockField, values: Vec<u64> },
}

/// Which end of a socket a port or address operator compares (an
/// address argument's own is its source side, as Tetragon's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// The socket fields Protocol, Family and State compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockField {
    Protocol,
    Family,
    State,
}

/// Port ranges per Port match.
pub const MAX_PORT_RANGES: usize = 8;
/// Socket and address arguments per hook.
pub const MAX_SOCKET_ARGS: usize = 2;

impl ArgMatch {
    fn index(&self) -> u8 {
        match self {
            ArgMatch::Int { index, .. }
            | ArgMatch::Str { index, .. }
            | ArgMatch::Port { index, .. }
            | ArgMatch::PrivilegedPort { index, .. }
            | ArgMatch::Addr { index, .. }
            | ArgMatch::Field { index, .. } => *index,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    In,
    NotIn,
}

/// matchBinaries operators on the executable's full path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinariesOp {
    In,
    NotIn,
    /// The path starts with a value (at most 255 bytes).
    Prefix,
    NotPrefix,
    /// It ends with a value (at most 128 bytes).
    Postfix,
    NotPostfix,
}

impl BinariesOp {
    /// Prefix or Postfix (whether prefix, whether negated): matched through
    /// pattern bits.
    fn pattern(self) -> Option<(bool, bool)> {
        match self {
            BinariesOp::In | BinariesOp::NotIn => None,
            BinariesOp::Prefix => Some((true, false)),
            BinariesOp::NotPrefix => Some((true, true)),
            BinariesOp::Postfix => Some((false, false)),
            BinariesOp::NotPostfix => Some((false, true)),
        }
    }
}

/// What a matching selector does: post a record (at most once per window
/// for the same event with a rate limit), and/or send a signal (SIGKILL for
/// Sigkill) to the calling process before the call returns to user space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub post: bool,
    pub rate_limit: Option<RateLimit>,
    pub signal: Option<u32>,
    /// Override: the function returns this instead of running (kprobes on
    /// error-injectable functions, LSM hooks).
    pub override_error: Option<i32>,
}

/// Post's rateLimit: repeats of the same event (hook, selector, the first
/// 40 bytes of each argument) within `window_ms` of the last post, by the
/// same thread, process or anyone, are not posted (and are counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub window_ms: u32,
    pub scope: RateScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateScope {
    Thread,
    Process,
    Global,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// All must hold.
    pub args: Vec<ArgMatch>,
    /// The process's executable (full path) in or not in these.
    pub binaries: Option<(BinariesOp, Vec<String>)>,
    /// followChildren: a descendant (forked after the hook was installed)
    /// of a process running a listed binary counts as running it.
    pub follow_children: bool,
    /// matchPIDs, matchNamespaces, matchCapabilities: all must hold.
    pub pids: Vec<PidMatch>,
    pub namespaces: Vec<NamespaceMatch>,
    pub capabilities: Vec<CapabilityMatch>,
    pub actions: Actions,
}

/// matchPIDs: the process's id in (or not in) `pids`, as the host sees it
/// or (`namespace_pid`) as its own PID namespace does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidMatch {
    pub op: BinaryOp,
    pub pids: Vec<u32>,
    pub namespace_pid: bool,
    /// followForks: the listed processes' descendants (forked after the
    /// hook was installed) count as them. Host PIDs only.
    pub follow_forks: bool,
}

/// A namespace type of matchNamespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceType {
    Uts = 0,
    Ipc,
    Mnt,
    Pid,
    PidForChildren,
    Net,
    Time,
    TimeForChildren,
    Cgroup,
    User,
}

/// matchNamespaces: the process's namespace of `ns` (by inode) in or not in `inodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceMatch {
    pub ns: NamespaceType,
    pub op: BinaryOp,
    pub inodes: Vec<u32>,
}

/// matchCapabilities: In holds when the set has any of `mask`'s
/// capabilities, NotIn when it has none. Without `namespace_capability`,
/// capabilities held only inside a user namespace do not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityMatch {
    pub set: CapabilitySet,
    pub op: BinaryOp,
    pub namespace_capability: bool,
    pub mask: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilitySet {
    Effective = 0,
    Inheritable,
    Permitted,
}

/// matchPIDs, matchNamespaces and matchCapabilities entries per selector,
/// and values per matchPIDs / matchNamespaces entry.
pub const MAX_PID_FILTERS: usize = 2;
pub const MAX_NAMESPACE_FILTERS: usize = 10;
pub const MAX_CAPABILITY_FILTERS: usize = 3;
pub const MAX_SET_VALUES: usize = 4;

/// A hook: where it runs, its arguments, and its selectors, tried in order;
/// the first that matches acts. Without selectors every call is posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub policy_id: u32,
    /// One or more (a kernel function's equivalent may be several syscalls).
    pub sites: Vec<Site>,
    pub args: Vec<ArgSpec>,
    /// Exit sites: only calls that returned a value >= 0 (a descriptor).
    pub skip_failed: bool,
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

/// What a follow bit is for: a selector's matchBinaries, or its Nth
/// matchPIDs entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Follow {
    Children,
    Forks(usize),
}

/// One string value's map and key.
type StringEntry = (StrMap, Vec<u8>);

/// Which map a string or address value lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrMap {
    Equal,
    Prefix,
    Postfix,
    Addr,
}

/// The loaded engine. Dropping it detaches every hook.
pub struct PolicySource {
    skel: PolicySkel<'static>,
    _links: Vec<Link>,
    /// Each hooked syscall's entry, by number: its function's fentry (or
    /// fmod_ret when a hook there overrides) where trampolines run, else
    /// its sys_enter_NAME tracepoint; and whether it overrides.
    sys_enter: HashMap<u32, (FunctionAttachment, bool)>,
    /// Each hooked syscall's exit where trampolines run: its function's fexit.
    sys_exit_functions: HashMap<u32, FunctionAttachment>,
    /// Elsewhere the sys_exit program, which runs on every syscall of the
    /// node: attached only while a hook needs it.
    sys_exit: Option<Link>,
    /// The connect programs (connect4, connect6), attached while a hook is
    /// installed on a connect or output site.
    connect: Vec<Link>,
    /// The sendmsg programs (sendmsg4, sendmsg6), while one is on an output site.
    sendmsg: Vec<Link>,
    /// The exits of the syscalls whose cgroup hooks may refuse (connect,
    /// sendto, sendmsg, sendmmsg), by name: they deliver the signals those
    /// hooks decided. A syscall tracepoint puts every syscall of the node on
    /// the kernel's slow path, so each only while a hook there may signal.
    signal_exits: HashMap<&'static str, Link>,
    /// The root cgroup v2 the connect programs attach to.
    cgroup_root: std::path::PathBuf,
    /// Executable paths policies name, by id (ids from 1).
    binaries: HashMap<String, u32>,
    /// Installed hooks by slot, for rebuilding a site's list.
    installed: HashMap<u32, Hook>,
    /// Each slot's string values, to delete with it.
    strings: HashMap<u32, Vec<StringEntry>>,
    /// Each slot's rate-limit count when its hook was installed (the
    /// kernel's counters are per slot and never reset).
    rate_baseline: HashMap<u32, u64>,
    /// followChildren and followForks bits (64 in all) by (slot, selector,
    /// filter), with the binary ids whose follow_bits carry them (or, for
    /// followForks, the processes whose task_follow does).
    follow: HashMap<(u32, usize, Follow), (u64, Vec<u32>)>,
    kernel: KernelHooks,
    /// Kernel functions by kprobe site id.
    kprobe_ids: HashMap<String, u32>,
    /// Each hooked function's fentry or kprobe, and whether it is the
    /// kprobe that can override.
    kprobe_links: HashMap<u32, (FunctionAttachment, bool)>,
    /// Each function hooked at its return: its fexit, or the kprobe
    /// keeping its arguments and the kretprobe.
    kretprobe_links: HashMap<u32, FunctionAttachment>,
    prefer_kprobes: bool,
    lsm_links: HashMap<LsmHook, Link>,
    /// User functions by uprobe site id, and their uprobes.
    uprobe_ids: HashMap<UserFunction, u32>,
    uprobe_links: HashMap<u32, Link>,
    /// Tracepoint sites by id (subsystem, event), and their attachments.
    tracepoints: HashMap<u32, (String, String)>,
    tracepoint_links: HashMap<u32, Link>,
    /// Raw tracepoint sites by id (their event), and their instances.
    raw_tracepoints: HashMap<u32, String>,
    raw_tracepoint_links: HashMap<u32, FunctionAttachment>,
    /// Scoped policies, with the cgroups in their scope in the kernel.
    scopes: HashMap<u32, std::collections::BTreeSet<u64>>,
    /// matchBinaries Prefix/Postfix patterns by (slot, selector), and the
    /// trie keys written for them (prefix?, value).
    patterns: HashMap<(u32, usize), BinaryPattern>,
    pattern_keys: std::collections::HashSet<(bool, Vec<u8>)>,
}

/// A selector's matchBinaries Prefix or Postfix values and its bit.
struct BinaryPattern {
    bit: u64,
    prefix: bool,
    values: Vec<String>,
}

/// A user function: a binary or library and a symbol or offset in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserFunction {
    pub path: String,
    pub target: UserTarget,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserTarget {
    Symbol(String),
    Offset(u64),
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
    let bits =
        u32::from(a.post) | if a.signal.is_some() { 2 } else { 0 } | if a.override_error.is_some() { 4 } else { 0 };
    (bits, a.signal.unwrap_or(0))
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

/// Copies `bytes` into a C char array.
fn fill(dst: &mut [std::ffi::c_char], bytes: impl Iterator<Item = u8>) {
    for (d, b) in dst.iter_mut().zip(bytes) {
        *d = b as _;
    }
}

/// The map key of one string value in `set`.
fn string_key(op: StrOp, set: u32, value: &str) -> Result<StringEntry, PolicyLoadError> {
    let too_long =
        |max: usize| PolicyLoadError::Limit(format!("{op:?} value {value:?} is longer than the engine's {max} bytes"));
    let bits = |n: usize| 16 + 8 * n as u32;
    Ok(match op {
        StrOp::Equal | StrOp::NotEqual => {
            if value.len() > MAX_EQUAL {
                return Err(too_long(MAX_EQUAL));
            }
            let mut key = types::str_key { set, ..Default::default() };
            fill(&mut key.s, value.bytes());
            (StrMap::Equal, bytes_of(&key).to_vec())
        }
        StrOp::Prefix | StrOp::NotPrefix => {
            if value.len() > MAX_PREFIX {
                return Err(too_long(MAX_PREFIX));
            }
            let mut key = types::prefix_key { prefixlen: bits(value.len()), set: set as u16, ..Default::default() };
            fill(&mut key.s, value.bytes());
            (StrMap::Prefix, bytes_of(&key).to_vec())
        }
        StrOp::Postfix | StrOp::NotPostfix => {
            if value.len() > MAX_POSTFIX {
                return Err(too_long(MAX_POSTFIX));
            }
            let mut key = types::postfix_key { prefixlen: bits(value.len()), set: set as u16, ..Default::default() };
            fill(&mut key.s, value.bytes().rev());
            (StrMap::Postfix, bytes_of(&key).to_vec())
        }
    })
}

/// The map key of one CIDR in `set`: IPv4 as IPv4-mapped IPv6.
fn addr_key(set: u32, ip: std::net::IpAddr, bits: u8) -> Result<StringEntry, PolicyLoadError> {
    let (addr, bits) = match ip {
        std::net::IpAddr::V4(v4) if bits <= 32 => (v4.to_ipv6_mapped(), 96 + u32::from(bits)),
        std::net::IpAddr::V6(v6) if bits <= 128 => (v6, u32::from(bits)),
        _ => return Err(PolicyLoadError::Limit(format!("CIDR {ip}/{bits}"))),
    };
    let key = types::addr_key { prefixlen: 32 + bits, set, addr: addr.octets() };
    Ok((StrMap::Addr, bytes_of(&key).to_vec()))
}

/// Ranges into the kernel's values: two per value, each (low, high) as u16s.
fn port_values(ranges: &[(u16, u16)], dst: &mut [u64; MAX_VALUES]) {
    for (i, (low, high)) in ranges.iter().enumerate() {
        dst[i / 2] |= (u64::from(*low) | u64::from(*high) << 16) << (32 * (i % 2));
    }
}

const STR_NONE: u8 = 0xff;

/// Where the kernel finds an argument's raw value.
fn source_index(source: ArgSource) -> Result<u8, PolicyLoadError> {
    Ok(match source {
        ArgSource::Register(r) if r < 6 => r,
        ArgSource::Register(r) => return Err(PolicyLoadError::Limit(format!("syscall argument {r}"))),
        ArgSource::Return => 6,
        ArgSource::Bprm => 7,
    })
}

fn set_op(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::In => 1,
        BinaryOp::NotIn => 2,
    }
}

/// matchPIDs, matchNamespaces and matchCapabilities into the kernel's selector.
fn compile_task_filters(sel: &Selector, dst: &mut types::selector) -> Result<(), PolicyLoadError> {
    limit("matchPIDs entries", sel.pids.len(), MAX_PID_FILTERS)?;
    limit("matchNamespaces entries", sel.namespaces.len(), MAX_NAMESPACE_FILTERS)?;
    limit("matchCapabilities entries", sel.capabilities.len(), MAX_CAPABILITY_FILTERS)?;
    dst.npids = sel.pids.len() as u8;
    for (d, p) in dst.pids.iter_mut().zip(&sel.pids) {
        limit("PIDs", p.pids.len(), MAX_SET_VALUES)?;
        (d.op, d.ns_pid, d.n) = (set_op(p.op), u8::from(p.namespace_pid), p.pids.len() as u8);
        d.pids[..p.pids.len()].copy_from_slice(&p.pids);
    }
    dst.nns = sel.namespaces.len() as u8;
    for (d, n) in dst.ns.iter_mut().zip(&sel.namespaces) {
        limit("namespaces", n.inodes.len(), MAX_SET_VALUES)?;
        (d.ns, d.op, d.n) = (n.ns as u8, set_op(n.op), n.inodes.len() as u8);
        d.inums[..n.inodes.len()].copy_from_slice(&n.inodes);
    }
    dst.ncaps = sel.capabilities.len() as u8;
    for (d, c) in dst.caps.iter_mut().zip(&sel.capabilities) {
        (d.set, d.op, d.ns_cap, d.mask) = (c.set as u8, set_op(c.op), u8::from(c.namespace_capability), c.mask);
    }
    Ok(())
}

/// Which of the optional program kinds this kernel runs.
fn probe_kernel() -> KernelHooks {
    use crate::probe::{HookKind, probe_kind};
    let kprobes = probe_kind(HookKind::Kprobe);
    // SAFETY: a probe with no options; libbpf loads and frees a tiny program.
    let helper = unsafe {
        libbpf_rs::libbpf_sys::libbpf_probe_bpf_helper(
            libbpf_rs::libbpf_sys::BPF_PROG_TYPE_KPROBE,
            libbpf_rs::libbpf_sys::BPF_FUNC_override_return,
            std::ptr::null(),
        )
    };
    let release = kernel_release();
    let fentry = probe_kind(HookKind::Fentry).and_then(|()| match release {
        Some(v) if v >= (5, 17) => Ok(()),
        Some((major, minor)) => Err(format!("bpf_get_func_arg needs Linux 5.17; this is {major}.{minor}")),
        None => Err("the kernel's release is unreadable (bpf_get_func_arg needs Linux 5.17)".into()),
    });
    let syscall_override = fentry.clone().and_then(|()| {
        crate::probe::probe_syscall_override().map_err(|e| {
            format!("the kernel refuses fmod_ret on syscalls ({e}): they are not on its error-injection list")
        })
    });
    KernelHooks {
        override_return: kprobes.is_ok() && helper == 1,
        kprobes,
        fentry,
        syscall_override,
        lsm: probe_kind(HookKind::Lsm),
        connect_errno: release.is_some_and(|v| v >= (5, 18)),
    }
}

/// The running kernel's (major, minor).
fn kernel_release() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// How a kernel function, syscall or raw tracepoint is hooked: kprobe or
/// tracepoint links, or an instance of the engine loaded for it (its link,
/// then the object: the link goes first).
enum FunctionAttachment {
    Probes { _links: Vec<Link> },
    Instance { _link: Link, _instance: Box<PolicySkel<'static>> },
}

/// What an instance of the engine, loaded for one function or tracepoint,
/// serves it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Instance {
    Entry,
    Exit,
    /// At entry, able to return an error in place of the function.
    ModifyReturn,
    /// A kernel function's entry whose one argument is the caller's
    /// registers, holding a syscall's arguments (`__x64_sys_NAME`).
    SyscallEntry,
    SyscallExit,
    SyscallModifyReturn,
    RawTracepoint,
}

impl Instance {
    /// The program (`policy_KIND`), and the kind of attachment it is.
    fn kind(self) -> &'static str {
        match self {
            Instance::Entry | Instance::SyscallEntry => "fentry",
            Instance::Exit | Instance::SyscallExit => "fexit",
            Instance::ModifyReturn | Instance::SyscallModifyReturn => "fmod_ret",
            Instance::RawTracepoint => "raw_tp",
        }
    }

    fn syscall(self) -> bool {
        matches!(self, Instance::SyscallEntry | Instance::SyscallExit | Instance::SyscallModifyReturn)
    }
}

/// Loads an instance of the engine for kernel function or raw tracepoint
/// `target` whose program (`instance`'s) runs the hooks of `site`, sharing
/// `engine`'s maps, and attaches it.
fn program_instance(
    engine: &PolicySkel<'static>,
    target: &str,
    site: u32,
    instance: Instance,
) -> Result<FunctionAttachment, PolicyLoadError> {
    let kind = instance.kind();
    let err = |e: libbpf_rs::Error| PolicyLoadError::Load(format!("loading the {kind} of {target}: {e}"));
    // Leaked, as the engine's own: the skeleton borrows it for its life (a
    // pointer's worth per attachment).
    let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    let mut open = PolicySkelBuilder::default().open(storage).map_err(err)?;
    let wanted = format!("policy_{kind}");
    for mut prog in open.open_object_mut().progs_mut() {
        let keep = prog.name() == wanted.as_str();
        prog.set_autoload(keep);
        if keep && instance != Instance::RawTracepoint {
            prog.set_attach_target(0, Some(target.to_owned())).map_err(err)?;
        }
    }
    let rodata = open.maps.rodata_data.as_deref_mut();
    let rodata = rodata.ok_or_else(|| PolicyLoadError::Load("the engine object has no .rodata".into()))?;
    rodata.function_site = site;
    rodata.function_syscall = u32::from(instance.syscall());
    // Every map but the instance's own globals (.rodata and the like) is the engine's.
    for mut map in open.open_object_mut().maps_mut() {
        let name = map.name().to_owned();
        if name.to_string_lossy().contains('.') {
            continue;
        }
        let Some(shared) = engine.object().maps().find(|m| m.name() == name) else {
            return Err(PolicyLoadError::Load(format!("the engine has no map {}", name.to_string_lossy())));
        };
        map.reuse_fd(shared.as_fd()).map_err(err)?;
    }
    let skel = Box::new(open.load().map_err(err)?);
    let attach_err = |e| PolicyLoadError::Load(format!("attaching the {kind} of {target}: {e}"));
    let link = match instance {
        Instance::Entry | Instance::SyscallEntry => skel.progs.policy_fentry.attach(),
        Instance::Exit | Instance::SyscallExit => skel.progs.policy_fexit.attach(),
        Instance::ModifyReturn | Instance::SyscallModifyReturn => skel.progs.policy_fmod_ret.attach(),
        Instance::RawTracepoint => skel.progs.policy_raw_tp.attach_raw_tracepoint(target),
    }
    .map_err(attach_err)?;
    Ok(FunctionAttachment::Instance { _link: link, _instance: skel })
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
        let kernel = probe_kernel();
        let mut open = PolicySkelBuilder::default().open(storage).map_err(load_err)?;
        open.maps.events.set_max_entries(ring_bytes).map_err(load_err)?;
        let rodata = open.maps.rodata_data.as_deref_mut();
        rodata.ok_or_else(|| PolicyLoadError::Load("the engine object has no .rodata".into()))?.connect_errno =
            u32::from(kernel.connect_errno);
        // Programs of kinds this kernel refuses would fail the whole load.
        open.progs.policy_kprobe.set_autoload(kernel.kprobes.is_ok());
        open.progs.policy_kprobe_override.set_autoload(kernel.override_return);
        open.progs.policy_kprobe_entry.set_autoload(kernel.kprobes.is_ok());
        open.progs.policy_kretprobe.set_autoload(kernel.kprobes.is_ok());
        // Loaded per hooked function, in instances of their own.
        open.progs.policy_fentry.set_autoload(false);
        open.progs.policy_fmod_ret.set_autoload(false);
        open.progs.policy_raw_tp.set_autoload(false);
        open.progs.policy_fexit.set_autoload(false);
        open.progs.policy_lsm_file_open.set_autoload(kernel.lsm.is_ok());
        open.progs.policy_lsm_bprm_check.set_autoload(kernel.lsm.is_ok());
        let mut skel = open.load().map_err(load_err)?;
        let mut links = Vec::new();
        for prog in skel.object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            // Attached while a hook needs them.
            let on_demand = [
                "policy_sys_",
                "policy_connect",
                "policy_sendmsg",
                "policy_signal_exit",
                "policy_kprobe",
                "policy_kretprobe",
                "policy_lsm_",
                "policy_uprobe",
                "policy_tracepoint",
                // Loaded per hooked function, in instances of their own.
                "policy_fentry",
                "policy_fmod_ret",
                "policy_raw_tp",
                "policy_fexit",
            ];
            if on_demand.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            links.push(prog.attach().map_err(|e| PolicyLoadError::Load(format!("attaching {name}: {e}")))?);
        }
        Ok(PolicySource {
            skel,
            _links: links,
            sys_enter: HashMap::new(),
            sys_exit_functions: HashMap::new(),
            sys_exit: None,
            connect: Vec::new(),
            sendmsg: Vec::new(),
            signal_exits: HashMap::new(),
            cgroup_root: cgroup_root.to_owned(),
            binaries: HashMap::new(),
            installed: HashMap::new(),
            strings: HashMap::new(),
            rate_baseline: HashMap::new(),
            follow: HashMap::new(),
            kernel,
            kprobe_ids: HashMap::new(),
            kprobe_links: HashMap::new(),
            kretprobe_links: HashMap::new(),
            prefer_kprobes: false,
            lsm_links: HashMap::new(),
            uprobe_ids: HashMap::new(),
            uprobe_links: HashMap::new(),
            tracepoints: HashMap::new(),
            tracepoint_links: HashMap::new(),
            raw_tracepoints: HashMap::new(),
            raw_tracepoint_links: HashMap::new(),
            scopes: HashMap::new(),
            patterns: HashMap::new(),
            pattern_keys: std::collections::HashSet::new(),
        })
    }

    /// The site of user function `function`'s uprobe (attached, in every
    /// process that maps its file, once a hook is installed there).
    pub fn uprobe_site(&mut self, function: &UserFunction) -> Result<Site, PolicyLoadError> {
        if let Some(id) = self.uprobe_ids.get(function) {
            return Ok(Site::Uprobe(*id));
        }
        let id = (0..MAX_UPROBES).find(|id| !self.uprobe_ids.values().any(|used| used == id)).ok_or_else(|| {
            PolicyLoadError::Limit(format!("{MAX_UPROBES} user functions are hooked; the engine takes no more"))
        })?;
        self.uprobe_ids.insert(function.clone(), id);
        Ok(Site::Uprobe(id))
    }

    /// A new site on tracepoint `subsystem`/`event` whose raw values are
    /// `fields` (one hook's, in its argument order; attached once a hook is
    /// installed there).
    pub fn tracepoint_site(
        &mut self,
        subsystem: &str,
        event: &str,
        fields: &[TracepointField],
    ) -> Result<Site, PolicyLoadError> {
        limit("tracepoint fields", fields.len(), MAX_ARGS)?;
        let id = (0..MAX_TRACEPOINTS).find(|id| !self.tracepoints.contains_key(id)).ok_or_else(|| {
            PolicyLoadError::Limit(format!(
                "{MAX_TRACEPOINTS} tracepoint hooks are installed; the engine takes no more"
            ))
        })?;
        let mut table = types::tp_fields::default();
        for (d, f) in table.f.iter_mut().zip(fields) {
            if !matches!(f.size, 1 | 2 | 4 | 8) {
                return Err(PolicyLoadError::Limit(format!("a tracepoint field of {} bytes", f.size)));
            }
            (d.offset, d.size) = (f.offset, f.size);
            d.flags = u8::from(f.signed) | if f.data_loc { 2 } else { 0 };
        }
        self.skel
            .maps
            .tp_fields
            .update(&id.to_ne_bytes(), bytes_of(&table), MapFlags::ANY)
            .map_err(map_err("tp_fields"))?;
        self.tracepoints.insert(id, (subsystem.to_owned(), event.to_owned()));
        Ok(Site::Tracepoint(id))
    }

    /// A new site for raw tracepoint `event` (attached once a hook is
    /// installed there).
    pub fn raw_tracepoint_site(&mut self, event: &str) -> Result<Site, PolicyLoadError> {
        let id = (0..MAX_RAW_TRACEPOINTS).find(|id| !self.raw_tracepoints.contains_key(id)).ok_or_else(|| {
            PolicyLoadError::Limit(format!(
                "{MAX_RAW_TRACEPOINTS} raw tracepoint hooks are installed; the engine takes no more"
            ))
        })?;
        self.raw_tracepoints.insert(id, event.to_owned());
        Ok(Site::RawTracepoint(id))
    }

    /// The user function a uprobe site hooks.
    pub fn uprobe_of(&self, site: Site) -> Option<UserFunction> {
        let Site::Uprobe(id) = site else { return None };
        self.uprobe_ids.iter().find(|(_, i)| **i == id).map(|(f, _)| f.clone())
    }

    /// The engine's hash maps, for their fill in `scry status`.
    pub fn maps(&self) -> [&dyn MapCore; 10] {
        let m = &self.skel.maps;
        [
            &m.task_binary,
            &m.binary_ids,
            &m.rate_last,
            &m.str_equal,
            &m.str_prefix,
            &m.str_postfix,
            &m.addr_lpm,
            &m.policy_scope,
            &m.task_patterns,
            &m.pending_signal,
        ]
    }

    /// What this kernel lets the engine hook besides syscalls and exec.
    pub fn kernel(&self) -> &KernelHooks {
        &self.kernel
    }

    /// Whether kernel functions are hooked with kprobes even where fentry
    /// and fexit run (for hooks attached from now on): kprobes reach
    /// functions trampolines cannot, and tests compare the two.
    pub fn set_prefer_kprobes(&mut self, on: bool) {
        self.prefer_kprobes = on;
    }

    /// Whether kernel functions are hooked with fentry and fexit (else
    /// kprobes and kretprobes).
    pub fn uses_trampolines(&self) -> bool {
        self.kernel.fentry.is_ok() && !(self.prefer_kprobes && self.kernel.kprobes.is_ok())
    }

    /// The site of kernel function `function`'s kprobe (attached once a
    /// hook is installed there).
    pub fn kprobe_site(&mut self, function: &str) -> Result<Site, PolicyLoadError> {
        self.kprobe_id(function).map(Site::Kprobe)
    }

    /// The site of kernel function `function`'s return (a kretprobe, and a
    /// kprobe keeping its arguments; attached once a hook is installed there).
    pub fn kretprobe_site(&mut self, function: &str) -> Result<Site, PolicyLoadError> {
        self.kprobe_id(function).map(Site::KprobeReturn)
    }

    fn kprobe_id(&mut self, function: &str) -> Result<u32, PolicyLoadError> {
        if let (Err(why), Err(_)) = (&self.kernel.kprobes, &self.kernel.fentry) {
            return Err(PolicyLoadError::Load(format!("{function}: this kernel attaches no kprobes ({why})")));
        }
        if let Some(id) = self.kprobe_ids.get(function) {
            return Ok(*id);
        }
        let id = (0..MAX_KPROBES).find(|id| !self.kprobe_ids.values().any(|used| used == id)).ok_or_else(|| {
            PolicyLoadError::Limit(format!("{MAX_KPROBES} kernel functions are hooked; the engine takes no more"))
        })?;
        self.kprobe_ids.insert(function.to_owned(), id);
        Ok(id)
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

    /// matchBinaries into `dst`: the listed executables' ids (returned),
    /// or for Prefix/Postfix the selector's pattern bit.
    fn compile_binaries(
        &mut self,
        key: (u32, usize),
        binaries: &Option<(BinariesOp, Vec<String>)>,
        dst: &mut types::selector,
    ) -> Result<Vec<u32>, PolicyLoadError> {
        let Some((op, paths)) = binaries else { return Ok(Vec::new()) };
        limit("binaries", paths.len(), MAX_BINARIES)?;
        if let Some((prefix, negated)) = op.pattern() {
            let max = if prefix { MAX_BINARY_PATH } else { MAX_POSTFIX };
            if let Some(long) = paths.iter().find(|p| p.len() > max) {
                return Err(PolicyLoadError::Limit(format!("{op:?} value {long:?} is longer than {max} bytes")));
            }
            dst.bin_op = if negated { 4 } else { 3 };
            dst.pattern_bit = self.pattern_bit(key, prefix, paths)?;
            return Ok(Vec::new());
        }
        dst.bin_op = if *op == BinariesOp::In { 1 } else { 2 };
        dst.nbinaries = paths.len() as u32;
        let mut ids = Vec::with_capacity(paths.len());
        for (id, path) in dst.binaries.iter_mut().zip(paths) {
            *id = self.binary_id(path)?;
            ids.push(*id);
        }
        Ok(ids)
    }

    /// The pattern bit of selector `key`'s Prefix (or Postfix) values; once:
    /// recompiling keeps it.
    fn pattern_bit(&mut self, key: (u32, usize), prefix: bool, values: &[String]) -> Result<u64, PolicyLoadError> {
        if let Some(p) = self.patterns.get(&key) {
            return Ok(p.bit);
        }
        let used = self.patterns.values().fold(0u64, |m, p| m | p.bit);
        let bit = (0..64).map(|i| 1u64 << i).find(|b| used & b == 0).ok_or_else(|| {
            PolicyLoadError::Limit(
                "64 matchBinaries Prefix/Postfix selectors are installed; the engine takes no more".into(),
            )
        })?;
        self.patterns.insert(key, BinaryPattern { bit, prefix, values: values.to_vec() });
        Ok(bit)
    }

    /// Rewrites the Prefix/Postfix tries from the installed patterns (each
    /// entry with the bits of every value that is a prefix, or postfix, of
    /// it: a lookup finds the longest only), and every running process's
    /// pattern bits (a freed bit must not linger on them).
    fn write_patterns(&mut self) -> Result<(), PolicyLoadError> {
        let mut entries: HashMap<(bool, Vec<u8>), u64> = HashMap::new();
        for p in self.patterns.values() {
            for v in &p.values {
                let covering = self
                    .patterns
                    .values()
                    .filter(|q| q.prefix == p.prefix)
                    .filter(|q| q.values.iter().any(|u| if p.prefix { v.starts_with(u) } else { v.ends_with(u) }))
                    .fold(0, |m, q| m | q.bit);
                *entries.entry((p.prefix, v.as_bytes().to_vec())).or_default() |= covering;
            }
        }
        let key = |prefix: bool, v: &[u8]| {
            if prefix {
                let mut k = types::bin_prefix_key { prefixlen: 8 * v.len() as u32, ..Default::default() };
                fill(&mut k.path, v.iter().copied());
                bytes_of(&k).to_vec()
            } else {
                let mut k = types::bin_postfix_key { prefixlen: 8 * v.len() as u32, ..Default::default() };
                fill(&mut k.path, v.iter().rev().copied());
                bytes_of(&k).to_vec()
            }
        };
        let maps = &self.skel.maps;
        for (prefix, v) in self.pattern_keys.drain() {
            if !entries.contains_key(&(prefix, v.clone())) {
                let map = if prefix { &maps.bin_prefix } else { &maps.bin_postfix };
                let _ = map.delete(&key(prefix, &v));
            }
        }
        for ((prefix, v), bits) in &entries {
            let map = if *prefix { &maps.bin_prefix } else { &maps.bin_postfix };
            map.update(&key(*prefix, v), &bits.to_ne_bytes(), MapFlags::ANY).map_err(map_err("bin_prefix"))?;
        }
        self.pattern_keys = entries.into_keys().collect();
        // Processes that exec'd before: their executables' bits now.
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
            let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else { continue };
            let exe = exe.to_string_lossy();
            let bits = self
                .patterns
                .values()
                .filter(|p| p.values.iter().any(|v| if p.prefix { exe.starts_with(v) } else { exe.ends_with(v) }))
                .fold(0u64, |m, p| m | p.bit);
            let map = &self.skel.maps.task_patterns;
            if bits == 0 {
                let _ = map.delete(&pid.to_ne_bytes());
            } else {
                // A process gone meanwhile leaves a stale entry the LRU ages out.
                let _ = map.update(&pid.to_ne_bytes(), &bits.to_ne_bytes(), MapFlags::ANY);
            }
        }
        Ok(())
    }

    /// The kernel's form of `hook` in `slot`, and the string values its
    /// selectors compare (not yet written).
    fn compile(&mut self, slot: u32, hook: &Hook) -> Result<(types::hook, Vec<StringEntry>), PolicyLoadError> {
        limit("selectors", hook.selectors.len(), MAX_SELECTORS)?;
        limit("arguments", hook.args.len(), MAX_ARGS)?;
        if hook.sites.is_empty() {
            return Err(PolicyLoadError::Limit("a hook without a site".into()));
        }
        let mut out = types::hook {
            policy_id: hook.policy_id,
            enabled: 1,
            nselectors: hook.selectors.len() as u32,
            nargs: hook.args.len() as u32,
            skip_failed: u32::from(hook.skip_failed),
            scoped: u32::from(self.scopes.contains_key(&hook.policy_id)),
            str_arg: [STR_NONE; MAX_STRING_ARGS],
            sock_arg: [STR_NONE; MAX_SOCKET_ARGS],
            cred_arg: STR_NONE,
            data_arg: STR_NONE,
            ..Default::default()
        };
        let (mut nstr, mut nsock) = (0, 0);
        for (i, (dst, a)) in out.args.iter_mut().zip(&hook.args).enumerate() {
            dst.source = source_index(a.source)?;
            dst.kind = match a.kind {
                ArgKind::Int => 0,
                ArgKind::UserString => 1,
                ArgKind::Fd => 2,
                ArgKind::File => 3,
                ArgKind::Bprm => 4,
                ArgKind::Path => 5,
                ArgKind::KernelString => 6,
                ArgKind::Filename => 7,
                ArgKind::Sock => 8,
                ArgKind::Socket => 9,
                ArgKind::SockAddr => 10,
                ArgKind::UserSockAddr => 11,
                ArgKind::Connect(view) => {
                    dst.source = view as u8;
                    12
                }
                ArgKind::Cred => 13,
                ArgKind::CurrentCred => 14,
                ArgKind::KernelCap => {
                    out.deref = 1;
                    15
                }
                ArgKind::UserBuffer { size, max_data } | ArgKind::KernelBuffer { size, max_data } => {
                    dst.size = source_index(size)?;
                    if max_data {
                        if out.data_arg != STR_NONE {
                            return Err(PolicyLoadError::Limit(
                                "2 maxData arguments; the engine takes at most 1".into(),
                            ));
                        }
                        out.data_arg = i as u8;
                    }
                    if matches!(a.kind, ArgKind::UserBuffer { .. }) { 16 } else { 17 }
                }
                ArgKind::UserIovec { count } => {
                    if nstr != 0 {
                        return Err(PolicyLoadError::Limit(
                            "a char_iovec argument after another string-like one (it must come first)".into(),
                        ));
                    }
                    dst.size = source_index(count)?;
                    18
                }
            };
            dst.slot = STR_NONE;
            if a.kind.is_string() {
                limit("string and path arguments", nstr + 1, MAX_STRING_ARGS)?;
                dst.slot = nstr as u8;
                out.str_arg[nstr] = i as u8;
                nstr += 1;
            } else if a.kind.is_socket() {
                limit("socket and address arguments", nsock + 1, MAX_SOCKET_ARGS)?;
                dst.slot = nsock as u8;
                out.sock_arg[nsock] = i as u8;
                nsock += 1;
            } else if a.kind.is_cred() {
                if out.cred_arg != STR_NONE {
                    return Err(PolicyLoadError::Limit("2 cred arguments; the engine takes at most 1".into()));
                }
                out.cred_arg = i as u8;
            }
        }
        let mut strings = Vec::new();
        for (s, (dst, sel)) in out.selectors.iter_mut().zip(&hook.selectors).enumerate() {
            limit("matchArgs entries", sel.args.len(), MAX_ARG_MATCHES)?;
            dst.nargs = sel.args.len() as u32;
            for (m, (dst, a)) in dst.args.iter_mut().zip(&sel.args).enumerate() {
                let index = usize::from(a.index());
                let Some(spec) = hook.args.get(index) else {
                    return Err(PolicyLoadError::Limit(format!("matchArgs on argument {index} the hook lacks")));
                };
                dst.index = a.index();
                match a {
                    ArgMatch::Int { op, values, .. } => {
                        limit("values", values.len(), MAX_VALUES)?;
                        if values.is_empty() || !spec.kind.is_integer() {
                            return Err(PolicyLoadError::Limit(format!(
                                "integer matchArgs on argument {index} ({:?}, {} values)",
                                spec.kind,
                                values.len()
                            )));
                        }
                        dst.op = *op as u8;
                        dst.nvalues = values.len() as u8;
                        dst.values[..values.len()].copy_from_slice(values);
                    }
                    ArgMatch::Str { op, values, .. } => {
                        if !spec.kind.is_string() {
                            return Err(PolicyLoadError::Limit(format!(
                                "string matchArgs on argument {index} ({:?})",
                                spec.kind
                            )));
                        }
                        dst.op = *op as u8;
                        dst.set = slot * 32 + (s * MAX_ARG_MATCHES + m) as u32 + 1;
                        if matches!(op, StrOp::Postfix | StrOp::NotPostfix) {
                            out.args[index].tail = 1;
                        }
                        for v in values {
                            strings.push(string_key(*op, dst.set, v)?);
                        }
                    }
                    socket => {
                        if !spec.kind.is_socket() {
                            return Err(PolicyLoadError::Limit(format!(
                                "socket matchArgs on argument {index} ({:?})",
                                spec.kind
                            )));
                        }
                        let side_op = |side: &Side, negated: &bool, source: u8| {
                            source + if *side == Side::Destination { 4 } else { 0 } + u8::from(*negated)
                        };
                        match socket {
                            ArgMatch::Port { side, negated, ranges, .. } => {
                                limit("port ranges", ranges.len(), MAX_PORT_RANGES)?;
                                if ranges.is_empty() {
                                    return Err(PolicyLoadError::Limit("a port match without ports".into()));
                                }
                                dst.op = side_op(side, negated, 12);
                                dst.nvalues = ranges.len() as u8;
                                port_values(ranges, &mut dst.values);
                            }
                            ArgMatch::PrivilegedPort { side, negated, .. } => dst.op = side_op(side, negated, 14),
                            ArgMatch::Addr { side, negated, cidrs, .. } => {
                                dst.op = 20 + if *side == Side::Destination { 2 } else { 0 } + u8::from(*negated);
                                dst.set = slot * 32 + (s * MAX_ARG_MATCHES + m) as u32 + 1;
                                for (ip, bits) in cidrs {
                                    strings.push(addr_key(dst.set, *ip, *bits)?);
                                }
                            }
                            ArgMatch::Field { field, values, .. } => {
                                limit("values", values.len(), MAX_VALUES)?;
                                dst.op = 24 + *field as u8;
                                dst.nvalues = values.len() as u8;
                                dst.values[..values.len()].copy_from_slice(values);
                            }
                            ArgMatch::Int { .. } | ArgMatch::Str { .. } => unreachable!("matched above"),
                        }
                    }
                }
            }
            let ids = self.compile_binaries((slot, s), &sel.binaries, dst)?;
            if sel.follow_children && sel.binaries.is_some() {
                if dst.pattern_bit != 0 {
                    return Err(PolicyLoadError::Limit("followChildren with Prefix or Postfix binaries".into()));
                }
                dst.follow_bit = self.follow_bit((slot, s, Follow::Children), &ids)?;
            }
            compile_task_filters(sel, dst)?;
            for (k, p) in sel.pids.iter().enumerate() {
                if p.follow_forks {
                    if p.namespace_pid {
                        return Err(PolicyLoadError::Limit(
                            "followForks with namespace PIDs (the engine follows host PIDs)".into(),
                        ));
                    }
                    dst.pids[k].follow_bit = self.follow_bit((slot, s, Follow::Forks(k)), &p.pids)?;
                }
            }
            (dst.actions, dst.signal) = action_bits(&sel.actions);
            dst.error = sel.actions.override_error.unwrap_or(0);
            if let Some(rate) = sel.actions.rate_limit {
                dst.rate_ms = rate.window_ms;
                dst.rate_scope = match rate.scope {
                    RateScope::Thread => 0,
                    RateScope::Process => 1,
                    RateScope::Global => 2,
                };
            }
        }
        let in_use: usize = self.strings.values().map(Vec::len).sum();
        limit("string values over all hooks", in_use + strings.len(), MAX_STRING_VALUES)?;
        Ok((out, strings))
    }

    /// The follow bit of `key`'s filter, set in the follow_bits of binary
    /// `ids` (followChildren) or the task_follow of process `ids`
    /// (followForks); once: recompiling keeps it.
    fn follow_bit(&mut self, key: (u32, usize, Follow), ids: &[u32]) -> Result<u64, PolicyLoadError> {
        if let Some((bit, _)) = self.follow.get(&key) {
            return Ok(*bit);
        }
        let used = self.follow.values().fold(0u64, |m, (b, _)| m | b);
        let bit = (0..64).map(|i| 1u64 << i).find(|b| used & b == 0).ok_or_else(|| {
            PolicyLoadError::Limit("64 followChildren selectors are installed; the engine takes no more".into())
        })?;
        for id in ids {
            self.update_follow_bits(key.2, *id, bit, true)?;
        }
        self.follow.insert(key, (bit, ids.to_vec()));
        Ok(bit)
    }

    fn update_follow_bits(&self, what: Follow, id: u32, bit: u64, set: bool) -> Result<(), PolicyLoadError> {
        let map = match what {
            Follow::Children => &self.skel.maps.follow_bits,
            Follow::Forks(_) => &self.skel.maps.task_follow,
        };
        let key = id.to_ne_bytes();
        let old = map
            .lookup(&key, MapFlags::ANY)
            .map_err(map_err("follow_bits"))?
            .map_or(0, |v| v.get(..8).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default())));
        let new = if set { old | bit } else { old & !bit };
        if new == 0 {
            let _ = map.delete(&key);
            Ok(())
        } else {
            map.update(&key, &new.to_ne_bytes(), MapFlags::ANY).map_err(map_err("follow_bits"))
        }
    }

    /// Frees `slot`'s followChildren bits. Processes that carry them keep
    /// them until they exit; a later selector given the bit starts from a
    /// fresh ancestry only for processes forked after it.
    fn forget_follow(&mut self, slot: u32) {
        let gone: Vec<(u32, usize, Follow)> = self.follow.keys().filter(|(s, _, _)| *s == slot).copied().collect();
        for key in gone {
            if let Some((bit, ids)) = self.follow.remove(&key) {
                for id in ids {
                    let _ = self.update_follow_bits(key.2, id, bit, false);
                }
            }
        }
    }

    fn string_map(&self, map: StrMap) -> &dyn MapCore {
        match map {
            StrMap::Equal => &self.skel.maps.str_equal,
            StrMap::Prefix => &self.skel.maps.str_prefix,
            StrMap::Postfix => &self.skel.maps.str_postfix,
            StrMap::Addr => &self.skel.maps.addr_lpm,
        }
    }

    fn write_strings(&mut self, slot: u32, strings: Vec<StringEntry>) -> Result<(), PolicyLoadError> {
        self.forget_strings(slot);
        for (map, key) in &strings {
            self.string_map(*map).update(key, &[1], MapFlags::ANY).map_err(map_err("string values"))?;
        }
        self.strings.insert(slot, strings);
        Ok(())
    }

    fn forget_strings(&mut self, slot: u32) {
        for (map, key) in self.strings.remove(&slot).unwrap_or_default() {
            // Another hook's identical value has another set: never shared.
            let _ = self.string_map(map).delete(&key);
        }
    }

    /// Attaches each on-demand program while a hook needs it, and detaches
    /// it when none does: each hooked syscall's sys_enter tracepoint, sys_exit,
    /// each hooked function's
    /// kprobe (the overriding one when a hook there overrides), LSM hooks.
    fn attach_while_needed(&mut self) -> Result<(), PolicyLoadError> {
        fn attach_err(what: String) -> impl Fn(libbpf_rs::Error) -> PolicyLoadError {
            move |e| PolicyLoadError::Load(format!("attaching {what}: {e}"))
        }
        let sites = || self.installed.values().flat_map(|h| h.sites.iter());
        let mut want_enter: HashMap<u32, bool> = HashMap::new();
        let mut want_exit: Vec<u32> = Vec::new();
        for h in self.installed.values() {
            let overrides = h.selectors.iter().any(|sel| sel.actions.override_error.is_some());
            for site in &h.sites {
                match site {
                    Site::Enter(nr) => *want_enter.entry(*nr).or_default() |= overrides,
                    Site::Exit(nr) => want_exit.push(*nr),
                    _ => {}
                }
            }
        }
        let output_site = |s: &Site| matches!(s, Site::Output(_));
        let connect_site = |s: &Site| matches!(s, Site::TcpConnect | Site::SocketConnect) || output_site(s);
        let want_connect = sites().any(connect_site);
        let want_sendmsg = sites().any(output_site);
        let signals = |on: &dyn Fn(&Site) -> bool| {
            self.installed
                .values()
                .any(|h| h.sites.iter().any(on) && h.selectors.iter().any(|s| s.actions.signal.is_some()))
        };
        let mut want_signal_exits = Vec::new();
        if signals(&connect_site) {
            want_signal_exits.push("connect");
        }
        if signals(&output_site) {
            want_signal_exits.extend(["sendto", "sendmsg", "sendmmsg"]);
        }
        let mut want_kprobes: HashMap<u32, bool> = HashMap::new();
        let mut want_kretprobes = Vec::new();
        let mut want_lsm = Vec::new();
        let mut want_uprobes = Vec::new();
        let mut want_tracepoints = Vec::new();
        let mut want_raw_tracepoints = Vec::new();
        for h in self.installed.values() {
            let overrides = h.selectors.iter().any(|s| s.actions.override_error.is_some());
            for site in &h.sites {
                match site {
                    Site::Kprobe(id) => *want_kprobes.entry(*id).or_default() |= overrides,
                    Site::KprobeReturn(id) => want_kretprobes.push(*id),
                    Site::Lsm(hook) => want_lsm.push(*hook),
                    Site::Uprobe(id) => want_uprobes.push(*id),
                    Site::Tracepoint(id) => want_tracepoints.push(*id),
                    Site::RawTracepoint(id) => want_raw_tracepoints.push(*id),
                    _ => {}
                }
            }
        }
        let progs = &self.skel.progs;
        let trampolines = self.uses_trampolines();
        self.sys_enter.retain(|nr, (_, overrides)| want_enter.get(nr) == Some(overrides));
        for (&nr, &overrides) in &want_enter {
            if self.sys_enter.contains_key(&nr) {
                continue;
            }
            let name = crate::syscalls::name(nr)
                .ok_or_else(|| PolicyLoadError::Limit(format!("syscall {nr} has no name this engine knows")))?;
            let attachment = if trampolines {
                let instance = if overrides { Instance::SyscallModifyReturn } else { Instance::SyscallEntry };
                program_instance(&self.skel, &format!("__x64_sys_{name}"), nr, instance)?
            } else {
                let event = format!("sys_enter_{name}");
                let opts = libbpf_rs::TracepointOpts { cookie: u64::from(nr), ..Default::default() };
                let link = progs
                    .policy_sys_enter
                    .attach_tracepoint_with_opts(libbpf_rs::TracepointCategory::Syscalls, &event, opts)
                    .map_err(attach_err(format!("the tracepoint syscalls/{event}")))?;
                FunctionAttachment::Probes { _links: vec![link] }
            };
            self.sys_enter.insert(nr, (attachment, overrides));
        }
        self.sys_exit_functions.retain(|nr, _| trampolines && want_exit.contains(nr));
        for &nr in want_exit.iter().filter(|_| trampolines) {
            if self.sys_exit_functions.contains_key(&nr) {
                continue;
            }
            let name = crate::syscalls::name(nr)
                .ok_or_else(|| PolicyLoadError::Limit(format!("syscall {nr} has no name this engine knows")))?;
            let attachment =
                program_instance(&self.skel, &format!("__x64_sys_{name}"), MAX_SYSCALL + nr, Instance::SyscallExit)?;
            self.sys_exit_functions.insert(nr, attachment);
        }
        match (!trampolines && !want_exit.is_empty(), self.sys_exit.is_some()) {
            (true, false) => {
                self.sys_exit = Some(progs.policy_sys_exit.attach().map_err(attach_err("policy_sys_exit".into()))?)
            }
            (false, true) => self.sys_exit = None,
            _ => {}
        }
        self.kprobe_links.retain(|id, (_, overrides)| want_kprobes.get(id) == Some(overrides));
        for (function, id) in &self.kprobe_ids {
            if self.kprobe_links.contains_key(id) || !want_kprobes.contains_key(id) {
                continue;
            }
            let overrides = want_kprobes[id];
            if self.uses_trampolines() {
                // fmod_ret overrides where the kernel allows it: the
                // error-injection list and security_* hooks, checked at load.
                let instance = if overrides { Instance::ModifyReturn } else { Instance::Entry };
                let attachment = program_instance(&self.skel, function, SITE_KPROBE + id, instance)?;
                self.kprobe_links.insert(*id, (attachment, overrides));
                continue;
            }
            let opts = libbpf_rs::KprobeOpts { cookie: u64::from(SITE_KPROBE + id), ..Default::default() };
            let link = if overrides {
                progs.policy_kprobe_override.attach_kprobe_with_opts(false, function, opts).map_err(|e| {
                    PolicyLoadError::Load(format!(
                        "Override on {function}: the kernel refuses it (a function must be on its error-injection \
                         list): {e}"
                    ))
                })?
            } else {
                progs
                    .policy_kprobe
                    .attach_kprobe_with_opts(false, function, opts)
                    .map_err(|e| PolicyLoadError::Load(format!("attaching a kprobe to {function}: {e}")))?
            };
            self.kprobe_links.insert(*id, (FunctionAttachment::Probes { _links: vec![link] }, overrides));
        }
        self.kretprobe_links.retain(|id, _| want_kretprobes.contains(id));
        for (function, id) in &self.kprobe_ids {
            if self.kretprobe_links.contains_key(id) || !want_kretprobes.contains(id) {
                continue;
            }
            if self.uses_trampolines() {
                let attachment = program_instance(&self.skel, function, SITE_KRETPROBE + id, Instance::Exit)?;
                self.kretprobe_links.insert(*id, attachment);
                continue;
            }
            let opts = || libbpf_rs::KprobeOpts { cookie: u64::from(SITE_KRETPROBE + id), ..Default::default() };
            let err = |e| PolicyLoadError::Load(format!("attaching a kretprobe to {function}: {e}"));
            let entry = progs.policy_kprobe_entry.attach_kprobe_with_opts(false, function, opts()).map_err(err)?;
            let exit = progs.policy_kretprobe.attach_kprobe_with_opts(true, function, opts()).map_err(err)?;
            self.kretprobe_links.insert(*id, FunctionAttachment::Probes { _links: vec![entry, exit] });
        }
        self.uprobe_links.retain(|id, _| want_uprobes.contains(id));
        for (function, id) in &self.uprobe_ids {
            if self.uprobe_links.contains_key(id) || !want_uprobes.contains(id) {
                continue;
            }
            let cookie = u64::from(SITE_UPROBE + id);
            let (offset, func_name) = match &function.target {
                UserTarget::Symbol(name) => (0, Some(name.clone())),
                UserTarget::Offset(off) => (*off as usize, None),
            };
            let opts = libbpf_rs::UprobeOpts { func_name, cookie, ..Default::default() };
            let link = progs.policy_uprobe.attach_uprobe_with_opts(-1, &function.path, offset, opts).map_err(|e| {
                PolicyLoadError::Load(format!("attaching a uprobe to {} {:?}: {e}", function.path, function.target))
            })?;
            self.uprobe_links.insert(*id, link);
        }
        self.tracepoint_links.retain(|id, _| want_tracepoints.contains(id));
        for (id, (subsystem, event)) in &self.tracepoints {
            if self.tracepoint_links.contains_key(id) || !want_tracepoints.contains(id) {
                continue;
            }
            let opts = libbpf_rs::TracepointOpts { cookie: u64::from(SITE_TRACEPOINT + id), ..Default::default() };
            let category = libbpf_rs::TracepointCategory::Custom(subsystem.clone());
            let link = progs
                .policy_tracepoint
                .attach_tracepoint_with_opts(category, event, opts)
                .map_err(|e| PolicyLoadError::Load(format!("attaching to the tracepoint {subsystem}/{event}: {e}")))?;
            self.tracepoint_links.insert(*id, link);
        }
        self.raw_tracepoint_links.retain(|id, _| want_raw_tracepoints.contains(id));
        for (id, event) in &self.raw_tracepoints {
            if self.raw_tracepoint_links.contains_key(id) || !want_raw_tracepoints.contains(id) {
                continue;
            }
            let attachment = program_instance(&self.skel, event, SITE_RAW_TRACEPOINT + id, Instance::RawTracepoint)?;
            self.raw_tracepoint_links.insert(*id, attachment);
        }
        // The cgroup programs, on the root cgroup v2: every process's sockets.
        let on_cgroup = |programs: [(&libbpf_rs::ProgramMut, &str); 2]| {
            let cgroup = std::fs::File::open(&self.cgroup_root).map_err(|e| {
                PolicyLoadError::Load(format!("opening the cgroup {}: {e}", self.cgroup_root.display()))
            })?;
            use std::os::fd::AsRawFd;
            programs
                .into_iter()
                .map(|(prog, name)| prog.attach_cgroup(cgroup.as_raw_fd()).map_err(attach_err(name.into())))
                .collect::<Result<Vec<_>, _>>()
        };
        match (want_connect, self.connect.is_empty()) {
            (true, true) => {
                self.connect = on_cgroup([
                    (&progs.policy_connect4, "policy_connect4"),
                    (&progs.policy_connect6, "policy_connect6"),
                ])?
            }
            (false, false) => self.connect.clear(),
            _ => {}
        }
        match (want_sendmsg, self.sendmsg.is_empty()) {
            (true, true) => {
                self.sendmsg = on_cgroup([
                    (&progs.policy_sendmsg4, "policy_sendmsg4"),
                    (&progs.policy_sendmsg6, "policy_sendmsg6"),
                ])?
            }
            (false, false) => self.sendmsg.clear(),
            _ => {}
        }
        self.signal_exits.retain(|name, _| want_signal_exits.contains(name));
        for name in want_signal_exits {
            if self.signal_exits.contains_key(name) {
                continue;
            }
            let event = format!("sys_exit_{name}");
            let link = progs
                .policy_signal_exit
                .attach_tracepoint(libbpf_rs::TracepointCategory::Syscalls, &event)
                .map_err(attach_err(format!("the tracepoint syscalls/{event}")))?;
            self.signal_exits.insert(name, link);
        }
        self.lsm_links.retain(|hook, _| want_lsm.contains(hook));
        for hook in want_lsm {
            if self.lsm_links.contains_key(&hook) {
                continue;
            }
            let prog = match hook {
                LsmHook::FileOpen => &progs.policy_lsm_file_open,
                LsmHook::BprmCheck => &progs.policy_lsm_bprm_check,
            };
            self.lsm_links.insert(hook, prog.attach_lsm().map_err(attach_err(format!("the LSM hook {hook:?}")))?);
        }
        Ok(())
    }

    /// Whether a program is attached to syscalls (some hook is installed on
    /// a syscall's entry or exit).
    pub fn syscalls_hooked(&self) -> bool {
        !self.sys_enter.is_empty() || !self.sys_exit_functions.is_empty() || self.sys_exit.is_some()
    }

    /// Writes `site`'s list of hooks from what is installed.
    fn relist(&mut self, site: Site) -> Result<(), PolicyLoadError> {
        if let Some(nr) = site.syscall()
            && nr >= MAX_SYSCALL
        {
            return Err(PolicyLoadError::Limit(format!("syscall {nr}; the engine takes numbers below {MAX_SYSCALL}")));
        }
        let mut slots: Vec<u32> =
            self.installed.iter().filter(|(_, h)| h.sites.contains(&site)).map(|(slot, _)| *slot).collect();
        slots.sort_unstable();
        if slots.len() > MAX_HOOKS_PER_SITE {
            return Err(PolicyLoadError::Limit(format!(
                "{} hooks on {site:?}; the engine takes at most {MAX_HOOKS_PER_SITE}",
                slots.len()
            )));
        }
        let lists_binaries = |s: &Selector| matches!(s.binaries, Some((BinariesOp::In, _))) && !s.follow_children;
        let binary_gate = slots.iter().all(|slot| {
            let selectors = &self.installed[slot].selectors;
            !selectors.is_empty() && selectors.iter().all(lists_binaries)
        });
        let mut list =
            types::site_hooks { n: slots.len() as u32, binary_gate: u32::from(binary_gate), ..Default::default() };
        list.hook[..slots.len()].copy_from_slice(&slots);
        self.skel
            .maps
            .site_hooks
            .update(&site.index().to_ne_bytes(), bytes_of(&list), MapFlags::ANY)
            .map_err(map_err("site_hooks"))
    }

    /// Installs `hook` in `slot` (below [`MAX_HOOKS`]), replacing what was
    /// there; it acts from the next call on.
    pub fn install(&mut self, slot: u32, hook: &Hook) -> Result<(), PolicyLoadError> {
        if slot >= MAX_HOOKS {
            return Err(PolicyLoadError::Limit(format!("hook slot {slot}; the engine has {MAX_HOOKS}")));
        }
        self.check_kernel(hook)?;
        self.uninstall(slot)?;
        let forget = |s: &mut Self| {
            s.forget_follow(slot);
            s.patterns.retain(|(at, _), _| *at != slot);
        };
        let (compiled, strings) = self.compile(slot, hook).inspect_err(|_| forget(self))?;
        if let Err(e) = self.write_strings(slot, strings) {
            self.forget_strings(slot);
            forget(self);
            return Err(e);
        }
        if self.patterns.keys().any(|(at, _)| *at == slot)
            && let Err(e) = self.write_patterns()
        {
            forget(self);
            self.forget_strings(slot);
            return Err(e);
        }
        self.skel
            .maps
            .hooks
            .update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY)
            .map_err(map_err("hooks"))?;
        self.installed.insert(slot, hook.clone());
        self.rate_baseline.insert(slot, self.hook_stat(slot));
        for site in &hook.sites {
            if let Err(e) = self.relist(*site) {
                self.remove(slot)?;
                return Err(e);
            }
        }
        if let Err(e) = self.attach_while_needed() {
            self.remove(slot)?;
            return Err(e);
        }
        Ok(())
    }

    /// Refuses sites and actions this kernel cannot run, saying why.
    fn check_kernel(&self, hook: &Hook) -> Result<(), PolicyLoadError> {
        let overrides = hook.selectors.iter().any(|s| s.actions.override_error.is_some());
        for site in &hook.sites {
            match site {
                Site::KprobeReturn(_) => {
                    if let (Err(why), false) = (&self.kernel.kprobes, self.uses_trampolines()) {
                        return Err(PolicyLoadError::Load(format!("this kernel attaches no kprobes ({why})")));
                    }
                    if overrides {
                        return Err(PolicyLoadError::Load(
                            "Override at a function's return: it has run, and its return value stays".into(),
                        ));
                    }
                }
                Site::Kprobe(_) => {
                    if let (Err(why), false) = (&self.kernel.kprobes, self.uses_trampolines()) {
                        return Err(PolicyLoadError::Load(format!("this kernel attaches no kprobes ({why})")));
                    }
                    if overrides && !self.uses_trampolines() && !self.kernel.override_return {
                        return Err(PolicyLoadError::Load(
                            "Override on a kernel function needs fmod_ret or bpf_override_return, which this kernel \
                             lacks"
                                .into(),
                        ));
                    }
                }
                // fmod_ret on the syscall's function.
                Site::Enter(_) if overrides && self.uses_trampolines() => {
                    if let Err(why) = &self.kernel.syscall_override {
                        return Err(PolicyLoadError::Load(format!("Override on a syscall: {why}")));
                    }
                }
                Site::Lsm(_) => {
                    if let Err(why) = &self.kernel.lsm {
                        return Err(PolicyLoadError::Load(format!("this kernel runs no BPF LSM programs ({why})")));
                    }
                }
                Site::TcpConnect | Site::SocketConnect | Site::Output(_) if !self.kernel.connect_errno => {
                    let other = hook.selectors.iter().filter_map(|s| s.actions.override_error).find(|e| *e != -1);
                    if let Some(error) = other {
                        return Err(PolicyLoadError::Load(format!(
                            "Override with error {error} on connect: this kernel's cgroup hook refuses a connect \
                             with EPERM (-1) only (another errno needs Linux 5.18)"
                        )));
                    }
                }
                // bpf_set_retval makes the connect fail with argError.
                Site::TcpConnect | Site::SocketConnect | Site::Output(_) => {}
                _ if overrides => {
                    return Err(PolicyLoadError::Load(format!(
                        "Override needs fmod_ret, a kprobe or an LSM hook; {site:?} cannot change a return value here"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stops and forgets the hook in `slot` (and the ids of kernel
    /// functions no hook uses any more).
    pub fn remove(&mut self, slot: u32) -> Result<(), PolicyLoadError> {
        self.uninstall(slot)?;
        let installed = &self.installed;
        self.kprobe_ids.retain(|_, id| {
            installed
                .values()
                .any(|h| h.sites.contains(&Site::Kprobe(*id)) || h.sites.contains(&Site::KprobeReturn(*id)))
        });
        self.uprobe_ids.retain(|_, id| installed.values().any(|h| h.sites.contains(&Site::Uprobe(*id))));
        self.tracepoints.retain(|id, _| installed.values().any(|h| h.sites.contains(&Site::Tracepoint(*id))));
        self.raw_tracepoints.retain(|id, _| installed.values().any(|h| h.sites.contains(&Site::RawTracepoint(*id))));
        Ok(())
    }

    fn uninstall(&mut self, slot: u32) -> Result<(), PolicyLoadError> {
        let Some(hook) = self.installed.remove(&slot) else { return Ok(()) };
        for site in &hook.sites {
            self.relist(*site)?;
        }
        let empty = types::hook::default();
        self.skel.maps.hooks.update(&slot.to_ne_bytes(), bytes_of(&empty), MapFlags::ANY).map_err(map_err("hooks"))?;
        self.forget_strings(slot);
        self.forget_follow(slot);
        let patterned = self.patterns.len();
        self.patterns.retain(|(at, _), _| *at != slot);
        if self.patterns.len() != patterned {
            self.write_patterns()?;
        }
        self.attach_while_needed()
    }

    /// Posts the hook in `slot` did not make because of a rate limit, since
    /// it was installed.
    pub fn rate_limited(&self, slot: u32) -> u64 {
        self.hook_stat(slot).saturating_sub(self.rate_baseline.get(&slot).copied().unwrap_or(0))
    }

    fn hook_stat(&self, slot: u32) -> u64 {
        percpu_sum(&self.skel.maps.hook_stats, slot)
    }

    /// Scopes policy `policy_id` to workloads: its hooks installed from now
    /// on run only in the cgroups [`PolicySource::update_scope`] lists
    /// (none until then).
    pub fn scope_policy(&mut self, policy_id: u32) {
        self.scopes.entry(policy_id).or_default();
    }

    /// Sets the cgroups (v2 ids) in scoped policy `policy_id`'s scope.
    pub fn update_scope(
        &mut self,
        policy_id: u32,
        cgroups: &std::collections::BTreeSet<u64>,
    ) -> Result<(), PolicyLoadError> {
        let Some(now) = self.scopes.get_mut(&policy_id) else { return Ok(()) };
        let key = |cgroup: u64| bytes_of(&types::scope_key { policy_id, cgroup, ..Default::default() }).to_vec();
        for gone in now.difference(cgroups) {
            let _ = self.skel.maps.policy_scope.delete(&key(*gone));
        }
        for new in cgroups.difference(now) {
            self.skel.maps.policy_scope.update(&key(*new), &[1], MapFlags::ANY).map_err(map_err("policy_scope"))?;
        }
        now.clone_from(cgroups);
        Ok(())
    }

    /// Forgets policy `policy_id`'s scope (its hooks removed).
    pub fn forget_scope(&mut self, policy_id: u32) {
        let _ = self.update_scope(policy_id, &std::collections::BTreeSet::new());
        self.scopes.remove(&policy_id);
    }

    /// Pauses or resumes the hook in `slot` without forgetting it.
    pub fn set_enabled(&mut self, slot: u32, enabled: bool) -> Result<(), PolicyLoadError> {
        let Some(hook) = self.installed.get(&slot).cloned() else { return Ok(()) };
        let (mut compiled, _) = self.compile(slot, &hook)?;
        compiled.enabled = u32::from(enabled);
        self.skel.maps.hooks.update(&slot.to_ne_bytes(), bytes_of(&compiled), MapFlags::ANY).map_err(map_err("hooks"))
    }
}

/// A string or path argument as the kernel read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrArg {
    pub bytes: Vec<u8>,
    /// Longer than [`MAX_STRING`], or (when empty) unreadable.
    pub truncated: bool,
}

/// A hook's selector matched and its actions ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRecord {
    pub ktime: u64,
    pub pid: u32,
    pub tid: u32,
    pub hook: u32,
    pub policy_id: u32,
    /// Where the hook ran.
    pub site: Site,
    pub selector: u32,
    pub post: bool,
    /// The signal sent, and bpf_send_signal's result (0 on success).
    pub signal: Option<(u32, i32)>,
    /// Override: the call returned an error instead (or a connect was refused).
    pub overridden: bool,
    /// The process's executable id when a policy names it.
    pub binary: u32,
    /// Raw values by hook argument.
    pub args: [u64; 6],
    /// Exit sites: the syscall's return value.
    pub ret: i64,
    /// The string and path arguments, in argument order.
    pub strings: Vec<StrArg>,
    /// The socket and address arguments, in argument order.
    pub sockets: Vec<SockTuple>,
    /// The cred argument.
    pub cred: Option<CredInfo>,
}

/// A cred argument as the kernel read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredInfo {
    pub ids: crate::process::Creds,
    pub securebits: u32,
    pub caps: crate::process::Caps,
}

/// A socket or address argument as the kernel read it. An address
/// (sockaddr) fills the source side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockTuple {
    /// AF_INET, AF_INET6, …
    pub family: u16,
    /// SOCK_STREAM, …
    pub sock_type: u16,
    /// IPPROTO_TCP, …
    pub protocol: u16,
    /// TCP_ESTABLISHED, … (the kernel's numbering)
    pub state: u8,
    pub source: Option<std::net::SocketAddr>,
    pub destination: Option<std::net::SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy record of {0} bytes is shorter than {1}")]
pub struct PolicyDecodeError(usize, usize);

/// Bytes of a maxData buffer kept: the event's own [`MAX_STRING`], then
/// data records up to this.
pub const MAX_DATA: usize = 327_680;

/// A record of the engine's ring: an event, or a piece of a maxData buffer
/// sent right before its event.
#[derive(Clone, Debug)]
pub enum RingRecord {
    Event { record: Box<PolicyRecord>, data: Option<DataRef> },
    Data(DataChunk),
}

/// An event's maxData buffer: its string slot, and the bytes sent for it
/// in data records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRef {
    pub slot: usize,
    pub len: usize,
}

/// Bytes of a maxData buffer from `offset` on, for the event of thread
/// `tid` at `id` (its ktime).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataChunk {
    pub tid: u32,
    pub id: u64,
    pub offset: usize,
    pub bytes: Vec<u8>,
}

/// Threads whose chunks may wait for their event at once: a program run
/// sends its chunks and then its event, so more only stay when events were
/// lost in the kernel.
const PENDING_DATA: usize = 64;

/// Joins maxData chunks to their events, records in ring order.
#[derive(Default)]
pub struct DataJoiner {
    pending: HashMap<u32, (u64, Vec<u8>)>,
    /// Chunks no event took (their event lost in the kernel, or cut short).
    pub orphaned: u64,
}

impl DataJoiner {
    /// The event `record` completes, if it is one.
    pub fn push(&mut self, record: RingRecord) -> Option<PolicyRecord> {
        match record {
            RingRecord::Data(c) => {
                if self.pending.len() >= PENDING_DATA && !self.pending.contains_key(&c.tid) {
                    self.orphaned += self.pending.len() as u64;
                    self.pending.clear();
                }
                let entry = self.pending.entry(c.tid).or_insert_with(|| (c.id, Vec::new()));
                if entry.0 != c.id || MAX_STRING + entry.1.len() != c.offset {
                    // Another event's, or not following on: what waited is
                    // an orphan; this starts afresh only at the beginning.
                    self.orphaned += 1;
                    *entry = (c.id, Vec::new());
                    if c.offset != MAX_STRING {
                        self.pending.remove(&c.tid);
                        return None;
                    }
                }
                entry.1.extend_from_slice(&c.bytes);
                None
            }
            RingRecord::Event { mut record, data } => {
                let waiting = self.pending.remove(&record.tid);
                if let Some(d) = data {
                    let Some(s) = record.strings.get_mut(d.slot) else { return Some(*record) };
                    match waiting {
                        Some((id, bytes)) if id == record.ktime && bytes.len() == d.len => {
                            s.bytes.extend_from_slice(&bytes)
                        }
                        other => {
                            self.orphaned += u64::from(other.is_some());
                            s.truncated = true;
                        }
                    }
                } else if waiting.is_some() {
                    self.orphaned += 1;
                }
                Some(*record)
            }
        }
    }
}

pub fn decode(bytes: &[u8]) -> Result<RingRecord, PolicyDecodeError> {
    let kind: u32 = read_prefix(bytes.get(..4).ok_or(PolicyDecodeError(bytes.len(), 4))?);
    if kind == RECORD_DATA {
        let head = std::mem::offset_of!(types::policy_chunk, bytes);
        if bytes.len() < head {
            return Err(PolicyDecodeError(bytes.len(), head));
        }
        let field = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let len = field(std::mem::offset_of!(types::policy_chunk, len)) as usize;
        let Some(data) = bytes.get(head..head + len) else { return Err(PolicyDecodeError(bytes.len(), head + len)) };
        let id_at = std::mem::offset_of!(types::policy_chunk, id);
        return Ok(RingRecord::Data(DataChunk {
            tid: field(std::mem::offset_of!(types::policy_chunk, tid)),
            id: u64::from_ne_bytes(bytes[id_at..id_at + 8].try_into().expect("8 bytes")),
            offset: field(std::mem::offset_of!(types::policy_chunk, offset)) as usize,
            bytes: data.to_vec(),
        }));
    }
    let head = size_of::<types::policy_event>();
    if bytes.len() < head {
        return Err(PolicyDecodeError(bytes.len(), head));
    }
    let e: types::policy_event = read_prefix(bytes);
    let mut strings = Vec::new();
    let mut at = head;
    for k in 0..usize::from(e.nstr).min(MAX_STRING_ARGS) {
        let len = usize::from(e.str_len[k]);
        let Some(s) = bytes.get(at..at + len) else { return Err(PolicyDecodeError(bytes.len(), at + len)) };
        strings.push(StrArg { bytes: s.to_vec(), truncated: e.str_trunc[k] != 0 });
        at += len;
    }
    let data = (e.data_len != 0).then_some(DataRef { slot: usize::from(e.data_slot), len: e.data_len as usize });
    let record = PolicyRecord {
        ktime: e.ktime,
        pid: e.pid,
        tid: e.tid,
        hook: e.hook,
        policy_id: e.policy_id,
        site: Site::from_index(e.site),
        selector: e.selector,
        post: e.actions & 1 != 0,
        signal: (e.actions & 2 != 0).then_some((e.signal, e.signal_error)),
        overridden: e.actions & 4 != 0,
        binary: e.binary,
        args: e.args,
        ret: e.ret,
        strings,
        sockets: e.sock[..usize::from(e.nsock).min(MAX_SOCKET_ARGS)]
            .iter()
            .map(|t| SockTuple {
                family: t.family,
                sock_type: t.r#type,
                protocol: t.protocol,
                state: t.state,
                source: crate::ip_of(t.family, &t.saddr).map(|ip| std::net::SocketAddr::new(ip, t.sport)),
                destination: crate::ip_of(t.family, &t.daddr).map(|ip| std::net::SocketAddr::new(ip, t.dport)),
            })
            .collect(),
        cred: (e.ncred != 0).then(|| {
            let c = &e.cred;
            CredInfo {
                ids: crate::process::Creds {
                    uid: c.uid,
                    gid: c.gid,
                    euid: c.euid,
                    egid: c.egid,
                    suid: c.suid,
                    sgid: c.sgid,
                    fsuid: c.fsuid,
                    fsgid: c.fsgid,
                },
                securebits: c.securebits,
                caps: crate::process::Caps {
                    effective: c.effective,
                    permitted: c.permitted,
                    inheritable: c.inheritable,
                },
            }
        }),
    };
    Ok(RingRecord::Event { record: Box::new(record), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tid: u32, ktime: u64, data: Option<DataRef>) -> RingRecord {
        let record = PolicyRecord {
            ktime,
            pid: tid,
            tid,
            hook: 0,
            policy_id: 1,
            site: Site::Enter(1),
            selector: 0,
            post: true,
            signal: None,
            overridden: false,
            binary: 0,
            args: [0; 6],
            ret: 0,
            strings: vec![StrArg { bytes: vec![b'a'; MAX_STRING], truncated: data.is_some() }],
            sockets: Vec::new(),
            cred: None,
        };
        RingRecord::Event { record: Box::new(record), data }
    }

    fn chunk(tid: u32, id: u64, offset: usize, len: usize) -> RingRecord {
        RingRecord::Data(DataChunk { tid, id, offset, bytes: vec![b'b'; len] })
    }

    #[test]
    fn chunks_join_their_event_and_what_does_not_follow_on_is_counted_and_cut() {
        let mut j = DataJoiner::default();
        // Two threads' chunks interleaved, each event after its own.
        assert!(j.push(chunk(1, 10, MAX_STRING, 3)).is_none());
        assert!(j.push(chunk(2, 20, MAX_STRING, 2)).is_none());
        assert!(j.push(chunk(1, 10, MAX_STRING + 3, 4)).is_none());
        let one = j.push(event(1, 10, Some(DataRef { slot: 0, len: 7 }))).unwrap();
        assert_eq!((one.strings[0].bytes.len(), one.strings[0].truncated), (MAX_STRING + 7, true));
        let two = j.push(event(2, 20, Some(DataRef { slot: 0, len: 2 }))).unwrap();
        assert_eq!(two.strings[0].bytes.len(), MAX_STRING + 2);
        assert_eq!(j.orphaned, 0);
        // An event lost in the kernel: its chunks are orphans when the
        // thread's next ones start; the next event still joins its own.
        j.push(chunk(1, 30, MAX_STRING, 5));
        j.push(chunk(1, 40, MAX_STRING, 1));
        let next = j.push(event(1, 40, Some(DataRef { slot: 0, len: 1 }))).unwrap();
        assert_eq!(next.strings[0].bytes.len(), MAX_STRING + 1);
        assert_eq!(j.orphaned, 1);
        // A gap: the event keeps its own bytes and says it was cut.
        j.push(chunk(3, 50, MAX_STRING, 4));
        j.push(chunk(3, 50, MAX_STRING + 8, 4));
        let gap = j.push(event(3, 50, Some(DataRef { slot: 0, len: 8 }))).unwrap();
        assert_eq!((gap.strings[0].bytes.len(), gap.strings[0].truncated), (MAX_STRING, true));
        assert_eq!(j.orphaned, 2);
        // A slot the event lacks changes nothing.
        let odd = j.push(event(4, 60, Some(DataRef { slot: 5, len: 1 }))).unwrap();
        assert_eq!(odd.strings[0].bytes.len(), MAX_STRING);
    }

    #[test]
    fn records_of_any_bytes_decode_or_are_refused_without_panicking() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8 & 1
                })
                .collect();
            let _ = decode(&bytes);
        }
    }
}
