//! Runs one protocol's parser over a connection's two streams: frames are
//! cut from the front of each stream, stamped with the time of their first
//! byte, and stitched into request/response records.

use std::collections::VecDeque;

use scry_protocols::{MessageType, ParseState, Protocol, Stitched, Timed};

use super::stream::DataStream;

/// What parsing cost and found, per protocol (shown in `scry status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseCounts {
    pub frames: u64,
    /// Positions where no frame could start (then resynchronized).
    pub invalid: u64,
    /// Frames stitching could match with nothing.
    pub unmatched: u64,
    pub records: u64,
}

pub struct Parsing<P: Protocol> {
    pub state: P::State,
    /// What `state` starts from, and starts over from after a hole (limits,
    /// transport).
    initial: P::State,
    requests: VecDeque<Timed<P::Frame>>,
    responses: VecDeque<Timed<P::Frame>>,
    /// Frames older than these answer, or are answered by, bytes lost in a
    /// hole: they are dropped (counted unmatched) instead of mis-paired.
    requests_from: u64,
    responses_from: u64,
}

impl<P: Protocol> Default for Parsing<P> {
    fn default() -> Self {
        Parsing::new(P::State::default())
    }
}

impl<P: Protocol> Parsing<P> {
    pub fn new(initial: P::State) -> Self {
        Parsing {
            state: initial.clone(),
            initial,
            requests: VecDeque::new(),
            responses: VecDeque::new(),
            requests_from: 0,
            responses_from: 0,
        }
    }

    /// Parses every whole frame `stream` holds, as messages of `kind`.
    pub fn parse(&mut self, kind: MessageType, stream: &mut DataStream, counts: &mut ParseCounts) {
        loop {
            if stream.resync {
                match P::find_boundary(kind, stream.data(), 0) {
                    Some(at) => {
                        stream.consume(at);
                        stream.resync = false;
                    }
                    None => return,
                }
            }
            if stream.data().is_empty() {
                return;
            }
            match P::parse_frame(kind, stream.data(), &mut self.state) {
                ParseState::Frame { frame, consumed } => {
                    let (queue, from) = match kind {
                        MessageType::Request => (&mut self.requests, self.requests_from),
                        MessageType::Response => (&mut self.responses, self.responses_from),
                    };
                    let ts_ns = stream.ts_at(0);
                    if ts_ns < from {
                        counts.unmatched += 1;
                    } else {
                        queue.push_back(Timed { ts_ns, frame });
                    }
                    counts.frames += 1;
                    // A parser that consumed nothing would loop forever.
                    stream.consume(consumed.max(1));
                }
                ParseState::NeedsMoreData => return,
                ParseState::Invalid => {
                    counts.invalid += 1;
                    match P::find_boundary(kind, stream.data(), 1) {
                        Some(at) => stream.consume(at),
                        None => {
                            stream.consume(stream.data().len());
                            stream.resync = true;
                            return;
                        }
                    }
                }
            }
        }
    }

    pub fn stitch(&mut self, counts: &mut ParseCounts) -> Stitched<P::Record> {
        let out = P::stitch(&mut self.requests, &mut self.responses, &mut self.state);
        counts.unmatched += out.unmatched;
        counts.records += out.records.len() as u64;
        out
    }

    /// Bytes of `kind` were lost in a hole between `before` (the last time
    /// before it) and `after` (the first after it). The protocol starts over,
    /// and the other side's frames that belonged to the lost bytes are
    /// dropped: for lost responses, requests sent before them; for lost
    /// requests, responses written before the next request arrived.
    pub fn lost(&mut self, kind: MessageType, before: u64, after: u64, counts: &mut ParseCounts) {
        self.state = self.initial.clone();
        let (queue, from) = match kind {
            MessageType::Response => (&mut self.requests, &mut self.requests_from),
            MessageType::Request => (&mut self.responses, &mut self.responses_from),
        };
        *from = match kind {
            MessageType::Response => before,
            MessageType::Request => after,
        };
        let from = *from;
        let had = queue.len();
        queue.retain(|f| f.ts_ns >= from);
        counts.unmatched += (had - queue.len()) as u64;
    }

    /// Queues a frame parsed outside a stream (a datagram is one message).
    pub fn push(&mut self, kind: MessageType, ts_ns: u64, frame: P::Frame, counts: &mut ParseCounts) {
        let queue = match kind {
            MessageType::Request => &mut self.requests,
            MessageType::Response => &mut self.responses,
        };
        queue.push_back(Timed { ts_ns, frame });
        counts.frames += 1;
    }

    /// Drops requests `expire` finds too old, counted as unmatched.
    pub fn expire(&mut self, expire: impl FnOnce(&mut VecDeque<Timed<P::Frame>>) -> u64, counts: &mut ParseCounts) {
        counts.unmatched += expire(&mut self.requests);
    }

    /// Frames waiting for their other half.
    pub fn waiting(&self) -> usize {
        self.requests.len() + self.responses.len()
    }
}

#[cfg(test)]
mod tests {
    use scry_protocols::Exchange;

    use super::*;

    /// Lines: `Q<text>\n` requests, `A<text>\n` responses, matched in order.
    struct Lines;

    impl Protocol for Lines {
        type Frame = String;
        type Record = (String, String);
        type State = ();

        fn parse_frame(kind: MessageType, buf: &[u8], _: &mut ()) -> ParseState<String> {
            let tag = if kind == MessageType::Request { b'Q' } else { b'A' };
            if buf.first() != Some(&tag) {
                return ParseState::Invalid;
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    ParseState::Frame { frame: String::from_utf8_lossy(&buf[1..end]).into_owned(), consumed: end + 1 }
                }
                None => ParseState::NeedsMoreData,
            }
        }

        fn find_boundary(kind: MessageType, buf: &[u8], from: usize) -> Option<usize> {
            let tag = if kind == MessageType::Request { b'Q' } else { b'A' };
            (from..buf.len()).find(|&i| buf[i] == tag && (i == 0 || buf[i - 1] == b'\n'))
        }

        fn stitch(
            reqs: &mut VecDeque<Timed<String>>,
            resps: &mut VecDeque<Timed<String>>,
            _: &mut (),
        ) -> Stitched<(String, String)> {
            let mut out = Stitched::default();
            while !reqs.is_empty() && !resps.is_empty() {
                let (q, a) = (reqs.pop_front().unwrap(), resps.pop_front().unwrap());
                out.records.push(Exchange { req_ts_ns: q.ts_ns, resp_ts_ns: a.ts_ns, record: (q.frame, a.frame) });
            }
            out
        }
    }

    #[test]
    fn frames_split_across_chunks_garbage_and_holes_give_exact_records() {
        let mut p = Parsing::<Lines>::default();
        let mut counts = ParseCounts::default();
        let (mut req, mut resp) = (DataStream::new(true), DataStream::new(true));
        req.add(0, 100, b"Qone\nQt");
        req.add(7, 110, b"wo\nxx\nQthree\n");
        p.parse(MessageType::Request, &mut req, &mut counts);
        resp.add(0, 150, b"A1\nA2\n");
        p.parse(MessageType::Response, &mut resp, &mut counts);
        let out = p.stitch(&mut counts);
        let got: Vec<_> = out.records.iter().map(|e| (e.req_ts_ns, e.resp_ts_ns, e.record.0.as_str())).collect();
        assert_eq!(got, [(100, 150, "one"), (100, 150, "two")]);
        assert_eq!((counts.frames, counts.invalid), (5, 1), "garbage `xx` skipped; `three` parsed after it");
        assert_eq!(p.waiting(), 1);
        // A hole in the responses: the partial answer is given up, the next one resyncs.
        resp.add(6, 160, b"A3 is cut");
        resp.add(40, 170, b"junk\nA4\n");
        p.parse(MessageType::Response, &mut resp, &mut counts);
        assert!(resp.skip_hole());
        p.parse(MessageType::Response, &mut resp, &mut counts);
        let out = p.stitch(&mut counts);
        assert_eq!(out.records[0].record, ("three".to_owned(), "4".to_owned()));
        assert_eq!(out.records[0].resp_ts_ns, 170);
    }
}
