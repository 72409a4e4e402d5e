use super::HEAD;
use crate::*;
use std::time::Duration;

fn parse_ok(yaml: &str) -> Policy {
    parse(yaml).unwrap_or_else(|e| panic!("rejected: {e}\n{yaml}"))
}

fn port(port: u16) -> PortRange {
    PortRange { low: port, high: port }
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().unwrap()
}

const DENY_EGRESS: &str = r#"
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: deny-egress-except-web
spec:
  kprobes:
  - call: tcp_connect            # struct sock *sk
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:                  # loopback: allowed, no event (first match wins)
      - index: 0
        operator: DAddr
        values: ["127.0.0.0/8", "::1/128"]
      matchActions:
      - action: NoPost
    - matchArgs:
      - index: 0
        operator: NotDPort
        values: ["80", "443"]
      matchActions:
      - action: Sigkill
"#;

/// Canonical policy A (shared/reference/tracing-policy.md §10), whole.
#[test]
fn deny_egress_except_web() {
    let expected = Policy {
        name: "deny-egress-except-web".into(),
        scope: Scope::Cluster,
        labels: Default::default(),
        annotations: Default::default(),
        mode: Mode::Enforce,
        attach: AttachOptions { kprobe_multi: true, uprobe_multi: true },
        workloads: Workloads::default(),
        hooks: vec![Hook {
            path: "spec.kprobes[0]".into(),
            point: HookPoint::Kprobe(Function {
                call: "tcp_connect".into(),
                syscall: false,
                ignore_call_not_found: false,
            }),
            args: vec![Arg { index: 0, ty: ArgType::Sock, label: None }],
            return_arg: None,
            selectors: vec![
                Selector {
                    args: vec![MatchArg {
                        arg: 0,
                        filter: ArgFilter::Addr {
                            side: Side::Destination,
                            negated: false,
                            networks: vec![net("127.0.0.0/8"), net("::1/128")],
                        },
                    }],
                    actions: vec![Action::NoPost],
                    ..selector()
                },
                Selector {
                    args: vec![MatchArg {
                        arg: 0,
                        filter: ArgFilter::Port {
                            side: Side::Destination,
                            negated: true,
                            ranges: vec![port(80), port(443)],
                        },
                    }],
                    actions: vec![Action::Sigkill],
                    ..selector()
                },
            ],
            message: None,
            tags: vec![],
        }],
    };
    let policy = parse_ok(DENY_EGRESS);
    assert_eq!(policy, expected);
    assert_eq!(policy.hooks[0].kind(), HookKind::Kprobe);
}

fn selector() -> Selector {
    Selector {
        label: None,
        args: vec![],
        return_args: vec![],
        binaries: None,
        pids: vec![],
        namespaces: vec![],
        capabilities: vec![],
        actions: vec![],
    }
}

/// The bare form of A: one selector, NotDPort 80/443 + Sigkill; ports
/// written as YAML numbers read the same as quoted ones.
#[test]
fn deny_egress_bare_form() {
    let yaml = format!(
        "{HEAD}  kprobes:\n  - call: tcp_connect\n    syscall: false\n    args: [{{index: 0, type: sock}}]\n    selectors:\n    \
         - matchArgs: [{{index: 0, operator: NotDPort, values: [80, 443]}}]\n      matchActions: [{{action: Sigkill}}]\n"
    );
    let selectors = &parse_ok(&yaml).hooks[0].selectors;
    assert_eq!(
        selectors[0].args[0].filter,
        ArgFilter::Port { side: Side::Destination, negated: true, ranges: vec![port(80), port(443)] }
    );
    assert_eq!(selectors[0].actions, vec![Action::Sigkill]);
}

const EXEC_WATCH: &str = r#"
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: exec-watch-net-tools
spec:
  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchBinaries:
      - operator: In
        values:
        - /usr/bin/curl
        - /usr/bin/wget
        - /usr/bin/python3
      matchActions:
      - action: Post
"#;

/// Canonical policy B as the issue writes it (matchBinaries In + Post).
#[test]
fn exec_watch_net_tools() {
    let policy = parse_ok(EXEC_WATCH);
    assert_eq!(policy.name, "exec-watch-net-tools");
    let hook = &policy.hooks[0];
    assert_eq!(
        hook.point,
        HookPoint::Kprobe(Function {
            call: "security_bprm_check".into(),
            syscall: false,
            ignore_call_not_found: false
        })
    );
    assert_eq!(hook.args, vec![Arg { index: 0, ty: ArgType::LinuxBinprm, label: None }]);
    assert_eq!(
        hook.selectors,
        vec![Selector {
            binaries: Some(BinaryFilter {
                op: BinaryOp::In,
                paths: vec!["/usr/bin/curl".into(), "/usr/bin/wget".into(), "/usr/bin/python3".into()],
                follow_children: false,
            }),
            actions: vec![Action::Post(Post::default())],
            ..selector()
        }]
    );
}

/// B as the reference writes it: the executed file via the linux_binprm
/// argument (Prefix), and a selector without matchActions posts.
#[test]
fn exec_watch_by_argument() {
    let yaml = EXEC_WATCH.replace(
        "    - matchBinaries:\n      - operator: In\n",
        "    - matchArgs:\n      - index: 0\n        operator: Prefix\n",
    );
    let yaml = yaml.replace("      matchActions:\n      - action: Post\n", "");
    let selector = &parse_ok(&yaml).hooks[0].selectors[0];
    assert_eq!(
        selector.args,
        vec![MatchArg {
            arg: 0,
            filter: ArgFilter::Str {
                op: StrOp::Prefix,
                values: vec!["/usr/bin/curl".into(), "/usr/bin/wget".into(), "/usr/bin/python3".into()],
            },
        }]
    );
    assert_eq!(selector.actions, vec![Action::Post(Post::default())]);
}

/// Tetragon's file-monitoring shape: file/path arguments of LSM functions
/// and fd_install, Prefix filters, a rate-limited Post, syscall buffers
/// sized by another argument or read at return.
#[test]
fn file_monitoring() {
    let yaml = r#"
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: file-monitoring
  labels:
    team: security
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
      label: opened
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: [/etc/, /boot/, /root/.ssh/]
      - index: 0
        operator: NotFileType
        values: [dir]
      matchBinaries:
      - operator: NotIn
        values: [/usr/sbin/sshd]
      matchActions:
      - action: Post
        rateLimit: 1m
        rateLimitScope: process
    message: sensitive file opened
    tags: [observability.filesystem]
  - call: fd_install
    syscall: false
    args:
    - index: 0
      type: int
    - index: 1
      type: file
    selectors:
    - matchArgs:
      - args: [1]
        operator: Equal
        values: [/etc/shadow, /etc/gshadow]
  - call: security_path_truncate
    syscall: false
    args:
    - index: 0
      type: path
    selectors:
    - matchArgs:
      - index: 0
        operator: prefix
        values: [/var/log/]
  - call: sys_write
    syscall: true
    args:
    - index: 0
      type: fd
    - index: 1
      type: char_buf
      sizeArgIndex: 3
      maxData: true
    - index: 2
      type: size_t
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: [/etc/]
  - call: sys_read
    syscall: true
    return: true
    args:
    - index: 0
      type: fd
    - index: 1
      type: char_buf
      returnCopy: true
    returnArg:
      index: 0
      type: size_t
    selectors:
    - matchReturnArgs:
      - operator: GT
        values: ["0"]
"#;
    let policy = parse_ok(yaml);
    assert_eq!(policy.labels.get("team").map(String::as_str), Some("security"));
    let open = &policy.hooks[0];
    assert_eq!(open.args[0].label.as_deref(), Some("opened"));
    assert_eq!(open.message.as_deref(), Some("sensitive file opened"));
    assert_eq!(open.tags, vec!["observability.filesystem".to_owned()]);
    let selector = &open.selectors[0];
    assert_eq!(selector.args[1].filter, ArgFilter::FileType { negated: true, types: vec![FileType::Directory] });
    assert_eq!(selector.binaries.as_ref().map(|b| b.op), Some(BinaryOp::NotIn));
    assert_eq!(
        selector.actions,
        vec![Action::Post(Post {
            rate_limit: Some(RateLimit { window: Duration::from_secs(60), scope: RateLimitScope::Process }),
            ..Post::default()
        })]
    );

    // `args: [1]` is the position in the hook's args list.
    let fd_install = &policy.hooks[1];
    assert_eq!(fd_install.selectors[0].args[0].arg, 1);
    assert_eq!(fd_install.args[fd_install.selectors[0].args[0].arg].ty, ArgType::File);

    assert_eq!(
        policy.hooks[2].selectors[0].args[0].filter,
        ArgFilter::Str { op: StrOp::Prefix, values: vec!["/var/log/".into()] }
    );

    let write = &policy.hooks[3];
    assert!(matches!(&write.point, HookPoint::Kprobe(f) if f.syscall && f.call == "sys_write"));
    // sizeArgIndex 3 (1-based) is argument 2.
    assert_eq!(write.args[1].ty, ArgType::CharBuf(Buffer { size_arg: Some(2), return_copy: false, max_data: true }));
    assert_eq!(write.args[2].ty, ArgType::Int(IntType::SizeT));

    let read = &policy.hooks[4];
    assert_eq!(read.args[1].ty, ArgType::CharBuf(Buffer { size_arg: None, return_copy: true, max_data: false }));
    assert_eq!(read.return_arg, Some(ReturnArg { ty: ArgType::Int(IntType::SizeT), label: None }));
    assert_eq!(
        read.selectors[0].return_args,
        vec![ArgFilter::Int { op: IntOp::GreaterThan, values: vec![IntValue::Unsigned(0)] }]
    );
}

#[test]
fn tracepoints() {
    let yaml = format!(
        "{HEAD}{}",
        r#"  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4          # after the 4 common_* fields: the syscall id
      type: syscall64
    selectors:
    - matchArgs:
      - index: 4
        operator: Equal
        values: ["59", "0x142"]
  - subsystem: sock
    event: inet_sock_set_state
    raw: true           # TP_PROTO(const struct sock *sk, int oldstate, int newstate)
    args:
    - index: 0
      type: sock
    - index: 2
      type: int
    selectors:
    - matchArgs:
      - index: 2
        operator: Equal
        values: ["2"]
      - index: 0
        operator: NotDAddr
        values: [127.0.0.0/8]
      matchActions:
      - action: Sigkill
"#
    );
    let policy = parse_ok(&yaml);
    let kinds: Vec<_> = policy.hooks.iter().map(Hook::kind).collect();
    assert_eq!(kinds, vec![HookKind::Tracepoint, HookKind::RawTracepoint]);
    assert_eq!(
        policy.hooks[0].point,
        HookPoint::Tracepoint(Tracepoint { subsystem: "raw_syscalls".into(), event: "sys_enter".into() })
    );
    assert_eq!(
        policy.hooks[0].selectors[0].args[0].filter,
        ArgFilter::Int { op: IntOp::Equal, values: vec![IntValue::Unsigned(59), IntValue::Unsigned(322)] }
    );
    let raw = &policy.hooks[1].selectors[0];
    assert_eq!(
        raw.args[0],
        MatchArg { arg: 1, filter: ArgFilter::Int { op: IntOp::Equal, values: vec![IntValue::Signed(2)] } }
    );
    assert_eq!(raw.actions, vec![Action::Sigkill]);
}

#[test]
fn uprobes() {
    let yaml = format!(
        "{HEAD}{}",
        r#"  uprobes:
  - path: /usr/bin/bash
    symbols: [readline]
    return: true
    returnArg:
      type: string
    selectors:
    - matchReturnArgs:
      - index: 0
        operator: Prefix
        values: [sudo]
  - path: /usr/lib/x86_64-linux-gnu/libssl.so.3
    offsets: [0x3a2f0, 238320]
    args:
    - index: 1
      type: char_buf
      sizeArgIndex: 3
    - index: 2
      type: int32
    selectors:
    - matchPIDs:
      - operator: NotIn
        values: [1, 2]
        followForks: true
        isNamespacePID: true
      matchActions:
      - action: Post
        userStackTrace: true
"#
    );
    let policy = parse_ok(&yaml);
    assert!(policy.hooks.iter().all(|hook| hook.kind() == HookKind::Uprobe));
    assert_eq!(
        policy.hooks[0].point,
        HookPoint::Uprobe(Uprobe {
            path: "/usr/bin/bash".into(),
            target: UprobeTarget::Symbols(vec!["readline".into()])
        })
    );
    assert_eq!(policy.hooks[0].return_arg, Some(ReturnArg { ty: ArgType::String, label: None }));
    assert_eq!(
        policy.hooks[0].selectors[0].return_args,
        vec![ArgFilter::Str { op: StrOp::Prefix, values: vec!["sudo".into()] }]
    );
    let ssl = &policy.hooks[1];
    assert_eq!(
        ssl.point,
        HookPoint::Uprobe(Uprobe {
            path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
            target: UprobeTarget::Offsets(vec![0x3a2f0, 238320]),
        })
    );
    assert_eq!(
        ssl.selectors[0].pids,
        vec![PidFilter { op: SetOp::NotIn, pids: vec![1, 2], namespace_pids: true, follow_forks: true }]
    );
    assert_eq!(ssl.selectors[0].actions, vec![Action::Post(Post { user_stack_trace: true, ..Post::default() })]);
}

#[test]
fn lsm_hooks() {
    let yaml = format!(
        "{HEAD}{}",
        r#"  lsmhooks:
  - hook: bprm_check_security
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchBinaries:
      - operator: In
        values: [/usr/bin/bash, /usr/bin/zsh]
        followChildren: true
      matchArgs:
      - index: 0
        operator: Postfix
        values: [/nc, /ncat]
      matchActions:
      - action: Override
        argError: -1
      - action: Post
        imaHash: true
        kernelStackTrace: true
  - hook: file_open
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: [/etc/shadow]
      matchCapabilities:
      - type: Effective
        operator: NotIn
        values: [CAP_SYS_ADMIN, CAP_DAC_OVERRIDE]
      matchActions:
      - action: signal
        argSig: 19
"#
    );
    let policy = parse_ok(&yaml);
    assert_eq!(policy.hooks[0].point, HookPoint::Lsm("bprm_check_security".into()));
    assert_eq!(policy.hooks[0].kind(), HookKind::Lsm);
    let exec = &policy.hooks[0].selectors[0];
    assert!(exec.binaries.as_ref().is_some_and(|b| b.follow_children));
    assert_eq!(
        exec.actions,
        vec![Action::Override(-1), Action::Post(Post { ima_hash: true, kernel_stack_trace: true, ..Post::default() })]
    );
    let open = &policy.hooks[1].selectors[0];
    let caps = &open.capabilities[0];
    assert_eq!((caps.set, caps.op, caps.namespace_capability), (CapabilitySet::Effective, SetOp::NotIn, false));
    let names: Vec<_> = caps.capabilities.iter().map(|c| (c.number(), c.name())).collect();
    assert_eq!(names, vec![(21, "CAP_SYS_ADMIN"), (1, "CAP_DAC_OVERRIDE")]);
    // Action names are case-insensitive upstream.
    assert_eq!(open.actions, vec![Action::Signal(19)]);
}

#[test]
fn namespaced_policy_with_pod_selector() {
    let yaml = r#"
apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata:
  name: setuid-in-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
    matchExpressions:
    - key: tier
      operator: In
      values: [frontend]
  containerSelector:
    matchExpressions:
    - key: name
      operator: NotIn
      values: [istio-proxy]
  options:
  - name: policy-mode
    value: monitor
  - name: disable-kprobe-multi
    value: "true"
  kprobes:
  - call: sys_setuid
    syscall: true
    args:
    - index: 0
      type: int
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["0"]
      matchNamespaces:
      - namespace: Pid
        operator: NotIn
        values: [host_ns]
      - namespace: Mnt
        operator: In
        values: ["4026531841"]
      matchActions:
      - action: Sigkill
"#;
    let policy = parse_ok(yaml);
    assert_eq!(policy.scope, Scope::Namespace("prod".into()));
    assert_eq!(policy.mode, Mode::Monitor);
    assert_eq!(policy.attach, AttachOptions { kprobe_multi: false, uprobe_multi: true });
    assert_eq!(
        policy.workloads,
        Workloads {
            pods: Some(LabelSelector {
                match_labels: [("app".to_owned(), "web".to_owned())].into(),
                match_expressions: vec![LabelExpression {
                    key: "tier".into(),
                    operator: LabelOperator::In(vec!["frontend".into()]),
                }],
            }),
            containers: Some(LabelSelector {
                match_labels: Default::default(),
                match_expressions: vec![LabelExpression {
                    key: "name".into(),
                    operator: LabelOperator::NotIn(vec!["istio-proxy".into()]),
                }],
            }),
            host: false,
        }
    );
    assert_eq!(
        policy.hooks[0].selectors[0].namespaces,
        vec![
            NamespaceFilter { namespace: Namespace::Pid, op: SetOp::NotIn, values: vec![NamespaceValue::Host] },
            NamespaceFilter {
                namespace: Namespace::Mnt,
                op: SetOp::In,
                values: vec![NamespaceValue::Inode(4026531841)]
            },
        ]
    );
}

#[test]
fn label_selectors_match_as_kubernetes_does() {
    let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let policy = parse_ok(&format!(
        "{HEAD}  podSelector:\n    matchLabels:\n      app: web\n    matchExpressions:\n    - key: tier\n      \
         operator: In\n      values: [frontend, edge]\n    - key: canary\n      operator: DoesNotExist\n  kprobes:\n  \
         - call: sys_setuid\n    syscall: true\n"
    ));
    let pods = policy.workloads.pods.unwrap();
    assert!(pods.matches(&labels(&[("app", "web"), ("tier", "edge")])));
    assert!(!pods.matches(&labels(&[("app", "web"), ("tier", "edge"), ("canary", "1")])));
    assert!(!pods.matches(&labels(&[("app", "web"), ("tier", "db")])));
    assert!(!pods.matches(&labels(&[("tier", "edge")])));
    assert!(LabelSelector::default().matches(&labels(&[])));
}

/// Host processes only, fentries, and every socket, integer and capability
/// operator with the value spellings upstream accepts.
#[test]
fn operators_and_value_spellings() {
    let yaml = format!(
        "{HEAD}{}",
        r#"  hostSelector: {}
  fentries:
  - call: tcp_sendmsg
    syscall: false
    ignore:
      callNotFound: true
    args:
    - index: 0
      type: sock
    - index: 2
      type: size_t
    selectors:
    - label: web
      matchArgs:
      - index: 0
        operator: SAddr
        values: [10.1.2.3/8, "fd00::/8", 192.168.0.1]
      - index: 0
        operator: sport
        values: ["1024:65535"]
      - index: 0
        operator: Protocol
        values: [IPPROTO_TCP, "17"]
      - index: 0
        operator: Family
        values: [AF_INET6]
      - index: 0
        operator: State
        values: [TCP_ESTABLISHED]
    - matchArgs:
      - index: 0
        operator: NotDPortPriv
      - index: 2
        operator: InRange
        values: ["0x10:0x20", "0100:1000"]
      - index: 2
        operator: Mask
        values: ["0xff"]
  kprobes:
  - call: cap_capable
    syscall: false
    args:
    - index: 2
      type: capability
    selectors:
    - matchArgs:
      - index: 2
        operator: Equal
        values: [CAP_SYS_ADMIN, "12"]
"#
    );
    let policy = parse_ok(&yaml);
    assert_eq!(policy.workloads, Workloads { pods: None, containers: None, host: true });
    // Hooks come in section order: kprobes before fentries.
    assert_eq!(policy.hooks[1].kind(), HookKind::Fentry);
    assert_eq!(
        policy.hooks[1].point,
        HookPoint::Fentry(Function { call: "tcp_sendmsg".into(), syscall: false, ignore_call_not_found: true })
    );
    let first = &policy.hooks[1].selectors[0];
    assert_eq!(first.label.as_deref(), Some("web"));
    let filters: Vec<_> = first.args.iter().map(|m| m.filter.clone()).collect();
    assert_eq!(
        filters,
        vec![
            ArgFilter::Addr {
                side: Side::Source,
                negated: false,
                networks: vec![net("10.0.0.0/8"), net("fd00::/8"), net("192.168.0.1/32")],
            },
            ArgFilter::Port { side: Side::Source, negated: false, ranges: vec![PortRange { low: 1024, high: 65535 }] },
            ArgFilter::Protocol(vec![6, 17]),
            ArgFilter::Family(vec![10]),
            ArgFilter::State(vec![1]),
        ]
    );
    let second: Vec<_> = policy.hooks[1].selectors[1].args.iter().map(|m| (m.arg, m.filter.clone())).collect();
    let u = IntValue::Unsigned;
    assert_eq!(
        second,
        vec![
            (0, ArgFilter::PrivilegedPort { side: Side::Destination, negated: true }),
            // Octal 0100 is 64 (Go's base-0 integers).
            (
                1,
                ArgFilter::IntRange {
                    negated: false,
                    ranges: vec![IntRange { low: u(16), high: u(32) }, IntRange { low: u(64), high: u(1000) }],
                }
            ),
            (1, ArgFilter::Int { op: IntOp::Mask, values: vec![u(255)] }),
        ]
    );
    assert_eq!(
        policy.hooks[0].selectors[0].args[0].filter,
        ArgFilter::Int { op: IntOp::Equal, values: vec![u(21), u(12)] }
    );
}

#[test]
fn limits_are_inclusive() {
    let values = |n: usize| (0..n).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    let selectors = (0..limits::MAX_SELECTORS)
        .map(|_| {
            format!("{{matchArgs: [{{index: 0, operator: Equal, values: [{}]}}]}}", values(limits::MAX_INT_VALUES))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let args = (0..limits::MAX_ARGS).map(|i| format!("{{index: {i}, type: int}}")).collect::<Vec<_>>().join(", ");
    let yaml = format!("{HEAD}  kprobes:\n  - {{call: f, syscall: false, args: [{args}], selectors: [{selectors}]}}\n");
    let policy = parse_ok(&yaml);
    assert_eq!(policy.hooks[0].selectors.len(), limits::MAX_SELECTORS);
    assert_eq!(policy.hooks[0].args.len(), limits::MAX_ARGS);
}

#[test]
fn rate_limit_spellings() {
    for (text, seconds) in [("30", 30), ("30s", 30), ("5m", 300), ("1h", 3600), ("4294967s", 4_294_967)] {
        let yaml = format!(
            "{HEAD}  kprobes:\n  - {{call: f, syscall: false, selectors: [{{matchActions: [{{action: Post, rateLimit: \"{text}\"}}]}}]}}\n"
        );
        let action = &parse_ok(&yaml).hooks[0].selectors[0].actions[0];
        let expected = RateLimit { window: Duration::from_secs(seconds), scope: RateLimitScope::Thread };
        assert_eq!(action, &Action::Post(Post { rate_limit: Some(expected), ..Post::default() }), "{text}");
    }
}
