//! The `sse` target: arbitrary bytes, cut into arbitrary chunks, through [`SseDecoder`].
//!
//! Input layout: one byte picks `max_line`, one byte picks `max_data` (small limits are
//! common so the bounds are reached), eight bytes seed the chunking, and the rest is
//! the stream.
//!
//! Checked: no panic; after every `feed`, [`SseDecoder::buffered_len`] is within the
//! limits plus that chunk, and after draining it is within the limits;
//! [`SseDecoder::allocated_len`] stays within a growth factor of the same; a fatal
//! error is sticky and later bytes are ignored; and the frames (events, comments,
//! errors, in order), the last event id and `retry` are exactly those of feeding the
//! whole input at once. Then [`SseDecoder::reset`] gives a decoder that decodes the
//! input the same way again.

use turnwire_protocol::sse::{SseDecoder, SseError, SseFrame, SseLimits};

use super::reader::{Mix, Reader};

/// One frame, owned so runs can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    Event {
        event_type: String,
        data: String,
        last_event_id: String,
    },
    Comment,
    Error(SseError),
}

/// What one decoding run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Run {
    frames: Vec<Rec>,
    last_event_id: String,
    retry: Option<u64>,
}

/// A limit from one byte: mostly small, sometimes large.
fn limit(byte: u8) -> usize {
    match byte {
        0..=191 => 1 + usize::from(byte % 64),
        192..=253 => 64 * usize::from(byte - 191),
        _ => 16 << 20,
    }
}

/// The limits an input asks for.
pub(crate) fn limits(r: &mut Reader<'_>) -> SseLimits {
    SseLimits {
        max_line: limit(r.u8()),
        max_data: limit(r.u8()),
    }
}

/// Bytes the decoder may hold once it drained: a partial line, an `event` type (one
/// line) and the event data, plus a partial byte order mark.
fn drained_bound(limits: SseLimits) -> usize {
    2 * limits.max_line + limits.max_data + 3
}

/// Drains every frame the decoder has, checking stickiness of fatal errors and that
/// it holds no more than the limits plus the `chunk` bytes last fed. Returns false
/// once a fatal error was seen.
fn drain(decoder: &mut SseDecoder, limits: SseLimits, chunk: usize, frames: &mut Vec<Rec>) -> bool {
    while let Some(frame) = decoder.next_frame() {
        match frame {
            Ok(SseFrame::Event(e)) => {
                assert!(
                    e.data.len() <= limits.max_data,
                    "event data of {} bytes over max_data {}",
                    e.data.len(),
                    limits.max_data
                );
                frames.push(Rec::Event {
                    event_type: e.event_type.to_owned(),
                    data: e.data.to_owned(),
                    last_event_id: e.last_event_id.to_owned(),
                });
            }
            Ok(SseFrame::Comment) => frames.push(Rec::Comment),
            Ok(other) => panic!("a frame kind this check does not know: {other:?}"),
            Err(error) if error.is_fatal() => {
                frames.push(Rec::Error(error.clone()));
                match decoder.next_frame() {
                    Some(Err(again)) => assert_eq!(again, error, "fatal error is not sticky"),
                    other => panic!("after fatal {error:?} the decoder returned {other:?}"),
                }
                return false;
            }
            Err(error) => frames.push(Rec::Error(error)),
        }
        let held = decoder.buffered_len();
        assert!(
            held <= drained_bound(limits) + chunk,
            "buffered_len {held} while draining a {chunk}-byte chunk, over the limits {limits:?}"
        );
    }
    let held = decoder.buffered_len();
    assert!(
        held <= drained_bound(limits),
        "buffered_len {held} after draining, over the limits {limits:?}"
    );
    true
}

/// Feeds everything at once.
fn whole(payload: &[u8], limits: SseLimits) -> Run {
    let mut decoder = SseDecoder::new(limits);
    run_whole(&mut decoder, payload, limits)
}

fn run_whole(decoder: &mut SseDecoder, payload: &[u8], limits: SseLimits) -> Run {
    let mut frames = Vec::new();
    decoder.feed(payload);
    if drain(decoder, limits, payload.len(), &mut frames) {
        decoder.finish();
        drain(decoder, limits, 0, &mut frames);
    }
    Run {
        frames,
        last_event_id: decoder.last_event_id().to_owned(),
        retry: decoder.retry(),
    }
}

/// Feeds `payload` in chunks whose sizes come from `mix`, checking the bounds.
fn chunked(decoder: &mut SseDecoder, payload: &[u8], limits: SseLimits, mix: &mut Mix) -> Run {
    let max_chunk = *[1, 2, 3, 7, 16, 64, 4096]
        .get((mix.next() % 7) as usize)
        .unwrap_or(&1);
    let mut frames = Vec::new();
    let mut rest = payload;
    let mut alive = true;
    let mut biggest_chunk = 0;
    while !rest.is_empty() {
        let n = mix.between_1_and(max_chunk).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        biggest_chunk = biggest_chunk.max(n);
        decoder.feed(chunk);
        let held = decoder.buffered_len();
        assert!(
            held <= drained_bound(limits) + chunk.len(),
            "buffered_len {held} after a {}-byte chunk, over the limits {limits:?}",
            chunk.len()
        );
        if alive {
            alive = drain(decoder, limits, chunk.len(), &mut frames);
        } else {
            assert!(
                decoder.next_frame().is_some_and(|f| f.is_err()),
                "bytes fed after a fatal error were not ignored"
            );
        }
        let allocated = decoder.allocated_len();
        let allowed = 2 * (4 * limits.max_line + limits.max_data + biggest_chunk) + 256;
        assert!(
            allocated <= allowed,
            "allocated_len {allocated} over {allowed} (limits {limits:?}, chunk {biggest_chunk})"
        );
    }
    if alive {
        decoder.finish();
        drain(decoder, limits, 0, &mut frames);
    }
    Run {
        frames,
        last_event_id: decoder.last_event_id().to_owned(),
        retry: decoder.retry(),
    }
}

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let limits = limits(&mut r);
    let mut mix = Mix::new(r.u64());
    let payload = r.rest();

    let expected = whole(payload, limits);
    let mut decoder = SseDecoder::new(limits);
    let got = chunked(&mut decoder, payload, limits, &mut mix);
    assert_eq!(
        got, expected,
        "chunked decoding differs from decoding the whole input (limits {limits:?})"
    );

    decoder.reset();
    assert_eq!(decoder.buffered_len(), 0, "reset left bytes behind");
    let again = run_whole(&mut decoder, payload, limits);
    assert_eq!(again, expected, "a reset decoder decodes differently");
}
