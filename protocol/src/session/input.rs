//! Everything the session is told: caller commands, transport results, auth results
//! and timeouts, through one door ([`Session::handle_input`](super::Session::handle_input)).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ids::{ConnId, RequestId, TurnId};
use crate::item::ResponseItem;
use crate::request::RequestFields;
use crate::secret::Credentials;

/// How a request's `input` relates to the turn's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "items", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestInput {
    /// The input is the turn's history (every earlier request's input followed by the
    /// output items of its completed response) plus these items. The incremental
    /// decision then costs time in these items only.
    Append(Vec<ResponseItem>),
    /// The input is exactly these items (the caller rewrote the history). The session
    /// compares them with what the server already holds, item by item.
    Replace(Vec<ResponseItem>),
}

/// A request to sample a response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Every non-input body field.
    pub fields: RequestFields,
    /// The input items.
    pub input: RequestInput,
}

/// Per-turn options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnOptions {
    /// Sent as `x-codex-turn-metadata` when it is a valid header value.
    pub metadata: Option<String>,
}

/// One input to the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// Open a WebSocket ahead of the first turn (PROTOCOL.md section 8). Ignored when
    /// WebSocket is not usable.
    Preconnect,
    /// Start a turn. The ack carries its [`TurnId`].
    StartTurn(TurnOptions),
    /// Start a request in a turn that has none running. The ack carries its [`RequestId`].
    StartRequest {
        /// The turn.
        turn: TurnId,
        /// The request.
        spec: RequestSpec,
    },
    /// Cancel a running request; what it opened is closed and it ends with
    /// [`ResponseError::Cancelled`](crate::ResponseError::Cancelled).
    CancelRequest {
        /// The request.
        request: RequestId,
    },
    /// End a turn: cancels its request if any and closes its WebSocket.
    EndTurn {
        /// The turn.
        turn: TurnId,
    },
    /// The status and headers of an HTTP response arrived.
    HttpResponse {
        /// The connection.
        conn: ConnId,
        /// Status code.
        status: u16,
        /// Response headers.
        #[serde(with = "super::serde_headers")]
        headers: http::HeaderMap,
    },
    /// Bytes of an HTTP response body.
    HttpBody {
        /// The connection.
        conn: ConnId,
        /// The bytes, as read.
        data: Bytes,
    },
    /// The HTTP response body ended cleanly.
    HttpEnd {
        /// The connection.
        conn: ConnId,
    },
    /// A WebSocket handshake succeeded.
    WsOpened {
        /// The connection.
        conn: ConnId,
        /// Handshake response headers.
        #[serde(with = "super::serde_headers")]
        headers: http::HeaderMap,
    },
    /// A WebSocket handshake was answered with a non-101 status.
    WsRefused {
        /// The connection.
        conn: ConnId,
        /// The status.
        status: u16,
        /// Response headers.
        #[serde(with = "super::serde_headers")]
        headers: http::HeaderMap,
        /// The response body, as much as the driver read (it is truncated when kept).
        body: Bytes,
    },
    /// A WebSocket text message.
    WsText {
        /// The connection.
        conn: ConnId,
        /// The message.
        text: String,
    },
    /// A WebSocket binary message (a stream error: the protocol uses text only).
    WsBinary {
        /// The connection.
        conn: ConnId,
        /// Its length.
        len: usize,
    },
    /// A WebSocket ping or pong: activity that restarts the idle timer.
    WsActivity {
        /// The connection.
        conn: ConnId,
    },
    /// The WebSocket was closed by the peer (close frame or end of stream).
    WsClosed {
        /// The connection.
        conn: ConnId,
        /// The close code, when a close frame carried one.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// The connection failed: connect, TLS, read or protocol error.
    TransportError {
        /// The connection.
        conn: ConnId,
        /// What happened, for people.
        message: String,
    },
    /// The request went on a connection reused from the keep-alive pool, and that
    /// connection failed (closed, reset, or the write failed) before any byte of the
    /// response arrived: the server most likely closed it while it sat idle
    /// (PROTOCOL.md section 3.3). Report it instead of [`Input::TransportError`] in
    /// exactly that case; a driver without a pool never does. The session re-sends
    /// the request at once on a new connection, once per request.
    HttpStale {
        /// The connection.
        conn: ConnId,
        /// What happened, for people.
        message: String,
    },
    /// A message the session asked to send could not be sent.
    SendFailed {
        /// The connection.
        conn: ConnId,
        /// What happened.
        message: String,
    },
    /// The auth source refreshed; new credentials.
    AuthRefreshed {
        /// The new credentials.
        credentials: Credentials,
    },
    /// The auth source could not refresh.
    AuthRefreshFailed {
        /// Why.
        message: String,
    },
    /// A deadline from `poll_timeout` may have passed. Spurious timeouts are harmless.
    Timeout,
}

/// What `handle_input` accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputAck {
    /// The input was applied.
    Applied,
    /// A turn was started.
    TurnStarted(TurnId),
    /// A request was started.
    RequestStarted(RequestId),
}

/// Caller misuse: `handle_input` refused the input and the session state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// Outputs from earlier inputs were not drained with `poll_output`.
    #[error("the output queue is full ({0} outputs): drain poll_output before the next input")]
    OutputsNotDrained(usize),
    /// No such turn (never started, or ended).
    #[error("unknown turn {0}")]
    UnknownTurn(TurnId),
    /// No such running request.
    #[error("unknown or finished request {0}")]
    UnknownRequest(RequestId),
    /// Requests inside a turn are sequential.
    #[error("turn {turn} already has request {running} running")]
    RequestInProgress {
        /// The turn.
        turn: TurnId,
        /// Its running request.
        running: RequestId,
    },
    /// A transport result that cannot happen in the connection's current state (for
    /// example body bytes before the response head).
    #[error("{input} is not expected on {conn} now")]
    UnexpectedInput {
        /// The connection.
        conn: ConnId,
        /// Which input.
        input: &'static str,
    },
}
