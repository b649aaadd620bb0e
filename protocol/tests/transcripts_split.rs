//! PROTOCOL.md scenario 22: every recorded transcript decodes without error into the
//! same server events whether it arrives in one piece or split at any byte boundary.
//! (Framing alone is covered in `sse_fixtures.rs`; this goes through event decoding.)

mod support;

use proptest::prelude::*;
use turnwire_protocol::event::{ServerEvent, decode_server_event};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};

/// Decodes `bytes` fed in the given pieces; panics on any framing or decoding error.
fn decode(pieces: &[&[u8]]) -> Vec<ServerEvent> {
    let mut sse = SseDecoder::new(SseLimits::default());
    let mut events = Vec::new();
    let drain = |sse: &mut SseDecoder, events: &mut Vec<ServerEvent>| {
        while let Some(frame) = sse.next_frame() {
            if let SseFrame::Event(event) = frame.expect("frames without error") {
                events.push(decode_server_event(event.data).expect("event decodes"));
            }
        }
    };
    for piece in pieces {
        sse.feed(piece);
        drain(&mut sse, &mut events);
    }
    sse.finish();
    drain(&mut sse, &mut events);
    events
}

fn transcripts() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = support::openai_fixtures("transcripts_split") else {
        return Vec::new();
    };
    support::transcripts(&dir)
        .iter()
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                support::transcript_as_sse(path),
            )
        })
        .collect()
}

/// Split points: every boundary for small transcripts, an even sample for large ones.
fn boundaries(len: usize) -> Vec<usize> {
    const EVERY_UP_TO: usize = 4 * 1024;
    const SAMPLES: usize = 64;
    if len <= EVERY_UP_TO {
        (0..=len).collect()
    } else {
        (0..=SAMPLES).map(|i| i * len / SAMPLES).collect()
    }
}

#[test]
fn every_transcript_decodes_the_same_split_anywhere_in_two() {
    for (name, bytes) in transcripts() {
        let whole = decode(&[&bytes]);
        assert!(!whole.is_empty(), "{name} decoded to nothing");
        for at in boundaries(bytes.len()) {
            let (a, b) = bytes.split_at(at);
            assert_eq!(decode(&[a, b]), whole, "{name} split at byte {at}");
        }
    }
}

#[test]
fn every_transcript_ends_with_its_terminal_events() {
    for (name, bytes) in transcripts() {
        let events = decode(&[&bytes]);
        let terminals = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ServerEvent::Completed { .. }
                        | ServerEvent::Incomplete { .. }
                        | ServerEvent::Failed { .. }
                )
            })
            .count();
        // The spec example has no blank line after its last event, so under the WHATWG
        // rules its final block (the completion) is never dispatched.
        if name.starts_with("spec-paths") {
            assert_eq!(terminals, 0, "{name}");
        } else {
            assert!(terminals >= 1, "{name} has no terminal event");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_transcript_decodes_the_same_in_random_pieces(seed in any::<u64>(), max_piece in 1usize..4096) {
        let mut state = seed | 1;
        for (name, bytes) in transcripts() {
            let whole = decode(&[&bytes]);
            let mut pieces = Vec::new();
            let mut rest: &[u8] = &bytes;
            while !rest.is_empty() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let take = (state as usize % max_piece + 1).min(rest.len());
                let (piece, tail) = rest.split_at(take);
                pieces.push(piece);
                rest = tail;
            }
            prop_assert_eq!(decode(&pieces), whole, "{} in {} pieces", name, pieces.len());
        }
    }
}
