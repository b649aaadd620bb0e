//! The `client_metadata` body field and the `generate` flag (PROTOCOL.md 3.1, 3.2,
//! rev 2): what goes in on each transport, the 2,048-character rule, the reserved
//! keys, and where each lands in the encoded body or message.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use turnwire_protocol::headers::{TurnStateToken, validate_turn_state};
use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::request::{
    ClientMetadata, MAX_VALUE_CHARS, MetadataSources, OversizedValue, RequestFields,
    client_metadata, encode_body, ws_append, ws_create, ws_prewarm,
};
use turnwire_protocol::session::Transport;

fn token(raw: &str) -> TurnStateToken {
    validate_turn_state(raw.as_bytes(), 4096).expect("valid token")
}

fn caller(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn entries(metadata: &ClientMetadata<'_>) -> Vec<(String, String)> {
    metadata
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn what_each_transport_carries() {
    let ts = token("ts-1");
    let long = "é".repeat(MAX_VALUE_CHARS + 1);
    let exactly = "é".repeat(MAX_VALUE_CHARS);
    struct Row<'a> {
        name: &'a str,
        caller: BTreeMap<String, String>,
        turn_metadata: Option<&'a str>,
        turn_state: Option<&'a TurnStateToken>,
        transport: Transport,
        sent: Vec<(String, String)>,
        dropped: Vec<(&'a str, usize)>,
    }
    let rows = [
        Row {
            name: "nothing to send: empty",
            caller: caller(&[]),
            turn_metadata: None,
            turn_state: None,
            transport: Transport::WebSocket,
            sent: pairs(&[]),
            dropped: vec![],
        },
        Row {
            name: "websocket: caller entries, turn metadata and the token",
            caller: caller(&[("user", "u-1"), ("app", "cli")]),
            turn_metadata: Some("{\"turn\":1}"),
            turn_state: Some(&ts),
            transport: Transport::WebSocket,
            sent: pairs(&[
                ("app", "cli"),
                ("user", "u-1"),
                ("x-codex-turn-metadata", "{\"turn\":1}"),
                ("x-codex-turn-state", "ts-1"),
            ]),
            dropped: vec![],
        },
        Row {
            name: "http: the token is a header, never in the body",
            caller: caller(&[("user", "u-1")]),
            turn_metadata: Some("meta"),
            turn_state: Some(&ts),
            transport: Transport::Http,
            sent: pairs(&[("user", "u-1"), ("x-codex-turn-metadata", "meta")]),
            dropped: vec![],
        },
        Row {
            name: "turn metadata that is no valid header value still goes in the body",
            caller: caller(&[]),
            turn_metadata: Some("line\nbreak ✓"),
            turn_state: None,
            transport: Transport::Http,
            sent: pairs(&[("x-codex-turn-metadata", "line\nbreak ✓")]),
            dropped: vec![],
        },
        Row {
            name: "reserved keys are the session's: caller values there are ignored",
            caller: caller(&[
                ("x-codex-turn-state", "forged"),
                ("x-codex-turn-metadata", "forged"),
                ("ok", "1"),
            ]),
            turn_metadata: None,
            turn_state: None,
            transport: Transport::WebSocket,
            sent: pairs(&[("ok", "1")]),
            dropped: vec![],
        },
        Row {
            name: "2,048 characters are sent, 2,049 are not (characters, not bytes)",
            caller: caller(&[("at-limit", exactly.as_str()), ("over", long.as_str())]),
            turn_metadata: Some(long.as_str()),
            turn_state: None,
            transport: Transport::WebSocket,
            sent: pairs(&[("at-limit", exactly.as_str())]),
            dropped: vec![
                ("over", MAX_VALUE_CHARS + 1),
                ("x-codex-turn-metadata", MAX_VALUE_CHARS + 1),
            ],
        },
    ];
    for row in rows {
        let (metadata, oversized) = client_metadata(
            MetadataSources {
                caller: &row.caller,
                turn_metadata: row.turn_metadata,
                turn_state: row.turn_state,
            },
            row.transport,
        );
        assert_eq!(entries(&metadata), row.sent, "{}", row.name);
        assert_eq!(metadata.is_empty(), row.sent.is_empty(), "{}", row.name);
        let dropped: Vec<OversizedValue> = row
            .dropped
            .iter()
            .map(|(key, chars)| OversizedValue {
                key: (*key).to_owned(),
                chars: *chars,
            })
            .collect();
        assert_eq!(oversized, dropped, "{}", row.name);
    }
}

#[test]
fn a_long_token_is_left_out_of_a_websocket_message_and_reported() {
    let raw = "t".repeat(MAX_VALUE_CHARS + 10);
    let ts = token(&raw);
    let none = BTreeMap::new();
    let (metadata, oversized) = client_metadata(
        MetadataSources {
            caller: &none,
            turn_metadata: None,
            turn_state: Some(&ts),
        },
        Transport::WebSocket,
    );
    assert!(metadata.is_empty());
    assert_eq!(
        oversized,
        [OversizedValue {
            key: "x-codex-turn-state".into(),
            chars: MAX_VALUE_CHARS + 10
        }]
    );
}

fn built<'a>(
    caller: &'a BTreeMap<String, String>,
    ts: Option<&'a TurnStateToken>,
    transport: Transport,
) -> ClientMetadata<'a> {
    client_metadata(
        MetadataSources {
            caller,
            turn_metadata: Some("meta"),
            turn_state: ts,
        },
        transport,
    )
    .0
}

#[test]
fn the_body_and_the_create_message_carry_client_metadata_as_an_object_of_strings() {
    let ts = token("ts-1");
    let mut fields = RequestFields::new("m");
    fields.client_metadata = caller(&[("user", "u-1")]);
    let input = [ResponseItem::user_text("hi")];

    let http = built(&fields.client_metadata, Some(&ts), Transport::Http);
    let body: Value =
        serde_json::from_slice(&encode_body(&fields, "c", &input, &http)).expect("JSON");
    assert_eq!(
        body["client_metadata"],
        json!({"user": "u-1", "x-codex-turn-metadata": "meta"})
    );
    assert!(body.get("generate").is_none(), "never on HTTP");

    let ws = built(&fields.client_metadata, Some(&ts), Transport::WebSocket);
    for text in [
        ws_create(&fields, "c", &input, None, &ws),
        ws_create(&fields, "c", &input, Some("resp-1"), &ws),
    ] {
        let message: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            message["client_metadata"],
            json!({"user": "u-1", "x-codex-turn-metadata": "meta", "x-codex-turn-state": "ts-1"})
        );
        assert!(
            message.get("generate").is_none(),
            "only the prewarm sets it"
        );
    }
}

#[test]
fn empty_client_metadata_is_omitted_everywhere() {
    let fields = RequestFields::new("m");
    let empty = ClientMetadata::empty();
    let body: Value =
        serde_json::from_slice(&encode_body(&fields, "c", &[], &empty)).expect("JSON");
    assert!(body.get("client_metadata").is_none());
    let create: Value =
        serde_json::from_str(&ws_create(&fields, "c", &[], None, &empty)).expect("JSON");
    assert!(create.get("client_metadata").is_none());
}

#[test]
fn the_prewarm_is_a_full_create_with_generate_false() {
    let mut fields = RequestFields::new("m");
    fields.instructions = Some("Be brief.".into());
    let input = [ResponseItem::user_text("prefix")];
    let none = BTreeMap::new();
    let metadata = built(&none, None, Transport::WebSocket);
    let prewarm: Value =
        serde_json::from_str(&ws_prewarm(&fields, "c", &input, &metadata)).expect("JSON");
    let mut create: Value =
        serde_json::from_str(&ws_create(&fields, "c", &input, None, &metadata)).expect("JSON");
    create["generate"] = Value::Bool(false);
    assert_eq!(prewarm, create, "the create's fields plus generate: false");
    assert!(prewarm.get("previous_response_id").is_none());
}

#[test]
fn append_messages_stay_exactly_type_and_input() {
    let text = ws_append(&[ResponseItem::user_text("b")]);
    let message: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(message.as_object().map(|o| o.len()), Some(2), "{message}");
}

#[test]
fn caller_metadata_does_not_break_chaining_but_other_fields_do() {
    let base = RequestFields::new("m");
    let mut with_metadata = base.clone();
    with_metadata.client_metadata = caller(&[("request", "r-2")]);
    assert!(base.chains_with(&with_metadata));
    assert_ne!(base, with_metadata, "equality still sees every field");
    let changes: [fn(&mut RequestFields); 8] = [
        |f| f.model = "other".into(),
        |f| f.instructions = Some("x".into()),
        |f| f.tools = vec![json!({"type": "function", "name": "t"})],
        |f| f.tool_choice = json!("none"),
        |f| f.parallel_tool_calls = true,
        |f| f.reasoning = Some(json!({"effort": "low"})),
        |f| f.store = true,
        |f| f.text = Some(json!({"verbosity": "low"})),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut next = base.clone();
        change(&mut next);
        assert!(!base.chains_with(&next), "change {i} must break chaining");
    }
}

#[test]
fn request_fields_without_client_metadata_still_deserialise() {
    let fields: RequestFields = serde_json::from_value(json!({
        "model": "m", "instructions": null, "tools": [], "tool_choice": "auto",
        "parallel_tool_calls": false, "reasoning": null, "store": false, "text": null
    }))
    .expect("older serialised fields");
    assert_eq!(fields, RequestFields::new("m"));
    let back = serde_json::to_value(&fields).expect("serialises");
    assert!(back.get("client_metadata").is_none(), "omitted when empty");
}
