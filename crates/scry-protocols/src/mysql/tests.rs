//! Tests on captures of a real server (testdata/, see each file's header)
//! and on packets written from the protocol documentation.

use std::collections::VecDeque;

use super::*;
use crate::{Exchange, MessageType, ParseState, Protocol, Stitched, Timed};

use MessageType::{Request, Response};

const CLI: &str = include_str!("testdata/mariadb_cli.txt");
const PREPARED: &str = include_str!("testdata/connector_python_prepared.txt");
const DEPRECATE_EOF: &str = include_str!("testdata/deprecate_eof.txt");
const LOCAL_INFILE: &str = include_str!("testdata/local_infile.txt");
const CAPTURES: [&str; 4] = [CLI, PREPARED, DEPRECATE_EOF, LOCAL_INFILE];

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// A capture's packets (header included), in capture order.
fn load(text: &str) -> Vec<(MessageType, Vec<u8>)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| match line.split_once(' ') {
            Some(("C", packet)) => (Request, hex(packet)),
            Some(("S", packet)) => (Response, hex(packet)),
            _ => panic!("bad capture line {line}"),
        })
        .collect()
}

/// One side of a capture as the stream the tracker sees.
fn side(packets: &[(MessageType, Vec<u8>)], kind: MessageType) -> Vec<u8> {
    packets.iter().filter(|(k, _)| *k == kind).flat_map(|(_, bytes)| bytes.clone()).collect()
}

/// Moves the whole frames at the front of `buf` to `frames`; panics on
/// Invalid.
fn drain(kind: MessageType, buf: &mut Vec<u8>, state: &mut MysqlState, frames: &mut Vec<MysqlPacket>) {
    loop {
        match Mysql::parse_frame(kind, buf, state) {
            ParseState::Frame { frame, consumed } => {
                assert!(consumed > 0 && consumed <= buf.len());
                frames.push(frame);
                buf.drain(..consumed);
            }
            ParseState::NeedsMoreData => return,
            ParseState::Invalid => panic!("invalid {kind:?} frame at {buf:02x?}"),
        }
    }
}

fn parse_stream(kind: MessageType, bytes: &[u8], state: &mut MysqlState) -> Vec<MysqlPacket> {
    let mut buf = bytes.to_vec();
    let mut frames = Vec::new();
    drain(kind, &mut buf, state, &mut frames);
    assert!(buf.is_empty(), "{kind:?} stream ends inside a frame");
    frames
}

/// Parses both sides of a capture into frames stamped 1000 × their 1-based
/// position in the capture, then stitches them.
fn replay(packets: &[(MessageType, Vec<u8>)]) -> (Stitched<MysqlRecord>, MysqlState) {
    let mut state = MysqlState::default();
    let mut queues = [VecDeque::new(), VecDeque::new()];
    for (queue, kind) in queues.iter_mut().zip([Request, Response]) {
        let frames = parse_stream(kind, &side(packets, kind), &mut state);
        let sent = packets.iter().enumerate().filter(|(_, (k, _))| *k == kind);
        assert_eq!(frames.len(), sent.clone().count());
        for (frame, (i, (_, bytes))) in frames.into_iter().zip(sent) {
            assert_eq!(frame.len + 4, bytes.len());
            queue.push_back(Timed { ts_ns: (i as u64 + 1) * 1000, frame });
        }
    }
    let [mut requests, mut responses] = queues;
    let out = Mysql::stitch(&mut requests, &mut responses, &mut state);
    assert!(requests.is_empty(), "left requests {requests:?}");
    assert!(responses.is_empty(), "left responses {responses:?}");
    (out, state)
}

/// An expected row; timestamps in thousands.
fn row(
    req: u64,
    resp: u64,
    req_cmd: u8,
    req_body: &str,
    resp_status: RespStatus,
    resp_body: &str,
) -> Exchange<MysqlRecord> {
    Exchange {
        req_ts_ns: req * 1000,
        resp_ts_ns: resp * 1000,
        record: MysqlRecord { req_cmd, req_body: req_body.to_owned(), resp_status, resp_body: resp_body.to_owned() },
    }
}

/// A packet as on the wire.
fn wire(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_le_bytes();
    [&len[..3], &[seq], payload].concat()
}

fn packet(seq: u8, payload: &[u8]) -> MysqlPacket {
    MysqlPacket { seq, last_seq: seq, len: payload.len(), payload: payload.to_vec(), command: false }
}

fn command(payload: &[u8]) -> MysqlPacket {
    MysqlPacket { command: true, ..packet(0, payload) }
}

fn timed(ts: u64, frame: MysqlPacket) -> Timed<MysqlPacket> {
    Timed { ts_ns: ts * 1000, frame }
}

fn query(sql: &str) -> MysqlPacket {
    command(&[&[0x03], sql.as_bytes()].concat())
}

/// OK: affected rows, last insert id, status, warnings.
fn ok(seq: u8, affected: u8, status: u16) -> MysqlPacket {
    let [s0, s1] = status.to_le_bytes();
    packet(seq, &[0x00, affected, 0, s0, s1, 0, 0])
}

fn eof(seq: u8, status: u16) -> MysqlPacket {
    let [s0, s1] = status.to_le_bytes();
    packet(seq, &[0xfe, 0, 0, s0, s1])
}

/// A column definition (contents do not matter to the walk).
fn column(seq: u8) -> MysqlPacket {
    packet(seq, &hex("03646566000000016100000c3f0001000000038100000000"))
}

fn stitch_all(
    requests: &mut VecDeque<Timed<MysqlPacket>>,
    responses: &mut VecDeque<Timed<MysqlPacket>>,
    state: &mut MysqlState,
) -> Stitched<MysqlRecord> {
    Mysql::stitch(requests, responses, state)
}

#[test]
fn stitches_a_mariadb_cli_session() {
    let (out, state) = replay(&load(CLI));
    let ok = RespStatus::Ok;
    assert_eq!(
        out.records,
        vec![
            row(4, 5, 0x03, "SELECT id, name FROM items ORDER BY id", ok, "Resultset rows = 2"),
            row(
                12,
                13,
                0x03,
                "SELECT nope FROM items",
                RespStatus::Err,
                "ERROR 1054 (42S22): Unknown column 'nope' in 'SELECT'",
            ),
            row(
                14,
                15,
                0x03,
                "UPDATE items SET price = 1.75 WHERE id = 1",
                ok,
                "Affected rows = 1, Rows matched: 1  Changed: 1  Warnings: 0",
            ),
            row(16, 17, 0x03, "CALL two()", ok, "Resultset rows = 1, Resultset rows = 1"),
            row(29, 29, 0x01, "", RespStatus::None, ""),
        ]
    );
    assert_eq!(out.unmatched, 0);
    assert_eq!(state.server_caps, Some(0x81ff_f7fe));
    assert_eq!(state.client_caps, Some(0x00bf_a28c));
    assert_eq!(state.deprecate_eof(), Some(false));
}

#[test]
fn stitches_prepared_statements_with_their_bound_values() {
    let (out, state) = replay(&load(PREPARED));
    let (ok, none) = (RespStatus::Ok, RespStatus::None);
    let first = "SELECT name, price FROM items WHERE id = ? AND name = ?";
    let insert = "INSERT INTO items VALUES (?, ?, ?, ?)";
    assert_eq!(
        out.records,
        vec![
            row(4, 5, 0x03, "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'", ok, ""),
            row(6, 7, 0x03, "SET @@session.autocommit = OFF", ok, ""),
            row(8, 9, 0x0e, "", ok, ""),
            row(10, 11, 0x16, first, ok, ""),
            row(18, 19, 0x1a, "", ok, ""),
            row(20, 21, 0x17, &format!("{first} [params: 1, 'apple']"), ok, "Resultset rows = 1"),
            row(27, 28, 0x1a, "", ok, ""),
            row(29, 30, 0x17, &format!("{first} [params: 2, 'pear']"), ok, "Resultset rows = 1"),
            row(36, 36, 0x19, "", none, ""),
            row(37, 38, 0x16, "SELECT ?, ?, ?, ?", ok, ""),
            row(49, 50, 0x1a, "", ok, ""),
            row(
                51,
                52,
                0x17,
                "SELECT ?, ?, ?, ? [params: 1.5, '2024-01-02 03:04:05', NULL, -7]",
                ok,
                "Resultset rows = 1",
            ),
            row(60, 60, 0x19, "", none, ""),
            row(61, 62, 0x16, insert, ok, ""),
            row(68, 69, 0x1a, "", ok, ""),
            row(
                70,
                71,
                0x17,
                &format!("{insert} [params: 1, 'dup', 0.5, NULL]"),
                RespStatus::Err,
                "ERROR 1062 (23000): Duplicate entry '1' for key 'PRIMARY'",
            ),
            row(72, 72, 0x19, "", none, ""),
            row(73, 73, 0x01, "", none, ""),
        ]
    );
    assert_eq!(out.unmatched, 0);
    // Every statement was closed; the last one prepared was id 3.
    assert!(state.statements.is_empty());
    assert_eq!(state.last_prepared, Some(3));
}

fn deprecate_eof_records() -> Vec<Exchange<MysqlRecord>> {
    let ok = RespStatus::Ok;
    vec![
        row(4, 5, 0x03, "SELECT id, name FROM items ORDER BY id", ok, "Resultset rows = 2"),
        row(11, 12, 0x03, "SELECT id FROM items WHERE id = 99", ok, "Resultset rows = 0"),
        row(15, 16, 0x16, "SELECT name FROM items WHERE id = ?", ok, ""),
        row(19, 20, 0x17, "SELECT name FROM items WHERE id = ? [params: 2]", ok, "Resultset rows = 1"),
        row(24, 25, 0x0e, "", ok, ""),
        row(26, 26, 0x19, "", RespStatus::None, ""),
        row(27, 27, 0x01, "", RespStatus::None, ""),
    ]
}

#[test]
fn stitches_result_sets_ended_by_ok_under_deprecate_eof() {
    let (out, state) = replay(&load(DEPRECATE_EOF));
    assert_eq!(out.records, deprecate_eof_records());
    assert_eq!(out.unmatched, 0);
    assert_eq!(state.client_caps, Some(0x018b_820d));
    assert_eq!(state.deprecate_eof(), Some(true));
}

#[test]
fn infers_the_eof_shape_when_the_handshake_was_missed() {
    // The same sessions picked up after their handshake (greeting, response,
    // auth OK): the first result set tells the shape.
    let mut packets = load(DEPRECATE_EOF);
    packets.drain(..3);
    let (out, state) = replay(&packets);
    assert_eq!(out.records, deprecate_eof_records()[..].iter().map(|r| shifted(r, 3)).collect::<Vec<_>>());
    assert_eq!((state.client_caps, state.eof_learned), (None, Some(true)));

    let mut packets = load(CLI);
    packets.drain(..3);
    let (out, state) = replay(&packets);
    assert_eq!(out.records.len(), 5);
    assert_eq!(out.records[2].record.resp_body, "Affected rows = 1, Rows matched: 1  Changed: 1  Warnings: 0");
    assert_eq!(out.records[3].record.resp_body, "Resultset rows = 1, Resultset rows = 1");
    assert_eq!((state.server_caps, state.eof_learned), (None, Some(false)));
}

/// `record` with timestamps `by` positions earlier.
fn shifted(record: &Exchange<MysqlRecord>, by: u64) -> Exchange<MysqlRecord> {
    Exchange { req_ts_ns: record.req_ts_ns - by * 1000, resp_ts_ns: record.resp_ts_ns - by * 1000, ..record.clone() }
}

#[test]
fn stitches_local_infile_across_client_data_and_a_progress_report() {
    let (out, _) = replay(&load(LOCAL_INFILE));
    assert_eq!(
        out.records,
        vec![
            row(
                4,
                5,
                0x03,
                "LOAD DATA LOCAL INFILE '/tmp/cap/x.csv' INTO TABLE items FIELDS TERMINATED BY ','",
                RespStatus::Ok,
                "Affected rows = 1, Records: 1  Deleted: 0  Skipped: 0  Warnings: 0",
            ),
            row(10, 10, 0x01, "", RespStatus::None, ""),
        ]
    );
    assert_eq!(out.unmatched, 0);
}

#[test]
fn local_infile_data_is_no_command_even_when_its_ids_wrap() {
    // 256 data packets (ids 2..=255, 0, 1) that look like COM_QUERY, the
    // empty packet that ends them, then a real command.
    let data: Vec<u8> = (0..256u32).flat_map(|i| wire((i + 2) as u8, b"\x03SELECT 1\n")).collect();
    let client =
        [wire(0, b"\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t"), data, wire(2, b""), wire(0, b"\x0e")].concat();
    let server =
        [wire(1, b"\xfbf"), wire(3, &[0, 0xfc, 0, 1, 0, 2, 0, 0, 0]), wire(1, &[0, 0, 0, 2, 0, 0, 0])].concat();
    let mut state = MysqlState::default();
    let requests = parse_stream(Request, &client, &mut state);
    assert_eq!(requests.len(), 259);
    assert_eq!(requests.iter().filter(|p| p.command).count(), 2);
    let mut requests: VecDeque<_> =
        requests.into_iter().enumerate().map(|(i, p)| timed(if i == 258 { 300 } else { i as u64 + 1 }, p)).collect();
    let responses = parse_stream(Response, &server, &mut state);
    let mut responses: VecDeque<_> = responses.into_iter().zip([2, 299, 301]).map(|(p, ts)| timed(ts, p)).collect();
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(
        out.records,
        vec![
            row(1, 2, 0x03, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t", RespStatus::Ok, "Affected rows = 256"),
            row(300, 301, 0x0e, "", RespStatus::Ok, ""),
        ]
    );
    assert_eq!(out.unmatched, 0);
}

#[test]
fn a_result_set_past_256_packets_wraps_its_ids() {
    // Rows start with a 10-byte string (length byte 0x0a, like a greeting's
    // version byte), then NULs: row 252, id 0, would read as a greeting.
    let header = [wire(1, &[1]), wire(2, &column(2).payload), wire(3, &eof(3, 2).payload)];
    let row_payload = [&b"\x0a0123456789"[..], &[0; 40]].concat();
    let rows = (0..300u32).map(|i| wire((i + 4) as u8, &row_payload));
    let server: Vec<u8> = header.into_iter().chain(rows).chain([wire(48, &eof(48, 2).payload)]).flatten().collect();
    let mut state = MysqlState::default();
    let responses = parse_stream(Response, &server, &mut state);
    assert_eq!(responses.len(), 304);
    assert_eq!(state.server_caps, None);
    let mut responses: VecDeque<_> = responses.into_iter().map(|p| timed(2, p)).collect();
    let mut requests = VecDeque::from([timed(1, query("SELECT s FROM t"))]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(1, 2, 0x03, "SELECT s FROM t", RespStatus::Ok, "Resultset rows = 300")]);
}

#[test]
fn captures_parse_the_same_when_split_at_every_byte() {
    for capture in CAPTURES {
        let packets = load(capture);
        for kind in [Request, Response] {
            let bytes = side(&packets, kind);
            let whole = parse_stream(kind, &bytes, &mut MysqlState::default());
            for split in 0..=bytes.len() {
                let mut state = MysqlState::default();
                let mut frames = Vec::new();
                let mut buf = bytes[..split].to_vec();
                drain(kind, &mut buf, &mut state, &mut frames);
                buf.extend_from_slice(&bytes[split..]);
                drain(kind, &mut buf, &mut state, &mut frames);
                assert!(buf.is_empty());
                assert_eq!(frames, whole, "{kind:?} split at {split}");
            }
        }
    }
}

#[test]
fn every_proper_prefix_of_a_frame_needs_more_data() {
    let packets = load(PREPARED);
    for kind in [Request, Response] {
        let mut state = MysqlState::default();
        for (_, bytes) in packets.iter().filter(|(k, _)| *k == kind) {
            for end in 0..bytes.len() {
                let mut probe = state.clone();
                assert_eq!(Mysql::parse_frame(kind, &bytes[..end], &mut probe), ParseState::NeedsMoreData);
                assert_eq!(probe, state, "a prefix changed the state");
            }
            let ParseState::Frame { consumed, .. } = Mysql::parse_frame(kind, bytes, &mut state) else {
                panic!("{bytes:02x?} is no frame");
            };
            assert_eq!(consumed, bytes.len());
        }
    }
}

#[test]
fn parses_pipelined_commands_from_one_buffer() {
    let partial = &wire(0, b"\x03SELECT 2")[..8];
    let buf = [&wire(0, b"\x03SELECT 1")[..], &wire(0, b"\x0e"), &wire(0, b"\x19\x07\x00\x00\x00"), partial].concat();
    let mut state = MysqlState::default();
    let mut rest = &buf[..];
    let mut frames = Vec::new();
    while let ParseState::Frame { frame, consumed } = Mysql::parse_frame(Request, rest, &mut state) {
        frames.push(frame);
        rest = &rest[consumed..];
    }
    assert_eq!(frames, vec![command(b"\x03SELECT 1"), command(b"\x0e"), command(b"\x19\x07\x00\x00\x00")]);
    assert_eq!(rest, partial);
    assert_eq!(Mysql::parse_frame(Request, rest, &mut state), ParseState::NeedsMoreData);
}

#[test]
fn refuses_noise() {
    let refused: [(MessageType, Vec<u8>); 9] = [
        (Request, b"GET / HTTP/1.1\r\n".to_vec()),
        // Unknown and internal command bytes.
        (Request, wire(0, b"\x20abc")),
        (Request, wire(0, b"\x00")),
        // COM_PING carries nothing, COM_STMT_CLOSE exactly a statement id.
        (Request, wire(0, b"\x0e\x00")),
        (Request, wire(0, b"\x19\x01\x00\x00")),
        // Not a HandshakeResponse: no protocol 4.1 flag, or filler not zero.
        (Request, wire(1, &[[0u8; 4].as_slice(), &[0; 28]].concat())),
        (Request, wire(1, &[[0x0d, 0xa2, 0, 0].as_slice(), &[1; 28]].concat())),
        // A response packet that continues nothing, and a start that is none.
        (Response, wire(5, b"\x01\x32")),
        (Response, wire(1, b"\x05abc")),
    ];
    for (kind, bytes) in refused {
        assert_eq!(Mysql::parse_frame(kind, &bytes, &mut MysqlState::default()), ParseState::Invalid, "{bytes:02x?}");
    }
}

#[test]
fn joins_a_packet_continued_past_16_mib() {
    let first = [&[0x03][..], &vec![b'x'; 0xff_fffe]].concat();
    let mut buf = wire(0, &first);
    let whole = buf.len();
    let mut state = MysqlState::default();
    assert_eq!(Mysql::parse_frame(Request, &buf, &mut state), ParseState::NeedsMoreData);
    buf.extend(wire(1, b"y"));
    let ParseState::Frame { frame, consumed } = Mysql::parse_frame(Request, &buf, &mut state) else { panic!() };
    assert_eq!((frame.seq, frame.last_seq, frame.len, consumed), (0, 1, MAX_MESSAGE_BYTES, whole + 5));
    assert_eq!(frame.payload.len(), KEPT_REQUEST_BYTES);

    // The query is cut to the body limit.
    let mut requests = VecDeque::from([timed(1, frame)]);
    let mut responses = VecDeque::from([timed(2, ok(1, 0, 2))]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records[0].record.req_body, format!("{}... [TRUNCATED]", "x".repeat(MAX_BODY_BYTES)));

    // An empty packet ends a payload of exactly 0xffffff bytes.
    buf.truncate(whole);
    buf.extend(wire(1, b""));
    let ParseState::Frame { frame, consumed } = Mysql::parse_frame(Request, &buf, &mut state) else { panic!() };
    assert_eq!((frame.len, consumed), (0xff_ffff, whole + 4));

    // Past 16 MiB, or a continuation out of sequence: Invalid.
    for continuation in [wire(1, b"yz"), wire(2, b"y")] {
        buf.truncate(whole);
        buf.extend(continuation);
        assert_eq!(Mysql::parse_frame(Request, &buf, &mut state), ParseState::Invalid);
    }
}

#[test]
fn resynchronizes_after_garbage() {
    let packets = load(CLI);
    let select = wire(0, b"\x03SELECT 1");
    let garbage = b"GET / HTTP/1.1\r\n".to_vec();
    let buf = [garbage.clone(), select.clone()].concat();
    assert_eq!(Mysql::parse_frame(Request, &buf, &mut MysqlState::default()), ParseState::Invalid);
    assert_eq!(Mysql::find_boundary(Request, &buf, 0), Some(garbage.len()));
    assert_eq!(Mysql::find_boundary(Request, &buf, garbage.len() + 1), None);

    // Server bytes picked up 5 bytes into the second column definition of
    // the first result set: resume at the next response, the ERR.
    let server: Vec<&[u8]> = packets.iter().filter(|(k, _)| *k == Response).map(|(_, b)| b.as_slice()).collect();
    let tail = [&server[4][5..], &server[5..=8].concat(), server[9]].concat();
    let mut state = MysqlState::default();
    assert_eq!(Mysql::parse_frame(Response, &tail, &mut state), ParseState::Invalid);
    let start = tail.len() - server[9].len();
    assert_eq!(Mysql::find_boundary(Response, &tail, 0), Some(start));
    let ParseState::Frame { frame: err, .. } = Mysql::parse_frame(Response, &tail[start..], &mut state) else {
        panic!()
    };

    // The command whose response was lost is dropped when the next one is
    // answered.
    let mut requests = VecDeque::from([timed(4, query("SELECT id, name FROM items")), timed(12, query("SELECT nope"))]);
    let mut responses = VecDeque::from([timed(13, err)]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.unmatched, 1);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].req_ts_ns, 12_000);
    assert_eq!(out.records[0].record.resp_status, RespStatus::Err);
}

#[test]
fn waits_for_the_rest_of_a_result_set() {
    let mut state = MysqlState::default();
    let mut requests = VecDeque::from([timed(1, query("SELECT a FROM t"))]);
    let mut responses = VecDeque::from([timed(2, packet(1, &[1])), timed(3, column(2)), timed(4, eof(3, 2))]);
    assert_eq!(stitch_all(&mut requests, &mut responses, &mut state), Stitched::default());
    assert_eq!((requests.len(), responses.len()), (1, 3));

    responses.extend([timed(5, packet(4, b"\x01a")), timed(6, eof(5, 2))]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(1, 2, 0x03, "SELECT a FROM t", RespStatus::Ok, "Resultset rows = 1")]);
    assert!(requests.is_empty() && responses.is_empty());
}

#[test]
fn drops_and_counts_responses_nobody_asked_for() {
    let mut state = MysqlState::default();
    // An OK sent before the query, and rows of a response whose start was
    // lost (not counted: the start was).
    let mut requests = VecDeque::from([timed(5, query("DO 1"))]);
    let mut responses = VecDeque::from([
        timed(1, ok(1, 0, 2)),
        timed(2, packet(4, b"\x01a")),
        timed(3, eof(5, 2)),
        timed(6, ok(1, 0, 2)),
    ]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(5, 6, 0x03, "DO 1", RespStatus::Ok, "")]);
    assert_eq!(out.unmatched, 1);

    // Responses with no command waiting stay: their command may be late.
    let mut responses = VecDeque::from([timed(7, ok(1, 0, 2))]);
    assert_eq!(stitch_all(&mut requests, &mut responses, &mut state), Stitched::default());
    assert_eq!(responses.len(), 1);
}

#[test]
fn a_broken_response_drops_its_command() {
    let mut state = MysqlState::default();
    // A result set missing its EOF packet 3, then the next command's answer.
    let mut requests = VecDeque::from([timed(1, query("SELECT a FROM t")), timed(10, query("DO 1"))]);
    let mut responses = VecDeque::from([
        timed(2, packet(1, &[1])),
        timed(3, column(2)),
        timed(4, packet(4, b"\x01a")),
        timed(11, ok(1, 0, 2)),
    ]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(10, 11, 0x03, "DO 1", RespStatus::Ok, "")]);
    // The command and the start of its response.
    assert_eq!(out.unmatched, 2);
    assert!(requests.is_empty() && responses.is_empty());
}

#[test]
fn an_error_ends_a_multi_result_response() {
    let mut state = MysqlState::default();
    let more = 0x000a;
    let err = packet(5, &hex("ff7a042334325330325461626c652027742720646f65736e2774206578697374"));
    let mut requests = VecDeque::from([timed(1, query("CALL p()"))]);
    let mut responses = VecDeque::from(
        [packet(1, &[1]), column(2), eof(3, more), packet(4, b"\x011"), eof(5, more)]
            .into_iter()
            .chain([MysqlPacket { seq: 6, last_seq: 6, ..err }])
            .enumerate()
            .map(|(i, p)| timed(i as u64 + 2, p))
            .collect::<Vec<_>>(),
    );
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(
        out.records,
        vec![row(
            1,
            2,
            0x03,
            "CALL p()",
            RespStatus::Err,
            "Resultset rows = 1, ERROR 1146 (42S02): Table 't' doesn't exist",
        )]
    );
}

#[test]
fn prepare_waits_for_its_optional_eof_while_the_shape_is_unknown() {
    let mut state = MysqlState::default();
    // PREPARE_OK for statement 6: no columns, one parameter.
    let prepare_ok = packet(1, &hex("000600000000000100000000"));
    let param = packet(2, &hex("03646566000000013f000c3f0000000000068000000000"));
    let mut requests = VecDeque::from([timed(1, command(b"\x16DO ?"))]);
    let mut responses = VecDeque::from([timed(2, prepare_ok), timed(3, param)]);
    assert_eq!(stitch_all(&mut requests, &mut responses, &mut state), Stitched::default());

    // The next command shows nothing more is coming.
    requests.push_back(timed(4, command(b"\x0e")));
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(1, 2, 0x16, "DO ?", RespStatus::Ok, "")]);
    assert_eq!(requests.len(), 1);
    assert_eq!(state.eof_learned, None);
    assert_eq!(state.statements[&6].num_params, 1);
}

/// A state that knows statement `id` with `num_params` parameters.
fn prepared(id: u32, query: &str, num_params: u16) -> MysqlState {
    let mut state = MysqlState::default();
    state.remember(id, PreparedStatement::new(query.to_owned(), num_params));
    state
}

/// COM_STMT_EXECUTE of statement 1: flags 0, one iteration, then `block`.
fn execute_packet(id: u32, block: &str) -> MysqlPacket {
    command(&[&[0x17][..], &id.to_le_bytes(), &hex("0001000000"), &hex(block)].concat())
}

fn execute_body(state: &mut MysqlState, request: &MysqlPacket) -> String {
    request::consume(request, None, state)
}

#[test]
fn decodes_execute_values_of_every_common_type() {
    let mut state = prepared(1, "CALL p(?, ?, ?, ?, ?, ?, ?)", 7);
    // NULL bitmap 0, new types: SHORT, LONGLONG unsigned, FLOAT, TIME, DATE,
    // BLOB, YEAR.
    let block = concat!(
        "00",
        "01",
        "0200",
        "0880",
        "0400",
        "0b00",
        "0a00",
        "fc00",
        "0d00",
        "f6ff",
        "ffffffffffffffff",
        "0000c03f",
        "0c01010000000203040a000000",
        "04e8070c1f",
        "03000102",
        "e907",
    );
    assert_eq!(
        execute_body(&mut state, &execute_packet(1, block)),
        "CALL p(?, ?, ?, ?, ?, ?, ?) [params: -10, 18446744073709551615, 1.5, '-26:03:04.000010', '2024-12-31', \
         '\u{0}\u{1}\u{2}', 2025]"
    );
    // The next execute reuses the bound types (flag 0) and sets NULLs.
    let again = concat!("7e", "00", "0100");
    assert_eq!(
        execute_body(&mut state, &execute_packet(1, again)),
        "CALL p(?, ?, ?, ?, ?, ?, ?) [params: 1, NULL, NULL, NULL, NULL, NULL, NULL]"
    );
}

#[test]
fn execute_with_long_data_unknown_statements_and_odd_layouts() {
    let mut state = prepared(9, "INSERT INTO b VALUES (?, ?)", 2);
    // Parameter 0 came with COM_STMT_SEND_LONG_DATA: its value is absent.
    let long_data = command(&hex("18090000000000414243"));
    assert_eq!(request::consume(&long_data, None, &mut state), "");
    assert_eq!(state.statements[&9].long_data, vec![0]);
    // MariaDB's id -1 names the statement prepared last.
    let execute = execute_packet(u32::MAX, concat!("00", "01", "fc00", "0300", "2a000000"));
    assert_eq!(execute_body(&mut state, &execute), "INSERT INTO b VALUES (?, ?) [params: <long data>, 42]");
    assert!(state.statements[&9].long_data.is_empty());

    // A type the decoder does not know stops it.
    let unknown_type = execute_packet(9, concat!("00", "01", "0100", "e000", "05"));
    assert_eq!(execute_body(&mut state, &unknown_type), "INSERT INTO b VALUES (?, ?) [params: 5, ...]");
    // The statement was never prepared here.
    assert_eq!(execute_body(&mut state, &execute_packet(7, "00")), "Execute stmt_id=7");

    // MySQL 8 query attributes (handshake unseen): a count, and names after
    // the types; the layout that accounts for every byte wins.
    let mut state = prepared(2, "SELECT ?", 1);
    let attributes = concat!("01", "00", "01", "0800", "00", "2a00000000000000");
    assert_eq!(execute_body(&mut state, &execute_packet(2, attributes)), "SELECT ? [params: 42]");
}

#[test]
fn skips_query_attributes_before_the_sql() {
    let mut state = MysqlState::default();
    // No attributes, then one named VARCHAR attribute.
    let plain = command(&hex("03000153454c4543542031"));
    let named = packet(
        0,
        &hex(concat!("03", "01", "01", "00", "01", "fe00", "05", "7472616365", "03", "616263", "53454c4543542032")),
    );
    assert_eq!(request::consume(&plain, None, &mut state), "SELECT 1");
    assert_eq!(request::consume(&named, None, &mut state), "SELECT 2");
    // A client that said it sends none: the bytes are the query.
    state.client_caps = Some(wire::CLIENT_PROTOCOL_41);
    assert_eq!(request::consume(&plain, None, &mut state), "\u{0}\u{1}SELECT 1");
}

#[test]
fn stitches_cursors_and_fetches() {
    let mut state = prepared(3, "SELECT a FROM t", 0);
    state.eof_learned = Some(false);
    let cursor_open = 0x0042;
    let mut requests = VecDeque::from([
        timed(1, command(&hex("17030000000101000000"))),
        timed(4, command(&hex("1c030000000a000000"))),
    ]);
    let mut responses = VecDeque::from([
        timed(2, packet(1, &[1])),
        timed(3, column(2)),
        timed(3, eof(3, cursor_open)),
        timed(5, packet(1, b"\x00\x00\x01")),
        timed(5, packet(2, b"\x00\x00\x02")),
        timed(6, eof(3, 0x0082)),
    ]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(
        out.records,
        vec![
            row(1, 2, 0x17, "SELECT a FROM t", RespStatus::Ok, "Cursor opened"),
            row(4, 5, 0x1c, "", RespStatus::Ok, "Resultset rows = 2"),
        ]
    );
}

#[test]
fn change_user_takes_its_auth_rounds_and_forgets_statements() {
    let mut state = prepared(4, "SELECT 1", 0);
    let client = [
        wire(0, b"\x11app\x00\x00shop\x00"),
        // The auth switch response (seq 2) follows the server's switch.
        wire(2, &[0x5a; 20]),
    ]
    .concat();
    let server =
        [wire(1, b"\xfemysql_native_password\x00abcdefghijklmnopqrst\x00"), wire(3, &[0, 0, 0, 2, 0, 0, 0])].concat();
    let requests = parse_stream(Request, &client, &mut state);
    let responses = parse_stream(Response, &server, &mut state);
    let mut requests: VecDeque<_> = requests.into_iter().zip([1, 3]).map(|(p, ts)| timed(ts, p)).collect();
    let mut responses: VecDeque<_> = responses.into_iter().zip([2, 4]).map(|(p, ts)| timed(ts, p)).collect();
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    assert_eq!(out.records, vec![row(1, 2, 0x11, "", RespStatus::Ok, "")]);
    assert!(state.statements.is_empty());
}

#[test]
fn long_texts_are_cut_to_the_body_limit() {
    let mut state = MysqlState::default();
    let long = "é".repeat(400);
    let message = [&hex("ff1e04233432533232")[..], long.as_bytes()].concat();
    let mut requests = VecDeque::from([timed(1, query(&long))]);
    let mut responses = VecDeque::from([timed(2, packet(1, &message))]);
    let out = stitch_all(&mut requests, &mut responses, &mut state);
    let record = &out.records[0].record;
    assert_eq!(record.req_body, format!("{}... [TRUNCATED]", "é".repeat(MAX_BODY_BYTES / 2)));
    let prefix = "ERROR 1054 (42S22): ";
    let kept = "é".repeat((MAX_BODY_BYTES - prefix.len()) / 2);
    assert_eq!(record.resp_body, format!("{prefix}{kept}... [TRUNCATED]"));
}

#[test]
fn forgets_the_oldest_statement_past_the_cap() {
    let mut state = MysqlState::default();
    for id in 1..=u32::try_from(MAX_STATEMENTS).unwrap() + 1 {
        state.remember(id, PreparedStatement::new(String::new(), 0));
    }
    assert_eq!(state.statements.len(), MAX_STATEMENTS);
    assert!(!state.statements.contains_key(&1));
    assert_eq!(state.last_prepared, Some(1025));
}

/// Parses `bytes` as one stream of `kind` the way the tracker does (resuming
/// at `find_boundary` after Invalid) into `queue`.
fn fuzz_side(kind: MessageType, bytes: &[u8], state: &mut MysqlState, queue: &mut VecDeque<Timed<MysqlPacket>>) {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        match Mysql::parse_frame(kind, rest, state) {
            ParseState::Frame { frame, consumed } => {
                assert!(consumed > 0 && consumed <= rest.len());
                queue.push_back(Timed { ts_ns: pos as u64, frame });
                pos += consumed;
            }
            ParseState::NeedsMoreData => break,
            ParseState::Invalid => match Mysql::find_boundary(kind, rest, 1) {
                Some(next) => {
                    assert!(next >= 1 && next < rest.len());
                    pos += next;
                }
                None => break,
            },
        }
    }
}

#[test]
fn fuzz_mysql_never_panics() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let mut state = MysqlState::default();
        let (mut requests, mut responses) = (VecDeque::new(), VecDeque::new());
        fuzz_side(Request, bytes, &mut state, &mut requests);
        fuzz_side(Response, bytes, &mut state, &mut responses);
        let _ = Mysql::stitch(&mut requests, &mut responses, &mut state);
    });
}

#[test]
fn fuzz_mysql_stitch_never_panics() {
    // Well-formed headers around arbitrary payloads, so that stitching and
    // the decoders see frames rather than refusals.
    bolero::check!().with_type::<Vec<(bool, u8, u8, Vec<u8>)>>().for_each(|packets| {
        let mut state = prepared(1, "SELECT ?", 2);
        let (mut client, mut server) = (Vec::new(), Vec::new());
        for (from_client, seq, first, rest) in packets {
            let payload = [&[*first][..], rest].concat();
            if *from_client {
                client.extend(wire(seq % 4, &payload));
            } else {
                server.extend(wire(seq % 8, &payload));
            }
        }
        let (mut requests, mut responses) = (VecDeque::new(), VecDeque::new());
        fuzz_side(Request, &client, &mut state, &mut requests);
        fuzz_side(Response, &server, &mut state, &mut responses);
        let _ = Mysql::stitch(&mut requests, &mut responses, &mut state);
    });
}

#[test]
fn fuzz_mysql_mutated_captures_never_panic() {
    // Real sessions with some bytes overwritten: the walks go deep before
    // they meet the damage.
    let captures: Vec<[Vec<u8>; 2]> = CAPTURES
        .iter()
        .map(|text| {
            let packets = load(text);
            [side(&packets, Request), side(&packets, Response)]
        })
        .collect();
    bolero::check!().with_type::<(u8, Vec<(bool, u16, u8)>)>().for_each(|(pick, mutations)| {
        let mut streams = captures[usize::from(*pick) % captures.len()].clone();
        for (server, pos, value) in mutations {
            let stream = &mut streams[usize::from(*server)];
            let at = usize::from(*pos) % stream.len();
            stream[at] = *value;
        }
        let mut state = MysqlState::default();
        let (mut requests, mut responses) = (VecDeque::new(), VecDeque::new());
        fuzz_side(Request, &streams[0], &mut state, &mut requests);
        fuzz_side(Response, &streams[1], &mut state, &mut responses);
        let _ = Mysql::stitch(&mut requests, &mut responses, &mut state);
    });
}

#[test]
fn the_body_column_size_is_the_states_limit() {
    let sql = format!("SELECT '{}'", "x".repeat(1000));
    for (limit, kept) in [(crate::DEFAULT_BODY_BYTES, 512), (16, 16), (4096, sql.len())] {
        let mut state = MysqlState { limits: crate::Limits { body_bytes: limit }, ..Default::default() };
        let mut requests = VecDeque::from([timed(1, query(&sql))]);
        let mut responses = VecDeque::from([timed(2, ok(1, 0, 2))]);
        let out = Mysql::stitch(&mut requests, &mut responses, &mut state);
        let expected = if kept < sql.len() { format!("{}... [TRUNCATED]", &sql[..kept]) } else { sql.clone() };
        assert_eq!(out.records[0].record.req_body, expected, "limit {limit}");
    }
}
