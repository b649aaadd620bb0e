//! `turnwire demo`: a short multi-turn session against an embedded loopback server
//! that shows every capability at work, with no account and no network.
//!
//! The script (built into the binary) makes the server:
//! 1. accept the preconnect;
//! 2. answer turn 1's two requests over that socket (the second one chained), handing
//!    out a turn-state token in a `response.metadata` event, which the client sends
//!    back in the second request's `client_metadata`;
//! 3. answer turn 2 on the same socket, which turn 1 handed back to the session,
//!    with another token, then cut the stream mid-answer and refuse two reconnects
//!    with 503, so the client backs off, falls back to HTTP and finishes there,
//!    sending turn 2's token along;
//! 4. answer turn 3 over HTTP straight away, with no token.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{End, FakeServer, Handshake, Recording, Reply, Step};
use turnwire_testkit::wire::{self, ev};
use turnwire_transports::{
    ApiKey, Client, ClientOptions, Config, PreconnectResult, RequestFields, Telemetry, TurnHistory,
    WsProtocol,
};

use crate::args::RuntimeChoice;
use crate::conversation::{self, TelemetryLog};
use crate::output::Printer;
use crate::summary;

const TURNS: [&[&str]; 3] = [
    &[
        "Introduce yourself in one sentence.",
        "Now say it in three words.",
    ],
    &["What happens when the network misbehaves?"],
    &["And the turn after that?"],
];

/// Pause between streamed words, so people see the stream arrive.
const WORD_PAUSE: Duration = Duration::from_millis(25);

/// Runs the demo; exit code 0 when every request completed.
pub(crate) fn demo(runtime: RuntimeChoice, json: bool) -> Result<ExitCode, String> {
    let server = LoopbackServer::start(script())
        .map_err(|e| format!("cannot start the loopback server: {e}"))?;
    let mut config = Config::new(server.base_url());
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(true);
    config.request_max_retries = 1;
    config.stream_max_retries = 2;
    config.retry_base_delay = Duration::from_millis(150);
    let telemetry = TelemetryLog::default();
    let mut options = ClientOptions::new(config, ApiKey::new("demo-key"));
    options.conversation_id = Some("demo-conversation".to_owned());
    options.seed = Some(7);
    options.telemetry = Some(telemetry.hook());

    let mut printer = Printer::stdout(json);
    let runtime_name = match runtime {
        RuntimeChoice::Tokio => "tokio",
        RuntimeChoice::Smol => "smol",
    };
    printer.heading(&format!(
        "turnwire demo · loopback server at {} · runtime {runtime_name}",
        server.base_url()
    ));
    let turns: Vec<Vec<String>> = TURNS
        .iter()
        .map(|t| t.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    let fields = RequestFields::new("demo-model");
    let outcome = crate::runtime::block_on(runtime, |runtime| async move {
        let client = Client::new(runtime, options).map_err(|e| e.to_string())?;
        client.preconnect();
        Ok::<_, String>(
            conversation::run(&client, &fields, TurnHistory::Fresh, turns, &mut printer).await,
        )
    })??;

    let records = telemetry.records();
    let rows = summary::rows(&records);
    let recording = server.recording();
    let facts = Facts::gather(&records, &recording);
    let mut printer = Printer::stdout(json);
    if json {
        printer.json_line(&json!({
            "kind": "summary",
            "requests": rows,
            "preconnect": facts.preconnect,
            "server": {
                "websocket_handshakes": recording.ws_attempts(),
                "posts": recording.posts(),
                "turn_state_sent_on": facts.turn_state_sent_on,
            },
        }));
    } else {
        printer.heading("summary");
        printer.table(&summary::HEADER, &summary::cells(&rows));
        printer.notice(
            "server",
            &format!(
                "the server saw {} WebSocket handshakes and {} POSTs; preconnect {}",
                recording.ws_attempts(),
                recording.posts(),
                facts.preconnect
            ),
        );
        printer.notice(
            "turn_state",
            &format!(
                "x-codex-turn-state was sent on: {}",
                facts.turn_state_sent_on.join(", ")
            ),
        );
    }
    printer.finish();
    Ok(if outcome.all_completed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the summary says beyond the table.
struct Facts {
    preconnect: String,
    turn_state_sent_on: Vec<String>,
}

impl Facts {
    fn gather(records: &[Telemetry], recording: &Recording) -> Facts {
        let preconnect = records
            .iter()
            .rev()
            .find_map(|r| match r {
                Telemetry::Preconnect { result, .. } => Some(match result {
                    PreconnectResult::Opened => "opened".to_owned(),
                    PreconnectResult::Adopted { .. } => "adopted by the first turn".to_owned(),
                    PreconnectResult::Failed { reason } => format!("failed: {reason}"),
                    PreconnectResult::Discarded { reason } => format!("discarded: {reason}"),
                    _ => "changed state".to_owned(),
                }),
                _ => None,
            })
            .unwrap_or_else(|| "not used".to_owned());
        let mut turn_state_sent_on = Vec::new();
        for i in 0..recording.ws_attempts() {
            if let Some(token) = recording.handshake_header(i, "x-codex-turn-state") {
                turn_state_sent_on.push(format!("handshake {} ({token})", i + 1));
            }
        }
        for (i, message) in recording.ws_messages.iter().enumerate() {
            if let Some(token) = message.turn_state() {
                turn_state_sent_on.push(format!("message {} ({token})", i + 1));
            }
        }
        for i in 0..recording.posts() {
            if let Some(token) = recording.post_header(i, "x-codex-turn-state") {
                turn_state_sent_on.push(format!("POST {} ({token})", i + 1));
            }
        }
        Facts {
            preconnect,
            turn_state_sent_on,
        }
    }
}

/// A streamed answer: created, the text word by word, the finished message, completed.
fn answer(response: &str, text: &str) -> Vec<Step> {
    let item_id = format!("msg_{response}");
    let mut steps = vec![Step::Event(ev::created(response))];
    steps.push(Step::Event(ev::item_added(
        json!({"type": "message", "role": "assistant", "id": item_id, "content": []}),
    )));
    for (i, word) in text.split_inclusive(' ').enumerate() {
        if i > 0 {
            steps.push(Step::Wait(WORD_PAUSE));
        }
        steps.push(Step::Event(ev::text_delta(&item_id, word)));
    }
    steps.push(Step::Event(ev::item_done(wire::assistant(&item_id, text))));
    steps.push(Step::Event(ev::completed(response)));
    steps
}

fn accept(headers: &[(&str, &str)]) -> Handshake {
    Handshake::Accept {
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        delay: Duration::from_millis(20),
    }
}

/// The server's side of the demo.
fn script() -> FakeServer {
    let mut server = FakeServer::new();
    // The preconnect, adopted by turn 1.
    server.push_handshake(accept(&[("x-models-etag", "demo-models-1")]));
    let mut first = answer(
        "resp_demo_1",
        "Hi! I am the demo model, streaming over a WebSocket that was opened before you asked.",
    );
    first.insert(1, Step::Event(ev::metadata_turn_state("route-a")));
    server.push_ws(Reply::with_steps(first));
    server.push_ws(Reply::with_steps(answer(
        "resp_demo_2",
        "Preconnected, chained, streaming.",
    )));
    // Turn 2: the same socket, a new token, then a cut and two refused reconnects.
    let mut cut = answer("resp_demo_3", "When the network misbehaves, the client");
    cut.truncate(4);
    cut.insert(1, Step::Event(ev::metadata_turn_state("route-b")));
    server.push_ws(
        Reply::with_steps(cut).end(End::Reset("connection reset by the demo server".to_owned())),
    );
    server.push_handshake(Handshake::refuse(503));
    server.push_handshake(Handshake::refuse(503));
    server.push_http(Reply::with_steps(answer(
        "resp_demo_4",
        "It backs off, reconnects, and when WebSocket keeps failing it falls back to HTTP with the same routing token.",
    )));
    // Turn 3: the fallback is sticky, so straight to HTTP.
    server.push_http(Reply::with_steps(answer(
        "resp_demo_5",
        "Straight to HTTP: the fallback sticks for the session.",
    )));
    server
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_script_answers_every_request_of_the_demo() {
        let steps = answer("r", "two words");
        let deltas: Vec<&Value> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Event(e) if ev::kind(e) == "response.output_text.delta" => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(deltas.len(), 2);
        assert!(
            matches!(steps.last(), Some(Step::Event(e)) if ev::kind(e) == "response.completed")
        );
    }
}
