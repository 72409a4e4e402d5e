//! Which packets make up the response to one command, and what they say.

use std::collections::VecDeque;

use super::wire::{
    CLIENT_SESSION_TRACK, COM_CHANGE_USER, COM_FIELD_LIST, COM_PROCESS_INFO, COM_QUERY, COM_STMT_EXECUTE,
    COM_STMT_FETCH, COM_STMT_PREPARE, EOF, ERR, LOCAL_INFILE, OK, Reader, SERVER_MORE_RESULTS_EXISTS,
    SERVER_STATUS_CURSOR_EXISTS, lossy,
};
use super::{MAX_TEXT_BYTES, MysqlPacket, MysqlState, RespStatus};
use crate::{Timed, truncate};

/// Why a response could not be read to its end.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// Its next packet has not arrived yet.
    Wait,
    /// It cannot be completed: a packet is missing or does not fit.
    Broken,
}

/// The response to a command.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) status: RespStatus,
    pub(super) body: String,
    /// Statement id and parameter count of a PREPARE_OK.
    pub(super) prepared: Option<(u32, u16)>,
}

/// The response packets a command may take: those before `end`, in order,
/// with consecutive sequence ids from 1. `sealed` says no packet will join
/// them (a later command was sent), so running out means the response ended
/// or is broken rather than unfinished.
pub(super) struct Cursor<'a> {
    frames: &'a VecDeque<Timed<MysqlPacket>>,
    end: usize,
    sealed: bool,
    pos: usize,
    last_seq: Option<u8>,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(frames: &'a VecDeque<Timed<MysqlPacket>>, end: usize, sealed: bool) -> Self {
        Cursor { frames, end, sealed, pos: 0, last_seq: None }
    }

    /// How many packets were taken.
    pub(super) fn used(&self) -> usize {
        self.pos
    }

    /// The next packet at all, past MariaDB progress reports (which take a
    /// sequence id but say nothing about the response).
    fn candidate(&mut self) -> Result<Option<&'a MysqlPacket>, Stop> {
        loop {
            if self.pos >= self.end {
                return if self.sealed { Ok(None) } else { Err(Stop::Wait) };
            }
            let packet = self.frames.get(self.pos).map(|t| &t.frame);
            match packet {
                Some(progress) if progress.is_progress() => {
                    self.take(progress);
                }
                other => return Ok(other),
            }
        }
    }

    /// The next packet if it continues the response; `None` if the response
    /// has no more packets.
    fn peek(&mut self) -> Result<Option<&'a MysqlPacket>, Stop> {
        let candidate = self.candidate()?;
        let expected = self.last_seq.map_or(1, |last| last.wrapping_add(1));
        Ok(candidate.filter(|p| p.seq == expected))
    }

    fn next(&mut self) -> Result<&'a MysqlPacket, Stop> {
        let packet = self.peek()?.ok_or(Stop::Broken)?;
        Ok(self.take(packet))
    }

    /// The next packet when client packets came in between (LOCAL INFILE
    /// data, authentication rounds): its sequence id only has to be higher.
    fn next_after_client(&mut self) -> Result<&'a MysqlPacket, Stop> {
        let last = self.last_seq;
        let packet = self.candidate()?.filter(|p| last.is_none_or(|last| p.seq > last));
        Ok(self.take(packet.ok_or(Stop::Broken)?))
    }

    fn take(&mut self, packet: &'a MysqlPacket) -> &'a MysqlPacket {
        self.pos += 1;
        self.last_seq = Some(packet.last_seq);
        packet
    }
}

/// Reads the response to `cmd`; PREPARE_OK and result sets may teach
/// `state` whether CLIENT_DEPRECATE_EOF is on.
pub(super) fn walk(cmd: u8, cur: &mut Cursor<'_>, state: &mut MysqlState) -> Result<Outcome, Stop> {
    match cmd {
        COM_QUERY | COM_STMT_EXECUTE | COM_PROCESS_INFO => results(cur, state),
        COM_STMT_PREPARE => prepare(cur, state),
        COM_STMT_FETCH => {
            let part = rows(cur, state)?;
            Ok(conclude(Vec::new(), part))
        }
        COM_FIELD_LIST => field_list(cur),
        COM_CHANGE_USER => change_user(cur, state),
        _ => {
            let packet = cur.next()?;
            Ok(match reply(packet, state) {
                Some(part) => conclude(Vec::new(), part),
                None => Outcome { status: RespStatus::Unknown, body: String::new(), prepared: None },
            })
        }
    }
}

/// One result of a (possibly multi-result) response.
enum Part<'a> {
    Done { text: String, flags: u16 },
    Failed(&'a MysqlPacket),
}

/// The outcome of results whose texts are `texts` and whose last is `last`.
fn conclude(mut texts: Vec<String>, last: Part<'_>) -> Outcome {
    let status = match last {
        Part::Done { text, .. } => {
            texts.push(text);
            RespStatus::Ok
        }
        Part::Failed(err) => {
            texts.push(err_text(err));
            RespStatus::Err
        }
    };
    texts.retain(|text| !text.is_empty());
    Outcome { status, body: truncate(&texts.join(", "), MAX_TEXT_BYTES), prepared: None }
}

/// COM_QUERY, COM_STMT_EXECUTE: OK, ERR, LOCAL INFILE or a result set, and
/// more of them while the status says more results exist (multi-statement
/// queries, stored procedures).
fn results(cur: &mut Cursor<'_>, state: &mut MysqlState) -> Result<Outcome, Stop> {
    let mut texts = Vec::new();
    loop {
        let first = cur.next()?;
        let part = match first.first() {
            Some(OK | EOF | ERR) => reply(first, state).ok_or(Stop::Broken)?,
            Some(LOCAL_INFILE) => reply(cur.next_after_client()?, state).ok_or(Stop::Broken)?,
            _ => resultset(first, cur, state)?,
        };
        match part {
            Part::Done { text, flags } if flags & SERVER_MORE_RESULTS_EXISTS != 0 => texts.push(text),
            last => return Ok(conclude(texts, last)),
        }
    }
}

/// A packet that is a whole reply: OK, EOF or ERR.
fn reply<'a>(packet: &'a MysqlPacket, state: &MysqlState) -> Option<Part<'a>> {
    match packet.first()? {
        ERR => Some(Part::Failed(packet)),
        OK => {
            let ok = OkPacket::read(packet, state);
            Some(Part::Done { text: ok.text(), flags: ok.status })
        }
        EOF => Some(Part::Done { text: String::new(), flags: end_status(packet, state) }),
        _ => None,
    }
}

/// A result set after its column-count packet `first`.
fn resultset<'a>(first: &MysqlPacket, cur: &mut Cursor<'a>, state: &mut MysqlState) -> Result<Part<'a>, Stop> {
    let (columns, metadata) = column_count(first).ok_or(Stop::Broken)?;
    if metadata {
        definitions(cur, columns)?;
    }
    if let Some(eof) = definitions_eof(cur, state)? {
        // A cursor was opened (COM_STMT_EXECUTE with a cursor flag): rows
        // come with COM_STMT_FETCH.
        let flags = end_status(eof, state);
        if flags & SERVER_STATUS_CURSOR_EXISTS != 0 {
            return Ok(Part::Done { text: "Cursor opened".to_owned(), flags });
        }
    }
    rows(cur, state)
}

/// Column count, and whether column definitions follow (always, unless
/// CLIENT_OPTIONAL_RESULTSET_METADATA added a byte that says they don't).
fn column_count(packet: &MysqlPacket) -> Option<(u64, bool)> {
    let mut r = Reader::new(&packet.payload);
    let columns = r.lenenc().filter(|&n| n > 0)?;
    match r.rest() {
        [] => Some((columns, true)),
        &[metadata] => Some((columns, metadata != 0)),
        _ => None,
    }
}

/// `count` column or parameter definitions.
fn definitions(cur: &mut Cursor<'_>, count: u64) -> Result<(), Stop> {
    for _ in 0..count {
        let packet = cur.next()?;
        if packet.is_err() || packet.is_end() {
            return Err(Stop::Broken);
        }
    }
    Ok(())
}

/// The EOF after definitions, which CLIENT_DEPRECATE_EOF removes. When the
/// handshake was not seen, the packet after the definitions tells, and is
/// remembered.
fn definitions_eof<'a>(cur: &mut Cursor<'a>, state: &mut MysqlState) -> Result<Option<&'a MysqlPacket>, Stop> {
    match state.deprecate_eof() {
        Some(true) => Ok(None),
        Some(false) => match cur.next()? {
            eof if eof.is_eof() => Ok(Some(eof)),
            _ => Err(Stop::Broken),
        },
        None => match cur.peek()? {
            Some(eof) if eof.is_eof() => {
                state.eof_learned = Some(false);
                cur.next().map(Some)
            }
            Some(_) => {
                state.eof_learned = Some(true);
                Ok(None)
            }
            None => Ok(None),
        },
    }
}

/// Rows up to the EOF or OK that ends them, or the ERR that aborts them.
fn rows<'a>(cur: &mut Cursor<'a>, state: &MysqlState) -> Result<Part<'a>, Stop> {
    let mut count: u64 = 0;
    loop {
        let packet = cur.next()?;
        if packet.is_err() {
            return Ok(Part::Failed(packet));
        }
        if packet.is_end() {
            return Ok(Part::Done { text: format!("Resultset rows = {count}"), flags: end_status(packet, state) });
        }
        count += 1;
    }
}

/// COM_STMT_PREPARE: ERR, or PREPARE_OK then the parameter definitions and
/// the column definitions, each followed by an EOF unless
/// CLIENT_DEPRECATE_EOF.
fn prepare(cur: &mut Cursor<'_>, state: &mut MysqlState) -> Result<Outcome, Stop> {
    let first = cur.next()?;
    if first.is_err() {
        return Ok(conclude(Vec::new(), Part::Failed(first)));
    }
    // 0x00, statement id (4), columns (2), parameters (2), filler, warnings.
    let mut r = Reader::new(first.payload.get(1..).unwrap_or_default());
    let (Some(OK), true, Some(id), Some(columns), Some(params)) =
        (first.first(), first.len >= 12, r.u32(), r.u16(), r.u16())
    else {
        return Err(Stop::Broken);
    };
    for count in [params, columns] {
        if count > 0 {
            definitions(cur, count.into())?;
            definitions_eof(cur, state)?;
        }
    }
    Ok(Outcome { status: RespStatus::Ok, body: String::new(), prepared: Some((id, params)) })
}

/// COM_FIELD_LIST: ERR, or column definitions up to an EOF (or OK).
fn field_list(cur: &mut Cursor<'_>) -> Result<Outcome, Stop> {
    loop {
        let packet = cur.next()?;
        if packet.is_err() {
            return Ok(conclude(Vec::new(), Part::Failed(packet)));
        }
        if packet.is_end() {
            return Ok(Outcome { status: RespStatus::Ok, body: String::new(), prepared: None });
        }
    }
}

/// COM_CHANGE_USER: authentication rounds (auth switch, more data) until
/// the OK or ERR.
fn change_user(cur: &mut Cursor<'_>, state: &MysqlState) -> Result<Outcome, Stop> {
    loop {
        let packet = cur.next_after_client()?;
        if matches!(packet.first(), Some(OK | ERR))
            && let Some(part) = reply(packet, state)
        {
            return Ok(conclude(Vec::new(), part));
        }
    }
}

/// Status flags of the EOF or OK that ends rows.
fn end_status(packet: &MysqlPacket, state: &MysqlState) -> u16 {
    if packet.is_eof() {
        // 0xfe, warnings (2), status (2).
        Reader::new(packet.payload.get(3..).unwrap_or_default()).u16().unwrap_or(0)
    } else {
        OkPacket::read(packet, state).status
    }
}

/// The fields of an OK packet (0x00, or 0xfe in place of an EOF).
struct OkPacket {
    affected_rows: u64,
    status: u16,
    info: String,
}

impl OkPacket {
    fn read(packet: &MysqlPacket, state: &MysqlState) -> Self {
        let mut r = Reader::new(packet.payload.get(1..).unwrap_or_default());
        let affected_rows = r.lenenc().unwrap_or(0);
        let _last_insert_id = r.lenenc();
        let status = r.u16().unwrap_or(0);
        let _warnings = r.u16();
        let rest = r.rest();
        // With CLIENT_SESSION_TRACK the info is length-encoded (session state
        // may follow); without, it is the rest of the packet. Unknown: the
        // info texts servers send ("Rows matched: …", "Records: …") begin
        // with a letter whose value exceeds what is left, so a first byte
        // that fits as a length means a length.
        let lenenc = state
            .cap(CLIENT_SESSION_TRACK)
            .unwrap_or_else(|| rest.first().is_some_and(|&n| n <= 0xfa && usize::from(n) < rest.len()));
        let info = if lenenc { Reader::new(rest).lenenc_bytes().unwrap_or_default() } else { rest };
        OkPacket { affected_rows, status, info: lossy(info).into_owned() }
    }

    fn text(&self) -> String {
        match (self.affected_rows, self.info.is_empty()) {
            (0, true) => String::new(),
            (rows, true) => format!("Affected rows = {rows}"),
            (rows, false) => format!("Affected rows = {rows}, {}", self.info),
        }
    }
}

/// An ERR packet as the mysql client prints it: `ERROR code (sqlstate):
/// message`.
fn err_text(packet: &MysqlPacket) -> String {
    let mut r = Reader::new(packet.payload.get(1..).unwrap_or_default());
    let code = r.u16().unwrap_or(0);
    let message = r.rest();
    if let [b'#', marked @ ..] = message
        && let Some((sqlstate, text)) = marked.split_at_checked(5)
    {
        return format!("ERROR {code} ({}): {}", lossy(sqlstate), lossy(text));
    }
    format!("ERROR {code}: {}", lossy(message))
}
