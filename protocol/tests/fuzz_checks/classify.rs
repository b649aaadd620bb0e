//! The `classify` target: error classification and header capture with arbitrary
//! statuses, headers and bodies.
//!
//! Input layout: one byte picks the function, the rest feeds its arguments.
//!
//! Checked beyond "no panic": a 401 (and only a 401) asks for an auth refresh and is
//! never retryable; every text kept in an error stays within its bound; a
//! `retry-after` delay is reported as the requested delay; a turn-state token is
//! accepted exactly when it is 1..=max visible ASCII bytes (inner spaces allowed) and
//! reads back as sent; header events are at most one of each kind, within bounds;
//! rate-limit windows have a finite, non-negative percentage; `headers_from_json`
//! keeps only lower-case names and at most one value per usable JSON value.

use http::HeaderMap;
use serde_json::Value;
use turnwire_protocol::ResponseError;
use turnwire_protocol::UnixTime;
use turnwire_protocol::error::{
    Classified, DEFAULT_MAX_MESSAGE, classify_failed, classify_http, classify_ws_error,
};
use turnwire_protocol::event::{RateLimitSnapshot, ResponseEvent, headers_from_json};
use turnwire_protocol::headers::{
    header_events, rate_limits, request_id, retry_after, should_retry, turn_state,
    validate_turn_state,
};

use super::make;
use super::reader::Reader;

/// Longest fixed text a classification may use in place of a missing message
/// ("websocket_connection_limit_reached" is the longest).
const FIXED_TEXT: usize = 64;

/// Every text an error keeps is within `max` bytes (or is one of the fixed texts).
fn assert_texts_bounded(error: &ResponseError, max: usize) {
    let bound = max.max(FIXED_TEXT);
    let texts: Vec<&str> = match error {
        ResponseError::InvalidRequest { message }
        | ResponseError::Unauthorized { message }
        | ResponseError::Retryable { message, .. } => vec![message],
        ResponseError::RateLimited { message, .. } => message.iter().map(String::as_str).collect(),
        ResponseError::UsageLimitReached { plan_type, .. } => {
            plan_type.iter().map(String::as_str).collect()
        }
        ResponseError::Http {
            body, request_id, ..
        } => {
            assert!(
                body.len() <= max,
                "HTTP body of {} bytes over {max}",
                body.len()
            );
            request_id.iter().map(String::as_str).collect()
        }
        _ => Vec::new(),
    };
    for text in texts {
        assert!(
            text.len() <= bound,
            "{} bytes kept in {error:?}, over {max}",
            text.len()
        );
    }
    let _ = error.to_string();
}

fn assert_status_rules(status: u16, headers: &HeaderMap, now: UnixTime, classified: &Classified) {
    assert_eq!(
        classified.unauthorized,
        status == 401,
        "unauthorized must be exactly HTTP 401: {classified:?}"
    );
    if status == 401 {
        assert!(!classified.retryable, "a 401 never goes through backoff");
    }
    // The headers' delay is the requested delay of every error; a 429 may also take
    // one from its message.
    match retry_after(headers, now) {
        Some(delay) => assert_eq!(classified.requested_delay, Some(delay), "{classified:?}"),
        None if status != 429 => assert_eq!(classified.requested_delay, None, "{classified:?}"),
        None => {}
    }
}

fn check_snapshot(snapshot: &RateLimitSnapshot) {
    for window in [&snapshot.primary, &snapshot.secondary]
        .into_iter()
        .flatten()
    {
        assert!(
            window.used_percent.is_finite() && window.used_percent >= 0.0,
            "bad used_percent {}",
            window.used_percent
        );
    }
}

fn check_http(r: &mut Reader<'_>) {
    let status = make::status(r);
    let headers = make::headers(r);
    let max_body = 1 + r.below(300);
    let now = UnixTime::from_millis(r.u64());
    let body = r.rest();
    let classified = classify_http(status, &headers, body, now, max_body);
    assert_status_rules(status, &headers, now, &classified);
    assert_texts_bounded(&classified.error, max_body);
}

fn check_ws_error(r: &mut Reader<'_>) {
    let status = make::status(r);
    let headers = make::headers(r);
    let mut payload = make::error_payload(r);
    if r.bool() {
        payload.message = Some(String::from_utf8_lossy(r.rest()).into_owned());
    }
    let now = UnixTime::from_millis(r.u64());
    let classified = classify_ws_error(status, &payload, &headers, now);
    assert_status_rules(status, &headers, now, &classified);
    assert_texts_bounded(&classified.error, DEFAULT_MAX_MESSAGE);
}

fn check_failed(r: &mut Reader<'_>) {
    let payload = if r.bool() {
        let mut payload = make::error_payload(r);
        if r.bool() {
            payload.message = Some(String::from_utf8_lossy(r.rest()).into_owned());
        }
        Some(payload)
    } else {
        None
    };
    let classified = classify_failed(payload.as_ref());
    assert!(!classified.unauthorized, "response.failed is never a 401");
    assert_texts_bounded(&classified.error, DEFAULT_MAX_MESSAGE);
    if let ResponseError::Retryable { delay, .. } = &classified.error {
        assert!(classified.retryable, "Retryable error not retryable");
        assert_eq!(*delay, classified.requested_delay);
    }
}

fn check_turn_state(r: &mut Reader<'_>) {
    let max = 1 + r.below(64);
    let raw = r.rest();
    let visible = |b: &u8| (0x21..=0x7E).contains(b);
    let acceptable = !raw.is_empty()
        && raw.len() <= max
        && raw.first().is_some_and(visible)
        && raw.last().is_some_and(visible)
        && raw.iter().all(|b| visible(b) || *b == b' ');
    match validate_turn_state(raw, max) {
        Ok(token) => {
            assert!(acceptable, "accepted turn state {raw:?}");
            assert_eq!(token.as_str().as_bytes(), raw, "token does not read back");
            assert_eq!(token.header_value().as_bytes(), raw);
        }
        Err(err) => {
            assert!(!acceptable, "rejected valid turn state {raw:?}: {err}");
        }
    }
    if let Ok(value) = http::HeaderValue::from_bytes(raw) {
        let mut headers = HeaderMap::new();
        headers.insert("x-codex-turn-state", value);
        let found = turn_state(&headers, max).expect("the header is present");
        assert_eq!(found.is_ok(), acceptable);
    }
}

fn check_headers(r: &mut Reader<'_>) {
    let headers = make::headers(r);
    let max_value = 1 + r.below(64);
    if let Some(snapshot) = rate_limits(&headers) {
        check_snapshot(&snapshot);
    }
    let events = header_events(&headers, max_value);
    assert!(events.len() <= 3, "more than three header events");
    for event in &events {
        match event {
            ResponseEvent::RateLimits { snapshot } => check_snapshot(snapshot),
            ResponseEvent::ModelsEtag { etag } => {
                assert!(!etag.is_empty() && etag.len() <= max_value, "etag {etag:?}");
            }
            ResponseEvent::ServerReasoningIncluded { .. } => {}
            other => panic!("unexpected header event {other:?}"),
        }
    }
    if let Some(id) = request_id(&headers) {
        assert!(!id.is_empty(), "empty request id");
    }
    let _ = should_retry(&headers);
}

fn check_headers_from_json(r: &mut Reader<'_>) {
    let Ok(value) = serde_json::from_slice::<Value>(r.rest()) else {
        return;
    };
    let headers = headers_from_json(&value);
    let usable: usize = value.as_object().map_or(0, |object| {
        object
            .values()
            .map(|v| match v {
                Value::Array(values) => values.len(),
                _ => 1,
            })
            .sum()
    });
    assert!(
        headers.len() <= usable,
        "more header values than JSON values"
    );
    for name in headers.keys() {
        let text = name.as_str();
        assert_eq!(text, text.to_ascii_lowercase(), "name not lower-cased");
    }
}

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    match r.u8() % 6 {
        0 => check_http(&mut r),
        1 => check_ws_error(&mut r),
        2 => check_failed(&mut r),
        3 => check_turn_state(&mut r),
        4 => check_headers(&mut r),
        _ => check_headers_from_json(&mut r),
    }
}
