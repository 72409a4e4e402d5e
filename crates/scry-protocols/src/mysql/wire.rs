//! Wire vocabulary shared by framing, request decoding and response walking:
//! a bounds-checked reader, the protocol's numbers, and what a packet is by
//! its first byte.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use super::MysqlPacket;

/// A packet whose payload has this length is continued by the next one.
pub(super) const MAX_PACKET_PAYLOAD: usize = 0xff_ffff;

pub(super) const COM_QUIT: u8 = 0x01;
pub(super) const COM_INIT_DB: u8 = 0x02;
pub(super) const COM_QUERY: u8 = 0x03;
pub(super) const COM_FIELD_LIST: u8 = 0x04;
pub(super) const COM_CREATE_DB: u8 = 0x05;
pub(super) const COM_DROP_DB: u8 = 0x06;
pub(super) const COM_PROCESS_INFO: u8 = 0x0a;
pub(super) const COM_PING: u8 = 0x0e;
pub(super) const COM_CHANGE_USER: u8 = 0x11;
pub(super) const COM_STMT_PREPARE: u8 = 0x16;
pub(super) const COM_STMT_EXECUTE: u8 = 0x17;
pub(super) const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub(super) const COM_STMT_CLOSE: u8 = 0x19;
pub(super) const COM_STMT_RESET: u8 = 0x1a;
pub(super) const COM_STMT_FETCH: u8 = 0x1c;
pub(super) const COM_RESET_CONNECTION: u8 = 0x1f;

/// First payload byte of the response packets.
pub(super) const OK: u8 = 0x00;
pub(super) const AUTH_MORE_DATA: u8 = 0x01;
pub(super) const GREETING_V10: u8 = 0x0a;
pub(super) const LOCAL_INFILE: u8 = 0xfb;
pub(super) const EOF: u8 = 0xfe;
pub(super) const ERR: u8 = 0xff;

pub(super) const CLIENT_PROTOCOL_41: u32 = 1 << 9;
pub(super) const CLIENT_SESSION_TRACK: u32 = 1 << 23;
pub(super) const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
pub(super) const CLIENT_QUERY_ATTRIBUTES: u32 = 1 << 27;

pub(super) const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
pub(super) const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

/// The payload lengths a command packet can have; `None` for bytes that are
/// no command, or commands only the server uses internally (Sleep, Time,
/// Delayed Insert, Connect Out, Daemon), which a client never sends.
pub(super) fn command_lengths(cmd: u8) -> Option<RangeInclusive<usize>> {
    const ANY: usize = MAX_PACKET_PAYLOAD;
    Some(match cmd {
        // Quit, Statistics, Process Info, Connect, Debug, Ping, Reset Connection.
        COM_QUIT | 0x09 | COM_PROCESS_INFO | 0x0b | 0x0d | COM_PING | COM_RESET_CONNECTION => 1..=1,
        COM_INIT_DB | COM_QUERY | COM_CREATE_DB | COM_DROP_DB | COM_STMT_PREPARE => 1..=ANY,
        COM_FIELD_LIST => 2..=ANY,
        // Refresh: one sub-command byte.
        0x07 => 2..=2,
        // Shutdown: an optional level byte.
        0x08 => 1..=2,
        // Process Kill: a connection id.
        0x0c => 5..=5,
        COM_CHANGE_USER => 4..=ANY,
        // Binlog Dump, Table Dump, Register Slave, Binlog Dump GTID.
        0x12 => 11..=ANY,
        0x13 => 3..=ANY,
        0x15 => 18..=ANY,
        0x1e => 19..=ANY,
        COM_STMT_EXECUTE => 10..=ANY,
        COM_STMT_SEND_LONG_DATA => 7..=ANY,
        COM_STMT_CLOSE | COM_STMT_RESET => 5..=5,
        // Set Option: a 2-byte option.
        0x1b => 3..=3,
        COM_STMT_FETCH => 9..=9,
        _ => return None,
    })
}

/// Whether a packet of `len` bytes starting with `first` can be the first
/// packet of a response to a command.
pub(super) fn response_start(first: u8, len: usize) -> bool {
    match first {
        // OK: header, two length-encoded integers, status, warnings.
        OK => len >= 7,
        ERR => len >= 3,
        // EOF, or the auth switch answering COM_CHANGE_USER.
        EOF | LOCAL_INFILE => true,
        // A column count, and the metadata-follows byte of
        // CLIENT_OPTIONAL_RESULTSET_METADATA.
        0xfc => len == 3 || len == 4,
        1..=0xfa => len == 1 || len == 2,
        _ => false,
    }
}

impl MysqlPacket {
    pub(super) fn first(&self) -> Option<u8> {
        self.payload.first().copied()
    }

    pub(super) fn is_err(&self) -> bool {
        self.first() == Some(ERR)
    }

    /// A MariaDB progress report (an ERR with code 0xffff), sent amid a
    /// long statement's response to clients that asked for them.
    pub(super) fn is_progress(&self) -> bool {
        self.payload.starts_with(&[ERR, 0xff, 0xff])
    }

    /// An EOF packet proper (5 bytes; 1 before protocol 4.1). The OK packets
    /// that replace EOFs under CLIENT_DEPRECATE_EOF also start with 0xfe but
    /// have at least 7 bytes.
    pub(super) fn is_eof(&self) -> bool {
        self.first() == Some(EOF) && self.len < 7
    }

    /// The EOF or OK that ends rows or definitions. A row starting with 0xfe
    /// announces a value of 2^24 bytes or more, so it fills a whole packet.
    pub(super) fn is_end(&self) -> bool {
        self.first() == Some(EOF) && self.len < MAX_PACKET_PAYLOAD
    }
}

/// Text of bytes that should be UTF-8 (queries, messages), mangled rather
/// than refused when they are not.
pub(super) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Reads integers and byte runs from a payload; every read returns `None`
/// rather than go past the end.
#[derive(Clone, Debug)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// What is left.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(super) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n)?;
        self.buf = tail;
        Some(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// An unsigned little-endian integer of `n` ≤ 8 bytes.
    pub(super) fn uint(&mut self, n: usize) -> Option<u64> {
        let bytes = self.bytes(n.min(8))?;
        Some(bytes.iter().rev().fold(0, |acc, &b| acc << 8 | u64::from(b)))
    }

    /// A length-encoded integer (0xfb, NULL in rows, and 0xff are none).
    pub(super) fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.uint(8),
            _ => None,
        }
    }

    /// A length-encoded string.
    pub(super) fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.bytes(n)
    }

    /// A NUL-terminated string (the NUL is consumed, not returned).
    pub(super) fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.buf.iter().position(|&b| b == 0)?;
        let text = self.bytes(end)?;
        self.bytes(1)?;
        Some(text)
    }
}
