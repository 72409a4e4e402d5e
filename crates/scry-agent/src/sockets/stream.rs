//! One direction of a connection's bytes, put back in order by stream
//! position. Records arrive per CPU ring drain, so a later chunk may come
//! before an earlier one; chunks may overlap (retries) or leave gaps (a
//! record lost in the kernel, a message larger than the tracer copies).
//! Bytes from the current head on are kept contiguous; chunks ahead of it
//! wait until the hole is filled or given up on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Default)]
pub struct DataStream {
    /// Stream position of `buf[0]`.
    head: u64,
    buf: Vec<u8>,
    /// (position, time) where each chunk in `buf` starts, ascending.
    marks: VecDeque<(u64, u64)>,
    /// Chunks beyond the end of `buf`, by position: (time, bytes).
    ahead: BTreeMap<u64, (u64, Vec<u8>)>,
    ahead_bytes: usize,
    /// Set when bytes were skipped: the next frame may start anywhere, so
    /// the parser resynchronizes first.
    pub resync: bool,
    /// Bytes given up on (holes skipped, data dropped for space).
    pub skipped_bytes: u64,
    /// Ends of records the kernel cut (the rest of their message was never
    /// copied): a hole starting at one is never filled.
    cut_at: BTreeSet<u64>,
    /// Time of the last chunk made contiguous.
    last_ts: u64,
    /// Whether position 0 is the true start (the connection was seen at
    /// connect/accept); if not, the first chunk seen is taken as the start.
    from_start: bool,
}

impl DataStream {
    /// A stream seen from its first byte (`from_start`), or joined later.
    pub fn new(from_start: bool) -> DataStream {
        DataStream { from_start, ..Default::default() }
    }

    /// Adds a chunk that starts at stream position `pos`.
    pub fn add(&mut self, pos: u64, ts: u64, data: &[u8]) {
        let end = self.head + self.buf.len() as u64;
        if !self.from_start {
            // Joined mid-stream (a connection older than the tracer): the
            // first bytes seen are the start, and may be mid-frame.
            self.from_start = true;
            self.head = pos;
            self.resync = pos > 0;
            self.append(pos, ts, data);
            return;
        }
        if pos + data.len() as u64 <= end {
            return; // already have all of it
        }
        if pos > end {
            self.ahead_bytes += data.len();
            if let Some(old) = self.ahead.insert(pos, (ts, data.to_vec())) {
                self.ahead_bytes -= old.1.len();
            }
            return;
        }
        let skip = (end - pos) as usize;
        self.append(end, ts, &data[skip..]);
        self.fill_from_ahead();
    }

    /// The chunk ending at `end` was cut by the kernel: what follows up to
    /// the next chunk is lost.
    pub fn mark_cut(&mut self, end: u64) {
        if end >= self.head {
            self.cut_at.insert(end);
        }
    }

    /// Whether the hole after the contiguous bytes is one the kernel made
    /// (nothing will fill it), with bytes waiting beyond it.
    pub fn hole_is_permanent(&self) -> bool {
        !self.ahead.is_empty() && self.cut_at.contains(&(self.head + self.buf.len() as u64))
    }

    /// Time of the latest contiguous chunk: the last bytes before a hole.
    pub fn last_ts(&self) -> u64 {
        self.last_ts
    }

    fn append(&mut self, pos: u64, ts: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.last_ts = ts;
        self.marks.push_back((pos, ts));
        self.buf.extend_from_slice(data);
    }

    fn fill_from_ahead(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            let end = self.head + self.buf.len() as u64;
            if *entry.key() > end {
                return;
            }
            let (pos, (ts, data)) = entry.remove_entry();
            self.ahead_bytes -= data.len();
            if pos + data.len() as u64 > end {
                let skip = (end - pos) as usize;
                self.append(end, ts, &data[skip..]);
            }
        }
    }

    /// The contiguous bytes from the head.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// Time of the chunk holding `data()[offset]`.
    pub fn ts_at(&self, offset: usize) -> u64 {
        let pos = self.head + offset as u64;
        let i = self.marks.partition_point(|(p, _)| *p <= pos);
        self.marks.get(i.saturating_sub(1)).map_or(0, |(_, ts)| *ts)
    }

    /// Drops the first `n` contiguous bytes (parsed, or skipped to resync).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.head += n as u64;
        // Keep the mark of the chunk the new head is in.
        while self.marks.len() > 1 && self.marks[1].0 <= self.head {
            self.marks.pop_front();
        }
        if self.buf.is_empty() {
            self.marks.clear();
        }
    }

    /// Bytes waiting beyond a hole.
    pub fn ahead_bytes(&self) -> usize {
        self.ahead_bytes
    }

    pub fn held_bytes(&self) -> usize {
        self.buf.len() + self.ahead_bytes
    }

    /// Gives up on the hole before the first chunk waiting ahead: whatever is
    /// contiguous now is dropped too (it cannot complete a frame). Returns
    /// whether there was anything to jump to.
    pub fn skip_hole(&mut self) -> bool {
        let Some(&next) = self.ahead.keys().next() else { return false };
        let end = self.head + self.buf.len() as u64;
        self.skipped_bytes += self.buf.len() as u64 + (next - end);
        self.buf.clear();
        self.marks.clear();
        self.head = next;
        self.resync = true;
        self.cut_at = self.cut_at.split_off(&next);
        self.fill_from_ahead();
        true
    }

    /// Drops everything held (the stream cannot be parsed within its bound).
    pub fn reset(&mut self) {
        self.skipped_bytes += self.held_bytes() as u64;
        let end =
            self.ahead.last_key_value().map_or(self.head + self.buf.len() as u64, |(p, (_, d))| p + d.len() as u64);
        *self = DataStream {
            head: end,
            resync: true,
            skipped_bytes: self.skipped_bytes,
            last_ts: self.last_ts,
            from_start: true,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_after_a_cut_record_is_permanent_at_once() {
        let mut s = DataStream::new(true);
        s.add(0, 10, b"big resp");
        s.mark_cut(8);
        assert!(!s.hole_is_permanent(), "nothing waits beyond it yet");
        s.add(100, 20, b"next");
        s.add(50, 15, b"late but in the hole");
        assert!(s.hole_is_permanent());
        assert_eq!(s.last_ts(), 10);
        assert!(s.skip_hole());
        assert_eq!((s.data(), s.ts_at(0)), (&b"late but in the hole"[..], 15));
        assert!(!s.hole_is_permanent(), "the next hole is an ordinary one");
    }

    #[test]
    fn in_order_chunks_are_contiguous_with_their_times() {
        let mut s = DataStream::new(true);
        s.add(0, 10, b"GET / HT");
        s.add(8, 20, b"TP/1.1\r\n");
        assert_eq!(s.data(), b"GET / HTTP/1.1\r\n");
        assert_eq!((s.ts_at(0), s.ts_at(7), s.ts_at(8), s.ts_at(15)), (10, 10, 20, 20));
        s.consume(10);
        assert_eq!(s.data(), b"/1.1\r\n");
        assert_eq!(s.ts_at(0), 20);
        assert!(!s.resync);
    }

    #[test]
    fn out_of_order_and_overlapping_chunks_fall_into_place() {
        let mut s = DataStream::new(true);
        s.add(0, 1, b"abc");
        s.add(6, 3, b"ghi");
        s.add(9, 4, b"jk");
        assert_eq!((s.data(), s.ahead_bytes()), (&b"abc"[..], 5));
        s.add(2, 2, b"cdef"); // overlaps what is held, fills the hole
        assert_eq!((s.data(), s.ahead_bytes()), (&b"abcdefghijk"[..], 0));
        assert_eq!((s.ts_at(3), s.ts_at(6), s.ts_at(10)), (2, 3, 4));
        s.add(0, 9, b"abc"); // a duplicate changes nothing
        assert_eq!(s.data(), b"abcdefghijk");
    }

    #[test]
    fn holes_are_skipped_on_request_and_counted() {
        let mut s = DataStream::new(true);
        s.add(0, 1, b"partial");
        s.add(100, 2, b"next frame");
        assert!(s.skip_hole());
        assert_eq!((s.data(), s.skipped_bytes, s.resync), (&b"next frame"[..], 100, true));
        assert_eq!(s.ts_at(0), 2);
        assert!(!s.skip_hole(), "nothing further ahead");
    }

    #[test]
    fn a_stream_first_seen_mid_way_starts_where_it_is_seen() {
        let mut s = DataStream::new(false);
        s.add(5000, 7, b"HTTP/1.1 200 OK\r\n");
        assert_eq!((s.data(), s.resync), (&b"HTTP/1.1 200 OK\r\n"[..], true));
        s.add(5017, 8, b"\r\n");
        assert_eq!(s.data().len(), 19);
    }

    #[test]
    fn reset_drops_everything_and_resumes_after_it() {
        let mut s = DataStream::new(true);
        s.add(0, 1, b"xxxx");
        s.add(10, 2, b"yy");
        s.reset();
        assert_eq!((s.held_bytes(), s.skipped_bytes), (0, 6));
        s.add(12, 3, b"zz");
        assert_eq!(s.data(), b"zz");
    }
}
