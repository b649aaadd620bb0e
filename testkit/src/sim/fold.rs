//! Folding a stream of server events into the one JSON answer a non-streaming request
//! (`stream` absent or false) gets.
//!
//! A real server answers such a request with `application/json` holding the final
//! `Response` object; the fake server builds the same events it would stream and folds
//! them with [`fold`], so the default model, scripted `events` and replayed transcripts
//! all answer both ways consistently.

use serde_json::{Value, json};

use crate::wire::ev;

/// What a stream of events amounts to for a non-streaming request.
#[derive(Clone, Debug, PartialEq)]
pub enum Folded {
    /// The final `Response` object (HTTP 200).
    Response(Value),
    /// The stream carried an `error` event: the HTTP status and the OpenAI-shaped error
    /// body (`{"error": {"message", "type", "param", "code"}}`).
    Error {
        /// The HTTP status: the event's `status`, else 500.
        status: u16,
        /// The error body.
        body: Value,
    },
}

/// Folds `events` (in stream order) into the final response.
///
/// The `response` object of the terminal event (`response.completed`, `.incomplete`,
/// `.failed` or `.done`) is the answer when present, else the latest one seen
/// (`response.created`/`.in_progress`), else an empty one. When that object has no
/// `output` (or an empty one), it gets the items of the `response.output_item.done`
/// events in order. An `error` event before any terminal event makes the answer an
/// error instead.
pub fn fold(events: &[Value]) -> Folded {
    let mut response: Option<Value> = None;
    let mut items: Vec<(u64, Value)> = Vec::new();
    for event in events {
        match ev::kind(event) {
            "response.output_item.done" => {
                let index = event
                    .get("output_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(items.len() as u64);
                items.push((index, event.get("item").cloned().unwrap_or(Value::Null)));
            }
            "error" => return error(event),
            kind if kind.starts_with("response.") => {
                if let Some(object) = event.get("response").filter(|r| r.is_object()) {
                    response = Some(object.clone());
                }
                if ev::ends_response(event) {
                    break;
                }
            }
            _ => {}
        }
    }
    let mut response = response.unwrap_or_else(|| json!({}));
    if let Some(map) = response.as_object_mut() {
        map.entry("object").or_insert_with(|| json!("response"));
        let has_output = map
            .get("output")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty());
        if !has_output {
            items.sort_by_key(|(index, _)| *index);
            let output = items.into_iter().map(|(_, item)| item).collect();
            map.insert("output".into(), Value::Array(output));
        }
    }
    Folded::Response(response)
}

/// The HTTP error an `error` event stands for. Both shapes are read: the SSE one with
/// top-level `code`/`message`/`param`, and the WebSocket one that nests them under
/// `error` and adds `status`.
fn error(event: &Value) -> Folded {
    let inner = event
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(event);
    let text = |name: &str| inner.get(name).cloned().unwrap_or(Value::Null);
    let status = event
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..=599).contains(s))
        .unwrap_or(500);
    let kind = inner
        .get("type")
        .filter(|t| t.as_str() != Some("error"))
        .cloned()
        .unwrap_or_else(|| json!("server_error"));
    Folded::Error {
        status,
        body: json!({"error": {
            "message": text("message"), "type": kind, "param": text("param"), "code": text("code")
        }}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    #[test]
    fn the_terminal_response_wins_and_gets_the_items_it_lacks() {
        let item = wire::assistant("m1", "hi");
        let Folded::Response(folded) = fold(&ev::response("r1", std::slice::from_ref(&item)))
        else {
            panic!("not a response")
        };
        assert_eq!(folded["id"], "r1");
        assert_eq!(folded["status"], "completed");
        assert_eq!(folded["object"], "response");
        assert_eq!(folded["output"], json!([item]));
        assert_eq!(folded["usage"]["total_tokens"], 19);
    }

    #[test]
    fn a_full_output_is_kept_and_later_events_are_ignored() {
        let done =
            json!({"type": "response.completed", "response": {"id": "r", "output": [{"id": "x"}]}});
        let extra = ev::item_done(json!({"id": "late"}));
        let Folded::Response(folded) = fold(&[done, extra]) else {
            panic!("not a response")
        };
        assert_eq!(folded["output"], json!([{"id": "x"}]));
    }

    #[test]
    fn without_a_terminal_event_the_latest_response_is_used() {
        let Folded::Response(folded) = fold(&[ev::created("r2")]) else {
            panic!("not a response")
        };
        assert_eq!(folded["status"], "in_progress");
        assert_eq!(folded["output"], json!([]));
    }

    #[test]
    fn error_events_become_http_errors_in_either_shape() {
        assert_eq!(
            fold(&[ev::sse_error("server_error", "boom")]),
            Folded::Error {
                status: 500,
                body: json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": "server_error"}})
            }
        );
        let Folded::Error { status, body } = fold(&[
            ev::created("r"),
            ev::ws_error(
                429,
                "rate_limit_error",
                "rate_limit_exceeded",
                "slow down",
                &[],
            ),
        ]) else {
            panic!("not an error")
        };
        assert_eq!(status, 429);
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    }
}
