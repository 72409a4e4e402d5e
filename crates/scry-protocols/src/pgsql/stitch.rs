//! Requests ↔ responses, following the protocol's message flow (see the
//! module documentation), and the texts of the `req` and `resp` columns.

use std::collections::VecDeque;

use super::{Backend, Bound, Frame, Frontend, MAX_REQ_BYTES, MAX_RESP_BYTES, Record, Startup, State, Target};
use crate::{Exchange, Stitched, Timed, truncate};

/// What answers the request at the front.
enum Expect {
    /// Nothing: the request is dropped without a record.
    Nothing,
    /// A frame that cannot be a request (a caller mix-up): dropped, counted.
    Stray,
    /// The one-byte answer to SSLRequest/GSSENCRequest.
    EncryptionAnswer,
    /// A span of responses: it opens with a message `first` accepts and
    /// closes with one `last` accepts.
    Span { first: fn(&Backend) -> bool, last: fn(&Backend) -> bool },
}

/// How far the responses answer the front request.
enum Answer {
    /// Not yet complete.
    Wait,
    /// Drop the request without a record; `true` counts it as unmatched
    /// (its answer was lost, or it is no request).
    Drop(bool),
    /// `responses[..=end]` answer it.
    End(usize),
}

/// How far [`find_span`] looked for the end of the front request's answer,
/// so that a large result arriving over many reads is scanned once.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Scan {
    /// Responses looked at.
    pub(super) checked: usize,
    /// Whether they included the answer's first message.
    opened: bool,
}

pub(super) fn stitch(
    requests: &mut VecDeque<Timed<Frame>>,
    responses: &mut VecDeque<Timed<Frame>>,
    state: &mut State,
) -> Stitched<Record> {
    let mut out = Stitched::default();
    while let Some(request) = requests.front() {
        let (req_ts_ns, expect) = (request.ts_ns, expect(&request.frame, state.skip_until_sync));
        if !matches!(expect, Expect::Nothing | Expect::Stray) {
            // Responses sent before the request answer something not seen.
            while responses.front().is_some_and(|r| r.ts_ns < req_ts_ns) {
                out.unmatched += responses.pop_front().map_or(0, |r| u64::from(!is_async(&r.frame)));
                state.scan = Scan::default();
            }
        }
        let answer = match expect {
            Expect::Nothing => Answer::Drop(false),
            Expect::Stray => Answer::Drop(true),
            Expect::Span { first, last } => find_span(responses, &mut state.scan, first, last),
            Expect::EncryptionAnswer => match responses.front().map(|r| &r.frame) {
                None => Answer::Wait,
                Some(Frame::EncryptionAnswer(_)) => Answer::End(0),
                Some(_) => Answer::Drop(true),
            },
        };
        if let Answer::Wait = answer {
            break;
        }
        state.scan = Scan::default();
        let Some(request) = requests.pop_front() else { break };
        let end = match answer {
            Answer::End(end) => end,
            _ => {
                out.unmatched += u64::from(matches!(answer, Answer::Drop(true)));
                continue;
            }
        };
        let span: Vec<Timed<Frame>> = responses.drain(..=end).collect();
        let resp_ts_ns = span.first().map_or(req_ts_ns, |r| r.ts_ns);
        if let Some(record) = record(request.frame, &span, state, &mut out.unmatched) {
            out.records.push(Exchange { req_ts_ns, resp_ts_ns, record });
        }
    }
    if requests.is_empty() {
        out.unmatched += responses.drain(..).filter(|r| !is_async(&r.frame)).count() as u64;
    }
    out
}

fn expect(request: &Frame, skip_until_sync: bool) -> Expect {
    let span = |first, last| Expect::Span { first, last };
    match request {
        // After an extended-protocol error the server ignores all but Sync.
        Frame::Frontend(message) if skip_until_sync && *message != Frontend::Sync => Expect::Nothing,
        Frame::Startup(Startup::Start { .. }) => {
            span(|_| true, |m| matches!(m, Backend::ReadyForQuery | Backend::ErrorResponse(_)))
        }
        Frame::Startup(Startup::SslRequest | Startup::GssEncRequest) => Expect::EncryptionAnswer,
        Frame::Frontend(Frontend::Query(_) | Frontend::FunctionCall | Frontend::Sync) => {
            span(|_| true, |m| *m == Backend::ReadyForQuery)
        }
        Frame::Frontend(Frontend::Parse { .. }) => {
            let done = |m: &Backend| matches!(m, Backend::ParseComplete | Backend::ErrorResponse(_));
            span(done, done)
        }
        Frame::Frontend(Frontend::Bind { .. }) => {
            let done = |m: &Backend| matches!(m, Backend::BindComplete | Backend::ErrorResponse(_));
            span(done, done)
        }
        Frame::Frontend(Frontend::Close { .. }) => {
            let done = |m: &Backend| matches!(m, Backend::CloseComplete | Backend::ErrorResponse(_));
            span(done, done)
        }
        Frame::Frontend(Frontend::Describe { target: Target::Portal, .. }) => {
            let done =
                |m: &Backend| matches!(m, Backend::RowDescription(_) | Backend::NoData | Backend::ErrorResponse(_));
            span(done, done)
        }
        Frame::Frontend(Frontend::Describe { target: Target::Statement, .. }) => span(
            |m| matches!(m, Backend::ParameterDescription | Backend::ErrorResponse(_)),
            |m| matches!(m, Backend::RowDescription(_) | Backend::NoData | Backend::ErrorResponse(_)),
        ),
        Frame::Frontend(Frontend::Execute { .. }) => span(
            |m| {
                matches!(
                    m,
                    Backend::DataRow(_)
                        | Backend::CopyResponse
                        | Backend::CommandComplete(_)
                        | Backend::EmptyQueryResponse
                        | Backend::PortalSuspended
                        | Backend::ErrorResponse(_)
                )
            },
            |m| {
                matches!(
                    m,
                    Backend::CommandComplete(_)
                        | Backend::EmptyQueryResponse
                        | Backend::PortalSuspended
                        | Backend::ErrorResponse(_)
                )
            },
        ),
        Frame::Startup(Startup::CancelRequest)
        | Frame::Frontend(
            Frontend::Flush
            | Frontend::Terminate
            | Frontend::Password
            | Frontend::CopyData
            | Frontend::CopyDone
            | Frontend::CopyFail,
        ) => Expect::Nothing,
        Frame::EncryptionAnswer(_) | Frame::Backend(_) => Expect::Stray,
    }
}

/// Messages the server may send at any time; they belong to no request.
fn is_async(frame: &Frame) -> bool {
    matches!(frame, Frame::Backend(Backend::ParameterStatus | Backend::NoticeResponse | Backend::NotificationResponse))
}

/// Where the span answering a request ends, resuming where `scan` stopped.
/// Only ReadyForQuery ends a request cycle, so a span that would cross it
/// was lost.
fn find_span(
    responses: &VecDeque<Timed<Frame>>,
    scan: &mut Scan,
    first: fn(&Backend) -> bool,
    last: fn(&Backend) -> bool,
) -> Answer {
    for (i, response) in responses.iter().enumerate().skip(scan.checked) {
        scan.checked = i + 1;
        if is_async(&response.frame) {
            continue;
        }
        let Frame::Backend(message) = &response.frame else { return Answer::Drop(true) };
        if !scan.opened && !first(message) {
            return Answer::Drop(true);
        }
        scan.opened = true;
        if last(message) {
            return Answer::End(i);
        }
        if *message == Backend::ReadyForQuery {
            return Answer::Drop(true);
        }
    }
    Answer::Wait
}

/// The record for `request` answered by `span`, updating what the
/// connection remembers; `None` for requests Pixie records nothing for.
fn record(request: Frame, span: &[Timed<Frame>], state: &mut State, unmatched: &mut u64) -> Option<Record> {
    let messages = || span.iter().filter_map(|r| if let Frame::Backend(m) = &r.frame { Some(m) } else { None });
    let error = messages().find_map(|m| if let Backend::ErrorResponse(e) = m { Some(e.clone()) } else { None });
    // Only ReadyForQuery ends a request cycle, failed or not.
    state.skip_until_sync = match messages().next_back() {
        Some(Backend::ReadyForQuery) => false,
        _ => error.is_some() && matches!(request, Frame::Frontend(_)),
    };
    let (req_cmd, req, resp) = match request {
        Frame::Frontend(Frontend::Query(query)) => ("Query", query, results(messages(), "")),
        Frame::Startup(Startup::Start { params }) => ("Startup", params, authentication(messages())),
        Frame::Frontend(Frontend::Parse { statement, query }) => {
            if error.is_none() {
                state.remember_statement(statement, query.clone());
            }
            ("Parse", query, error.unwrap_or_else(|| "PARSE COMPLETE".to_owned()))
        }
        Frame::Frontend(Frontend::Bind { portal, statement, params }) => {
            let query = state.statements.get(&statement).cloned().unwrap_or_else(|| unknown("statement", &statement));
            let bound = Bound { query, params, columns: String::new() };
            let req = execution(&bound);
            if error.is_none() {
                state.bind_portal(portal, bound);
            }
            ("Bind", req, error.unwrap_or_else(|| "BIND COMPLETE".to_owned()))
        }
        Frame::Frontend(Frontend::Describe { target, name }) => {
            let resp = messages().find_map(|m| match m {
                Backend::RowDescription(columns) => {
                    let columns = columns.join(",");
                    if let (Target::Portal, Some(bound)) = (target, state.portals.get_mut(&name)) {
                        bound.columns.clone_from(&columns);
                    }
                    Some(format!("ROW DESCRIPTION [{columns}]"))
                }
                Backend::NoData => Some("NO DATA".to_owned()),
                Backend::ErrorResponse(e) => Some(e.clone()),
                _ => None,
            });
            ("Describe", named(target, &name), resp.unwrap_or_default())
        }
        Frame::Frontend(Frontend::Execute { portal }) => match state.portals.get(&portal) {
            Some(bound) => ("Execute", execution(bound), results(messages(), &bound.columns)),
            None => ("Execute", format!("query=[{}] params=[]", unknown("portal", &portal)), results(messages(), "")),
        },
        Frame::Frontend(Frontend::Close { target, name }) => {
            if error.is_none() {
                match target {
                    Target::Statement => state.statements.remove(&name).map(drop),
                    Target::Portal => state.portals.remove(&name).map(drop),
                };
            }
            ("Close", named(target, &name), error.unwrap_or_else(|| "CLOSE COMPLETE".to_owned()))
        }
        // A failed implicit commit answers Sync with an error.
        Frame::Frontend(Frontend::Sync) if error.is_some() => ("Sync", String::new(), error.unwrap_or_default()),
        Frame::Frontend(Frontend::Sync) => {
            // Whatever precedes ReadyForQuery answers requests already given up.
            *unmatched += messages().filter(|m| **m != Backend::ReadyForQuery).count() as u64;
            return None;
        }
        _ => return None,
    };
    Some(Record { req_cmd, req: truncate(&req, MAX_REQ_BYTES), resp: truncate(&resp, MAX_RESP_BYTES) })
}

fn unknown(what: &str, name: &str) -> String {
    format!("[unknown {what} {name:?}]")
}

/// Bind and Execute `req`, as Pixie shows an Execute.
fn execution(bound: &Bound) -> String {
    format!("query=[{}] params=[{}]", bound.query, bound.params)
}

fn named(target: Target, name: &str) -> String {
    format!("type={target:?} name={name}")
}

/// Query and Execute `resp`: each result set as column names (from its
/// RowDescription, else `columns`), rows and its command tag (or an error) on
/// lines; result sets joined by newlines.
fn results<'a>(messages: impl Iterator<Item = &'a Backend>, columns: &str) -> String {
    let mut sets: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut header = columns.to_owned();
    let mut more = 0usize;
    for message in messages {
        let end = match message {
            Backend::RowDescription(columns) => {
                header = columns.join(",");
                None
            }
            Backend::DataRow(Some(cells)) => {
                let cells: Vec<&str> = cells.iter().map(|c| c.as_deref().unwrap_or("[NULL]")).collect();
                lines.push(cells.join(","));
                None
            }
            Backend::DataRow(None) => {
                more += 1;
                None
            }
            Backend::CommandComplete(tag) => Some(tag.as_str()),
            Backend::EmptyQueryResponse => Some("EMPTY QUERY"),
            Backend::PortalSuspended => Some("PORTAL SUSPENDED"),
            Backend::ErrorResponse(error) => {
                lines.clear();
                more = 0;
                Some(error.as_str())
            }
            _ => None,
        };
        if let Some(end) = end {
            let rows = lines.len() + more;
            if rows > 0 && !header.is_empty() {
                lines.insert(0, std::mem::take(&mut header));
            }
            if more > 0 {
                lines.push(format!("... {more} more rows"));
            }
            lines.push(end.to_owned());
            sets.push(lines.join("\n"));
            (lines, header, more) = (Vec::new(), columns.to_owned(), 0);
        }
    }
    sets.join("\n")
}

/// Startup `resp`: the authentication messages by their protocol names, and
/// the error that ended the startup, if any.
fn authentication<'a>(messages: impl Iterator<Item = &'a Backend>) -> String {
    let steps: Vec<String> = messages
        .filter_map(|m| match m {
            Backend::Authentication(code) => Some(match code {
                0 => "AuthenticationOk".to_owned(),
                2 => "AuthenticationKerberosV5".to_owned(),
                3 => "AuthenticationCleartextPassword".to_owned(),
                5 => "AuthenticationMD5Password".to_owned(),
                7 => "AuthenticationGSS".to_owned(),
                8 => "AuthenticationGSSContinue".to_owned(),
                9 => "AuthenticationSSPI".to_owned(),
                10 => "AuthenticationSASL".to_owned(),
                11 => "AuthenticationSASLContinue".to_owned(),
                12 => "AuthenticationSASLFinal".to_owned(),
                other => format!("Authentication({other})"),
            }),
            Backend::ErrorResponse(error) => Some(error.clone()),
            _ => None,
        })
        .collect();
    steps.join(", ")
}
