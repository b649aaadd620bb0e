//! Everything the session is told: caller commands, transport results, auth results
//! and timeouts, through one door ([`Session::handle_input`](super::Session::handle_input)).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ids::{ConnId, RequestId, TurnId};
use crate::connect::ConnectFailure;
use crate::item::ResponseItem;
use crate::request::RequestFields;
use crate::secret::Credentials;

/// How a request's `input` relates to the turn's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "items", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestInput {
    /// The input is the turn's history (every earlier request's input followed by the
    /// output items of its completed response, starting from the previous turn's
    /// history when the turn was started with [`TurnHistory::Continue`]) plus these
    /// items. The incremental decision then costs time in these items only, within a
    /// turn and across turns.
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

/// Where a new turn's history starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TurnHistory {
    /// Empty: the turn's first request carries its whole input (an `Append` of the
    /// full conversation, or a `Replace`). When the socket the turn adopts holds a
    /// prefix of that input, the session finds out by comparing it item by item.
    #[default]
    Fresh,
    /// The history of the turn that ended last (or the prewarmed prefix, when no turn
    /// ran a request yet), handed over in O(1): the turn's first `Append` then means
    /// "the conversation so far plus these items" and chains to the previous turn's
    /// response without comparing the history. Empty when there is none.
    Continue,
}

/// Per-turn options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnOptions {
    /// Sent as `x-codex-turn-metadata` when it is a valid header value.
    pub metadata: Option<String>,
    /// Where the turn's history starts.
    #[serde(default)]
    pub history: TurnHistory,
}

/// The prompt prefix a session knows before its first request (PROTOCOL.md 8.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrewarmSpec {
    /// The non-input fields the first request will use.
    pub fields: RequestFields,
    /// The initial input (developer items, earlier conversation).
    pub input: Vec<ResponseItem>,
}

/// One input to the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// Open a WebSocket ahead of the first turn into the session's socket slot
    /// (PROTOCOL.md section 8.1). Ignored when WebSocket is not usable or the slot
    /// already holds a socket (open, handshaking or prewarming).
    Preconnect,
    /// Hand the session the known prompt prefix before its first request (PROTOCOL.md
    /// 8.2). With `prewarm` enabled and WebSocket usable, and while no request of the
    /// session has started, the session sends it with `"generate": false` on the
    /// slot's socket (opening one when the slot is empty) and keeps the response as
    /// that socket's baseline; the prefix also becomes the history a
    /// [`TurnHistory::Continue`] turn starts from. Otherwise it is ignored (telemetry
    /// says why). The caller sees no events of it.
    Prewarm {
        /// The known prefix.
        prefix: PrewarmSpec,
    },
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
    /// End a turn: cancels its request if any. Its WebSocket goes back to the
    /// session's socket slot with its response chain when the turn's last response
    /// completed (PROTOCOL.md 8.1); otherwise it is closed. Call it when the caller
    /// is done with the turn (dropping a turn handle should send it).
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
    /// A WebSocket ping or pong arrived: activity that restarts the idle timer. On a
    /// socket idle in the session's slot it is the answer to [`Output::Ping`]
    /// (any received ping or pong proves the peer alive).
    ///
    /// [`Output::Ping`]: super::Output::Ping
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
    /// The connection could not be set up for a reason the session classifies on its
    /// own (a proxy refusal, a certificate failure): see
    /// [`classify_connect_failure`](crate::connect::classify_connect_failure). The
    /// driver reports it instead of a [`Input::TransportError`] for that connection.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// What failed.
        failure: ConnectFailure,
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
