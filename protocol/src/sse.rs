//! Incremental Server-Sent Events decoder (WHATWG event-stream rules).
//!
//! OWNER: codec helper "sse". The signatures below are the contract the session uses.
//! Bytes go in with [`SseDecoder::feed`] in chunks of any size, split anywhere; frames
//! come out of [`SseDecoder::next_frame`]; [`SseDecoder::finish`] marks end of input.

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

/// The decoder. Memory stays within the limits plus one fed chunk.
#[derive(Debug, Default)]
pub struct SseDecoder {
    limits: SseLimits,
}

impl SseDecoder {
    /// A decoder with these bounds.
    pub fn new(limits: SseLimits) -> Self {
        SseDecoder { limits }
    }

    /// Hands the decoder the next bytes of the body. Call [`SseDecoder::next_frame`]
    /// until `None` before feeding more.
    pub fn feed(&mut self, chunk: &[u8]) {
        let _ = (chunk, self.limits);
        todo!("sse helper")
    }

    /// The next frame from what was fed, or `None` when more bytes are needed. After a
    /// fatal error every later call returns that error again.
    pub fn next_frame(&mut self) -> Option<Result<SseFrame<'_>, SseError>> {
        todo!("sse helper")
    }

    /// Marks the end of input: a final line without its line end is processed, and an
    /// unterminated event is discarded. Call [`SseDecoder::next_frame`] afterwards.
    pub fn finish(&mut self) {
        todo!("sse helper")
    }

    /// The reconnection time of the last valid `retry` field, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        todo!("sse helper")
    }
}
