//! The `req_body` of each command, and what a command changes in the
//! connection's prepared statements.

use super::execute::{execute, skip_query_attributes};
use super::response::Outcome;
use super::wire::{
    CLIENT_QUERY_ATTRIBUTES, COM_CHANGE_USER, COM_CREATE_DB, COM_DROP_DB, COM_FIELD_LIST, COM_INIT_DB, COM_QUERY,
    COM_RESET_CONNECTION, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE, COM_STMT_SEND_LONG_DATA, Reader, lossy,
};
use super::{MAX_DECODED_PARAMS, MAX_TEXT_BYTES, MysqlPacket, MysqlState, PreparedStatement, RespStatus};
use crate::truncate;

/// The request's `req_body`; applies its effect on `state` (a statement
/// prepared, closed, given long data or types, all of them dropped by a
/// reset). `outcome` is its response, `None` when it has none or it was
/// lost.
pub(super) fn consume(request: &MysqlPacket, outcome: Option<&Outcome>, state: &mut MysqlState) -> String {
    let mut r = Reader::new(request.payload.get(1..).unwrap_or_default());
    match request.first() {
        Some(COM_QUERY) => text(query_text(r.rest(), state)),
        Some(COM_INIT_DB | COM_CREATE_DB | COM_DROP_DB) => text(r.rest()),
        Some(COM_FIELD_LIST) => text(r.cstr().unwrap_or(r.rest())),
        Some(COM_STMT_PREPARE) => {
            let query = text(r.rest());
            if let Some((id, num_params)) = outcome.and_then(|o| o.prepared) {
                state.remember(id, PreparedStatement::new(query.clone(), num_params));
            }
            query
        }
        Some(COM_STMT_EXECUTE) => execute(request, state),
        Some(COM_STMT_CLOSE) => {
            if let Some(id) = r.u32() {
                state.statements.remove(&id);
            }
            String::new()
        }
        Some(COM_STMT_SEND_LONG_DATA) => {
            if let (Some(id), Some(param)) = (r.u32(), r.u16())
                && let Some(statement) = state.statements.get_mut(&id)
                && usize::from(param) < MAX_DECODED_PARAMS
                && !statement.long_data.contains(&param)
            {
                statement.long_data.push(param);
            }
            String::new()
        }
        // Both deallocate the connection's prepared statements.
        Some(COM_RESET_CONNECTION | COM_CHANGE_USER) => {
            if outcome.is_some_and(|o| o.status == RespStatus::Ok) {
                state.statements.clear();
                state.last_prepared = None;
            }
            String::new()
        }
        _ => String::new(),
    }
}

/// A text column value.
fn text(bytes: &[u8]) -> String {
    truncate(&lossy(bytes), MAX_TEXT_BYTES)
}

/// The SQL of a COM_QUERY, after the query attributes that
/// CLIENT_QUERY_ATTRIBUTES puts before it. Without the handshake, attributes
/// are recognized by their counts: a small parameter count, then a
/// parameter-set count of 1 — SQL text does not start with control bytes.
fn query_text<'a>(payload: &'a [u8], state: &MysqlState) -> &'a [u8] {
    let attributes = state.cap(CLIENT_QUERY_ATTRIBUTES).unwrap_or(matches!(payload, [0..=8, 1, ..]));
    if attributes { skip_query_attributes(payload).unwrap_or(payload) } else { payload }
}
