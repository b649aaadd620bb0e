//! Generators shared by the targets: header maps, error objects, server event JSON and
//! SSE framing, each drawn from a [`Reader`]. Values come mostly from small
//! vocabularies of what the protocol looks at (so the fuzzer reaches the interesting
//! branches at once) and sometimes from raw input bytes (so it reaches everything
//! else).

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use turnwire_protocol::event::ErrorPayload;

use super::reader::Reader;

/// Header names the core reads.
pub(crate) const HEADER_NAMES: &[&str] = &[
    "x-codex-turn-state",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "x-request-id",
    "x-oai-request-id",
    "x-models-etag",
    "x-reasoning-included",
    "x-codex-primary-used-percent",
    "x-codex-primary-window-minutes",
    "x-codex-primary-reset-at",
    "x-codex-secondary-used-percent",
    "x-codex-secondary-window-minutes",
    "x-codex-secondary-reset-at",
    "x-codex-credits-has-credits",
    "x-codex-credits-unlimited",
    "x-codex-credits-balance",
    "content-type",
];

/// Header values worth trying on those names.
pub(crate) const HEADER_VALUES: &[&str] = &[
    "ts-1",
    "ts-2",
    "0",
    "1",
    "1.5",
    "120",
    "99999999999999999999",
    "true",
    "FALSE",
    "\"etag-1\"",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "Wed, 21 Oct 2099 07:28:00 GMT",
    "42.5",
    "-1",
    "NaN",
    "1700000000",
    "text/event-stream",
    " spaced ",
    "",
];

/// Error codes and types the classification knows, and some it does not.
pub(crate) const CODES: &[&str] = &[
    "context_length_exceeded",
    "insufficient_quota",
    "usage_not_included",
    "invalid_prompt",
    "server_is_overloaded",
    "slow_down",
    "usage_limit_reached",
    "rate_limit_exceeded",
    "websocket_connection_limit_reached",
    "server_error",
    "",
];

/// Error messages, several with a "try again in" delay.
pub(crate) const MESSAGES: &[&str] = &[
    "Rate limit reached. Please try again in 1.5s.",
    "try again in 28ms",
    "Try again in 35 seconds",
    "try again in 1m30s",
    "try again in 99999999999999999999h",
    "try again in µs",
    "boom",
    "",
    "ünïcödé message",
];

/// HTTP statuses the session treats differently, and a few odd ones.
pub(crate) const STATUSES: &[u16] = &[
    200, 201, 204, 101, 400, 401, 403, 404, 408, 409, 426, 429, 500, 502, 503, 599, 0, 999,
];

/// A status: usually one of [`STATUSES`], sometimes any number.
pub(crate) fn status(r: &mut Reader<'_>) -> u16 {
    if r.u8() < 240 {
        *r.pick(STATUSES)
    } else {
        r.u16()
    }
}

/// A short string: from `vocabulary` or raw bytes.
pub(crate) fn text(r: &mut Reader<'_>, vocabulary: &[&'static str]) -> String {
    if r.u8() < 224 {
        r.word(vocabulary).to_owned()
    } else {
        r.string(64)
    }
}

/// An optional short string.
pub(crate) fn opt_text(r: &mut Reader<'_>, vocabulary: &[&'static str]) -> Option<String> {
    if r.bool() {
        Some(text(r, vocabulary))
    } else {
        None
    }
}

/// A header map of up to three entries; entries that are not valid on the wire are
/// skipped.
pub(crate) fn headers(r: &mut Reader<'_>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for _ in 0..r.below(4) {
        let name = if r.u8() < 232 {
            Some(HeaderName::from_static(r.word(HEADER_NAMES)))
        } else {
            HeaderName::from_bytes(r.bytes(32)).ok()
        };
        let value = if r.u8() < 200 {
            HeaderValue::from_str(r.word(HEADER_VALUES)).ok()
        } else {
            HeaderValue::from_bytes(r.bytes(64)).ok()
        };
        if let (Some(name), Some(value)) = (name, value) {
            map.append(name, value);
        }
    }
    map
}

/// An error object with any of its fields.
pub(crate) fn error_payload(r: &mut Reader<'_>) -> ErrorPayload {
    ErrorPayload {
        code: opt_text(r, CODES),
        message: opt_text(r, MESSAGES),
        error_type: opt_text(r, CODES),
        param: opt_text(r, &["model", "input"]),
        plan_type: opt_text(r, &["plus", "pro"]),
        resets_at: r.bool().then(|| r.u64()),
    }
}

/// A JSON string or number for an id-like member, sometimes of the wrong kind.
fn id(r: &mut Reader<'_>) -> Value {
    match r.u8() % 8 {
        0 => Value::String(String::new()),
        1 => Value::Null,
        2 => json!(7),
        3 => Value::String(r.string(24)),
        4 => Value::String("resp_2".into()),
        _ => Value::String("resp_1".into()),
    }
}

/// An output item as JSON.
pub(crate) fn item_json(r: &mut Reader<'_>) -> Value {
    match r.u8() % 6 {
        0 => json!({"id":"msg_1","type":"message","role":"assistant","status":"completed",
                    "content":[{"type":"output_text","text":"Hi","annotations":[]}]}),
        1 => {
            json!({"id":"fc_1","type":"function_call","call_id":"call_1","name":"f","arguments":"{}"})
        }
        2 => json!({"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"gAAA"}),
        3 => json!({"type":"web_search_call","id":"ws_1","status":"completed"}),
        4 => json!({"type":"message","role":7}),
        _ => Value::String(r.string(16)),
    }
}

/// The JSON text of one server event: the kinds of PROTOCOL.md section 5, with
/// members present, missing or of the wrong kind, or raw text.
pub(crate) fn event_text(r: &mut Reader<'_>) -> String {
    let value = match r.u8() % 24 {
        0 => json!({"type":"response.created","response":{"id":id(r)}}),
        1 => json!({"type":"response.output_text.delta","delta":text(r, &["Hel", "lo", "𝄞"]),
                    "item_id":"msg_1","output_index":0,"content_index":0}),
        2 => json!({"type":"response.output_item.added","output_index":0,"item":item_json(r)}),
        3 => json!({"type":"response.output_item.done","output_index":0,"item":item_json(r)}),
        4 | 5 => json!({"type":"response.completed","response":{"id":id(r),
                    "usage":{"input_tokens":r.u8(),"output_tokens":r.u8(),"total_tokens":r.u16()}}}),
        6 => json!({"type":"response.done","response":{"id":id(r)}}),
        7 => json!({"type":"response.incomplete","response":{"id":id(r),
                    "incomplete_details":{"reason":"max_output_tokens"}}}),
        8 => json!({"type":"response.failed","response":{"id":id(r),
                    "error":{"code":text(r, CODES),"message":text(r, MESSAGES)}}}),
        9 => json!({"type":"response.failed"}),
        10 => json!({"type":"error","code":text(r, CODES),"message":text(r, MESSAGES)}),
        11 => json!({"type":"error","status":status(r),
                     "error":{"type":text(r, CODES),"code":text(r, CODES),"message":text(r, MESSAGES),
                              "plan_type":"plus","resets_at":r.u32()},
                     "headers":{"retry-after":text(r, HEADER_VALUES),
                                "x-codex-primary-used-percent":text(r, HEADER_VALUES)}}),
        12 => json!({"type":"error","error":{"code":"websocket_connection_limit_reached"}}),
        13 => {
            json!({"type":"codex.rate_limits","primary":{"used_percent":r.u8(),"window_minutes":60},
                     "credits":{"has_credits":r.bool(),"balance":"1.5"}})
        }
        14 => {
            json!({"type":"response.metadata","headers":{"x-codex-turn-state":text(r, HEADER_VALUES)}})
        }
        15 => json!({"type":"codex.response.metadata","headers":r.string(16)}),
        16 => json!({"type":"responsesapi.websocket_timing","t":r.u32()}),
        17 => {
            json!({"type":"response.reasoning_summary_text.delta","delta":"x","summary_index":r.u8()})
        }
        18 => json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":"{"}),
        19 => json!({"type":"response.in_progress","response":{"id":"resp_1"}}),
        20 => json!({"type":text(r, &["", "response.created", "x"])}),
        _ => return r.string(256),
    };
    value.to_string()
}

/// One SSE event block carrying `data`, with varied framing: line ends, an `event`
/// line, `id`, a comment, data split over two `data` lines when it has a newline.
pub(crate) fn sse_block(r: &mut Reader<'_>, data: &str) -> Vec<u8> {
    let eol: &[u8] = match r.u8() % 4 {
        0 => b"\r\n",
        1 => b"\r",
        _ => b"\n",
    };
    let flags = r.u8();
    let mut out = Vec::new();
    if flags & 1 != 0 {
        out.extend_from_slice(b": keep-alive");
        out.extend_from_slice(eol);
    }
    if flags & 2 != 0 {
        out.extend_from_slice(b"event: message");
        out.extend_from_slice(eol);
    }
    if flags & 4 != 0 {
        out.extend_from_slice(b"id: 7");
        out.extend_from_slice(eol);
    }
    for line in data.split('\n') {
        out.extend_from_slice(if flags & 8 != 0 { b"data:" } else { b"data: " });
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(eol);
    out
}
