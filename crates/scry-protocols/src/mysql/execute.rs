//! Bound values of the binary protocol: the parameters of
//! COM_STMT_EXECUTE, and the query attributes in front of a COM_QUERY.

use std::fmt::Write as _;

use super::wire::{CLIENT_QUERY_ATTRIBUTES, Reader, lossy};
use super::{MAX_DECODED_PARAMS, MAX_TEXT_BYTES, MysqlPacket, MysqlState, ParamType, PreparedStatement};
use crate::truncate;

/// COM_STMT_EXECUTE flag: a parameter count follows even without
/// parameters (query attributes).
const PARAMETER_COUNT_AVAILABLE: u8 = 0x08;

/// MariaDB's id for "the statement prepared last".
const LAST_PREPARED: u32 = u32::MAX;

/// `req_body` of a COM_STMT_EXECUTE: the statement's text and its values,
/// `SELECT * FROM t WHERE id = ? [params: 42]`. Remembers the types it binds
/// for later executes, which may omit them.
pub(super) fn execute(request: &MysqlPacket, state: &mut MysqlState) -> String {
    // 0x17, statement id (4), flags (1), iteration count (4).
    let mut r = Reader::new(request.payload.get(1..).unwrap_or_default());
    let (Some(id), Some(flags), Some(_iterations)) = (r.u32(), r.u8(), r.u32()) else {
        return String::new();
    };
    let id = if id == LAST_PREPARED { state.last_prepared.unwrap_or(id) } else { id };
    // With the handshake unseen, both layouts are tried: the right one
    // accounts for every byte of the packet.
    let layouts: &[bool] = match state.cap(CLIENT_QUERY_ATTRIBUTES) {
        Some(true) => &[true],
        Some(false) => &[false],
        None => &[false, true],
    };
    let complete = request.payload.len() >= request.len;
    let Some(statement) = state.statements.get_mut(&id) else {
        return format!("Execute stmt_id={id}");
    };
    let mut blocks = layouts.iter().map(|&attributes| params(r.clone(), flags, attributes, complete, statement));
    let first = blocks.next().unwrap_or_default();
    let block = if first.exact { first } else { blocks.find(|b| b.exact).unwrap_or(first) };

    if let Some(mut types) = block.bound {
        types.truncate(MAX_DECODED_PARAMS);
        statement.param_types = types;
    }
    statement.long_data.clear();
    if statement.num_params == 0 {
        return statement.query.clone();
    }
    let mut values = block.values;
    if values.len() < usize::from(statement.num_params) {
        values.push("...".to_owned());
    }
    truncate(&format!("{} [params: {}]", statement.query, values.join(", ")), MAX_TEXT_BYTES)
}

/// What was read of a block of bound values.
#[derive(Debug, Default)]
struct Block {
    /// Rendered values, at most [`MAX_DECODED_PARAMS`].
    values: Vec<String>,
    /// The types the block bound, if it bound new ones.
    bound: Option<Vec<ParamType>>,
    /// Every value was read.
    decoded_all: bool,
    /// Every value was read and nothing is left over (or the packet was cut,
    /// so that cannot be told).
    exact: bool,
}

/// The parameters of an execute whose fixed part `r` has passed, laid out
/// with or without query attributes.
fn params(mut r: Reader<'_>, flags: u8, attributes: bool, complete: bool, statement: &PreparedStatement) -> Block {
    let num_params = usize::from(statement.num_params);
    // With query attributes, the count (parameters then attributes) is sent
    // whenever there is something to count.
    let count = if attributes && (num_params > 0 || flags & PARAMETER_COUNT_AVAILABLE != 0) {
        match r.lenenc().and_then(|n| usize::try_from(n).ok()) {
            Some(count) if count >= num_params => count,
            _ => return Block::default(),
        }
    } else {
        num_params
    };
    let mut block = if count == 0 {
        Block { decoded_all: true, ..Block::default() }
    } else {
        read_block(&mut r, count, attributes, &statement.param_types, &statement.long_data)
    };
    block.exact = block.decoded_all && (r.rest().is_empty() || !complete);
    block.values.truncate(num_params);
    block
}

/// NULL bitmap, new-params-bound flag, types (with names when `named`), and
/// `count` values. Without new types, those of `stored` apply; parameters
/// in `long_data` have no value here.
fn read_block(r: &mut Reader<'_>, count: usize, named: bool, stored: &[ParamType], long_data: &[u16]) -> Block {
    let mut block = Block::default();
    let (Some(nulls), Some(new_types)) = (r.bytes(count.div_ceil(8)), r.u8()) else {
        return block;
    };
    if new_types == 1 {
        let mut types = Vec::new();
        for _ in 0..count {
            let (Some(code), Some(flags)) = (r.u8(), r.u8()) else { return block };
            if named && r.lenenc_bytes().is_none() {
                return block;
            }
            types.push(ParamType { code, unsigned: flags & 0x80 != 0 });
        }
        block.bound = Some(types);
    }
    let types = block.bound.as_deref().unwrap_or(stored);
    for i in 0..count {
        let value = if nulls.get(i / 8).is_some_and(|bits| bits & (1 << (i % 8)) != 0) {
            Some("NULL".to_owned())
        } else if u16::try_from(i).is_ok_and(|i| long_data.contains(&i)) {
            Some("<long data>".to_owned())
        } else {
            types.get(i).and_then(|&ty| value(r, ty))
        };
        let Some(value) = value else { return block };
        if i < MAX_DECODED_PARAMS {
            block.values.push(value);
        }
    }
    block.decoded_all = true;
    block
}

/// The query text after the query attributes of a COM_QUERY (parameter
/// count, parameter-set count, then a block whose types are named).
pub(super) fn skip_query_attributes(payload: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(payload);
    let count = usize::try_from(r.lenenc()?).ok()?;
    let _parameter_sets = r.lenenc()?;
    if count > 0 {
        read_block(&mut r, count, true, &[], &[]).decoded_all.then_some(())?;
    }
    Some(r.rest())
}

/// One non-NULL value of type `ty`, as SQL would write it.
fn value(r: &mut Reader<'_>, ty: ParamType) -> Option<String> {
    Some(match ty.code {
        // TINY, SHORT and YEAR, LONG and INT24, LONGLONG.
        0x01 => int(r, 1, ty.unsigned)?,
        0x02 | 0x0d => int(r, 2, ty.unsigned)?,
        0x03 | 0x09 => int(r, 4, ty.unsigned)?,
        0x08 => int(r, 8, ty.unsigned)?,
        0x04 => f32::from_le_bytes(r.array()?).to_string(),
        0x05 => f64::from_le_bytes(r.array()?).to_string(),
        0x06 => "NULL".to_owned(),
        // TIMESTAMP, DATE, DATETIME.
        0x07 | 0x0a | 0x0c => quoted(&datetime(r)?),
        0x0b => quoted(&time(r)?),
        // DECIMAL, VARCHAR, BIT, JSON, NEWDECIMAL, ENUM, SET, the BLOBs,
        // VAR_STRING, STRING, GEOMETRY: length-encoded bytes.
        0x00 | 0x0f | 0x10 | 0xf5..=0xff => {
            let bytes = r.lenenc_bytes()?;
            quoted(&lossy(bytes.get(..MAX_TEXT_BYTES).unwrap_or(bytes)))
        }
        _ => return None,
    })
}

fn quoted(text: &str) -> String {
    format!("'{text}'")
}

/// A little-endian integer of `size` bytes, sign-extended unless unsigned.
fn int(r: &mut Reader<'_>, size: usize, unsigned: bool) -> Option<String> {
    let raw = r.uint(size)?;
    if unsigned {
        return Some(raw.to_string());
    }
    let unused = 64 - 8 * size as u32;
    Some((((raw << unused) as i64) >> unused).to_string())
}

/// DATE / DATETIME / TIMESTAMP: a length (0, 4, 7 or 11), then year (2),
/// month, day, hour, minute, second, microseconds (4) as far as the length
/// goes.
fn datetime(r: &mut Reader<'_>) -> Option<String> {
    let len = r.u8()?;
    let mut d = Reader::new(r.bytes(len.into())?);
    let (year, month, day) = (d.u16().unwrap_or(0), d.u8().unwrap_or(0), d.u8().unwrap_or(0));
    let mut text = format!("{year:04}-{month:02}-{day:02}");
    if let (Some(hour), Some(minute), Some(second)) = (d.u8(), d.u8(), d.u8()) {
        let _ = write!(text, " {hour:02}:{minute:02}:{second:02}");
    }
    if let Some(micros) = d.u32() {
        let _ = write!(text, ".{micros:06}");
    }
    Some(text)
}

/// TIME: a length (0, 8 or 12), then sign, days (4), hour, minute, second,
/// microseconds (4); written as `[-]HHH:MM:SS[.ffffff]`.
fn time(r: &mut Reader<'_>) -> Option<String> {
    let len = r.u8()?;
    let mut t = Reader::new(r.bytes(len.into())?);
    let negative = t.u8() == Some(1);
    let days = t.u32().unwrap_or(0);
    let (hour, minute, second) = (t.u8().unwrap_or(0), t.u8().unwrap_or(0), t.u8().unwrap_or(0));
    let hours = u64::from(days) * 24 + u64::from(hour);
    let sign = if negative { "-" } else { "" };
    let mut text = format!("{sign}{hours:02}:{minute:02}:{second:02}");
    if let Some(micros) = t.u32() {
        let _ = write!(text, ".{micros:06}");
    }
    Some(text)
}
