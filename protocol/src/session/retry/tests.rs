//! The retry decision's table: one row per rule of PROTOCOL.md sections 8–10 and 12
//! (and the keep-alive resend of 3.3, the chain resend of 6), each named after it.

use core::time::Duration;

use super::*;
use crate::connect::{ConnectFailure, classify_connect_failure};
use crate::error::{classify_failed, classify_http, classify_transport};
use crate::event::ErrorPayload;
use crate::time::UnixTime;

const CLOSED_EARLY: &str = "stream closed before response.completed";

/// A failure with nothing spent or used, on a session that can refresh and still
/// uses WebSocket.
fn failure(classified: Classified, cause: Cause, layer: Layer, transport: Transport) -> Failure {
    Failure {
        classified,
        cause,
        layer,
        transport,
        request: RequestFacts::default(),
        session: SessionFacts {
            unanswered_before: 0,
            websocket_usable: true,
            auth_refreshable: true,
        },
    }
}

fn with(mut failure: Failure, edit: impl FnOnce(&mut Failure)) -> Failure {
    edit(&mut failure);
    failure
}

/// A classified HTTP error response (the real classifier, so the rows read what the
/// session would see).
fn status(code: u16, headers: &[(&'static str, &'static str)], body: &str) -> Classified {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, http::HeaderValue::from_static(value));
    }
    classify_http(code, &map, body.as_bytes(), UnixTime::EPOCH, 8 << 10)
}

fn proxy_refused(status: u16) -> Classified {
    classify_connect_failure(ConnectFailure::ProxyRefused {
        proxy: "http://proxy.test:3128".to_owned(),
        status,
    })
}

fn failed(code: &str, message: &str) -> Classified {
    classify_failed(Some(&ErrorPayload {
        code: Some(code.to_owned()),
        message: Some(message.to_owned()),
        ..ErrorPayload::default()
    }))
}

fn ws_lost() -> Failure {
    let closed = classify_transport(CLOSED_EARLY);
    failure(closed, Cause::Lost, Layer::Stream, Transport::WebSocket)
}

fn http_lost(layer: Layer) -> Failure {
    let reset = classify_transport("connection reset");
    failure(reset, Cause::Lost, layer, Transport::Http)
}

fn connect_refused(layer: Layer) -> Failure {
    let refused = classify_transport("connection refused");
    failure(refused, Cause::NoAnswer, layer, Transport::WebSocket)
}

fn http_status(code: u16, headers: &[(&'static str, &'static str)], body: &str) -> Failure {
    let classified = status(code, headers, body);
    failure(
        classified,
        Cause::Status(code),
        Layer::Establish,
        Transport::Http,
    )
}

fn handshake_refused(code: u16, body: &str) -> Failure {
    let classified = status(code, &[], body);
    failure(
        classified,
        Cause::Status(code),
        Layer::Handshake,
        Transport::WebSocket,
    )
}

fn chain_lost() -> Failure {
    let classified = error::classify_chain_lost(None);
    failure(
        classified,
        Cause::ChainLost,
        Layer::Stream,
        Transport::WebSocket,
    )
}

fn connection_limit_frame() -> Failure {
    let classified = classify_transport("WebSocket connection limit reached");
    failure(
        classified,
        Cause::ConnectionLimit,
        Layer::Stream,
        Transport::WebSocket,
    )
}

fn unauthorized() -> Failure {
    http_status(401, &[], r#"{"error":{"message":"bad token"}}"#)
}

fn retry(layer: RetryLayer, retry: u32, delay: Delay, error: ResponseError) -> Decision {
    Decision::Retry {
        layer,
        retry,
        delay,
        error,
    }
}

fn backoff(exponent: u32) -> Delay {
    Delay::Backoff { exponent }
}

fn stream_error(message: &str) -> ResponseError {
    ResponseError::Stream {
        message: message.to_owned(),
    }
}

fn unauthorized_error(message: &str) -> ResponseError {
    ResponseError::Unauthorized {
        message: message.to_owned(),
    }
}

/// One rule: the failure, the configuration, the decision, and the session's count of
/// unanswered WebSocket connects afterwards.
struct Row {
    rule: &'static str,
    failure: Failure,
    config: Config,
    decision: Decision,
    unanswered_after: u32,
}

fn row(rule: &'static str, failure: Failure, decision: Decision) -> Row {
    Row {
        rule,
        failure,
        config: Config::default(),
        decision,
        unanswered_after: 0,
    }
}

impl Row {
    fn config(mut self, edit: impl FnOnce(&mut Config)) -> Row {
        edit(&mut self.config);
        self
    }

    fn unanswered_after(mut self, count: u32) -> Row {
        self.unanswered_after = count;
        self
    }
}

fn rows() -> Vec<Row> {
    let closed = stream_error(CLOSED_EARLY);
    let reset = stream_error("connection reset");
    let refused = stream_error("connection refused");
    let upgrade = Decision::FallBack(Fallback::UpgradeRequired);
    let usage_limit = r#"{"error":{"type":"usage_limit_reached","message":"limit"}}"#;
    vec![
        // --- 3.3 keep-alive --------------------------------------------------------
        row(
            "3.3 pooled connection failed before any response byte: free resend, no budget",
            with(http_lost(Layer::Establish), |f| {
                f.request.reused = Some(Reused::PooledHttp)
            }),
            Decision::FreeRetry(FreeRetry::StalePooled),
        ),
        row(
            "3.3 a second stale pooled connection in the request: an ordinary 9.1 retry",
            with(http_lost(Layer::Establish), |f| {
                f.request.reused = Some(Reused::PooledHttp);
                f.request.used.stale_pooled = true;
            }),
            retry(RetryLayer::Request, 1, backoff(0), reset.clone()),
        ),
        row(
            "3.3 a pooled connection failing after the response head: an ordinary stream failure",
            http_lost(Layer::Stream),
            retry(RetryLayer::Stream, 1, backoff(0), reset.clone()),
        ),
        // --- 6 incremental requests ------------------------------------------------
        row(
            "6 previous_response_not_found: free full create once",
            chain_lost(),
            Decision::FreeRetry(FreeRetry::ChainLost),
        ),
        row(
            "6 previous_response_not_found a second time: an ordinary retryable error",
            with(chain_lost(), |f| f.request.used.chain_resend = true),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                chain_lost().classified.error,
            ),
        ),
        row(
            "6 previous_response_not_found after events reached the caller: an ordinary retryable error",
            with(chain_lost(), |f| f.request.caller_events = true),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                chain_lost().classified.error,
            ),
        ),
        // --- 8.1 the socket slot, 8.2 prewarm --------------------------------------
        row(
            "8.1 stale reused socket: free retry, no budget",
            with(ws_lost(), |f| f.request.reused = Some(Reused::SlotSocket)),
            Decision::FreeRetry(FreeRetry::StaleSocket),
        ),
        row(
            "8.1 stale reused socket once more in the request: an ordinary stream retry",
            with(ws_lost(), |f| {
                f.request.reused = Some(Reused::SlotSocket);
                f.request.used.stale_socket = true;
                f.request.stream_retries = 2;
            }),
            retry(RetryLayer::Stream, 3, backoff(2), closed.clone()),
        ),
        row(
            "8.1 a reused socket whose failure is not retryable earns no free retry",
            with(ws_lost(), |f| {
                f.request.reused = Some(Reused::SlotSocket);
                f.classified.retryable = false;
            }),
            Decision::Fail(closed.clone()),
        ),
        row(
            "8.1 a preconnect failure costs no retry budget",
            with(ws_lost(), |f| f.layer = Layer::Slot),
            Decision::Absorb,
        ),
        row(
            "8.1 a 426 on the preconnect falls back at once",
            with(handshake_refused(426, ""), |f| f.layer = Layer::Slot),
            upgrade.clone(),
        ),
        row(
            "8.2 a prewarm failure costs nothing",
            failure(
                classify_failed(None),
                Cause::Other,
                Layer::Slot,
                Transport::WebSocket,
            ),
            Decision::Absorb,
        ),
        // --- 9.1 establishing an HTTP response -------------------------------------
        row(
            "9.1 connection error establishing a POST: request-layer retry after backoff",
            http_lost(Layer::Establish),
            retry(RetryLayer::Request, 1, backoff(0), reset.clone()),
        ),
        row(
            "9.1 5xx after two retries: the third waits base·2^2",
            with(http_status(503, &[], "busy"), |f| {
                f.request.http_retries = 2
            }),
            retry(
                RetryLayer::Request,
                3,
                backoff(2),
                status(503, &[], "busy").error,
            ),
        ),
        row(
            "9.1 429 with Retry-After waits the header's delay",
            http_status(429, &[("retry-after", "3")], "{}"),
            retry(
                RetryLayer::Request,
                1,
                Delay::Requested(Duration::from_secs(3)),
                status(429, &[("retry-after", "3")], "{}").error,
            ),
        ),
        row(
            "9.1 a requested delay above max_retry_after ends the retries with that delay",
            http_status(429, &[("retry-after-ms", "500000")], "{}"),
            Decision::Fail(ResponseError::RateLimited {
                retry_after: Some(Duration::from_secs(500)),
                message: None,
            }),
        ),
        row(
            "9.1 other 4xx is never retried",
            http_status(404, &[], "no such route"),
            Decision::Fail(status(404, &[], "no such route").error),
        ),
        row(
            "9.1 x-should-retry: false stops a 5xx",
            http_status(500, &[("x-should-retry", "false")], "oops"),
            Decision::Fail(status(500, &[("x-should-retry", "false")], "oops").error),
        ),
        row(
            "9.1 request_max_retries exhausted: the request ends with the last error",
            with(http_status(500, &[], "oops"), |f| {
                f.request.http_retries = 4
            }),
            Decision::Fail(status(500, &[], "oops").error),
        ),
        // --- 9.2 unauthorized ------------------------------------------------------
        row(
            "9.2 401: refresh and retry at once, no budget",
            unauthorized(),
            Decision::Refresh { void_retry: None },
        ),
        row(
            "9.2 a second 401 in the request ends it Unauthorized",
            with(unauthorized(), |f| f.request.used.auth_refresh = true),
            Decision::Fail(unauthorized_error(
                "bad token (again after refreshing credentials)",
            )),
        ),
        row(
            "9.2 auth that cannot refresh fails Unauthorized at once",
            with(unauthorized(), |f| f.session.auth_refreshable = false),
            Decision::Fail(unauthorized_error(
                "bad token (the credentials cannot be refreshed)",
            )),
        ),
        row(
            "9.2 401 after events reached the caller: a stream retry voids them before the refresh",
            with(unauthorized(), |f| {
                f.layer = Layer::Stream;
                f.transport = Transport::WebSocket;
                f.request.caller_events = true;
                f.request.stream_retries = 1;
            }),
            Decision::Refresh {
                void_retry: Some(2),
            },
        ),
        row(
            "9.2 401 after events with the stream budget spent: fail",
            with(unauthorized(), |f| {
                f.request.caller_events = true;
                f.request.stream_retries = 5;
            }),
            Decision::Fail(unauthorized_error("bad token")),
        ),
        // --- 9.3 streams -----------------------------------------------------------
        row(
            "9.3 stream closed early: Reconnecting after backoff base·2^(retries-1)",
            ws_lost(),
            retry(RetryLayer::Stream, 1, backoff(0), closed.clone()),
        ),
        row(
            "9.3 rate_limit_exceeded response.failed waits the message's delay",
            failure(
                failed("rate_limit_exceeded", "Please try again in 1.5s"),
                Cause::Other,
                Layer::Stream,
                Transport::Http,
            ),
            retry(
                RetryLayer::Stream,
                1,
                Delay::Requested(Duration::from_millis(1500)),
                failed("rate_limit_exceeded", "Please try again in 1.5s").error,
            ),
        ),
        row(
            "9.3 a refused handshake is retried in the stream layer whatever its status",
            handshake_refused(404, "not here"),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                status(404, &[], "not here").error,
            ),
        ),
        row(
            "9.3 a refused handshake with a terminal error of section 12 is not retried",
            handshake_refused(400, r#"{"error":{"message":"bad"}}"#),
            Decision::Fail(ResponseError::InvalidRequest {
                message: "bad".to_owned(),
            }),
        ),
        row(
            "9.3 retry_after_partial_output off and output reached caller: fail",
            with(ws_lost(), |f| f.request.output_seen = true),
            Decision::Fail(closed.clone()),
        )
        .config(|c| c.retry_after_partial_output = false),
        row(
            "9.3 retry_after_partial_output on and output reached caller: retried",
            with(ws_lost(), |f| f.request.output_seen = true),
            retry(RetryLayer::Stream, 1, backoff(0), closed.clone()),
        ),
        row(
            "9.3 stream budget exhausted on HTTP: the request ends with the last error",
            with(http_lost(Layer::Stream), |f| f.request.stream_retries = 5),
            Decision::Fail(reset.clone()),
        ),
        row(
            "9.3 websocket_connection_limit_reached: free reconnect once",
            connection_limit_frame(),
            Decision::FreeRetry(FreeRetry::ConnectionLimit),
        ),
        row(
            "9.3 websocket_connection_limit_reached again: an ordinary stream failure",
            with(connection_limit_frame(), |f| {
                f.request.used.connection_limit = true
            }),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                stream_error("WebSocket connection limit reached again"),
            ),
        ),
        row(
            "9.3 websocket_connection_limit_reached mid-response: an ordinary stream failure",
            with(connection_limit_frame(), |f| f.request.caller_events = true),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                stream_error("WebSocket connection limit reached mid-response"),
            ),
        ),
        // --- 10 fallback -----------------------------------------------------------
        row(
            "10.1 426 on the turn's handshake: fall back at once, no retry consumed",
            handshake_refused(426, ""),
            upgrade.clone(),
        ),
        row(
            "10.2 stream retries exhausted on WebSocket: fall back",
            with(ws_lost(), |f| f.request.stream_retries = 5),
            Decision::FallBack(Fallback::StreamRetriesExhausted(closed.clone())),
        ),
        row(
            "10.3 unreachable after N connects: fall back",
            with(connect_refused(Layer::Handshake), |f| {
                f.session.unanswered_before = 1
            }),
            Decision::FallBack(Fallback::Unreachable { connects: 2 }),
        )
        .unanswered_after(2),
        row(
            "10.3 fewer unanswered connects than the limit: an ordinary stream retry",
            connect_refused(Layer::Handshake),
            retry(RetryLayer::Stream, 1, backoff(0), refused.clone()),
        )
        .unanswered_after(1),
        row(
            "10.3 the slot's unanswered connects count too",
            with(connect_refused(Layer::Slot), |f| {
                f.session.unanswered_before = 1
            }),
            Decision::FallBack(Fallback::Unreachable { connects: 2 }),
        )
        .unanswered_after(2),
        row(
            "10.3 ws_unreachable_fallback_after = 0 turns the rule off",
            with(connect_refused(Layer::Handshake), |f| {
                f.session.unanswered_before = 7
            }),
            retry(RetryLayer::Stream, 1, backoff(0), refused.clone()),
        )
        .config(|c| c.ws_unreachable_fallback_after = 0)
        .unanswered_after(8),
        row(
            "10.3 no fallback once WebSocket is no longer usable",
            with(connect_refused(Layer::Handshake), |f| {
                f.session.unanswered_before = 1;
                f.session.websocket_usable = false;
            }),
            retry(RetryLayer::Stream, 1, backoff(0), refused.clone()),
        )
        .unanswered_after(2),
        row(
            "10.3 a tunnel refusal that is not retried does not count and ends the request",
            with(connect_refused(Layer::Handshake), |f| {
                f.session.unanswered_before = 1;
                f.classified = proxy_refused(407);
            }),
            Decision::Fail(proxy_refused(407).error),
        )
        .unanswered_after(1),
        // --- 12 errors -------------------------------------------------------------
        row(
            "12 usage_limit_reached: fail, not retried",
            http_status(429, &[], usage_limit),
            Decision::Fail(status(429, &[], usage_limit).error),
        ),
        row(
            "12 context_length_exceeded: fail, not retried",
            failure(
                failed("context_length_exceeded", "too long"),
                Cause::Other,
                Layer::Stream,
                Transport::WebSocket,
            ),
            Decision::Fail(ResponseError::ContextWindowExceeded),
        ),
        row(
            "12 server_is_overloaded: fail, not retried",
            failure(
                failed("server_is_overloaded", "busy"),
                Cause::Other,
                Layer::Stream,
                Transport::Http,
            ),
            Decision::Fail(ResponseError::ServerOverloaded),
        ),
        row(
            "12 any other response.failed: retryable",
            failure(
                classify_failed(None),
                Cause::Other,
                Layer::Stream,
                Transport::Http,
            ),
            retry(
                RetryLayer::Stream,
                1,
                backoff(0),
                classify_failed(None).error,
            ),
        ),
        row(
            "12 a crossed limit is terminal",
            failure(
                Classified::new(
                    ResponseError::LimitExceeded {
                        what: "SSE line".to_owned(),
                        limit: 16,
                    },
                    false,
                    None,
                ),
                Cause::Other,
                Layer::Stream,
                Transport::Http,
            ),
            Decision::Fail(ResponseError::LimitExceeded {
                what: "SSE line".to_owned(),
                limit: 16,
            }),
        ),
    ]
}

#[test]
fn every_rule_of_sections_8_to_10_and_12_decides_as_protocol_md_says() {
    let rows = rows();
    let mut names: Vec<&str> = rows.iter().map(|r| r.rule).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are unique");
    for row in rows {
        assert_eq!(
            decide(&row.failure, &row.config),
            row.decision,
            "{}",
            row.rule
        );
        assert_eq!(
            unanswered_connects(&row.failure),
            row.unanswered_after,
            "{}: unanswered connects afterwards",
            row.rule
        );
    }
}

#[test]
fn fallback_reasons_read_as_before() {
    assert_eq!(
        Fallback::UpgradeRequired.to_string(),
        "WebSocket upgrade refused with 426"
    );
    assert_eq!(
        Fallback::Unreachable { connects: 2 }.to_string(),
        "2 WebSocket connects in a row got no HTTP answer"
    );
    assert_eq!(
        Fallback::StreamRetriesExhausted(stream_error("x")).to_string(),
        "stream retries exhausted on WebSocket: stream error: x"
    );
}
