//! Decoding one server event JSON object into a [`ServerEvent`] (PROTOCOL.md section 5).
//!
//! Two steps. First the `type` is read: borrowed straight from the text when the object
//! starts with a plain `"type":"…"` member (the usual case), otherwise through a small
//! probe that skips every other member. Then the object is parsed once more into a small
//! struct holding only the fields that type needs; large members we only pass on or
//! look into (`response`, `item`, `headers`) are captured as borrowed [`RawValue`]s, so no
//! `serde_json::Value` tree is built except for events passed through whole (`Other`,
//! `Timing`) and for the `headers` maps. A text delta therefore costs one parse into a
//! four-field struct.
//!
//! Strictness: fields a caller event is built from (ids, deltas, indexes, items) must be
//! present and of the right kind, else the event is an [`EventDecodeError`]. Fields that
//! only inform (usage counts, error codes and messages, rate-limit numbers) are read
//! leniently: a wrong kind reads as absent (or 0 for usage) instead of losing the event.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::lenient::Scalar;
use super::{EventDecodeError, ResponseEvent, ServerEvent, headers_from_json};
use crate::item::ResponseItem;

mod lifecycle;
mod side;

use lifecycle::{completed, created, error, failed, incomplete};
use side::{metadata, rate_limits};

/// Server event types with a mapping of their own.
pub(crate) mod types {
    /// `response.created`.
    pub(crate) const CREATED: &str = "response.created";
    /// `response.output_item.added`.
    pub(crate) const OUTPUT_ITEM_ADDED: &str = "response.output_item.added";
    /// `response.output_item.done`.
    pub(crate) const OUTPUT_ITEM_DONE: &str = "response.output_item.done";
    /// `response.output_text.delta`.
    pub(crate) const OUTPUT_TEXT_DELTA: &str = "response.output_text.delta";
    /// `response.reasoning_summary_text.delta`.
    pub(crate) const REASONING_SUMMARY_DELTA: &str = "response.reasoning_summary_text.delta";
    /// `response.reasoning_text.delta`.
    pub(crate) const REASONING_TEXT_DELTA: &str = "response.reasoning_text.delta";
    /// `response.reasoning_summary_part.added`.
    pub(crate) const REASONING_SUMMARY_PART_ADDED: &str = "response.reasoning_summary_part.added";
    /// `response.function_call_arguments.delta`.
    pub(crate) const FUNCTION_CALL_ARGUMENTS_DELTA: &str = "response.function_call_arguments.delta";
    /// `response.custom_tool_call_input.delta`.
    pub(crate) const CUSTOM_TOOL_CALL_INPUT_DELTA: &str = "response.custom_tool_call_input.delta";
    /// `response.completed`.
    pub(crate) const COMPLETED: &str = "response.completed";
    /// `response.done`, the legacy name of `response.completed`.
    pub(crate) const DONE: &str = "response.done";
    /// `response.incomplete`.
    pub(crate) const INCOMPLETE: &str = "response.incomplete";
    /// `response.failed`.
    pub(crate) const FAILED: &str = "response.failed";
    /// `error`, SSE or WebSocket.
    pub(crate) const ERROR: &str = "error";
    /// `codex.rate_limits` (WebSocket).
    pub(crate) const RATE_LIMITS: &str = "codex.rate_limits";
    /// `response.metadata`.
    pub(crate) const METADATA: &str = "response.metadata";
    /// `codex.response.metadata`.
    pub(crate) const CODEX_METADATA: &str = "codex.response.metadata";
    /// `responsesapi.websocket_timing`.
    pub(crate) const TIMING: &str = "responsesapi.websocket_timing";
}

use types::*;

/// Longest serde_json error text kept in [`EventDecodeError::Json`]; its messages can
/// quote input strings.
const MAX_ERROR_TEXT: usize = 200;

/// Decodes one event. See [`super::decode_server_event`].
pub(super) fn decode(json: &str) -> Result<ServerEvent, EventDecodeError> {
    let event_type = event_type(json)?;
    match event_type.as_ref() {
        OUTPUT_TEXT_DELTA => output_text_delta(json),
        REASONING_SUMMARY_DELTA => reasoning_summary_delta(json),
        REASONING_TEXT_DELTA => reasoning_text_delta(json),
        REASONING_SUMMARY_PART_ADDED => reasoning_summary_part_added(json),
        FUNCTION_CALL_ARGUMENTS_DELTA => tool_call_input_delta(json, FUNCTION_CALL_ARGUMENTS_DELTA),
        CUSTOM_TOOL_CALL_INPUT_DELTA => tool_call_input_delta(json, CUSTOM_TOOL_CALL_INPUT_DELTA),
        OUTPUT_ITEM_ADDED => output_item(json, OUTPUT_ITEM_ADDED),
        OUTPUT_ITEM_DONE => output_item(json, OUTPUT_ITEM_DONE),
        CREATED => created(json),
        COMPLETED | DONE => completed(json),
        INCOMPLETE => incomplete(json),
        FAILED => failed(json),
        ERROR => error(json),
        RATE_LIMITS => rate_limits(json),
        METADATA => metadata(json, METADATA),
        CODEX_METADATA => metadata(json, CODEX_METADATA),
        TIMING => Ok(ServerEvent::Timing(whole_value(json)?)),
        _ => caller(ResponseEvent::Other {
            raw: whole_value(json)?,
            event_type: event_type.into_owned(),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// The type

fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The event's `type`: a non-empty JSON string member of a JSON object.
fn event_type(json: &str) -> Result<Cow<'_, str>, EventDecodeError> {
    let body = json.trim_start_matches(is_json_space);
    if !body.starts_with('{') {
        return Err(not_an_object(json));
    }
    if let Some(event_type) = leading_type(body) {
        return non_empty(Cow::Borrowed(event_type));
    }
    #[derive(Deserialize)]
    struct TypeProbe<'a> {
        #[serde(rename = "type", borrow, default)]
        event_type: Scalar<'a>,
    }
    let probe: TypeProbe<'_> = serde_json::from_str(json).map_err(|e| json_error(&e))?;
    probe
        .event_type
        .into_str()
        .map_or(Err(EventDecodeError::MissingType), non_empty)
}

fn non_empty(event_type: Cow<'_, str>) -> Result<Cow<'_, str>, EventDecodeError> {
    if event_type.is_empty() {
        Err(EventDecodeError::MissingType)
    } else {
        Ok(event_type)
    }
}

/// The type when `body` opens with `{"type":"<plain text>"` (whitespace allowed between
/// tokens): the text is then exactly the type, with nothing to unescape. `None` sends
/// the caller to the full probe. Whether the rest is valid JSON is checked by the parse
/// that follows.
fn leading_type(body: &str) -> Option<&str> {
    let rest = body.strip_prefix('{')?.trim_start_matches(is_json_space);
    let rest = rest
        .strip_prefix("\"type\"")?
        .trim_start_matches(is_json_space);
    let rest = rest.strip_prefix(':')?.trim_start_matches(is_json_space);
    let rest = rest.strip_prefix('"')?;
    let end = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    (rest.as_bytes().get(end) == Some(&b'"'))
        .then(|| rest.get(..end))
        .flatten()
}

fn not_an_object(json: &str) -> EventDecodeError {
    match serde_json::from_str::<serde::de::IgnoredAny>(json) {
        Err(e) => json_error(&e),
        Ok(_) => EventDecodeError::Json("expected a JSON object".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// What kind of value a required field must hold.
#[derive(Clone, Copy)]
enum Kind {
    /// A JSON string.
    Str,
    /// A non-negative integer that fits `u32`.
    Index,
    /// A JSON object.
    Object,
}

/// A field an event's mapping needs; `path` may be dotted (`response.id`).
struct Need {
    path: &'static str,
    kind: Kind,
}

const fn string(path: &'static str) -> Need {
    Need {
        path,
        kind: Kind::Str,
    }
}

const fn index(path: &'static str) -> Need {
    Need {
        path,
        kind: Kind::Index,
    }
}

const fn object_field(path: &'static str) -> Need {
    Need {
        path,
        kind: Kind::Object,
    }
}

impl Kind {
    fn admits(self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Kind::Str, Some(Value::String(_))) => true,
            (Kind::Index, Some(Value::Number(n))) => {
                n.as_u64().is_some_and(|n| u32::try_from(n).is_ok())
            }
            (Kind::Object, Some(Value::Object(_))) => true,
            _ => false,
        }
    }
}

/// Parses `json` into `T`; on failure says why: a syntax error is `Json`, a wrong or
/// missing field is `MissingField` naming the first of `needs` at fault.
fn parse<'a, T: Deserialize<'a>>(
    json: &'a str,
    event_type: &str,
    needs: &[Need],
) -> Result<T, EventDecodeError> {
    serde_json::from_str(json).map_err(|e| explain(json, event_type, needs, &e))
}

/// The cold path of [`parse`]: re-reads the event as a `Value` to find the culprit.
#[cold]
fn explain(
    json: &str,
    event_type: &str,
    needs: &[Need],
    err: &serde_json::Error,
) -> EventDecodeError {
    if !err.is_data() {
        return json_error(err);
    }
    let Ok(value) = serde_json::from_str::<Value>(json) else {
        return json_error(err);
    };
    let lookup = |path: &str| path.split('.').try_fold(&value, |v, key| v.get(key));
    let culprit = needs
        .iter()
        .find(|n| !n.kind.admits(lookup(n.path)))
        .or_else(|| needs.first());
    match culprit {
        Some(need) => missing(event_type, need.path),
        None => json_error(err),
    }
}

fn missing(event_type: &str, field: &'static str) -> EventDecodeError {
    EventDecodeError::MissingField {
        event_type: event_type.to_owned(),
        field,
    }
}

#[cold]
fn json_error(err: &serde_json::Error) -> EventDecodeError {
    let mut text = err.to_string();
    if text.len() > MAX_ERROR_TEXT {
        let mut end = MAX_ERROR_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    EventDecodeError::Json(text)
}

fn whole_value(json: &str) -> Result<Value, EventDecodeError> {
    serde_json::from_str(json).map_err(|e| json_error(&e))
}

fn caller(event: ResponseEvent) -> Result<ServerEvent, EventDecodeError> {
    Ok(ServerEvent::Caller(event))
}

// ---------------------------------------------------------------------------------------
// Raw members

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start_matches(is_json_space).starts_with('{')
}

/// `raw` parsed as `T` when it is a JSON object (serde would also fill a struct from an
/// array, which we never want) and parses.
fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    if is_object(raw) {
        serde_json::from_str(raw.get()).ok()
    } else {
        None
    }
}

/// A `headers` member as a header map (empty when it is not an object).
fn header_map(raw: &RawValue) -> http::HeaderMap {
    serde_json::from_str::<Value>(raw.get())
        .map(|v| headers_from_json(&v))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Output deltas: the hot path

#[derive(Deserialize)]
struct TextDelta {
    delta: String,
    item_id: String,
    output_index: u32,
    content_index: u32,
}

fn output_text_delta(json: &str) -> Result<ServerEvent, EventDecodeError> {
    const NEEDS: &[Need] = &[
        string("delta"),
        string("item_id"),
        index("output_index"),
        index("content_index"),
    ];
    let e: TextDelta = parse(json, OUTPUT_TEXT_DELTA, NEEDS)?;
    caller(ResponseEvent::OutputTextDelta {
        delta: e.delta,
        item_id: e.item_id,
        output_index: e.output_index,
        content_index: e.content_index,
    })
}

#[derive(Deserialize)]
struct SummaryDelta {
    delta: String,
    summary_index: u32,
}

fn reasoning_summary_delta(json: &str) -> Result<ServerEvent, EventDecodeError> {
    const NEEDS: &[Need] = &[string("delta"), index("summary_index")];
    let e: SummaryDelta = parse(json, REASONING_SUMMARY_DELTA, NEEDS)?;
    caller(ResponseEvent::ReasoningSummaryDelta {
        delta: e.delta,
        summary_index: e.summary_index,
    })
}

#[derive(Deserialize)]
struct ContentDelta {
    delta: String,
    content_index: u32,
}

fn reasoning_text_delta(json: &str) -> Result<ServerEvent, EventDecodeError> {
    const NEEDS: &[Need] = &[string("delta"), index("content_index")];
    let e: ContentDelta = parse(json, REASONING_TEXT_DELTA, NEEDS)?;
    caller(ResponseEvent::ReasoningContentDelta {
        delta: e.delta,
        content_index: e.content_index,
    })
}

#[derive(Deserialize)]
struct SummaryPart {
    summary_index: u32,
}

fn reasoning_summary_part_added(json: &str) -> Result<ServerEvent, EventDecodeError> {
    const NEEDS: &[Need] = &[index("summary_index")];
    let e: SummaryPart = parse(json, REASONING_SUMMARY_PART_ADDED, NEEDS)?;
    caller(ResponseEvent::ReasoningSummaryPartAdded {
        summary_index: e.summary_index,
    })
}

#[derive(Deserialize)]
struct ToolInputDelta {
    item_id: String,
    delta: String,
}

fn tool_call_input_delta(json: &str, event_type: &str) -> Result<ServerEvent, EventDecodeError> {
    const NEEDS: &[Need] = &[string("item_id"), string("delta")];
    let e: ToolInputDelta = parse(json, event_type, NEEDS)?;
    caller(ResponseEvent::ToolCallInputDelta {
        item_id: e.item_id,
        delta: e.delta,
    })
}

// ---------------------------------------------------------------------------------------
// Items

fn output_item(json: &str, event_type: &'static str) -> Result<ServerEvent, EventDecodeError> {
    #[derive(Deserialize)]
    struct ItemEvent<'a> {
        #[serde(borrow, default)]
        item: Option<&'a RawValue>,
    }
    const NEEDS: &[Need] = &[object_field("item")];
    let e: ItemEvent<'_> = parse(json, event_type, NEEDS)?;
    let item: ResponseItem = e
        .item
        .filter(|raw| is_object(raw))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or_else(|| missing(event_type, "item"))?;
    caller(if event_type == OUTPUT_ITEM_ADDED {
        ResponseEvent::OutputItemAdded { item }
    } else {
        ResponseEvent::OutputItemDone { item }
    })
}
