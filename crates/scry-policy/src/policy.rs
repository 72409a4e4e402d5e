//! A validated policy: what the later compilation to BPF maps reads. Every
//! value here has been checked against the hook it belongs to (operators fit
//! the argument's type, values parsed, limits kept), so the compiler only
//! translates; the one thing left to it is what depends on the running
//! kernel (which [`HookKind`]s load, kernel-version limits such as one
//! `matchArgs` entry before 5.3, tracepoint format files, BTF).

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `metadata.name`; events carry it as `policy_name`.
    pub name: String,
    pub scope: Scope,
    /// Kubernetes bookkeeping, kept for display; no effect on the hooks.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.options` `policy-mode`; [`Mode::Enforce`] when not given.
    pub mode: Mode,
    pub attach: AttachOptions,
    pub workloads: Workloads,
    /// In document order: kprobes, fentries, tracepoints, uprobes, lsmhooks.
    pub hooks: Vec<Hook>,
}

/// Which kind of object the policy was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `TracingPolicy`: every workload the selectors allow.
    Cluster,
    /// `TracingPolicyNamespaced`: only pods of this namespace.
    Namespace(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Actions run as written.
    Enforce,
    /// Sigkill, Signal and Override are skipped (and counted) but still named
    /// in events, so a policy can be tried before it kills anything.
    Monitor,
}

/// `spec.options` `disable-kprobe-multi` / `disable-uprobe-multi`, turned
/// positive: whether the loader may attach many functions with one multi link
/// where the kernel has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachOptions {
    pub kprobe_multi: bool,
    pub uprobe_multi: bool,
}

/// Whose processes the hooks apply to. All three unset (None, None, false):
/// every process. A pod or container selector alone excludes host processes;
/// `host` adds them back; `host` alone means host processes only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workloads {
    pub pods: Option<LabelSelector>,
    /// Keys are the container's `name` and `repo` (image repository).
    pub containers: Option<LabelSelector>,
    /// `hostSelector: {}`: processes outside any pod.
    pub host: bool,
}

/// A Kubernetes label selector; an empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelExpression>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every matchLabels entry and every expression.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match &e.operator {
                    LabelOperator::In(values) => value.is_some_and(|v| values.contains(v)),
                    LabelOperator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelExpression {
    pub key: String,
    pub operator: LabelOperator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelOperator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// One hook section entry (`spec.kprobes[i]`, `spec.tracepoints[i]`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// Where it is in the document (`spec.kprobes[0]`), for messages about it.
    pub path: String,
    pub point: HookPoint,
    /// Captured arguments, in the order written; selectors refer to them by
    /// position in this list.
    pub args: Vec<Arg>,
    /// `return: true` with its `returnArg`: the hook also probes the return
    /// (kretprobe, fexit, uretprobe). Only kprobes, fentries and uprobes.
    pub return_arg: Option<ReturnArg>,
    /// Tried in order; the first that matches runs its actions. Empty: every
    /// call is posted.
    pub selectors: Vec<Selector>,
    /// Copied into each event's `message`.
    pub message: Option<String>,
    pub tags: Vec<String>,
}

impl Hook {
    pub fn kind(&self) -> HookKind {
        self.point.kind()
    }
}

/// Where a hook attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookPoint {
    Kprobe(Function),
    Fentry(Function),
    Tracepoint(Tracepoint),
    /// `raw: true`: args are positions in the tracepoint's `TP_PROTO`.
    RawTracepoint(Tracepoint),
    Uprobe(Uprobe),
    /// BPF LSM hook, named without `security_` (`file_open`).
    Lsm(String),
}

impl HookPoint {
    pub fn kind(&self) -> HookKind {
        match self {
            HookPoint::Kprobe(_) => HookKind::Kprobe,
            HookPoint::Fentry(_) => HookKind::Fentry,
            HookPoint::Tracepoint(_) => HookKind::Tracepoint,
            HookPoint::RawTracepoint(_) => HookKind::RawTracepoint,
            HookPoint::Uprobe(_) => HookKind::Uprobe,
            HookPoint::Lsm(_) => HookKind::Lsm,
        }
    }
}

/// The kind of BPF program a hook needs: what the loader probes on the
/// running kernel before compiling a policy (kprobes, fentry and LSM programs
/// are missing on some kernels; see docs/architecture.md "Hook kinds").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookKind {
    Kprobe,
    Fentry,
    Tracepoint,
    RawTracepoint,
    Uprobe,
    Lsm,
}

/// A kernel function (kprobes, fentries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// As written; with `syscall` the loader adds the architecture's prefix
    /// (`__x64_sys_write`) when the name lacks it.
    pub call: String,
    /// Arguments are the syscall's (read from the user registers).
    pub syscall: bool,
    /// `ignore.callNotFound`: a missing symbol skips this hook instead of
    /// failing the policy.
    pub ignore_call_not_found: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracepoint {
    pub subsystem: String,
    pub event: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uprobe {
    /// Absolute path of the binary or library.
    pub path: String,
    pub target: UprobeTarget,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UprobeTarget {
    Symbols(Vec<String>),
    Offsets(Vec<u64>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Position among the function's arguments (0-based); for a tracepoint,
    /// the field's position in its format file counting the four `common_*`
    /// fields; for a raw tracepoint, the position in `TP_PROTO`.
    pub index: u32,
    pub ty: ArgType,
    /// Shown with the value in events.
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnArg {
    pub ty: ArgType,
    pub label: Option<String>,
}

/// Argument types Scry captures (the CRD's names, aliases folded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    Int(IntType),
    /// A syscall number (`raw_syscalls` tracepoints).
    Syscall64,
    /// NUL-terminated string.
    String,
    /// Bytes whose length another argument or the return value gives.
    CharBuf(Buffer),
    /// An iovec array; its count is another argument.
    CharIovec(Buffer),
    /// `struct filename *`.
    Filename,
    /// A tracepoint's `__data_loc` field.
    DataLoc,
    /// A file descriptor, resolved to its path.
    Fd,
    /// `struct file *`: path, flags and permission.
    File,
    /// `struct path *`.
    Path,
    /// `struct dentry *` (path within its mount only).
    Dentry,
    /// `struct linux_binprm *`: the file being executed, symlinks resolved.
    LinuxBinprm,
    /// `struct sock *`.
    Sock,
    /// `struct socket *` (shown and compared as its sock).
    Socket,
    /// `struct sk_buff *`.
    Skb,
    /// `struct sockaddr *`.
    Sockaddr,
    /// `struct cred *`.
    Cred,
    /// `kernel_cap_t`.
    KernelCap,
    /// `cap_inheritable` / `cap_permitted` / `cap_effective`: one set of a task's.
    CapSet(CapabilitySet),
    /// A single capability number (`capable()`'s `cap`).
    Capability,
}

impl ArgType {
    /// The CRD's name (aliases folded: `int` is `int32`).
    pub fn name(self) -> &'static str {
        match self {
            ArgType::Int(ty) => ty.name(),
            ArgType::Syscall64 => "syscall64",
            ArgType::String => "string",
            ArgType::CharBuf(_) => "char_buf",
            ArgType::CharIovec(_) => "char_iovec",
            ArgType::Filename => "filename",
            ArgType::DataLoc => "data_loc",
            ArgType::Fd => "fd",
            ArgType::File => "file",
            ArgType::Path => "path",
            ArgType::Dentry => "dentry",
            ArgType::LinuxBinprm => "linux_binprm",
            ArgType::Sock => "sock",
            ArgType::Socket => "socket",
            ArgType::Skb => "skb",
            ArgType::Sockaddr => "sockaddr",
            ArgType::Cred => "cred",
            ArgType::KernelCap => "kernel_cap_t",
            ArgType::CapSet(CapabilitySet::Effective) => "cap_effective",
            ArgType::CapSet(CapabilitySet::Inheritable) => "cap_inheritable",
            ArgType::CapSet(CapabilitySet::Permitted) => "cap_permitted",
            ArgType::Capability => "capability",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    SizeT,
}

impl IntType {
    pub fn name(self) -> &'static str {
        match self {
            IntType::S8 => "int8",
            IntType::U8 => "uint8",
            IntType::S16 => "int16",
            IntType::U16 => "uint16",
            IntType::S32 => "int32",
            IntType::U32 => "uint32",
            IntType::S64 => "int64",
            IntType::U64 => "uint64",
            IntType::SizeT => "size_t",
        }
    }
}

/// How much of a `char_buf` / `char_iovec` to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// 0-based position of the argument that holds the length (or, for
    /// `char_iovec`, the iovec count). YAML's `sizeArgIndex` is 1-based; this
    /// is that minus one.
    pub size_arg: Option<u32>,
    /// `returnCopy`: read the buffer when the function returns (`read(2)`
    /// fills it), its length being the return value.
    pub return_copy: bool,
    /// `maxData`: allow up to ~327 KB instead of 4096 B.
    pub max_data: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilitySet {
    Effective,
    Inheritable,
    Permitted,
}

/// One `selectors[]` entry: all of its filters must match (AND).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Shown in the `selector_actions_total` metric.
    pub label: Option<String>,
    pub args: Vec<MatchArg>,
    /// Filters on the return value (`matchReturnArgs`).
    pub return_args: Vec<ArgFilter>,
    /// At most one (Tetragon's limit).
    pub binaries: Option<BinaryFilter>,
    pub pids: Vec<PidFilter>,
    pub namespaces: Vec<NamespaceFilter>,
    pub capabilities: Vec<CapabilityFilter>,
    /// Never empty: a selector written without `matchActions` posts.
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchArg {
    /// Position in [`Hook::args`] (resolved from the YAML's `index` or `args`).
    pub arg: usize,
    pub filter: ArgFilter,
}

/// A filter on one argument; values of a positive operator OR, values of a
/// negated one AND ("none of").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgFilter {
    Int {
        op: IntOp,
        values: Vec<IntValue>,
    },
    /// `InRange` / `NotInRange`, bounds inclusive.
    IntRange {
        negated: bool,
        ranges: Vec<IntRange>,
    },
    Str {
        op: StrOp,
        values: Vec<String>,
    },
    /// `FileType` / `NotFileType` on `file` and `path` arguments.
    FileType {
        negated: bool,
        types: Vec<FileType>,
    },
    Port {
        side: Side,
        negated: bool,
        ranges: Vec<PortRange>,
    },
    /// `SPortPriv` etc.: the port is below 1024.
    PrivilegedPort {
        side: Side,
        negated: bool,
    },
    /// IPs are stored as /32 or /128 networks; host bits are cleared.
    Addr {
        side: Side,
        negated: bool,
        networks: Vec<IpNet>,
    },
    Protocol(Vec<u8>),
    Family(Vec<u16>),
    /// TCP states (`TCP_ESTABLISHED` = 1 …).
    State(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    Equal,
    NotEqual,
    GreaterThan,
    LessThan,
    /// Any bit of any value is set.
    Mask,
}

/// An integer value, signed or not as its argument's type is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntValue {
    Signed(i64),
    Unsigned(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    pub low: IntValue,
    pub high: IntValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrOp {
    Equal,
    NotEqual,
    Prefix,
    NotPrefix,
    Postfix,
    NotPostfix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    Socket,
    Block,
    Char,
    Fifo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// Inclusive; a single port is `low == high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

/// `matchBinaries`: the current task's executable (during exec hooks that is
/// still the caller's, not the program being executed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryFilter {
    pub op: BinaryOp,
    pub paths: Vec<String>,
    /// Also match the descendants of a matching process (In/NotIn only).
    pub follow_children: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    In,
    NotIn,
    Prefix,
    NotPrefix,
    Postfix,
    NotPostfix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    In,
    NotIn,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidFilter {
    pub op: SetOp,
    pub pids: Vec<u32>,
    /// The PIDs are as seen in the task's PID namespace, not the host's.
    pub namespace_pids: bool,
    /// Children of a matching process match too.
    pub follow_forks: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceFilter {
    pub namespace: Namespace,
    pub op: SetOp,
    pub values: Vec<NamespaceValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    Uts,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceValue {
    /// The namespace's inode number.
    Inode(u32),
    /// `host_ns`: the host's (the agent's) namespace of that type.
    Host,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityFilter {
    pub set: CapabilitySet,
    pub op: SetOp,
    /// Capabilities held in the task's user namespace rather than the host's.
    pub namespace_capability: bool,
    pub capabilities: Vec<Capability>,
}

/// A Linux capability by number (`CAP_SYS_ADMIN` = 21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability(pub(crate) u8);

impl Capability {
    pub fn number(self) -> u8 {
        self.0
    }

    pub fn name(self) -> &'static str {
        crate::names::CAPABILITIES[usize::from(self.0)]
    }
}

/// What a matching selector does. At most three per selector (the BPF side
/// runs no more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Post(Post),
    /// No event; the other actions still run.
    NoPost,
    /// SIGKILL to the task, synchronously. The call itself may still finish
    /// (pair with Override to block it).
    Sigkill,
    Signal(u32),
    /// Skip the function and return this value (kprobes on error-injectable
    /// functions, LSM hooks, uprobes).
    Override(i32),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Post {
    pub rate_limit: Option<RateLimit>,
    pub kernel_stack_trace: bool,
    pub user_stack_trace: bool,
    /// IMA hash of the file (LSM hooks only).
    pub ima_hash: bool,
}

/// Suppress repeats of the same event (same first bytes of each argument)
/// within `window`, per `scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub window: Duration,
    pub scope: RateLimitScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitScope {
    Thread,
    Process,
    Global,
}
