//! Our own hand-written server events (`tests/data/events/*.jsonl`), one case per line:
//! `{"case": name, "input": <event object, or the exact text as a string>, "expect": …}`.
//! `expect` is the decoded result described as JSON by [`describe`]; absent optional
//! fields are left out. These cover every row of PROTOCOL.md section 5 without the
//! third-party fixtures.

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use turnwire_protocol::event::{EventDecodeError, ServerEvent, decode_server_event};

/// The decoded result as JSON, for comparison with a fixture's `expect`.
fn describe(result: &Result<ServerEvent, EventDecodeError>) -> Value {
    let event = match result {
        Ok(event) => event,
        Err(err) => return describe_error(err),
    };
    let described = match event {
        ServerEvent::Caller(event) => json!({ "caller": to_value(event) }),
        ServerEvent::Completed { response_id, usage } => {
            json!({ "completed": { "response_id": response_id, "usage": to_value(usage) } })
        }
        ServerEvent::Incomplete {
            response_id,
            reason,
            usage,
        } => json!({
            "incomplete": { "response_id": response_id, "reason": reason, "usage": to_value(usage) }
        }),
        ServerEvent::Failed { response_id, error } => {
            json!({ "failed": { "response_id": response_id, "error": to_value(error) } })
        }
        ServerEvent::Error(payload) => json!({ "error": to_value(payload) }),
        ServerEvent::WsError {
            status,
            error,
            headers,
        } => json!({
            "ws_error": { "status": status, "error": to_value(error), "headers": describe_headers(headers) }
        }),
        ServerEvent::Metadata { headers, .. } => {
            json!({ "metadata": { "headers": describe_headers(headers) } })
        }
        ServerEvent::Timing(raw) => return json!({ "timing": raw }),
        other => panic!("a variant this test does not know: {other:?}"),
    };
    without_nulls(described)
}

fn describe_error(err: &EventDecodeError) -> Value {
    match err {
        EventDecodeError::Json(_) => json!({ "err": "json" }),
        EventDecodeError::MissingType => json!({ "err": "missing_type" }),
        EventDecodeError::MissingField { event_type, field } => {
            json!({ "err": "missing_field", "event_type": event_type, "field": field })
        }
        EventDecodeError::CompletedWithoutId => json!({ "err": "completed_without_id" }),
        other => panic!("an error this test does not know: {other:?}"),
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

/// Header map as `{name: [values]}` (names are unique and sorted by the map).
fn describe_headers(headers: &http::HeaderMap) -> Value {
    let mut map = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(v.to_str().expect("visible ASCII").to_owned()))
            .collect();
        map.insert(name.as_str().to_owned(), Value::Array(values));
    }
    Value::Object(map)
}

/// Drops `null` members so expectations only name what is present, except inside
/// passed-through JSON (`raw`, `item`), which must come back exactly.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let kept = if k == "raw" || k == "item" {
                        v
                    } else {
                        without_nulls(v)
                    };
                    (k, kept)
                })
                .collect(),
        ),
        other => other,
    }
}

struct Case {
    file: String,
    name: String,
    input: String,
    expect: Value,
}

fn cases(file: &str) -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/events")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("fixture file");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let case: Value = serde_json::from_str(line).expect("fixture line is JSON");
            let input = match &case["input"] {
                Value::String(text) => text.clone(),
                object => serde_json::to_string(object).expect("serializable"),
            };
            Case {
                file: file.to_owned(),
                name: case["case"].as_str().expect("case name").to_owned(),
                input,
                expect: case["expect"].clone(),
            }
        })
        .collect()
}

/// Runs every case of `file`, reporting all mismatches at once.
fn check(file: &str) {
    let cases = cases(file);
    assert!(!cases.is_empty(), "{file} has no cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = describe(&decode_server_event(&case.input));
            (got != case.expect).then(|| {
                format!(
                    "{} / {}:\n  expected {}\n  got      {}",
                    case.file, case.name, case.expect, got
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn output_events_decode_to_their_caller_events() {
    check("output.jsonl");
}

#[test]
fn terminal_events_carry_ids_usage_reasons_and_errors() {
    check("terminal.jsonl");
}

#[test]
fn error_events_in_both_sse_shapes_and_as_websocket_frames() {
    check("errors.jsonl");
}

#[test]
fn metadata_rate_limit_and_timing_frames() {
    check("side.jsonl");
}

#[test]
fn malformed_events_are_typed_errors() {
    check("malformed.jsonl");
}

#[test]
fn every_section_5_row_is_covered_by_our_fixtures() {
    let all: Vec<Case> = [
        "output.jsonl",
        "terminal.jsonl",
        "errors.jsonl",
        "side.jsonl",
    ]
    .iter()
    .flat_map(|f| cases(f))
    .collect();
    let types: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|c| serde_json::from_str::<Value>(&c.input).ok())
        .filter_map(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for needed in [
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_part.added",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.completed",
        "response.done",
        "response.incomplete",
        "response.failed",
        "error",
        "codex.rate_limits",
        "response.metadata",
        "codex.response.metadata",
        "responsesapi.websocket_timing",
    ] {
        assert!(types.contains(needed), "no fixture of type {needed}");
    }
}

#[test]
fn json_errors_keep_their_message_short() {
    let long = format!(
        r#"{{"type":"response.output_text.delta","delta":{}}}"#,
        "[".repeat(10_000)
    );
    match decode_server_event(&long) {
        Err(EventDecodeError::Json(message)) => {
            assert!(message.len() <= 200, "{} bytes", message.len())
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn deep_nesting_inside_looked_into_members_is_bounded() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let cases = [
        (
            format!(
                r#"{{"type":"response.completed","response":{{"id":"r","usage":{{"input_tokens":{deep}}}}}}}"#
            ),
            json!({"completed": {"response_id": "r", "usage": {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_output_tokens": 0, "total_tokens": 0}}}),
        ),
        (
            format!(r#"{{"type":"response.completed","response":{deep}}}"#),
            json!({"err": "completed_without_id"}),
        ),
        (
            format!(r#"{{"type":"error","message":"m","error":{{"code":{deep}}}}}"#),
            json!({"error": {"message": "m"}}),
        ),
        (
            format!(r#"{{"type":"codex.rate_limits","rate_limits":{{"primary":{deep}}}}}"#),
            json!({"caller": {"kind": "rate_limits", "snapshot": {}}}),
        ),
    ];
    for (text, expect) in &cases {
        assert_eq!(&describe(&decode_server_event(text)), expect);
    }
}
