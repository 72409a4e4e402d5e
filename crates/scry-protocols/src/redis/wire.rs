//! The RESP wire format (RESP2 and RESP3): one value at the front of a buffer,
//! read without copying and rendered straight into bounded text, so a huge
//! reply costs no more memory than its column.

use super::command::Command;
use super::{
    MAX_BULK_BYTES, MAX_DEPTH, MAX_ELEMENTS, MAX_INLINE_BYTES, MAX_LINE_BYTES, MAX_TEXT_BYTES, NULL_TEXT, PubSub, Reply,
};

/// Why a value could not be read.
#[derive(Debug, PartialEq)]
pub(super) enum Stop {
    /// The buffer ends inside the value.
    More,
    /// The bytes are not RESP.
    Invalid,
}

type Parse<T> = Result<T, Stop>;

/// Text of at most [`MAX_TEXT_BYTES`] once finished. It keeps one byte (and
/// the rest of a character) past the limit so that [`crate::truncate`] sees
/// the cut and marks it, and drops everything after that.
#[derive(Default)]
pub(super) struct Text {
    s: String,
}

impl Text {
    pub(super) fn push(&mut self, piece: &str) {
        let room = (MAX_TEXT_BYTES + 1).saturating_sub(self.s.len());
        let mut end = room.min(piece.len());
        while !piece.is_char_boundary(end) {
            end += 1;
        }
        self.s.push_str(piece.get(..end).unwrap_or(piece));
    }

    /// Raw bytes, invalid UTF-8 replaced. Only a prefix is decoded: a
    /// character cut at its end lies past the limit, where it is dropped.
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        let prefix = bytes.get(..MAX_TEXT_BYTES + 5).unwrap_or(bytes);
        self.push(&String::from_utf8_lossy(prefix));
    }

    fn len(&self) -> usize {
        self.s.len()
    }

    pub(super) fn finish(self) -> String {
        crate::truncate(&self.s, MAX_TEXT_BYTES)
    }
}

/// What a value was, as far as telling pub/sub messages apart needs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Atom {
    Str,
    Int(i64),
    Null,
    Other,
}

/// The start of an aggregate: its marker, length, where its first item's
/// text is, and what its first items were.
struct Head {
    marker: u8,
    len: usize,
    first: std::ops::Range<usize>,
    atoms: [Atom; 4],
}

enum Shape {
    Atom(Atom),
    Items(Head),
}

impl Shape {
    fn atom(&self) -> Atom {
        match self {
            Shape::Atom(atom) => *atom,
            Shape::Items(_) => Atom::Other,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn byte(&mut self) -> Parse<u8> {
        let byte = *self.rest().first().ok_or(Stop::More)?;
        self.pos += 1;
        Ok(byte)
    }

    fn crlf(&mut self) -> Parse<()> {
        match self.rest() {
            [b'\r', b'\n', ..] => {
                self.pos += 2;
                Ok(())
            }
            [] | [b'\r'] => Err(Stop::More),
            _ => Err(Stop::Invalid),
        }
    }

    /// A line up to its CRLF. Lines never hold a lone CR or LF; one longer
    /// than [`MAX_LINE_BYTES`] is not RESP.
    fn line(&mut self) -> Parse<&'a [u8]> {
        let rest = self.rest();
        for (i, &byte) in rest.iter().enumerate().take(MAX_LINE_BYTES + 1) {
            if byte == b'\r' || byte == b'\n' {
                self.pos += i;
                self.crlf()?;
                return Ok(rest.split_at(i).0);
            }
        }
        if rest.len() > MAX_LINE_BYTES { Err(Stop::Invalid) } else { Err(Stop::More) }
    }

    /// A signed decimal line; checked byte by byte so that garbage is
    /// refused before its line ends.
    fn integer(&mut self) -> Parse<i64> {
        const MAX_DIGITS: usize = 20;
        let rest = self.rest();
        for (i, &byte) in rest.iter().enumerate().take(MAX_DIGITS + 1) {
            match byte {
                b'0'..=b'9' => {}
                b'-' | b'+' if i == 0 => {}
                b'\r' if i > 0 => {
                    let text = std::str::from_utf8(rest.split_at(i).0).map_err(|_| Stop::Invalid)?;
                    let value = text.parse().map_err(|_| Stop::Invalid)?;
                    self.pos += i;
                    self.crlf()?;
                    return Ok(value);
                }
                _ => return Err(Stop::Invalid),
            }
        }
        if rest.len() > MAX_DIGITS { Err(Stop::Invalid) } else { Err(Stop::More) }
    }

    /// A length line: `None` for RESP2's null (-1), at most `max`.
    fn length(&mut self, max: usize) -> Parse<Option<usize>> {
        match self.integer()? {
            -1 => Ok(None),
            n => usize::try_from(n).ok().filter(|&n| n <= max).map(Some).ok_or(Stop::Invalid),
        }
    }

    /// A length-prefixed string (`$`, `!`, `=`): `None` for null.
    fn blob(&mut self) -> Parse<Option<&'a [u8]>> {
        let Some(len) = self.length(MAX_BULK_BYTES)? else { return Ok(None) };
        let data = self.rest().get(..len).ok_or(Stop::More)?;
        self.pos += len;
        self.crlf()?;
        Ok(Some(data))
    }

    /// One value of any type, rendered into `out`.
    fn value(&mut self, out: &mut Text, depth: usize) -> Parse<Shape> {
        if depth > MAX_DEPTH {
            return Err(Stop::Invalid);
        }
        let atom = match self.byte()? {
            b'+' => {
                out.bytes(self.line()?);
                Atom::Str
            }
            b'-' => {
                out.push("-");
                out.bytes(self.line()?);
                Atom::Other
            }
            b':' => {
                let n = self.integer()?;
                out.push(&n.to_string());
                Atom::Int(n)
            }
            b'$' => match self.blob()? {
                Some(data) => {
                    out.bytes(data);
                    Atom::Str
                }
                None => {
                    out.push(NULL_TEXT);
                    Atom::Null
                }
            },
            b'!' => {
                out.push("-");
                out.bytes(self.blob()?.ok_or(Stop::Invalid)?);
                Atom::Other
            }
            // Verbatim: a three-letter format, a colon, then the text shown.
            b'=' => match self.blob()? {
                Some([_, _, _, b':', text @ ..]) => {
                    out.bytes(text);
                    Atom::Str
                }
                _ => return Err(Stop::Invalid),
            },
            b'_' => {
                self.crlf()?;
                out.push(NULL_TEXT);
                Atom::Null
            }
            b',' => {
                let line = self.line()?;
                std::str::from_utf8(line).ok().and_then(|s| s.parse::<f64>().ok()).ok_or(Stop::Invalid)?;
                out.bytes(line);
                Atom::Other
            }
            b'#' => {
                out.push(match self.line()? {
                    b"t" => "true",
                    b"f" => "false",
                    _ => return Err(Stop::Invalid),
                });
                Atom::Other
            }
            b'(' => {
                let line = self.line()?;
                let digits = line.strip_prefix(b"-").or_else(|| line.strip_prefix(b"+")).unwrap_or(line);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(Stop::Invalid);
                }
                out.bytes(line);
                Atom::Other
            }
            marker @ (b'*' | b'>' | b'~' | b'%' | b'|') => return self.aggregate(marker, out, depth),
            _ => return Err(Stop::Invalid),
        };
        Ok(Shape::Atom(atom))
    }

    /// Arrays `[a, b]`, pushes (shown as arrays), sets `{a, b}`, maps
    /// `{k: v}`, and attributes `|{k: v}| value`, whose value follows them.
    fn aggregate(&mut self, marker: u8, out: &mut Text, depth: usize) -> Parse<Shape> {
        let Some(len) = self.length(MAX_ELEMENTS)? else {
            // Only RESP2's array has a null form.
            if marker != b'*' {
                return Err(Stop::Invalid);
            }
            out.push(NULL_TEXT);
            return Ok(Shape::Atom(Atom::Null));
        };
        let (open, close, pairs) = match marker {
            b'%' => ("{", "}", true),
            b'|' => ("|{", "}| ", true),
            b'~' => ("{", "}", false),
            _ => ("[", "]", false),
        };
        let mut head = Head { marker, len, first: 0..0, atoms: [Atom::Other; 4] };
        out.push(open);
        let items = if pairs { len * 2 } else { len };
        for i in 0..items {
            if i > 0 {
                out.push(if pairs && i % 2 == 1 { ": " } else { ", " });
            }
            let start = out.len();
            let shape = self.value(out, depth + 1)?;
            if i == 0 {
                head.first = start..out.len();
            }
            if let Some(slot) = head.atoms.get_mut(i) {
                *slot = shape.atom();
            }
        }
        out.push(close);
        if marker == b'|' {
            return self.value(out, depth + 1);
        }
        Ok(Shape::Items(head))
    }
}

/// The subscribe family's confirmations, as the server spells them.
pub(super) const SUBSCRIPTION_VERBS: [&str; 6] =
    ["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"];

/// Tells pub/sub traffic by its shape: `message`/`smessage` (channel,
/// payload), `pmessage` (pattern, channel, payload), or a confirmation (verb,
/// channel or null, subscription count).
fn pubsub(text: &str, head: &Head) -> Option<PubSub> {
    if !matches!(head.marker, b'*' | b'>') || head.atoms[0] != Atom::Str {
        return None;
    }
    let word = text.get(head.first.clone())?.to_ascii_lowercase();
    let strs = |n: usize| head.atoms.get(1..n).is_some_and(|a| a.iter().all(|&a| a == Atom::Str));
    match (word.as_str(), head.len, head.atoms[1], head.atoms[2]) {
        ("message" | "smessage", 3, ..) if strs(3) => Some(PubSub::Message),
        ("pmessage", 4, ..) if strs(4) => Some(PubSub::Message),
        (verb, 3, channel @ (Atom::Str | Atom::Null), Atom::Int(count)) => {
            let verb = SUBSCRIPTION_VERBS.into_iter().find(|v| *v == verb)?;
            Some(PubSub::Confirmation { verb, channel_null: channel == Atom::Null, count })
        }
        _ => None,
    }
}

/// Bytes as column text, cut to the limit.
pub(super) fn text_of(bytes: &[u8]) -> String {
    let mut text = Text::default();
    text.bytes(bytes);
    text.finish()
}

/// A reply: any RESP2 or RESP3 value.
pub(super) fn reply(buf: &[u8]) -> Parse<(Reply, usize)> {
    let mut reader = Reader { buf, pos: 0 };
    let mut text = Text::default();
    let shape = reader.value(&mut text, 0)?;
    let (push, pubsub) = match &shape {
        Shape::Items(head) => (head.marker == b'>', pubsub(&text.s, head)),
        Shape::Atom(_) => (false, None),
    };
    Ok((Reply { text: text.finish(), push, pubsub }, reader.pos))
}

/// A command: an array of bulk strings, as clients send them, or an inline
/// command line (a letter first, as typed in telnet).
pub(super) fn command(buf: &[u8]) -> Parse<(Command, usize)> {
    match buf.first() {
        None => Err(Stop::More),
        Some(b'*') => multibulk(buf),
        Some(byte) if byte.is_ascii_alphabetic() => inline(buf),
        Some(_) => Err(Stop::Invalid),
    }
}

fn multibulk(buf: &[u8]) -> Parse<(Command, usize)> {
    let mut reader = Reader { buf, pos: 1 };
    // The server ignores empty and null arrays: they are not commands.
    let count = reader.length(MAX_ELEMENTS)?.filter(|&n| n > 0).ok_or(Stop::Invalid)?;
    let mut words = Vec::with_capacity(count.min(Command::MAX_KEPT_WORDS));
    for _ in 0..count {
        if reader.byte()? != b'$' {
            return Err(Stop::Invalid);
        }
        let word = reader.blob()?.ok_or(Stop::Invalid)?;
        if words.len() < Command::MAX_KEPT_WORDS {
            words.push(text_of(word));
        }
    }
    Ok((Command::new(words, count), reader.pos))
}

/// Words split on blanks; quotes are not interpreted.
fn inline(buf: &[u8]) -> Parse<(Command, usize)> {
    for (i, &byte) in buf.iter().enumerate().take(MAX_INLINE_BYTES) {
        match byte {
            b'\n' => {
                let line = buf.split_at(i).0;
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let words = line.split(|b| *b == b' ' || *b == b'\t').filter(|w| !w.is_empty());
                let count = words.clone().count();
                let kept = words.take(Command::MAX_KEPT_WORDS).map(text_of).collect();
                return Ok((Command::new(kept, count), i + 1));
            }
            b'\r' if buf.get(i + 1).is_none_or(|&next| next == b'\n') => {}
            b'\t' | b' '..=b'~' | 0x80.. => {}
            _ => return Err(Stop::Invalid),
        }
    }
    if buf.len() >= MAX_INLINE_BYTES { Err(Stop::Invalid) } else { Err(Stop::More) }
}
