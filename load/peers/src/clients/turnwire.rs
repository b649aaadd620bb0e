//! turnwire: a `Client` on the runtime it is given. Over HTTP each request is its own
//! turn (so the body stays one message, like the peers'); over WebSocket the requests
//! share one turn and its socket, each chained on the previous response.

use std::sync::Arc;

use futures_util::StreamExt;
use turnwire_transports::protocol::session::TurnOptions;
use turnwire_transports::protocol::{Config, RequestFields, ResponseEvent};
use turnwire_transports::{ApiKey, Client, ClientOptions, Runtime};

use crate::case::{Case, Transport};
use crate::measure::{FirstEvent, Rep, Stopwatch};

/// Reads every response of `case` from the server at `port`.
pub(crate) async fn read(runtime: Arc<dyn Runtime>, case: &Case, port: u16) -> Result<Rep, String> {
    let mut config = Config::new(case.base_url(port));
    config.websockets = case.transport == Transport::Ws;
    config.preconnect = Some(false);
    let options = ClientOptions::new(config, ApiKey::new("bench-key"));
    let client = Client::new(runtime, options).map_err(|e| e.to_string())?;
    let mut first_events = Vec::with_capacity(case.requests);
    let stopwatch = Stopwatch::start();
    let shared_turn =
        (case.transport == Transport::Ws).then(|| client.new_turn(TurnOptions::default()));
    for _ in 0..case.requests {
        let own_turn;
        let turn = match &shared_turn {
            Some(turn) => turn,
            None => {
                own_turn = client.new_turn(TurnOptions::default());
                &own_turn
            }
        };
        let mut first = FirstEvent::start();
        let mut stream = turn.stream_text(RequestFields::new("gpt-4o"), "go");
        let (mut deltas, mut completed) = (0, 0);
        while let Some(event) = stream.next().await {
            first.event();
            match event.map_err(|e| format!("turnwire: {e}"))? {
                ResponseEvent::OutputTextDelta { .. } => deltas += 1,
                ResponseEvent::Completed { .. } => completed += 1,
                _ => {}
            }
        }
        first_events.push(first.finish());
        super::expect("turnwire text deltas", deltas, case.response.deltas)?;
        super::expect("turnwire completions", completed, 1)?;
    }
    Ok(stopwatch.stop(first_events))
}
