//! PROTOCOL.md section 14, scenarios 1–21, in the simulator: each test reads like its
//! scenario and asserts both what the server received and what the caller saw.
//! Unless stated: `base_url = http://sim.invalid/v1`, `request_max_retries = 0`.

use core::time::Duration;
use serde_json::{Value, json};
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::error::ResponseError;
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{RequestInput, RequestSpec, Telemetry};
use turnwire_testkit::sim::auth::AuthAnswer;
use turnwire_testkit::sim::{
    End, Handshake, Reply, RequestOutcome, Simulator, Step, Terminal, TurnStateDelivery, WsKind,
    sim_config,
};
use turnwire_testkit::wire::{self, ev, user};

const MODEL: &str = "gpt-sim";

fn fields() -> RequestFields {
    RequestFields::new(MODEL)
}

/// A request whose input is the turn's history plus `items`.
fn append(items: Vec<Value>) -> RequestSpec {
    RequestSpec {
        fields: fields(),
        input: RequestInput::Append(wire::items(items)),
    }
}

/// A request whose input is exactly `items`.
fn replace(items: Vec<Value>) -> RequestSpec {
    RequestSpec {
        fields: fields(),
        input: RequestInput::Replace(wire::items(items)),
    }
}

fn http_config() -> Config {
    sim_config()
}

fn ws_config(protocol: WsProtocol, preconnect: bool) -> Config {
    Config {
        websockets: true,
        ws_protocol: protocol,
        preconnect: Some(preconnect),
        ..sim_config()
    }
}

fn sim(config: Config) -> Simulator {
    Simulator::new(config, 7).expect("valid configuration")
}

/// Fails with the trace when the checker or the server saw a violation.
fn assert_clean(sim: &mut Simulator) {
    sim.assert_no_violations();
}

/// The first output item of a completed outcome, as JSON.
fn first_output_item(outcome: &RequestOutcome) -> Value {
    outcome
        .events
        .iter()
        .find_map(|e| match e {
            ResponseEvent::OutputItemDone { item } => Some(wire::item_json(item)),
            _ => None,
        })
        .expect("an output item")
}

fn message_input(message: &Value) -> Vec<Value> {
    message["input"].as_array().cloned().unwrap_or_default()
}

fn count_fallback_telemetry(sim: &Simulator) -> usize {
    sim.telemetry()
        .iter()
        .filter(|t| matches!(t.record, Telemetry::FallbackActivated { .. }))
        .count()
}

#[test]
fn scenario_01_http_stream() {
    let mut sim = sim(http_config());
    let turn = sim.start_turn();

    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    // The caller sees created, the text delta, the assistant item, completed, in order.
    assert!(matches!(&outcome.events[..], [
        ResponseEvent::Created { response_id },
        ResponseEvent::OutputTextDelta { item_id, .. },
        ResponseEvent::OutputItemDone { .. },
    ] if response_id == "resp-1" && item_id == "msg-1"));
    assert_eq!(outcome.text(), "Antwort 1: grüße, 世界 ✓ 🙂");
    assert!(
        matches!(&outcome.terminal, Terminal::Completed { response_id, usage: Some(u) }
        if response_id == "resp-1" && u.total_tokens == 19 && u.cached_input_tokens == 2)
    );

    // Exactly one POST /v1/responses with the headers of 3.1 and no turn state.
    let rec = sim.recording();
    assert_eq!(rec.posts(), 1);
    assert_eq!(rec.ws_attempts(), 0);
    let post = &rec.http[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.uri, "http://sim.invalid/v1/responses");
    // Revision 2: hyphenated session headers; the underscore forms only with
    // legacy_session_headers.
    for name in ["session-id", "thread-id", "x-client-request-id"] {
        assert_eq!(
            rec.post_header(0, name).as_deref(),
            Some("conv-sim"),
            "{name}"
        );
    }
    for legacy in ["session_id", "thread_id"] {
        assert_eq!(rec.post_header(0, legacy), None, "{legacy}");
    }
    assert_eq!(
        rec.post_header(0, "authorization").as_deref(),
        Some("Bearer token-0")
    );
    assert_eq!(
        rec.post_header(0, "originator").as_deref(),
        Some("turnwire")
    );
    assert_eq!(
        rec.post_header(0, "accept").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(rec.post_header(0, "x-codex-turn-state"), None);
    assert_eq!(post.body["model"], MODEL);
    assert_eq!(post.body["stream"], true);
    assert_eq!(post.body["input"], json!([user("hello")]));
    assert!(
        post.body.get("client_metadata").is_none(),
        "nothing to send: omitted"
    );
    assert!(post.body.get("generate").is_none(), "never on HTTP");
    assert_clean(&mut sim);
}

#[test]
fn scenario_01_http_stream_with_legacy_session_headers() {
    let config = Config {
        legacy_session_headers: true,
        ..http_config()
    };
    let mut sim = sim(config);
    let turn = sim.start_turn();

    assert!(
        sim.run_request(turn, append(vec![user("hello")]))
            .is_completed()
    );

    let rec = sim.recording();
    for name in [
        "session-id",
        "thread-id",
        "x-client-request-id",
        "session_id",
        "thread_id",
    ] {
        assert_eq!(
            rec.post_header(0, name).as_deref(),
            Some("conv-sim"),
            "{name}"
        );
    }
    assert_clean(&mut sim);
}

#[test]
fn scenario_02_websocket_stream() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    let turn = sim.start_turn();

    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(outcome.text(), "Antwort 1: grüße, 世界 ✓ 🙂");
    let rec = sim.recording();
    assert_eq!(rec.posts(), 0);
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(rec.handshakes[0].uri, "ws://sim.invalid/v1/responses");
    assert_eq!(
        rec.handshake_header(0, "openai-beta").as_deref(),
        Some("responses_websockets=2026-02-06")
    );
    assert_eq!(rec.ws_messages.len(), 1);
    let message = &rec.ws_messages[0].json;
    assert_eq!(message["type"], "response.create");
    assert_eq!(message["model"], MODEL);
    assert_eq!(message["stream"], true);
    assert_eq!(message_input(message), vec![user("hello")]);
    assert!(message.get("previous_response_id").is_none());
    assert_clean(&mut sim);
}

#[test]
fn scenario_03_v1_append_on_prefix() {
    let mut sim = sim(ws_config(WsProtocol::V1, false));
    let turn = sim.start_turn();
    let (a, b) = (user("a"), user("b"));

    let first = sim.run_request(turn, replace(vec![a.clone()]));
    let second = sim.run_request(turn, replace(vec![a, b.clone()]));

    assert!(first.is_completed() && second.is_completed());
    let rec = sim.recording();
    assert_eq!(
        rec.handshake_header(0, "openai-beta").as_deref(),
        Some("responses_websockets=2026-02-04")
    );
    assert_eq!(rec.ws_attempts(), 1, "both requests on one connection");
    assert_eq!(
        rec.ws_messages[1].json,
        json!({"type": "response.append", "input": [b]})
    );
    assert_eq!(rec.ws_messages[1].kind, WsKind::Append);
    assert_clean(&mut sim);
}

#[test]
fn scenario_04_create_on_non_prefix() {
    let mut sim = sim(ws_config(WsProtocol::V1, false));
    let turn = sim.start_turn();

    sim.run_request(turn, replace(vec![user("a")]));
    let second = sim.run_request(turn, replace(vec![user("c")]));

    assert!(second.is_completed());
    let rec = sim.recording();
    let message = &rec.ws_messages[1].json;
    assert_eq!(message["type"], "response.create");
    assert_eq!(message_input(message), vec![user("c")]);
    assert!(message.get("previous_response_id").is_none());
    assert_eq!(rec.ws_messages[1].kind, WsKind::Create);
    assert_clean(&mut sim);
}

#[test]
fn scenario_05_v2_chaining() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    let turn = sim.start_turn();
    let (a, b) = (user("a"), user("b"));

    let first = sim.run_request(turn, replace(vec![a.clone()]));
    let m1 = first_output_item(&first);
    assert_eq!(m1["id"], "msg-1");
    let second = sim.run_request(turn, replace(vec![a, m1, b.clone()]));

    assert!(second.is_completed());
    let rec = sim.recording();
    let message = &rec.ws_messages[1].json;
    assert_eq!(message["type"], "response.create");
    assert_eq!(message["previous_response_id"], "resp-1");
    assert_eq!(message_input(message), vec![b]);
    assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
    assert_clean(&mut sim);
}

#[test]
fn scenario_06_non_input_change() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    let turn = sim.start_turn();
    let (a, b) = (user("a"), user("b"));

    let first = sim.run_request(turn, replace(vec![a.clone()]));
    let m1 = first_output_item(&first);
    let mut spec = replace(vec![a.clone(), m1.clone(), b.clone()]);
    spec.fields.instructions = Some("be brief".into());
    let second = sim.run_request(turn, spec);

    assert!(second.is_completed());
    let message = &sim.recording().ws_messages[1].json;
    assert_eq!(message["type"], "response.create");
    assert!(message.get("previous_response_id").is_none());
    assert_eq!(message["instructions"], "be brief");
    assert_eq!(message_input(message), vec![a, m1, b]);
    assert_clean(&mut sim);
}

#[test]
fn scenario_07_after_failure() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    let turn = sim.start_turn();
    sim.server_mut().push_ws(Reply::model());
    sim.server_mut().push_ws(Reply::events([
        ev::created("resp-x"),
        ev::failed("resp-x", "context_length_exceeded", "too long"),
    ]));

    let first = sim.run_request(turn, append(vec![user("a")]));
    let failed = sim.run_request(turn, append(vec![user("b")]));
    let third = sim.run_request(turn, append(vec![user("c")]));

    assert!(first.is_completed());
    assert_eq!(failed.error(), Some(&ResponseError::ContextWindowExceeded));
    assert!(third.is_completed());
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        2,
        "the failure dropped the first connection"
    );
    let (m1, m2, m3) = (
        &rec.ws_messages[0],
        &rec.ws_messages[1],
        &rec.ws_messages[2],
    );
    assert_eq!(
        m2.kind,
        WsKind::Chained,
        "the second request chained on resp-1"
    );
    assert_eq!(m1.conn, m2.conn);
    assert_ne!(m3.conn, m2.conn, "a new connection after the failure");
    assert_eq!(m3.kind, WsKind::Create);
    assert!(m3.json.get("previous_response_id").is_none());
    // The full create carries the whole history: a, m1, b, c.
    assert_eq!(message_input(&m3.json).len(), 4);
    assert_clean(&mut sim);
}

#[test]
fn scenario_08_turn_state_over_http() {
    let mut sim = sim(http_config());
    let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
    sim.server_mut().push_http(
        Reply::events(ev::response("resp-1", std::slice::from_ref(&call)))
            .header("x-codex-turn-state", "ts-1"),
    );

    let turn1 = sim.start_turn();
    let first = sim.run_request(turn1, append(vec![user("list files")]));
    assert!(first.is_completed());
    // The response asked for a tool call, so turn 1 makes a follow-up request.
    let second = sim.run_request(
        turn1,
        append(vec![wire::function_output("call-1", "a.txt")]),
    );
    let turn2 = sim.start_turn();
    let third = sim.run_request(turn2, append(vec![user("next turn")]));

    assert!(second.is_completed() && third.is_completed());
    let rec = sim.recording();
    assert_eq!(rec.posts(), 3);
    let carried: Vec<Option<String>> = (0..3)
        .map(|i| rec.post_header(i, "x-codex-turn-state"))
        .collect();
    assert_eq!(carried, [None, Some("ts-1".to_owned()), None]);
    // The follow-up's input is the history: the user message, the call, its output.
    assert_eq!(
        rec.http[1].body["input"],
        json!([
            user("list files"),
            call,
            wire::function_output("call-1", "a.txt")
        ])
    );
    assert_clean(&mut sim);
}

/// Scenario 9's server: turn 1's first response is a tool call preceded by a
/// `response.metadata` event carrying `ts-1` (a revision-2 server).
fn scenario_09_sim(config: Config) -> (Simulator, Value) {
    let mut sim = sim(config);
    let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
    sim.server_mut().send_turn_state("ts-1");
    sim.server_mut().push_ws(Reply::events(ev::response(
        "resp-1",
        std::slice::from_ref(&call),
    )));
    (sim, call)
}

#[test]
fn scenario_09_turn_state_over_websocket() {
    let (mut sim, _call) = scenario_09_sim(ws_config(WsProtocol::V2, false));

    let turn1 = sim.start_turn();
    let first = sim.run_request(turn1, append(vec![user("list files")]));
    // The response asked for a tool call, so turn 1 makes a follow-up request.
    let second = sim.run_request(
        turn1,
        append(vec![wire::function_output("call-1", "a.txt")]),
    );
    sim.end_turn(turn1).expect("turn 1 is idle");
    let turn2 = sim.start_turn();
    let third = sim.run_request(turn2, append(vec![user("next turn")]));

    assert!(first.is_completed() && second.is_completed() && third.is_completed());
    let rec = sim.recording();
    assert_eq!(rec.posts(), 0);
    assert_eq!(
        rec.ws_messages[0].metadata_token.as_deref(),
        Some("ts-1"),
        "the token arrived in a response.metadata event"
    );
    assert!(
        rec.handshakes.iter().all(|h| h.response_headers.is_empty()),
        "and not in a handshake"
    );
    // The three response.create messages carry the token as [absent, ts-1, absent].
    assert_eq!(rec.ws_messages.len(), 3);
    assert!(
        rec.ws_messages
            .iter()
            .all(|m| m.json["type"] == "response.create")
    );
    assert_eq!(
        rec.message_turn_states(),
        [None, Some("ts-1".to_owned()), None]
    );
    // Turn 1's follow-up chains on the same socket.
    assert_eq!(rec.ws_messages[1].conn, rec.ws_messages[0].conn);
    assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
    // No handshake carries anything turn-scoped.
    for i in 0..rec.ws_attempts() {
        assert_eq!(rec.handshake_header(i, "x-codex-turn-state"), None);
        assert_eq!(rec.handshake_header(i, "x-codex-turn-metadata"), None);
    }
    assert_clean(&mut sim);
}

#[test]
fn scenario_09_reconnect_keeps_the_token() {
    let config = Config {
        stream_max_retries: 2,
        ..ws_config(WsProtocol::V2, false)
    };
    let (mut sim, _call) = scenario_09_sim(config);
    // The server cuts the socket during turn 1's second request.
    sim.server_mut().push_ws(
        Reply::with_steps(vec![Step::ModelPrefix(2)]).end(End::Reset("connection reset".into())),
    );

    let turn1 = sim.start_turn();
    let first = sim.run_request(turn1, append(vec![user("list files")]));
    let second = sim.run_request(
        turn1,
        append(vec![wire::function_output("call-1", "a.txt")]),
    );
    sim.end_turn(turn1).expect("turn 1 is idle");
    let turn2 = sim.start_turn();
    let third = sim.run_request(turn2, append(vec![user("next turn")]));

    assert!(first.is_completed() && second.is_completed() && third.is_completed());
    assert_eq!(second.reconnects(), [(1, 2)]);
    let rec = sim.recording();
    assert_eq!(rec.ws_messages.len(), 4);
    assert_eq!(
        rec.message_turn_states(),
        [None, Some("ts-1".to_owned()), Some("ts-1".to_owned()), None],
        "the reconnect's message still carries ts-1; turn 2 starts without it"
    );
    let (cut, retry) = (&rec.ws_messages[1], &rec.ws_messages[2]);
    assert_ne!(retry.conn, cut.conn, "the retry went over a new socket");
    assert_eq!(retry.kind, WsKind::Create, "a new socket: full create");
    for i in 0..rec.ws_attempts() {
        assert_eq!(rec.handshake_header(i, "x-codex-turn-state"), None);
    }
    assert_clean(&mut sim);
}

#[test]
fn scenario_09_revision_1_server_token_in_the_turns_handshake() {
    // A server with the revision-1 behaviour sends the token in the handshake of the
    // turn's own socket; it is still captured, and sent only in messages.
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    sim.server_mut().turn_state_delivery = TurnStateDelivery::HandshakeHeader;
    sim.server_mut().send_turn_state("ts-1");
    let closing = || {
        Reply::model().end(End::Close {
            code: Some(1000),
            reason: "done".into(),
        })
    };
    for _ in 0..3 {
        sim.server_mut().push_ws(closing());
    }

    let turn1 = sim.start_turn();
    let first = sim.run_request(turn1, append(vec![user("a")]));
    sim.run_until_idle(); // the server's close arrives
    let second = sim.run_request(turn1, append(vec![user("b")]));
    sim.run_until_idle();
    let turn2 = sim.start_turn();
    let third = sim.run_request(turn2, append(vec![user("c")]));

    assert!(first.is_completed() && second.is_completed() && third.is_completed());
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        3,
        "each connection was closed after its response"
    );
    assert_eq!(
        rec.handshakes[0].response_headers,
        [("x-codex-turn-state".to_owned(), "ts-1".to_owned())]
    );
    let sent: Vec<Option<String>> = (0..3)
        .map(|i| rec.handshake_header(i, "x-codex-turn-state"))
        .collect();
    assert_eq!(sent, [None, None, None], "never in a handshake");
    // Captured when the handshake completed, before the first message went out: every
    // message of turn 1 sent after the capture carries it, and turn 2's does not.
    assert_eq!(
        rec.message_turn_states(),
        [Some("ts-1".to_owned()), Some("ts-1".to_owned()), None]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_10_first_token_wins() {
    let mut sim = sim(http_config());
    sim.server_mut()
        .push_http(Reply::model().header("x-codex-turn-state", "ts-1"));
    sim.server_mut()
        .push_http(Reply::model().header("x-codex-turn-state", "ts-2"));

    let turn = sim.start_turn();
    for text in ["a", "b", "c"] {
        assert!(
            sim.run_request(turn, append(vec![user(text)]))
                .is_completed()
        );
    }

    let rec = sim.recording();
    let carried: Vec<Option<String>> = (0..3)
        .map(|i| rec.post_header(i, "x-codex-turn-state"))
        .collect();
    assert_eq!(
        carried,
        [None, Some("ts-1".to_owned()), Some("ts-1".to_owned())]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_10_first_token_wins_over_websocket() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    // Each of the first two responses starts with a response.metadata event.
    sim.server_mut().send_turn_state("ts-1");
    sim.server_mut().send_turn_state("ts-2");

    let turn = sim.start_turn();
    for text in ["a", "b", "c"] {
        assert!(
            sim.run_request(turn, append(vec![user(text)]))
                .is_completed()
        );
    }

    let rec = sim.recording();
    let arrived: Vec<Option<&str>> = rec
        .ws_messages
        .iter()
        .map(|m| m.metadata_token.as_deref())
        .collect();
    assert_eq!(arrived, [Some("ts-1"), Some("ts-2"), None]);
    assert_eq!(
        rec.message_turn_states(),
        [None, Some("ts-1".to_owned()), Some("ts-1".to_owned())]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_11_426_fallback() {
    let mut sim = sim(ws_config(WsProtocol::V2, true));
    for _ in 0..3 {
        sim.server_mut().push_handshake(Handshake::refuse(426));
    }

    sim.preconnect();
    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.reconnects().is_empty(), "no Reconnecting on 426");
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        1,
        "exactly one WebSocket attempt in the session"
    );
    assert_eq!(rec.posts(), 1);
    assert!(sim.session().websocket_disabled());
    assert_eq!(count_fallback_telemetry(&sim), 1);
    assert_clean(&mut sim);
}

/// Scenario 12's setup: every handshake refused with 404, two stream retries,
/// preconnect on. Returns the simulator after the first turn's request.
fn budget_fallback() -> (Simulator, RequestOutcome) {
    let mut config = ws_config(WsProtocol::V2, true);
    config.stream_max_retries = 2;
    let mut sim = sim(config);
    for _ in 0..10 {
        sim.server_mut().push_handshake(Handshake::refuse(404));
    }
    sim.preconnect();
    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));
    (sim, outcome)
}

#[test]
fn scenario_12_budget_fallback() {
    let (mut sim, outcome) = budget_fallback();

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        1 + 3,
        "the preconnect and three turn attempts"
    );
    assert_eq!(rec.posts(), 1);
    // Reconnecting 1/2, 2/2, then FallbackActivated, then the HTTP events.
    let shape: Vec<&str> = outcome
        .events
        .iter()
        .map(|e| match e {
            ResponseEvent::Reconnecting { .. } => "reconnecting",
            ResponseEvent::FallbackActivated { .. } => "fallback",
            ResponseEvent::Created { .. } => "created",
            ResponseEvent::OutputTextDelta { .. } => "delta",
            ResponseEvent::OutputItemDone { .. } => "item",
            _ => "other",
        })
        .collect();
    assert_eq!(
        shape,
        [
            "reconnecting",
            "reconnecting",
            "fallback",
            "created",
            "delta",
            "item"
        ]
    );
    assert_eq!(outcome.reconnects(), [(1, 2), (2, 2)]);
    // The POST came after every handshake.
    let last_handshake = rec.handshakes.last().map(|h| h.at).unwrap();
    assert!(rec.http[0].at >= last_handshake);
    assert_clean(&mut sim);
}

#[test]
fn scenario_13_sticky_fallback() {
    let (mut sim, first) = budget_fallback();
    assert!(first.is_completed());

    let turn2 = sim.start_turn();
    let second = sim.run_request(turn2, append(vec![user("again")]));

    assert!(second.is_completed());
    assert!(!second.fell_back() && second.reconnects().is_empty());
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        4,
        "no WebSocket attempt in the second turn"
    );
    assert_eq!(rec.posts(), 2);
    assert_clean(&mut sim);
}

#[test]
fn scenario_14_early_close() {
    let mut config = http_config();
    config.stream_max_retries = 1;
    let mut sim = sim(config);
    // The first body ends (EOF) after created and the delta, without a terminal event.
    sim.server_mut()
        .push_http(Reply::with_steps(vec![Step::ModelPrefix(2)]));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(outcome.reconnects(), [(1, 1)]);
    let reason = outcome.events.iter().find_map(|e| match e {
        ResponseEvent::Reconnecting { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason
            .unwrap()
            .contains("stream closed before response.completed")
    );
    assert_eq!(sim.recording().posts(), 2);
    assert_clean(&mut sim);
}

#[test]
fn scenario_15_server_error_then_next_turn() {
    let mut config = http_config();
    config.request_max_retries = 2;
    let mut sim = sim(config);
    for _ in 0..3 {
        sim.server_mut()
            .push_http(Reply::error(500, "server_error", "internal", "boom"));
    }

    let turn1 = sim.start_turn();
    let failed = sim.run_request(turn1, append(vec![user("hello")]));
    let turn2 = sim.start_turn();
    let next = sim.run_request(turn2, append(vec![user("hello again")]));

    assert!(
        matches!(
            failed.error(),
            Some(ResponseError::Http { status: 500, .. })
        ),
        "{failed:?}"
    );
    assert!(
        next.is_completed(),
        "the failure did not poison the session"
    );
    let rec = sim.recording();
    assert_eq!(
        rec.posts(),
        3 + 1,
        "three attempts, then the next turn's own request"
    );
    assert_eq!(rec.http[3].body["input"], json!([user("hello again")]));
    assert_clean(&mut sim);
}

#[test]
fn scenario_16_retry_after() {
    let mut config = http_config();
    config.request_max_retries = 1;
    let mut sim = sim(config);
    sim.server_mut().push_http(
        Reply::error(429, "rate_limit_error", "rate_limit_exceeded", "slow down")
            .retry_after_secs(1),
    );

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.posts(), 2);
    let gap = rec.http[1].at - rec.http[0].at;
    assert!(gap >= Duration::from_secs(1), "second POST after {gap:?}");
    assert_clean(&mut sim);
}

#[test]
fn scenario_17_unauthorized_refresh() {
    let mut sim = sim(http_config());
    sim.server_mut().push_http(Reply::error(
        401,
        "invalid_request_error",
        "invalid_api_key",
        "expired",
    ));
    sim.auth_mut().push(AuthAnswer::Refresh {
        token: "fresh-token".into(),
        latency: Duration::from_millis(30),
    });

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.reconnects().is_empty());
    let rec = sim.recording();
    assert_eq!(rec.posts(), 2);
    assert_eq!(
        rec.post_header(1, "authorization").as_deref(),
        Some("Bearer fresh-token")
    );
    // No backoff: the second POST goes out the moment the refresh arrives.
    assert_eq!(sim.auth().requests().len(), 1);
    assert_eq!(rec.http[1].at - rec.http[0].at, Duration::from_millis(30));

    // A second 401 after the refresh ends the request with Unauthorized.
    for _ in 0..2 {
        sim.server_mut().push_http(Reply::error(
            401,
            "invalid_request_error",
            "invalid_api_key",
            "expired",
        ));
    }
    let denied = sim.run_request(turn, append(vec![user("again")]));
    assert!(
        matches!(denied.error(), Some(ResponseError::Unauthorized { .. })),
        "{denied:?}"
    );
    assert_eq!(sim.auth().requests().len(), 2, "one refresh per request");
    assert_eq!(sim.recording().posts(), 4);
    assert_clean(&mut sim);
}

#[test]
fn scenario_18_idle_timeout() {
    let idle = Duration::from_secs(20);
    let mut config = http_config();
    config.stream_idle_timeout = idle;
    config.stream_max_retries = 1;
    let mut sim = sim(config);
    // Headers, then nothing: the connection stays open.
    sim.server_mut()
        .push_http(Reply::with_steps(Vec::new()).keep_open());

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(outcome.reconnects(), [(1, 1)]);
    let rec = sim.recording();
    assert_eq!(rec.posts(), 2);
    assert!(
        rec.http[1].at - rec.http[0].at >= idle,
        "retried after the idle timeout"
    );
    assert!(
        rec.closes.iter().any(|c| c.conn == rec.http[0].conn),
        "the stalled connection was dropped"
    );

    // A slow stream with a comment line every half-timeout stays alive: no retry.
    let half = idle / 2;
    let mut steps = Vec::new();
    for _ in 0..4 {
        steps.push(Step::Keepalive);
        steps.push(Step::Wait(half));
    }
    steps.push(Step::Model);
    sim.server_mut().push_http(Reply::with_steps(steps));
    let slow = sim.run_request(turn, append(vec![user("slowly")]));
    assert!(slow.is_completed(), "{slow:?}");
    assert!(slow.reconnects().is_empty());
    assert_eq!(sim.recording().posts(), 3);
    assert!(slow.ended_at.unwrap() - slow.started_at >= idle * 2);
    assert_clean(&mut sim);
}

#[test]
fn scenario_19_terminal_without_eof() {
    let mut sim = sim(http_config());
    // Completed, and the server keeps the connection open (no EOF ever).
    sim.server_mut().push_http(
        Reply::events(ev::response("resp-1", &[wire::assistant("msg-1", "hi")])).keep_open(),
    );
    sim.server_mut().push_http(
        Reply::events([
            ev::created("resp-2"),
            ev::failed("resp-2", "context_length_exceeded", "too long"),
        ])
        .keep_open(),
    );

    let turn = sim.start_turn();
    let started = sim.now();
    let done = sim.run_request(turn, append(vec![user("a")]));
    let failed = sim.run_request(turn, append(vec![user("b")]));

    assert!(done.is_completed());
    assert_eq!(done.ended_at, Some(started), "the outcome arrived at once");
    assert_eq!(failed.error(), Some(&ResponseError::ContextWindowExceeded));
    assert_eq!(failed.ended_at, Some(started));
    let rec = sim.recording();
    for post in &rec.http {
        assert!(
            rec.closes
                .iter()
                .any(|c| c.conn == post.conn && c.at == started),
            "the client stopped reading {:?} at once",
            post.conn
        );
    }
    assert_clean(&mut sim);
}

#[test]
fn scenario_20_connection_limit() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    sim.server_mut().push_ws(Reply::model());
    sim.server_mut().push_ws(Reply::events([ev::ws_error_code(
        "websocket_connection_limit_reached",
        "Responses websocket connection limit reached (60 minutes).",
    )]));

    let turn = sim.start_turn();
    let first = sim.run_request(turn, append(vec![user("a")]));
    let second = sim.run_request(turn, append(vec![user("b")]));

    assert!(first.is_completed());
    assert!(second.is_completed(), "{second:?}");
    assert!(second.reconnects().is_empty(), "retry budget untouched");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2, "a new connection");
    let kinds: Vec<WsKind> = rec.ws_messages.iter().map(|m| m.kind).collect();
    // The second request first chained on resp-1, then restarted with a full create.
    assert_eq!(kinds, [WsKind::Create, WsKind::Chained, WsKind::Create]);
    assert_ne!(rec.ws_messages[2].conn, rec.ws_messages[1].conn);
    assert_eq!(message_input(&rec.ws_messages[2].json).len(), 3);
    assert_clean(&mut sim);
}

#[test]
fn scenario_21_usage_limit() {
    let mut sim = sim(ws_config(WsProtocol::V2, false));
    sim.server_mut().push_ws(Reply::events([ev::ws_error(
        429,
        "usage_limit_reached",
        "usage_limit_reached",
        "The usage limit has been reached",
        &[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-window-minutes", "300"),
        ],
    )]));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    let snapshot = outcome.events.iter().find_map(|e| match e {
        ResponseEvent::RateLimits { snapshot } => Some(snapshot.clone()),
        _ => None,
    });
    let primary = snapshot
        .and_then(|s| s.primary)
        .expect("RateLimits from the frame");
    assert_eq!(primary.used_percent, 100.0);
    assert_eq!(primary.window_minutes, Some(300));
    assert!(
        matches!(
            outcome.error(),
            Some(ResponseError::UsageLimitReached { .. })
        ),
        "{outcome:?}"
    );
    assert!(outcome.reconnects().is_empty(), "not retried");
    assert_eq!(sim.recording().ws_messages.len(), 1);
    assert_eq!(sim.recording().posts(), 0);
    assert_clean(&mut sim);
}

// ----- revision 2 -----------------------------------------------------------------

fn rev2_config() -> Config {
    Config {
        prewarm: Some(false),
        ..ws_config(WsProtocol::V2, false)
    }
}

/// Every `FreeRetry` record, in order.
fn free_retries(sim: &Simulator) -> Vec<turnwire_protocol::session::FreeRetryReason> {
    sim.telemetry()
        .iter()
        .filter_map(|t| match &t.record {
            Telemetry::FreeRetry { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Number of retries scheduled in any layer (spent budget).
fn retries_scheduled(sim: &Simulator) -> usize {
    sim.telemetry()
        .iter()
        .filter(|t| matches!(t.record, Telemetry::RetryScheduled { .. }))
        .count()
}

/// Turn 1 of scenarios 23–25 and 27: one request `[a]` that completes, and the turn
/// ended so its socket goes back to the slot. Returns turn 1's output item.
fn first_turn(sim: &mut Simulator) -> Value {
    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("a")]));
    assert!(outcome.is_completed(), "{outcome:?}");
    sim.end_turn(turn).expect("turn 1 ends");
    first_output_item(&outcome)
}

#[test]
fn scenario_23_one_socket_per_session() {
    let mut sim = sim(rev2_config());
    let m1 = first_turn(&mut sim);

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1, "exactly one handshake in the session");
    assert_eq!(rec.ws_messages.len(), 2);
    let second = &rec.ws_messages[1];
    assert_eq!(second.conn, rec.ws_messages[0].conn, "the same socket");
    assert_eq!(second.kind, WsKind::Chained);
    assert_eq!(second.previous_response_id(), Some("resp-1"));
    assert_eq!(
        message_input(&second.json),
        vec![user("b")],
        "only the new item"
    );
    assert_eq!(
        second.full_input.as_ref().unwrap(),
        &vec![user("a"), m1, user("b")],
        "the server holds the whole conversation"
    );
    assert!(outcome.reconnects().is_empty());
    assert_clean(&mut sim);
}

#[test]
fn scenario_23_a_fresh_turn_replacing_with_the_conversation_chains_too() {
    let mut sim = sim(rev2_config());
    let m1 = first_turn(&mut sim);

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, replace(vec![user("a"), m1, user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(rec.ws_messages[1].previous_response_id(), Some("resp-1"));
    assert_eq!(rec.ws_messages[1].input_len(), 1);
    assert_clean(&mut sim);
}

#[test]
fn scenario_23_a_different_conversation_on_the_reused_socket_is_a_full_create() {
    let mut sim = sim(rev2_config());
    first_turn(&mut sim);

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("c")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1, "the socket is reused all the same");
    assert_eq!(rec.ws_messages[1].kind, WsKind::Create);
    assert_eq!(rec.ws_messages[1].previous_response_id(), None);
    assert_clean(&mut sim);
}

#[test]
fn scenario_24_stale_reused_socket() {
    let mut sim = sim(rev2_config());
    let m1 = first_turn(&mut sim);
    // The server drops the idle socket without a close frame.
    sim.server_mut().close_all_silently();

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.reconnects().is_empty(), "no Reconnecting");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2, "a new socket at once");
    let messages: Vec<(bool, Option<&str>, usize)> = rec
        .ws_messages
        .iter()
        .map(|m| (m.lost, m.previous_response_id(), m.input_len()))
        .collect();
    assert_eq!(
        messages,
        [
            (false, None, 1),
            (true, Some("resp-1"), 1),
            (false, None, 3),
        ],
        "turn 2's chained message was lost; the resend is a full create"
    );
    assert_eq!(
        rec.ws_messages[2].full_input.as_ref().unwrap(),
        &vec![user("a"), m1, user("b")]
    );
    assert_ne!(rec.ws_messages[2].conn, rec.ws_messages[1].conn);
    assert_eq!(retries_scheduled(&sim), 0, "stream budget untouched");
    assert_eq!(
        free_retries(&sim),
        [turnwire_protocol::session::FreeRetryReason::StaleSocket]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_24_a_second_dead_socket_in_one_request_is_an_ordinary_failure() {
    let mut config = rev2_config();
    config.stream_max_retries = 1;
    let mut sim = sim(config);
    first_turn(&mut sim);
    sim.server_mut().close_all_silently();
    // The replacement socket dies before answering too.
    sim.server_mut()
        .push_ws(Reply::with_steps(Vec::new()).end(End::Reset("connection reset".into())));

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        outcome.reconnects(),
        [(1, 1)],
        "the second failure spends budget"
    );
    assert_eq!(free_retries(&sim).len(), 1);
    assert_eq!(sim.recording().ws_attempts(), 3);
    assert_clean(&mut sim);
}

#[test]
fn scenario_25_keepalive_drops_a_silent_socket() {
    let mut config = rev2_config();
    config.ws_keepalive_interval = Duration::from_secs(30);
    let mut sim = sim(config);
    first_turn(&mut sim);
    let parked_at = sim.now();
    let conn = sim.recording().ws_messages[0].conn;
    sim.server_mut().stop_answering_pings();

    sim.advance(Duration::from_secs(61));

    let rec = sim.recording();
    assert_eq!(
        rec.pings.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [conn],
        "one ping after one interval"
    );
    let close = rec
        .closes
        .iter()
        .find(|c| c.conn == conn)
        .expect("the silent socket was closed");
    assert!(
        close.at <= parked_at.saturating_add(Duration::from_secs(60)),
        "dropped within two intervals: {:?} after parking",
        close.at - parked_at
    );
    assert!(sim.telemetry().iter().any(|t| matches!(
        t.record,
        Telemetry::KeepaliveTimeout { conn: c } if c == conn
    )));

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));
    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2, "the next turn opens a new socket");
    assert_eq!(rec.ws_messages[1].kind, WsKind::Create);
    assert_eq!(rec.ws_messages[1].input_len(), 3);
    assert!(outcome.reconnects().is_empty());
    assert_clean(&mut sim);
}

#[test]
fn scenario_25_answered_pings_keep_the_socket_and_its_chain() {
    let mut config = rev2_config();
    config.ws_keepalive_interval = Duration::from_secs(30);
    let mut sim = sim(config);
    first_turn(&mut sim);

    sim.advance(Duration::from_secs(10 * 60));

    assert_eq!(sim.recording().pings.len(), 20, "a ping every interval");
    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));
    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(rec.ws_messages[1].previous_response_id(), Some("resp-1"));
    assert_clean(&mut sim);
}

fn prewarm_config() -> Config {
    Config {
        prewarm: Some(true),
        ..ws_config(WsProtocol::V2, true)
    }
}

fn developer() -> Value {
    json!({"type": "message", "role": "developer",
           "content": [{"type": "input_text", "text": "You are terse."}]})
}

fn prefix() -> turnwire_protocol::session::PrewarmSpec {
    turnwire_protocol::session::PrewarmSpec {
        fields: fields(),
        input: wire::items([developer()]),
    }
}

#[test]
fn scenario_26_prewarm() {
    let mut sim = sim(prewarm_config());
    sim.preconnect();
    sim.prewarm(prefix());

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1, "the preconnect carries both");
    let first = &rec.ws_messages[0];
    assert_eq!(first.generate(), Some(false));
    assert_eq!(first.json["model"], json!(MODEL));
    assert_eq!(message_input(&first.json), vec![developer()]);
    let second = &rec.ws_messages[1];
    assert_eq!(
        second.generate(),
        None,
        "a real request never sends generate"
    );
    assert_eq!(second.previous_response_id(), Some("resp-1"));
    assert_eq!(message_input(&second.json), vec![user("hello")]);
    // The caller saw only its own response.
    assert!(!outcome.events.iter().any(|e| matches!(
        e,
        ResponseEvent::Created { response_id } if response_id == "resp-1"
    )));
    assert!(
        matches!(&outcome.terminal, Terminal::Completed { response_id, .. } if response_id == "resp-2"),
        "{:?}",
        outcome.terminal
    );
    assert!(sim.telemetry().iter().any(|t| matches!(
        &t.record,
        Telemetry::Prewarm { result: turnwire_protocol::session::PrewarmResult::Completed { response_id }, .. }
            if response_id == "resp-1"
    )));
    assert_clean(&mut sim);
}

#[test]
fn scenario_26_prewarm_426_falls_back_at_once() {
    let mut sim = sim(prewarm_config());
    sim.server_mut().push_handshake(Handshake::refuse(426));
    sim.preconnect();
    sim.prewarm(prefix());

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.fell_back(), "FallbackActivated");
    assert!(outcome.reconnects().is_empty());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 1);
    assert!(rec.ws_messages.is_empty(), "no message");
    assert_eq!(rec.posts(), 1);
    let body_input = rec.http[0].body["input"].as_array().unwrap().len();
    assert_eq!(
        body_input, 2,
        "the POST carries the prefix and the new item"
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_26_a_failed_prewarm_costs_nothing() {
    let mut sim = sim(prewarm_config());
    sim.preconnect();
    sim.prewarm(prefix());
    // The prewarm is answered with an error frame: its socket is dropped.
    sim.server_mut().push_prewarm(Reply::events([ev::ws_error(
        500,
        "server_error",
        "internal",
        "boom",
        &[],
    )]));

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(
        outcome.reconnects().is_empty(),
        "no budget, no Reconnecting"
    );
    assert_eq!(retries_scheduled(&sim), 0);
    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        2,
        "the first request opens its own socket"
    );
    let request = &rec.ws_messages[1];
    assert_eq!(request.kind, WsKind::Create, "a full create");
    assert_eq!(
        message_input(&request.json),
        vec![developer(), user("hello")]
    );
    assert!(sim.telemetry().iter().any(|t| matches!(
        t.record,
        Telemetry::Prewarm {
            result: turnwire_protocol::session::PrewarmResult::Failed { .. },
            ..
        }
    )));
    assert_clean(&mut sim);
}

fn skipped_prewarm(sim: &Simulator) -> Vec<turnwire_protocol::session::PrewarmSkip> {
    sim.telemetry()
        .iter()
        .filter_map(|t| match &t.record {
            Telemetry::Prewarm {
                result: turnwire_protocol::session::PrewarmResult::Skipped { reason },
                ..
            } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn scenario_26_a_prewarm_without_websocket_still_starts_the_conversation() {
    // Over HTTP (as after a fallback) nothing is sent ahead, but the prefix is the
    // conversation's start: the continuing turn's POST must carry it.
    let mut sim = sim(http_config());
    sim.prewarm(prefix());

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        skipped_prewarm(&sim),
        [turnwire_protocol::session::PrewarmSkip::WebSocketUnusable]
    );
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 0);
    assert_eq!(rec.posts(), 1);
    assert_eq!(
        rec.http[0].body["input"].as_array().unwrap(),
        &vec![developer(), user("hello")]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_26_a_prewarm_with_prewarm_off_still_starts_the_conversation() {
    let mut sim = sim(Config {
        prewarm: Some(false),
        ..ws_config(WsProtocol::V2, true)
    });
    sim.preconnect();
    sim.prewarm(prefix());

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        skipped_prewarm(&sim),
        [turnwire_protocol::session::PrewarmSkip::Off]
    );
    let rec = sim.recording();
    assert_eq!(rec.ws_messages.len(), 1, "no generate:false message");
    assert_eq!(rec.ws_messages[0].kind, WsKind::Create);
    assert_eq!(
        message_input(&rec.ws_messages[0].json),
        vec![developer(), user("hello")]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_26_a_prewarm_after_the_first_request_changes_nothing() {
    let mut sim = sim(prewarm_config());
    let turn = sim.start_turn();
    let first = sim.run_request(turn, append(vec![user("one")]));
    assert!(first.is_completed(), "{first:?}");
    sim.prewarm(prefix());
    let second = sim.run_request(turn, append(vec![user("two")]));

    assert!(second.is_completed(), "{second:?}");
    assert_eq!(
        skipped_prewarm(&sim),
        [turnwire_protocol::session::PrewarmSkip::RequestAlreadySent]
    );
    let rec = sim.recording();
    assert!(
        rec.ws_messages.iter().all(|m| m.generate().is_none()),
        "no prewarm message"
    );
    let last = rec.ws_messages.last().unwrap();
    assert!(
        !message_input(&last.json).contains(&developer()),
        "the late prefix did not enter the conversation"
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_27_previous_response_lost() {
    let mut sim = sim(rev2_config());
    let m1 = first_turn(&mut sim);
    sim.server_mut().forget_chains();

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.reconnects().is_empty(), "no Reconnecting");
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2, "a new socket");
    assert!(rec.ws_messages[1].chain_lost);
    assert_eq!(rec.ws_messages[1].previous_response_id(), Some("resp-1"));
    let resend = &rec.ws_messages[2];
    assert_eq!(resend.kind, WsKind::Create);
    assert_eq!(
        resend.full_input.as_ref().unwrap(),
        &vec![user("a"), m1, user("b")]
    );
    assert_ne!(resend.conn, rec.ws_messages[1].conn);
    assert_eq!(retries_scheduled(&sim), 0, "budget untouched");
    assert_eq!(
        free_retries(&sim),
        [turnwire_protocol::session::FreeRetryReason::ChainLost]
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_27_a_second_lost_chain_is_an_ordinary_retryable_error() {
    let mut sim = sim(rev2_config());
    first_turn(&mut sim);
    sim.server_mut().forget_chains();
    // The full create on the new socket is answered the same way.
    sim.server_mut().push_ws(Reply::events([ev::ws_error(
        400,
        "invalid_request_error",
        "previous_response_not_found",
        "Previous response with id not found.",
        &[],
    )]));

    let turn = sim.start_turn_continuing();
    let outcome = sim.run_request(turn, append(vec![user("b")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        outcome.reconnects().len(),
        1,
        "the second one spends budget"
    );
    assert_eq!(free_retries(&sim).len(), 1);
    assert_clean(&mut sim);
}

fn unreachable_config(preconnect: bool) -> Config {
    Config {
        stream_max_retries: 5,
        ws_unreachable_fallback_after: 2,
        ..Config {
            prewarm: Some(false),
            ..ws_config(WsProtocol::V2, preconnect)
        }
    }
}

#[test]
fn scenario_30_unreachable_websocket() {
    let mut sim = sim(unreachable_config(false));
    for _ in 0..6 {
        sim.server_mut()
            .push_handshake(Handshake::Fail("connection reset by peer".into()));
    }

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.fell_back());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2, "two WebSocket attempts");
    assert_eq!(rec.posts(), 1);
    assert_eq!(
        outcome.reconnects(),
        [(1, 5)],
        "the rest of the budget is not spent"
    );
    assert_clean(&mut sim);
}

#[test]
fn scenario_30_a_failed_preconnect_counts_as_one_of_the_connects() {
    let mut sim = sim(unreachable_config(true));
    for _ in 0..6 {
        sim.server_mut()
            .push_handshake(Handshake::Fail("connection refused".into()));
    }
    sim.preconnect();

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(outcome.fell_back());
    assert!(outcome.reconnects().is_empty());
    let rec = sim.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(rec.posts(), 1);
    assert_clean(&mut sim);
}

#[test]
fn scenario_30_any_http_answer_resets_the_count() {
    let mut sim = sim(unreachable_config(false));
    sim.server_mut()
        .push_handshake(Handshake::Fail("connection reset by peer".into()));
    sim.server_mut().push_handshake(Handshake::refuse(500));
    sim.server_mut()
        .push_handshake(Handshake::Fail("connection reset by peer".into()));

    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, append(vec![user("hello")]));

    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(
        !outcome.fell_back(),
        "never two unanswered connects in a row"
    );
    assert_eq!(outcome.reconnects(), [(1, 5), (2, 5), (3, 5)]);
    assert_eq!(sim.recording().ws_attempts(), 4);
    assert_eq!(sim.recording().posts(), 0);
    assert_clean(&mut sim);
}

// 28 (rev 2). HTTP keep-alive: three requests over HTTP in one session travel on one
// TCP connection; when the server ends the idle connection (after a response, or as
// the next request arrives on it) the next request goes on a new one with no
// `Reconnecting` and no budget spent; a `Connection: close` response is never pooled.
#[test]
fn scenario_28_http_keep_alive() {
    let mut config = http_config();
    config.stream_max_retries = 0;

    let mut reuse = sim(config.clone());
    let turn = reuse.start_turn();
    for text in ["a", "b", "c"] {
        assert!(
            reuse
                .run_request(turn, append(vec![user(text)]))
                .is_completed()
        );
    }
    assert_eq!(reuse.recording().posts(), 3);
    assert_eq!(reuse.http_connections(), 1, "one TCP connection");
    assert_clean(&mut reuse);

    let mut closing = sim(config.clone());
    closing.server_mut().keep_alive.close_after_post(0);
    closing.server_mut().keep_alive.drop_reused_requests(1);
    let turn = closing.start_turn();
    for text in ["a", "b", "c"] {
        let outcome = closing.run_request(turn, append(vec![user(text)]));
        assert!(outcome.is_completed(), "{outcome:?}");
        assert_eq!(outcome.reconnects(), [], "no Reconnecting");
    }
    assert_eq!(closing.recording().posts(), 3, "each request answered once");
    assert_eq!(closing.http_connections(), 3);
    assert_clean(&mut closing);

    let mut close_header = sim(config);
    close_header
        .server_mut()
        .push_http(Reply::model().header("connection", "close"));
    let turn = close_header.start_turn();
    for text in ["a", "b", "c"] {
        assert!(
            close_header
                .run_request(turn, append(vec![user(text)]))
                .is_completed()
        );
    }
    assert_eq!(
        close_header.http_connections(),
        2,
        "the closing one was not pooled"
    );
    assert_clean(&mut close_header);
}
