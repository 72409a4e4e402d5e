//! The one error a rejected policy produces: the YAML path of the offending
//! field and why it was refused. Validation stops at the first problem, so a
//! caller never sees a policy that was half accepted.

use std::fmt;

/// Why a policy was rejected, e.g.
/// `spec.kprobes[0].selectors[0].matchArgs[0].operator: unknown operator "Equals" (supported: …)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    path: String,
    reason: String,
    /// Line and column (1-based), known for errors the YAML reader found; the
    /// validator works on values that no longer carry positions.
    location: Option<(usize, usize)>,
}

impl PolicyError {
    /// A policy that parsed but cannot run here (a hook this kernel or
    /// engine cannot attach, an argument it cannot compare): the field's
    /// path, as [`Hook::path`](crate::Hook::path) gives it, and why.
    pub fn unsupported(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
        PolicyError::at_location(path.into(), reason.into(), None)
    }

    /// The field's path in the document (`spec.kprobes[0].call`); empty when
    /// the problem is the document itself (not YAML, not a mapping).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// `(line, column)`, both 1-based, when known.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.location
    }

    pub(crate) fn at_location(path: String, reason: String, location: Option<(usize, usize)>) -> Self {
        PolicyError { path: printable(&path), reason: printable(&reason), location }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)?;
        if let Some((line, column)) = self.location {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// Paths and reasons can quote text from the document (a map key, an unknown
/// field, a bad value). They are shown on terminals and written to logs, so
/// control characters are escaped rather than passed through.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

/// Where the validator is in the document, spelled like YAML paths are
/// written in messages: `spec.kprobes[0].args[1].type`.
#[derive(Clone, Debug)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn root() -> Self {
        Path(String::new())
    }

    pub(crate) fn field(&self, name: &str) -> Path {
        if self.0.is_empty() { Path(name.to_owned()) } else { Path(format!("{}.{name}", self.0)) }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn index(&self, index: usize) -> Path {
        Path(format!("{}[{index}]", self.0))
    }

    /// The error for this field.
    pub(crate) fn error(&self, reason: impl Into<String>) -> PolicyError {
        PolicyError::at_location(self.0.clone(), reason.into(), None)
    }
}
