//! Scry's event and record types, shared by the agent and every client.
//!
//! Process events serialize as Tetragon's event JSON (protojson of its
//! `GetEventsResponse`), so pipelines written for Tetragon keep working.

pub mod caps;
pub mod compact;
pub mod event;
pub mod filter;
pub mod flow;
pub mod socket_names;
pub mod status;
pub mod tables;

pub use event::{Event, EventEnvelope, EventType, Process};
