//! Redis: RESP2 and RESP3 (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//!
//! Records feed Pixie's `redis_events`: [`Record::req_cmd`] → `req_cmd`,
//! [`Record::req_args`] → `req_args`, [`Record::resp`] → `resp`, and
//! `latency` = [`Exchange::resp_ts_ns`] − [`Exchange::req_ts_ns`].
//!
//! Requests are arrays of bulk strings or inline command lines; responses
//! are any RESP value. Replies come in request order, one per command, so
//! pipelines and MULTI/EXEC (a `QUEUED` per command, the array for EXEC) pair
//! by order. The exceptions are handled in [`Redis::stitch`]: a subscribe
//! command gets one confirmation per channel, the server pushes pub/sub
//! messages (and RESP3 pushes) on its own, and some commands get no reply.

mod command;
mod wire;

use std::collections::VecDeque;

pub use command::{Command, REDACTED};

use crate::{Exchange, MessageType, ParseState, Protocol, Stitched, Timed};
use wire::{Stop, Text};

/// Longest `req_args` and `resp` text kept (Pixie's body limit, §4 of the
/// table reference); longer text is cut with the truncation marker.
pub const MAX_TEXT_BYTES: usize = 512;
/// Longest bulk string accepted: Redis's own default (`proto-max-bulk-len`).
pub const MAX_BULK_BYTES: usize = 512 * 1024 * 1024;
/// Most elements in one array, set, push or map (pairs), and most words in
/// one command (Redis refuses longer commands from unauthenticated clients).
pub const MAX_ELEMENTS: usize = 1024 * 1024;
/// Deepest nesting of aggregates accepted; a parse recurses once per level.
pub const MAX_DEPTH: usize = 32;
/// Longest simple string, error, double or big number line.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest inline command line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_BYTES: usize = 64 * 1024;
/// How null values (RESP2 null bulk string and array, RESP3 `_`) read.
pub const NULL_TEXT: &str = "<NULL>";
/// `req_cmd` of records made of a message the server pushed (Pixie's name).
pub const PUSH_CMD: &str = "PUSH PUB";

/// Redis RESP2/RESP3.
pub struct Redis;

/// One parsed message.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// What a client sends.
    Command(Command),
    /// What the server sends.
    Reply(Reply),
}

/// One value the server sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The value as text (becomes `resp`): simple and bulk strings as they
    /// are, errors with their dash (`-ERR …`, blob errors too), integers,
    /// doubles and big numbers in decimal, `true`/`false`, [`NULL_TEXT`],
    /// arrays and pushes `[a, b]`, sets `{a, b}`, maps `{k: v}`, verbatim
    /// strings without their format, an attribute as `|{k: v}| ` before its
    /// value. Cut to [`MAX_TEXT_BYTES`].
    pub text: String,
    /// A RESP3 push (`>`), which the server sends on its own.
    pub push: bool,
    /// Pub/sub traffic, told by its shape.
    pub pubsub: Option<PubSub>,
}

/// An array or push shaped like pub/sub traffic.
#[derive(Clone, Debug, PartialEq)]
pub enum PubSub {
    /// `message`, `smessage` or `pmessage`: a published message.
    Message,
    /// A subscribe-family confirmation.
    Confirmation {
        /// `subscribe`, `unsubscribe`, `psubscribe` …, in lower case.
        verb: &'static str,
        /// No channel: an unsubscribe-all while subscribed to none.
        channel_null: bool,
        /// Subscriptions left after it.
        count: i64,
    },
}

/// One row of `redis_events` (without the shared columns and `latency`,
/// which the [`Exchange`] carries).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// `req_cmd`: [`Command::name`], or [`PUSH_CMD`] for a pushed message.
    pub req_cmd: String,
    /// `req_args`: [`Command::args_json`]; empty for a pushed message.
    pub req_args: String,
    /// `resp`: [`Reply::text`]; the confirmations of a subscribe command
    /// joined by `, `; empty for a command that gets no reply.
    pub resp: String,
}

/// `CLIENT REPLY` mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every command gets its reply.
    #[default]
    On,
    /// No command gets one until `CLIENT REPLY ON`.
    Off,
    /// The next command gets no reply.
    SkipNext,
}

/// What a connection remembers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// In pub/sub mode: RESP2 arrays shaped like messages are pushes, not
    /// replies. Set by a subscribe confirmation with subscriptions left or by
    /// a message no request could have asked for; cleared when none are left
    /// or by RESET.
    pub subscribed: bool,
    /// Whether commands get replies (`CLIENT REPLY ON|OFF|SKIP`).
    pub reply_mode: ReplyMode,
}

impl State {
    /// Whether the server answers `cmd`, now.
    fn expects_reply(&self, cmd: &Command) -> bool {
        match cmd.name.as_str() {
            "REPLCONF ACK" => false,
            "CLIENT REPLY" if cmd.first_arg_is("ON") => true,
            "CLIENT REPLY" if cmd.first_arg_is("OFF") || cmd.first_arg_is("SKIP") => false,
            _ => self.reply_mode == ReplyMode::On,
        }
    }

    /// Follows the mode changes a command makes once it is done.
    fn note(&mut self, cmd: &Command) {
        match cmd.name.as_str() {
            "CLIENT REPLY" if cmd.first_arg_is("ON") => self.reply_mode = ReplyMode::On,
            "CLIENT REPLY" if cmd.first_arg_is("OFF") => self.reply_mode = ReplyMode::Off,
            "CLIENT REPLY" if cmd.first_arg_is("SKIP") && self.reply_mode == ReplyMode::On => {
                self.reply_mode = ReplyMode::SkipNext;
            }
            "RESET" => *self = State::default(),
            _ if self.reply_mode == ReplyMode::SkipNext => self.reply_mode = ReplyMode::On,
            _ => {}
        }
    }
}

impl Frame {
    fn command(&self) -> Option<&Command> {
        match self {
            Frame::Command(cmd) => Some(cmd),
            Frame::Reply(_) => None,
        }
    }

    fn confirmation(&self) -> Option<(&'static str, bool, i64)> {
        match self {
            Frame::Reply(Reply { pubsub: Some(PubSub::Confirmation { verb, channel_null, count }), .. }) => {
                Some((verb, *channel_null, *count))
            }
            _ => None,
        }
    }
}

/// The confirmation verb of a subscribe-family command.
fn subscription_verb(cmd: &Command) -> Option<&'static str> {
    wire::SUBSCRIPTION_VERBS.into_iter().find(|verb| cmd.name.eq_ignore_ascii_case(verb))
}

/// What to do with the fronts of the queues.
#[derive(Debug, PartialEq)]
enum Step {
    /// Nothing can be decided before more frames arrive.
    Wait,
    DropRequest,
    DropResponse,
    /// The front command gets no reply: a record of its own.
    NoReply,
    /// The front reply was pushed by the server: a record of its own.
    Push,
    /// The front command with this many replies.
    Replies(usize),
}

/// How many confirmations at the front of `responses` answer a subscribe
/// command: one per channel named, or for an unsubscribe-all, up to the one
/// that leaves none (or names none) or up to a reply that is not one. `None`
/// when the first reply is not a confirmation (an error, `QUEUED`).
fn confirmations(responses: &VecDeque<Timed<Frame>>, verb: &str, expected: usize) -> Option<Step> {
    let mut n = 0;
    for response in responses {
        match response.frame.confirmation() {
            Some((got, channel_null, count)) if got == verb => {
                n += 1;
                let last = if expected > 0 { n == expected } else { channel_null || count == 0 };
                if last {
                    return Some(Step::Replies(n));
                }
            }
            _ => return (n > 0).then_some(Step::Replies(n)),
        }
    }
    Some(Step::Wait)
}

fn next_step(requests: &VecDeque<Timed<Frame>>, responses: &VecDeque<Timed<Frame>>, state: &State) -> Step {
    match requests.front().map(|req| req.frame.command()) {
        Some(None) => return Step::DropRequest,
        Some(Some(cmd)) if !state.expects_reply(cmd) => return Step::NoReply,
        _ => {}
    }
    let Some(resp) = responses.front() else { return Step::Wait };
    let Frame::Reply(reply) = &resp.frame else { return Step::DropResponse };
    // A reply older than the first waiting request answers none of them.
    let cmd = requests.front().filter(|req| req.ts_ns <= resp.ts_ns).and_then(|req| req.frame.command());
    if let Some(cmd) = cmd
        && let Some(verb) = subscription_verb(cmd)
        && let Some(step) = confirmations(responses, verb, cmd.arg_count)
    {
        return step;
    }
    let message = reply.pubsub == Some(PubSub::Message);
    if reply.push || (message && (state.subscribed || cmd.is_none())) {
        Step::Push
    } else if cmd.is_some() {
        Step::Replies(1)
    } else {
        Step::DropResponse
    }
}

impl Protocol for Redis {
    type Frame = Frame;
    type Record = Record;
    type State = State;

    fn parse_frame(kind: MessageType, buf: &[u8], _state: &mut State) -> ParseState<Frame> {
        let parsed = match kind {
            MessageType::Request => wire::command(buf).map(|(cmd, n)| (Frame::Command(cmd), n)),
            MessageType::Response => wire::reply(buf).map(|(reply, n)| (Frame::Reply(reply), n)),
        };
        match parsed {
            Ok((frame, consumed)) => ParseState::Frame { frame, consumed },
            Err(Stop::More) => ParseState::NeedsMoreData,
            Err(Stop::Invalid) => ParseState::Invalid,
        }
    }

    /// A line start (after CRLF) beginning with a RESP type byte; for
    /// requests, with `*` (inline commands cannot be told from data).
    fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
        let starts = |byte: u8| match kind {
            MessageType::Request => byte == b'*',
            MessageType::Response => b"*+-:$_,#!=(%~|>".contains(&byte),
        };
        // At or after `from`: a type byte at the start of the buffer or of a line.
        (from..buf.len()).find(|&i| starts(buf[i]) && (i == 0 || buf[..i].ends_with(b"\r\n")))
    }

    fn stitch(
        requests: &mut VecDeque<Timed<Frame>>,
        responses: &mut VecDeque<Timed<Frame>>,
        state: &mut State,
    ) -> Stitched<Record> {
        let mut done = Stitched::default();
        loop {
            match next_step(requests, responses, state) {
                Step::Wait => break,
                Step::DropRequest => {
                    requests.pop_front();
                    done.unmatched += 1;
                }
                Step::DropResponse => {
                    responses.pop_front();
                    done.unmatched += 1;
                }
                Step::NoReply => {
                    if let Some(Timed { ts_ns, frame: Frame::Command(cmd) }) = requests.pop_front() {
                        done.records.push(answer(cmd, ts_ns, Vec::new(), state));
                    }
                }
                Step::Push => {
                    if let Some(Timed { ts_ns, frame: Frame::Reply(reply) }) = responses.pop_front() {
                        // A message nothing asked for: the client subscribed
                        // before the capture began.
                        state.subscribed |= reply.pubsub == Some(PubSub::Message);
                        let record = Record { req_cmd: PUSH_CMD.to_owned(), req_args: String::new(), resp: reply.text };
                        done.records.push(Exchange { req_ts_ns: ts_ns, resp_ts_ns: ts_ns, record });
                    }
                }
                Step::Replies(n) => {
                    if let Some(Timed { ts_ns, frame: Frame::Command(cmd) }) = requests.pop_front() {
                        let replies = responses.drain(..n.min(responses.len())).collect();
                        done.records.push(answer(cmd, ts_ns, replies, state));
                    }
                }
            }
        }
        done
    }
}

/// The record of a command and its replies: none (latency 0), one, or a
/// subscribe command's confirmations.
fn answer(cmd: Command, req_ts_ns: u64, replies: Vec<Timed<Frame>>, state: &mut State) -> Exchange<Record> {
    let resp_ts_ns = replies.first().map_or(req_ts_ns, |reply| reply.ts_ns);
    let mut text = Text::default();
    for (i, reply) in replies.iter().enumerate() {
        if let Frame::Reply(reply) = &reply.frame {
            text.push(if i == 0 { "" } else { ", " });
            text.push(&reply.text);
        }
    }
    if let Some((_, _, count)) = replies.last().and_then(|reply| reply.frame.confirmation())
        && subscription_verb(&cmd).is_some()
    {
        state.subscribed = count > 0;
    }
    state.note(&cmd);
    let req_args = cmd.args_json();
    Exchange { req_ts_ns, resp_ts_ns, record: Record { req_cmd: cmd.name, req_args, resp: text.finish() } }
}

#[cfg(test)]
mod tests;
