//! Starting attempts: transport choice (PROTOCOL.md section 4), the HTTP POST, the
//! turn's WebSocket and the message sent on it (section 6).

use super::output::{HttpOpen, MessageKind, Output, Telemetry, Transport, WsOpen};
use super::request::Phase;
use super::turn::{self, Baseline, TurnSocket};
use super::{ConnOwner, RequestId, Session, TurnId};
use crate::error::ResponseError;
use crate::request::{
    self as encode, HeaderContext, MetadataSources, OversizedValue, RequestError,
};
use crate::time::Instant;

impl Session {
    /// Starts the next attempt of a request on the transport the session allows now.
    pub(super) fn start_attempt(&mut self, now: Instant, id: RequestId) {
        if self.ws_usable() {
            self.start_ws_attempt(now, id);
        } else {
            self.start_http_attempt(now, id);
        }
    }

    fn start_http_attempt(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let turn_id = req.turn;
        // A socket left from before the fallback is of no further use.
        if let Some(conn) = self.turns.get_mut(&turn_id).and_then(|t| t.drop_socket()) {
            self.close_conn(conn);
        }
        let compared_items = self
            .turns
            .get_mut(&turn_id)
            .map_or(0, |t| core::mem::take(&mut t.compared));
        let (Some(req), Some(turn)) = (self.requests.get(&id), self.turns.get(&turn_id)) else {
            return;
        };
        // On HTTP the token travels as a header, never in the body.
        let (metadata, oversized) = encode::client_metadata(
            MetadataSources {
                caller: &req.fields.client_metadata,
                turn_metadata: turn.metadata.as_deref(),
                turn_state: turn.turn_state.as_ref(),
            },
            Transport::Http,
        );
        let body = encode::encode_body(
            &req.fields,
            &self.conversation_id,
            &turn.history[..req.input_len],
            &metadata,
        );
        let ctx = HeaderContext {
            config: &self.config,
            credentials: &self.credentials,
            conversation_id: &self.conversation_id,
            turn_state: turn.turn_state.as_ref(),
            turn_metadata: turn.metadata.as_deref(),
        };
        let bytes = body.len();
        let built = encode::http_request(&ctx, body, self.config.request_compression);
        let request = match built {
            Ok(request) => request,
            Err(err) => return self.finish_with_error(id, build_error(err)),
        };
        let conn = self.new_conn(ConnOwner::Request(id));
        let deadline = now.saturating_add(self.config.connect_timeout);
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.begin_attempt(Transport::Http, now);
        req.phase = Phase::HttpHead { conn, deadline };
        let attempt = req.stats.number;
        let compress = self.config.request_compression;
        let reuse = !req.stale_resent;
        self.push(Output::OpenHttp(HttpOpen {
            conn,
            request,
            compress,
            reuse,
        }));
        self.report_oversized(id, oversized);
        self.telemetry(Telemetry::AttemptStarted {
            request: id,
            attempt,
            transport: Transport::Http,
            message: MessageKind::Post,
            bytes,
            compared_items,
        });
    }

    fn start_ws_attempt(&mut self, now: Instant, id: RequestId) {
        let Some(turn_id) = self.requests.get(&id).map(|r| r.turn) else {
            return;
        };
        let socket = self.turns.get(&turn_id).and_then(|t| {
            t.socket
                .as_ref()
                .map(|s| (s.conn(), matches!(s, TurnSocket::Open { .. })))
        });
        match socket {
            Some((conn, true)) => self.send_ws(now, id, conn),
            Some((conn, false)) => {
                let deadline = now.saturating_add(self.config.connect_timeout);
                if let Some(req) = self.requests.get_mut(&id) {
                    req.begin_attempt(Transport::WebSocket, now);
                    req.phase = Phase::WsHandshake { conn, deadline };
                }
            }
            None if self.slot_open() => match self.adopt_slot(turn_id) {
                Some(conn) => self.send_ws(now, id, conn),
                None => self.open_turn_socket(now, id),
            },
            None if self.slot_in_flight() => {
                if let Some(req) = self.requests.get_mut(&id) {
                    req.phase = Phase::WaitingSlot;
                }
            }
            None => self.open_turn_socket(now, id),
        }
    }

    /// Opens the turn's own WebSocket for request `id` and waits for the handshake.
    pub(super) fn open_turn_socket(&mut self, now: Instant, id: RequestId) {
        let Some(turn_id) = self.requests.get(&id).map(|r| r.turn) else {
            return;
        };
        let Some(turn) = self.turns.get(&turn_id) else {
            return;
        };
        let ctx = HeaderContext {
            config: &self.config,
            credentials: &self.credentials,
            conversation_id: &self.conversation_id,
            turn_state: turn.turn_state.as_ref(),
            turn_metadata: turn.metadata.as_deref(),
        };
        let request = match encode::ws_handshake(&ctx) {
            Ok(request) => request,
            Err(err) => return self.finish_with_error(id, build_error(err)),
        };
        let conn = self.new_conn(ConnOwner::Turn(turn_id));
        if let Some(turn) = self.turns.get_mut(&turn_id) {
            turn.baseline = None;
            turn.socket = Some(TurnSocket::Handshaking { conn });
        }
        let deadline = now.saturating_add(self.config.connect_timeout);
        if let Some(req) = self.requests.get_mut(&id) {
            req.begin_attempt(Transport::WebSocket, now);
            req.phase = Phase::WsHandshake { conn, deadline };
        }
        self.push(Output::OpenWs(WsOpen { conn, request }));
    }

    /// Sends request `id` on the turn's open WebSocket `conn`, incrementally when
    /// section 6 allows, and starts reading its response.
    pub(super) fn send_ws(&mut self, now: Instant, id: RequestId, conn: super::ConnId) {
        let protocol = self.config.ws_protocol;
        let idle = self.config.stream_idle_timeout;
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let Some(turn) = self.turns.get_mut(&req.turn) else {
            return;
        };
        if req.stats.transport != Transport::WebSocket || req.phase.conn() != Some(conn) {
            req.begin_attempt(Transport::WebSocket, now);
        }
        let from_slot = match &mut turn.socket {
            Some(TurnSocket::Open { from_slot, .. }) => core::mem::take(from_slot),
            _ => false,
        };
        req.reused_socket = from_slot;
        let compared_items = core::mem::take(&mut turn.compared);
        let input = &turn.history[..req.input_len];
        let plan = turn::plan(
            turn.baseline.as_ref(),
            protocol,
            conn,
            req.input_len,
            &req.fields,
        );
        let message = plan.kind();
        // Every `response.create` carries the turn's token as it stands now, so an
        // attempt after a capture (a follow-up, a reconnect) has it.
        let (metadata, oversized) = encode::client_metadata(
            MetadataSources {
                caller: &req.fields.client_metadata,
                turn_metadata: turn.metadata.as_deref(),
                turn_state: turn.turn_state.as_ref(),
            },
            Transport::WebSocket,
        );
        let (text, oversized) = match plan {
            turn::Plan::Full => (
                encode::ws_create(&req.fields, &self.conversation_id, input, None, &metadata),
                oversized,
            ),
            turn::Plan::Append { from } => (encode::ws_append(&input[from..]), Vec::new()),
            turn::Plan::Chained { from, previous } => (
                encode::ws_create(
                    &req.fields,
                    &self.conversation_id,
                    &input[from..],
                    Some(previous),
                    &metadata,
                ),
                oversized,
            ),
        };
        turn.baseline = Some(Baseline {
            conn,
            len: req.input_len,
            fields: req.fields.clone(),
            response_id: None,
            completed: false,
            lineage: turn.lineage,
            from_prewarm: false,
        });
        let header_events = match &turn.socket {
            Some(TurnSocket::Open { header_events, .. }) => header_events.clone(),
            _ => Vec::new(),
        };
        req.phase = Phase::WsStreaming {
            conn,
            deadline: now.saturating_add(idle),
        };
        let attempt = req.stats.number;
        let bytes = text.len();
        for event in header_events {
            self.emit(id, event);
        }
        self.push(Output::SendWs { conn, text });
        self.report_oversized(id, oversized);
        self.telemetry(Telemetry::AttemptStarted {
            request: id,
            attempt,
            transport: Transport::WebSocket,
            message,
            bytes,
            compared_items,
        });
    }

    /// Reports each `client_metadata` value left out of request `id`'s attempt for
    /// being too long.
    fn report_oversized(&mut self, id: RequestId, oversized: Vec<OversizedValue>) {
        for OversizedValue { key, chars } in oversized {
            self.telemetry(Telemetry::ClientMetadataDropped {
                request: id,
                key,
                chars,
            });
        }
    }

    /// Closes whatever the request's current attempt has open (the turn's socket when
    /// the attempt used it), leaving the request in place.
    pub(super) fn abandon_attempt(&mut self, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let Some(conn) = req.phase.conn() else { return };
        let turn_id = req.turn;
        self.drop_conn_of(turn_id, conn);
        self.close_conn(conn);
    }

    /// Forgets `conn` as the turn's socket (and its baseline) if it is that socket.
    pub(super) fn drop_conn_of(&mut self, turn_id: TurnId, conn: super::ConnId) {
        if let Some(turn) = self.turns.get_mut(&turn_id)
            && turn.socket_conn() == Some(conn)
        {
            turn.drop_socket();
        }
    }
}

fn build_error(err: RequestError) -> ResponseError {
    match err {
        RequestError::Credentials => ResponseError::Unauthorized {
            message: err.to_string(),
        },
        other => ResponseError::InvalidRequest {
            message: other.to_string(),
        },
    }
}
