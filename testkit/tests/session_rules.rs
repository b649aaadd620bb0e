//! Rules of PROTOCOL.md sections 4 and 6–11 beyond the section 14 scenarios, one
//! named test each, asserting the wire traffic and what the caller saw.

use core::time::Duration;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::error::ResponseError;
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{RequestInput, RequestSpec, Telemetry, TurnOptions};
use turnwire_testkit::sim::server::LineEnding;
use turnwire_testkit::sim::{
    End, FaultConfig, Handshake, Reply, Simulator, Step, Terminal, TurnStateDelivery, WsKind,
    sim_config,
};
use turnwire_testkit::wire::{self, ev, user};

fn ask(text: &str) -> RequestSpec {
    RequestSpec {
        fields: RequestFields::new("gpt-sim"),
        input: RequestInput::Append(wire::items([user(text)])),
    }
}

fn ws_config() -> Config {
    Config {
        websockets: true,
        preconnect: Some(false),
        ..sim_config()
    }
}

#[test]
fn fallback_replays_the_request_over_http_with_a_fresh_stream_budget() {
    let mut config = ws_config();
    config.stream_max_retries = 1;
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut().push_handshake(Handshake::refuse(500));
    sim.server_mut().push_handshake(Handshake::refuse(500));
    // The first POST ends early: the HTTP phase has its own budget of one retry.
    sim.server_mut()
        .push_http(Reply::with_steps(vec![Step::ModelPrefix(1)]));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("hello"));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.fell_back());
    assert_eq!(outcome.reconnects(), [(1, 1), (1, 1)]);
    assert_eq!(sim.recording().ws_attempts(), 2);
    assert_eq!(sim.recording().posts(), 2);
    sim.assert_no_violations();
}

#[test]
fn a_turn_after_the_cooldown_tries_websocket_again() {
    let mut config = ws_config();
    config.fallback_cooldown = Some(Duration::from_secs(60));
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut().push_handshake(Handshake::refuse(426));

    let turn1 = sim.start_turn();
    assert!(sim.run_request(turn1, ask("a")).fell_back());
    sim.advance(Duration::from_secs(10));
    let turn2 = sim.start_turn();
    assert!(sim.run_request(turn2, ask("b")).is_completed());
    assert_eq!(
        sim.recording().ws_attempts(),
        1,
        "still within the cooldown"
    );
    sim.advance(Duration::from_secs(60));
    let turn3 = sim.start_turn();
    let third = sim.run_request(turn3, ask("c"));

    assert!(third.is_completed());
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        2,
        "the turn after the cooldown tried WebSocket"
    );
    assert_eq!(rec.ws_messages.len(), 1);
    assert_eq!(rec.posts(), 2);
    sim.assert_no_violations();
}

#[test]
fn an_adopted_preconnect_does_not_bring_its_handshake_token_into_the_turn() {
    // Section 7 (rev 2): only a handshake the turn made itself is a source of its
    // token; a preconnected socket belongs to no turn when its handshake completes.
    let mut config = ws_config();
    config.preconnect = Some(true);
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut()
        .push_handshake(Handshake::accept_with("x-codex-turn-state", "ts-pre"));
    sim.server_mut().push_ws(Reply::model().end(End::Close {
        code: Some(1000),
        reason: "bye".into(),
    }));

    sim.preconnect();
    sim.run_until_idle();
    let turn = sim.start_turn();
    let first = sim.run_request(turn, ask("a"));
    sim.run_until_idle();
    let second = sim.run_request(turn, ask("b"));

    assert!(first.is_completed() && second.is_completed());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(
        rec.ws_messages[0].conn, rec.handshakes[0].conn,
        "adopted, not reopened"
    );
    assert_eq!(rec.message_turn_states(), [None, None]);
    for i in 0..2 {
        assert_eq!(rec.handshake_header(i, "x-codex-turn-state"), None);
    }
    sim.assert_no_violations();
}

#[test]
fn a_turn_captures_the_token_of_a_handshake_it_made_and_sends_it_in_messages_only() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    sim.server_mut().turn_state_delivery = TurnStateDelivery::HandshakeHeader;
    sim.server_mut().send_turn_state("ts-hs");
    // The first response closes the socket, so the second request opens another.
    sim.server_mut().push_ws(Reply::model().end(End::Close {
        code: Some(1000),
        reason: "bye".into(),
    }));

    let turn = sim.start_turn();
    assert!(sim.run_request(turn, ask("a")).is_completed());
    sim.run_until_idle();
    assert!(sim.run_request(turn, ask("b")).is_completed());

    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(
        rec.handshakes[0].response_headers,
        [("x-codex-turn-state".to_owned(), "ts-hs".to_owned())]
    );
    assert_eq!(
        rec.message_turn_states(),
        [Some("ts-hs".to_owned()), Some("ts-hs".to_owned())],
        "captured when the handshake completed, so the first message already has it"
    );
    assert_eq!(
        rec.handshake_header(1, "x-codex-turn-state"),
        None,
        "the reconnect's handshake carries nothing turn-scoped"
    );
    sim.assert_no_violations();
}

#[test]
fn client_metadata_carries_caller_and_turn_metadata_on_both_transports() {
    for websockets in [false, true] {
        let config = Config {
            websockets,
            ..ws_config()
        };
        let mut sim = Simulator::new(config, 1).unwrap();
        sim.server_mut().send_turn_state("ts-1");
        let turn = sim.start_turn_with(TurnOptions {
            metadata: Some("turn-meta".into()),
            ..TurnOptions::default()
        });
        let mut spec = ask("a");
        spec.fields
            .client_metadata
            .insert("user".into(), "u-1".into());
        spec.fields
            .client_metadata
            .insert("x-codex-turn-state".into(), "forged".into());
        assert!(sim.run_request(turn, spec.clone()).is_completed());
        assert!(sim.run_request(turn, spec).is_completed());

        let rec = sim.recording();
        let bodies: Vec<&serde_json::Value> = if websockets {
            rec.ws_messages.iter().map(|m| &m.json).collect()
        } else {
            rec.http.iter().map(|p| &p.body).collect()
        };
        assert_eq!(bodies.len(), 2);
        assert_eq!(
            bodies[0]["client_metadata"],
            serde_json::json!({"user": "u-1", "x-codex-turn-metadata": "turn-meta"}),
            "websocket {websockets}: no token before the capture, the forged one ignored"
        );
        let second = if websockets {
            serde_json::json!({"user": "u-1", "x-codex-turn-metadata": "turn-meta", "x-codex-turn-state": "ts-1"})
        } else {
            serde_json::json!({"user": "u-1", "x-codex-turn-metadata": "turn-meta"})
        };
        assert_eq!(
            bodies[1]["client_metadata"], second,
            "websocket {websockets}"
        );
        if !websockets {
            assert_eq!(
                rec.post_header(1, "x-codex-turn-state").as_deref(),
                Some("ts-1")
            );
            assert_eq!(
                rec.post_header(0, "x-codex-turn-metadata").as_deref(),
                Some("turn-meta")
            );
        } else {
            assert_eq!(rec.handshake_header(0, "x-codex-turn-metadata"), None);
        }
        sim.assert_no_violations();
    }
}

#[test]
fn an_oversized_client_metadata_value_is_not_sent_and_is_reported() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    let turn = sim.start_turn();
    let mut spec = ask("a");
    spec.fields
        .client_metadata
        .insert("big".into(), "é".repeat(2049));
    spec.fields
        .client_metadata
        .insert("fits".into(), "é".repeat(2048));
    assert!(sim.run_request(turn, spec).is_completed());

    let message = &sim.recording().ws_messages[0];
    assert_eq!(message.client_metadata_value("big"), None);
    assert_eq!(
        message
            .client_metadata_value("fits")
            .map(|v| v.chars().count()),
        Some(2048)
    );
    let reported: Vec<(String, usize)> = sim
        .telemetry()
        .iter()
        .filter_map(|t| match &t.record {
            Telemetry::ClientMetadataDropped { key, chars, .. } => Some((key.clone(), *chars)),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [("big".to_owned(), 2049)]);
    sim.assert_no_violations();
}

#[test]
fn an_invalid_token_in_a_metadata_event_is_rejected_reported_and_the_next_valid_one_kept() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    sim.server_mut().push_ws(Reply::with_steps(vec![
        Step::Event(ev::metadata_turn_state("bad\r\ntoken")),
        Step::Event(ev::metadata_turn_state("ts-later")),
        Step::Model,
    ]));
    let turn = sim.start_turn();
    assert!(sim.run_request(turn, ask("a")).is_completed());
    assert!(sim.run_request(turn, ask("b")).is_completed());

    assert_eq!(
        sim.recording().message_turn_states(),
        [None, Some("ts-later".to_owned())],
        "the invalid value is never sent and leaves the cell empty for a valid one"
    );
    let rejected = sim
        .telemetry()
        .iter()
        .filter(|t| matches!(t.record, Telemetry::TurnStateRejected { .. }))
        .count();
    assert_eq!(rejected, 1);
    sim.assert_no_violations();
}

#[test]
fn a_preconnect_still_handshaking_is_awaited_not_duplicated() {
    let mut config = ws_config();
    config.preconnect = Some(true);
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut().push_handshake(Handshake::Accept {
        headers: Vec::new(),
        delay: Duration::from_millis(500),
    });

    sim.preconnect();
    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1, "the turn waited for the preconnect");
    assert_eq!(rec.ws_messages[0].conn, rec.handshakes[0].conn);
    assert_eq!(
        rec.ws_messages[0].at,
        rec.handshakes[0].at + Duration::from_millis(500)
    );
    sim.assert_no_violations();
}

#[test]
fn partial_output_is_not_retried_when_configured_so() {
    let mut config = sim_config();
    config.stream_max_retries = 3;
    config.retry_after_partial_output = false;
    let mut sim = Simulator::new(config, 1).unwrap();
    // Created and a text delta reach the caller, then the connection resets.
    sim.server_mut()
        .push_http(Reply::with_steps(vec![Step::ModelPrefix(2)]).end(End::Reset("reset".into())));
    // Only `response.created` (no output) before the reset: retried.
    sim.server_mut()
        .push_http(Reply::with_steps(vec![Step::ModelPrefix(1)]).end(End::Reset("reset".into())));

    let turn = sim.start_turn();
    let after_output = sim.run_request(turn, ask("a"));
    let before_output = sim.run_request(turn, ask("b"));

    assert!(
        matches!(after_output.error(), Some(ResponseError::Stream { .. })),
        "{after_output:?}"
    );
    assert!(after_output.reconnects().is_empty());
    assert!(before_output.is_completed(), "{before_output:?}");
    assert_eq!(before_output.reconnects(), [(1, 3)]);
    assert_eq!(sim.recording().posts(), 3);
    sim.assert_no_violations();
}

#[test]
fn cancelling_closes_the_connection_and_ends_the_request_with_cancelled() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut()
        .push_http(Reply::with_steps(vec![Step::ModelPrefix(2)]).keep_open());

    let turn = sim.start_turn();
    let request = sim.start_request(turn, ask("a")).unwrap();
    sim.advance(Duration::from_secs(1));
    sim.cancel(request).unwrap();
    let outcome = sim.run_until_done(request);

    assert_eq!(outcome.error(), Some(&ResponseError::Cancelled));
    let rec = sim.recording();
    assert!(rec.closes.iter().any(|c| c.conn == rec.http[0].conn));
    assert!(
        sim.cancel(request).is_err(),
        "a finished request cannot be cancelled"
    );
    sim.assert_no_violations();
}

#[test]
fn a_requested_delay_above_max_retry_after_ends_the_request_with_that_delay() {
    let mut config = sim_config();
    config.request_max_retries = 2;
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut().push_http(
        Reply::error(429, "rate_limit_error", "rate_limit_exceeded", "later").retry_after_secs(300),
    );

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(
        matches!(
            outcome.error(),
            Some(ResponseError::RateLimited { retry_after: Some(d), .. }) if *d == Duration::from_secs(300)
        ),
        "{outcome:?}"
    );
    assert_eq!(sim.recording().posts(), 1, "not waited for");
    sim.assert_no_violations();
}

#[test]
fn websocket_pings_keep_a_slow_response_alive() {
    let idle = Duration::from_secs(10);
    let mut config = ws_config();
    config.stream_idle_timeout = idle;
    let mut sim = Simulator::new(config, 1).unwrap();
    let mut steps = vec![Step::ModelPrefix(1)];
    for _ in 0..4 {
        steps.push(Step::Wait(idle / 2));
        steps.push(Step::Keepalive);
    }
    steps.push(Step::Event(ev::completed("resp-late")));
    sim.server_mut().push_ws(Reply::with_steps(steps));
    // Without pings the same pause times out.
    sim.server_mut().push_ws(Reply::with_steps(vec![
        Step::ModelPrefix(1),
        Step::Wait(idle * 2),
        Step::Event(ev::completed("resp-never")),
    ]));

    let turn = sim.start_turn();
    let slow = sim.run_request(turn, ask("a"));
    let stalled = sim.run_request(turn, ask("b"));

    assert!(
        matches!(&slow.terminal, Terminal::Completed { response_id, .. } if response_id == "resp-late")
    );
    assert!(slow.reconnects().is_empty());
    let reasons: Vec<&str> = stalled
        .events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::Reconnecting { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{stalled:?}");
    assert!(reasons[0].contains("idle timeout waiting for websocket"));
    assert!(
        stalled.is_completed(),
        "the retry on a new connection completed"
    );
    sim.assert_no_violations();
}

#[test]
fn sse_bodies_split_at_every_byte_decode_to_the_same_events() {
    let run = |faults: Option<FaultConfig>| {
        let mut sim = match &faults {
            Some(f) => Simulator::with_faults(sim_config(), 1, f).unwrap(),
            None => Simulator::new(sim_config(), 1).unwrap(),
        };
        let items = [
            wire::assistant("msg-a", "zwölf Äpfel, 三个橙子, 🍐🍐"),
            wire::function_call("fc", "call", "tool", "{\"q\":\"ü\"}"),
        ];
        sim.server_mut().line_ending = faults.as_ref().map_or(LineEnding::Lf, |f| f.line_ending);
        sim.server_mut().push_http(
            Reply::events(ev::response("resp-u", &items))
                .then(Step::Keepalive)
                .header("x-models-etag", "e1"),
        );
        let turn = sim.start_turn();
        let outcome = sim.run_request(turn, ask("a"));
        sim.assert_no_violations();
        (outcome.events, outcome.terminal, sim.inputs().len())
    };
    let (plain, terminal, few) = run(None);
    for line_ending in [LineEnding::Lf, LineEnding::CrLf, LineEnding::Cr] {
        let every_byte = FaultConfig {
            byte_split_percent: 100,
            line_ending,
            ..FaultConfig::none(9)
        };
        let (split, split_terminal, many) = run(Some(every_byte));
        assert_eq!(split, plain, "{line_ending:?}");
        assert_eq!(split_terminal, terminal);
        assert!(many > few * 20, "the body really arrived byte by byte");
    }
    assert!(matches!(plain[0], ResponseEvent::ModelsEtag { .. }));
}

#[test]
fn v1_appends_items_and_outputs_after_a_completed_response() {
    let config = Config {
        ws_protocol: WsProtocol::V1,
        ..ws_config()
    };
    let mut sim = Simulator::new(config, 1).unwrap();
    let turn = sim.start_turn();

    sim.run_request(turn, ask("a"));
    sim.run_request(turn, ask("b"));

    let rec = sim.recording();
    assert_eq!(rec.ws_messages[1].kind, WsKind::Append);
    // The appended items are the first response's output and the new user item.
    let appended = rec.ws_messages[1].json["input"].as_array().unwrap().clone();
    assert_eq!(appended.len(), 2);
    assert_eq!(appended[0]["id"], "msg-1");
    assert_eq!(appended[1], user("b"));
    sim.assert_no_violations();
}

#[test]
fn a_426_on_the_preconnect_moves_the_waiting_request_to_http_without_a_retry() {
    let mut config = ws_config();
    config.preconnect = Some(true);
    let mut sim = Simulator::new(config, 1).unwrap();
    sim.server_mut().push_handshake(Handshake::Refuse {
        status: 426,
        headers: Vec::new(),
        body: String::new(),
    });

    sim.preconnect();
    let turn = sim.start_turn();
    // The request starts while the preconnect is still handshaking and waits for it.
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed());
    assert!(outcome.fell_back());
    assert!(outcome.reconnects().is_empty());
    assert_eq!(sim.recording().ws_attempts(), 1);
    assert_eq!(sim.recording().posts(), 1);
    sim.assert_no_violations();
}

#[test]
fn the_connection_limit_reconnect_is_free_once_per_request() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    let limit = || {
        Reply::events([ev::ws_error_code(
            "websocket_connection_limit_reached",
            "limit reached",
        )])
    };
    sim.server_mut().push_ws(limit());
    sim.server_mut().push_ws(limit());

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        outcome.reconnects(),
        [(1, 5)],
        "the second one costs budget"
    );
    assert_eq!(sim.recording().ws_attempts(), 3);
    sim.assert_no_violations();
}

#[test]
fn a_401_on_the_handshake_refreshes_and_reconnects_with_the_new_token() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    sim.server_mut().push_handshake(Handshake::refuse(401));
    sim.auth_mut()
        .push(turnwire_testkit::sim::AuthAnswer::Refresh {
            token: "token-new".into(),
            latency: Duration::from_millis(10),
        });

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed());
    assert!(outcome.reconnects().is_empty());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(
        rec.handshake_header(1, "authorization").as_deref(),
        Some("Bearer token-new")
    );
    sim.assert_no_violations();
}

#[test]
fn a_failed_refresh_ends_the_request_unauthorized() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut()
        .push_http(Reply::error(401, "invalid_request_error", "x", "expired"));
    sim.auth_mut()
        .push(turnwire_testkit::sim::AuthAnswer::Fail {
            message: "revoked".into(),
            latency: Duration::from_millis(10),
        });

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(
        matches!(outcome.error(), Some(ResponseError::Unauthorized { message }) if message.contains("revoked")),
        "{outcome:?}"
    );
    assert_eq!(sim.recording().posts(), 1);
    sim.assert_no_violations();
}

#[test]
fn a_completion_without_a_response_id_is_a_retried_stream_error() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut()
        .push_http(Reply::events([ev::created("resp-x"), ev::completed("")]));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(outcome.reconnects().len(), 1);
    assert_eq!(sim.recording().posts(), 2);
    sim.assert_no_violations();
}

#[test]
fn an_sse_error_event_becomes_the_terminal_error_when_the_body_ends() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut().push_http(Reply::events([
        ev::created("resp-x"),
        ev::sse_error("context_length_exceeded", "too long"),
    ]));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert_eq!(outcome.error(), Some(&ResponseError::ContextWindowExceeded));
    assert!(outcome.reconnects().is_empty());
    sim.assert_no_violations();
}

#[test]
fn an_oversized_turn_state_is_rejected_and_never_sent() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    let huge = "t".repeat(5000);
    sim.server_mut()
        .push_http(Reply::model().header("x-codex-turn-state", &huge));
    sim.server_mut()
        .push_http(Reply::model().header("x-codex-turn-state", "ts-ok"));

    let turn = sim.start_turn();
    for text in ["a", "b", "c"] {
        assert!(sim.run_request(turn, ask(text)).is_completed());
    }

    let rec = sim.recording();
    let carried: Vec<Option<String>> = (0..3)
        .map(|i| rec.post_header(i, "x-codex-turn-state"))
        .collect();
    assert_eq!(carried, [None, None, Some("ts-ok".to_owned())]);
    let rejected = sim
        .telemetry()
        .iter()
        .filter(|t| {
            matches!(
                t.record,
                turnwire_protocol::session::Telemetry::TurnStateRejected { .. }
            )
        })
        .count();
    assert_eq!(rejected, 1);
    sim.assert_no_violations();
}

#[test]
fn header_events_come_before_the_body_events() {
    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut().push_http(
        Reply::model()
            .header("x-codex-primary-used-percent", "42")
            .header("x-codex-primary-window-minutes", "60")
            .header("x-models-etag", "etag-9")
            .header("x-reasoning-included", "true"),
    );

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    let kinds: Vec<&str> = outcome
        .events
        .iter()
        .map(|e| match e {
            ResponseEvent::RateLimits { .. } => "rate_limits",
            ResponseEvent::ModelsEtag { .. } => "etag",
            ResponseEvent::ServerReasoningIncluded { .. } => "reasoning",
            ResponseEvent::Created { .. } => "created",
            _ => "body",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "rate_limits",
            "etag",
            "reasoning",
            "created",
            "body",
            "body"
        ]
    );
    sim.assert_no_violations();
}

#[test]
fn a_connection_limit_after_output_tells_the_caller_the_partial_output_is_void() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    // Created and a text delta reach the caller, then the connection-limit error.
    sim.server_mut().push_ws(
        Reply::with_steps(vec![Step::ModelPrefix(2)]).then(Step::Event(ev::ws_error_code(
            "websocket_connection_limit_reached",
            "limit reached",
        ))),
    );

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed(), "{outcome:?}");
    // The caller saw output of the first attempt; a Reconnecting must void it before
    // the second attempt's events, or the text would be doubled.
    let first_delta = outcome
        .events
        .iter()
        .position(|e| matches!(e, ResponseEvent::OutputTextDelta { .. }))
        .unwrap();
    let reconnect = outcome
        .events
        .iter()
        .position(|e| matches!(e, ResponseEvent::Reconnecting { .. }));
    assert!(
        reconnect.is_some_and(|r| r > first_delta),
        "no Reconnecting after the voided output: {:?}",
        outcome.events
    );
    sim.assert_no_violations();
}

#[test]
fn a_401_frame_after_output_voids_it_then_refreshes_at_once() {
    let mut sim = Simulator::new(ws_config(), 1).unwrap();
    sim.server_mut().push_ws(Reply::with_steps(vec![
        Step::ModelPrefix(2),
        Step::Event(ev::ws_error(
            401,
            "invalid_request_error",
            "token_expired",
            "expired",
            &[],
        )),
    ]));
    sim.auth_mut()
        .push(turnwire_testkit::sim::AuthAnswer::Refresh {
            token: "token-new".into(),
            latency: Duration::from_millis(40),
        });

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, ask("a"));

    assert!(outcome.is_completed(), "{outcome:?}");
    let reconnect = outcome.events.iter().find_map(|e| match e {
        ResponseEvent::Reconnecting { attempt, delay, .. } => Some((*attempt, *delay)),
        _ => None,
    });
    assert_eq!(reconnect, Some((1, Duration::ZERO)), "voided, no backoff");
    assert_eq!(sim.auth().requests().len(), 1);
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(
        rec.handshake_header(1, "authorization").as_deref(),
        Some("Bearer token-new")
    );
    assert_eq!(
        rec.handshakes[1].at - rec.ws_messages[0].at,
        Duration::from_millis(40)
    );
    sim.assert_no_violations();
}
