//! Everything the session asks of its driver and tells its caller, drained with
//! [`Session::poll_output`](super::Session::poll_output).

use bytes::Bytes;
use core::time::Duration;
use serde::{Deserialize, Serialize};

use super::ids::{ConnId, RequestId, TurnId};
use crate::error::ResponseError;
use crate::event::ResponseEvent;

/// Which transport an attempt used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Transport {
    /// HTTP POST with a Server-Sent Events body.
    Http,
    /// A WebSocket message.
    WebSocket,
}

impl Transport {
    /// A short name for people and tables: `http` or `websocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
        }
    }
}

/// How a request went on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageKind {
    /// A full HTTP POST body.
    Post,
    /// A full `response.create`.
    Create,
    /// `response.append` with the new items (v1).
    Append,
    /// `response.create` with `previous_response_id` and the new items (v2).
    Chained,
}

impl MessageKind {
    /// The kind's name: `post`, `create`, `append` or `chained`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Post => "post",
            MessageKind::Create => "create",
            MessageKind::Append => "append",
            MessageKind::Chained => "chained",
        }
    }
}

/// Which retry layer scheduled a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryLayer {
    /// Establishing an HTTP response (`request_max_retries`).
    Request,
    /// Around the whole stream (`stream_max_retries`).
    Stream,
}

/// What became of a socket in the session's slot (a preconnect, or a socket a turn
/// handed back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PreconnectResult {
    /// The handshake succeeded; the socket waits to be adopted.
    Opened,
    /// A turn adopted the socket.
    Adopted {
        /// The turn.
        turn: TurnId,
    },
    /// The handshake failed (no retry budget is spent).
    Failed {
        /// Why.
        reason: String,
    },
    /// The socket was discarded unused (closed, stale, replaced, no pong, or
    /// fallback).
    Discarded {
        /// Why.
        reason: String,
    },
    /// A turn that ended healthy handed its socket and response chain back to the
    /// slot.
    Returned {
        /// The turn.
        turn: TurnId,
    },
}

/// What became of a prewarm (PROTOCOL.md 8.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrewarmResult {
    /// The `generate: false` message was sent.
    Sent {
        /// Items in the prefix.
        items: usize,
        /// Size of the message, in bytes.
        bytes: usize,
    },
    /// The server completed it: the socket's baseline is the prefix.
    Completed {
        /// The prewarm response's id.
        response_id: String,
    },
    /// It failed; the baseline stays empty and the first request is a full create.
    Failed {
        /// Why.
        reason: String,
    },
    /// It was not sent.
    Skipped {
        /// Why.
        reason: PrewarmSkip,
    },
}

/// Why a prewarm was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrewarmSkip {
    /// `prewarm` is off in the configuration.
    Off,
    /// WebSocket cannot be used: HTTP is configured or the fallback is active.
    WebSocketUnusable,
    /// A request was already sent in this session.
    RequestAlreadySent,
    /// Another prewarm is waiting or in flight.
    AlreadyUnderWay,
}

impl PrewarmSkip {
    /// Whether the prefix still became the conversation so far, so that a
    /// `TurnHistory::Continue` turn extends it. True when only the message was
    /// skipped (prewarm off, no WebSocket); false when the prewarm came too late or
    /// twice and the session kept the conversation it already had.
    pub fn prefix_kept(self) -> bool {
        matches!(self, Self::Off | Self::WebSocketUnusable)
    }
}

/// Why a request was re-sent at once without backoff, budget or `Reconnecting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FreeRetryReason {
    /// A socket adopted from the slot failed before the first event (8.1).
    StaleSocket,
    /// The server no longer held the response chain (`previous_response_not_found`, 6).
    ChainLost,
}

/// A record for metrics and logs; never needed for correctness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Telemetry {
    /// An attempt went on the wire.
    AttemptStarted {
        /// The request.
        request: RequestId,
        /// Attempt number, from 1.
        attempt: u32,
        /// Its transport.
        transport: Transport,
        /// How the request was sent.
        message: MessageKind,
        /// Size of the request body or message, in bytes.
        bytes: usize,
        /// History items compared one by one to decide between a full create and an
        /// incremental message (0 unless the input was given as a replacement).
        compared_items: usize,
    },
    /// An attempt ended.
    AttemptEnded {
        /// The request.
        request: RequestId,
        /// Attempt number.
        attempt: u32,
        /// Its transport.
        transport: Transport,
        /// From sending to the end.
        #[serde(with = "crate::serde_duration")]
        duration: Duration,
        /// Time to the first event, when one arrived.
        #[serde(with = "crate::serde_duration::option")]
        first_event: Option<Duration>,
        /// Body or frame bytes received.
        bytes: u64,
        /// Server events decoded.
        events: u64,
        /// `"completed"`, `"incomplete"`, or the error.
        outcome: String,
    },
    /// A retry was scheduled.
    RetryScheduled {
        /// The request.
        request: RequestId,
        /// The layer.
        layer: RetryLayer,
        /// The retry number in that layer, from 1.
        retry: u32,
        /// The delay.
        #[serde(with = "crate::serde_duration")]
        delay: Duration,
        /// Why.
        reason: String,
    },
    /// The session switched to HTTP.
    FallbackActivated {
        /// Why.
        reason: String,
    },
    /// A request is re-sent at once on a new socket, free of budget (once per
    /// request and reason).
    FreeRetry {
        /// The request.
        request: RequestId,
        /// Why.
        reason: FreeRetryReason,
    },
    /// A prewarm changed state.
    Prewarm {
        /// The connection.
        conn: ConnId,
        /// What happened.
        result: PrewarmResult,
    },
    /// A WebSocket idle in the slot got no pong within `ws_keepalive_interval`.
    KeepaliveTimeout {
        /// The connection, now closed.
        conn: ConnId,
    },
    /// A socket in the session's slot changed state.
    Preconnect {
        /// The connection.
        conn: ConnId,
        /// What happened.
        result: PreconnectResult,
    },
    /// A server event was skipped (malformed or missing a needed field).
    EventSkipped {
        /// The request.
        request: RequestId,
        /// Why.
        reason: String,
    },
    /// A turn-state token was captured for a turn.
    TurnStateCaptured {
        /// The turn.
        turn: TurnId,
    },
    /// A turn-state value was rejected and will never be sent.
    TurnStateRejected {
        /// The turn.
        turn: TurnId,
        /// Why.
        reason: String,
    },
    /// A `client_metadata` value longer than the 2,048-character limit was left out of
    /// an attempt's request (PROTOCOL.md 3.1); reported on every attempt that leaves it
    /// out.
    ClientMetadataDropped {
        /// The request.
        request: RequestId,
        /// The entry's key.
        key: String,
        /// The value's length in characters.
        chars: usize,
    },
    /// A `responsesapi.websocket_timing` frame.
    WebsocketTiming {
        /// The request.
        request: RequestId,
        /// The frame.
        raw: serde_json::Value,
    },
}

/// An HTTP request for the driver to send.
#[derive(Debug)]
pub struct HttpOpen {
    /// The connection handle to report results with.
    pub conn: ConnId,
    /// The request, every header set. The body is uncompressed.
    pub request: http::Request<Bytes>,
    /// Compress the body with zstd before sending (the `Content-Encoding` header is
    /// already set).
    pub compress: bool,
    /// The driver may send this request on an idle keep-alive connection to the same
    /// origin (PROTOCOL.md section 3.3). False when a pooled connection just failed
    /// this request before any response byte: the resend goes on a new connection.
    pub reuse: bool,
}

/// A WebSocket for the driver to open.
#[derive(Debug)]
pub struct WsOpen {
    /// The connection handle to report results with.
    pub conn: ConnId,
    /// The handshake request with every turnwire header; the WebSocket library adds
    /// its own upgrade headers.
    pub request: http::Request<()>,
}

/// Why the session closes a connection, which tells the driver how to end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// Its exchange ended cleanly and nothing is in flight: an HTTP response reached
    /// its terminal event, or a WebSocket sits idle with its last response complete.
    /// The driver ends it gracefully: it reads the rest of an HTTP body (within a
    /// short time and size bound) and may keep the connection for reuse (section
    /// 3.3); it sends a WebSocket close frame.
    Finished,
    /// The session gave up on it mid-exchange or after a failure (cancel, error,
    /// timeout, fallback, a dead socket): its state is unknown. The driver drops it at
    /// once and never reuses it.
    Abandoned,
}

/// One output.
///
/// Deliberately not `#[non_exhaustive]`: a driver must carry out every output, so a
/// new one is a breaking change that a driver's exhaustive `match` catches at compile
/// time instead of ignoring it at run time.
#[derive(Debug)]
pub enum Output {
    /// Send an HTTP request and report its head, body and end.
    OpenHttp(HttpOpen),
    /// Open a WebSocket and report the handshake result and frames.
    OpenWs(WsOpen),
    /// Send one text message on an open WebSocket.
    SendWs {
        /// The connection.
        conn: ConnId,
        /// The message.
        text: String,
    },
    /// Send a WebSocket ping on a socket idle in the session's slot and report any
    /// ping or pong that comes back as [`Input::WsActivity`](super::Input::WsActivity).
    Ping {
        /// The connection.
        conn: ConnId,
    },
    /// Close a connection; the session ignores anything it later reports.
    Close {
        /// The connection.
        conn: ConnId,
        /// Whether its exchange ended cleanly, which decides how the driver ends it.
        reason: CloseReason,
    },
    /// Ask the auth source to refresh and report `AuthRefreshed` or `AuthRefreshFailed`.
    RefreshAuth,
    /// A caller event of a request.
    Event {
        /// The turn.
        turn: TurnId,
        /// The request.
        request: RequestId,
        /// The event.
        event: ResponseEvent,
    },
    /// A request ended with an error (its terminal outcome).
    Failed {
        /// The turn.
        turn: TurnId,
        /// The request.
        request: RequestId,
        /// The error.
        error: ResponseError,
    },
    /// A telemetry record.
    Telemetry(Telemetry),
}

impl Output {
    /// The request this output concerns, for caller events and failures.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Output::Event { request, .. } | Output::Failed { request, .. } => Some(*request),
            _ => None,
        }
    }

    /// True when this output ends its request: a terminal event or a failure.
    pub fn is_terminal(&self) -> bool {
        match self {
            Output::Event { event, .. } => event.is_terminal(),
            Output::Failed { .. } => true,
            _ => false,
        }
    }
}
