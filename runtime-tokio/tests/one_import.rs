//! A tool-calling turn streamed with nothing but `turnwire_tokio` on the client side:
//! configuration, turn and request types, items, events and the stream's error all
//! come from the runtime crate (the testkit only provides the server).

use futures_util::StreamExt;
use serde_json::{Value, json};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_tokio::{
    ApiKey, Client, ClientOptions, Config, FunctionCallItem, RequestFields, RequestInput,
    RequestSpec, ResponseEvent, ResponseItem, StreamError, Turn, TurnHistory, TurnOptions,
};

/// Streams one request and returns its output items and text, or the stream's error.
async fn stream(
    turn: &Turn,
    spec: RequestSpec,
) -> Result<(Vec<ResponseItem>, String), StreamError> {
    let mut events = turn.stream(spec);
    let (mut items, mut text) = (Vec::new(), String::new());
    while let Some(event) = events.next().await {
        match event? {
            ResponseEvent::OutputItemDone { item } => items.push(item),
            ResponseEvent::OutputTextDelta { delta, .. } => text.push_str(&delta),
            _ => {}
        }
    }
    Ok((items, text))
}

#[tokio::test(flavor = "current_thread")]
async fn a_tool_turn_streams_with_only_runtime_crate_imports() {
    let server = LoopbackServer::start(FakeServer::spec_complete()).expect("a loopback server");
    let client: Client = turnwire_tokio::client(ClientOptions::new(
        Config::new(server.base_url()),
        ApiKey::new("test-key"),
    ))
    .expect("a client");
    let mut fields = RequestFields::new("test-model");
    fields.tools.push(json!({
        "type": "function",
        "name": "add",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
    }));
    let turn = client.new_turn(TurnOptions {
        history: TurnHistory::Fresh,
        ..TurnOptions::default()
    });
    let (items, _) = stream(
        &turn,
        RequestSpec {
            fields: fields.clone(),
            input: RequestInput::Append(vec![ResponseItem::user_text("add 1 and 1")]),
        },
    )
    .await
    .expect("the first request completes");
    let call: &FunctionCallItem = items
        .iter()
        .find_map(|item| match item {
            ResponseItem::FunctionCall(call) => Some(call),
            _ => None,
        })
        .expect("the model called the tool");
    let output = ResponseItem::function_call_output(call.call_id.clone(), "2");
    let (_, text) = stream(
        &turn,
        RequestSpec {
            fields,
            input: RequestInput::Append(vec![output]),
        },
    )
    .await
    .expect("the follow-up completes");
    assert!(!text.is_empty(), "the follow-up answered in text");

    let rec = server.recording();
    assert_eq!(rec.posts(), 2);
    let last_input = |i: usize| {
        rec.http[i].body["input"]
            .as_array()
            .and_then(|a| a.last())
            .cloned()
    };
    assert_eq!(
        last_input(0).map(|i| i["type"].clone()),
        Some(json!("message"))
    );
    let sent = last_input(1).unwrap_or(Value::Null);
    assert_eq!(sent["type"], "function_call_output");
    assert_eq!(sent["call_id"].as_str(), Some(call.call_id.as_str()));
}
