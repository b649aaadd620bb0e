//! The OpenAI Python SDK (`openai` from PyPI, in `interop/.venv`) against
//! `turnwire serve`.

use serde_json::{Value, json};
use turnwire_interop::{Serve, TEXT_ANSWER_EVENTS, distinct_types, python, run_client, skip};

/// Runs `case` from `python/cases.py` against `serve`; `None` when the venv is missing.
fn case(serve: &Serve, test: &str, case: &str) -> Option<Value> {
    let python = python(test)?;
    Some(run_client(serve, &python, &["python/cases.py", case]).report())
}

#[test]
fn create_with_stream_true_sees_every_event_of_a_real_response() {
    let serve = Serve::start("py-stream");
    let Some(report) = case(&serve, "py stream", "stream_create") else {
        return;
    };
    assert_eq!(distinct_types(&report), TEXT_ANSWER_EVENTS, "{report}");
    assert_eq!(report["model"], "gpt-interop", "the model is echoed");
    let served = serve.stop();
    assert_eq!(served.posts().len(), 1);
}

#[test]
fn the_stream_helper_agrees_with_its_final_response() {
    let serve = Serve::start("py-helper");
    let Some(report) = case(&serve, "py stream helper", "stream_helper") else {
        return;
    };
    assert_eq!(report["status"], "completed");
    assert!(!report["text"].as_str().unwrap().is_empty());
    assert_eq!(serve.stop().posts().len(), 1);
}

#[test]
fn a_non_streaming_create_gets_a_response_object() {
    let serve = Serve::start("py-json");
    let Some(report) = case(&serve, "py non-streaming", "non_stream") else {
        return;
    };
    assert_eq!(report["model"], "gpt-interop");
    assert!(report["usage"].as_u64() > Some(0), "{report}");
    let served = serve.stop();
    assert_eq!(served.posts().len(), 1);
    let request = served.posts()[0];
    assert!(
        request["body"]["stream"].is_null() || request["body"]["stream"] == false,
        "the SDK did not ask for a stream: {request}"
    );
}

fn error_reply(status: u16, kind: &str) -> Value {
    json!({
        "status": status,
        "headers": {"content-type": "application/json", "retry-after-ms": "10"},
        "body": json!({"error": {"type": kind, "code": kind, "message": "scripted", "param": null}}).to_string(),
    })
}

#[test]
fn the_sdk_retries_a_429_and_a_500() {
    let scenario = json!({"http": [error_reply(429, "rate_limit_exceeded"), error_reply(500, "server_error")]});
    let serve = Serve::start_with("py-retry", Some(&scenario));
    let Some(report) = case(&serve, "py retries", "retries") else {
        return;
    };
    assert!(!report["text"].as_str().unwrap().is_empty());
    let served = serve.stop();
    let retry_counts: Vec<&Value> = served
        .posts()
        .iter()
        .map(|post| &post["headers"]["x-stainless-retry-count"])
        .collect();
    assert_eq!(retry_counts, ["0", "1", "2"], "429, 500, then the answer");
    let statuses: Vec<&Value> = served
        .journal
        .iter()
        .filter(|line| line["kind"] == "response")
        .map(|line| &line["status"])
        .collect();
    assert_eq!(statuses, [429, 500, 200]);
}

#[test]
fn with_no_retries_left_a_429_is_a_rate_limit_error() {
    let scenario = json!({"http": [error_reply(429, "rate_limit_exceeded")]});
    let serve = Serve::start_with("py-429", Some(&scenario));
    let Some(report) = case(&serve, "py 429", "no_retries_left") else {
        return;
    };
    assert_eq!(report["status"], 429);
    assert_eq!(serve.stop().posts().len(), 1);
}

#[test]
fn the_websocket_mode_streams_a_response() {
    let serve = Serve::start("py-ws");
    let Some(report) = case(&serve, "py websocket", "websocket") else {
        return;
    };
    if let Some(why) = report["skipped"].as_str() {
        skip("py websocket", why);
        return;
    }
    assert_eq!(distinct_types(&report), TEXT_ANSWER_EVENTS, "{report}");
    let served = serve.stop();
    assert_eq!(served.handshakes().len(), 1);
    assert_eq!(served.posts().len(), 0, "nothing went over HTTP");
    let messages = served.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let sent = &messages[0]["message"];
    assert_eq!(sent["type"], "response.create", "{sent}");
    assert_eq!(sent["model"], "gpt-interop", "{sent}");
}

#[test]
fn a_tool_loop_runs_on_the_default_model() {
    let serve = Serve::start("py-tools");
    let Some(report) = case(&serve, "py tool loop", "tool_loop") else {
        return;
    };
    assert_eq!(report["name"], "get_weather");
    let call_id = report["call_id"].as_str().unwrap().to_owned();
    let served = serve.stop();
    assert_eq!(served.posts().len(), 2, "the call, then the answer");
    let posts = served.posts();
    assert!(
        posts[0]["body"]["tools"][0]["name"] == "get_weather",
        "{}",
        posts[0]
    );
    let second = &posts[1]["body"]["input"];
    let output = second
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call_output")
        .unwrap_or_else(|| panic!("no tool output sent: {second}"));
    assert_eq!(output["call_id"], call_id.as_str());
}
