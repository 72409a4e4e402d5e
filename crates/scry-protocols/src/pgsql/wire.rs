//! Bytes → messages: the untagged startup packets, tagged message framing
//! with per-message length bounds, and message bodies.

use std::fmt::Write;

use super::{
    Backend, Frame, Frontend, MAX_FRAME_BYTES, MAX_REQ_BYTES, MAX_RESP_BYTES, MAX_STARTUP_BYTES, Startup, Target,
};
use crate::{MessageType, ParseState, truncate};

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// Bytes of one RowDescription field after its name: table oid, column
/// number, type oid, type size, type modifier, format code.
const FIELD_TAIL: usize = 4 + 2 + 4 + 2 + 4 + 2;

/// A cursor over a message body; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// An int16 count, which must not be negative.
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.i16()?).ok()
    }

    /// Skips `count` items of `size` bytes.
    fn skip(&mut self, count: usize, size: usize) -> Option<()> {
        self.take(count.checked_mul(size)?).map(drop)
    }

    /// A NUL-terminated string, without its NUL.
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let text = self.take(end)?;
        self.take(1)?;
        Some(text)
    }

    /// An int32-length-prefixed value; length -1 is NULL.
    fn value(&mut self) -> Option<Option<&'a [u8]>> {
        match self.i32()? {
            -1 => Some(None),
            len => self.take(usize::try_from(len).ok()?).map(Some),
        }
    }

    fn skip_rest(&mut self) {
        self.0 = &[];
    }

    /// `value` if the body was read to its last byte.
    fn end<T>(&self, value: T) -> Option<T> {
        self.0.is_empty().then_some(value)
    }
}

/// Names, queries and other texts: invalid UTF-8 replaced, cut to `limit`
/// without converting more than needed.
fn text(bytes: &[u8], limit: usize) -> String {
    let head = bytes.get(..limit.saturating_add(1)).unwrap_or(bytes);
    truncate(&String::from_utf8_lossy(head), limit)
}

/// A parameter or column value: as text when it is printable UTF-8 (text
/// format, and binary text/varchar), otherwise as `\x` hex (binary ints,
/// timestamps …), which never shows control bytes.
fn value_text(bytes: &[u8], limit: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) => truncate(s, limit),
        _ => {
            let mut hex = String::from("\\x");
            for byte in bytes.iter().take(limit / 2) {
                let _ = write!(hex, "{byte:02x}");
            }
            truncate(&hex, limit)
        }
    }
}

/// Declared length bounds (counting the length field) per known tag, `None`
/// for a tag that no message of `kind` has. Fixed-size messages have exact
/// bounds, which makes resynchronization stricter.
fn length_bounds(kind: MessageType, tag: u8) -> Option<(u32, u32)> {
    const ANY: u32 = MAX_FRAME_BYTES;
    Some(match (kind, tag) {
        (MessageType::Request, b'S' | b'H' | b'X' | b'c') => (4, 4),
        (MessageType::Request, b'Q' | b'f' | b'p' | b'd') => (4, ANY),
        (MessageType::Request, b'D' | b'C') => (6, ANY),
        (MessageType::Request, b'P') => (8, ANY),
        (MessageType::Request, b'E') => (9, ANY),
        (MessageType::Request, b'B') => (12, ANY),
        (MessageType::Request, b'F') => (14, ANY),
        (MessageType::Response, b'1' | b'2' | b'3' | b'n' | b'I' | b's' | b'c') => (4, 4),
        (MessageType::Response, b'Z') => (5, 5),
        // 8 bytes in protocol 3.0; 3.2 allows secret keys up to 256 bytes.
        (MessageType::Response, b'K') => (12, 4 + 4 + 256),
        (MessageType::Response, b'd') => (4, ANY),
        (MessageType::Response, b'C' | b'E' | b'N') => (5, ANY),
        (MessageType::Response, b'S' | b'T' | b'D' | b't') => (6, ANY),
        (MessageType::Response, b'G' | b'H' | b'W') => (7, ANY),
        (MessageType::Response, b'R' | b'V') => (8, ANY),
        (MessageType::Response, b'A' | b'v') => (10, ANY),
        _ => return None,
    })
}

/// A tagged message at the start of `buf`.
pub(super) fn tagged(kind: MessageType, buf: &[u8]) -> ParseState<Frame> {
    let Some(&tag) = buf.first() else { return ParseState::NeedsMoreData };
    let Some((min, max)) = length_bounds(kind, tag) else { return ParseState::Invalid };
    let Some(len) = buf.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes) else {
        return ParseState::NeedsMoreData;
    };
    if !(min..=max).contains(&len) {
        return ParseState::Invalid;
    }
    let consumed = len as usize + 1;
    let Some(body) = buf.get(5..consumed) else { return ParseState::NeedsMoreData };
    let frame = match kind {
        MessageType::Request => frontend(tag, body).map(Frame::Frontend),
        MessageType::Response => backend(tag, body).map(Frame::Backend),
    };
    frame.map_or(ParseState::Invalid, |frame| ParseState::Frame { frame, consumed })
}

/// An untagged packet (int32 length, int32 code) at the start of `buf`.
pub(super) fn startup(buf: &[u8]) -> ParseState<Frame> {
    let mut header = Reader(buf);
    let (Some(len), Some(code)) = (header.i32(), header.i32()) else { return ParseState::NeedsMoreData };
    let (min, max) = match code {
        SSL_REQUEST | GSSENC_REQUEST => (8, 8),
        CANCEL_REQUEST => (16, 12 + 256),
        _ if code >> 16 == 3 => (9, MAX_STARTUP_BYTES),
        _ => return ParseState::Invalid,
    };
    let Some(len) = u32::try_from(len).ok().filter(|len| (min..=max).contains(len)) else {
        return ParseState::Invalid;
    };
    let consumed = len as usize;
    let Some(body) = buf.get(8..consumed) else { return ParseState::NeedsMoreData };
    let packet = match code {
        SSL_REQUEST => Some(Startup::SslRequest),
        GSSENC_REQUEST => Some(Startup::GssEncRequest),
        CANCEL_REQUEST => Some(Startup::CancelRequest),
        _ => startup_params(body).map(|params| Startup::Start { params }),
    };
    packet.map_or(ParseState::Invalid, |packet| ParseState::Frame { frame: Frame::Startup(packet), consumed })
}

/// `name=value` pairs of a StartupMessage, ended by an empty name.
fn startup_params(body: &[u8]) -> Option<String> {
    let mut r = Reader(body);
    let mut params = String::new();
    loop {
        let name = r.cstr()?;
        if name.is_empty() {
            return r.end(truncate(&params, MAX_REQ_BYTES));
        }
        let value = r.cstr()?;
        if params.len() <= MAX_REQ_BYTES {
            let sep = if params.is_empty() { "" } else { " " };
            let _ = write!(params, "{sep}{}={}", text(name, MAX_REQ_BYTES), text(value, MAX_REQ_BYTES));
        }
    }
}

fn frontend(tag: u8, body: &[u8]) -> Option<Frontend> {
    let mut r = Reader(body);
    let message = match tag {
        b'Q' => Frontend::Query(text(r.cstr()?, MAX_REQ_BYTES)),
        b'P' => {
            let statement = text(r.cstr()?, MAX_REQ_BYTES);
            let query = text(r.cstr()?, MAX_REQ_BYTES);
            let types = r.count()?;
            r.skip(types, 4)?;
            Frontend::Parse { statement, query }
        }
        b'B' => bind(&mut r)?,
        b'D' => {
            let (target, name) = target(&mut r)?;
            Frontend::Describe { target, name }
        }
        b'C' => {
            let (target, name) = target(&mut r)?;
            Frontend::Close { target, name }
        }
        b'E' => {
            let portal = text(r.cstr()?, MAX_REQ_BYTES);
            r.i32()?;
            Frontend::Execute { portal }
        }
        b'S' => Frontend::Sync,
        b'H' => Frontend::Flush,
        b'X' => Frontend::Terminate,
        b'c' => Frontend::CopyDone,
        b'f' => {
            r.cstr()?;
            Frontend::CopyFail
        }
        b'F' => {
            r.skip_rest();
            Frontend::FunctionCall
        }
        b'p' => {
            r.skip_rest();
            Frontend::Password
        }
        b'd' => {
            r.skip_rest();
            Frontend::CopyData
        }
        _ => return None,
    };
    r.end(message)
}

/// Describe and Close: `S` statement or `P` portal, then its name.
fn target(r: &mut Reader) -> Option<(Target, String)> {
    let target = match r.u8()? {
        b'S' => Target::Statement,
        b'P' => Target::Portal,
        _ => return None,
    };
    Some((target, text(r.cstr()?, MAX_REQ_BYTES)))
}

/// Bind: portal, statement, parameter format codes, parameter values,
/// result format codes. Values are shown by content (see [`value_text`]),
/// so the format codes are only checked.
fn bind(r: &mut Reader) -> Option<Frontend> {
    let portal = text(r.cstr()?, MAX_REQ_BYTES);
    let statement = text(r.cstr()?, MAX_REQ_BYTES);
    let formats = r.count()?;
    r.skip(formats, 2)?;
    let count = r.count()?;
    if formats > 1 && formats != count {
        return None;
    }
    let mut params = String::new();
    for i in 0..count {
        let value = r.value()?;
        if params.len() <= MAX_REQ_BYTES {
            if i > 0 {
                params.push_str(", ");
            }
            params.push_str(&value.map_or_else(|| "[NULL]".to_owned(), |v| value_text(v, MAX_REQ_BYTES)));
        }
    }
    let result_formats = r.count()?;
    r.skip(result_formats, 2)?;
    Some(Frontend::Bind { portal, statement, params: truncate(&params, MAX_REQ_BYTES) })
}

fn backend(tag: u8, body: &[u8]) -> Option<Backend> {
    let mut r = Reader(body);
    let message = match tag {
        b'R' => {
            let code = r.i32()?;
            r.skip_rest();
            Backend::Authentication(code)
        }
        b'K' => {
            r.skip_rest();
            Backend::BackendKeyData
        }
        b'S' => {
            r.cstr()?;
            r.cstr()?;
            Backend::ParameterStatus
        }
        b'N' => {
            error_fields(&mut r)?;
            Backend::NoticeResponse
        }
        b'E' => Backend::ErrorResponse(error_fields(&mut r)?),
        b'A' => {
            r.i32()?;
            r.cstr()?;
            r.cstr()?;
            Backend::NotificationResponse
        }
        b'v' => {
            r.i32()?;
            // Each option name consumes at least its NUL: the loop ends with the body.
            for _ in 0..r.i32()? {
                r.cstr()?;
            }
            Backend::NegotiateProtocolVersion
        }
        b'T' => Backend::RowDescription(columns(&mut r)?),
        b'D' => Backend::DataRow(Some(cells(&mut r)?)),
        b'C' => Backend::CommandComplete(text(r.cstr()?, MAX_RESP_BYTES)),
        b'I' => Backend::EmptyQueryResponse,
        b'Z' => match r.u8()? {
            b'I' | b'T' | b'E' => Backend::ReadyForQuery,
            _ => return None,
        },
        b'1' => Backend::ParseComplete,
        b'2' => Backend::BindComplete,
        b'3' => Backend::CloseComplete,
        b'n' => Backend::NoData,
        b's' => Backend::PortalSuspended,
        b't' => {
            let types = r.count()?;
            r.skip(types, 4)?;
            Backend::ParameterDescription
        }
        b'G' | b'H' | b'W' => {
            r.u8()?;
            let columns = r.count()?;
            r.skip(columns, 2)?;
            Backend::CopyResponse
        }
        b'd' => {
            r.skip_rest();
            Backend::CopyData
        }
        b'c' => Backend::CopyDone,
        b'V' => {
            r.value()?;
            Backend::FunctionCallResponse
        }
        _ => return None,
    };
    r.end(message)
}

/// ErrorResponse/NoticeResponse fields (code byte, text) up to a NUL,
/// rendered as Pixie does.
fn error_fields(r: &mut Reader) -> Option<String> {
    let mut out = String::from("ERROR RESPONSE [");
    loop {
        let code = r.u8()?;
        if code == 0 {
            out.push(']');
            return Some(truncate(&out, MAX_RESP_BYTES));
        }
        let value = r.cstr()?;
        if out.len() <= MAX_RESP_BYTES {
            if !out.ends_with('[') {
                out.push(' ');
            }
            match field_name(code) {
                Some(name) => out.push_str(name),
                None => {
                    out.push_str("Field:");
                    out.push(char::from(code));
                }
            }
            out.push('=');
            out.push_str(&text(value, MAX_RESP_BYTES));
        }
    }
}

/// Names of ErrorResponse fields (protocol-error-fields), as Pixie prints them.
fn field_name(code: u8) -> Option<&'static str> {
    Some(match code {
        b'S' => "Severity",
        b'V' => "InternalSeverity",
        b'C' => "Code",
        b'M' => "Message",
        b'D' => "Detail",
        b'H' => "Hint",
        b'P' => "Position",
        b'p' => "InternalPosition",
        b'q' => "InternalQuery",
        b'W' => "Where",
        b's' => "SchemaName",
        b't' => "TableName",
        b'c' => "ColumnName",
        b'd' => "DataTypeName",
        b'n' => "ConstraintName",
        b'F' => "File",
        b'L' => "Line",
        b'R' => "Routine",
        _ => return None,
    })
}

/// RowDescription: a count, then per field its name and fixed-size tail.
fn columns(r: &mut Reader) -> Option<Vec<String>> {
    let count = r.count()?;
    let mut names = Vec::new();
    for _ in 0..count {
        names.push(text(r.cstr()?, MAX_RESP_BYTES));
        r.skip(1, FIELD_TAIL)?;
    }
    Some(names)
}

/// DataRow: a count, then length-prefixed values.
fn cells(r: &mut Reader) -> Option<Vec<Option<String>>> {
    let count = r.count()?;
    let mut cells = Vec::new();
    for _ in 0..count {
        cells.push(r.value()?.map(|v| value_text(v, MAX_RESP_BYTES)));
    }
    Some(cells)
}
