//! Socket data tracing in user space: the collector drains the socket
//! tracer's ring, the tracker reassembles each connection's streams
//! (`stream.rs`) and runs the protocol parsers over them (`parsing.rs`), and
//! stitched records become rows in Pixie's tables (`tables.rs`); every
//! connection is also counted in `conn_stats` (`conn_stats.rs`).

use std::time::Duration;

pub mod collector;
pub mod conn_stats;
pub mod parsing;
pub mod redact;
pub mod stream;
pub mod tables;
pub mod tracker;

/// How socket tracing records what it sees.
#[derive(Clone, Debug)]
pub struct SocketTracingConfig {
    /// Off by `--socket-tracing off`: the tables exist and stay empty.
    pub enabled: bool,
    /// How often `conn_stats` is sampled (Pixie: every 5–10 s).
    pub conn_stats_every: Duration,
    /// Sizes of body columns.
    pub limits: scry_protocols::Limits,
    /// Secrets and values are redacted before rows are stored (Pixie's
    /// PIIRestricted in spirit; `redact.rs` says what is kept).
    pub redact: bool,
}

impl Default for SocketTracingConfig {
    fn default() -> Self {
        SocketTracingConfig {
            enabled: true,
            conn_stats_every: Duration::from_secs(5),
            limits: Default::default(),
            redact: false,
        }
    }
}
