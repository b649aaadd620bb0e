//! reqwest: with eventsource-stream and a `serde_json::Value` per event (the path the
//! reference client takes), or its bare `bytes_stream` with events counted by their
//! blank lines (a floor: moving the bytes, no decoding).

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;

use crate::case::{Case, REQUEST_BODY};
use crate::clients::BlankLines;
use crate::measure::{FirstEvent, Rep, Stopwatch};

/// What the reader does with the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decode {
    /// eventsource-stream, then `serde_json::from_str::<Value>` on each event's data.
    EventsourceValue,
    /// Count events in the raw byte chunks.
    Bytes,
}

/// Reads every response of `case` from the server at `port`.
pub(crate) async fn read(case: &Case, port: u16, decode: Decode) -> Result<Rep, String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/responses", case.base_url(port));
    let mut first_events = Vec::with_capacity(case.requests);
    let stopwatch = Stopwatch::start();
    for _ in 0..case.requests {
        let mut first = FirstEvent::start();
        let response = http
            .post(&url)
            .header("authorization", "Bearer bench-key")
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(REQUEST_BODY)
            .send()
            .await
            .map_err(|e| format!("reqwest: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("reqwest: status {}", response.status()));
        }
        let events = match decode {
            Decode::EventsourceValue => {
                let mut stream = response.bytes_stream().eventsource();
                let mut events = 0;
                while let Some(event) = stream.next().await {
                    let event = event.map_err(|e| format!("eventsource-stream: {e}"))?;
                    first.event();
                    let value: Value =
                        serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
                    events += usize::from(value.get("type").is_some());
                }
                events
            }
            Decode::Bytes => {
                let mut body = response.bytes_stream();
                let mut counter = BlankLines::default();
                while let Some(chunk) = body.next().await {
                    counter.feed(&chunk.map_err(|e| format!("reqwest: {e}"))?);
                    if counter.count > 0 {
                        first.event();
                    }
                }
                counter.count
            }
        };
        first_events.push(first.finish());
        super::expect("reqwest events", events, case.events_per_request())?;
    }
    Ok(stopwatch.stop(first_events))
}
