//! Selectors: their filters (operators checked against the argument's type,
//! values parsed, limits kept) and their actions.

use crate::error::{Path, PolicyError};
use crate::limits::{
    MAX_ACTIONS, MAX_BINARY_FILTERS, MAX_BINARY_PATH, MAX_FOLLOW_CHILDREN, MAX_INT_VALUES, MAX_MATCH_ARGS,
    MAX_NAMESPACE_FILTERS, MAX_NAMESPACE_VALUES, MAX_PID_VALUES, MAX_POSTFIX_LEN, MAX_PREFIX_LEN, MAX_STRING_LEN,
};
use crate::names;
use crate::policy::{
    Action, Arg, ArgFilter, ArgType, BinaryFilter, BinaryOp, CapabilityFilter, CapabilitySet, HookKind, IntOp,
    IntRange, IntType, IntValue, MatchArg, NamespaceFilter, NamespaceValue, PidFilter, Post, RateLimit, RateLimitScope,
    Selector, SetOp, Side, StrOp,
};
use crate::spec;
use crate::validate::unsupported;
use crate::values;

/// What a selector's filters and actions are checked against.
pub(crate) struct HookContext<'a> {
    pub kind: HookKind,
    pub args: &'a [Arg],
    /// The return value's type, when the hook probes the return.
    pub return_type: Option<ArgType>,
}

pub(crate) fn selector(
    path: &Path,
    raw: &spec::Selector,
    hook: &HookContext,
    follow_children: &mut usize,
) -> Result<Selector, PolicyError> {
    unsupported(
        path,
        &[
            ("matchData", raw.match_data.is_some(), "filters on data[]"),
            ("matchParentBinaries", raw.match_parent_binaries.is_some(), "filters on the parent's binary"),
            ("matchNamespaceChanges", raw.match_namespace_changes.is_some(), "filters on namespace changes"),
            ("matchCapabilityChanges", raw.match_capability_changes.is_some(), "filters on capability changes"),
            ("matchWorkloads", raw.match_workloads.is_some(), "per-selector workload scopes"),
            ("matchReturnActions", raw.match_return_actions.is_some(), "actions on return"),
            ("macros", raw.macros.is_some(), "selector macros"),
        ],
    )?;

    let match_args = path.field("matchArgs");
    if raw.match_args.len() > MAX_MATCH_ARGS {
        return Err(
            match_args.error(format!("{} entries, at most {MAX_MATCH_ARGS} per selector", raw.match_args.len()))
        );
    }
    let mut args = Vec::with_capacity(raw.match_args.len());
    for (i, entry) in raw.match_args.iter().enumerate() {
        let path = match_args.index(i);
        let arg = target(&path, entry, hook.args)?;
        let filter = arg_filter(&path, entry, hook.args[arg].ty)?;
        args.push(MatchArg { arg, filter });
    }

    let match_return_args = path.field("matchReturnArgs");
    let mut return_args = Vec::with_capacity(raw.match_return_args.len());
    for (i, entry) in raw.match_return_args.iter().enumerate() {
        let path = match_return_args.index(i);
        let Some(ty) = hook.return_type else {
            return Err(
                match_return_args.error("this hook does not probe the return (needs `return: true` and returnArg)")
            );
        };
        if entry.index.is_some_and(|index| index != 0) {
            return Err(path.field("index").error("the return value has no position: leave index out (or 0)"));
        }
        if entry.args.is_some() {
            return Err(path.field("args").error("the return value has no position: leave args out"));
        }
        return_args.push(arg_filter(&path, entry, ty)?);
    }

    let match_binaries = path.field("matchBinaries");
    if raw.match_binaries.len() > MAX_BINARY_FILTERS {
        return Err(match_binaries
            .error(format!("{} entries, at most {MAX_BINARY_FILTERS} per selector", raw.match_binaries.len())));
    }
    let binaries = match raw.match_binaries.first() {
        Some(entry) => Some(binary_filter(&match_binaries.index(0), entry, follow_children)?),
        None => None,
    };

    let pids = raw
        .match_pids
        .iter()
        .enumerate()
        .map(|(i, entry)| pid_filter(&path.field("matchPIDs").index(i), entry))
        .collect::<Result<Vec<_>, _>>()?;

    let match_namespaces = path.field("matchNamespaces");
    if raw.match_namespaces.len() > MAX_NAMESPACE_FILTERS {
        return Err(match_namespaces
            .error(format!("{} entries, at most {MAX_NAMESPACE_FILTERS} per selector", raw.match_namespaces.len())));
    }
    let namespaces = raw
        .match_namespaces
        .iter()
        .enumerate()
        .map(|(i, entry)| namespace_filter(&match_namespaces.index(i), entry))
        .collect::<Result<Vec<_>, _>>()?;

    let capabilities = raw
        .match_capabilities
        .iter()
        .enumerate()
        .map(|(i, entry)| capability_filter(&path.field("matchCapabilities").index(i), entry))
        .collect::<Result<Vec<_>, _>>()?;

    let actions = actions(&path.field("matchActions"), &raw.match_actions, hook.kind)?;

    Ok(Selector { label: raw.label.clone(), args, return_args, binaries, pids, namespaces, capabilities, actions })
}

/// Which of the hook's args a `matchArgs` entry means: `index` is the
/// function argument's position, `args: [i]` the position in the hook's
/// `args` list. Returns the position in the hook's args.
fn target(path: &Path, entry: &spec::MatchArg, args: &[Arg]) -> Result<usize, PolicyError> {
    match (entry.index, &entry.args) {
        (Some(_), Some(_)) => Err(path.error("set index or args, not both")),
        (None, None) => Err(path.field("index").error(
            "missing: which argument to match (index: its position among the function's arguments, \
             or args: [its position in this hook's args])",
        )),
        (Some(index), None) => {
            if let Some(position) = args.iter().position(|arg| arg.index == index) {
                return Ok(position);
            }
            let captured = args.iter().map(|arg| arg.index.to_string()).collect::<Vec<_>>();
            Err(path.field("index").error(if captured.is_empty() {
                format!("argument {index} is not captured: this hook has no args")
            } else {
                format!("argument {index} is not captured by this hook's args (captured: {})", captured.join(", "))
            }))
        }
        (None, Some(positions)) => {
            let [position] = positions.as_slice() else {
                return Err(path.field("args").error(
                    "give exactly one position (several are for CapabilitiesGained, which Scry does not support)",
                ));
            };
            let position = *position as usize;
            if position >= args.len() {
                return Err(path
                    .field("args")
                    .index(0)
                    .error(format!("position {position} is out of range: this hook has {} args", args.len())));
            }
            Ok(position)
        }
    }
}

/// matchArgs / matchReturnArgs operators. The last group is Tetragon's and
/// refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Prefix,
    NotPrefix,
    Postfix,
    NotPostfix,
    GreaterThan,
    LessThan,
    Mask,
    InRange,
    NotInRange,
    FileType,
    NotFileType,
    SPort,
    NotSPort,
    DPort,
    NotDPort,
    SPortPriv,
    NotSPortPriv,
    DPortPriv,
    NotDPortPriv,
    SAddr,
    NotSAddr,
    DAddr,
    NotDAddr,
    Protocol,
    Family,
    State,
}

/// Canonical spellings; each is also accepted in lowercase (as upstream).
const OPERATORS: &[(&str, Operator)] = {
    use Operator as O;
    &[
        ("Equal", O::Equal),
        ("NotEqual", O::NotEqual),
        ("Prefix", O::Prefix),
        ("NotPrefix", O::NotPrefix),
        ("Postfix", O::Postfix),
        ("NotPostfix", O::NotPostfix),
        ("GreaterThan", O::GreaterThan),
        ("LessThan", O::LessThan),
        ("Mask", O::Mask),
        ("InRange", O::InRange),
        ("NotInRange", O::NotInRange),
        ("FileType", O::FileType),
        ("NotFileType", O::NotFileType),
        ("SPort", O::SPort),
        ("NotSPort", O::NotSPort),
        ("DPort", O::DPort),
        ("NotDPort", O::NotDPort),
        ("SPortPriv", O::SPortPriv),
        ("NotSPortPriv", O::NotSPortPriv),
        ("DPortPriv", O::DPortPriv),
        ("NotDPortPriv", O::NotDPortPriv),
        ("SAddr", O::SAddr),
        ("NotSAddr", O::NotSAddr),
        ("DAddr", O::DAddr),
        ("NotDAddr", O::NotDAddr),
        ("Protocol", O::Protocol),
        ("Family", O::Family),
        ("State", O::State),
    ]
};

/// Other spellings upstream accepts: `GT`/`LT` and `NotSportPriv` (the
/// CRD's enum spells it so).
const OPERATOR_ALIASES: &[(&str, Operator)] =
    &[("GT", Operator::GreaterThan), ("LT", Operator::LessThan), ("NotSportPriv", Operator::NotSPortPriv)];

/// Tetragon's operators that Scry does not implement (refused by name).
const UPSTREAM_OPERATORS: &[(&str, ())] = &[
    ("InMap", ()),
    ("NotInMap", ()),
    ("SubString", ()),
    ("SubStringIgnCase", ()),
    ("SubStringIgnoreCase", ()),
    ("CelExpr", ()),
    ("CapabilitiesGained", ()),
];

impl Operator {
    fn name(self) -> &'static str {
        OPERATORS.iter().find(|(_, op)| *op == self).map_or("?", |(name, _)| name)
    }
}

const INT_OPERATORS: &[Operator] = {
    use Operator as O;
    &[O::Equal, O::NotEqual, O::GreaterThan, O::LessThan, O::Mask, O::InRange, O::NotInRange]
};
const STRING_OPERATORS: &[Operator] = {
    use Operator as O;
    &[O::Equal, O::NotEqual, O::Prefix, O::NotPrefix, O::Postfix, O::NotPostfix]
};
const FILE_OPERATORS: &[Operator] = {
    use Operator as O;
    &[O::Equal, O::NotEqual, O::Prefix, O::NotPrefix, O::Postfix, O::NotPostfix, O::FileType, O::NotFileType]
};
const SOCK_OPERATORS: &[Operator] = {
    use Operator as O;
    &[
        O::SAddr,
        O::NotSAddr,
        O::DAddr,
        O::NotDAddr,
        O::SPort,
        O::NotSPort,
        O::DPort,
        O::NotDPort,
        O::SPortPriv,
        O::NotSPortPriv,
        O::DPortPriv,
        O::NotDPortPriv,
        O::Protocol,
        O::Family,
        O::State,
    ]
};
const SKB_OPERATORS: &[Operator] = {
    use Operator as O;
    &[O::SAddr, O::NotSAddr, O::DAddr, O::NotDAddr, O::SPort, O::NotSPort, O::DPort, O::NotDPort, O::Protocol]
};
const SOCKADDR_OPERATORS: &[Operator] = {
    use Operator as O;
    &[O::SAddr, O::NotSAddr, O::SPort, O::NotSPort, O::Family]
};
const CAPABILITY_OPERATORS: &[Operator] = &[Operator::Equal, Operator::Mask];

/// The operators an argument type takes (reference §4).
fn operators_for(ty: ArgType) -> &'static [Operator] {
    match ty {
        ArgType::Int(_) | ArgType::Syscall64 => INT_OPERATORS,
        ArgType::String
        | ArgType::CharBuf(_)
        | ArgType::CharIovec(_)
        | ArgType::Filename
        | ArgType::DataLoc
        | ArgType::Fd
        | ArgType::Dentry
        | ArgType::LinuxBinprm => STRING_OPERATORS,
        ArgType::File | ArgType::Path => FILE_OPERATORS,
        ArgType::Sock | ArgType::Socket => SOCK_OPERATORS,
        ArgType::Skb => SKB_OPERATORS,
        ArgType::Sockaddr => SOCKADDR_OPERATORS,
        ArgType::Cred | ArgType::KernelCap | ArgType::CapSet(_) | ArgType::Capability => CAPABILITY_OPERATORS,
    }
}

fn operator(path: &Path, text: &str) -> Result<Operator, PolicyError> {
    if let Some(op) = names::spelled(OPERATORS, text).or_else(|| names::spelled(OPERATOR_ALIASES, text)) {
        Ok(op)
    } else if names::spelled(UPSTREAM_OPERATORS, text).is_some() {
        Err(path.error(format!("operator {text:?} is not supported by Scry")))
    } else {
        Err(path.error(format!("unknown operator {text:?} (supported: {})", names::list(OPERATORS))))
    }
}

/// An integer value as the argument's type reads it.
fn int_value(text: &str, ty: ArgType) -> Result<IntValue, String> {
    match ty {
        ArgType::Int(int) => values::int_value(text, int),
        ArgType::Capability => values::capability_number(text),
        // Syscall numbers, capability sets (bit masks), credentials.
        _ => values::int_value(text, IntType::U64),
    }
}

fn signed(value: IntValue) -> i128 {
    match value {
        IntValue::Signed(v) => i128::from(v),
        IntValue::Unsigned(v) => i128::from(v),
    }
}

fn arg_filter(path: &Path, entry: &spec::MatchArg, ty: ArgType) -> Result<ArgFilter, PolicyError> {
    use Operator as O;
    let op = operator(&path.field("operator"), &entry.operator)?;
    let allowed = operators_for(ty);
    if !allowed.contains(&op) {
        let names = allowed.iter().map(|op| op.name()).collect::<Vec<_>>().join(", ");
        return Err(path.field("operator").error(format!(
            "{} does not apply to a {} argument (it takes {names})",
            op.name(),
            ty.name()
        )));
    }

    let values_path = path.field("values");
    let values = &entry.values;
    if matches!(op, O::SPortPriv | O::NotSPortPriv | O::DPortPriv | O::NotDPortPriv) {
        if !values.is_empty() {
            return Err(values_path.error(format!("{} takes no values", op.name())));
        }
    } else if values.is_empty() {
        return Err(values_path.error(format!("{} needs at least one value", op.name())));
    }
    let is_int = allowed == INT_OPERATORS || allowed == CAPABILITY_OPERATORS;
    if is_int && values.len() > MAX_INT_VALUES {
        return Err(values_path.error(format!(
            "{} values, at most {MAX_INT_VALUES} for an integer operator (the BPF filter holds no more)",
            values.len()
        )));
    }
    let side = |op| {
        if matches!(op, O::SPort | O::NotSPort | O::SAddr | O::NotSAddr) { Side::Source } else { Side::Destination }
    };
    Ok(match op {
        O::Equal if !is_int => string_filter(&values_path, values, StrOp::Equal)?,
        O::NotEqual if !is_int => string_filter(&values_path, values, StrOp::NotEqual)?,
        O::Prefix => string_filter(&values_path, values, StrOp::Prefix)?,
        O::NotPrefix => string_filter(&values_path, values, StrOp::NotPrefix)?,
        O::Postfix => string_filter(&values_path, values, StrOp::Postfix)?,
        O::NotPostfix => string_filter(&values_path, values, StrOp::NotPostfix)?,
        O::Equal | O::NotEqual | O::GreaterThan | O::LessThan | O::Mask => {
            let op = match op {
                O::Equal => IntOp::Equal,
                O::NotEqual => IntOp::NotEqual,
                O::GreaterThan => IntOp::GreaterThan,
                O::LessThan => IntOp::LessThan,
                _ => IntOp::Mask,
            };
            ArgFilter::Int { op, values: each(&values_path, values, |v: &str| int_value(v, ty))? }
        }
        O::InRange | O::NotInRange => ArgFilter::IntRange {
            negated: op == O::NotInRange,
            ranges: each(&values_path, values, |v: &str| {
                let (low, high) = v.split_once(':').ok_or_else(|| format!("{v:?} is not a range low:high"))?;
                let (low, high) = (int_value(low, ty)?, int_value(high, ty)?);
                if signed(low) > signed(high) {
                    return Err(format!("{v:?}: range starts above its end"));
                }
                Ok(IntRange { low, high })
            })?,
        },
        O::FileType | O::NotFileType => ArgFilter::FileType {
            negated: op == O::NotFileType,
            types: each(&values_path, values, |v: &str| {
                names::exact(names::FILE_TYPES, v)
                    .ok_or_else(|| format!("{v:?} is not a file type ({})", names::list(names::FILE_TYPES)))
            })?,
        },
        O::SPort | O::NotSPort | O::DPort | O::NotDPort => ArgFilter::Port {
            side: side(op),
            negated: matches!(op, O::NotSPort | O::NotDPort),
            ranges: each(&values_path, values, values::port_range)?,
        },
        O::SPortPriv | O::NotSPortPriv | O::DPortPriv | O::NotDPortPriv => ArgFilter::PrivilegedPort {
            side: if matches!(op, O::SPortPriv | O::NotSPortPriv) { Side::Source } else { Side::Destination },
            negated: matches!(op, O::NotSPortPriv | O::NotDPortPriv),
        },
        O::SAddr | O::NotSAddr | O::DAddr | O::NotDAddr => ArgFilter::Addr {
            side: side(op),
            negated: matches!(op, O::NotSAddr | O::NotDAddr),
            networks: each(&values_path, values, values::network)?,
        },
        O::Protocol => ArgFilter::Protocol(each(&values_path, values, |v: &str| {
            values::named_number(v, names::PROTOCOLS, "protocol")
        })?),
        O::Family => {
            ArgFilter::Family(each(&values_path, values, |v: &str| values::named_number(v, names::FAMILIES, "family"))?)
        }
        O::State => ArgFilter::State(each(&values_path, values, |v: &str| {
            values::named_number(v, names::TCP_STATES, "TCP state")
        })?),
    })
}

fn string_filter(path: &Path, values: &[String], op: StrOp) -> Result<ArgFilter, PolicyError> {
    let max = match op {
        StrOp::Equal | StrOp::NotEqual => MAX_STRING_LEN,
        StrOp::Prefix | StrOp::NotPrefix => MAX_PREFIX_LEN,
        StrOp::Postfix | StrOp::NotPostfix => MAX_POSTFIX_LEN,
    };
    let affix = !matches!(op, StrOp::Equal | StrOp::NotEqual);
    let values = each(path, values, |v: &str| {
        if affix && v.is_empty() {
            Err("empty: it would match everything".to_owned())
        } else if v.len() > max {
            Err(format!("{} bytes, at most {max} for this operator", v.len()))
        } else {
            Ok(v.to_owned())
        }
    })?;
    Ok(ArgFilter::Str { op, values })
}

/// Parses every value with `parse`, naming the first that fails.
fn each<T>(path: &Path, values: &[String], parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, PolicyError> {
    values.iter().enumerate().map(|(i, v)| parse(v).map_err(|reason| path.index(i).error(reason))).collect()
}

const BINARY_OPERATORS: &[(&str, BinaryOp)] = &[
    ("In", BinaryOp::In),
    ("NotIn", BinaryOp::NotIn),
    ("Prefix", BinaryOp::Prefix),
    ("NotPrefix", BinaryOp::NotPrefix),
    ("Postfix", BinaryOp::Postfix),
    ("NotPostfix", BinaryOp::NotPostfix),
];

const SET_OPERATORS: &[(&str, SetOp)] = &[("In", SetOp::In), ("NotIn", SetOp::NotIn)];

fn named<T: Copy>(path: &Path, table: &[(&'static str, T)], text: &str, what: &str) -> Result<T, PolicyError> {
    names::spelled(table, text)
        .ok_or_else(|| path.error(format!("unknown {what} {text:?} (supported: {})", names::list(table))))
}

/// Values must be there, and at most `max` of them.
fn count(path: &Path, values: usize, max: Option<usize>) -> Result<(), PolicyError> {
    match max {
        _ if values == 0 => Err(path.error("needs at least one value")),
        Some(max) if values > max => Err(path.error(format!("{values} values, at most {max}"))),
        _ => Ok(()),
    }
}

fn binary_filter(
    path: &Path,
    entry: &spec::MatchBinaries,
    follow_children: &mut usize,
) -> Result<BinaryFilter, PolicyError> {
    let op = named(&path.field("operator"), BINARY_OPERATORS, &entry.operator, "operator")?;
    // Upstream skips an empty matchBinaries silently, which turns the
    // selector into one that matches every binary.
    count(&path.field("values"), entry.values.len(), None)?;
    let absolute = matches!(op, BinaryOp::In | BinaryOp::NotIn | BinaryOp::Prefix | BinaryOp::NotPrefix);
    for (i, value) in entry.values.iter().enumerate() {
        let path = path.field("values").index(i);
        if value.is_empty() {
            return Err(path.error("empty path"));
        }
        if value.len() > MAX_BINARY_PATH {
            return Err(path.error(format!("{} bytes, at most {MAX_BINARY_PATH}", value.len())));
        }
        if absolute && !value.starts_with('/') {
            return Err(path.error(format!(
                "{value:?} is not an absolute path: binaries are matched by their full path (Postfix matches a name)"
            )));
        }
    }
    if entry.follow_children {
        if !matches!(op, BinaryOp::In | BinaryOp::NotIn) {
            return Err(path.field("followChildren").error("only with In or NotIn"));
        }
        *follow_children += 1;
        if *follow_children > MAX_FOLLOW_CHILDREN {
            return Err(path
                .field("followChildren")
                .error(format!("more than {MAX_FOLLOW_CHILDREN} matchBinaries with followChildren in one policy")));
        }
    }
    Ok(BinaryFilter { op, paths: entry.values.clone(), follow_children: entry.follow_children })
}

fn pid_filter(path: &Path, entry: &spec::MatchPids) -> Result<PidFilter, PolicyError> {
    let op = named(&path.field("operator"), SET_OPERATORS, &entry.operator, "operator")?;
    count(&path.field("values"), entry.values.len(), Some(MAX_PID_VALUES))?;
    Ok(PidFilter {
        op,
        pids: entry.values.clone(),
        namespace_pids: entry.is_namespace_pid,
        follow_forks: entry.follow_forks,
    })
}

fn namespace_filter(path: &Path, entry: &spec::MatchNamespaces) -> Result<NamespaceFilter, PolicyError> {
    let namespace = named(&path.field("namespace"), names::NAMESPACES, &entry.namespace, "namespace")?;
    let op = named(&path.field("operator"), SET_OPERATORS, &entry.operator, "operator")?;
    count(&path.field("values"), entry.values.len(), Some(MAX_NAMESPACE_VALUES))?;
    let values = entry
        .values
        .iter()
        .enumerate()
        .map(|(i, value)| match value.as_str() {
            "host_ns" => Ok(NamespaceValue::Host),
            _ => {
                values::integer(value).and_then(|n| u32::try_from(n).ok()).map(NamespaceValue::Inode).ok_or_else(|| {
                    path.field("values").index(i).error(format!("{value:?} is not a namespace inode number or host_ns"))
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NamespaceFilter { namespace, op, values })
}

const CAPABILITY_SETS: &[(&str, CapabilitySet)] = &[
    ("Effective", CapabilitySet::Effective),
    ("Inheritable", CapabilitySet::Inheritable),
    ("Permitted", CapabilitySet::Permitted),
];

fn capability_filter(path: &Path, entry: &spec::MatchCapabilities) -> Result<CapabilityFilter, PolicyError> {
    let set = match &entry.ty {
        Some(ty) => named(&path.field("type"), CAPABILITY_SETS, ty, "capability set")?,
        None => CapabilitySet::Effective,
    };
    let op = named(&path.field("operator"), SET_OPERATORS, &entry.operator, "operator")?;
    count(&path.field("values"), entry.values.len(), None)?;
    let capabilities = entry
        .values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            values::capability(value)
                .ok_or_else(|| path.field("values").index(i).error(format!("{value:?} is not a capability (CAP_…)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CapabilityFilter { set, op, namespace_capability: entry.is_namespace_capability, capabilities })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ActionName {
    Post,
    NoPost,
    Sigkill,
    Signal,
    Override,
}

const ACTIONS: &[(&str, ActionName)] = &[
    ("Post", ActionName::Post),
    ("NoPost", ActionName::NoPost),
    ("Sigkill", ActionName::Sigkill),
    ("Signal", ActionName::Signal),
    ("Override", ActionName::Override),
];

/// Tetragon's other actions, with why Scry refuses each.
const UPSTREAM_ACTIONS: &[(&str, &str)] = &[
    ("FollowFD", "removed from Tetragon with fd tracking; capture a file argument instead (fd_install's second)"),
    ("UnfollowFD", "removed from Tetragon with fd tracking; capture a file argument instead (fd_install's second)"),
    ("CopyFD", "removed from Tetragon with fd tracking; capture a file argument instead (fd_install's second)"),
    ("GetUrl", "not supported by Scry: the agent makes no network requests on a policy's behalf"),
    ("DnsLookup", "not supported by Scry: the agent makes no network requests on a policy's behalf"),
    ("TrackSock", "not supported by Scry"),
    ("UntrackSock", "not supported by Scry"),
    ("NotifyEnforcer", "not supported by Scry (it needs the syscall enforcer, spec.enforcers)"),
    ("CleanupEnforcerNotification", "not supported by Scry (it needs the syscall enforcer, spec.enforcers)"),
    ("Set", "not supported by Scry (USDT probes only)"),
];

const RATE_LIMIT_SCOPES: &[(&str, RateLimitScope)] =
    &[("thread", RateLimitScope::Thread), ("process", RateLimitScope::Process), ("global", RateLimitScope::Global)];

/// Linux signals are 1 to 64 (`_NSIG`).
const MAX_SIGNAL: u32 = 64;

fn actions(path: &Path, raw: &[spec::Action], kind: HookKind) -> Result<Vec<Action>, PolicyError> {
    if raw.len() > MAX_ACTIONS {
        return Err(path
            .error(format!("{} actions, at most {MAX_ACTIONS} per selector (the BPF side runs no more)", raw.len())));
    }
    let mut actions =
        raw.iter().enumerate().map(|(i, a)| action(&path.index(i), a, kind)).collect::<Result<Vec<_>, _>>()?;
    let posts = actions.iter().any(|a| matches!(a, Action::Post(_)));
    if posts && actions.contains(&Action::NoPost) {
        return Err(path.error("Post and NoPost together: keep one"));
    }
    if actions.is_empty() {
        actions.push(Action::Post(Post::default()));
    }
    Ok(actions)
}

fn action(path: &Path, raw: &spec::Action, kind: HookKind) -> Result<Action, PolicyError> {
    let text = &raw.action;
    let Some(&(canonical, name)) = ACTIONS.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) else {
        return Err(path.field("action").error(
            match UPSTREAM_ACTIONS.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
                Some((name, why)) => format!("{name}: {why}"),
                None => format!("unknown action {text:?} (supported: {})", names::list(ACTIONS)),
            },
        ));
    };

    let parameters = [
        ("argSig", raw.arg_sig.is_some()),
        ("argError", raw.arg_error.is_some()),
        ("rateLimit", raw.rate_limit.is_some()),
        ("rateLimitScope", raw.rate_limit_scope.is_some()),
        ("kernelStackTrace", raw.kernel_stack_trace.is_some()),
        ("userStackTrace", raw.user_stack_trace.is_some()),
        ("imaHash", raw.ima_hash.is_some()),
        ("argRegs", raw.arg_regs.is_some()),
        ("argNewSymbol", raw.arg_new_symbol.is_some()),
        ("argNewAddr", raw.arg_new_addr.is_some()),
        ("argNewOffset", raw.arg_new_offset.is_some()),
        ("argFd", raw.arg_fd.is_some()),
        ("argName", raw.arg_name.is_some()),
        ("argUrl", raw.arg_url.is_some()),
        ("argFqdn", raw.arg_fqdn.is_some()),
        ("argSock", raw.arg_sock.is_some()),
        ("argIndex", raw.arg_index.is_some()),
        ("argValue", raw.arg_value.is_some()),
    ];
    let (takes, upstream_only): (&[&str], &[&str]) = match name {
        ActionName::Post => (&["rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash"], &[]),
        ActionName::Signal => (&["argSig"], &[]),
        ActionName::Override => (&["argError"], &["argRegs", "argNewSymbol", "argNewAddr", "argNewOffset"]),
        ActionName::NoPost | ActionName::Sigkill => (&[], &[]),
    };
    if let Some((parameter, _)) = parameters.iter().find(|(parameter, set)| *set && !takes.contains(parameter)) {
        return Err(path.field(parameter).error(if upstream_only.contains(parameter) {
            "not supported by Scry (uprobe overrides beyond argError)".to_owned()
        } else {
            format!("not a parameter of {canonical}")
        }));
    }

    Ok(match name {
        ActionName::Post => {
            let rate_limit = match (&raw.rate_limit, &raw.rate_limit_scope) {
                (None, None) => None,
                (None, Some(_)) => return Err(path.field("rateLimitScope").error("only with rateLimit")),
                (Some(window), scope) => Some(RateLimit {
                    window: values::rate_limit(window).map_err(|reason| path.field("rateLimit").error(reason))?,
                    scope: match scope {
                        Some(scope) => names::exact(RATE_LIMIT_SCOPES, scope).ok_or_else(|| {
                            path.field("rateLimitScope").error(format!(
                                "unknown scope {scope:?} (supported: {})",
                                names::list(RATE_LIMIT_SCOPES)
                            ))
                        })?,
                        None => RateLimitScope::Thread,
                    },
                }),
            };
            let ima_hash = raw.ima_hash.unwrap_or(false);
            if ima_hash && kind != HookKind::Lsm {
                return Err(path.field("imaHash").error("only on LSM hooks"));
            }
            Action::Post(Post {
                rate_limit,
                kernel_stack_trace: raw.kernel_stack_trace.unwrap_or(false),
                user_stack_trace: raw.user_stack_trace.unwrap_or(false),
                ima_hash,
            })
        }
        ActionName::NoPost => Action::NoPost,
        ActionName::Sigkill => Action::Sigkill,
        ActionName::Signal => match raw.arg_sig {
            Some(signal @ 1..=MAX_SIGNAL) => Action::Signal(signal),
            Some(signal) => {
                return Err(path.field("argSig").error(format!("{signal} is not a signal (1-{MAX_SIGNAL})")));
            }
            None => return Err(path.field("argSig").error("missing: the signal to send (9 is SIGKILL)")),
        },
        ActionName::Override => {
            if matches!(kind, HookKind::Tracepoint | HookKind::RawTracepoint) {
                return Err(path.field("action").error("Override needs a function to skip: not on tracepoints"));
            }
            let Some(error) = raw.arg_error else {
                return Err(path.field("argError").error("missing: the value to return instead (-1 is EPERM)"));
            };
            Action::Override(error)
        }
    })
}
