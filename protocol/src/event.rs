//! Server events: decoding one JSON event object (from an SSE `data` field or a
//! WebSocket text frame) into a typed [`ServerEvent`], and the caller-facing
//! [`ResponseEvent`] (PROTOCOL.md section 5).

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::item::ResponseItem;

mod decode;
mod header_map;
mod lenient;

pub use header_map::headers_from_json;

pub(crate) use lenient::parse_bool;

/// Token usage of a finished response. Missing details read as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `input_tokens_details.cached_tokens`.
    pub cached_input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// `output_tokens_details.reasoning_tokens`.
    pub reasoning_output_tokens: u64,
    /// `total_tokens`.
    pub total_tokens: u64,
}

/// One rate-limit window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitWindow {
    /// Percentage of the window used (0–100, may exceed 100).
    pub used_percent: f64,
    /// Window length in minutes.
    pub window_minutes: Option<u64>,
    /// When the window resets, in seconds since the Unix epoch.
    pub resets_at: Option<u64>,
}

impl RateLimitWindow {
    /// A window from its parsed parts: only when `used_percent` is a finite,
    /// non-negative number.
    pub(crate) fn from_parts(
        used_percent: Option<f64>,
        window_minutes: Option<u64>,
        resets_at: Option<u64>,
    ) -> Option<Self> {
        let used_percent = used_percent.filter(|p| p.is_finite() && *p >= 0.0)?;
        Some(RateLimitWindow {
            used_percent,
            window_minutes,
            resets_at,
        })
    }
}

/// Credits state reported by the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreditsSnapshot {
    /// `x-codex-credits-has-credits`.
    pub has_credits: bool,
    /// `x-codex-credits-unlimited`.
    pub unlimited: bool,
    /// `x-codex-credits-balance`, as sent.
    pub balance: Option<String>,
}

impl CreditsSnapshot {
    /// A credits snapshot from its parsed parts: present when any part is (a flag that
    /// did not parse reads as false; an empty balance counts as absent).
    pub(crate) fn from_parts(
        has_credits: Option<bool>,
        unlimited: Option<bool>,
        balance: Option<String>,
    ) -> Option<Self> {
        let balance = balance.filter(|b| !b.trim().is_empty());
        if has_credits.is_none() && unlimited.is_none() && balance.is_none() {
            return None;
        }
        Some(CreditsSnapshot {
            has_credits: has_credits.unwrap_or(false),
            unlimited: unlimited.unwrap_or(false),
            balance,
        })
    }
}

/// Rate limits from `x-codex-*` headers or a `codex.rate_limits` frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitSnapshot {
    /// The primary window.
    pub primary: Option<RateLimitWindow>,
    /// The secondary window.
    pub secondary: Option<RateLimitWindow>,
    /// Credits.
    pub credits: Option<CreditsSnapshot>,
}

/// What the caller sees of a response, in order. Terminal events are
/// [`ResponseEvent::Completed`] and [`ResponseEvent::Incomplete`]; a failed request ends
/// with an error instead (see the session's outputs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseEvent {
    /// `response.created`.
    Created {
        /// The response id.
        response_id: String,
    },
    /// `response.output_item.added`.
    OutputItemAdded {
        /// The item as announced.
        item: ResponseItem,
    },
    /// `response.output_item.done`.
    OutputItemDone {
        /// The finished item.
        item: ResponseItem,
    },
    /// `response.output_text.delta`.
    OutputTextDelta {
        /// The text fragment.
        delta: String,
        /// The message item it belongs to.
        item_id: String,
        /// Index of the item in the response output.
        output_index: u32,
        /// Index of the content part.
        content_index: u32,
    },
    /// `response.reasoning_summary_text.delta`.
    ReasoningSummaryDelta {
        /// The text fragment.
        delta: String,
        /// Which summary part.
        summary_index: u32,
    },
    /// `response.reasoning_text.delta`.
    ReasoningContentDelta {
        /// The text fragment.
        delta: String,
        /// Which content part.
        content_index: u32,
    },
    /// `response.reasoning_summary_part.added`.
    ReasoningSummaryPartAdded {
        /// Which summary part.
        summary_index: u32,
    },
    /// `response.function_call_arguments.delta` or `response.custom_tool_call_input.delta`.
    ToolCallInputDelta {
        /// The tool call item.
        item_id: String,
        /// The input fragment.
        delta: String,
    },
    /// `response.completed` (or the legacy `response.done`). Terminal.
    Completed {
        /// The response id.
        response_id: String,
        /// Token usage, when reported.
        usage: Option<Usage>,
    },
    /// `response.incomplete`. Terminal, not retried.
    Incomplete {
        /// The response id.
        response_id: String,
        /// `incomplete_details.reason`, such as `max_output_tokens`.
        reason: Option<String>,
        /// Token usage, when reported.
        usage: Option<Usage>,
    },
    /// Rate limits, from response headers or a `codex.rate_limits` frame.
    RateLimits {
        /// The snapshot.
        snapshot: RateLimitSnapshot,
    },
    /// `x-models-etag` of the response or connection.
    ModelsEtag {
        /// The etag value.
        etag: String,
    },
    /// `x-reasoning-included` was present.
    ServerReasoningIncluded {
        /// Always true today; a value so a future header form can say false.
        included: bool,
    },
    /// A retry is about to happen after `delay`; partial output of the failed
    /// attempt is void.
    Reconnecting {
        /// Retry number, from 1.
        attempt: u32,
        /// The retry budget.
        max: u32,
        /// How long the client waits before the retry.
        #[serde(with = "crate::serde_duration")]
        delay: Duration,
        /// Why the previous attempt failed.
        reason: String,
    },
    /// The session switched from WebSocket to HTTP.
    FallbackActivated {
        /// Why.
        reason: String,
    },
    /// Any other server event, passed through untouched.
    Other {
        /// The event's `type`.
        #[serde(rename = "type")]
        event_type: String,
        /// The whole event as received.
        raw: serde_json::Value,
    },
}

impl ResponseEvent {
    /// True for the events that end a response successfully (completed or incomplete).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ResponseEvent::Completed { .. } | ResponseEvent::Incomplete { .. }
        )
    }

    /// True for events that carry model output (text, items, reasoning, tool input):
    /// the events that `retry_after_partial_output = false` refuses to void.
    ///
    /// Every variant is named here (no wildcard), so a new event does not compile
    /// until someone decides whether it is output.
    pub fn is_output(&self) -> bool {
        match self {
            ResponseEvent::OutputItemAdded { .. }
            | ResponseEvent::OutputItemDone { .. }
            | ResponseEvent::OutputTextDelta { .. }
            | ResponseEvent::ReasoningSummaryDelta { .. }
            | ResponseEvent::ReasoningContentDelta { .. }
            | ResponseEvent::ReasoningSummaryPartAdded { .. }
            | ResponseEvent::ToolCallInputDelta { .. } => true,
            ResponseEvent::Created { .. }
            | ResponseEvent::Completed { .. }
            | ResponseEvent::Incomplete { .. }
            | ResponseEvent::RateLimits { .. }
            | ResponseEvent::ModelsEtag { .. }
            | ResponseEvent::ServerReasoningIncluded { .. }
            | ResponseEvent::Reconnecting { .. }
            | ResponseEvent::FallbackActivated { .. }
            | ResponseEvent::Other { .. } => false,
        }
    }
}

/// The `error` object of a `response.failed` event, an SSE `error` event, or a
/// WebSocket `error` frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// `code`, such as `context_length_exceeded`.
    pub code: Option<String>,
    /// `message`, for people.
    pub message: Option<String>,
    /// `type`, such as `usage_limit_reached`.
    pub error_type: Option<String>,
    /// `param`.
    pub param: Option<String>,
    /// `plan_type` (usage-limit errors).
    pub plan_type: Option<String>,
    /// `resets_at` in seconds since the epoch (usage-limit errors).
    pub resets_at: Option<u64>,
}

/// One decoded server event, before the session decides what the caller sees.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// An event the caller sees as is (never `Completed`/`Incomplete`; those are below).
    Caller(ResponseEvent),
    /// `response.completed` / `response.done`.
    Completed {
        /// The response id (never empty).
        response_id: String,
        /// Usage when present.
        usage: Option<Usage>,
    },
    /// `response.incomplete`.
    Incomplete {
        /// The response id.
        response_id: String,
        /// `incomplete_details.reason`.
        reason: Option<String>,
        /// Usage when present.
        usage: Option<Usage>,
    },
    /// `response.failed`.
    Failed {
        /// The response id, when present.
        response_id: Option<String>,
        /// `response.error`, when present.
        error: Option<ErrorPayload>,
    },
    /// An `error` event without a `status` (SSE shape, top-level or nested).
    Error(ErrorPayload),
    /// A WebSocket `error` frame with a `status`.
    WsError {
        /// The HTTP-like status.
        status: u16,
        /// The error object.
        error: ErrorPayload,
        /// The frame's `headers` map.
        headers: http::HeaderMap,
    },
    /// `response.metadata` / `codex.response.metadata` with its `headers` map.
    Metadata {
        /// The headers map (entries that are not valid headers are left out).
        headers: http::HeaderMap,
        /// The map's `x-codex-turn-state` entry as sent, even when it is not a valid
        /// header value (which `headers` leaves out): the session validates it, and
        /// captures or rejects and reports it (PROTOCOL.md section 7).
        turn_state: Option<String>,
    },
    /// `responsesapi.websocket_timing`: telemetry only.
    Timing(serde_json::Value),
}

/// Why an event was not decoded. The session skips the event with a telemetry record,
/// except [`EventDecodeError::CompletedWithoutId`], which fails the response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventDecodeError {
    /// Not a JSON object.
    #[error("event is not a JSON object: {0}")]
    Json(String),
    /// No string `type` field.
    #[error("event has no type")]
    MissingType,
    /// A field its mapping needs is missing or of the wrong kind.
    #[error("event {event_type} lacks field {field}")]
    MissingField {
        /// The event's type.
        event_type: String,
        /// The field.
        field: &'static str,
    },
    /// `response.completed` without a usable `response.id`.
    #[error("response.completed without a response id")]
    CompletedWithoutId,
}

/// Decodes one server event from its JSON text. Call once per SSE event `data` or
/// WebSocket text frame. Never panics; unknown types become `Other`.
///
/// The mapping is the table of PROTOCOL.md section 5:
/// - output deltas, `response.created` and `response.output_item.*` need the fields
///   their [`ResponseEvent`] is built from (`response.id` for `created`; `item` must be
///   an object that deserializes as a [`ResponseItem`]), else
///   [`EventDecodeError::MissingField`];
/// - `response.completed` / `response.done` need a non-empty string `response.id`, else
///   [`EventDecodeError::CompletedWithoutId`]; `response.incomplete` needs `response.id`;
///   `response.failed` never fails for a missing member (it is terminal);
/// - `error` with a numeric `status` (or `status_code`, 100–999) is
///   [`ServerEvent::WsError`], otherwise [`ServerEvent::Error`]; the payload merges the
///   nested `error` object (or string) with top-level `code`/`message`/`param`;
/// - `codex.rate_limits` is always `RateLimits` (shape documented on the decoder,
///   lenient), `response.metadata` / `codex.response.metadata` need a `headers` object;
/// - usage counts, error fields and rate-limit numbers are read leniently: a value of
///   the wrong kind reads as absent (usage: 0) instead of losing the event.
///
/// Errors: text that is not a JSON object is [`EventDecodeError::Json`]; an object
/// without a non-empty string `type` is [`EventDecodeError::MissingType`].
pub fn decode_server_event(json: &str) -> Result<ServerEvent, EventDecodeError> {
    decode::decode(json)
}
