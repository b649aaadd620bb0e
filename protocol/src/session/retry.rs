//! The retry decision: what one failed attempt leads to (PROTOCOL.md sections 8.1,
//! 9, 10 and 12, the `previous_response_not_found` resend of section 6 and the
//! keep-alive resend of 3.3).
//!
//! [`decide`] is a pure function of a [`Failure`] (the classified error and every fact
//! the rules read) and the configuration, in the style of `turn::plan`. The session
//! gathers the facts, calls it once per failure and applies the [`Decision`]
//! (counters, telemetry, timers, sockets); it holds no retry rule of its own.

use core::time::Duration;

use super::output::{RetryLayer, Transport};
use crate::backoff::{BackoffPolicy, RetryDelay};
use crate::config::Config;
use crate::error::{self, Classified, ResponseError};

/// Where the failed attempt stood: which retry layer a retry is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    /// Establishing an HTTP response: the connect, the `POST` and its status and
    /// headers (9.1, `request_max_retries`).
    Establish,
    /// The turn's WebSocket handshake (9.3, `stream_max_retries`). A refusal with an
    /// HTTP error status is retried here whatever the status, unless it is one of the
    /// terminal errors of section 12.
    Handshake,
    /// The response stream on either transport (9.3, `stream_max_retries`).
    Stream,
    /// A socket no request owns: the preconnect or the prewarm in the session's slot
    /// (8.1, 8.2). Its failures cost no request anything.
    Slot,
}

/// What kind of failure it was, beyond its classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A connect that got no HTTP answer at all: refused, reset, TLS failure, connect
    /// timeout, proxy refusal (10, trigger 3).
    NoAnswer,
    /// The connection failed after it was established: closed, reset, a send that
    /// failed.
    Lost,
    /// An HTTP answer with this error status: an error response or a refused
    /// handshake.
    Status(u16),
    /// `previous_response_not_found` on a WebSocket: the server no longer holds the
    /// response chain (6).
    ChainLost,
    /// `websocket_connection_limit_reached`: the server's 60-minute limit (9.3).
    ConnectionLimit,
    /// Anything else: a `response.failed`, an `error` frame, an idle timeout, a bad
    /// frame, a crossed limit.
    Other,
}

/// A connection an earlier request or turn already used, on which this attempt went
/// out and got nothing of its response before failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reused {
    /// A WebSocket adopted from the session's slot, failed before the first event of
    /// the response (8.1).
    SlotSocket,
    /// An idle HTTP connection from the keep-alive pool, failed before any byte of
    /// the response head (3.3). Only the driver knows a connection came from its pool:
    /// it reports such failures as `Input::HttpStale`.
    PooledHttp,
}

/// The once-per-request free retries and the refresh a request already used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FreeUsed {
    /// The 401 refresh (9.2).
    pub(crate) auth_refresh: bool,
    /// The replacement of a dead reused WebSocket (8.1).
    pub(crate) stale_socket: bool,
    /// The resend after a stale pooled HTTP connection (3.3).
    pub(crate) stale_pooled: bool,
    /// The full create after `previous_response_not_found` (6).
    pub(crate) chain_resend: bool,
    /// The reconnect after `websocket_connection_limit_reached` (9.3).
    pub(crate) connection_limit: bool,
}

/// What the request the failed attempt belongs to has been through. All zero and
/// false for a failure of the slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestFacts {
    /// The attempt went out on a reused connection and got nothing of its response.
    pub(crate) reused: Option<Reused>,
    /// Some event of this attempt reached the caller.
    pub(crate) caller_events: bool,
    /// Some output event of any attempt of the request reached the caller (9.3,
    /// `retry_after_partial_output`).
    pub(crate) output_seen: bool,
    /// Retries spent establishing the current HTTP response (9.1).
    pub(crate) http_retries: u32,
    /// Retries spent in the stream layer (9.3).
    pub(crate) stream_retries: u32,
    /// Free retries and the refresh already used.
    pub(crate) used: FreeUsed,
}

/// What the session knows that the failure alone does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionFacts {
    /// Consecutive WebSocket connects without an HTTP answer before this failure (10,
    /// trigger 3).
    pub(crate) unanswered_before: u32,
    /// WebSocket is allowed and the fallback is not active.
    pub(crate) websocket_usable: bool,
    /// The auth source can refresh after a 401 (API keys cannot).
    pub(crate) auth_refreshable: bool,
}

/// One failed attempt (or a failure of the slot's socket), with every fact the retry
/// rules read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Failure {
    /// The error and its classification (section 12).
    pub(crate) classified: Classified,
    /// What kind of failure it was.
    pub(crate) cause: Cause,
    /// Where the attempt stood.
    pub(crate) layer: Layer,
    /// The attempt's transport.
    pub(crate) transport: Transport,
    /// What the request has been through.
    pub(crate) request: RequestFacts,
    /// What the session knows.
    pub(crate) session: SessionFacts,
}

/// Why the session falls back from WebSocket to HTTP (section 10).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fallback {
    /// A 426 on a WebSocket handshake (trigger 1).
    UpgradeRequired,
    /// `stream_max_retries` exhausted on WebSocket, with the last error (trigger 2).
    StreamRetriesExhausted(ResponseError),
    /// This many WebSocket connects in a row got no HTTP answer (trigger 3).
    Unreachable {
        /// The connects counted.
        connects: u32,
    },
}

impl core::fmt::Display for Fallback {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fallback::UpgradeRequired => f.write_str("WebSocket upgrade refused with 426"),
            Fallback::StreamRetriesExhausted(error) => {
                write!(f, "stream retries exhausted on WebSocket: {error}")
            }
            Fallback::Unreachable { connects } => {
                write!(
                    f,
                    "{connects} WebSocket connects in a row got no HTTP answer"
                )
            }
        }
    }
}

/// Which free retry: sent again at once, without backoff, budget or `Reconnecting`,
/// once per request each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeRetry {
    /// A reused WebSocket died before the first event: a full create on a new socket
    /// (8.1).
    StaleSocket,
    /// A pooled HTTP connection failed before any byte of the response: the request
    /// again on a new connection (3.3).
    StalePooled,
    /// `previous_response_not_found`: a full create on a new socket (6).
    ChainLost,
    /// `websocket_connection_limit_reached`: a new connection, full create (9.3).
    ConnectionLimit,
}

/// Where a retry's delay comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delay {
    /// The server asked for this delay, and it is within `max_retry_after`.
    Requested(Duration),
    /// Exponential backoff with jitter, `min(max_backoff, base · 2^exponent) · J`.
    Backoff {
        /// The exponent.
        exponent: u32,
    },
}

/// What a failure leads to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Decision {
    /// Ask the auth source for new credentials, then retry at once without backoff or
    /// budget (9.2). With `void_retry`, events of the attempt reached the caller:
    /// spend that stream retry and tell the caller with `Reconnecting` first.
    Refresh {
        /// The stream retry spent to void the attempt's events, when any reached the
        /// caller.
        void_retry: Option<u32>,
    },
    /// Send the request again at once on a new connection.
    FreeRetry(FreeRetry),
    /// Retry after a delay, spending retry number `retry` of `layer`.
    Retry {
        /// The budget charged.
        layer: RetryLayer,
        /// The retry's number in that layer, from 1.
        retry: u32,
        /// Where the delay comes from.
        delay: Delay,
        /// The error retried (the reason given to the caller and telemetry).
        error: ResponseError,
    },
    /// Activate the WebSocket→HTTP fallback and replay the request over HTTP with
    /// fresh budgets.
    FallBack(Fallback),
    /// A failure of the slot's socket that costs nothing: telemetry only.
    Absorb,
    /// End the request with this error.
    Fail(ResponseError),
}

/// Decides what `failure` leads to. Pure: the same failure and configuration always
/// give the same decision. Rules, first match wins:
///
/// 1. a retryable loss of an established, reused connection that got nothing of its response, with
///    that kind's free retry unused → [`Decision::FreeRetry`] (8.1, 3.3);
/// 2. a 426 on a WebSocket handshake (the turn's or the slot's) → fall back (10.1);
/// 3. the `ws_unreachable_fallback_after`-th WebSocket connect in a row without an
///    HTTP answer, while WebSocket is usable → fall back (10.3);
/// 4. any other failure of the slot → [`Decision::Absorb`] (8.1, 8.2);
/// 5. `websocket_connection_limit_reached` before any event reached the caller, the
///    first time in the request → free reconnect; otherwise a stream failure (9.3);
/// 6. `previous_response_not_found` on a WebSocket before any event reached the
///    caller, the first time in the request → free full create; otherwise an
///    ordinary retryable error (6);
/// 7. a 401 → refresh once per request, voiding the attempt's events with a stream
///    retry when some reached the caller; a second 401 or auth that cannot refresh
///    fails `Unauthorized` (9.2);
/// 8. not retryable (section 12, after `x-should-retry`), or output already reached
///    the caller with `retry_after_partial_output` off → fail (9.3);
/// 9. budget left in the layer → retry after the server's delay (or fail when it is
///    above `max_retry_after`), else after exponential backoff (9.1, 9.3);
/// 10. stream budget exhausted on WebSocket → fall back (10.2); otherwise fail.
pub(crate) fn decide(failure: &Failure, config: &Config) -> Decision {
    let Failure {
        classified,
        cause,
        layer,
        transport,
        request,
        session,
    } = failure;
    if let Some(free) = stale_connection(failure) {
        return Decision::FreeRetry(free);
    }
    let websocket_connect =
        *transport == Transport::WebSocket && matches!(layer, Layer::Handshake | Layer::Slot);
    if websocket_connect && *cause == Cause::Status(426) {
        return Decision::FallBack(Fallback::UpgradeRequired);
    }
    let limit = config.ws_unreachable_fallback_after;
    let connects = unanswered_connects(failure);
    if counts_as_unanswered(failure) && limit != 0 && connects >= limit && session.websocket_usable
    {
        return Decision::FallBack(Fallback::Unreachable { connects });
    }
    if *layer == Layer::Slot {
        return Decision::Absorb;
    }
    if *cause == Cause::ConnectionLimit {
        return connection_limit(failure, config);
    }
    let chain_resend_due =
        *transport == Transport::WebSocket && !request.used.chain_resend && !request.caller_events;
    if *cause == Cause::ChainLost && chain_resend_due {
        return Decision::FreeRetry(FreeRetry::ChainLost);
    }
    if classified.unauthorized {
        return unauthorized(failure, config);
    }
    let retryable = classified.retryable
        || (*layer == Layer::Handshake
            && matches!(cause, Cause::Status(_))
            && matches!(classified.error, ResponseError::Http { .. }));
    let partial_voids_retry = !config.retry_after_partial_output && request.output_seen;
    if !retryable || partial_voids_retry {
        return Decision::Fail(classified.error.clone());
    }
    let policy = BackoffPolicy::from_config(config);
    let (retry_layer, spent, max) = match layer {
        Layer::Establish => (
            RetryLayer::Request,
            request.http_retries,
            config.request_max_retries,
        ),
        _ => (
            RetryLayer::Stream,
            request.stream_retries,
            config.stream_max_retries,
        ),
    };
    if spent < max {
        let retry = spent + 1;
        let delay = match classified
            .requested_delay
            .map(|wait| policy.requested(wait))
        {
            None => Delay::Backoff {
                exponent: retry - 1,
            },
            Some(RetryDelay::Wait(wait)) => Delay::Requested(wait),
            Some(RetryDelay::TooLong(wait)) => {
                return Decision::Fail(with_retry_after(classified.error.clone(), wait));
            }
        };
        return Decision::Retry {
            layer: retry_layer,
            retry,
            delay,
            error: classified.error.clone(),
        };
    }
    if retry_layer == RetryLayer::Stream && *transport == Transport::WebSocket {
        let last = classified.error.clone();
        return Decision::FallBack(Fallback::StreamRetriesExhausted(last));
    }
    Decision::Fail(classified.error.clone())
}

/// The session's count of consecutive WebSocket connects without an HTTP answer after
/// `failure` (10, trigger 3): one more when it is such a connect, unchanged otherwise.
/// The session stores it before applying the decision (an activated fallback then
/// resets it), and resets it itself whenever a handshake gets any HTTP answer.
pub(crate) fn unanswered_connects(failure: &Failure) -> u32 {
    let before = failure.session.unanswered_before;
    if counts_as_unanswered(failure) {
        before.saturating_add(1)
    } else {
        before
    }
}

/// A WebSocket connect that got no HTTP answer: the slot's always, the turn's when
/// its error is retryable (a proxy's 407 or a rejected certificate ends the request
/// and says nothing about the WebSocket endpoint).
fn counts_as_unanswered(failure: &Failure) -> bool {
    failure.cause == Cause::NoAnswer
        && failure.transport == Transport::WebSocket
        && match failure.layer {
            Layer::Slot => true,
            Layer::Handshake => failure.classified.retryable,
            Layer::Establish | Layer::Stream => false,
        }
}

/// Rule 1: the free retry a dead reused connection earns, if any.
fn stale_connection(failure: &Failure) -> Option<FreeRetry> {
    if failure.cause != Cause::Lost || !failure.classified.retryable || failure.layer == Layer::Slot
    {
        return None;
    }
    let used = failure.request.used;
    match failure.request.reused? {
        Reused::SlotSocket if !used.stale_socket => Some(FreeRetry::StaleSocket),
        Reused::PooledHttp if !used.stale_pooled => Some(FreeRetry::StalePooled),
        _ => None,
    }
}

/// Rule 5: `websocket_connection_limit_reached`.
fn connection_limit(failure: &Failure, config: &Config) -> Decision {
    let request = &failure.request;
    let message = if request.used.connection_limit {
        "WebSocket connection limit reached again"
    } else if request.caller_events {
        // `Reconnecting` must tell the caller the events are void, and
        // `retry_after_partial_output` must be honoured: an ordinary stream failure.
        "WebSocket connection limit reached mid-response"
    } else {
        return Decision::FreeRetry(FreeRetry::ConnectionLimit);
    };
    let ordinary = Failure {
        classified: error::classify_transport(message),
        cause: Cause::Other,
        layer: Layer::Stream,
        ..failure.clone()
    };
    decide(&ordinary, config)
}

/// Rule 7: a 401.
fn unauthorized(failure: &Failure, config: &Config) -> Decision {
    let Failure {
        classified,
        request,
        session,
        ..
    } = failure;
    let message = match &classified.error {
        ResponseError::Unauthorized { message } => message.clone(),
        other => other.to_string(),
    };
    if !session.auth_refreshable {
        let message = format!("{message} (the credentials cannot be refreshed)");
        return Decision::Fail(ResponseError::Unauthorized { message });
    }
    if request.used.auth_refresh {
        let message = format!("{message} (again after refreshing credentials)");
        return Decision::Fail(ResponseError::Unauthorized { message });
    }
    if !request.caller_events {
        // A 401 on a head or a handshake, the usual case: free.
        return Decision::Refresh { void_retry: None };
    }
    // Events of the attempt reached the caller: voiding them takes a stream retry.
    let partial_rule = !config.retry_after_partial_output && request.output_seen;
    if partial_rule || request.stream_retries >= config.stream_max_retries {
        return Decision::Fail(classified.error.clone());
    }
    Decision::Refresh {
        void_retry: Some(request.stream_retries + 1),
    }
}

/// Attaches a requested delay that was above `max_retry_after` to the error.
fn with_retry_after(error: ResponseError, requested: Duration) -> ResponseError {
    match error {
        ResponseError::RateLimited { message, .. } => ResponseError::RateLimited {
            retry_after: Some(requested),
            message,
        },
        ResponseError::Http {
            status,
            body,
            request_id,
            ..
        } => ResponseError::Http {
            status,
            body,
            request_id,
            retry_after: Some(requested),
        },
        ResponseError::Retryable { message, .. } => ResponseError::Retryable {
            message,
            delay: Some(requested),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
