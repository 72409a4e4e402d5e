//! A validated TracingPolicy → the hooks the kernel engine runs
//! (`scry_bpf::policy`), or one message naming the first field this engine
//! cannot honour here. Nothing is partially applied: a policy compiles
//! whole or not at all.
//!
//! What runs today: kprobes with `syscall: true`, through the one
//! raw_syscalls:sys_enter program (this kernel has neither kprobes nor
//! fentry, and a syscall tracepoint sees the same call with the same
//! arguments); integer arguments; matchArgs with Equal, NotEqual,
//! GreaterThan, LessThan and Mask; matchBinaries In and NotIn; Post,
//! NoPost, Sigkill and Signal; enforce and monitor modes.

use scry_bpf::policy::{self as engine, ConnectHook, SyscallHook};
use scry_policy::{
    Action, ArgFilter, ArgType, BinaryOp, Hook, HookPoint, IntOp, IntType, IntValue, Mode, Policy, PolicyError, Scope,
    Side,
};

use super::syscalls;

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
    /// Captured arguments: syscall position, type, label.
    pub args: Vec<(u8, IntType, Option<String>)>,
    pub message: Option<String>,
    pub tags: Vec<String>,
    /// Each selector's signal as written: in monitor mode the engine sends
    /// none, and events still name the action enforcement would have taken.
    pub signals: Vec<Option<u32>>,
    pub hook: EngineHook,
}

/// What the kernel engine runs for a hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineHook {
    Syscall(SyscallHook),
    /// `tcp_connect` with a `sock` argument, through cgroup connect4/6.
    Connect(ConnectHook),
}

fn unsupported(path: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::unsupported(path, reason)
}

/// Compiles every hook of `policy`, or says which field cannot run here.
pub fn compile(policy: &Policy, policy_id: u32) -> Result<Vec<CompiledHook>, PolicyError> {
    if let Scope::Namespace(ns) = &policy.scope {
        return Err(unsupported(
            "metadata.namespace",
            format!("namespaced policies (namespace {ns:?}) are not supported by this engine yet: no pod scoping"),
        ));
    }
    if policy.workloads.pods.is_some() || policy.workloads.containers.is_some() {
        return Err(unsupported("spec.podSelector", "pod and container scoping are not supported by this engine yet"));
    }
    policy.hooks.iter().map(|h| compile_hook(h, policy.mode, policy_id)).collect()
}

fn compile_hook(h: &Hook, mode: Mode, policy_id: u32) -> Result<CompiledHook, PolicyError> {
    let function = match &h.point {
        HookPoint::Kprobe(f) if f.syscall => f,
        HookPoint::Kprobe(f) | HookPoint::Fentry(f) if f.call == "tcp_connect" => {
            return compile_connect(h, mode, policy_id);
        }
        HookPoint::Kprobe(f) | HookPoint::Fentry(f) => {
            return Err(unsupported(
                &format!("{}.call", h.path),
                format!(
                    "{:?} is a kernel function: this kernel attaches neither kprobes nor fentry, and this engine \
                     has no equivalent hook for it yet (syscall hooks run: `syscall: true`)",
                    f.call
                ),
            ));
        }
        HookPoint::Tracepoint(_) | HookPoint::RawTracepoint(_) => {
            return Err(unsupported(&h.path, "tracepoint hooks are not supported by this engine yet"));
        }
        HookPoint::Uprobe(_) => return Err(unsupported(&h.path, "uprobes are not supported by this engine yet")),
        HookPoint::Lsm(_) => return Err(unsupported(&h.path, "LSM hooks are not supported by this engine yet")),
    };
    let nr = syscalls::number(&function.call).ok_or_else(|| {
        unsupported(&format!("{}.call", h.path), format!("{:?} is not an x86_64 syscall", function.call))
    })?;
    if h.return_arg.is_some() {
        return Err(unsupported(&format!("{}.return", h.path), "return probes are not supported by this engine yet"));
    }
    let mut args = Vec::with_capacity(h.args.len());
    for (i, a) in h.args.iter().enumerate() {
        let path = format!("{}.args[{i}]", h.path);
        let ArgType::Int(ty) = a.ty else {
            return Err(unsupported(
                &format!("{path}.type"),
                "only integer arguments are captured and compared by this engine yet",
            ));
        };
        if a.index > 5 {
            return Err(unsupported(&format!("{path}.index"), "a syscall has 6 arguments (0-5)"));
        }
        args.push((a.index as u8, ty, a.label.clone()));
    }
    let mut selectors = Vec::with_capacity(h.selectors.len());
    let mut signals = Vec::with_capacity(h.selectors.len());
    for (i, s) in h.selectors.iter().enumerate() {
        let (compiled, signal) = selector(&format!("{}.selectors[{i}]", h.path), s, &args, mode)?;
        signals.push(signal);
        selectors.push(compiled);
    }
    let name = function.call.strip_prefix("__x64_").unwrap_or(&function.call);
    let name = name.strip_prefix("sys_").unwrap_or(name);
    Ok(CompiledHook {
        path: h.path.clone(),
        asked: format!("kprobe {} (syscall)", function.call),
        attachment: format!("tp_btf sys_enter, syscall {nr}"),
        function: format!("__x64_sys_{name}"),
        args,
        message: h.message.clone(),
        tags: h.tags.clone(),
        signals,
        hook: EngineHook::Syscall(SyscallHook { policy_id, syscall: nr, selectors }),
    })
}

/// Actions common to both kinds of hooks: Post (plain), NoPost, Sigkill,
/// Signal; with the signal as written, which monitor mode does not send
/// (it posts instead) but events still name.
fn actions(path: &str, list: &[Action], mode: Mode) -> Result<(engine::Actions, Option<u32>), PolicyError> {
    let mut actions = engine::Actions { post: true, signal: None };
    for (i, a) in list.iter().enumerate() {
        match a {
            Action::Post(post) => {
                if post.rate_limit.is_some() || post.kernel_stack_trace || post.user_stack_trace || post.ima_hash {
                    return Err(unsupported(
                        &format!("{path}.matchActions[{i}]"),
                        "rateLimit, stack traces and imaHash are not supported by this engine yet",
                    ));
                }
            }
            Action::NoPost => actions.post = false,
            Action::Sigkill => actions.signal = Some(9),
            Action::Signal(sig) => actions.signal = Some(*sig),
            Action::Override(_) => {
                return Err(unsupported(
                    &format!("{path}.matchActions[{i}].action"),
                    "Override changes a function's return value, which needs fmod_ret, an LSM hook or kprobe \
                     override; a syscall tracepoint cannot, and this kernel has none of those",
                ));
            }
        }
    }
    let written = actions.signal;
    if mode == Mode::Monitor {
        actions = engine::Actions { post: true, signal: None };
    }
    Ok((actions, written))
}

fn binaries(path: &str, s: &scry_policy::Selector) -> Result<Option<(engine::BinaryOp, Vec<String>)>, PolicyError> {
    match &s.binaries {
        None => Ok(None),
        Some(b) if b.follow_children => Err(unsupported(
            &format!("{path}.matchBinaries"),
            "followChildren binary filters are not supported by this engine yet",
        )),
        Some(b) => {
            let op = match b.op {
                BinaryOp::In => engine::BinaryOp::In,
                BinaryOp::NotIn => engine::BinaryOp::NotIn,
                _ => {
                    return Err(unsupported(
                        &format!("{path}.matchBinaries[0].operator"),
                        "only In and NotIn are supported by this engine yet",
                    ));
                }
            };
            Ok(Some((op, b.paths.clone())))
        }
    }
}

/// Filters this engine cannot evaluate yet, on any hook.
fn refuse_unsupported_filters(path: &str, s: &scry_policy::Selector) -> Result<(), PolicyError> {
    let not_yet = |field: &str, what: &str| {
        unsupported(&format!("{path}.{field}"), format!("{what} are not supported by this engine yet"))
    };
    if !s.return_args.is_empty() {
        return Err(not_yet("matchReturnArgs", "return value filters"));
    }
    if !s.pids.is_empty() {
        return Err(not_yet("matchPIDs", "PID filters"));
    }
    if !s.namespaces.is_empty() {
        return Err(not_yet("matchNamespaces", "namespace filters"));
    }
    if !s.capabilities.is_empty() {
        return Err(not_yet("matchCapabilities", "capability filters"));
    }
    Ok(())
}

/// `tcp_connect(struct sock *)`: the connect() of a TCP socket, seen by
/// cgroup connect4/connect6 before the kernel sends anything; DPort and
/// NotDPort on the socket argument, matchBinaries, actions.
fn compile_connect(h: &Hook, mode: Mode, policy_id: u32) -> Result<CompiledHook, PolicyError> {
    if h.return_arg.is_some() {
        return Err(unsupported(&format!("{}.return", h.path), "return probes are not supported by this engine yet"));
    }
    for (i, a) in h.args.iter().enumerate() {
        if a.ty != ArgType::Sock || a.index != 0 {
            return Err(unsupported(
                &format!("{}.args[{i}]", h.path),
                "tcp_connect's equivalent hook captures its socket (index 0, type sock) only",
            ));
        }
    }
    let mut selectors = Vec::with_capacity(h.selectors.len());
    let mut signals = Vec::with_capacity(h.selectors.len());
    for (i, s) in h.selectors.iter().enumerate() {
        let path = format!("{}.selectors[{i}]", h.path);
        refuse_unsupported_filters(&path, s)?;
        let mut ports = None;
        for (k, m) in s.args.iter().enumerate() {
            let at = format!("{path}.matchArgs[{k}]");
            let ArgFilter::Port { side: Side::Destination, negated, ranges } = &m.filter else {
                return Err(unsupported(
                    &format!("{at}.operator"),
                    "on tcp_connect this engine evaluates DPort and NotDPort only (the source port is not chosen yet)",
                ));
            };
            let list: Vec<u16> = ranges.iter().flat_map(|r| r.low..=r.high).take(engine::MAX_PORTS + 1).collect();
            if list.len() > engine::MAX_PORTS || ports.is_some() {
                return Err(unsupported(
                    &format!("{at}.values"),
                    format!("this engine compares at most {} destination ports per selector", engine::MAX_PORTS),
                ));
            }
            ports = Some((if *negated { engine::PortOp::NotIn } else { engine::PortOp::In }, list));
        }
        let (acts, signal) = actions(&path, &s.actions, mode)?;
        signals.push(signal);
        selectors.push(engine::ConnectSelector { ports, binaries: binaries(&path, s)?, actions: acts });
    }
    Ok(CompiledHook {
        path: h.path.clone(),
        asked: "kprobe tcp_connect".into(),
        attachment: "cgroup connect4/connect6 (refuses before the SYN) + sys_exit_connect (signals)".into(),
        function: "tcp_connect".into(),
        args: Vec::new(),
        message: h.message.clone(),
        tags: h.tags.clone(),
        signals,
        hook: EngineHook::Connect(ConnectHook { policy_id, selectors }),
    })
}

fn value(v: &IntValue) -> u64 {
    match v {
        // Two's complement, as the register holds it.
        IntValue::Signed(s) => *s as u64,
        IntValue::Unsigned(u) => *u,
    }
}

fn selector(
    path: &str,
    s: &scry_policy::Selector,
    args: &[(u8, IntType, Option<String>)],
    mode: Mode,
) -> Result<(engine::Selector, Option<u32>), PolicyError> {
    refuse_unsupported_filters(path, s)?;
    let mut matches = Vec::with_capacity(s.args.len());
    for (i, m) in s.args.iter().enumerate() {
        let ArgFilter::Int { op, values } = &m.filter else {
            return Err(unsupported(
                &format!("{path}.matchArgs[{i}].operator"),
                "only Equal, NotEqual, GreaterThan, LessThan and Mask on integers are supported by this engine yet",
            ));
        };
        let op = match op {
            IntOp::Equal => engine::IntOp::Equal,
            IntOp::NotEqual => engine::IntOp::NotEqual,
            IntOp::GreaterThan => engine::IntOp::GreaterThan,
            IntOp::LessThan => engine::IntOp::LessThan,
            IntOp::Mask => engine::IntOp::Mask,
        };
        matches.push(engine::ArgMatch { index: args[m.arg].0, op, values: values.iter().map(value).collect() });
    }
    let (actions, signal) = actions(path, &s.actions, mode)?;
    Ok((engine::Selector { args: matches, binaries: binaries(path, s)?, actions }, signal))
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

    fn error(hook: &str) -> String {
        compile(&policy(hook), 1).unwrap_err().to_string()
    }

    #[test]
    fn a_syscall_hook_compiles_to_the_engine() {
        let p = policy(
            "  - call: sys_setuid\n    syscall: true\n    args:\n    - index: 0\n      type: uint32\n    selectors:\n    \
             - matchArgs:\n      - index: 0\n        operator: NotEqual\n        values: [\"0\", \"1000\"]\n      \
             matchActions:\n      - action: Signal\n        argSig: 19\n",
        );
        let hooks = compile(&p, 4).unwrap();
        assert_eq!(hooks.len(), 1);
        let h = &hooks[0];
        assert_eq!((h.function.as_str(), h.attachment.as_str()), ("__x64_sys_setuid", "tp_btf sys_enter, syscall 105"));
        let EngineHook::Syscall(hook) = &h.hook else { panic!("a syscall hook") };
        assert_eq!(hook.policy_id, 4);
        let sel = &hook.selectors[0];
        assert_eq!(sel.args, [engine::ArgMatch { index: 0, op: engine::IntOp::NotEqual, values: vec![0, 1000] }]);
        assert_eq!(sel.actions, engine::Actions { post: true, signal: Some(19) });
        assert_eq!(h.signals, [Some(19)]);
    }

    #[test]
    fn what_cannot_run_here_is_refused_by_path() {
        assert_eq!(
            error("  - call: tcp_sendmsg\n    syscall: false\n"),
            "spec.kprobes[0].call: \"tcp_sendmsg\" is a kernel function: this kernel attaches neither kprobes nor \
             fentry, and this engine has no equivalent hook for it yet (syscall hooks run: `syscall: true`)"
        );
        assert_eq!(
            error("  - call: sys_openat\n    syscall: true\n    args:\n    - index: 1\n      type: string\n"),
            "spec.kprobes[0].args[0].type: only integer arguments are captured and compared by this engine yet"
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
    }
}
