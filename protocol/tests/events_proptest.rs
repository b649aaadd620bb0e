//! Property tests: `decode_server_event` never panics, whatever the text, and keeps
//! what it decodes intact.

use proptest::prelude::*;
use serde_json::{Map, Value};
use turnwire_protocol::event::{EventDecodeError, ResponseEvent, ServerEvent, decode_server_event};

/// Types with a mapping of their own, plus a few that pass through.
const TYPES: &[&str] = &[
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
    "response.in_progress",
    "x",
];

/// Member names the decoder looks at, at any depth.
const KEYS: &[&str] = &[
    "type",
    "delta",
    "item_id",
    "output_index",
    "content_index",
    "summary_index",
    "item",
    "response",
    "id",
    "usage",
    "input_tokens",
    "input_tokens_details",
    "cached_tokens",
    "output_tokens_details",
    "incomplete_details",
    "reason",
    "error",
    "code",
    "message",
    "param",
    "plan_type",
    "resets_at",
    "status",
    "status_code",
    "headers",
    "rate_limits",
    "primary",
    "secondary",
    "credits",
    "used_percent",
    "balance",
    "has_credits",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z0-9_. -]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn event_object() -> impl Strategy<Value = (String, Value)> {
    (
        prop::sample::select(TYPES),
        prop::collection::vec((prop::sample::select(KEYS), json_value()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(ty, members, type_first)| {
            let mut map = Map::new();
            if type_first {
                map.insert("type".to_owned(), Value::from(ty));
            }
            for (key, value) in members {
                if key != "type" {
                    map.insert(key.to_owned(), value);
                }
            }
            map.insert("type".to_owned(), Value::from(ty));
            (ty.to_owned(), Value::Object(map))
        })
}

/// Decodes and checks what holds for every outcome.
fn decode_checked(text: &str) -> Result<ServerEvent, EventDecodeError> {
    let result = decode_server_event(text);
    assert_eq!(result, decode_server_event(text), "deterministic");
    match &result {
        Ok(ServerEvent::Completed { response_id, .. }) => assert!(!response_id.is_empty()),
        Err(EventDecodeError::Json(message)) => assert!(message.len() <= 200),
        _ => {}
    }
    result
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = decode_checked(&text);
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[ {}\[\]":,\\a-z0-9._\-]{0,80}"#) {
        let _ = decode_checked(&text);
        let _ = decode_checked(&format!("{{\"type\":\"error\",{text}"));
        let _ = decode_checked(&format!("{{\"type\":\"response.completed\",\"response\":{text}}}"));
    }

    #[test]
    fn objects_of_known_types_decode_or_fail_cleanly((ty, event) in event_object()) {
        let text = event.to_string();
        if let Ok(ServerEvent::Caller(ResponseEvent::Other { event_type, raw })) = decode_checked(&text) {
            prop_assert_eq!(event_type, ty);
            // Compared with a re-parse: serde_json's float parsing is not exact.
            let reparsed: Value = serde_json::from_str(&text).expect("valid JSON");
            prop_assert_eq!(raw, reparsed);
        }
        // The same object pretty-printed decodes the same way.
        let pretty = serde_json::to_string_pretty(&event).expect("serializable");
        prop_assert_eq!(decode_server_event(&pretty), decode_server_event(&text));
    }

    #[test]
    fn text_deltas_survive_any_content(delta in any::<String>(), item_id in any::<String>(), index in any::<u32>()) {
        let event = serde_json::json!({
            "type": "response.output_text.delta",
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
            "delta": delta,
        });
        let decoded = decode_checked(&event.to_string());
        prop_assert_eq!(
            decoded,
            Ok(ServerEvent::Caller(ResponseEvent::OutputTextDelta {
                delta,
                item_id,
                output_index: index,
                content_index: 0,
            }))
        );
    }
}
