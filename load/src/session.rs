//! One load session: a client with its own connection(s), streaming its turns one
//! request at a time, checking every response.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use turnwire_protocol::session::TurnOptions;
use turnwire_protocol::{Config, RequestFields, WsProtocol};
use turnwire_transports::{ApiKey, Client, ClientOptions, Runtime, TelemetryHook, Turn};

use crate::check::{self, Problems, ResponseLog};

/// What every session of a run shares.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) base_url: String,
    pub(crate) websocket: bool,
    pub(crate) turns: usize,
    pub(crate) requests: usize,
    /// Text deltas in every response.
    pub(crate) deltas: usize,
}

/// What one session saw.
#[derive(Debug, Default)]
pub(crate) struct SessionReport {
    /// `Ok` events received.
    pub(crate) events: u64,
    /// Time to first event of each request, in microseconds.
    pub(crate) ttfe_us: Vec<u64>,
    /// Response numbers of the responses that checked out, in arrival order.
    pub(crate) numbers: Vec<u64>,
    pub(crate) problems: Problems,
}

/// The client options of session `index`.
pub(crate) fn client_options(
    plan: &Plan,
    index: usize,
    telemetry: Option<TelemetryHook>,
) -> ClientOptions {
    let mut config = Config::new(plan.base_url.clone());
    config.websockets = plan.websocket;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(plan.websocket);
    let mut options = ClientOptions::new(config, ApiKey::new("load-test-key"));
    options.conversation_id = Some(format!("load-{index}"));
    options.seed = Some(index as u64);
    options.telemetry = telemetry;
    options
}

/// Streams one request on `turn`, whose response must have `deltas` text deltas, and
/// checks nothing yet: returns the log and the time to its first item.
pub(crate) async fn request(
    runtime: &dyn Runtime,
    turn: &Turn,
    text: String,
    deltas: usize,
) -> (ResponseLog, Option<Duration>) {
    let mut log = ResponseLog::new(deltas);
    let start = runtime.now();
    let mut first = None;
    let mut events = turn.stream_text(RequestFields::new("load-model"), text);
    while let Some(item) = events.next().await {
        first.get_or_insert_with(|| runtime.now().saturating_duration_since(start));
        log.record(item);
    }
    (log, first)
}

/// Runs session `index`: waits `delay`, then its turns and requests in order.
pub(crate) async fn conversation(
    runtime: Arc<dyn Runtime>,
    plan: Arc<Plan>,
    index: usize,
    delay: Duration,
) -> SessionReport {
    let mut report = SessionReport::default();
    if !delay.is_zero() {
        sleep(runtime.as_ref(), delay).await;
    }
    let client = match Client::new(runtime.clone(), client_options(&plan, index, None)) {
        Ok(client) => client,
        Err(err) => {
            report
                .problems
                .push(format!("session {index}: client: {err}"));
            return report;
        }
    };
    client.preconnect();
    for t in 0..plan.turns {
        let turn = client.new_turn(TurnOptions::default());
        for r in 0..plan.requests {
            let text = format!("session {index}, turn {t}, request {r}: go on");
            let (log, first) = request(runtime.as_ref(), &turn, text, plan.deltas).await;
            report.events += log.events as u64;
            if let Some(first) = first {
                report
                    .ttfe_us
                    .push(u64::try_from(first.as_micros()).unwrap_or(u64::MAX));
            }
            match log.verdict() {
                Ok(n) => report.numbers.push(n),
                Err(why) => report
                    .problems
                    .push(format!("session {index} turn {t} request {r}: {why}")),
            }
        }
    }
    if !check::in_order(&report.numbers) {
        report.problems.push(format!(
            "session {index}: responses out of order: {:?}",
            report.numbers
        ));
    }
    report
}

/// Waits `duration` on the runtime's timer.
pub(crate) async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    let deadline = runtime.now() + duration;
    let mut timer = runtime.new_timer(deadline);
    poll_fn(|cx| {
        if runtime.now() >= deadline {
            return std::task::Poll::Ready(());
        }
        timer.as_mut().poll(cx)
    })
    .await;
}
