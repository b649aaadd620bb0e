//! The session state machine (PROTOCOL.md sections 2, 4 and 6–11).
//!
//! Revision 2: the session keeps one WebSocket across turns. A turn that ends healthy
//! hands its socket and response chain to the session's slot ([`Input::EndTurn`]);
//! the next turn adopts them and chains to the previous turn's response, at O(new
//! items) cost when it continues the previous turn's history
//! ([`TurnHistory::Continue`]). [`Input::Prewarm`] sends a known prefix ahead of the
//! first request; [`Output::Ping`] keeps a socket in the slot checked.
//!
//! One [`Session`] owns a conversation's turns, requests, attempts and connections. It
//! is driven through one door and drained through one queue:
//!
//! 1. call [`Session::handle_input`] with the current time and one [`Input`] (a caller
//!    command, a transport result, an auth result, or [`Input::Timeout`]);
//! 2. call [`Session::poll_output`] until it returns `None`, carrying out each
//!    [`Output`] (open, send, close, refresh) and showing caller events;
//! 3. read [`Session::poll_timeout`] and wait for I/O or that deadline, whichever comes
//!    first; on the deadline, feed [`Input::Timeout`].
//!
//! The session never reads a clock or draws randomness: the same configuration, seed
//! and input script always give the same outputs.

mod attempt;
mod ending;
mod ids;
mod inbound;
mod input;
mod output;
mod pooled;
mod prewarm;
mod request;
mod retry;
mod serde_headers;
mod slot;
mod turn;

use std::collections::{BTreeMap, VecDeque};

pub use ids::{ConnId, RequestId, TurnId};
pub use input::{
    Input, InputAck, PrewarmSpec, RequestInput, RequestSpec, TurnHistory, TurnOptions, UsageError,
};
pub use output::{
    CloseReason, FreeRetryReason, HttpOpen, MessageKind, Output, PreconnectResult, PrewarmResult,
    PrewarmSkip, RetryLayer, Telemetry, Transport, WsOpen,
};

use crate::backoff::{BackoffPolicy, JitterRng};
use crate::config::{Config, ConfigError};
use crate::error::ResponseError;
use crate::event::ResponseEvent;
use crate::item::ResponseItem;
use crate::secret::Credentials;
use crate::time::{Instant, Now};
use ids::IdAllocator;
use prewarm::PendingPrewarm;
use request::Request;
use slot::Slot;
use turn::{Turn, TurnSocket};

/// Everything a session is created from.
#[derive(Clone, Debug)]
pub struct SessionParams {
    /// Provider configuration; validated by [`Session::new`].
    pub config: Config,
    /// Initial credentials.
    pub credentials: Credentials,
    /// Whether the auth source can refresh after a 401 (API keys cannot).
    pub auth_refreshable: bool,
    /// Conversation id (`session-id`, `thread-id`, `x-client-request-id` headers,
    /// `prompt_cache_key`).
    pub conversation_id: String,
    /// Jitter seed: the driver's entropy, logged so a run can be replayed.
    pub seed: u64,
}

/// Who a connection belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnOwner {
    /// The session's socket slot (a preconnect, or a socket a turn handed back).
    Slot,
    Turn(TurnId),
    Request(RequestId),
}

/// The session state machine. See the module documentation for the driving loop.
#[derive(Debug)]
pub struct Session {
    config: Config,
    credentials: Credentials,
    auth_refreshable: bool,
    conversation_id: String,
    rng: JitterRng,
    backoff: BackoffPolicy,
    /// Set when the WebSocket→HTTP fallback activated (and when).
    ws_disabled_at: Option<Instant>,
    /// The socket slot (PROTOCOL.md 8.1).
    slot: Option<Slot>,
    /// A prewarm waiting for the slot's socket (8.2).
    prewarm: Option<PendingPrewarm>,
    /// Whether any request was started (a prewarm is allowed only before).
    requests_started: bool,
    /// Consecutive WebSocket connects that got no HTTP answer (10, trigger 3).
    ws_unanswered: u32,
    /// Histories by lineage: the conversation a `Continue` turn starts from
    /// (`latest_conversation`) and the items the slot's chain indexes. At most those.
    conversations: BTreeMap<u64, Vec<ResponseItem>>,
    latest_conversation: Option<u64>,
    lineages: u64,
    // Values are boxed: a BTreeMap node has room for 11 entries, so unboxed a session
    // with one turn held a 4 KiB node, and with one request a 6.3 KiB node more.
    turns: BTreeMap<TurnId, Box<Turn>>,
    requests: BTreeMap<RequestId, Box<Request>>,
    conns: BTreeMap<ConnId, ConnOwner>,
    refresh_pending: bool,
    outputs: VecDeque<Output>,
    turn_ids: IdAllocator,
    request_ids: IdAllocator,
    conn_ids: IdAllocator,
    now: Now,
}

impl Session {
    /// A session with no turns. Fails when the configuration cannot work.
    pub fn new(params: SessionParams) -> Result<Session, ConfigError> {
        let config = params.config.validate()?;
        let backoff = BackoffPolicy {
            base: config.retry_base_delay,
            max_backoff: config.max_backoff,
            max_retry_after: config.max_retry_after,
        };
        Ok(Session {
            backoff,
            credentials: params.credentials,
            auth_refreshable: params.auth_refreshable,
            conversation_id: params.conversation_id,
            rng: JitterRng::new(params.seed),
            ws_disabled_at: None,
            slot: None,
            prewarm: None,
            requests_started: false,
            ws_unanswered: 0,
            conversations: BTreeMap::new(),
            latest_conversation: None,
            lineages: 0,
            turns: BTreeMap::new(),
            requests: BTreeMap::new(),
            conns: BTreeMap::new(),
            refresh_pending: false,
            outputs: VecDeque::new(),
            turn_ids: IdAllocator::default(),
            request_ids: IdAllocator::default(),
            conn_ids: IdAllocator::default(),
            now: Now::default(),
            config,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True once the WebSocket→HTTP fallback is active for this session.
    pub fn websocket_disabled(&self) -> bool {
        self.ws_disabled_at.is_some()
    }

    /// Applies one input at time `now`. Call [`Session::poll_output`] until `None`
    /// afterwards. A refused input (`Err`) leaves the session unchanged.
    pub fn handle_input(&mut self, now: Now, input: Input) -> Result<InputAck, UsageError> {
        if self.outputs.len() >= self.config.limits.queued_outputs {
            return Err(UsageError::OutputsNotDrained(self.outputs.len()));
        }
        let before = self.now;
        // Time never goes backwards inside the session, whatever the driver passes.
        self.now = Now {
            instant: now.instant.max(before.instant),
            unix: now.unix,
        };
        let result = self.apply_input(input);
        if result.is_err() {
            // Every refusal is decided before the input changes anything, so putting
            // the clock back is all it takes to leave the session as it was.
            self.now = before;
        }
        result
    }

    /// Applies `input` at `self.now`. A refusal must be returned before anything
    /// changes: [`Session::handle_input`] restores only the clock.
    fn apply_input(&mut self, input: Input) -> Result<InputAck, UsageError> {
        let now = self.now.instant;
        match input {
            Input::Preconnect => {
                self.preconnect(now);
                Ok(InputAck::Applied)
            }
            Input::Prewarm { prefix } => {
                self.prewarm(now, prefix);
                Ok(InputAck::Applied)
            }
            Input::StartTurn(options) => Ok(InputAck::TurnStarted(self.start_turn(now, options))),
            Input::StartRequest { turn, spec } => self
                .start_request(now, turn, spec)
                .map(InputAck::RequestStarted),
            Input::CancelRequest { request } => {
                self.cancel_request(request).map(|()| InputAck::Applied)
            }
            Input::EndTurn { turn } => self.end_turn(now, turn).map(|()| InputAck::Applied),
            Input::AuthRefreshed { credentials } => {
                self.auth_refreshed(now, credentials);
                Ok(InputAck::Applied)
            }
            Input::AuthRefreshFailed { message } => {
                self.auth_refresh_failed(&message);
                Ok(InputAck::Applied)
            }
            Input::Timeout => {
                self.handle_timeout(now);
                Ok(InputAck::Applied)
            }
            transport => self
                .handle_transport(now, transport)
                .map(|()| InputAck::Applied),
        }
    }

    /// Starts a turn; a shorthand for `handle_input(now, Input::StartTurn(options))`.
    pub fn start_turn_with(
        &mut self,
        now: Now,
        options: TurnOptions,
    ) -> Result<TurnId, UsageError> {
        match self.handle_input(now, Input::StartTurn(options))? {
            InputAck::TurnStarted(id) => Ok(id),
            _ => unreachable!("StartTurn acks with TurnStarted"),
        }
    }

    /// Starts a request; a shorthand for `handle_input(now, Input::StartRequest { .. })`.
    pub fn start_request_with(
        &mut self,
        now: Now,
        turn: TurnId,
        spec: RequestSpec,
    ) -> Result<RequestId, UsageError> {
        match self.handle_input(now, Input::StartRequest { turn, spec })? {
            InputAck::RequestStarted(id) => Ok(id),
            _ => unreachable!("StartRequest acks with RequestStarted"),
        }
    }

    /// The next output, or `None` when the queue is empty. Call after every
    /// `handle_input` until `None`, then read [`Session::poll_timeout`].
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline at which [`Input::Timeout`] must be fed, or `None` when no
    /// timer runs. Level-triggered: read it after draining. It is never earlier than
    /// the `now` of the last input: a deadline that passed while other inputs arrived
    /// is reported as that `now`, meaning "feed `Timeout` at once".
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.requests.values().filter_map(|r| r.phase.deadline());
        let slot = self.slot.as_ref().map(|p| p.deadline(&self.config));
        // A deadline that passed while other inputs arrived is due now: report it as
        // now, never as an instant before the last input's.
        requests
            .chain(slot)
            .min()
            .map(|at| at.max(self.now.instant))
    }

    /// Number of requests still running.
    pub fn running_requests(&self) -> usize {
        self.requests.len()
    }

    fn ws_usable(&self) -> bool {
        self.config.websockets && self.ws_disabled_at.is_none()
    }

    fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    fn telemetry(&mut self, record: Telemetry) {
        self.outputs.push_back(Output::Telemetry(record));
    }

    fn emit(&mut self, request: RequestId, event: ResponseEvent) {
        let Some(turn) = self.requests.get(&request).map(|r| r.turn) else {
            return;
        };
        self.outputs.push_back(Output::Event {
            turn,
            request,
            event,
        });
    }

    fn new_conn(&mut self, owner: ConnOwner) -> ConnId {
        let conn = ConnId(self.conn_ids.next());
        self.conns.insert(conn, owner);
        conn
    }

    /// Closes a live connection the session abandons: the driver drops it at once.
    fn close_conn(&mut self, conn: ConnId) {
        self.end_conn(conn, CloseReason::Abandoned);
    }

    /// Closes a live connection whose exchange ended cleanly: the driver may end it
    /// gracefully and keep an HTTP connection for reuse.
    fn finish_conn(&mut self, conn: ConnId) {
        self.end_conn(conn, CloseReason::Finished);
    }

    fn end_conn(&mut self, conn: ConnId, reason: CloseReason) {
        if self.conns.remove(&conn).is_some() {
            self.outputs.push_back(Output::Close { conn, reason });
        }
    }

    fn next_lineage(&mut self) -> u64 {
        self.lineages += 1;
        self.lineages
    }

    /// Records `items` as the conversation so far (what a `Continue` turn starts from).
    fn store_conversation(&mut self, lineage: u64, items: Vec<ResponseItem>) {
        self.conversations.insert(lineage, items);
        self.latest_conversation = Some(lineage);
        self.prune_conversations();
    }

    /// Forgets histories nothing can use any more: only the latest conversation and
    /// the one the slot's chain indexes are kept.
    fn prune_conversations(&mut self) {
        let keep = [self.latest_conversation, self.slot_chain_lineage()];
        let pending = self.prewarm.as_ref().map(|p| p.lineage);
        let in_flight = match self.slot.as_ref().map(|s| &s.state) {
            Some(slot::SlotState::Prewarming { prewarm, .. }) => Some(prewarm.lineage),
            _ => None,
        };
        self.conversations.retain(|lineage, _| {
            keep.contains(&Some(*lineage))
                || pending == Some(*lineage)
                || in_flight == Some(*lineage)
        });
    }

    fn start_turn(&mut self, now: Instant, options: TurnOptions) -> TurnId {
        if let (Some(at), Some(cooldown)) = (self.ws_disabled_at, self.config.fallback_cooldown)
            && now >= at.saturating_add(cooldown)
        {
            self.ws_disabled_at = None;
        }
        let id = TurnId(self.turn_ids.next());
        let (history, lineage) = match options.history {
            TurnHistory::Continue => match self.latest_conversation.take() {
                // O(1): the vector moves.
                Some(lineage) => (
                    self.conversations.remove(&lineage).unwrap_or_default(),
                    lineage,
                ),
                None => (Vec::new(), self.next_lineage()),
            },
            _ => (Vec::new(), self.next_lineage()),
        };
        let claim = options.history == TurnHistory::Continue
            && self.ws_usable()
            && self.slot_chain_lineage() == Some(lineage);
        self.turns
            .insert(id, Box::new(Turn::new(options.metadata, history, lineage)));
        if claim {
            // The chain indexes exactly this history: the turn takes the socket now,
            // so no other turn can adopt a chain it could not verify.
            self.adopt_slot(id);
        }
        self.prune_conversations();
        id
    }

    fn start_request(
        &mut self,
        now: Instant,
        turn_id: TurnId,
        spec: RequestSpec,
    ) -> Result<RequestId, UsageError> {
        let turn = self
            .turns
            .get_mut(&turn_id)
            .ok_or(UsageError::UnknownTurn(turn_id))?;
        if let Some(running) = turn.active {
            return Err(UsageError::RequestInProgress {
                turn: turn_id,
                running,
            });
        }
        self.lineages += 1;
        let rewritten = self.lineages;
        let input_len = turn.set_input(spec.input, rewritten);
        self.requests_started = true;
        let id = RequestId(self.request_ids.next());
        turn.active = Some(id);
        self.requests.insert(
            id,
            Box::new(Request::new(id, turn_id, spec.fields, input_len, now)),
        );
        self.start_attempt(now, id);
        Ok(id)
    }

    fn cancel_request(&mut self, id: RequestId) -> Result<(), UsageError> {
        if !self.requests.contains_key(&id) {
            return Err(UsageError::UnknownRequest(id));
        }
        self.abandon_attempt(id);
        self.finish_with_error(id, ResponseError::Cancelled);
        Ok(())
    }

    /// Ends a turn: cancels its request, hands a healthy socket and its chain to the
    /// slot (closing any other), and keeps its history as the conversation so far.
    fn end_turn(&mut self, now: Instant, id: TurnId) -> Result<(), UsageError> {
        let active = self
            .turns
            .get(&id)
            .ok_or(UsageError::UnknownTurn(id))?
            .active;
        if let Some(request) = active {
            self.cancel_request(request)?;
        }
        let Some(turn) = self.turns.remove(&id) else {
            return Ok(());
        };
        let turn = *turn;
        if turn.requested || !turn.history.is_empty() {
            self.store_conversation(turn.lineage, turn.history);
        }
        match (turn.socket, turn.baseline) {
            (
                Some(TurnSocket::Open {
                    conn,
                    header_events,
                    ..
                }),
                Some(chain),
            ) if chain.completed && chain.conn == conn => {
                self.park_socket(now, id, conn, header_events, chain);
            }
            // Idle (a request in use was cancelled above, which closed it): it ends
            // with a close frame.
            (Some(TurnSocket::Open { conn, .. }), _) => self.finish_conn(conn),
            (Some(socket), _) => self.close_conn(socket.conn()),
            (None, _) => {}
        }
        self.prune_conversations();
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<RequestId> = self
            .requests
            .values()
            .filter(|r| r.phase.deadline().is_some_and(|d| d <= now))
            .map(|r| r.id)
            .collect();
        for id in due {
            self.request_deadline(now, id);
        }
        self.slot_deadline(now);
    }
}
