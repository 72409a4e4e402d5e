//! From the document as written (`spec.rs`) to a [`Policy`]: the object's
//! kind and name, options, workload selectors, each hook and its arguments.
//! Selectors and actions are in `selectors.rs`. The first problem found is
//! returned; nothing is kept of a policy that has one.

use crate::error::{Path, PolicyError};
use crate::limits::{MAX_ARG_INDEX, MAX_ARGS, MAX_MESSAGE_CHARS, MAX_SELECTORS, MAX_TAGS};
use crate::names;
use crate::policy::{
    Arg, ArgType, AttachOptions, Buffer, CapabilitySet, Function, Hook, HookKind, HookPoint, IntType, LabelExpression,
    LabelOperator, LabelSelector, Mode, Policy, ReturnArg, Scope, Tracepoint, Uprobe, UprobeTarget, Workloads,
};
use crate::selectors::{self, HookContext};
use crate::spec;
use crate::values;

pub(crate) const API_VERSION: &str = "cilium.io/v1alpha1";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TracingPolicy,
    TracingPolicyNamespaced,
}

pub(crate) fn header(header: &spec::Header) -> Result<Kind, PolicyError> {
    let root = Path::root();
    match header.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(root
                .field("apiVersion")
                .error(format!("{other:?} is not supported (expected {API_VERSION:?})")));
        }
        None => return Err(root.field("apiVersion").error(format!("missing (expected {API_VERSION:?})"))),
    }
    let expected = "expected TracingPolicy or TracingPolicyNamespaced";
    match header.kind.as_deref() {
        Some("TracingPolicy") => Ok(Kind::TracingPolicy),
        Some("TracingPolicyNamespaced") => Ok(Kind::TracingPolicyNamespaced),
        Some(other) => Err(root.field("kind").error(format!("{other:?} is not a policy kind ({expected})"))),
        None => Err(root.field("kind").error(format!("missing ({expected})"))),
    }
}

pub(crate) fn document(doc: spec::Document, kind: Kind) -> Result<Policy, PolicyError> {
    let root = Path::root();
    let metadata = root.field("metadata");
    values::object_name(&doc.metadata.name).map_err(|reason| metadata.field("name").error(reason))?;
    let scope = match (kind, doc.metadata.namespace) {
        (Kind::TracingPolicy, None) => Scope::Cluster,
        (Kind::TracingPolicy, Some(_)) => {
            return Err(metadata.field("namespace").error(
                "a TracingPolicy applies to the whole cluster; use kind TracingPolicyNamespaced for one namespace",
            ));
        }
        (Kind::TracingPolicyNamespaced, Some(namespace)) => {
            values::namespace_name(&namespace).map_err(|reason| metadata.field("namespace").error(reason))?;
            Scope::Namespace(namespace)
        }
        (Kind::TracingPolicyNamespaced, None) => {
            return Err(metadata.field("namespace").error("missing: a TracingPolicyNamespaced names its namespace"));
        }
    };

    let spec = doc.spec;
    let path = root.field("spec");
    unsupported(
        &path,
        &[
            ("usdts", spec.usdts.is_some(), "USDT probes"),
            ("loader", spec.loader.is_some(), "process_loader events"),
            ("lists", spec.lists.is_some(), "named lists of functions"),
            ("enforcers", spec.enforcers.is_some(), "the syscall enforcer"),
            ("selectorsMacros", spec.selectors_macros.is_some(), "selector macros"),
            ("nodeSelector", spec.node_selector.is_some(), "node selection of Kubernetes-managed policies"),
        ],
    )?;
    let (mode, attach) = options(&path.field("options"), &spec.options)?;
    let workloads = workloads(&path, kind, &spec)?;

    let mut hooks = Vec::new();
    // followChildren sections are bounded per policy, across its hooks.
    let mut follow_children = 0;
    for (section, probes, fentry) in [("kprobes", &spec.kprobes, false), ("fentries", &spec.fentries, true)] {
        for (i, probe) in probes.iter().enumerate() {
            let path = path.field(section).index(i);
            let function = function(&path, probe)?;
            let point = if fentry { HookPoint::Fentry(function) } else { HookPoint::Kprobe(function) };
            let common =
                Common { args: &probe.args, selectors: &probe.selectors, message: &probe.message, tags: &probe.tags };
            let returns = Returns { returns: probe.returns, arg: probe.return_arg.as_ref() };
            hooks.push(hook(&path, point, returns, common, &mut follow_children)?);
        }
    }
    for (i, tracepoint) in spec.tracepoints.iter().enumerate() {
        let path = path.field("tracepoints").index(i);
        let point = tracepoint_point(&path, tracepoint)?;
        let common = Common {
            args: &tracepoint.args,
            selectors: &tracepoint.selectors,
            message: &tracepoint.message,
            tags: &tracepoint.tags,
        };
        hooks.push(hook(&path, point, Returns::NONE, common, &mut follow_children)?);
    }
    for (i, uprobe) in spec.uprobes.iter().enumerate() {
        let path = path.field("uprobes").index(i);
        let point = HookPoint::Uprobe(uprobe_point(&path, uprobe)?);
        let common =
            Common { args: &uprobe.args, selectors: &uprobe.selectors, message: &uprobe.message, tags: &uprobe.tags };
        let returns = Returns { returns: uprobe.returns, arg: uprobe.return_arg.as_ref() };
        hooks.push(hook(&path, point, returns, common, &mut follow_children)?);
    }
    for (i, lsm) in spec.lsmhooks.iter().enumerate() {
        let path = path.field("lsmhooks").index(i);
        let point = HookPoint::Lsm(lsm_hook_name(&path, &lsm.hook)?);
        let common = Common { args: &lsm.args, selectors: &lsm.selectors, message: &lsm.message, tags: &lsm.tags };
        hooks.push(hook(&path, point, Returns::NONE, common, &mut follow_children)?);
    }
    if hooks.is_empty() {
        return Err(path.error("nothing to hook: no kprobes, fentries, tracepoints, uprobes or lsmhooks"));
    }

    Ok(Policy {
        name: doc.metadata.name,
        scope,
        labels: doc.metadata.labels,
        annotations: doc.metadata.annotations,
        mode,
        attach,
        workloads,
        hooks,
    })
}

/// Refuses fields Tetragon has and Scry does not implement, by name.
pub(crate) fn unsupported(path: &Path, fields: &[(&str, bool, &str)]) -> Result<(), PolicyError> {
    match fields.iter().find(|(_, present, _)| *present) {
        Some((name, _, what)) => Err(path.field(name).error(format!("not supported by Scry ({what})"))),
        None => Ok(()),
    }
}

fn options(path: &Path, options: &[spec::PolicyOption]) -> Result<(Mode, AttachOptions), PolicyError> {
    const KNOWN: &str = "policy-mode, disable-kprobe-multi, disable-uprobe-multi";
    let mut mode = Mode::Enforce;
    let mut attach = AttachOptions { kprobe_multi: true, uprobe_multi: true };
    for (i, option) in options.iter().enumerate() {
        let path = path.index(i);
        if let Some(first) = options[..i].iter().position(|earlier| earlier.name == option.name) {
            return Err(path.field("name").error(format!("{:?} is already set by options[{first}]", option.name)));
        }
        let value = &option.value;
        let bad_value = |expected: &str| path.field("value").error(format!("{value:?} is not {expected}"));
        let disable = || match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad_value("true or false")),
        };
        match option.name.as_str() {
            "policy-mode" => {
                mode = match value.as_str() {
                    "enforce" => Mode::Enforce,
                    "monitor" => Mode::Monitor,
                    _ => return Err(bad_value("enforce or monitor")),
                }
            }
            "disable-kprobe-multi" => attach.kprobe_multi = !disable()?,
            "disable-uprobe-multi" => attach.uprobe_multi = !disable()?,
            other => return Err(path.field("name").error(format!("unknown option {other:?} (known: {KNOWN})"))),
        }
    }
    Ok((mode, attach))
}

fn workloads(path: &Path, kind: Kind, spec: &spec::Spec) -> Result<Workloads, PolicyError> {
    let pods = spec.pod_selector.as_ref().map(|s| label_selector(&path.field("podSelector"), s, None)).transpose()?;
    let containers = spec
        .container_selector
        .as_ref()
        .map(|s| label_selector(&path.field("containerSelector"), s, Some(&["name", "repo"])))
        .transpose()?;
    let host = spec.host_selector.is_some();
    if host && kind == Kind::TracingPolicyNamespaced {
        return Err(path
            .field("hostSelector")
            .error("not allowed in a TracingPolicyNamespaced (it applies to the pods of its namespace only)"));
    }
    Ok(Workloads { pods, containers, host })
}

/// `keys`: the only keys the selector may name (a container has `name` and
/// `repo`; pods have any labels).
fn label_selector(path: &Path, raw: &spec::LabelSelector, keys: Option<&[&str]>) -> Result<LabelSelector, PolicyError> {
    let check_key = |path: &Path, key: &str| match keys {
        _ if key.is_empty() => Err(path.error("empty label key")),
        Some(keys) if !keys.contains(&key) => {
            Err(path.error(format!("{key:?} is not a container field (known: {})", keys.join(", "))))
        }
        _ => Ok(()),
    };
    for key in raw.match_labels.keys() {
        check_key(&path.field("matchLabels").field(key), key)?;
    }
    let mut match_expressions = Vec::new();
    for (i, expression) in raw.match_expressions.iter().enumerate() {
        let path = path.field("matchExpressions").index(i);
        check_key(&path.field("key"), &expression.key)?;
        let values = &expression.values;
        let operator = match expression.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(path.field("values").error(format!("{} needs at least one value", expression.operator)));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(path.field("values").error(format!("{} takes no values", expression.operator)));
            }
            "In" => LabelOperator::In(values.clone()),
            "NotIn" => LabelOperator::NotIn(values.clone()),
            "Exists" => LabelOperator::Exists,
            "DoesNotExist" => LabelOperator::DoesNotExist,
            other => {
                return Err(path
                    .field("operator")
                    .error(format!("unknown operator {other:?} (known: In, NotIn, Exists, DoesNotExist)")));
            }
        };
        match_expressions.push(LabelExpression { key: expression.key.clone(), operator });
    }
    Ok(LabelSelector { match_labels: raw.match_labels.clone(), match_expressions })
}

/// The parts every hook section has.
struct Common<'a> {
    args: &'a [spec::Arg],
    selectors: &'a [spec::Selector],
    message: &'a Option<String>,
    tags: &'a [String],
}

/// `return` and `returnArg`, which only kprobes, fentries and uprobes have.
struct Returns<'a> {
    returns: bool,
    arg: Option<&'a spec::Arg>,
}

impl Returns<'_> {
    const NONE: Returns<'static> = Returns { returns: false, arg: None };
}

fn hook(
    path: &Path,
    point: HookPoint,
    returns: Returns,
    common: Common,
    follow_children: &mut usize,
) -> Result<Hook, PolicyError> {
    let kind = point.kind();
    let args = args(path, kind, common.args)?;
    let return_arg = return_arg(path, kind, returns)?;
    if common.selectors.len() > MAX_SELECTORS {
        return Err(path
            .field("selectors")
            .error(format!("{} selectors, at most {MAX_SELECTORS} per hook", common.selectors.len())));
    }
    let context = HookContext { kind, args: &args, return_type: return_arg.as_ref().map(|r| r.ty) };
    let selectors = common
        .selectors
        .iter()
        .enumerate()
        .map(|(i, selector)| {
            selectors::selector(&path.field("selectors").index(i), selector, &context, follow_children)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(message) = common.message {
        let chars = message.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(path.field("message").error(format!("{chars} characters, at most {MAX_MESSAGE_CHARS}")));
        }
    }
    if common.tags.len() > MAX_TAGS {
        return Err(path.field("tags").error(format!("{} tags, at most {MAX_TAGS} per hook", common.tags.len())));
    }
    if let Some(i) = common.tags.iter().position(|tag| tag.is_empty()) {
        return Err(path.field("tags").index(i).error("empty tag"));
    }
    Ok(Hook {
        path: path.as_str().to_owned(),
        point,
        args,
        return_arg,
        selectors,
        message: common.message.clone(),
        tags: common.tags.to_vec(),
    })
}

/// Kernel symbols: letters, digits, `_` and `.` (`foo.isra.0`).
fn symbol_like(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn function(path: &Path, probe: &spec::KProbe) -> Result<Function, PolicyError> {
    unsupported(
        path,
        &[
            ("returnArgAction", probe.return_arg_action.is_some(), "TrackSock/UntrackSock on the return value"),
            ("data", probe.data.is_some(), "extra values read from current_task or pt_regs"),
        ],
    )?;
    let call = &probe.call;
    if call.starts_with("list:") {
        return Err(path.field("call").error("not supported by Scry (lists of functions; spec.lists)"));
    }
    if !symbol_like(call) {
        return Err(path.field("call").error(format!("{call:?} is not a kernel function name")));
    }
    let Some(syscall) = probe.syscall else {
        return Err(path.field("syscall").error(
            "missing: say whether the call is a syscall (true: arguments are the syscall's); \
             Tetragon's CRD defaults it to true and its docs to false",
        ));
    };
    Ok(Function {
        call: call.clone(),
        syscall,
        ignore_call_not_found: probe.ignore.as_ref().is_some_and(|ignore| ignore.call_not_found),
    })
}

fn tracepoint_point(path: &Path, tracepoint: &spec::Tracepoint) -> Result<HookPoint, PolicyError> {
    for (field, value) in [("subsystem", &tracepoint.subsystem), ("event", &tracepoint.event)] {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(path.field(field).error(format!("{value:?} is not a tracepoint {field} name")));
        }
    }
    let point = Tracepoint { subsystem: tracepoint.subsystem.clone(), event: tracepoint.event.clone() };
    Ok(if tracepoint.raw { HookPoint::RawTracepoint(point) } else { HookPoint::Tracepoint(point) })
}

fn uprobe_point(path: &Path, uprobe: &spec::UProbe) -> Result<Uprobe, PolicyError> {
    unsupported(
        path,
        &[
            ("btfPath", uprobe.btf_path.is_some(), "BTF for the binary"),
            ("addrs", uprobe.addrs.is_some(), "attaching by address"),
            ("refCtrOffsets", uprobe.ref_ctr_offsets.is_some(), "reference counter offsets"),
            ("data", uprobe.data.is_some(), "extra values read from current_task or pt_regs"),
            ("binaryDigests", uprobe.binary_digests.is_some(), "binary digest checks"),
            ("ignore", uprobe.ignore.is_some(), "digest verification overrides"),
        ],
    )?;
    if !uprobe.path.starts_with('/') {
        return Err(path.field("path").error(format!("{:?} is not an absolute path", uprobe.path)));
    }
    let target = match (uprobe.symbols.is_empty(), uprobe.offsets.is_empty()) {
        (true, true) => return Err(path.error("nothing to hook: give symbols or offsets")),
        (false, false) => return Err(path.error("give symbols or offsets, not both")),
        (false, true) => {
            if let Some(i) = uprobe.symbols.iter().position(|s| s.is_empty() || s.contains(char::is_whitespace)) {
                return Err(path.field("symbols").index(i).error(format!("{:?} is not a symbol", uprobe.symbols[i])));
            }
            UprobeTarget::Symbols(uprobe.symbols.clone())
        }
        (true, false) => UprobeTarget::Offsets(uprobe.offsets.clone()),
    };
    Ok(Uprobe { path: uprobe.path.clone(), target })
}

fn lsm_hook_name(path: &Path, hook: &str) -> Result<String, PolicyError> {
    let path = path.field("hook");
    if let Some(short) = hook.strip_prefix("security_") {
        return Err(path.error(format!("LSM hooks are named without \"security_\": {short:?}")));
    }
    if hook.is_empty() || !hook.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(path.error(format!("{hook:?} is not an LSM hook name (file_open, bprm_check_security, …)")));
    }
    Ok(hook.to_owned())
}

fn args(path: &Path, kind: HookKind, raw: &[spec::Arg]) -> Result<Vec<Arg>, PolicyError> {
    if raw.len() > MAX_ARGS {
        return Err(path.field("args").error(format!("{} args, at most {MAX_ARGS} per hook", raw.len())));
    }
    let mut args: Vec<Arg> = Vec::with_capacity(raw.len());
    for (i, arg) in raw.iter().enumerate() {
        let path = path.field("args").index(i);
        let Some(index) = arg.index else {
            return Err(path.field("index").error("missing: the argument's position (0-based)"));
        };
        let registers = !matches!(kind, HookKind::Tracepoint | HookKind::RawTracepoint);
        if registers && index > MAX_ARG_INDEX {
            return Err(path.field("index").error(format!(
                "{index} is out of range: a probe reads the first {} arguments (0-{MAX_ARG_INDEX})",
                MAX_ARG_INDEX + 1
            )));
        }
        if let Some(first) = args.iter().position(|earlier| earlier.index == index) {
            return Err(path.field("index").error(format!("argument {index} is already captured by args[{first}]")));
        }
        let ty = arg_type(&path, kind, arg, Some(index))?;
        args.push(Arg { index, ty, label: arg.label.clone() });
    }
    Ok(args)
}

fn return_arg(path: &Path, kind: HookKind, returns: Returns) -> Result<Option<ReturnArg>, PolicyError> {
    let path = path.field("returnArg");
    match (returns.returns, returns.arg) {
        (false, None) => Ok(None),
        (true, None) => Err(path.error("missing: `return: true` needs the type of the return value")),
        (false, Some(_)) => Err(path.error("needs `return: true`")),
        (true, Some(arg)) => {
            if arg.index.is_some_and(|index| index != 0) {
                return Err(path.field("index").error("the return value has no position: leave index out (or 0)"));
            }
            Ok(Some(ReturnArg { ty: arg_type(&path, kind, arg, None)?, label: arg.label.clone() }))
        }
    }
}

/// Type names as the CRD spells them, aliases included.
#[derive(Clone, Copy)]
enum TypeName {
    Plain(ArgType),
    CharBuf,
    CharIovec,
}

const TYPES: &[(&str, TypeName)] = {
    use ArgType as T;
    use TypeName::Plain as P;
    &[
        ("int8", P(T::Int(IntType::S8))),
        ("sint8", P(T::Int(IntType::S8))),
        ("uint8", P(T::Int(IntType::U8))),
        ("int16", P(T::Int(IntType::S16))),
        ("sint16", P(T::Int(IntType::S16))),
        ("uint16", P(T::Int(IntType::U16))),
        ("int", P(T::Int(IntType::S32))),
        ("int32", P(T::Int(IntType::S32))),
        ("sint32", P(T::Int(IntType::S32))),
        ("uint32", P(T::Int(IntType::U32))),
        ("long", P(T::Int(IntType::S64))),
        ("int64", P(T::Int(IntType::S64))),
        ("sint64", P(T::Int(IntType::S64))),
        ("ulong", P(T::Int(IntType::U64))),
        ("uint64", P(T::Int(IntType::U64))),
        ("size_t", P(T::Int(IntType::SizeT))),
        ("syscall64", P(T::Syscall64)),
        ("string", P(T::String)),
        ("char_buf", TypeName::CharBuf),
        ("char_iovec", TypeName::CharIovec),
        ("filename", P(T::Filename)),
        ("data_loc", P(T::DataLoc)),
        ("fd", P(T::Fd)),
        ("file", P(T::File)),
        ("path", P(T::Path)),
        ("dentry", P(T::Dentry)),
        ("linux_binprm", P(T::LinuxBinprm)),
        ("sock", P(T::Sock)),
        ("socket", P(T::Socket)),
        ("skb", P(T::Skb)),
        ("sockaddr", P(T::Sockaddr)),
        ("cred", P(T::Cred)),
        ("kernel_cap_t", P(T::KernelCap)),
        ("cap_inheritable", P(T::CapSet(CapabilitySet::Inheritable))),
        ("cap_permitted", P(T::CapSet(CapabilitySet::Permitted))),
        ("cap_effective", P(T::CapSet(CapabilitySet::Effective))),
        ("capability", P(T::Capability)),
    ]
};

/// Types Tetragon has and Scry does not capture.
const UPSTREAM_TYPES: &[&str] = &[
    "auto",
    "nop",
    "const_buf",
    "kiocb",
    "iov_iter",
    "sockaddr_un",
    "net_device",
    "bpf_attr",
    "bpf_prog",
    "bpf_map",
    "bpf_cmd",
    "perf_event",
    "user_namespace",
    "module",
    "load_info",
];

/// Spellings from other tools, with the CRD's name for them.
const TYPE_HINTS: &[(&str, &str)] = &[
    ("s8", "int8"),
    ("u8", "uint8"),
    ("s16", "int16"),
    ("u16", "uint16"),
    ("s32", "int32"),
    ("u32", "uint32"),
    ("uint", "uint32"),
    ("s64", "int64"),
    ("u64", "uint64"),
];

/// `own_index`: the argument's position, None for the return value.
fn arg_type(path: &Path, kind: HookKind, arg: &spec::Arg, own_index: Option<u32>) -> Result<ArgType, PolicyError> {
    unsupported(
        path,
        &[
            ("resolve", arg.resolve.is_some(), "BTF paths into the argument"),
            ("btfType", arg.btf_type.is_some(), "BTF type overrides"),
            ("btfTypeModule", arg.btf_type_module.is_some(), "BTF type overrides"),
            ("source", arg.source.is_some(), "data sources"),
        ],
    )?;
    let type_path = path.field("type");
    let Some(name) = arg.ty.as_deref() else {
        return Err(
            type_path.error("missing: Scry needs the type written out (Tetragon's default, auto, reads it from BTF)")
        );
    };
    let Some(type_name) = names::exact(TYPES, name) else {
        return Err(type_path.error(if UPSTREAM_TYPES.contains(&name) {
            format!("type {name:?} is not supported by Scry")
        } else if let Some((_, crd)) = TYPE_HINTS.iter().find(|(hint, _)| *hint == name) {
            format!("unknown type {name:?} (the CRD calls it {crd:?})")
        } else {
            format!("unknown type {name:?} (supported: {})", names::list(TYPES))
        }));
    };
    let buffer = |char_buf: bool| -> Result<Buffer, PolicyError> {
        if own_index.is_none() {
            return Err(type_path.error(format!("a return value cannot be {name} (nothing gives its size)")));
        }
        let size_arg = match arg.size_arg_index {
            None => None,
            Some(0) => {
                return Err(path
                    .field("sizeArgIndex")
                    .error("is 1-based: the length is in argument sizeArgIndex - 1 (0 means none: leave it out)"));
            }
            Some(n) if own_index == Some(n - 1) => {
                return Err(path.field("sizeArgIndex").error(format!("{n} points at this argument itself")));
            }
            Some(n) if kind != HookKind::Tracepoint && kind != HookKind::RawTracepoint && n > MAX_ARG_INDEX + 1 => {
                return Err(path.field("sizeArgIndex").error(format!(
                    "{n} is out of range: a probe reads the first {} arguments (1-{})",
                    MAX_ARG_INDEX + 1,
                    MAX_ARG_INDEX + 1
                )));
            }
            Some(n) => Some(n - 1),
        };
        if arg.return_copy && !matches!(kind, HookKind::Kprobe | HookKind::Fentry) {
            return Err(path.field("returnCopy").error("needs a return probe: kprobes and fentries only"));
        }
        if char_buf {
            match (size_arg, arg.return_copy) {
                (None, false) => {
                    return Err(path.error("a char_buf needs sizeArgIndex or returnCopy to know its length"));
                }
                (Some(_), true) => {
                    return Err(path.error(
                        "sizeArgIndex and returnCopy together: with returnCopy the length is the return value",
                    ));
                }
                _ => {}
            }
            if arg.max_data && arg.return_copy {
                return Err(path.field("maxData").error("not with returnCopy"));
            }
        } else {
            if size_arg.is_none() {
                return Err(path.error("a char_iovec needs sizeArgIndex (the argument holding the iovec count)"));
            }
            if arg.max_data {
                return Err(path.field("maxData").error("only for char_buf"));
            }
        }
        Ok(Buffer { size_arg, return_copy: arg.return_copy, max_data: arg.max_data })
    };
    match type_name {
        TypeName::CharBuf => Ok(ArgType::CharBuf(buffer(true)?)),
        TypeName::CharIovec => Ok(ArgType::CharIovec(buffer(false)?)),
        TypeName::Plain(ty) => {
            let misplaced = [
                ("sizeArgIndex", arg.size_arg_index.is_some(), "char_buf and char_iovec"),
                ("returnCopy", arg.return_copy, "char_buf and char_iovec"),
                ("maxData", arg.max_data, "char_buf"),
            ];
            match misplaced.iter().find(|(_, set, _)| *set) {
                Some((field, _, types)) => Err(path.field(field).error(format!("only for {types}, not {name}"))),
                None => Ok(ty),
            }
        }
    }
}
