//! Captures in `testdata/` are real sessions of psql 15 and pgbench 15
//! against PostgreSQL 15.18 (SCRAM authentication), recorded by a TCP proxy:
//! one line per read, `C` (client) or `S` (server), a monotonic ns
//! timestamp, the bytes in hex.

use super::*;
use crate::Exchange;

const SIMPLE: &str = include_str!("testdata/simple.log");
const EXTENDED: &str = include_str!("testdata/extended.log");
const PREPARED: &str = include_str!("testdata/prepared.log");
const PIPELINE: &str = include_str!("testdata/pipeline.log");
const BIND_ERROR: &str = include_str!("testdata/bind_error.log");
const COPY_NOTICE_SERIES: &str = include_str!("testdata/copy_notice_series.log");

const SCRAM: &str = "AuthenticationSASL, AuthenticationSASLContinue, AuthenticationSASLFinal, AuthenticationOk";
const PGBENCH_STARTUP: &str = "user=postgres database=postgres application_name=pgbench";
const Q_SQL: &str = "SELECT id, name FROM t WHERE id = $1 AND name <> $2;";
const ROW_ID_NAME: &str = "ROW DESCRIPTION [id,name]";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn capture(log: &str) -> Vec<(MessageType, u64, Vec<u8>)> {
    log.lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let kind = match fields.next() {
                Some("C") => MessageType::Request,
                _ => MessageType::Response,
            };
            let ts = fields.next().unwrap().parse().unwrap();
            (kind, ts, hex(fields.next().unwrap()))
        })
        .collect()
}

/// What the connection tracker does: per direction a byte stream, frames
/// parsed off its front (each stamped with the time of its first byte), and
/// a stitch after each read.
#[derive(Default)]
struct Tracker {
    state: State,
    buf: [Vec<u8>; 2],
    /// When the first unparsed byte of each stream arrived.
    first_ts: [u64; 2],
    frames: [VecDeque<Timed<Frame>>; 2],
    records: Vec<Exchange<Record>>,
    unmatched: u64,
    parse_errors: u64,
    parsed: [Vec<Frame>; 2],
}

impl Tracker {
    fn feed(&mut self, kind: MessageType, ts: u64, bytes: &[u8]) {
        let side = usize::from(kind == MessageType::Response);
        if self.buf[side].is_empty() {
            self.first_ts[side] = ts;
        }
        self.buf[side].extend_from_slice(bytes);
        loop {
            match Pgsql::parse_frame(kind, &self.buf[side], &mut self.state) {
                ParseState::Frame { frame, consumed } => {
                    assert!(consumed > 0 && consumed <= self.buf[side].len());
                    self.buf[side].drain(..consumed);
                    self.parsed[side].push(frame.clone());
                    self.frames[side].push_back(Timed { ts_ns: self.first_ts[side], frame });
                    self.first_ts[side] = ts;
                }
                ParseState::NeedsMoreData => break,
                ParseState::Invalid => {
                    self.parse_errors += 1;
                    let next = Pgsql::find_boundary(kind, &self.buf[side], 1).unwrap_or(self.buf[side].len());
                    self.buf[side].drain(..next);
                }
            }
        }
        let [requests, responses] = &mut self.frames;
        let stitched = Pgsql::stitch(requests, responses, &mut self.state);
        self.records.extend(stitched.records);
        self.unmatched += stitched.unmatched;
    }

    fn replay(log: &str, byte_by_byte: bool) -> Tracker {
        let mut tracker = Tracker::default();
        for (kind, ts, bytes) in capture(log) {
            if byte_by_byte {
                bytes.iter().for_each(|b| tracker.feed(kind, ts, std::slice::from_ref(b)));
            } else {
                tracker.feed(kind, ts, &bytes);
            }
        }
        assert!(tracker.buf.iter().all(Vec::is_empty), "bytes left over");
        assert!(tracker.frames.iter().all(VecDeque::is_empty), "frames left over");
        tracker
    }
}

fn rec(req_cmd: &'static str, req: &str, resp: &str) -> Record {
    Record { req_cmd, req: req.to_owned(), resp: resp.to_owned() }
}

fn exchange(req_ts_ns: u64, resp_ts_ns: u64, record: Record) -> Exchange<Record> {
    Exchange { req_ts_ns, resp_ts_ns, record }
}

/// The records of a capture, checked to be the same when every read is
/// split into single bytes (a frame split at every position).
fn records_of(log: &str) -> Vec<Exchange<Record>> {
    let chunked = Tracker::replay(log, false);
    let bytewise = Tracker::replay(log, true);
    assert_eq!(chunked.records, bytewise.records);
    assert_eq!(chunked.parsed, bytewise.parsed);
    assert_eq!([chunked.unmatched, chunked.parse_errors], [0, 0]);
    assert_eq!([bytewise.unmatched, bytewise.parse_errors], [0, 0]);
    chunked.records
}

#[test]
fn psql_session_with_ssl_refused_scram_startup_multi_statement_query_and_error() {
    let tracker = Tracker::replay(SIMPLE, false);
    let [requests, responses] = &tracker.parsed;
    assert_eq!(requests[0], Frame::Startup(Startup::SslRequest));
    assert_eq!(responses[0], Frame::EncryptionAnswer(b'N'));
    assert_eq!(
        requests[1],
        Frame::Startup(Startup::Start { params: "user=postgres database=postgres application_name=cap".to_owned() })
    );
    assert_eq!(requests[2..4], [Frame::Frontend(Frontend::Password), Frame::Frontend(Frontend::Password)]);
    assert_eq!(responses[1], Frame::Backend(Backend::Authentication(10)));
    assert_eq!(requests.last(), Some(&Frame::Frontend(Frontend::Terminate)));
    assert_eq!(
        records_of(SIMPLE),
        [
            exchange(
                19936746061742,
                19936746695904,
                rec("Startup", "user=postgres database=postgres application_name=cap", SCRAM)
            ),
            exchange(
                19936751553113,
                19936752190389,
                rec(
                    "Query",
                    "SELECT id, name FROM t ORDER BY id; SELECT 42 AS answer",
                    "id,name\n1,a\n2,[NULL]\n3,c\nSELECT 3\nanswer\n42\nSELECT 1",
                ),
            ),
            exchange(
                19936752286564,
                19936752389448,
                rec(
                    "Query",
                    "SELECT * FROM nope",
                    "ERROR RESPONSE [Severity=ERROR InternalSeverity=ERROR Code=42P01 \
                     Message=relation \"nope\" does not exist Position=15 File=parse_relation.c \
                     Line=1392 Routine=parserOpenTable]",
                ),
            ),
        ]
    );
}

#[test]
fn libpq_extended_query_parse_bind_describe_execute_sync_in_one_write() {
    let tracker = Tracker::replay(EXTENDED, false);
    let requests = &tracker.parsed[0];
    assert_eq!(
        requests[3..],
        [
            Frame::Frontend(Frontend::Parse { statement: String::new(), query: Q_SQL.to_owned() }),
            Frame::Frontend(Frontend::Bind {
                portal: String::new(),
                statement: String::new(),
                params: "1, zz".to_owned()
            }),
            Frame::Frontend(Frontend::Describe { target: Target::Portal, name: String::new() }),
            Frame::Frontend(Frontend::Execute { portal: String::new() }),
            Frame::Frontend(Frontend::Sync),
            Frame::Frontend(Frontend::Terminate),
        ]
    );
    let (req, resp) = (19939201197899, 19939201730308);
    let exec = format!("query=[{Q_SQL}] params=[1, zz]");
    assert_eq!(
        records_of(EXTENDED),
        [
            exchange(19939197012378, 19939197727360, rec("Startup", PGBENCH_STARTUP, SCRAM)),
            exchange(req, resp, rec("Parse", Q_SQL, "PARSE COMPLETE")),
            exchange(req, resp, rec("Bind", &exec, "BIND COMPLETE")),
            exchange(req, resp, rec("Describe", "type=Portal name=", ROW_ID_NAME)),
            exchange(req, resp, rec("Execute", &exec, "id,name\n1,a\nSELECT 1")),
        ]
    );
}

#[test]
fn named_prepared_statement_is_remembered_across_executions() {
    let records = records_of(PREPARED);
    let exec = format!("query=[{Q_SQL}] params=[1, zz]");
    let execution = |req, resp| {
        [
            exchange(req, resp, rec("Bind", &exec, "BIND COMPLETE")),
            exchange(req, resp, rec("Describe", "type=Portal name=", ROW_ID_NAME)),
            exchange(req, resp, rec("Execute", &exec, "id,name\n1,a\nSELECT 1")),
        ]
    };
    let mut expected = vec![
        exchange(19937129485739, 19937130957708, rec("Startup", PGBENCH_STARTUP, SCRAM)),
        exchange(19937134559383, 19937134900635, rec("Parse", Q_SQL, "PARSE COMPLETE")),
    ];
    expected.extend(execution(19937134943549, 19937135190871));
    expected.extend(execution(19937135235497, 19937135296770));
    assert_eq!(records, expected);
    let tracker = Tracker::replay(PREPARED, false);
    assert_eq!(tracker.state.statements.get("P_0").map(String::as_str), Some(Q_SQL));
}

#[test]
fn pipeline_mode_pairs_each_message_with_its_completion() {
    let (req, resp) = (20013429572263, 20013429913805);
    let exec_a = "query=[SELECT 1 AS a;] params=[]";
    let exec_b = "query=[SELECT $1 AS b;] params=[x]";
    assert_eq!(
        records_of(PIPELINE)[1..],
        [
            exchange(req, resp, rec("Parse", "SELECT 1 AS a;", "PARSE COMPLETE")),
            exchange(req, resp, rec("Bind", exec_a, "BIND COMPLETE")),
            exchange(req, resp, rec("Describe", "type=Portal name=", "ROW DESCRIPTION [a]")),
            exchange(req, resp, rec("Execute", exec_a, "a\n1\nSELECT 1")),
            exchange(req, resp, rec("Parse", "SELECT $1 AS b;", "PARSE COMPLETE")),
            exchange(req, resp, rec("Bind", exec_b, "BIND COMPLETE")),
            exchange(req, resp, rec("Describe", "type=Portal name=", "ROW DESCRIPTION [b]")),
            exchange(req, resp, rec("Execute", exec_b, "b\nx\nSELECT 1")),
        ]
    );
}

#[test]
fn error_in_bind_skips_describe_and_execute_until_sync() {
    let (req, resp) = (19939543159782, 19939543454624);
    let records = records_of(BIND_ERROR);
    assert_eq!(
        records[1..],
        [
            exchange(req, resp, rec("Parse", "SELECT 1/0;", "PARSE COMPLETE")),
            exchange(
                req,
                resp,
                rec(
                    "Bind",
                    "query=[SELECT 1/0;] params=[]",
                    "ERROR RESPONSE [Severity=ERROR InternalSeverity=ERROR Code=22012 \
                     Message=division by zero File=int.c Line=869 Routine=int4div]",
                ),
            ),
        ]
    );
    assert!(!Tracker::replay(BIND_ERROR, false).state.skip_until_sync);
}

#[test]
fn empty_query_copy_in_copy_out_notice_and_long_result() {
    let series: String = (1..=16).map(|n| format!("\n{n}")).collect();
    let expected = [
        (";", "EMPTY QUERY"),
        ("COPY t FROM STDIN", "COPY 1"),
        ("COPY t TO STDOUT", "COPY 3"),
        ("DROP TABLE IF EXISTS nope", "DROP TABLE"),
        ("SELECT generate_series(1,20) AS n", &format!("n{series}\n... 4 more rows\nSELECT 20")),
    ];
    let records = records_of(COPY_NOTICE_SERIES);
    assert_eq!(records.len(), 6);
    for (exchange, (req, resp)) in records[1..].iter().zip(expected) {
        assert_eq!(exchange.record, rec("Query", req, resp));
    }
    let requests = &Tracker::replay(COPY_NOTICE_SERIES, false).parsed[0];
    assert!(requests.contains(&Frame::Frontend(Frontend::CopyData)));
    assert!(requests.contains(&Frame::Frontend(Frontend::CopyDone)));
}

#[test]
fn lost_bytes_inside_a_response_resynchronize_and_later_queries_still_match() {
    let mut tracker = Tracker::default();
    for (kind, ts, bytes) in capture(SIMPLE) {
        // The first 60 bytes of the two result sets are lost: the first
        // RowDescription and part of the first row.
        let lost = if bytes.len() == 180 { 60 } else { 0 };
        tracker.feed(kind, ts, &bytes[lost..]);
    }
    assert_eq!(tracker.parse_errors, 1);
    assert_eq!(tracker.unmatched, 0);
    let records: Vec<&Record> = tracker.records.iter().map(|e| &e.record).collect();
    assert_eq!(
        records[1],
        &rec(
            "Query",
            "SELECT id, name FROM t ORDER BY id; SELECT 42 AS answer",
            "2,[NULL]\n3,c\nSELECT 3\nanswer\n42\nSELECT 1"
        )
    );
    assert_eq!(records[2].req, "SELECT * FROM nope");
}

/// The stream of one direction of a capture.
fn stream(log: &str, kind: MessageType) -> Vec<u8> {
    capture(log).into_iter().filter(|(k, ..)| *k == kind).flat_map(|(.., bytes)| bytes).collect()
}

/// The frames of a stream parsed from its start, with their offsets.
fn frames_at(kind: MessageType, buf: &[u8]) -> Vec<(usize, Frame)> {
    let (mut at, mut frames, mut state) = (0, Vec::new(), State::default());
    while let ParseState::Frame { frame, consumed } = Pgsql::parse_frame(kind, &buf[at..], &mut state) {
        frames.push((at, frame));
        at += consumed;
    }
    frames
}

#[test]
fn every_prefix_of_a_frame_needs_more_data() {
    let query = Frame::Frontend(Frontend::Query("SELECT 1".to_owned()));
    let row = Frame::Backend(Backend::DataRow(Some(vec![Some("2".to_owned()), None])));
    let startup =
        Frame::Startup(Startup::Start { params: "user=postgres database=postgres application_name=cap".to_owned() });
    for (kind, bytes, frame) in [
        (MessageType::Request, hex("510000000d53454c454354203100"), query),
        (MessageType::Response, hex("440000000f00020000000132ffffffff"), row),
        (MessageType::Request, hex("0000001004d2162e00001864bb97b62e"), Frame::Startup(Startup::CancelRequest)),
        (MessageType::Request, stream(SIMPLE, MessageType::Request)[8..70].to_vec(), startup),
    ] {
        for end in 0..bytes.len() {
            let parsed = Pgsql::parse_frame(kind, &bytes[..end], &mut State::default());
            assert_eq!(parsed, ParseState::NeedsMoreData, "{frame:?} cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"Q\0\0");
        let parsed = Pgsql::parse_frame(kind, &longer, &mut State::default());
        assert_eq!(parsed, ParseState::Frame { frame, consumed: bytes.len() });
    }
}

#[test]
fn garbage_then_resync_on_the_next_message() {
    let real = stream(SIMPLE, MessageType::Request);
    // From the Query after the startup: garbage then the rest of the stream.
    let query_at = frames_at(MessageType::Request, &real)[4].0;
    let mut buf = b"\xff\xfehello".to_vec();
    buf.extend_from_slice(&real[query_at..]);
    let state = &mut State::default();
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &buf, state), ParseState::Invalid);
    assert_eq!(Pgsql::find_boundary(MessageType::Request, &buf, 1), Some(7));
    assert!(matches!(
        Pgsql::parse_frame(MessageType::Request, &buf[7..], state),
        ParseState::Frame { frame: Frame::Frontend(Frontend::Query(_)), consumed: 61 }
    ));

    // Responses: lost bytes cut the first RowDescription; the next real
    // message start is the first DataRow (T is 0x33 bytes long).
    // Without the SSLRequest, the leading `N` answer would not parse: skip it.
    let responses = &stream(SIMPLE, MessageType::Response)[1..];
    let frames = frames_at(MessageType::Response, responses);
    let row_desc_at = frames.iter().find(|(_, f)| matches!(f, Frame::Backend(Backend::RowDescription(_)))).unwrap().0;
    let cut = &responses[row_desc_at + 10..];
    assert_eq!(Pgsql::parse_frame(MessageType::Response, cut, &mut State::default()), ParseState::Invalid);
    assert_eq!(Pgsql::find_boundary(MessageType::Response, cut, 0), Some(0x33 - 10));
    assert_eq!(Pgsql::find_boundary(MessageType::Response, b"xyz", 0), None);
    assert_eq!(Pgsql::find_boundary(MessageType::Response, b"xyz", 7), None);
}

#[test]
fn untagged_packets_only_before_the_first_tagged_request() {
    let ssl = hex("0000000804d2162f");
    let cancel = hex("0000001004d2162e00001864bb97b62e");
    let gss = hex("0000000804d21630");
    for (packet, frame) in
        [(&ssl, Startup::SslRequest), (&cancel, Startup::CancelRequest), (&gss, Startup::GssEncRequest)]
    {
        let parsed = Pgsql::parse_frame(MessageType::Request, packet, &mut State::default());
        assert_eq!(parsed, ParseState::Frame { frame: Frame::Startup(frame), consumed: packet.len() });
    }
    // Joined mid-stream: a tagged request first, then no untagged packet.
    let state = &mut State::default();
    let sync = hex("5300000004");
    assert!(matches!(Pgsql::parse_frame(MessageType::Request, &sync, state), ParseState::Frame { consumed: 5, .. }));
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &ssl, state), ParseState::Invalid);
    // Unknown code, protocol 2.0, wrong lengths.
    for bad in ["0000000804d21699", "0000000900020000", "0000000904d2162f", "000000080003000000"] {
        assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex(bad), &mut State::default()), ParseState::Invalid);
    }
}

#[test]
fn encryption_answer_only_right_after_the_request() {
    let state = &mut State::default();
    // Without an SSLRequest, `S` is ParameterStatus and one byte is too short.
    assert_eq!(Pgsql::parse_frame(MessageType::Response, b"S", state), ParseState::NeedsMoreData);
    Pgsql::parse_frame(MessageType::Request, &hex("0000000804d2162f"), state);
    let answer = ParseState::Frame { frame: Frame::EncryptionAnswer(b'S'), consumed: 1 };
    assert_eq!(Pgsql::parse_frame(MessageType::Response, b"S", state), answer);
    assert_eq!(Pgsql::parse_frame(MessageType::Response, b"S", state), ParseState::NeedsMoreData);
    // The StartupMessage still follows.
    assert_eq!(state.phase, Phase::Startup);
}

#[test]
fn lengths_are_bounded() {
    let state = &mut State::default();
    // 16 MiB + 1 declared: refused without waiting for the bytes.
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex("5101000001"), state), ParseState::Invalid);
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex("5101000000"), state), ParseState::NeedsMoreData);
    // Below the field itself, and fixed-size messages with another length.
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex("5100000003"), state), ParseState::Invalid);
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex("530000000500"), state), ParseState::Invalid);
    assert_eq!(Pgsql::parse_frame(MessageType::Response, &hex("5a0000000649"), state), ParseState::Invalid);
    // Startup packet over the server's limit.
    let big = hex("0000271100030000");
    assert_eq!(Pgsql::parse_frame(MessageType::Request, &big, &mut State::default()), ParseState::Invalid);
}

#[test]
fn bodies_must_decode_exactly() {
    let state = &mut State::default();
    for bad in [
        "510000000778797a",                   // Query without its NUL
        "5100000007610062",                   // bytes after the query's NUL
        "44000000065800",                     // Describe of neither S nor P
        "4200000010000000000001000000020000", // two format codes, no parameters
    ] {
        assert_eq!(Pgsql::parse_frame(MessageType::Request, &hex(bad), state), ParseState::Invalid, "{bad}");
    }
    for bad in [
        "5a0000000558",               // ReadyForQuery status X
        "440000000a0001000000050000", // DataRow value longer than the message
        "5400000006ffff",             // negative field count
    ] {
        assert_eq!(Pgsql::parse_frame(MessageType::Response, &hex(bad), state), ParseState::Invalid, "{bad}");
    }
}

/// A frame from hand-written messages, stamped `ts`.
fn at(ts_ns: u64, frame: Frame) -> Timed<Frame> {
    Timed { ts_ns, frame }
}

fn stitch(
    requests: Vec<Timed<Frame>>,
    responses: Vec<Timed<Frame>>,
    state: &mut State,
) -> (Stitched<Record>, usize, usize) {
    let (mut requests, mut responses) = (VecDeque::from(requests), VecDeque::from(responses));
    let stitched = Pgsql::stitch(&mut requests, &mut responses, state);
    (stitched, requests.len(), responses.len())
}

fn query(text: &str) -> Frame {
    Frame::Frontend(Frontend::Query(text.to_owned()))
}

fn back(message: Backend) -> Frame {
    Frame::Backend(message)
}

#[test]
fn query_waits_for_ready_for_query_then_reports_latency_to_the_first_response() {
    let state = &mut State::default();
    let mut requests = VecDeque::from([at(100, query("SELECT 1"))]);
    let mut responses = VecDeque::from([
        at(150, back(Backend::RowDescription(vec!["?column?".to_owned()]))),
        at(160, back(Backend::DataRow(Some(vec![Some("1".to_owned())])))),
        at(170, back(Backend::CommandComplete("SELECT 1".to_owned()))),
    ]);
    let stitched = Pgsql::stitch(&mut requests, &mut responses, state);
    assert_eq!(stitched, Stitched::default());
    assert_eq!((requests.len(), responses.len()), (1, 3));
    // The next call resumes after the responses already looked at.
    assert_eq!(state.scan.checked, 3);
    responses.push_back(at(180, back(Backend::ReadyForQuery)));
    let stitched = Pgsql::stitch(&mut requests, &mut responses, state);
    let record = rec("Query", "SELECT 1", "?column?\n1\nSELECT 1");
    assert_eq!(stitched.records, [exchange(100, 150, record)]);
    assert_eq!((stitched.unmatched, requests.len(), responses.len()), (0, 0, 0));
}

#[test]
fn unmatched_responses_and_lost_answers_are_counted() {
    let ready = || back(Backend::ReadyForQuery);
    let complete = |tag: &str| back(Backend::CommandComplete(tag.to_owned()));
    // A response before any request, and one older than the request.
    let (stitched, reqs, resps) = stitch(
        vec![at(100, query("BEGIN"))],
        vec![at(50, complete("COMMIT")), at(60, ready()), at(110, complete("BEGIN")), at(120, ready())],
        &mut State::default(),
    );
    assert_eq!(stitched.records, [exchange(100, 110, rec("Query", "BEGIN", "BEGIN"))]);
    assert_eq!((stitched.unmatched, reqs, resps), (2, 0, 0));
    // Responses with no request left.
    let (stitched, ..) =
        stitch(vec![], vec![at(5, ready()), at(6, back(Backend::NoticeResponse))], &mut State::default());
    assert_eq!(stitched.unmatched, 1);
    // Parse whose ParseComplete was lost: the Sync's ReadyForQuery comes first.
    let parse = Frame::Frontend(Frontend::Parse { statement: "s".to_owned(), query: "SELECT 1".to_owned() });
    let bind_complete = back(Backend::BindComplete);
    let (stitched, reqs, resps) = stitch(
        vec![at(10, parse), at(11, Frame::Frontend(Frontend::Sync)), at(30, query("SELECT 2"))],
        vec![at(20, bind_complete), at(21, ready()), at(40, complete("SELECT 0")), at(41, ready())],
        &mut State::default(),
    );
    assert_eq!(stitched.records, [exchange(30, 40, rec("Query", "SELECT 2", "SELECT 0"))]);
    // Parse lost, BindComplete answering nothing.
    assert_eq!((stitched.unmatched, reqs, resps), (2, 0, 0));
}

#[test]
fn extended_messages_track_statements_portals_and_close() {
    let state = &mut State::default();
    let frontend = |message| at(1, Frame::Frontend(message));
    let (stitched, ..) = stitch(
        vec![
            frontend(Frontend::Parse { statement: "s1".to_owned(), query: "SELECT $1::int".to_owned() }),
            frontend(Frontend::Describe { target: Target::Statement, name: "s1".to_owned() }),
            frontend(Frontend::Bind {
                portal: "p".to_owned(),
                statement: "s1".to_owned(),
                params: "\\x0000002a".to_owned(),
            }),
            frontend(Frontend::Execute { portal: "p".to_owned() }),
            frontend(Frontend::Execute { portal: "p".to_owned() }),
            frontend(Frontend::Close { target: Target::Statement, name: "s1".to_owned() }),
            frontend(Frontend::Bind { portal: String::new(), statement: "s1".to_owned(), params: String::new() }),
            frontend(Frontend::Sync),
        ],
        vec![
            at(2, back(Backend::ParseComplete)),
            at(3, back(Backend::ParameterDescription)),
            at(3, back(Backend::RowDescription(vec!["int4".to_owned()]))),
            at(4, back(Backend::BindComplete)),
            at(5, back(Backend::DataRow(Some(vec![Some("42".to_owned())])))),
            at(5, back(Backend::PortalSuspended)),
            at(6, back(Backend::CommandComplete("SELECT 0".to_owned()))),
            at(7, back(Backend::CloseComplete)),
            at(8, back(Backend::ErrorResponse("ERROR RESPONSE [Code=26000]".to_owned()))),
            at(9, back(Backend::ReadyForQuery)),
        ],
        state,
    );
    let exec = "query=[SELECT $1::int] params=[\\x0000002a]";
    let records: Vec<(u64, Record)> = stitched.records.into_iter().map(|e| (e.resp_ts_ns, e.record)).collect();
    assert_eq!(
        records,
        [
            (2, rec("Parse", "SELECT $1::int", "PARSE COMPLETE")),
            (3, rec("Describe", "type=Statement name=s1", "ROW DESCRIPTION [int4]")),
            (4, rec("Bind", exec, "BIND COMPLETE")),
            (5, rec("Execute", exec, "42\nPORTAL SUSPENDED")),
            (6, rec("Execute", exec, "SELECT 0")),
            (7, rec("Close", "type=Statement name=s1", "CLOSE COMPLETE")),
            (8, rec("Bind", "query=[[unknown statement \"s1\"]] params=[]", "ERROR RESPONSE [Code=26000]")),
        ]
    );
    assert_eq!(stitched.unmatched, 0);
    assert!(state.statements.is_empty());
    assert!(state.portals.contains_key("p"));
    assert!(!state.skip_until_sync);
}

#[test]
fn failed_authentication_ends_the_startup_record() {
    let startup = Frame::Startup(Startup::Start { params: "user=app database=shop".to_owned() });
    let error = "ERROR RESPONSE [Severity=FATAL Code=28P01 Message=password authentication failed for user \"app\"]";
    let (stitched, reqs, resps) = stitch(
        vec![at(1, startup), at(3, Frame::Frontend(Frontend::Password)), at(5, back(Backend::BindComplete))],
        vec![at(2, back(Backend::Authentication(5))), at(4, back(Backend::ErrorResponse(error.to_owned())))],
        &mut State::default(),
    );
    let resp = format!("AuthenticationMD5Password, {error}");
    assert_eq!(stitched.records, [exchange(1, 2, rec("Startup", "user=app database=shop", &resp))]);
    // A server message in the requests queue is no request.
    assert_eq!((stitched.unmatched, reqs, resps), (1, 0, 0));
}

#[test]
fn sync_answered_by_an_error_is_recorded() {
    let error = "ERROR RESPONSE [Severity=ERROR Code=23503]";
    let (stitched, ..) = stitch(
        vec![at(1, Frame::Frontend(Frontend::Sync))],
        vec![at(2, back(Backend::ErrorResponse(error.to_owned()))), at(3, back(Backend::ReadyForQuery))],
        &mut State::default(),
    );
    assert_eq!(stitched.records, [exchange(1, 2, rec("Sync", "", error))]);
}

#[test]
fn texts_are_cut_to_the_column_limits() {
    let long = "x".repeat(2000);
    let mut message = vec![b'Q'];
    message.extend_from_slice(&(4 + 2001u32).to_be_bytes());
    message.extend_from_slice(long.as_bytes());
    message.push(0);
    let ParseState::Frame { frame: Frame::Frontend(Frontend::Query(text)), .. } =
        Pgsql::parse_frame(MessageType::Request, &message, &mut State::default())
    else {
        panic!("not a query");
    };
    let cut = format!("{}... [TRUNCATED]", &long[..MAX_REQ_BYTES]);
    assert_eq!(text, cut);
    // The record keeps the one marker.
    let (stitched, ..) = stitch(
        vec![at(1, query(&text))],
        vec![at(2, back(Backend::EmptyQueryResponse)), at(3, back(Backend::ReadyForQuery))],
        &mut State::default(),
    );
    assert_eq!(stitched.records[0].record.req, cut);
    // Bind: NULL, text and binary values; a binary value over the limit is cut.
    let mut body = vec![0, 0, 0, 0, 0, 3]; // portal "", statement "", no format codes, 3 values
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&2i32.to_be_bytes());
    body.extend_from_slice(b"42");
    body.extend_from_slice(&600i32.to_be_bytes());
    body.extend(std::iter::repeat_n(0u8, 600));
    body.extend_from_slice(&[0, 0]); // no result format codes
    let mut bind = vec![b'B'];
    bind.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    bind.extend_from_slice(&body);
    let ParseState::Frame { frame: Frame::Frontend(Frontend::Bind { params, .. }), .. } =
        Pgsql::parse_frame(MessageType::Request, &bind, &mut State::default())
    else {
        panic!("not a bind");
    };
    let zeros = "0".repeat(MAX_REQ_BYTES - "[NULL], 42, \\x".len());
    assert_eq!(params, format!("[NULL], 42, \\x{zeros}... [TRUNCATED]"));
}

#[test]
fn prepared_statements_per_connection_are_bounded() {
    let mut state = State::default();
    for i in 0..MAX_PREPARED + 10 {
        state.remember_statement(format!("s{i}"), "SELECT 1".to_owned());
    }
    assert_eq!(state.statements.len(), MAX_PREPARED);
    assert!(state.statements.contains_key(&format!("s{}", MAX_PREPARED + 9)));
}

/// Parses both streams as the tracker does (resynchronizing after invalid
/// bytes) and stitches what was parsed.
fn exercise(streams: [&[u8]; 2]) {
    let mut state = State::default();
    let mut queues = [VecDeque::new(), VecDeque::new()];
    for (side, kind) in [MessageType::Request, MessageType::Response].into_iter().enumerate() {
        let (buf, mut at) = (streams[side], 0);
        while at < buf.len() {
            match Pgsql::parse_frame(kind, &buf[at..], &mut state) {
                ParseState::Frame { frame, consumed } => {
                    assert!(consumed > 0 && consumed <= buf.len() - at);
                    queues[side].push_back(Timed { ts_ns: at as u64, frame });
                    at += consumed;
                }
                ParseState::NeedsMoreData => break,
                ParseState::Invalid => match Pgsql::find_boundary(kind, buf, at + 1) {
                    Some(next) => {
                        assert!(next > at && next < buf.len());
                        at = next;
                    }
                    None => break,
                },
            }
        }
    }
    let [mut requests, mut responses] = queues;
    let stitched = Pgsql::stitch(&mut requests, &mut responses, &mut state);
    let marked = MAX_REQ_BYTES + "... [TRUNCATED]".len();
    assert!(stitched.records.iter().all(|e| e.record.req.len() <= marked && e.record.resp.len() <= marked));
}

#[test]
fn fuzz_pgsql_never_panics() {
    let captures = [SIMPLE, EXTENDED, PREPARED, PIPELINE, BIND_ERROR, COPY_NOTICE_SERIES]
        .map(|log| [stream(log, MessageType::Request), stream(log, MessageType::Response)]);
    bolero::check!().for_each(|bytes: &[u8]| {
        exercise([bytes, bytes]);
        // The bytes spliced into a real session: valid frames around damage.
        let [pick, place, ..] = *bytes else { return };
        let spliced = captures[usize::from(pick) % captures.len()].each_ref().map(|stream| {
            let at = usize::from(place) * stream.len() / 256;
            [&stream[..at], bytes, &stream[at..]].concat()
        });
        exercise([&spliced[0], &spliced[1]]);
    });
}
