//! Byte captures from redis-server 7.0.15 (Debian 12), read off the socket
//! with a raw client: RESP2, then RESP3 after `HELLO 3`, and `DEBUG
//! PROTOCOL <type>` for the RESP3 types.

use super::*;

const REQ: MessageType = MessageType::Request;
const RESP: MessageType = MessageType::Response;

// Requests.
const SET: &[u8] = b"*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n10\r\n$2\r\nNX\r\n";
const GET: &[u8] = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
const GET_MISSING: &[u8] = b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n";
const DEL: &[u8] = b"*4\r\n$3\r\nDEL\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\nb\r\n";
const HSET: &[u8] = b"*6\r\n$4\r\nHSET\r\n$1\r\nh\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n";
const HGET: &[u8] = b"*3\r\n$4\r\nHGET\r\n$1\r\nh\r\n$2\r\nf1\r\n";
const LPUSH: &[u8] = b"*4\r\n$5\r\nLPUSH\r\n$1\r\nl\r\n$1\r\na\r\n$1\r\nb\r\n";
const LRANGE: &[u8] = b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n";
const INCR: &[u8] = b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n";
const EXPIRE: &[u8] = b"*3\r\n$6\r\nEXPIRE\r\n$1\r\nl\r\n$3\r\n100\r\n";
const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const SET_A: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
const INCR_A: &[u8] = b"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";
const CLIENT_SETNAME: &[u8] = b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\nscry\r\n";
const CLIENT_GETNAME: &[u8] = b"*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n";
const NOSUCH: &[u8] = b"*2\r\n$6\r\nNOSUCH\r\n$1\r\nx\r\n";
const HELLO_3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
const DEBUG_PUSH: &[u8] = b"*3\r\n$5\r\nDEBUG\r\n$8\r\nPROTOCOL\r\n$4\r\npush\r\n";
const SUBSCRIBE: &[u8] = b"*3\r\n$9\r\nSUBSCRIBE\r\n$3\r\nch1\r\n$3\r\nch2\r\n";
const PUBLISH: &[u8] = b"*3\r\n$7\r\nPUBLISH\r\n$3\r\nch1\r\n$5\r\nhello\r\n";
const PSUBSCRIBE: &[u8] = b"*2\r\n$10\r\nPSUBSCRIBE\r\n$3\r\nch*\r\n";
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const UNSUBSCRIBE_ALL: &[u8] = b"*1\r\n$11\r\nUNSUBSCRIBE\r\n";
const PUNSUBSCRIBE_ALL: &[u8] = b"*1\r\n$12\r\nPUNSUBSCRIBE\r\n";
const SUBSCRIBE_NEWS: &[u8] = b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n";
const GET_INL: &[u8] = b"*2\r\n$3\r\nGET\r\n$3\r\ninl\r\n";

// Replies.
const OK: &[u8] = b"+OK\r\n";
const QUEUED: &[u8] = b"+QUEUED\r\n";
const BULK_V: &[u8] = b"$1\r\nv\r\n";
const NULL_BULK: &[u8] = b"$-1\r\n";
const ONE: &[u8] = b":1\r\n";
const TWO: &[u8] = b":2\r\n";
const LRANGE_REPLY: &[u8] = b"*2\r\n$1\r\nb\r\n$1\r\na\r\n";
const EXEC_REPLY: &[u8] = b"*2\r\n+OK\r\n:2\r\n";
const UNKNOWN_ERR: &[u8] = b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n";
const HELLO_REPLY: &[u8] =
    b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n\
$2\r\nid\r\n:4\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
const ATTRIB: &[u8] = b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n\
$39\r\nSome real reply following the attribute\r\n";
const BIGNUM: &[u8] = b"(1234567999999999999999999999999999999\r\n";
const DOUBLE: &[u8] = b",3.141\r\n";
const MAP: &[u8] = b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n";
const SET3: &[u8] = b"~3\r\n:0\r\n:1\r\n:2\r\n";
const VERBATIM: &[u8] = b"=29\r\ntxt:This is a verbatim\nstring\r\n";
const NULL3: &[u8] = b"_\r\n";
const PUSH_CPU: &[u8] = b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n";
const AFTER_PUSH: &[u8] = b"$40\r\nSome real reply following the push reply\r\n";
const SUBSCRIBED_CH1: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n";
const SUBSCRIBED_CH2: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n";
const MESSAGE_CH1: &[u8] = b"*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n";
const PSUBSCRIBED: &[u8] = b"*3\r\n$10\r\npsubscribe\r\n$3\r\nch*\r\n:3\r\n";
const MESSAGE_CH2: &[u8] = b"*3\r\n$7\r\nmessage\r\n$3\r\nch2\r\n$2\r\nhi\r\n";
const PMESSAGE_CH2: &[u8] = b"*4\r\n$8\r\npmessage\r\n$3\r\nch*\r\n$3\r\nch2\r\n$2\r\nhi\r\n";
const PONG_PUBSUB: &[u8] = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
const UNSUBSCRIBED_CH1: &[u8] = b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nch1\r\n:2\r\n";
const UNSUBSCRIBED_CH2: &[u8] = b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:1\r\n";
const PUNSUBSCRIBED: &[u8] = b"*3\r\n$12\r\npunsubscribe\r\n$3\r\nch*\r\n:0\r\n";
const UNSUBSCRIBED_NONE: &[u8] = b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";
const SUBSCRIBED_NEWS_PUSH: &[u8] = b">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
const MESSAGE_NEWS_PUSH: &[u8] = b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nflash\r\n";
const BULK_42: &[u8] = b"$2\r\n42\r\n";

fn parse(kind: MessageType, buf: &[u8]) -> ParseState<Frame> {
    Redis::parse_frame(kind, buf, &mut State::default())
}

/// The frame `buf` is exactly made of.
fn frame(kind: MessageType, buf: &[u8]) -> Frame {
    match parse(kind, buf) {
        ParseState::Frame { frame, consumed } if consumed == buf.len() => frame,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn command(buf: &[u8]) -> Command {
    match frame(REQ, buf) {
        Frame::Command(cmd) => cmd,
        other => panic!("{other:?}"),
    }
}

fn reply(buf: &[u8]) -> Reply {
    match frame(RESP, buf) {
        Frame::Reply(reply) => reply,
        other => panic!("{other:?}"),
    }
}

fn queue(kind: MessageType, frames: &[(u64, &[u8])]) -> VecDeque<Timed<Frame>> {
    frames.iter().map(|&(ts_ns, buf)| Timed { ts_ns, frame: frame(kind, buf) }).collect()
}

/// Records as (req_cmd, req_args, resp, latency), and the unmatched count.
fn rows(stitched: Stitched<Record>) -> (Vec<(String, String, String, u64)>, u64) {
    let rows = stitched
        .records
        .into_iter()
        .map(|e| (e.record.req_cmd, e.record.req_args, e.record.resp, e.resp_ts_ns - e.req_ts_ns))
        .collect();
    (rows, stitched.unmatched)
}

fn row(cmd: &str, args: &str, resp: &str, latency: u64) -> (String, String, String, u64) {
    (cmd.to_owned(), args.to_owned(), resp.to_owned(), latency)
}

fn stitch_all(
    requests: &[(u64, &[u8])],
    responses: &[(u64, &[u8])],
    state: &mut State,
) -> (Vec<(String, String, String, u64)>, u64) {
    let (mut reqs, mut resps) = (queue(REQ, requests), queue(RESP, responses));
    let out = rows(Redis::stitch(&mut reqs, &mut resps, state));
    assert!(reqs.is_empty() && resps.is_empty(), "left: {reqs:?} {resps:?}");
    out
}

#[test]
fn commands_are_named_and_their_arguments_shown_as_json() {
    let cases: &[(&[u8], &str, &str)] = &[
        (SET, "SET", r#"{"key":"k","value":"v","options":["EX 10","NX"]}"#),
        (SET_A, "SET", r#"{"key":"a","value":"1","options":[]}"#),
        (GET, "GET", r#"{"key":"k"}"#),
        (DEL, "DEL", r#"{"key":["k","a","b"]}"#),
        (HSET, "HSET", r#"{"key":"h","field value":[{"field":"f1","value":"v1"},{"field":"f2","value":"v2"}]}"#),
        (HGET, "HGET", r#"{"key":"h","field":"f1"}"#),
        (LPUSH, "LPUSH", r#"{"key":"l","element":["a","b"]}"#),
        (LRANGE, "LRANGE", r#"{"key":"l","start":"0","stop":"-1"}"#),
        (INCR, "INCR", r#"{"key":"n"}"#),
        (EXPIRE, "EXPIRE", r#"{"key":"l","seconds":"100"}"#),
        (PUBLISH, "PUBLISH", r#"{"channel":"ch1","message":"hello"}"#),
        (SUBSCRIBE, "SUBSCRIBE", r#"{"channel":["ch1","ch2"]}"#),
        (PSUBSCRIBE, "PSUBSCRIBE", r#"{"pattern":["ch*"]}"#),
        (UNSUBSCRIBE_ALL, "UNSUBSCRIBE", "[]"),
        (PING, "PING", "[]"),
        (MULTI, "MULTI", "[]"),
        (CLIENT_SETNAME, "CLIENT SETNAME", r#"{"connection-name":"scry"}"#),
        (CLIENT_GETNAME, "CLIENT GETNAME", "[]"),
        (NOSUCH, "NOSUCH", r#"["x"]"#),
        (HELLO_3, "HELLO", r#"["3"]"#),
        (DEBUG_PUSH, "DEBUG PROTOCOL", r#"["push"]"#),
        // Lower case, as some clients send it; a wrong argument count falls
        // back to the list; JSON escapes.
        (b"*2\r\n$4\r\nincr\r\n$3\r\na\"b\r\n", "INCR", r#"{"key":"a\"b"}"#),
        (b"*3\r\n$3\r\nGET\r\n$1\r\na\r\n$1\r\nb\r\n", "GET", r#"["a","b"]"#),
        (b"*3\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n", "HSET", r#"["h","f"]"#),
        (b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nPX\r\n", "SET", r#"["k","v","PX"]"#),
        (b"*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n", "CLIENT LIST", "[]"),
        (b"*1\r\n$6\r\nCLIENT\r\n", "CLIENT", "[]"),
        (b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$6\r\nsecret\r\n", "AUTH", r#"["user","<REDACTED>"]"#),
        (
            b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nauth\r\n$7\r\ndefault\r\n$6\r\nsecret\r\n",
            "HELLO",
            r#"["3","auth","default","<REDACTED>"]"#,
        ),
    ];
    for &(buf, name, args) in cases {
        let cmd = command(buf);
        assert_eq!((cmd.name.as_str(), cmd.args_json().as_str()), (name, args), "{}", String::from_utf8_lossy(buf));
    }
    assert_eq!(command(SET).arg_count, 5);
    assert_eq!(command(CLIENT_SETNAME).arg_count, 1);
}

#[test]
fn inline_commands_are_split_on_blanks() {
    let buf = b"PING\r\nSET inl 42\r\nget\t inl \n";
    let mut at = 0;
    let mut seen = Vec::new();
    while let ParseState::Frame { frame: Frame::Command(cmd), consumed } = parse(REQ, &buf[at..]) {
        seen.push((cmd.name.clone(), cmd.args_json(), consumed));
        at += consumed;
    }
    assert_eq!(at, buf.len());
    let expected =
        [("PING", "[]", 6), ("SET", r#"{"key":"inl","value":"42","options":[]}"#, 12), ("GET", r#"{"key":"inl"}"#, 10)];
    let expected: Vec<_> = expected.iter().map(|&(n, a, c)| (n.to_owned(), a.to_owned(), c)).collect();
    assert_eq!(seen, expected);
    assert_eq!(parse(REQ, b"PI\rNG\r\n"), ParseState::Invalid);
    assert_eq!(parse(REQ, b"PING\x01\r\n"), ParseState::Invalid);
    assert_eq!(parse(REQ, &[b'A'; 100]), ParseState::NeedsMoreData);
    assert_eq!(parse(REQ, &[b'A'; MAX_INLINE_BYTES]), ParseState::Invalid);
}

fn reply_cases() -> Vec<(&'static [u8], &'static str, bool, Option<PubSub>)> {
    let confirmation = |verb, channel_null, count| Some(PubSub::Confirmation { verb, channel_null, count });
    vec![
        (OK, "OK", false, None),
        (QUEUED, "QUEUED", false, None),
        (BULK_V, "v", false, None),
        (NULL_BULK, "<NULL>", false, None),
        (ONE, "1", false, None),
        (LRANGE_REPLY, "[b, a]", false, None),
        (EXEC_REPLY, "[OK, 2]", false, None),
        (UNKNOWN_ERR, "-ERR unknown command 'NOSUCH', with args beginning with: 'x' ", false, None),
        (
            HELLO_REPLY,
            "{server: redis, version: 7.0.15, proto: 3, id: 4, mode: standalone, role: master, modules: []}",
            false,
            None,
        ),
        (ATTRIB, "|{key-popularity: [key:123, 90]}| Some real reply following the attribute", false, None),
        (BIGNUM, "1234567999999999999999999999999999999", false, None),
        (DOUBLE, "3.141", false, None),
        (MAP, "{0: false, 1: true, 2: false}", false, None),
        (SET3, "{0, 1, 2}", false, None),
        (VERBATIM, "This is a verbatim\nstring", false, None),
        (b"#t\r\n", "true", false, None),
        (b"#f\r\n", "false", false, None),
        (NULL3, "<NULL>", false, None),
        (PUSH_CPU, "[server-cpu-usage, 42]", true, None),
        (AFTER_PUSH, "Some real reply following the push reply", false, None),
        (b"~0\r\n", "{}", false, None),
        (b"*-1\r\n", "<NULL>", false, None),
        (b"!21\r\nSYNTAX invalid syntax\r\n", "-SYNTAX invalid syntax", false, None),
        (b",-inf\r\n", "-inf", false, None),
        (b"*2\r\n*1\r\n:-7\r\n_\r\n", "[[-7], <NULL>]", false, None),
        (SUBSCRIBED_CH1, "[subscribe, ch1, 1]", false, confirmation("subscribe", false, 1)),
        (MESSAGE_CH1, "[message, ch1, hello]", false, Some(PubSub::Message)),
        (PMESSAGE_CH2, "[pmessage, ch*, ch2, hi]", false, Some(PubSub::Message)),
        (PONG_PUBSUB, "[pong, ]", false, None),
        (UNSUBSCRIBED_NONE, "[unsubscribe, <NULL>, 0]", false, confirmation("unsubscribe", true, 0)),
        (PUNSUBSCRIBED, "[punsubscribe, ch*, 0]", false, confirmation("punsubscribe", false, 0)),
        (SUBSCRIBED_NEWS_PUSH, "[subscribe, news, 1]", true, confirmation("subscribe", false, 1)),
        (MESSAGE_NEWS_PUSH, "[message, news, flash]", true, Some(PubSub::Message)),
        // Shaped almost like pub/sub traffic, but not.
        (b"*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n:1\r\n", "[message, ch1, 1]", false, None),
        (b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n$1\r\n1\r\n", "[subscribe, ch1, 1]", false, None),
        (b"~3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n", "{subscribe, ch1, 1}", false, None),
    ]
}

#[test]
fn replies_render_every_resp2_and_resp3_type() {
    for (buf, text, push, pubsub) in reply_cases() {
        let got = reply(buf);
        assert_eq!(got, Reply { text: text.to_owned(), push, pubsub }, "{}", String::from_utf8_lossy(buf));
    }
}

fn all_captures() -> Vec<(MessageType, &'static [u8])> {
    let requests = [
        SET,
        GET,
        DEL,
        HSET,
        HGET,
        LPUSH,
        LRANGE,
        INCR,
        EXPIRE,
        MULTI,
        EXEC,
        CLIENT_SETNAME,
        NOSUCH,
        HELLO_3,
        SUBSCRIBE,
    ];
    let inline: &[u8] = b"SET inl 42\r\n";
    let replies = reply_cases().into_iter().map(|case| (RESP, case.0));
    requests.into_iter().chain([inline]).map(|buf| (REQ, buf)).chain(replies).collect()
}

#[test]
fn every_prefix_needs_more_data_and_trailing_bytes_stay() {
    for (kind, buf) in all_captures() {
        for cut in 0..buf.len() {
            assert_eq!(
                parse(kind, &buf[..cut]),
                ParseState::NeedsMoreData,
                "{:?} cut at {cut}",
                String::from_utf8_lossy(buf)
            );
        }
        let mut longer = buf.to_vec();
        longer.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        match parse(kind, &longer) {
            ParseState::Frame { consumed, .. } => assert_eq!(consumed, buf.len()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pipelined_frames_parse_one_after_another() {
    let replies = [OK, QUEUED, QUEUED, EXEC_REPLY, PUSH_CPU, AFTER_PUSH, HELLO_REPLY];
    let buf = replies.concat();
    let mut at = 0;
    for expected in replies {
        match parse(RESP, &buf[at..]) {
            ParseState::Frame { frame, consumed } => {
                assert_eq!(consumed, expected.len());
                assert_eq!(frame, Frame::Reply(reply(expected)));
                at += consumed;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(parse(RESP, &buf[at..]), ParseState::NeedsMoreData);
    let requests = [MULTI, SET_A, INCR_A, EXEC].concat();
    assert_eq!(parse(REQ, &requests), ParseState::Frame { frame: frame(REQ, MULTI), consumed: MULTI.len() });
}

#[test]
fn bytes_that_are_not_resp_are_invalid() {
    let nested = |depth: usize| [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat();
    let responses: Vec<Vec<u8>> = [
        &b"a"[..],
        b"HTTP/1.1 200 OK\r\n",
        b"$-2\r\n",
        b"*-2\r\n",
        b"%-1\r\n",
        b"$1\r\nabc\r\n",
        b"$1x",
        b":12a\r\n",
        b":\r\n",
        b":99999999999999999999\r\n",
        b"#x\r\n",
        b"=3\r\nabc\r\n",
        b"!-1\r\n",
        b",abc\r\n",
        b"(12a\r\n",
        b"(\r\n",
        b"+OK\rX",
        b"+O\nK\r\n",
        b"_x\r\n",
        b"$536870913\r\n",
        b"*1048577\r\n",
    ]
    .iter()
    .map(|b| b.to_vec())
    .chain([nested(MAX_DEPTH + 1), [b"+".to_vec(), vec![b'a'; MAX_LINE_BYTES + 1]].concat()])
    .collect();
    for buf in &responses {
        assert_eq!(parse(RESP, buf), ParseState::Invalid, "{:?}", String::from_utf8_lossy(buf));
    }
    assert!(matches!(parse(RESP, &nested(MAX_DEPTH)), ParseState::Frame { .. }));
    assert_eq!(parse(RESP, b"$536870912\r\n"), ParseState::NeedsMoreData);
    assert_eq!(parse(RESP, b"*1048576\r\n"), ParseState::NeedsMoreData);
    let requests: [&[u8]; 7] =
        [b"*0\r\n", b"*-1\r\n", b"*1\r\n:1\r\n", b"*1\r\n$-1\r\n", b"$3\r\nGET\r\n", b"\x00", b"*1048577\r\n"];
    for buf in requests {
        assert_eq!(parse(REQ, buf), ParseState::Invalid, "{:?}", String::from_utf8_lossy(buf));
    }
}

#[test]
fn find_boundary_resumes_at_a_line_starting_with_a_type_byte() {
    let mut buf = b"lost tail\r\nmore text\r\n".to_vec();
    let start = buf.len();
    buf.extend_from_slice(OK);
    assert_eq!(parse(RESP, &buf), ParseState::Invalid);
    let at = Redis::find_boundary(RESP, &buf, 0).unwrap();
    assert_eq!(at, start);
    assert_eq!(parse(RESP, &buf[at..]), ParseState::Frame { frame: frame(RESP, OK), consumed: OK.len() });
    // At or after `from`, and only once the type byte is there.
    assert_eq!(Redis::find_boundary(RESP, &buf, start), Some(start));
    assert_eq!(Redis::find_boundary(RESP, &buf, start + 1), None);
    assert_eq!(Redis::find_boundary(RESP, OK, 0), Some(0), "a frame at the start of a resynced stream");
    assert_eq!(Redis::find_boundary(RESP, &buf[..start], 0), None);
    assert_eq!(Redis::find_boundary(RESP, &buf, start - 1), Some(start));
    // Requests start with `*` only: the bulk strings inside one do not count.
    let mut req = b"$3\r\nSET\r\n".to_vec();
    req.extend_from_slice(GET);
    assert_eq!(Redis::find_boundary(REQ, &req, 0), Some(9));
    assert_eq!(Redis::find_boundary(REQ, GET, 0), Some(0));
    assert_eq!(Redis::find_boundary(REQ, GET, 1), None);
    assert_eq!(Redis::find_boundary(REQ, GET, 1000), None);
}

#[test]
fn pipelined_requests_pair_in_order_with_latency() {
    let requests = [(100, SET), (101, GET), (102, GET_MISSING), (103, DEL)];
    let responses = [(150, OK), (150, BULK_V), (151, NULL_BULK), (160, ONE)];
    let (records, unmatched) = stitch_all(&requests, &responses, &mut State::default());
    assert_eq!(
        records,
        [
            row("SET", r#"{"key":"k","value":"v","options":["EX 10","NX"]}"#, "OK", 50),
            row("GET", r#"{"key":"k"}"#, "v", 49),
            row("GET", r#"{"key":"missing"}"#, "<NULL>", 49),
            row("DEL", r#"{"key":["k","a","b"]}"#, "1", 57),
        ]
    );
    assert_eq!(unmatched, 0);
}

#[test]
fn multi_exec_pairs_each_queued_reply_and_the_exec_array() {
    let requests = [(10, MULTI), (10, SET_A), (10, INCR_A), (10, EXEC)];
    let responses = [(20, OK), (21, QUEUED), (22, QUEUED), (23, EXEC_REPLY)];
    let (records, unmatched) = stitch_all(&requests, &responses, &mut State::default());
    assert_eq!(
        records,
        [
            row("MULTI", "[]", "OK", 10),
            row("SET", r#"{"key":"a","value":"1","options":[]}"#, "QUEUED", 11),
            row("INCR", r#"{"key":"a"}"#, "QUEUED", 12),
            row("EXEC", "[]", "[OK, 2]", 13),
        ]
    );
    assert_eq!(unmatched, 0);
}

#[test]
fn requests_wait_for_their_replies_and_orphan_replies_are_counted() {
    let mut state = State::default();
    let mut requests = queue(REQ, &[(100, GET), (110, INCR)]);
    let mut responses = queue(RESP, &[(50, OK), (120, BULK_V)]);
    let (records, unmatched) = rows(Redis::stitch(&mut requests, &mut responses, &mut state));
    // The reply at 50 came before any request seen.
    assert_eq!((records, unmatched), (vec![row("GET", r#"{"key":"k"}"#, "v", 20)], 1));
    assert_eq!(requests.len(), 1);
    assert!(responses.is_empty());
    responses.extend(queue(RESP, &[(130, ONE), (140, TWO)]));
    let (records, unmatched) = rows(Redis::stitch(&mut requests, &mut responses, &mut state));
    assert_eq!((records, unmatched), (vec![row("INCR", r#"{"key":"n"}"#, "1", 20)], 1));
    assert!(requests.is_empty() && responses.is_empty());
    // Frames on the wrong side are dropped too.
    let mut requests = queue(RESP, &[(1, OK)]);
    let mut responses = queue(REQ, &[(2, GET)]);
    let stitched = Redis::stitch(&mut requests, &mut responses, &mut state);
    assert_eq!((stitched.records.len(), stitched.unmatched), (0, 2));
}

#[test]
fn resp2_pubsub_confirmations_match_subscribes_and_messages_are_pushes() {
    let mut state = State::default();
    let requests = [(10, SUBSCRIBE), (40, PSUBSCRIBE), (70, PING), (90, UNSUBSCRIBE_ALL), (110, PUNSUBSCRIBE_ALL)];
    let responses = [
        (20, SUBSCRIBED_CH1),
        (20, SUBSCRIBED_CH2),
        (30, MESSAGE_CH1),
        (50, PSUBSCRIBED),
        (60, MESSAGE_CH2),
        (60, PMESSAGE_CH2),
        // A message that arrives while the PING waits for its reply.
        (75, MESSAGE_CH1),
        (80, PONG_PUBSUB),
        (100, UNSUBSCRIBED_CH1),
        (100, UNSUBSCRIBED_CH2),
        (120, PUNSUBSCRIBED),
    ];
    let (records, unmatched) = stitch_all(&requests, &responses, &mut state);
    assert_eq!(
        records,
        [
            row("SUBSCRIBE", r#"{"channel":["ch1","ch2"]}"#, "[subscribe, ch1, 1], [subscribe, ch2, 2]", 10),
            row("PUSH PUB", "", "[message, ch1, hello]", 0),
            row("PSUBSCRIBE", r#"{"pattern":["ch*"]}"#, "[psubscribe, ch*, 3]", 10),
            row("PUSH PUB", "", "[message, ch2, hi]", 0),
            row("PUSH PUB", "", "[pmessage, ch*, ch2, hi]", 0),
            row("PUSH PUB", "", "[message, ch1, hello]", 0),
            row("PING", "[]", "[pong, ]", 10),
            row("UNSUBSCRIBE", "[]", "[unsubscribe, ch1, 2], [unsubscribe, ch2, 1]", 10),
            row("PUNSUBSCRIBE", "[]", "[punsubscribe, ch*, 0]", 10),
        ]
    );
    assert_eq!(unmatched, 0);
    assert!(!state.subscribed);
    // Out of pub/sub mode, an array shaped like a message is a reply.
    let (records, _) = stitch_all(
        &[(200, LRANGE), (210, UNSUBSCRIBE_ALL)],
        &[(205, MESSAGE_CH1), (215, UNSUBSCRIBED_NONE)],
        &mut state,
    );
    assert_eq!(
        records,
        [
            row("LRANGE", r#"{"key":"l","start":"0","stop":"-1"}"#, "[message, ch1, hello]", 5),
            row("UNSUBSCRIBE", "[]", "[unsubscribe, <NULL>, 0]", 5),
        ]
    );
}

#[test]
fn an_unsubscribe_all_waits_until_its_last_confirmation_is_known() {
    let mut state = State { subscribed: true, ..State::default() };
    let mut requests = queue(REQ, &[(90, UNSUBSCRIBE_ALL)]);
    let mut responses = queue(RESP, &[(100, UNSUBSCRIBED_CH1), (100, UNSUBSCRIBED_CH2)]);
    let stitched = Redis::stitch(&mut requests, &mut responses, &mut state);
    assert_eq!(stitched, Stitched::default());
    assert_eq!((requests.len(), responses.len()), (1, 2));
    // A pattern is still subscribed: its message ends the confirmations.
    responses.extend(queue(RESP, &[(130, PMESSAGE_CH2)]));
    let (records, unmatched) = rows(Redis::stitch(&mut requests, &mut responses, &mut state));
    assert_eq!(
        records,
        [
            row("UNSUBSCRIBE", "[]", "[unsubscribe, ch1, 2], [unsubscribe, ch2, 1]", 10),
            row("PUSH PUB", "", "[pmessage, ch*, ch2, hi]", 0),
        ]
    );
    assert_eq!(unmatched, 0);
    assert!(state.subscribed);
}

#[test]
fn resp3_pushes_are_records_of_their_own() {
    let mut state = State::default();
    let requests = [(10, HELLO_3), (20, SUBSCRIBE_NEWS), (40, GET_INL), (50, DEBUG_PUSH)];
    let responses = [
        (11, HELLO_REPLY),
        (21, SUBSCRIBED_NEWS_PUSH),
        (30, MESSAGE_NEWS_PUSH),
        (42, BULK_42),
        (55, PUSH_CPU),
        (55, AFTER_PUSH),
    ];
    let (records, unmatched) = stitch_all(&requests, &responses, &mut state);
    assert_eq!(
        records,
        [
            row(
                "HELLO",
                r#"["3"]"#,
                "{server: redis, version: 7.0.15, proto: 3, id: 4, mode: standalone, role: master, modules: []}",
                1
            ),
            row("SUBSCRIBE", r#"{"channel":["news"]}"#, "[subscribe, news, 1]", 1),
            row("PUSH PUB", "", "[message, news, flash]", 0),
            row("GET", r#"{"key":"inl"}"#, "42", 2),
            row("PUSH PUB", "", "[server-cpu-usage, 42]", 0),
            row("DEBUG PROTOCOL", r#"["push"]"#, "Some real reply following the push reply", 5),
        ]
    );
    assert_eq!(unmatched, 0);
    // Pushed before the capture saw any request: still a record.
    let (records, unmatched) = stitch_all(&[], &[(60, MESSAGE_NEWS_PUSH)], &mut State::default());
    assert_eq!((records, unmatched), (vec![row("PUSH PUB", "", "[message, news, flash]", 0)], 0));
}

#[test]
fn messages_with_no_request_put_the_connection_in_pubsub_mode() {
    let mut state = State::default();
    let (records, unmatched) =
        stitch_all(&[(70, PING)], &[(60, MESSAGE_CH1), (75, MESSAGE_CH2), (80, PONG_PUBSUB)], &mut state);
    assert_eq!(
        records,
        [
            row("PUSH PUB", "", "[message, ch1, hello]", 0),
            row("PUSH PUB", "", "[message, ch2, hi]", 0),
            row("PING", "[]", "[pong, ]", 10),
        ]
    );
    assert_eq!(unmatched, 0);
    assert!(state.subscribed);
    // RESET leaves pub/sub mode.
    let (records, _) = stitch_all(&[(90, b"*1\r\n$5\r\nRESET\r\n")], &[(95, b"+RESET\r\n")], &mut state);
    assert_eq!(records, [row("RESET", "[]", "RESET", 5)]);
    assert_eq!(state, State::default());
}

#[test]
fn a_subscribe_refused_gets_one_reply() {
    let subscribe_none = b"*1\r\n$9\r\nSUBSCRIBE\r\n";
    let error = b"-ERR wrong number of arguments for 'subscribe' command\r\n";
    let (records, unmatched) = stitch_all(
        &[(1, subscribe_none), (2, MULTI), (3, SUBSCRIBE)],
        &[(5, error), (6, OK), (7, QUEUED)],
        &mut State::default(),
    );
    assert_eq!(
        records,
        [
            row("SUBSCRIBE", "[]", "-ERR wrong number of arguments for 'subscribe' command", 4),
            row("MULTI", "[]", "OK", 4),
            row("SUBSCRIBE", r#"{"channel":["ch1","ch2"]}"#, "QUEUED", 4),
        ]
    );
    assert_eq!(unmatched, 0);
}

#[test]
fn commands_without_replies_are_records_with_no_latency() {
    let off: &[u8] = b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n";
    let on: &[u8] = b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n";
    let skip: &[u8] = b"*3\r\n$6\r\nclient\r\n$5\r\nreply\r\n$4\r\nskip\r\n";
    let ack: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$3\r\n123\r\n";
    let mut state = State::default();
    let requests = [(1, off), (2, SET_A), (3, on), (4, skip), (5, INCR_A), (6, GET), (7, ack)];
    let (records, unmatched) = stitch_all(&requests, &[(10, OK), (12, BULK_V)], &mut state);
    assert_eq!(
        records,
        [
            row("CLIENT REPLY", r#"["OFF"]"#, "", 0),
            row("SET", r#"{"key":"a","value":"1","options":[]}"#, "", 0),
            row("CLIENT REPLY", r#"["ON"]"#, "OK", 7),
            row("CLIENT REPLY", r#"["skip"]"#, "", 0),
            row("INCR", r#"{"key":"a"}"#, "", 0),
            row("GET", r#"{"key":"k"}"#, "v", 6),
            row("REPLCONF ACK", r#"["123"]"#, "", 0),
        ]
    );
    assert_eq!(unmatched, 0);
    assert_eq!(state.reply_mode, ReplyMode::On);
}

#[test]
fn long_values_are_cut_to_the_column_limit() {
    let value = "x".repeat(1000);
    let set = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n{value}\r\n");
    let args = command(set.as_bytes()).args_json();
    let marker = "... [TRUNCATED]";
    assert_eq!(args, format!(r#"{{"key":"k","value":"{}{marker}"#, "x".repeat(MAX_TEXT_BYTES - 20)));
    let bulk = format!("$1000\r\n{value}\r\n");
    assert_eq!(reply(bulk.as_bytes()).text, format!("{}{marker}", "x".repeat(MAX_TEXT_BYTES)));
    // Cut on a character boundary, whichever piece the text was built from.
    let accents = "é".repeat(300);
    let bulk = format!("$600\r\n{accents}\r\n");
    assert_eq!(reply(bulk.as_bytes()).text, format!("{}{marker}", "é".repeat(256)));
    let array = format!("*3\r\n$1\r\na\r\n$600\r\n{accents}\r\n:1\r\n");
    assert_eq!(reply(array.as_bytes()).text, format!("[a, {}{marker}", "é".repeat(254)));
    // A long array is cut, and a command keeps only its first words.
    let many = [b"*2000\r\n".to_vec(), b":7\r\n".repeat(2000)].concat();
    assert_eq!(reply(&many).text, format!("[{}7{marker}", "7, ".repeat(170)));
    let mut mset = b"*301\r\n$4\r\nMSET\r\n".to_vec();
    mset.extend_from_slice(&b"$1\r\nk\r\n".repeat(300));
    let cmd = command(&mset);
    assert_eq!((cmd.args.len(), cmd.arg_count), (Command::MAX_KEPT_WORDS - 1, 300));
    assert_eq!(cmd.args_json(), format!(r#"[{}"k"{marker}"#, r#""k","#.repeat(127)));
    // Invalid UTF-8 is replaced.
    assert_eq!(reply(b"$2\r\n\xff\xfe\r\n").text, "\u{fffd}\u{fffd}");
}

/// Random bytes with whole captured frames spliced in (a byte below 0x40
/// picks one), so that the fuzzer also reaches deep into valid traffic.
fn splice_captures(bytes: &[u8]) -> Vec<u8> {
    let captures = all_captures();
    let mut out = Vec::new();
    for &byte in bytes {
        match captures.get(usize::from(byte)) {
            Some((_, capture)) if byte < 0x40 => out.extend_from_slice(capture),
            _ => out.push(byte),
        }
    }
    out
}

#[test]
fn fuzz_redis_never_panics() {
    bolero::check!().for_each(|input: &[u8]| {
        let mut state = State::default();
        let mut queues = [VecDeque::new(), VecDeque::new()];
        let spliced = splice_captures(input);
        for (kind, queue) in [REQ, RESP].into_iter().zip(&mut queues) {
            let bytes = if input.first().is_some_and(|b| b % 2 == 0) { input } else { &spliced[..] };
            let mut at = 0;
            while at < bytes.len() {
                match Redis::parse_frame(kind, &bytes[at..], &mut state) {
                    ParseState::Frame { frame, consumed } => {
                        assert!(consumed > 0 && consumed <= bytes.len() - at);
                        queue.push_back(Timed { ts_ns: at as u64, frame });
                        at += consumed;
                    }
                    ParseState::NeedsMoreData => break,
                    ParseState::Invalid => match Redis::find_boundary(kind, bytes, at + 1) {
                        Some(next) => {
                            assert!(next > at && next < bytes.len());
                            at = next;
                        }
                        None => break,
                    },
                }
            }
        }
        let [mut requests, mut responses] = queues;
        let stitched = Redis::stitch(&mut requests, &mut responses, &mut state);
        for exchange in &stitched.records {
            assert!(exchange.resp_ts_ns >= exchange.req_ts_ns);
            assert!(exchange.record.resp.len() <= MAX_TEXT_BYTES + 15);
            assert!(exchange.record.req_args.len() <= MAX_TEXT_BYTES + 15);
        }
    });
}
