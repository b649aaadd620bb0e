//! The WHATWG event-stream rules, one named test per rule or edge case.

mod sse_support;

use sse_support::{Out, data, decode, decode_bytewise, decode_chunks, decode_split, event};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};

/// Feeds one chunk and returns the frames it completed (without finishing).
fn feed(decoder: &mut SseDecoder, chunk: &[u8]) -> Vec<Out> {
    decoder.feed(chunk);
    let mut frames = Vec::new();
    sse_support::drain(decoder, &mut frames);
    frames
}

/// The input split at every byte boundary (two chunks) and fed one byte at a time
/// gives the same frames as whole.
fn assert_split_agnostic(input: &[u8]) {
    let whole = decode(input);
    for cut in 0..=input.len() {
        assert_eq!(
            decode_split(input, &[cut], SseLimits::default()),
            whole,
            "cut at {cut} of {input:?}"
        );
    }
    assert_eq!(decode_bytewise(input), whole, "bytewise {input:?}");
}

// ---- line ends ----

#[test]
fn lf_ends_lines() {
    assert_eq!(
        decode(b"event: a\ndata: 1\n\n").frames,
        [event("a", "1", "")]
    );
}

#[test]
fn crlf_ends_lines() {
    let input = b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n";
    assert_eq!(decode(input).frames, [event("a", "1", ""), data("2")]);
    assert_split_agnostic(input);
}

#[test]
fn lone_cr_ends_lines() {
    let input = b"event: a\rdata: 1\r\rdata: 2\r\r";
    assert_eq!(decode(input).frames, [event("a", "1", ""), data("2")]);
    assert_split_agnostic(input);
}

#[test]
fn mixed_line_ends_in_one_stream() {
    let input = b"data: 1\r\ndata: 2\rdata: 3\n\r\ndata: 4\r\r\n";
    // `\r\r\n` is CR (ends `data: 4`) then CRLF (blank line).
    assert_eq!(decode(input).frames, [data("1\n2\n3"), data("4")]);
    assert_split_agnostic(input);
}

#[test]
fn lf_cr_is_two_line_ends() {
    // LF ends `data: 1`, the CR is a blank line of its own.
    assert_eq!(
        decode(b"data: 1\n\rdata: 2\n\n").frames,
        [data("1"), data("2")]
    );
}

#[test]
fn cr_at_chunk_end_dispatches_without_waiting_for_more_bytes() {
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"data: 1\r"), []);
    assert_eq!(
        feed(&mut decoder, b"\r"),
        [data("1")],
        "the blank line ended by CR dispatches at once"
    );
}

#[test]
fn cr_at_chunk_end_then_lf_at_next_chunk_start_is_one_line_end() {
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"data: 1\r"), []);
    // Were this LF a line of its own, it would be a blank line dispatching "1" now.
    assert_eq!(feed(&mut decoder, b"\n"), []);
    assert_eq!(feed(&mut decoder, b"data: 2\r"), []);
    assert_eq!(feed(&mut decoder, b"\n\r"), [data("1\n2")]);
    assert_eq!(
        feed(&mut decoder, b"\ndata: 3\n\n"),
        [data("3")],
        "the LF after the CR blank line is swallowed"
    );
}

#[test]
fn cr_at_chunk_end_then_an_empty_chunk_then_lf() {
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"data: 1\r"), []);
    assert_eq!(feed(&mut decoder, b""), []);
    assert_eq!(feed(&mut decoder, b"\n"), []);
    assert_eq!(feed(&mut decoder, b"\n"), [data("1")]);
}

#[test]
fn cr_at_chunk_end_then_finish() {
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"data: 1\r\r"), [data("1")]);
    decoder.finish();
    assert!(decoder.next_frame().is_none());

    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b": ping\r"), [Out::Comment]);
    decoder.finish();
    assert!(
        decoder.next_frame().is_none(),
        "the CR already ended the line; nothing is left"
    );
}

// ---- byte order mark ----

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn with_bom(rest: &[u8]) -> Vec<u8> {
    [BOM, rest].concat()
}

#[test]
fn bom_at_start_is_skipped() {
    assert_eq!(decode(&with_bom(b"data: 1\n\n")).frames, [data("1")]);
}

#[test]
fn bom_split_at_each_byte_is_skipped() {
    let input = with_bom(b"data: 1\n\n");
    for cut in 0..=input.len() {
        assert_eq!(
            decode_split(&input, &[cut], SseLimits::default()).frames,
            [data("1")],
            "cut at {cut}"
        );
    }
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        assert_eq!(
            decode_split(&input, &[a, b], SseLimits::default()).frames,
            [data("1")],
            "cuts at {a}, {b}"
        );
    }
    assert_eq!(decode_bytewise(&input).frames, [data("1")]);
}

#[test]
fn bom_is_skipped_only_at_stream_start() {
    // Later, the BOM is part of the field name `\u{FEFF}data`: an unknown field.
    let input = [&b"data: 1\n\n"[..], BOM, b"data: 2\n\n"].concat();
    assert_eq!(decode(&input).frames, [data("1")]);
    // Only one BOM is skipped.
    assert_eq!(decode(&[BOM, BOM, b"data: 1\n\n"].concat()).frames, []);
}

#[test]
fn partial_bom_then_other_bytes_is_not_a_bom() {
    // `\xEF\xBB` followed by `x`: no BOM, the line `\xEF\xBBx: 1` is an unknown field.
    assert_eq!(decode(b"\xEF\xBBx: 1\ndata: 2\n\n").frames, [data("2")]);
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"\xEF\xBB"), []);
    assert_eq!(feed(&mut decoder, b"\n\ndata: 3\n\n"), [data("3")]);
}

#[test]
fn partial_bom_at_finish_is_an_ordinary_line() {
    let mut decoder = SseDecoder::default();
    decoder.feed(b"\xEF\xBB");
    assert!(decoder.next_frame().is_none(), "could still become a BOM");
    decoder.finish();
    assert!(
        decoder.next_frame().is_none(),
        "an unknown field, then end of input"
    );
}

// ---- comments and fields ----

#[test]
fn comment_lines_are_reported() {
    let input = b": keep-alive\n:\ndata: 1\n: inside an event\ndata: 2\n\n";
    assert_eq!(
        decode(input).frames,
        [Out::Comment, Out::Comment, Out::Comment, data("1\n2")]
    );
    assert_split_agnostic(input);
}

#[test]
fn multi_line_data_is_joined_with_lf() {
    let input = b"data: a\ndata: b\ndata: c\n\n";
    assert_eq!(decode(input).frames, [data("a\nb\nc")]);
    assert_split_agnostic(input);
}

#[test]
fn data_with_and_without_the_space() {
    assert_eq!(decode(b"data:1\n\n").frames, [data("1")]);
    assert_eq!(decode(b"data: 1\n\n").frames, [data("1")]);
    assert_eq!(
        decode(b"data:  1\n\n").frames,
        [data(" 1")],
        "only one space is removed"
    );
    assert_eq!(
        decode(b"data:\t1\n\n").frames,
        [data("\t1")],
        "a tab is not removed"
    );
    assert_eq!(
        decode(b"data: 1 \n\n").frames,
        [data("1 ")],
        "trailing spaces stay"
    );
    assert_eq!(
        decode(b"data: a: b\n\n").frames,
        [data("a: b")],
        "later colons are data"
    );
}

#[test]
fn empty_data_line_dispatches_an_empty_event() {
    assert_eq!(decode(b"data:\n\n").frames, [data("")]);
    assert_eq!(decode(b"data: \n\n").frames, [data("")]);
    assert_eq!(decode(b"data:\ndata:\n\n").frames, [data("\n")]);
    assert_eq!(decode(b"data:\ndata: x\n\n").frames, [data("\nx")]);
}

#[test]
fn field_without_colon_has_an_empty_value() {
    assert_eq!(decode(b"data\n\n").frames, [data("")]);
    assert_eq!(decode(b"data\ndata\n\n").frames, [data("\n")]);
    assert_eq!(
        decode(b"event: a\nevent\ndata: 1\n\n").frames,
        [data("1")],
        "`event` alone resets the type"
    );
    assert_eq!(
        decode(b"id: 7\ndata: 1\n\nid\ndata: 2\n\n").frames,
        [event("", "1", "7"), data("2")]
    );
}

#[test]
fn event_field_sets_the_type_of_one_event() {
    let input = b"event: first\nevent: second\ndata: 1\n\ndata: 2\n\n";
    assert_eq!(decode(input).frames, [event("second", "1", ""), data("2")]);
}

#[test]
fn id_persists_across_events() {
    let input = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n";
    assert_eq!(
        decode(input).frames,
        [
            event("", "a", "1"),
            event("", "b", "1"),
            event("", "c", "2")
        ]
    );
    let mut decoder = SseDecoder::default();
    decoder.feed(input);
    while decoder.next_frame().is_some() {}
    assert_eq!(decoder.last_event_id(), "2");
}

#[test]
fn id_with_nul_is_ignored() {
    let input = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n";
    assert_eq!(
        decode(input).frames,
        [event("", "a", "1"), event("", "b", "1")]
    );
}

#[test]
fn id_that_is_not_utf8_is_ignored() {
    let input = b"id: 1\ndata: a\n\nid: \xFF\ndata: b\n\n";
    assert_eq!(
        decode(input).frames,
        [event("", "a", "1"), event("", "b", "1")]
    );
}

#[test]
fn id_in_a_block_without_data_still_sets_the_last_event_id() {
    // WHATWG: the last event ID is set at every blank line, dispatched or not.
    let input = b"id: 5\n\ndata: a\n\n";
    assert_eq!(decode(input).frames, [event("", "a", "5")]);
}

#[test]
fn id_of_an_unterminated_block_is_not_committed() {
    let mut decoder = SseDecoder::default();
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\n");
    decoder.finish();
    while decoder.next_frame().is_some() {}
    assert_eq!(decoder.last_event_id(), "1");
}

#[test]
fn retry_with_ascii_digits_sets_the_reconnection_time() {
    let mut decoder = SseDecoder::default();
    assert_eq!(decoder.retry(), None);
    assert_eq!(
        feed(&mut decoder, b"retry: 2500\n"),
        [],
        "retry is not an event"
    );
    assert_eq!(decoder.retry(), Some(2500));
    assert_eq!(feed(&mut decoder, b"retry:0\n"), []);
    assert_eq!(decoder.retry(), Some(0));
    assert_eq!(
        decode(b"retry: 18446744073709551615\n").retry,
        Some(u64::MAX)
    );
}

#[test]
fn retry_that_is_not_only_digits_is_ignored() {
    for bad in [
        &b"retry: 10a\n"[..],
        b"retry: -1\n",
        b"retry: 1.5\n",
        b"retry:\n",
        b"retry\n",
        b"retry:  10\n",
    ] {
        let input = [&b"retry: 7\n"[..], bad].concat();
        assert_eq!(
            decode(&input).retry,
            Some(7),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        decode(b"retry: 18446744073709551616\n").retry,
        None,
        "too large for u64"
    );
    assert_eq!(
        decode("retry: ١٢\n".as_bytes()).retry,
        None,
        "non-ASCII digits"
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let input = b"foo: bar\nDATA: x\ndata : y\nEvent: z\ndata: 1\n\n";
    assert_eq!(decode(input).frames, [data("1")]);
}

#[test]
fn event_with_no_data_is_not_dispatched() {
    assert_eq!(decode(b"event: lonely\n\n").frames, []);
    assert_eq!(
        decode(b"event: a\n\ndata: 1\n\n").frames,
        [data("1")],
        "the type does not carry over"
    );
    assert_eq!(
        decode(b"\n\n\n").frames,
        [],
        "blank lines alone dispatch nothing"
    );
}

#[test]
fn event_type_defaults_to_empty() {
    assert_eq!(decode(b"data: 1\n\n").frames, [event("", "1", "")]);
}

// ---- end of input ----

#[test]
fn unterminated_block_is_discarded_at_finish() {
    assert_eq!(decode(b"data: 1\n\ndata: 2\n").frames, [data("1")]);
    assert_eq!(decode(b"event: a\ndata: 2").frames, []);
}

#[test]
fn final_line_without_newline_is_processed_at_finish() {
    let mut decoder = SseDecoder::default();
    assert_eq!(feed(&mut decoder, b"data: 1\n\n: bye"), [data("1")]);
    decoder.finish();
    assert!(
        matches!(decoder.next_frame(), Some(Ok(SseFrame::Comment))),
        "the final comment counts"
    );
    assert!(decoder.next_frame().is_none());

    assert_eq!(
        decode(b"retry: 42").retry,
        Some(42),
        "a final retry line applies"
    );
    assert_eq!(
        decode(b"data: 1\n\ndata: 2").frames,
        [data("1")],
        "a final data line opens a block that is discarded"
    );
}

#[test]
fn next_frame_after_finish_keeps_returning_none() {
    let mut decoder = SseDecoder::default();
    decoder.feed(b"data: 1\n\n");
    decoder.finish();
    assert!(decoder.next_frame().is_some());
    for _ in 0..3 {
        assert!(decoder.next_frame().is_none());
    }
    decoder.feed(b"data: 2\n\n");
    assert!(
        decoder.next_frame().is_none(),
        "bytes after finish are ignored"
    );
}

#[test]
fn reset_starts_a_new_stream() {
    let mut decoder = SseDecoder::default();
    decoder.feed(b"\xEF\xBB\xBFid: 1\nretry: 5\ndata: 1\n\ndata: open");
    while decoder.next_frame().is_some() {}
    decoder.finish();
    decoder.reset();
    assert_eq!(
        (
            decoder.retry(),
            decoder.last_event_id(),
            decoder.buffered_len()
        ),
        (None, "", 0)
    );
    assert_eq!(
        feed(&mut decoder, b"\xEF\xBB\xBFdata: 2\n\n"),
        [data("2")],
        "a BOM is skipped again"
    );
}

// ---- UTF-8 ----

#[test]
fn utf8_character_split_at_every_byte_offset() {
    let text = "a é € 𝄞 z";
    let input = format!("event: ü\ndata: {text}\n\n");
    let expected = [event("ü", text, "")];
    for cut in 0..=input.len() {
        assert_eq!(
            decode_split(input.as_bytes(), &[cut], SseLimits::default()).frames,
            expected,
            "cut at {cut}"
        );
    }
    // Every character split into single bytes at once.
    assert_eq!(decode_bytewise(input.as_bytes()).frames, expected);
}

#[test]
fn utf8_split_across_chunks_of_every_size() {
    let input = "data: ñandú 🦀 ✓\ndata: 😀\n\n".as_bytes();
    for size in 1..input.len() {
        let decoded = decode_chunks(input.chunks(size), SseLimits::default());
        assert_eq!(decoded.frames, [data("ñandú 🦀 ✓\n😀")], "chunks of {size}");
    }
}

#[test]
fn invalid_utf8_in_ignored_lines_is_not_an_error() {
    let input = b": \xFF comment\nx-\xFE: y\ndata: ok\n\n";
    assert_eq!(decode(input).frames, [Out::Comment, data("ok")]);
}
