//! MySQL / MariaDB client/server protocol → Pixie's `mysql_events`.
//!
//! One [`MysqlRecord`] is one row; its fields map onto the columns:
//!
//! | column        | field                        | value                                                   |
//! |---------------|------------------------------|---------------------------------------------------------|
//! | `req_cmd`     | [`MysqlRecord::req_cmd`]     | the COM_* byte (`i64::from`)                            |
//! | `req_body`    | [`MysqlRecord::req_body`]    | query text; prepared text + bound values for EXECUTE    |
//! | `resp_status` | [`MysqlRecord::resp_status`] | [`RespStatus::code`]: 0 Unknown, 1 None, 2 OK, 3 Err    |
//! | `resp_body`   | [`MysqlRecord::resp_body`]   | error text, `Resultset rows = N`, affected rows / info  |
//! | `latency`     | `Exchange` timestamps        | first request byte → first response byte; 0 for None   |
//!
//! A frame ([`MysqlPacket`]) is one logical packet: the 4-byte header (3-byte
//! little-endian payload length, sequence id) and its payload, with packets
//! of 0xffffff bytes joined to the ones continuing them, up to
//! [`MAX_MESSAGE_BYTES`]. A request is a command packet (sequence id 0);
//! its response is every server packet up to the end its first packet
//! announces (see [`Mysql::stitch`]).
//!
//! The connection phase is tracked, not recorded: [`Mysql::parse_frame`]
//! reads the capability flags of the server greeting and of the client's
//! HandshakeResponse (they tell whether EOF packets were replaced by OK
//! packets, whether OK packets carry session-state info, whether commands
//! carry query attributes) and accepts the packets of the authentication
//! exchange, which [`Mysql::stitch`] then drops without a record. When the
//! handshake was not seen, each of these is inferred from the packets.
//!
//! Not supported (documented limits): messages over [`MAX_MESSAGE_BYTES`]
//! (Invalid; the tracker resynchronizes), the compressed protocol
//! (CLIENT_COMPRESS: other headers), pipelined commands (MariaDB's optional
//! PREPARE+EXECUTE pipelining; MySQL clients wait for each response),
//! COM_STATISTICS (its answer is a bare string that cannot be told from
//! noise; the command ends up unmatched), replication streams
//! (COM_BINLOG_DUMP answers with an endless stream; only its first packet
//! is paired), MariaDB's COM_STMT_BULK_EXECUTE (0xfa, outside Pixie's
//! `req_cmd` enum) and the pre-4.1 protocol.

mod execute;
mod frame;
mod request;
mod response;
mod stitch;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use crate::{Limits, MessageType, ParseState, Protocol, Stitched, Timed};

/// Default cap of `req_body` and `resp_body` (pixie-tables.md §4,
/// `PL_STIRLING_MAX_BODY_BYTES`); [`MysqlState::limits`] sets it.
pub const MAX_BODY_BYTES: usize = crate::DEFAULT_BODY_BYTES;

/// Text a statement or response keeps while parsing: the largest body cap,
/// so any configured cap cuts it again, with the marker, into its column.
const MAX_TEXT_BYTES: usize = crate::MAX_BODY_BYTES_LIMIT;

/// Largest logical packet (continuations joined): the protocol's 16 MiB
/// packet. Longer messages are refused as Invalid, so no length field can
/// make the tracker buffer more.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Payload bytes a request frame keeps: enough for a query past
/// [`MAX_BODY_BYTES`] and for the bound values of a COM_STMT_EXECUTE (values
/// past it are shown as `...`).
pub const KEPT_REQUEST_BYTES: usize = 16 << 10;

/// Payload bytes a response frame keeps: a whole greeting, OK, EOF, column
/// count or PREPARE_OK packet; rows and definitions are only counted, so
/// their contents need not be kept.
pub const KEPT_RESPONSE_BYTES: usize = 256;

/// Payload bytes an ERR packet keeps: its message past [`MAX_BODY_BYTES`].
pub const KEPT_ERROR_BYTES: usize = 1024;

/// Prepared statements remembered per connection; past it the oldest (lowest
/// id: servers hand ids out in increasing order) is forgotten. Servers allow
/// 16,382 per server by default, applications use a handful per connection.
pub const MAX_STATEMENTS: usize = 1024;

/// Parameters of one COM_STMT_EXECUTE shown in `req_body` and whose types are
/// remembered; more could not fit in [`MAX_BODY_BYTES`] anyway.
pub const MAX_DECODED_PARAMS: usize = 256;

/// The MySQL protocol.
pub struct Mysql;

/// One logical packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlPacket {
    /// Sequence id of the (first) packet: 0 for a command, 1 for the first
    /// packet of its response.
    pub seq: u8,
    /// Sequence id of the last packet joined into this one (= `seq` unless
    /// the payload was 0xffffff bytes or more).
    pub last_seq: u8,
    /// Payload length, continuations included.
    pub len: usize,
    /// The payload's first bytes: at most [`KEPT_REQUEST_BYTES`],
    /// [`KEPT_RESPONSE_BYTES`] or [`KEPT_ERROR_BYTES`].
    pub payload: Vec<u8>,
    /// A client command, which gets a record. False for the client's other
    /// packets (handshake, authentication data, LOCAL INFILE data, whose
    /// sequence ids wrap to 0 past 255 packets) and for server packets.
    pub command: bool,
}

/// `resp_status` (Pixie's `RespStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespStatus {
    /// A response that is neither OK nor an error (e.g. a lone EOF-less
    /// packet of an unsupported command).
    Unknown = 0,
    /// The command has no response: COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA,
    /// COM_QUIT.
    None = 1,
    /// OK, EOF, a complete result set or PREPARE_OK.
    Ok = 2,
    /// An ERR packet, alone or ending a result set.
    Err = 3,
}

impl RespStatus {
    /// The column value.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// One `mysql_events` row (without the connection columns and `latency`,
/// which come from the tracker and the `Exchange`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlRecord {
    /// `req_cmd`: the command byte (COM_QUERY = 0x03 …).
    pub req_cmd: u8,
    /// `req_body`: the text of COM_QUERY, COM_STMT_PREPARE, COM_INIT_DB,
    /// COM_CREATE_DB, COM_DROP_DB, the table of COM_FIELD_LIST; for
    /// COM_STMT_EXECUTE the prepared text then `[params: v1, v2]` (strings
    /// and dates quoted, NULL as `NULL`, `...` for values that could not be
    /// decoded), or `Execute stmt_id=N` when the PREPARE was not seen;
    /// empty for other commands. At most [`MAX_BODY_BYTES`] (+ marker).
    pub req_body: String,
    /// `resp_status`.
    pub resp_status: RespStatus,
    /// `resp_body`: an error as `ERROR code (sqlstate): message`; a result
    /// set as `Resultset rows = N`; an OK as `Affected rows = N[, info]`, or
    /// empty when it affected nothing and says nothing; the parts of a
    /// multi-result response joined by `, `. At most [`MAX_BODY_BYTES`].
    pub resp_body: String,
}

/// What a connection remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MysqlState {
    /// Body column size.
    pub limits: Limits,
    /// Capability flags of the server greeting, if it was seen.
    server_caps: Option<u32>,
    /// Capability flags of the client's HandshakeResponse (or SSLRequest).
    client_caps: Option<u32>,
    /// Whether CLIENT_DEPRECATE_EOF is on, as a result set showed it when the
    /// handshake was not seen.
    eof_learned: Option<bool>,
    /// Sequence id of the last client packet that further client packets
    /// may continue (handshake, authentication data, a COM_QUERY that LOCAL
    /// INFILE data may follow, that data, COM_CHANGE_USER); `None` after
    /// other commands and after the empty packet that ends LOCAL INFILE data.
    client_seq: Option<u8>,
    /// Sequence id of the last server packet.
    server_seq: Option<u8>,
    /// Prepared statements by id.
    statements: BTreeMap<u32, PreparedStatement>,
    /// The statement prepared last: MariaDB's COM_STMT_EXECUTE may name it
    /// with id 0xffffffff.
    last_prepared: Option<u32>,
}

impl MysqlState {
    /// A connection's start, with these column sizes.
    pub fn with_limits(limits: Limits) -> MysqlState {
        MysqlState { limits, ..Default::default() }
    }
}

/// A statement prepared on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PreparedStatement {
    /// Its text, already cut to [`MAX_BODY_BYTES`].
    query: String,
    /// Placeholders, from PREPARE_OK.
    num_params: u16,
    /// Parameter types bound by the last COM_STMT_EXECUTE that sent them
    /// (later executes may reuse them); at most [`MAX_DECODED_PARAMS`].
    param_types: Vec<ParamType>,
    /// Parameters sent by COM_STMT_SEND_LONG_DATA since the last execute:
    /// their values are not in the execute packet.
    long_data: Vec<u16>,
}

/// The type of a bound parameter: MYSQL_TYPE_* and the unsigned flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ParamType {
    code: u8,
    unsigned: bool,
}

impl PreparedStatement {
    fn new(query: String, num_params: u16) -> Self {
        PreparedStatement { query, num_params, param_types: Vec::new(), long_data: Vec::new() }
    }
}

impl MysqlState {
    /// Whether a capability is in use: known when the client's flags were
    /// seen, or when the server's lack it.
    fn cap(&self, flag: u32) -> Option<bool> {
        match (self.client_caps, self.server_caps) {
            (Some(client), server) => Some(client & flag != 0 && server.is_none_or(|s| s & flag != 0)),
            (None, Some(server)) if server & flag == 0 => Some(false),
            _ => None,
        }
    }

    /// Whether result sets and PREPARE_OK end their definitions without an
    /// EOF packet and end rows with an OK packet.
    fn deprecate_eof(&self) -> Option<bool> {
        self.cap(wire::CLIENT_DEPRECATE_EOF).or(self.eof_learned)
    }

    fn remember(&mut self, id: u32, statement: PreparedStatement) {
        self.statements.insert(id, statement);
        if self.statements.len() > MAX_STATEMENTS {
            self.statements.pop_first();
        }
        self.last_prepared = Some(id);
    }
}

impl Protocol for Mysql {
    type Frame = MysqlPacket;
    type Record = MysqlRecord;
    type State = MysqlState;

    /// Requests: a command packet (sequence id 0, a COM_* byte a client
    /// sends, a length that command can have), or a handshake or
    /// authentication or LOCAL INFILE packet continuing the client's last
    /// one. Responses: the greeting, the first packet of a response (OK,
    /// ERR, EOF, column count, LOCAL INFILE request, with plausible
    /// lengths), or a packet continuing the server's last one. Anything else
    /// is Invalid.
    fn parse_frame(kind: MessageType, buf: &[u8], state: &mut MysqlState) -> ParseState<MysqlPacket> {
        frame::parse_frame(kind, buf, state)
    }

    /// The first position at or after `from` with a command header
    /// (requests) or the header of a response's first packet (responses).
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
        frame::find_boundary(kind, buf, from)
    }

    /// Pairs each command with the response packets that follow it, in
    /// order (MySQL has one command in flight per connection). MariaDB
    /// progress reports (ERR 0xffff) inside a response are skipped.
    ///
    /// The response's extent is read from its packets: ERR, OK (plus
    /// whatever follows when its status says more results exist), a result
    /// set through the EOF/OK/ERR after its rows (again continued while
    /// SERVER_MORE_RESULTS_EXISTS is set), PREPARE_OK through its parameter
    /// and column definitions. Its packets must carry consecutive sequence
    /// ids from 1 and may not start after the next command was sent.
    ///
    /// Commands without a response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA,
    /// COM_QUIT) give a record at once, status None, latency 0. A command
    /// waits while its response may still grow; once a later command was
    /// sent its response is final, and a missing or broken one drops the
    /// command (counted). Responses sent before their command, or
    /// continuation packets whose start was dropped, are dropped; only
    /// response starts are counted. Client packets other than commands
    /// (handshake, auth data, LOCAL INFILE data) and the server's handshake
    /// packets are dropped without counting.
    fn stitch(
        requests: &mut VecDeque<Timed<MysqlPacket>>,
        responses: &mut VecDeque<Timed<MysqlPacket>>,
        state: &mut MysqlState,
    ) -> Stitched<MysqlRecord> {
        stitch::stitch(requests, responses, state)
    }
}
