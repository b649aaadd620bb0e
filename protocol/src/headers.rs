//! Header capture: the turn-state token (PROTOCOL.md section 7), rate-limit snapshots
//! and the other header-derived events (section 5), request ids.
//!
//! OWNER: codec helper "events". The signatures below are the contract the session uses.

use crate::event::{RateLimitSnapshot, ResponseEvent};

/// The `x-codex-turn-state` header name.
pub const TURN_STATE: &str = "x-codex-turn-state";

/// A validated turn-state token: a valid header value of at most the configured
/// length. Only these are ever sent.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnStateToken(http::HeaderValue);

impl TurnStateToken {
    /// The header value to send.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.0
    }

    /// The token as text (always visible ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl core::fmt::Debug for TurnStateToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TurnStateToken({:?})", self.as_str())
    }
}

/// Why a turn-state value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnStateError {
    /// Empty value.
    #[error("turn state is empty")]
    Empty,
    /// Longer than the bound.
    #[error("turn state is {len} bytes, over the {max}-byte bound")]
    TooLong {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Contains control characters, CR/LF or non-visible bytes.
    #[error("turn state contains a byte that is not allowed in a header value")]
    InvalidByte,
}

/// Validates a raw turn-state value.
pub fn validate_turn_state(raw: &[u8], max_len: usize) -> Result<TurnStateToken, TurnStateError> {
    let _ = (raw, max_len);
    todo!("events helper")
}

/// The turn-state token in `headers`, if the header is present: `Some(Ok)` when valid,
/// `Some(Err)` when present but rejected.
pub fn turn_state(
    headers: &http::HeaderMap,
    max_len: usize,
) -> Option<Result<TurnStateToken, TurnStateError>> {
    headers
        .get(TURN_STATE)
        .map(|v| validate_turn_state(v.as_bytes(), max_len))
}

/// A rate-limit snapshot from the `x-codex-*` headers, when any of them parse.
pub fn rate_limits(headers: &http::HeaderMap) -> Option<RateLimitSnapshot> {
    let _ = headers;
    todo!("events helper")
}

/// The header-derived events of a response, in order: `RateLimits`, `ModelsEtag`,
/// `ServerReasoningIncluded`, each only when its header is present and parses.
pub fn header_events(headers: &http::HeaderMap, max_value: usize) -> Vec<ResponseEvent> {
    let _ = (headers, max_value);
    todo!("events helper")
}

/// `x-request-id`, else `x-oai-request-id`.
pub fn request_id(headers: &http::HeaderMap) -> Option<String> {
    let _ = headers;
    todo!("events helper")
}

/// Converts a JSON `headers` object (of a WebSocket `error` frame or a
/// `response.metadata` event) to a header map, skipping entries that are not valid
/// header names or string/number values.
pub fn headers_from_json(value: &serde_json::Value) -> http::HeaderMap {
    let _ = value;
    todo!("events helper")
}
