//! Transport results: HTTP heads, bodies and ends, WebSocket handshakes and frames,
//! failures, and the server events they carry (PROTOCOL.md sections 5, 7 and 11).

use bytes::Bytes;

use super::input::{Input, UsageError};
use super::output::Telemetry;
use super::request::{Phase, append_bounded};
use super::retry::{Cause, Layer};
use super::turn::TurnSocket;
use super::{ConnId, ConnOwner, RequestId, Session, TurnId};
use crate::connect::classify_connect_failure;
use crate::error::{self, Classified, ResponseError, codes};
use crate::event::{self, ResponseEvent, ServerEvent};
use crate::headers;
use crate::http1;
use crate::sse::{SseDecoder, SseError, SseFrame, SseLimits};
use crate::time::Instant;

/// Message for a body or socket that ended before a terminal event.
const CLOSED_EARLY: &str = "stream closed before response.completed";

impl Session {
    /// Routes a transport result to the socket slot, a turn's socket or a request.
    pub(super) fn handle_transport(
        &mut self,
        now: Instant,
        input: Input,
    ) -> Result<(), UsageError> {
        let conn = match &input {
            Input::HttpResponse { conn, .. }
            | Input::HttpBody { conn, .. }
            | Input::HttpEnd { conn }
            | Input::WsOpened { conn, .. }
            | Input::WsRefused { conn, .. }
            | Input::WsText { conn, .. }
            | Input::WsBinary { conn, .. }
            | Input::WsActivity { conn }
            | Input::WsClosed { conn, .. }
            | Input::TransportError { conn, .. }
            | Input::ConnectFailed { conn, .. }
            | Input::HttpStale { conn, .. }
            | Input::SendFailed { conn, .. } => *conn,
            _ => return Ok(()),
        };
        // Results for connections the session already closed are stale: ignore them.
        let Some(owner) = self.conns.get(&conn).copied() else {
            return Ok(());
        };
        match owner {
            ConnOwner::Slot => self.slot_input(now, conn, input),
            ConnOwner::Turn(turn) => self.turn_socket_input(now, turn, conn, input),
            ConnOwner::Request(request) => self.http_input(now, request, conn, input),
        }
    }

    fn slot_input(&mut self, now: Instant, conn: ConnId, input: Input) -> Result<(), UsageError> {
        let prewarming = matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(super::slot::SlotState::Prewarming { .. })
        );
        let handshaking = matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(super::slot::SlotState::Handshaking { .. })
        );
        let frame = matches!(
            input,
            Input::WsText { .. } | Input::WsBinary { .. } | Input::WsActivity { .. }
        );
        if frame && handshaking {
            // The driver has not reported the handshake complete: no frame can come yet.
            return Err(unexpected(conn, &input));
        }
        match input {
            Input::WsOpened { .. } if !handshaking => return Err(unexpected(conn, &input)),
            Input::WsOpened { headers, .. } => self.slot_opened(now, &headers),
            Input::WsRefused { status, .. } => {
                // Any HTTP answer resets the count of unanswered connects (10.3).
                self.ws_unanswered = 0;
                self.conns.remove(&conn);
                let reason = format!("handshake refused with {status}");
                self.slot_failed(now, reason, Cause::Status(status));
            }
            Input::WsClosed { .. }
            | Input::TransportError { .. }
            | Input::ConnectFailed { .. }
            | Input::SendFailed { .. } => {
                let cause = if handshaking
                    && matches!(
                        input,
                        Input::TransportError { .. } | Input::ConnectFailed { .. }
                    ) {
                    Cause::NoAnswer
                } else {
                    Cause::Lost
                };
                let reason = match input {
                    Input::TransportError { message, .. } | Input::SendFailed { message, .. } => {
                        message
                    }
                    Input::ConnectFailed { failure, .. } => failure.to_string(),
                    _ if prewarming => CLOSED_EARLY.to_owned(),
                    _ => "closed before adoption".to_owned(),
                };
                self.conns.remove(&conn);
                self.slot_failed(now, reason, cause);
            }
            Input::WsText { text, .. } if prewarming => self.prewarm_frame(now, &text),
            Input::WsBinary { .. } if prewarming => {
                let reason = "unexpected binary WebSocket frame".to_owned();
                self.slot_failed(now, reason, Cause::Other)
            }
            Input::WsActivity { .. } if prewarming => self.prewarm_activity(now),
            // Frames on an idle socket carry nothing for anyone, but show it alive.
            Input::WsText { .. } | Input::WsBinary { .. } | Input::WsActivity { .. } => {
                self.slot_alive(now)
            }
            other => return Err(unexpected(conn, &other)),
        }
        Ok(())
    }

    fn turn_socket_input(
        &mut self,
        now: Instant,
        turn_id: TurnId,
        conn: ConnId,
        input: Input,
    ) -> Result<(), UsageError> {
        let frame = matches!(
            input,
            Input::WsText { .. } | Input::WsBinary { .. } | Input::WsActivity { .. }
        );
        if frame && !self.turn_socket_open(turn_id, conn) {
            // The driver has not reported the handshake complete: no frame can come yet.
            return Err(unexpected(conn, &input));
        }
        let active = self.turns.get(&turn_id).and_then(|t| t.active);
        let request = active.filter(|id| {
            self.requests
                .get(id)
                .is_some_and(|r| r.phase.conn() == Some(conn))
        });
        match input {
            Input::WsOpened { headers, .. } => {
                self.ws_unanswered = 0;
                let limit = self.config.limits.header_value;
                let header_events = headers::header_events(&headers, limit);
                if let Some(turn) = self.turns.get_mut(&turn_id) {
                    turn.socket = Some(TurnSocket::Open {
                        conn,
                        header_events,
                        from_slot: false,
                    });
                }
                self.capture_turn_state(turn_id, &headers);
                if let Some(id) = request {
                    self.send_ws(now, id, conn);
                }
            }
            Input::WsRefused {
                status,
                headers,
                body,
                ..
            } => {
                self.ws_unanswered = 0;
                self.conns.remove(&conn);
                self.drop_conn_of(turn_id, conn);
                let Some(id) = request else { return Ok(()) };
                self.capture_turn_state(turn_id, &headers);
                let classified = self.classify_error_answer(status, &headers, &body);
                self.fail_attempt(now, id, classified, Cause::Status(status), Layer::Handshake);
            }
            Input::WsText { text, .. } => {
                let Some(id) = request else { return Ok(()) };
                let limit = self.config.limits.ws_message;
                if text.len() > limit {
                    let error = ResponseError::LimitExceeded {
                        what: "WebSocket message".into(),
                        limit: limit as u64,
                    };
                    self.fail_live_attempt(now, id, terminal(error));
                    return Ok(());
                }
                self.note_activity(now, id, text.len());
                let decoded = event::decode_server_event(&text);
                self.on_decoded(now, id, decoded);
            }
            Input::WsBinary { len, .. } => {
                let Some(id) = request else { return Ok(()) };
                self.note_activity(now, id, len);
                let classified = error::classify_transport("unexpected binary WebSocket frame");
                self.fail_live_attempt(now, id, classified);
            }
            Input::WsActivity { .. } => {
                if let Some(id) = request {
                    self.note_activity(now, id, 0);
                }
            }
            Input::WsClosed { .. }
            | Input::TransportError { .. }
            | Input::ConnectFailed { .. }
            | Input::SendFailed { .. } => {
                let open = self.turn_socket_open(turn_id, conn);
                let cause = match input {
                    Input::TransportError { .. } | Input::ConnectFailed { .. } if !open => {
                        Cause::NoAnswer
                    }
                    _ => Cause::Lost,
                };
                let layer = if open {
                    Layer::Stream
                } else {
                    Layer::Handshake
                };
                self.conns.remove(&conn);
                self.drop_conn_of(turn_id, conn);
                let Some(id) = request else { return Ok(()) };
                let classified = match input {
                    Input::TransportError { message, .. } | Input::SendFailed { message, .. } => {
                        error::classify_transport(message)
                    }
                    Input::ConnectFailed { failure, .. } => classify_connect_failure(failure),
                    _ => error::classify_transport(CLOSED_EARLY),
                };
                self.fail_attempt(now, id, classified, cause, layer);
            }
            other => return Err(unexpected(conn, &other)),
        }
        Ok(())
    }

    /// True when `conn` is the turn's socket and its handshake completed.
    fn turn_socket_open(&self, turn_id: TurnId, conn: ConnId) -> bool {
        self.turns.get(&turn_id).is_some_and(|turn| {
            matches!(&turn.socket, Some(TurnSocket::Open { conn: open, .. }) if *open == conn)
        })
    }

    fn http_input(
        &mut self,
        now: Instant,
        id: RequestId,
        conn: ConnId,
        input: Input,
    ) -> Result<(), UsageError> {
        let Some(req) = self.requests.get_mut(&id) else {
            return Ok(());
        };
        let turn_id = req.turn;
        let idle = now.saturating_add(self.config.stream_idle_timeout);
        match (input, &mut req.phase) {
            (
                Input::HttpResponse {
                    status, headers, ..
                },
                Phase::HttpHead { .. },
            ) => {
                self.capture_turn_state(turn_id, &headers);
                self.http_head(now, id, conn, status, headers);
            }
            (Input::HttpBody { data, .. }, Phase::HttpErrorBody { body, deadline, .. }) => {
                append_bounded(body, &data, self.config.limits.error_body);
                *deadline = idle;
            }
            (Input::HttpBody { data, .. }, Phase::HttpStreaming { .. }) => {
                self.http_body(now, id, &data)
            }
            (Input::HttpEnd { .. }, Phase::HttpErrorBody { .. }) => {
                self.conns.remove(&conn);
                self.classify_error_body(now, id);
            }
            (Input::HttpEnd { .. }, Phase::HttpStreaming { sse, .. }) => {
                sse.finish();
                self.drain_sse(now, id);
                if self
                    .requests
                    .get(&id)
                    .is_some_and(|r| r.phase.conn() == Some(conn))
                {
                    self.conns.remove(&conn);
                    let remembered = self.requests.get_mut(&id).and_then(|r| r.sse_error.take());
                    let (classified, cause) = match remembered {
                        Some(payload) => (error::classify_failed(Some(&payload)), Cause::Other),
                        None => (error::classify_transport(CLOSED_EARLY), Cause::Lost),
                    };
                    self.fail_attempt(now, id, classified, cause, Layer::Stream);
                }
            }
            (Input::HttpStale { message, .. }, phase) => {
                let awaiting_head = matches!(phase, Phase::HttpHead { .. });
                self.conns.remove(&conn);
                self.stale_connection(now, id, awaiting_head, message);
            }
            (Input::TransportError { message, .. } | Input::SendFailed { message, .. }, phase) => {
                let layer = if phase.is_http_establishing() {
                    Layer::Establish
                } else {
                    Layer::Stream
                };
                self.conns.remove(&conn);
                let classified = error::classify_transport(message);
                self.fail_attempt(now, id, classified, Cause::Lost, layer);
            }
            (Input::ConnectFailed { failure, .. }, _) => {
                self.conns.remove(&conn);
                let classified = classify_connect_failure(failure);
                self.fail_attempt(now, id, classified, Cause::NoAnswer, Layer::Establish);
            }
            (other, _) => return Err(unexpected(conn, &other)),
        }
        Ok(())
    }

    fn http_head(
        &mut self,
        now: Instant,
        id: RequestId,
        conn: ConnId,
        status: u16,
        headers: http::HeaderMap,
    ) {
        let idle = now.saturating_add(self.config.stream_idle_timeout);
        if (200..300).contains(&status) {
            // A body in an encoding the client did not ask for cannot be read, and a
            // server that compressed it once will do so again: not retried.
            if let Err(unsupported) = http1::content_encoding(&headers) {
                let error = ResponseError::UnsupportedContentEncoding {
                    encoding: unsupported.encoding,
                };
                let classified = terminal(error);
                return self.fail_attempt(now, id, classified, Cause::Other, Layer::Establish);
            }
            let limits = &self.config.limits;
            let sse = SseDecoder::new(SseLimits {
                max_line: limits.sse_line,
                max_data: limits.sse_event_data,
            });
            for event in headers::header_events(&headers, limits.header_value) {
                self.emit(id, event);
            }
            if let Some(req) = self.requests.get_mut(&id) {
                req.phase = Phase::HttpStreaming {
                    conn,
                    sse: Box::new(sse),
                    deadline: idle,
                };
            }
        } else if let Some(req) = self.requests.get_mut(&id) {
            req.phase = Phase::HttpErrorBody {
                conn,
                status,
                headers,
                body: Vec::new(),
                deadline: idle,
            };
        }
    }

    /// Classifies a collected HTTP error response and fails the attempt with it.
    pub(super) fn classify_error_body(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let Phase::HttpErrorBody {
            status,
            headers,
            body,
            ..
        } = &req.phase
        else {
            return;
        };
        let status = *status;
        let classified = self.classify_error_answer(status, headers, body);
        self.fail_attempt(now, id, classified, Cause::Status(status), Layer::Establish);
    }

    /// Classifies an HTTP error answer (a `POST`'s error response or a refused
    /// handshake) against the session's clock and error-body bound.
    fn classify_error_answer(
        &self,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Classified {
        let limit = self.config.limits.error_body;
        error::classify_http(status, headers, body, self.now.unix, limit)
    }

    fn http_body(&mut self, now: Instant, id: RequestId, data: &Bytes) {
        self.note_activity(now, id, data.len());
        if let Some(Phase::HttpStreaming { sse, .. }) =
            self.requests.get_mut(&id).map(|r| &mut r.phase)
        {
            sse.feed(data);
        }
        self.drain_sse(now, id);
    }

    /// Decodes every complete event the request's SSE decoder holds, stopping when the
    /// request ends or the output queue reaches its bound.
    fn drain_sse(&mut self, now: Instant, id: RequestId) {
        let queue_limit = self.config.limits.queued_outputs;
        loop {
            let Some(req) = self.requests.get_mut(&id) else {
                return;
            };
            let Phase::HttpStreaming { sse, .. } = &mut req.phase else {
                return;
            };
            let decoded = match sse.next_frame() {
                None => return,
                Some(Ok(SseFrame::Comment)) => continue,
                Some(Ok(SseFrame::Event(ev))) => Ok(event::decode_server_event(ev.data)),
                Some(Err(err)) => Err(err),
            };
            match decoded {
                Ok(decoded) => self.on_decoded(now, id, decoded),
                Err(SseError::InvalidUtf8) => {
                    let reason = "SSE event is not valid UTF-8".to_owned();
                    self.telemetry(Telemetry::EventSkipped {
                        request: id,
                        reason,
                    });
                }
                Err(err) => {
                    let (what, limit) = match err {
                        SseError::LineTooLong { limit } => ("SSE line", limit),
                        SseError::DataTooLarge { limit } => ("SSE event data", limit),
                        _ => ("SSE stream", 0),
                    };
                    let error = ResponseError::LimitExceeded {
                        what: what.into(),
                        limit: limit as u64,
                    };
                    return self.fail_live_attempt(now, id, terminal(error));
                }
            }
            if self.outputs.len() >= queue_limit && self.requests.contains_key(&id) {
                let error = ResponseError::LimitExceeded {
                    what: "queued outputs".into(),
                    limit: queue_limit as u64,
                };
                return self.fail_live_attempt(now, id, terminal(error));
            }
        }
    }

    /// Restarts the read deadline and counts received bytes.
    fn note_activity(&mut self, now: Instant, id: RequestId, bytes: usize) {
        let deadline = now.saturating_add(self.config.stream_idle_timeout);
        if let Some(req) = self.requests.get_mut(&id) {
            req.phase.touch(deadline);
            // Saturating: a driver may report any length (a binary frame's, say).
            req.stats.bytes = req.stats.bytes.saturating_add(bytes as u64);
        }
    }

    fn on_decoded(
        &mut self,
        now: Instant,
        id: RequestId,
        decoded: Result<ServerEvent, event::EventDecodeError>,
    ) {
        match decoded {
            Ok(event) => self.on_server_event(now, id, event),
            Err(event::EventDecodeError::CompletedWithoutId) => {
                let classified =
                    error::classify_transport("response.completed without a response id");
                self.fail_live_attempt(now, id, classified);
            }
            Err(err) => self.telemetry(Telemetry::EventSkipped {
                request: id,
                reason: err.to_string(),
            }),
        }
    }

    fn on_server_event(&mut self, now: Instant, id: RequestId, event: ServerEvent) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.stats.events += 1;
        req.stats.first_event.get_or_insert(now);
        let on_ws = matches!(req.phase, Phase::WsStreaming { .. });
        match event {
            ServerEvent::Caller(event) => {
                if let ResponseEvent::OutputItemDone { item } = &event {
                    req.outputs.push(item.clone());
                }
                req.output_seen |= event.is_output();
                req.stats.caller_events += 1;
                self.emit(id, event);
            }
            ServerEvent::Completed { response_id, usage } => {
                self.finish_response(now, id, ResponseEvent::Completed { response_id, usage });
            }
            ServerEvent::Incomplete {
                response_id,
                reason,
                usage,
            } => {
                self.finish_response(
                    now,
                    id,
                    ResponseEvent::Incomplete {
                        response_id,
                        reason,
                        usage,
                    },
                );
            }
            ServerEvent::Failed { error, .. }
                if on_ws
                    && error.as_ref().and_then(|e| e.code.as_deref())
                        == Some(codes::PREVIOUS_RESPONSE_NOT_FOUND) =>
            {
                let classified = error::classify_chain_lost(error.as_ref());
                self.fail_attempt(now, id, classified, Cause::ChainLost, Layer::Stream);
            }
            ServerEvent::Failed { error, .. } => {
                let payload = error.or_else(|| req.sse_error.take());
                self.fail_live_attempt(now, id, error::classify_failed(payload.as_ref()));
            }
            ServerEvent::Error(payload) if on_ws => {
                if let Some((classified, cause)) = ws_error_of_its_own(&payload) {
                    return self.fail_attempt(now, id, classified, cause, Layer::Stream);
                }
                self.fail_live_attempt(now, id, error::classify_failed(Some(&payload)));
            }
            ServerEvent::Error(payload) => req.sse_error = Some(payload),
            ServerEvent::WsError {
                status,
                error,
                headers,
            } => {
                if let Some((classified, cause)) = ws_error_of_its_own(&error) {
                    return self.fail_attempt(now, id, classified, cause, Layer::Stream);
                }
                let classified = error::classify_ws_error(status, &error, &headers, self.now.unix);
                if let ResponseError::UsageLimitReached {
                    rate_limits: Some(snapshot),
                    ..
                } = &classified.error
                {
                    let snapshot = snapshot.as_ref().clone();
                    self.emit(id, ResponseEvent::RateLimits { snapshot });
                }
                self.fail_live_attempt(now, id, classified);
            }
            ServerEvent::Metadata { turn_state, .. } => {
                let turn = req.turn;
                let limit = self.config.limits.header_value;
                let found =
                    turn_state.map(|raw| headers::validate_turn_state(raw.as_bytes(), limit));
                self.capture_found_turn_state(turn, found);
            }
            ServerEvent::Timing(raw) => {
                self.telemetry(Telemetry::WebsocketTiming { request: id, raw })
            }
        }
    }

    /// Captures a turn-state token from the response headers of a `POST` or of a
    /// handshake the turn itself made (PROTOCOL.md section 7): first value wins; an
    /// invalid value is reported and never stored.
    pub(super) fn capture_turn_state(&mut self, turn_id: TurnId, headers: &http::HeaderMap) {
        let limit = self.config.limits.header_value;
        let found = headers::turn_state(headers, limit);
        self.capture_found_turn_state(turn_id, found);
    }

    /// Stores a validated token in the turn's write-once cell, or reports a rejected
    /// one. Does nothing once the turn holds a token (later values, valid or not, are
    /// ignored) or when nothing was found.
    fn capture_found_turn_state(
        &mut self,
        turn_id: TurnId,
        found: Option<Result<headers::TurnStateToken, headers::TurnStateError>>,
    ) {
        let Some(found) = found else {
            return;
        };
        let Some(turn) = self.turns.get_mut(&turn_id) else {
            return;
        };
        if turn.turn_state.is_some() {
            return;
        }
        match found {
            Ok(token) => {
                turn.capture_turn_state(token);
                self.telemetry(Telemetry::TurnStateCaptured { turn: turn_id });
            }
            Err(err) => self.telemetry(Telemetry::TurnStateRejected {
                turn: turn_id,
                reason: err.to_string(),
            }),
        }
    }
}

/// A WebSocket error whose code the retry rules treat on its own, beyond its
/// classification: the server's connection limit, or a lost response chain.
fn ws_error_of_its_own(payload: &event::ErrorPayload) -> Option<(Classified, Cause)> {
    match payload.code.as_deref()? {
        codes::WEBSOCKET_CONNECTION_LIMIT_REACHED => Some((
            error::classify_transport("WebSocket connection limit reached"),
            Cause::ConnectionLimit,
        )),
        codes::PREVIOUS_RESPONSE_NOT_FOUND => {
            Some((error::classify_chain_lost(Some(payload)), Cause::ChainLost))
        }
        _ => None,
    }
}

/// A non-retryable classification of `error`.
fn terminal(error: ResponseError) -> Classified {
    Classified {
        error,
        retryable: false,
        requested_delay: None,
        unauthorized: false,
    }
}

fn unexpected(conn: ConnId, input: &Input) -> UsageError {
    let input = match input {
        Input::HttpResponse { .. } => "HttpResponse",
        Input::HttpBody { .. } => "HttpBody",
        Input::HttpEnd { .. } => "HttpEnd",
        Input::WsOpened { .. } => "WsOpened",
        Input::WsRefused { .. } => "WsRefused",
        Input::WsText { .. } => "WsText",
        Input::WsBinary { .. } => "WsBinary",
        Input::WsActivity { .. } => "WsActivity",
        Input::WsClosed { .. } => "WsClosed",
        Input::TransportError { .. } => "TransportError",
        Input::ConnectFailed { .. } => "ConnectFailed",
        Input::HttpStale { .. } => "HttpStale",
        Input::SendFailed { .. } => "SendFailed",
        _ => "input",
    };
    UsageError::UnexpectedInput { conn, input }
}
