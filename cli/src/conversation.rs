//! Runs a script's turns on a client and prints what happens.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use turnwire_transports::{
    Client, RequestFields, StreamError, Telemetry, TelemetryHook, TurnHistory, TurnOptions,
};

use crate::output::{Position, Printer};

/// How the requests of a conversation ended.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) completed: usize,
    pub(crate) failed: Vec<(Position, StreamError)>,
}

impl Outcome {
    /// True when every request completed (or ended incomplete, which is an answer).
    pub(crate) fn all_completed(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Runs `turns` one after another; inside a turn each request appends a user message
/// to the turn's history (after the previous response's output items). Each turn
/// starts from `history`: with [`TurnHistory::Continue`] the conversation carries
/// across turns like a chat (a turn's first request is everything so far plus its
/// message, and may chain to the previous turn's response); with
/// [`TurnHistory::Fresh`] every turn starts empty. `turns` is read lazily: the next
/// turn is taken only once the previous one has ended.
pub(crate) async fn run(
    client: &Client,
    fields: &RequestFields,
    history: TurnHistory,
    turns: impl IntoIterator<Item = Vec<String>>,
    printer: &mut Printer,
) -> Outcome {
    let mut outcome = Outcome::default();
    for (turn_index, requests) in turns.into_iter().enumerate() {
        let turn = client.new_turn(TurnOptions {
            history,
            ..TurnOptions::default()
        });
        for (request_index, text) in requests.iter().enumerate() {
            let at = Position {
                turn: turn_index,
                request: request_index,
            };
            if !printer.is_json() {
                printer.heading(&format!(
                    "turn {} · request {} › {text}",
                    turn_index + 1,
                    request_index + 1
                ));
            }
            let mut events = turn.stream_text(fields.clone(), text.clone());
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => {
                        if event.is_terminal() {
                            outcome.completed += 1;
                        }
                        printer.event(at, &event);
                    }
                    Err(error) => {
                        printer.error(at, &error);
                        outcome.failed.push((at, error));
                    }
                }
            }
            printer.finish();
        }
    }
    outcome
}

/// Collects telemetry for the summary table.
#[derive(Clone, Default)]
pub(crate) struct TelemetryLog(Arc<Mutex<Vec<Telemetry>>>);

impl TelemetryLog {
    /// A hook that appends every record here.
    pub(crate) fn hook(&self) -> TelemetryHook {
        let log = self.0.clone();
        Arc::new(move |record: &Telemetry| {
            if let Ok(mut log) = log.lock() {
                log.push(record.clone());
            }
        })
    }

    /// Everything recorded so far.
    pub(crate) fn records(&self) -> Vec<Telemetry> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
