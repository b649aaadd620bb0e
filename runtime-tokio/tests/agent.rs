//! The `agent` example's loop against the loopback server and its spec-complete
//! model: the model calls `add`, the loop runs it and sends the result back, and the
//! follow-up answers in text. The server's recording shows the tool offered, and the
//! second request carrying the `function_call_output` for the call the model made.

#[allow(dead_code)] // the example and this test each use a part of it
#[path = "../examples/agent/agent_loop.rs"]
mod agent_loop;

use agent_loop::{Step, answer, run_tool};
use serde_json::{Value, json};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_tokio::{ApiKey, ClientOptions, Config, FunctionCallItem, ResponseItem};

#[tokio::test(flavor = "current_thread")]
async fn the_agent_runs_the_called_tool_and_sends_its_output_back() {
    let server = LoopbackServer::start(FakeServer::spec_complete()).expect("a loopback server");
    let client = turnwire_tokio::client(ClientOptions::new(
        Config::new(server.base_url()),
        ApiKey::new("test-key"),
    ))
    .expect("a client");
    let mut steps = Vec::new();
    let done = answer(&client, "test-model", "What is 2 + 3?", |step| {
        steps.push(step)
    })
    .await
    .expect("the agent answers");
    assert_eq!(done.requests, 2, "one request with the call, one follow-up");
    assert!(!done.text.is_empty(), "the follow-up answers in text");

    let calls: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::ToolCall { .. }))
        .collect();
    let [
        Step::ToolCall {
            call_id,
            name,
            output,
            ..
        },
    ] = calls.as_slice()
    else {
        panic!("exactly one tool call: {steps:?}");
    };
    assert_eq!(name, "add");
    // The spec-complete model fills each required number with 1.
    assert_eq!(
        serde_json::from_str::<Value>(output).ok(),
        Some(json!({"sum": 2.0}))
    );

    let rec = server.recording();
    assert_eq!(rec.posts(), 2);
    let first = &rec.http[0].body;
    assert_eq!(first["tools"][0]["name"], "add");
    assert_eq!(
        first["input"],
        json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is 2 + 3?"}]}])
    );
    let second = rec.http[1].body["input"]
        .as_array()
        .expect("an input array");
    let kinds: Vec<&str> = second.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"function_call_output"), "{kinds:?}");
    let sent = second.last().expect("an item");
    assert_eq!(sent["call_id"].as_str(), Some(call_id.as_str()));
    assert_eq!(sent["output"].as_str(), Some(output.as_str()));
    let call = second
        .iter()
        .find(|i| i["type"] == "function_call")
        .expect("the history carries the model's call");
    assert_eq!(call["call_id"].as_str(), Some(call_id.as_str()));
}

fn call(name: &str, arguments: &str) -> FunctionCallItem {
    match ResponseItem::from(
        json!({"type": "function_call", "call_id": "c1", "name": name, "arguments": arguments}),
    ) {
        ResponseItem::FunctionCall(call) => call,
        other => panic!("not a function call: {other:?}"),
    }
}

#[test]
fn the_tool_adds_and_says_what_is_wrong_with_a_bad_call() {
    assert_eq!(
        run_tool(&call("add", r#"{"a": 2, "b": 3.5}"#)),
        r#"{"sum":5.5}"#
    );
    let unknown = run_tool(&call("subtract", "{}"));
    assert!(unknown.contains("no tool named"), "{unknown}");
    let not_json = run_tool(&call("add", "{"));
    assert!(not_json.contains("not JSON"), "{not_json}");
    let missing = run_tool(&call("add", r#"{"a": 2}"#));
    assert!(missing.contains("two numbers"), "{missing}");
}
