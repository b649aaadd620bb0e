//! Errors a request can end with (PROTOCOL.md section 12) and their classification
//! from HTTP error responses, `response.failed` events and WebSocket `error` frames.
//!
//! OWNER: codec helper "retry". The [`ResponseError`] enum is the contract the session
//! uses; the `classify_*` functions are implemented in this module.

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::event::{ErrorPayload, RateLimitSnapshot};
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
        rate_limits: Option<RateLimitSnapshot>,
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

/// Classifies an HTTP error response (status ≥ 400) or a WebSocket handshake refusal.
/// `body` is the raw body (truncated to `max_body` in the error); `now` reads
/// `Retry-After` HTTP dates.
pub fn classify_http(
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    now: UnixTime,
    max_body: usize,
) -> Classified {
    let _ = (status, headers, body, now, max_body);
    todo!("retry helper")
}

/// Classifies a `response.failed` event's error (or its absence).
pub fn classify_failed(error: Option<&ErrorPayload>) -> Classified {
    let _ = error;
    todo!("retry helper")
}

/// Classifies a WebSocket `error` frame that carries a status, with the frame's
/// headers (treated like an HTTP error response with that status).
pub fn classify_ws_error(
    status: u16,
    error: &ErrorPayload,
    headers: &http::HeaderMap,
    now: UnixTime,
) -> Classified {
    let _ = (status, error, headers, now);
    todo!("retry helper")
}

/// A transport-level failure (connect, TLS, timeout, closed early): always a
/// retryable [`ResponseError::Stream`].
pub fn classify_transport(message: impl Into<String>) -> Classified {
    Classified {
        error: ResponseError::Stream {
            message: message.into(),
        },
        retryable: true,
        requested_delay: None,
        unauthorized: false,
    }
}
