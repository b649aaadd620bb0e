//! Side channels: `response.metadata` / `codex.response.metadata` headers and the
//! WebSocket `codex.rate_limits` frame.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::types::*;
use super::{Need, caller, is_object, missing, object, object_field, parse};
use crate::event::lenient::Scalar;
use crate::event::{
    CreditsSnapshot, EventDecodeError, RateLimitSnapshot, RateLimitWindow, ResponseEvent,
    ServerEvent, headers_from_json,
};
use crate::header_names::TURN_STATE;

pub(super) fn metadata(
    json: &str,
    event_type: &'static str,
) -> Result<ServerEvent, EventDecodeError> {
    #[derive(Deserialize)]
    struct MetadataEvent<'a> {
        #[serde(borrow, default)]
        headers: Option<&'a RawValue>,
    }
    const NEEDS: &[Need] = &[object_field("headers")];
    let e: MetadataEvent<'_> = parse(json, event_type, NEEDS)?;
    let headers = e
        .headers
        .filter(|raw| is_object(raw))
        .ok_or_else(|| missing(event_type, "headers"))?;
    let map: serde_json::Value = serde_json::from_str(headers.get()).unwrap_or_default();
    Ok(ServerEvent::Metadata {
        headers: headers_from_json(&map),
        turn_state: raw_turn_state(&map),
    })
}

/// The `x-codex-turn-state` entry of a metadata `headers` object as sent: a string (the
/// first of an array of strings), or a number or boolean in its JSON form. Kept even
/// when it is not a valid header value, so the session can reject and report it rather
/// than lose it silently.
fn raw_turn_state(map: &serde_json::Value) -> Option<String> {
    let value = map
        .as_object()?
        .iter()
        .find_map(|(name, value)| name.eq_ignore_ascii_case(TURN_STATE).then_some(value))?;
    let value = match value {
        serde_json::Value::Array(values) => values.first()?,
        value => value,
    };
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `codex.rate_limits`. Accepted shape (every part optional, read leniently):
///
/// ```json
/// {"type":"codex.rate_limits","plan_type":"pro",
///  "rate_limits":{"allowed":true,"limit_reached":false,
///    "primary":{"used_percent":7,"window_minutes":300,"reset_at":1779398785},
///    "secondary":{"used_percent":29.5,"window_minutes":10080,"resets_at":1779820580},
///    "credits":{"has_credits":true,"unlimited":false,"balance":"12.50"}},
///  "credits":{…}}
/// ```
///
/// `primary`/`secondary`/`credits` are looked up inside `rate_limits` first, then at the
/// top level. A window needs a finite, non-negative `used_percent`; `reset_at` and
/// `resets_at` are both read. The event is always a `RateLimits`, with an empty
/// snapshot when nothing in it parses.
pub(super) fn rate_limits(json: &str) -> Result<ServerEvent, EventDecodeError> {
    #[derive(Deserialize)]
    struct RateLimitsFields<'a> {
        #[serde(borrow, default)]
        rate_limits: Option<&'a RawValue>,
        #[serde(borrow, default)]
        primary: Option<&'a RawValue>,
        #[serde(borrow, default)]
        secondary: Option<&'a RawValue>,
        #[serde(borrow, default)]
        credits: Option<&'a RawValue>,
    }
    let frame: RateLimitsFields<'_> = parse(json, RATE_LIMITS, &[])?;
    let body = frame.rate_limits.and_then(object::<RateLimitsFields<'_>>);
    let inner = body.as_ref();
    let member = |pick: for<'f> fn(&'f RateLimitsFields<'_>) -> Option<&'f RawValue>| {
        inner.and_then(pick).or_else(|| pick(&frame))
    };
    let snapshot = RateLimitSnapshot {
        primary: member(|f| f.primary).and_then(window),
        secondary: member(|f| f.secondary).and_then(window),
        credits: member(|f| f.credits).and_then(credits),
    };
    caller(ResponseEvent::RateLimits { snapshot })
}

fn window(raw: &RawValue) -> Option<RateLimitWindow> {
    #[derive(Deserialize)]
    struct WindowFields<'a> {
        #[serde(borrow, default)]
        used_percent: Scalar<'a>,
        #[serde(borrow, default)]
        window_minutes: Scalar<'a>,
        #[serde(borrow, default)]
        reset_at: Scalar<'a>,
        #[serde(borrow, default)]
        resets_at: Scalar<'a>,
    }
    let w: WindowFields<'_> = object(raw)?;
    RateLimitWindow::from_parts(
        w.used_percent.as_f64(),
        w.window_minutes.as_u64(),
        w.reset_at.as_u64().or_else(|| w.resets_at.as_u64()),
    )
}

fn credits(raw: &RawValue) -> Option<CreditsSnapshot> {
    #[derive(Deserialize)]
    struct CreditsFields<'a> {
        #[serde(borrow, default)]
        has_credits: Scalar<'a>,
        #[serde(borrow, default)]
        unlimited: Scalar<'a>,
        #[serde(borrow, default)]
        balance: Scalar<'a>,
    }
    let c: CreditsFields<'_> = object(raw)?;
    CreditsSnapshot::from_parts(
        c.has_credits.as_bool(),
        c.unlimited.as_bool(),
        c.balance.into_text(),
    )
}
