//! A request and its response as one `http_events` row.

use std::borrow::Cow;

use super::{Asked, Body, Headers, MAX_HEADERS_JSON_BYTES, Request, Response, leaves_http};
use crate::truncate;

/// Body columns of a response whose `Content-Type` is neither JSON nor
/// text, and of a message with a body but no `Content-Type` (Pixie's words).
pub const NON_TEXT_BODY: &str = "<removed: non-text content-type>";
pub const UNKNOWN_TYPE_BODY: &str = "<removed: unknown content-type>";
/// Body column of a gzip body that does not inflate (Pixie's words).
pub const GUNZIP_FAILED_BODY: &str = "<Failed to gunzip body>";
/// Key of the member that ends a headers column cut at
/// [`MAX_HEADERS_JSON_BYTES`]; its value counts the headers left out.
pub const HEADERS_CUT_KEY: &str = "[TRUNCATED]";

/// One `http_events` row, after the columns the tracker fills (`time_`,
/// `upid`, addresses, ports, `trace_role`, `encrypted`, and `latency` from
/// the [`crate::Exchange`] timestamps). Each field is the column of its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Always 1.
    pub major_version: i64,
    /// The response's, as Pixie takes it.
    pub minor_version: i64,
    /// From the response's `Content-Type`, as Pixie takes it.
    pub content_type: ContentType,
    /// JSON object text: one member per header name (first spelling sent,
    /// ordered case-insensitively like Pixie's map); a repeated header's
    /// values joined by ", " (RFC 9110 §5.3). At most
    /// [`MAX_HEADERS_JSON_BYTES`] and always valid JSON: headers that do not
    /// fit are left out and counted under [`HEADERS_CUT_KEY`].
    pub req_headers: String,
    pub req_method: String,
    pub req_path: String,
    /// Cut to [`MAX_BODY_BYTES`] by [`crate::truncate`]; the placeholders
    /// Pixie uses instead of content it does not keep.
    pub req_body: String,
    /// Length as transferred (de-chunked, before inflation), as Pixie.
    pub req_body_size: i64,
    /// As `req_headers`.
    pub resp_headers: String,
    pub resp_status: i64,
    pub resp_message: String,
    /// As `req_body`; kept only for a `Content-Type` containing `json` or
    /// `text/` (case-insensitive), else [`NON_TEXT_BODY`].
    pub resp_body: String,
    /// As `req_body_size`.
    pub resp_body_size: i64,
    /// Not a column: the connection left HTTP/1 after this exchange (101
    /// Switching Protocols, or a CONNECT tunnel).
    pub upgraded: bool,
}

/// The `content_type` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum ContentType {
    Unknown = 0,
    Json = 1,
    /// `application/grpc…`: gRPC-Web rides on HTTP/1.1.
    Grpc = 2,
}

impl ContentType {
    fn of(content_type: Option<&str>) -> ContentType {
        let Some(value) = content_type.map(str::to_ascii_lowercase) else {
            return ContentType::Unknown;
        };
        if value.trim_start().starts_with("application/grpc") {
            ContentType::Grpc
        } else if value.contains("json") {
            ContentType::Json
        } else {
            ContentType::Unknown
        }
    }
}

impl Record {
    /// The columns of an exchange, bodies cut to `body_bytes`.
    pub(super) fn new(req: Request, resp: Response, body_bytes: usize) -> Record {
        let resp_type = resp.headers.first("content-type");
        let upgraded = leaves_http(Some(Asked::of(&req.method)), resp.status);
        Record {
            major_version: 1,
            minor_version: resp.minor_version.into(),
            content_type: ContentType::of(resp_type),
            req_headers: headers_json(&req.headers),
            req_method: req.method,
            req_path: req.path,
            req_body: body_column(&req.body, req.headers.first("content-type"), false, body_bytes),
            req_body_size: size_column(req.body.size),
            resp_headers: headers_json(&resp.headers),
            resp_status: resp.status.into(),
            resp_message: resp.reason,
            resp_body: body_column(&resp.body, resp_type, true, body_bytes),
            resp_body_size: size_column(resp.body.size),
            upgraded,
        }
    }
}

fn size_column(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// Pixie's rules, in its order: no `Content-Type` hides a non-empty body; a
/// response's non-text type hides it even when empty.
fn body_column(body: &Body, content_type: Option<&str>, text_only: bool, limit: usize) -> String {
    match content_type {
        None if body.size > 0 => UNKNOWN_TYPE_BODY.to_owned(),
        Some(value) if text_only && !is_text(value) => NON_TEXT_BODY.to_owned(),
        _ if body.gunzip_failed => GUNZIP_FAILED_BODY.to_owned(),
        _ => truncate(&String::from_utf8_lossy(&body.kept), limit),
    }
}

fn is_text(content_type: &str) -> bool {
    let value = content_type.to_ascii_lowercase();
    value.contains("json") || value.contains("text/")
}

/// The text of a headers column: see [`Record::req_headers`].
pub(super) fn headers_json(headers: &Headers) -> String {
    // Repeated fields join into one member, as Pixie's map does.
    let mut merged: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(headers.0.len());
    for (name, value) in &headers.0 {
        match merged.iter_mut().find(|(seen, _)| seen.eq_ignore_ascii_case(name)) {
            Some((_, joined)) => {
                let joined = joined.to_mut();
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => merged.push((name, Cow::Borrowed(value))),
        }
    }
    merged.sort_by(|(a, _), (b, _)| {
        a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    });
    // Each member `"name":"value"` escaped once into one buffer (this runs
    // for every HTTP record: no per-member allocation).
    let mut members = Vec::with_capacity(merged.iter().map(|(n, v)| n.len() + v.len() + 6).sum());
    let mut ends = Vec::with_capacity(merged.len());
    for (name, value) in &merged {
        write_json_str(&mut members, name);
        members.push(b':');
        write_json_str(&mut members, value);
        ends.push(members.len());
    }
    let whole = members.len() + ends.len() + 1;
    let mut json = Vec::with_capacity(whole.min(MAX_HEADERS_JSON_BYTES) + 1);
    json.push(b'{');
    if whole <= MAX_HEADERS_JSON_BYTES {
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(&members[start..end]);
            start = end;
        }
    } else {
        // Room for the cut marker: `,"[TRUNCATED]":"128"` and then some.
        let budget = MAX_HEADERS_JSON_BYTES - 32;
        let (mut start, mut left_out) = (0, 0);
        for &end in &ends {
            let member = &members[start..end];
            start = end;
            let comma = usize::from(json.len() > 1);
            if json.len() + comma + member.len() + 1 > budget {
                left_out += 1;
                continue;
            }
            if comma == 1 {
                json.push(b',');
            }
            json.extend_from_slice(member);
        }
        if json.len() > 1 {
            json.push(b',');
        }
        write_json_str(&mut json, HEADERS_CUT_KEY);
        json.extend_from_slice(format!(":\"{left_out}\"").as_bytes());
    }
    json.push(b'}');
    // Only whole UTF-8 strings and ASCII punctuation were written.
    String::from_utf8(json).unwrap_or_default()
}

/// `text` as a JSON string.
fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}
