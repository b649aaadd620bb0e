//! Ending attempts and requests: the retry layers and backoff (PROTOCOL.md section 9),
//! 401 refresh (9.2), the WebSocket→HTTP fallback (section 10), the connection-limit
//! reconnect, and terminal outcomes.

use core::time::Duration;

use super::output::{FreeRetryReason, Output, RetryLayer, Telemetry, Transport};
use super::request::Phase;
use super::{RequestId, Session};
use crate::backoff::RetryDelay;
use crate::error::{self, Classified, ResponseError};
use crate::event::{ErrorPayload, ResponseEvent};
use crate::secret::Credentials;
use crate::time::Instant;

/// Which budget a failure is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailureLayer {
    /// Establishing an HTTP response (`request_max_retries`, 9.1).
    Request,
    /// The stream around the request (`stream_max_retries`, 9.3).
    Stream,
}

impl Session {
    /// Ends the current attempt of request `id` with `classified` and decides what
    /// follows: refresh, retry after a delay, fallback, or a terminal error. Closes
    /// what the attempt still has open.
    pub(super) fn fail_attempt(
        &mut self,
        now: Instant,
        id: RequestId,
        classified: Classified,
        layer: FailureLayer,
    ) {
        if !self.requests.contains_key(&id) {
            return;
        }
        self.attempt_ended(now, id, &classified.error.to_string());
        self.abandon_attempt(id);
        if classified.unauthorized {
            if !self.void_before_refresh(id, &classified.error) {
                return;
            }
            return self.unauthorized(id, classified.error);
        }
        let partial_voids_retry = !self.config.retry_after_partial_output
            && self.requests.get(&id).is_some_and(|r| r.output_seen);
        if !classified.retryable || partial_voids_retry {
            return self.finish_with_error(id, classified.error);
        }
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        match layer {
            FailureLayer::Request if req.http_retries < self.config.request_max_retries => {
                req.http_retries += 1;
                let retry = req.http_retries;
                self.schedule_retry(now, id, RetryLayer::Request, retry, classified);
            }
            FailureLayer::Stream if req.stream_retries < self.config.stream_max_retries => {
                req.stream_retries += 1;
                req.http_retries = 0;
                let retry = req.stream_retries;
                self.schedule_retry(now, id, RetryLayer::Stream, retry, classified);
            }
            FailureLayer::Stream if req.stats.transport == Transport::WebSocket => {
                let reason = format!(
                    "stream retries exhausted on WebSocket: {}",
                    classified.error
                );
                self.activate_fallback(now, &reason, Some(id));
            }
            _ => self.finish_with_error(id, classified.error),
        }
    }

    /// [`Session::fail_attempt`] in the stream layer, for failures of a live attempt.
    pub(super) fn fail_live_attempt(
        &mut self,
        now: Instant,
        id: RequestId,
        classified: Classified,
    ) {
        self.fail_attempt(now, id, classified, FailureLayer::Stream);
    }

    fn schedule_retry(
        &mut self,
        now: Instant,
        id: RequestId,
        layer: RetryLayer,
        retry: u32,
        classified: Classified,
    ) {
        let exponent = retry.saturating_sub(1);
        let delay = match self
            .backoff
            .delay(exponent, classified.requested_delay, &mut self.rng)
        {
            RetryDelay::Wait(delay) => delay,
            RetryDelay::TooLong(requested) => {
                return self.finish_with_error(id, with_retry_after(classified.error, requested));
            }
        };
        let reason = classified.error.to_string();
        if layer == RetryLayer::Stream {
            let max = self.config.stream_max_retries;
            self.emit(
                id,
                ResponseEvent::Reconnecting {
                    attempt: retry,
                    max,
                    delay,
                    reason: reason.clone(),
                },
            );
        }
        self.telemetry(Telemetry::RetryScheduled {
            request: id,
            layer,
            retry,
            delay,
            reason,
        });
        if delay.is_zero() {
            self.start_attempt(now, id);
        } else if let Some(req) = self.requests.get_mut(&id) {
            req.phase = Phase::Backoff {
                until: now.saturating_add(delay),
            };
        }
    }

    /// A 401 (a WebSocket `error` frame with that status) after events of the attempt
    /// reached the caller: before the refresh-and-retry, `Reconnecting` must tell the
    /// caller those events are void, which spends a stream retry. When none is left,
    /// or `retry_after_partial_output` forbids retrying after output, the request ends
    /// with the error. Returns whether the refresh may go ahead. A 401 before any event
    /// (on a head or handshake, the usual case) is free, as PROTOCOL.md 9.2 says.
    fn void_before_refresh(&mut self, id: RequestId, error: &ResponseError) -> bool {
        let max = self.config.stream_max_retries;
        let partial_rule = self.config.retry_after_partial_output;
        let refreshable = self.auth_refreshable;
        let Some(req) = self.requests.get_mut(&id) else {
            return false;
        };
        if req.stats.caller_events == 0 || !refreshable || req.auth_refreshed {
            // Nothing to void, or `unauthorized` ends the request anyway.
            return true;
        }
        if (!partial_rule && req.output_seen) || req.stream_retries >= max {
            self.finish_with_error(id, error.clone());
            return false;
        }
        req.stream_retries += 1;
        req.http_retries = 0;
        let attempt = req.stream_retries;
        let reason = format!("{error}; refreshing credentials");
        let delay = Duration::ZERO;
        let event = ResponseEvent::Reconnecting {
            attempt,
            max,
            delay,
            reason: reason.clone(),
        };
        self.emit(id, event);
        self.telemetry(Telemetry::RetryScheduled {
            request: id,
            layer: RetryLayer::Stream,
            retry: attempt,
            delay,
            reason,
        });
        true
    }

    /// A 401: refresh once per request, then retry at once without backoff or budget.
    fn unauthorized(&mut self, id: RequestId, error: ResponseError) {
        let message = match error {
            ResponseError::Unauthorized { message } => message,
            other => other.to_string(),
        };
        if !self.auth_refreshable {
            let message = format!("{message} (the credentials cannot be refreshed)");
            return self.finish_with_error(id, ResponseError::Unauthorized { message });
        }
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        if req.auth_refreshed {
            let message = format!("{message} (again after refreshing credentials)");
            return self.finish_with_error(id, ResponseError::Unauthorized { message });
        }
        req.auth_refreshed = true;
        req.phase = Phase::WaitingAuth;
        if !self.refresh_pending {
            self.refresh_pending = true;
            self.push(Output::RefreshAuth);
        }
    }

    fn waiting_for_auth(&self) -> Vec<RequestId> {
        self.requests
            .values()
            .filter(|r| matches!(r.phase, Phase::WaitingAuth))
            .map(|r| r.id)
            .collect()
    }

    /// New credentials: every request waiting on them retries at once.
    pub(super) fn auth_refreshed(&mut self, now: Instant, credentials: Credentials) {
        self.credentials = credentials;
        self.refresh_pending = false;
        for id in self.waiting_for_auth() {
            self.start_attempt(now, id);
        }
    }

    /// The refresh failed: every request waiting on it ends `Unauthorized`.
    pub(super) fn auth_refresh_failed(&mut self, message: &str) {
        self.refresh_pending = false;
        for id in self.waiting_for_auth() {
            let message = format!("refreshing credentials failed: {message}");
            self.finish_with_error(id, ResponseError::Unauthorized { message });
        }
    }

    /// Activates the WebSocket→HTTP fallback: sets the sticky flag (first activation
    /// only), discards the socket slot, and replays `request` and every request
    /// waiting on the slot over HTTP with fresh budgets.
    pub(super) fn activate_fallback(
        &mut self,
        now: Instant,
        reason: &str,
        request: Option<RequestId>,
    ) {
        let mut targets: Vec<RequestId> = self
            .requests
            .values()
            .filter(|r| matches!(r.phase, Phase::WaitingSlot))
            .map(|r| r.id)
            .collect();
        targets.extend(request.filter(|id| !targets.contains(id)));
        if self.ws_disabled_at.is_none() {
            self.ws_disabled_at = Some(now);
            self.telemetry(Telemetry::FallbackActivated {
                reason: reason.to_owned(),
            });
        }
        self.ws_unanswered = 0;
        self.discard_slot("fallback to HTTP activated");
        for id in targets {
            self.abandon_attempt(id);
            let Some(req) = self.requests.get_mut(&id) else {
                continue;
            };
            req.stream_retries = 0;
            req.http_retries = 0;
            let turn_id = req.turn;
            if let Some(conn) = self.turns.get_mut(&turn_id).and_then(|t| t.drop_socket()) {
                self.close_conn(conn);
            }
            self.emit(
                id,
                ResponseEvent::FallbackActivated {
                    reason: reason.to_owned(),
                },
            );
            self.start_attempt(now, id);
        }
    }

    /// `websocket_connection_limit_reached`: reconnect at once, once per request,
    /// without spending budget; the new connection starts with a full create. When
    /// events of this attempt already reached the caller, it is an ordinary stream
    /// failure instead, so that `Reconnecting` tells the caller they are void (and
    /// `retry_after_partial_output` is honoured).
    pub(super) fn connection_limit(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        if req.conn_limit_reconnected {
            let classified = error::classify_transport("WebSocket connection limit reached again");
            return self.fail_live_attempt(now, id, classified);
        }
        if req.stats.caller_events > 0 {
            let classified =
                error::classify_transport("WebSocket connection limit reached mid-response");
            return self.fail_live_attempt(now, id, classified);
        }
        req.conn_limit_reconnected = true;
        self.attempt_ended(now, id, "WebSocket connection limit reached");
        self.abandon_attempt(id);
        self.start_attempt(now, id);
    }

    /// Whether request `id`'s attempt is on a socket adopted from the slot that failed
    /// before the first event of the response, with the free replacement unused
    /// (PROTOCOL.md 8.1).
    pub(super) fn stale_socket(&self, id: RequestId) -> bool {
        self.requests
            .get(&id)
            .is_some_and(|r| r.reused_socket && r.stats.events == 0 && !r.stale_replaced)
    }

    /// Re-sends request `id` at once as a full create on a new socket, without
    /// backoff, budget or `Reconnecting` (a dead reused socket, or a lost chain).
    pub(super) fn free_retry(
        &mut self,
        now: Instant,
        id: RequestId,
        reason: FreeRetryReason,
        message: &str,
    ) {
        self.attempt_ended(now, id, message);
        self.abandon_attempt(id);
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        match reason {
            FreeRetryReason::ChainLost => req.chain_resent = true,
            _ => req.stale_replaced = true,
        }
        self.telemetry(Telemetry::FreeRetry {
            request: id,
            reason,
        });
        if self.ws_usable() {
            // A new socket: never another reused one.
            self.open_turn_socket(now, id);
        } else {
            self.start_attempt(now, id);
        }
    }

    /// `previous_response_not_found`: the server no longer holds the chain. The first
    /// time in a request, before any event reached the caller, the request is re-sent
    /// at once as a full create on a new socket; otherwise it is an ordinary
    /// retryable error.
    pub(super) fn chain_lost(&mut self, now: Instant, id: RequestId, error: Option<&ErrorPayload>) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let message = error
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| "previous response not found".to_owned());
        if !req.chain_resent && req.stats.caller_events == 0 {
            return self.free_retry(now, id, FreeRetryReason::ChainLost, &message);
        }
        let classified = Classified::new(
            ResponseError::Retryable {
                message,
                delay: None,
            },
            true,
            None,
        );
        self.fail_live_attempt(now, id, classified);
    }

    /// A WebSocket connect ended without any HTTP answer (refused, reset, TLS
    /// failure, connect timeout). At `ws_unreachable_fallback_after` such connects in
    /// a row the fallback activates at once, ending `request`'s attempt with its
    /// message and replaying it over HTTP; returns whether it did.
    pub(super) fn ws_connect_unanswered(
        &mut self,
        now: Instant,
        request: Option<(RequestId, &str)>,
    ) -> bool {
        self.ws_unanswered = self.ws_unanswered.saturating_add(1);
        let limit = self.config.ws_unreachable_fallback_after;
        if limit == 0 || self.ws_unanswered < limit || !self.ws_usable() {
            return false;
        }
        let reason = format!(
            "{} WebSocket connects in a row got no HTTP answer",
            self.ws_unanswered
        );
        if let Some((id, message)) = request {
            self.attempt_ended(now, id, message);
        }
        self.activate_fallback(now, &reason, request.map(|(id, _)| id));
        true
    }

    /// Acts on request `id`'s passed deadline.
    pub(super) fn request_deadline(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let classified = |message: &str| error::classify_transport(message);
        match req.phase {
            Phase::Backoff { .. } => self.start_attempt(now, id),
            Phase::WsHandshake { .. } => {
                let message = "connect timeout: WebSocket handshake took too long";
                if !self.ws_connect_unanswered(now, Some((id, message))) {
                    self.fail_live_attempt(now, id, classified(message));
                }
            }
            Phase::HttpHead { .. } => {
                let c = classified("connect timeout: no HTTP response head in time");
                self.fail_attempt(now, id, c, FailureLayer::Request);
            }
            Phase::HttpErrorBody { .. } => self.classify_error_body(now, id),
            Phase::HttpStreaming { .. } => {
                self.fail_live_attempt(now, id, classified("idle timeout waiting for SSE"))
            }
            Phase::WsStreaming { .. } => {
                self.fail_live_attempt(now, id, classified("idle timeout waiting for websocket"));
            }
            Phase::WaitingSlot | Phase::WaitingAuth => {}
        }
    }

    /// The response reached its terminal event: the request ends successfully.
    pub(super) fn finish_response(&mut self, now: Instant, id: RequestId, event: ResponseEvent) {
        let outcome = if matches!(event, ResponseEvent::Completed { .. }) {
            "completed"
        } else {
            "incomplete"
        };
        self.attempt_ended(now, id, outcome);
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        if let Phase::HttpStreaming { conn, .. } = req.phase {
            // The terminal event ends the response; the session does not wait for the
            // end of the body, the driver reads it and may keep the connection.
            self.finish_conn(conn);
        }
        if let Some(turn) = self.turns.get_mut(&req.turn) {
            turn.active = None;
            match &event {
                ResponseEvent::Completed { response_id, .. } => {
                    turn.complete_response(
                        self.config.ws_protocol,
                        req.input_len,
                        response_id,
                        req.outputs,
                    );
                }
                _ => {
                    turn.history.truncate(req.input_len);
                    turn.history.extend(req.outputs);
                    turn.baseline = None;
                }
            }
        }
        self.push(Output::Event {
            turn: req.turn,
            request: id,
            event,
        });
    }

    /// The request ends with `error` (its terminal outcome).
    pub(super) fn finish_with_error(&mut self, id: RequestId, error: ResponseError) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        if let Some(turn) = self.turns.get_mut(&req.turn) {
            turn.active = None;
        }
        self.push(Output::Failed {
            turn: req.turn,
            request: id,
            error,
        });
    }

    /// Records the end of the current attempt.
    pub(super) fn attempt_ended(&mut self, now: Instant, id: RequestId, outcome: &str) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        if req.stats.number == 0 {
            return;
        }
        let stats = req.stats;
        self.telemetry(Telemetry::AttemptEnded {
            request: id,
            attempt: stats.number,
            transport: stats.transport,
            duration: now.saturating_duration_since(stats.started),
            first_event: stats
                .first_event
                .map(|t| t.saturating_duration_since(stats.started)),
            bytes: stats.bytes,
            events: stats.events,
            outcome: outcome.to_owned(),
        });
    }
}

/// Attaches a requested delay that was above `max_retry_after` to the error.
fn with_retry_after(error: ResponseError, requested: Duration) -> ResponseError {
    match error {
        ResponseError::RateLimited { message, .. } => ResponseError::RateLimited {
            retry_after: Some(requested),
            message,
        },
        ResponseError::Http {
            status,
            body,
            request_id,
            ..
        } => ResponseError::Http {
            status,
            body,
            request_id,
            retry_after: Some(requested),
        },
        ResponseError::Retryable { message, .. } => ResponseError::Retryable {
            message,
            delay: Some(requested),
        },
        other => other,
    }
}
