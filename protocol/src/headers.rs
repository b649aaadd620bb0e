//! Header capture: the turn-state token (PROTOCOL.md section 7), rate-limit snapshots
//! and the other header-derived events (section 5), request ids, and the server's
//! retry hints (`Retry-After`, `retry-after-ms`, `x-should-retry`, section 9.1).

pub mod http_date;
mod retry_hints;

pub use retry_hints::{parse_retry_after_value, retry_after, should_retry};

use crate::event::{CreditsSnapshot, RateLimitSnapshot, RateLimitWindow, ResponseEvent};
use crate::header_names::{
    CREDITS_BALANCE, CREDITS_HAS_CREDITS, CREDITS_UNLIMITED, MODELS_ETAG, OAI_REQUEST_ID,
    PRIMARY_RESET_AT, PRIMARY_USED_PERCENT, PRIMARY_WINDOW_MINUTES, REASONING_INCLUDED, REQUEST_ID,
    SECONDARY_RESET_AT, SECONDARY_USED_PERCENT, SECONDARY_WINDOW_MINUTES, TURN_STATE,
};

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

/// Validates a raw turn-state value. Call on every captured `x-codex-turn-state` value
/// (response headers, handshake headers, `response.metadata` headers) before storing it.
///
/// Accepted: 1 to `max_len` bytes of visible ASCII (0x21–0x7E), with spaces (0x20)
/// allowed between visible characters. Rejected as [`TurnStateError::InvalidByte`]: any
/// control character (NUL, tab, CR, LF, …), DEL, any byte ≥ 0x80 (non-ASCII), and a
/// leading or trailing space (HTTP would strip it, so the token would not round-trip).
/// Length is checked before content.
pub fn validate_turn_state(raw: &[u8], max_len: usize) -> Result<TurnStateToken, TurnStateError> {
    if raw.is_empty() {
        return Err(TurnStateError::Empty);
    }
    if raw.len() > max_len {
        return Err(TurnStateError::TooLong {
            len: raw.len(),
            max: max_len,
        });
    }
    let visible = |b: &u8| (0x21..=0x7E).contains(b);
    let allowed = |b: &u8| visible(b) || *b == b' ';
    let trimmed = raw.first().is_some_and(visible) && raw.last().is_some_and(visible);
    if !trimmed || !raw.iter().all(allowed) {
        return Err(TurnStateError::InvalidByte);
    }
    http::HeaderValue::from_bytes(raw)
        .map(TurnStateToken)
        .map_err(|_| TurnStateError::InvalidByte)
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

/// A rate-limit snapshot from the `x-codex-*` headers, when any of them parse. Call on
/// the response headers of a `POST`, a WebSocket handshake, or a WebSocket `error`
/// frame's `headers`.
///
/// Read (first value of each, surrounding spaces ignored):
/// `x-codex-{primary,secondary}-used-percent` (a finite number ≥ 0; the window exists
/// only when this parses), `-window-minutes` and `-reset-at` (whole numbers; the reset
/// is in seconds since the Unix epoch), `x-codex-credits-has-credits` and
/// `x-codex-credits-unlimited` (`true`/`false`/`1`/`0`, any case) and
/// `x-codex-credits-balance` (kept as sent). Credits are present when any of the three
/// parses (an unparsed flag reads as false). `None` when no window and no credits parse.
pub fn rate_limits(headers: &http::HeaderMap) -> Option<RateLimitSnapshot> {
    let snapshot = RateLimitSnapshot {
        primary: window(headers, &PRIMARY),
        secondary: window(headers, &SECONDARY),
        credits: CreditsSnapshot::from_parts(
            text(headers, CREDITS_HAS_CREDITS).and_then(crate::event::parse_bool),
            text(headers, CREDITS_UNLIMITED).and_then(crate::event::parse_bool),
            text(headers, CREDITS_BALANCE).map(str::to_owned),
        ),
    };
    let any =
        snapshot.primary.is_some() || snapshot.secondary.is_some() || snapshot.credits.is_some();
    any.then_some(snapshot)
}

/// A header's first value as trimmed text, when it is visible ASCII.
fn text<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// The three headers of one rate-limit window.
struct WindowHeaders {
    used_percent: &'static str,
    window_minutes: &'static str,
    reset_at: &'static str,
}

const PRIMARY: WindowHeaders = WindowHeaders {
    used_percent: PRIMARY_USED_PERCENT,
    window_minutes: PRIMARY_WINDOW_MINUTES,
    reset_at: PRIMARY_RESET_AT,
};

const SECONDARY: WindowHeaders = WindowHeaders {
    used_percent: SECONDARY_USED_PERCENT,
    window_minutes: SECONDARY_WINDOW_MINUTES,
    reset_at: SECONDARY_RESET_AT,
};

fn window(headers: &http::HeaderMap, names: &WindowHeaders) -> Option<RateLimitWindow> {
    RateLimitWindow::from_parts(
        text(headers, names.used_percent).and_then(|v| v.parse().ok()),
        text(headers, names.window_minutes).and_then(|v| v.parse().ok()),
        text(headers, names.reset_at).and_then(|v| v.parse().ok()),
    )
}

/// The header-derived events of a response, in order: `RateLimits`, `ModelsEtag`,
/// `ServerReasoningIncluded`, each only when its header is present and parses. Call once
/// per response, before its body events (PROTOCOL.md section 5).
///
/// `ModelsEtag` needs a non-empty `x-models-etag` of at most `max_value` bytes of
/// visible ASCII (0x21–0x7E; etags are quoted tokens); otherwise it is skipped.
/// `ServerReasoningIncluded { included: true }` is emitted whenever
/// `x-reasoning-included` is present, whatever its value.
pub fn header_events(headers: &http::HeaderMap, max_value: usize) -> Vec<ResponseEvent> {
    let mut events = Vec::new();
    if let Some(snapshot) = rate_limits(headers) {
        events.push(ResponseEvent::RateLimits { snapshot });
    }
    if let Some(etag) = models_etag(headers, max_value) {
        events.push(ResponseEvent::ModelsEtag { etag });
    }
    if headers.contains_key(REASONING_INCLUDED) {
        events.push(ResponseEvent::ServerReasoningIncluded { included: true });
    }
    events
}

fn models_etag(headers: &http::HeaderMap, max_value: usize) -> Option<String> {
    let raw = headers.get(MODELS_ETAG)?.as_bytes();
    let acceptable =
        !raw.is_empty() && raw.len() <= max_value && raw.iter().all(|b| (0x21..=0x7E).contains(b));
    acceptable.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// `x-request-id`, else `x-oai-request-id`: the first of them that is non-empty visible
/// ASCII. Call when building an error from an HTTP response.
pub fn request_id(headers: &http::HeaderMap) -> Option<String> {
    [REQUEST_ID, OAI_REQUEST_ID]
        .into_iter()
        .find_map(|name| text(headers, name).filter(|id| !id.is_empty()))
        .map(str::to_owned)
}
