//! The scenarios whose subject is a timer (idle timeouts, connect timeouts,
//! `Retry-After`), played in virtual time ([`Rt::Virtual`](crate::Rt::Virtual)) by
//! `tests/virtual_time.rs`: they test the driver's timing rules, not sockets, so they
//! run with the specification's own durations, take no wall time, and assert exact
//! times. The recording's times and the caller's are both the virtual clock, counted
//! from the client's start.
//!
//! Unless stated: the configuration of [`base_config`](crate::scenario::base_config).

use std::time::Duration;

use turnwire_protocol::{ResponseEvent, WsProtocol};
use turnwire_testkit::sim::{Handshake, Reply, Step, WsKind};

use crate::scenario::{Act, Outcome, Scenario};
use crate::table::{assert_completed, scenario};

/// Every timer scenario, in order.
pub fn all() -> Vec<Scenario> {
    vec![
        s16_retry_after(),
        s18_idle_timeout(),
        x_websocket_idle_timeout_and_pings(),
        x_handshake_retry_after(),
        x_websocket_connect_timeout(),
        x_http_head_timeout(),
    ]
}

/// The timer scenario called `name`. Panics when there is none.
pub fn by_name(name: &str) -> Scenario {
    all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no timer scenario named {name}"))
}

/// The delay the first `Reconnecting` event of `outcome` announced.
fn first_backoff(outcome: &Outcome) -> Duration {
    outcome
        .events()
        .find_map(|e| match e {
            ResponseEvent::Reconnecting { delay, .. } => Some(*delay),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Reconnecting in {:?}", outcome.items))
}

// 16. Retry-After. 429 with Retry-After: 1 then success: the second POST comes exactly
//     1 s after the first.
fn s16_retry_after() -> Scenario {
    Scenario {
        configure: |c| c.request_max_retries = 1,
        script: |s| {
            s.push_http(
                Reply::error(429, "rate_limit_error", "rate_limit_exceeded", "slow down")
                    .retry_after_secs(1),
            );
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            assert_completed(o, 0);
            let rec = &o.recording;
            assert_eq!(rec.posts(), 2);
            assert_eq!(rec.http[0].status, 429);
            assert_eq!(o.post_gap(0, 1), Duration::from_secs(1));
            assert_eq!(o.request(0).duration(), Duration::from_secs(1));
        },
        ..scenario("s16_retry_after")
    }
}

/// The idle timeout: far above any scheduling delay of a real runtime, under the
/// 30 s bound on a request ([`PATIENCE`](crate::scenario::PATIENCE)) with the slow
/// stream's two of them.
const IDLE: Duration = Duration::from_secs(10);

// 18. Idle timeout. The server sends headers then stalls: exactly stream_idle_timeout
//     later the connection is dropped and, after the announced backoff, the attempt is
//     retried; SSE comment lines every half-timeout keep a slow stream alive.
fn s18_idle_timeout() -> Scenario {
    Scenario {
        configure: |c| {
            c.stream_idle_timeout = IDLE;
            c.stream_max_retries = 1;
        },
        script: |s| {
            // Headers, then nothing: the connection stays open.
            s.push_http(Reply::with_steps(Vec::new()).keep_open());
            s.push_http(Reply::model());
            // A slow stream: a comment every half-timeout, four times, then the answer.
            let mut steps = Vec::new();
            for _ in 0..4 {
                steps.push(Step::Keepalive);
                steps.push(Step::Wait(IDLE / 2));
            }
            steps.push(Step::Model);
            s.push_http(Reply::with_steps(steps));
        },
        plan: vec![Act::NewTurn, Act::say("hello"), Act::say("slowly")],
        check: |o| {
            let stalled = o.request(0);
            assert_eq!(
                stalled.shape(),
                ["reconnecting", "created", "delta", "item_done", "completed"]
            );
            assert_eq!(stalled.reconnects(), [(1, 1)]);
            let reason = stalled.first_reconnect_reason().unwrap_or_default();
            assert!(reason.contains("idle timeout"), "{reason}");
            let rec = &o.recording;
            let first = &rec.http[0];
            let close = rec.closes.iter().find(|c| c.conn == first.conn);
            let close = close.expect("the stalled connection was dropped");
            assert_eq!(close.at - first.at, IDLE, "dropped at the deadline");
            assert_eq!(o.post_gap(0, 1), IDLE + first_backoff(stalled));

            let slow = o.request(1);
            assert_eq!(
                slow.shape(),
                ["created", "delta", "item_done", "completed"],
                "the comments kept the slow stream alive"
            );
            assert_eq!(rec.posts(), 3);
            assert_eq!(slow.duration(), IDLE * 2);
        },
        ..scenario("s18_idle_timeout")
    }
}

// 11 (WebSocket). The server accepts the message and then stalls: exactly
// stream_idle_timeout later the socket is dropped and, after the announced backoff,
// the attempt is retried on a new connection; pings every half-timeout keep a slow
// response alive.
fn x_websocket_idle_timeout_and_pings() -> Scenario {
    Scenario {
        configure: |c| {
            c.websockets = true;
            c.ws_protocol = WsProtocol::V2;
            c.preconnect = Some(false);
            c.stream_idle_timeout = IDLE;
            c.stream_max_retries = 1;
        },
        script: |s| {
            s.push_ws(Reply::with_steps(Vec::new()).keep_open());
            s.push_ws(Reply::model());
            let mut steps = Vec::new();
            for _ in 0..4 {
                steps.push(Step::Keepalive);
                steps.push(Step::Wait(IDLE / 2));
            }
            steps.push(Step::Model);
            s.push_ws(Reply::with_steps(steps));
        },
        plan: vec![Act::NewTurn, Act::say("hello"), Act::say("slowly")],
        check: |o| {
            let stalled = o.request(0);
            assert_eq!(
                stalled.shape(),
                ["reconnecting", "created", "delta", "item_done", "completed"]
            );
            let reason = stalled.first_reconnect_reason().unwrap_or_default();
            assert!(reason.contains("idle timeout"), "{reason}");
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 2, "the stalled socket was replaced");
            let first = &rec.ws_messages[0];
            let close = rec.closes.iter().find(|c| c.conn == rec.handshakes[0].conn);
            let close = close.expect("the stalled socket was dropped");
            assert_eq!(close.at - first.at, IDLE, "dropped at the deadline");
            assert_eq!(
                rec.ws_messages[1].at - first.at,
                IDLE + first_backoff(stalled)
            );
            assert_eq!(rec.ws_messages[1].kind, WsKind::Create);

            let slow = o.request(1);
            assert_eq!(
                slow.shape(),
                ["created", "delta", "item_done", "completed"],
                "the pings kept the slow response alive"
            );
            assert_eq!(rec.ws_attempts(), 2);
            assert_eq!(rec.ws_messages[2].kind, WsKind::Chained);
            assert_eq!(slow.duration(), IDLE * 2);
        },
        ..scenario("x_websocket_idle_timeout_and_pings")
    }
}

// 9.3. A refused handshake's Retry-After is the delay before the next attempt: the
// second handshake comes exactly 1 s after the first.
fn x_handshake_retry_after() -> Scenario {
    Scenario {
        configure: |c| {
            c.websockets = true;
            c.ws_protocol = WsProtocol::V2;
            c.preconnect = Some(false);
            c.stream_max_retries = 1;
        },
        script: |s| {
            s.push_handshake(Handshake::Refuse {
                status: 503,
                headers: vec![("retry-after".into(), "1".into())],
                body: String::new(),
            });
        },
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                ["reconnecting", "created", "delta", "item_done", "completed"]
            );
            assert!(matches!(
                &outcome.items[0],
                Ok(ResponseEvent::Reconnecting { attempt: 1, max: 1, delay, .. })
                    if *delay == Duration::from_secs(1)
            ));
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 2);
            let gap = rec.handshakes[1].at - rec.handshakes[0].at;
            assert_eq!(gap, Duration::from_secs(1));
        },
        ..scenario("x_handshake_retry_after")
    }
}

/// The specification's default `connect_timeout`.
const CONNECT: Duration = Duration::from_secs(15);

// 11 (beyond). A WebSocket handshake that takes longer than connect_timeout is a
// retryable transport error: exactly connect_timeout after it started the socket is
// abandoned, and the retry opens a new one after the announced backoff.
fn x_websocket_connect_timeout() -> Scenario {
    Scenario {
        configure: |c| {
            c.websockets = true;
            c.ws_protocol = WsProtocol::V2;
            c.preconnect = Some(false);
            c.connect_timeout = CONNECT;
            c.stream_max_retries = 1;
        },
        script: |s| s.push_handshake(Handshake::Hang),
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            let outcome = o.request(0);
            assert_eq!(
                outcome.shape(),
                ["reconnecting", "created", "delta", "item_done", "completed"]
            );
            let rec = &o.recording;
            assert_eq!(rec.ws_attempts(), 2);
            let first = &rec.handshakes[0];
            let close = rec.closes.iter().find(|c| c.conn == first.conn);
            let close = close.expect("the hanging handshake was abandoned");
            assert_eq!(close.at - first.at, CONNECT);
            assert_eq!(
                rec.handshakes[1].at - first.at,
                CONNECT + first_backoff(outcome)
            );
            assert_eq!(rec.ws_messages.len(), 1);
        },
        ..scenario("x_websocket_connect_timeout")
    }
}

// 11 (beyond). A POST whose response head never comes times out exactly
// connect_timeout after it was sent and is retried under request_max_retries.
fn x_http_head_timeout() -> Scenario {
    Scenario {
        configure: |c| {
            c.connect_timeout = CONNECT;
            c.request_max_retries = 1;
        },
        script: |s| s.push_http(Reply::hang()),
        plan: vec![Act::NewTurn, Act::say("hello")],
        check: |o| {
            assert_completed(o, 0);
            let rec = &o.recording;
            assert_eq!(rec.posts(), 2);
            assert_eq!(rec.http[0].status, 0, "never answered");
            let close = rec.closes.iter().find(|c| c.conn == rec.http[0].conn);
            let close = close.expect("the hanging request was abandoned");
            assert_eq!(close.at - rec.http[0].at, CONNECT);
            assert!(o.post_gap(0, 1) >= CONNECT, "{:?}", o.post_gap(0, 1));
        },
        ..scenario("x_http_head_timeout")
    }
}
