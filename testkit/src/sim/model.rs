//! The spec-complete default model: the whole event sequence a real Responses server
//! streams for one response, in the shapes of OpenAI's published schema.
//!
//! [`full_events`] answers a request with `response.created`, `response.in_progress`,
//! `response.output_item.added`, `response.content_part.added`, one
//! `response.output_text.delta` per word, `response.output_text.done`,
//! `response.content_part.done`, `response.output_item.done` and `response.completed`,
//! every event numbered by `sequence_number` from 0. The `Response` object carries every
//! field the schema requires (`id`, `object`, `created_at`, `status`, `model` echoed from
//! the request, `output`, `usage`, `tools`, `tool_choice`, `temperature`, `top_p`, …),
//! echoing what the request set and using the API's defaults otherwise.
//!
//! When the request offers function tools (`tool_choice` is not `"none"`) and its input
//! does not end with a `function_call_output`, the model calls the first function tool
//! instead: a `function_call` item with `call_id`, `name` and `arguments` built from the
//! tool's parameter schema, streamed as `response.function_call_arguments.delta`/`.done`.
//! Once the tool's output comes back it answers in text, so a client's tool loop runs
//! against it without a hand-written script.
//!
//! The simulator keeps its compact four-event model ([`ModelKind::Compact`]) because its
//! tests are written against it; `turnwire serve` and scenario files use this one.

use serde_json::{Map, Value, json};
use turnwire_protocol::time::Instant;

use super::UNIX_BASE_MS;

/// Which default model a [`FakeServer`](super::FakeServer) answers unscripted requests
/// with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModelKind {
    /// `response.created` → one text delta → `response.output_item.done` →
    /// `response.completed`, with minimal objects (what the simulator's tests expect).
    #[default]
    Compact,
    /// The whole sequence a real server sends, with full `Response` objects and
    /// `sequence_number`s, and function calls when the request offers tools
    /// (see the module documentation).
    Full,
}

/// What the model knows about the request it answers: set by the server before it
/// expands a reply.
#[derive(Clone, Debug, Default)]
pub struct ModelContext {
    /// The request JSON: an HTTP body, or a WebSocket message whose `input` is the full
    /// input the server reconstructed.
    pub request: Value,
    /// When the request arrived (virtual time; `created_at` is derived from it).
    pub now: Instant,
}

impl ModelContext {
    /// The context of a request that arrived at `now`.
    pub fn new(request: Value, now: Instant) -> Self {
        ModelContext { request, now }
    }

    fn field(&self, name: &str) -> Option<&Value> {
        self.request.get(name).filter(|v| !v.is_null())
    }

    /// Seconds since the Unix epoch at the request's arrival.
    fn created_at(&self) -> u64 {
        let since_start = self.now.as_nanos() / 1_000_000_000;
        UNIX_BASE_MS / 1000 + since_start
    }
}

/// The first function tool the request offers, unless its input already ends with a
/// tool's output or `tool_choice` is `"none"`.
pub fn tool_to_call(request: &Value) -> Option<&Value> {
    if request.get("tool_choice").and_then(Value::as_str) == Some("none") {
        return None;
    }
    let answered = request
        .get("input")
        .and_then(Value::as_array)
        .and_then(|items| items.last())
        .and_then(|item| item.get("type"))
        .and_then(Value::as_str)
        == Some("function_call_output");
    if answered {
        return None;
    }
    request
        .get("tools")?
        .as_array()?
        .iter()
        .find(|tool| tool.get("type").and_then(Value::as_str) == Some("function"))
}

/// A function tool's name: top-level in the Responses shape, under `function` in the
/// Chat Completions shape some clients send.
fn tool_name(tool: &Value) -> &str {
    tool.get("name")
        .or_else(|| tool.pointer("/function/name"))
        .and_then(Value::as_str)
        .unwrap_or("tool")
}

/// Arguments that satisfy the tool's parameter schema: one placeholder per required
/// property (every property when none is listed as required).
pub fn placeholder_arguments(tool: &Value) -> String {
    let schema = tool
        .get("parameters")
        .or_else(|| tool.pointer("/function/parameters"));
    let properties = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let required: Option<Vec<&str>> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect());
    let mut args = Map::new();
    for (name, property) in properties.into_iter().flatten() {
        if required
            .as_ref()
            .is_some_and(|r| !r.contains(&name.as_str()))
        {
            continue;
        }
        let value = match property.get("type").and_then(Value::as_str) {
            Some("integer" | "number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            Some("null") => Value::Null,
            _ => match property.get("enum").and_then(Value::as_array) {
                Some(choices) if !choices.is_empty() => choices[0].clone(),
                _ => json!("example"),
            },
        };
        args.insert(name.clone(), value);
    }
    Value::Object(args).to_string()
}

/// The `Response` object for response `id` in `status`, with `output` and `usage`,
/// echoing the request's settings.
pub fn response_object(
    ctx: &ModelContext,
    id: &str,
    status: &str,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let echo = |name: &str, default: Value| ctx.field(name).cloned().unwrap_or(default);
    let completed_at = if status == "completed" {
        json!(ctx.created_at())
    } else {
        Value::Null
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": ctx.created_at(),
        "status": status,
        "background": echo("background", json!(false)),
        "completed_at": completed_at,
        "error": null,
        "incomplete_details": null,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": echo("max_tool_calls", Value::Null),
        "model": echo("model", json!("turnwire-default")),
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": echo("reasoning", json!({"effort": null, "summary": null})),
        "service_tier": "default",
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_logprobs": echo("top_logprobs", json!(0)),
        "top_p": echo("top_p", json!(1.0)),
        "truncation": echo("truncation", json!("disabled")),
        "usage": usage,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({})),
    })
}

/// A rough token count: whitespace-separated words in the text of a JSON value.
fn words(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(items) => items.iter().map(words).sum(),
        Value::Object(map) => map.values().map(words).sum(),
        _ => 0,
    }
}

/// The text an output item produced: a message's text parts, a call's arguments.
fn produced_text(item: &Value) -> Value {
    let texts: Vec<Value> = item
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text").cloned())
        .chain(item.get("arguments").cloned())
        .collect();
    Value::Array(texts)
}

fn usage(ctx: &ModelContext, output: &[Value]) -> Value {
    let input = ctx.field("input").map_or(0, words) + ctx.field("instructions").map_or(0, words);
    let output_tokens = output
        .iter()
        .map(|item| words(&produced_text(item)))
        .sum::<u64>()
        .max(1);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output_tokens,
    })
}

/// Splits text into word-sized deltas that join back to it exactly.
pub fn split_deltas(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        // A piece is a run of spaces followed by a word: cut before the next space run.
        if space && !in_space && i > start {
            pieces.push(&text[start..i]);
            start = i;
        }
        in_space = space;
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Numbers events 0, 1, 2, … in order.
fn numbered(events: Vec<Value>) -> Vec<Value> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, mut event)| {
            if let Some(map) = event.as_object_mut() {
                map.insert("sequence_number".into(), json!(i));
            }
            event
        })
        .collect()
}

/// Response number `n`'s whole event sequence for the request in `ctx`: a function
/// call when the request asks for one (see [`tool_to_call`]), otherwise an assistant
/// message with `text`.
pub fn full_events(ctx: &ModelContext, n: u64, text: &str) -> Vec<Value> {
    let id = format!("resp-{n}");
    let in_progress = response_object(ctx, &id, "in_progress", Vec::new(), Value::Null);
    let mut events = vec![
        json!({"type": "response.created", "response": in_progress}),
        json!({"type": "response.in_progress", "response": in_progress}),
    ];
    let item = match tool_to_call(&ctx.request) {
        Some(tool) => function_call_events(&mut events, n, tool),
        None => message_events(&mut events, n, text),
    };
    let output = vec![item];
    let usage = usage(ctx, &output);
    let done = response_object(ctx, &id, "completed", output, usage);
    events.push(json!({"type": "response.completed", "response": done}));
    numbered(events)
}

/// Pushes an assistant message's events and returns the finished item.
fn message_events(events: &mut Vec<Value>, n: u64, text: &str) -> Value {
    let item_id = format!("msg-{n}");
    let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
    let item = |status: &str, content: Vec<Value>| json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content});
    let at = |kind: &str| json!({"type": kind, "item_id": item_id, "output_index": 0, "content_index": 0});
    events.push(json!({"type": "response.output_item.added", "output_index": 0, "item": item("in_progress", Vec::new())}));
    let mut added = at("response.content_part.added");
    added["part"] = part("");
    events.push(added);
    for delta in split_deltas(text) {
        let mut event = at("response.output_text.delta");
        event["delta"] = json!(delta);
        event["logprobs"] = json!([]);
        events.push(event);
    }
    let mut text_done = at("response.output_text.done");
    text_done["text"] = json!(text);
    text_done["logprobs"] = json!([]);
    events.push(text_done);
    let mut part_done = at("response.content_part.done");
    part_done["part"] = part(text);
    events.push(part_done);
    let finished = item("completed", vec![part(text)]);
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": finished}));
    finished
}

/// Pushes a function call's events and returns the finished item.
fn function_call_events(events: &mut Vec<Value>, n: u64, tool: &Value) -> Value {
    let item_id = format!("fc-{n}");
    let name = tool_name(tool);
    let arguments = placeholder_arguments(tool);
    let item = |status: &str, arguments: &str| {
        json!({
            "id": item_id, "type": "function_call", "status": status,
            "call_id": format!("call-{n}"), "name": name, "arguments": arguments
        })
    };
    events.push(json!({"type": "response.output_item.added", "output_index": 0, "item": item("in_progress", "")}));
    events.push(json!({
        "type": "response.function_call_arguments.delta",
        "item_id": item_id, "output_index": 0, "delta": arguments
    }));
    events.push(json!({
        "type": "response.function_call_arguments.done",
        "item_id": item_id, "output_index": 0, "name": name, "arguments": arguments
    }));
    let finished = item("completed", &arguments);
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": finished}));
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn a_text_answer_streams_every_stage_numbered_and_echoes_the_model() {
        let ctx = ModelContext::new(
            json!({"model": "gpt-test", "input": "say hi", "stream": true}),
            Instant::from_nanos(3_000_000_000),
        );
        let events = full_events(&ctx, 7, "Hello there world");
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], json!(i));
        }
        let done = &events[10]["response"];
        assert_eq!(done["model"], "gpt-test");
        assert_eq!(done["id"], "resp-7");
        assert_eq!(done["status"], "completed");
        assert_eq!(done["created_at"], json!(UNIX_BASE_MS / 1000 + 3));
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello there world");
        assert_eq!(done["usage"]["output_tokens"], 3);
        assert_eq!(done["usage"]["total_tokens"], 5);
        let deltas: String = events[4..7]
            .iter()
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, "Hello there world");
    }

    #[test]
    fn offered_tools_are_called_until_their_output_comes_back() {
        let tool = json!({
            "type": "function", "name": "get_weather",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string", "enum": ["c", "f"]}
            }, "required": ["city", "days"]}
        });
        let ask = json!({"model": "m", "input": [{"role": "user", "content": "weather?"}], "tools": [tool]});
        let events = full_events(&ModelContext::new(ask.clone(), Instant::ZERO), 1, "unused");
        assert_eq!(
            kinds(&events)[2..],
            [
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let call = &events[5]["item"];
        assert_eq!(call["type"], "function_call");
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["call_id"], "call-1");
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "example", "days": 1}));
        assert_eq!(events[4]["arguments"], call["arguments"]);

        let mut answered = ask.clone();
        answered["input"].as_array_mut().unwrap().extend([
            call.clone(),
            json!({"type": "function_call_output", "call_id": "call-1", "output": "sunny"}),
        ]);
        let events = full_events(
            &ModelContext::new(answered, Instant::ZERO),
            2,
            "It is sunny",
        );
        assert_eq!(events[2]["item"]["type"], "message");

        let mut refused = ask;
        refused["tool_choice"] = json!("none");
        assert!(tool_to_call(&refused).is_none());
    }

    #[test]
    fn deltas_join_back_to_the_text() {
        for text in [
            "",
            "one",
            "  lead and trail  ",
            "grüße, 世界 ✓ 🙂",
            "a\nb\tc",
        ] {
            assert_eq!(split_deltas(text).concat(), text, "{text:?}");
        }
    }
}
