//! Property tests: the frames do not depend on how the input is split into chunks,
//! and no input makes the decoder panic or outgrow its bounds.

mod sse_support;

use proptest::prelude::*;
use sse_support::{decode_chunks, decode_split};
use turnwire_protocol::sse::{SseDecoder, SseLimits};

/// A stream built from event-stream pieces, with random bytes mixed in.
#[derive(Clone, Debug)]
enum Piece {
    Field {
        name: &'static str,
        colon: &'static str,
        value: String,
        end: &'static str,
    },
    Comment {
        text: String,
        end: &'static str,
    },
    Blank {
        end: &'static str,
    },
    Raw(Vec<u8>),
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r", "\r\n"])
}

fn value() -> impl Strategy<Value = String> {
    // Spaces, colons, digits, NUL and multi-byte characters are where the rules bite.
    prop::collection::vec(
        prop::sample::select(vec![
            "a",
            "Z",
            " ",
            ":",
            "0",
            "7",
            "\0",
            "é",
            "€",
            "𝄞",
            "{\"k\":1}",
        ]),
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn piece() -> impl Strategy<Value = Piece> {
    let name = prop::sample::select(vec![
        "data", "data", "data", "event", "id", "retry", "foo", "", "dat",
    ]);
    let colon = prop::sample::select(vec![":", ": ", ": ", "", ":  "]);
    prop_oneof![
        6 => (name, colon, value(), line_end()).prop_map(|(name, colon, value, end)| Piece::Field { name, colon, value, end }),
        1 => (value(), line_end()).prop_map(|(text, end)| Piece::Comment { text, end }),
        3 => line_end().prop_map(|end| Piece::Blank { end }),
        1 => prop::collection::vec(any::<u8>(), 1..6).prop_map(Piece::Raw),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    let bom = prop::sample::select(vec![&b""[..], b"", b"\xEF\xBB\xBF", b"\xEF\xBB"]);
    (bom, prop::collection::vec(piece(), 0..40)).prop_map(|(bom, pieces)| {
        let mut out = bom.to_vec();
        for piece in pieces {
            match piece {
                Piece::Field {
                    name,
                    colon,
                    value,
                    end,
                } => {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(colon.as_bytes());
                    out.extend_from_slice(value.as_bytes());
                    out.extend_from_slice(end.as_bytes());
                }
                Piece::Comment { text, end } => {
                    out.extend_from_slice(format!(":{text}{end}").as_bytes())
                }
                Piece::Blank { end } => out.extend_from_slice(end.as_bytes()),
                Piece::Raw(bytes) => out.extend_from_slice(&bytes),
            }
        }
        out
    })
}

/// A stream and sorted cut points within it.
fn split_stream(
    stream: impl Strategy<Value = Vec<u8>>,
) -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    stream.prop_flat_map(|input| {
        let len = input.len();
        (Just(input), prop::collection::vec(0..=len, 0..12)).prop_map(|(input, mut cuts)| {
            cuts.sort_unstable();
            (input, cuts)
        })
    })
}

fn small_limits() -> impl Strategy<Value = SseLimits> {
    (0usize..48, 0usize..64).prop_map(|(max_line, max_data)| SseLimits { max_line, max_data })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn grammar_streams_split_anywhere_give_the_same_frames((input, cuts) in split_stream(stream())) {
        let whole = decode_chunks([&input[..]], SseLimits::default());
        prop_assert_eq!(decode_split(&input, &cuts, SseLimits::default()), whole);
    }

    #[test]
    fn grammar_streams_hit_the_same_limits_however_split(
        (input, cuts) in split_stream(stream()),
        limits in small_limits(),
    ) {
        let whole = decode_chunks([&input[..]], limits);
        prop_assert_eq!(decode_split(&input, &cuts, limits), whole);
    }

    #[test]
    fn random_bytes_split_anywhere_give_the_same_frames(
        (input, cuts) in split_stream(prop::collection::vec(
            prop::sample::select(vec![b'\n', b'\r', b':', b' ', b'd', b'a', b't', 0xEF, 0xBB, 0xBF, 0xFF, b'x']),
            0..200,
        )),
        limits in small_limits(),
    ) {
        let whole = decode_chunks([&input[..]], limits);
        prop_assert_eq!(decode_split(&input, &cuts, limits), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_outgrow_the_bounds(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..24),
        limits in small_limits(),
        finish in any::<bool>(),
    ) {
        let mut decoder = SseDecoder::new(limits);
        for chunk in &chunks {
            decoder.feed(chunk);
            prop_assert!(decoder.buffered_len() <= limits.max_line + limits.max_data + 2 * chunk.len() + 64);
            let mut fatal = 0;
            while let Some(frame) = decoder.next_frame() {
                if frame.is_err_and(|e| e.is_fatal()) {
                    fatal += 1;
                    prop_assert!(fatal < 2 || decoder.buffered_len() == 0);
                    if fatal > 2 {
                        break; // sticky: it would repeat forever
                    }
                }
            }
        }
        if finish {
            decoder.finish();
            let mut n = 0;
            while decoder.next_frame().is_some_and(|f| f.is_ok()) {
                n += 1;
                prop_assert!(n < 10_000, "frames must run out");
            }
        }
    }
}
