//! Errors a request can end with (PROTOCOL.md section 12) and their classification
//! from HTTP error responses, `response.failed` events and WebSocket `error` frames.

use core::time::Duration;
use serde::{Deserialize, Serialize};

mod try_again;

pub use try_again::try_again_delay;

use crate::event::{ErrorPayload, RateLimitSnapshot};
use crate::header_names;
use crate::headers::{self, retry_after, should_retry};
use crate::time::UnixTime;

/// How a request ended when it did not complete. Match on the variant; the `Display`
/// text is for people. Never contains credentials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseError {
    /// The prompt is longer than the model's context window.
    #[error("context window exceeded")]
    ContextWindowExceeded,
    /// The account has no quota left.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The plan does not include usage of this model.
    #[error("usage not included in the plan")]
    UsageNotIncluded,
    /// The server rejected the request as invalid.
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// The server's message.
        message: String,
    },
    /// The server is overloaded.
    #[error("server overloaded")]
    ServerOverloaded,
    /// The plan's usage limit is reached.
    #[error("usage limit reached")]
    UsageLimitReached {
        /// The plan type, when the server said.
        plan_type: Option<String>,
        /// When the limit resets, in seconds since the epoch.
        resets_at: Option<u64>,
        /// Rate limits from the response headers.
        rate_limits: Option<Box<RateLimitSnapshot>>,
    },
    /// HTTP 429 that is not a quota or usage-limit error.
    #[error("rate limited")]
    RateLimited {
        /// The server-requested delay, when it sent one.
        #[serde(with = "crate::serde_duration::option")]
        retry_after: Option<Duration>,
        /// The server's message, when any.
        message: Option<String>,
    },
    /// A retryable `response.failed` or `rate_limit_exceeded`.
    #[error("{message}")]
    Retryable {
        /// The server's message, or "response.failed event received".
        message: String,
        /// A delay parsed from the message ("try again in 1.5s").
        #[serde(with = "crate::serde_duration::option")]
        delay: Option<Duration>,
    },
    /// 401 after a refresh, a failed refresh, or auth that cannot refresh.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// What happened.
        message: String,
    },
    /// Any other HTTP error status.
    #[error("HTTP {status}{}", request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Http {
        /// The status code.
        status: u16,
        /// The body, truncated to the configured bound.
        body: String,
        /// `x-request-id` or `x-oai-request-id`.
        request_id: Option<String>,
        /// A server-requested delay that was above `max_retry_after`, when that is why
        /// the retries stopped.
        #[serde(with = "crate::serde_duration::option")]
        retry_after: Option<Duration>,
    },
    /// Transport failure, timeout, stream closed early, idle timeout, bad frames.
    #[error("stream error: {message}")]
    Stream {
        /// What happened.
        message: String,
    },
    /// A configured bound was crossed (PROTOCOL.md section 13).
    #[error("limit exceeded: {what} over {limit} bytes")]
    LimitExceeded {
        /// Which bound.
        what: String,
        /// The bound.
        limit: u64,
    },
    /// The caller cancelled the request.
    #[error("cancelled")]
    Cancelled,
    /// A successful response came with a `Content-Encoding` other than `identity`
    /// (requests ask for `identity`, PROTOCOL.md section 3.3). Not retried: the
    /// server would compress the retry too.
    #[error("the server sent content-encoding {encoding:?}, which turnwire does not decode")]
    UnsupportedContentEncoding {
        /// The codings other than `identity`, as the server named them.
        encoding: String,
    },
    /// The proxy refused or botched the tunnel (PROTOCOL.md 3.3). Names the proxy,
    /// never its credentials; the status is the proxy's, not the origin's.
    #[error("proxy error: {proxy} {message}")]
    Proxy {
        /// The proxy as `scheme://host:port`.
        proxy: String,
        /// The status the proxy refused the `CONNECT` with, when it answered one.
        status: Option<u16>,
        /// What happened, for people.
        message: String,
    },
    /// A server certificate did not verify (PROTOCOL.md 3.3).
    #[error("certificate error: invalid peer certificate for {host}: {reason}")]
    Certificate {
        /// The host the certificate was checked against.
        host: String,
        /// Why it was refused (`UnknownIssuer`, `Expired`, …).
        reason: String,
    },
}

/// An error with what the retry layers need to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Classified {
    /// The error the request ends with if it is not retried.
    pub error: ResponseError,
    /// Whether section 9/12 allows a retry (after `x-should-retry` overrides).
    pub retryable: bool,
    /// The server-requested delay, when any (`retry-after-ms`, `Retry-After`, or a
    /// "try again in" phrase), before any cap is applied.
    pub requested_delay: Option<Duration>,
    /// True for HTTP 401: the session refreshes auth instead of backing off.
    pub unauthorized: bool,
}

/// The message of a `response.failed` without one (PROTOCOL.md section 12).
pub const FAILED_WITHOUT_MESSAGE: &str = "response.failed event received";

/// Bound, in bytes, on the text kept from a `response.failed` or WebSocket `error`
/// frame, whose classifiers take no `max_body`: the default `Limits::error_body`.
pub const DEFAULT_MAX_MESSAGE: usize = 8 << 10;

/// Error codes (and types) the classification knows by name.
pub mod codes {
    /// The prompt does not fit the context window.
    pub const CONTEXT_LENGTH_EXCEEDED: &str = "context_length_exceeded";
    /// No quota left.
    pub const INSUFFICIENT_QUOTA: &str = "insufficient_quota";
    /// The plan does not include this model.
    pub const USAGE_NOT_INCLUDED: &str = "usage_not_included";
    /// The prompt was rejected.
    pub const INVALID_PROMPT: &str = "invalid_prompt";
    /// The server is overloaded.
    pub const SERVER_IS_OVERLOADED: &str = "server_is_overloaded";
    /// The server asks clients to slow down (treated as overloaded).
    pub const SLOW_DOWN: &str = "slow_down";
    /// The plan's usage limit (an `error.type` of a 429).
    pub const USAGE_LIMIT_REACHED: &str = "usage_limit_reached";
    /// A retryable rate limit whose message says when to try again.
    pub const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
    /// The server's 60-minute WebSocket connection limit; the session reconnects.
    pub const WEBSOCKET_CONNECTION_LIMIT_REACHED: &str = "websocket_connection_limit_reached";
    /// The server no longer holds the response chain a request continued
    /// (PROTOCOL.md section 6); the session resends it as a full create.
    pub const PREVIOUS_RESPONSE_NOT_FOUND: &str = "previous_response_not_found";
}

/// Classifies an HTTP error response (status ≥ 400) or a WebSocket handshake refusal.
/// `body` is the raw body (truncated to `max_body` in the error); `now` reads
/// `Retry-After` HTTP dates.
///
/// The body is read as `{"error": {"code", "message", "type", "plan_type",
/// "resets_at"}}` when it is such JSON (also `{"error": "text"}` and top-level
/// `code`/`message`/`detail`); any other bytes are kept only as the body text. The
/// driver bounds how much body it reads; every text kept in the result (body,
/// messages, request id, plan type) is cut to `max_body` bytes at a character
/// boundary. See [`classify_status`] for the mapping. Never panics.
pub fn classify_http(
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    now: UnixTime,
    max_body: usize,
) -> Classified {
    let payload = parse_error_body(body);
    let body_text = truncate_bytes_lossy(body, max_body);
    classify_status(StatusError {
        status,
        payload: payload.as_ref(),
        body_text,
        headers,
        now,
        max_text: max_body,
    })
}

/// Classifies a `response.failed` event's error (or its absence), by its `code`:
///
/// | code | error | retryable |
/// |---|---|---|
/// | `context_length_exceeded` | `ContextWindowExceeded` | no |
/// | `insufficient_quota` | `QuotaExceeded` | no |
/// | `usage_not_included` | `UsageNotIncluded` | no |
/// | `invalid_prompt` | `InvalidRequest { message }` | no |
/// | `server_is_overloaded`, `slow_down` | `ServerOverloaded` | no |
/// | `rate_limit_exceeded` | `Retryable { message, delay }`, delay from "try again in …" | yes |
/// | other, none, or no error | `Retryable { message }` | yes |
///
/// A missing or empty message reads as [`FAILED_WITHOUT_MESSAGE`]; messages are cut to
/// [`DEFAULT_MAX_MESSAGE`] bytes.
pub fn classify_failed(error: Option<&ErrorPayload>) -> Classified {
    let message = error
        .and_then(|e| non_empty(e.message.as_deref()))
        .map(|m| truncate_str(m, DEFAULT_MAX_MESSAGE));
    let fatal = |error| Classified::new(error, false, None);
    match error.and_then(|e| e.code.as_deref()) {
        Some(codes::CONTEXT_LENGTH_EXCEEDED) => fatal(ResponseError::ContextWindowExceeded),
        Some(codes::INSUFFICIENT_QUOTA) => fatal(ResponseError::QuotaExceeded),
        Some(codes::USAGE_NOT_INCLUDED) => fatal(ResponseError::UsageNotIncluded),
        Some(codes::INVALID_PROMPT) => {
            let message = message.unwrap_or_else(|| "invalid prompt".to_owned());
            fatal(ResponseError::InvalidRequest { message })
        }
        Some(codes::SERVER_IS_OVERLOADED | codes::SLOW_DOWN) => {
            fatal(ResponseError::ServerOverloaded)
        }
        Some(codes::RATE_LIMIT_EXCEEDED) => {
            let delay = message.as_deref().and_then(try_again_delay);
            retryable_failure(message, delay)
        }
        _ => retryable_failure(message, None),
    }
}

/// Classifies `previous_response_not_found` (a WebSocket `error` frame or a
/// `response.failed` with that code): a retryable [`ResponseError::Retryable`] with the
/// server's message as sent, or "previous response not found" without one. The session decides
/// whether it earns the free full create of PROTOCOL.md section 6 first.
pub fn classify_chain_lost(error: Option<&ErrorPayload>) -> Classified {
    let message = error
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| "previous response not found".to_owned());
    Classified::new(
        ResponseError::Retryable {
            message,
            delay: None,
        },
        true,
        None,
    )
}

/// A retryable `response.failed`, with the delay its message asked for, if any.
fn retryable_failure(message: Option<String>, delay: Option<Duration>) -> Classified {
    let message = message.unwrap_or_else(|| FAILED_WITHOUT_MESSAGE.to_owned());
    Classified::new(ResponseError::Retryable { message, delay }, true, delay)
}

/// Classifies a WebSocket `error` frame that carries a status, with the frame's
/// headers (treated like an HTTP error response with that status).
///
/// The same mapping as [`classify_http`] (see [`classify_status`]), with the frame's
/// error object as the parsed body and its message as the body text, cut to
/// [`DEFAULT_MAX_MESSAGE`] bytes. A 429 with `usage_limit_reached` is a non-retryable
/// [`ResponseError::UsageLimitReached`] with the rate limits of the frame's headers.
pub fn classify_ws_error(
    status: u16,
    error: &ErrorPayload,
    headers: &http::HeaderMap,
    now: UnixTime,
) -> Classified {
    let body_text = error
        .message
        .as_deref()
        .map(|m| truncate_str(m, DEFAULT_MAX_MESSAGE))
        .unwrap_or_default();
    classify_status(StatusError {
        status,
        payload: Some(error),
        body_text,
        headers,
        now,
        max_text: DEFAULT_MAX_MESSAGE,
    })
}

/// An error response with a status, whatever carried it (an HTTP response or a
/// WebSocket `error` frame), ready for [`classify_status`].
#[derive(Clone, Debug)]
pub struct StatusError<'a> {
    /// The HTTP status (or the frame's `status`).
    pub status: u16,
    /// The error object, when the body had one.
    pub payload: Option<&'a ErrorPayload>,
    /// The body as text, already cut to `max_text` (kept in [`ResponseError::Http`]).
    pub body_text: String,
    /// The response's (or frame's) headers.
    pub headers: &'a http::HeaderMap,
    /// Wall-clock time, for `Retry-After` dates.
    pub now: UnixTime,
    /// Bound, in bytes, on each text taken from the payload or headers.
    pub max_text: usize,
}

/// The mapping of PROTOCOL.md section 12 for an error with a status. First match wins:
///
/// 1. 401 → [`ResponseError::Unauthorized`], `unauthorized: true`, not retryable (the
///    session refreshes auth first and surfaces this error only after that fails);
/// 2. code or type `context_length_exceeded`, `insufficient_quota`,
///    `usage_not_included`, `invalid_prompt` → their errors, not retryable, whatever
///    the status;
/// 3. code `websocket_connection_limit_reached` → [`ResponseError::Retryable`],
///    retryable (the session reconnects on that code itself);
/// 4. 503 with code or type `server_is_overloaded` / `slow_down` →
///    [`ResponseError::ServerOverloaded`], not retryable;
/// 5. 429 with type (or code) `usage_limit_reached` →
///    [`ResponseError::UsageLimitReached`] with the [`headers::rate_limits`] of the same
///    headers, not retryable;
/// 6. other 429 → [`ResponseError::RateLimited`], retryable; its delay is
///    [`retry_after`], else a "try again in" phrase in the message;
/// 7. 400 → [`ResponseError::InvalidRequest`] (the message, else the body), not
///    retryable;
/// 8. 5xx, 408, 409 → [`ResponseError::Http`], retryable;
/// 9. any other status → [`ResponseError::Http`], not retryable.
///
/// `requested_delay` is [`retry_after`] of the headers (for 429 also the phrase), for
/// every error. Then `x-should-retry: true|false` ([`should_retry`]), when present,
/// replaces `retryable` for every error except 401: the server's word beats the status
/// rule, but a 401 always goes through the auth refresh and never through backoff.
pub fn classify_status(input: StatusError<'_>) -> Classified {
    let header_delay = retry_after(input.headers, input.now);
    let mut classified = match status_rule(&input, header_delay) {
        (error @ ResponseError::Unauthorized { .. }, _) => Classified {
            unauthorized: true,
            ..Classified::new(error, false, header_delay)
        },
        (error @ ResponseError::RateLimited { retry_after, .. }, retryable) => {
            Classified::new(error, retryable, retry_after)
        }
        (error, retryable) => Classified::new(error, retryable, header_delay),
    };
    if let Some(server_says) = should_retry(input.headers).filter(|_| !classified.unauthorized) {
        classified.retryable = server_says;
    }
    if let ResponseError::UsageLimitReached { rate_limits, .. } = &mut classified.error {
        *rate_limits = headers::rate_limits(input.headers).map(Box::new);
    }
    classified
}

/// Steps 1 to 9 of [`classify_status`]: the error and whether its rule retries it.
fn status_rule(input: &StatusError<'_>, header_delay: Option<Duration>) -> (ResponseError, bool) {
    let StatusError {
        status, payload, ..
    } = *input;
    let message = payload
        .and_then(|p| non_empty(p.message.as_deref()))
        .map(|m| truncate_str(m, input.max_text));
    let has_code = |name: &str| payload.is_some_and(|p| p.code.as_deref() == Some(name));
    let named = |name: &str| {
        has_code(name) || payload.is_some_and(|p| p.error_type.as_deref() == Some(name))
    };

    if status == 401 {
        let message = message.unwrap_or_else(|| "HTTP 401".to_owned());
        (ResponseError::Unauthorized { message }, false)
    } else if named(codes::CONTEXT_LENGTH_EXCEEDED) {
        (ResponseError::ContextWindowExceeded, false)
    } else if named(codes::INSUFFICIENT_QUOTA) {
        (ResponseError::QuotaExceeded, false)
    } else if named(codes::USAGE_NOT_INCLUDED) {
        (ResponseError::UsageNotIncluded, false)
    } else if named(codes::INVALID_PROMPT) {
        let message = message.unwrap_or_else(|| "invalid prompt".to_owned());
        (ResponseError::InvalidRequest { message }, false)
    } else if has_code(codes::WEBSOCKET_CONNECTION_LIMIT_REACHED) {
        let message =
            message.unwrap_or_else(|| codes::WEBSOCKET_CONNECTION_LIMIT_REACHED.to_owned());
        (
            ResponseError::Retryable {
                message,
                delay: None,
            },
            true,
        )
    } else if status == 503 && (named(codes::SERVER_IS_OVERLOADED) || named(codes::SLOW_DOWN)) {
        (ResponseError::ServerOverloaded, false)
    } else if status == 429 && named(codes::USAGE_LIMIT_REACHED) {
        let plan_type = payload.and_then(|p| p.plan_type.as_deref());
        let usage_limit = ResponseError::UsageLimitReached {
            plan_type: plan_type.map(|t| truncate_str(t, input.max_text)),
            resets_at: payload.and_then(|p| p.resets_at),
            rate_limits: None,
        };
        (usage_limit, false)
    } else if status == 429 {
        let phrase_delay = || {
            payload
                .and_then(|p| p.message.as_deref())
                .and_then(try_again_delay)
        };
        let retry_after = header_delay.or_else(phrase_delay);
        (
            ResponseError::RateLimited {
                retry_after,
                message,
            },
            true,
        )
    } else if status == 400 {
        let message = message.or_else(|| non_empty(Some(&input.body_text)).map(str::to_owned));
        let message = message.unwrap_or_else(|| "HTTP 400".to_owned());
        (ResponseError::InvalidRequest { message }, false)
    } else {
        let error = ResponseError::Http {
            status,
            body: input.body_text.clone(),
            request_id: request_id(input.headers, input.max_text),
            retry_after: None,
        };
        (error, is_retryable_status(status))
    }
}

/// Statuses retried by rule (section 9.1): 5xx, 408 Request Timeout, 409 Conflict.
/// (429 is retried too, unless it is a quota or usage-limit error.)
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 500..=599)
}

impl Classified {
    /// A classification that is not a 401.
    pub fn new(error: ResponseError, retryable: bool, requested_delay: Option<Duration>) -> Self {
        Classified {
            error,
            retryable,
            requested_delay,
            unauthorized: false,
        }
    }
}

/// `x-request-id`, else `x-oai-request-id`: the first that is a non-empty visible-ASCII
/// value, cut to `max_len` bytes.
fn request_id(headers: &http::HeaderMap, max_len: usize) -> Option<String> {
    [header_names::REQUEST_ID, header_names::OAI_REQUEST_ID]
        .into_iter()
        .find_map(|name| {
            let value = headers.get(name)?.to_str().ok()?.trim();
            non_empty(Some(value)).map(|v| truncate_str(v, max_len))
        })
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// The error object in an error response body, when the body is JSON that has one.
fn parse_error_body(body: &[u8]) -> Option<ErrorPayload> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    match object.get("error") {
        Some(serde_json::Value::Object(error)) => Some(payload_from_object(error)),
        Some(serde_json::Value::String(message)) => Some(ErrorPayload {
            message: Some(message.clone()),
            ..ErrorPayload::default()
        }),
        _ => {
            let mut payload = payload_from_object(object);
            if payload.message.is_none() {
                payload.message = string_field(object, "detail");
            }
            (payload != ErrorPayload::default()).then_some(payload)
        }
    }
}

// `..default()` keeps this compiling if the events module adds fields to the payload.
#[allow(clippy::needless_update)]
fn payload_from_object(object: &serde_json::Map<String, serde_json::Value>) -> ErrorPayload {
    ErrorPayload {
        code: string_field(object, "code"),
        message: string_field(object, "message"),
        error_type: string_field(object, "type"),
        param: string_field(object, "param"),
        plan_type: string_field(object, "plan_type"),
        resets_at: object.get("resets_at").and_then(epoch_seconds),
        ..ErrorPayload::default()
    }
}

/// A string field; a number is taken as its decimal text (some servers send numeric
/// codes).
fn string_field(object: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match object.get(key)? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Seconds since the epoch from a non-negative integer, or a finite non-negative
/// number rounded down.
fn epoch_seconds(value: &serde_json::Value) -> Option<u64> {
    let number = value.as_number()?;
    number.as_u64().or_else(|| {
        let float = number
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)?;
        Some(float as u64)
    })
}

/// `text` cut to at most `max_len` bytes, at a character boundary.
pub fn truncate_str(text: &str, max_len: usize) -> String {
    let mut end = max_len.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// The body as text of at most `max_len` bytes: a UTF-8 character cut by the bound is
/// dropped whole, and invalid bytes become U+FFFD (then the bound applies again).
pub fn truncate_bytes_lossy(body: &[u8], max_len: usize) -> String {
    let prefix = body.get(..max_len).unwrap_or(body);
    let prefix = if prefix.len() < body.len() {
        without_cut_char(prefix)
    } else {
        prefix
    };
    truncate_str(&String::from_utf8_lossy(prefix), max_len)
}

/// `bytes` without a trailing UTF-8 sequence that the end cut short.
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    // A sequence is at most 4 bytes, so its lead byte is among the last 3 if it is cut.
    for back in 1..=bytes.len().min(3) {
        let start = bytes.len() - back;
        let Some(&byte) = bytes.get(start) else { break };
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: the lead is further back
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needed > back {
            bytes.get(..start).unwrap_or_default()
        } else {
            bytes
        };
    }
    bytes
}

/// A transport-level failure (connect, TLS, timeout, closed early): always a
/// retryable [`ResponseError::Stream`].
pub fn classify_transport(message: impl Into<String>) -> Classified {
    Classified::new(
        ResponseError::Stream {
            message: message.into(),
        },
        true,
        None,
    )
}
