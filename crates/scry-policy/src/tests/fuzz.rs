//! Parsing never panics: not on arbitrary text, and not on valid policies
//! damaged a few bytes at a time (which reach the validator far more often
//! than random text does).

use crate::parse;

/// Policies that load, each exercising a different part of the validator.
const SEEDS: &[&str] = &[
    r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: deny-egress
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args: [{index: 0, type: sock}]
    selectors:
    - matchArgs: [{index: 0, operator: DAddr, values: ["127.0.0.0/8", "::1/128"]}]
      matchActions: [{action: NoPost}]
    - matchArgs: [{index: 0, operator: NotDPort, values: ["80", "443:444"]}]
      matchActions: [{action: Sigkill}]
"#,
    r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata: {name: x, namespace: y}
spec:
  podSelector: {matchLabels: {a: b}, matchExpressions: [{key: k, operator: In, values: [v]}]}
  options: [{name: policy-mode, value: monitor}]
  kprobes:
  - call: sys_read
    syscall: true
    return: true
    returnArg: {index: 0, type: int64}
    args: [{index: 0, type: fd}, {index: 1, type: char_buf, returnCopy: true}, {index: 2, type: size_t}]
    selectors:
    - matchReturnArgs: [{operator: InRange, values: ["0x10:0100"]}]
      matchBinaries: [{operator: In, values: [/usr/bin/cat], followChildren: true}]
      matchPIDs: [{operator: NotIn, values: [1], followForks: true}]
      matchNamespaces: [{namespace: Pid, operator: NotIn, values: [host_ns]}]
      matchCapabilities: [{type: Permitted, operator: In, values: [CAP_SYS_ADMIN]}]
      matchActions: [{action: Post, rateLimit: 5m, rateLimitScope: global}, {action: Signal, argSig: 9}]
"#,
    r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: x}
spec:
  tracepoints: [{subsystem: raw_syscalls, event: sys_enter, args: [{index: 4, type: syscall64}],
    selectors: [{matchArgs: [{index: 4, operator: Equal, values: ["59"]}]}]}]
  uprobes: [{path: /bin/bash, symbols: [readline], return: true, returnArg: {type: string}}]
  lsmhooks: [{hook: file_open, args: [{index: 0, type: file}], selectors: [{matchArgs:
    [{index: 0, operator: NotFileType, values: [dir]}], matchActions: [{action: Override, argError: -1}]}]}]
"#,
];

#[test]
fn fuzz_parse_never_panics() {
    for seed in SEEDS {
        parse(seed).unwrap_or_else(|e| panic!("seed rejected: {e}"));
    }
    bolero::check!().with_type::<(u8, Vec<(u16, u8, bool)>, Vec<u8>)>().for_each(|(pick, edits, bytes)| {
        // Arbitrary text.
        let _ = parse(&String::from_utf8_lossy(bytes)).map_err(|e| e.to_string());
        // A seed with up to 3 bytes overwritten or inserted: often still
        // YAML of the right shape, so the validator sees it (about one input
        // in seven gets past the YAML reader; more edits make that rare).
        let mut text = SEEDS[usize::from(*pick) % SEEDS.len()].as_bytes().to_vec();
        for &(position, byte, insert) in edits.iter().take(3) {
            let at = usize::from(position) % text.len();
            if insert {
                text.insert(at, byte);
            } else {
                text[at] = byte;
            }
        }
        let _ = parse(&String::from_utf8_lossy(&text)).map_err(|e| e.to_string());
    });
}

/// Hand-picked inputs the random ones are unlikely to hit: deep nesting,
/// alias bombs, huge numbers, odd scalars where structures belong.
#[test]
fn hostile_inputs_are_refused_not_crashed_on() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\napiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\n";
    let head = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec:\n";
    let inputs = [
        deep,
        bomb.to_owned(),
        format!("{head}  kprobes: [{{call: f, syscall: false, args: [{{index: 99999999999999999999, type: int}}]}}]\n"),
        format!(
            "{head}  kprobes: [{{call: f, syscall: false, args: [{{index: 0, type: int}}], selectors: [{{matchArgs: [{{index: 0, operator: Equal, values: [\"-99999999999999999999999\"]}}]}}]}}]\n"
        ),
        format!(
            "{head}  kprobes: [{{call: f, syscall: false, args: [{{index: 0, type: sock}}], selectors: [{{matchArgs: [{{index: 0, operator: DPort, values: [\":\", \"1:\", \":1\", \"::\"]}}]}}]}}]\n"
        ),
        format!("{head}  kprobes: {{call: f}}\n"),
        format!("{head}  kprobes: [[]]\n"),
        "\u{feff}apiVersion: cilium.io/v1alpha1\n\0".to_owned(),
    ];
    for input in &inputs {
        assert!(parse(input).is_err(), "accepted: {input:.200}");
    }
}
