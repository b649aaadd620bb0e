//! JSON builders for what goes over the wire in tests: conversation items and the
//! server events of PROTOCOL.md section 5, in the shapes the real server sends.

use serde_json::{Value, json};
use turnwire_protocol::ResponseItem;

/// A user message item with one `input_text` part.
pub fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// An assistant message item with one `output_text` part.
pub fn assistant(id: &str, text: &str) -> Value {
    json!({
        "type": "message", "role": "assistant", "id": id,
        "content": [{"type": "output_text", "text": text}]
    })
}

/// A function call item.
pub fn function_call(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments})
}

/// A function call output item (what the caller sends back after running a tool).
pub fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

/// Converts an item's JSON to the protocol's item type. Items are lossless JSON, so
/// this cannot fail for an object; it panics only on a test bug (a non-object).
pub fn item(value: Value) -> ResponseItem {
    match serde_json::from_value(value) {
        Ok(item) => item,
        Err(err) => panic!("test item is not a valid item: {err}"),
    }
}

/// The JSON of a protocol item, for comparing with what the server received.
pub fn item_json(item: &ResponseItem) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// Converts several item JSONs.
pub fn items(values: impl IntoIterator<Item = Value>) -> Vec<ResponseItem> {
    values.into_iter().map(item).collect()
}

/// Server events.
pub mod ev {
    use super::*;

    /// `response.created`.
    pub fn created(id: &str) -> Value {
        json!({"type": "response.created", "response": {"id": id, "status": "in_progress"}})
    }

    /// `response.output_text.delta`.
    pub fn text_delta(item_id: &str, delta: &str) -> Value {
        json!({
            "type": "response.output_text.delta", "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": delta
        })
    }

    /// `response.output_item.added`.
    pub fn item_added(item: Value) -> Value {
        json!({"type": "response.output_item.added", "output_index": 0, "item": item})
    }

    /// `response.output_item.done`.
    pub fn item_done(item: Value) -> Value {
        json!({"type": "response.output_item.done", "output_index": 0, "item": item})
    }

    /// `response.completed` with a small usage block.
    pub fn completed(id: &str) -> Value {
        json!({
            "type": "response.completed",
            "response": {
                "id": id, "status": "completed",
                "usage": {
                    "input_tokens": 12, "input_tokens_details": {"cached_tokens": 2},
                    "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": 19
                }
            }
        })
    }

    /// `response.incomplete` with a reason.
    pub fn incomplete(id: &str, reason: &str) -> Value {
        json!({
            "type": "response.incomplete",
            "response": {"id": id, "status": "incomplete", "incomplete_details": {"reason": reason}}
        })
    }

    /// `response.failed` with an error code and message.
    pub fn failed(id: &str, code: &str, message: &str) -> Value {
        json!({
            "type": "response.failed",
            "response": {"id": id, "status": "failed", "error": {"code": code, "message": message}}
        })
    }

    /// An SSE `error` event (top-level code and message).
    pub fn sse_error(code: &str, message: &str) -> Value {
        json!({"type": "error", "code": code, "message": message, "param": null})
    }

    /// A WebSocket `error` frame without a status (the connection-limit shape).
    pub fn ws_error_code(code: &str, message: &str) -> Value {
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}})
    }

    /// A WebSocket `error` frame with a status, error type and code, and a `headers`
    /// map (rate-limit headers, `retry-after`...).
    pub fn ws_error(
        status: u16,
        error_type: &str,
        code: &str,
        message: &str,
        headers: &[(&str, &str)],
    ) -> Value {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        json!({
            "type": "error", "status": status,
            "error": {"type": error_type, "code": code, "message": message},
            "headers": headers
        })
    }

    /// `response.metadata` carrying a turn-state token in its `headers` map.
    pub fn metadata_turn_state(token: &str) -> Value {
        json!({"type": "response.metadata", "headers": {"x-codex-turn-state": token}})
    }

    /// An event type the client does not know (passed through as `Other`).
    pub fn unknown(kind: &str) -> Value {
        json!({"type": kind, "note": "not a type the client knows"})
    }

    /// The events of a whole successful response: created, for each item a done event,
    /// completed.
    pub fn response(id: &str, items: &[Value]) -> Vec<Value> {
        let mut events = vec![created(id)];
        events.extend(items.iter().cloned().map(item_done));
        events.push(completed(id));
        events
    }

    /// The `type` of an event JSON, or `""`.
    pub fn kind(event: &Value) -> &str {
        event.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// True for event types that end a response on the wire (completed, done,
    /// incomplete, failed) or an `error` frame.
    pub fn ends_response(event: &Value) -> bool {
        matches!(
            kind(event),
            "response.completed"
                | "response.done"
                | "response.incomplete"
                | "response.failed"
                | "error"
        )
    }
}
