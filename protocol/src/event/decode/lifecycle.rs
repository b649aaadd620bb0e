//! The response lifecycle (`response.created`, `.completed`/`.done`, `.incomplete`,
//! `.failed`) with usage, and server `error` events (SSE and WebSocket shapes).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::types::*;
use super::{Need, caller, header_map, missing, object, object_field, parse};
use crate::event::lenient::Scalar;
use crate::event::{ErrorPayload, EventDecodeError, ResponseEvent, ServerEvent, Usage};

/// The members of a `response` object we look at; everything else is skipped.
#[derive(Default, Deserialize)]
struct ResponseFields<'a> {
    #[serde(borrow, default)]
    id: Scalar<'a>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    incomplete_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

impl<'a> ResponseFields<'a> {
    /// The response id when it is a non-empty string.
    fn take_id(&mut self) -> Option<String> {
        core::mem::take(&mut self.id)
            .into_str()
            .filter(|id| !id.is_empty())
            .map(Cow::into_owned)
    }
}

/// The event's `response` object, or `None` when absent or not an object.
fn response_fields<'a>(
    json: &'a str,
    event_type: &str,
) -> Result<Option<ResponseFields<'a>>, EventDecodeError> {
    #[derive(Deserialize)]
    struct WithResponse<'a> {
        #[serde(borrow, default)]
        response: Option<&'a RawValue>,
    }
    const NEEDS: &[Need] = &[object_field("response")];
    let outer: WithResponse<'a> = parse(json, event_type, NEEDS)?;
    Ok(outer.response.and_then(object))
}

pub(super) fn created(json: &str) -> Result<ServerEvent, EventDecodeError> {
    let response_id = response_fields(json, CREATED)?
        .and_then(|mut r| r.take_id())
        .ok_or_else(|| missing(CREATED, "response.id"))?;
    caller(ResponseEvent::Created { response_id })
}

pub(super) fn completed(json: &str) -> Result<ServerEvent, EventDecodeError> {
    let fields = response_fields(json, COMPLETED).map_err(|e| match e {
        EventDecodeError::MissingField { .. } => EventDecodeError::CompletedWithoutId,
        other => other,
    })?;
    let mut fields = fields.ok_or(EventDecodeError::CompletedWithoutId)?;
    let response_id = fields
        .take_id()
        .ok_or(EventDecodeError::CompletedWithoutId)?;
    Ok(ServerEvent::Completed {
        response_id,
        usage: fields.usage.and_then(usage),
    })
}

pub(super) fn incomplete(json: &str) -> Result<ServerEvent, EventDecodeError> {
    #[derive(Deserialize)]
    struct IncompleteDetails<'a> {
        #[serde(borrow, default)]
        reason: Scalar<'a>,
    }
    let mut fields =
        response_fields(json, INCOMPLETE)?.ok_or_else(|| missing(INCOMPLETE, "response.id"))?;
    let response_id = fields
        .take_id()
        .ok_or_else(|| missing(INCOMPLETE, "response.id"))?;
    let reason = fields
        .incomplete_details
        .and_then(object::<IncompleteDetails<'_>>)
        .and_then(|d| d.reason.into_text());
    Ok(ServerEvent::Incomplete {
        response_id,
        reason,
        usage: fields.usage.and_then(usage),
    })
}

/// `response.failed` is terminal, so it is never dropped for a missing member: whatever
/// of `response.id` and `response.error` is usable is kept.
pub(super) fn failed(json: &str) -> Result<ServerEvent, EventDecodeError> {
    let mut fields = match response_fields(json, FAILED) {
        Ok(fields) => fields.unwrap_or_default(),
        Err(EventDecodeError::MissingField { .. }) => ResponseFields::default(),
        Err(other) => return Err(other),
    };
    let response_id = fields.take_id();
    Ok(ServerEvent::Failed {
        response_id,
        error: fields.error.and_then(error_payload),
    })
}

/// Usage, read leniently: a count that is absent or not a whole number reads as 0.
fn usage(raw: &RawValue) -> Option<Usage> {
    #[derive(Deserialize)]
    struct UsageFields<'a> {
        #[serde(borrow, default)]
        input_tokens: Scalar<'a>,
        #[serde(borrow, default)]
        input_tokens_details: Option<&'a RawValue>,
        #[serde(borrow, default)]
        output_tokens: Scalar<'a>,
        #[serde(borrow, default)]
        output_tokens_details: Option<&'a RawValue>,
        #[serde(borrow, default)]
        total_tokens: Scalar<'a>,
    }
    #[derive(Deserialize)]
    struct TokenDetails<'a> {
        #[serde(borrow, default)]
        cached_tokens: Scalar<'a>,
        #[serde(borrow, default)]
        reasoning_tokens: Scalar<'a>,
    }
    let fields: UsageFields<'_> = object(raw)?;
    let count = |s: &Scalar<'_>| s.as_u64().unwrap_or(0);
    fn details(raw: Option<&RawValue>) -> Option<TokenDetails<'_>> {
        raw.and_then(object)
    }
    let cached = details(fields.input_tokens_details).map_or(0, |d| count(&d.cached_tokens));
    let reasoning = details(fields.output_tokens_details).map_or(0, |d| count(&d.reasoning_tokens));
    Some(Usage {
        input_tokens: count(&fields.input_tokens),
        cached_input_tokens: cached,
        output_tokens: count(&fields.output_tokens),
        reasoning_output_tokens: reasoning,
        total_tokens: count(&fields.total_tokens),
    })
}

// ---------------------------------------------------------------------------------------
// Errors from the server

/// The members of an error object (`response.error`, or the `error` of an `error`
/// event), all read leniently.
#[derive(Default, Deserialize)]
struct ErrorFields<'a> {
    #[serde(rename = "type", borrow, default)]
    error_type: Scalar<'a>,
    #[serde(borrow, default)]
    code: Scalar<'a>,
    #[serde(borrow, default)]
    message: Scalar<'a>,
    #[serde(borrow, default)]
    param: Scalar<'a>,
    #[serde(borrow, default)]
    plan_type: Scalar<'a>,
    #[serde(borrow, default)]
    resets_at: Scalar<'a>,
}

impl ErrorFields<'_> {
    fn into_payload(self) -> ErrorPayload {
        ErrorPayload {
            code: self.code.into_text(),
            message: self.message.into_text(),
            error_type: self.error_type.into_text(),
            param: self.param.into_text(),
            plan_type: self.plan_type.into_text(),
            resets_at: self.resets_at.as_u64(),
        }
    }
}

/// An error member: an object with the usual fields, or a bare string read as the
/// message.
fn error_payload(raw: &RawValue) -> Option<ErrorPayload> {
    if let Some(fields) = object::<ErrorFields<'_>>(raw) {
        return Some(fields.into_payload());
    }
    let message = serde_json::from_str::<String>(raw.get()).ok()?;
    Some(ErrorPayload {
        message: Some(message),
        ..ErrorPayload::default()
    })
}

/// `error`: with a `status` (or `status_code`) it is a WebSocket error frame, otherwise
/// an SSE error event. The nested `error` object wins over top-level members of the same
/// name; each field missing from it is taken from the top level.
pub(super) fn error(json: &str) -> Result<ServerEvent, EventDecodeError> {
    #[derive(Deserialize)]
    struct ErrorEvent<'a> {
        #[serde(borrow, default)]
        status: Option<&'a RawValue>,
        #[serde(borrow, default)]
        status_code: Option<&'a RawValue>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
        #[serde(borrow, default)]
        headers: Option<&'a RawValue>,
        #[serde(borrow, default)]
        code: Scalar<'a>,
        #[serde(borrow, default)]
        message: Scalar<'a>,
        #[serde(borrow, default)]
        param: Scalar<'a>,
        #[serde(borrow, default)]
        plan_type: Scalar<'a>,
        #[serde(borrow, default)]
        resets_at: Scalar<'a>,
    }
    let e: ErrorEvent<'_> = parse(json, ERROR, &[])?;
    let nested = e.error.and_then(error_payload).unwrap_or_default();
    let payload = ErrorPayload {
        code: nested.code.or_else(|| e.code.into_text()),
        message: nested.message.or_else(|| e.message.into_text()),
        error_type: nested.error_type,
        param: nested.param.or_else(|| e.param.into_text()),
        plan_type: nested.plan_type.or_else(|| e.plan_type.into_text()),
        resets_at: nested.resets_at.or_else(|| e.resets_at.as_u64()),
    };
    let Some(status) = e.status.or(e.status_code) else {
        return Ok(ServerEvent::Error(payload));
    };
    let status = status
        .get()
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| missing(ERROR, "status"))?;
    let headers = e.headers.map(header_map).unwrap_or_default();
    Ok(ServerEvent::WsError {
        status,
        error: payload,
        headers,
    })
}
