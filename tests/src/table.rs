//! PROTOCOL.md section 14 over real loopback sockets: scenarios 1–21 here, the
//! revision-2 scenarios 23–27 and 30 in `table/rev2.rs`, then more checks from the
//! rest of the specification (`x_…`). A name `sNN_…` always means section 14's
//! scenario NN; section 14's own scenario 22 (real transcripts) is
//! `tests/transcripts.rs`, 29 (proxy) `tests/proxy.rs`, 31 (certificates)
//! `tests/tls.rs`. Written once;
//! `tests/tokio.rs` and `tests/smol.rs` run each on their runtime, and
//! `tests/parity.rs` runs each on both and compares. The scenarios whose subject is a
//! timer (16, 18 and the idle, connect and Retry-After ones beyond) are in
//! [`crate::timers`], in virtual time.
//!
//! Unless stated: `base_url = http://127.0.0.1:PORT/v1`, `request_max_retries = 0`,
//! `retry_base_delay = 50 ms` ([`base_config`](crate::scenario::base_config)).

use std::time::Duration;

use serde_json::json;
use turnwire_protocol::session::TurnOptions;
use turnwire_protocol::{Config, ResponseError, ResponseEvent, WsProtocol};
use turnwire_testkit::sim::{End, FakeServer, Handshake, Reply, Step, WsKind};
use turnwire_testkit::wire::{self, ev, user};
use turnwire_transports::StreamError;

use crate::scenario::{
    Act, Auth, CONVERSATION_ID, MODEL, Observed, Scenario, TOKEN, append, replace,
};

mod keep_alive;
mod rev2;

/// Every scenario, in order.
pub fn all() -> Vec<Scenario> {
    let mut all = vec![
        s01_http_stream(),
        s02_websocket_stream(),
        s03_v1_append_on_prefix(),
        s04_create_on_non_prefix(),
        s05_v2_chaining(),
        s06_non_input_change(),
        s07_after_failure(),
        s08_turn_state_over_http(),
        s09_turn_state_over_websocket(),
        s09_turn_state_after_a_reconnect(),
        s09_no_token_into_a_continuing_turn(),
        s10_first_token_wins(),
        s11_426_fallback(),
        s12_budget_fallback(),
        s13_sticky_fallback(),
        s14_early_close(),
        s15_server_error_then_next_turn(),
        s17_unauthorized_refresh(),
        s19_terminal_without_eof(),
        s20_connection_limit(),
        s21_usage_limit(),
    ];
    all.extend(rev2::all());
    all.extend(keep_alive::all());
    all.extend([
        x_handshake_headers_become_events(),
        x_identity_headers_on_both_transports(),
        x_rate_limit_headers_over_http(),
        x_turn_state_from_a_metadata_frame(),
        x_websocket_401_refresh(),
        x_should_retry_header_overrides_the_status(),
        x_broken_websocket_responses_are_retried(),
        x_http_body_cut_mid_stream(),
    ]);
    all
}

/// The scenario called `name`. Panics when there is none (a test naming a scenario
/// that does not exist is a bug).
pub fn by_name(name: &str) -> Scenario {
    all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario named {name}"))
}

/// A scenario with nothing scripted, the default configuration and no check, for
/// the struct-update syntax below.
pub(crate) fn scenario(name: &'static str) -> Scenario {
    Scenario {
        name,
        configure: |_| {},
        auth: Auth::ApiKey,
        script: |_| {},
        server: |_| {},
        plan: Vec::new(),
        check: |_| {},
    }
}

fn websocket(config: &mut Config, protocol: WsProtocol, preconnect: bool) {
    config.websockets = true;
    config.ws_protocol = protocol;
    config.preconnect = Some(preconnect);
}

/// The default model's text for response number `n`.
fn model_text(n: u32) -> String {
    format!("Antwort {n}: grüße, 世界 ✓ 🙂")
}

pub(crate) fn assert_completed(o: &Observed, i: usize) {
    let outcome = o.request(i);
    assert!(outcome.is_completed(), "request {i}: {:?}", outcome.items);
}

// 1. HTTP stream. One request; server streams created, a text delta, an assistant
//    item, completed. Caller sees those events in order; exactly one POST /v1/responses
//    with the headers of 3.1 (session-id, thread-id, Authorization, originator, no turn
//    state, no session_id unless legacy_session_headers).
fn s01_http_stream() -> Scenario {
    Scenario {
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                ["created", "delta", "item_done", "completed"]
            );
            assert!(matches!(
                &outcome.items[..],
                [
                    Ok(ResponseEvent::Created { response_id }),
                    Ok(ResponseEvent::OutputTextDelta { item_id, .. }),
                    Ok(ResponseEvent::OutputItemDone { .. }),
                    Ok(ResponseEvent::Completed { response_id: done, usage: Some(usage) }),
                ] if response_id == "resp-1" && item_id == "msg-1" && done == "resp-1"
                    && usage.total_tokens == 19 && usage.cached_input_tokens == 2
            ));
            assert_eq!(outcome.text(), model_text(1));
            assert_eq!(
                outcome.output_item(0),
                wire::assistant("msg-1", &model_text(1))
            );

            let rec = &o.recording;
            assert_eq!((rec.posts(), rec.ws_attempts()), (1, 0));
            let post = &rec.http[0];
            assert_eq!(post.method, "POST");
            assert_eq!(post.uri, format!("{}/responses", o.base_url));
            let header = |name| rec.post_header(0, name);
            for name in ["session-id", "thread-id", "x-client-request-id"] {
                assert_eq!(header(name).as_deref(), Some(CONVERSATION_ID), "{name}");
            }
            assert_eq!(
                header("session_id"),
                None,
                "only with legacy_session_headers"
            );
            assert_eq!(
                header("thread_id"),
                None,
                "only with legacy_session_headers"
            );
            assert_eq!(header("authorization"), Some(format!("Bearer {TOKEN}")));
            assert_eq!(header("originator").as_deref(), Some("turnwire"));
            assert_eq!(header("accept").as_deref(), Some("text/event-stream"));
            assert_eq!(header("content-type").as_deref(), Some("application/json"));
            assert!(header("user-agent").is_some_and(|v| v.starts_with("turnwire/")));
            assert!(header("version").is_some());
            assert_eq!(header("x-codex-turn-state"), None);
            assert_eq!(header("content-encoding"), None);
            assert_eq!(post.body["model"], MODEL);
            assert_eq!(post.body["stream"], true);
            assert_eq!(post.body["input"], json!([user("hello")]));
            assert_eq!(post.body["prompt_cache_key"], CONVERSATION_ID);
            assert!(post.body.get("client_metadata").is_none(), "empty: omitted");
            assert!(post.body.get("generate").is_none(), "never on HTTP");
            assert!(!post.compress);
        },
        ..scenario("s01_http_stream")
    }
}

// 2. WebSocket stream. One request over WebSocket; the message is response.create with
//    model, stream: true, input of one item; the handshake carries OpenAI-Beta.
fn s02_websocket_stream() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                ["created", "delta", "item_done", "completed"]
            );
            assert_eq!(outcome.text(), model_text(1));

            let rec = &o.recording;
            assert_eq!((rec.posts(), rec.ws_attempts()), (0, 1));
            let ws_url = o.base_url.replacen("http://", "ws://", 1);
            assert_eq!(rec.handshakes[0].uri, format!("{ws_url}/responses"));
            assert_eq!(rec.handshakes[0].status, 101);
            assert_eq!(
                rec.handshake_header(0, "openai-beta").as_deref(),
                Some("responses_websockets=2026-02-06")
            );
            assert_eq!(
                rec.handshake_header(0, "authorization"),
                Some(format!("Bearer {TOKEN}"))
            );
            for name in ["session-id", "thread-id", "x-client-request-id"] {
                assert_eq!(
                    rec.handshake_header(0, name).as_deref(),
                    Some(CONVERSATION_ID),
                    "{name}"
                );
            }
            assert_eq!(rec.handshake_header(0, "session_id"), None);
            assert_eq!(rec.ws_messages.len(), 1);
            let message = &rec.ws_messages[0].json;
            assert_eq!(message["type"], "response.create");
            assert_eq!(message["model"], MODEL);
            assert_eq!(message["stream"], true);
            assert_eq!(o.message_input(0), [user("hello")]);
            assert!(message.get("previous_response_id").is_none());
            assert_eq!(rec.ws_messages[0].kind, WsKind::Create);
        },
        ..scenario("s02_websocket_stream")
    }
}

// 3. v1 append on prefix. Requests [a] then [a, b] on one connection: the second
//    message is exactly {"type":"response.append","input":[b]}.
fn s03_v1_append_on_prefix() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V1, false),
        plan: vec![
            Act::NewTurn,
            Act::request(|_| replace(vec![user("a")])),
            Act::request(|_| replace(vec![user("a"), user("b")])),
        ],
        check: |o| {
            assert_completed(o, 0);
            assert_completed(o, 1);
            assert_eq!(o.request(1).text(), model_text(2));
            let rec = &o.recording;
            assert_eq!(
                rec.handshake_header(0, "openai-beta").as_deref(),
                Some("responses_websockets=2026-02-04")
            );
            assert_eq!(rec.ws_attempts(), 1, "both requests on one connection");
            assert_eq!(rec.ws_messages[0].kind, WsKind::Create);
            assert_eq!(
                rec.ws_messages[1].json,
                json!({"type": "response.append", "input": [user("b")]})
            );
            assert_eq!(rec.ws_messages[1].kind, WsKind::Append);
            assert_eq!(
                rec.ws_messages[1].full_input,
                Ok(vec![user("a"), user("b")])
            );
        },
        ..scenario("s03_v1_append_on_prefix")
    }
}

// 4. Create on non-prefix. [a] then [c]: second message is a full response.create.
fn s04_create_on_non_prefix() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V1, false),
        plan: vec![
            Act::NewTurn,
            Act::request(|_| replace(vec![user("a")])),
            Act::request(|_| replace(vec![user("c")])),
        ],
        check: |o| {
            assert_completed(o, 0);
            assert_completed(o, 1);
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1);
            let message = &rec.ws_messages[1].json;
            assert_eq!(message["type"], "response.create");
            assert_eq!(message["model"], MODEL);
            assert_eq!(o.message_input(1), [user("c")]);
            assert!(message.get("previous_response_id").is_none());
            assert_eq!(rec.ws_messages[1].kind, WsKind::Create);
        },
        ..scenario("s04_create_on_non_prefix")
    }
}

// 5. v2 chaining. [a] (response resp-1 with output item m1) then [a, m1, b]: second
//    message is response.create with previous_response_id: "resp-1" and input [b].
fn s05_v2_chaining() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        plan: vec![
            Act::NewTurn,
            Act::request(|_| replace(vec![user("a")])),
            Act::request(|past| replace(vec![user("a"), past[0].output_item(0), user("b")])),
        ],
        check: |o| {
            assert_completed(o, 0);
            assert_completed(o, 1);
            let m1 = o.request(0).output_item(0);
            assert_eq!(m1["id"], "msg-1");
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1);
            let message = &rec.ws_messages[1].json;
            assert_eq!(message["type"], "response.create");
            assert_eq!(message["previous_response_id"], "resp-1");
            assert_eq!(message["model"], MODEL);
            assert_eq!(o.message_input(1), [user("b")]);
            assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
            assert_eq!(
                rec.ws_messages[1].full_input,
                Ok(vec![user("a"), m1, user("b")])
            );
        },
        ..scenario("s05_v2_chaining")
    }
}

// 6. Non-input change. Same as 5 but instructions differ: full create, no
//    previous_response_id.
fn s06_non_input_change() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        plan: vec![
            Act::NewTurn,
            Act::request(|_| replace(vec![user("a")])),
            Act::request(|past| {
                let mut spec = replace(vec![user("a"), past[0].output_item(0), user("b")]);
                spec.fields.instructions = Some("be brief".into());
                spec
            }),
        ],
        check: |o| {
            assert_completed(o, 1);
            let m1 = o.request(0).output_item(0);
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1);
            let message = &rec.ws_messages[1].json;
            assert_eq!(message["type"], "response.create");
            assert!(message.get("previous_response_id").is_none());
            assert_eq!(message["instructions"], "be brief");
            assert_eq!(o.message_input(1), [user("a"), m1, user("b")]);
            assert_eq!(rec.ws_messages[1].kind, WsKind::Create);
        },
        ..scenario("s06_non_input_change")
    }
}

// 7. After failure. resp-1 completes, the next response fails; the following request
//    uses a new connection and a full create.
fn s07_after_failure() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: |s| {
            s.push_ws(Reply::model());
            s.push_ws(Reply::events([
                ev::created("resp-x"),
                ev::failed("resp-x", "context_length_exceeded", "too long"),
            ]));
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            assert_completed(o, 0);
            assert_eq!(o.request(1).shape(), ["created", "error"]);
            assert_eq!(
                o.request(1).response_error(),
                Some(&ResponseError::ContextWindowExceeded)
            );
            assert_completed(o, 2);
            let rec = &o.recording;
            assert_eq!(
                rec.ws_attempts(),
                2,
                "the failure dropped the first connection"
            );
            let m = &rec.ws_messages;
            assert_eq!(m.len(), 3);
            assert_eq!(
                m[1].kind,
                WsKind::Chained,
                "the second request chained on resp-1"
            );
            assert_eq!(m[0].conn, m[1].conn);
            assert_ne!(m[2].conn, m[1].conn, "a new connection after the failure");
            assert_eq!(m[2].conn, rec.handshakes[1].conn);
            assert_eq!(m[2].kind, WsKind::Create);
            assert!(m[2].json.get("previous_response_id").is_none());
            // The full create carries the whole history: a, m1, b, c.
            assert_eq!(
                o.message_input(2),
                [user("a"), o.request(0).output_item(0), user("b"), user("c")]
            );
            // The client closed the failed connection itself.
            assert!(rec.closes.iter().any(|c| c.conn == m[1].conn));
        },
        ..scenario("s07_after_failure")
    }
}

// 8. Turn state over HTTP. Turn 1's first response carries x-codex-turn-state: ts-1 and
//    a tool call (so turn 1 makes a second request); turn 2 makes one request. The three
//    POSTs carry the header as [absent, ts-1, absent].
fn s08_turn_state_over_http() -> Scenario {
    Scenario {
        script: |s| {
            let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
            s.push_http(
                Reply::events(ev::response("resp-1", &[call])).header("x-codex-turn-state", "ts-1"),
            );
        },
        plan: vec![
            Act::NewTurn,
            Act::say("list files"),
            Act::request(|_| append(vec![wire::function_output("call-1", "a.txt")])),
            Act::NewTurn,
            Act::say("next turn"),
        ],
        check: |o| {
            let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
            assert_eq!(o.request(0).shape(), ["created", "item_done", "completed"]);
            assert_eq!(o.request(0).output_item(0), call);
            assert_completed(o, 1);
            assert_completed(o, 2);
            assert_eq!(o.recording.posts(), 3);
            assert_eq!(
                o.post_headers("x-codex-turn-state"),
                [None, Some("ts-1".to_owned()), None]
            );
            // The follow-up's input is the history: the user message, the call, its output.
            assert_eq!(
                o.recording.http[1].body["input"],
                json!([
                    user("list files"),
                    call,
                    wire::function_output("call-1", "a.txt")
                ])
            );
            assert_eq!(
                o.recording.http[2].body["input"],
                json!([user("next turn")])
            );
        },
        ..scenario("s08_turn_state_over_http")
    }
}

// 9. Turn state over WebSocket (rev 2). Same shape as 8 over one reused socket, the
//    token arriving in a response.metadata event of turn 1's first response: the three
//    response.create messages carry client_metadata["x-codex-turn-state"] as
//    [absent, ts-1, absent], and no handshake carries the header.
fn s09_turn_state_over_websocket() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: s09_script,
        plan: s09_plan(),
        check: |o| {
            let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
            assert_eq!(o.request(0).shape(), ["created", "item_done", "completed"]);
            assert_eq!(o.request(0).output_item(0), call);
            assert_completed(o, 1);
            assert_completed(o, 2);
            let rec = &o.recording;
            assert_eq!(rec.posts(), 0);
            assert_eq!(rec.ws_attempts(), 1, "one socket for both turns");
            assert_eq!(o.accepted_connections, 1);
            assert_eq!(
                rec.ws_messages[0].metadata_token.as_deref(),
                Some("ts-1"),
                "the token arrived in a response.metadata event"
            );
            assert!(
                rec.handshakes[0].response_headers.is_empty(),
                "and not in the handshake"
            );
            assert_eq!(rec.ws_messages.len(), 3);
            assert!(rec.ws_messages.iter().all(|m| !m.lost));
            assert!(
                rec.ws_messages
                    .iter()
                    .all(|m| m.json["type"] == "response.create")
            );
            assert_eq!(
                rec.message_turn_states(),
                [None, Some("ts-1".to_owned()), None]
            );
            assert!(
                rec.ws_messages
                    .iter()
                    .all(|m| m.conn == rec.handshakes[0].conn),
                "every message on the one socket"
            );
            // Turn 1's follow-up chains on its socket; turn 2 starts a new
            // conversation on the reused socket: a full create, without the token.
            assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
            assert_eq!(rec.ws_messages[2].kind, WsKind::Create);
            assert_eq!(o.message_input(2), [user("next turn")]);
            assert!(rec.ws_messages[2].client_metadata.is_empty());
            assert!(
                o.handshake_headers("x-codex-turn-state")
                    .iter()
                    .all(Option::is_none)
            );
            assert!(
                o.handshake_headers("x-codex-turn-metadata")
                    .iter()
                    .all(Option::is_none)
            );
        },
        ..scenario("s09_turn_state_over_websocket")
    }
}

/// Scenario 9's server: a tool call preceded by a `response.metadata` event with ts-1.
fn s09_script(s: &mut FakeServer) {
    let call = wire::function_call("fc-1", "call-1", "shell", "{\"cmd\":\"ls\"}");
    s.send_turn_state("ts-1");
    s.push_ws(Reply::events(ev::response("resp-1", &[call])));
}

/// Scenario 9's plan: turn 1 asks and follows up on the tool call; turn 2 asks once.
fn s09_plan() -> Vec<Act> {
    vec![
        Act::NewTurn,
        Act::say("list files"),
        Act::request(|_| append(vec![wire::function_output("call-1", "a.txt")])),
        Act::NewTurn,
        Act::say("next turn"),
    ]
}

// 9 (rev 2), continued. When the server cuts the socket during turn 1's second
//    request, the reconnect's message still carries ts-1.
fn s09_turn_state_after_a_reconnect() -> Scenario {
    Scenario {
        configure: |c| {
            websocket(c, WsProtocol::V2, false);
            c.stream_max_retries = 2;
        },
        script: |s| {
            s09_script(s);
            s.push_ws(
                Reply::with_steps(vec![Step::ModelPrefix(2)]).end(End::Reset("reset".into())),
            );
        },
        plan: s09_plan(),
        check: |o| {
            assert_completed(o, 0);
            assert_completed(o, 1);
            assert_completed(o, 2);
            assert_eq!(o.request(1).reconnects(), [(1, 2)]);
            let rec = &o.recording;
            assert_eq!(rec.ws_messages.len(), 4);
            assert_eq!(
                rec.message_turn_states(),
                [None, Some("ts-1".to_owned()), Some("ts-1".to_owned()), None],
                "the reconnect's message still carries ts-1; turn 2 starts without it"
            );
            let (cut, retry) = (&rec.ws_messages[1], &rec.ws_messages[2]);
            assert_ne!(retry.conn, cut.conn, "the retry went over a new socket");
            assert_eq!(retry.kind, WsKind::Create);
            assert_eq!(rec.ws_attempts(), 2);
            assert_eq!(
                rec.ws_messages[3].conn, retry.conn,
                "turn 2 reused the replacement socket"
            );
            assert!(
                o.handshake_headers("x-codex-turn-state")
                    .iter()
                    .all(Option::is_none)
            );
        },
        ..scenario("s09_turn_state_after_a_reconnect")
    }
}

// 9 (rev 2), continued. The token is never carried into the next turn, even when
//    that turn continues the conversation on the same socket and chains to turn 1's
//    response.
fn s09_no_token_into_a_continuing_turn() -> Scenario {
    Scenario {
        configure: |c| {
            websocket(c, WsProtocol::V2, false);
            c.prewarm = Some(false);
        },
        script: |s| s.send_turn_state("ts-1"),
        plan: vec![
            Act::NewTurn,
            Act::say("a"),
            Act::say("b"),
            Act::continue_turn(),
            Act::say("c"),
        ],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1);
            assert_eq!(o.accepted_connections, 1);
            assert_eq!(rec.ws_messages[0].metadata_token.as_deref(), Some("ts-1"));
            let chained: Vec<Option<&str>> = rec
                .ws_messages
                .iter()
                .map(|m| m.previous_response_id())
                .collect();
            assert_eq!(
                chained,
                [None, Some("resp-1"), Some("resp-2")],
                "turn 2 chains to turn 1 on the same socket"
            );
            assert_eq!(o.message_input(2), [user("c")]);
            assert_eq!(
                rec.message_turn_states(),
                [None, Some("ts-1".to_owned()), None],
                "turn 2 starts without turn 1's token"
            );
            assert!(
                o.handshake_headers("x-codex-turn-state")
                    .iter()
                    .all(Option::is_none)
            );
        },
        ..scenario("s09_no_token_into_a_continuing_turn")
    }
}

// 10. First wins. Two tokens in one turn (ts-1 then ts-2): later requests carry ts-1.
fn s10_first_token_wins() -> Scenario {
    Scenario {
        script: |s| {
            s.push_http(Reply::model().header("x-codex-turn-state", "ts-1"));
            s.push_http(Reply::model().header("x-codex-turn-state", "ts-2"));
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            assert_eq!(
                o.post_headers("x-codex-turn-state"),
                [None, Some("ts-1".to_owned()), Some("ts-1".to_owned())]
            );
            assert_eq!(
                o.recording.http[1].response_headers.last(),
                Some(&("x-codex-turn-state".to_owned(), "ts-2".to_owned()))
            );
        },
        ..scenario("s10_first_token_wins")
    }
}

// 11. 426 fallback. Handshakes answered 426, preconnect on: exactly one WebSocket
//     attempt in the session, then HTTP; one POST; no Reconnecting event.
fn s11_426_fallback() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, true),
        script: |s| {
            for _ in 0..3 {
                s.push_handshake(Handshake::refuse(426));
            }
        },
        plan: vec![
            Act::Preconnect,
            Act::await_handshake_refused(),
            Act::NewTurn,
            Act::say("hello"),
        ],
        check: |o| {
            let outcome = o.request(0);
            assert!(outcome.reconnects().is_empty(), "no Reconnecting on 426");
            assert_eq!(
                outcome.shape(),
                ["created", "delta", "item_done", "completed"],
                "the preconnect's 426 switched the session before the request"
            );
            let rec = &o.recording;
            assert_eq!(
                rec.ws_attempts(),
                1,
                "exactly one WebSocket attempt in the session"
            );
            assert_eq!(rec.handshakes[0].status, 426);
            assert_eq!(rec.posts(), 1);
            assert_eq!(rec.http[0].body["input"], json!([user("hello")]));
        },
        ..scenario("s11_426_fallback")
    }
}

fn budget_config(c: &mut Config) {
    websocket(c, WsProtocol::V2, true);
    c.stream_max_retries = 2;
}

fn refuse_handshakes_404(s: &mut FakeServer) {
    for _ in 0..10 {
        s.push_handshake(Handshake::refuse(404));
    }
}

fn check_budget_fallback(o: &Observed) {
    let outcome = o.request(0);
    assert_eq!(
        outcome.shape(),
        [
            "reconnecting",
            "reconnecting",
            "fallback",
            "created",
            "delta",
            "item_done",
            "completed"
        ]
    );
    assert_eq!(outcome.reconnects(), [(1, 2), (2, 2)]);
    let rec = &o.recording;
    assert!(rec.handshakes[..4].iter().all(|h| h.status == 404));
    let last_handshake = rec.handshakes[3].at;
    assert!(
        rec.http[0].at >= last_handshake,
        "the POST came after every handshake"
    );
    assert_eq!(rec.http[0].body["input"], json!([user("hello")]));
}

// 12. Budget fallback. Handshakes answered 404, stream_max_retries = 2, preconnect on:
//     WebSocket attempts = 1 (preconnect) + 3 (turn), then exactly one POST; the caller
//     sees Reconnecting 1/2 and 2/2, then FallbackActivated, then the HTTP events.
fn s12_budget_fallback() -> Scenario {
    Scenario {
        configure: budget_config,
        script: refuse_handshakes_404,
        plan: vec![
            Act::Preconnect,
            Act::await_handshake_refused(),
            Act::NewTurn,
            Act::say("hello"),
        ],
        check: |o| {
            check_budget_fallback(o);
            assert_eq!(
                o.recording.ws_attempts(),
                1 + 3,
                "the preconnect and three turn attempts"
            );
            assert_eq!(o.recording.posts(), 1);
        },
        ..scenario("s12_budget_fallback")
    }
}

// 13. Sticky fallback. After 12, a second turn makes no WebSocket attempt: WebSocket
//     attempts stay 4, POSTs become 2.
fn s13_sticky_fallback() -> Scenario {
    Scenario {
        configure: budget_config,
        script: refuse_handshakes_404,
        plan: vec![
            Act::Preconnect,
            Act::await_handshake_refused(),
            Act::NewTurn,
            Act::say("hello"),
            Act::NewTurn,
            Act::say("again"),
        ],
        check: |o| {
            check_budget_fallback(o);
            assert_eq!(
                o.request(1).shape(),
                ["created", "delta", "item_done", "completed"],
                "straight to HTTP: no Reconnecting, no FallbackActivated"
            );
            assert_eq!(
                o.recording.ws_attempts(),
                4,
                "no WebSocket attempt in the second turn"
            );
            assert_eq!(o.recording.posts(), 2);
            assert_eq!(o.recording.http[1].body["input"], json!([user("again")]));
        },
        ..scenario("s13_sticky_fallback")
    }
}

// 14. Early close. The first body ends without a terminal event, stream_max_retries = 1:
//     exactly two POSTs, the turn completes, Reconnecting 1/1 was emitted.
fn s14_early_close() -> Scenario {
    Scenario {
        configure: |c| c.stream_max_retries = 1,
        script: |s| s.push_http(Reply::with_steps(vec![Step::ModelPrefix(2)])),
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                [
                    "created",
                    "delta",
                    "reconnecting",
                    "created",
                    "delta",
                    "item_done",
                    "completed"
                ]
            );
            assert_eq!(outcome.reconnects(), [(1, 1)]);
            let reason = outcome.first_reconnect_reason().unwrap_or_default();
            assert!(
                reason.contains("stream closed before response.completed"),
                "{reason}"
            );
            assert_eq!(o.recording.posts(), 2);
            assert_eq!(o.recording.http[0].body, o.recording.http[1].body);
        },
        ..scenario("s14_early_close")
    }
}

// 15. 5xx then next turn. A request answered 500 until retries are spent ends with an
//     error; the next turn succeeds on its own request.
fn s15_server_error_then_next_turn() -> Scenario {
    Scenario {
        configure: |c| c.request_max_retries = 2,
        script: |s| {
            for _ in 0..3 {
                s.push_http(Reply::error(500, "server_error", "internal", "boom"));
            }
        },
        plan: vec![
            Act::NewTurn,
            Act::say("hello"),
            Act::NewTurn,
            Act::say("hello again"),
        ],
        check: |o| {
            let failed = o.request(0);
            assert!(
                matches!(
                    failed.response_error(),
                    Some(ResponseError::Http { status: 500, .. })
                ),
                "{:?}",
                failed.items
            );
            assert_eq!(
                failed.items.iter().filter(|i| i.is_ok()).count(),
                0,
                "nothing but the error"
            );
            assert_completed(o, 1);
            let rec = &o.recording;
            assert_eq!(
                rec.posts(),
                3 + 1,
                "three attempts, then the next turn's own request"
            );
            assert!(rec.http[..3].iter().all(|p| p.status == 500));
            assert_eq!(rec.http[3].body["input"], json!([user("hello again")]));
        },
        ..scenario("s15_server_error_then_next_turn")
    }
}

fn unauthorized() -> Reply {
    Reply::error(401, "invalid_request_error", "invalid_api_key", "expired")
}

// 17. 401 refresh. First POST answered 401, the auth source refreshes to a new token:
//     the second POST carries the new token; no backoff; a second 401 ends with
//     Unauthorized.
fn s17_unauthorized_refresh() -> Scenario {
    Scenario {
        // A long base delay: any backoff before the retry would show in the gap.
        configure: |c| c.retry_base_delay = Duration::from_secs(5),
        auth: Auth::Refreshing(vec!["fresh-token", "fresher-token"]),
        script: |s| {
            s.push_http(unauthorized());
            s.push_http(Reply::model());
            s.push_http(unauthorized());
            s.push_http(unauthorized());
        },
        plan: vec![Act::NewTurn, Act::say("hello"), Act::say("again")],
        check: |o| {
            let first = o.request(0);
            assert_eq!(
                first.shape(),
                ["created", "delta", "item_done", "completed"]
            );
            let denied = o.request(1);
            assert!(
                matches!(
                    denied.response_error(),
                    Some(ResponseError::Unauthorized { .. })
                ),
                "{:?}",
                denied.items
            );
            assert_eq!(denied.shape(), ["error"]);
            assert_eq!(o.refreshes, 2, "one refresh per request");

            let rec = &o.recording;
            assert_eq!(rec.posts(), 4);
            assert_eq!(
                o.post_headers("authorization"),
                [
                    Some(format!("Bearer {TOKEN}")),
                    Some("Bearer fresh-token".to_owned()),
                    Some("Bearer fresh-token".to_owned()),
                    Some("Bearer fresher-token".to_owned()),
                ]
            );
            // No backoff: well under the 4.5 s the smallest backoff would take.
            assert!(
                o.post_gap(0, 1) < Duration::from_secs(3),
                "{:?}",
                o.post_gap(0, 1)
            );
            assert!(
                o.post_gap(2, 3) < Duration::from_secs(3),
                "{:?}",
                o.post_gap(2, 3)
            );
        },
        ..scenario("s17_unauthorized_refresh")
    }
}

// 19. Terminal without EOF. The server sends response.completed (or response.failed)
//     and keeps the connection open: the caller gets the outcome at once.
fn s19_terminal_without_eof() -> Scenario {
    Scenario {
        // An idle timeout far beyond the bound below: waiting for EOF would show.
        configure: |c| c.stream_idle_timeout = Duration::from_secs(120),
        script: |s| {
            s.push_http(
                Reply::events(ev::response("resp-1", &[wire::assistant("msg-1", "hi")]))
                    .keep_open(),
            );
            s.push_http(
                Reply::events([
                    ev::created("resp-2"),
                    ev::failed("resp-2", "context_length_exceeded", "too long"),
                ])
                .keep_open(),
            );
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b")],
        check: |o| {
            let done = o.request(0);
            assert_eq!(done.shape(), ["created", "item_done", "completed"]);
            let failed = o.request(1);
            assert_eq!(failed.shape(), ["created", "error"]);
            assert_eq!(
                failed.response_error(),
                Some(&ResponseError::ContextWindowExceeded)
            );
            let at_once = Duration::from_secs(10);
            assert!(done.duration() < at_once, "{:?}", done.duration());
            assert!(failed.duration() < at_once, "{:?}", failed.duration());
            // The server never ended either body: the client closed both connections,
            // right after their terminal event.
            let rec = &o.recording;
            for post in &rec.http {
                let close = rec.closes.iter().find(|c| c.conn == post.conn);
                let close = close.unwrap_or_else(|| panic!("{:?} never closed", post.conn));
                assert!(close.at - post.at < at_once);
            }
        },
        ..scenario("s19_terminal_without_eof")
    }
}

// 20. Connection limit. A WebSocket error frame with code
//     websocket_connection_limit_reached: a new connection, a full create, the request
//     completes, retry budget untouched.
fn s20_connection_limit() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: |s| {
            s.push_ws(Reply::model());
            s.push_ws(Reply::events([ev::ws_error_code(
                "websocket_connection_limit_reached",
                "Responses websocket connection limit reached (60 minutes).",
            )]));
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b")],
        check: |o| {
            assert_completed(o, 0);
            let second = o.request(1);
            assert_eq!(
                second.shape(),
                ["created", "delta", "item_done", "completed"],
                "no Reconnecting: retry budget untouched"
            );
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 2, "a new connection");
            let kinds: Vec<WsKind> = rec.ws_messages.iter().map(|m| m.kind).collect();
            // The second request first chained on resp-1, then restarted with a full create.
            assert_eq!(kinds, [WsKind::Create, WsKind::Chained, WsKind::Create]);
            assert_ne!(rec.ws_messages[2].conn, rec.ws_messages[1].conn);
            assert_eq!(rec.ws_messages[2].conn, rec.handshakes[1].conn);
            assert_eq!(
                o.message_input(2),
                [user("a"), o.request(0).output_item(0), user("b")]
            );
        },
        ..scenario("s20_connection_limit")
    }
}

// 21. Usage limit. A WebSocket error frame with status 429 and usage_limit_reached:
//     RateLimits from its headers, then a non-retried UsageLimitReached error.
fn s21_usage_limit() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: |s| {
            s.push_ws(Reply::events([ev::ws_error(
                429,
                "usage_limit_reached",
                "usage_limit_reached",
                "The usage limit has been reached",
                &[
                    ("x-codex-primary-used-percent", "100"),
                    ("x-codex-primary-window-minutes", "300"),
                ],
            )]));
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(outcome.shape(), ["rate_limits", "error"]);
            let Some(Ok(ResponseEvent::RateLimits { snapshot })) = outcome.items.first() else {
                panic!("{:?}", outcome.items)
            };
            let primary = snapshot.primary.as_ref().expect("the primary window");
            assert_eq!(primary.used_percent, 100.0);
            assert_eq!(primary.window_minutes, Some(300));
            assert!(
                matches!(
                    outcome.error(),
                    Some(StreamError::Response(
                        ResponseError::UsageLimitReached { .. }
                    ))
                ),
                "{:?}",
                outcome.items
            );
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1, "not retried");
            assert_eq!(rec.ws_messages.len(), 1);
            assert_eq!(rec.posts(), 0);
        },
        ..scenario("s21_usage_limit")
    }
}

// ---------------------------------------------------------------------------------
// Beyond section 14: more of the specification over real sockets.

// 3.2 / 5. Handshake response headers x-models-etag and x-reasoning-included become
// ModelsEtag and ServerReasoningIncluded at the start of every response on that
// connection.
fn x_handshake_headers_become_events() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: |s| {
            s.push_handshake(Handshake::Accept {
                headers: vec![
                    ("x-models-etag".into(), "etag-1".into()),
                    ("x-reasoning-included".into(), "true".into()),
                ],
                delay: Duration::ZERO,
            });
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b")],
        check: |o| {
            for i in 0..2 {
                let outcome = o.request(i);
                assert_eq!(
                    outcome.shape(),
                    [
                        "models_etag",
                        "reasoning_included",
                        "created",
                        "delta",
                        "item_done",
                        "completed"
                    ],
                    "request {i}"
                );
                assert!(matches!(
                    &outcome.items[0],
                    Ok(ResponseEvent::ModelsEtag { etag }) if etag == "etag-1"
                ));
                assert!(matches!(
                    &outcome.items[1],
                    Ok(ResponseEvent::ServerReasoningIncluded { included: true })
                ));
            }
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 1, "both responses on one connection");
            assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
        },
        ..scenario("x_handshake_headers_become_events")
    }
}

fn identity_config(c: &mut Config) {
    websocket(c, WsProtocol::V1, false);
    c.identity.organization = Some("org-7".into());
    c.identity.project = Some("proj-7".into());
    c.identity.subagent = Some("review".into());
    c.identity.extra_headers = vec![("x-extra".into(), "extra-value".into())];
    c.beta_features = vec!["alpha".into(), "beta".into()];
    c.query_params = vec![("api-version".into(), "2026-01-01".into())];
    c.include_timing_metrics = true;
}

// 1 / 3 / 4 / 10. Identity, organisation, project, sub-agent, extra and beta-feature
// headers and provider query parameters, on the WebSocket handshake and, after a 426
// switches the same request to HTTP, on the POST; the turn metadata only on the POST
// (a handshake carries nothing turn-scoped) and in its body's client_metadata.
fn x_identity_headers_on_both_transports() -> Scenario {
    Scenario {
        configure: identity_config,
        script: |s| s.push_handshake(Handshake::refuse(426)),
        plan: vec![
            Act::NewTurnWith(TurnOptions {
                metadata: Some("turn-meta-1".into()),
                ..TurnOptions::default()
            }),
            Act::say("hello"),
        ],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                ["fallback", "created", "delta", "item_done", "completed"]
            );
            let rec = &o.recording;
            assert_eq!((rec.ws_attempts(), rec.posts()), (1, 1));
            let ws_url = o.base_url.replacen("http://", "ws://", 1);
            assert_eq!(
                rec.handshakes[0].uri,
                format!("{ws_url}/responses?api-version=2026-01-01")
            );
            assert_eq!(
                rec.http[0].uri,
                format!("{}/responses?api-version=2026-01-01", o.base_url)
            );
            let expected = [
                ("authorization", format!("Bearer {TOKEN}")),
                ("session-id", CONVERSATION_ID.to_owned()),
                ("thread-id", CONVERSATION_ID.to_owned()),
                ("x-client-request-id", CONVERSATION_ID.to_owned()),
                ("originator", "turnwire".to_owned()),
                ("openai-organization", "org-7".to_owned()),
                ("openai-project", "proj-7".to_owned()),
                ("x-openai-subagent", "review".to_owned()),
                ("x-extra", "extra-value".to_owned()),
                ("x-codex-beta-features", "alpha,beta".to_owned()),
            ];
            for (name, value) in &expected {
                assert_eq!(
                    rec.handshake_header(0, name).as_ref(),
                    Some(value),
                    "handshake {name}"
                );
                assert_eq!(
                    rec.post_header(0, name).as_ref(),
                    Some(value),
                    "POST {name}"
                );
            }
            assert_eq!(
                rec.handshake_header(0, "openai-beta").as_deref(),
                Some("responses_websockets=2026-02-04")
            );
            assert_eq!(
                rec.handshake_header(0, "x-responsesapi-include-timing-metrics")
                    .as_deref(),
                Some("true")
            );
            assert_eq!(rec.post_header(0, "openai-beta"), None);
            assert_eq!(rec.post_header(0, "x-codex-turn-state"), None);
            assert_eq!(rec.handshake_header(0, "x-codex-turn-metadata"), None);
            assert_eq!(
                rec.post_header(0, "x-codex-turn-metadata").as_deref(),
                Some("turn-meta-1")
            );
            assert_eq!(
                rec.http[0].body["client_metadata"],
                json!({"x-codex-turn-metadata": "turn-meta-1"})
            );
        },
        ..scenario("x_identity_headers_on_both_transports")
    }
}

// 5. Header-derived events come before any body event of an HTTP attempt:
// RateLimits from the x-codex-* headers, then ModelsEtag.
fn x_rate_limit_headers_over_http() -> Scenario {
    Scenario {
        script: |s| {
            s.push_http(
                Reply::model()
                    .header("x-codex-primary-used-percent", "42.5")
                    .header("x-codex-primary-window-minutes", "60")
                    .header("x-codex-secondary-used-percent", "7")
                    .header("x-codex-credits-has-credits", "true")
                    .header("x-codex-credits-balance", "12.50")
                    .header("x-models-etag", "etag-http"),
            );
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                [
                    "rate_limits",
                    "models_etag",
                    "created",
                    "delta",
                    "item_done",
                    "completed"
                ]
            );
            let Some(Ok(ResponseEvent::RateLimits { snapshot })) = outcome.items.first() else {
                panic!("{:?}", outcome.items)
            };
            let primary = snapshot.primary.as_ref().expect("primary");
            assert_eq!(primary.used_percent, 42.5);
            assert_eq!(primary.window_minutes, Some(60));
            assert_eq!(
                snapshot.secondary.as_ref().map(|s| s.used_percent),
                Some(7.0)
            );
            let credits = snapshot.credits.as_ref().expect("credits");
            assert!(credits.has_credits);
            assert_eq!(credits.balance.as_deref(), Some("12.50"));
            assert_eq!(o.recording.posts(), 1);
        },
        ..scenario("x_rate_limit_headers_over_http")
    }
}

// 7. A turn-state token from a response.metadata frame is captured and sent in the
// client_metadata of the turn's next message (over a new connection whose handshake
// carries no token), and not in the next turn.
fn x_turn_state_from_a_metadata_frame() -> Scenario {
    Scenario {
        configure: |c| websocket(c, WsProtocol::V2, false),
        script: |s| {
            let closing = End::Close {
                code: Some(1000),
                reason: "done".into(),
            };
            s.push_ws(
                Reply::with_steps(vec![
                    Step::Event(ev::metadata_turn_state("ts-meta")),
                    Step::Model,
                ])
                .end(closing.clone()),
            );
            s.push_ws(Reply::model().end(closing));
        },
        plan: vec![
            Act::NewTurn,
            Act::say("a"),
            Act::await_server_close(),
            Act::say("b"),
            Act::NewTurn,
            Act::say("c"),
        ],
        check: |o| {
            for i in 0..3 {
                assert_eq!(
                    o.request(i).shape(),
                    ["created", "delta", "item_done", "completed"],
                    "request {i}: the metadata frame is not a caller event"
                );
            }
            let rec = &o.recording;
            assert_eq!(
                rec.ws_messages[0].metadata_token.as_deref(),
                Some("ts-meta")
            );
            assert_eq!(rec.ws_attempts(), 3);
            assert_eq!(
                o.handshake_headers("x-codex-turn-state"),
                [None, None, None]
            );
            assert_eq!(
                rec.message_turn_states(),
                [None, Some("ts-meta".to_owned()), None]
            );
        },
        ..scenario("x_turn_state_from_a_metadata_frame")
    }
}

// 9.2. A 401 on the WebSocket handshake refreshes the credentials and reconnects at
// once with the new token, without a Reconnecting event or retry budget.
fn x_websocket_401_refresh() -> Scenario {
    Scenario {
        configure: |c| {
            websocket(c, WsProtocol::V2, false);
            c.stream_max_retries = 0;
        },
        auth: Auth::Refreshing(vec!["fresh-token"]),
        script: |s| s.push_handshake(Handshake::refuse(401)),
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            assert_eq!(
                o.request(0).shape(),
                ["created", "delta", "item_done", "completed"]
            );
            assert_eq!(o.refreshes, 1);
            let rec = &o.recording;
            assert_eq!((rec.ws_attempts(), rec.posts()), (2, 0));
            assert_eq!(
                o.handshake_headers("authorization"),
                [
                    Some(format!("Bearer {TOKEN}")),
                    Some("Bearer fresh-token".to_owned())
                ]
            );
            assert_eq!(rec.ws_messages.len(), 1);
        },
        ..scenario("x_websocket_401_refresh")
    }
}

// 9.1 (beyond). x-should-retry overrides the status rule: a 500 marked false is not
// retried; a 400 marked true is.
fn x_should_retry_header_overrides_the_status() -> Scenario {
    Scenario {
        configure: |c| c.request_max_retries = 2,
        script: |s| {
            s.push_http(
                Reply::error(500, "server_error", "internal", "boom")
                    .header("x-should-retry", "false"),
            );
            s.push_http(
                Reply::error(400, "invalid_request_error", "bad", "try again")
                    .header("x-should-retry", "true"),
            );
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::NewTurn, Act::say("b")],
        check: |o| {
            assert!(
                matches!(
                    o.request(0).response_error(),
                    Some(ResponseError::Http { status: 500, .. })
                ),
                "{:?}",
                o.request(0).items
            );
            assert_completed(o, 1);
            let statuses: Vec<u16> = o.recording.http.iter().map(|p| p.status).collect();
            assert_eq!(statuses, [500, 400, 200], "the 500 once, the 400 retried");
        },
        ..scenario("x_should_retry_header_overrides_the_status")
    }
}

// 5 / 9.3. A close frame before the terminal event, a binary frame, and a reset
// connection are each a retryable stream error; each retry uses a new connection
// with a full create.
fn x_broken_websocket_responses_are_retried() -> Scenario {
    Scenario {
        configure: |c| {
            websocket(c, WsProtocol::V2, false);
            c.stream_max_retries = 3;
        },
        script: |s| {
            s.push_ws(
                Reply::with_steps(vec![Step::ModelPrefix(1)]).end(End::Close {
                    code: Some(1011),
                    reason: "going away".into(),
                }),
            );
            s.push_ws(Reply::with_steps(vec![
                Step::ModelPrefix(1),
                Step::Binary(3),
            ]));
            s.push_ws(
                Reply::with_steps(vec![Step::ModelPrefix(2)]).end(End::Reset("reset".into())),
            );
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(outcome.reconnects(), [(1, 3), (2, 3), (3, 3)]);
            assert!(outcome.is_completed(), "{:?}", outcome.items);
            assert_eq!(outcome.text(), model_text(4), "the last attempt's answer");
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 4);
            assert!(rec.ws_messages.iter().all(|m| m.kind == WsKind::Create));
            let conns: Vec<_> = rec.ws_messages.iter().map(|m| m.conn).collect();
            let handshakes: Vec<_> = rec.handshakes.iter().map(|h| h.conn).collect();
            assert_eq!(conns, handshakes, "one message per connection");
        },
        ..scenario("x_broken_websocket_responses_are_retried")
    }
}

// 5 / 9.3. An HTTP body cut mid-stream (connection reset) is retried.
fn x_http_body_cut_mid_stream() -> Scenario {
    Scenario {
        configure: |c| c.stream_max_retries = 1,
        script: |s| {
            s.push_http(
                Reply::with_steps(vec![Step::ModelPrefix(2)]).end(End::Reset("reset".into())),
            );
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                [
                    "created",
                    "delta",
                    "reconnecting",
                    "created",
                    "delta",
                    "item_done",
                    "completed"
                ]
            );
            assert_eq!(o.recording.posts(), 2);
        },
        ..scenario("x_http_body_cut_mid_stream")
    }
}
