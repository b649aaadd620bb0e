//! Error classification (PROTOCOL.md section 12): one table row per line of the
//! specification's table, then the details around it (`x-should-retry`, request ids,
//! bounded bodies, server-requested delays) and a no-panic property.

// The shared helper prints its skip notice to stderr, as test helpers may.
mod support;

use core::time::Duration;

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use turnwire_protocol::error::{
    Classified, FAILED_WITHOUT_MESSAGE, classify_failed, classify_http, classify_transport,
    classify_ws_error,
};
use turnwire_protocol::event::ErrorPayload;
use turnwire_protocol::{ResponseError, UnixTime};

const MAX_BODY: usize = 8 << 10;

/// Where an error came from: the three classifiers' inputs, plus a transport failure.
#[derive(Clone, Debug)]
enum Source {
    /// A `response.failed` with this error object (or none).
    Failed(Option<ErrorPayload>),
    /// An HTTP error response.
    Http {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
    },
    /// A WebSocket `error` frame with a status.
    Ws {
        status: u16,
        error: ErrorPayload,
        headers: Vec<(&'static str, &'static str)>,
    },
    /// A connect/TLS/timeout/closed-early failure.
    Transport,
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name: http::HeaderName = name.parse().expect("test header name");
        map.append(
            name,
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

fn classify(source: &Source) -> Classified {
    match source {
        Source::Failed(error) => classify_failed(error.as_ref()),
        Source::Http {
            status,
            headers,
            body,
        } => classify_http(
            *status,
            &header_map(headers),
            body.as_bytes(),
            UnixTime::EPOCH,
            MAX_BODY,
        ),
        Source::Ws {
            status,
            error,
            headers,
        } => classify_ws_error(*status, error, &header_map(headers), UnixTime::EPOCH),
        Source::Transport => classify_transport("connection reset"),
    }
}

fn payload(code: Option<&str>, error_type: Option<&str>, message: Option<&str>) -> ErrorPayload {
    ErrorPayload {
        code: code.map(str::to_owned),
        error_type: error_type.map(str::to_owned),
        message: message.map(str::to_owned),
        ..ErrorPayload::default()
    }
}

fn failed(code: &str) -> Source {
    Source::Failed(Some(payload(Some(code), None, Some("server says so"))))
}

fn http(status: u16, body: &'static str) -> Source {
    Source::Http {
        status,
        headers: Vec::new(),
        body,
    }
}

fn ws(status: u16, code: Option<&str>, error_type: Option<&str>) -> Source {
    Source::Ws {
        status,
        error: payload(code, error_type, Some("frame message")),
        headers: Vec::new(),
    }
}

fn variant(error: &ResponseError) -> &'static str {
    match error {
        ResponseError::ContextWindowExceeded => "ContextWindowExceeded",
        ResponseError::QuotaExceeded => "QuotaExceeded",
        ResponseError::UsageNotIncluded => "UsageNotIncluded",
        ResponseError::InvalidRequest { .. } => "InvalidRequest",
        ResponseError::ServerOverloaded => "ServerOverloaded",
        ResponseError::UsageLimitReached { .. } => "UsageLimitReached",
        ResponseError::RateLimited { .. } => "RateLimited",
        ResponseError::Retryable { .. } => "Retryable",
        ResponseError::Unauthorized { .. } => "Unauthorized",
        ResponseError::Http { .. } => "Http",
        ResponseError::Stream { .. } => "Stream",
        _ => "something else",
    }
}

/// One line of the PROTOCOL.md section 12 table, with every way it can arise.
struct Row {
    condition: &'static str,
    sources: Vec<Source>,
    error: &'static str,
    retryable: bool,
}

fn section_12_table() -> Vec<Row> {
    vec![
        Row {
            condition: "code context_length_exceeded",
            sources: vec![
                failed("context_length_exceeded"),
                http(
                    400,
                    r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#,
                ),
                ws(
                    400,
                    Some("context_length_exceeded"),
                    Some("invalid_request_error"),
                ),
            ],
            error: "ContextWindowExceeded",
            retryable: false,
        },
        Row {
            condition: "code insufficient_quota",
            sources: vec![
                failed("insufficient_quota"),
                http(
                    429,
                    r#"{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}"#,
                ),
                http(
                    429,
                    r#"{"error":{"type":"insufficient_quota","message":"no quota"}}"#,
                ),
                ws(429, Some("insufficient_quota"), None),
            ],
            error: "QuotaExceeded",
            retryable: false,
        },
        Row {
            condition: "code usage_not_included",
            sources: vec![
                failed("usage_not_included"),
                http(403, r#"{"error":{"code":"usage_not_included"}}"#),
                http(429, r#"{"error":{"type":"usage_not_included"}}"#),
            ],
            error: "UsageNotIncluded",
            retryable: false,
        },
        Row {
            condition: "code invalid_prompt, or HTTP 400",
            sources: vec![
                failed("invalid_prompt"),
                http(
                    400,
                    r#"{"error":{"type":"invalid_request_error","message":"bad tool"}}"#,
                ),
                http(400, "not json at all"),
                http(400, ""),
                http(
                    422,
                    r#"{"error":{"code":"invalid_prompt","message":"flagged"}}"#,
                ),
                ws(
                    400,
                    Some("websocket_stream_limit_reached"),
                    Some("invalid_request_error"),
                ),
            ],
            error: "InvalidRequest",
            retryable: false,
        },
        Row {
            condition: "code server_is_overloaded or slow_down, or 503 with that body code",
            sources: vec![
                failed("server_is_overloaded"),
                failed("slow_down"),
                http(
                    503,
                    r#"{"error":{"code":"server_is_overloaded","message":"busy"}}"#,
                ),
                http(503, r#"{"error":{"code":"slow_down"}}"#),
                ws(503, Some("server_is_overloaded"), None),
            ],
            error: "ServerOverloaded",
            retryable: false,
        },
        Row {
            condition: "429 with body error.type = usage_limit_reached",
            sources: vec![
                http(
                    429,
                    r#"{"error":{"type":"usage_limit_reached","plan_type":"plus","resets_at":1767225600}}"#,
                ),
                ws(429, None, Some("usage_limit_reached")),
            ],
            error: "UsageLimitReached",
            retryable: false,
        },
        Row {
            condition: "other 429",
            sources: vec![
                http(429, ""),
                http(
                    429,
                    r#"{"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#,
                ),
                Source::Http {
                    status: 429,
                    headers: vec![("retry-after", "2")],
                    body: "{}",
                },
                ws(429, Some("rate_limit_exceeded"), None),
            ],
            error: "RateLimited",
            retryable: true,
        },
        Row {
            condition: "code rate_limit_exceeded (response.failed)",
            sources: vec![Source::Failed(Some(payload(
                Some("rate_limit_exceeded"),
                None,
                Some("Rate limit reached. Please try again in 1.5s."),
            )))],
            error: "Retryable",
            retryable: true,
        },
        Row {
            condition: "any other response.failed code, or none",
            sources: vec![
                failed("server_error"),
                Source::Failed(None),
                Source::Failed(Some(payload(None, None, Some("model failed")))),
                Source::Failed(Some(ErrorPayload::default())),
            ],
            error: "Retryable",
            retryable: true,
        },
        Row {
            condition: "401 (after the refresh)",
            sources: vec![
                http(
                    401,
                    r#"{"error":{"code":"invalid_api_key","message":"bad key"}}"#,
                ),
                http(401, ""),
                ws(401, None, None),
            ],
            error: "Unauthorized",
            retryable: false,
        },
        Row {
            condition: "5xx, 408, 409",
            sources: vec![
                http(500, r#"{"error":{"code":"server_error"}}"#),
                http(502, "<html>bad gateway</html>"),
                http(503, "service unavailable"),
                http(504, ""),
                http(599, ""),
                http(408, ""),
                http(409, r#"{"error":{"message":"conflict"}}"#),
                ws(500, Some("server_error"), None),
            ],
            error: "Http",
            retryable: true,
        },
        Row {
            condition: "other 4xx",
            sources: vec![
                http(403, r#"{"error":{"message":"forbidden"}}"#),
                http(404, "not found"),
                http(413, ""),
                http(422, "{}"),
                http(451, ""),
                ws(404, None, None),
            ],
            error: "Http",
            retryable: false,
        },
        Row {
            condition: "transport, timeout, stream closed early, idle timeout",
            sources: vec![Source::Transport],
            error: "Stream",
            retryable: true,
        },
    ]
}

#[test]
fn every_line_of_the_section_12_table() {
    for row in section_12_table() {
        assert!(!row.sources.is_empty(), "{}", row.condition);
        for source in &row.sources {
            let classified = classify(source);
            assert_eq!(
                variant(&classified.error),
                row.error,
                "{}: {source:?} gave {classified:?}",
                row.condition
            );
            assert_eq!(
                classified.retryable, row.retryable,
                "{}: {source:?} gave {classified:?}",
                row.condition
            );
            assert_eq!(
                classified.unauthorized,
                row.error == "Unauthorized",
                "{}: {source:?}",
                row.condition
            );
        }
    }
}

// ---- what each error carries ----

#[test]
fn invalid_request_carries_the_message_else_the_body() {
    let from_json = classify(&http(
        400,
        r#"{"error":{"message":"Unknown parameter: 'foo'."}}"#,
    ));
    assert_eq!(
        from_json.error,
        ResponseError::InvalidRequest {
            message: "Unknown parameter: 'foo'.".into()
        }
    );
    let from_text = classify(&http(400, "plain words"));
    assert_eq!(
        from_text.error,
        ResponseError::InvalidRequest {
            message: "plain words".into()
        }
    );
    let from_nothing = classify(&http(400, ""));
    assert_eq!(
        from_nothing.error,
        ResponseError::InvalidRequest {
            message: "HTTP 400".into()
        }
    );
}

#[test]
fn usage_limit_carries_the_rate_limits_of_its_own_headers() {
    let body = r#"{"error":{"type":"usage_limit_reached","message":"limit"}}"#;
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-codex-primary-used-percent",
        HeaderValue::from_static("100"),
    );
    let from_http = classify_http(429, &headers, body.as_bytes(), UnixTime::EPOCH, 8 << 10);
    let ResponseError::UsageLimitReached { rate_limits, .. } = from_http.error else {
        panic!("not a usage limit: {:?}", from_http.error);
    };
    let primary = rate_limits.and_then(|r| r.primary).expect("primary window");
    assert_eq!(primary.used_percent, 100.0);
    let frame = ErrorPayload {
        error_type: Some("usage_limit_reached".into()),
        ..ErrorPayload::default()
    };
    let from_ws = classify_ws_error(429, &frame, &headers, UnixTime::EPOCH);
    let ResponseError::UsageLimitReached { rate_limits, .. } = from_ws.error else {
        panic!("not a usage limit: {:?}", from_ws.error);
    };
    assert!(rate_limits.is_some_and(|r| r.primary.is_some()));
}

#[test]
fn usage_limit_carries_plan_and_reset_and_no_rate_limits_without_their_headers() {
    let body = r#"{"error":{"type":"usage_limit_reached","message":"limit","plan_type":"pro","resets_at":1767225600}}"#;
    let classified = classify(&http(429, body));
    assert_eq!(
        classified.error,
        ResponseError::UsageLimitReached {
            plan_type: Some("pro".into()),
            resets_at: Some(1_767_225_600),
            rate_limits: None
        }
    );
    let from_ws = classify_ws_error(
        429,
        &ErrorPayload {
            error_type: Some("usage_limit_reached".into()),
            plan_type: Some("team".into()),
            ..ErrorPayload::default()
        },
        &HeaderMap::new(),
        UnixTime::EPOCH,
    );
    assert_eq!(
        from_ws.error,
        ResponseError::UsageLimitReached {
            plan_type: Some("team".into()),
            resets_at: None,
            rate_limits: None
        }
    );
}

#[test]
fn a_fractional_or_odd_resets_at_is_read_or_dropped() {
    let read = |resets_at: &str| {
        let body =
            format!(r#"{{"error":{{"type":"usage_limit_reached","resets_at":{resets_at}}}}}"#);
        match classify_http(
            429,
            &HeaderMap::new(),
            body.as_bytes(),
            UnixTime::EPOCH,
            MAX_BODY,
        )
        .error
        {
            ResponseError::UsageLimitReached { resets_at, .. } => resets_at,
            other => panic!("not a usage limit: {other:?}"),
        }
    };
    assert_eq!(read("1767225600.9"), Some(1_767_225_600));
    assert_eq!(read("-5"), None);
    assert_eq!(read("1e300"), None);
    assert_eq!(read("\"soon\""), None);
    assert_eq!(read("null"), None);
}

#[test]
fn rate_limited_carries_the_retry_after_header() {
    let source = Source::Http {
        status: 429,
        headers: vec![("retry-after", "2")],
        body: "",
    };
    let classified = classify(&source);
    assert_eq!(
        classified.error,
        ResponseError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            message: None
        }
    );
    assert_eq!(classified.requested_delay, Some(Duration::from_secs(2)));
}

#[test]
fn rate_limited_falls_back_to_the_try_again_phrase() {
    let body = r#"{"error":{"code":"rate_limit_exceeded","message":"Please try again in 20ms."}}"#;
    let classified = classify(&http(429, body));
    assert_eq!(classified.requested_delay, Some(Duration::from_millis(20)));
    assert_eq!(
        classified.error,
        ResponseError::RateLimited {
            retry_after: Some(Duration::from_millis(20)),
            message: Some("Please try again in 20ms.".into())
        }
    );
    let with_header = Source::Http {
        status: 429,
        headers: vec![("retry-after-ms", "700")],
        body,
    };
    assert_eq!(
        classify(&with_header).requested_delay,
        Some(Duration::from_millis(700))
    );
}

#[test]
fn a_failed_rate_limit_carries_the_delay_from_its_message() {
    let message = "Rate limit reached for gpt-5 in organization org-1 on tokens per min (TPM): Limit 30000, Used 30000, Requested 900. Please try again in 1.8s.";
    let classified = classify_failed(Some(&payload(
        Some("rate_limit_exceeded"),
        None,
        Some(message),
    )));
    let delay = Some(Duration::from_millis(1800));
    assert_eq!(
        classified.error,
        ResponseError::Retryable {
            message: message.into(),
            delay
        }
    );
    assert_eq!(classified.requested_delay, delay);

    let no_phrase = classify_failed(Some(&payload(
        Some("rate_limit_exceeded"),
        None,
        Some("Limit 30000"),
    )));
    assert_eq!(no_phrase.requested_delay, None);
    assert!(no_phrase.retryable);
}

#[test]
fn a_failed_response_without_a_message_says_so() {
    let expected = ResponseError::Retryable {
        message: FAILED_WITHOUT_MESSAGE.into(),
        delay: None,
    };
    assert_eq!(classify_failed(None).error, expected);
    assert_eq!(
        classify_failed(Some(&payload(Some("server_error"), None, None))).error,
        expected
    );
    assert_eq!(
        classify_failed(Some(&payload(None, None, Some("  ")))).error,
        expected
    );
    let with_message = classify_failed(Some(&payload(
        Some("server_error"),
        None,
        Some("The model failed."),
    )));
    assert_eq!(
        with_message.error,
        ResponseError::Retryable {
            message: "The model failed.".into(),
            delay: None
        }
    );
}

#[test]
fn unauthorized_carries_the_server_message() {
    let classified = classify(&http(
        401,
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    ));
    assert_eq!(
        classified.error,
        ResponseError::Unauthorized {
            message: "Incorrect API key provided".into()
        }
    );
    assert!(classified.unauthorized && !classified.retryable);
}

#[test]
fn http_errors_carry_status_body_and_request_id() {
    let source = Source::Http {
        status: 502,
        headers: vec![("x-request-id", "req_123"), ("retry-after", "3")],
        body: "<html>bad gateway</html>",
    };
    let classified = classify(&source);
    assert_eq!(
        classified.error,
        ResponseError::Http {
            status: 502,
            body: "<html>bad gateway</html>".into(),
            request_id: Some("req_123".into()),
            retry_after: None,
        }
    );
    assert_eq!(classified.requested_delay, Some(Duration::from_secs(3)));
}

#[test]
fn a_websocket_connection_limit_is_retryable() {
    let error = payload(
        Some("websocket_connection_limit_reached"),
        Some("invalid_request_error"),
        Some("60 minutes"),
    );
    let classified = classify_ws_error(400, &error, &HeaderMap::new(), UnixTime::EPOCH);
    assert!(classified.retryable);
    assert_eq!(
        classified.error,
        ResponseError::Retryable {
            message: "60 minutes".into(),
            delay: None
        }
    );
}

#[test]
fn a_websocket_error_frame_reads_its_own_headers() {
    let headers = header_map(&[("retry-after", "5"), ("x-request-id", "req_ws")]);
    let error = payload(Some("server_error"), None, Some("oops"));
    let classified = classify_ws_error(500, &error, &headers, UnixTime::EPOCH);
    assert_eq!(classified.requested_delay, Some(Duration::from_secs(5)));
    assert_eq!(
        classified.error,
        ResponseError::Http {
            status: 500,
            body: "oops".into(),
            request_id: Some("req_ws".into()),
            retry_after: None
        }
    );
}

#[test]
fn a_retry_after_date_is_read_against_now() {
    let headers = header_map(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
    let now = UnixTime::from_secs(784_111_777 - 4);
    let classified = classify_http(503, &headers, b"", now, MAX_BODY);
    assert_eq!(classified.requested_delay, Some(Duration::from_secs(4)));
}

// ---- x-should-retry ----

fn with_should_retry(status: u16, value: &'static str, body: &'static str) -> Classified {
    classify(&Source::Http {
        status,
        headers: vec![("x-should-retry", value)],
        body,
    })
}

#[test]
fn x_should_retry_true_makes_a_status_retryable() {
    assert!(with_should_retry(400, "true", "").retryable);
    assert!(with_should_retry(404, "TRUE", "").retryable);
    let body = r#"{"error":{"type":"usage_limit_reached"}}"#;
    assert!(
        with_should_retry(429, "true", body).retryable,
        "the server's word beats the status rule"
    );
}

#[test]
fn x_should_retry_false_stops_a_retryable_status() {
    assert!(!with_should_retry(500, "false", "").retryable);
    assert!(!with_should_retry(429, "false", "").retryable);
    assert!(!with_should_retry(408, "False", "").retryable);
}

#[test]
fn x_should_retry_never_turns_a_401_into_a_backoff_retry() {
    let classified = with_should_retry(401, "true", "");
    assert!(classified.unauthorized);
    assert!(!classified.retryable);
    assert_eq!(variant(&classified.error), "Unauthorized");
}

#[test]
fn an_invalid_x_should_retry_is_ignored() {
    assert!(with_should_retry(500, "maybe", "").retryable);
    assert!(!with_should_retry(400, "1", "").retryable);
}

#[test]
fn x_should_retry_applies_to_websocket_error_frames() {
    let headers = header_map(&[("x-should-retry", "false")]);
    let classified = classify_ws_error(500, &ErrorPayload::default(), &headers, UnixTime::EPOCH);
    assert!(!classified.retryable);
}

// ---- request ids ----

fn request_id_of(headers: HeaderMap) -> Option<String> {
    match classify_http(500, &headers, b"", UnixTime::EPOCH, MAX_BODY).error {
        ResponseError::Http { request_id, .. } => request_id,
        other => panic!("not an Http error: {other:?}"),
    }
}

#[test]
fn x_request_id_wins_over_x_oai_request_id() {
    let both = header_map(&[("x-oai-request-id", "oai_1"), ("x-request-id", "req_1")]);
    assert_eq!(request_id_of(both), Some("req_1".into()));
    assert_eq!(
        request_id_of(header_map(&[("x-oai-request-id", "oai_1")])),
        Some("oai_1".into())
    );
    assert_eq!(
        request_id_of(header_map(&[("x-request-id", "req_1")])),
        Some("req_1".into())
    );
    assert_eq!(request_id_of(HeaderMap::new()), None);
}

#[test]
fn an_unusable_x_request_id_falls_back_to_x_oai_request_id() {
    let mut headers = header_map(&[("x-oai-request-id", "oai_2")]);
    headers.insert(
        "x-request-id",
        HeaderValue::from_bytes(b"\xffbinary").expect("obs-text value"),
    );
    assert_eq!(request_id_of(headers), Some("oai_2".into()));
    let empty = header_map(&[("x-request-id", ""), ("x-oai-request-id", "oai_3")]);
    assert_eq!(request_id_of(empty), Some("oai_3".into()));
}

// ---- bounded bodies ----

fn http_body(body: &[u8], max_body: usize) -> String {
    match classify_http(500, &HeaderMap::new(), body, UnixTime::EPOCH, max_body).error {
        ResponseError::Http { body, .. } => body,
        other => panic!("not an Http error: {other:?}"),
    }
}

#[test]
fn a_body_is_cut_at_a_character_boundary() {
    let body = "ab€cd".as_bytes(); // '€' is 3 bytes: offsets 2..5
    assert_eq!(http_body(body, 2), "ab");
    assert_eq!(http_body(body, 3), "ab");
    assert_eq!(http_body(body, 4), "ab");
    assert_eq!(http_body(body, 5), "ab€");
    assert_eq!(http_body(body, 6), "ab€c");
    assert_eq!(http_body(body, 100), "ab€cd");
    assert_eq!(http_body(body, 0), "");
}

#[test]
fn a_cut_four_byte_character_is_dropped_not_replaced() {
    let body = "a😀b".as_bytes(); // the emoji is 4 bytes: offsets 1..5
    for max in 1..5 {
        assert_eq!(http_body(body, max), "a", "max {max}");
    }
    assert_eq!(http_body(body, 5), "a😀");
}

#[test]
fn invalid_bytes_become_replacement_characters_within_the_bound() {
    assert_eq!(http_body(b"ok\xffok", 100), "ok\u{FFFD}ok");
    let cut = http_body(b"\xff\xff\xff\xff", 4);
    assert!(cut.len() <= 4, "{cut:?}");
    assert_eq!(cut, "\u{FFFD}");
}

#[test]
fn messages_and_plan_types_are_bounded_too() {
    let long = "é".repeat(100);
    let body = format!(r#"{{"error":{{"message":"{long}"}}}}"#);
    match classify_http(400, &HeaderMap::new(), body.as_bytes(), UnixTime::EPOCH, 11).error {
        ResponseError::InvalidRequest { message } => assert_eq!(message, "é".repeat(5)),
        other => panic!("{other:?}"),
    }
    let body = format!(r#"{{"error":{{"type":"usage_limit_reached","plan_type":"{long}"}}}}"#);
    match classify_http(429, &HeaderMap::new(), body.as_bytes(), UnixTime::EPOCH, 4).error {
        ResponseError::UsageLimitReached { plan_type, .. } => {
            assert_eq!(plan_type.as_deref(), Some("éé"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bodies_in_other_shapes_still_classify() {
    let string_error = classify(&http(400, r#"{"error":"model not found"}"#));
    assert_eq!(
        string_error.error,
        ResponseError::InvalidRequest {
            message: "model not found".into()
        }
    );
    let detail = classify(&http(400, r#"{"detail":"Unsupported model"}"#));
    assert_eq!(
        detail.error,
        ResponseError::InvalidRequest {
            message: "Unsupported model".into()
        }
    );
    let top_level = classify(&http(
        400,
        r#"{"code":"context_length_exceeded","message":"long"}"#,
    ));
    assert_eq!(top_level.error, ResponseError::ContextWindowExceeded);
    let numeric_code = classify(&http(503, r#"{"error":{"code":503,"message":"busy"}}"#));
    assert_eq!(variant(&numeric_code.error), "Http");
    let array = classify(&http(
        400,
        r#"[{"error":{"code":"context_length_exceeded"}}]"#,
    ));
    assert_eq!(variant(&array.error), "InvalidRequest");
}

// ---- recorded third-party errors ----

/// The `error` object of a `response.failed` event line, read without the event
/// decoder (another module) so this test stands alone.
fn failed_error_of(line: &str) -> Option<ErrorPayload> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("type")?.as_str()? != "response.failed" {
        return None;
    }
    let error = value.get("response")?.get("error")?;
    let text = |key: &str| error.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Some(ErrorPayload {
        code: text("code"),
        message: text("message"),
        ..ErrorPayload::default()
    })
}

#[test]
fn recorded_response_failed_events_classify_as_the_table_says() {
    let Some(dir) =
        support::openai_fixtures("recorded_response_failed_events_classify_as_the_table_says")
    else {
        return;
    };
    let expectations = [
        (
            "vercel-ai__openai-error.1.chunks.txt",
            "QuotaExceeded",
            false,
        ),
        (
            "vercel-ai__openai-response-failed-only.1.chunks.txt",
            "Retryable",
            true,
        ),
    ];
    for (file, error, retryable) in expectations {
        let text =
            std::fs::read_to_string(dir.join("transcripts").join(file)).expect("read transcript");
        let errors: Vec<ErrorPayload> = text.lines().filter_map(failed_error_of).collect();
        assert_eq!(errors.len(), 1, "{file}: one response.failed");
        let classified = classify_failed(errors.first());
        assert_eq!(variant(&classified.error), error, "{file}");
        assert_eq!(classified.retryable, retryable, "{file}");
    }
}

// ---- never panics ----

fn known_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("context_length_exceeded".to_owned()),
        Just("insufficient_quota".to_owned()),
        Just("usage_not_included".to_owned()),
        Just("invalid_prompt".to_owned()),
        Just("server_is_overloaded".to_owned()),
        Just("slow_down".to_owned()),
        Just("usage_limit_reached".to_owned()),
        Just("rate_limit_exceeded".to_owned()),
        Just("websocket_connection_limit_reached".to_owned()),
        "[a-z_]{0,12}",
    ]
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        known_word().prop_map(|w| format!("{w:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("\"try again in 1.5s ✓ é\"".to_owned()),
    ]
}

fn error_body() -> impl Strategy<Value = Vec<u8>> {
    let fields = proptest::collection::vec(
        (
            prop_oneof![
                Just("code"),
                Just("type"),
                Just("message"),
                Just("plan_type"),
                Just("resets_at")
            ],
            json_scalar(),
        ),
        0..5,
    );
    prop_oneof![
        fields.prop_map(|fields| {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!(r#"{{"error":{{{}}}}}"#, inner.join(",")).into_bytes()
        }),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<String>().prop_map(String::into_bytes),
    ]
}

fn any_headers() -> impl Strategy<Value = HeaderMap> {
    let value = prop_oneof![
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
        "[ -~]{0,20}",
    ];
    proptest::collection::vec(
        (
            prop_oneof![
                Just("retry-after"),
                Just("retry-after-ms"),
                Just("x-should-retry"),
                Just("x-request-id")
            ],
            value,
        ),
        0..4,
    )
    .prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.append(name, value);
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn classify_http_never_panics_and_keeps_bodies_bounded(
        status in prop_oneof![0u16..1000, Just(400), Just(401), Just(429), Just(503)],
        body in error_body(),
        headers in any_headers(),
        now in any::<u64>(),
        max_body in 0usize..64,
    ) {
        let classified = classify_http(status, &headers, &body, UnixTime::from_millis(now), max_body);
        prop_assert_eq!(classified.unauthorized, status == 401);
        match &classified.error {
            ResponseError::Http { body: kept, request_id, .. } => {
                prop_assert!(kept.len() <= max_body);
                if let Ok(text) = core::str::from_utf8(&body) {
                    prop_assert!(text.starts_with(kept.as_str()));
                    // The longest prefix that fits: the next character would not.
                    let next = text[kept.len()..].chars().next().map_or(0, char::len_utf8);
                    prop_assert!(kept.len() == text.len() || kept.len() + next > max_body);
                }
                prop_assert!(request_id.as_ref().is_none_or(|id| id.len() <= max_body));
            }
            ResponseError::InvalidRequest { message } | ResponseError::Unauthorized { message } => {
                prop_assert!(message.len() <= max_body.max("invalid prompt".len()));
            }
            ResponseError::RateLimited { message, .. } => {
                prop_assert!(message.as_ref().is_none_or(|m| m.len() <= max_body));
            }
            _ => {}
        }
    }

    #[test]
    fn classify_ws_error_and_failed_never_panic(
        status in 0u16..1000,
        code in proptest::option::of(known_word()),
        error_type in proptest::option::of(known_word()),
        message in proptest::option::of(any::<String>()),
        headers in any_headers(),
    ) {
        let error = ErrorPayload { code, error_type, message, ..ErrorPayload::default() };
        let from_ws = classify_ws_error(status, &error, &headers, UnixTime::EPOCH);
        prop_assert_eq!(from_ws.unauthorized, status == 401);
        let from_failed = classify_failed(Some(&error));
        prop_assert!(!from_failed.unauthorized);
    }
}
