//! PostgreSQL frontend/backend protocol v3 → Pixie's `pgsql_events`.
//!
//! Framing: every message is a tag byte and an int32 length that counts
//! itself, except the untagged packets a client opens a connection with
//! (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest: int32 length,
//! int32 code) and the single byte the server answers an encryption request
//! with. An untagged packet starts with a zero byte, which is no tag, so the
//! two never look alike; [`State`] still accepts untagged packets only until
//! the first tagged request, and reads a lone `S`/`N`/`G` as the answer only
//! right after an encryption request. A tracker that joined mid-stream
//! therefore parses tagged messages from its first byte on.
//!
//! Messages are decoded in [`Protocol::parse_frame`] and keep only what the
//! table shows, already cut to the column limits, so a frame never holds more
//! than about the column size of each text it carries. A known tag whose body
//! does not decode (wrong counts, missing terminators, bytes left over) is
//! `Invalid`, which also makes [`Protocol::find_boundary`] strict: a
//! candidate is a known tag, a length within that message's bounds and, when
//! the whole message is there, a body that decodes.
//!
//! Stitching follows the protocol's message flow: a Query (or a
//! StartupMessage) is answered by everything up to ReadyForQuery; each
//! extended-protocol message (Parse, Bind, Describe, Execute, Close) by its
//! own completion message or an ErrorResponse, after which the server skips
//! messages up to the next Sync, itself answered by ReadyForQuery. Records
//! follow Pixie: one per Query, Parse, Bind, Describe and Execute; Scry adds
//! one per Close, per Sync answered by an error (a failed implicit commit)
//! and a `Startup` record per connection start. Sync, Flush, Terminate,
//! CancelRequest, SSL/GSS negotiation, password messages (inside the Startup
//! record), copy data and the legacy FunctionCall are matched or dropped
//! without a record, as Pixie drops them. A record's response time is its
//! answer's first message. After an accepted SSLRequest the wire carries TLS:
//! only plaintext captured above TLS parses.

mod stitch;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::{HashMap, VecDeque};

use crate::{MessageType, ParseState, Protocol, Stitched, Timed};

/// Limit of the `req` column: Pixie appends it with the default string cap.
pub const MAX_REQ_BYTES: usize = 1024;
/// Limit of the `resp` column (default string cap, as `req`).
pub const MAX_RESP_BYTES: usize = 1024;
/// Data rows kept per result set for `resp`; further rows are only counted
/// (already while parsing, so a large result costs no cell text).
pub const MAX_RESP_ROWS: usize = 16;
/// Largest message accepted. The protocol allows 1 GiB; a larger declared
/// length is `Invalid` so that a corrupt length cannot make the tracker
/// buffer up to a gigabyte. Rows or COPY chunks above it are lost.
pub const MAX_FRAME_BYTES: u32 = 16 << 20;
/// Largest startup packet, as the server enforces (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_BYTES: u32 = 10_000;
/// Prepared statements, and separately portals, remembered per connection;
/// when full, an arbitrary one is forgotten (its later use shows as unknown).
pub const MAX_PREPARED: usize = 1024;

/// PostgreSQL v3 (`traffic_protocol_t` 5).
pub struct Pgsql;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// An untagged packet at the start of a connection (requests only).
    Startup(Startup),
    /// The one-byte answer to SSLRequest or GSSENCRequest: `S`/`G` accept,
    /// `N` refuse (responses only).
    EncryptionAnswer(u8),
    /// A tagged message from the client.
    Frontend(Frontend),
    /// A tagged message from the server.
    Backend(Backend),
}

/// Untagged connection-opening packets, told apart by their int32 code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Startup {
    /// StartupMessage (protocol 3.x), its parameters as `name=value` joined
    /// by spaces, e.g. `user=postgres database=shop application_name=psql`.
    Start { params: String },
    /// Code 80877103.
    SslRequest,
    /// Code 80877104.
    GssEncRequest,
    /// Code 80877102, sent on a connection of its own; never answered.
    CancelRequest,
}

/// Client messages. Texts are cut to [`MAX_REQ_BYTES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frontend {
    /// `Q`: a query string, possibly several statements.
    Query(String),
    /// `P`: prepare `query` as `statement` (empty = the unnamed statement).
    Parse { statement: String, query: String },
    /// `B`: bind `statement` to `portal`; `params` is the values' text
    /// joined by `, ` (NULL as `[NULL]`, non-text bytes as `\x` hex).
    Bind { portal: String, statement: String, params: String },
    /// `D`: describe a statement or a portal.
    Describe { target: Target, name: String },
    /// `E`: run a portal.
    Execute { portal: String },
    /// `C`: close a statement or a portal.
    Close { target: Target, name: String },
    /// `S`: end of an extended-protocol sequence.
    Sync,
    /// `H`: ask for pending output; not answered itself.
    Flush,
    /// `X`: end of the session; not answered.
    Terminate,
    /// `F`: legacy fast-path function call.
    FunctionCall,
    /// `p`: password, SASL or GSS response. Contents are secrets: not kept.
    Password,
    /// `d`: COPY FROM STDIN data.
    CopyData,
    /// `c`: end of COPY data.
    CopyDone,
    /// `f`: the client aborts a COPY.
    CopyFail,
}

/// What Describe and Close name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

/// Server messages. Texts are cut to [`MAX_RESP_BYTES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `R`: authentication request or result, by its int32 code (0 = Ok, 10 = SASL …).
    Authentication(i32),
    /// `K`: the key a CancelRequest needs.
    BackendKeyData,
    /// `S`: a run-time parameter's value (asynchronous).
    ParameterStatus,
    /// `N`: a notice (asynchronous).
    NoticeResponse,
    /// `A`: a LISTEN notification (asynchronous).
    NotificationResponse,
    /// `v`: the server supports an older minor version or not all options.
    NegotiateProtocolVersion,
    /// `T`: the result's column names.
    RowDescription(Vec<String>),
    /// `D`: one row's values (NULL = `None`, non-text bytes as `\x` hex);
    /// `None` for rows past [`MAX_RESP_ROWS`] in their result set.
    DataRow(Option<Vec<Option<String>>>),
    /// `C`: the command tag, e.g. `SELECT 2`, `INSERT 0 1`.
    CommandComplete(String),
    /// `I`: the query string was empty.
    EmptyQueryResponse,
    /// `E`: rendered as Pixie does: `ERROR RESPONSE [Severity=ERROR
    /// InternalSeverity=ERROR Code=42P01 Message=…]`, fields in wire order.
    ErrorResponse(String),
    /// `Z`: the server awaits a new query.
    ReadyForQuery,
    /// `1`
    ParseComplete,
    /// `2`
    BindComplete,
    /// `3`
    CloseComplete,
    /// `n`: the statement or portal returns no rows.
    NoData,
    /// `s`: Execute stopped at its row limit.
    PortalSuspended,
    /// `t`: a statement's parameter types.
    ParameterDescription,
    /// `G`, `H`, `W`: the server enters COPY IN, OUT or BOTH.
    CopyResponse,
    /// `d`: COPY TO STDOUT data.
    CopyData,
    /// `c`: end of COPY data.
    CopyDone,
    /// `V`: result of a FunctionCall.
    FunctionCallResponse,
}

/// One `pgsql_events` row; `latency` and `time_` come from the [`crate::Exchange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `req_cmd`: Pixie's name of the request message: `Query`, `Parse`,
    /// `Bind`, `Describe`, `Execute`, `Close`, `Sync`, or `Startup`.
    pub req_cmd: &'static str,
    /// `req`: Query/Parse: the query text; Bind/Execute: as Pixie's Execute,
    /// `query=[<statement text>] params=[42, x]`; Describe/Close:
    /// `type=Portal name=<name>`; Sync: empty; Startup: its parameters.
    /// ≤ [`MAX_REQ_BYTES`] (then Pixie's truncation marker).
    pub req: String,
    /// `resp`: per result set, Pixie's text: column names and rows as
    /// comma-separated lines (at most [`MAX_RESP_ROWS`], then `... N more
    /// rows`), then the command tag; result sets of a multi-statement query
    /// joined by a newline; errors as [`Backend::ErrorResponse`]; `PARSE
    /// COMPLETE`, `BIND COMPLETE`, `CLOSE COMPLETE`, `ROW DESCRIPTION [a,b]`,
    /// `NO DATA`; Startup: the authentication steps, e.g.
    /// `AuthenticationSASL, …, AuthenticationOk`. ≤ [`MAX_RESP_BYTES`] (then
    /// Pixie's truncation marker).
    pub resp: String,
}

/// Per connection.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Where the connection's start is (parse_frame).
    phase: Phase,
    /// Data rows parsed in the current result set (parse_frame, responses).
    rows_in_result: usize,
    /// Prepared statement name (empty = unnamed) → query text, learnt from
    /// Parse answered by ParseComplete (stitch).
    statements: HashMap<String, String>,
    /// Portal name → the statement text and params bound to it (stitch).
    portals: HashMap<String, Bound>,
    /// An extended-protocol message failed: the server ignores messages up
    /// to the next Sync, so they get no answer (stitch).
    skip_until_sync: bool,
    /// Progress in finding the answer to the front request (stitch).
    scan: stitch::Scan,
}

/// Start of a connection as far as untagged packets are concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Untagged packets are accepted (nothing, or only negotiation, seen yet).
    #[default]
    Startup,
    /// SSLRequest or GSSENCRequest sent: the server answers with one byte.
    AwaitingEncryptionAnswer,
    /// A StartupMessage or a tagged request was seen: tagged messages only.
    Messages,
}

/// A bound portal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bound {
    query: String,
    params: String,
    /// Column names from a Describe of the portal: Execute's rows come
    /// without a RowDescription of their own.
    columns: String,
}

impl State {
    fn remember_statement(&mut self, name: String, query: String) {
        insert_bounded(&mut self.statements, name, query);
    }

    fn bind_portal(&mut self, name: String, bound: Bound) {
        insert_bounded(&mut self.portals, name, bound);
    }
}

fn insert_bounded<V>(map: &mut HashMap<String, V>, key: String, value: V) {
    if map.len() >= MAX_PREPARED && !map.contains_key(&key) {
        let victim = map.keys().next().cloned();
        if let Some(victim) = victim {
            map.remove(&victim);
        }
    }
    map.insert(key, value);
}

impl Protocol for Pgsql {
    type Frame = Frame;
    type Record = Record;
    type State = State;

    fn parse_frame(kind: MessageType, buf: &[u8], state: &mut State) -> ParseState<Frame> {
        match kind {
            MessageType::Request if state.phase != Phase::Messages && buf.first() == Some(&0) => {
                let parsed = wire::startup(buf);
                if let ParseState::Frame { frame, .. } = &parsed {
                    state.phase = match frame {
                        Frame::Startup(Startup::SslRequest | Startup::GssEncRequest) => Phase::AwaitingEncryptionAnswer,
                        _ => Phase::Messages,
                    };
                }
                parsed
            }
            MessageType::Request => {
                let parsed = wire::tagged(kind, buf);
                if matches!(parsed, ParseState::Frame { .. }) {
                    state.phase = Phase::Messages;
                }
                parsed
            }
            MessageType::Response => match buf.first() {
                Some(&answer @ (b'S' | b'N' | b'G')) if state.phase == Phase::AwaitingEncryptionAnswer => {
                    state.phase = Phase::Startup;
                    ParseState::Frame { frame: Frame::EncryptionAnswer(answer), consumed: 1 }
                }
                _ => match wire::tagged(kind, buf) {
                    ParseState::Frame { frame: Frame::Backend(message), consumed } => {
                        ParseState::Frame { frame: Frame::Backend(count_rows(message, state)), consumed }
                    }
                    other => other,
                },
            },
        }
    }

    /// Positions from `from` on (inclusive: the tracker passes the position
    /// after the invalid byte).
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
        (from..buf.len()).find(|&at| buf.get(at..).is_some_and(|rest| wire::tagged(kind, rest) != ParseState::Invalid))
    }

    /// Call after parsing both directions: a response with no request before
    /// it is dropped as unmatched (its request was lost).
    fn stitch(
        requests: &mut VecDeque<Timed<Frame>>,
        responses: &mut VecDeque<Timed<Frame>>,
        state: &mut State,
    ) -> Stitched<Record> {
        stitch::stitch(requests, responses, state)
    }
}

/// Keeps the cells of the first [`MAX_RESP_ROWS`] rows of each result set.
fn count_rows(message: Backend, state: &mut State) -> Backend {
    match message {
        Backend::DataRow(cells) => {
            state.rows_in_result += 1;
            Backend::DataRow(cells.filter(|_| state.rows_in_result <= MAX_RESP_ROWS))
        }
        Backend::RowDescription(_)
        | Backend::CommandComplete(_)
        | Backend::EmptyQueryResponse
        | Backend::ErrorResponse(_)
        | Backend::PortalSuspended
        | Backend::ReadyForQuery => {
            state.rows_in_result = 0;
            message
        }
        other => other,
    }
}
