//! The `http1` target: arbitrary bytes, cut into arbitrary chunks, as the responses on
//! one connection, through [`ResponseDecoder`].
//!
//! Input layout: one byte picks the limits (small ones are common so the bounds are
//! reached), eight bytes seed the chunking, and the rest is what the server sent.
//!
//! Checked: no panic; after every `feed` that succeeds the decoder holds no more than
//! its largest bound; the parts come in order (one head, data, one end, nothing after
//! the end) and are exactly those of feeding the whole input at once, with the same
//! error; an ended response's body has the length its framing announced; a reusable
//! connection ended without bytes after the end and not by closing; and after
//! `reset` the decoder decodes the input the same way again. When a response ends
//! reusable, the bytes after it are decoded as a second response on the same
//! connection after `reset`, as a kept-alive connection would.

use turnwire_protocol::http1::{BodyFraming, Http1Error, Http1Limits, Part, ResponseDecoder};

use super::reader::{Mix, Reader};

/// What one response gave, owned so runs can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Status and framing of the final head, when one arrived.
    pub(crate) head: Option<(u16, BodyFraming)>,
    /// Every body byte, joined.
    pub(crate) body: Vec<u8>,
    /// `End` was produced.
    pub(crate) ended: bool,
    /// The error, when decoding failed.
    pub(crate) error: Option<Http1Error>,
    /// Whether the connection may be reused (`None` when it may).
    pub(crate) not_reusable: Option<String>,
}

/// The limits an input asks for: mostly small, sometimes the defaults.
pub(crate) fn limits(byte: u8) -> Http1Limits {
    if byte >= 192 {
        return Http1Limits::default();
    }
    Http1Limits {
        max_head: 8 + usize::from(byte % 64) * 4,
        max_headers: 1 + usize::from(byte % 7),
        max_chunk_line: 2 + usize::from(byte % 13),
        max_trailers: 2 + usize::from(byte % 29),
    }
}

/// The most a decoder may hold once a feed returned.
fn held_bound(limits: &Http1Limits) -> usize {
    limits
        .max_head
        .max(limits.max_chunk_line)
        .max(limits.max_trailers)
}

/// Appends `parts` to `run`, checking their order.
fn record(run: &mut Run, parts: &mut Vec<Part>) {
    for part in parts.drain(..) {
        assert!(!run.ended, "a part after the end: {part:?}");
        match part {
            Part::Head(head) => {
                assert!(run.head.is_none(), "a second head");
                assert!((200..=999).contains(&head.status), "status {}", head.status);
                run.head = Some((head.status, head.framing));
            }
            Part::Data(data) => {
                assert!(run.head.is_some(), "data before the head");
                assert!(!data.is_empty(), "an empty data part");
                run.body.extend_from_slice(&data);
            }
            Part::End => {
                assert!(run.head.is_some(), "an end before the head");
                run.ended = true;
            }
            other => panic!("a part kind this check does not know: {other:?}"),
        }
    }
}

/// Feeds `chunks`, then end of stream, checking the bound after every feed.
fn decode<'a>(
    decoder: &mut ResponseDecoder,
    chunks: impl Iterator<Item = &'a [u8]>,
    limits: &Http1Limits,
) -> Run {
    let mut run = Run {
        head: None,
        body: Vec::new(),
        ended: false,
        error: None,
        not_reusable: None,
    };
    let mut parts = Vec::new();
    let mut result = Ok(());
    for chunk in chunks {
        result = decoder.feed(chunk, &mut parts);
        record(&mut run, &mut parts);
        if result.is_err() {
            break;
        }
        let held = decoder.buffered_len();
        assert!(
            held <= held_bound(limits),
            "holds {held} bytes after a feed, over the bounds {limits:?}"
        );
    }
    if result.is_ok() {
        result = decoder.finish(&mut parts);
        record(&mut run, &mut parts);
    }
    if let Err(error) = result {
        assert_eq!(
            decoder.feed(b"x", &mut parts),
            Err(error.clone()),
            "error not sticky"
        );
        assert!(parts.is_empty());
        run.error = Some(error);
    }
    run.not_reusable = decoder.reusable().err().map(|r| r.to_string());
    check_run(&run, decoder);
    run
}

/// What must hold of any finished run.
fn check_run(run: &Run, decoder: &ResponseDecoder) {
    assert_eq!(run.ended, decoder.is_done(), "End and is_done disagree");
    assert_eq!(run.ended, run.error.is_none(), "a run either ends or fails");
    if let (true, Some((_, framing))) = (run.ended, run.head) {
        match framing {
            BodyFraming::Empty => assert!(run.body.is_empty()),
            BodyFraming::Length(n) => assert_eq!(run.body.len() as u64, n),
            _ => {}
        }
    }
    if run.not_reusable.is_none() {
        assert!(run.ended, "reusable before the end");
        assert_eq!(
            decoder.bytes_after_end(),
            0,
            "reusable with bytes after the end"
        );
        assert!(
            !matches!(run.head, Some((_, BodyFraming::UntilClose))),
            "reusable after a close-delimited body"
        );
    }
}

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let limits = limits(r.u8());
    let mut mix = Mix::new(r.u64());
    let stream = r.rest();

    let expected = decode(
        &mut ResponseDecoder::new(limits),
        std::iter::once(stream),
        &limits,
    );

    let max_chunk = *[1, 2, 3, 7, 16, 64, 4096]
        .get((mix.next() % 7) as usize)
        .unwrap_or(&1);
    let mut chunks = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(mix.between_1_and(max_chunk).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    let mut decoder = ResponseDecoder::new(limits);
    let got = decode(&mut decoder, chunks.iter().copied(), &limits);
    assert_eq!(
        got, expected,
        "chunked decoding differs from decoding the whole input"
    );

    decoder.reset();
    assert_eq!(decoder.buffered_len(), 0, "reset left bytes behind");
    let again = decode(&mut decoder, std::iter::once(stream), &limits);
    assert_eq!(again, expected, "a reset decoder decodes differently");

    keep_alive(stream, limits);
}

/// Decodes responses one after another on one connection while each ends reusable:
/// the decoder is reset after each and given only the bytes that follow it.
fn keep_alive(stream: &[u8], limits: Http1Limits) {
    let mut decoder = ResponseDecoder::new(limits);
    let mut rest = stream;
    let mut parts = Vec::new();
    let mut checked_reset = false;
    while !rest.is_empty() {
        // Feed one byte at a time so the end of the response is found exactly.
        let mut used = 0;
        for &b in rest {
            if decoder.is_done() || decoder.feed(&[b], &mut parts).is_err() {
                break;
            }
            used += 1;
        }
        if !decoder.is_done() || decoder.reusable().is_err() {
            return;
        }
        assert!(used > 0, "a response ended without a byte");
        rest = &rest[used..];
        decoder.reset();
        parts.clear();
        if !checked_reset {
            let fresh = decode(
                &mut ResponseDecoder::new(limits),
                std::iter::once(rest),
                &limits,
            );
            let mut reset = decoder.clone();
            let reused = decode(&mut reset, std::iter::once(rest), &limits);
            assert_eq!(
                reused, fresh,
                "a reset decoder reads the next response differently"
            );
            checked_reset = true;
        }
    }
}
