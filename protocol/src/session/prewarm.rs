//! Prewarm (PROTOCOL.md 8.2): the prompt prefix the caller knows before its first
//! request goes to the server on the slot's socket as a `response.create` with
//! `"generate": false`; its (empty) completed response becomes the socket's baseline,
//! so the first request chains to it and sends only the items after the prefix.
//! Nothing of it reaches the caller; failures cost nothing.

use super::input::PrewarmSpec;
use super::output::{PrewarmResult, PrewarmSkip, Telemetry, Transport};
use super::retry::Cause;
use super::slot::{Keepalive, SlotState};
use super::turn::Baseline;
use super::{ConnId, Session};
use crate::event::{self, ServerEvent};
use crate::item::ResponseItem;
use crate::request::{self as encode, MetadataSources, RequestFields};
use crate::time::Instant;

/// A prefix waiting for the slot's socket to open.
#[derive(Debug)]
pub(crate) struct PendingPrewarm {
    pub(crate) fields: RequestFields,
    pub(crate) input: Vec<ResponseItem>,
    /// The lineage the prefix is stored under as the conversation so far.
    pub(crate) lineage: u64,
}

/// A prewarm sent and not yet answered.
#[derive(Debug)]
pub(crate) struct PrewarmInFlight {
    pub(crate) fields: RequestFields,
    pub(crate) len: usize,
    pub(crate) lineage: u64,
    /// Read deadline (`stream_idle_timeout` after the last activity).
    pub(crate) deadline: Instant,
}

/// What one server event means for a prewarm.
enum PrewarmStep {
    Continue,
    Completed(String),
    Failed(String),
}

impl Session {
    /// `Input::Prewarm`: stores the prefix as the conversation so far and sends it as
    /// soon as the slot's socket is open, opening one when the slot is empty. When
    /// prewarm is off or WebSocket unusable, the prefix is still stored (nothing is
    /// sent); after a request, or while another prewarm is pending, it is ignored.
    pub(super) fn prewarm(&mut self, now: Instant, spec: PrewarmSpec) {
        let skip = if self.requests_started {
            Some(PrewarmSkip::RequestAlreadySent)
        } else if self.prewarm.is_some() || self.prewarming() {
            Some(PrewarmSkip::AlreadyUnderWay)
        } else if !self.ws_usable() {
            Some(PrewarmSkip::WebSocketUnusable)
        } else if !self.config.prewarm_enabled() {
            Some(PrewarmSkip::Off)
        } else {
            None
        };
        if let Some(reason) = skip {
            if reason.prefix_kept() {
                // The caller handed over the conversation's start: a continuing turn
                // must extend it even though nothing was sent ahead of it.
                let lineage = self.next_lineage();
                self.store_conversation(lineage, spec.input);
            }
            let conn = self.slot.as_ref().map_or(ConnId(0), |s| s.conn);
            return self.telemetry(Telemetry::Prewarm {
                conn,
                result: PrewarmResult::Skipped { reason },
            });
        }
        let lineage = self.next_lineage();
        self.store_conversation(lineage, spec.input.clone());
        self.prewarm = Some(PendingPrewarm {
            fields: spec.fields,
            input: spec.input,
            lineage,
        });
        if self.slot.is_none() {
            self.open_slot_socket(now);
        } else if self.slot_open() {
            self.send_prewarm(now);
        }
    }

    fn prewarming(&self) -> bool {
        matches!(
            self.slot.as_ref().map(|s| &s.state),
            Some(SlotState::Prewarming { .. })
        )
    }

    /// Sends the pending prewarm on the slot's open socket. Returns whether it was
    /// sent (requests then keep waiting for it).
    pub(super) fn send_prewarm(&mut self, now: Instant) -> bool {
        if !self.slot_open() || self.prewarm.is_none() {
            return false;
        }
        let (Some(pending), Some(slot)) = (self.prewarm.take(), self.slot.take()) else {
            return false;
        };
        let SlotState::Open(parked) = slot.state else {
            self.slot = Some(slot);
            return false;
        };
        let conn = slot.conn;
        // The prewarm belongs to no turn: only the caller's metadata, never a token.
        let (metadata, _oversized) = encode::client_metadata(
            MetadataSources {
                caller: &pending.fields.client_metadata,
                turn_metadata: None,
                turn_state: None,
            },
            Transport::WebSocket,
        );
        let text = encode::ws_prewarm(
            &pending.fields,
            &self.conversation_id,
            &pending.input,
            &metadata,
        );
        let bytes = text.len();
        let items = pending.input.len();
        let deadline = now.saturating_add(self.config.stream_idle_timeout);
        self.slot = Some(super::slot::Slot {
            conn,
            state: SlotState::Prewarming {
                parked,
                prewarm: Box::new(PrewarmInFlight {
                    fields: pending.fields,
                    len: items,
                    lineage: pending.lineage,
                    deadline,
                }),
            },
        });
        self.push(super::Output::SendWs { conn, text });
        self.telemetry(Telemetry::Prewarm {
            conn,
            result: PrewarmResult::Sent { items, bytes },
        });
        true
    }

    /// A text frame on the slot's socket while it carries the prewarm.
    pub(super) fn prewarm_frame(&mut self, now: Instant, text: &str) {
        let step = if text.len() > self.config.limits.ws_message {
            PrewarmStep::Failed("prewarm response message over the size limit".to_owned())
        } else {
            match event::decode_server_event(text) {
                Ok(ServerEvent::Completed { response_id, .. }) => {
                    PrewarmStep::Completed(response_id)
                }
                Ok(ServerEvent::Incomplete { .. }) => {
                    PrewarmStep::Failed("prewarm response incomplete".to_owned())
                }
                Ok(ServerEvent::Failed { error, .. }) => PrewarmStep::Failed(
                    crate::error::classify_failed(error.as_ref())
                        .error
                        .to_string(),
                ),
                Ok(ServerEvent::Error(payload)) => PrewarmStep::Failed(
                    crate::error::classify_failed(Some(&payload))
                        .error
                        .to_string(),
                ),
                Ok(ServerEvent::WsError { status, error, .. }) => PrewarmStep::Failed(format!(
                    "error frame with status {status}: {}",
                    error.message.as_deref().unwrap_or("")
                )),
                Err(event::EventDecodeError::CompletedWithoutId) => {
                    PrewarmStep::Failed("prewarm completed without a response id".to_owned())
                }
                // Created, metadata, timing, anything else: nothing for anyone.
                _ => PrewarmStep::Continue,
            }
        };
        match step {
            PrewarmStep::Continue => self.prewarm_activity(now),
            PrewarmStep::Completed(response_id) => self.prewarm_completed(now, response_id),
            PrewarmStep::Failed(reason) => self.slot_failed(now, reason, Cause::Other),
        }
    }

    /// Activity on the prewarming socket restarts its read deadline.
    pub(super) fn prewarm_activity(&mut self, now: Instant) {
        let idle = self.config.stream_idle_timeout;
        if let Some(super::slot::Slot {
            state: SlotState::Prewarming { prewarm, .. },
            ..
        }) = self.slot.as_mut()
        {
            prewarm.deadline = now.saturating_add(idle);
        }
    }

    fn prewarm_completed(&mut self, now: Instant, response_id: String) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let SlotState::Prewarming {
            mut parked,
            prewarm,
        } = slot.state
        else {
            self.slot = Some(slot);
            return;
        };
        let conn = slot.conn;
        parked.chain = Some(Baseline {
            conn,
            len: prewarm.len,
            fields: prewarm.fields,
            response_id: Some(response_id.clone()),
            completed: true,
            lineage: prewarm.lineage,
            from_prewarm: true,
        });
        parked.keepalive = Keepalive::starting(now, &self.config);
        self.slot = Some(super::slot::Slot {
            conn,
            state: SlotState::Open(parked),
        });
        self.telemetry(Telemetry::Prewarm {
            conn,
            result: PrewarmResult::Completed { response_id },
        });
        self.slot_ready(now);
    }

    /// The prewarm cannot happen or failed: telemetry only.
    pub(super) fn prewarm_given_up(&mut self, conn: ConnId, reason: &str) {
        self.prewarm = None;
        self.telemetry(Telemetry::Prewarm {
            conn,
            result: PrewarmResult::Failed {
                reason: reason.to_owned(),
            },
        });
    }
}
