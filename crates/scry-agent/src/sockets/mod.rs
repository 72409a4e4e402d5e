//! Socket data tracing in user space: the collector drains the socket
//! tracer's ring, the tracker reassembles each connection's streams
//! (`stream.rs`) and runs the protocol parsers over them (`parsing.rs`), and
//! stitched records become rows in Pixie's tables (`tables.rs`).

pub mod collector;
pub mod parsing;
pub mod stream;
pub mod tables;
pub mod tracker;
