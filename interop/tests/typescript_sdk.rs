//! The OpenAI TypeScript SDK (`openai` from npm, in `interop/ts/node_modules`) against
//! `turnwire serve`.

use serde_json::Value;
use turnwire_interop::{Serve, TEXT_ANSWER_EVENTS, distinct_types, node, run_client};

/// Runs `case` from `ts/cases.mjs` against `serve`; `None` when node or the SDK is
/// missing.
fn case(serve: &Serve, test: &str, case: &str) -> Option<Value> {
    let node = node(test)?;
    Some(run_client(serve, &node, &["ts/cases.mjs", case]).report())
}

#[test]
fn raw_streaming_sees_every_event_in_order() {
    let serve = Serve::start("ts-stream");
    let Some(report) = case(&serve, "ts raw stream", "raw_stream") else {
        return;
    };
    assert_eq!(distinct_types(&report), TEXT_ANSWER_EVENTS, "{report}");
    assert_eq!(report["model"], "gpt-interop");
    assert_eq!(serve.stop().posts().len(), 1);
}

#[test]
fn the_stream_helper_resolves_its_final_response() {
    let serve = Serve::start("ts-helper");
    let Some(report) = case(&serve, "ts stream helper", "stream_helper") else {
        return;
    };
    assert!(!report["text"].as_str().unwrap().is_empty());
    assert_eq!(serve.stop().posts().len(), 1);
}

#[test]
fn a_non_streaming_create_gets_a_response_object() {
    let serve = Serve::start("ts-json");
    let Some(report) = case(&serve, "ts non-streaming", "non_stream") else {
        return;
    };
    assert_eq!(report["model"], "gpt-interop");
    assert!(report["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(serve.stop().posts().len(), 1);
}
