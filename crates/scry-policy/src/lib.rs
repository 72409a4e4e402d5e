//! Tetragon `TracingPolicy` / `TracingPolicyNamespaced` documents
//! (`cilium.io/v1alpha1`) read into small, validated types. Pure: a `&str`
//! in, a [`Policy`] or one [`PolicyError`] out — no BPF, no I/O.
//!
//! Scry's rule is that a policy loads as written or not at all. Upstream
//! ignores several things silently (extra PID values, an empty
//! `matchBinaries`, actions past the third); here anything unknown,
//! unsupported or over a limit rejects the whole policy with the YAML path
//! of the field and the reason:
//!
//! ```text
//! spec.kprobes[0].selectors[0].matchArgs[0].operator: unknown operator "Equals" (supported: Equal, …)
//! ```
//!
//! Layers: `spec` mirrors the YAML (serde, unknown fields denied), `validate`
//! and `selectors` give it meaning, `policy` is the result; `limits` lists the
//! bounds with their sources. Compiling a policy to BPF maps, and checking
//! that the running kernel has each [`HookKind`] a policy's hooks need, come
//! later and start from [`Policy::hooks`].
//!
//! YAML is read by `serde-saphyr`: serde_yaml is archived, and serde-saphyr
//! is maintained, pure Rust (no C libyaml port), built to parse untrusted
//! input without panicking, bounded against alias bombs, refuses duplicate
//! keys by default, and is already in the workspace through `kube`.

mod error;
pub mod limits;
mod names;
mod policy;
mod selectors;
mod spec;
mod validate;
mod values;

pub use error::PolicyError;
pub use policy::{
    Action, Arg, ArgFilter, ArgType, AttachOptions, BinaryFilter, BinaryOp, Buffer, Capability, CapabilityFilter,
    CapabilitySet, FileType, Function, Hook, HookKind, HookPoint, IntOp, IntRange, IntType, IntValue, LabelExpression,
    LabelOperator, LabelSelector, MatchArg, Mode, Namespace, NamespaceFilter, NamespaceValue, PidFilter, Policy,
    PortRange, Post, RateLimit, RateLimitScope, ReturnArg, Scope, Selector, SetOp, Side, StrOp, Tracepoint, Uprobe,
    UprobeTarget, Workloads,
};

use serde::Deserialize;
use serde_saphyr::MessageFormatter;

/// Reads one policy document. The whole document is checked before anything
/// is returned; the first problem found is the error.
pub fn parse(yaml: &str) -> Result<Policy, PolicyError> {
    let header: spec::Header = from_yaml(yaml)?;
    let kind = validate::header(&header)?;
    let document: spec::Document = from_yaml(yaml)?;
    validate::document(document, kind)
}

/// Deserializes with the path of the failing field kept (serde_path_to_error)
/// and the YAML reader's message without its source snippet.
fn from_yaml<'de, T: Deserialize<'de>>(yaml: &'de str) -> Result<T, PolicyError> {
    let mut options = serde_saphyr::Options::default();
    // One line per error: the path says where; no rendered source excerpt.
    options.with_snippet = false;
    // A tag the reader does not know (`!secret x`) would otherwise be dropped.
    options.reject_unsupported_tags = true;
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(yaml, options, |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            path = Some(error.path().to_string());
            error.into_inner()
        })
    })
    .map_err(|error| {
        // serde_path_to_error writes "." for the document itself and "?" for
        // a segment it could not name (a duplicate key's); neither helps.
        let path = path.unwrap_or_default();
        let path = path.trim_end_matches(".?").trim_end_matches('?');
        let path = if path == "." { "" } else { path };
        let reason = serde_saphyr::UserMessageFormatter.format_message(&error).into_owned();
        let location = error.location().map(|l| (l.line() as usize, l.column() as usize));
        PolicyError::at_location(path.to_owned(), reason, location)
    })
}

#[cfg(test)]
mod tests;
