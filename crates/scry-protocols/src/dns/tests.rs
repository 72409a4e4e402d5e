//! Messages written byte by byte from RFC 1035 §4.1, shaped like what `dig`
//! and a recursive resolver put on the wire.

use super::*;
use crate::MessageType::{Request, Response};

const UDP: DnsState = DnsState { tcp: false };
const TCP: DnsState = DnsState { tcp: true };

/// `dig example.com A`: RD and AD set, EDNS OPT (UDP size 1232) in the
/// additional section.
const A_QUERY: &[u8] = &[
    0xa1, 0xb2, // txid
    0x01, 0x20, // QR=0 opcode=0 RD=1 AD=1
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // qd=1 an=0 ns=0 ar=1
    7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, // example.com.
    0x00, 0x01, 0x00, 0x01, // A IN
    0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // OPT, root, 1232
];

/// Its answer: example.com. 3600 IN A 93.184.215.14, plus the OPT echo.
const A_RESPONSE: &[u8] = &[
    0xa1, 0xb2, // txid
    0x81, 0xa0, // QR=1 RD=1 RA=1 AD=1 rcode=0
    0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // qd=1 an=1 ns=0 ar=1
    7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, // example.com.
    0x00, 0x01, 0x00, 0x01, // A IN
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, // ptr→12, A IN 3600, len 4
    93, 184, 215, 14, // address
    0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // OPT
];

/// A resolver's reply to `www.example.org A` through two CNAMEs, every name
/// compressed into an earlier one (offsets in the comments).
const CNAME_CHAIN_RESPONSE: &[u8] = &[
    0x5e, 0x11, 0x81, 0x80, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, // qd=1 an=4
    3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'o', b'r', b'g', 0, // @12
    0x00, 0x01, 0x00, 0x01, // A IN
    // @33: www.example.org CNAME web.example.net (rdata @45, example.net @49)
    0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x11, //
    3, b'w', b'e', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'n', b'e', b't', 0, //
    // @62: web.example.net CNAME edge.example.net (rdata @74)
    0xc0, 0x2d, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x07, //
    4, b'e', b'd', b'g', b'e', 0xc0, 0x31, //
    // @81, @97: edge.example.net A 192.0.2.10, A 192.0.2.11
    0xc0, 0x4a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 192, 0, 2, 10, //
    0xc0, 0x4a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 192, 0, 2, 11, //
];

/// Wire form of a dotted name.
fn name(dotted: &str) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in dotted.split('.').filter(|label| !label.is_empty()) {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    wire
}

/// A message: header, then `sections` as given.
fn message(txid: u16, flags: u16, [qd, an, ns, ar]: [u16; 4], sections: &[&[u8]]) -> Vec<u8> {
    let mut wire = [txid, flags, qd, an, ns, ar].iter().flat_map(|word| word.to_be_bytes()).collect::<Vec<_>>();
    for section in sections {
        wire.extend_from_slice(section);
    }
    wire
}

/// A question for `dotted`, class IN.
fn question(dotted: &str, qtype: u16) -> Vec<u8> {
    [name(dotted), qtype.to_be_bytes().to_vec(), vec![0, 1]].concat()
}

/// A record owned by the question's name (pointer to offset 12), IN, TTL 300.
fn record(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let fixed = [0xc0, 0x0c, 0, 0, 0, 1, 0, 0, 1, 0x2c];
    let mut wire = fixed.to_vec();
    wire[2..4].copy_from_slice(&rtype.to_be_bytes());
    wire.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    wire.extend_from_slice(rdata);
    wire
}

fn query(txid: u16, dotted: &str, qtype: u16) -> Vec<u8> {
    message(txid, 0x0100, [1, 0, 0, 0], &[&question(dotted, qtype)])
}

fn tcp(msg: &[u8]) -> Vec<u8> {
    [&(msg.len() as u16).to_be_bytes()[..], msg].concat()
}

fn frame(kind: MessageType, buf: &[u8], mut state: DnsState) -> DnsFrame {
    match Dns::parse_frame(kind, buf, &mut state) {
        ParseState::Frame { frame, .. } => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn timed(ts_ns: u64, kind: MessageType, buf: &[u8]) -> Timed<DnsFrame> {
    Timed { ts_ns, frame: frame(kind, buf, UDP) }
}

/// A row made of one frame on both sides, to look at its columns.
fn record_of(frame: DnsFrame) -> DnsRecord {
    DnsRecord {
        req_header: frame.header,
        queries: frame.queries,
        resp_header: frame.header,
        answers: frame.answers,
        latency_ns: 0,
    }
}

fn a_answer(name: &str, addr: [u8; 4]) -> Answer {
    Answer { name: name.into(), rtype: "A".into(), data: AnswerData::Addr(IpAddr::from(addr)) }
}

fn stitch_all(requests: Vec<Timed<DnsFrame>>, responses: Vec<Timed<DnsFrame>>) -> Stitched<DnsRecord> {
    Dns::stitch(&mut requests.into(), &mut responses.into(), &mut DnsState::default())
}

#[test]
fn udp_a_query_and_response() {
    let mut state = UDP;
    let ParseState::Frame { frame: request, consumed } = Dns::parse_frame(Request, A_QUERY, &mut state) else {
        panic!("query did not parse");
    };
    assert_eq!(consumed, A_QUERY.len());
    assert_eq!(
        request.header,
        DnsHeader {
            txid: 0xa1b2,
            qr: false,
            opcode: 0,
            aa: false,
            tc: false,
            rd: true,
            ra: false,
            ad: true,
            cd: false,
            rcode: 0,
            num_queries: 1,
            num_answers: 0,
            num_auth: 0,
            num_addl: 1,
        }
    );
    assert_eq!(request.queries, [Question { name: "example.com".into(), qtype: "A".into() }]);
    assert!(request.answers.is_empty());

    let response = frame(Response, A_RESPONSE, UDP);
    assert_eq!(
        (response.header.txid, response.header.qr, response.header.ra, response.header.rcode),
        (0xa1b2, true, true, 0)
    );
    assert_eq!((response.header.num_answers, response.header.num_addl), (1, 1));
    assert_eq!(response.answers, [a_answer("example.com", [93, 184, 215, 14])]);
}

#[test]
fn udp_aaaa_response() {
    let addr = [0x26, 0x06, 0x28, 0x00, 0x02, 0x1f, 0, 0, 0x02, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46];
    let question = question("example.com", 28);
    let response = message(0x0b0c, 0x8180, [1, 1, 0, 0], &[&question, &record(28, &addr)]);
    let frame = frame(Response, &response, UDP);
    assert_eq!(frame.queries, [Question { name: "example.com".into(), qtype: "AAAA".into() }]);
    let Some(Answer { name, rtype, data: AnswerData::Addr(addr) }) = frame.answers.first() else {
        panic!("no address in {:?}", frame.answers);
    };
    assert_eq!(
        (name.as_str(), rtype.as_str(), addr.to_string()),
        ("example.com", "AAAA", "2606:2800:21f:0:248:1893:25c8:1946".into())
    );
}

#[test]
fn nxdomain_keeps_rcode_3_and_skips_the_authority_soa() {
    let soa_rdata = [
        &[2, b'n', b's', 0xc0, 0x11][..], // ns.example. (@17 = example.)
        &[10, b'h', b'o', b's', b't', b'm', b'a', b's', b't', b'e', b'r', 0xc0, 0x11], // hostmaster.example.
        &[0, 0, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10, 0, 0x09, 0x3a, 0x80, 0, 0, 0x0e, 0x10], // timers
    ]
    .concat();
    let soa = [&[0xc0, 0x11, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, soa_rdata.len() as u8][..], &soa_rdata].concat();
    let response = message(0xbeef, 0x8183, [1, 0, 1, 0], &[&question("nope.example", 1), &soa]);
    let request = query(0xbeef, "nope.example", 1);

    let stitched = stitch_all(vec![timed(1_000, Request, &request)], vec![timed(1_750, Response, &response)]);
    assert_eq!(stitched.unmatched, 0);
    let [Exchange { req_ts_ns: 1_000, resp_ts_ns: 1_750, record }] = stitched.records.as_slice() else {
        panic!("expected one exchange: {stitched:?}");
    };
    assert_eq!(record.resp_header.rcode, 3);
    assert_eq!(record.latency_ns, 750);
    assert_eq!(record.req_body(), r#"{"queries":[{"name":"nope.example","type":"A"}]}"#);
    assert_eq!(record.resp_body(), r#"{"answers":[]}"#);
    assert_eq!(
        record.resp_header.to_json(),
        r#"{"txid":48879,"qr":1,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":1,"ad":0,"cd":0,"rcode":3,"num_queries":1,"num_answers":0,"num_auth":1,"num_addl":0}"#
    );
}

#[test]
fn cname_chain_follows_compression_pointers() {
    let frame = frame(Response, CNAME_CHAIN_RESPONSE, UDP);
    let cname = |name: &str, target: &str| Answer {
        name: name.into(),
        rtype: "CNAME".into(),
        data: AnswerData::Cname(target.into()),
    };
    assert_eq!(
        frame.answers,
        [
            cname("www.example.org", "web.example.net"),
            cname("web.example.net", "edge.example.net"),
            a_answer("edge.example.net", [192, 0, 2, 10]),
            a_answer("edge.example.net", [192, 0, 2, 11]),
        ]
    );
    let request = query(0x5e11, "www.example.org", 1);
    let stitched = stitch_all(vec![timed(10, Request, &request)], vec![Timed { ts_ns: 20, frame }]);
    assert_eq!(
        stitched.records[0].record.resp_body(),
        concat!(
            r#"{"answers":[{"name":"www.example.org","type":"CNAME","cname":"web.example.net"},"#,
            r#"{"name":"web.example.net","type":"CNAME","cname":"edge.example.net"},"#,
            r#"{"name":"edge.example.net","type":"A","addr":"192.0.2.10"},"#,
            r#"{"name":"edge.example.net","type":"A","addr":"192.0.2.11"}]}"#
        )
    );
}

#[test]
fn other_types_keep_their_name_and_rdata_text() {
    let mx = [&[0, 10, 4, b'm', b'a', b'i', b'l'][..], &[0xc0, 0x0c]].concat();
    let txt = [&[11][..], b"hello world"].concat();
    let answers = [record(15, &mx), record(16, &txt), record(0xff00, &[0xde, 0xad]), record(1, &[10, 0, 0])];
    let response = message(7, 0x8180, [1, 4, 0, 0], &[&question("example.com", 15), &answers.concat()]);
    let frame = frame(Response, &response, UDP);
    let data = |answer: &Answer| (answer.rtype.clone(), answer.data.clone());
    assert_eq!(
        frame.answers.iter().map(data).collect::<Vec<_>>(),
        [
            ("MX".to_owned(), AnswerData::Other("10 mail.example.com.".into())),
            ("TXT".to_owned(), AnswerData::Other("hello world".into())),
            ("TYPE65280".to_owned(), AnswerData::Other("\\# 2 dead".into())),
            // An A record with a 3-byte address: framing holds, RDATA does not decode.
            ("A".to_owned(), AnswerData::Other("\\# 3 0a0000".into())),
        ]
    );
    assert_eq!(frame.queries[0].qtype, "MX");
}

#[test]
fn record_columns_are_pixie_json() {
    let stitched = stitch_all(vec![timed(5_000, Request, A_QUERY)], vec![timed(5_321, Response, A_RESPONSE)]);
    let record = &stitched.records[0].record;
    assert_eq!(
        record.req_header.to_json(),
        r#"{"txid":41394,"qr":0,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":0,"ad":1,"cd":0,"rcode":0,"num_queries":1,"num_answers":0,"num_auth":0,"num_addl":1}"#
    );
    assert_eq!(record.req_body(), r#"{"queries":[{"name":"example.com","type":"A"}]}"#);
    assert_eq!(record.resp_body(), r#"{"answers":[{"name":"example.com","type":"A","addr":"93.184.215.14"}]}"#);
    assert_eq!(record.latency_ns, 321);
    for column in [record.req_header.to_json(), record.req_body(), record.resp_header.to_json(), record.resp_body()] {
        assert!(serde_json::from_str::<serde_json::Value>(&column).is_ok(), "{column}");
    }
}

#[test]
fn names_with_json_special_bytes_stay_valid_json() {
    let request = message(1, 0x0100, [1, 0, 0, 0], &[&[&[3, b'a', b'"', 0x07, 0][..], &[0, 1, 0, 1]].concat()]);
    let frame = frame(Request, &request, UDP);
    assert_eq!(frame.queries[0].name, "a\\\"\\007");
    let record = record_of(frame);
    let body: serde_json::Value = serde_json::from_str(&record.req_body()).expect("valid JSON");
    assert_eq!(body["queries"][0]["name"], "a\\\"\\007");
}

#[test]
fn long_bodies_are_cut_at_the_column_limit() {
    let answers = (0..40u8).map(|i| record(1, &[10, 0, 0, i])).collect::<Vec<_>>().concat();
    let response = message(9, 0x8180, [1, 40, 0, 0], &[&question("example.com", 1), &answers]);
    let stitched =
        stitch_all(vec![timed(1, Request, &query(9, "example.com", 1))], vec![timed(2, Response, &response)]);
    let record = &stitched.records[0].record;
    assert_eq!(record.answers.len(), 40);
    let body = record.resp_body();
    assert_eq!(body.len(), MAX_BODY_BYTES + "... [TRUNCATED]".len());
    assert!(body.starts_with(r#"{"answers":[{"name":"example.com","type":"A","addr":"10.0.0.0"},"#));
    assert!(body.ends_with("... [TRUNCATED]"));
}

#[test]
fn udp_cut_datagrams_are_invalid_and_empty_needs_data() {
    let mut state = UDP;
    assert_eq!(Dns::parse_frame(Request, &[], &mut state), ParseState::NeedsMoreData);
    for (kind, msg) in [(Request, A_QUERY), (Response, A_RESPONSE), (Response, CNAME_CHAIN_RESPONSE)] {
        for cut in 1..msg.len() {
            assert_eq!(Dns::parse_frame(kind, &msg[..cut], &mut state), ParseState::Invalid, "cut at {cut}");
        }
    }
}

#[test]
fn qr_bit_opcode_and_counts_reject_what_is_not_dns() {
    let mut state = UDP;
    assert_eq!(Dns::parse_frame(Response, A_QUERY, &mut state), ParseState::Invalid);
    assert_eq!(Dns::parse_frame(Request, A_RESPONSE, &mut state), ParseState::Invalid);
    let opcode_3 = message(1, 0x1800, [1, 0, 0, 0], &[&question("a", 1)]);
    assert_eq!(Dns::parse_frame(Request, &opcode_3, &mut state), ParseState::Invalid);
    let too_many_questions = message(1, 0x0100, [17, 0, 0, 0], &[&question("a", 1).repeat(17)]);
    assert_eq!(Dns::parse_frame(Request, &too_many_questions, &mut state), ParseState::Invalid);
    let counts_overflow = message(1, 0x8180, [1, 0xffff, 0xffff, 0xffff], &[&question("a", 1)]);
    assert_eq!(Dns::parse_frame(Response, &counts_overflow, &mut state), ParseState::Invalid);
    let trailing_junk_in_question = message(1, 0x0100, [1, 0, 0, 0], &[&[0xc0, 0xff, 0, 1, 0, 1]]);
    assert_eq!(Dns::parse_frame(Request, &trailing_junk_in_question, &mut state), ParseState::Invalid);
    let oversized = [A_QUERY, &vec![0; MAX_MESSAGE_BYTES]].concat();
    assert_eq!(Dns::parse_frame(Request, &oversized, &mut state), ParseState::Invalid);
}

#[test]
fn tcp_two_messages_in_one_buffer() {
    let second = query(0x0b0c, "example.com", 28);
    let stream = [tcp(A_QUERY), tcp(&second)].concat();
    let mut state = TCP;
    let ParseState::Frame { frame: first_frame, consumed } = Dns::parse_frame(Request, &stream, &mut state) else {
        panic!("first message did not parse");
    };
    assert_eq!((consumed, first_frame.header.txid), (2 + A_QUERY.len(), 0xa1b2));
    let ParseState::Frame { frame: second_frame, consumed: second_len } =
        Dns::parse_frame(Request, &stream[consumed..], &mut state)
    else {
        panic!("second message did not parse");
    };
    assert_eq!((second_len, second_frame.header.txid), (2 + second.len(), 0x0b0c));
    assert_eq!(second_frame.queries, [Question { name: "example.com".into(), qtype: "AAAA".into() }]);
    assert_eq!(consumed + second_len, stream.len());
}

/// Parses frames off the front of `buf` until it needs more; returns them
/// and the bytes used.
fn drain(kind: MessageType, buf: &[u8], state: &mut DnsState) -> (Vec<DnsFrame>, usize) {
    let mut frames = Vec::new();
    let mut used = 0;
    while let ParseState::Frame { frame, consumed } = Dns::parse_frame(kind, &buf[used..], state) {
        frames.push(frame);
        used += consumed;
    }
    (frames, used)
}

#[test]
fn tcp_stream_split_at_every_byte() {
    let stream = [tcp(A_RESPONSE), tcp(CNAME_CHAIN_RESPONSE)].concat();
    let mut state = TCP;
    let (whole, used) = drain(Response, &stream, &mut state);
    assert_eq!((whole.len(), used), (2, stream.len()));
    for split in 0..=stream.len() {
        let (mut frames, used) = drain(Response, &stream[..split], &mut state);
        assert_eq!(Dns::parse_frame(Response, &stream[used..split], &mut state), ParseState::NeedsMoreData);
        let (rest, rest_used) = drain(Response, &stream[used..], &mut state);
        frames.extend(rest);
        assert_eq!((frames.as_slice(), used + rest_used), (whole.as_slice(), stream.len()), "split at {split}");
    }
}

#[test]
fn tcp_bad_prefix_or_header_is_invalid_at_once() {
    let mut state = TCP;
    assert_eq!(Dns::parse_frame(Request, &[0x00, 0x0b], &mut state), ParseState::Invalid);
    // Declares 64 KiB, but the header is a response's: no need to wait for it.
    let wrong_side = [&[0xff, 0xff][..], &A_RESPONSE[..HEADER_LEN]].concat();
    assert_eq!(Dns::parse_frame(Request, &wrong_side, &mut state), ParseState::Invalid);
    // The length holds the message but the question runs past it.
    let short = [&[0x00, 0x14][..], A_QUERY].concat();
    assert_eq!(Dns::parse_frame(Request, &short, &mut state), ParseState::Invalid);
}

#[test]
fn tcp_garbage_then_resync() {
    let garbage = [0x00, 0x03, b'x', b'y', b'z'];
    let stream = [&garbage[..], &tcp(A_QUERY), &tcp(&query(2, "example.org", 1))].concat();
    let mut state = TCP;
    assert_eq!(Dns::parse_frame(Request, &stream, &mut state), ParseState::Invalid);
    let boundary = Dns::find_boundary(Request, &stream, 1);
    assert_eq!(boundary, Some(garbage.len()));
    // Inclusive of `from`, and the next boundary is the next message.
    assert_eq!(Dns::find_boundary(Request, &stream, garbage.len()), Some(garbage.len()));
    let second = garbage.len() + 2 + A_QUERY.len();
    assert_eq!(Dns::find_boundary(Request, &stream, garbage.len() + 1), Some(second));
    let (frames, used) = drain(Request, &stream[garbage.len()..], &mut state);
    assert_eq!(frames.iter().map(|frame| frame.header.txid).collect::<Vec<_>>(), [0xa1b2, 2]);
    assert_eq!(garbage.len() + used, stream.len());
    // Only a response follows the garbage: no request starts inside it. Its
    // last 7 bytes (`d0 00`, then zeros) are too few to rule out a query's
    // length and header start, so that tail is kept to be judged later.
    let response_only = [&garbage[..], &tcp(A_RESPONSE)].concat();
    assert_eq!(Dns::find_boundary(Request, &response_only, 0), Some(response_only.len() - 7));
    assert_eq!(Dns::find_boundary(Response, &response_only, 0), Some(garbage.len()));
    assert_eq!(Dns::find_boundary(Request, &stream, stream.len() + 1), None);
}

#[test]
fn stitch_pairs_out_of_order_responses_by_txid() {
    let requests = vec![
        timed(100, Request, &query(1, "one.example", 1)),
        timed(200, Request, &query(2, "two.example", 1)),
        timed(300, Request, &query(3, "three.example", 1)),
    ];
    let responses = vec![
        timed(350, Response, &message(3, 0x8180, [0; 4], &[])),
        timed(400, Response, &message(1, 0x8180, [0; 4], &[])),
        timed(410, Response, &message(9, 0x8180, [0; 4], &[])),
    ];
    let mut requests = VecDeque::from(requests);
    let mut responses = VecDeque::from(responses);
    let stitched = Dns::stitch(&mut requests, &mut responses, &mut DnsState::default());
    let summary = stitched
        .records
        .iter()
        .map(|e| {
            (
                e.record.req_header.txid,
                e.record.queries[0].name.as_str(),
                e.req_ts_ns,
                e.resp_ts_ns,
                e.record.latency_ns,
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(summary, [(3, "three.example", 300, 350, 50), (1, "one.example", 100, 400, 300)]);
    assert_eq!(stitched.unmatched, 1);
    assert!(responses.is_empty());
    assert_eq!(requests.iter().map(|r| r.frame.header.txid).collect::<Vec<_>>(), [2]);
}

#[test]
fn stitch_takes_the_earliest_request_and_never_a_later_one() {
    let mut requests = VecDeque::from(vec![
        timed(100, Request, &query(7, "first.example", 1)),
        timed(200, Request, &query(7, "second.example", 1)),
        timed(900, Request, &query(8, "late.example", 1)),
    ]);
    let mut responses = VecDeque::from(vec![
        timed(250, Response, &message(7, 0x8180, [0; 4], &[])),
        // Answers txid 8 before txid 8 was asked: not its response.
        timed(260, Response, &message(8, 0x8180, [0; 4], &[])),
    ]);
    let stitched = Dns::stitch(&mut requests, &mut responses, &mut DnsState::default());
    assert_eq!(stitched.records.len(), 1);
    assert_eq!(stitched.records[0].record.queries[0].name, "first.example");
    assert_eq!(stitched.unmatched, 1);
    assert_eq!(requests.iter().map(|r| r.ts_ns).collect::<Vec<_>>(), [200, 900]);
}

#[test]
fn expire_requests_drops_only_those_past_the_timeout() {
    let mut requests = VecDeque::from(vec![
        timed(1_000, Request, &query(1, "a.example", 1)),
        timed(2_000, Request, &query(2, "b.example", 1)),
    ]);
    assert_eq!(Dns::expire_requests(&mut requests, 1_000 + RESPONSE_TIMEOUT_NS), 0);
    assert_eq!(Dns::expire_requests(&mut requests, 1_001 + RESPONSE_TIMEOUT_NS), 1);
    assert_eq!(requests.iter().map(|r| r.frame.header.txid).collect::<Vec<_>>(), [2]);
    assert_eq!(Dns::expire_requests(&mut requests, 0), 0);
    assert_eq!(Dns::expire_requests(&mut requests, u64::MAX), 1);
    assert!(requests.is_empty());
}

/// Record types whose RDATA decoders the fuzz test drives with arbitrary
/// bytes: every type hickory decodes without optional features, and one
/// unknown.
const FUZZ_TYPES: [u16; 24] =
    [1, 28, 5, 15, 16, 33, 12, 2, 6, 65, 64, 257, 35, 44, 52, 41, 13, 62, 37, 61, 53, 10, 250, 0xff00];

/// Parses `bytes` as a stream of `kind` the way the tracker does, checking
/// the contracts on the way.
fn fuzz_stream(kind: MessageType, bytes: &[u8], mut state: DnsState) -> VecDeque<Timed<DnsFrame>> {
    let mut frames = VecDeque::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        match Dns::parse_frame(kind, rest, &mut state) {
            ParseState::Frame { frame, consumed } => {
                assert!(consumed > 0 && consumed <= rest.len());
                frames.push_back(Timed { ts_ns: pos as u64, frame });
                pos += consumed;
            }
            ParseState::NeedsMoreData => break,
            ParseState::Invalid => match Dns::find_boundary(kind, bytes, pos + 1) {
                Some(next) => {
                    assert!(next > pos && next < bytes.len());
                    if state.tcp {
                        assert_ne!(Dns::parse_frame(kind, &bytes[next..], &mut state), ParseState::Invalid);
                    }
                    pos = next;
                }
                None => break,
            },
        }
    }
    frames
}

#[test]
fn fuzz_dns_never_panics() {
    bolero::check!().for_each(|bytes: &[u8]| {
        for state in [UDP, TCP] {
            let mut requests = fuzz_stream(Request, bytes, state);
            let mut responses = fuzz_stream(Response, bytes, state);
            let stitched = Dns::stitch(&mut requests, &mut responses, &mut { state });
            for exchange in &stitched.records {
                let record = &exchange.record;
                let _ =
                    (record.req_header.to_json(), record.req_body(), record.resp_header.to_json(), record.resp_body());
            }
            Dns::expire_requests(&mut requests, u64::MAX);
        }
        // The same bytes as byte overwrites of real messages, to reach past
        // the header checks: compression pointers, counts, lengths.
        for seed in [A_QUERY, A_RESPONSE, CNAME_CHAIN_RESPONSE] {
            let mut mutated = seed.to_vec();
            for pair in bytes.chunks_exact(2) {
                let len = mutated.len();
                mutated[usize::from(pair[0]) % len] = pair[1];
            }
            for kind in [Request, Response] {
                fuzz_stream(kind, &mutated, UDP);
                fuzz_stream(kind, &tcp(&mutated), TCP);
            }
        }
        // The same bytes as the RDATA of a known type, so hickory's decoders
        // and their text forms see arbitrary input too.
        let Some((&selector, rdata)) = bytes.split_first() else { return };
        let rtype = FUZZ_TYPES[usize::from(selector) % FUZZ_TYPES.len()];
        let rdata = &rdata[..rdata.len().min(1024)];
        let response = message(0, 0x8180, [1, 1, 0, 0], &[&question("example.com", 1), &record(rtype, rdata)]);
        if let ParseState::Frame { frame, .. } = Dns::parse_frame(Response, &response, &mut { UDP }) {
            let record = record_of(frame);
            assert!(
                serde_json::from_str::<serde_json::Value>(&record.resp_body()).is_ok()
                    || record.resp_body().ends_with("[TRUNCATED]")
            );
        }
    });
}
