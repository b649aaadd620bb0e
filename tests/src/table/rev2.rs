//! PROTOCOL.md section 14, the scenarios revision 2 added (23–27 and 30) over real
//! loopback sockets: one WebSocket per session handed from turn to turn with its
//! response chain, the stale-socket rule, the slot's keepalive, prewarm, a lost
//! response chain, and the fallback from an unreachable WebSocket endpoint. (28,
//! HTTP keep-alive, is not a WebSocket scenario and is not here; 29 and 31 have their
//! own test files.)
//!
//! Each checks what went over the wire (TCP connections the server accepted,
//! handshakes and their headers, every message's `previous_response_id`, `input`,
//! `generate` and `client_metadata`), what the caller saw, and the client's telemetry
//! where a rule is only visible there (budget spent, free retries).

use std::time::Duration;

use serde_json::{Value, json};
use turnwire_protocol::session::{FreeRetryReason, PrewarmResult, Telemetry};
use turnwire_protocol::{Config, ResponseEvent, WsProtocol};
use turnwire_testkit::sim::{FakeServer, Handshake, WsKind};
use turnwire_testkit::wire::user;

use super::{model_text, scenario, websocket};
use crate::scenario::{Act, CONVERSATION_ID, MODEL, Observed, Scenario, TOKEN};

/// The revision-2 scenarios, in order.
pub(super) fn all() -> Vec<Scenario> {
    vec![
        s23_one_socket_per_session(),
        s24_stale_reused_socket(),
        s25_keepalive_drops_a_silent_socket(),
        s25_answered_pings_keep_the_socket(),
        s26_prewarm(),
        s26_prewarm_426_falls_back_at_once(),
        s27_previous_response_lost(),
        s30_unreachable_websocket(),
    ]
}

/// WebSocket v2, no preconnect, no prewarm: the socket a turn opens is the session's.
fn rev2_config(c: &mut Config) {
    websocket(c, WsProtocol::V2, false);
    c.prewarm = Some(false);
}

/// Turn 1 asks `a`; turn 2 continues the conversation with `b`.
fn two_turns() -> Vec<Act> {
    vec![
        Act::NewTurn,
        Act::say("a"),
        Act::continue_turn(),
        Act::say("b"),
    ]
}

/// Like [`two_turns`], with `change` made to the server between the turns.
fn two_turns_with(what: &'static str, change: fn(&mut FakeServer)) -> Vec<Act> {
    vec![
        Act::NewTurn,
        Act::say("a"),
        Act::Server { what, change },
        Act::continue_turn(),
        Act::say("b"),
    ]
}

/// The caller saw one plain response: no `Reconnecting`, no `FallbackActivated`.
fn assert_plain(o: &Observed, i: usize) {
    assert_eq!(
        o.request(i).shape(),
        ["created", "delta", "item_done", "completed"],
        "request {i}"
    );
}

/// Handshake `i` carries the identity headers of 3.2 and nothing turn-scoped.
fn assert_handshake_identity(o: &Observed, i: usize) {
    let rec = &o.recording;
    for name in ["session-id", "thread-id", "x-client-request-id"] {
        assert_eq!(
            rec.handshake_header(i, name).as_deref(),
            Some(CONVERSATION_ID),
            "handshake {i}: {name}"
        );
    }
    assert_eq!(
        rec.handshake_header(i, "authorization"),
        Some(format!("Bearer {TOKEN}"))
    );
    for name in [
        "x-codex-turn-state",
        "x-codex-turn-metadata",
        "session_id",
        "thread_id",
    ] {
        assert_eq!(rec.handshake_header(i, name), None, "handshake {i}: {name}");
    }
}

/// `POST` `i` carries the identity headers of 3.1.
fn assert_post_identity(o: &Observed, i: usize) {
    for name in ["session-id", "thread-id", "x-client-request-id"] {
        assert_eq!(
            o.recording.post_header(i, name).as_deref(),
            Some(CONVERSATION_ID),
            "POST {i}: {name}"
        );
    }
}

/// Per message: `(previous_response_id, input length, lost)`.
fn chain(o: &Observed) -> Vec<(Option<&str>, usize, bool)> {
    o.recording
        .ws_messages
        .iter()
        .map(|m| (m.previous_response_id(), m.input_len(), m.lost))
        .collect()
}

// 23. One socket per session. Two turns over WebSocket, one request each, the second
//     turn's input extending the first turn's input and output: exactly one handshake
//     in the session; the second message is response.create with previous_response_id
//     of the first response and only the new items.
fn s23_one_socket_per_session() -> Scenario {
    Scenario {
        configure: rev2_config,
        plan: two_turns(),
        check: |o| {
            assert_plain(o, 0);
            assert_plain(o, 1);
            assert_eq!(o.request(1).text(), model_text(2));
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1, "exactly one handshake in the session");
            assert_eq!(o.accepted_connections, 1, "one TCP connection");
            assert_eq!(rec.posts(), 0);
            assert_handshake_identity(o, 0);
            assert_eq!(chain(o), [(None, 1, false), (Some("resp-1"), 1, false)]);
            let (first, second) = (&rec.ws_messages[0], &rec.ws_messages[1]);
            assert_eq!(second.conn, first.conn, "the same socket");
            assert_eq!(second.json["type"], "response.create");
            assert_eq!(second.kind, WsKind::Chained);
            assert_eq!(o.message_input(1), [user("b")], "only the new item");
            let m1 = o.request(0).output_item(0);
            assert_eq!(
                second.full_input,
                Ok(vec![user("a"), m1, user("b")]),
                "the server holds the whole conversation"
            );
            for m in [first, second] {
                assert_eq!(m.generate(), None, "a real request never sends generate");
                assert!(m.client_metadata.is_empty(), "no token was ever sent");
                assert_eq!(m.json["model"], MODEL);
            }
            assert!(
                rec.closes.iter().all(|c| c.at >= second.at),
                "the socket stayed open between the turns"
            );
        },
        ..scenario("s23_one_socket_per_session")
    }
}

// 24. Stale reused socket. As 23, but the server closes the idle socket between the
//     turns without a close frame: the second turn opens a new socket at once and sends
//     a full create; no Reconnecting, stream budget untouched.
//
//     Over real sockets the server drops the socket the moment turn 2's message
//     arrives on it (a closed socket receiving data answers with a reset): the client
//     cannot have noticed the close before using the socket.
fn s24_stale_reused_socket() -> Scenario {
    Scenario {
        configure: no_budget_config,
        plan: two_turns_with("closes every socket silently", |s| s.close_all_silently()),
        check: |o| {
            check_free_full_create_on_a_new_socket(o, FreeRetryReason::StaleSocket);
            let lost = &o.recording.ws_messages[1];
            assert!(lost.lost, "turn 2's chained message was lost");
        },
        ..scenario("s24_stale_reused_socket")
    }
}

/// [`rev2_config`] without any stream budget: only a free retry can complete a
/// request whose first attempt fails.
fn no_budget_config(c: &mut Config) {
    rev2_config(c);
    c.stream_max_retries = 0;
}

/// Scenarios 24 and 27: turn 2's chained message on the adopted socket failed, and
/// the request was sent again at once as a full create on a new socket, free of
/// budget, without `Reconnecting`.
fn check_free_full_create_on_a_new_socket(o: &Observed, reason: FreeRetryReason) {
    assert_plain(o, 0);
    assert_plain(o, 1);
    let rec = &o.recording;
    assert_eq!(rec.ws_attempts(), 2, "a new socket at once");
    assert_eq!(o.accepted_connections, 2);
    assert_handshake_identity(o, 1);
    let (chained, resend) = (&rec.ws_messages[1], &rec.ws_messages[2]);
    assert_eq!(rec.ws_messages.len(), 3);
    assert_eq!(chained.previous_response_id(), Some("resp-1"));
    assert_eq!(chained.input_len(), 1);
    assert_eq!(
        chained.conn, rec.handshakes[0].conn,
        "turn 2 adopted the socket"
    );
    assert_eq!(resend.conn, rec.handshakes[1].conn);
    assert_eq!(resend.kind, WsKind::Create, "the resend is a full create");
    assert_eq!(resend.previous_response_id(), None);
    let m1 = o.request(0).output_item(0);
    assert_eq!(resend.full_input, Ok(vec![user("a"), m1, user("b")]));
    assert_eq!(o.retries_scheduled(), 0, "stream budget untouched");
    assert_eq!(o.free_retries(), [reason]);
}

/// Scenario 25's keepalive interval: short, so the scenario waits in real time.
const KEEPALIVE: Duration = Duration::from_millis(200);

fn keepalive_config(c: &mut Config) {
    rev2_config(c);
    c.ws_keepalive_interval = KEEPALIVE;
}

// 25. Keepalive. A socket in the slot whose peer stops answering pings is dropped
//     within two ws_keepalive_intervals (virtual time, in the simulator); the next
//     turn opens a new one.
//
//     Over real sockets the plan waits for the server to see the client's close, so
//     the bounds are physical: the drop comes no sooner than two intervals after
//     turn 1's message and after a ping, and well before a hang would show.
fn s25_keepalive_drops_a_silent_socket() -> Scenario {
    Scenario {
        configure: keepalive_config,
        plan: vec![
            Act::NewTurn,
            Act::say("a"),
            Act::EndTurn,
            Act::Server {
                what: "stops answering pings",
                change: FakeServer::stop_answering_pings,
            },
            Act::AwaitOpenConnectionsAtMost(0),
            Act::continue_turn(),
            Act::say("b"),
        ],
        check: |o| {
            assert_plain(o, 0);
            assert_plain(o, 1);
            let rec = &o.recording;
            let parked = rec.handshakes[0].conn;
            let close = rec
                .closes
                .iter()
                .find(|c| c.conn == parked)
                .expect("the client closed the silent socket");
            let pings: Vec<_> = rec
                .pings
                .iter()
                .filter(|(at, conn)| *conn == parked && *at <= close.at)
                .collect();
            assert!(!pings.is_empty(), "pinged before it was dropped");
            let since_message = close.at - rec.ws_messages[0].at;
            assert!(
                since_message >= KEEPALIVE * 2,
                "a ping after one interval, the drop one interval later: {since_message:?}"
            );
            assert!(
                close.at - pings[0].0 < Duration::from_secs(10),
                "dropped after {:?}",
                close.at - pings[0].0
            );
            assert!(
                o.telemetry
                    .iter()
                    .any(|t| matches!(t, Telemetry::KeepaliveTimeout { .. }))
            );

            assert_eq!(rec.ws_attempts(), 2, "the next turn opens a new socket");
            assert_eq!(o.accepted_connections, 2);
            let second = &rec.ws_messages[1];
            assert_eq!(second.conn, rec.handshakes[1].conn);
            assert!(second.at > close.at);
            assert_eq!(second.kind, WsKind::Create, "a new socket: a full create");
            assert_eq!(second.input_len(), 3);
            assert_eq!(o.retries_scheduled(), 0);
            assert!(o.free_retries().is_empty(), "no stale socket was used");
        },
        ..scenario("s25_keepalive_drops_a_silent_socket")
    }
}

// 25, continued. While the peer answers, the pinged socket stays in the slot with its
// chain: the next turn chains on it.
fn s25_answered_pings_keep_the_socket() -> Scenario {
    Scenario {
        configure: keepalive_config,
        plan: vec![
            Act::NewTurn,
            Act::say("a"),
            Act::EndTurn,
            Act::await_pong(),
            Act::await_pong(),
            Act::await_pong(),
            Act::continue_turn(),
            Act::say("b"),
        ],
        check: |o| {
            assert_plain(o, 0);
            assert_plain(o, 1);
            let rec = &o.recording;
            let conn = rec.handshakes[0].conn;
            let before_turn_2: Vec<_> = rec
                .pings
                .iter()
                .filter(|(at, _)| *at < rec.ws_messages[1].at)
                .collect();
            assert!(before_turn_2.len() >= 3, "{before_turn_2:?}");
            assert!(before_turn_2.iter().all(|(_, c)| *c == conn));
            assert_eq!(rec.ws_attempts(), 1);
            assert_eq!(o.accepted_connections, 1);
            assert_eq!(chain(o), [(None, 1, false), (Some("resp-1"), 1, false)]);
            assert!(
                !o.telemetry
                    .iter()
                    .any(|t| matches!(t, Telemetry::KeepaliveTimeout { .. }))
            );
        },
        ..scenario("s25_answered_pings_keep_the_socket")
    }
}

fn prewarm_config(c: &mut Config) {
    websocket(c, WsProtocol::V2, true);
    c.prewarm = Some(true);
}

/// The prefix a prewarm hands the session: one developer item.
fn developer() -> Value {
    json!({"type": "message", "role": "developer",
           "content": [{"type": "input_text", "text": "You are terse."}]})
}

// 26. Prewarm. Preconnect and prewarm on: the first message on the socket has
//     generate: false and the prefix's fields; the first request then sends
//     previous_response_id of the prewarm response and only the items after the
//     prefix; the caller sees no prewarm events.
fn s26_prewarm() -> Scenario {
    Scenario {
        configure: prewarm_config,
        plan: vec![
            Act::Preconnect,
            Act::Prewarm(vec![developer()]),
            Act::continue_turn(),
            Act::say("hello"),
        ],
        check: |o| {
            let outcome = o.request(0);
            assert_plain(o, 0);
            assert!(
                matches!(&outcome.items[0], Ok(ResponseEvent::Created { response_id }) if response_id == "resp-2"),
                "{:?}",
                outcome.items
            );
            assert!(
                matches!(outcome.items.last(), Some(Ok(ResponseEvent::Completed { response_id, .. })) if response_id == "resp-2")
            );
            assert!(
                !outcome.events().any(|e| matches!(e,
                    ResponseEvent::Created { response_id } | ResponseEvent::Completed { response_id, .. }
                        if response_id == "resp-1")),
                "no prewarm event reached the caller"
            );
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1, "the preconnect carries both");
            assert_eq!(o.accepted_connections, 1);
            assert_handshake_identity(o, 0);
            assert_eq!(rec.ws_messages.len(), 2);
            let (prewarm, first) = (&rec.ws_messages[0], &rec.ws_messages[1]);
            assert_eq!(prewarm.json["type"], "response.create");
            assert_eq!(prewarm.generate(), Some(false));
            assert_eq!(prewarm.json["model"], MODEL);
            assert_eq!(o.message_input(0), [developer()]);
            assert_eq!(prewarm.previous_response_id(), None);
            assert_eq!(
                prewarm.completed,
                Some(("resp-1".to_owned(), Vec::new())),
                "an empty completed response"
            );
            assert_eq!(first.conn, prewarm.conn);
            assert_eq!(
                first.generate(),
                None,
                "a real request never sends generate"
            );
            assert_eq!(first.previous_response_id(), Some("resp-1"));
            assert_eq!(o.message_input(1), [user("hello")], "only what follows");
            assert_eq!(first.full_input, Ok(vec![developer(), user("hello")]));
            assert!(o.telemetry.iter().any(|t| matches!(t,
                Telemetry::Prewarm { result: PrewarmResult::Completed { response_id }, .. }
                    if response_id == "resp-1")));
        },
        ..scenario("s26_prewarm")
    }
}

// 26, continued. A 426 on the handshake: no message, one POST, FallbackActivated.
//
//     The prewarm opens the slot's socket itself (no separate preconnect), so the
//     session holds the prefix before any handshake is answered. The plan waits for
//     the refusal before starting the turn, so the fallback is active before any
//     request exists: the caller learns of it from telemetry and the request goes
//     straight to HTTP (a request already waiting would carry the FallbackActivated
//     event, as in the simulator; over real sockets which comes first is a race).
fn s26_prewarm_426_falls_back_at_once() -> Scenario {
    Scenario {
        configure: prewarm_config,
        script: |s| s.push_handshake(Handshake::refuse(426)),
        plan: vec![
            Act::Prewarm(vec![developer()]),
            Act::await_handshake_refused(),
            Act::continue_turn(),
            Act::say("hello"),
        ],
        check: |o| {
            assert_plain(o, 0);
            assert!(o.request(0).reconnects().is_empty());
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1, "no second WebSocket attempt");
            assert_eq!(rec.handshakes[0].status, 426);
            assert!(rec.ws_messages.is_empty(), "no message");
            assert_eq!(rec.posts(), 1);
            assert_post_identity(o, 0);
            let body = &rec.http[0].body;
            assert_eq!(
                body["input"],
                json!([developer(), user("hello")]),
                "the POST carries the prefix and the new item"
            );
            assert!(body.get("generate").is_none(), "never over HTTP");
            assert!(body.get("previous_response_id").is_none());
            assert!(
                o.telemetry
                    .iter()
                    .any(|t| matches!(t, Telemetry::FallbackActivated { .. }))
            );
            assert_eq!(o.retries_scheduled(), 0);
        },
        ..scenario("s26_prewarm_426_falls_back_at_once")
    }
}

// 27. Previous response lost. A chained create is answered with an error frame of code
//     previous_response_not_found: a new socket, a full create, the request completes,
//     no Reconnecting, budget untouched.
fn s27_previous_response_lost() -> Scenario {
    Scenario {
        configure: no_budget_config,
        plan: two_turns_with("forgets every response chain", FakeServer::forget_chains),
        check: |o| {
            check_free_full_create_on_a_new_socket(o, FreeRetryReason::ChainLost);
            let rec = &o.recording;
            let chained = &rec.ws_messages[1];
            assert!(!chained.lost);
            assert!(chained.chain_lost, "answered previous_response_not_found");
            assert!(
                rec.closes.iter().any(|c| c.conn == chained.conn),
                "the client dropped the socket that lost its chain"
            );
        },
        ..scenario("s27_previous_response_lost")
    }
}

// 30. Unreachable WebSocket. Handshakes to the WebSocket endpoint are reset before any
//     HTTP answer while POSTs work, ws_unreachable_fallback_after = 2,
//     stream_max_retries = 5: two WebSocket attempts, then FallbackActivated and one
//     POST.
fn s30_unreachable_websocket() -> Scenario {
    Scenario {
        configure: |c| {
            rev2_config(c);
            c.ws_unreachable_fallback_after = 2;
            c.stream_max_retries = 5;
        },
        script: |s| {
            for _ in 0..6 {
                s.push_handshake(Handshake::Fail("connection reset by peer".into()));
            }
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                [
                    "reconnecting",
                    "fallback",
                    "created",
                    "delta",
                    "item_done",
                    "completed"
                ]
            );
            assert_eq!(
                outcome.reconnects(),
                [(1, 5)],
                "the rest of the budget is not spent"
            );
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 2, "two WebSocket attempts");
            assert!(
                rec.handshakes.iter().all(|h| h.status == 0),
                "never answered"
            );
            assert!(rec.ws_messages.is_empty());
            assert_eq!(rec.posts(), 1);
            assert_eq!(o.accepted_connections, 3);
            assert!(rec.http[0].at >= rec.handshakes[1].at);
            assert_post_identity(o, 0);
            assert_eq!(rec.http[0].body["input"], json!([user("hello")]));
            assert!(o.telemetry.iter().any(|t| matches!(t,
                Telemetry::FallbackActivated { reason } if reason.contains("2 WebSocket connects"))));
        },
        ..scenario("s30_unreachable_websocket")
    }
}
