//! HTTP/1.0 and HTTP/1.1, for Pixie's `http_events` table.
//!
//! A frame is one whole message: the start line and headers (parsed by
//! `httparse`), then the body, delimited as RFC 9112 §6.3 says — by
//! `Transfer-Encoding: chunked` (chunk extensions and trailers are read and
//! dropped), else by `Content-Length`, else not at all for a request. Several
//! messages in one buffer (keep-alive, pipelining) are several frames, and
//! [`Http::stitch`] pairs responses with requests in order.
//!
//! What a response's body looks like depends on its request: a response to
//! HEAD has none whatever its headers announce, and a 2xx answer to CONNECT
//! opens a tunnel. The tracker parses both directions of a connection with
//! one [`State`], which remembers what each request asked until a final
//! response answers it. This assumes the tracker parses the requests it has
//! before the responses — else a response to a HEAD request not parsed yet
//! is read as having the body its `Content-Length` announces.
//!
//! Limits, so that no input makes memory grow with it:
//! - a head (start line + headers) is at most [`MAX_HEAD_BYTES`] with at most
//!   [`MAX_HEADERS`] fields, else the frame is `Invalid`; so is a trailer
//!   section;
//! - a body is counted whole (its `*_body_size` column) but a frame keeps
//!   only its first [`KEPT_BODY_BYTES`], or one byte more than the body
//!   column when [`Limits`] make that larger (de-chunked and, for
//!   `Content-Encoding: gzip`, inflated — inflation stops there too, which
//!   bounds a compression bomb). `parse_frame` still needs the whole body in
//!   `buf` to consume it, so a frame's `consumed` can be large (up to
//!   [`MAX_BODY_LEN`], larger declared bodies are `Invalid`) while what it
//!   keeps is small;
//! - a JSON headers column is at most [`MAX_HEADERS_JSON_BYTES`], a body
//!   column at most [`Limits::body_bytes`] (default [`MAX_BODY_BYTES`]) plus
//!   the truncation marker.
//!
//! Out of scope: a response with neither length nor chunking ends when the
//! connection closes, which a parser of the bytes alone cannot see — it
//! stays `NeedsMoreData`. After `101 Switching Protocols` (or a tunnel), the
//! connection no longer speaks HTTP/1: [`State::switched_protocols`] turns
//! true and every later `parse_frame` on it is `Invalid`.

use std::collections::VecDeque;

use crate::{Exchange, Limits, MessageType, ParseState, Protocol, Stitched, Timed};

mod record;
#[cfg(test)]
mod tests;
mod wire;

pub use record::{ContentType, GUNZIP_FAILED_BODY, HEADERS_CUT_KEY, NON_TEXT_BODY, Record, UNKNOWN_TYPE_BODY};

/// Body bytes in the `req_body` / `resp_body` columns by default; Pixie's
/// `PL_STIRLING_MAX_BODY_BYTES` default.
pub const MAX_BODY_BYTES: usize = crate::DEFAULT_BODY_BYTES;
/// Body bytes a frame keeps (after de-chunking and inflation); Pixie's parser
/// limit `PX_STIRLING_HTTP_BODY_LIMIT_BYTES`. Larger than [`MAX_BODY_BYTES`],
/// so a body cut here is always cut again, with the marker, in its column.
pub const KEPT_BODY_BYTES: usize = 1024;
/// Bytes of a `req_headers` / `resp_headers` column (Pixie's
/// `kMaxHTTPHeadersBytes`).
pub const MAX_HEADERS_JSON_BYTES: usize = 8192;
/// Bytes of a message head (start line and headers) or of a trailer section.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Header fields in a head or a trailer section (Pixie allows 50).
pub const MAX_HEADERS: usize = 128;
/// Bytes of a chunk-size line, extensions included.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Body length as transferred; a larger `Content-Length` or sum of chunk
/// sizes makes the frame `Invalid`.
pub const MAX_BODY_LEN: u64 = 1 << 30;
/// Requests remembered while waiting for their responses; beyond this the
/// oldest is forgotten (a connection whose responses are never seen).
pub const MAX_UNANSWERED: usize = 1024;

const _: () = assert!(KEPT_BODY_BYTES > MAX_BODY_BYTES);

/// HTTP/1.x.
pub struct Http;

/// One HTTP/1.x message.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Request(Request),
    Response(Response),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub method: String,
    /// The request target as sent: path and query (or a proxy's absolute
    /// URL, or CONNECT's host:port).
    pub path: String,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    /// Reason phrase; empty when missing or not text (httparse's rule).
    pub reason: String,
    pub headers: Headers,
    pub body: Body,
}

/// 1xx other than 101: a provisional answer; the final one follows.
fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Header fields in the order sent; names keep their case, values are UTF-8
/// (invalid bytes replaced).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// Values of the fields named `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.0.iter().filter(move |(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The first value of the field named `name` (case-insensitive).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Body {
    /// Length as transferred: `Content-Length`, or the sum of chunk sizes —
    /// before content decoding, as Pixie counts it.
    pub size: u64,
    /// The first [`KEPT_BODY_BYTES`] of the content, de-chunked and, for
    /// `Content-Encoding: gzip`, inflated.
    pub kept: Vec<u8>,
    /// The body said gzip but did not inflate (`kept` is then empty).
    pub gunzip_failed: bool,
}

/// What a connection remembers between calls: see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Body column size (and so what a frame keeps of a body).
    pub limits: Limits,
    /// What each request parsed and not yet answered by a final response
    /// asked, oldest first.
    unanswered: VecDeque<Asked>,
    /// Set by a 101 or a 2xx answer to CONNECT.
    switched: bool,
}

impl State {
    /// A connection's start, with these column sizes.
    pub fn with_limits(limits: Limits) -> State {
        State { limits, ..Default::default() }
    }

    /// The connection has left HTTP/1 (upgrade or tunnel): the tracker may
    /// stop parsing it as HTTP; `parse_frame` refuses its bytes.
    pub fn switched_protocols(&self) -> bool {
        self.switched
    }

    fn asked(&mut self, method: &str) {
        if self.unanswered.len() == MAX_UNANSWERED {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back(Asked::of(method));
    }

    fn answered(&mut self, status: u16) {
        if is_interim(status) {
            return;
        }
        let asked = self.unanswered.pop_front();
        self.switched |= leaves_http(asked, status);
    }
}

/// What a request's method means for its response's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Head,
    Connect,
    Other,
}

impl Asked {
    fn of(method: &str) -> Asked {
        match method {
            "HEAD" => Asked::Head,
            "CONNECT" => Asked::Connect,
            _ => Asked::Other,
        }
    }
}

/// After this answer the connection carries another protocol: an upgrade, or
/// the tunnel a CONNECT asked for.
fn leaves_http(asked: Option<Asked>, status: u16) -> bool {
    status == 101 || (asked == Some(Asked::Connect) && (200..300).contains(&status))
}

/// Where a frame may start: a request line's method, or a status line.
const REQUEST_STARTS: [&[u8]; 9] =
    [b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH ", b"OPTIONS ", b"CONNECT ", b"TRACE "];
const RESPONSE_STARTS: [&[u8]; 1] = [b"HTTP/1."];

impl Protocol for Http {
    type Frame = Frame;
    type Record = Record;
    type State = State;

    fn parse_frame(kind: MessageType, buf: &[u8], state: &mut State) -> ParseState<Frame> {
        if state.switched {
            return ParseState::Invalid;
        }
        match parse_message(kind, buf, state) {
            Ok(Some((frame, consumed))) => ParseState::Frame { frame, consumed },
            Ok(None) => ParseState::NeedsMoreData,
            Err(wire::Malformed) => ParseState::Invalid,
        }
    }

    /// `from` is inclusive: after `Invalid` at `p`, pass `p + 1`. A pattern
    /// cut by the end of `buf` counts, so the tracker keeps its first bytes.
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
        let starts: &[&[u8]] = match kind {
            MessageType::Request => &REQUEST_STARTS,
            MessageType::Response => &RESPONSE_STARTS,
        };
        (from..buf.len()).find(|&pos| {
            let rest = buf.get(pos..).unwrap_or_default();
            starts.iter().any(|start| rest.starts_with(start) || start.starts_with(rest))
        })
    }

    /// In order: the first final response answers the first request (HTTP/1
    /// answers in order, pipelined or not). Interim 1xx responses are dropped
    /// uncounted. A response older than the first waiting request has lost
    /// its request: dropped and counted, as are frames in the wrong queue. A
    /// response with no request waiting stays, in case its request is still
    /// being parsed; a later request proves it orphaned. A lost response
    /// cannot be seen (pipelining looks the same) and shifts the pairing
    /// until the tracker resets the connection.
    fn stitch(
        requests: &mut VecDeque<Timed<Frame>>,
        responses: &mut VecDeque<Timed<Frame>>,
        state: &mut State,
    ) -> Stitched<Record> {
        let mut out = Stitched::default();
        let body_bytes = state.limits.body_bytes;
        while let Some(resp) = responses.front() {
            let resp_ts = resp.ts_ns;
            match &resp.frame {
                Frame::Response(answer) if is_interim(answer.status) => {
                    responses.pop_front();
                    continue;
                }
                Frame::Response(_) => {}
                Frame::Request(_) => {
                    responses.pop_front();
                    out.unmatched += 1;
                    continue;
                }
            }
            match requests.front() {
                None => break,
                Some(Timed { frame: Frame::Response(_), .. }) => {
                    requests.pop_front();
                    out.unmatched += 1;
                }
                Some(req) if req.ts_ns > resp_ts => {
                    responses.pop_front();
                    out.unmatched += 1;
                }
                Some(_) => {
                    if let (
                        Some(Timed { ts_ns: req_ts_ns, frame: Frame::Request(req) }),
                        Some(Timed { ts_ns: resp_ts_ns, frame: Frame::Response(resp) }),
                    ) = (requests.pop_front(), responses.pop_front())
                    {
                        out.records.push(Exchange {
                            req_ts_ns,
                            resp_ts_ns,
                            record: Record::new(req, resp, body_bytes),
                        });
                    }
                }
            }
        }
        out
    }
}

/// Body bytes a frame keeps: Pixie's parser limit, or more when the column
/// is larger, so a body longer than its column is always seen cut.
fn kept_body_bytes(limits: &Limits) -> usize {
    KEPT_BODY_BYTES.max(limits.body_bytes + 1)
}

/// The message at the start of `buf` and the bytes it takes.
fn parse_message(kind: MessageType, buf: &[u8], state: &mut State) -> wire::Step<(Frame, usize)> {
    let Some(head) = wire::parse_head(kind, buf)? else {
        return Ok(None);
    };
    let framing = match head.line {
        wire::Line::Request { .. } => wire::declared_framing(&head.headers, kind)?,
        wire::Line::Response { status, .. } => {
            let asked = state.unanswered.front().copied();
            let bodiless = (100..200).contains(&status)
                || status == 204
                || status == 304
                || asked == Some(Asked::Head)
                || leaves_http(asked, status);
            if bodiless { wire::Framing::Empty } else { wire::declared_framing(&head.headers, kind)? }
        }
    };
    let rest = buf.get(head.len..).unwrap_or_default();
    let Some(extent) = wire::body_extent(&framing, rest)? else {
        return Ok(None);
    };
    let keep = kept_body_bytes(&state.limits);
    let body =
        wire::read_body(&framing, rest.get(..extent.consumed).unwrap_or_default(), extent.size, &head.headers, keep);
    let (minor_version, headers) = (head.minor_version, head.headers);
    let frame = match head.line {
        wire::Line::Request { method, path } => {
            state.asked(&method);
            Frame::Request(Request { minor_version, method, path, headers, body })
        }
        wire::Line::Response { status, reason } => {
            state.answered(status);
            Frame::Response(Response { minor_version, status, reason, headers, body })
        }
    };
    Ok(Some((frame, head.len + extent.consumed)))
}
