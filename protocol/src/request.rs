//! Request encoding (PROTOCOL.md section 3): the JSON body, the HTTP `POST` and the
//! WebSocket handshake as `http::Request` values with every header, the
//! `response.create` / `response.append` messages, and URL derivation.
//!
//! OWNER: codec helper "items". The signatures below are the contract the session uses.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::headers::TurnStateToken;
use crate::item::ResponseItem;
use crate::secret::Credentials;

/// Every non-input body field of a request. Two requests may be chained
/// incrementally only when these are equal (PROTOCOL.md section 6).
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
        }
    }
}

/// What the request and handshake headers are built from.
#[derive(Clone, Copy, Debug)]
pub struct HeaderContext<'a> {
    /// The validated provider configuration.
    pub config: &'a Config,
    /// Current credentials.
    pub credentials: &'a Credentials,
    /// Conversation id (`session_id` header, `prompt_cache_key`).
    pub conversation_id: &'a str,
    /// The turn's captured token, if any.
    pub turn_state: Option<&'a TurnStateToken>,
    /// Caller-supplied turn metadata; dropped when not a valid header value.
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
}

/// `{base_url}/responses` with the provider query parameters.
pub fn responses_url(config: &Config) -> String {
    let _ = config;
    todo!("items helper")
}

/// The WebSocket URL for an HTTP URL: `http`→`ws`, `https`→`wss`.
pub fn websocket_url(http_url: &str) -> String {
    let _ = http_url;
    todo!("items helper")
}

/// The JSON body of a full request (section 3.1).
pub fn encode_body(fields: &RequestFields, conversation_id: &str, input: &[ResponseItem]) -> Bytes {
    let _ = (fields, conversation_id, input);
    todo!("items helper")
}

/// The `POST {base_url}/responses` request with every header of section 3.1. With
/// `compress`, `Content-Encoding: zstd` is set and the driver compresses `body`.
pub fn http_request(
    ctx: &HeaderContext<'_>,
    body: Bytes,
    compress: bool,
) -> Result<http::Request<Bytes>, RequestError> {
    let _ = (ctx, body, compress);
    todo!("items helper")
}

/// The WebSocket handshake `GET` with every header of section 3.2.
pub fn ws_handshake(ctx: &HeaderContext<'_>) -> Result<http::Request<()>, RequestError> {
    let _ = ctx;
    todo!("items helper")
}

/// A full `response.create` message, chained with `previous_response_id` when given.
pub fn ws_create(
    fields: &RequestFields,
    conversation_id: &str,
    input: &[ResponseItem],
    previous_response_id: Option<&str>,
) -> String {
    let _ = (fields, conversation_id, input, previous_response_id);
    todo!("items helper")
}

/// A `response.append` message with just `input` (v1).
pub fn ws_append(input: &[ResponseItem]) -> String {
    let _ = input;
    todo!("items helper")
}
