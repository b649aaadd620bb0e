//! The `item` target: arbitrary JSON → [`ResponseItem`] → JSON must give the same value.
//!
//! Input layout: the first byte's low bit picks the mode. Even: the rest is JSON text
//! (inputs that do not parse are skipped). Odd: the rest drives a builder that makes a
//! JSON value from item-shaped keys and values (typed kinds with fields present,
//! absent, `null` or of the wrong kind), so every input is an item.
//!
//! Checked, as in `item_roundtrip.rs`: `from_value` then `to_value` gives the value
//! back; serialising to text and parsing again gives what parsing the value's own
//! text gives; the same through `from_str`; and typed accessors do not panic.

use serde_json::{Map, Number, Value};
use turnwire_protocol::item::ResponseItem;

use super::reader::Reader;

const TYPES: &[&str] = &[
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "web_search_call",
    "output_text",
    "input_text",
    "refusal",
    "summary_text",
    "reasoning_text",
    "input_image",
    "",
];

const KEYS: &[&str] = &[
    "type",
    "id",
    "role",
    "content",
    "status",
    "summary",
    "encrypted_content",
    "call_id",
    "name",
    "arguments",
    "output",
    "input",
    "text",
    "annotations",
    "logprobs",
    "refusal",
    "image_url",
    "phase",
];

const STRINGS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "completed",
    "in_progress",
    "call_1",
    "msg_1",
    "Grüße 𝄞",
    "",
    "\u{0}",
    "\"quoted\"\n",
];

/// Builds a JSON value from choices; `depth` bounds nesting.
fn value(r: &mut Reader<'_>, depth: u32) -> Value {
    let kind = if depth == 0 { r.u8() % 6 } else { r.u8() % 9 };
    match kind {
        0 => Value::Null,
        1 => Value::Bool(r.bool()),
        2 => Value::from(r.u64() as i64),
        3 => Number::from_f64(f64::from_bits(r.u64()))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        4 => Value::String(r.word(STRINGS).to_owned()),
        5 => Value::String(r.string(64)),
        6 => Value::String(r.word(TYPES).to_owned()),
        7 => {
            let n = r.below(5);
            Value::Array((0..n).map(|_| value(r, depth - 1)).collect())
        }
        _ => Value::Object(object(r, depth - 1)),
    }
}

/// An object with item-shaped keys, usually with a `type`.
fn object(r: &mut Reader<'_>, depth: u32) -> Map<String, Value> {
    let mut map = Map::new();
    if r.u8() < 224 {
        map.insert("type".into(), Value::String(r.word(TYPES).to_owned()));
    }
    for _ in 0..r.below(7) {
        let key = if r.u8() < 240 {
            r.word(KEYS).to_owned()
        } else {
            r.string(16)
        };
        let v = value(r, depth);
        map.insert(key, v);
    }
    map
}

/// A JSON value from the input, or `None` when text mode got text that is not JSON.
fn input_value(data: &[u8]) -> Option<Value> {
    let mut r = Reader::new(data);
    if r.u8() & 1 == 0 {
        serde_json::from_slice(r.rest()).ok()
    } else {
        Some(Value::Object(object(&mut r, 3)))
    }
}

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let Some(value) = input_value(data) else {
        return;
    };
    let item: ResponseItem = serde_json::from_value(value.clone()).expect("any JSON is an item");
    let back = serde_json::to_value(&item).expect("items serialise");
    assert_eq!(back, value, "value round trip changed the item ({item:?})");

    let text = serde_json::to_string(&item).expect("items serialise");
    let reparsed: ResponseItem = serde_json::from_str(&text).expect("own output parses");
    let expected: Value = serde_json::from_str(&value.to_string()).expect("JSON text parses");
    assert_eq!(
        serde_json::to_value(&reparsed).expect("serialise"),
        expected,
        "text round trip changed {text}"
    );

    // The accessors look inside typed items; they must not panic on any.
    let _ = (item.item_type(), item.id(), item.call_id(), item.text());
}
