//! PROTOCOL.md section 14, scenario 28 (rev 2, section 3.3): HTTP keep-alive over
//! real loopback sockets. Every check counts the TCP connections the server accepted
//! and looks at which connection carried each recorded `POST`.

use std::time::Duration;

use turnwire_testkit::sim::{Reply, Step};

use super::{assert_completed, scenario};
use crate::scenario::{Act, Scenario};

/// The scenario-28 checks, in order.
pub(super) fn all() -> Vec<Scenario> {
    vec![
        s28_http_keep_alive(),
        s28_http_keep_alive_after_the_server_closed_it(),
        s28_http_connection_close_is_never_pooled(),
        s28_http_body_left_open_is_not_pooled(),
        s28_http_long_tail_after_the_terminal_event_is_not_pooled(),
    ]
}

// PROTOCOL.md 14, scenario 28 (rev 2), first part: three requests over HTTP in one
// session travel on one TCP connection.
fn s28_http_keep_alive() -> Scenario {
    Scenario {
        plan: vec![
            Act::NewTurn,
            Act::say("a"),
            Act::say("b"),
            Act::NewTurn,
            Act::say("c"),
        ],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            let rec = &o.recording;
            assert_eq!(rec.posts(), 3);
            assert_eq!(
                o.accepted_connections, 1,
                "one TCP connection for three requests"
            );
            let conns: Vec<_> = rec.http.iter().map(|p| p.conn).collect();
            assert_eq!(conns, [conns[0]; 3], "every POST on the same connection");
        },
        ..scenario("s28_http_keep_alive")
    }
}

// Scenario 28, second part: the server closes the idle connection between requests,
// once right after a response and once as the next request arrives on it (the race a
// client cannot see coming): the next request opens a new connection with no
// `Reconnecting` and no budget spent (both retry budgets are zero here).
fn s28_http_keep_alive_after_the_server_closed_it() -> Scenario {
    Scenario {
        configure: |c| c.stream_max_retries = 0,
        // The first response's connection is closed once it ended; the second one's is
        // kept, and closed when the third request arrives on it.
        server: |o| {
            o.keep_alive.close_idle_after = vec![1];
            o.keep_alive.drop_next_request_after = vec![2];
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
                assert_eq!(o.request(i).reconnects(), [], "request {i}");
            }
            let rec = &o.recording;
            assert_eq!(
                rec.posts(),
                3,
                "the dropped request was answered once, later"
            );
            assert_eq!(o.idle_closes, 2);
            assert_eq!(o.accepted_connections, 3);
            let conns: Vec<_> = rec.http.iter().map(|p| p.conn).collect();
            assert_ne!(conns[0], conns[1]);
            assert_ne!(conns[1], conns[2]);
        },
        ..scenario("s28_http_keep_alive_after_the_server_closed_it")
    }
}

// Scenario 28, third part: a response with `Connection: close` is never pooled. The
// loopback server keeps the connection open anyway, so only the client's refusal to
// reuse it makes the second request open a new connection.
fn s28_http_connection_close_is_never_pooled() -> Scenario {
    Scenario {
        script: |s| s.push_http(Reply::model().header("connection", "close")),
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            let rec = &o.recording;
            assert_eq!(
                o.accepted_connections, 2,
                "the closing response's connection was not reused"
            );
            let conns: Vec<_> = rec.http.iter().map(|p| p.conn).collect();
            assert_ne!(conns[0], conns[1]);
            assert_eq!(conns[1], conns[2], "the next one was pooled");
        },
        ..scenario("s28_http_connection_close_is_never_pooled")
    }
}

// Section 3.3: after the terminal event the driver reads the body on to its end for a
// short bounded time only. This server never ends the first body: the client closes
// that connection once the bound passed instead of pooling it, and the next requests
// share a new one.
fn s28_http_body_left_open_is_not_pooled() -> Scenario {
    Scenario {
        script: |s| s.push_http(Reply::model().keep_open()),
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            let rec = &o.recording;
            assert_eq!(
                o.accepted_connections, 2,
                "the open body's connection was not reused"
            );
            let conns: Vec<_> = rec.http.iter().map(|p| p.conn).collect();
            assert_ne!(conns[0], conns[1]);
            assert_eq!(conns[1], conns[2], "the next one was pooled");
            let first = &rec.http[0];
            let close = rec.closes.iter().find(|c| c.conn == first.conn);
            let close = close.expect("the client closed the open body's connection");
            assert!(close.at - first.at < Duration::from_secs(10));
        },
        ..scenario("s28_http_body_left_open_is_not_pooled")
    }
}

// Section 3.3, the size bound: a while after the terminal event this server sends
// 256 KiB more before it ends the body. The client stops reading past its bound and
// closes the connection rather than pooling it.
fn s28_http_long_tail_after_the_terminal_event_is_not_pooled() -> Scenario {
    Scenario {
        script: |s| {
            let tail = format!(": {}\n\n", "x".repeat(256 * 1024));
            s.push_http(
                Reply::model()
                    .then(Step::Wait(Duration::from_millis(500)))
                    .then(Step::Raw(tail)),
            );
        },
        plan: vec![Act::NewTurn, Act::say("a"), Act::say("b"), Act::say("c")],
        check: |o| {
            for i in 0..3 {
                assert_completed(o, i);
            }
            let rec = &o.recording;
            assert_eq!(
                o.accepted_connections, 2,
                "the long tail's connection was not reused"
            );
            let conns: Vec<_> = rec.http.iter().map(|p| p.conn).collect();
            assert_ne!(conns[0], conns[1]);
            assert_eq!(conns[1], conns[2], "the next one was pooled");
        },
        ..scenario("s28_http_long_tail_after_the_terminal_event_is_not_pooled")
    }
}
