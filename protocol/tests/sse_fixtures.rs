//! The decoder over real recorded streams (the shared OpenAI fixtures, skipped when
//! absent) and over the project's own hand-written streams in `tests/data/sse/`, whole
//! and split into chunks anywhere: the events must not depend on the split.

#![allow(clippy::print_stderr)] // skip notices, and the split-test summary

mod sse_support;
mod support;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sse_support::{Decoded, Out, decode, decode_split, event};
use turnwire_protocol::sse::SseLimits;

/// Bytes decoded per file by the sampled split tests: small in debug builds so the
/// suite stays fast, generous under `cargo test --release`.
const SPLIT_BUDGET: usize = if cfg!(debug_assertions) {
    8 << 20
} else {
    1 << 30
};
/// Files up to this size are split at every byte boundary.
const EVERY_BOUNDARY_UP_TO: usize = if cfg!(debug_assertions) {
    4 << 10
} else {
    16 << 10
};
/// At most this many sampled boundaries per file.
const MAX_SAMPLES: usize = 2_000;

fn own_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sse")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn transcripts(test: &str) -> Vec<(String, Vec<u8>)> {
    let Some(dir) = support::openai_fixtures(test) else {
        return Vec::new();
    };
    support::transcripts(&dir)
        .into_iter()
        .map(|path| (file_name(&path), support::transcript_as_sse(&path)))
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Event blocks a conforming decoder dispatches, counted independently of it: blocks
/// of LF-separated lines with at least one `data` line, ended by a blank line.
fn terminated_data_blocks(sse: &[u8]) -> usize {
    let text = std::str::from_utf8(sse).expect("fixture is UTF-8");
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop(); // what follows the last LF is not a complete line
    let (mut count, mut has_data) = (0, false);
    for line in lines {
        if line.is_empty() {
            count += usize::from(has_data);
            has_data = false;
        } else if line == "data" || line.starts_with("data:") {
            has_data = true;
        }
    }
    count
}

fn expected_events(name: &str, sse: &[u8], original: &Path) -> usize {
    if name.ends_with(".sse") {
        terminated_data_blocks(sse)
    } else {
        let text = std::fs::read_to_string(original).expect("transcript");
        text.lines().filter(|l| !l.trim().is_empty()).count()
    }
}

/// Only what the split tests compare: the frames, no error.
fn assert_no_errors(name: &str, decoded: &Decoded) {
    let errors: Vec<&Out> = decoded
        .frames
        .iter()
        .filter(|f| matches!(f, Out::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

/// Every cut for small inputs, else evenly spread cuts within the budget.
fn boundaries(len: usize) -> Vec<usize> {
    if len <= EVERY_BOUNDARY_UP_TO {
        return (0..=len).collect();
    }
    let samples = (SPLIT_BUDGET / len.max(1))
        .clamp(8, MAX_SAMPLES)
        .min(len + 1);
    (0..samples)
        .map(|i| i * len / (samples - 1).max(1))
        .collect()
}

fn assert_two_chunk_splits_agree(name: &str, sse: &[u8]) {
    let whole = decode(sse);
    for cut in boundaries(sse.len()) {
        let split = decode_split(sse, &[cut], SseLimits::default());
        assert_eq!(split, whole, "{name}: split at byte {cut}");
    }
}

#[test]
fn every_transcript_frames_into_its_events_without_error() {
    let Some(dir) =
        support::openai_fixtures("every_transcript_frames_into_its_events_without_error")
    else {
        return;
    };
    let paths = support::transcripts(&dir);
    assert!(
        paths.len() >= 12,
        "expected the 12 transcripts, found {}",
        paths.len()
    );
    for path in paths {
        let name = file_name(&path);
        let sse = support::transcript_as_sse(&path);
        let decoded = decode(&sse);
        assert_no_errors(&name, &decoded);
        let events = decoded.events();
        assert_eq!(events.len(), expected_events(&name, &sse, &path), "{name}");
        for e in &events {
            let Out::Event { data, .. } = e else {
                unreachable!()
            };
            let json: serde_json::Value =
                serde_json::from_str(data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                json.get("type").is_some(),
                "{name}: event without type: {data}"
            );
        }
        if !name.ends_with(".sse") {
            // Framing was `event: <type>`: the event field must equal the JSON type.
            for e in &events {
                let Out::Event {
                    event_type, data, ..
                } = e
                else {
                    unreachable!()
                };
                let json: serde_json::Value = serde_json::from_str(data).expect("checked above");
                assert_eq!(json["type"].as_str(), Some(event_type.as_str()), "{name}");
            }
        }
    }
}

/// The spec's streaming example ends with `response.completed` followed by a single LF
/// and no blank line, so by the WHATWG rules that last block is never dispatched (a
/// client sees 8 of its 9 events). Its literal `...` line is a field named `...`: ignored.
#[test]
fn spec_example_drops_its_unterminated_final_block() {
    let Some(dir) = support::openai_fixtures("spec_example_drops_its_unterminated_final_block")
    else {
        return;
    };
    let sse = std::fs::read(dir.join("transcripts/spec-paths-responses-streaming-example.sse"))
        .expect("spec example");
    let events = decode(&sse).events();
    assert_eq!(events.len(), 8);
    assert!(
        matches!(events.last(), Some(Out::Event { event_type, .. }) if event_type == "response.output_item.done")
    );
    let mut terminated = sse.clone();
    terminated.push(b'\n');
    let events = decode(&terminated).events();
    assert_eq!(events.len(), 9);
    assert!(
        matches!(events.last(), Some(Out::Event { event_type, .. }) if event_type == "response.completed")
    );
}

#[test]
fn small_transcripts_split_at_every_boundary_give_the_same_events() {
    let mut tested = 0;
    for (name, sse) in transcripts("small_transcripts_split_at_every_boundary_give_the_same_events")
    {
        if sse.len() <= EVERY_BOUNDARY_UP_TO {
            assert_two_chunk_splits_agree(&name, &sse);
            tested += 1;
        }
    }
    eprintln!("split at every boundary: {tested} transcripts");
}

#[test]
fn large_transcripts_split_at_sampled_boundaries_give_the_same_events() {
    for (name, sse) in
        transcripts("large_transcripts_split_at_sampled_boundaries_give_the_same_events")
    {
        if sse.len() > EVERY_BOUNDARY_UP_TO && sse.len() < 64 << 10 {
            assert_two_chunk_splits_agree(&name, &sse);
        }
    }
}

#[test]
fn largest_transcripts_split_at_sampled_boundaries_give_the_same_events() {
    for (name, sse) in
        transcripts("largest_transcripts_split_at_sampled_boundaries_give_the_same_events")
    {
        if sse.len() >= 64 << 10 {
            assert_two_chunk_splits_agree(&name, &sse);
        }
    }
}

/// Cut points as fractions of the length, so one draw applies to every file.
fn scaled_cuts(fractions: &[u32], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = fractions
        .iter()
        .map(|&f| (u64::from(f) * len as u64 / u64::from(u32::MAX)) as usize)
        .collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn transcripts_split_into_random_chunks_give_the_same_events(
        fractions in prop::collection::vec(any::<u32>(), 1..40),
    ) {
        for (name, sse) in transcripts("transcripts_split_into_random_chunks_give_the_same_events") {
            let cuts = scaled_cuts(&fractions, sse.len());
            prop_assert_eq!(decode_split(&sse, &cuts, SseLimits::default()), decode(&sse), "{} cut at {:?}", name, cuts);
        }
    }
}

// ---- the project's own streams: the same kinds of event without the shared fixtures ----

fn responses_stream_events() -> Vec<Out> {
    let delta = |n: u32, text: &str| {
        event(
            "response.output_text.delta",
            &format!(
                r#"{{"type":"response.output_text.delta","sequence_number":{n},"item_id":"msg_tw_001","output_index":0,"content_index":0,"delta":"{text}"}}"#
            ),
            "2",
        )
    };
    vec![
        event(
            "response.created",
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_tw_001","object":"response","status":"in_progress","model":"gpt-test","output":[]}}"#,
            "1",
        ),
        event(
            "response.output_item.added",
            r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"msg_tw_001","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
            "2",
        ),
        delta(2, "Grüße, "),
        delta(3, "wörld € 𝄞 ✓"),
        event(
            "response.function_call_arguments.delta",
            "{\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":4,\n\"item_id\":\"fc_tw_001\",\"output_index\":1,\"delta\":\"{\\\"city\\\":\"}",
            "2",
        ),
        event(
            "response.output_item.done",
            r#"{"type":"response.output_item.done","sequence_number":5,"output_index":0,"item":{"id":"msg_tw_001","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Grüße, wörld € 𝄞 ✓","annotations":[]}]}}"#,
            "3",
        ),
        event(
            "response.completed",
            r#"{"type":"response.completed","sequence_number":6,"response":{"id":"resp_tw_001","object":"response","status":"completed","model":"gpt-test","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":21}}}"#,
            "3",
        ),
    ]
}

/// The same stream with every LF replaced by `ending`.
fn with_line_ends(lf: &[u8], ending: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf.len() * 2);
    for &b in lf {
        if b == b'\n' {
            out.extend_from_slice(ending);
        } else {
            out.push(b);
        }
    }
    out
}

#[test]
fn own_responses_stream_decodes_to_its_events() {
    let decoded = decode(&own_fixture("responses-stream.sse"));
    let comments = decoded
        .frames
        .iter()
        .filter(|f| **f == Out::Comment)
        .count();
    assert_eq!(comments, 2);
    assert_eq!(decoded.events(), responses_stream_events());
    assert_eq!(decoded.retry, Some(3000));
}

#[test]
fn own_responses_stream_is_the_same_with_crlf_cr_and_a_bom() {
    let lf = own_fixture("responses-stream.sse");
    let expected = decode(&lf);
    for ending in [&b"\r\n"[..], b"\r"] {
        let mut variant = b"\xEF\xBB\xBF".to_vec();
        variant.extend(with_line_ends(&lf, ending));
        assert_eq!(decode(&variant), expected, "line end {ending:?}");
    }
}

#[test]
fn own_streams_split_at_every_boundary_give_the_same_frames() {
    let lf = own_fixture("responses-stream.sse");
    let mut bom_crlf = b"\xEF\xBB\xBF".to_vec();
    bom_crlf.extend(with_line_ends(&lf, b"\r\n"));
    let streams = [
        ("responses-stream.sse", lf.clone()),
        ("responses-stream.sse (BOM, CRLF)", bom_crlf),
        ("responses-stream.sse (CR)", with_line_ends(&lf, b"\r")),
        ("error-stream.sse", own_fixture("error-stream.sse")),
    ];
    for (name, sse) in streams {
        let whole = decode(&sse);
        assert_no_errors(name, &whole);
        for cut in 0..=sse.len() {
            assert_eq!(
                decode_split(&sse, &[cut], SseLimits::default()),
                whole,
                "{name}: split at {cut}"
            );
        }
        assert_eq!(
            sse_support::decode_bytewise(&sse),
            whole,
            "{name}: one byte at a time"
        );
    }
}

#[test]
fn own_error_stream_has_data_without_space_and_no_event_field() {
    let events = decode(&own_fixture("error-stream.sse")).events();
    assert_eq!(events.len(), 3);
    for e in &events {
        let Out::Event {
            event_type,
            data,
            id,
        } = e
        else {
            unreachable!()
        };
        assert_eq!((event_type.as_str(), id.as_str()), ("", ""));
        assert!(
            data.starts_with("{\"type\":"),
            "the missing space after `data:` is not an error: {data}"
        );
    }
}
