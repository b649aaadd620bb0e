//! Request scope: one "sample a response" call and where its current attempt stands.

use bytes::Bytes;

use super::ids::{ConnId, RequestId, TurnId};
use super::output::Transport;
use crate::event::ErrorPayload;
use crate::item::ResponseItem;
use crate::request::RequestFields;
use crate::sse::SseDecoder;
use crate::time::Instant;

/// Where a request's current attempt stands. Every phase but `WaitingAuth` and
/// `WaitingSlot` has a deadline; those two wait on an input the driver owes (an auth
/// result) or on the slot's own deadline.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Sleeping before the next attempt.
    Backoff { until: Instant },
    /// Waiting for the socket slot's handshake or prewarm to finish.
    WaitingSlot,
    /// Waiting for the auth source to refresh.
    WaitingAuth,
    /// The turn's own WebSocket handshake is in flight.
    WsHandshake { conn: ConnId, deadline: Instant },
    /// The request message was sent; reading the response.
    WsStreaming { conn: ConnId, deadline: Instant },
    /// The POST was sent; waiting for status and headers.
    HttpHead { conn: ConnId, deadline: Instant },
    /// An error status arrived; collecting its (bounded) body to classify it.
    HttpErrorBody {
        conn: ConnId,
        status: u16,
        headers: http::HeaderMap,
        body: Vec<u8>,
        deadline: Instant,
    },
    /// A 2xx arrived; decoding the event stream.
    HttpStreaming {
        conn: ConnId,
        sse: Box<SseDecoder>,
        deadline: Instant,
    },
}

impl Phase {
    /// The live connection this phase uses, if any.
    pub(crate) fn conn(&self) -> Option<ConnId> {
        match self {
            Phase::WsHandshake { conn, .. }
            | Phase::WsStreaming { conn, .. }
            | Phase::HttpHead { conn, .. }
            | Phase::HttpErrorBody { conn, .. }
            | Phase::HttpStreaming { conn, .. } => Some(*conn),
            Phase::Backoff { .. } | Phase::WaitingSlot | Phase::WaitingAuth => None,
        }
    }

    /// When this phase times out, if it can.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Backoff { until } => Some(*until),
            Phase::WsHandshake { deadline, .. }
            | Phase::WsStreaming { deadline, .. }
            | Phase::HttpHead { deadline, .. }
            | Phase::HttpErrorBody { deadline, .. }
            | Phase::HttpStreaming { deadline, .. } => Some(*deadline),
            Phase::WaitingSlot | Phase::WaitingAuth => None,
        }
    }

    /// Pushes the read deadline forward after activity.
    pub(crate) fn touch(&mut self, deadline_after_activity: Instant) {
        match self {
            Phase::WsStreaming { deadline, .. }
            | Phase::HttpErrorBody { deadline, .. }
            | Phase::HttpStreaming { deadline, .. } => *deadline = deadline_after_activity,
            _ => {}
        }
    }

    /// True while the request is still establishing an HTTP response (retry layer 9.1).
    pub(crate) fn is_http_establishing(&self) -> bool {
        matches!(self, Phase::HttpHead { .. } | Phase::HttpErrorBody { .. })
    }
}

/// Counters of the current attempt, for telemetry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttemptStats {
    pub(crate) number: u32,
    pub(crate) transport: Transport,
    pub(crate) started: Instant,
    pub(crate) first_event: Option<Instant>,
    pub(crate) bytes: u64,
    pub(crate) events: u64,
    /// Server events of this attempt that reached the caller.
    pub(crate) caller_events: u64,
}

/// One request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) id: RequestId,
    pub(crate) turn: TurnId,
    pub(crate) fields: RequestFields,
    /// The input is the turn's history `[..input_len]`.
    pub(crate) input_len: usize,
    pub(crate) phase: Phase,
    pub(crate) stats: AttemptStats,
    /// Retries spent in the stream layer (9.3).
    pub(crate) stream_retries: u32,
    /// Retries spent establishing the current HTTP response (9.1).
    pub(crate) http_retries: u32,
    /// A 401 refresh was already used.
    pub(crate) auth_refreshed: bool,
    /// The connection-limit reconnect was already used.
    pub(crate) conn_limit_reconnected: bool,
    /// The free resend after a stale pooled HTTP connection was already used; later
    /// attempts go on new connections.
    pub(crate) stale_resent: bool,
    /// Some output event of any attempt reached the caller.
    pub(crate) output_seen: bool,
    /// The current attempt went out on a socket adopted from the slot (8.1).
    pub(crate) reused_socket: bool,
    /// The free replacement of a dead reused socket was already used.
    pub(crate) stale_replaced: bool,
    /// The free resend after `previous_response_not_found` was already used.
    pub(crate) chain_resent: bool,
    /// Output items of the current attempt.
    pub(crate) outputs: Vec<ResponseItem>,
    /// An SSE `error` event of the current attempt, used if the response ends without
    /// a completion.
    pub(crate) sse_error: Option<ErrorPayload>,
}

impl Request {
    pub(crate) fn new(
        id: RequestId,
        turn: TurnId,
        fields: RequestFields,
        input_len: usize,
        now: Instant,
    ) -> Self {
        Request {
            id,
            turn,
            fields,
            input_len,
            phase: Phase::Backoff { until: now },
            stats: AttemptStats {
                number: 0,
                transport: Transport::Http,
                started: now,
                first_event: None,
                bytes: 0,
                events: 0,
                caller_events: 0,
            },
            stream_retries: 0,
            http_retries: 0,
            auth_refreshed: false,
            conn_limit_reconnected: false,
            stale_resent: false,
            output_seen: false,
            reused_socket: false,
            stale_replaced: false,
            chain_resent: false,
            outputs: Vec::new(),
            sse_error: None,
        }
    }

    /// Starts counting a new attempt on `transport` and voids the previous attempt's
    /// partial state.
    pub(crate) fn begin_attempt(&mut self, transport: Transport, now: Instant) {
        self.stats = AttemptStats {
            number: self.stats.number + 1,
            transport,
            started: now,
            first_event: None,
            bytes: 0,
            events: 0,
            caller_events: 0,
        };
        self.reused_socket = false;
        self.outputs.clear();
        self.sse_error = None;
    }
}

/// Appends to an error body up to `max` bytes in all.
pub(crate) fn append_bounded(body: &mut Vec<u8>, data: &Bytes, max: usize) {
    let room = max.saturating_sub(body.len());
    body.extend_from_slice(&data[..data.len().min(room)]);
}
