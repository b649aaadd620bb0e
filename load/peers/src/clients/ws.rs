//! The WebSocket reference: an async-tungstenite read loop over a tokio socket (the
//! WebSocket library the driver itself uses), with its default configuration, each
//! text frame parsed into a `serde_json::Value` (the reference client's path), or only
//! counted (a floor).

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::Value;
use turnwire_tokio::TokioRuntime;
use turnwire_transports::Runtime;

use crate::case::{Case, WS_CREATE};
use crate::measure::{FirstEvent, Rep, Stopwatch};

/// Reads every response of `case` from the server at `port` on one socket.
pub(crate) async fn read(case: &Case, port: u16, parse: bool) -> Result<Rep, String> {
    let url = format!("ws://127.0.0.1:{port}{}", case.path());
    let mut first_events = Vec::with_capacity(case.requests);
    let stopwatch = Stopwatch::start();
    let stream = TokioRuntime::current()
        .connect("127.0.0.1".to_owned(), port)
        .await
        .map_err(|e| e.to_string())?;
    let (mut socket, _) = async_tungstenite::client_async(url, stream)
        .await
        .map_err(|e| format!("tungstenite: {e}"))?;
    for _ in 0..case.requests {
        let mut first = FirstEvent::start();
        socket
            .send(Message::text(WS_CREATE))
            .await
            .map_err(|e| format!("tungstenite: {e}"))?;
        let mut events = 0;
        while events < case.events_per_request() {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    first.event();
                    if parse {
                        let value: Value =
                            serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                        events += usize::from(value.get("type").is_some());
                    } else {
                        events += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(format!("tungstenite: {err}")),
                None => break,
            }
        }
        first_events.push(first.finish());
        super::expect("tungstenite events", events, case.events_per_request())?;
    }
    let rep = stopwatch.stop(first_events);
    let _ = socket.close(None).await;
    Ok(rep)
}
