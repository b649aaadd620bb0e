//! The spec-complete default model against OpenAI's published shapes: the required
//! fields of `event-types.txt` and the spec's own example events in
//! `openai-stream-events.jsonl` (both in `../shared/fixtures/openai`, skipped with a
//! notice when absent), field by field.
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use turnwire_protocol::time::Instant;
use turnwire_testkit::sim::model::{ModelContext, full_events};

fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/openai");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{test}: skipped: fixtures not found at {}", dir.display());
        None
    }
}

/// Required fields per event type, from `event-types.txt` (SSE rows).
fn required_fields(dir: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(dir.join("event-types.txt")).expect("event-types.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.len() >= 5 && cols[4] != "ws-only" && cols[4] != "ws-client").then(|| {
                (
                    cols[0].to_owned(),
                    cols[1].split(',').map(str::to_owned).collect(),
                )
            })
        })
        .collect()
}

/// The spec's `x-oaiMeta.example` of each event type (the `spec-main` lines).
fn spec_examples(dir: &std::path::Path) -> BTreeMap<String, Value> {
    let index = std::fs::read_to_string(dir.join("openai-stream-events.index.tsv")).expect("index");
    let events = std::fs::read_to_string(dir.join("openai-stream-events.jsonl")).expect("jsonl");
    let lines: Vec<&str> = events.lines().collect();
    index
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split('\t').collect();
            if cols.get(2) != Some(&"spec-main x-oaiMeta.example") {
                return None;
            }
            let line: usize = cols[0].parse().ok()?;
            let event: Value = serde_json::from_str(lines[line - 1]).ok()?;
            Some((cols[1].to_owned(), event))
        })
        .collect()
}

/// Fields of the spec's examples that are not in the current `Response` schema: the
/// `response.completed` example still carries `input` and the retired
/// `reasoning_effort`.
const RETIRED_RESPONSE_FIELDS: &[&str] = &["input", "reasoning_effort"];

fn same_kind(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Null, _)
            | (_, Value::Null)
            | (Value::Bool(_), Value::Bool(_))
            | (Value::Number(_), Value::Number(_))
            | (Value::String(_), Value::String(_))
            | (Value::Array(_), Value::Array(_))
            | (Value::Object(_), Value::Object(_))
    )
}

/// Every key of `example` is in `ours` with a value of the same JSON kind, recursively
/// through objects and the first element of arrays.
fn check_shape(path: &str, example: &Value, ours: &Value, problems: &mut Vec<String>) {
    match (example, ours) {
        // A different member of a union (a function call where the example shows a
        // message) has its own shape: nothing to compare.
        (Value::Object(ex), Value::Object(us))
            if ex.get("type").is_some() && ex.get("type") != us.get("type") => {}
        (Value::Object(ex), Value::Object(us)) => {
            for (key, value) in ex {
                if key == "sequence_number" || RETIRED_RESPONSE_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                match us.get(key) {
                    None => problems.push(format!("{path}.{key} missing")),
                    Some(mine) => check_shape(&format!("{path}.{key}"), value, mine, problems),
                }
            }
        }
        (Value::Array(ex), Value::Array(us)) => {
            if let (Some(e), Some(u)) = (ex.first(), us.first()) {
                check_shape(&format!("{path}[0]"), e, u, problems);
            }
        }
        _ if !same_kind(example, ours) => {
            problems.push(format!("{path}: {ours} where the spec has {example}"));
        }
        _ => {}
    }
}

fn text_request() -> Value {
    json!({"model": "gpt-echo", "input": [{"role": "user", "content": "hi"}], "stream": true})
}

fn tool_request() -> Value {
    json!({
        "model": "gpt-echo", "input": "weather?",
        "tools": [{"type": "function", "name": "get_weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    })
}

#[test]
fn every_model_event_has_the_fields_the_schema_requires_and_the_spec_examples_shape() {
    let Some(dir) = fixtures("every_model_event_has_the_fields_the_schema_requires") else {
        return;
    };
    let required = required_fields(&dir);
    let examples = spec_examples(&dir);
    let mut checked = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for request in [text_request(), tool_request()] {
        for event in full_events(&ModelContext::new(request, Instant::ZERO), 1, "Hello world") {
            let kind = event["type"].as_str().expect("type").to_owned();
            let fields = required
                .get(&kind)
                .unwrap_or_else(|| panic!("{kind} is not a schema event type"));
            for field in fields {
                if event.get(field).is_none() {
                    problems.push(format!("{kind}: required field {field} missing"));
                }
            }
            let example = examples
                .get(&kind)
                .unwrap_or_else(|| panic!("no spec example for {kind}"));
            check_shape(&kind, example, &event, &mut problems);
            checked.insert(kind);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(checked.len(), 11, "event types checked: {checked:?}");
}

#[test]
fn sequence_numbers_count_up_from_zero_and_the_model_is_echoed() {
    for request in [text_request(), tool_request()] {
        let events = full_events(&ModelContext::new(request, Instant::ZERO), 3, "a b");
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], json!(i), "{event}");
            if let Some(response) = event.get("response") {
                assert_eq!(response["model"], "gpt-echo");
                assert_eq!(response["object"], "response");
                assert_eq!(response["id"], "resp-3");
            }
        }
    }
}

/// The WebSocket path: the model sees the input the server reconstructed from a
/// chained message, so a tool loop over one socket ends in text.
#[test]
fn over_websocket_the_model_answers_a_chained_tool_output_in_text() {
    use turnwire_protocol::session::{ConnId, Input, WsOpen};
    use turnwire_testkit::sim::FakeServer;

    let mut server = FakeServer::spec_complete();
    let conn = ConnId(1);
    let request = http::Request::get("ws://127.0.0.1/v1/responses")
        .body(())
        .unwrap();
    server.on_open_ws(Instant::ZERO, &WsOpen { conn, request });
    let frames = |emissions: Vec<turnwire_testkit::sim::Emission>| -> Vec<Value> {
        emissions
            .into_iter()
            .filter_map(|e| match e.input {
                Input::WsText { text, .. } => serde_json::from_str(&text).ok(),
                _ => None,
            })
            .collect()
    };
    let tools = json!([{"type": "function", "name": "lookup"}]);
    let create = json!({"type": "response.create", "model": "m", "input": [{"type": "message", "role": "user", "content": "go"}], "tools": tools});
    let first = frames(server.on_send_ws(Instant::ZERO, conn, &create.to_string()));
    let done = first.last().expect("events");
    assert_eq!(done["type"], "response.completed");
    let call = &done["response"]["output"][0];
    assert_eq!(call["type"], "function_call");
    let chained = json!({
        "type": "response.create", "model": "m", "tools": tools,
        "previous_response_id": done["response"]["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}]
    });
    let second = frames(server.on_send_ws(Instant::ZERO, conn, &chained.to_string()));
    let done = second.last().expect("events");
    assert_eq!(done["response"]["output"][0]["type"], "message");
    assert_eq!(
        done["response"]["previous_response_id"],
        chained["previous_response_id"]
    );
}
