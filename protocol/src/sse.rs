//! Incremental Server-Sent Events decoder (WHATWG event-stream rules).
//!
//! Bytes go in with [`SseDecoder::feed`] in chunks of any size, split anywhere; frames
//! come out of [`SseDecoder::next_frame`]; [`SseDecoder::finish`] marks end of input.
//! The frames do not depend on where the input was split.
//!
//! ```
//! use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};
//!
//! let mut decoder = SseDecoder::new(SseLimits::default());
//! decoder.feed(b"event: greeting\ndata: {\"hi\"");
//! assert!(decoder.next_frame().is_none()); // the event is not complete yet
//! decoder.feed(b":1}\n\n");
//! match decoder.next_frame() {
//!     Some(Ok(SseFrame::Event(event))) => {
//!         assert_eq!(event.event_type, "greeting");
//!         assert_eq!(event.data, "{\"hi\":1}");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert!(decoder.next_frame().is_none());
//! ```
//!
//! # Rules
//!
//! - Lines end at LF, CRLF or a lone CR. A CR at the very end of the input seen so far
//!   ends its line at once; an LF that then starts the next chunk is swallowed as the
//!   second half of that CRLF.
//! - One UTF-8 byte order mark at the very start of the stream is skipped, also when it
//!   arrives split across chunks.
//! - A line starting with `:` is a comment, reported as [`SseFrame::Comment`] (activity
//!   for idle timers). Any other line is a field `name: value` (one space after the
//!   colon is dropped); a line without a colon is a field with an empty value.
//! - `data` lines are joined with `\n`; `event` sets the type; `id` sets the last event
//!   id unless it contains NUL (it then persists for later events); `retry` with only
//!   ASCII digits sets [`SseDecoder::retry`]; other fields are ignored.
//! - A blank line dispatches the event, unless no `data` line was seen (then nothing is
//!   dispatched, as in WHATWG). A block still open at end of input is discarded.
//!
//! # UTF-8
//!
//! The decoder works on bytes and checks UTF-8 **per event, at dispatch**: the joined
//! `data` and the `event` type are validated once, as whole strings, so a character
//! split across chunks (or across anything) is fine and the check costs one pass over
//! what is returned. An event that is not valid UTF-8 yields [`SseError::InvalidUtf8`]
//! in its place; the stream goes on with the next event. Lines that are ignored
//! (comments, unknown fields) are not checked. An `id` value that is not UTF-8 is
//! ignored, like an `id` containing NUL.
//!
//! # Memory and cost
//!
//! The decoder copies each fed chunk once into its buffer and frames lines in place.
//! An event whose data is a single line is returned as a slice of that buffer; only
//! multi-line data (or an event still open when the next chunk arrives) is copied into
//! a separate buffer. Consumed bytes are dropped when the next chunk is fed, moving only
//! the unframed tail, which is at most one chunk. Memory stays within the limits plus
//! one fed chunk: a line longer than [`SseLimits::max_line`] is a fatal
//! [`SseError::LineTooLong`] as soon as it is known to be too long, and its bytes are
//! released.

use std::fmt;

/// Bounds of the decoder (PROTOCOL.md section 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest line, in bytes, excluding its line end.
    pub max_line: usize,
    /// Largest event data (all `data` lines joined), in bytes.
    pub max_data: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        SseLimits {
            max_line: 16 << 20,
            max_data: 16 << 20,
        }
    }
}

/// One thing the decoder found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseFrame<'a> {
    /// A dispatched event.
    Event(SseEvent<'a>),
    /// A comment line (`:` …): activity, no event.
    Comment,
}

/// A dispatched event, borrowing from the decoder until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event` field, or `""` when none was given.
    pub event_type: &'a str,
    /// The `data` lines joined with `\n`.
    pub data: &'a str,
    /// The last event id seen on this stream (persists across events).
    pub last_event_id: &'a str,
}

/// Why the decoder stopped or dropped an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line is longer than `max_line`. Fatal for the stream.
    #[error("SSE line longer than {limit} bytes")]
    LineTooLong {
        /// The bound.
        limit: usize,
    },
    /// An event's data is larger than `max_data`. Fatal for the stream.
    #[error("SSE event data larger than {limit} bytes")]
    DataTooLarge {
        /// The bound.
        limit: usize,
    },
    /// An event is not valid UTF-8. Only that event is dropped.
    #[error("SSE event is not valid UTF-8")]
    InvalidUtf8,
}

impl SseError {
    /// True when the stream cannot continue after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, SseError::InvalidUtf8)
    }
}

/// The UTF-8 byte order mark, skipped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Buffers above this capacity are given back when they are mostly unused, so one huge
/// line or event does not pin its memory for the rest of the stream.
const SHRINK_ABOVE: usize = 1 << 20;

/// A byte range of the decoder's input buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// Where the value of an event field (type or data) currently lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Held {
    /// No value: no `event` line, or no `data` line yet.
    #[default]
    Nothing,
    /// One line's value, still in the input buffer.
    InBuf(Span),
    /// In the field's own buffer (`type_buf` or `data_buf`).
    Owned,
}

/// The fields the decoder acts on; any other name is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldName {
    Data,
    Event,
    Id,
    Retry,
    Other,
}

impl FieldName {
    fn of(name: &[u8]) -> FieldName {
        match name {
            b"data" => FieldName::Data,
            b"event" => FieldName::Event,
            b"id" => FieldName::Id,
            b"retry" => FieldName::Retry,
            _ => FieldName::Other,
        }
    }
}

/// What the line loop found.
enum Step {
    /// Nothing complete yet: feed more bytes (or the stream is over).
    NeedMore,
    /// A comment line.
    Comment,
    /// A blank line dispatched an event with this type and data.
    Dispatch { event_type: Held, data: Held },
    /// A bound was crossed.
    Fatal(SseError),
}

/// The decoder. Memory stays within the limits plus one fed chunk.
pub struct SseDecoder {
    limits: SseLimits,
    /// Received bytes; `buf[pos..]` is not framed yet.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scanned]` is known to hold no line end (saves rescanning a long line).
    scanned: usize,
    /// The last line ended in CR: an LF that comes next belongs to it.
    skip_lf: bool,
    /// The start of the stream has been checked for a byte order mark.
    bom_checked: bool,
    /// [`SseDecoder::finish`] was called.
    finished: bool,
    /// A sticky fatal error.
    fatal: Option<SseError>,
    /// The event being built.
    event_type: Held,
    type_buf: Vec<u8>,
    data: Held,
    data_buf: Vec<u8>,
    /// The WHATWG "last event ID buffer" and whether it changed since the last dispatch.
    id_buffer: String,
    id_changed: bool,
    /// The id handed out with dispatched events.
    last_event_id: String,
    retry: Option<u64>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new(SseLimits::default())
    }
}

impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("limits", &self.limits)
            .field("unframed", &self.buf.len().saturating_sub(self.pos))
            .field("finished", &self.finished)
            .field("fatal", &self.fatal)
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl SseDecoder {
    /// A decoder with these bounds.
    pub fn new(limits: SseLimits) -> Self {
        SseDecoder {
            limits,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            skip_lf: false,
            bom_checked: false,
            finished: false,
            fatal: None,
            event_type: Held::Nothing,
            type_buf: Vec::new(),
            data: Held::Nothing,
            data_buf: Vec::new(),
            id_buffer: String::new(),
            id_changed: false,
            last_event_id: String::new(),
            retry: None,
        }
    }

    /// Hands the decoder the next bytes of the body. Call [`SseDecoder::next_frame`]
    /// until `None` before feeding more. Bytes fed after [`SseDecoder::finish`] or after
    /// a fatal error are ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() || self.finished || self.fatal.is_some() {
            return;
        }
        self.compact(chunk.len());
        if self.line_cannot_fit(chunk) {
            self.fail(SseError::LineTooLong {
                limit: self.limits.max_line,
            });
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next frame from what was fed, or `None` when more bytes are needed. After a
    /// fatal error every later call returns that error again.
    pub fn next_frame(&mut self) -> Option<Result<SseFrame<'_>, SseError>> {
        if let Some(error) = &self.fatal {
            return Some(Err(error.clone()));
        }
        match self.advance() {
            Step::NeedMore => None,
            Step::Comment => Some(Ok(SseFrame::Comment)),
            Step::Dispatch { event_type, data } => Some(self.event(event_type, data)),
            Step::Fatal(error) => {
                self.fail(error.clone());
                Some(Err(error))
            }
        }
    }

    /// Marks the end of input: a final line without its line end is processed, and an
    /// unterminated event is discarded. Call [`SseDecoder::next_frame`] afterwards.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The reconnection time of the last valid `retry` field, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The id of the last dispatched event block (`""` when none was set). Persists
    /// across events; a reconnecting client sends it as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Bytes the decoder holds right now: input not framed yet plus the event being
    /// built. Stays within the limits plus one fed chunk.
    pub fn buffered_len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos) + self.held_len()
    }

    /// Bytes allocated by the decoder's buffers (their capacity). Bounded like
    /// [`SseDecoder::buffered_len`], up to the usual growth slack of a buffer.
    pub fn allocated_len(&self) -> usize {
        self.buf.capacity()
            + self.type_buf.capacity()
            + self.data_buf.capacity()
            + self.id_buffer.capacity()
            + self.last_event_id.capacity()
    }

    /// Starts a new stream with the same limits, keeping the allocations. Everything
    /// about the old stream is forgotten: unframed bytes, the event being built, the
    /// last event id, `retry`, a fatal error and [`SseDecoder::finish`].
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        self.skip_lf = false;
        self.bom_checked = false;
        self.finished = false;
        self.fatal = None;
        self.event_type = Held::Nothing;
        self.data = Held::Nothing;
        self.id_buffer.clear();
        self.id_changed = false;
        self.last_event_id.clear();
        self.retry = None;
    }

    /// Bytes of the event being built that are not counted in the unframed input.
    fn held_len(&self) -> usize {
        let owned = |held: Held, buf: &Vec<u8>| if held == Held::Owned { buf.len() } else { 0 };
        owned(self.event_type, &self.type_buf) + owned(self.data, &self.data_buf)
    }

    /// Drops the framed bytes before a new chunk is appended. Moves only the unframed
    /// tail (at most the previous chunk), after copying out the parts of the open event
    /// that still point into the dropped bytes.
    fn compact(&mut self, incoming: usize) {
        if self.pos == 0 {
            return;
        }
        self.own_open_event();
        let pos = self.pos;
        if pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.copy_within(pos.., 0);
            self.buf.truncate(self.buf.len() - pos);
        }
        self.scanned = self.scanned.saturating_sub(pos);
        self.pos = 0;
        let needed = self.buf.len() + incoming;
        if self.buf.capacity() > SHRINK_ABOVE && self.buf.capacity() / 4 > needed {
            self.buf.shrink_to(needed);
        }
    }

    /// Copies the type and data of the open event out of the input buffer.
    fn own_open_event(&mut self) {
        if let Held::InBuf(span) = self.event_type {
            self.type_buf.clear();
            self.type_buf.extend_from_slice(slice(&self.buf, span));
            self.event_type = Held::Owned;
        }
        if let Held::InBuf(span) = self.data {
            self.data_buf.clear();
            self.data_buf.extend_from_slice(slice(&self.buf, span));
            self.data = Held::Owned;
        }
    }

    /// True when everything unframed is one partial line and `chunk` does not end it,
    /// yet the line would be longer than `max_line`: no need to buffer it to know.
    fn line_cannot_fit(&self, chunk: &[u8]) -> bool {
        let partial = self.buf.len() - self.pos;
        let drained = self.scanned >= self.buf.len() && self.bom_checked;
        drained
            && partial.saturating_add(chunk.len()) > self.limits.max_line
            && find_line_end(chunk).is_none()
    }

    /// Records a fatal error and releases the buffers.
    fn fail(&mut self, error: SseError) {
        self.fatal = Some(error);
        self.buf = Vec::new();
        self.type_buf = Vec::new();
        self.data_buf = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.event_type = Held::Nothing;
        self.data = Held::Nothing;
    }

    /// Frames lines until one yields something for the caller.
    fn advance(&mut self) -> Step {
        loop {
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    if self.finished {
                        // End of input: an open block is discarded.
                        self.event_type = Held::Nothing;
                        self.data = Held::Nothing;
                    }
                    return Step::NeedMore;
                }
                Err(error) => return Step::Fatal(error),
            };
            if line.start == line.end {
                if let Some((event_type, data)) = self.dispatch() {
                    return Step::Dispatch { event_type, data };
                }
                continue;
            }
            let bytes = slice(&self.buf, line);
            if bytes.first() == Some(&b':') {
                return Step::Comment;
            }
            if let Err(error) = self.field(line) {
                return Step::Fatal(error);
            }
        }
    }

    /// The next complete line (without its line end), or the final unterminated line
    /// after [`SseDecoder::finish`]; `None` when more input is needed.
    fn next_line(&mut self) -> Result<Option<Span>, SseError> {
        if self.skip_lf {
            match self.buf.get(self.pos) {
                None => return Ok(None),
                Some(&byte) => {
                    self.skip_lf = false;
                    if byte == b'\n' {
                        self.pos += 1;
                    }
                }
            }
        }
        if !self.bom_checked && !self.skip_bom() {
            return Ok(None);
        }
        let start = self.pos;
        let from = self.scanned.max(start);
        let rest = self.buf.get(from..).unwrap_or_default();
        // A blank line needs no search.
        let line_end = match rest.first() {
            Some(b'\n' | b'\r') => Some(0),
            _ => find_line_end(rest),
        };
        match line_end {
            Some(offset) => {
                let end = from + offset;
                if end - start > self.limits.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                self.pos = end + 1;
                if self.buf.get(end) == Some(&b'\r') {
                    match self.buf.get(end + 1) {
                        Some(b'\n') => self.pos += 1,
                        Some(_) => {}
                        None => self.skip_lf = true,
                    }
                }
                self.scanned = self.pos;
                Ok(Some(Span { start, end }))
            }
            None => {
                let end = self.buf.len();
                self.scanned = end;
                if end - start > self.limits.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                if self.finished && start < end {
                    self.pos = end;
                    return Ok(Some(Span { start, end }));
                }
                Ok(None)
            }
        }
    }

    /// Skips a byte order mark at the start of the stream. False while the bytes seen
    /// so far are a proper prefix of one and more may come.
    fn skip_bom(&mut self) -> bool {
        let head = self.buf.get(self.pos..).unwrap_or_default();
        let n = head.len().min(BOM.len());
        if head.get(..n) != BOM.get(..n) {
            self.bom_checked = true;
        } else if n == BOM.len() {
            self.pos += n;
            self.bom_checked = true;
        } else if self.finished {
            self.bom_checked = true;
        }
        self.bom_checked
    }

    /// Applies one field line.
    fn field(&mut self, line: Span) -> Result<(), SseError> {
        let bytes = slice(&self.buf, line);
        // The two fields of nearly every event first, without searching for the colon.
        let (name, value) = if bytes.starts_with(b"data:") {
            (FieldName::Data, value_span(line, 5, bytes))
        } else if bytes.starts_with(b"event:") {
            (FieldName::Event, value_span(line, 6, bytes))
        } else {
            match bytes.iter().position(|&b| b == b':') {
                Some(colon) => (
                    FieldName::of(bytes.get(..colon).unwrap_or_default()),
                    value_span(line, colon + 1, bytes),
                ),
                None => (
                    FieldName::of(bytes),
                    Span {
                        start: line.end,
                        end: line.end,
                    },
                ),
            }
        };
        match name {
            FieldName::Data => self.append_data(value)?,
            FieldName::Event => self.event_type = Held::InBuf(value),
            FieldName::Id => self.set_id(value),
            FieldName::Retry => self.set_retry(value),
            FieldName::Other => {}
        }
        Ok(())
    }

    /// Adds one `data` line to the open event.
    fn append_data(&mut self, value: Span) -> Result<(), SseError> {
        let max = self.limits.max_data;
        let too_large = SseError::DataTooLarge { limit: max };
        let line = slice(&self.buf, value);
        match self.data {
            Held::Nothing => {
                if line.len() > max {
                    return Err(too_large);
                }
                self.data = Held::InBuf(value);
            }
            Held::InBuf(first) => {
                let first = slice(&self.buf, first);
                if first.len() + 1 + line.len() > max {
                    return Err(too_large);
                }
                self.data_buf.clear();
                self.data_buf.extend_from_slice(first);
                self.data_buf.push(b'\n');
                self.data_buf.extend_from_slice(line);
                self.data = Held::Owned;
            }
            Held::Owned => {
                if self.data_buf.len() + 1 + line.len() > max {
                    return Err(too_large);
                }
                self.data_buf.push(b'\n');
                self.data_buf.extend_from_slice(line);
            }
        }
        Ok(())
    }

    /// Sets the last event id buffer, unless the value has NUL or is not UTF-8.
    fn set_id(&mut self, value: Span) {
        let bytes = slice(&self.buf, value);
        if bytes.contains(&0) {
            return;
        }
        if let Ok(id) = std::str::from_utf8(bytes) {
            self.id_buffer.clear();
            self.id_buffer.push_str(id);
            self.id_changed = true;
        }
    }

    /// Sets the reconnection time when the value is only ASCII digits (and fits).
    fn set_retry(&mut self, value: Span) {
        let bytes = slice(&self.buf, value);
        if bytes.is_empty() {
            return;
        }
        let mut millis: u64 = 0;
        for &byte in bytes {
            if !byte.is_ascii_digit() {
                return;
            }
            let Some(next) = millis
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(byte - b'0')))
            else {
                return;
            };
            millis = next;
        }
        self.retry = Some(millis);
    }

    /// A blank line: takes the open event, or `None` when it has no data.
    fn dispatch(&mut self) -> Option<(Held, Held)> {
        if self.id_changed {
            self.last_event_id.clone_from(&self.id_buffer);
            self.id_changed = false;
        }
        let event_type = std::mem::take(&mut self.event_type);
        let data = std::mem::take(&mut self.data);
        if data == Held::Nothing {
            return None;
        }
        if self.data_buf.capacity() > SHRINK_ABOVE && data != Held::Owned {
            self.data_buf = Vec::new();
        }
        Some((event_type, data))
    }

    /// The dispatched event as a frame, or `InvalidUtf8` when it is not UTF-8.
    fn event(&self, event_type: Held, data: Held) -> Result<SseFrame<'_>, SseError> {
        let event_type = self.held_str(event_type, &self.type_buf)?;
        let data = self.held_str(data, &self.data_buf)?;
        Ok(SseFrame::Event(SseEvent {
            event_type,
            data,
            last_event_id: &self.last_event_id,
        }))
    }

    /// The text of a held field, checked for UTF-8.
    fn held_str<'a>(&'a self, held: Held, owned: &'a [u8]) -> Result<&'a str, SseError> {
        let bytes = match held {
            Held::Nothing => &[][..],
            Held::InBuf(span) => slice(&self.buf, span),
            Held::Owned => owned,
        };
        std::str::from_utf8(bytes).map_err(|_| SseError::InvalidUtf8)
    }
}

/// The bytes of `span` (empty if it were ever out of range, which it is not).
fn slice(buf: &[u8], span: Span) -> &[u8] {
    buf.get(span.start..span.end).unwrap_or_default()
}

/// The value of a field whose colon ends just before `line.start + after`, without
/// the one optional leading space.
fn value_span(line: Span, after: usize, bytes: &[u8]) -> Span {
    let skip = usize::from(bytes.get(after) == Some(&b' '));
    Span {
        start: line.start + after + skip,
        end: line.end,
    }
}

/// The index of the first CR or LF.
fn find_line_end(hay: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut decoder = SseDecoder::default();
        decoder.feed(input);
        decoder.finish();
        let mut out = Vec::new();
        while let Some(frame) = decoder.next_frame() {
            out.push(match frame {
                Ok(SseFrame::Event(e)) => {
                    format!("{}|{}|{}", e.event_type, e.data, e.last_event_id)
                }
                Ok(SseFrame::Comment) => "#".to_owned(),
                Err(e) => format!("error {e}"),
            });
        }
        out
    }

    #[test]
    fn single_line_data_is_borrowed_from_the_input_buffer() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"event: t\ndata: x\n\n");
        assert!(matches!(decoder.next_frame(), Some(Ok(SseFrame::Event(_)))));
        assert!(decoder.data_buf.is_empty() && decoder.type_buf.is_empty());
    }

    #[test]
    fn open_event_survives_compaction() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"event: t\ndata: x\n");
        assert!(decoder.next_frame().is_none());
        decoder.feed(b"data: y\n\n");
        assert_eq!(
            decoder.data,
            Held::Owned,
            "the first data line was copied out before compaction"
        );
        let Some(Ok(SseFrame::Event(event))) = decoder.next_frame() else {
            panic!("no event")
        };
        assert_eq!((event.event_type, event.data), ("t", "x\ny"));
    }

    #[test]
    fn compaction_moves_only_the_unframed_tail() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"data: 1\n\ndata: 2");
        assert!(decoder.next_frame().is_some());
        assert!(decoder.next_frame().is_none());
        decoder.feed(b"\n\n");
        assert_eq!(decoder.buf, b"data: 2\n\n");
        assert_eq!(frames(b"data: 1\n\ndata: 2\n\n"), ["|1|", "|2|"]);
    }

    #[test]
    fn find_line_end_finds_the_first_cr_or_lf() {
        assert_eq!(find_line_end(b"abc"), None);
        assert_eq!(find_line_end(b"ab\rc\n"), Some(2));
        assert_eq!(find_line_end(b"0123456789abcdef\n"), Some(16));
    }
}
