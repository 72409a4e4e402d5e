//! The document as written: serde types that mirror Tetragon's CRD field by
//! field, with no meaning attached yet (`validate.rs` gives it).
//!
//! Every struct denies unknown fields, so a typo anywhere is an error that
//! names the key. Fields that Tetragon knows but Scry does not implement are
//! declared as [`IgnoredAny`] only so that the validator can refuse them by
//! name ("not supported by Scry") instead of calling them unknown: a policy
//! is never loaded with part of it silently dropped.
//!
//! Values that Tetragon's CRD declares as strings stay strings here
//! (operator values, option values, rate limits): YAML writers put `80` and
//! `"80"` alike, and the YAML reader hands either to a `String` as written,
//! so the validator parses them with one rule and one message.

use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// The two fields read first, leniently, so that a document of another kind
/// (a Pod, a CiliumNetworkPolicy) is refused for being that rather than for
/// its first field Tetragon does not have.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header {
    pub api_version: Option<String>,
    pub kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    /// Checked through [`Header`]; declared so that they are not unknown.
    #[serde(rename = "apiVersion")]
    pub _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    pub _kind: IgnoredAny,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    pub name: String,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Spec {
    #[serde(default)]
    pub kprobes: Vec<KProbe>,
    #[serde(default)]
    pub fentries: Vec<KProbe>,
    #[serde(default)]
    pub tracepoints: Vec<Tracepoint>,
    #[serde(default)]
    pub uprobes: Vec<UProbe>,
    #[serde(default)]
    pub lsmhooks: Vec<LsmHook>,
    #[serde(default)]
    pub options: Vec<PolicyOption>,
    pub pod_selector: Option<LabelSelector>,
    pub container_selector: Option<LabelSelector>,
    /// Only `{}` (include host processes) exists upstream; any key in it is unknown.
    pub host_selector: Option<Empty>,
    // Tetragon's, not Scry's (refused by name):
    pub usdts: Option<IgnoredAny>,
    pub loader: Option<IgnoredAny>,
    pub lists: Option<IgnoredAny>,
    pub enforcers: Option<IgnoredAny>,
    pub selectors_macros: Option<IgnoredAny>,
    pub node_selector: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyOption {
    pub name: String,
    pub value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelExpression>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelExpression {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// `kprobes[]` and `fentries[]` (one schema upstream).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KProbe {
    pub call: String,
    /// Optional here so that leaving it out gets its own message: the CRD
    /// defaults it to true and Tetragon's docs to false.
    pub syscall: Option<bool>,
    #[serde(rename = "return", default)]
    pub returns: bool,
    pub return_arg: Option<Arg>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    pub message: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub ignore: Option<KProbeIgnore>,
    // Tetragon's, not Scry's:
    pub return_arg_action: Option<IgnoredAny>,
    pub data: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KProbeIgnore {
    #[serde(default)]
    pub call_not_found: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Tracepoint {
    pub subsystem: String,
    pub event: String,
    #[serde(default)]
    pub raw: bool,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    pub message: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UProbe {
    pub path: String,
    #[serde(default)]
    pub symbols: Vec<String>,
    #[serde(default)]
    pub offsets: Vec<u64>,
    #[serde(rename = "return", default)]
    pub returns: bool,
    pub return_arg: Option<Arg>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    pub message: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    // Tetragon's, not Scry's:
    pub btf_path: Option<IgnoredAny>,
    pub addrs: Option<IgnoredAny>,
    pub ref_ctr_offsets: Option<IgnoredAny>,
    pub data: Option<IgnoredAny>,
    pub binary_digests: Option<IgnoredAny>,
    pub ignore: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LsmHook {
    pub hook: String,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    pub message: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `KProbeArg` upstream; also the shape of `returnArg`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Arg {
    pub index: Option<u32>,
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub label: Option<String>,
    pub size_arg_index: Option<u32>,
    #[serde(default)]
    pub return_copy: bool,
    #[serde(default)]
    pub max_data: bool,
    // Tetragon's, not Scry's (they need BTF at load time):
    pub resolve: Option<IgnoredAny>,
    pub btf_type: Option<IgnoredAny>,
    pub btf_type_module: Option<IgnoredAny>,
    pub source: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Selector {
    #[serde(default)]
    pub match_args: Vec<MatchArg>,
    #[serde(default)]
    pub match_return_args: Vec<MatchArg>,
    #[serde(default)]
    pub match_binaries: Vec<MatchBinaries>,
    #[serde(rename = "matchPIDs", default)]
    pub match_pids: Vec<MatchPids>,
    #[serde(default)]
    pub match_namespaces: Vec<MatchNamespaces>,
    #[serde(default)]
    pub match_capabilities: Vec<MatchCapabilities>,
    #[serde(default)]
    pub match_actions: Vec<Action>,
    pub label: Option<String>,
    // Tetragon's, not Scry's:
    pub match_data: Option<IgnoredAny>,
    pub match_parent_binaries: Option<IgnoredAny>,
    pub match_namespace_changes: Option<IgnoredAny>,
    pub match_capability_changes: Option<IgnoredAny>,
    pub match_workloads: Option<IgnoredAny>,
    pub match_return_actions: Option<IgnoredAny>,
    pub macros: Option<IgnoredAny>,
}

/// A `matchArgs` or `matchReturnArgs` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchArg {
    pub index: Option<u32>,
    pub args: Option<Vec<u32>>,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MatchBinaries {
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub follow_children: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MatchPids {
    pub operator: String,
    #[serde(default)]
    pub values: Vec<u32>,
    #[serde(rename = "isNamespacePID", default)]
    pub is_namespace_pid: bool,
    #[serde(default)]
    pub follow_forks: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchNamespaces {
    pub namespace: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MatchCapabilities {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub operator: String,
    #[serde(default)]
    pub is_namespace_capability: bool,
    #[serde(default)]
    pub values: Vec<String>,
}

/// One `matchActions` entry: upstream puts every action's parameters in one
/// flat struct; the validator checks that only the named action's are set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Action {
    pub action: String,
    pub arg_sig: Option<u32>,
    pub arg_error: Option<i32>,
    pub rate_limit: Option<String>,
    pub rate_limit_scope: Option<String>,
    pub kernel_stack_trace: Option<bool>,
    pub user_stack_trace: Option<bool>,
    pub ima_hash: Option<bool>,
    // Parameters of actions Scry refuses, declared so that the action's name
    // is what the message is about:
    pub arg_fd: Option<IgnoredAny>,
    pub arg_name: Option<IgnoredAny>,
    pub arg_url: Option<IgnoredAny>,
    pub arg_fqdn: Option<IgnoredAny>,
    pub arg_sock: Option<IgnoredAny>,
    pub arg_regs: Option<IgnoredAny>,
    pub arg_new_symbol: Option<IgnoredAny>,
    pub arg_new_addr: Option<IgnoredAny>,
    pub arg_new_offset: Option<IgnoredAny>,
    pub arg_index: Option<IgnoredAny>,
    pub arg_value: Option<IgnoredAny>,
}
