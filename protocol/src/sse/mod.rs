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

mod framing;

use framing::{Held, Step};

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
#[non_exhaustive]
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

    /// Bytes the decoder still needs: input not framed yet plus the type and data of
    /// the event being built. Stays within the limits plus one fed chunk.
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
}
