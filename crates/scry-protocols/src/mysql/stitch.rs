//! Pairing commands with their responses (rules in [`super::Mysql::stitch`]).

use std::collections::VecDeque;

use super::request::consume;
use super::response::{Cursor, Stop, walk};
use super::wire::{COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA};
use super::{MysqlPacket, MysqlRecord, MysqlState, RespStatus};
use crate::{Exchange, Stitched, Timed, truncate};

pub(super) fn stitch(
    requests: &mut VecDeque<Timed<MysqlPacket>>,
    responses: &mut VecDeque<Timed<MysqlPacket>>,
    state: &mut MysqlState,
) -> Stitched<MysqlRecord> {
    let mut out = Stitched::default();
    loop {
        // Handshake, authentication and LOCAL INFILE packets of the client.
        while requests.front().is_some_and(|r| !r.frame.command) {
            requests.pop_front();
        }
        let Some(request) = requests.front() else { break };
        let req_ts_ns = request.ts_ns;
        let Some(req_cmd) = request.frame.first() else {
            requests.pop_front();
            out.unmatched += 1;
            continue;
        };
        if matches!(req_cmd, COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA) {
            let req_body = truncate(&consume(&request.frame, None, state), state.limits.body_bytes);
            let record = MysqlRecord { req_cmd, req_body, resp_status: RespStatus::None, resp_body: String::new() };
            out.records.push(Exchange { req_ts_ns, resp_ts_ns: req_ts_ns, record });
            requests.pop_front();
            continue;
        }
        out.unmatched += drop_stale(responses, req_ts_ns);
        // A client sends its next command only once the response is
        // complete, so nothing sent after that command belongs to this one.
        let next_ts = requests.iter().skip(1).find(|r| r.frame.command).map(|r| r.ts_ns);
        let end = next_ts.map_or(responses.len(), |next| responses.iter().take_while(|r| r.ts_ns <= next).count());
        let mut cursor = Cursor::new(responses, end, next_ts.is_some());
        let walked = walk(req_cmd, &mut cursor, state);
        let used = cursor.used();
        match walked {
            Err(Stop::Wait) => break,
            Err(Stop::Broken) => {
                consume(&request.frame, None, state);
                out.unmatched += 1 + u64::from(used > 0);
            }
            Ok(outcome) => {
                let resp_ts_ns = responses.front().map_or(req_ts_ns, |r| r.ts_ns);
                let req_body = truncate(&consume(&request.frame, Some(&outcome), state), state.limits.body_bytes);
                let resp_body = truncate(&outcome.body, state.limits.body_bytes);
                let record = MysqlRecord { req_cmd, req_body, resp_status: outcome.status, resp_body };
                out.records.push(Exchange { req_ts_ns, resp_ts_ns, record });
            }
        }
        requests.pop_front();
        responses.drain(..used);
    }
    out
}

/// Drops the responses that cannot answer a command sent at `req_ts_ns`:
/// those sent before it, and packets that do not start a response
/// (continuations of a response whose start was dropped or lost, the
/// server's handshake packets). Returns how many response starts it dropped.
fn drop_stale(responses: &mut VecDeque<Timed<MysqlPacket>>, req_ts_ns: u64) -> u64 {
    let mut starts = 0;
    while let Some(front) = responses.front() {
        let start = front.frame.seq == 1;
        if start && front.ts_ns >= req_ts_ns {
            break;
        }
        starts += u64::from(start);
        responses.pop_front();
    }
    starts
}
