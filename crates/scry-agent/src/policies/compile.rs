//! A validated TracingPolicy → the hooks the kernel engine runs
//! (`scry_bpf::policy`), or one message naming the first field this engine
//! cannot honour here. Nothing is partially applied: a policy compiles
//! whole or not at all.
//!
//! What runs today: kprobes with `syscall: true`, on the syscall's entry
//! (its exit with `return: true`) through one tp_btf program for all
//! (this kernel has neither kprobes nor fentry, and a syscall tracepoint
//! sees the same call with the same arguments); the kernel functions
//! policies most often hook, through equivalent hooks (`EQUIVALENTS`);
//! integer, string and fd arguments; matchArgs with the integer and string
//! operators; matchReturnArgs on integers; matchBinaries In and NotIn;
//! Post, NoPost, Sigkill and Signal; enforce and monitor modes.

use scry_bpf::policy::{
    self as engine, ArgKind, ArgSource, ArgSpec, ConnectView, Hook as EngineSiteHook, IpVersion, KernelHooks, LsmHook,
    Site, TracepointField, UserFunction, UserTarget,
};
use scry_bpf::tracefs;
use scry_policy::{
    Action, ArgFilter, ArgType, BinaryOp, CapabilitySet, Hook, HookPoint, IntOp, IntType, IntValue, Mode, Namespace,
    NamespaceValue, Policy, PolicyError, RateLimitScope, SetOp, Side, StrOp,
};

use scry_bpf::syscalls;

/// How an event shows one captured argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Int(IntType),
    /// `string_arg`.
    String,
    /// `file_arg { path }`.
    File,
    /// `path_arg { path }`.
    Path,
    /// `linux_binprm_arg { path }`.
    Binprm,
    /// `sock_arg`.
    Sock,
    /// `sockaddr_arg`.
    SockAddr,
    /// `skb_arg`.
    Skb,
    /// `process_credentials_arg`.
    Cred,
    /// `kernel_cap_t_arg` (hex).
    KernelCap,
    /// `capability_arg { value, name }`.
    Capability,
    /// `bytes_arg`, or `truncated_bytes_arg` with the original size.
    Bytes,
}

/// How an event shows one argument, and its label.
pub type ShownArg = (Shown, Option<String>);

/// One hook, ready for the engine, with what events and `list` show of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledHook {
    /// Where it is in the policy (`spec.kprobes[0]`).
    pub path: String,
    /// What the policy asked for (`kprobe sys_umask`).
    pub asked: String,
    /// What attaches here.
    pub attachment: String,
    /// Tetragon's `function_name` (`__x64_sys_umask`).
    pub function: String,
    /// Captured arguments as events show them, with their labels.
    pub args: Vec<ShownArg>,
    /// The return value's type, when the hook probes the return.
    pub ret: Option<(IntType, Option<String>)>,
    pub message: Option<String>,
    pub tags: Vec<String>,
    /// Each selector's signal as written: in monitor mode the engine sends
    /// none, and events still name the action enforcement would have taken.
    pub signals: Vec<Option<u32>>,
    /// The hook runs at exec (among its sites), where the process is the exec's caller.
    pub at_exec: bool,
    /// Events are `process_lsm` (an LSM hook) rather than `process_kprobe`.
    pub lsm: bool,
    pub hook: EngineHook,
}

/// A hook of `h` as asked and attached, with the policy's path, message and
/// tags carried over; no return value, not at exec, `process_kprobe` events
/// (callers set what differs).
fn compiled(
    h: &Hook,
    asked: String,
    attachment: impl Into<String>,
    function: impl Into<String>,
    args: Vec<ShownArg>,
    signals: Vec<Option<u32>>,
    hook: EngineHook,
) -> CompiledHook {
    CompiledHook {
        path: h.path.clone(),
        asked,
        attachment: attachment.into(),
        function: function.into(),
        args,
        ret: None,
        message: h.message.clone(),
        tags: h.tags.clone(),
        signals,
        at_exec: false,
        lsm: false,
        hook,
    }
}

/// The engine's part of a hook at `sites` (none for kernel functions, user
/// functions and tracepoints: the engine gives theirs when installing).
fn engine_hook(
    ctx: &Context<'_>,
    sites: Vec<Site>,
    args: Vec<ArgSpec>,
    selectors: Vec<engine::Selector>,
) -> EngineSiteHook {
    EngineSiteHook { policy_id: ctx.policy_id, sites, args, skip_failed: false, selectors }
}

/// What the kernel engine runs for a hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineHook {
    /// On syscall entries or exits, at exec, or on an LSM hook.
    Site(EngineSiteHook),
    /// On a kernel function's kprobe (or, `at_return`, its kretprobe): its
    /// site is the engine's to give.
    Kprobe { function: String, at_return: bool, hook: EngineSiteHook },
    /// On user functions' uprobes (one site each, in this order).
    Uprobe { functions: Vec<UserFunction>, hook: EngineSiteHook },
    /// On a tracepoint, its arguments at these places in the record.
    Tracepoint { subsystem: String, event: String, fields: Vec<TracepointField>, hook: EngineSiteHook },
    /// On a raw tracepoint, its arguments TP_PROTO's.
    RawTracepoint { subsystem: String, event: String, hook: EngineSiteHook },
}

fn unsupported(path: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::unsupported(path, reason)
}

/// Compiles every hook of `policy` for a kernel that runs `kernel`, or says
/// which field cannot run here.
pub fn compile(
    policy: &Policy,
    policy_id: u32,
    kernel: &KernelHooks,
    host: &HostNamespaces,
    tracefs: &Tracefs,
) -> Result<Vec<CompiledHook>, PolicyError> {
    let ctx = Context { mode: policy.mode, policy_id, kernel, host, tracefs };
    policy.hooks.iter().map(|h| compile_hook(h, &ctx)).collect()
}

/// What every hook of one policy compiles against.
struct Context<'a> {
    mode: Mode,
    policy_id: u32,
    kernel: &'a KernelHooks,
    host: &'a HostNamespaces,
    tracefs: &'a Tracefs,
}

/// A tracepoint's record layout (`scry_bpf::tracefs::format` on the agent).
pub type Tracefs = dyn Fn(&str, &str) -> Result<Vec<tracefs::Field>, String>;

/// Whether Override can change the hooked call's return value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Overridable {
    Yes,
    /// Only to refuse the call with EPERM (a cgroup hook's verdict).
    Refuse(&'static str),
    /// No, and why not.
    No(String),
}

impl Context<'_> {
    /// Override on a syscall tracepoint, at exec or on an equivalent hook:
    /// the call has run, or cannot be made to return something else.
    fn not_overridable(&self, hook: &str) -> Overridable {
        Overridable::No(if self.kernel.kprobes.is_ok() {
            format!("Override is not supported on {hook} by this engine yet (it cannot change a return value there)")
        } else {
            "Override changes a function's return value, which needs fmod_ret, an LSM hook or kprobe override; a \
             syscall tracepoint cannot, and this kernel has none of those"
                .into()
        })
    }
}

/// A kernel function run through an equivalent hook where kprobes and
/// fentry are not: the sites that see the same calls, and each of the
/// function's arguments (by position): the types a policy may give it and
/// where its value comes from.
struct Equivalent {
    sites: Vec<Site>,
    skip_failed: bool,
    attachment: &'static str,
    params: Vec<(Param, ArgSpec)>,
    at_exec: bool,
    /// A connect site: Override refuses the connection with EPERM, and
    /// what it cannot see is refused by path.
    connect: bool,
}

/// What a function's argument is, for the types a policy may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    Int,
    File,
    Binprm,
    Sock,
    Sockaddr,
    Skb,
    Cred,
    /// An argument the equivalent hook does not have: what it is.
    Absent(&'static str),
}

impl Param {
    fn accepts(self, ty: ArgType) -> Option<Shown> {
        match (self, ty) {
            (Param::Int, ArgType::Int(t)) => Some(Shown::Int(t)),
            (Param::File, ArgType::File) => Some(Shown::File),
            (Param::Binprm, ArgType::LinuxBinprm) => Some(Shown::Binprm),
            (Param::Sock, ArgType::Sock | ArgType::Socket) => Some(Shown::Sock),
            (Param::Sockaddr, ArgType::Sockaddr) => Some(Shown::SockAddr),
            (Param::Skb, ArgType::Skb) => Some(Shown::Skb),
            (Param::Cred, ArgType::Cred) => Some(Shown::Cred),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Param::Int => "an integer type",
            Param::File => "file",
            Param::Binprm => "linux_binprm",
            Param::Sock => "sock (or socket)",
            Param::Sockaddr => "sockaddr",
            Param::Skb => "skb",
            Param::Cred => "cred",
            Param::Absent(what) => what,
        }
    }
}

/// Syscalls that commit new credentials when they succeed.
const CRED_SYSCALLS: [&str; 10] = [
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capset",
];

/// Syscalls that open a file by path and return its descriptor.
const OPENS: [&str; 5] = ["open", "openat", "openat2", "creat", "open_by_handle_at"];

fn open_exits() -> Vec<Site> {
    OPENS.iter().filter_map(|n| syscalls::number(n)).map(Site::Exit).collect()
}

fn equivalent(function: &str) -> Option<Equivalent> {
    let returned = |kind| ArgSpec { source: ArgSource::Return, kind };
    let seen = |view| ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Connect(view) };
    Some(match function {
        // New credentials: the successful exit of every syscall that sets
        // them (the task's own, now), and exec (a set-user-ID program's
        // included).
        "commit_creds" => Equivalent {
            sites: CRED_SYSCALLS
                .iter()
                .filter_map(|n| syscalls::number(n))
                .map(Site::Exit)
                .chain([Site::Exec])
                .collect(),
            skip_failed: true,
            attachment: "tp_btf sys_exit of setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, \
                         setfsgid, setgroups and capset (when they succeed: the task's new credentials), and tp_btf \
                         sched_process_exec (an exec's; not a user namespace's from unshare or clone)",
            params: vec![(Param::Cred, ArgSpec { source: ArgSource::Register(0), kind: ArgKind::CurrentCred })],
            at_exec: true,
            connect: false,
        },
        // Every connect() of a TCP socket, before the SYN.
        "tcp_connect" => Equivalent {
            sites: vec![Site::TcpConnect],
            skip_failed: false,
            attachment: "cgroup connect4/connect6 (refuses before the SYN: a signal or Override refuses the \
                         connection with EPERM; the signal follows when connect() returns)",
            params: vec![(Param::Sock, seen(ConnectView::Connecting))],
            at_exec: false,
            connect: true,
        },
        // Every connect() of an IPv4 or IPv6 socket, before anything is sent.
        "security_socket_connect" => Equivalent {
            sites: vec![Site::SocketConnect],
            skip_failed: false,
            attachment: "cgroup connect4/connect6 (IPv4 and IPv6 sockets; refuses before anything is sent: a \
                         signal or Override refuses the connection with EPERM; the signal follows when connect() \
                         returns)",
            params: vec![
                (Param::Sock, seen(ConnectView::Socket)),
                (Param::Sockaddr, seen(ConnectView::Address)),
                (Param::Int, ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Int }),
            ],
            at_exec: false,
            connect: true,
        },
        // A flow's first packet, before it exists: what stops a datagram
        // before it leaves (Tetragon's own UDP example hooks ip_output).
        "ip_output" | "ip6_output" => {
            let v4 = function == "ip_output";
            Equivalent {
                sites: vec![Site::Output(if v4 { IpVersion::V4 } else { IpVersion::V6 })],
                skip_failed: false,
                attachment: if v4 {
                    "cgroup connect4/connect6 and sendmsg4/sendmsg6 (IPv4 flows of TCP and UDP sockets, before their \
                     first packet exists: TCP connect(), UDP connect() — a connected socket's datagrams go where it \
                     said — and UDP datagrams sent to an address; not raw or ping sockets, nor connections accepted \
                     from others. Once per flow or datagram rather than per packet. A signal or Override refuses the \
                     call with EPERM, so nothing leaves; the signal follows when the syscall returns)"
                } else {
                    "cgroup connect6 and sendmsg6 (IPv6 flows of TCP and UDP sockets, before their first packet \
                     exists: TCP connect(), UDP connect() — a connected socket's datagrams go where it said — and UDP \
                     datagrams sent to an address; not raw or ping sockets, nor connections accepted from others. \
                     Once per flow or datagram rather than per packet. A signal or Override refuses the call with \
                     EPERM, so nothing leaves; the signal follows when the syscall returns)"
                },
                params: vec![
                    (
                        Param::Absent("struct net *, which this equivalent hook does not provide"),
                        seen(ConnectView::Socket),
                    ),
                    (Param::Sock, seen(ConnectView::Connecting)),
                    (Param::Skb, seen(ConnectView::Packet)),
                ],
                at_exec: false,
                connect: true,
            }
        }
        // Every exec that succeeds, before the new program runs.
        "security_bprm_check" => Equivalent {
            sites: vec![Site::Exec],
            skip_failed: false,
            attachment: "tp_btf sched_process_exec (after the point of no return: Sigkill stops the new program \
                         before its first instruction; matchBinaries is the caller's)",
            params: vec![(Param::Binprm, ArgSpec { source: ArgSource::Bprm, kind: ArgKind::Bprm })],
            at_exec: true,
            connect: false,
        },
        // A file opened by path, before the process sees the descriptor.
        "security_file_open" => Equivalent {
            sites: open_exits(),
            skip_failed: true,
            attachment: "tp_btf sys_exit of open, openat, openat2, creat and open_by_handle_at (files opened by a \
                         syscall; a signal lands before the process sees the descriptor)",
            params: vec![(Param::File, returned(ArgKind::Fd))],
            at_exec: false,
            connect: false,
        },
        "fd_install" => Equivalent {
            sites: open_exits(),
            skip_failed: true,
            attachment: "tp_btf sys_exit of open, openat, openat2, creat and open_by_handle_at (descriptors of \
                         files opened by a syscall)",
            params: vec![(Param::Int, returned(ArgKind::Int)), (Param::File, returned(ArgKind::Fd))],
            at_exec: false,
            connect: false,
        },
        _ => return None,
    })
}

fn compile_hook(h: &Hook, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    let function = match &h.point {
        HookPoint::Kprobe(f) if f.syscall => f,
        // Network prevention stays on the cgroup hook even where kprobes
        // exist: it refuses the connection before any packet leaves.
        HookPoint::Kprobe(f) | HookPoint::Fentry(f) if let Some(eq) = equivalent(&f.call).filter(|eq| eq.connect) => {
            return compile_equivalent(h, &f.call, eq, ctx);
        }
        HookPoint::Kprobe(f) | HookPoint::Fentry(f) if ctx.kernel.kprobes.is_ok() || ctx.kernel.fentry.is_ok() => {
            return compile_kprobe(h, &f.call, ctx);
        }
        HookPoint::Kprobe(f) | HookPoint::Fentry(f) => {
            // `__sys_setuid` and its kind take the syscall's own arguments.
            if let Some(syscall) = f.call.strip_prefix("__sys_").filter(|n| syscalls::number(n).is_some()) {
                return compile_syscall(h, format!("kprobe {}", f.call), &f.call, syscall, ctx);
            }
            let Some(eq) = equivalent(&f.call) else {
                return Err(unsupported(
                    &format!("{}.call", h.path),
                    format!(
                        "{:?} is a kernel function: this kernel attaches neither kprobes nor fentry, and this \
                         engine has no equivalent hook for it (equivalents: tcp_connect, security_socket_connect, \
                         ip_output, ip6_output, security_bprm_check, security_file_open, fd_install, commit_creds, __sys_* syscall bodies; \
                         syscall hooks: `syscall: true`)",
                        f.call
                    ),
                ));
            };
            return compile_equivalent(h, &f.call, eq, ctx);
        }
        HookPoint::Tracepoint(t) => return compile_tracepoint(h, t, ctx),
        HookPoint::RawTracepoint(t) => return compile_raw_tracepoint(h, t, ctx),
        HookPoint::Uprobe(u) => return compile_uprobe(h, u, ctx),
        HookPoint::Lsm(hook) => return compile_lsm(h, hook, ctx),
    };
    let name = function.call.strip_prefix("__x64_").unwrap_or(&function.call);
    let name = name.strip_prefix("sys_").unwrap_or(name);
    compile_syscall(h, format!("kprobe {} (syscall)", function.call), &function.call, name, ctx)
}

/// Exec hooks before the point of no return: the process is the caller.
fn in_exec(function: &str) -> bool {
    matches!(function, "security_bprm_check" | "bprm_check_security")
}

/// What a kernel function's argument of type `ty` is made from.
fn kernel_arg(ty: ArgType) -> Option<(ArgKind, Shown)> {
    Some(match ty {
        ArgType::Int(t) => (ArgKind::Int, Shown::Int(t)),
        ArgType::String => (ArgKind::KernelString, Shown::String),
        ArgType::Filename => (ArgKind::Filename, Shown::String),
        ArgType::Fd => (ArgKind::Fd, Shown::File),
        ArgType::File => (ArgKind::File, Shown::File),
        ArgType::Path => (ArgKind::Path, Shown::Path),
        ArgType::LinuxBinprm => (ArgKind::Bprm, Shown::Binprm),
        ArgType::Sock => (ArgKind::Sock, Shown::Sock),
        ArgType::Socket => (ArgKind::Socket, Shown::Sock),
        ArgType::Sockaddr => (ArgKind::SockAddr, Shown::SockAddr),
        ArgType::Cred => (ArgKind::Cred, Shown::Cred),
        ArgType::KernelCap => (ArgKind::KernelCap, Shown::KernelCap),
        ArgType::Capability => (ArgKind::Int, Shown::Capability),
        ArgType::CharBuf(b) => (ArgKind::KernelBuffer { size: buffer_size(b)?, max_data: b.max_data }, Shown::Bytes),
        _ => return None,
    })
}

/// A syscall's argument of type `ty`: a user function's, a descriptor, or
/// an address in the caller's memory.
fn syscall_arg(ty: ArgType) -> Option<(ArgKind, Shown)> {
    user_arg(ty).or(match ty {
        ArgType::Fd => Some((ArgKind::Fd, Shown::File)),
        ArgType::CharIovec(b) => Some((ArgKind::UserIovec { count: buffer_size(b)? }, Shown::Bytes)),
        ArgType::Sockaddr => Some((ArgKind::UserSockAddr, Shown::SockAddr)),
        _ => None,
    })
}

/// A user function's argument of type `ty`: integers, user strings and
/// buffers.
fn user_arg(ty: ArgType) -> Option<(ArgKind, Shown)> {
    Some(match ty {
        ArgType::Int(t) => (ArgKind::Int, Shown::Int(t)),
        ArgType::String => (ArgKind::UserString, Shown::String),
        ArgType::CharBuf(b) => (ArgKind::UserBuffer { size: buffer_size(b)?, max_data: b.max_data }, Shown::Bytes),
        _ => return None,
    })
}

/// The captured arguments of a call whose arguments are in registers
/// (syscalls, kernel and user functions, LSM hooks), each made by `made`
/// from its type, or `refusal` when it cannot be.
fn register_args(
    h: &Hook,
    made: fn(ArgType) -> Option<(ArgKind, Shown)>,
    refusal: &str,
) -> Result<(Vec<ArgSpec>, Vec<ShownArg>), PolicyError> {
    let mut specs = Vec::with_capacity(h.args.len() + 1);
    let mut shown = Vec::with_capacity(h.args.len());
    for (i, a) in h.args.iter().enumerate() {
        let path = format!("{}.args[{i}]", h.path);
        if a.index > 5 {
            return Err(unsupported(&format!("{path}.index"), "this engine reads a call's first 6 arguments (0-5)"));
        }
        if let ArgType::CharBuf(b) | ArgType::CharIovec(b) = a.ty {
            buffer_supported(&path, b)?;
        }
        let (kind, show) = made(a.ty).ok_or_else(|| unsupported(&format!("{path}.type"), refusal))?;
        specs.push(ArgSpec { source: ArgSource::Register(a.index as u8), kind });
        shown.push((show, a.label.clone()));
    }
    Ok((specs, shown))
}

/// What a char_buf or char_iovec needs that this engine does not do (the
/// policy's validation already refuses maxData with returnCopy or on a
/// char_iovec).
fn buffer_supported(path: &str, b: scry_policy::Buffer) -> Result<(), PolicyError> {
    if b.size_arg.is_some_and(|i| i > 5) {
        return Err(unsupported(&format!("{path}.sizeArgIndex"), "this engine reads a call's first 6 arguments"));
    }
    Ok(())
}

/// Where a buffer's length comes from: the return value (returnCopy) or
/// another argument.
fn buffer_size(b: scry_policy::Buffer) -> Option<ArgSource> {
    if b.return_copy { Some(ArgSource::Return) } else { b.size_arg.map(|i| ArgSource::Register(i as u8)) }
}

/// returnCopy where this engine runs nothing at the return.
fn refuse_return_copy(h: &Hook, hook: &str) -> Result<(), PolicyError> {
    let at = h.args.iter().position(|a| matches!(a.ty, ArgType::CharBuf(b) | ArgType::CharIovec(b) if b.return_copy));
    match at {
        Some(i) => Err(unsupported(
            &format!("{}.args[{i}].returnCopy", h.path),
            format!("this engine reads nothing when {hook} returns (return probes are not supported here yet)"),
        )),
        None => Ok(()),
    }
}

/// Whether any captured buffer is read when the call returns.
fn copies_at_return(h: &Hook) -> bool {
    h.args.iter().any(|a| matches!(a.ty, ArgType::CharBuf(b) | ArgType::CharIovec(b) if b.return_copy))
}

/// A kernel function's or LSM hook's captured arguments.
fn kernel_args(h: &Hook) -> Result<(Vec<ArgSpec>, Vec<ShownArg>), PolicyError> {
    register_args(
        h,
        kernel_arg,
        "on a kernel function this engine captures integer, string, filename, fd, file, path, linux_binprm, sock, \
         socket, sockaddr, cred, kernel_cap_t and capability arguments",
    )
}

/// The hook's returnArg, when it probes the return: an integer, appended to
/// `specs` as the last engine argument; `refusal` for any other type.
fn int_return(
    h: &Hook,
    specs: &mut Vec<ArgSpec>,
    refusal: &str,
) -> Result<Option<(IntType, Option<String>)>, PolicyError> {
    let Some(r) = &h.return_arg else { return Ok(None) };
    let ArgType::Int(ty) = r.ty else {
        return Err(unsupported(&format!("{}.returnArg.type", h.path), refusal));
    };
    specs.push(ArgSpec { source: ArgSource::Return, kind: ArgKind::Int });
    Ok(Some((ty, r.label.clone())))
}

/// A kernel function through fentry/fexit, or a kprobe (this kernel has
/// one or the other; an overriding hook needs the kprobe).
fn compile_kprobe(h: &Hook, function: &str, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    if h.return_arg.is_none() {
        refuse_return_copy(h, "a kernel function")?;
    }
    let (mut specs, shown) = kernel_args(h)?;
    // `return: true`: the hook runs at the function's return (a kretprobe),
    // with the arguments kept at its entry.
    let ret = int_return(h, &mut specs, "this engine captures a kernel function's return value as an integer")?;
    if ret.is_some() {
        let (selectors, signals) = selectors(
            h,
            &specs,
            ctx,
            Overridable::No("Override at a function's return: it has run, and its return value stays".into()),
        )?;
        let attachment =
            if ctx.kernel.fentry.is_ok() { "fexit" } else { "kretprobe (arguments kept by a kprobe at entry)" };
        return Ok(CompiledHook {
            ret,
            ..compiled(
                h,
                format!("kprobe {function} (return)"),
                attachment,
                function,
                shown,
                signals,
                EngineHook::Kprobe {
                    function: function.to_owned(),
                    at_return: true,
                    hook: engine_hook(ctx, Vec::new(), specs, selectors),
                },
            )
        });
    }
    // Override: fmod_ret where trampolines run (the engine overrides with
    // it there: security_* hooks, and functions on the kernel's
    // error-injection list where it has one — the kernel checks at load),
    // else bpf_override_return on the kprobe (the same list), else the LSM
    // hook a security_* function calls.
    let trampolines = ctx.kernel.fentry.is_ok();
    let lsm = match function {
        "security_file_open" => Some(LsmHook::FileOpen),
        "security_bprm_check" => Some(LsmHook::BprmCheck),
        _ => None,
    }
    .filter(|_| {
        ctx.kernel.lsm.is_ok() && !trampolines && !ctx.kernel.override_return && h.args.iter().all(|a| a.index == 0)
    });
    let overridable = match (trampolines, &ctx.kernel.syscall_override) {
        (true, _) if function.starts_with("security_") => Overridable::Yes,
        (true, Ok(())) => Overridable::Yes,
        (true, Err(why)) => Overridable::No(format!(
            "Override on {function} needs fmod_ret, which this kernel allows on security_* functions only ({why})"
        )),
        (false, _) if ctx.kernel.override_return || lsm.is_some() => Overridable::Yes,
        (false, _) => Overridable::No(
            "Override on a kernel function needs fmod_ret or bpf_override_return, which this kernel lacks".into(),
        ),
    };
    let (selectors, signals) = selectors(h, &specs, ctx, overridable)?;
    let overrides = selectors.iter().any(|s| s.actions.override_error.is_some());
    if let Some(lsm) = lsm.filter(|_| overrides) {
        let name = if lsm == LsmHook::FileOpen { "file_open" } else { "bprm_check_security" };
        return Ok(CompiledHook {
            at_exec: in_exec(function),
            ..compiled(
                h,
                format!("kprobe {function}"),
                format!("BPF LSM {name} (Override, which this kernel's kprobes and trampolines cannot)"),
                function,
                shown,
                signals,
                EngineHook::Site(engine_hook(ctx, vec![Site::Lsm(lsm)], specs, selectors)),
            )
        });
    }
    let attachment = match (overrides, trampolines) {
        (true, true) => "fmod_ret",
        (true, false) => "kprobe (bpf_override_return)",
        (false, true) => "fentry",
        (false, false) => "kprobe",
    };
    Ok(CompiledHook {
        at_exec: in_exec(function),
        ..compiled(
            h,
            format!("kprobe {function}"),
            attachment,
            function,
            shown,
            signals,
            EngineHook::Kprobe {
                function: function.to_owned(),
                at_return: false,
                hook: engine_hook(ctx, Vec::new(), specs, selectors),
            },
        )
    })
}

/// A tracepoint: each argument is a field of its record, by position in
/// its tracefs format (integers, pointers to strings, `__data_loc` strings).
fn compile_tracepoint(h: &Hook, t: &scry_policy::Tracepoint, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    let name = format!("{}/{}", t.subsystem, t.event);
    let fields = (ctx.tracefs)(&t.subsystem, &t.event).map_err(|e| unsupported(&format!("{}.event", h.path), e))?;
    let mut specs = Vec::with_capacity(h.args.len());
    let mut shown = Vec::with_capacity(h.args.len());
    let mut places = Vec::with_capacity(h.args.len());
    for (i, a) in h.args.iter().enumerate() {
        let path = format!("{}.args[{i}]", h.path);
        let f = fields.get(a.index as usize).ok_or_else(|| {
            unsupported(
                &format!("{path}.index"),
                format!("{name} has {} fields (0-{})", fields.len(), fields.len() - 1),
            )
        })?;
        let refuse = || {
            unsupported(
                &format!("{path}.type"),
                format!(
                    "field {} of {name} is `{} {}`: this engine reads integers, pointers to strings and __data_loc \
                     strings there",
                    a.index, f.ty, f.name
                ),
            )
        };
        let (kind, show, data_loc) = match a.ty {
            ArgType::Int(ty) if !f.is_data_loc() && matches!(f.size, 1 | 2 | 4 | 8) => {
                (ArgKind::Int, Shown::Int(ty), false)
            }
            ArgType::String | ArgType::DataLoc if f.is_data_loc() => (ArgKind::KernelString, Shown::String, true),
            // Syscall tracepoints carry the caller's pointers.
            ArgType::String if f.is_pointer() && f.size == 8 => {
                let kind = if t.subsystem == "syscalls" { ArgKind::UserString } else { ArgKind::KernelString };
                (kind, Shown::String, false)
            }
            _ => return Err(refuse()),
        };
        specs.push(ArgSpec { source: ArgSource::Register(i as u8), kind });
        shown.push((show, a.label.clone()));
        let size = if data_loc { 4 } else { f.size };
        places.push(TracepointField { offset: f.offset, size, signed: f.signed, data_loc });
    }
    let (selectors, signals) = selectors(h, &specs, ctx, ctx.not_overridable("a tracepoint"))?;
    Ok(compiled(
        h,
        format!("tracepoint {name}"),
        "tracepoint",
        name,
        shown,
        signals,
        EngineHook::Tracepoint {
            subsystem: t.subsystem.clone(),
            event: t.event.clone(),
            fields: places,
            hook: engine_hook(ctx, Vec::new(), specs, selectors),
        },
    ))
}

/// A raw tracepoint (`raw: true`): its arguments are TP_PROTO's, by
/// position, with the types a kernel function's may have.
fn compile_raw_tracepoint(
    h: &Hook,
    t: &scry_policy::Tracepoint,
    ctx: &Context<'_>,
) -> Result<CompiledHook, PolicyError> {
    let name = format!("{}/{}", t.subsystem, t.event);
    // The event must exist (its tracefs format says so).
    (ctx.tracefs)(&t.subsystem, &t.event).map_err(|e| unsupported(&format!("{}.event", h.path), e))?;
    refuse_return_copy(h, "a raw tracepoint")?;
    let (specs, shown) = register_args(
        h,
        kernel_arg,
        "on a raw tracepoint this engine captures integer, string, filename, fd, file, path, linux_binprm, sock, \
         socket, sockaddr, cred, kernel_cap_t and capability arguments",
    )?;
    let (selectors, signals) = selectors(h, &specs, ctx, ctx.not_overridable("a raw tracepoint"))?;
    Ok(compiled(
        h,
        format!("raw tracepoint {name}"),
        "raw_tp",
        name,
        shown,
        signals,
        EngineHook::RawTracepoint {
            subsystem: t.subsystem.clone(),
            event: t.event.clone(),
            hook: engine_hook(ctx, Vec::new(), specs, selectors),
        },
    ))
}

/// User functions through uprobes: integer and string arguments from the
/// argument registers, in the process's memory.
fn compile_uprobe(h: &Hook, u: &scry_policy::Uprobe, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    refuse_return_copy(h, "a user function")?;
    if h.return_arg.is_some() {
        return Err(unsupported(&format!("{}.return", h.path), "uretprobes are not supported by this engine yet"));
    }
    let (specs, shown) =
        register_args(h, user_arg, "on a user function this engine captures integer, string and char_buf arguments")?;
    let (selectors, signals) =
        selectors(h, &specs, ctx, Overridable::No("Override on a uprobe is not supported by this engine".into()))?;
    let functions: Vec<UserFunction> = match &u.target {
        scry_policy::UprobeTarget::Symbols(names) => {
            names.iter().map(|n| UserFunction { path: u.path.clone(), target: UserTarget::Symbol(n.clone()) }).collect()
        }
        scry_policy::UprobeTarget::Offsets(offsets) => {
            offsets.iter().map(|o| UserFunction { path: u.path.clone(), target: UserTarget::Offset(*o) }).collect()
        }
    };
    let names: Vec<String> = functions
        .iter()
        .map(|f| match &f.target {
            UserTarget::Symbol(s) => s.clone(),
            UserTarget::Offset(o) => format!("{o:#x}"),
        })
        .collect();
    Ok(compiled(
        h,
        format!("uprobe {} {}", u.path, names.join(", ")),
        "uprobe",
        names.join(","),
        shown,
        signals,
        EngineHook::Uprobe { functions, hook: engine_hook(ctx, Vec::new(), specs, selectors) },
    ))
}

/// A BPF LSM hook: the engine runs `file_open` and `bprm_check_security`;
/// Override is the hook's verdict.
fn compile_lsm(h: &Hook, name: &str, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    refuse_return_copy(h, "an LSM hook")?;
    if let Err(why) = &ctx.kernel.lsm {
        return Err(unsupported(&h.path, format!("this kernel runs no BPF LSM programs ({why})")));
    }
    let hook = match name {
        "file_open" => LsmHook::FileOpen,
        "bprm_check_security" => LsmHook::BprmCheck,
        _ => {
            return Err(unsupported(
                &format!("{}.hook", h.path),
                format!("{name:?}: this engine runs the LSM hooks file_open and bprm_check_security"),
            ));
        }
    };
    let (specs, shown) = kernel_args(h)?;
    if h.args.iter().any(|a| a.index != 0) {
        return Err(unsupported(&format!("{}.args", h.path), format!("the {name} hook has one argument (index 0)")));
    }
    let (selectors, signals) = selectors(h, &specs, ctx, Overridable::Yes)?;
    Ok(CompiledHook {
        at_exec: in_exec(name),
        lsm: true,
        ..compiled(
            h,
            format!("lsm {name}"),
            format!("BPF LSM {name}"),
            name,
            shown,
            signals,
            EngineHook::Site(engine_hook(ctx, vec![Site::Lsm(hook)], specs, selectors)),
        )
    })
}

/// A hook on a syscall: its arguments from the registers, on its entry, or
/// on its exit when it probes the return.
fn compile_syscall(
    h: &Hook,
    asked: String,
    call: &str,
    name: &str,
    ctx: &Context<'_>,
) -> Result<CompiledHook, PolicyError> {
    let nr = syscalls::number(name)
        .ok_or_else(|| unsupported(&format!("{}.call", h.path), format!("{call:?} is not an x86_64 syscall")))?;
    let (mut specs, shown) = register_args(
        h,
        syscall_arg,
        "on a syscall hook this engine captures integer, string, fd, char_buf, char_iovec and sockaddr arguments",
    )?;
    let ret = int_return(h, &mut specs, "a syscall returns an integer: this engine captures its return as one")?;
    // A buffer read at return (read(2)'s) needs the exit, as a return value does.
    let at_exit = ret.is_some() || copies_at_return(h);
    // Where trampolines run, the syscall's own function (__x64_sys_NAME):
    // the node's other syscalls pay nothing, and fmod_ret can override
    // (every syscall is on the error-injection list).
    let trampolines = ctx.kernel.fentry.is_ok();
    let overridable = match (trampolines, at_exit) {
        (true, false) => match &ctx.kernel.syscall_override {
            Ok(()) => Overridable::Yes,
            Err(why) => Overridable::No(format!("Override on a syscall hook: {why}")),
        },
        (true, true) => Overridable::No(
            "Override runs at a syscall's entry, and this hook is evaluated at its return (returnArg or a buffer \
             read at return)"
                .into(),
        ),
        (false, _) => ctx.not_overridable("a syscall tracepoint"),
    };
    let (selectors, signals) = selectors(h, &specs, ctx, overridable)?;
    let overrides = selectors.iter().any(|s| s.actions.override_error.is_some());
    let site = if at_exit { Site::Exit(nr) } else { Site::Enter(nr) };
    let attachment = match (trampolines, at_exit, overrides) {
        (true, true, _) => format!("fexit __x64_sys_{name}"),
        (true, false, true) => format!("fmod_ret __x64_sys_{name}"),
        (true, false, false) => format!("fentry __x64_sys_{name}"),
        (false, true, _) => format!("tp_btf sys_exit, syscall {nr}"),
        (false, false, _) => format!("tracepoint syscalls/sys_enter_{name}"),
    };
    Ok(CompiledHook {
        ret,
        ..compiled(
            h,
            asked,
            attachment,
            if call.starts_with("__sys_") { call.to_owned() } else { format!("__x64_sys_{name}") },
            shown,
            signals,
            EngineHook::Site(engine_hook(ctx, vec![site], specs, selectors)),
        )
    })
}

/// A kernel function through its equivalent hook: each argument the policy
/// captures must be one the function has, with its type.
fn compile_equivalent(h: &Hook, call: &str, eq: Equivalent, ctx: &Context<'_>) -> Result<CompiledHook, PolicyError> {
    if h.return_arg.is_some() {
        return Err(unsupported(
            &format!("{}.return", h.path),
            format!("{call}'s equivalent hook cannot see its return value"),
        ));
    }
    let mut specs = Vec::with_capacity(h.args.len());
    let mut shown = Vec::with_capacity(h.args.len());
    for (i, a) in h.args.iter().enumerate() {
        let path = format!("{}.args[{i}]", h.path);
        let Some((param, spec)) = eq.params.get(a.index as usize) else {
            return Err(unsupported(
                &format!("{path}.index"),
                format!("{call}'s equivalent hook provides arguments 0 to {}", eq.params.len() - 1),
            ));
        };
        let show = param.accepts(a.ty).ok_or_else(|| {
            unsupported(&format!("{path}.type"), format!("{call}'s argument {} is {}", a.index, param.name()))
        })?;
        specs.push(*spec);
        shown.push((show, a.label.clone()));
    }
    let overridable = if eq.connect && !ctx.kernel.connect_errno {
        Overridable::Refuse(
            "this kernel's cgroup connect hook refuses with EPERM only (another errno needs Linux 5.18): argError must be -1",
        )
    } else if eq.connect {
        Overridable::Yes
    } else {
        ctx.not_overridable("an equivalent hook")
    };
    if eq.connect {
        connect_sees(h, call)?;
    }
    let (selectors, signals) = selectors(h, &specs, ctx, overridable)?;
    let hook = EngineSiteHook { skip_failed: eq.skip_failed, ..engine_hook(ctx, eq.sites, specs, selectors) };
    let asked = format!("kprobe {call}");
    Ok(CompiledHook {
        at_exec: eq.at_exec,
        ..compiled(h, asked, eq.attachment, call, shown, signals, EngineHook::Site(hook))
    })
}

/// Every selector of `h` against its engine arguments (`specs`, the
/// return value last when probed), with each one's written signal.
fn selectors(
    h: &Hook,
    specs: &[ArgSpec],
    ctx: &Context<'_>,
    overridable: Overridable,
) -> Result<(Vec<engine::Selector>, Vec<Option<u32>>), PolicyError> {
    let mut out = Vec::with_capacity(h.selectors.len());
    let mut signals = Vec::with_capacity(h.selectors.len());
    for (i, s) in h.selectors.iter().enumerate() {
        let path = format!("{}.selectors[{i}]", h.path);
        let (compiled, signal) = selector(&path, s, specs, h.args.len(), ctx.mode, &overridable, ctx.host)?;
        signals.push(signal);
        out.push(compiled);
    }
    Ok((out, signals))
}

/// Actions common to every kind of hook: Post (with rateLimit), NoPost,
/// Sigkill, Signal, and Override where `overridable`; with the signal as
/// written, which monitor mode does not send (it posts instead, and does
/// not override) but events still name.
fn actions(
    path: &str,
    list: &[Action],
    mode: Mode,
    overridable: &Overridable,
) -> Result<(engine::Actions, Option<u32>), PolicyError> {
    let mut actions = engine::Actions { post: true, ..Default::default() };
    for (i, a) in list.iter().enumerate() {
        match a {
            Action::Post(post) => {
                if post.kernel_stack_trace || post.user_stack_trace || post.ima_hash {
                    return Err(unsupported(
                        &format!("{path}.matchActions[{i}]"),
                        "stack traces and imaHash are not supported by this engine yet",
                    ));
                }
                actions.rate_limit = post.rate_limit.map(|r| engine::RateLimit {
                    // The parser caps windows at what 32 bits of ms hold.
                    window_ms: r.window.as_millis().min(u128::from(u32::MAX)) as u32,
                    scope: match r.scope {
                        RateLimitScope::Thread => engine::RateScope::Thread,
                        RateLimitScope::Process => engine::RateScope::Process,
                        RateLimitScope::Global => engine::RateScope::Global,
                    },
                });
            }
            Action::NoPost => actions.post = false,
            Action::Sigkill => actions.signal = Some(9),
            Action::Signal(sig) => actions.signal = Some(*sig),
            Action::Override(error) => match overridable {
                Overridable::Yes => actions.override_error = Some(*error),
                Overridable::Refuse(_) if *error == -1 => actions.override_error = Some(-1),
                Overridable::Refuse(why) => {
                    return Err(unsupported(&format!("{path}.matchActions[{i}].argError"), *why));
                }
                Overridable::No(why) => return Err(unsupported(&format!("{path}.matchActions[{i}].action"), why)),
            },
        }
    }
    let written = actions.signal;
    if mode == Mode::Monitor {
        actions = engine::Actions { post: true, signal: None, override_error: None, ..actions };
    }
    Ok((actions, written))
}

/// matchBinaries (followChildren is the caller's to read; not with Prefix
/// or Postfix).
fn binaries(path: &str, s: &scry_policy::Selector) -> Result<Option<(engine::BinariesOp, Vec<String>)>, PolicyError> {
    let Some(b) = &s.binaries else { return Ok(None) };
    let op = match b.op {
        BinaryOp::In => engine::BinariesOp::In,
        BinaryOp::NotIn => engine::BinariesOp::NotIn,
        BinaryOp::Prefix => engine::BinariesOp::Prefix,
        BinaryOp::NotPrefix => engine::BinariesOp::NotPrefix,
        BinaryOp::Postfix => engine::BinariesOp::Postfix,
        BinaryOp::NotPostfix => engine::BinariesOp::NotPostfix,
    };
    let (max, what) = match b.op {
        BinaryOp::In | BinaryOp::NotIn => (engine::MAX_BINARY_PATH, "paths"),
        BinaryOp::Prefix | BinaryOp::NotPrefix => (engine::MAX_BINARY_PATH, "Prefix values"),
        BinaryOp::Postfix | BinaryOp::NotPostfix => (engine::MAX_POSTFIX, "Postfix values"),
    };
    if let Some((i, long)) = b.paths.iter().enumerate().find(|(_, p)| p.len() > max) {
        return Err(unsupported(
            &format!("{path}.matchBinaries[0].values[{i}]"),
            format!("{} bytes; this engine compares {what} of at most {max} bytes", long.len()),
        ));
    }
    if b.follow_children && !matches!(b.op, BinaryOp::In | BinaryOp::NotIn) {
        return Err(unsupported(
            &format!("{path}.matchBinaries[0].followChildren"),
            "followChildren goes with In and NotIn only in this engine",
        ));
    }
    Ok(Some((op, b.paths.clone())))
}

/// matchPIDs, matchNamespaces and matchCapabilities into `out`.
fn task_filters(
    path: &str,
    s: &scry_policy::Selector,
    host: &HostNamespaces,
    out: &mut engine::Selector,
) -> Result<(), PolicyError> {
    let op = |op: SetOp| match op {
        SetOp::In => engine::BinaryOp::In,
        SetOp::NotIn => engine::BinaryOp::NotIn,
    };
    if s.pids.len() > engine::MAX_PID_FILTERS {
        return Err(unsupported(
            &format!("{path}.matchPIDs"),
            format!("this engine evaluates at most {} matchPIDs entries per selector", engine::MAX_PID_FILTERS),
        ));
    }
    if s.capabilities.len() > engine::MAX_CAPABILITY_FILTERS {
        return Err(unsupported(
            &format!("{path}.matchCapabilities"),
            format!("this engine evaluates at most {} entries per selector", engine::MAX_CAPABILITY_FILTERS),
        ));
    }
    for (i, p) in s.pids.iter().enumerate() {
        if p.follow_forks && p.namespace_pids {
            return Err(unsupported(
                &format!("{path}.matchPIDs[{i}].followForks"),
                "followForks with isNamespacePID is not supported by this engine (it follows host PIDs)",
            ));
        }
        out.pids.push(engine::PidMatch {
            op: op(p.op),
            pids: p.pids.clone(),
            namespace_pid: p.namespace_pids,
            follow_forks: p.follow_forks,
        });
    }
    out.namespaces = s
        .namespaces
        .iter()
        .map(|n| {
            let ns = namespace_type(n.namespace);
            let inodes = n
                .values
                .iter()
                .map(|v| match v {
                    NamespaceValue::Inode(i) => *i,
                    NamespaceValue::Host => host.inode(ns),
                })
                .collect();
            engine::NamespaceMatch { ns, op: op(n.op), inodes }
        })
        .collect();
    out.capabilities = s
        .capabilities
        .iter()
        .map(|c| engine::CapabilityMatch {
            set: match c.set {
                CapabilitySet::Effective => engine::CapabilitySet::Effective,
                CapabilitySet::Inheritable => engine::CapabilitySet::Inheritable,
                CapabilitySet::Permitted => engine::CapabilitySet::Permitted,
            },
            op: op(c.op),
            namespace_capability: c.namespace_capability,
            mask: c.capabilities.iter().fold(0, |m, cap| m | 1u64 << cap.number()),
        })
        .collect();
    Ok(())
}

fn namespace_type(ns: Namespace) -> engine::NamespaceType {
    use engine::NamespaceType as T;
    match ns {
        Namespace::Uts => T::Uts,
        Namespace::Ipc => T::Ipc,
        Namespace::Mnt => T::Mnt,
        Namespace::Pid => T::Pid,
        Namespace::PidForChildren => T::PidForChildren,
        Namespace::Net => T::Net,
        Namespace::Time => T::Time,
        Namespace::TimeForChildren => T::TimeForChildren,
        Namespace::Cgroup => T::Cgroup,
        Namespace::User => T::User,
    }
}

/// The agent's own namespaces (the host's), for `host_ns` values: inodes by
/// [`engine::NamespaceType`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostNamespaces([u32; 10]);

impl HostNamespaces {
    /// Reads `/proc/self/ns/*` (a kind this kernel lacks reads as 0).
    pub fn of_this_process() -> HostNamespaces {
        use std::os::unix::fs::MetadataExt;
        const FILES: [&str; 10] =
            ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children", "cgroup", "user"];
        HostNamespaces(FILES.map(|f| std::fs::metadata(format!("/proc/self/ns/{f}")).map_or(0, |m| m.ino() as u32)))
    }

    fn inode(&self, ns: engine::NamespaceType) -> u32 {
        self.0[ns as usize]
    }
}

/// What a connect site cannot see, refused by path: tcp_connect's source
/// (the kernel picks it after the cgroup hook), and other families than
/// IPv4 and IPv6 (cgroup connect4/connect6 see no others).
fn connect_sees(h: &Hook, call: &str) -> Result<(), PolicyError> {
    for (i, s) in h.selectors.iter().enumerate() {
        for (k, m) in s.args.iter().enumerate() {
            let at = format!("{}.selectors[{i}].matchArgs[{k}]", h.path);
            let source = match &m.filter {
                ArgFilter::Port { side, .. }
                | ArgFilter::PrivilegedPort { side, .. }
                | ArgFilter::Addr { side, .. } => *side == Side::Source,
                _ => false,
            };
            if matches!(call, "tcp_connect" | "ip_output" | "ip6_output") && source {
                return Err(unsupported(
                    &format!("{at}.operator"),
                    format!(
                        "on {call}'s equivalent hook the source port and address are not chosen yet (the kernel \
                         picks them after its cgroup hook): SAddr, SPort and SPortPriv cannot be evaluated"
                    ),
                ));
            }
            if let ArgFilter::Family(families) = &m.filter
                && let Some(j) = families.iter().position(|f| !matches!(f, 2 | 10))
            {
                return Err(unsupported(
                    &format!("{at}.values[{j}]"),
                    format!("{call}'s equivalent hook sees IPv4 and IPv6 sockets only (AF_INET, AF_INET6)"),
                ));
            }
        }
    }
    Ok(())
}

fn value(v: &IntValue) -> u64 {
    match v {
        // Two's complement, as the register holds it.
        IntValue::Signed(s) => *s as u64,
        IntValue::Unsigned(u) => *u,
    }
}

/// One matchArgs / matchReturnArgs filter on engine argument `index`.
fn arg_match(at: &str, index: usize, filter: &ArgFilter, spec: &ArgSpec) -> Result<engine::ArgMatch, PolicyError> {
    let index = index as u8;
    match (filter, spec.kind) {
        (ArgFilter::Int { op, values }, kind) if kind.is_integer() => {
            let op = match op {
                IntOp::Equal => engine::IntOp::Equal,
                IntOp::NotEqual => engine::IntOp::NotEqual,
                IntOp::GreaterThan => engine::IntOp::GreaterThan,
                IntOp::LessThan => engine::IntOp::LessThan,
                IntOp::Mask => engine::IntOp::Mask,
            };
            Ok(engine::ArgMatch::Int { index, op, values: values.iter().map(value).collect() })
        }
        (ArgFilter::Str { op, values }, kind) if kind.is_string() => {
            let (op, max) = match op {
                StrOp::Equal => (engine::StrOp::Equal, engine::MAX_EQUAL),
                StrOp::NotEqual => (engine::StrOp::NotEqual, engine::MAX_EQUAL),
                StrOp::Prefix => (engine::StrOp::Prefix, engine::MAX_PREFIX),
                StrOp::NotPrefix => (engine::StrOp::NotPrefix, engine::MAX_PREFIX),
                StrOp::Postfix => (engine::StrOp::Postfix, engine::MAX_POSTFIX),
                StrOp::NotPostfix => (engine::StrOp::NotPostfix, engine::MAX_POSTFIX),
            };
            if let Some((j, v)) = values.iter().enumerate().find(|(_, v)| v.len() > max) {
                return Err(unsupported(
                    &format!("{at}.values[{j}]"),
                    format!("{} bytes; this engine compares values of at most {max} bytes with {op:?}", v.len()),
                ));
            }
            Ok(engine::ArgMatch::Str { index, op, values: values.clone() })
        }
        (filter, kind) if kind.is_socket() => socket_match(at, index, filter),
        (_, kind) if kind.is_cred() => Err(unsupported(
            &format!("{at}.index"),
            "this engine does not compare cred arguments (matchCapabilities compares the process's own)",
        )),
        _ => Err(unsupported(
            &format!("{at}.operator"),
            "only Equal, NotEqual, GreaterThan, LessThan and Mask on integers, Equal, NotEqual, Prefix, NotPrefix, \
             Postfix and NotPostfix on strings, files and descriptors, and the port, address, Protocol, Family and \
             State operators on sockets and addresses are supported by this engine yet",
        )),
    }
}

/// A port, address, Protocol, Family or State filter on a socket or address.
fn socket_match(at: &str, index: u8, filter: &ArgFilter) -> Result<engine::ArgMatch, PolicyError> {
    let side = |s: &Side| match s {
        Side::Source => engine::Side::Source,
        Side::Destination => engine::Side::Destination,
    };
    let field = |field, values: Vec<u64>| {
        if values.len() > engine::MAX_VALUES {
            return Err(unsupported(
                &format!("{at}.values"),
                format!("{} values; this engine compares at most {}", values.len(), engine::MAX_VALUES),
            ));
        }
        Ok(engine::ArgMatch::Field { index, field, values })
    };
    match filter {
        ArgFilter::Port { side: s, negated, ranges } => {
            if ranges.len() > engine::MAX_PORT_RANGES {
                return Err(unsupported(
                    &format!("{at}.values"),
                    format!(
                        "{} ports or ranges; this engine compares at most {}",
                        ranges.len(),
                        engine::MAX_PORT_RANGES
                    ),
                ));
            }
            let ranges = ranges.iter().map(|r| (r.low, r.high)).collect();
            Ok(engine::ArgMatch::Port { index, side: side(s), negated: *negated, ranges })
        }
        ArgFilter::PrivilegedPort { side: s, negated } => {
            Ok(engine::ArgMatch::PrivilegedPort { index, side: side(s), negated: *negated })
        }
        ArgFilter::Addr { side: s, negated, networks } => Ok(engine::ArgMatch::Addr {
            index,
            side: side(s),
            negated: *negated,
            cidrs: networks.iter().map(|n| (n.addr(), n.prefix_len())).collect(),
        }),
        ArgFilter::Protocol(v) => field(engine::SockField::Protocol, v.iter().map(|p| u64::from(*p)).collect()),
        ArgFilter::Family(v) => field(engine::SockField::Family, v.iter().map(|p| u64::from(*p)).collect()),
        ArgFilter::State(v) => field(engine::SockField::State, v.iter().map(|p| u64::from(*p)).collect()),
        _ => Err(unsupported(
            &format!("{at}.operator"),
            "on sockets and addresses this engine evaluates SAddr, DAddr, SPort, DPort, SPortPriv, DPortPriv (and \
             their Not forms), Protocol, Family and State",
        )),
    }
}

/// One selector against the engine arguments `specs` (`captured` of them
/// are the policy's arguments; the return value follows when probed).
fn selector(
    path: &str,
    s: &scry_policy::Selector,
    specs: &[ArgSpec],
    captured: usize,
    mode: Mode,
    overridable: &Overridable,
    host: &HostNamespaces,
) -> Result<(engine::Selector, Option<u32>), PolicyError> {
    let mut matches = Vec::with_capacity(s.args.len() + s.return_args.len());
    for (i, m) in s.args.iter().enumerate() {
        matches.push(arg_match(&format!("{path}.matchArgs[{i}]"), m.arg, &m.filter, &specs[m.arg])?);
    }
    for (i, f) in s.return_args.iter().enumerate() {
        let Some(spec) = specs.get(captured) else {
            return Err(unsupported(&format!("{path}.matchReturnArgs[{i}]"), "this hook does not probe the return"));
        };
        matches.push(arg_match(&format!("{path}.matchReturnArgs[{i}]"), captured, f, spec)?);
    }
    if matches.len() > engine::MAX_ARG_MATCHES {
        return Err(unsupported(
            &format!("{path}.matchReturnArgs"),
            format!("matchArgs and matchReturnArgs together take at most {} entries here", engine::MAX_ARG_MATCHES),
        ));
    }
    let (actions, signal) = actions(path, &s.actions, mode, overridable)?;
    let mut out = engine::Selector {
        args: matches,
        binaries: binaries(path, s)?,
        follow_children: s.binaries.as_ref().is_some_and(|b| b.follow_children),
        actions,
        ..Default::default()
    };
    task_filters(path, s, host, &mut out)?;
    Ok((out, signal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hook: &str) -> Policy {
        let yaml = format!(
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p\nspec:\n  kprobes:\n{hook}"
        );
        scry_policy::parse(&yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn no_tracefs(_: &str, _: &str) -> Result<Vec<tracefs::Field>, String> {
        Err("no tracefs in unit tests".into())
    }

    /// This machine's kernel: no kprobes, no BPF LSM.
    fn host() -> KernelHooks {
        KernelHooks {
            kprobes: Err("no kprobes".into()),
            fentry: Err("no fentry".into()),
            override_return: false,
            syscall_override: Err("no fentry".into()),
            lsm: Err("no LSM".into()),
            connect_errno: true,
        }
    }

    /// The matrix kernels: kprobes with bpf_override_return, BPF LSM.
    fn matrix() -> KernelHooks {
        KernelHooks {
            kprobes: Ok(()),
            fentry: Ok(()),
            override_return: true,
            syscall_override: Ok(()),
            lsm: Ok(()),
            connect_errno: true,
        }
    }

    fn error(hook: &str) -> String {
        compile(&policy(hook), 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string()
    }

    #[test]
    fn connect_hooks_compile_to_the_cgroup_sites_with_what_they_can_see() {
        // The canonical tcp_connect policy with its loopback selector.
        let canonical = "  - call: tcp_connect\n    syscall: false\n    args:\n    - index: 0\n      type: sock\n    \
                         selectors:\n    - matchArgs:\n      - index: 0\n        operator: DAddr\n        values: \
                         [\"127.0.0.0/8\", \"::1/128\"]\n      matchActions:\n      - action: NoPost\n    - matchArgs:\n      \
                         - index: 0\n        operator: NotDPort\n        values: [\"80\", \"443\"]\n      matchActions:\n      \
                         - action: Sigkill\n";
        let hooks = compile(&policy(canonical), 2, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.sites, vec![Site::TcpConnect]);
        assert_eq!(
            h.args,
            vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Connect(ConnectView::Connecting) }]
        );
        assert_eq!(
            h.selectors[0].args,
            vec![engine::ArgMatch::Addr {
                index: 0,
                side: engine::Side::Destination,
                negated: false,
                cidrs: vec![("127.0.0.0".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)],
            }]
        );
        assert!(!h.selectors[0].actions.post);
        assert_eq!(
            h.selectors[1].args,
            vec![engine::ArgMatch::Port {
                index: 0,
                side: engine::Side::Destination,
                negated: true,
                ranges: vec![(80, 80), (443, 443)],
            }]
        );
        assert_eq!(h.selectors[1].actions.signal, Some(9));
        let socket = "  - call: security_socket_connect\n    syscall: false\n    args:\n    - index: 0\n      type: \
                      socket\n    - index: 1\n      type: sockaddr\n    selectors:\n    - matchArgs:\n      - index: 1\n        \
                      operator: SAddr\n        values: [\"10.0.0.0/8\"]\n      matchActions:\n      - action: Override\n        \
                      argError: -1\n";
        let hooks = compile(&policy(socket), 3, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(
            (h.sites.as_slice(), h.selectors[0].actions.override_error),
            ([Site::SocketConnect].as_slice(), Some(-1))
        );
        assert_eq!(h.args[1].kind, ArgKind::Connect(ConnectView::Address));
        // What the cgroup hooks cannot see or do, by path.
        assert_eq!(
            error(&canonical.replace("operator: DAddr", "operator: SAddr")),
            "spec.kprobes[0].selectors[0].matchArgs[0].operator: on tcp_connect's equivalent hook the source port and \
             address are not chosen yet (the kernel picks them after its cgroup hook): SAddr, SPort and SPortPriv \
             cannot be evaluated"
        );
        // Another errno where cgroup programs may set one (5.18), else refused.
        let eacces = socket.replace("argError: -1", "argError: -13");
        let hooks = compile(&policy(&eacces), 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.selectors[0].actions.override_error, Some(-13));
        let old = KernelHooks { connect_errno: false, ..host() };
        assert_eq!(
            compile(&policy(&eacces), 1, &old, &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string(),
            "spec.kprobes[0].selectors[0].matchActions[0].argError: this kernel's cgroup connect hook refuses with \
             EPERM only (another errno needs Linux 5.18): argError must be -1"
        );
        assert_eq!(
            error(&socket.replace(
                "operator: SAddr\n        values: [\"10.0.0.0/8\"]",
                "operator: Family\n        values: [AF_UNIX]"
            )),
            "spec.kprobes[0].selectors[0].matchArgs[0].values[0]: security_socket_connect's equivalent hook sees IPv4 \
             and IPv6 sockets only (AF_INET, AF_INET6)"
        );
    }

    #[test]
    fn output_hooks_compile_to_the_cgroup_sites_on_every_kernel() {
        // Tetragon's dns-only-specified-servers example.
        let dns = "  - call: ip_output\n    syscall: false\n    args:\n    - index: 2\n      type: skb\n    selectors:\n    \
                   - matchArgs:\n      - index: 2\n        operator: Protocol\n        values: [IPPROTO_TCP, \
                   IPPROTO_UDP]\n      - index: 2\n        operator: DPort\n        values: [53]\n      - index: 2\n        \
                   operator: NotDAddr\n        values: [127.0.0.53]\n      matchActions:\n      - action: Sigkill\n";
        for kernel in [host(), matrix()] {
            let hooks = compile(&policy(dns), 1, &kernel, &HostNamespaces::default(), &no_tracefs).unwrap();
            assert!(hooks[0].attachment.starts_with("cgroup connect4/connect6 and sendmsg4/sendmsg6 (IPv4 flows"));
            assert_eq!(hooks[0].args, vec![(Shown::Skb, None)]);
            let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
            assert_eq!(h.sites, vec![Site::Output(IpVersion::V4)]);
            assert_eq!(
                h.args,
                vec![ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Connect(ConnectView::Packet) }]
            );
            assert_eq!(
                h.selectors[0].args,
                vec![
                    engine::ArgMatch::Field { index: 0, field: engine::SockField::Protocol, values: vec![6, 17] },
                    engine::ArgMatch::Port {
                        index: 0,
                        side: engine::Side::Destination,
                        negated: false,
                        ranges: vec![(53, 53)]
                    },
                    engine::ArgMatch::Addr {
                        index: 0,
                        side: engine::Side::Destination,
                        negated: true,
                        cidrs: vec![("127.0.0.53".parse().unwrap(), 32)],
                    },
                ]
            );
            assert_eq!(h.selectors[0].actions.signal, Some(9));
        }
        let six = compile(
            &policy(&dns.replace("ip_output", "ip6_output")),
            1,
            &host(),
            &HostNamespaces::default(),
            &no_tracefs,
        )
        .unwrap();
        let EngineHook::Site(h) = &six[0].hook else { panic!("{:?}", six[0].hook) };
        assert_eq!(h.sites, vec![Site::Output(IpVersion::V6)]);
        // The socket is the second argument; the first is not provided, and
        // the source is not chosen yet.
        let sock =
            dns.replace("index: 2\n      type: skb", "index: 1\n      type: sock").replace("index: 2", "index: 1");
        let hooks = compile(&policy(&sock), 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.args[0].kind, ArgKind::Connect(ConnectView::Connecting));
        assert_eq!(
            error(&dns.replace("    args:\n", "    args:\n    - index: 0\n      type: int\n")),
            "spec.kprobes[0].args[0].type: ip_output's argument 0 is struct net *, which this equivalent hook does \
             not provide"
        );
        assert_eq!(
            error(&dns.replace("operator: DPort", "operator: SPort")),
            "spec.kprobes[0].selectors[0].matchArgs[1].operator: on ip_output's equivalent hook the source port and \
             address are not chosen yet (the kernel picks them after its cgroup hook): SAddr, SPort and SPortPriv \
             cannot be evaluated"
        );
        assert_eq!(
            error(&dns.replace("type: skb", "type: sock")),
            "spec.kprobes[0].args[0].type: ip_output's argument 2 is skb"
        );
    }

    #[test]
    fn raw_tracepoints_take_tp_protos_arguments_with_kernel_types() {
        let yaml = |extra: &str| {
            format!(
                "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p\nspec:\n  tracepoints:\n  \
                 - subsystem: sched\n    event: sched_process_exec\n    raw: true\n    args:\n    - index: 2\n      \
                 type: linux_binprm\n{extra}"
            )
        };
        let exists = |_: &str, event: &str| {
            if event == "sched_process_exec" { Ok(Vec::new()) } else { Err(format!("no tracepoint {event}")) }
        };
        let compiled = |y: &str| {
            let p = scry_policy::parse(y).unwrap_or_else(|e| panic!("{e}"));
            compile(&p, 1, &host(), &HostNamespaces::default(), &exists).map_err(|e| e.to_string())
        };
        let hooks = compiled(&yaml("")).unwrap();
        assert_eq!((hooks[0].attachment.as_str(), hooks[0].function.as_str()), ("raw_tp", "sched/sched_process_exec"));
        assert_eq!(hooks[0].args, vec![(Shown::Binprm, None)]);
        let EngineHook::RawTracepoint { subsystem, event, hook } = &hooks[0].hook else {
            panic!("{:?}", hooks[0].hook)
        };
        assert_eq!((subsystem.as_str(), event.as_str()), ("sched", "sched_process_exec"));
        assert_eq!(hook.args, vec![ArgSpec { source: ArgSource::Register(2), kind: ArgKind::Bprm }]);
        assert_eq!(
            compiled(&yaml("").replace("sched_process_exec", "sched_process_nope")).unwrap_err(),
            "spec.tracepoints[0].event: no tracepoint sched_process_nope"
        );
    }

    #[test]
    fn workload_scopes_compile() {
        let yaml = |scope: &str| {
            format!(
                "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p\nspec:\n{scope}  kprobes:\n  \
                 - call: sys_setuid\n    syscall: true\n"
            )
        };
        let compiled = |scope: &str| {
            let p = scry_policy::parse(&yaml(scope)).unwrap();
            compile(&p, 1, &host(), &HostNamespaces::default(), &no_tracefs).map_err(|e| e.to_string())
        };
        assert!(compiled("  podSelector:\n    matchLabels:\n      app: web\n").is_ok());
        assert!(compiled("  hostSelector: {}\n").is_ok());
    }

    #[test]
    fn buffers_compile_with_their_length_and_what_cannot_be_read_is_refused_by_path() {
        let read = "  - call: sys_read\n    syscall: true\n    args:\n    - index: 0\n      type: fd\n    - index: 1\n      \
                    type: char_buf\n      returnCopy: true\n";
        let hooks = compile(&policy(read), 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.sites, vec![Site::Exit(0)], "read at the return");
        assert_eq!(h.args[1].kind, ArgKind::UserBuffer { size: ArgSource::Return, max_data: false });
        let write = "  - call: sys_write\n    syscall: true\n    args:\n    - index: 1\n      type: char_buf\n      \
                     sizeArgIndex: 3\n";
        let hooks = compile(&policy(write), 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(
            (h.sites.as_slice(), h.args[0].kind),
            ([Site::Enter(1)].as_slice(), ArgKind::UserBuffer { size: ArgSource::Register(2), max_data: false })
        );
        let hooks = compile(
            &policy(&format!("{write}      maxData: true\n")),
            1,
            &host(),
            &HostNamespaces::default(),
            &no_tracefs,
        )
        .unwrap();
        let EngineHook::Site(h) = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.args[0].kind, ArgKind::UserBuffer { size: ArgSource::Register(2), max_data: true });
        let kernel = "  - call: tcp_sendmsg\n    syscall: false\n    args:\n    - index: 1\n      type: char_buf\n      \
                      returnCopy: true\n";
        let p = policy(kernel);
        assert_eq!(
            compile(&p, 1, &matrix(), &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string(),
            "spec.kprobes[0].args[0].returnCopy: this engine reads nothing when a kernel function returns (return \
             probes are not supported here yet)"
        );
    }

    #[test]
    fn kernel_functions_run_at_fentry_and_fexit_where_they_attach_else_kprobes_and_override_with_fmod_ret() {
        let hook = "  - call: security_file_open\n    syscall: false\n    return: true\n    args:\n    - index: 0\n      \
                    type: file\n    returnArg:\n      index: 0\n      type: int\n    selectors:\n    - matchReturnArgs:\n      \
                    - index: 0\n        operator: NotEqual\n        values: [\"0\"]\n";
        let hooks = compile(&policy(hook), 1, &matrix(), &HostNamespaces::default(), &no_tracefs).unwrap();
        let EngineHook::Kprobe { at_return: true, hook: h, .. } = &hooks[0].hook else { panic!("{:?}", hooks[0].hook) };
        assert_eq!(h.args[1], ArgSpec { source: ArgSource::Return, kind: ArgKind::Int });
        assert_eq!(
            h.selectors[0].args,
            vec![engine::ArgMatch::Int { index: 1, op: engine::IntOp::NotEqual, values: vec![0] }]
        );
        assert_eq!(hooks[0].attachment, "fexit");
        let no_fentry = KernelHooks { fentry: Err("no fentry".into()), ..matrix() };
        let hooks = compile(&policy(hook), 1, &no_fentry, &HostNamespaces::default(), &no_tracefs).unwrap();
        assert_eq!(hooks[0].attachment, "kretprobe (arguments kept by a kprobe at entry)");
        // Entry hooks: fentry, a kprobe without it; fmod_ret to override, or
        // the kprobe without trampolines.
        let entry = "  - call: security_file_open\n    syscall: false\n    args:\n    - index: 0\n      type: file\n";
        let attachment = |kernel: &KernelHooks, yaml: &str| {
            compile(&policy(yaml), 1, kernel, &HostNamespaces::default(), &no_tracefs).unwrap()[0].attachment.clone()
        };
        assert_eq!(attachment(&matrix(), entry), "fentry");
        assert_eq!(attachment(&no_fentry, entry), "kprobe");
        let overriding =
            format!("{entry}    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n");
        assert_eq!(attachment(&matrix(), &overriding), "fmod_ret");
        assert_eq!(attachment(&no_fentry, &overriding), "kprobe (bpf_override_return)");
        // Syscalls: their own functions' trampolines where they run.
        let umask = "  - call: sys_umask\n    syscall: true\n    args:\n    - index: 0\n      type: int\n";
        let umask_override =
            format!("{umask}    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n");
        let umask_return = format!("{umask}    return: true\n    returnArg:\n      index: 0\n      type: int\n");
        assert_eq!(attachment(&matrix(), umask), "fentry __x64_sys_umask");
        assert_eq!(attachment(&matrix(), &umask_override), "fmod_ret __x64_sys_umask");
        assert_eq!(attachment(&matrix(), &umask_return), "fexit __x64_sys_umask");
        assert_eq!(attachment(&host(), umask), "tracepoint syscalls/sys_enter_umask");
        // Debian's kernels: syscalls are not on the error-injection list, so
        // no Override there; security_* hooks still take fmod_ret.
        let debian =
            KernelHooks { override_return: false, syscall_override: Err("not on the list".into()), ..matrix() };
        assert_eq!(
            compile(&policy(&umask_override), 1, &debian, &HostNamespaces::default(), &no_tracefs)
                .unwrap_err()
                .to_string(),
            "spec.kprobes[0].selectors[0].matchActions[0].action: Override on a syscall hook: not on the list"
        );
        assert_eq!(attachment(&debian, &overriding), "fmod_ret");
        let fd_install = "  - call: fd_install\n    syscall: false\n    selectors:\n    - matchActions:\n      \
                          - action: Override\n        argError: -1\n";
        assert_eq!(
            compile(&policy(fd_install), 1, &debian, &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string(),
            "spec.kprobes[0].selectors[0].matchActions[0].action: Override on fd_install needs fmod_ret, which this \
             kernel allows on security_* functions only (not on the list)"
        );
        assert_eq!(attachment(&host(), &umask_return), "tp_btf sys_exit, syscall 95");
        let returning_override = format!(
            "{umask_return}    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n"
        );
        assert_eq!(
            compile(&policy(&returning_override), 1, &matrix(), &HostNamespaces::default(), &no_tracefs)
                .unwrap_err()
                .to_string(),
            "spec.kprobes[0].selectors[0].matchActions[0].action: Override runs at a syscall's entry, and this hook \
             is evaluated at its return (returnArg or a buffer read at return)"
        );
    }

    #[test]
    fn a_syscall_hook_compiles_to_the_engine() {
        let p = policy(
            "  - call: sys_setuid\n    syscall: true\n    args:\n    - index: 0\n      type: uint32\n    selectors:\n    \
             - matchArgs:\n      - index: 0\n        operator: NotEqual\n        values: [\"0\", \"1000\"]\n      \
             matchActions:\n      - action: Signal\n        argSig: 19\n",
        );
        let hooks = compile(&p, 4, &host(), &HostNamespaces::default(), &no_tracefs).unwrap();
        assert_eq!(hooks.len(), 1);
        let h = &hooks[0];
        assert_eq!(
            (h.function.as_str(), h.attachment.as_str()),
            ("__x64_sys_setuid", "tracepoint syscalls/sys_enter_setuid")
        );
        let EngineHook::Site(hook) = &h.hook else { panic!("a syscall hook") };
        assert_eq!((hook.policy_id, hook.sites.as_slice()), (4, [Site::Enter(105)].as_slice()));
        assert_eq!(hook.args, [ArgSpec { source: ArgSource::Register(0), kind: ArgKind::Int }]);
        let sel = &hook.selectors[0];
        assert_eq!(sel.args, [engine::ArgMatch::Int { index: 0, op: engine::IntOp::NotEqual, values: vec![0, 1000] }]);
        assert_eq!(sel.actions, engine::Actions { post: true, signal: Some(19), ..Default::default() });
        assert_eq!(h.signals, [Some(19)]);
    }

    #[test]
    fn what_cannot_run_here_is_refused_by_path() {
        assert_eq!(
            error("  - call: tcp_sendmsg\n    syscall: false\n"),
            "spec.kprobes[0].call: \"tcp_sendmsg\" is a kernel function: this kernel attaches neither kprobes nor \
             fentry, and this engine has no equivalent hook for it (equivalents: tcp_connect, \
             security_socket_connect, ip_output, ip6_output, security_bprm_check, security_file_open, fd_install, \
             commit_creds, __sys_* syscall bodies; syscall hooks: `syscall: true`)"
        );
        assert_eq!(
            error("  - call: sys_read\n    syscall: true\n    args:\n    - index: 1\n      type: file\n"),
            "spec.kprobes[0].args[0].type: on a syscall hook this engine captures integer, string, fd, char_buf, \
             char_iovec and sockaddr arguments"
        );
        assert_eq!(
            error(
                "  - call: sys_umask\n    syscall: true\n    selectors:\n    - matchActions:\n      \
                 - action: Override\n        argError: -1\n"
            ),
            "spec.kprobes[0].selectors[0].matchActions[0].action: Override changes a function's return value, which \
             needs fmod_ret, an LSM hook or kprobe override; a syscall tracepoint cannot, and this kernel has none of \
             those"
        );
        assert_eq!(
            error("  - call: security_file_open\n    syscall: false\n    args:\n    - index: 0\n      type: path\n"),
            "spec.kprobes[0].args[0].type: security_file_open's argument 0 is file"
        );
        assert_eq!(
            error("  - call: fd_install\n    syscall: false\n    args:\n    - index: 2\n      type: int\n"),
            "spec.kprobes[0].args[0].index: fd_install's equivalent hook provides arguments 0 to 1"
        );
        assert_eq!(
            error(
                "  - call: security_bprm_check\n    syscall: false\n    return: true\n    returnArg:\n      \
                 type: int\n"
            ),
            "spec.kprobes[0].return: security_bprm_check's equivalent hook cannot see its return value"
        );
        let long = "x".repeat(255);
        assert_eq!(
            error(&format!(
                "  - call: sys_openat\n    syscall: true\n    args:\n    - index: 1\n      type: string\n    \
                 selectors:\n    - matchArgs:\n      - index: 1\n        operator: Prefix\n        \
                 values: [\"/etc\", \"/{long}\"]\n"
            )),
            "spec.kprobes[0].selectors[0].matchArgs[0].values[1]: 256 bytes; this engine compares values of at most \
             254 bytes with Prefix"
        );
    }

    #[test]
    fn the_well_known_kernel_functions_compile_to_their_equivalents() {
        let p = policy(
            "  - call: security_bprm_check\n    syscall: false\n    args:\n    - index: 0\n      type: linux_binprm\n    \
             selectors:\n    - matchArgs:\n      - index: 0\n        operator: Prefix\n        \
             values: [\"/usr/bin/curl\", \"/usr/bin/python3\"]\n",
        );
        let h = &compile(&p, 2, &host(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("a site hook") };
        assert_eq!(
            (hook.sites.as_slice(), h.at_exec, h.function.as_str()),
            ([Site::Exec].as_slice(), true, "security_bprm_check")
        );
        assert_eq!(hook.args, [ArgSpec { source: ArgSource::Bprm, kind: ArgKind::Bprm }]);
        assert_eq!(
            hook.selectors[0].args,
            [engine::ArgMatch::Str {
                index: 0,
                op: engine::StrOp::Prefix,
                values: vec!["/usr/bin/curl".into(), "/usr/bin/python3".into()]
            }]
        );
        let p = policy(
            "  - call: fd_install\n    syscall: false\n    args:\n    - index: 0\n      type: int\n    - index: 1\n      \
             type: file\n",
        );
        let h = &compile(&p, 2, &host(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("a site hook") };
        assert_eq!(hook.sites.len(), 5, "{:?}", hook.sites);
        assert!(hook.skip_failed);
        assert_eq!(h.args, [(Shown::Int(IntType::S32), None), (Shown::File, None)]);
        // A syscall's body: the syscall's entry.
        let p = policy("  - call: __sys_setuid\n    syscall: false\n    args:\n    - index: 0\n      type: uint32\n");
        let h = &compile(&p, 2, &host(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("a site hook") };
        assert_eq!((hook.sites.as_slice(), h.function.as_str()), ([Site::Enter(105)].as_slice(), "__sys_setuid"));
        // The return probed: the exit, the value last, matchReturnArgs on it.
        let p = policy(
            "  - call: sys_openat\n    syscall: true\n    return: true\n    args:\n    - index: 1\n      type: string\n    \
             returnArg:\n      type: int\n    selectors:\n    - matchReturnArgs:\n      - operator: LessThan\n        \
             values: [\"0\"]\n",
        );
        let h = &compile(&p, 2, &host(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("a site hook") };
        assert_eq!(hook.sites, [Site::Exit(257)]);
        assert_eq!(hook.args[1], ArgSpec { source: ArgSource::Return, kind: ArgKind::Int });
        assert_eq!(
            hook.selectors[0].args,
            [engine::ArgMatch::Int { index: 1, op: engine::IntOp::LessThan, values: vec![0] }]
        );
    }

    #[test]
    fn where_kprobes_and_bpf_lsm_run_kernel_functions_use_them_with_override() {
        let p = policy(
            "  - call: security_file_open\n    syscall: false\n    args:\n    - index: 0\n      type: file\n    \
             selectors:\n    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: [\"/etc/shadow\"]\n      \
             matchActions:\n      - action: Override\n        argError: -1\n",
        );
        let h = &compile(&p, 3, &matrix(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Kprobe { function, hook, .. } = &h.hook else { panic!("a kprobe: {:?}", h.hook) };
        assert_eq!((function.as_str(), h.attachment.as_str()), ("security_file_open", "fmod_ret"));
        assert_eq!(hook.args, [ArgSpec { source: ArgSource::Register(0), kind: ArgKind::File }]);
        assert_eq!(hook.selectors[0].actions.override_error, Some(-1));
        // Without trampolines or bpf_override_return, the LSM hook overrides.
        let debian = KernelHooks { override_return: false, fentry: Err("no fentry".into()), ..matrix() };
        let h = &compile(&p, 3, &debian, &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("the LSM hook: {:?}", h.hook) };
        assert_eq!(hook.sites, [Site::Lsm(LsmHook::FileOpen)]);
        assert_eq!(h.attachment, "BPF LSM file_open (Override, which this kernel's kprobes and trampolines cannot)");
        // The same policy here: Override cannot run on the equivalent hook.
        let err = compile(&p, 3, &host(), &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string();
        assert!(err.starts_with("spec.kprobes[0].selectors[0].matchActions[0].action: Override changes"), "{err}");
        let lsm = scry_policy::parse(
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p\nspec:\n  lsmhooks:\n  \
             - hook: file_open\n    args:\n    - index: 0\n      type: file\n    selectors:\n    - matchActions:\n      \
             - action: Override\n        argError: -13\n",
        )
        .unwrap();
        let h = &compile(&lsm, 3, &matrix(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!("a site hook") };
        assert_eq!((hook.sites.as_slice(), h.lsm), ([Site::Lsm(LsmHook::FileOpen)].as_slice(), true));
        assert_eq!(hook.selectors[0].actions.override_error, Some(-13));
        assert_eq!(
            compile(&lsm, 3, &host(), &HostNamespaces::default(), &no_tracefs).unwrap_err().to_string(),
            "spec.lsmhooks[0]: this kernel runs no BPF LSM programs (no LSM)"
        );
        // The canonical tcp_connect policy keeps its cgroup hook where kprobes exist.
        let p = policy("  - call: tcp_connect\n    syscall: false\n    args:\n    - index: 0\n      type: sock\n");
        assert!(matches!(
            compile(&p, 3, &matrix(), &HostNamespaces::default(), &no_tracefs).unwrap()[0].hook,
            EngineHook::Site(EngineSiteHook { ref sites, .. }) if sites == &[Site::TcpConnect]
        ));
    }

    #[test]
    fn pid_namespace_and_capability_filters_compile_with_host_namespaces_resolved() {
        let p = policy(
            "  - call: sys_umask\n    syscall: true\n    selectors:\n    - matchPIDs:\n      - operator: NotIn\n        \
             values: [\"1\"]\n        isNamespacePID: true\n      matchNamespaces:\n      - namespace: Net\n        \
             operator: NotIn\n        values: [\"host_ns\", \"4026531999\"]\n      matchCapabilities:\n      \
             - type: Effective\n        operator: In\n        values: [\"CAP_SYS_ADMIN\", \"CAP_NET_RAW\"]\n",
        );
        let mut namespaces = HostNamespaces::default();
        namespaces.0[engine::NamespaceType::Net as usize] = 4026531840;
        let h = &compile(&p, 1, &host(), &namespaces, &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!() };
        let s = &hook.selectors[0];
        assert_eq!(
            s.pids,
            [engine::PidMatch { op: engine::BinaryOp::NotIn, pids: vec![1], namespace_pid: true, follow_forks: false }]
        );
        assert_eq!(
            s.namespaces,
            [engine::NamespaceMatch {
                ns: engine::NamespaceType::Net,
                op: engine::BinaryOp::NotIn,
                inodes: vec![4026531840, 4026531999]
            }]
        );
        assert_eq!(s.capabilities[0].mask, 1 << 21 | 1 << 13);
        assert_eq!(
            error(
                "  - call: sys_umask\n    syscall: true\n    selectors:\n    - matchPIDs:\n      - operator: In\n        \
                 values: [\"1\"]\n        followForks: true\n        isNamespacePID: true\n"
            ),
            "spec.kprobes[0].selectors[0].matchPIDs[0].followForks: followForks with isNamespacePID is not supported by \
             this engine (it follows host PIDs)"
        );
    }

    #[test]
    fn follow_children_reaches_the_engine() {
        let p = policy(
            "  - call: sys_umask\n    syscall: true\n    selectors:\n    - matchBinaries:\n      - operator: In\n        \
             values: [\"/usr/bin/dash\"]\n        followChildren: true\n",
        );
        let h = &compile(&p, 1, &host(), &HostNamespaces::default(), &no_tracefs).unwrap()[0];
        let EngineHook::Site(hook) = &h.hook else { panic!() };
        assert!(hook.selectors[0].follow_children);
        assert_eq!(hook.selectors[0].binaries, Some((engine::BinariesOp::In, vec!["/usr/bin/dash".to_owned()])));
    }
}
