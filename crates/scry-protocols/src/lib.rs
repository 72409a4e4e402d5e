//! Scry's L7 protocol parsers. Pure: bytes in, frames and records out — no
//! I/O, no BPF, no clocks — so every parser is tested and fuzzed on its own.
//!
//! The connection tracker (in the agent) keeps one byte stream per direction
//! of a connection. For each protocol it calls [`Protocol::parse_frame`] on
//! the front of the stream until it needs more bytes, resynchronizes with
//! [`Protocol::find_boundary`] after a gap or garbage, and hands the frames of
//! both directions to [`Protocol::stitch`], which pairs requests with
//! responses into records. Each protocol's module says how its records map to
//! Pixie's table columns.

use std::collections::VecDeque;

pub mod dns;
pub mod http;
pub mod mysql;
pub mod pgsql;
pub mod redis;

/// Which side of an exchange a stream carries. The tracker knows it from the
/// connection's role (client or server) and the direction of the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Request,
    Response,
}

/// What parsing the front of a buffer found.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseState<F> {
    /// One whole frame, made of the first `consumed` bytes.
    Frame { frame: F, consumed: usize },
    /// The buffer ends inside a frame: call again with more bytes.
    NeedsMoreData,
    /// The buffer does not start with a frame of this protocol. The caller
    /// counts a parse error and resumes at [`Protocol::find_boundary`].
    Invalid,
}

/// A frame and the time its first byte was seen (ns, the tracker's clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Timed<F> {
    pub ts_ns: u64,
    pub frame: F,
}

/// A request and its response.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange<R> {
    pub req_ts_ns: u64,
    pub resp_ts_ns: u64,
    pub record: R,
}

/// What one call to [`Protocol::stitch`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Stitched<R> {
    pub records: Vec<Exchange<R>>,
    /// Frames dropped because nothing could be matched with them (a response
    /// without a request, a request whose response was skipped).
    pub unmatched: u64,
}

impl<R> Default for Stitched<R> {
    fn default() -> Self {
        Stitched { records: Vec::new(), unmatched: 0 }
    }
}

pub trait Protocol {
    /// One parsed message.
    type Frame;
    /// One request with its response, as a table row needs it.
    type Record;
    /// What a connection remembers between calls (prepared statements,
    /// pub/sub mode, the transport …).
    type State: Default + Clone;

    /// Parses the frame at the start of `buf`. Never panics, on any bytes.
    fn parse_frame(kind: MessageType, buf: &[u8], state: &mut Self::State) -> ParseState<Self::Frame>;

    /// The first position at or after `from` where a frame of `kind` may
    /// start, to resume after a gap or an invalid frame; `None` if there is
    /// none yet. (The tracker passes `from = 1` after an invalid frame.)
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize>;

    /// Pairs requests with responses, both in stream order. Frames it uses or
    /// gives up on are removed; frames that may still match (a request whose
    /// response has not arrived) stay for the next call.
    fn stitch(
        requests: &mut VecDeque<Timed<Self::Frame>>,
        responses: &mut VecDeque<Timed<Self::Frame>>,
        state: &mut Self::State,
    ) -> Stitched<Self::Record>;
}

/// Pixie's default body column size (`PL_STIRLING_MAX_BODY_BYTES`).
pub const DEFAULT_BODY_BYTES: usize = 512;
/// Largest configurable body column size: a parser keeps a body's first
/// bytes up to it per message in flight.
pub const MAX_BODY_BYTES_LIMIT: usize = 16 << 10;

/// Bounds on the text a record keeps, chosen per agent and handed to each
/// connection's parser state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a body column (HTTP request and response bodies, MySQL
    /// statements and responses) before Pixie's truncation marker.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { body_bytes: DEFAULT_BODY_BYTES }
    }
}

/// Text of at most `limit` bytes (cut on a character boundary), with Pixie's
/// marker when cut. Bodies and queries go through this before they become
/// columns.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [TRUNCATED]", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_marks_the_cut_on_a_char_boundary() {
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello", 3), "hel... [TRUNCATED]");
        assert_eq!(truncate("héllo", 2), "h... [TRUNCATED]");
    }
}
