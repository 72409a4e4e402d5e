//! Every way a policy is refused, each with its exact message. The tables
//! are checked whole so that one run shows every message that changed.

use super::HEAD;
use crate::parse;

/// Parses each document and compares the error with the expected message.
fn check(cases: &[(String, &str)]) {
    let mut wrong = Vec::new();
    for (yaml, expected) in cases {
        match parse(yaml) {
            Ok(_) => wrong.push(format!("accepted:\n{yaml}\nexpected: {expected}\n")),
            Err(error) if error.to_string() != *expected => {
                wrong.push(format!("{yaml}\nexpected: {expected}\n     got: {error}\n"));
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

/// A one-line kprobe (YAML flow style) in an otherwise valid policy; errors
/// the YAML reader finds in it are on line 7.
fn kprobe(flow: &str) -> String {
    format!("{HEAD}  kprobes:\n  - {flow}\n")
}

/// A tcp_connect kprobe with a `sock` argument and the given selector.
fn sock(selector: &str) -> String {
    kprobe(&format!("{{call: tcp_connect, syscall: false, args: [{{index: 0, type: sock}}], selectors: [{selector}]}}"))
}

/// A kprobe with arguments 0 (`type0`) and 1 (`type1`) and the given
/// matchArgs entry.
fn typed(type0: &str, type1: &str, match_arg: &str) -> String {
    kprobe(&format!(
        "{{call: f, syscall: false, args: [{{index: 0, type: {type0}}}, {{index: 1, type: {type1}}}], \
         selectors: [{{matchArgs: [{match_arg}]}}]}}"
    ))
}

/// A kprobe with one selector holding the given actions.
fn actions(actions: &str) -> String {
    kprobe(&format!("{{call: f, syscall: false, selectors: [{{matchActions: [{actions}]}}]}}"))
}

/// One argument of a kprobe (or of `section`'s hook).
fn arg(arg: &str) -> String {
    kprobe(&format!("{{call: f, syscall: false, args: [{arg}]}}"))
}

fn spec(body: &str) -> String {
    format!("{HEAD}{body}")
}

const SEL: &str = "spec.kprobes[0].selectors[0]";

#[test]
fn documents_of_another_kind() {
    let tail = "metadata:\n  name: x\nspec: {}\n";
    check(&[
        (
            format!("apiVersion: cilium.io/v2\nkind: TracingPolicy\n{tail}"),
            r#"apiVersion: "cilium.io/v2" is not supported (expected "cilium.io/v1alpha1")"#,
        ),
        (format!("kind: TracingPolicy\n{tail}"), r#"apiVersion: missing (expected "cilium.io/v1alpha1")"#),
        (
            format!("apiVersion: cilium.io/v1alpha1\nkind: CiliumNetworkPolicy\n{tail}"),
            r#"kind: "CiliumNetworkPolicy" is not a policy kind (expected TracingPolicy or TracingPolicyNamespaced)"#,
        ),
        (
            format!("apiVersion: cilium.io/v1alpha1\n{tail}"),
            "kind: missing (expected TracingPolicy or TracingPolicyNamespaced)",
        ),
        // A Pod is refused for being a Pod, not for its first unknown field.
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: []\n".into(),
            r#"apiVersion: "v1" is not supported (expected "cilium.io/v1alpha1")"#,
        ),
        ("".into(), r#"apiVersion: missing (expected "cilium.io/v1alpha1")"#),
        ("- a\n".into(), "expected mapping start (line 1, column 1)"),
        ("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\n".into(), "missing field `metadata` (line 2, column 1)"),
        (
            format!("{HEAD}  kprobes: [\n"),
            // The reader names the section the bracket opened.
            "spec.kprobes: unclosed bracket '[' (line 6, column 12)",
        ),
        (
            format!("{HEAD}  kprobes: []\n---\n{HEAD}"),
            "only single YAML document expected but multiple found (line 8, column 1)",
        ),
        (format!("{HEAD}  kprobes: !custom []\n"), "spec: unsupported tag `!custom` (line 6, column 20)"),
        (
            kprobe("{call: f, call: g, syscall: false}"),
            "spec.kprobes[0]: duplicate mapping key `call` is not allowed here (line 7, column 15)",
        ),
    ]);
}

#[test]
fn metadata() {
    let head = |kind: &str, metadata: &str| {
        format!(
            "apiVersion: cilium.io/v1alpha1\nkind: {kind}\nmetadata:\n{metadata}spec:\n  kprobes: [{{call: f, syscall: false}}]\n"
        )
    };
    check(&[
        (
            head("TracingPolicy", "  name: Bad_Name\n"),
            "metadata.name: \"Bad_Name\" is not a valid name (lowercase letters, digits, '-' and '.', starting and \
             ending alphanumeric, at most 253 characters)",
        ),
        (
            head("TracingPolicy", "  name: x\n  namespace: prod\n"),
            "metadata.namespace: a TracingPolicy applies to the whole cluster; use kind TracingPolicyNamespaced for \
             one namespace",
        ),
        (
            head("TracingPolicyNamespaced", "  name: x\n"),
            "metadata.namespace: missing: a TracingPolicyNamespaced names its namespace",
        ),
        (
            head("TracingPolicyNamespaced", "  name: x\n  namespace: prod.eu\n"),
            "metadata.namespace: \"prod.eu\" is not a valid namespace (lowercase letters, digits and '-', starting \
             and ending alphanumeric, at most 63 characters)",
        ),
        (
            head("TracingPolicy", "  name: x\n  uid: 1234\n"),
            "metadata.uid: unknown field `uid`, expected one of name, namespace, labels, annotations (line 5, column 3)",
        ),
        (head("TracingPolicy", ""), "metadata: expected mapping start (line 3, column 9)"),
    ]);
}

/// Unknown fields, from the top of spec down to an action's parameter.
#[test]
fn unknown_fields_at_every_depth() {
    check(&[
        (
            spec("  kprobe: []\n"),
            "spec.kprobe: unknown field `kprobe`, expected one of kprobes, fentries, tracepoints, uprobes, lsmhooks, \
             options, podSelector, containerSelector, hostSelector, usdts, loader, lists, enforcers, selectorsMacros, \
             nodeSelector (line 6, column 3)",
        ),
        (
            kprobe("{call: f, syscall: false, selector: []}"),
            "spec.kprobes[0].selector: unknown field `selector`, expected one of call, syscall, return, returnArg, \
             args, selectors, message, tags, ignore, returnArgAction, data (line 7, column 31)",
        ),
        (
            spec("  kprobes:\n  - call: f\n    syscall: false\n    args:\n    - index: 0\n      typ: int\n"),
            "spec.kprobes[0].args[0].typ: unknown field `typ`, expected one of index, type, label, sizeArgIndex, \
             returnCopy, maxData, resolve, btfType, btfTypeModule, source (line 11, column 7)",
        ),
        (
            sock("{matchArgs: [{index: 0, operator: DPort, value: [\"80\"]}]}"),
            "spec.kprobes[0].selectors[0].matchArgs[0].value: unknown field `value`, expected one of index, args, \
             operator, values (line 7, column 126)",
        ),
        (
            actions("{action: Signal, argsig: 9}"),
            "spec.kprobes[0].selectors[0].matchActions[0].argsig: unknown field `argsig`, expected one of action, \
             argSig, argError, rateLimit, rateLimitScope, kernelStackTrace, userStackTrace, imaHash, argFd, argName, \
             argUrl, argFqdn, argSock, argRegs, argNewSymbol, argNewAddr, argNewOffset, argIndex, argValue \
             (line 7, column 76)",
        ),
        (
            spec("  podSelector:\n    matchLabel: {app: web}\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.podSelector.matchLabel: unknown field `matchLabel`, expected one of matchLabels, matchExpressions \
             (line 7, column 5)",
        ),
        (
            spec("  hostSelector: {matchLabels: {}}\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.hostSelector.matchLabels: unknown field `matchLabels`, expected one of  (line 6, column 18)",
        ),
        (
            spec(
                "  options: [{name: policy-mode, value: monitor, default: x}]\n  kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.options[0].default: unknown field `default`, expected one of name, value (line 6, column 49)",
        ),
        (
            spec("  lsmhooks: [{hook: file_open, syscall: false}]\n"),
            "spec.lsmhooks[0].syscall: unknown field `syscall`, expected one of hook, args, selectors, message, tags \
             (line 6, column 32)",
        ),
    ]);
}

/// Fields Tetragon has and Scry does not implement are named as such.
#[test]
fn unsupported_fields() {
    check(&[
        (spec("  usdts: []\n"), "spec.usdts: not supported by Scry (USDT probes)"),
        (spec("  lists: []\n"), "spec.lists: not supported by Scry (named lists of functions)"),
        (spec("  enforcers: []\n"), "spec.enforcers: not supported by Scry (the syscall enforcer)"),
        (
            kprobe("{call: f, syscall: false, data: [{index: 0, type: int, source: current_task}]}"),
            "spec.kprobes[0].data: not supported by Scry (extra values read from current_task or pt_regs)",
        ),
        (
            kprobe("{call: \"list:syscalls\", syscall: true}"),
            "spec.kprobes[0].call: not supported by Scry (lists of functions; spec.lists)",
        ),
        (
            arg("{index: 0, type: file, resolve: f_path.dentry}"),
            "spec.kprobes[0].args[0].resolve: not supported by Scry (BTF paths into the argument)",
        ),
        (
            kprobe("{call: f, syscall: false, selectors: [{matchData: []}]}"),
            "spec.kprobes[0].selectors[0].matchData: not supported by Scry (filters on data[])",
        ),
        (
            kprobe("{call: f, syscall: false, selectors: [{matchReturnActions: [{action: Post}]}]}"),
            "spec.kprobes[0].selectors[0].matchReturnActions: not supported by Scry (actions on return)",
        ),
        (
            spec("  uprobes: [{path: /bin/sh, symbols: [main], btfPath: /x}]\n"),
            "spec.uprobes[0].btfPath: not supported by Scry (BTF for the binary)",
        ),
        (
            sock("{matchArgs: [{index: 0, operator: InMap, values: [\"80\"]}]}"),
            &format!("{SEL}.matchArgs[0].operator: operator \"InMap\" is not supported by Scry"),
        ),
        (arg("{index: 0, type: auto}"), "spec.kprobes[0].args[0].type: type \"auto\" is not supported by Scry"),
    ]);
}

#[test]
fn spec_level() {
    check(&[
        (spec("  {}\n"), "spec: nothing to hook: no kprobes, fentries, tracepoints, uprobes or lsmhooks"),
        (spec("  kprobes: []\n"), "spec: nothing to hook: no kprobes, fentries, tracepoints, uprobes or lsmhooks"),
        (
            spec("  options: [{name: policy-mod, value: monitor}]\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.options[0].name: unknown option \"policy-mod\" (known: policy-mode, disable-kprobe-multi, \
             disable-uprobe-multi)",
        ),
        (
            spec("  options: [{name: policy-mode, value: audit}]\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.options[0].value: \"audit\" is not enforce or monitor",
        ),
        (
            spec(
                "  options: [{name: disable-kprobe-multi, value: yes please}]\n  kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.options[0].value: \"yes please\" is not true or false",
        ),
        (
            spec(
                "  options: [{name: policy-mode, value: monitor}, {name: policy-mode, value: enforce}]\n  \
                 kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.options[1].name: \"policy-mode\" is already set by options[0]",
        ),
        (
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: x\n  namespace: a\n\
             spec:\n  hostSelector: {}\n  kprobes: [{call: f, syscall: false}]\n"
                .into(),
            "spec.hostSelector: not allowed in a TracingPolicyNamespaced (it applies to the pods of its namespace only)",
        ),
        (
            spec("  containerSelector: {matchLabels: {image: nginx}}\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.containerSelector.matchLabels.image: \"image\" is not a container field (known: name, repo)",
        ),
        (
            spec(
                "  podSelector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}\n  \
                 kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.podSelector.matchExpressions[0].operator: unknown operator \"Equals\" (known: In, NotIn, Exists, \
             DoesNotExist)",
        ),
        (
            spec(
                "  podSelector: {matchExpressions: [{key: app, operator: In}]}\n  kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.podSelector.matchExpressions[0].values: In needs at least one value",
        ),
        (
            spec(
                "  podSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}\n  \
                 kprobes: [{call: f, syscall: false}]\n",
            ),
            "spec.podSelector.matchExpressions[0].values: Exists takes no values",
        ),
        (
            spec("  podSelector: {matchLabels: {\"\": x}}\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.podSelector.matchLabels.: empty label key",
        ),
    ]);
}

#[test]
fn hook_points() {
    check(&[
        (
            kprobe("{call: f}"),
            "spec.kprobes[0].syscall: missing: say whether the call is a syscall (true: arguments are the \
             syscall's); Tetragon's CRD defaults it to true and its docs to false",
        ),
        (kprobe("{call: \"\", syscall: false}"), "spec.kprobes[0].call: \"\" is not a kernel function name"),
        (
            kprobe("{call: \"tcp connect\", syscall: false}"),
            "spec.kprobes[0].call: \"tcp connect\" is not a kernel function name",
        ),
        (kprobe("{syscall: false}"), "spec.kprobes[0]: missing field `call` (line 7, column 6)"),
        (
            spec("  tracepoints: [{subsystem: syscalls, event: sys/enter}]\n"),
            "spec.tracepoints[0].event: \"sys/enter\" is not a tracepoint event name",
        ),
        (
            spec("  tracepoints: [{subsystem: \"\", event: sys_enter}]\n"),
            "spec.tracepoints[0].subsystem: \"\" is not a tracepoint subsystem name",
        ),
        (
            spec("  uprobes: [{path: bin/bash, symbols: [readline]}]\n"),
            "spec.uprobes[0].path: \"bin/bash\" is not an absolute path",
        ),
        (spec("  uprobes: [{path: /bin/bash}]\n"), "spec.uprobes[0]: nothing to hook: give symbols or offsets"),
        (
            spec("  uprobes: [{path: /bin/bash, symbols: [main], offsets: [16]}]\n"),
            "spec.uprobes[0]: give symbols or offsets, not both",
        ),
        (
            spec("  uprobes: [{path: /bin/bash, symbols: [main, \"\"]}]\n"),
            "spec.uprobes[0].symbols[1]: \"\" is not a symbol",
        ),
        (
            spec("  uprobes: [{path: /bin/bash, offsets: [-1]}]\n"),
            "spec.uprobes[0].offsets[0]: invalid u64 (line 6, column 41)",
        ),
        (
            spec("  lsmhooks: [{hook: security_file_open}]\n"),
            "spec.lsmhooks[0].hook: LSM hooks are named without \"security_\": \"file_open\"",
        ),
        (
            spec("  lsmhooks: [{hook: File-Open}]\n"),
            "spec.lsmhooks[0].hook: \"File-Open\" is not an LSM hook name (file_open, bprm_check_security, …)",
        ),
        (
            kprobe(&format!("{{call: f, syscall: false, message: \"{}\"}}", "m".repeat(257))),
            "spec.kprobes[0].message: 257 characters, at most 256",
        ),
        (
            kprobe(&format!("{{call: f, syscall: false, tags: [{}]}}", ["t"; 17].join(", "))),
            "spec.kprobes[0].tags: 17 tags, at most 16 per hook",
        ),
        (kprobe("{call: f, syscall: false, tags: [a, \"\"]}"), "spec.kprobes[0].tags[1]: empty tag"),
        (
            kprobe(&format!("{{call: f, syscall: false, selectors: [{}]}}", ["{}"; 6].join(", "))),
            "spec.kprobes[0].selectors: 6 selectors, at most 5 per hook",
        ),
    ]);
}

#[test]
fn args() {
    let six = (0..6).map(|i| format!("{{index: {}, type: int}}", i % 5)).collect::<Vec<_>>().join(", ");
    check(&[
        (
            kprobe(&format!("{{call: f, syscall: false, args: [{six}]}}")),
            "spec.kprobes[0].args: 6 args, at most 5 per hook",
        ),
        (arg("{type: int}"), "spec.kprobes[0].args[0].index: missing: the argument's position (0-based)"),
        (
            arg("{index: 5, type: int}"),
            "spec.kprobes[0].args[0].index: 5 is out of range: a probe reads the first 5 arguments (0-4)",
        ),
        (
            kprobe("{call: f, syscall: false, args: [{index: 1, type: int}, {index: 1, type: uint32}]}"),
            "spec.kprobes[0].args[1].index: argument 1 is already captured by args[0]",
        ),
        (
            arg("{index: 0}"),
            "spec.kprobes[0].args[0].type: missing: Scry needs the type written out (Tetragon's default, auto, \
             reads it from BTF)",
        ),
        (
            arg("{index: 0, type: u64}"),
            "spec.kprobes[0].args[0].type: unknown type \"u64\" (the CRD calls it \"uint64\")",
        ),
        (
            arg("{index: 0, type: str}"),
            "spec.kprobes[0].args[0].type: unknown type \"str\" (supported: int8, sint8, uint8, int16, sint16, \
             uint16, int, int32, sint32, uint32, long, int64, sint64, ulong, uint64, size_t, syscall64, string, \
             char_buf, char_iovec, filename, data_loc, fd, file, path, dentry, linux_binprm, sock, socket, skb, \
             sockaddr, cred, kernel_cap_t, cap_inheritable, cap_permitted, cap_effective, capability)",
        ),
        (
            arg("{index: 1, type: char_buf}"),
            "spec.kprobes[0].args[0]: a char_buf needs sizeArgIndex or returnCopy to know its length",
        ),
        (
            arg("{index: 1, type: char_buf, sizeArgIndex: 0}"),
            "spec.kprobes[0].args[0].sizeArgIndex: is 1-based: the length is in argument sizeArgIndex - 1 (0 means \
             none: leave it out)",
        ),
        (
            arg("{index: 1, type: char_buf, sizeArgIndex: 2}"),
            "spec.kprobes[0].args[0].sizeArgIndex: 2 points at this argument itself",
        ),
        (
            arg("{index: 1, type: char_buf, sizeArgIndex: 6}"),
            "spec.kprobes[0].args[0].sizeArgIndex: 6 is out of range: a probe reads the first 5 arguments (1-5)",
        ),
        (
            arg("{index: 1, type: char_buf, sizeArgIndex: 3, returnCopy: true}"),
            "spec.kprobes[0].args[0]: sizeArgIndex and returnCopy together: with returnCopy the length is the \
             return value",
        ),
        (
            arg("{index: 1, type: char_buf, returnCopy: true, maxData: true}"),
            "spec.kprobes[0].args[0].maxData: not with returnCopy",
        ),
        (
            arg("{index: 1, type: char_iovec}"),
            "spec.kprobes[0].args[0]: a char_iovec needs sizeArgIndex (the argument holding the iovec count)",
        ),
        (
            arg("{index: 1, type: char_iovec, sizeArgIndex: 3, maxData: true}"),
            "spec.kprobes[0].args[0].maxData: only for char_buf",
        ),
        (
            arg("{index: 0, type: int, sizeArgIndex: 2}"),
            "spec.kprobes[0].args[0].sizeArgIndex: only for char_buf and char_iovec, not int",
        ),
        (
            arg("{index: 0, type: string, maxData: true}"),
            "spec.kprobes[0].args[0].maxData: only for char_buf, not string",
        ),
        (
            spec("  tracepoints: [{subsystem: s, event: e, args: [{index: 5, type: char_buf, returnCopy: true}]}]\n"),
            "spec.tracepoints[0].args[0].returnCopy: needs a return probe: kprobes and fentries only",
        ),
        (
            kprobe("{call: f, syscall: false, returnArg: {index: 0, type: int}}"),
            "spec.kprobes[0].returnArg: needs `return: true`",
        ),
        (
            kprobe("{call: f, syscall: false, return: true}"),
            "spec.kprobes[0].returnArg: missing: `return: true` needs the type of the return value",
        ),
        (
            kprobe("{call: f, syscall: false, return: true, returnArg: {index: 1, type: int}}"),
            "spec.kprobes[0].returnArg.index: the return value has no position: leave index out (or 0)",
        ),
        (
            kprobe("{call: f, syscall: false, return: true, returnArg: {type: char_buf, returnCopy: true}}"),
            "spec.kprobes[0].returnArg.type: a return value cannot be char_buf (nothing gives its size)",
        ),
        (arg("{index: x, type: int}"), "spec.kprobes[0].args[0].index: invalid u32 (line 7, column 46)"),
    ]);
}

/// Which argument a matchArgs entry means.
#[test]
fn match_arg_targets() {
    check(&[
        (
            typed("int", "int", "{index: 2, operator: Equal, values: [\"1\"]}"),
            &format!("{SEL}.matchArgs[0].index: argument 2 is not captured by this hook's args (captured: 0, 1)"),
        ),
        (
            kprobe(
                "{call: f, syscall: false, selectors: [{matchArgs: [{index: 0, operator: Equal, values: [\"1\"]}]}]}",
            ),
            &format!("{SEL}.matchArgs[0].index: argument 0 is not captured: this hook has no args"),
        ),
        (
            typed("int", "int", "{args: [2], operator: Equal, values: [\"1\"]}"),
            &format!("{SEL}.matchArgs[0].args[0]: position 2 is out of range: this hook has 2 args"),
        ),
        (
            typed("int", "int", "{args: [0, 1], operator: Equal, values: [\"1\"]}"),
            &format!(
                "{SEL}.matchArgs[0].args: give exactly one position (several are for CapabilitiesGained, which Scry \
                 does not support)"
            ),
        ),
        (
            typed("int", "int", "{index: 0, args: [0], operator: Equal, values: [\"1\"]}"),
            &format!("{SEL}.matchArgs[0]: set index or args, not both"),
        ),
        (
            typed("int", "int", "{operator: Equal, values: [\"1\"]}"),
            &format!(
                "{SEL}.matchArgs[0].index: missing: which argument to match (index: its position among the \
                 function's arguments, or args: [its position in this hook's args])"
            ),
        ),
        (
            sock(&format!("{{matchArgs: [{}]}}", ["{index: 0, operator: DPort, values: [\"80\"]}"; 6].join(", "))),
            &format!("{SEL}.matchArgs: 6 entries, at most 5 per selector"),
        ),
    ]);
}

/// Operators: unknown, and not fitting the argument's type.
#[test]
fn operators() {
    check(&[
        (
            sock("{matchArgs: [{index: 0, operator: Equals, values: [\"80\"]}]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: unknown operator \"Equals\" (supported: Equal, NotEqual, Prefix, \
                 NotPrefix, Postfix, NotPostfix, GreaterThan, LessThan, Mask, InRange, NotInRange, FileType, \
                 NotFileType, SPort, NotSPort, DPort, NotDPort, SPortPriv, NotSPortPriv, DPortPriv, NotDPortPriv, \
                 SAddr, NotSAddr, DAddr, NotDAddr, Protocol, Family, State)"
            ),
        ),
        // Lowercase is an accepted spelling; other casings are not.
        (
            sock("{matchArgs: [{index: 0, operator: DPORT, values: [\"80\"]}]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: unknown operator \"DPORT\" (supported: Equal, NotEqual, Prefix, \
                 NotPrefix, Postfix, NotPostfix, GreaterThan, LessThan, Mask, InRange, NotInRange, FileType, \
                 NotFileType, SPort, NotSPort, DPort, NotDPort, SPortPriv, NotSPortPriv, DPortPriv, NotDPortPriv, \
                 SAddr, NotSAddr, DAddr, NotDAddr, Protocol, Family, State)"
            ),
        ),
        (
            typed("string", "int", "{index: 0, operator: DPort, values: [\"80\"]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: DPort does not apply to a string argument (it takes Equal, NotEqual, \
                 Prefix, NotPrefix, Postfix, NotPostfix)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: Equal, values: [\"80\"]}]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: Equal does not apply to a sock argument (it takes SAddr, NotSAddr, \
                 DAddr, NotDAddr, SPort, NotSPort, DPort, NotDPort, SPortPriv, NotSPortPriv, DPortPriv, \
                 NotDPortPriv, Protocol, Family, State)"
            ),
        ),
        (
            typed("int", "int", "{index: 1, operator: Prefix, values: [\"1\"]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: Prefix does not apply to a int32 argument (it takes Equal, NotEqual, \
                 GreaterThan, LessThan, Mask, InRange, NotInRange)"
            ),
        ),
        (
            typed("skb", "int", "{index: 0, operator: State, values: [TCP_LISTEN]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: State does not apply to a skb argument (it takes SAddr, NotSAddr, \
                 DAddr, NotDAddr, SPort, NotSPort, DPort, NotDPort, Protocol)"
            ),
        ),
        (
            typed("sockaddr", "int", "{index: 0, operator: DAddr, values: [10.0.0.1]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: DAddr does not apply to a sockaddr argument (it takes SAddr, NotSAddr, \
                 SPort, NotSPort, Family)"
            ),
        ),
        (
            typed("string", "int", "{index: 0, operator: FileType, values: [reg]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: FileType does not apply to a string argument (it takes Equal, \
                 NotEqual, Prefix, NotPrefix, Postfix, NotPostfix)"
            ),
        ),
        (
            typed("cred", "int", "{index: 0, operator: GreaterThan, values: [\"1\"]}"),
            &format!(
                "{SEL}.matchArgs[0].operator: GreaterThan does not apply to a cred argument (it takes Equal, Mask)"
            ),
        ),
        (
            kprobe(
                "{call: f, syscall: false, return: true, returnArg: {type: int}, \
                 selectors: [{matchReturnArgs: [{operator: Prefix, values: [a]}]}]}",
            ),
            &format!(
                "{SEL}.matchReturnArgs[0].operator: Prefix does not apply to a int32 argument (it takes Equal, \
                 NotEqual, GreaterThan, LessThan, Mask, InRange, NotInRange)"
            ),
        ),
    ]);
}

/// Values that do not parse, too many or too few of them.
#[test]
fn values() {
    let five = "[\"1\", \"2\", \"3\", \"4\", \"5\"]";
    check(&[
        (
            sock("{matchArgs: [{index: 0, operator: DPort, values: [\"443\", http]}]}"),
            &format!("{SEL}.matchArgs[0].values[1]: \"http\" is not a port (0-65535) or a port range low:high"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: NotDPort, values: [\"70000\"]}]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"70000\" is not a port (0-65535) or a port range low:high"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: SPort, values: [\"2000:1000\"]}]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"2000:1000\": range starts above its end"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: SPort, values: [\"+80\"]}]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"+80\" is not a port (0-65535) or a port range low:high"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: DAddr, values: [10.0.0.0/33]}]}"),
            &format!(
                "{SEL}.matchArgs[0].values[0]: \"10.0.0.0/33\" is not an IP address or CIDR (10.0.0.0/8, fd00::/8, \
                 127.0.0.1)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: NotSAddr, values: [\"::1/128\", 300.1.1.1]}]}"),
            &format!(
                "{SEL}.matchArgs[0].values[1]: \"300.1.1.1\" is not an IP address or CIDR (10.0.0.0/8, fd00::/8, \
                 127.0.0.1)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: Protocol, values: [TCP]}]}"),
            &format!(
                "{SEL}.matchArgs[0].values[0]: \"TCP\" is not a protocol (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, \
                 IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_RAW or a number)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: Protocol, values: [\"256\"]}]}"),
            &format!(
                "{SEL}.matchArgs[0].values[0]: \"256\" is not a protocol (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, \
                 IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_RAW or a number)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: Family, values: [INET]}]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"INET\" is not a family (AF_UNIX, AF_INET, AF_INET6 or a number)"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: State, values: [ESTABLISHED]}]}"),
            &format!(
                "{SEL}.matchArgs[0].values[0]: \"ESTABLISHED\" is not a TCP state (TCP_ESTABLISHED, TCP_SYN_SENT, \
                 TCP_SYN_RECV, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK, \
                 TCP_LISTEN, TCP_CLOSING, TCP_NEW_SYN_RECV, TCP_BOUND_INACTIVE or a number)"
            ),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: DPortPriv, values: [\"80\"]}]}"),
            &format!("{SEL}.matchArgs[0].values: DPortPriv takes no values"),
        ),
        (
            sock("{matchArgs: [{index: 0, operator: DPort}]}"),
            &format!("{SEL}.matchArgs[0].values: DPort needs at least one value"),
        ),
        (
            typed("int", "uint8", &format!("{{index: 0, operator: Equal, values: {five}}}")),
            &format!(
                "{SEL}.matchArgs[0].values: 5 values, at most 4 for an integer operator (the BPF filter holds no more)"
            ),
        ),
        (
            typed("int", "uint8", &format!("{{index: 1, operator: NotInRange, values: {five}}}")),
            &format!(
                "{SEL}.matchArgs[0].values: 5 values, at most 4 for an integer operator (the BPF filter holds no more)"
            ),
        ),
        (
            typed("int", "uint8", "{index: 1, operator: Equal, values: [\"256\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"256\" is out of range for uint8 (0 to 255)"),
        ),
        (
            typed("int", "uint8", "{index: 1, operator: Equal, values: [\"-1\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"-1\" is out of range for uint8 (0 to 255)"),
        ),
        (
            typed("int", "uint8", "{index: 0, operator: Mask, values: [\"0x1g\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"0x1g\" is not an integer (decimal, 0x hex or 0-prefixed octal)"),
        ),
        (
            typed("int", "uint8", "{index: 0, operator: Equal, values: [\"08\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"08\" is not an integer (decimal, 0x hex or 0-prefixed octal)"),
        ),
        (
            typed("int", "uint8", "{index: 0, operator: InRange, values: [\"5\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"5\" is not a range low:high"),
        ),
        (
            typed("int", "uint8", "{index: 0, operator: InRange, values: [\"5:-5\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"5:-5\": range starts above its end"),
        ),
        (
            typed("capability", "uint8", "{index: 0, operator: Equal, values: [CAP_SYS_ADMN]}"),
            &format!("{SEL}.matchArgs[0].values[0]: \"CAP_SYS_ADMN\" is not a capability (CAP_* name or 0-40)"),
        ),
        (
            typed("file", "int", "{index: 0, operator: FileType, values: [regular]}"),
            &format!(
                "{SEL}.matchArgs[0].values[0]: \"regular\" is not a file type (reg, dir, lnk, sock, blk, chr, fifo)"
            ),
        ),
        (
            typed("string", "int", "{index: 0, operator: Prefix, values: [\"\"]}"),
            &format!("{SEL}.matchArgs[0].values[0]: empty: it would match everything"),
        ),
        (
            typed("string", "int", &format!("{{index: 0, operator: NotPostfix, values: [{}]}}", "p".repeat(128))),
            &format!("{SEL}.matchArgs[0].values[0]: 128 bytes, at most 127 for this operator"),
        ),
        (
            typed("string", "int", &format!("{{index: 0, operator: Prefix, values: [/{}]}}", "p".repeat(256))),
            &format!("{SEL}.matchArgs[0].values[0]: 257 bytes, at most 256 for this operator"),
        ),
        (
            typed("string", "int", &format!("{{index: 0, operator: Equal, values: [{}]}}", "e".repeat(4097))),
            &format!("{SEL}.matchArgs[0].values[0]: 4097 bytes, at most 4096 for this operator"),
        ),
        (
            kprobe("{call: f, syscall: false, selectors: [{matchReturnArgs: [{operator: Equal, values: [\"0\"]}]}]}"),
            &format!("{SEL}.matchReturnArgs: this hook does not probe the return (needs `return: true` and returnArg)"),
        ),
        (
            kprobe(
                "{call: f, syscall: false, return: true, returnArg: {type: int}, \
                 selectors: [{matchReturnArgs: [{index: 1, operator: Equal, values: [\"0\"]}]}]}",
            ),
            &format!("{SEL}.matchReturnArgs[0].index: the return value has no position: leave index out (or 0)"),
        ),
    ]);
}

#[test]
fn binaries_pids_namespaces_capabilities() {
    let selector = |filters: &str| kprobe(&format!("{{call: f, syscall: false, selectors: [{filters}]}}"));
    let follow = (0..65)
        .map(|i| format!("{{call: f{i}, syscall: false, selectors: [{{matchBinaries: [{{operator: In, values: [/bin/sh], followChildren: true}}]}}]}}"))
        .collect::<Vec<_>>()
        .join(", ");
    check(&[
        (
            selector("{matchBinaries: [{operator: In, values: [/bin/a]}, {operator: In, values: [/bin/b]}]}"),
            &format!("{SEL}.matchBinaries: 2 entries, at most 1 per selector"),
        ),
        (
            selector("{matchBinaries: [{operator: In, values: []}]}"),
            &format!("{SEL}.matchBinaries[0].values: needs at least one value"),
        ),
        (
            selector("{matchBinaries: [{operator: In, values: [curl]}]}"),
            &format!(
                "{SEL}.matchBinaries[0].values[0]: \"curl\" is not an absolute path: binaries are matched by their \
                 full path (Postfix matches a name)"
            ),
        ),
        (
            selector(&format!("{{matchBinaries: [{{operator: Prefix, values: [/{}]}}]}}", "b".repeat(255))),
            &format!("{SEL}.matchBinaries[0].values[0]: 256 bytes, at most 255"),
        ),
        (
            selector("{matchBinaries: [{operator: Equal, values: [/bin/sh]}]}"),
            &format!(
                "{SEL}.matchBinaries[0].operator: unknown operator \"Equal\" (supported: In, NotIn, Prefix, \
                 NotPrefix, Postfix, NotPostfix)"
            ),
        ),
        (
            selector("{matchBinaries: [{operator: Postfix, values: [sh], followChildren: true}]}"),
            &format!("{SEL}.matchBinaries[0].followChildren: only with In or NotIn"),
        ),
        (
            spec(&format!("  kprobes: [{follow}]\n")),
            "spec.kprobes[64].selectors[0].matchBinaries[0].followChildren: more than 64 matchBinaries with \
             followChildren in one policy",
        ),
        (
            selector("{matchPIDs: [{operator: In, values: [1, 2, 3, 4, 5]}]}"),
            &format!("{SEL}.matchPIDs[0].values: 5 values, at most 4"),
        ),
        (
            selector("{matchPIDs: [{operator: Equal, values: [1]}]}"),
            &format!("{SEL}.matchPIDs[0].operator: unknown operator \"Equal\" (supported: In, NotIn)"),
        ),
        (selector("{matchPIDs: [{operator: In}]}"), &format!("{SEL}.matchPIDs[0].values: needs at least one value")),
        (
            selector("{matchPIDs: [{operator: In, values: [-1]}]}"),
            &format!("{SEL}.matchPIDs[0].values[0]: invalid u32 (line 7, column 80)"),
        ),
        (
            selector("{matchNamespaces: [{namespace: Network, operator: In, values: [host_ns]}]}"),
            &format!(
                "{SEL}.matchNamespaces[0].namespace: unknown namespace \"Network\" (supported: Uts, Ipc, Mnt, Pid, \
                 PidForChildren, Net, Time, TimeForChildren, Cgroup, User)"
            ),
        ),
        (
            selector("{matchNamespaces: [{namespace: Net, operator: In, values: [host]}]}"),
            &format!("{SEL}.matchNamespaces[0].values[0]: \"host\" is not a namespace inode number or host_ns"),
        ),
        (
            selector(
                "{matchNamespaces: [{namespace: Net, operator: In, values: [\"1\", \"2\", \"3\", \"4\", \"5\"]}]}",
            ),
            &format!("{SEL}.matchNamespaces[0].values: 5 values, at most 4"),
        ),
        (
            selector(&format!(
                "{{matchNamespaces: [{}]}}",
                ["{namespace: Net, operator: In, values: [host_ns]}"; 11].join(", ")
            )),
            &format!("{SEL}.matchNamespaces: 11 entries, at most 10 per selector"),
        ),
        (
            selector("{matchCapabilities: [{operator: In, values: [SYS_ADMIN]}]}"),
            &format!("{SEL}.matchCapabilities[0].values[0]: \"SYS_ADMIN\" is not a capability (CAP_…)"),
        ),
        (
            selector("{matchCapabilities: [{type: Bounding, operator: In, values: [CAP_BPF]}]}"),
            &format!(
                "{SEL}.matchCapabilities[0].type: unknown capability set \"Bounding\" (supported: Effective, \
                 Inheritable, Permitted)"
            ),
        ),
    ]);
}

#[test]
fn actions_are_checked() {
    let four = ["{action: Post}"; 4].join(", ");
    let act = format!("{SEL}.matchActions");
    check(&[
        (
            actions("{action: Kill}"),
            &format!("{act}[0].action: unknown action \"Kill\" (supported: Post, NoPost, Sigkill, Signal, Override)"),
        ),
        (
            actions("{action: FollowFD, argFd: 0, argName: 1}"),
            &format!(
                "{act}[0].action: FollowFD: removed from Tetragon with fd tracking; capture a file argument instead \
                 (fd_install's second)"
            ),
        ),
        (
            actions("{action: GetUrl, argUrl: \"http://example.com\"}"),
            &format!(
                "{act}[0].action: GetUrl: not supported by Scry: the agent makes no network requests on a policy's \
                 behalf"
            ),
        ),
        (
            actions("{action: dnslookup, argFqdn: example.com}"),
            &format!(
                "{act}[0].action: DnsLookup: not supported by Scry: the agent makes no network requests on a \
                 policy's behalf"
            ),
        ),
        (
            actions("{action: NotifyEnforcer, argError: -1}"),
            &format!(
                "{act}[0].action: NotifyEnforcer: not supported by Scry (it needs the syscall enforcer, spec.enforcers)"
            ),
        ),
        (actions(&four), &format!("{act}: 4 actions, at most 3 per selector (the BPF side runs no more)")),
        (actions("{action: Post}, {action: NoPost}"), &format!("{act}: Post and NoPost together: keep one")),
        (actions("{action: Post, argSig: 9}"), &format!("{act}[0].argSig: not a parameter of Post")),
        (actions("{action: sigkill, rateLimit: 1m}"), &format!("{act}[0].rateLimit: not a parameter of Sigkill")),
        (
            actions("{action: Override, argError: -1, argRegs: [\"rax=1\"]}"),
            &format!("{act}[0].argRegs: not supported by Scry (uprobe overrides beyond argError)"),
        ),
        (actions("{action: Signal}"), &format!("{act}[0].argSig: missing: the signal to send (9 is SIGKILL)")),
        (actions("{action: Signal, argSig: 65}"), &format!("{act}[0].argSig: 65 is not a signal (1-64)")),
        (actions("{action: Signal, argSig: 0}"), &format!("{act}[0].argSig: 0 is not a signal (1-64)")),
        (
            actions("{action: Override}"),
            &format!("{act}[0].argError: missing: the value to return instead (-1 is EPERM)"),
        ),
        (
            spec(
                "  tracepoints: [{subsystem: s, event: e, selectors: [{matchActions: [{action: Override, argError: -1}]}]}]\n",
            ),
            "spec.tracepoints[0].selectors[0].matchActions[0].action: Override needs a function to skip: not on \
             tracepoints",
        ),
        (actions("{action: Post, imaHash: true}"), &format!("{act}[0].imaHash: only on LSM hooks")),
        (
            actions("{action: Post, rateLimit: 1d}"),
            &format!(
                "{act}[0].rateLimit: \"1d\" is not a duration (a number of seconds, or with unit s, m or h: \"5m\")"
            ),
        ),
        (
            actions("{action: Post, rateLimit: \"\"}"),
            &format!(
                "{act}[0].rateLimit: \"\" is not a duration (a number of seconds, or with unit s, m or h: \"5m\")"
            ),
        ),
        (
            actions("{action: Post, rateLimit: \"-5m\"}"),
            &format!(
                "{act}[0].rateLimit: \"-5m\" is not a duration (a number of seconds, or with unit s, m or h: \"5m\")"
            ),
        ),
        (
            actions("{action: Post, rateLimit: 0m}"),
            &format!("{act}[0].rateLimit: \"0m\": the window must be longer than zero"),
        ),
        (
            actions("{action: Post, rateLimit: 1194h}"),
            &format!("{act}[0].rateLimit: \"1194h\" is longer than 4294967295 ms (about 49 days)"),
        ),
        (actions("{action: Post, rateLimitScope: process}"), &format!("{act}[0].rateLimitScope: only with rateLimit")),
        (
            actions("{action: Post, rateLimit: 5m, rateLimitScope: cgroup}"),
            &format!("{act}[0].rateLimitScope: unknown scope \"cgroup\" (supported: thread, process, global)"),
        ),
        (actions("{action: Signal, argSig: nine}"), &format!("{act}[0].argSig: invalid u32 (line 7, column 84)")),
    ]);
}

/// Control characters from the document are escaped in messages.
#[test]
fn messages_are_printable() {
    let error = parse(&kprobe("{call: \"a\\u001b[31mb\", syscall: false}")).unwrap_err();
    assert_eq!(error.to_string(), "spec.kprobes[0].call: \"a\\u{1b}[31mb\" is not a kernel function name");
    assert_eq!(error.path(), "spec.kprobes[0].call");
    assert_eq!(error.location(), None);
    let error = parse(&spec("  \"a\\nb\": 1\n")).unwrap_err();
    assert!(!error.to_string().contains('\n'), "{error}");
    assert_eq!(error.location(), Some((6, 3)));
}

/// Each field, type, operator and action Tetragon has and Scry refuses, by
/// its own message (the generic "unknown" one would send users looking for
/// a typo).
#[test]
fn every_upstream_only_name() {
    let not = |path: &str, what: &str| format!("{path}: not supported by Scry ({what})");
    let mut cases = vec![];
    for (field, what) in [
        ("usdts", "USDT probes"),
        ("loader", "process_loader events"),
        ("lists", "named lists of functions"),
        ("enforcers", "the syscall enforcer"),
        ("selectorsMacros", "selector macros"),
        ("nodeSelector", "node selection of Kubernetes-managed policies"),
    ] {
        cases.push((spec(&format!("  {field}: x\n")), not(&format!("spec.{field}"), what)));
    }
    for (field, what) in [
        ("returnArgAction", "TrackSock/UntrackSock on the return value"),
        ("data", "extra values read from current_task or pt_regs"),
    ] {
        cases.push((
            kprobe(&format!("{{call: f, syscall: false, {field}: x}}")),
            not(&format!("spec.kprobes[0].{field}"), what),
        ));
    }
    for (field, what) in [
        ("btfPath", "BTF for the binary"),
        ("addrs", "attaching by address"),
        ("refCtrOffsets", "reference counter offsets"),
        ("data", "extra values read from current_task or pt_regs"),
        ("binaryDigests", "binary digest checks"),
        ("ignore", "digest verification overrides"),
    ] {
        cases.push((
            spec(&format!("  uprobes: [{{path: /bin/sh, symbols: [main], {field}: x}}]\n")),
            not(&format!("spec.uprobes[0].{field}"), what),
        ));
    }
    for (field, what) in [
        ("resolve", "BTF paths into the argument"),
        ("btfType", "BTF type overrides"),
        ("btfTypeModule", "BTF type overrides"),
        ("source", "data sources"),
    ] {
        cases.push((
            arg(&format!("{{index: 0, type: int, {field}: x}}")),
            not(&format!("spec.kprobes[0].args[0].{field}"), what),
        ));
    }
    for (field, what) in [
        ("matchData", "filters on data[]"),
        ("matchParentBinaries", "filters on the parent's binary"),
        ("matchNamespaceChanges", "filters on namespace changes"),
        ("matchCapabilityChanges", "filters on capability changes"),
        ("matchWorkloads", "per-selector workload scopes"),
        ("matchReturnActions", "actions on return"),
        ("macros", "selector macros"),
    ] {
        cases.push((
            kprobe(&format!("{{call: f, syscall: false, selectors: [{{{field}: x}}]}}")),
            not(&format!("{SEL}.{field}"), what),
        ));
    }
    for parameter in ["argRegs", "argNewSymbol", "argNewAddr", "argNewOffset"] {
        cases.push((
            actions(&format!("{{action: Override, argError: -1, {parameter}: x}}")),
            not(&format!("{SEL}.matchActions[0].{parameter}"), "uprobe overrides beyond argError"),
        ));
    }
    for parameter in ["argFd", "argName", "argUrl", "argFqdn", "argSock", "argIndex", "argValue"] {
        cases.push((
            actions(&format!("{{action: Post, {parameter}: x}}")),
            format!("{SEL}.matchActions[0].{parameter}: not a parameter of Post"),
        ));
    }
    let removed = "removed from Tetragon with fd tracking; capture a file argument instead (fd_install's second)";
    let network = "not supported by Scry: the agent makes no network requests on a policy's behalf";
    let enforcer = "not supported by Scry (it needs the syscall enforcer, spec.enforcers)";
    for (action, why) in [
        ("FollowFD", removed),
        ("UnfollowFD", removed),
        ("CopyFD", removed),
        ("GetUrl", network),
        ("DnsLookup", network),
        ("TrackSock", "not supported by Scry"),
        ("UntrackSock", "not supported by Scry"),
        ("NotifyEnforcer", enforcer),
        ("CleanupEnforcerNotification", enforcer),
        ("Set", "not supported by Scry (USDT probes only)"),
    ] {
        cases.push((
            actions(&format!("{{action: {action}}}")),
            format!("{SEL}.matchActions[0].action: {action}: {why}"),
        ));
    }
    for operator in
        ["InMap", "NotInMap", "SubString", "SubStringIgnCase", "SubStringIgnoreCase", "CelExpr", "CapabilitiesGained"]
    {
        cases.push((
            typed("string", "int", &format!("{{index: 0, operator: {operator}, values: [a]}}")),
            format!("{SEL}.matchArgs[0].operator: operator {operator:?} is not supported by Scry"),
        ));
    }
    for ty in [
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
    ] {
        cases.push((
            arg(&format!("{{index: 0, type: {ty}}}")),
            format!("spec.kprobes[0].args[0].type: type {ty:?} is not supported by Scry"),
        ));
    }
    let cases: Vec<(String, &str)> = cases.iter().map(|(yaml, message)| (yaml.clone(), message.as_str())).collect();
    check(&cases);
}

#[test]
fn remaining_paths() {
    check(&[
        (
            kprobe(
                "{call: f, syscall: false, return: true, returnArg: {type: int}, \
                 selectors: [{matchReturnArgs: [{args: [0], operator: Equal, values: [\"0\"]}]}]}",
            ),
            &format!("{SEL}.matchReturnArgs[0].args: the return value has no position: leave args out"),
        ),
        (
            kprobe(
                "{call: f, syscall: false, selectors: [{matchBinaries: [{operator: Postfix, values: [sh, \"\"]}]}]}",
            ),
            &format!("{SEL}.matchBinaries[0].values[1]: empty path"),
        ),
        (
            spec("  options: [{name: disable-uprobe-multi, value: \"1\"}]\n  kprobes: [{call: f, syscall: false}]\n"),
            "spec.options[0].value: \"1\" is not true or false",
        ),
    ]);
}
