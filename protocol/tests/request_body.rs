//! Request bodies and WebSocket client messages (PROTOCOL.md 3.1 and 3.2), and URL
//! derivation.

mod support;

use serde_json::{Value, json};
use turnwire_protocol::config::Config;
use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::request::{
    ClientMetadata, RequestFields, encode_body, responses_url, websocket_url, ws_append, ws_create,
};

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("body is JSON")
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn full_fields() -> RequestFields {
    let mut fields = RequestFields::new("gpt-5");
    fields.instructions = Some("Be brief.".into());
    fields.tools = vec![json!({"type":"function","name":"calc","parameters":{"type":"object"}})];
    fields.parallel_tool_calls = true;
    fields.reasoning = Some(json!({"effort":"low","summary":"auto"}));
    fields.store = true;
    fields.text = Some(json!({"verbosity":"low"}));
    fields
}

#[test]
fn body_has_every_field_with_reasoning_object() {
    let input = [ResponseItem::user_text("hi")];
    let body = parse(&encode_body(
        &full_fields(),
        "conv-1",
        &input,
        &ClientMetadata::empty(),
    ));
    assert_eq!(
        body,
        json!({
            "model": "gpt-5",
            "instructions": "Be brief.",
            "input": [{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],
            "tools": [{"type":"function","name":"calc","parameters":{"type":"object"}}],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort":"low","summary":"auto"},
            "store": true,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "conv-1",
            "text": {"verbosity":"low"},
        })
    );
}

#[test]
fn defaults_send_null_reasoning_empty_include_and_omit_optional_fields() {
    let body = parse(&encode_body(
        &RequestFields::new("m"),
        "",
        &[],
        &ClientMetadata::empty(),
    ));
    assert_eq!(
        keys(&body),
        [
            "include",
            "input",
            "model",
            "parallel_tool_calls",
            "reasoning",
            "store",
            "stream",
            "tool_choice",
            "tools"
        ]
    );
    assert_eq!(
        body["reasoning"],
        Value::Null,
        "reasoning is present as null"
    );
    assert_eq!(body["include"], json!([]));
    assert_eq!(body["tool_choice"], json!("auto"));
    assert_eq!(
        (body["store"].clone(), body["stream"].clone()),
        (json!(false), json!(true))
    );
    assert!(
        body.get("prompt_cache_key").is_none(),
        "omitted for an empty conversation id"
    );
    assert!(body.get("text").is_none() && body.get("instructions").is_none());
}

#[test]
fn include_only_for_a_reasoning_object() {
    for (reasoning, include) in [
        (
            Some(json!({"effort":"high"})),
            json!(["reasoning.encrypted_content"]),
        ),
        (Some(json!({})), json!(["reasoning.encrypted_content"])),
        (None, json!([])),
        (Some(Value::Null), json!([])),
    ] {
        let mut fields = RequestFields::new("m");
        fields.reasoning = reasoning.clone();
        let body = parse(&encode_body(&fields, "c", &[], &ClientMetadata::empty()));
        assert_eq!(body["include"], include, "reasoning {reasoning:?}");
        assert_eq!(body["reasoning"], reasoning.unwrap_or(Value::Null));
    }
}

#[test]
fn prompt_cache_key_is_the_conversation_id() {
    let body = parse(&encode_body(
        &RequestFields::new("m"),
        "0199-uuid",
        &[],
        &ClientMetadata::empty(),
    ));
    assert_eq!(body["prompt_cache_key"], "0199-uuid");
}

#[test]
fn unknown_input_items_are_carried_unchanged() {
    let raw = [
        json!({"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q"}}),
        json!({"type":"future_kind_x","payload":{"nested":[1,null,"two"]},"flag":null}),
        json!({"role":"user","content":"no type"}),
        json!({"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":null,"status":null}),
        json!({"type":"function_call","call_id":"c","name":"f","arguments":"{}","status":"completed"}),
    ];
    let input: Vec<ResponseItem> = raw.iter().cloned().map(ResponseItem::from).collect();
    let body = parse(&encode_body(
        &RequestFields::new("m"),
        "c",
        &input,
        &ClientMetadata::empty(),
    ));
    assert_eq!(body["input"], Value::Array(raw.to_vec()));
}

#[test]
fn body_starts_with_model_and_create_starts_with_type() {
    let body = encode_body(&RequestFields::new("m"), "c", &[], &ClientMetadata::empty());
    assert!(
        body.starts_with(br#"{"model":"m""#),
        "{:?}",
        String::from_utf8_lossy(&body)
    );
    let create = ws_create(
        &RequestFields::new("m"),
        "c",
        &[],
        None,
        &ClientMetadata::empty(),
    );
    assert!(
        create.starts_with(r#"{"type":"response.create","model":"m""#),
        "{create}"
    );
}

#[test]
fn create_carries_every_body_field() {
    let fields = full_fields();
    let input = [
        ResponseItem::user_text("a"),
        ResponseItem::function_call_output("call_1", "ok"),
    ];
    let body = parse(&encode_body(
        &fields,
        "conv",
        &input,
        &ClientMetadata::empty(),
    ));
    let create: Value = serde_json::from_str(&ws_create(
        &fields,
        "conv",
        &input,
        None,
        &ClientMetadata::empty(),
    ))
    .expect("JSON");
    let mut expected = body.as_object().expect("object").clone();
    expected.insert("type".into(), json!("response.create"));
    assert_eq!(
        create,
        Value::Object(expected),
        "no previous_response_id without chaining"
    );
}

#[test]
fn create_chains_with_previous_response_id() {
    let fields = RequestFields::new("m");
    let input = [ResponseItem::user_text("b")];
    let create: Value = serde_json::from_str(&ws_create(
        &fields,
        "conv",
        &input,
        Some("resp-1"),
        &ClientMetadata::empty(),
    ))
    .expect("JSON");
    assert_eq!(create["type"], "response.create");
    assert_eq!(create["previous_response_id"], "resp-1");
    assert_eq!(create["stream"], true);
    assert_eq!(
        create["input"],
        json!([{"type":"message","role":"user","content":[{"type":"input_text","text":"b"}]}])
    );
    let mut without = create.as_object().expect("object").clone();
    without.remove("previous_response_id");
    let unchained: Value = serde_json::from_str(&ws_create(
        &fields,
        "conv",
        &input,
        None,
        &ClientMetadata::empty(),
    ))
    .expect("JSON");
    assert_eq!(
        Value::Object(without),
        unchained,
        "chaining adds exactly one key"
    );
}

#[test]
fn append_is_exactly_type_and_input() {
    let b = ResponseItem::from(
        json!({"type":"message","role":"user","content":[{"type":"input_text","text":"b"}]}),
    );
    assert_eq!(
        ws_append(std::slice::from_ref(&b)),
        r#"{"type":"response.append","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"b"}]}]}"#
    );
    assert_eq!(ws_append(&[]), r#"{"type":"response.append","input":[]}"#);
}

/// The spec's own client example names the fields a `response.create` carries; ours
/// has the same `type` and every field of it that we send.
#[test]
fn create_matches_the_spec_client_example() {
    let Some(dir) = support::openai_fixtures("create_matches_the_spec_client_example") else {
        return;
    };
    let text =
        std::fs::read_to_string(dir.join("openai-ws-client-messages.jsonl")).expect("fixture");
    let example: Value =
        serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
    let create: Value = serde_json::from_str(&ws_create(
        &RequestFields::new("gpt-5.5"),
        "c",
        &[ResponseItem::user_text("Say hello.")],
        None,
        &ClientMetadata::empty(),
    ))
    .expect("JSON");
    assert_eq!(create["type"], example["type"]);
    assert_eq!(create["model"], example["model"]);
    // We send `input` as an item array (the spec also allows a bare string) and do not
    // multiplex streams, so `stream_id` is the one example field we leave out.
    for key in keys(&example) {
        if key != "stream_id" {
            assert!(create.get(key).is_some(), "response.create lacks {key}");
        }
    }
    assert!(create["input"].is_array() && example["input"].is_string());
}

// ---------- URLs ----------

fn validated(base: &str, params: &[(&str, &str)]) -> Config {
    let mut config = Config::new(base);
    config.query_params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    config.validate().expect("valid config")
}

#[test]
fn responses_url_appends_path_and_encoded_query() {
    assert_eq!(
        responses_url(&validated("https://api.openai.com/v1/", &[])),
        "https://api.openai.com/v1/responses"
    );
    assert_eq!(
        responses_url(&validated(
            "http://127.0.0.1:8080/v1",
            &[("a", "1"), ("b", "2")]
        )),
        "http://127.0.0.1:8080/v1/responses?a=1&b=2"
    );
    assert_eq!(
        responses_url(&validated(
            "https://x.example/openai",
            &[("api-version", "2025-04-01 preview"), ("k&=", "é/?~")]
        )),
        "https://x.example/openai/responses?api-version=2025-04-01%20preview&k%26%3D=%C3%A9%2F%3F~"
    );
}

#[test]
fn websocket_url_swaps_the_scheme() {
    assert_eq!(
        websocket_url("https://api.openai.com/v1/responses"),
        "wss://api.openai.com/v1/responses"
    );
    assert_eq!(
        websocket_url("http://127.0.0.1:1/v1/responses?a=1"),
        "ws://127.0.0.1:1/v1/responses?a=1"
    );
    assert_eq!(
        websocket_url("HTTPS://Host/responses"),
        "wss://Host/responses"
    );
    assert_eq!(websocket_url("Http://h/x"), "ws://h/x");
    assert_eq!(websocket_url("wss://already/ws"), "wss://already/ws");
    assert_eq!(websocket_url("ftp://h/x"), "ftp://h/x");
    assert_eq!(websocket_url("http"), "http");
}
