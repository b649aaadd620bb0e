//! async-openai (a Rust client, built as a dev-dependency) against `turnwire serve`.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::responses::{CreateResponseArgs, ResponseStreamEvent};
use futures_util::StreamExt;
use turnwire_interop::Serve;

fn client(serve: &Serve) -> Client<OpenAIConfig> {
    // Only needed when the workspace enabled async-openai's `rustls-no-provider`;
    // a second install is refused, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(serve.base_url())
            .with_api_key("test-key"),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_streaming_response_decodes_event_by_event() {
    let serve = Serve::start("rs-stream");
    let request = CreateResponseArgs::default()
        .model("gpt-interop")
        .input("Say hello.")
        .build()
        .expect("request");
    let mut stream = client(&serve)
        .responses()
        .create_stream(request)
        .await
        .expect("the stream opens");
    let mut text = String::new();
    let mut numbers = Vec::new();
    let mut completed = None;
    while let Some(event) = stream.next().await {
        match event.expect("every event decodes") {
            ResponseStreamEvent::ResponseOutputTextDelta(delta) => {
                numbers.push(delta.sequence_number);
                text.push_str(&delta.delta);
            }
            ResponseStreamEvent::ResponseCompleted(done) => {
                completed = Some(done.response);
                break;
            }
            _ => {}
        }
    }
    let completed = completed.expect("response.completed arrived");
    assert!(!text.is_empty());
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(completed.output_text().as_deref(), Some(text.as_str()));
    assert_eq!(completed.model, "gpt-interop");
    assert_eq!(serve.stop().posts().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_non_streaming_response_is_one_object() {
    let serve = Serve::start("rs-json");
    let request = CreateResponseArgs::default()
        .model("gpt-interop")
        .input("Say hello.")
        .build()
        .expect("request");
    let response = client(&serve)
        .responses()
        .create(request)
        .await
        .expect("a Response object");
    assert!(response.output_text().is_some_and(|t| !t.is_empty()));
    assert_eq!(response.model, "gpt-interop");
    assert!(!response.id.is_empty());
    assert_eq!(serve.stop().posts().len(), 1);
}
