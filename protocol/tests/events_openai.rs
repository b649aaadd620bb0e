//! Server event decoding against the third-party OpenAI fixtures (see
//! `fixtures/openai/SOURCES.md`): the spec's list of event types, its 114 example
//! events, and recorded transcripts. Skipped with a notice when the fixtures are absent;
//! `events_fixtures.rs` covers the same kinds of event with our own data.
//!
//! The expected outcome of each event is derived here from its `type` and from which of
//! the fields its mapping needs are present (PROTOCOL.md section 5), never from a list
//! of per-line outcomes. Spec quirks we rely on not mattering: some examples lack
//! `sequence_number` (we never require it), `logprobs` (likewise), and
//! `response.queued` has a string `created_at` (passed through as `Other`).

mod support;

use std::path::Path;

use serde_json::{Value, json};
use turnwire_protocol::event::{ResponseEvent, ServerEvent, decode_server_event};

/// The variant a decoded event became, by name.
fn variant(event: &ServerEvent) -> &'static str {
    match event {
        ServerEvent::Caller(event) => match event {
            ResponseEvent::Created { .. } => "Created",
            ResponseEvent::OutputItemAdded { .. } => "OutputItemAdded",
            ResponseEvent::OutputItemDone { .. } => "OutputItemDone",
            ResponseEvent::OutputTextDelta { .. } => "OutputTextDelta",
            ResponseEvent::ReasoningSummaryDelta { .. } => "ReasoningSummaryDelta",
            ResponseEvent::ReasoningContentDelta { .. } => "ReasoningContentDelta",
            ResponseEvent::ReasoningSummaryPartAdded { .. } => "ReasoningSummaryPartAdded",
            ResponseEvent::ToolCallInputDelta { .. } => "ToolCallInputDelta",
            ResponseEvent::RateLimits { .. } => "RateLimits",
            ResponseEvent::Other { .. } => "Other",
            other => panic!("decoder produced a session-only event: {other:?}"),
        },
        ServerEvent::Completed { .. } => "Completed",
        ServerEvent::Incomplete { .. } => "Incomplete",
        ServerEvent::Failed { .. } => "Failed",
        ServerEvent::Error(_) => "Error",
        ServerEvent::WsError { .. } => "WsError",
        ServerEvent::Metadata { .. } => "Metadata",
        ServerEvent::Timing(_) => "Timing",
        other => panic!("a variant this test does not know: {other:?}"),
    }
}

fn is_str(v: &Value, path: &str) -> bool {
    v.pointer(path).is_some_and(Value::is_string)
}

fn is_index(v: &Value, path: &str) -> bool {
    v.pointer(path)
        .and_then(Value::as_u64)
        .is_some_and(|n| n <= u64::from(u32::MAX))
}

fn is_object(v: &Value, path: &str) -> bool {
    v.pointer(path).is_some_and(Value::is_object)
}

/// What `event` must decode to: `Ok(variant)`, or `Err(())` when a known type lacks a
/// field its mapping needs.
fn expected(event: &Value) -> Result<&'static str, ()> {
    let ty = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let need = |ok: bool, variant: &'static str| if ok { Ok(variant) } else { Err(()) };
    match ty {
        "response.created" => need(is_str(event, "/response/id"), "Created"),
        "response.output_item.added" => need(is_object(event, "/item"), "OutputItemAdded"),
        "response.output_item.done" => need(is_object(event, "/item"), "OutputItemDone"),
        "response.output_text.delta" => need(
            is_str(event, "/delta")
                && is_str(event, "/item_id")
                && is_index(event, "/output_index")
                && is_index(event, "/content_index"),
            "OutputTextDelta",
        ),
        "response.reasoning_summary_text.delta" => need(
            is_str(event, "/delta") && is_index(event, "/summary_index"),
            "ReasoningSummaryDelta",
        ),
        "response.reasoning_text.delta" => need(
            is_str(event, "/delta") && is_index(event, "/content_index"),
            "ReasoningContentDelta",
        ),
        "response.reasoning_summary_part.added" => need(
            is_index(event, "/summary_index"),
            "ReasoningSummaryPartAdded",
        ),
        "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => need(
            is_str(event, "/item_id") && is_str(event, "/delta"),
            "ToolCallInputDelta",
        ),
        "response.completed" | "response.done" => need(
            event
                .pointer("/response/id")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty()),
            "Completed",
        ),
        "response.incomplete" => need(is_str(event, "/response/id"), "Incomplete"),
        "response.failed" => Ok("Failed"),
        "error" => match event.get("status").or_else(|| event.get("status_code")) {
            None | Some(Value::Null) => Ok("Error"),
            Some(status) => need(
                status.as_u64().is_some_and(|s| (100..=999).contains(&s)),
                "WsError",
            ),
        },
        "codex.rate_limits" => Ok("RateLimits"),
        "response.metadata" | "codex.response.metadata" => {
            need(is_object(event, "/headers"), "Metadata")
        }
        "responsesapi.websocket_timing" => Ok("Timing"),
        _ => Ok("Other"),
    }
}

/// Checks that the decoded event carries the JSON's data: ids, deltas, indexes, items,
/// usage, error codes. Returns a description of the first difference.
fn carries_the_data(event: &ServerEvent, json: &Value) -> Result<(), String> {
    let s = |path: &str| {
        json.pointer(path)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let n = |path: &str| json.pointer(path).and_then(Value::as_u64);
    let same = |what: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} differs"))
        }
    };
    match event {
        ServerEvent::Caller(ResponseEvent::Created { response_id }) => same(
            "response id",
            Some(response_id.clone()) == s("/response/id"),
        ),
        ServerEvent::Caller(
            ResponseEvent::OutputItemAdded { item } | ResponseEvent::OutputItemDone { item },
        ) => same(
            "item",
            Some(&serde_json::to_value(item).expect("item")) == json.get("item"),
        ),
        ServerEvent::Caller(ResponseEvent::OutputTextDelta {
            delta,
            item_id,
            output_index,
            content_index,
        }) => same(
            "text delta",
            Some(delta.clone()) == s("/delta")
                && Some(item_id.clone()) == s("/item_id")
                && Some(u64::from(*output_index)) == n("/output_index")
                && Some(u64::from(*content_index)) == n("/content_index"),
        ),
        ServerEvent::Caller(ResponseEvent::ReasoningSummaryDelta {
            delta,
            summary_index,
        }) => same(
            "summary delta",
            Some(delta.clone()) == s("/delta")
                && Some(u64::from(*summary_index)) == n("/summary_index"),
        ),
        ServerEvent::Caller(ResponseEvent::ReasoningContentDelta {
            delta,
            content_index,
        }) => same(
            "reasoning delta",
            Some(delta.clone()) == s("/delta")
                && Some(u64::from(*content_index)) == n("/content_index"),
        ),
        ServerEvent::Caller(ResponseEvent::ReasoningSummaryPartAdded { summary_index }) => same(
            "summary index",
            Some(u64::from(*summary_index)) == n("/summary_index"),
        ),
        ServerEvent::Caller(ResponseEvent::ToolCallInputDelta { item_id, delta }) => same(
            "tool input delta",
            Some(delta.clone()) == s("/delta") && Some(item_id.clone()) == s("/item_id"),
        ),
        ServerEvent::Caller(ResponseEvent::Other { event_type, raw }) => same(
            "passed-through event",
            Some(event_type.clone()) == s("/type") && raw == json,
        ),
        ServerEvent::Completed { response_id, usage }
        | ServerEvent::Incomplete {
            response_id, usage, ..
        } => {
            same(
                "response id",
                Some(response_id.clone()) == s("/response/id"),
            )?;
            let usage_json = json.pointer("/response/usage").filter(|u| u.is_object());
            same("usage presence", usage.is_some() == usage_json.is_some())?;
            match (usage, usage_json) {
                (Some(usage), Some(_)) => same(
                    "usage",
                    Some(usage.input_tokens) == n("/response/usage/input_tokens")
                        && Some(usage.output_tokens) == n("/response/usage/output_tokens")
                        && Some(usage.total_tokens) == n("/response/usage/total_tokens")
                        && usage.cached_input_tokens
                            == n("/response/usage/input_tokens_details/cached_tokens").unwrap_or(0)
                        && usage.reasoning_output_tokens
                            == n("/response/usage/output_tokens_details/reasoning_tokens")
                                .unwrap_or(0),
                ),
                _ => Ok(()),
            }
        }
        ServerEvent::Failed { response_id, error } => {
            same("response id", *response_id == s("/response/id"))?;
            same(
                "error code",
                error.as_ref().and_then(|e| e.code.clone()) == s("/response/error/code"),
            )
        }
        ServerEvent::Error(payload) | ServerEvent::WsError { error: payload, .. } => {
            let code = s("/error/code").or_else(|| s("/code"));
            let message = s("/error/message").or_else(|| s("/message"));
            same("error code", payload.code == code)?;
            same("error message", payload.message == message)
        }
        _ => Ok(()),
    }
}

/// Decodes `text`, checks it against [`expected`] and [`carries_the_data`]. Returns the
/// variant, or an error line for the report.
fn check_event(label: &str, text: &str) -> Result<&'static str, String> {
    let json: Value =
        serde_json::from_str(text).map_err(|e| format!("{label}: fixture is not JSON: {e}"))?;
    let want = expected(&json)
        .map_err(|()| format!("{label}: fixture lacks a field its mapping needs"))?;
    match decode_server_event(text) {
        Ok(event) => {
            let got = variant(&event);
            if got != want {
                return Err(format!("{label}: expected {want}, got {got}"));
            }
            carries_the_data(&event, &json).map_err(|why| format!("{label}: {why}"))?;
            Ok(got)
        }
        Err(err) => Err(format!("{label}: expected {want}, got error {err}")),
    }
}

// --- the spec's list of event types ----------------------------------------------------

/// A plausible value for a required field, by its name.
fn synthesize(field: &str, event_type: &str) -> Value {
    match field {
        "type" => json!(event_type),
        "response" => {
            json!({"id": "resp_1", "object": "response", "status": "in_progress", "output": []})
        }
        "item" => {
            json!({"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []})
        }
        "part" => json!({"type": "output_text", "text": "", "annotations": []}),
        "annotation" => {
            json!({"type": "url_citation", "url": "https://example.invalid", "title": "t"})
        }
        "error" => json!({"type": "server_error", "code": "server_error", "message": "m"}),
        "logprobs" => json!([]),
        "status" => json!(400),
        "sequence_number" => json!(1),
        f if f.ends_with("_index") => json!(0),
        f if f.ends_with("_id") => json!(format!("{f}_1")),
        _ => json!("text"),
    }
}

struct SpecRow {
    event_type: String,
    required: Vec<String>,
    optional: Vec<String>,
    scope: String,
}

fn spec_rows(dir: &Path) -> Vec<SpecRow> {
    let text = std::fs::read_to_string(dir.join("event-types.txt")).expect("event-types.txt");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "five columns: {line}");
            let list = |col: &str| -> Vec<String> {
                col.split(',')
                    .filter(|f| *f != "-")
                    .map(|f| f.trim_end_matches("(ws)").to_owned())
                    .collect()
            };
            SpecRow {
                event_type: cols[0].to_owned(),
                required: list(cols[1]),
                optional: list(cols[2]),
                scope: cols[4].to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_spec_event_type_decodes_from_its_required_fields() {
    let Some(dir) =
        support::openai_fixtures("every_spec_event_type_decodes_from_its_required_fields")
    else {
        return;
    };
    let rows: Vec<SpecRow> = spec_rows(&dir)
        .into_iter()
        .filter(|r| r.scope != "ws-client")
        .collect();
    assert_eq!(rows.len(), 59, "58 stream events and the WebSocket error");
    let mut failures = Vec::new();
    let mut typed = 0;
    for row in &rows {
        let mut event = serde_json::Map::new();
        for field in &row.required {
            event.insert(field.clone(), synthesize(field, &row.event_type));
        }
        let mut variants = vec![Value::Object(event.clone())];
        if row.optional.iter().any(|f| f == "status") {
            event.insert("status".to_owned(), synthesize("status", &row.event_type));
            variants.push(Value::Object(event));
        }
        for event in variants {
            let text = event.to_string();
            match check_event(&format!("{} {}", row.event_type, text), &text) {
                Ok("Other") => {}
                Ok(_) => typed += 1,
                Err(why) => failures.push(why),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Mapped rows: created, the 2 item events, the 3 text/reasoning deltas, summary
    // part, the 2 tool input deltas, completed, incomplete, failed, the SSE error, and
    // the WS error without and with its status.
    assert_eq!(typed, 15, "typed outcomes among the spec rows");
}

// --- the spec's example events ---------------------------------------------------------

#[test]
fn every_spec_example_event_decodes_to_its_expected_variant() {
    let Some(dir) =
        support::openai_fixtures("every_spec_example_event_decodes_to_its_expected_variant")
    else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("openai-stream-events.jsonl")).expect("examples");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 114);
    let mut failures = Vec::new();
    let (mut typed, mut other) = (0, 0);
    for (n, line) in lines.iter().enumerate() {
        match check_event(&format!("line {}", n + 1), line) {
            Ok("Other") => other += 1,
            Ok(_) => typed += 1,
            Err(why) => failures.push(why),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(typed + other, 114, "none lost");
    assert!(typed >= 30, "typed {typed}, other {other}");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("spec examples: {typed} typed, {other} passed through as Other");
    }
}

// --- recorded transcripts --------------------------------------------------------------

/// The event JSON texts of a transcript: every line of a `.chunks.txt`, every `data:`
/// line of a `.sse` (all events in these files are single-line).
fn transcript_events(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("transcript");
    let is_sse = path.extension().is_some_and(|e| e == "sse");
    text.lines()
        .filter_map(|line| {
            if is_sse {
                let data = line.strip_prefix("data:")?;
                Some(data.strip_prefix(' ').unwrap_or(data).to_owned())
            } else {
                (!line.trim().is_empty()).then(|| line.to_owned())
            }
        })
        .collect()
}

#[test]
fn every_transcript_event_decodes() {
    let Some(dir) = support::openai_fixtures("every_transcript_event_decodes") else {
        return;
    };
    let files = support::transcripts(&dir);
    assert_eq!(files.len(), 12);
    let mut failures = Vec::new();
    let mut completed = 0;
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let events = transcript_events(path);
        assert!(!events.is_empty(), "{name} has events");
        for (n, text) in events.iter().enumerate() {
            match check_event(&format!("{name} #{}", n + 1), text) {
                Ok("Completed") => completed += 1,
                Ok(_) => {}
                Err(why) => failures.push(why),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // reasoning-encrypted-content holds 4 responses; the error, failed-only and
    // incomplete transcripts end otherwise; the rest end with one completion each.
    assert_eq!(completed, 4 + 8, "completions across the transcripts");
}

#[test]
fn the_large_transcript_decodes_to_the_documented_event_counts() {
    let Some(dir) =
        support::openai_fixtures("the_large_transcript_decodes_to_the_documented_event_counts")
    else {
        return;
    };
    let path = dir
        .join("transcripts/vercel-ai__azure-gpt5-reasoning-multi-summary-no-encryption.chunks.txt");
    let mut counts = std::collections::BTreeMap::new();
    for text in transcript_events(&path) {
        let event = decode_server_event(&text).expect("decodes");
        *counts.entry(variant(&event)).or_insert(0) += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), 1406);
    assert_eq!(counts.get("ReasoningSummaryPartAdded"), Some(&3));
    assert_eq!(counts.get("ReasoningSummaryDelta"), Some(&282));
    assert_eq!(counts.get("OutputTextDelta"), Some(&1105));
    assert_eq!(counts.get("Completed"), Some(&1));
}
