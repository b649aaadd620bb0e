//! Ending attempts and requests: gathering the facts of a failure, applying what
//! [`retry::decide`] makes of it (counters, `Reconnecting`, telemetry, timers, the 401
//! refresh, free retries, the WebSocket→HTTP fallback), and terminal outcomes.

use super::output::{FreeRetryReason, Output, RetryLayer, Telemetry, Transport};
use super::request::Phase;
use super::retry::{
    self, Cause, Decision, Delay, Failure, Fallback, FreeRetry, Layer, RequestFacts, Reused,
    SessionFacts,
};
use super::{RequestId, Session};
use crate::error::{self, Classified, ResponseError};
use crate::event::ResponseEvent;
use crate::secret::Credentials;
use crate::time::Instant;

impl Session {
    /// The failure of request `id`'s current attempt with `classified`, with what the
    /// request and the session have been through; `None` when the request is gone.
    fn failure_of(
        &self,
        id: RequestId,
        classified: Classified,
        cause: Cause,
        layer: Layer,
    ) -> Option<Failure> {
        let req = self.requests.get(&id)?;
        // A socket adopted from the slot counts as reused until its first event.
        let reused = (req.reused_socket && req.stats.events == 0).then_some(Reused::SlotSocket);
        let request = RequestFacts {
            reused,
            caller_events: req.stats.caller_events > 0,
            output_seen: req.output_seen,
            http_retries: req.http_retries,
            stream_retries: req.stream_retries,
            used: retry::FreeUsed {
                auth_refresh: req.auth_refreshed,
                stale_socket: req.stale_replaced,
                stale_pooled: req.stale_resent,
                chain_resend: req.chain_resent,
                connection_limit: req.conn_limit_reconnected,
            },
        };
        Some(Failure {
            classified,
            cause,
            layer,
            transport: req.stats.transport,
            request,
            session: self.session_facts(),
        })
    }

    /// What the retry rules read of the session itself.
    pub(super) fn session_facts(&self) -> SessionFacts {
        SessionFacts {
            unanswered_before: self.ws_unanswered,
            websocket_usable: self.ws_usable(),
            auth_refreshable: self.auth_refreshable,
        }
    }

    /// Ends the current attempt of request `id`, which failed with `classified`, and
    /// applies [`retry::decide`]'s decision: refresh, a free retry, a retry after a
    /// delay, the fallback, or a terminal error. Closes what the attempt still has
    /// open.
    pub(super) fn fail_attempt(
        &mut self,
        now: Instant,
        id: RequestId,
        classified: Classified,
        cause: Cause,
        layer: Layer,
    ) {
        if let Some(failure) = self.failure_of(id, classified, cause, layer) {
            self.settle(now, id, failure);
        }
    }

    /// [`Session::fail_attempt`] for an attempt whose connection the driver reused and
    /// reports as such (`reused`, e.g. a pooled HTTP connection, 3.3).
    pub(super) fn fail_reused_attempt(
        &mut self,
        now: Instant,
        id: RequestId,
        classified: Classified,
        cause: Cause,
        layer: Layer,
        reused: Option<Reused>,
    ) {
        if let Some(mut failure) = self.failure_of(id, classified, cause, layer) {
            failure.request.reused = failure.request.reused.or(reused);
            self.settle(now, id, failure);
        }
    }

    /// Decides what `failure` of request `id`'s attempt leads to, and applies it.
    fn settle(&mut self, now: Instant, id: RequestId, failure: Failure) {
        let decision = retry::decide(&failure, &self.config);
        self.ws_unanswered = retry::unanswered_connects(&failure);
        self.attempt_ended(now, id, &outcome(&failure, &decision));
        match decision {
            Decision::FallBack(
                reason @ (Fallback::UpgradeRequired | Fallback::Unreachable { .. }),
            ) => {
                // The fallback closes what the attempt has open.
                self.activate_fallback(now, &reason.to_string(), Some(id));
            }
            decision => {
                self.abandon_attempt(id);
                self.apply(now, id, &failure, decision);
            }
        }
    }

    /// Carries out `decision` for request `id`, whose attempt is already closed.
    fn apply(&mut self, now: Instant, id: RequestId, failure: &Failure, decision: Decision) {
        match decision {
            Decision::Refresh { void_retry } => {
                if let Some(retry) = void_retry {
                    self.void_before_refresh(id, retry, &failure.classified.error);
                }
                self.refresh_credentials(id);
            }
            Decision::FreeRetry(free) => self.free_retry(now, id, free),
            Decision::Retry {
                layer,
                retry,
                delay,
                error,
            } => self.schedule_retry(now, id, layer, retry, delay, error),
            Decision::FallBack(reason) => {
                self.activate_fallback(now, &reason.to_string(), Some(id))
            }
            Decision::Fail(error) => self.finish_with_error(id, error),
            // Only failures of the slot are absorbed; a request's never is.
            Decision::Absorb => {}
        }
    }

    /// Decides what a failure of the slot's socket (a preconnect or a prewarm) leads
    /// to, and counts it toward the unreachable limit when it is a connect that got no
    /// HTTP answer: [`Decision::FallBack`] or [`Decision::Absorb`].
    pub(super) fn decide_slot_failure(&mut self, reason: &str, cause: Cause) -> Decision {
        let failure = Failure {
            classified: error::classify_transport(reason),
            cause,
            layer: Layer::Slot,
            transport: Transport::WebSocket,
            request: RequestFacts::default(),
            session: self.session_facts(),
        };
        let decision = retry::decide(&failure, &self.config);
        self.ws_unanswered = retry::unanswered_connects(&failure);
        decision
    }

    /// [`Session::fail_attempt`] for a failure of a live attempt in the stream layer
    /// (`response.failed`, an `error` frame, an idle timeout, a bad frame).
    pub(super) fn fail_live_attempt(
        &mut self,
        now: Instant,
        id: RequestId,
        classified: Classified,
    ) {
        self.fail_attempt(now, id, classified, Cause::Other, Layer::Stream);
    }

    /// Spends retry number `retry` of `layer` and waits `delay` (or starts the next
    /// attempt at once when it is zero); a stream retry tells the caller with
    /// `Reconnecting`.
    fn schedule_retry(
        &mut self,
        now: Instant,
        id: RequestId,
        layer: RetryLayer,
        retry: u32,
        delay: Delay,
        error: ResponseError,
    ) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        match layer {
            RetryLayer::Request => req.http_retries = retry,
            RetryLayer::Stream => {
                req.stream_retries = retry;
                req.http_retries = 0;
            }
        }
        let delay = match delay {
            Delay::Requested(delay) => delay,
            Delay::Backoff { exponent } => self.backoff.exponential(exponent, &mut self.rng),
        };
        let reason = error.to_string();
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

    /// A 401 after events of the attempt reached the caller: spends stream retry
    /// `retry` and tells the caller with `Reconnecting` that those events are void,
    /// before the refresh-and-retry.
    fn void_before_refresh(&mut self, id: RequestId, retry: u32, error: &ResponseError) {
        let max = self.config.stream_max_retries;
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.stream_retries = retry;
        req.http_retries = 0;
        let reason = format!("{error}; refreshing credentials");
        let delay = core::time::Duration::ZERO;
        let event = ResponseEvent::Reconnecting {
            attempt: retry,
            max,
            delay,
            reason: reason.clone(),
        };
        self.emit(id, event);
        self.telemetry(Telemetry::RetryScheduled {
            request: id,
            layer: RetryLayer::Stream,
            retry,
            delay,
            reason,
        });
    }

    /// Request `id` waits for new credentials (one refresh per request, 9.2); the
    /// refresh is asked for once however many requests wait on it.
    fn refresh_credentials(&mut self, id: RequestId) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
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

    /// Re-sends request `id` at once without backoff, budget or `Reconnecting`, and
    /// marks that free retry used. After a dead reused socket or a lost chain the
    /// request goes out as a full create on a new socket; after the connection limit,
    /// on a new connection of the transport the session allows.
    fn free_retry(&mut self, now: Instant, id: RequestId, free: FreeRetry) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let reason = match free {
            FreeRetry::StaleSocket => {
                req.stale_replaced = true;
                FreeRetryReason::StaleSocket
            }
            FreeRetry::StalePooled => {
                // Over HTTP, on a new connection (3.3).
                req.stale_resent = true;
                return self.start_attempt(now, id);
            }
            FreeRetry::ChainLost => {
                req.chain_resent = true;
                FreeRetryReason::ChainLost
            }
            FreeRetry::ConnectionLimit => {
                req.conn_limit_reconnected = true;
                return self.start_attempt(now, id);
            }
        };
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

    /// Acts on request `id`'s passed deadline.
    pub(super) fn request_deadline(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let classified = |message: &str| error::classify_transport(message);
        match req.phase {
            Phase::Backoff { .. } => self.start_attempt(now, id),
            Phase::WsHandshake { .. } => {
                let c = classified("connect timeout: WebSocket handshake took too long");
                self.fail_attempt(now, id, c, Cause::NoAnswer, Layer::Handshake);
            }
            Phase::HttpHead { .. } => {
                let c = classified("connect timeout: no HTTP response head in time");
                self.fail_attempt(now, id, c, Cause::NoAnswer, Layer::Establish);
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

/// The outcome an ended attempt is reported with: the error it failed with, or what
/// it led to when that says more.
fn outcome(failure: &Failure, decision: &Decision) -> String {
    match decision {
        Decision::FreeRetry(FreeRetry::ConnectionLimit) => {
            "WebSocket connection limit reached".to_owned()
        }
        Decision::FreeRetry(FreeRetry::StalePooled) => match &failure.classified.error {
            ResponseError::Stream { message } => {
                format!("stale pooled connection, sent again: {message}")
            }
            other => format!("stale pooled connection, sent again: {other}"),
        },
        Decision::FallBack(Fallback::UpgradeRequired) => "handshake refused with 426".to_owned(),
        // A connection limit that earns no free reconnect is a stream error of its own.
        Decision::Retry { error, .. }
        | Decision::FallBack(Fallback::StreamRetriesExhausted(error)) => error.to_string(),
        Decision::Fail(error) if failure.cause == Cause::ConnectionLimit => error.to_string(),
        _ => failure.classified.error.to_string(),
    }
}
