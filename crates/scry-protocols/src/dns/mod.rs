//! DNS over UDP and over TCP (RFC 1035 §4, RFC 7766) → Pixie's `dns_events`.
//!
//! One [`DnsRecord`] is one row; its fields map onto the columns:
//!
//! | column        | field                                     | text                         |
//! |---------------|-------------------------------------------|------------------------------|
//! | `req_header`  | [`DnsRecord::req_header`]                 | [`DnsHeader::to_json`]       |
//! | `req_body`    | [`DnsRecord::queries`]                    | [`DnsRecord::req_body`]      |
//! | `resp_header` | [`DnsRecord::resp_header`]                | [`DnsHeader::to_json`]       |
//! | `resp_body`   | [`DnsRecord::answers`]                    | [`DnsRecord::resp_body`]     |
//! | `latency`     | [`DnsRecord::latency_ns`]                 | —                            |
//!
//! Transport comes from [`DnsState::tcp`], which the tracker sets: over UDP a
//! buffer is exactly one datagram and one message; over TCP every message has
//! a 2-byte big-endian length prefix and a buffer may hold several.
//!
//! Requests and responses are paired by transaction id, not by order
//! ([`Dns::stitch`]). A request whose response never comes stays queued until
//! the tracker calls [`Dns::expire_requests`] (Pixie gives up after
//! [`RESPONSE_TIMEOUT_NS`]).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::IpAddr;

use hickory_proto::op::Query;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};

use crate::{Exchange, MessageType, ParseState, Protocol, Stitched, Timed, truncate};

/// Cap of the `req_body` / `resp_body` text. Pixie appends DNS bodies
/// without its body limit, so they get the default STRING column cap
/// (pixie-tables.md §4). Header JSON stays under 200 bytes and is never cut.
pub const MAX_BODY_BYTES: usize = 1024;

/// How long Pixie waits for a response before it gives a request up (its
/// `dns_request_timeout_threshold_milliseconds`, 2000 ms).
pub const RESPONSE_TIMEOUT_NS: u64 = 2_000_000_000;

/// Most questions a message may declare. Real traffic always has 0 or 1; the
/// bound keeps noise from passing as DNS and bounds what a header can make us
/// allocate.
pub const MAX_QUERIES: u16 = 16;

/// Largest message: a UDP datagram and a TCP length prefix both stop at
/// 65,535 bytes, so a longer UDP buffer is not one datagram.
pub const MAX_MESSAGE_BYTES: usize = u16::MAX as usize;

/// Fixed header size (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

/// TCP length prefix (RFC 1035 §4.2.2).
const TCP_PREFIX_LEN: usize = 2;

/// Smallest question on the wire: root name (1) + type (2) + class (2).
const MIN_QUESTION_LEN: usize = 5;

/// Smallest resource record: root name (1) + type, class (4) + TTL (4) +
/// RDLENGTH (2).
const MIN_RECORD_LEN: usize = 11;

/// Opcodes in use: QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO (3 and 7–15
/// are unassigned, so they mark noise).
const KNOWN_OPCODES: [u8; 6] = [0, 1, 2, 4, 5, 6];

/// The DNS protocol.
pub struct Dns;

/// What a connection remembers: its transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsState {
    /// Set by the tracker: `true` on a TCP connection (length-prefixed
    /// messages), `false` (default) on UDP (one datagram per buffer).
    pub tcp: bool,
}

/// The 12-byte message header, as on the wire. The counts are the header's,
/// so `num_addl` includes an EDNS OPT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsHeader {
    pub txid: u16,
    /// Set on responses.
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub ad: bool,
    pub cd: bool,
    /// The header's 4-bit RCODE (3 = NXDOMAIN), as Pixie reports it; EDNS's
    /// extended bits are not merged in.
    pub rcode: u8,
    pub num_queries: u16,
    pub num_answers: u16,
    pub num_auth: u16,
    pub num_addl: u16,
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Name without the trailing dot (`example.com`), as Pixie writes it; the
    /// root is `.`.
    pub name: String,
    /// Type mnemonic (`A`, `AAAA`, `HTTPS`…), `TYPE<n>` when unknown.
    pub qtype: String,
}

/// One record of the answer section. Authority and additional sections are
/// not decoded: no column shows them beyond their counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, written like [`Question::name`].
    pub name: String,
    /// Type mnemonic, written like [`Question::qtype`].
    pub rtype: String,
    pub data: AnswerData,
}

/// An answer's RDATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerData {
    /// A or AAAA: JSON key `addr`.
    Addr(IpAddr),
    /// CNAME target, written like [`Question::name`]: JSON key `cname`.
    Cname(String),
    /// Any other type, in zone-file presentation form (`10 mail.example.com.`
    /// for MX); RFC 3597's generic `\# <len> <hex>` when the type is unknown
    /// or its RDATA does not decode: JSON key `rdata`.
    Other(String),
}

/// One DNS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsFrame {
    pub header: DnsHeader,
    pub queries: Vec<Question>,
    pub answers: Vec<Answer>,
}

/// One `dns_events` row (see the module's table for the column of each field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    pub req_header: DnsHeader,
    /// The request's questions.
    pub queries: Vec<Question>,
    pub resp_header: DnsHeader,
    /// The response's answer section.
    pub answers: Vec<Answer>,
    /// Request's first byte to response's first byte, ns.
    pub latency_ns: i64,
}

impl DnsHeader {
    /// Reads the header at the start of `bytes`; `None` if it is shorter.
    fn read(bytes: &[u8]) -> Option<Self> {
        let [id_hi, id_lo, flags_hi, flags_lo, qd_hi, qd_lo, an_hi, an_lo, ns_hi, ns_lo, ar_hi, ar_lo] =
            *bytes.first_chunk::<HEADER_LEN>()?;
        let flags = u16::from_be_bytes([flags_hi, flags_lo]);
        let bit = |mask: u16| flags & mask != 0;
        Some(DnsHeader {
            txid: u16::from_be_bytes([id_hi, id_lo]),
            qr: bit(0x8000),
            opcode: ((flags >> 11) & 0xf) as u8,
            aa: bit(0x0400),
            tc: bit(0x0200),
            rd: bit(0x0100),
            ra: bit(0x0080),
            ad: bit(0x0020),
            cd: bit(0x0010),
            rcode: (flags & 0xf) as u8,
            num_queries: u16::from_be_bytes([qd_hi, qd_lo]),
            num_answers: u16::from_be_bytes([an_hi, an_lo]),
            num_auth: u16::from_be_bytes([ns_hi, ns_lo]),
            num_addl: u16::from_be_bytes([ar_hi, ar_lo]),
        })
    }

    /// Whether this header can start a `msg_len`-byte message of `kind`:
    /// the QR bit says which side sent it, the opcode is assigned, and the
    /// declared sections fit in the message even at their smallest.
    fn fits(&self, kind: MessageType, msg_len: usize) -> bool {
        let records = usize::from(self.num_answers) + usize::from(self.num_auth) + usize::from(self.num_addl);
        let min_len = HEADER_LEN + usize::from(self.num_queries) * MIN_QUESTION_LEN + records * MIN_RECORD_LEN;
        self.qr == (kind == MessageType::Response)
            && KNOWN_OPCODES.contains(&self.opcode)
            && self.num_queries <= MAX_QUERIES
            && min_len <= msg_len
    }

    /// The `req_header` / `resp_header` column: Pixie's keys in Pixie's order,
    /// flags as 0/1. Written by hand because serde_json (without
    /// `preserve_order`) would sort the keys.
    pub fn to_json(&self) -> String {
        let bit = u8::from;
        format!(
            "{{\"txid\":{},\"qr\":{},\"opcode\":{},\"aa\":{},\"tc\":{},\"rd\":{},\"ra\":{},\"ad\":{},\"cd\":{},\
             \"rcode\":{},\"num_queries\":{},\"num_answers\":{},\"num_auth\":{},\"num_addl\":{}}}",
            self.txid,
            bit(self.qr),
            self.opcode,
            bit(self.aa),
            bit(self.tc),
            bit(self.rd),
            bit(self.ra),
            bit(self.ad),
            bit(self.cd),
            self.rcode,
            self.num_queries,
            self.num_answers,
            self.num_auth,
            self.num_addl,
        )
    }
}

impl Question {
    /// `{"name":…,"type":…}`, an element of `req_body`.
    fn to_json(&self) -> String {
        format!("{{\"name\":{},\"type\":{}}}", json_string(&self.name), json_string(&self.qtype))
    }
}

impl Answer {
    /// `{"name":…,"type":…,"addr"|"cname"|"rdata":…}`, an element of `resp_body`.
    fn to_json(&self) -> String {
        let (key, value) = match &self.data {
            AnswerData::Addr(addr) => ("addr", json_string(&addr.to_string())),
            AnswerData::Cname(target) => ("cname", json_string(target)),
            AnswerData::Other(text) => ("rdata", json_string(text)),
        };
        format!("{{\"name\":{},\"type\":{},\"{key}\":{value}}}", json_string(&self.name), json_string(&self.rtype))
    }
}

impl DnsRecord {
    /// The `req_body` column: `{"queries":[{"name","type"}…]}`, cut at
    /// [`MAX_BODY_BYTES`].
    pub fn req_body(&self) -> String {
        json_list("queries", self.queries.iter().map(Question::to_json))
    }

    /// The `resp_body` column: `{"answers":[{"name","type","addr"|"cname"|"rdata"}…]}`,
    /// cut at [`MAX_BODY_BYTES`].
    pub fn resp_body(&self) -> String {
        json_list("answers", self.answers.iter().map(Answer::to_json))
    }
}

impl Dns {
    /// Drops the requests that have waited more than [`RESPONSE_TIMEOUT_NS`]
    /// at `now_ns` (the tracker's clock) and returns how many, for the
    /// tracker to count as unmatched. [`Dns::stitch`] never gives a request
    /// up by itself, because a late response may still be in flight.
    pub fn expire_requests(requests: &mut VecDeque<Timed<DnsFrame>>, now_ns: u64) -> u64 {
        let before = requests.len();
        requests.retain(|request| now_ns.saturating_sub(request.ts_ns) <= RESPONSE_TIMEOUT_NS);
        (before - requests.len()) as u64
    }
}

impl Protocol for Dns {
    type Frame = DnsFrame;
    type Record = DnsRecord;
    type State = DnsState;

    /// UDP: the whole buffer is the message (an empty one needs more data; a
    /// cut datagram is `Invalid`, since nothing will complete it). TCP: the
    /// message behind the length prefix; `Invalid` as soon as the prefix or
    /// the header cannot be DNS, without waiting for the declared length.
    fn parse_frame(kind: MessageType, buf: &[u8], state: &mut DnsState) -> ParseState<DnsFrame> {
        if state.tcp {
            return parse_tcp(kind, buf);
        }
        if buf.is_empty() {
            return ParseState::NeedsMoreData;
        }
        match parse_message(kind, buf) {
            Some(frame) => ParseState::Frame { frame, consumed: buf.len() },
            None => ParseState::Invalid,
        }
    }

    /// Searches a TCP stream, from `from` inclusive, for a length prefix
    /// followed by a plausible header and, when the whole message is there,
    /// a message that decodes. It is stricter than `parse_frame` (see
    /// `resync_candidate`), so it never returns a position where
    /// `parse_frame` says `Invalid`, and calling it with the position of an
    /// invalid frame cannot loop. Near the end of the buffer only the bytes
    /// present are judged, so a frame cut by the buffer's end is not lost:
    /// `None` only when `from` is past the end.
    ///
    /// UDP has nothing to search: a datagram that does not parse is dropped
    /// whole. The trait gives this function no [`DnsState`], so the tracker
    /// must not call it on UDP buffers.
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
        (from..buf.len()).find(|&pos| resync_candidate(kind, buf.get(pos..).unwrap_or_default()))
    }

    /// Matches each response with the earliest queued request that has the
    /// same transaction id and is not later than the response, in any order
    /// (resolvers answer out of order). A response with no such request is
    /// dropped and counted; requests still waiting stay queued.
    fn stitch(
        requests: &mut VecDeque<Timed<DnsFrame>>,
        responses: &mut VecDeque<Timed<DnsFrame>>,
        _state: &mut DnsState,
    ) -> Stitched<DnsRecord> {
        let mut stitched = Stitched::default();
        while let Some(response) = responses.pop_front() {
            let txid = response.frame.header.txid;
            let request = requests
                .iter()
                .take_while(|request| request.ts_ns <= response.ts_ns)
                .position(|request| request.frame.header.txid == txid)
                .and_then(|index| requests.remove(index));
            match request {
                Some(request) => stitched.records.push(exchange(request, response)),
                None => stitched.unmatched += 1,
            }
        }
        stitched
    }
}

fn exchange(request: Timed<DnsFrame>, response: Timed<DnsFrame>) -> Exchange<DnsRecord> {
    let latency = response.ts_ns.saturating_sub(request.ts_ns);
    Exchange {
        req_ts_ns: request.ts_ns,
        resp_ts_ns: response.ts_ns,
        record: DnsRecord {
            req_header: request.frame.header,
            queries: request.frame.queries,
            resp_header: response.frame.header,
            answers: response.frame.answers,
            latency_ns: i64::try_from(latency).unwrap_or(i64::MAX),
        },
    }
}

/// Whether a TCP message of `kind` may start at the front of `stream`,
/// judged on the bytes present: what `parse_frame` checks, plus what real
/// senders always do and noise rarely does — at least one question, and
/// RCODE 0 in a request. A header cut by the end of the stream is completed
/// with fields that pass, so only the bytes present can fail it.
fn resync_candidate(kind: MessageType, stream: &[u8]) -> bool {
    let usual = |header: &DnsHeader| header.num_queries > 0 && (kind == MessageType::Response || header.rcode == 0);
    match parse_tcp(kind, stream) {
        ParseState::Invalid => false,
        ParseState::Frame { frame, .. } => usual(&frame.header),
        ParseState::NeedsMoreData => {
            let Some(&prefix) = stream.first_chunk::<TCP_PREFIX_LEN>() else {
                return true;
            };
            let qr = if kind == MessageType::Response { 0x80 } else { 0 };
            let mut header = [0, 0, qr, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            let present = stream.get(TCP_PREFIX_LEN..).unwrap_or_default();
            header.iter_mut().zip(present).for_each(|(slot, byte)| *slot = *byte);
            DnsHeader::read(&header)
                .is_some_and(|header| header.fits(kind, usize::from(u16::from_be_bytes(prefix))) && usual(&header))
        }
    }
}

/// One length-prefixed message at the start of a TCP stream.
fn parse_tcp(kind: MessageType, stream: &[u8]) -> ParseState<DnsFrame> {
    let Some(&prefix) = stream.first_chunk::<TCP_PREFIX_LEN>() else {
        return ParseState::NeedsMoreData;
    };
    let len = usize::from(u16::from_be_bytes(prefix));
    let body = stream.get(TCP_PREFIX_LEN..).unwrap_or_default();
    if len < HEADER_LEN || DnsHeader::read(body).is_some_and(|header| !header.fits(kind, len)) {
        return ParseState::Invalid;
    }
    let Some(msg) = body.get(..len) else {
        return ParseState::NeedsMoreData;
    };
    match parse_message(kind, msg) {
        Some(frame) => ParseState::Frame { frame, consumed: TCP_PREFIX_LEN + len },
        None => ParseState::Invalid,
    }
}

/// Decodes one whole message: header, questions and answers must be well
/// formed, the records of the last two sections must at least be framed
/// (they are stepped over, not decoded).
fn parse_message(kind: MessageType, msg: &[u8]) -> Option<DnsFrame> {
    let header = DnsHeader::read(msg)?;
    if msg.len() > MAX_MESSAGE_BYTES || !header.fits(kind, msg.len()) {
        return None;
    }
    let mut decoder = BinDecoder::new(msg);
    decoder.read_slice(HEADER_LEN).ok()?;
    let queries = (0..header.num_queries)
        .map(|_| {
            let query = Query::read(&mut decoder).ok()?;
            Some(Question { name: name_text(query.name()), qtype: type_name(query.query_type()) })
        })
        .collect::<Option<Vec<_>>>()?;
    let answers = (0..header.num_answers).map(|_| read_answer(msg, &mut decoder)).collect::<Option<Vec<_>>>()?;
    for _ in 0..u32::from(header.num_auth) + u32::from(header.num_addl) {
        skip_record(&mut decoder)?;
    }
    Some(DnsFrame { header, queries, answers })
}

/// Steps over a resource record without decoding it, so that a message
/// whose last sections are cut short is still refused.
fn skip_record(decoder: &mut BinDecoder<'_>) -> Option<()> {
    skip_name(decoder)?;
    // Type, class, TTL.
    decoder.read_slice(8).ok()?;
    let rdlength = decoder.read_u16().ok()?.unverified();
    decoder.read_slice(usize::from(rdlength)).ok()?;
    Some(())
}

/// Steps over a name: labels up to the root label or a compression pointer.
fn skip_name(decoder: &mut BinDecoder<'_>) -> Option<()> {
    loop {
        let len = decoder.read_u8().ok()?.unverified();
        match len & 0xc0 {
            0x00 if len == 0 => return Some(()),
            0x00 => {
                decoder.read_slice(usize::from(len)).ok()?;
            }
            0xc0 => {
                decoder.read_u8().ok()?;
                return Some(());
            }
            // 0x40 and 0x80 are extended label types, never deployed.
            _ => return None,
        }
    }
}

/// Reads the resource record at the decoder. The record's framing (owner,
/// fixed fields, RDLENGTH bytes present) must hold; RDATA that hickory cannot
/// decode still yields the record, in generic form, so one odd record does
/// not cost the row.
fn read_answer(msg: &[u8], decoder: &mut BinDecoder<'_>) -> Option<Answer> {
    let owner = Name::read(decoder).ok()?;
    let rtype = RecordType::from(decoder.read_u16().ok()?.unverified());
    // Class and TTL: no column shows them.
    decoder.read_slice(6).ok()?;
    let rdlength = decoder.read_u16().ok()?.unverified();
    let start = decoder.index();
    let raw = decoder.read_slice(usize::from(rdlength)).ok()?.unverified();
    // A decoder of its own over the whole message: names in RDATA may point
    // anywhere before them, and a failed decode must not move the main one.
    let mut rdata_decoder = BinDecoder::new(msg);
    rdata_decoder.read_slice(start).ok()?;
    let rdata = RData::read(&mut rdata_decoder, rtype, Restrict::new(rdlength)).ok();
    Some(Answer { name: name_text(&owner), rtype: type_name(rtype), data: answer_data(rdata, raw) })
}

fn answer_data(rdata: Option<RData>, raw: &[u8]) -> AnswerData {
    match rdata {
        Some(RData::A(a)) => AnswerData::Addr(IpAddr::V4(a.0)),
        Some(RData::AAAA(aaaa)) => AnswerData::Addr(IpAddr::V6(aaaa.0)),
        Some(RData::CNAME(cname)) => AnswerData::Cname(name_text(&cname.0)),
        Some(RData::Unknown { .. } | RData::NULL(_)) | None => AnswerData::Other(generic_rdata(raw)),
        Some(other) => {
            // Some types (OPT) have no presentation form and fail to format.
            let mut text = String::new();
            match write!(text, "{other}") {
                Ok(()) => AnswerData::Other(text),
                Err(_) => AnswerData::Other(generic_rdata(raw)),
            }
        }
    }
}

/// RFC 3597 §5: `\# <length> <hex>`.
fn generic_rdata(raw: &[u8]) -> String {
    let hex: String = raw.iter().map(|byte| format!("{byte:02x}")).collect();
    if hex.is_empty() { "\\# 0".to_owned() } else { format!("\\# {} {hex}", raw.len()) }
}

/// Presentation form (RFC 1035 escapes) without the trailing dot.
fn name_text(name: &Name) -> String {
    let text = name.to_ascii();
    match text.strip_suffix('.') {
        Some(relative) if !relative.is_empty() => relative.to_owned(),
        _ => text,
    }
}

fn type_name(rtype: RecordType) -> String {
    match rtype {
        // hickory writes every unknown type as "Unknown"; RFC 3597 names it.
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `{"<key>":[<items>]}` cut at [`MAX_BODY_BYTES`].
fn json_list(key: &str, items: impl Iterator<Item = String>) -> String {
    let json = format!("{{\"{key}\":[{}]}}", items.collect::<Vec<_>>().join(","));
    truncate(&json, MAX_BODY_BYTES)
}

#[cfg(test)]
mod tests;
