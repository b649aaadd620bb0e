//! The session's socket slot (PROTOCOL.md 8.1): at most one open WebSocket that no
//! turn owns, with its response chain. A preconnect opens one ahead of the first
//! turn; a turn that ends healthy hands its socket back; the next turn that needs a
//! WebSocket adopts it. While a socket sits here the session pings it every
//! `ws_keepalive_interval` and drops it when no pong comes back within one interval.

use super::output::{Output, PreconnectResult, Telemetry, WsOpen};
use super::prewarm::PrewarmInFlight;
use super::request::Phase;
use super::retry::{Cause, Decision, Fallback};
use super::turn::{self, Baseline, TurnSocket};
use super::{ConnId, ConnOwner, RequestId, Session, TurnId};
use crate::config::Config;
use crate::event::ResponseEvent;
use crate::headers;
use crate::request::{self as encode, HeaderContext};
use crate::time::Instant;

/// The slot's content.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) conn: ConnId,
    pub(crate) state: SlotState,
}

#[derive(Debug)]
pub(crate) enum SlotState {
    /// Handshake in flight, bounded by `connect_timeout`.
    Handshaking { deadline: Instant },
    /// Open, idle, waiting to be adopted.
    Open(Parked),
    /// Open and carrying the prewarm; requests wait for it (8.2).
    Prewarming {
        parked: Parked,
        /// Boxed: a prewarm is in flight at most once per session, and unboxed it
        /// would make every slot state carry its request fields.
        prewarm: Box<PrewarmInFlight>,
    },
}

/// An open socket no turn owns.
#[derive(Debug)]
pub(crate) struct Parked {
    /// When it entered the slot (staleness is measured from here).
    pub(crate) since: Instant,
    /// Header-derived events to emit at the start of every response on it.
    pub(crate) header_events: Vec<ResponseEvent>,
    /// What the server holds on it (section 6), when anything.
    pub(crate) chain: Option<Baseline>,
    pub(crate) keepalive: Keepalive,
}

/// The ping schedule of a socket in the slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keepalive {
    /// When to send the next ping.
    pub(crate) next_ping: Instant,
    /// When the unanswered ping went out.
    pub(crate) pong_due_since: Option<Instant>,
}

impl Keepalive {
    /// A schedule whose first ping is one interval after `now`.
    pub(crate) fn starting(now: Instant, config: &Config) -> Self {
        Keepalive {
            next_ping: now.saturating_add(config.ws_keepalive_interval),
            pong_due_since: None,
        }
    }

    /// When to act: send the ping, or give up on the pong.
    fn deadline(&self, config: &Config) -> Instant {
        match self.pong_due_since {
            Some(sent) => sent.saturating_add(config.ws_keepalive_interval),
            None => self.next_ping,
        }
    }
}

/// What a passed keepalive deadline calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Nothing yet.
    Wait,
    /// Send a ping now.
    Ping,
    /// No pong within one interval: drop the socket.
    Dead,
}

/// The keepalive decision at `now` (pure; table-tested below).
pub(crate) fn keepalive_action(
    keepalive: &Keepalive,
    interval: core::time::Duration,
    now: Instant,
) -> KeepaliveAction {
    match keepalive.pong_due_since {
        Some(sent) if now >= sent.saturating_add(interval) => KeepaliveAction::Dead,
        Some(_) => KeepaliveAction::Wait,
        None if now >= keepalive.next_ping => KeepaliveAction::Ping,
        None => KeepaliveAction::Wait,
    }
}

impl Slot {
    /// When the slot must be acted on: the handshake deadline, the staleness limit or
    /// the keepalive, or the prewarm's read deadline.
    pub(crate) fn deadline(&self, config: &Config) -> Instant {
        match &self.state {
            SlotState::Handshaking { deadline } => *deadline,
            SlotState::Open(parked) => parked
                .since
                .saturating_add(config.preconnect_max_idle)
                .min(parked.keepalive.deadline(config)),
            SlotState::Prewarming { prewarm, .. } => prewarm.deadline,
        }
    }
}

impl Session {
    /// Opens a preconnect. Does nothing when WebSocket is not usable or the slot
    /// already holds a socket (open or still handshaking).
    pub(super) fn preconnect(&mut self, now: Instant) {
        if !self.ws_usable() || self.slot.is_some() {
            return;
        }
        self.open_slot_socket(now);
    }

    /// Opens a socket for the slot (which must be empty); false when the handshake
    /// request cannot be built.
    pub(super) fn open_slot_socket(&mut self, now: Instant) -> bool {
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
                self.telemetry(Telemetry::Preconnect {
                    conn: ConnId(0),
                    result: PreconnectResult::Failed { reason },
                });
                return false;
            }
        };
        let conn = self.new_conn(ConnOwner::Slot);
        let deadline = now.saturating_add(self.config.connect_timeout);
        self.slot = Some(Slot {
            conn,
            state: SlotState::Handshaking { deadline },
        });
        self.push(Output::OpenWs(WsOpen { conn, request }));
        true
    }

    /// Empties the slot, closing its socket; a prewarm waiting for it or on it is
    /// given up.
    pub(super) fn discard_slot(&mut self, reason: &str) {
        let mut prewarm_conn = None;
        if let Some(old) = self.slot.take() {
            match old.state {
                // An idle open socket ends with a close frame.
                SlotState::Open(_) => self.finish_conn(old.conn),
                SlotState::Handshaking { .. } | SlotState::Prewarming { .. } => {
                    self.close_conn(old.conn);
                }
            }
            let result = PreconnectResult::Discarded {
                reason: reason.to_owned(),
            };
            self.telemetry(Telemetry::Preconnect {
                conn: old.conn,
                result,
            });
            if matches!(old.state, SlotState::Prewarming { .. }) {
                prewarm_conn = Some(old.conn);
            }
        }
        if prewarm_conn.is_some() || self.prewarm.is_some() {
            self.prewarm_given_up(prewarm_conn.unwrap_or(ConnId(0)), reason);
        }
        self.prune_conversations();
    }

    /// A turn ended with its socket healthy: the socket and its chain go to the slot
    /// (replacing an idle socket there). When the slot is busy with a handshake or a
    /// prewarm others wait for, the handed-back socket is closed instead.
    pub(super) fn park_socket(
        &mut self,
        now: Instant,
        turn: TurnId,
        conn: ConnId,
        header_events: Vec<ResponseEvent>,
        chain: Baseline,
    ) {
        let busy = matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(SlotState::Handshaking { .. } | SlotState::Prewarming { .. })
        );
        if busy || !self.ws_usable() {
            // Healthy and idle: it ends with a close frame.
            self.finish_conn(conn);
            return;
        }
        self.discard_slot("replaced by a socket a turn handed back");
        self.conns.insert(conn, ConnOwner::Slot);
        self.slot = Some(Slot {
            conn,
            state: SlotState::Open(Parked {
                since: now,
                header_events,
                chain: Some(chain),
                keepalive: Keepalive::starting(now, &self.config),
            }),
        });
        self.telemetry(Telemetry::Preconnect {
            conn,
            result: PreconnectResult::Returned { turn },
        });
    }

    /// True when the slot holds an open, idle socket.
    pub(super) fn slot_open(&self) -> bool {
        matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(SlotState::Open(_))
        )
    }

    /// True when the slot's socket is handshaking or prewarming: a request that needs
    /// a WebSocket waits for it.
    pub(super) fn slot_in_flight(&self) -> bool {
        matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(SlotState::Handshaking { .. } | SlotState::Prewarming { .. })
        )
    }

    /// The lineage of the slot's chain, if it holds one.
    pub(super) fn slot_chain_lineage(&self) -> Option<u64> {
        match self.slot.as_ref().map(|s| &s.state) {
            Some(SlotState::Open(parked)) => parked.chain.as_ref().map(|c| c.lineage),
            _ => None,
        }
    }

    /// Hands the slot's open socket to a turn with its chain (when the chain applies
    /// to the turn's history) and, for a preconnect no turn used, its handshake's
    /// turn-state token. Returns the connection, or `None` when the slot holds no
    /// open socket.
    pub(super) fn adopt_slot(&mut self, turn_id: TurnId) -> Option<ConnId> {
        if !self.slot_open() || !self.turns.contains_key(&turn_id) {
            return None;
        }
        let slot = self.slot.take()?;
        let SlotState::Open(parked) = slot.state else {
            return None;
        };
        let conn = slot.conn;
        let known = parked
            .chain
            .as_ref()
            .and_then(|c| self.conversations.get(&c.lineage))
            .map(Vec::as_slice);
        let turn = self.turns.get_mut(&turn_id)?;
        let (baseline, compared) = match parked.chain {
            Some(chain) => turn::resolve_chain(chain, turn.lineage, &turn.history, known),
            None => (None, 0),
        };
        turn.compared += compared;
        turn.baseline = baseline;
        turn.socket = Some(TurnSocket::Open {
            conn,
            header_events: parked.header_events,
            from_slot: true,
        });
        // The slot's handshake token, if any, is not this turn's: only a handshake the
        // turn made itself counts (PROTOCOL.md section 7).
        self.conns.insert(conn, ConnOwner::Turn(turn_id));
        self.telemetry(Telemetry::Preconnect {
            conn,
            result: PreconnectResult::Adopted { turn: turn_id },
        });
        self.prune_conversations();
        Some(conn)
    }

    /// Requests waiting on the slot, in order.
    fn waiting_on_slot(&self) -> Vec<RequestId> {
        self.requests
            .values()
            .filter(|r| matches!(r.phase, Phase::WaitingSlot))
            .map(|r| r.id)
            .collect()
    }

    /// The slot's handshake succeeded.
    pub(super) fn slot_opened(&mut self, now: Instant, headers: &http::HeaderMap) {
        self.ws_unanswered = 0;
        let Some(slot) = self.slot.as_mut() else {
            return;
        };
        let conn = slot.conn;
        let limit = self.config.limits.header_value;
        let header_events = headers::header_events(headers, limit);
        slot.state = SlotState::Open(Parked {
            since: now,
            header_events,
            chain: None,
            keepalive: Keepalive::starting(now, &self.config),
        });
        self.telemetry(Telemetry::Preconnect {
            conn,
            result: PreconnectResult::Opened,
        });
        self.slot_ready(now);
    }

    /// The slot's socket is open and idle: a pending prewarm goes first; otherwise
    /// the first waiting request adopts it and the others open their own sockets.
    pub(super) fn slot_ready(&mut self, now: Instant) {
        if self.send_prewarm(now) {
            return;
        }
        let mut waiting = self.waiting_on_slot().into_iter();
        if let Some(first) = waiting.next() {
            let turn_id = self.requests.get(&first).map(|r| r.turn);
            if let Some(conn) = turn_id.and_then(|t| self.adopt_slot(t)) {
                self.send_ws(now, first, conn);
            } else {
                self.open_turn_socket(now, first);
            }
        }
        for other in waiting {
            self.open_turn_socket(now, other);
        }
    }

    /// The slot's socket failed or closed (refused, transport error, timeout, closed,
    /// a failed prewarm): what [`super::retry::decide`] makes of it. A 426 activates
    /// the fallback at once; anything else is telemetry only and costs no retry budget,
    /// unless it was the connect that reached the unreachable limit (10, trigger 3).
    /// Waiting requests open their own sockets at once, unless the fallback activated.
    pub(super) fn slot_failed(&mut self, now: Instant, reason: String, cause: Cause) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let decision = self.decide_slot_failure(&reason, cause);
        if decision == Decision::FallBack(Fallback::UpgradeRequired) {
            let reason = format!("{} on preconnect", Fallback::UpgradeRequired);
            self.telemetry(Telemetry::Preconnect {
                conn: slot.conn,
                result: PreconnectResult::Failed {
                    reason: reason.clone(),
                },
            });
            return self.activate_fallback(now, &reason, None);
        }
        self.close_conn(slot.conn);
        let result = match slot.state {
            SlotState::Handshaking { .. } => PreconnectResult::Failed {
                reason: reason.clone(),
            },
            _ => PreconnectResult::Discarded {
                reason: reason.clone(),
            },
        };
        self.telemetry(Telemetry::Preconnect {
            conn: slot.conn,
            result,
        });
        if matches!(slot.state, SlotState::Prewarming { .. }) || self.prewarm.is_some() {
            self.prewarm_given_up(slot.conn, &reason);
        }
        self.prune_conversations();
        if let Decision::FallBack(fallback) = decision {
            return self.activate_fallback(now, &fallback.to_string(), None);
        }
        for id in self.waiting_on_slot() {
            self.open_turn_socket(now, id);
        }
    }

    /// Any frame, ping or pong on the slot's idle socket: the peer is alive.
    pub(super) fn slot_alive(&mut self, now: Instant) {
        let config = &self.config;
        if let Some(Slot {
            state: SlotState::Open(parked),
            ..
        }) = self.slot.as_mut()
        {
            parked.keepalive = Keepalive::starting(now, config);
        }
    }

    /// Acts on the slot's deadline: handshake timeout, staleness, keepalive, or the
    /// prewarm's read deadline.
    pub(super) fn slot_deadline(&mut self, now: Instant) {
        let Some(slot) = self.slot.as_mut() else {
            return;
        };
        if slot.deadline(&self.config) > now {
            return;
        }
        let conn = slot.conn;
        let interval = self.config.ws_keepalive_interval;
        match &mut slot.state {
            SlotState::Handshaking { .. } => {
                self.slot_failed(now, "connect timeout".to_owned(), Cause::NoAnswer)
            }
            SlotState::Prewarming { .. } => self.slot_failed(
                now,
                "idle timeout waiting for the prewarm".to_owned(),
                Cause::Other,
            ),
            SlotState::Open(parked) => {
                if parked.since.saturating_add(self.config.preconnect_max_idle) <= now {
                    return self.discard_slot("unadopted longer than preconnect_max_idle");
                }
                match keepalive_action(&parked.keepalive, interval, now) {
                    KeepaliveAction::Wait => {}
                    KeepaliveAction::Ping => {
                        parked.keepalive.pong_due_since = Some(now);
                        self.push(Output::Ping { conn });
                    }
                    KeepaliveAction::Dead => {
                        self.telemetry(Telemetry::KeepaliveTimeout { conn });
                        self.discard_slot("no pong within ws_keepalive_interval");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn at(secs: u64) -> Instant {
        Instant::ZERO.saturating_add(Duration::from_secs(secs))
    }

    #[test]
    fn keepalive_pings_after_an_interval_and_gives_up_one_interval_after_the_ping() {
        let interval = Duration::from_secs(30);
        let idle = Keepalive {
            next_ping: at(30),
            pong_due_since: None,
        };
        let waiting = Keepalive {
            next_ping: at(30),
            pong_due_since: Some(at(30)),
        };
        let rows = [
            (
                "idle, before the interval",
                idle,
                at(29),
                KeepaliveAction::Wait,
            ),
            ("idle, at the interval", idle, at(30), KeepaliveAction::Ping),
            ("idle, late", idle, at(45), KeepaliveAction::Ping),
            (
                "ping out, within the interval",
                waiting,
                at(59),
                KeepaliveAction::Wait,
            ),
            (
                "ping out, interval over",
                waiting,
                at(60),
                KeepaliveAction::Dead,
            ),
        ];
        for (name, keepalive, now, want) in rows {
            assert_eq!(keepalive_action(&keepalive, interval, now), want, "{name}");
        }
    }
}
