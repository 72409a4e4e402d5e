//! The bytes of one message: head, body framing, chunks, content decoding.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

use super::{Body, Headers, MAX_BODY_LEN, MAX_CHUNK_LINE, MAX_HEAD_BYTES, MAX_HEADERS};
use crate::MessageType;

/// The bytes cannot be (the rest of) an HTTP/1 message.
pub(super) struct Malformed;

/// `Ok(None)`: the buffer ends inside what is being read.
pub(super) type Step<T> = Result<Option<T>, Malformed>;

/// A parsed start line and headers, `len` bytes long.
pub(super) struct Head {
    pub len: usize,
    pub minor_version: u8,
    pub line: Line,
    pub headers: Headers,
}

pub(super) enum Line {
    Request { method: String, path: String },
    Response { status: u16, reason: String },
}

/// How a body is delimited.
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection closes: never complete here.
    UntilClose,
}

/// Where a body ends (`consumed` bytes after the head) and its length as
/// transferred.
pub(super) struct Extent {
    pub consumed: usize,
    pub size: u64,
}

/// The first `limit` bytes of `buf`, which is all httparse gets to see: a
/// section still incomplete there while `buf` holds more is too long.
fn bounded<'a, T, E>(
    buf: &'a [u8],
    limit: usize,
    parse: impl FnOnce(&'a [u8]) -> Result<httparse::Status<T>, E>,
) -> Step<T> {
    match parse(buf.get(..limit).unwrap_or(buf)) {
        Ok(httparse::Status::Complete(value)) => Ok(Some(value)),
        Ok(httparse::Status::Partial) if buf.len() > limit => Err(Malformed),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(Malformed),
    }
}

pub(super) fn parse_head(kind: MessageType, buf: &[u8]) -> Step<Head> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    bounded(buf, MAX_HEAD_BYTES, |window| -> Result<_, httparse::Error> {
        let (status, version, line, fields) = match kind {
            MessageType::Request => {
                let mut req = httparse::Request::new(&mut slots);
                let status = req.parse(window)?;
                let method = req.method.unwrap_or_default().to_owned();
                let path = req.path.unwrap_or_default().to_owned();
                (status, req.version, Line::Request { method, path }, req.headers)
            }
            MessageType::Response => {
                let mut resp = httparse::Response::new(&mut slots);
                let status = resp.parse(window)?;
                let reason = resp.reason.unwrap_or_default().to_owned();
                (status, resp.version, Line::Response { status: resp.code.unwrap_or_default(), reason }, resp.headers)
            }
        };
        Ok(match status {
            httparse::Status::Complete(len) => httparse::Status::Complete(Head {
                len,
                minor_version: version.unwrap_or_default(),
                line,
                headers: owned(fields),
            }),
            httparse::Status::Partial => httparse::Status::Partial,
        })
    })
}

fn owned(fields: &[httparse::Header<'_>]) -> Headers {
    Headers(
        fields.iter().map(|field| (field.name.to_owned(), String::from_utf8_lossy(field.value).into_owned())).collect(),
    )
}

/// How the headers delimit the body (RFC 9112 §6.3), for a message whose
/// status or request does not already say it has none. `Transfer-Encoding`
/// wins over `Content-Length`; one not ending in `chunked` is an error in a
/// request and means "until close" in a response. `Content-Length` values
/// (repeated or comma-separated) must be digits and agree.
pub(super) fn declared_framing(headers: &Headers, kind: MessageType) -> Result<Framing, Malformed> {
    let codings = headers.values("transfer-encoding").flat_map(|value| value.split(','));
    if let Some(last) = codings.map(str::trim).filter(|coding| !coding.is_empty()).last() {
        return match kind {
            _ if last.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            MessageType::Request => Err(Malformed),
            MessageType::Response => Ok(Framing::UntilClose),
        };
    }
    let mut length = None;
    for item in headers.values("content-length").flat_map(|value| value.split(',')) {
        let item = item.trim();
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed);
        }
        let n: u64 = item.parse().map_err(|_| Malformed)?;
        if n > MAX_BODY_LEN || length.is_some_and(|seen| seen != n) {
            return Err(Malformed);
        }
        length = Some(n);
    }
    Ok(match (length, kind) {
        (Some(n), _) => Framing::Length(n),
        (None, MessageType::Request) => Framing::Empty,
        (None, MessageType::Response) => Framing::UntilClose,
    })
}

/// Where the body that starts `buf` ends.
pub(super) fn body_extent(framing: &Framing, buf: &[u8]) -> Step<Extent> {
    match framing {
        Framing::Empty => Ok(Some(Extent { consumed: 0, size: 0 })),
        Framing::UntilClose => Ok(None),
        Framing::Length(size) => {
            let consumed = usize::try_from(*size).map_err(|_| Malformed)?;
            Ok((buf.len() >= consumed).then_some(Extent { consumed, size: *size }))
        }
        Framing::Chunked => {
            let (mut pos, mut size) = (0, 0u64);
            loop {
                match chunk_at(buf, pos)? {
                    None => return Ok(None),
                    Some(Chunk::Last { end }) => return Ok(Some(Extent { consumed: end, size })),
                    Some(Chunk::Data { data, next }) => {
                        size = size.saturating_add(data.len() as u64);
                        if size > MAX_BODY_LEN {
                            return Err(Malformed);
                        }
                        pos = next;
                    }
                }
            }
        }
    }
}

enum Chunk<'a> {
    /// A chunk's data; the next chunk starts at `next`.
    Data { data: &'a [u8], next: usize },
    /// The last chunk and trailer section end at `end`.
    Last { end: usize },
}

/// The chunk at `pos` of a chunked body (RFC 9112 §7.1): size line
/// (extensions skipped), data, CRLF; after the zero-size chunk, the trailer
/// section, which is read and not kept.
fn chunk_at(buf: &[u8], pos: usize) -> Step<Chunk<'_>> {
    let rest = buf.get(pos..).unwrap_or_default();
    match rest.first() {
        None => return Ok(None),
        // httparse reads an empty size as 0; a chunk line has digits.
        Some(first) if !first.is_ascii_hexdigit() => return Err(Malformed),
        Some(_) => {}
    }
    let Some((line_len, len)) = bounded(rest, MAX_CHUNK_LINE, httparse::parse_chunk_size)? else {
        return Ok(None);
    };
    let start = pos + line_len;
    if len == 0 {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let trailers = buf.get(start..).unwrap_or_default();
        let end = bounded(trailers, MAX_HEAD_BYTES, |window| httparse::parse_headers(window, &mut slots))?;
        return Ok(end.map(|(trailers_len, _)| Chunk::Last { end: start + trailers_len }));
    }
    if len > MAX_BODY_LEN {
        return Err(Malformed);
    }
    let end = usize::try_from(len).ok().and_then(|len| start.checked_add(len)).ok_or(Malformed)?;
    let Some(data) = buf.get(start..end) else {
        return Ok(None);
    };
    match buf.get(end..).unwrap_or_default() {
        tail if tail.starts_with(b"\r\n") => Ok(Some(Chunk::Data { data, next: end + 2 })),
        tail if b"\r\n".starts_with(tail) => Ok(None),
        _ => Err(Malformed),
    }
}

/// The body of one message, `buf` being exactly its bytes as transferred
/// (complete: [`body_extent`] found its end).
pub(super) fn read_body(framing: &Framing, buf: &[u8], size: u64, headers: &Headers, limit: usize) -> Body {
    if size == 0 {
        return Body::default();
    }
    // A list of codings ("gzip, br") was applied in order: only a lone gzip
    // can be undone here.
    let gzip = headers
        .values("content-encoding")
        .last()
        .map(str::trim)
        .is_some_and(|coding| coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"));
    let read = match framing {
        Framing::Chunked => keep(Pieces::new(chunk_data(buf)), gzip, limit),
        _ => keep(Pieces::new(std::iter::once(buf)), gzip, limit),
    };
    match read {
        Ok(kept) => Body { size, kept, gunzip_failed: false },
        Err(_) => Body { size, kept: Vec::new(), gunzip_failed: true },
    }
}

/// The first `limit` bytes of the content, inflated if `gzip`.
fn keep(raw: impl BufRead, gzip: bool, limit: usize) -> io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let limit = limit as u64;
    if gzip {
        GzDecoder::new(raw).take(limit).read_to_end(&mut kept)?;
    } else {
        raw.take(limit).read_to_end(&mut kept)?;
    }
    Ok(kept)
}

/// The data of each chunk of a complete chunked body.
fn chunk_data(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || match chunk_at(buf, pos) {
        Ok(Some(Chunk::Data { data, next })) => {
            pos = next;
            Some(data)
        }
        _ => None,
    })
}

/// Pieces of a body read as one stream, without copying them together.
struct Pieces<'a, I> {
    rest: I,
    current: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> Pieces<'a, I> {
    fn new(rest: I) -> Self {
        Pieces { rest, current: &[] }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Read for Pieces<'a, I> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> BufRead for Pieces<'a, I> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.rest.next() {
                Some(piece) => self.current = piece,
                None => break,
            }
        }
        Ok(self.current)
    }

    fn consume(&mut self, n: usize) {
        self.current = self.current.get(n..).unwrap_or_default();
    }
}
