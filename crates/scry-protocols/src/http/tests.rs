use std::collections::VecDeque;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;
use crate::truncate;

/// What curl 7.88.1 sent on one keep-alive connection (captured through a
/// recording proxy): `curl -I …/index.html --next -d '{"name":"scry"}' -H
/// 'Content-Type: application/json' --compressed …/users --next -H
/// 'Transfer-Encoding: chunked' -d '[1,2]' …/items`.
const CURL_REQUESTS: &[u8] = b"HEAD /index.html HTTP/1.1\r\n\
Host: 127.0.0.1:38841\r\n\
User-Agent: curl/7.88.1\r\n\
Accept: */*\r\n\
\r\n\
POST /users HTTP/1.1\r\n\
Host: 127.0.0.1:38841\r\n\
User-Agent: curl/7.88.1\r\n\
Accept: */*\r\n\
Accept-Encoding: deflate, gzip, br, zstd\r\n\
Content-Type: application/json\r\n\
Content-Length: 15\r\n\
\r\n\
{\"name\":\"scry\"}POST /items HTTP/1.1\r\n\
Host: 127.0.0.1:38841\r\n\
User-Agent: curl/7.88.1\r\n\
Accept: */*\r\n\
Transfer-Encoding: chunked\r\n\
Content-Type: application/json\r\n\
\r\n\
5\r\n\
[1,2]\r\n\
0\r\n\
\r\n";

/// Frame starts in [`CURL_REQUESTS`], then its length.
const CURL_REQUEST_CUTS: [usize; 4] = [0, 90, 284, 444];

/// The answers of Python 3.11's `http.server` on the same connection: HEAD
/// announces 1234 bytes it does not send; the POSTs are answered with gzip
/// JSON in two chunks, one with an extension, and a trailer. Both answers
/// have the same head, kept once here: the stream is [`python_responses`].
const PYTHON_HEAD_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: BaseHTTP/0.6 Python/3.11.7\r\n\
Date: Sat, 21 Nov 2026 22:34:20 GMT\r\n\
Content-Type: text/html\r\n\
Content-Length: 1234\r\n\
\r\n";
const PYTHON_CREATED: &[u8] = b"HTTP/1.1 201 Created\r\n\
Server: BaseHTTP/0.6 Python/3.11.7\r\n\
Date: Sat, 21 Nov 2026 22:34:20 GMT\r\n\
Content-Type: application/json\r\n\
Content-Encoding: gzip\r\n\
Transfer-Encoding: chunked\r\n\
Trailer: X-Checksum\r\n\
\r\n";
const PYTHON_USERS_BODY: &[u8] = b"a;part=1\r\n\
\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\r\n\
29\r\n\
\xabV\xcaLQ\xb22\xd7QJM\xce\xc8W\xb2\xaaV\xcaK\xccMU\xb2R*N.\xaaT\xaa\xad\x05\x00\x1e&#\xb6\x1f\x00\x00\x00\r\n\
0\r\n\
X-Checksum: abc\r\n\
\r\n";
const PYTHON_ITEMS_BODY: &[u8] = b"a;part=1\r\n\
\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\r\n\
1f\r\n\
\xabV\xcaLQ\xb22\xd7QJM\xce\xc8W\xb2\x8a6\xd41\x8a\xad\x05\x00\x9c\xf6U\xbb\x15\x00\x00\x00\r\n\
0\r\n\
X-Checksum: abc\r\n\
\r\n";

fn python_responses() -> Vec<u8> {
    [PYTHON_HEAD_ANSWER, PYTHON_CREATED, PYTHON_USERS_BODY, PYTHON_CREATED, PYTHON_ITEMS_BODY].concat()
}

const PYTHON_RESPONSE_CUTS: [usize; 4] = [0, 139, 432, 715];

const HOST: (&str, &str) = ("Host", "127.0.0.1:38841");
const CURL: (&str, &str) = ("User-Agent", "curl/7.88.1");
const ACCEPT: (&str, &str) = ("Accept", "*/*");
const SERVER: (&str, &str) = ("Server", "BaseHTTP/0.6 Python/3.11.7");
const DATE: (&str, &str) = ("Date", "Sat, 21 Nov 2026 22:34:20 GMT");

fn fields(pairs: &[(&str, &str)]) -> Headers {
    Headers(pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect())
}

fn body(size: u64, kept: &[u8]) -> Body {
    Body { size, kept: kept.to_vec(), gunzip_failed: false }
}

fn parse(kind: MessageType, buf: &[u8], state: &mut State) -> ParseState<Frame> {
    Http::parse_frame(kind, buf, state)
}

/// Every frame of `buf`, which must be whole frames only.
fn parse_all(kind: MessageType, buf: &[u8], state: &mut State) -> Vec<(Frame, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match parse(kind, &buf[pos..], state) {
            ParseState::Frame { frame, consumed } => {
                pos += consumed;
                out.push((frame, consumed));
            }
            other => panic!("at {pos}: {other:?}"),
        }
    }
    out
}

fn frame(kind: MessageType, buf: &[u8]) -> Frame {
    match parse(kind, buf, &mut State::default()) {
        ParseState::Frame { frame, consumed } if consumed == buf.len() => frame,
        other => panic!("{other:?}"),
    }
}

fn timed(frames: Vec<Frame>, timestamps: &[u64]) -> VecDeque<Timed<Frame>> {
    assert_eq!(frames.len(), timestamps.len());
    frames.into_iter().zip(timestamps).map(|(frame, &ts_ns)| Timed { ts_ns, frame }).collect()
}

/// Parses both streams with one state, requests first as the tracker does,
/// stamps their frames and stitches them all.
fn stitch_streams(reqs: &[u8], req_ts: &[u64], resps: &[u8], resp_ts: &[u64]) -> Stitched<Record> {
    let mut state = State::default();
    let mut frames = |kind, buf| parse_all(kind, buf, &mut state).into_iter().map(|(frame, _)| frame).collect();
    let mut requests = timed(frames(MessageType::Request, reqs), req_ts);
    let mut responses = timed(frames(MessageType::Response, resps), resp_ts);
    let stitched = Http::stitch(&mut requests, &mut responses, &mut state);
    assert!(requests.is_empty() && responses.is_empty());
    stitched
}

/// The row of one request and its response.
fn exchange(req: &[u8], resp: &[u8]) -> Record {
    let mut stitched = stitch_streams(req, &[10], resp, &[20]);
    assert_eq!((stitched.records.len(), stitched.unmatched), (1, 0));
    stitched.records.remove(0).record
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn curl_requests_parse_frame_by_frame() {
    let mut state = State::default();
    let frames = parse_all(MessageType::Request, CURL_REQUESTS, &mut state);
    let expected = [
        Request {
            minor_version: 1,
            method: "HEAD".into(),
            path: "/index.html".into(),
            headers: fields(&[HOST, CURL, ACCEPT]),
            body: Body::default(),
        },
        Request {
            minor_version: 1,
            method: "POST".into(),
            path: "/users".into(),
            headers: fields(&[
                HOST,
                CURL,
                ACCEPT,
                ("Accept-Encoding", "deflate, gzip, br, zstd"),
                ("Content-Type", "application/json"),
                ("Content-Length", "15"),
            ]),
            body: body(15, br#"{"name":"scry"}"#),
        },
        Request {
            minor_version: 1,
            method: "POST".into(),
            path: "/items".into(),
            headers: fields(&[
                HOST,
                CURL,
                ACCEPT,
                ("Transfer-Encoding", "chunked"),
                ("Content-Type", "application/json"),
            ]),
            body: body(5, b"[1,2]"),
        },
    ];
    assert_eq!(frames.len(), 3);
    for (i, ((frame, consumed), want)) in frames.into_iter().zip(expected).enumerate() {
        assert_eq!(frame, Frame::Request(want));
        assert_eq!(consumed, CURL_REQUEST_CUTS[i + 1] - CURL_REQUEST_CUTS[i]);
    }
    assert_eq!(state.unanswered, [Asked::Head, Asked::Other, Asked::Other]);
}

#[test]
fn python_responses_use_what_the_requests_asked() {
    let mut state = State::default();
    parse_all(MessageType::Request, CURL_REQUESTS, &mut state);
    let frames = parse_all(MessageType::Response, &python_responses(), &mut state);
    let gzip_headers = [
        SERVER,
        DATE,
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Transfer-Encoding", "chunked"),
        ("Trailer", "X-Checksum"),
    ];
    let created = |body| Response {
        minor_version: 1,
        status: 201,
        reason: "Created".into(),
        headers: fields(&gzip_headers),
        body,
    };
    let expected = [
        Response {
            minor_version: 1,
            status: 200,
            reason: "OK".into(),
            headers: fields(&[SERVER, DATE, ("Content-Type", "text/html"), ("Content-Length", "1234")]),
            body: Body::default(),
        },
        created(body(51, br#"{"id":7,"echo":{"name":"scry"}}"#)),
        created(body(41, br#"{"id":7,"echo":[1,2]}"#)),
    ];
    for (i, ((frame, consumed), want)) in frames.into_iter().zip(expected).enumerate() {
        assert_eq!(frame, Frame::Response(want));
        assert_eq!(consumed, PYTHON_RESPONSE_CUTS[i + 1] - PYTHON_RESPONSE_CUTS[i]);
    }
    assert!(state.unanswered.is_empty());

    // Without the HEAD request parsed first, the 1234 announced bytes are awaited.
    assert_eq!(parse(MessageType::Response, &python_responses(), &mut State::default()), ParseState::NeedsMoreData);
}

#[test]
fn every_prefix_of_a_frame_needs_more_data() {
    let mut state = State::default();
    for (kind, stream, cuts) in [
        (MessageType::Request, CURL_REQUESTS, CURL_REQUEST_CUTS),
        (MessageType::Response, &python_responses(), PYTHON_RESPONSE_CUTS),
    ] {
        for window in cuts.windows(2) {
            let (start, end) = (window[0], window[1]);
            for cut in start..end {
                let mut scratch = state.clone();
                assert_eq!(parse(kind, &stream[start..cut], &mut scratch), ParseState::NeedsMoreData, "{start}..{cut}");
                assert_eq!(scratch.unanswered, state.unanswered, "a prefix changed the state");
            }
            let whole = parse(kind, &stream[start..end], &mut state);
            assert!(matches!(whole, ParseState::Frame { consumed, .. } if consumed == end - start), "{whole:?}");
        }
    }
}

#[test]
fn stitching_the_capture_gives_exact_rows() {
    let stitched = stitch_streams(CURL_REQUESTS, &[1_000, 2_000, 3_000], &python_responses(), &[1_500, 2_700, 3_900]);
    assert_eq!(stitched.unmatched, 0);

    let head = Record {
        major_version: 1,
        minor_version: 1,
        content_type: ContentType::Unknown,
        req_headers: r#"{"Accept":"*/*","Host":"127.0.0.1:38841","User-Agent":"curl/7.88.1"}"#.into(),
        req_method: "HEAD".into(),
        req_path: "/index.html".into(),
        req_body: String::new(),
        req_body_size: 0,
        resp_headers: r#"{"Content-Length":"1234","Content-Type":"text/html","Date":"Sat, 21 Nov 2026 22:34:20 GMT","Server":"BaseHTTP/0.6 Python/3.11.7"}"#.into(),
        resp_status: 200,
        resp_message: "OK".into(),
        resp_body: String::new(),
        resp_body_size: 0,
        upgraded: false,
    };
    let users = Record {
        content_type: ContentType::Json,
        req_headers: r#"{"Accept":"*/*","Accept-Encoding":"deflate, gzip, br, zstd","Content-Length":"15","Content-Type":"application/json","Host":"127.0.0.1:38841","User-Agent":"curl/7.88.1"}"#.into(),
        req_method: "POST".into(),
        req_path: "/users".into(),
        req_body: r#"{"name":"scry"}"#.into(),
        req_body_size: 15,
        resp_headers: r#"{"Content-Encoding":"gzip","Content-Type":"application/json","Date":"Sat, 21 Nov 2026 22:34:20 GMT","Server":"BaseHTTP/0.6 Python/3.11.7","Trailer":"X-Checksum","Transfer-Encoding":"chunked"}"#.into(),
        resp_status: 201,
        resp_message: "Created".into(),
        resp_body: r#"{"id":7,"echo":{"name":"scry"}}"#.into(),
        resp_body_size: 51,
        ..head.clone()
    };
    let items = Record {
        req_headers: r#"{"Accept":"*/*","Content-Type":"application/json","Host":"127.0.0.1:38841","Transfer-Encoding":"chunked","User-Agent":"curl/7.88.1"}"#.into(),
        req_path: "/items".into(),
        req_body: "[1,2]".into(),
        req_body_size: 5,
        resp_body: r#"{"id":7,"echo":[1,2]}"#.into(),
        resp_body_size: 41,
        ..users.clone()
    };
    let expected = vec![
        Exchange { req_ts_ns: 1_000, resp_ts_ns: 1_500, record: head },
        Exchange { req_ts_ns: 2_000, resp_ts_ns: 2_700, record: users },
        Exchange { req_ts_ns: 3_000, resp_ts_ns: 3_900, record: items },
    ];
    assert_eq!(stitched.records, expected);
}

#[test]
fn chunk_extensions_and_trailers_are_read_and_dropped() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
4;a=b;c=\"d\"\r\nWiki\r\n5 ; ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0;end\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n";
    let Frame::Response(parsed) = frame(MessageType::Response, resp) else { panic!() };
    // A transfer coding other than chunked is not undone: the body stays as sent.
    assert_eq!(parsed.body, body(23, b"Wikipedia in\r\n\r\nchunks."));
    let req = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let Frame::Request(parsed) = frame(MessageType::Request, req) else { panic!() };
    assert_eq!(parsed.body, body(3, b"abc"));
}

#[test]
fn malformed_chunks_are_invalid() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let long_extension = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE));
    let bodies: [&[u8]; 6] = [
        b"zz\r\n",
        b"\r\n",
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"40000001\r\n",
        b"10000000000000000\r\n",
        long_extension.as_bytes(),
    ];
    for chunks in bodies {
        let buf = [head.as_slice(), chunks].concat();
        assert_eq!(parse(MessageType::Response, &buf, &mut State::default()), ParseState::Invalid, "{chunks:?}");
    }
    // A trailer section that never ends within the head bound.
    let endless = [head.as_slice(), b"0\r\n", "X-A: b\r\n".repeat(MAX_HEAD_BYTES / 8 + 1).as_bytes()].concat();
    assert_eq!(parse(MessageType::Response, &endless, &mut State::default()), ParseState::Invalid);
}

#[test]
fn bodiless_statuses_end_at_their_head() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nContent-Type: image/png\r\n\r\n\
HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let frames = parse_all(MessageType::Response, stream, &mut State::default());
    let statuses: Vec<_> = frames
        .iter()
        .map(|(frame, consumed)| match frame {
            Frame::Response(r) => (r.status, r.minor_version, r.body.size, *consumed),
            Frame::Request(_) => panic!(),
        })
        .collect();
    assert_eq!(statuses, [(100, 1, 0, 25), (204, 1, 0, 47), (304, 1, 0, 74), (200, 0, 2, 40)]);
}

#[test]
fn an_interim_response_does_not_answer_the_request() {
    let req =
        b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
    let resp =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    let stitched = stitch_streams(req, &[100], resp, &[150, 400]);
    assert_eq!(stitched.unmatched, 0);
    assert_eq!(stitched.records.len(), 1);
    let Exchange { req_ts_ns, resp_ts_ns, record } = &stitched.records[0];
    assert_eq!((*req_ts_ns, *resp_ts_ns), (100, 400));
    assert_eq!((record.req_body.as_str(), record.resp_status, record.resp_body.as_str()), ("abc", 200, "ok"));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let reqs =
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nHEAD /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let resps = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\na\
HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nb\
HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99\r\n\r\n";
    let stitched = stitch_streams(reqs, &[10, 11, 12], resps, &[50, 60, 70]);
    let rows: Vec<_> = stitched
        .records
        .iter()
        .map(|e| {
            (e.record.req_path.as_str(), e.record.resp_status, e.record.resp_body.as_str(), e.resp_ts_ns - e.req_ts_ns)
        })
        .collect();
    assert_eq!(rows, [("/a", 200, "a", 40), ("/b", 404, "b", 49), ("/c", 200, "", 58)]);
    assert_eq!(stitched.unmatched, 0);
}

#[test]
fn the_state_forgets_the_oldest_unanswered_request_beyond_its_bound() {
    let mut state = State::default();
    state.asked("HEAD");
    for _ in 0..MAX_UNANSWERED {
        state.asked("GET");
    }
    assert_eq!(state.unanswered.len(), MAX_UNANSWERED);
    assert!(!state.unanswered.contains(&Asked::Head));
}

#[test]
fn orphans_are_counted_and_waiting_requests_stay() {
    let get = |path: &str| frame(MessageType::Request, format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    let ok = || frame(MessageType::Response, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let mut state = State::default();

    // A response with no request waits: its request may still be parsing.
    let mut requests = VecDeque::new();
    let mut responses = timed(vec![ok()], &[5]);
    assert_eq!(Http::stitch(&mut requests, &mut responses, &mut state), Stitched::default());
    assert_eq!(responses.len(), 1);

    // A later request proves it orphaned; the request then waits for its own.
    requests = timed(vec![get("/late"), get("/next")], &[8, 9]);
    let stitched = Http::stitch(&mut requests, &mut responses, &mut state);
    assert_eq!((stitched.records.len(), stitched.unmatched), (0, 1));
    assert_eq!((requests.len(), responses.len()), (2, 0));

    // Frames in the wrong queue are dropped and counted.
    responses = timed(vec![get("/wrong"), ok()], &[10, 12]);
    requests.push_front(Timed { ts_ns: 7, frame: ok() });
    let stitched = Http::stitch(&mut requests, &mut responses, &mut state);
    assert_eq!(stitched.unmatched, 2);
    assert_eq!(stitched.records.len(), 1);
    assert_eq!((stitched.records[0].record.req_path.as_str(), stitched.records[0].req_ts_ns), ("/late", 8));
    assert_eq!(requests.len(), 1);
}

#[test]
fn gzip_is_inflated_within_the_kept_bound() {
    let text: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    let compressed = gzip(text.as_bytes());
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        compressed.len()
    );
    let resp = [head.as_bytes(), &compressed].concat();
    let Frame::Response(parsed) = frame(MessageType::Response, &resp) else { panic!() };
    assert_eq!(parsed.body.size, compressed.len() as u64);
    assert_eq!(parsed.body.kept, &text.as_bytes()[..KEPT_BODY_BYTES]);
    let record = exchange(b"GET / HTTP/1.1\r\n\r\n", &resp);
    assert_eq!(record.resp_body, truncate(&text, MAX_BODY_BYTES));
    assert!(record.resp_body.ends_with("... [TRUNCATED]"));
    assert_eq!(record.resp_body_size, compressed.len() as i64);

    // A stream that does not inflate; a gzip spelled otherwise; codings that are not a lone gzip.
    let mut broken = gzip(br#"{"a":1}"#);
    broken[12] ^= 0xff;
    let small = gzip(br#"{"a":1}"#);
    let cases: [(&str, &[u8], Body); 3] = [
        ("gzip", &broken, Body { size: broken.len() as u64, kept: Vec::new(), gunzip_failed: true }),
        ("X-GZIP", &small, body(small.len() as u64, br#"{"a":1}"#)),
        ("gzip, br", b"raw", body(3, b"raw")),
    ];
    for (coding, content, want) in cases {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
            content.len()
        );
        let resp = [head.as_bytes(), content].concat();
        let Frame::Response(parsed) = frame(MessageType::Response, &resp) else { panic!() };
        assert_eq!(parsed.body, want, "{coding}");
        if coding == "gzip" {
            assert_eq!(exchange(b"GET / HTTP/1.1\r\n\r\n", &resp).resp_body, GUNZIP_FAILED_BODY);
        }
    }
}

#[test]
fn a_large_body_is_counted_not_kept() {
    let size = 10_000_000;
    let mut buf =
        format!("POST /big HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    let head_len = buf.len();
    buf.resize(head_len + size, b'x');
    assert_eq!(parse(MessageType::Request, &buf[..buf.len() - 1], &mut State::default()), ParseState::NeedsMoreData);
    buf.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
    let parsed = parse(MessageType::Request, &buf, &mut State::default());
    let ParseState::Frame { frame: Frame::Request(parsed), consumed } = parsed else { panic!("{parsed:?}") };
    assert_eq!(consumed, head_len + size);
    assert_eq!(parsed.body, Body { size: size as u64, kept: vec![b'x'; KEPT_BODY_BYTES], gunzip_failed: false });
    assert!(parsed.body.kept.capacity() <= 2 * KEPT_BODY_BYTES);
    let record = exchange(&buf[..consumed], b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(record.req_body, format!("{}... [TRUNCATED]", "x".repeat(MAX_BODY_BYTES)));
    assert_eq!(record.req_body_size, size as i64);
}

#[test]
fn heads_and_lengths_out_of_bounds_are_invalid() {
    let req = |extra: &str| format!("GET / HTTP/1.1\r\n{extra}\r\n");
    let check = |buf: &str, want: Option<usize>| {
        let got = parse(MessageType::Request, buf.as_bytes(), &mut State::default());
        match want {
            Some(len) => assert!(matches!(got, ParseState::Frame { consumed, .. } if consumed == len), "{got:?}"),
            None => assert_eq!(got, ParseState::Invalid),
        }
    };
    // The head "GET / HTTP/1.1\r\nX-Big: …\r\n\r\n" is 27 bytes plus the value.
    check(&req(&format!("X-Big: {}\r\n", "a".repeat(MAX_HEAD_BYTES - 27))), Some(MAX_HEAD_BYTES));
    check(&req(&format!("X-Big: {}\r\n", "a".repeat(MAX_HEAD_BYTES - 26))), None);
    check(&format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(MAX_HEAD_BYTES)), None);
    let many = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    check(&req(&many(MAX_HEADERS)), Some(req(&many(MAX_HEADERS)).len()));
    check(&req(&many(MAX_HEADERS + 1)), None);

    for lengths in
        ["Content-Length: 1073741825\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: +5\r\n"]
            .into_iter()
            .chain([
                "Content-Length: 99999999999999999999\r\n",
                "Content-Length: 5,\r\n",
                "Transfer-Encoding: gzip\r\n",
            ])
    {
        check(&(req(lengths) + "hello"), None);
    }
    let agreeing = req("Content-Length: 5, 5\r\n") + "hello";
    check(&agreeing, Some(agreeing.len()));

    // A response delimited by the connection's close never completes here.
    let mut state = State::default();
    for resp in ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", "HTTP/1.0 200 OK\r\n\r\nuntil close…"] {
        assert_eq!(parse(MessageType::Response, resp.as_bytes(), &mut state), ParseState::NeedsMoreData);
    }

    let Frame::Request(old) = frame(MessageType::Request, b"GET / HTTP/1.0\r\n\r\n") else { panic!() };
    assert_eq!(old.minor_version, 0);
    assert_eq!(parse(MessageType::Request, b"", &mut state), ParseState::NeedsMoreData);
}

#[test]
fn other_protocols_are_invalid() {
    let cases: [(MessageType, &[u8]); 5] = [
        (MessageType::Request, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        (MessageType::Request, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        (MessageType::Request, b"*1\r\n$4\r\nPING\r\n"),
        (MessageType::Response, b"SSH-2.0-OpenSSH_9.2\r\n"),
        (MessageType::Response, b"HTTP/2 200\r\n\r\n"),
    ];
    for (kind, bytes) in cases {
        assert_eq!(parse(kind, bytes, &mut State::default()), ParseState::Invalid, "{bytes:?}");
    }
}

#[test]
fn an_upgrade_ends_http_on_the_connection() {
    let req = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello";
    let head_len = resp.len() - 7;
    let mut state = State::default();
    parse_all(MessageType::Request, req, &mut state);
    let parsed = parse(MessageType::Response, resp, &mut state);
    assert!(matches!(parsed, ParseState::Frame { consumed, .. } if consumed == head_len), "{parsed:?}");
    assert!(state.switched_protocols());
    assert_eq!(parse(MessageType::Response, &resp[head_len..], &mut state), ParseState::Invalid);
    assert_eq!(parse(MessageType::Request, b"GET / HTTP/1.1\r\n\r\n", &mut state), ParseState::Invalid);
    let record = exchange(req, &resp[..head_len]);
    assert_eq!((record.resp_status, record.resp_message.as_str(), record.upgraded), (101, "Switching Protocols", true));

    // A tunnel: CONNECT answered 2xx; refused, the connection stays HTTP.
    let connect = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let mut state = State::default();
    parse_all(MessageType::Request, connect, &mut state);
    let refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
    parse_all(MessageType::Response, refused, &mut state);
    assert!(!state.switched_protocols());
    parse_all(MessageType::Request, connect, &mut state);
    parse_all(MessageType::Response, b"HTTP/1.1 200 Connection Established\r\n\r\n", &mut state);
    assert!(state.switched_protocols());
    let record = exchange(connect, b"HTTP/1.1 200 Connection Established\r\n\r\n");
    assert_eq!((record.req_path.as_str(), record.upgraded), ("example.com:443", true));
}

#[test]
fn find_boundary_resynchronizes_after_garbage() {
    let buf = [b"\x00\x01garbage}".as_slice(), &CURL_REQUESTS[90..]].concat();
    let mut state = State::default();
    assert_eq!(parse(MessageType::Request, &buf, &mut state), ParseState::Invalid);
    let at = Http::find_boundary(MessageType::Request, &buf, 1);
    assert_eq!(at, Some(10));
    let frames = parse_all(MessageType::Request, &buf[10..], &mut state);
    assert_eq!(frames.iter().map(|(_, consumed)| *consumed).collect::<Vec<_>>(), [194, 160]);

    let resp = b"ata}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(MessageType::Response, resp, &mut state), ParseState::Invalid);
    assert_eq!(Http::find_boundary(MessageType::Response, resp, 1), Some(4));

    // `from` is inclusive; a start cut by the end of the buffer counts.
    let cases: [(MessageType, &[u8], usize, Option<usize>); 7] = [
        (MessageType::Request, b"GET / ", 0, Some(0)),
        (MessageType::Request, b"GET / ", 1, None),
        (MessageType::Request, b"}{OPTI", 0, Some(2)),
        (MessageType::Response, b"abcHT", 0, Some(3)),
        (MessageType::Request, b"get / GETX", 0, None),
        (MessageType::Response, b"HTTP/2 200", 0, None),
        (MessageType::Request, b"GET / ", 9, None),
    ];
    for (kind, buf, from, want) in cases {
        assert_eq!(Http::find_boundary(kind, buf, from), want, "{buf:?} from {from}");
    }
}

#[test]
fn headers_json_keeps_case_joins_repeats_and_stays_bounded() {
    let headers = fields(&[("set-cookie", "a=1"), ("X-Id", "7"), ("Set-Cookie", "b=2"), ("accept", "\"q\"")]);
    assert_eq!(record::headers_json(&headers), r#"{"accept":"\"q\"","set-cookie":"a=1, b=2","X-Id":"7"}"#);
    assert_eq!(record::headers_json(&Headers::default()), "{}");

    let value = "v".repeat(200);
    let names: Vec<String> = (0..100).map(|i| format!("X-Header-{i:03}")).collect();
    let big = Headers(names.iter().map(|name| (name.clone(), value.clone())).collect());
    let json = record::headers_json(&big);
    assert!(json.len() <= MAX_HEADERS_JSON_BYTES, "{}", json.len());
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();
    let left_out: usize = object[HEADERS_CUT_KEY].as_str().unwrap().parse().unwrap();
    assert_eq!(object.len() - 1 + left_out, 100);
    assert_eq!(object.len() - 1, (MAX_HEADERS_JSON_BYTES - 32) / (names[0].len() + value.len() + 6));
}

#[test]
fn body_columns_follow_pixies_content_type_rules() {
    let get = b"GET / HTTP/1.1\r\n\r\n";
    let cases: [(&[u8], ContentType, &str); 6] = [
        (
            b"HTTP/1.0 200 OK\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
            ContentType::Json,
            "{}",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 2\r\n\r\n\x00\x01",
            ContentType::Grpc,
            NON_TEXT_BODY,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n\x89PNG",
            ContentType::Unknown,
            NON_TEXT_BODY,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", ContentType::Unknown, UNKNOWN_TYPE_BODY),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ContentType::Unknown, ""),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n<br/>",
            ContentType::Unknown,
            "<br/>",
        ),
    ];
    for (resp, content_type, body) in cases {
        let record = exchange(get, resp);
        assert_eq!((record.content_type, record.resp_body.as_str()), (content_type, body));
    }
    assert_eq!(exchange(get, cases[0].0).minor_version, 0);
    assert_eq!([ContentType::Unknown as i64, ContentType::Json as i64, ContentType::Grpc as i64], [0, 1, 2]);

    // Requests: only a missing type hides the body; bad UTF-8 is replaced; long bodies are cut.
    let post = |content_type: &str, body: &[u8]| {
        [format!("POST / HTTP/1.1\r\n{content_type}Content-Length: {}\r\n\r\n", body.len()).as_bytes(), body].concat()
    };
    let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(exchange(&post("", b"abc"), answer).req_body, UNKNOWN_TYPE_BODY);
    assert_eq!(exchange(&post("Content-Type: image/png\r\n", b"\xff\xfeab"), answer).req_body, "\u{fffd}\u{fffd}ab");
    let long = "é".repeat(400);
    let record = exchange(&post("Content-Type: text/plain\r\n", long.as_bytes()), answer);
    assert_eq!(record.req_body, format!("{}... [TRUNCATED]", "é".repeat(MAX_BODY_BYTES / 2)));
    assert_eq!(record.req_body_size, 800);
}

/// Parses both streams as the tracker would (frames, resynchronizing after
/// `Invalid`), then stitches everything.
fn drive(requests: &[u8], responses: &[u8]) {
    let mut state = State::default();
    let mut queues = [VecDeque::new(), VecDeque::new()];
    for (queue, (kind, stream)) in
        queues.iter_mut().zip([(MessageType::Request, requests), (MessageType::Response, responses)])
    {
        let mut pos = 0;
        while pos < stream.len() {
            match Http::parse_frame(kind, &stream[pos..], &mut state) {
                ParseState::Frame { frame, consumed } => {
                    assert!(consumed > 0 && consumed <= stream.len() - pos);
                    queue.push_back(Timed { ts_ns: pos as u64, frame });
                    pos += consumed;
                }
                ParseState::NeedsMoreData => break,
                ParseState::Invalid => match Http::find_boundary(kind, stream, pos + 1) {
                    Some(next) => {
                        assert!(next > pos && next < stream.len());
                        pos = next;
                    }
                    None => break,
                },
            }
        }
    }
    let [mut requests, mut responses] = queues;
    for exchange in Http::stitch(&mut requests, &mut responses, &mut state).records {
        let record = exchange.record;
        assert!(
            record.req_headers.len() <= MAX_HEADERS_JSON_BYTES && record.resp_headers.len() <= MAX_HEADERS_JSON_BYTES
        );
        assert!(record.req_body.len() <= MAX_BODY_BYTES + 16 && record.resp_body.len() <= MAX_BODY_BYTES + 16);
    }
}

#[test]
fn fuzz_http_never_panics() {
    bolero::check!().for_each(|bytes: &[u8]| {
        drive(bytes, bytes);
        // The capture, edited by the input: each 3 bytes overwrite or insert one byte.
        let mut streams = [CURL_REQUESTS.to_vec(), python_responses()];
        for edit in bytes.chunks_exact(3) {
            let stream = &mut streams[usize::from(edit[0] & 1)];
            let at = usize::from(u16::from_le_bytes([edit[1], edit[0] >> 2])) % stream.len();
            if edit[0] & 2 == 0 {
                stream[at] = edit[2];
            } else {
                stream.insert(at, edit[2]);
            }
        }
        drive(&streams[0], &streams[1]);
    });
}

#[test]
fn the_body_column_size_is_the_states_limit() {
    let body = "a".repeat(3000);
    let req = format!("POST /up HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 3000\r\n\r\n{body}");
    let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
    for (limit, kept) in [(crate::DEFAULT_BODY_BYTES, 512), (2000, 2000), (crate::MAX_BODY_BYTES_LIMIT, 3000)] {
        let mut state = State { limits: crate::Limits { body_bytes: limit }, ..Default::default() };
        let mut requests =
            timed(parse_all(MessageType::Request, req.as_bytes(), &mut state).into_iter().map(|f| f.0).collect(), &[1]);
        let mut responses =
            timed(parse_all(MessageType::Response, resp, &mut state).into_iter().map(|f| f.0).collect(), &[2]);
        let record = Http::stitch(&mut requests, &mut responses, &mut state).records.remove(0).record;
        let expected = if kept < 3000 { format!("{}... [TRUNCATED]", &body[..kept]) } else { body.clone() };
        assert_eq!((record.req_body, record.req_body_size), (expected, 3000), "limit {limit}");
    }
}
