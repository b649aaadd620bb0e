//! async-openai: `responses().create_stream`, its typed events.

use async_openai::config::OpenAIConfig;
use async_openai::types::responses::{CreateResponseArgs, ResponseStreamEvent};
use futures_util::StreamExt;

use crate::case::Case;
use crate::measure::{FirstEvent, Rep, Stopwatch};

/// Reads every response of `case` from the server at `port`.
pub(crate) async fn read(case: &Case, port: u16) -> Result<Rep, String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let config = OpenAIConfig::new()
        .with_api_base(case.base_url(port))
        .with_api_key("bench-key");
    let client = async_openai::Client::with_config(config).with_http_client(http);
    let mut first_events = Vec::with_capacity(case.requests);
    let stopwatch = Stopwatch::start();
    for _ in 0..case.requests {
        let mut first = FirstEvent::start();
        let request = CreateResponseArgs::default()
            .model("gpt-4o")
            .input("go")
            .build()
            .map_err(|e| e.to_string())?;
        let mut stream = client
            .responses()
            .create_stream(request)
            .await
            .map_err(|e| format!("async-openai: {e}"))?;
        let (mut deltas, mut completed) = (0, 0);
        while let Some(event) = stream.next().await {
            first.event();
            match event.map_err(|e| format!("async-openai: {e}"))? {
                ResponseStreamEvent::ResponseOutputTextDelta(_) => deltas += 1,
                ResponseStreamEvent::ResponseCompleted(_) => completed += 1,
                _ => {}
            }
        }
        first_events.push(first.finish());
        super::expect("async-openai text deltas", deltas, case.response.deltas)?;
        super::expect("async-openai completions", completed, 1)?;
    }
    Ok(stopwatch.stop(first_events))
}
