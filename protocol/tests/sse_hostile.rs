//! Hostile and broken input: bounds hold, errors are typed, nothing panics.

mod sse_support;

use sse_support::{Out, data, decode, decode_chunks, decode_split};
use turnwire_protocol::sse::{SseDecoder, SseError, SseFrame, SseLimits};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn limits(max_line: usize, max_data: usize) -> SseLimits {
    SseLimits { max_line, max_data }
}

/// Drains the decoder, returning the first error (or `None`).
fn first_error(decoder: &mut SseDecoder) -> Option<SseError> {
    while let Some(frame) = decoder.next_frame() {
        if let Err(e) = frame {
            return Some(e);
        }
    }
    None
}

#[test]
fn endless_line_is_line_too_long_with_bounded_memory() {
    let (max_line, chunk_len) = (MIB, 64 * KIB);
    let mut decoder = SseDecoder::new(limits(max_line, MIB));
    let chunk = vec![b'a'; chunk_len];
    let mut error = None;
    // 100 MiB of one line, fed as a socket would deliver it.
    for _ in 0..(100 * MIB / chunk_len) {
        decoder.feed(&chunk);
        assert!(
            decoder.buffered_len() <= max_line + chunk_len,
            "buffered {}",
            decoder.buffered_len()
        );
        assert!(
            decoder.allocated_len() <= 2 * (max_line + chunk_len),
            "allocated {}",
            decoder.allocated_len()
        );
        if let Some(e) = first_error(&mut decoder) {
            error.get_or_insert(e);
        }
    }
    assert_eq!(error, Some(SseError::LineTooLong { limit: max_line }));
    assert_eq!(decoder.buffered_len(), 0, "the line's bytes are released");
    assert!(
        decoder.allocated_len() < 64 * KIB,
        "allocated {}",
        decoder.allocated_len()
    );
}

#[test]
fn line_too_long_is_sticky() {
    let mut decoder = SseDecoder::new(limits(8, 64));
    decoder.feed(b"data: 0123456789\n\n");
    let expected = SseError::LineTooLong { limit: 8 };
    assert_eq!(first_error(&mut decoder), Some(expected.clone()));
    assert!(expected.is_fatal());
    decoder.feed(b"data: 1\n\n");
    assert_eq!(
        decoder.next_frame(),
        Some(Err(expected.clone())),
        "feeding more does not clear it"
    );
    decoder.finish();
    assert_eq!(decoder.next_frame(), Some(Err(expected.clone())));
    assert_eq!(decoder.next_frame(), Some(Err(expected)));
}

#[test]
fn line_of_exactly_max_line_is_allowed() {
    let line = b"data: 0123456789";
    for (max_line, fits) in [(line.len(), true), (line.len() - 1, false)] {
        let input = [&line[..], b"\r\n\r\n"].concat();
        for cut in 0..=input.len() {
            let decoded = decode_split(&input, &[cut], limits(max_line, 64));
            let expected = if fits {
                data("0123456789")
            } else {
                Out::Error(SseError::LineTooLong { limit: max_line })
            };
            assert_eq!(
                decoded.frames,
                [expected],
                "max_line {max_line}, cut at {cut}"
            );
        }
    }
}

#[test]
fn long_line_is_detected_before_it_ends() {
    let mut decoder = SseDecoder::new(limits(100, 100));
    decoder.feed(b"data: ok\n\n");
    assert!(matches!(decoder.next_frame(), Some(Ok(SseFrame::Event(_)))));
    for _ in 0..3 {
        decoder.feed(&[b'x'; 40]);
    }
    assert_eq!(
        first_error(&mut decoder),
        Some(SseError::LineTooLong { limit: 100 }),
        "no line end needed"
    );
}

#[test]
fn gigantic_data_across_many_lines_is_data_too_large() {
    let (max_data, chunk_len) = (MIB, 64 * KIB);
    let mut decoder = SseDecoder::new(limits(64 * KIB, max_data));
    let line = [&b"data: "[..], &[b'd'; 1000], b"\n"].concat();
    let chunk: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * (chunk_len / line.len()))
        .collect();
    let mut error = None;
    for _ in 0..(8 * MIB / chunk.len()) {
        decoder.feed(&chunk);
        assert!(
            decoder.buffered_len() <= max_data + chunk_len,
            "buffered {}",
            decoder.buffered_len()
        );
        if let Some(e) = first_error(&mut decoder) {
            error.get_or_insert(e);
        }
    }
    let expected = SseError::DataTooLarge { limit: max_data };
    assert_eq!(error, Some(expected.clone()));
    assert!(expected.is_fatal());
    assert_eq!(decoder.next_frame(), Some(Err(expected)), "sticky");
    assert_eq!(decoder.buffered_len(), 0);
}

#[test]
fn data_of_exactly_max_data_is_allowed() {
    let input = b"data: 0123\ndata: 45678\n\n"; // joined: 10 bytes
    assert_eq!(
        decode_chunks([&input[..]], limits(64, 10)).frames,
        [data("0123\n45678")]
    );
    assert_eq!(
        decode_chunks([&input[..]], limits(64, 9)).frames,
        [Out::Error(SseError::DataTooLarge { limit: 9 })]
    );
    assert_eq!(
        decode_chunks([&b"data: 0123456789\n\n"[..]], limits(64, 9)).frames,
        [Out::Error(SseError::DataTooLarge { limit: 9 })],
        "a single data line is bounded too"
    );
}

#[test]
fn comments_inside_an_open_event_do_not_grow_memory() {
    let mut decoder = SseDecoder::new(limits(KIB, KIB));
    decoder.feed(b"event: slow\ndata: first\n");
    assert!(decoder.next_frame().is_none());
    let comments = b": keep-alive\n".repeat(5000);
    for _ in 0..100 {
        decoder.feed(&comments);
        while let Some(frame) = decoder.next_frame() {
            assert_eq!(frame, Ok(SseFrame::Comment));
        }
        assert!(
            decoder.buffered_len() <= 64,
            "buffered {}",
            decoder.buffered_len()
        );
    }
    decoder.feed(b"\n");
    assert!(
        matches!(decoder.next_frame(), Some(Ok(SseFrame::Event(e))) if e.event_type == "slow" && e.data == "first")
    );
}

#[test]
fn invalid_utf8_drops_only_that_event() {
    let input = b"data: ok 1\n\ndata: bad \xFF\n\nevent: t\ndata: ok 2\n\n";
    let decoded = decode(input);
    assert_eq!(
        decoded.frames,
        [
            data("ok 1"),
            Out::Error(SseError::InvalidUtf8),
            sse_support::event("t", "ok 2", "")
        ]
    );
    assert!(!SseError::InvalidUtf8.is_fatal());
}

#[test]
fn invalid_utf8_kinds_each_drop_their_event() {
    let bad: [&[u8]; 6] = [
        b"data: \xC3\n\n",                // truncated two-byte sequence
        b"data: \xE2\x82\n\n",            // truncated three-byte sequence
        b"data: \xED\xA0\x80\n\n",        // a surrogate
        b"data: \xC0\xAF\n\n",            // overlong
        b"data: ok\ndata: \x80 a\n\n",    // in a later data line
        b"event: \xF0\x9F\ndata: ok\n\n", // in the event type
    ];
    for case in bad {
        let input = [case, b"data: next\n\n"].concat();
        for cut in 0..=input.len() {
            let decoded = decode_split(&input, &[cut], SseLimits::default());
            assert_eq!(
                decoded.frames,
                [Out::Error(SseError::InvalidUtf8), data("next")],
                "{case:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn invalid_utf8_in_an_event_without_data_is_not_reported() {
    assert_eq!(decode(b"event: \xFF\n\ndata: 1\n\n").frames, [data("1")]);
}

#[test]
fn nul_and_control_bytes_in_data_are_kept() {
    assert_eq!(
        decode(b"data: a\x00b\x01\x7f\n\n").frames,
        [data("a\0b\u{1}\u{7f}")]
    );
}

#[test]
fn zero_limits_allow_only_blank_lines() {
    let decoded = decode_chunks([&b"\n\n\r\n"[..]], limits(0, 0));
    assert_eq!(decoded.frames, []);
    let decoded = decode_chunks([&b"\ndata\n"[..]], limits(0, 0));
    assert_eq!(
        decoded.frames,
        [Out::Error(SseError::LineTooLong { limit: 0 })]
    );
}

#[test]
fn memory_of_a_huge_event_is_given_back_afterwards() {
    let mut decoder = SseDecoder::new(limits(8 * MIB, 8 * MIB));
    let line = [&b"data: "[..], &[b'h'; 1000], b"\n"].concat();
    for _ in 0..4000 {
        decoder.feed(&line);
        assert!(decoder.next_frame().is_none());
    }
    decoder.feed(b"\n");
    assert!(
        matches!(decoder.next_frame(), Some(Ok(SseFrame::Event(e))) if e.data.len() == 4000 * 1001 - 1)
    );
    assert!(
        decoder.allocated_len() > 3 * MIB,
        "the joined data was buffered: {}",
        decoder.allocated_len()
    );
    for _ in 0..3 {
        decoder.feed(&[b"data: small\n\n".repeat(100), vec![b'x'; 64 * KIB]].concat());
        while let Some(frame) = decoder.next_frame() {
            assert!(frame.is_ok());
        }
    }
    assert!(
        decoder.allocated_len() < 2 * MIB,
        "allocated {}",
        decoder.allocated_len()
    );
}
