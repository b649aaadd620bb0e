//! Request encoding (PROTOCOL.md section 3): the JSON body, the HTTP `POST` and the
//! WebSocket handshake as `http::Request` values with every header, the
//! `response.create` / `response.append` messages, and URL derivation.
//!
//! The full body and the `response.create` message are written by one serialisable
//! struct of borrowed fields, straight into the output buffer: the input items are
//! never copied into an intermediate JSON value, so a long history costs one pass.

mod metadata;

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use crate::config::{Config, WsProtocol};
use crate::header_names::{
    ACCOUNT_ID, BETA_FEATURES, CLIENT_REQUEST_ID, LEGACY_SESSION_ID, LEGACY_THREAD_ID, OPENAI_BETA,
    OPENAI_ORGANIZATION, OPENAI_PROJECT, OPENAI_SUBAGENT, ORIGINATOR, SESSION_ID, THREAD_ID,
    TIMING_METRICS, TURN_METADATA, TURN_STATE, VERSION,
};
use crate::headers::TurnStateToken;
use crate::item::ResponseItem;
use crate::secret::Credentials;

pub use metadata::{
    ClientMetadata, MAX_VALUE_CHARS, MetadataSources, OversizedValue, TURN_METADATA_KEY,
    TURN_STATE_KEY, client_metadata,
};

/// Every non-input body field of a request. Two requests may be chained
/// incrementally only when these match (PROTOCOL.md section 6; see
/// [`RequestFields::chains_with`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestFields {
    /// `model`.
    pub model: String,
    /// `instructions`.
    pub instructions: Option<String>,
    /// `tools`, each as its JSON definition.
    pub tools: Vec<serde_json::Value>,
    /// `tool_choice` (`"auto"` by default).
    pub tool_choice: serde_json::Value,
    /// `parallel_tool_calls`.
    pub parallel_tool_calls: bool,
    /// `reasoning`: an object, or `None` for JSON `null`. When an object, `include`
    /// is `["reasoning.encrypted_content"]`.
    pub reasoning: Option<serde_json::Value>,
    /// `store`.
    pub store: bool,
    /// `text` (verbosity and/or output format); omitted when `None`.
    pub text: Option<serde_json::Value>,
    /// The caller's per-request metadata, sent in the body's `client_metadata` object
    /// (on both transports) next to the turn metadata and, on WebSocket, the turn-state
    /// token. Values over [`MAX_VALUE_CHARS`] characters are not sent and are reported
    /// as telemetry; the keys `x-codex-turn-metadata` and `x-codex-turn-state` are the
    /// session's and a caller value under them is ignored. Unlike the other fields it
    /// may change between requests without breaking incremental chaining (see
    /// [`RequestFields::chains_with`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client_metadata: BTreeMap<String, String>,
}

impl RequestFields {
    /// Fields for `model` with the defaults: no instructions or tools, `tool_choice`
    /// `"auto"`, no parallel tool calls, no reasoning, `store: false`, no `text`.
    pub fn new(model: impl Into<String>) -> Self {
        RequestFields {
            model: model.into(),
            instructions: None,
            tools: Vec::new(),
            tool_choice: serde_json::Value::String("auto".to_owned()),
            parallel_tool_calls: false,
            reasoning: None,
            store: false,
            text: None,
            client_metadata: BTreeMap::new(),
        }
    }

    /// Whether a request with `next` fields may chain onto one sent with these
    /// (PROTOCOL.md section 6, condition 3): every non-input body field is equal.
    /// `client_metadata` is not compared: it is per-request data (and carries the
    /// turn-state token), not part of the prompt the server holds.
    pub fn chains_with(&self, next: &RequestFields) -> bool {
        let RequestFields {
            model,
            instructions,
            tools,
            tool_choice,
            parallel_tool_calls,
            reasoning,
            store,
            text,
            client_metadata: _,
        } = self;
        *model == next.model
            && *instructions == next.instructions
            && *tools == next.tools
            && *tool_choice == next.tool_choice
            && *parallel_tool_calls == next.parallel_tool_calls
            && *reasoning == next.reasoning
            && *store == next.store
            && *text == next.text
    }
}

/// What the request and handshake headers are built from.
#[derive(Clone, Copy, Debug)]
pub struct HeaderContext<'a> {
    /// The validated provider configuration.
    pub config: &'a Config,
    /// Current credentials.
    pub credentials: &'a Credentials,
    /// Conversation id (`session-id`, `thread-id` and `x-client-request-id` headers,
    /// `prompt_cache_key`).
    pub conversation_id: &'a str,
    /// The turn's captured token, if any. Sent by [`http_request`] only: a handshake
    /// never carries it (a socket may outlive its turn).
    pub turn_state: Option<&'a TurnStateToken>,
    /// Caller-supplied turn metadata; sent by [`http_request`] only, and dropped when
    /// not a valid header value. A handshake never carries it.
    pub turn_metadata: Option<&'a str>,
}

/// A request could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The URL did not parse.
    #[error("invalid URL {0:?}")]
    Url(String),
    /// The token or account id is not a valid header value.
    #[error("credentials are not a valid header value")]
    Credentials,
    /// A configured header (identity, extra header, beta feature) or the
    /// conversation id has an invalid name or value. [`Config::validate`] rejects
    /// these up front, so this only happens with an unvalidated configuration.
    #[error("header {0:?} has an invalid name or value")]
    Header(String),
}

/// The `include` value sent when `reasoning` is an object.
pub const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// `{base_url}/responses` with the provider query parameters, each name and value
/// percent-encoded (`?a=1&b=2`). Call with a validated [`Config`] (its `base_url`
/// has no trailing `/`).
pub fn responses_url(config: &Config) -> String {
    let mut url = String::with_capacity(config.base_url.len() + 16);
    url.push_str(&config.base_url);
    url.push_str("/responses");
    for (i, (name, value)) in config.query_params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        push_query_component(&mut url, name);
        url.push('=');
        push_query_component(&mut url, value);
    }
    url
}

/// Appends `text` percent-encoded for a URL query component: RFC 3986 unreserved
/// characters stay, every other byte becomes `%XX`.
fn push_query_component(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
}

/// The upper-case hex digit of a nibble (`0..=15`).
fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => char::from(b'0' + nibble),
        _ => char::from(b'A' + (nibble - 10)),
    }
}

/// The WebSocket URL for an HTTP URL: `http`→`ws`, `https`→`wss` (scheme matched
/// case-insensitively); any other URL is returned unchanged.
pub fn websocket_url(http_url: &str) -> String {
    let swap = [("https://", "wss://"), ("http://", "ws://")];
    for (from, to) in swap {
        let scheme = http_url.get(..from.len());
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case(from)) {
            let rest = http_url.get(from.len()..).unwrap_or_default();
            return format!("{to}{rest}");
        }
    }
    http_url.to_owned()
}

/// Every field of a request body or `response.create` message, borrowed.
#[derive(Serialize)]
struct Body<'a> {
    /// `response.create` on WebSocket; absent in an HTTP body.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    message_type: Option<&'static str>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    input: &'a [ResponseItem],
    tools: &'a [serde_json::Value],
    tool_choice: &'a serde_json::Value,
    parallel_tool_calls: bool,
    /// `None` is written as JSON `null`.
    reasoning: Option<&'a serde_json::Value>,
    store: bool,
    stream: bool,
    include: &'static [&'static str],
    #[serde(skip_serializing_if = "str::is_empty")]
    prompt_cache_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_response_id: Option<&'a str>,
    #[serde(skip_serializing_if = "ClientMetadata::is_empty")]
    client_metadata: &'a ClientMetadata<'a>,
    /// Only ever set on a WebSocket `response.create` (the prewarm's `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    generate: Option<bool>,
}

impl<'a> Body<'a> {
    fn new(
        fields: &'a RequestFields,
        conversation_id: &'a str,
        input: &'a [ResponseItem],
        client_metadata: &'a ClientMetadata<'a>,
    ) -> Self {
        let reasoning = fields.reasoning.as_ref();
        let include: &'static [&'static str] =
            if matches!(reasoning, Some(serde_json::Value::Object(_))) {
                &[ENCRYPTED_REASONING]
            } else {
                &[]
            };
        Body {
            message_type: None,
            model: &fields.model,
            instructions: fields.instructions.as_deref(),
            input,
            tools: &fields.tools,
            tool_choice: &fields.tool_choice,
            parallel_tool_calls: fields.parallel_tool_calls,
            reasoning,
            store: fields.store,
            stream: true,
            include,
            prompt_cache_key: conversation_id,
            text: fields.text.as_ref(),
            previous_response_id: None,
            client_metadata,
            generate: None,
        }
    }
}

/// Serialises `value` as JSON into a fresh buffer.
fn to_json<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Writing to a Vec cannot fail, and every type written here has string keys and
    // infallible `Serialize` impls; an empty buffer marks the impossible case.
    if serde_json::to_writer(&mut out, value).is_err() {
        out.clear();
    }
    out
}

/// A first guess at the size of a body, so short requests need no regrowth.
fn body_capacity(fields: &RequestFields) -> usize {
    512 + fields.instructions.as_ref().map_or(0, String::len)
}

/// The JSON body of a full HTTP request (section 3.1): `model`, `instructions` (only
/// when set), `input`, `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning`
/// (object or `null`), `store`, `stream: true`, `include`
/// (`["reasoning.encrypted_content"]` exactly when `reasoning` is an object),
/// `prompt_cache_key` (the conversation id, omitted when empty), `text` (only when
/// set) and `client_metadata` (omitted when empty; build it with [`client_metadata`]
/// for [`Transport::Http`](crate::session::Transport::Http), which leaves the token
/// out). Input items are written as they are, unknown kinds included. There is no
/// way to write `generate` here: the public HTTP API rejects it.
pub fn encode_body(
    fields: &RequestFields,
    conversation_id: &str,
    input: &[ResponseItem],
    client_metadata: &ClientMetadata<'_>,
) -> Bytes {
    let body = Body::new(fields, conversation_id, input, client_metadata);
    Bytes::from(to_json(&body, body_capacity(fields)))
}

/// A full `response.create` message: `{"type":"response.create", …}` with every
/// field of [`encode_body`] (its `client_metadata` built for
/// [`Transport::WebSocket`](crate::session::Transport::WebSocket), so it carries the
/// turn-state token), plus `previous_response_id` when given (v2 chaining, in which
/// case `input` holds only the new items).
pub fn ws_create(
    fields: &RequestFields,
    conversation_id: &str,
    input: &[ResponseItem],
    previous_response_id: Option<&str>,
    client_metadata: &ClientMetadata<'_>,
) -> String {
    let mut body = Body::new(fields, conversation_id, input, client_metadata);
    body.message_type = Some("response.create");
    body.previous_response_id = previous_response_id;
    into_text(to_json(&body, body_capacity(fields)))
}

/// The prewarm message (section 8.2): a full `response.create` like [`ws_create`]
/// without `previous_response_id`, plus `"generate": false`, so the server prepares
/// the prompt and answers with a completed, empty response. WebSocket only.
pub fn ws_prewarm(
    fields: &RequestFields,
    conversation_id: &str,
    input: &[ResponseItem],
    client_metadata: &ClientMetadata<'_>,
) -> String {
    let mut body = Body::new(fields, conversation_id, input, client_metadata);
    body.message_type = Some("response.create");
    body.generate = Some(false);
    into_text(to_json(&body, body_capacity(fields)))
}

/// A `response.append` message with just `input` (v1):
/// exactly `{"type":"response.append","input":[…]}`.
pub fn ws_append(input: &[ResponseItem]) -> String {
    #[derive(Serialize)]
    struct Append<'a> {
        #[serde(rename = "type")]
        message_type: &'static str,
        input: &'a [ResponseItem],
    }
    into_text(to_json(
        &Append {
            message_type: "response.append",
            input,
        },
        256,
    ))
}

/// serde_json writes UTF-8 only; the empty fallback is never taken.
fn into_text(json: Vec<u8>) -> String {
    String::from_utf8(json).unwrap_or_default()
}

/// The `POST {base_url}/responses` request with every header of section 3.1, in the
/// order of its table: `Accept`, `Content-Type`, `Authorization` (marked sensitive),
/// `ChatGPT-Account-ID` (when the credentials have one), `session-id`, `thread-id`
/// and `x-client-request-id` (the conversation id, when it is not empty; followed by
/// `session_id` and `thread_id` with `legacy_session_headers`), `originator`,
/// `User-Agent`, `version`, `OpenAI-Organization` / `OpenAI-Project` /
/// `x-openai-subagent` (when set), `x-codex-beta-features` (when any),
/// `x-codex-turn-state` (only when the turn captured one), `x-codex-turn-metadata`
/// (when given and a valid header value; otherwise silently dropped), the extra static
/// headers (appended, in order), and `Content-Encoding: zstd` last when `compress`.
///
/// With `compress`, the returned body is still the uncompressed JSON: the driver
/// compresses it before sending (the core carries no compression library).
pub fn http_request(
    ctx: &HeaderContext<'_>,
    body: Bytes,
    compress: bool,
) -> Result<http::Request<Bytes>, RequestError> {
    let url = responses_url(ctx.config);
    let uri = parse_uri(&url)?;
    let mut headers = HeaderMap::with_capacity(16);
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    identity_headers(ctx, &mut headers)?;
    turn_headers(ctx, &mut headers);
    extra_headers(ctx.config, &mut headers)?;
    if compress {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
    }
    let mut request = http::Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The WebSocket handshake `GET` to [`websocket_url`] of [`responses_url`], with the
/// identity headers of [`http_request`] and its extra static headers, then
/// `OpenAI-Beta: responses_websockets=2026-02-04` (v1) or `…=2026-02-06` (v2), then
/// `x-responsesapi-include-timing-metrics: true` when `include_timing_metrics` is on.
///
/// Nothing turn-scoped: no `Accept`, `Content-Type` or `Content-Encoding`, and never
/// `x-codex-turn-state` or `x-codex-turn-metadata` whatever `ctx` holds, since a
/// socket may serve several turns (section 3.2, rev 2); those travel in each
/// message's `client_metadata`.
///
/// The WebSocket library adds `Host`, `Upgrade`, `Connection` and the
/// `Sec-WebSocket-*` headers; they are not set here.
pub fn ws_handshake(ctx: &HeaderContext<'_>) -> Result<http::Request<()>, RequestError> {
    let url = websocket_url(&responses_url(ctx.config));
    let uri = parse_uri(&url)?;
    let mut headers = HeaderMap::with_capacity(16);
    identity_headers(ctx, &mut headers)?;
    extra_headers(ctx.config, &mut headers)?;
    let beta = match ctx.config.ws_protocol {
        WsProtocol::V1 => "responses_websockets=2026-02-04",
        WsProtocol::V2 => "responses_websockets=2026-02-06",
    };
    headers.insert(
        HeaderName::from_static(OPENAI_BETA),
        HeaderValue::from_static(beta),
    );
    if ctx.config.include_timing_metrics {
        headers.insert(
            HeaderName::from_static(TIMING_METRICS),
            HeaderValue::from_static("true"),
        );
    }
    let mut request = http::Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

fn parse_uri(url: &str) -> Result<http::Uri, RequestError> {
    url.parse::<http::Uri>()
        .map_err(|_| RequestError::Url(url.to_owned()))
}

/// A header value from configuration; an invalid one names its header in the error.
fn config_value(name: &str, value: &str) -> Result<HeaderValue, RequestError> {
    HeaderValue::from_str(value).map_err(|_| RequestError::Header(name.to_owned()))
}

/// The headers shared by the `POST` and the handshake, in the order of the 3.1 table
/// up to `x-codex-beta-features`.
fn identity_headers(ctx: &HeaderContext<'_>, headers: &mut HeaderMap) -> Result<(), RequestError> {
    let credentials = ctx.credentials;
    let bearer = format!("Bearer {}", credentials.token.expose());
    let mut authorization =
        HeaderValue::from_str(&bearer).map_err(|_| RequestError::Credentials)?;
    authorization.set_sensitive(true);
    headers.insert(AUTHORIZATION, authorization);
    if let Some(account) = &credentials.account_id {
        let value = HeaderValue::from_str(account).map_err(|_| RequestError::Credentials)?;
        headers.insert(HeaderName::from_static(ACCOUNT_ID), value);
    }
    if !ctx.conversation_id.is_empty() {
        let id = config_value(SESSION_ID, ctx.conversation_id)?;
        let legacy: &[&'static str] = if ctx.config.legacy_session_headers {
            &[LEGACY_SESSION_ID, LEGACY_THREAD_ID]
        } else {
            &[]
        };
        for name in [SESSION_ID, THREAD_ID, CLIENT_REQUEST_ID]
            .iter()
            .chain(legacy)
        {
            headers.insert(HeaderName::from_static(name), id.clone());
        }
    }
    let identity = &ctx.config.identity;
    headers.insert(
        HeaderName::from_static(ORIGINATOR),
        config_value(ORIGINATOR, &identity.originator)?,
    );
    headers.insert(
        USER_AGENT,
        config_value(USER_AGENT.as_str(), &identity.user_agent)?,
    );
    headers.insert(
        HeaderName::from_static(VERSION),
        config_value(VERSION, &identity.version)?,
    );
    let optional = [
        (OPENAI_ORGANIZATION, &identity.organization),
        (OPENAI_PROJECT, &identity.project),
        (OPENAI_SUBAGENT, &identity.subagent),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.insert(HeaderName::from_static(name), config_value(name, value)?);
        }
    }
    if !ctx.config.beta_features.is_empty() {
        let joined = ctx.config.beta_features.join(",");
        headers.insert(
            HeaderName::from_static(BETA_FEATURES),
            config_value(BETA_FEATURES, &joined)?,
        );
    }
    Ok(())
}

/// The turn-scoped headers of a `POST`: the token, then the turn metadata when it is a
/// valid header value. Never called for a handshake.
fn turn_headers(ctx: &HeaderContext<'_>, headers: &mut HeaderMap) {
    if let Some(token) = ctx.turn_state {
        headers.insert(
            HeaderName::from_static(TURN_STATE),
            token.header_value().clone(),
        );
    }
    if let Some(value) = ctx
        .turn_metadata
        .and_then(|m| HeaderValue::from_str(m).ok())
    {
        headers.insert(HeaderName::from_static(TURN_METADATA), value);
    }
}

/// The configured extra static headers, appended in order.
fn extra_headers(config: &Config, headers: &mut HeaderMap) -> Result<(), RequestError> {
    for (name, value) in &config.identity.extra_headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| RequestError::Header(name.clone()))?;
        headers.append(header, config_value(name, value)?);
    }
    Ok(())
}
