//! Framing: the packet header, joining of continued packets, the rules that
//! tell a packet from noise, and resynchronization.
//!
//! Packet headers carry no magic, so noise is kept out by what the header
//! and first byte must be where the packet stands: a command (sequence id 0,
//! known COM_* byte, a length the command can have), the first packet of a
//! response (sequence id 1, a first byte and length a response can start
//! with), or a packet continuing the same side's previous one (the next
//! sequence id).

use super::wire::{
    AUTH_MORE_DATA, CLIENT_PROTOCOL_41, COM_CHANGE_USER, COM_QUERY, EOF, ERR, GREETING_V10, MAX_PACKET_PAYLOAD, OK,
    Reader, command_lengths, response_start,
};
use super::{KEPT_ERROR_BYTES, KEPT_REQUEST_BYTES, KEPT_RESPONSE_BYTES, MAX_MESSAGE_BYTES, MysqlPacket, MysqlState};
use crate::{MessageType, ParseState};

const HEADER_LEN: usize = 4;

/// HandshakeResponse41: capabilities (4), max packet (4), charset (1),
/// 23 reserved bytes; then user, auth data, database, plugin, attributes.
const HANDSHAKE_FIXED_LEN: usize = 32;

/// Longest HandshakeResponse accepted (connection attributes may take up to
/// 64 KiB).
const MAX_HANDSHAKE_LEN: usize = 64 << 10;

/// Shortest and longest server greeting: version 10 byte, a version string,
/// connection id, auth data, filler, capabilities.
const GREETING_LENS: std::ops::RangeInclusive<usize> = 16..=1024;

enum Check {
    Accept { command: bool },
    NeedsMoreData,
    Reject,
}

fn accept_if(fits: bool) -> Check {
    if fits { Check::Accept { command: false } } else { Check::Reject }
}

/// Payload length and sequence id.
fn header(bytes: &[u8]) -> Option<(usize, u8)> {
    let &[l0, l1, l2, seq] = bytes.first_chunk::<HEADER_LEN>()?;
    Some((u32::from_le_bytes([l0, l1, l2, 0]) as usize, seq))
}

pub(super) fn parse_frame(kind: MessageType, buf: &[u8], state: &mut MysqlState) -> ParseState<MysqlPacket> {
    let Some((len, seq)) = header(buf) else { return ParseState::NeedsMoreData };
    let body = buf.get(HEADER_LEN..).unwrap_or_default();
    let body = body.get(..len).unwrap_or(body);
    let (check, kept) = match kind {
        MessageType::Request => (check_request(seq, len, body, state), KEPT_REQUEST_BYTES),
        MessageType::Response if body.first() == Some(&ERR) => {
            (check_response(seq, len, body, state), KEPT_ERROR_BYTES)
        }
        MessageType::Response => (check_response(seq, len, body, state), KEPT_RESPONSE_BYTES),
    };
    let command = match check {
        Check::Accept { command } => command,
        Check::NeedsMoreData => return ParseState::NeedsMoreData,
        Check::Reject => return ParseState::Invalid,
    };
    let (frame, consumed) = match join(buf, kept, command) {
        Ok(joined) => joined,
        Err(not_yet) => return not_yet,
    };
    match kind {
        MessageType::Request => note_request(&frame, state),
        MessageType::Response => note_response(&frame, state),
    }
    ParseState::Frame { frame, consumed }
}

/// Reads the packet at the start of `buf` and the packets continuing it,
/// keeping the first `kept` payload bytes.
fn join(buf: &[u8], kept: usize, command: bool) -> Result<(MysqlPacket, usize), ParseState<MysqlPacket>> {
    let (first_len, first_seq) = header(buf).ok_or(ParseState::NeedsMoreData)?;
    let payload = Vec::with_capacity(first_len.min(kept));
    let mut packet = MysqlPacket { seq: first_seq, last_seq: first_seq, len: 0, payload, command };
    let mut pos = 0;
    loop {
        let (len, seq) = header(buf.get(pos..).unwrap_or_default()).ok_or(ParseState::NeedsMoreData)?;
        if pos > 0 && seq != packet.last_seq.wrapping_add(1) {
            return Err(ParseState::Invalid);
        }
        packet.len += len;
        if packet.len > MAX_MESSAGE_BYTES {
            return Err(ParseState::Invalid);
        }
        let start = pos + HEADER_LEN;
        let body = buf.get(start..start + len).ok_or(ParseState::NeedsMoreData)?;
        let room = kept.saturating_sub(packet.payload.len());
        packet.payload.extend_from_slice(body.get(..room).unwrap_or(body));
        packet.last_seq = seq;
        pos = start + len;
        if len < MAX_PACKET_PAYLOAD {
            return Ok((packet, pos));
        }
    }
}

fn check_request(seq: u8, len: usize, body: &[u8], state: &MysqlState) -> Check {
    // Handshake and auth rounds go up by 2 (the server answers in between),
    // LOCAL INFILE data and the HandshakeResponse after an SSLRequest by 1;
    // only data runs long enough to wrap to 0.
    let continues = |last: u8| seq == last.wrapping_add(1) || (seq != 0 && seq == last.wrapping_add(2));
    if state.client_seq.is_some_and(continues) {
        return Check::Accept { command: false };
    }
    if seq == 0 {
        return match body.first() {
            Some(&cmd) if command_lengths(cmd).is_some_and(|lens| lens.contains(&len)) => {
                Check::Accept { command: true }
            }
            Some(_) => Check::Reject,
            None if len == 0 => Check::Reject,
            None => Check::NeedsMoreData,
        };
    }
    if seq > 2 || !(HANDSHAKE_FIXED_LEN..=MAX_HANDSHAKE_LEN).contains(&len) {
        return Check::Reject;
    }
    if body.len() < HANDSHAKE_FIXED_LEN {
        return Check::NeedsMoreData;
    }
    accept_if(handshake_caps(body).is_some())
}

fn check_response(seq: u8, len: usize, body: &[u8], state: &MysqlState) -> Check {
    let last = state.server_seq;
    if last.is_some_and(|last| seq == last.wrapping_add(1)) {
        return Check::Accept { command: false };
    }
    let Some(&first) = body.first() else {
        return if len == 0 { Check::Reject } else { Check::NeedsMoreData };
    };
    accept_if(match seq {
        // The greeting, or the ERR a server greets with when it refuses.
        0 => (first == GREETING_V10 && GREETING_LENS.contains(&len)) || (first == ERR && len >= 3),
        1 => response_start(first, len),
        // The server's authentication steps, and the reply after LOCAL INFILE
        // data, follow client packets: their ids jump.
        _ => last.is_some_and(|last| seq > last) && matches!(first, OK | ERR | EOF | AUTH_MORE_DATA),
    })
}

/// Capability flags of a HandshakeResponse41 or SSLRequest.
fn handshake_caps(payload: &[u8]) -> Option<u32> {
    let mut r = Reader::new(payload);
    let caps = r.u32()?;
    let _max_packet = r.u32()?;
    let _charset = r.u8()?;
    // 23 reserved bytes; MariaDB puts its extended capabilities in the last 4.
    let filler = r.bytes(19)?;
    let _mariadb_caps = r.u32()?;
    (caps & CLIENT_PROTOCOL_41 != 0 && filler.iter().all(|&b| b == 0)).then_some(caps)
}

/// Capability flags of a protocol-10 greeting.
fn greeting_caps(payload: &[u8]) -> Option<u32> {
    let mut r = Reader::new(payload.get(1..)?);
    let _version = r.cstr()?;
    let _connection_id = r.u32()?;
    let _auth_data = r.bytes(8)?;
    let _filler = r.u8()?;
    let low = r.u16()?;
    // Charset and status, then the upper flags (absent from old servers).
    let high = r.bytes(3).and_then(|_| r.u16()).unwrap_or(0);
    Some(u32::from(low) | u32::from(high) << 16)
}

fn note_request(packet: &MysqlPacket, state: &mut MysqlState) {
    // A HandshakeResponse is the client's first packet, or follows its
    // SSLRequest.
    if packet.seq <= 2
        && !packet.command
        && matches!(state.client_seq, None | Some(1))
        && let Some(caps) = handshake_caps(&packet.payload)
    {
        state.client_caps = Some(caps);
    }
    state.client_seq = if packet.command {
        matches!(packet.first(), Some(COM_QUERY | COM_CHANGE_USER)).then_some(packet.last_seq)
    } else if packet.len == 0 {
        // The empty packet that ends LOCAL INFILE data.
        None
    } else {
        Some(packet.last_seq)
    };
}

fn note_response(packet: &MysqlPacket, state: &mut MysqlState) {
    // The greeting is the server's first packet; a later packet with id 0
    // is a long response wrapping around.
    if state.server_seq.is_none()
        && packet.seq == 0
        && packet.first() == Some(GREETING_V10)
        && let Some(caps) = greeting_caps(&packet.payload)
    {
        state.server_caps = Some(caps);
    }
    state.server_seq = Some(packet.last_seq);
}

pub(super) fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find(|&pos| {
        let Some(&[l0, l1, l2, seq, first]) = buf.get(pos..).and_then(|rest| rest.first_chunk::<5>()) else {
            return false;
        };
        let len = u32::from_le_bytes([l0, l1, l2, 0]) as usize;
        match kind {
            MessageType::Request => seq == 0 && command_lengths(first).is_some_and(|lens| lens.contains(&len)),
            MessageType::Response => seq == 1 && response_start(first, len),
        }
    })
}
