//! How the session ends its connections (the reason on `Output::Close`) and the free
//! resend after a stale keep-alive connection (PROTOCOL.md section 3.3), driven
//! input by input against a bare `Session`, one table row per situation.

use bytes::Bytes;
use core::time::Duration;
use turnwire_protocol::Credentials;
use turnwire_protocol::config::Config;
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    CloseReason, ConnId, Input, Output, RequestId, RequestInput, RequestSpec, Session,
    SessionParams, TurnId, TurnOptions,
};
use turnwire_protocol::time::{Instant, Now, UnixTime};
use turnwire_testkit::sim::sim_config;
use turnwire_testkit::wire::{self, ev, user};

/// A bare session and everything it output so far.
struct Harness {
    session: Session,
    now: Instant,
    outputs: Vec<Output>,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let session = Session::new(SessionParams {
            config,
            credentials: Credentials::bearer("sk-test"),
            auth_refreshable: false,
            conversation_id: "conv".into(),
            seed: 7,
        })
        .expect("valid configuration");
        Harness {
            session,
            now: Instant::ZERO,
            outputs: Vec::new(),
        }
    }

    fn input(&mut self, input: Input) {
        let now = Now::new(self.now, UnixTime::EPOCH);
        self.session
            .handle_input(now, input)
            .expect("input accepted");
        while let Some(output) = self.session.poll_output() {
            self.outputs.push(output);
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.input(Input::Timeout);
    }

    fn start(&mut self) -> (TurnId, RequestId) {
        let now = Now::new(self.now, UnixTime::EPOCH);
        let turn = self
            .session
            .start_turn_with(now, TurnOptions::default())
            .unwrap();
        let spec = RequestSpec {
            fields: RequestFields::new("m"),
            input: RequestInput::Append(wire::items([user("hi")])),
        };
        let request = self.session.start_request_with(now, turn, spec).unwrap();
        while let Some(output) = self.session.poll_output() {
            self.outputs.push(output);
        }
        (turn, request)
    }

    /// The connection of the latest `OpenHttp` or `OpenWs`.
    fn last_conn(&self) -> ConnId {
        self.outputs
            .iter()
            .rev()
            .find_map(|o| match o {
                Output::OpenHttp(open) => Some(open.conn),
                Output::OpenWs(open) => Some(open.conn),
                _ => None,
            })
            .expect("a connection was opened")
    }

    /// Every `reuse` flag of the `OpenHttp` outputs, in order.
    fn http_reuse_flags(&self) -> Vec<bool> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::OpenHttp(open) => Some(open.reuse),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> Vec<(ConnId, CloseReason)> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Close { conn, reason } => Some((*conn, *reason)),
                _ => None,
            })
            .collect()
    }

    fn events(&self) -> Vec<&ResponseEvent> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event { event, .. } => Some(event),
                _ => None,
            })
            .collect()
    }

    fn http_ok(&mut self, conn: ConnId) {
        self.input(Input::HttpResponse {
            conn,
            status: 200,
            headers: http::HeaderMap::new(),
        });
    }

    fn sse(&mut self, conn: ConnId, events: &[serde_json::Value]) {
        let mut body = String::new();
        for event in events {
            body.push_str(&format!("data: {event}\n\n"));
        }
        self.input(Input::HttpBody {
            conn,
            data: Bytes::from(body),
        });
    }
}

fn http_config() -> Config {
    Config {
        stream_max_retries: 1,
        ..sim_config()
    }
}

fn ws_config() -> Config {
    Config {
        websockets: true,
        preconnect: Some(false),
        ..sim_config()
    }
}

/// One situation: what the session is fed, and the close reasons it must give, in order.
type Script = fn(&mut Harness);

#[test]
fn the_session_names_why_it_closes_each_connection() {
    use CloseReason::{Abandoned, Finished};
    let table: Vec<(&str, Config, Script, Vec<CloseReason>)> = vec![
        (
            "HTTP response reaches its terminal event",
            http_config(),
            |h| {
                let (..) = h.start();
                let conn = h.last_conn();
                h.http_ok(conn);
                h.sse(conn, &[ev::created("r1"), ev::completed("r1")]);
            },
            vec![Finished],
        ),
        (
            "HTTP response incomplete is still a clean end",
            http_config(),
            |h| {
                h.start();
                let conn = h.last_conn();
                h.http_ok(conn);
                h.sse(conn, &[ev::incomplete("r1", "max_output_tokens")]);
            },
            vec![Finished],
        ),
        (
            "HTTP request cancelled mid-stream",
            http_config(),
            |h| {
                let (_, request) = h.start();
                let conn = h.last_conn();
                h.http_ok(conn);
                h.sse(conn, &[ev::created("r1")]);
                h.input(Input::CancelRequest { request });
            },
            vec![Abandoned],
        ),
        (
            "HTTP response.failed",
            http_config(),
            |h| {
                h.start();
                let conn = h.last_conn();
                h.http_ok(conn);
                h.sse(conn, &[ev::failed("r1", "server_error", "boom")]);
            },
            vec![Abandoned],
        ),
        (
            "HTTP idle timeout",
            http_config(),
            |h| {
                h.start();
                let conn = h.last_conn();
                h.http_ok(conn);
                h.advance(Duration::from_secs(301));
            },
            vec![Abandoned],
        ),
        (
            "HTTP head never arrives",
            http_config(),
            |h| {
                h.start();
                h.advance(Duration::from_secs(16));
            },
            vec![Abandoned],
        ),
        (
            "WebSocket healthy at the end of its turn goes to the slot, open",
            ws_config(),
            |h| {
                let (turn, _) = h.start();
                let conn = h.last_conn();
                h.input(Input::WsOpened {
                    conn,
                    headers: http::HeaderMap::new(),
                });
                for event in ev::response("r1", &[]) {
                    h.input(Input::WsText {
                        conn,
                        text: event.to_string(),
                    });
                }
                h.input(Input::EndTurn { turn });
            },
            vec![],
        ),
        (
            "WebSocket request cancelled mid-response",
            ws_config(),
            |h| {
                let (_, request) = h.start();
                let conn = h.last_conn();
                h.input(Input::WsOpened {
                    conn,
                    headers: http::HeaderMap::new(),
                });
                h.input(Input::CancelRequest { request });
            },
            vec![Abandoned],
        ),
        (
            "preconnected socket never adopted goes stale",
            Config {
                preconnect: Some(true),
                ..ws_config()
            },
            |h| {
                h.input(Input::Preconnect);
                let conn = h.last_conn();
                h.input(Input::WsOpened {
                    conn,
                    headers: http::HeaderMap::new(),
                });
                h.advance(Duration::from_secs(56 * 60));
            },
            vec![Finished],
        ),
        (
            "preconnect handshake times out",
            Config {
                preconnect: Some(true),
                ..ws_config()
            },
            |h| {
                h.input(Input::Preconnect);
                h.advance(Duration::from_secs(16));
            },
            vec![Abandoned],
        ),
    ];
    for (name, config, script, expected) in table {
        let mut harness = Harness::new(config);
        script(&mut harness);
        let reasons: Vec<CloseReason> = harness.closes().into_iter().map(|(_, r)| r).collect();
        assert_eq!(reasons, expected, "{name}");
    }
}

#[test]
fn a_stale_pooled_connection_is_resent_at_once_on_a_new_connection_once() {
    let mut h = Harness::new(http_config());
    h.start();
    let first = h.last_conn();
    h.input(Input::HttpStale {
        conn: first,
        message: "connection reset".into(),
    });
    // Sent again at once: a new connection that must not come from the pool.
    let second = h.last_conn();
    assert_ne!(first, second);
    assert_eq!(h.http_reuse_flags(), [true, false]);
    assert_eq!(h.session.poll_timeout(), Some(Instant::from_millis(15_000)));
    // A second stale report is an ordinary failure: retried with backoff in the
    // request layer when budget remains, and here (request_max_retries = 0) the end.
    h.input(Input::HttpStale {
        conn: second,
        message: "connection reset".into(),
    });
    assert_eq!(h.http_reuse_flags(), [true, false]);
    assert!(
        h.outputs.iter().any(|o| matches!(o, Output::Failed { .. })),
        "{:?}",
        h.outputs
    );
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, ResponseEvent::Reconnecting { .. }))
    );
}

#[test]
fn the_free_resend_spends_no_budget_and_shows_no_reconnecting() {
    let mut h = Harness::new(http_config());
    h.start();
    let first = h.last_conn();
    h.input(Input::HttpStale {
        conn: first,
        message: "connection closed before the response".into(),
    });
    let second = h.last_conn();
    h.http_ok(second);
    h.sse(second, &[ev::created("r1")]);
    // The stream is cut after it started: the ordinary stream retry, 1 of 1, so the
    // budget was untouched by the resend.
    h.input(Input::TransportError {
        conn: second,
        message: "reset".into(),
    });
    let reconnects: Vec<(u32, u32)> = h
        .events()
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::Reconnecting { attempt, max, .. } => Some((*attempt, *max)),
            _ => None,
        })
        .collect();
    assert_eq!(reconnects, [(1, 1)]);
}

#[test]
fn a_stale_report_after_the_head_is_an_ordinary_stream_failure() {
    let mut h = Harness::new(http_config());
    h.start();
    let conn = h.last_conn();
    h.http_ok(conn);
    h.input(Input::HttpStale {
        conn,
        message: "reset".into(),
    });
    assert_eq!(h.http_reuse_flags(), [true], "no resend at once");
    assert!(
        h.events()
            .iter()
            .any(|e| matches!(e, ResponseEvent::Reconnecting { attempt: 1, .. }))
    );
}
