//! The preconnect slot (PROTOCOL.md section 8): at most one WebSocket opened ahead of
//! the first turn, adopted by the first turn that needs one.

use super::output::{Output, PreconnectResult, Telemetry, WsOpen};
use super::request::Phase;
use super::turn::TurnSocket;
use super::{ConnId, ConnOwner, RequestId, Session, TurnId};
use crate::config::Config;
use crate::event::ResponseEvent;
use crate::headers::{self, TurnStateToken};
use crate::request::{self as encode, HeaderContext};
use crate::time::Instant;

/// The slot's content.
#[derive(Debug)]
pub(crate) struct Preconnect {
    pub(crate) conn: ConnId,
    pub(crate) state: PreconnectState,
}

#[derive(Debug)]
pub(crate) enum PreconnectState {
    /// Handshake in flight, bounded by `connect_timeout`.
    Handshaking { deadline: Instant },
    /// Open and waiting to be adopted, at most `preconnect_max_idle`.
    Open {
        since: Instant,
        turn_state: Option<TurnStateToken>,
        header_events: Vec<ResponseEvent>,
    },
}

impl Preconnect {
    /// When the slot must be acted on: the handshake deadline or the staleness limit.
    pub(crate) fn deadline(&self, config: &Config) -> Instant {
        match &self.state {
            PreconnectState::Handshaking { deadline } => *deadline,
            PreconnectState::Open { since, .. } => since.saturating_add(config.preconnect_max_idle),
        }
    }
}

impl Session {
    /// Opens a preconnect, replacing any previous one. Does nothing when WebSocket is
    /// not usable.
    pub(super) fn preconnect(&mut self, now: Instant) {
        if !self.ws_usable() {
            return;
        }
        let ctx = HeaderContext {
            config: &self.config,
            credentials: &self.credentials,
            conversation_id: &self.conversation_id,
            turn_state: None,
            turn_metadata: None,
        };
        let request = match encode::ws_handshake(&ctx) {
            Ok(request) => request,
            Err(err) => {
                let reason = err.to_string();
                let conn = ConnId(0);
                return self.telemetry(Telemetry::Preconnect {
                    conn,
                    result: PreconnectResult::Failed { reason },
                });
            }
        };
        self.discard_preconnect("replaced by a new preconnect");
        let conn = self.new_conn(ConnOwner::Preconnect);
        let deadline = now.saturating_add(self.config.connect_timeout);
        self.preconnect = Some(Preconnect {
            conn,
            state: PreconnectState::Handshaking { deadline },
        });
        self.push(Output::OpenWs(WsOpen { conn, request }));
    }

    /// Empties the slot, closing its socket.
    pub(super) fn discard_preconnect(&mut self, reason: &str) {
        if let Some(old) = self.preconnect.take() {
            match old.state {
                // An idle open socket ends with a close frame.
                PreconnectState::Open { .. } => self.finish_conn(old.conn),
                PreconnectState::Handshaking { .. } => self.close_conn(old.conn),
            }
            let result = PreconnectResult::Discarded {
                reason: reason.to_owned(),
            };
            self.telemetry(Telemetry::Preconnect {
                conn: old.conn,
                result,
            });
        }
    }

    /// Hands the open preconnected socket to a turn, copying its turn-state token.
    /// Returns the connection, or `None` when the slot holds no open socket.
    pub(super) fn adopt_preconnect(&mut self, turn_id: TurnId) -> Option<ConnId> {
        let slot = self.preconnect.take()?;
        let PreconnectState::Open {
            turn_state,
            header_events,
            ..
        } = slot.state
        else {
            self.preconnect = Some(slot);
            return None;
        };
        let conn = slot.conn;
        let turn = self.turns.get_mut(&turn_id)?;
        turn.baseline = None;
        turn.socket = Some(TurnSocket::Open {
            conn,
            header_events,
        });
        let captured = turn_state.is_some_and(|token| turn.capture_turn_state(token));
        self.conns.insert(conn, ConnOwner::Turn(turn_id));
        if captured {
            self.telemetry(Telemetry::TurnStateCaptured { turn: turn_id });
        }
        self.telemetry(Telemetry::Preconnect {
            conn,
            result: PreconnectResult::Adopted { turn: turn_id },
        });
        Some(conn)
    }

    /// Requests waiting on the preconnect, in order.
    fn waiting_on_preconnect(&self) -> Vec<RequestId> {
        self.requests
            .values()
            .filter(|r| matches!(r.phase, Phase::WaitingPreconnect))
            .map(|r| r.id)
            .collect()
    }

    /// The preconnect handshake succeeded.
    pub(super) fn preconnect_opened(&mut self, now: Instant, headers: &http::HeaderMap) {
        let Some(slot) = self.preconnect.as_mut() else {
            return;
        };
        let conn = slot.conn;
        let limit = self.config.limits.header_value;
        let turn_state = match headers::turn_state(headers, limit) {
            Some(Ok(token)) => Some(token),
            _ => None,
        };
        let header_events = headers::header_events(headers, limit);
        slot.state = PreconnectState::Open {
            since: now,
            turn_state,
            header_events,
        };
        self.telemetry(Telemetry::Preconnect {
            conn,
            result: PreconnectResult::Opened,
        });
        let mut waiting = self.waiting_on_preconnect().into_iter();
        if let Some(first) = waiting.next() {
            let turn_id = self.requests.get(&first).map(|r| r.turn);
            if let Some(conn) = turn_id.and_then(|t| self.adopt_preconnect(t)) {
                self.send_ws(now, first, conn);
            }
        }
        for other in waiting {
            self.open_turn_socket(now, other);
        }
    }

    /// The preconnect failed (refused other than 426, transport error, timeout or
    /// closed while handshaking): telemetry only, no retry budget; waiting requests
    /// open their own sockets at once.
    pub(super) fn preconnect_failed(&mut self, now: Instant, reason: String) {
        let Some(slot) = self.preconnect.take() else {
            return;
        };
        self.close_conn(slot.conn);
        let result = match slot.state {
            PreconnectState::Handshaking { .. } => PreconnectResult::Failed { reason },
            PreconnectState::Open { .. } => PreconnectResult::Discarded { reason },
        };
        self.telemetry(Telemetry::Preconnect {
            conn: slot.conn,
            result,
        });
        for id in self.waiting_on_preconnect() {
            self.open_turn_socket(now, id);
        }
    }

    /// Acts on the preconnect's deadline: handshake timeout or staleness.
    pub(super) fn preconnect_deadline(&mut self, now: Instant) {
        let Some(slot) = self.preconnect.as_ref() else {
            return;
        };
        if slot.deadline(&self.config) > now {
            return;
        }
        match slot.state {
            PreconnectState::Handshaking { .. } => {
                self.preconnect_failed(now, "connect timeout".to_owned())
            }
            PreconnectState::Open { .. } => {
                self.discard_preconnect("unadopted longer than preconnect_max_idle")
            }
        }
    }
}
