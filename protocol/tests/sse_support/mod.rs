//! Helpers shared by the SSE decoder tests: run the decoder over chunks and collect
//! owned frames, so outputs of differently split inputs can be compared.
#![allow(dead_code, unreachable_pub)]

use turnwire_protocol::sse::{SseDecoder, SseError, SseFrame, SseLimits};

/// One frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// An event: type, data, last event id.
    Event {
        event_type: String,
        data: String,
        id: String,
    },
    /// A comment line.
    Comment,
    /// An error; after a fatal one nothing more is collected.
    Error(SseError),
}

/// An event with this type, data and id.
pub fn event(event_type: &str, data: &str, id: &str) -> Out {
    Out::Event {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        id: id.to_owned(),
    }
}

/// An event with no type and no id.
pub fn data(data: &str) -> Out {
    event("", data, "")
}

/// Everything the decoder produced for a whole stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The frames, in order.
    pub frames: Vec<Out>,
    /// The decoder's `retry` at the end.
    pub retry: Option<u64>,
}

impl Decoded {
    /// Only the events.
    pub fn events(&self) -> Vec<Out> {
        self.frames
            .iter()
            .filter(|f| matches!(f, Out::Event { .. }))
            .cloned()
            .collect()
    }
}

/// Drains the decoder; true when a fatal error was collected.
pub fn drain(decoder: &mut SseDecoder, frames: &mut Vec<Out>) -> bool {
    while let Some(frame) = decoder.next_frame() {
        match frame {
            Ok(SseFrame::Event(e)) => frames.push(Out::Event {
                event_type: e.event_type.to_owned(),
                data: e.data.to_owned(),
                id: e.last_event_id.to_owned(),
            }),
            Ok(SseFrame::Comment) => frames.push(Out::Comment),
            Ok(_) => unreachable!("the decoder yields events and comments only"),
            Err(error) => {
                let fatal = error.is_fatal();
                frames.push(Out::Error(error));
                if fatal {
                    return true;
                }
            }
        }
    }
    false
}

/// Feeds the chunks in order (draining after each), then finishes.
pub fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limits: SseLimits) -> Decoded {
    let mut decoder = SseDecoder::new(limits);
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        if drain(&mut decoder, &mut frames) {
            return Decoded {
                frames,
                retry: decoder.retry(),
            };
        }
    }
    decoder.finish();
    drain(&mut decoder, &mut frames);
    Decoded {
        frames,
        retry: decoder.retry(),
    }
}

/// The whole input as one chunk, default limits.
pub fn decode(input: &[u8]) -> Decoded {
    decode_chunks([input], SseLimits::default())
}

/// The input cut at these offsets (sorted, within bounds).
pub fn decode_split(input: &[u8], cuts: &[usize], limits: SseLimits) -> Decoded {
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    decode_chunks(chunks, limits)
}

/// The input fed one byte at a time.
pub fn decode_bytewise(input: &[u8]) -> Decoded {
    decode_chunks(input.chunks(1), SseLimits::default())
}
