//! Items round-trip without loss: any JSON in, the same JSON out (value-equal, no key
//! added or dropped, `null` kept apart from absent), typed where the client looks.

mod support;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use turnwire_protocol::item::{ContentPart, ResponseItem, ToolOutput};

/// `from_value` then `to_value` gives `value` back; through text as well.
fn assert_round_trip(value: &Value) -> ResponseItem {
    let item: ResponseItem = serde_json::from_value(value.clone()).expect("any JSON is an item");
    let back = serde_json::to_value(&item).expect("items serialise");
    assert_eq!(&back, value, "value round trip changed the item ({item:?})");
    let text = serde_json::to_string(&item).expect("items serialise");
    let reparsed: ResponseItem = serde_json::from_str(&text).expect("own output parses");
    let expected: Value = serde_json::from_str(&value.to_string()).expect("JSON text parses");
    assert_eq!(
        serde_json::to_value(&reparsed).expect("serialise"),
        expected,
        "text round trip changed {text}"
    );
    item
}

// ---------- hand-written samples (the fixtures folder may be absent) ----------

#[test]
fn each_kind_round_trips_and_is_typed_where_expected() {
    let samples = [
        (
            json!({"id":"msg_1","type":"message","status":"completed","role":"assistant",
                   "content":[{"type":"output_text","text":"Hi","annotations":[],"logprobs":null},
                              {"type":"refusal","refusal":"no"},
                              {"type":"output_audio","data":"AAAA"}],
                   "phase":"final_answer"}),
            "message",
            true,
        ),
        (
            json!({"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Thinking"}],
                   "content":null,"encrypted_content":"gAAA"}),
            "reasoning",
            true,
        ),
        (
            json!({"id":"fc_1","type":"function_call","status":"in_progress","arguments":"",
                   "call_id":"call_1","name":"calculator"}),
            "function_call",
            true,
        ),
        (
            json!({"type":"function_call_output","call_id":"call_1",
                   "output":[{"type":"input_text","text":"4"},{"type":"input_image","image_url":"data:"}]}),
            "function_call_output",
            true,
        ),
        (
            json!({"type":"custom_tool_call","id":"ct_1","call_id":"c2","name":"write_sql","input":"SELECT 1"}),
            "custom_tool_call",
            true,
        ),
        (
            json!({"type":"custom_tool_call_output","call_id":"c2","output":"1 row"}),
            "custom_tool_call_output",
            true,
        ),
        (
            json!({"id":"ws_1","type":"web_search_call","status":"completed",
                   "action":{"type":"search","query":"rust"}}),
            "web_search_call",
            false,
        ),
        (
            json!({"type":"image_generation_call","id":"ig_1","result":null}),
            "image_generation_call",
            false,
        ),
        (
            json!({"role":"user","content":"untyped easy message"}),
            "",
            false,
        ),
        (
            json!({"type":"message","role":"user","content":"string content"}),
            "message",
            false,
        ),
        (
            json!({"type":"function_call","call_id":"c","name":null,"arguments":"{}"}),
            "function_call",
            false,
        ),
        (json!("not an object"), "", false),
    ];
    for (value, kind, typed) in samples {
        let item = assert_round_trip(&value);
        assert_eq!(item.item_type(), kind, "{value}");
        assert_eq!(
            !matches!(item, ResponseItem::Other(_)),
            typed,
            "typed? {value}"
        );
    }
}

#[test]
fn accessors_read_the_typed_fields() {
    let msg: ResponseItem = json!({"type":"message","id":"m","role":"assistant","content":[
        {"type":"output_text","text":"Hello, "},{"type":"refusal","refusal":"x"},{"type":"output_text","text":"world"}]})
    .into();
    assert_eq!(msg.text().as_deref(), Some("Hello, world"));
    assert_eq!(msg.id(), Some("m"));
    assert_eq!(msg.call_id(), None);

    let call: ResponseItem =
        json!({"type":"function_call","call_id":"c","name":"f","arguments":"{}"}).into();
    let ResponseItem::FunctionCall(c) = &call else {
        panic!("typed function call: {call:?}")
    };
    assert_eq!(
        (c.call_id.as_str(), c.name.as_str(), c.arguments.as_str()),
        ("c", "f", "{}")
    );
    assert_eq!(
        (call.id(), call.call_id(), call.text()),
        (None, Some("c"), None)
    );

    let other: ResponseItem = json!({"type":"web_search_call","id":"ws_9"}).into();
    assert_eq!(
        (other.item_type(), other.id()),
        ("web_search_call", Some("ws_9"))
    );

    let reasoning: ResponseItem =
        json!({"type":"reasoning","id":"rs","summary":[{"type":"summary_text","text":"s"}],"encrypted_content":"e"})
            .into();
    let ResponseItem::Reasoning(r) = &reasoning else {
        panic!("typed reasoning: {reasoning:?}")
    };
    assert_eq!(r.encrypted_content.as_deref(), Some("e"));
    assert_eq!(r.summary.as_deref().map(|s| s.len()), Some(1));
    assert!(r.content.is_none(), "absent content stays absent");
}

#[test]
fn constructors_make_the_wire_shape() {
    let cases = [
        (
            ResponseItem::user_text("hi"),
            json!({"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}),
        ),
        (
            ResponseItem::assistant_text("yo"),
            json!({"type":"message","role":"assistant","content":[{"type":"output_text","text":"yo"}]}),
        ),
        (
            ResponseItem::function_call_output("call_1", "42"),
            json!({"type":"function_call_output","call_id":"call_1","output":"42"}),
        ),
        (
            ResponseItem::function_call_output("call_2", vec![ContentPart::input_text("a")]),
            json!({"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"a"}]}),
        ),
    ];
    for (item, expected) in cases {
        assert_eq!(serde_json::to_value(&item).expect("serialise"), expected);
        let parsed: ResponseItem = serde_json::from_value(expected).expect("parse");
        assert_eq!(parsed, item, "constructor output equals the parsed form");
    }
    assert_eq!(ResponseItem::user_text("a").text().as_deref(), Some("a"));
    let ResponseItem::FunctionCallOutput(o) = ResponseItem::function_call_output("c", "out") else {
        panic!("typed output")
    };
    assert_eq!(o.output, ToolOutput::Text("out".into()));
}

#[test]
fn serialisation_starts_with_type() {
    let item: ResponseItem = json!({"role":"user","content":[],"type":"message","a":1}).into();
    let text = serde_json::to_string(&item).expect("serialise");
    assert!(text.starts_with(r#"{"type":"message""#), "{text}");
}

// ---------- property tests ----------

const TYPES: [&str; 9] = [
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "web_search_call",
    "unknown_x",
    "none",
];

/// Keys the typed items read, mixed with random ones so collisions are common.
const TYPED_KEYS: [&str; 14] = [
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
    "refusal",
    "annotations",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&TYPED_KEYS[..]).prop_map(str::to_owned),
        "[a-z_]{1,6}"
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        "[a-zA-Z0-9 é\"\\\\]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A content part: a known or unknown `type`, a `text`/`refusal` that is usually a
/// string, and random extras.
fn part() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(vec![
        "input_text",
        "output_text",
        "refusal",
        "summary_text",
        "input_image",
        "none",
    ]);
    let payload = prop_oneof![3 => "[a-z ]{0,6}".prop_map(Value::String), 1 => json_value()];
    (
        kind,
        payload,
        prop::collection::btree_map("[a-z_]{1,5}", json_value(), 0..3),
    )
        .prop_map(|(kind, payload, extras)| {
            let mut map: Map<String, Value> = extras.into_iter().collect();
            let field = if kind == "refusal" { "refusal" } else { "text" };
            map.insert(field.to_owned(), payload);
            if kind != "none" {
                map.insert("type".to_owned(), Value::from(kind));
            }
            Value::Object(map)
        })
}

/// A value of the JSON type a typed item expects under `key`.
fn well_typed(key: &'static str) -> BoxedStrategy<Value> {
    match key {
        "content" | "summary" => prop::collection::vec(part(), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        "output" => prop_oneof![
            "[a-z ]{0,6}".prop_map(Value::String),
            prop::collection::vec(part(), 0..3).prop_map(Value::Array)
        ]
        .boxed(),
        _ => "[a-z_0-9]{0,8}".prop_map(Value::String).boxed(),
    }
}

/// For each typed key: absent, well typed, or any JSON (null included).
fn typed_fields() -> impl Strategy<Value = Vec<(String, Option<Value>)>> {
    let per_key: Vec<BoxedStrategy<(String, Option<Value>)>> = TYPED_KEYS
        .iter()
        .map(|&k| {
            prop_oneof![
                2 => Just(None),
                3 => well_typed(k).prop_map(Some),
                1 => json_value().prop_map(Some),
            ]
            .prop_map(move |v| (k.to_owned(), v))
            .boxed()
        })
        .collect();
    per_key
}

fn any_item_json() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&TYPES[..]),
        typed_fields(),
        prop::collection::btree_map(key(), json_value(), 0..4),
    )
        .prop_map(|(kind, fields, extras)| {
            let mut map: Map<String, Value> = extras.into_iter().collect();
            for (k, v) in fields {
                if let Some(v) = v {
                    map.insert(k, v);
                }
            }
            if kind != "none" {
                map.insert("type".to_owned(), Value::from(kind));
            }
            Value::Object(map)
        })
}

/// The keys a kind needs to be typed, with their well-typed values.
fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        "message" => &["role", "content"],
        "function_call" => &["call_id", "name", "arguments"],
        "custom_tool_call" => &["call_id", "name", "input"],
        "function_call_output" | "custom_tool_call_output" => &["call_id", "output"],
        _ => &[],
    }
}

fn typed_item_json() -> impl Strategy<Value = (&'static str, Value)> {
    let kinds = prop::sample::select(&TYPES[..6]);
    (
        kinds,
        any_item_json(),
        "[a-z ]{0,6}",
        prop::collection::vec(part(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(kind, base, text, parts, output_as_parts)| {
            let Value::Object(mut map) = base else {
                unreachable!("objects only")
            };
            for &k in required(kind) {
                let value = match k {
                    "content" => Value::Array(parts.clone()),
                    "output" if output_as_parts => Value::Array(parts.clone()),
                    _ => Value::String(text.clone()),
                };
                map.insert(k.to_owned(), value);
            }
            map.insert("type".to_owned(), Value::from(kind));
            (kind, Value::Object(map))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_item_round_trips(value in any_item_json()) {
        assert_round_trip(&value);
    }

    #[test]
    fn any_json_round_trips(value in json_value()) {
        assert_round_trip(&value);
    }

    #[test]
    fn typed_items_round_trip(case in typed_item_json()) {
        let (kind, value) = case;
        let item = assert_round_trip(&value);
        prop_assert!(!matches!(item, ResponseItem::Other(_)), "{kind} with its required fields is typed: {value}");
        prop_assert_eq!(item.item_type(), kind);
        // Through text both sides (floats parse the same way from the same digits).
        let again: ResponseItem = serde_json::from_slice(&serde_json::to_vec(&item).expect("serialise")).expect("parse");
        let direct: ResponseItem = serde_json::from_str(&value.to_string()).expect("parse");
        prop_assert_eq!(again, direct);
    }

    #[test]
    fn parts_round_trip(value in part()) {
        let part: ContentPart = serde_json::from_value(value.clone()).expect("any part parses");
        prop_assert_eq!(serde_json::to_value(&part).expect("serialise"), value);
    }
}

// ---------- third-party fixtures ----------

/// Every item inside a server event: `item` of output_item events and the `output`
/// array of a response object.
fn items_of_event(event: &Value, out: &mut Vec<Value>) {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    if kind.contains("output_item")
        && let Some(item) = event.get("item")
    {
        out.push(item.clone());
    }
    if let Some(Value::Array(output)) = event.get("response").and_then(|r| r.get("output")) {
        out.extend(output.iter().cloned());
    }
}

fn event_lines(text: &str) -> impl Iterator<Item = Value> + '_ {
    text.lines()
        .map(|l| l.strip_prefix("data:").unwrap_or(l).trim())
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
}

#[test]
fn every_fixture_item_round_trips() {
    let Some(dir) = support::openai_fixtures("every_fixture_item_round_trips") else {
        return;
    };
    let mut files = vec![dir.join("openai-stream-events.jsonl")];
    files.extend(support::transcripts(&dir));
    let mut items = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("fixture is UTF-8");
        for event in event_lines(&text) {
            items_of_event(&event, &mut items);
        }
    }
    assert!(items.len() > 50, "found only {} items", items.len());
    let mut typed = 0;
    for item in &items {
        if !matches!(assert_round_trip(item), ResponseItem::Other(_)) {
            typed += 1;
        }
    }
    assert!(
        typed > 0 && typed < items.len(),
        "typed {typed} of {}",
        items.len()
    );
}
