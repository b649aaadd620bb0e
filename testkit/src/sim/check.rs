//! The invariant checker: watches every input the simulator feeds and every output the
//! session drains, and records a violation whenever the session breaks a rule of
//! PROTOCOL.md that can be checked from the outside.
//!
//! What it checks (each independently of the session's own bookkeeping):
//! - every request ends in exactly one terminal outcome, and nothing of it follows;
//! - after a drain, `poll_timeout` is never before now, and timeouts at one instant
//!   cannot repeat without end;
//! - stream retries count 1, 2, … up to `stream_max_retries` per transport phase, and
//!   every retry delay lies in its backoff bounds or is a server-requested delay; the
//!   next attempt never starts before the delay is over;
//! - attempts per request stay within what the budgets allow;
//! - no WebSocket attempt after the fallback (unless the cooldown passed and a new
//!   turn started), and the request that fell back continues over HTTP;
//! - the turn-state token: captured at most once per turn, from that turn's own
//!   traffic, and carried by exactly the later requests and handshakes of that turn;
//! - a WebSocket message is incremental exactly when section 6 says so, and the input
//!   the server reconstructs (or the `POST` body carries) is the request's full input;
//! - messages go only on open, idle sockets, never on an unadopted preconnect;
//! - a terminal event on HTTP closes the connection at once (no waiting for EOF).

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;
use serde_json::Value;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    ConnId, Input, InputAck, PreconnectResult, RequestId, RequestInput, RetryLayer, Telemetry,
    TurnId,
};
use turnwire_protocol::time::Instant;

use super::server::{HandshakeRecord, HttpRecord, WsKind, WsMessageRecord, header_text};
use crate::wire;

/// The turn-state header.
const TURN_STATE: &str = "x-codex-turn-state";

/// Which rule a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Exactly one terminal outcome per request, nothing after it.
    Terminal,
    /// `poll_timeout` never before now; time advances.
    Timeout,
    /// Retry counts, delays and attempt budgets.
    Retry,
    /// Fallback stickiness and cooldown.
    Fallback,
    /// Turn-state capture and propagation.
    TurnState,
    /// Incremental requests (section 6) and the input the server holds.
    Incremental,
    /// Messages only on open, idle, adopted sockets.
    Socket,
    /// `POST` bodies and headers.
    Wire,
    /// A terminal event closes the HTTP connection at once.
    Close,
    /// The session refused a transport input the simulator produced legitimately.
    Input,
    /// Simulator time went backwards (a simulator bug).
    Time,
    /// The fake server saw a malformed or impossible message.
    Server,
    /// The simulation halted (too many inputs, a loop, an unknown output).
    Halt,
}

/// One broken rule, with the virtual time it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When (virtual nanoseconds).
    pub at: Instant,
    /// Which rule.
    pub rule: Rule,
    /// What happened.
    pub what: String,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = self.at.as_nanos() / 1_000_000;
        write!(f, "[t={ms}ms {:?}] {}", self.rule, self.what)
    }
}

/// Who a connection belongs to, as far as the checker can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Preconnect,
    Request(TurnId, RequestId),
    Unknown,
}

#[derive(Clone, Debug, Default)]
struct WsState {
    opened: bool,
    closed: bool,
    busy: bool,
    preconnect: bool,
    adopted: bool,
    turn_state: Option<String>,
}

#[derive(Clone, Debug)]
struct ReqInfo {
    turn: TurnId,
    intended: Vec<Value>,
    fields: RequestFields,
    attempt_items: Vec<Value>,
    last_reconnect: u32,
    not_before: Instant,
    attempts: u32,
    ended: bool,
    must_use_http: bool,
    http_conn: Option<ConnId>,
    output_seen: bool,
    /// Body events of the current attempt not yet voided by `Reconnecting` or
    /// `FallbackActivated`.
    unvoided: u32,
}

/// What the previous WebSocket message of a turn left behind (section 6 baseline).
#[derive(Clone, Debug)]
struct LastMessage {
    request: RequestId,
    conn: ConnId,
    input: Vec<Value>,
    fields: RequestFields,
    completed: bool,
    response_id: Option<String>,
    outputs: Vec<Value>,
}

/// A `POST` or message waiting for the `AttemptStarted` that names its request.
#[derive(Clone, Debug)]
enum Pending {
    Post(HttpRecord),
    Message(WsMessageRecord),
}

/// A summary of the input being applied.
#[derive(Clone, Debug, Default)]
struct CurrentInput {
    preconnect: bool,
    start_turn: bool,
    start_request: bool,
    ws_opened: bool,
    timeout: bool,
    conn: Option<ConnId>,
    /// A turn-state token in the input's headers or metadata frame.
    token: Option<String>,
    /// The input is a head or handshake whose token the session must capture.
    head_with_token: bool,
}

/// The settings the checker needs.
#[derive(Clone, Debug)]
struct Rules {
    websockets: bool,
    protocol: WsProtocol,
    stream_max: u32,
    request_max: u32,
    base: Duration,
    max_backoff: Duration,
    cooldown: Option<Duration>,
    partial_retry: bool,
    compression: bool,
    header_limit: usize,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Checker {
    rules: Rules,
    violations: Vec<Violation>,
    now: Instant,
    input: CurrentInput,
    pending_spec: Option<(TurnId, RequestInput, RequestFields)>,
    turns: BTreeSet<TurnId>,
    turn_history: BTreeMap<TurnId, Vec<Value>>,
    turn_token: BTreeMap<TurnId, String>,
    turn_metadata: BTreeMap<TurnId, String>,
    pending_metadata: Option<String>,
    last_message: BTreeMap<TurnId, LastMessage>,
    requests: BTreeMap<RequestId, ReqInfo>,
    conns: BTreeMap<ConnId, Owner>,
    ws: BTreeMap<ConnId, WsState>,
    preconnect_conn: Option<ConnId>,
    ws_disabled_at: Option<Instant>,
    requested_delays: BTreeSet<Duration>,
    token: String,
    must_close: BTreeSet<ConnId>,
    pending: Option<Pending>,
    unplaced_ws: BTreeMap<ConnId, (Option<String>, BTreeMap<TurnId, String>)>,
    same_instant_timeouts: u32,
    stuck: bool,
}

impl Checker {
    /// A checker for a session with this (validated) configuration, whose credentials
    /// start with `token`.
    pub fn new(config: &Config, token: &str) -> Self {
        Checker {
            rules: Rules {
                websockets: config.websockets,
                protocol: config.ws_protocol,
                stream_max: config.stream_max_retries,
                request_max: config.request_max_retries,
                base: config.retry_base_delay,
                max_backoff: config.max_backoff.max(config.retry_base_delay),
                cooldown: config.fallback_cooldown,
                partial_retry: config.retry_after_partial_output,
                compression: config.request_compression,
                header_limit: config.limits.header_value,
            },
            violations: Vec::new(),
            now: Instant::ZERO,
            input: CurrentInput::default(),
            pending_spec: None,
            turns: BTreeSet::new(),
            turn_history: BTreeMap::new(),
            turn_token: BTreeMap::new(),
            turn_metadata: BTreeMap::new(),
            pending_metadata: None,
            last_message: BTreeMap::new(),
            requests: BTreeMap::new(),
            conns: BTreeMap::new(),
            ws: BTreeMap::new(),
            preconnect_conn: None,
            ws_disabled_at: None,
            requested_delays: BTreeSet::new(),
            token: token.to_owned(),
            must_close: BTreeSet::new(),
            pending: None,
            unplaced_ws: BTreeMap::new(),
            same_instant_timeouts: 0,
            stuck: false,
        }
    }

    /// Every violation so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// True once the session looped without advancing time; the simulator stops.
    pub fn stuck(&self) -> bool {
        self.stuck
    }

    /// Notes server-requested delays that a reply carries.
    pub fn note_requested_delays(&mut self, delays: &[Duration]) {
        self.requested_delays.extend(delays.iter().copied());
    }

    fn violate(&mut self, rule: Rule, what: String) {
        self.violations.push(Violation {
            at: self.now,
            rule,
            what,
        });
    }

    /// Called before the simulator feeds `input` at `now`.
    pub fn before_input(&mut self, now: Instant, input: &Input) {
        if now < self.now {
            self.violate(
                Rule::Time,
                format!("simulator time went backwards to {now:?}"),
            );
        }
        if now > self.now {
            self.same_instant_timeouts = 0;
        }
        self.now = now;
        let mut current = CurrentInput::default();
        match input {
            Input::Preconnect => current.preconnect = true,
            Input::StartTurn(options) => {
                current.start_turn = true;
                self.pending_metadata = options.metadata.clone();
                if let (Some(at), Some(cooldown)) = (self.ws_disabled_at, self.rules.cooldown)
                    && now >= at.saturating_add(cooldown)
                {
                    self.ws_disabled_at = None;
                }
            }
            Input::StartRequest { turn, spec } => {
                current.start_request = true;
                self.pending_spec = Some((*turn, spec.input.clone(), spec.fields.clone()));
            }
            Input::Timeout => current.timeout = true,
            Input::AuthRefreshed { credentials } => {
                self.token = credentials.token.expose().to_owned();
            }
            Input::HttpResponse { conn, headers, .. } | Input::WsOpened { conn, headers } => {
                current.conn = Some(*conn);
                current.token = header_text(headers, TURN_STATE);
                let valid = current
                    .token
                    .as_ref()
                    .is_some_and(|t| !t.is_empty() && t.len() <= self.rules.header_limit);
                current.head_with_token = valid;
                if let Input::WsOpened { .. } = input {
                    current.ws_opened = true;
                    let state = self.ws.entry(*conn).or_default();
                    state.opened = true;
                    state.turn_state = current.token.clone();
                }
            }
            Input::WsRefused { conn, headers, .. } => {
                current.conn = Some(*conn);
                current.token = header_text(headers, TURN_STATE);
                self.end_ws(*conn);
            }
            Input::WsText { conn, text } => {
                current.conn = Some(*conn);
                // Parse only frames that can matter here (most are deltas).
                let relevant = text.contains(TURN_STATE)
                    || text.contains("\"error\"")
                    || text.contains("response.completed")
                    || text.contains("response.done")
                    || text.contains("response.incomplete")
                    || text.contains("response.failed");
                if relevant && let Ok(json) = serde_json::from_str::<Value>(text) {
                    current.token = json
                        .pointer("/headers/x-codex-turn-state")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    if wire::ev::ends_response(&json)
                        && let Some(state) = self.ws.get_mut(conn)
                    {
                        state.busy = false;
                    }
                }
            }
            Input::WsBinary { conn, .. } | Input::WsClosed { conn, .. } => {
                current.conn = Some(*conn);
                self.end_ws(*conn);
            }
            Input::HttpEnd { conn }
            | Input::TransportError { conn, .. }
            | Input::HttpStale { conn, .. }
            | Input::SendFailed { conn, .. } => {
                current.conn = Some(*conn);
                self.end_ws(*conn);
                self.end_http(*conn);
            }
            _ => {}
        }
        self.input = current;
    }

    fn end_ws(&mut self, conn: ConnId) {
        if let Some(state) = self.ws.get_mut(&conn) {
            state.closed = true;
            state.busy = false;
        }
    }

    fn end_http(&mut self, conn: ConnId) {
        for req in self.requests.values_mut() {
            if req.http_conn == Some(conn) {
                req.http_conn = None;
            }
        }
    }

    /// Called with what `handle_input` returned.
    pub fn on_ack(&mut self, ack: &Result<InputAck, String>, transport: bool) {
        match ack {
            Ok(InputAck::TurnStarted(turn)) => {
                self.turns.insert(*turn);
                if let Some(metadata) = self.pending_metadata.take() {
                    self.turn_metadata.insert(*turn, metadata);
                }
                self.turn_history.entry(*turn).or_default();
            }
            Ok(InputAck::RequestStarted(id)) => {
                let Some((turn, input, fields)) = self.pending_spec.take() else {
                    return;
                };
                let history = self.turn_history.entry(turn).or_default();
                let intended: Vec<Value> = match input {
                    RequestInput::Append(items) => {
                        let mut all = history.clone();
                        all.extend(items.iter().map(wire::item_json));
                        all
                    }
                    RequestInput::Replace(items) => items.iter().map(wire::item_json).collect(),
                    #[allow(unreachable_patterns)]
                    _ => Vec::new(),
                };
                *history = intended.clone();
                self.requests.insert(
                    *id,
                    ReqInfo {
                        turn,
                        intended,
                        fields,
                        attempt_items: Vec::new(),
                        last_reconnect: 0,
                        not_before: Instant::ZERO,
                        attempts: 0,
                        ended: false,
                        must_use_http: false,
                        http_conn: None,
                        output_seen: false,
                        unvoided: 0,
                    },
                );
            }
            Err(err) if transport => {
                self.violate(
                    Rule::Input,
                    format!("the session refused a transport input: {err}"),
                );
            }
            _ => {}
        }
        self.pending_spec = None;
    }

    /// The running request a new connection or message belongs to, when that is
    /// unambiguous.
    fn sole_running(&self) -> Option<(TurnId, RequestId)> {
        let mut running = self.requests.iter().filter(|(_, r)| !r.ended);
        let (id, req) = running.next()?;
        if running.next().is_some() {
            return None;
        }
        Some((req.turn, *id))
    }

    /// The running request of a turn (requests in a turn are sequential).
    fn running_in_turn(&self, turn: TurnId) -> Option<RequestId> {
        self.requests
            .iter()
            .find(|(_, r)| r.turn == turn && !r.ended)
            .map(|(id, _)| *id)
    }

    fn attempt_checks(&mut self, id: RequestId, websocket: bool) {
        let now = self.now;
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let (not_before, must_http) = (req.not_before, req.must_use_http);
        if now < not_before {
            self.violate(
                Rule::Retry,
                format!("{id} attempt at {now:?} before its retry delay ended at {not_before:?}"),
            );
        }
        if websocket && must_http {
            self.violate(
                Rule::Fallback,
                format!("{id} used WebSocket after falling back to HTTP"),
            );
        }
    }

    fn expected_token(&self, turn: TurnId) -> Option<String> {
        self.turn_token.get(&turn).cloned()
    }

    /// The session sent a `POST` (already recorded by the server). When several
    /// requests run, the check waits for the `AttemptStarted` that names the request.
    pub fn on_open_http(&mut self, record: &HttpRecord) {
        self.conns.insert(record.conn, Owner::Unknown);
        match self.sole_running() {
            Some((turn, id)) => self.check_post(record, turn, id),
            None => self.pending = Some(Pending::Post(record.clone())),
        }
    }

    fn check_post(&mut self, record: &HttpRecord, turn: TurnId, id: RequestId) {
        let conn = record.conn;
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, false);
        let carried = header_text(&record.headers, TURN_STATE);
        let expected = self.expected_token(turn);
        if carried != expected {
            self.violate(
                Rule::TurnState,
                format!(
                    "POST of {id} ({turn}) carries turn state {carried:?}, expected {expected:?}"
                ),
            );
        }
        self.check_identity(&record.headers, Some(turn), &format!("POST of {id}"));
        let encoding = header_text(&record.headers, "content-encoding");
        let zstd = encoding.as_deref() == Some("zstd");
        if record.compress != self.rules.compression || zstd != self.rules.compression {
            self.violate(
                Rule::Wire,
                format!(
                    "POST of {id}: compress {}, Content-Encoding {encoding:?}",
                    record.compress
                ),
            );
        }
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.http_conn = Some(conn);
        let body_input = record.body.get("input").and_then(Value::as_array);
        let intended_matches = body_input.is_some_and(|input| *input == req.intended);
        let model_matches =
            record.body.get("model").and_then(Value::as_str) == Some(req.fields.model.as_str());
        if !intended_matches || !model_matches {
            let what = format!(
                "POST of {id} body differs from the request: input {} items, expected {}",
                body_input.map_or(0, Vec::len),
                req.intended.len()
            );
            self.violate(Rule::Wire, what);
        }
    }

    /// Authorization with the current token, `session_id`, and the turn's metadata
    /// (none on a preconnect).
    fn check_identity(&mut self, headers: &http::HeaderMap, turn: Option<TurnId>, what: &str) {
        let auth = header_text(headers, "authorization");
        let want = format!("Bearer {}", self.token);
        if auth.as_deref() != Some(want.as_str()) {
            self.violate(
                Rule::Wire,
                format!("{what} has the wrong Authorization header"),
            );
        }
        let session = header_text(headers, "session_id");
        if session.as_deref() != Some(super::CONVERSATION_ID) {
            self.violate(Rule::Wire, format!("{what} has session_id {session:?}"));
        }
        let metadata = header_text(headers, "x-codex-turn-metadata");
        let expected = turn.and_then(|t| self.turn_metadata.get(&t).cloned());
        if metadata != expected {
            self.violate(
                Rule::Wire,
                format!("{what} carries turn metadata {metadata:?}, expected {expected:?}"),
            );
        }
    }

    /// The session opened a WebSocket (already recorded by the server).
    pub fn on_open_ws(&mut self, record: &HandshakeRecord) {
        let conn = record.conn;
        if !self.rules.websockets {
            self.violate(
                Rule::Fallback,
                format!("WebSocket {conn} opened with websockets off"),
            );
        }
        if let Some(at) = self.ws_disabled_at {
            self.violate(
                Rule::Fallback,
                format!("WebSocket {conn} opened after the fallback activated at {at:?}"),
            );
        }
        let carried = header_text(&record.headers, TURN_STATE);
        if self.input.preconnect {
            self.conns.insert(conn, Owner::Preconnect);
            self.preconnect_conn = Some(conn);
            self.ws.insert(
                conn,
                WsState {
                    preconnect: true,
                    ..WsState::default()
                },
            );
            self.check_identity(&record.headers, None, &format!("preconnect {conn}"));
            if carried.is_some() {
                self.violate(
                    Rule::TurnState,
                    format!("preconnect {conn} carries a turn-state token"),
                );
            }
            return;
        }
        self.ws.insert(conn, WsState::default());
        let Some((turn, id)) = self.sole_running() else {
            // Several requests run: place the handshake when a message on it names
            // its request, checking the token the turn had now.
            self.conns.insert(conn, Owner::Unknown);
            self.unplaced_ws
                .insert(conn, (carried, self.turn_token.clone()));
            return;
        };
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, true);
        self.check_identity(&record.headers, Some(turn), &format!("handshake {conn}"));
        let expected = self.expected_token(turn);
        if carried != expected {
            self.violate(Rule::TurnState, format!(
                "handshake {conn} of {id} ({turn}) carries turn state {carried:?}, expected {expected:?}"
            ));
        }
    }

    /// The session sent a WebSocket message (already recorded by the server).
    pub fn on_send_ws(&mut self, record: &WsMessageRecord) {
        let conn = record.conn;
        let state = self.ws.get(&conn).cloned().unwrap_or_default();
        if !state.opened || state.closed {
            self.violate(
                Rule::Socket,
                format!("message on {conn}, which is not open"),
            );
        }
        if state.busy {
            self.violate(
                Rule::Socket,
                format!("message on {conn} while its previous response is still streaming"),
            );
        }
        if state.preconnect && !state.adopted {
            self.violate(
                Rule::Socket,
                format!("request message on the unadopted preconnect {conn}"),
            );
        }
        if let Some(s) = self.ws.get_mut(&conn) {
            s.busy = true;
        }
        // A WebSocket belongs to a turn; the message is for that turn's running request.
        let (turn, id) = match self.conns.get(&conn) {
            Some(Owner::Request(turn, _)) => match self.running_in_turn(*turn) {
                Some(id) => (*turn, id),
                None => {
                    let what = format!("message on {conn} while its turn is idle");
                    return self.violate(Rule::Socket, what);
                }
            },
            _ => match self.sole_running() {
                Some(found) => found,
                None => {
                    self.pending = Some(Pending::Message(record.clone()));
                    return;
                }
            },
        };
        self.check_message(record, turn, id);
    }

    fn check_message(&mut self, record: &WsMessageRecord, turn: TurnId, id: RequestId) {
        let conn = record.conn;
        if let Some((carried, tokens)) = self.unplaced_ws.remove(&conn) {
            let expected = tokens.get(&turn).cloned();
            if carried != expected {
                self.violate(
                    Rule::TurnState,
                    format!(
                        "handshake {conn} of {turn} carried {carried:?}, expected {expected:?}"
                    ),
                );
            }
        }
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, true);
        let Some(req) = self.requests.get(&id).cloned() else {
            return;
        };
        let expected = expected_kind(
            self.last_message.get(&turn),
            self.rules.protocol,
            conn,
            &req.intended,
            &req.fields,
        );
        if record.kind != expected {
            self.violate(
                Rule::Incremental,
                format!(
                    "{id} message on {conn} is {:?}, section 6 says {expected:?}",
                    record.kind
                ),
            );
        }
        match &record.full_input {
            _ if record.lost => {}
            Ok(full) if *full == req.intended => {}
            Ok(full) => self.violate(
                Rule::Incremental,
                format!(
                    "{id} message on {conn}: the server holds {} input items, the request has {}",
                    full.len(),
                    req.intended.len()
                ),
            ),
            Err(why) => self.violate(Rule::Incremental, format!("{id} message on {conn}: {why}")),
        }
        let last = LastMessage {
            request: id,
            conn,
            input: req.intended,
            fields: req.fields,
            completed: false,
            response_id: None,
            outputs: Vec::new(),
        };
        self.last_message.insert(turn, last);
    }

    /// The session closed a connection.
    pub fn on_close(&mut self, conn: ConnId) {
        self.must_close.remove(&conn);
        self.end_ws(conn);
        self.end_http(conn);
    }

    /// A caller event.
    pub fn on_event(&mut self, turn: TurnId, id: RequestId, event: &ResponseEvent) {
        let now = self.now;
        let rules = &self.rules;
        let requested = &self.requested_delays;
        let mut problems = Vec::new();
        let Some(req) = self.requests.get_mut(&id) else {
            return self.violate(
                Rule::Terminal,
                format!("event for unknown request {id}: {event:?}"),
            );
        };
        if req.ended {
            return self.violate(
                Rule::Terminal,
                format!("event after the terminal outcome of {id}: {event:?}"),
            );
        }
        if req.turn != turn {
            let owner = req.turn;
            return self.violate(
                Rule::Terminal,
                format!("event of {id} names {turn}, not {owner}"),
            );
        }
        match event {
            ResponseEvent::Reconnecting { .. } | ResponseEvent::FallbackActivated { .. } => {
                req.unvoided = 0;
            }
            ResponseEvent::RateLimits { .. }
            | ResponseEvent::ModelsEtag { .. }
            | ResponseEvent::ServerReasoningIncluded { .. } => {}
            _ => req.unvoided += 1,
        }
        match event {
            ResponseEvent::OutputItemDone { item } => {
                req.output_seen = true;
                req.attempt_items.push(wire::item_json(item));
            }
            _ if event.is_output() => req.output_seen = true,
            ResponseEvent::Reconnecting {
                attempt,
                max,
                delay,
                reason,
            } => {
                if req.output_seen && !rules.partial_retry {
                    problems
                        .push("retried after output with retry_after_partial_output off".into());
                }
                let expected_attempt = req.last_reconnect + 1;
                req.last_reconnect = *attempt;
                req.not_before = now.saturating_add(*delay);
                if *attempt != expected_attempt {
                    problems.push(format!("attempt {attempt}, expected {expected_attempt}"));
                }
                if *max != rules.stream_max || *attempt > *max {
                    problems.push(format!(
                        "attempt {attempt}/{max} over the budget {}",
                        rules.stream_max
                    ));
                }
                // A 401 after output voids it and refreshes at once, without backoff.
                let refresh = delay.is_zero() && reason.ends_with("refreshing credentials");
                if !refresh && !delay_ok(rules, *attempt, *delay, requested) {
                    problems.push(format!("delay {delay:?} out of bounds"));
                }
            }
            ResponseEvent::FallbackActivated { .. } => {
                req.last_reconnect = 0;
                req.must_use_http = true;
                if !rules.websockets {
                    problems.push("fell back although WebSocket is off".to_owned());
                }
                self.ws_disabled_at.get_or_insert(now);
            }
            ResponseEvent::Completed { response_id, .. }
            | ResponseEvent::Incomplete { response_id, .. } => {
                let completed = matches!(event, ResponseEvent::Completed { .. });
                self.end_request(id, true);
                let Some(req) = self.requests.get(&id) else {
                    return;
                };
                let outputs = req.attempt_items.clone();
                let turn = req.turn;
                if let Some(history) = self.turn_history.get_mut(&turn) {
                    history.extend(outputs.iter().cloned());
                }
                if let Some(last) = self.last_message.get_mut(&turn)
                    && last.request == id
                {
                    last.completed = completed;
                    last.response_id = Some(response_id.clone());
                    last.outputs = outputs;
                }
            }
            _ => {}
        }
        for p in problems {
            let rule = if p.contains("fell back") {
                Rule::Fallback
            } else {
                Rule::Retry
            };
            self.violate(rule, format!("{id} {}: {p}", event_name(event)));
        }
    }

    fn end_request(&mut self, id: RequestId, success: bool) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        req.ended = true;
        if success && let Some(conn) = req.http_conn.take() {
            self.must_close.insert(conn);
        }
        let turn = req.turn;
        if let Some(last) = self.last_message.get_mut(&turn)
            && last.request == id
            && !success
        {
            last.completed = false;
        }
    }

    /// A request failed (its terminal outcome).
    pub fn on_failed(&mut self, turn: TurnId, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return self.violate(Rule::Terminal, format!("failure of unknown request {id}"));
        };
        if req.ended {
            return self.violate(Rule::Terminal, format!("second terminal outcome for {id}"));
        }
        if req.turn != turn {
            self.violate(
                Rule::Terminal,
                format!("failure of {id} names {turn}, not {}", req.turn),
            );
        }
        self.end_request(id, false);
    }

    /// A telemetry record.
    pub fn on_telemetry(&mut self, record: &Telemetry) {
        let now = self.now;
        match record {
            Telemetry::AttemptStarted { request, .. } => {
                let turn = self.requests.get(request).map(|r| r.turn);
                match (self.pending.take(), turn) {
                    (Some(Pending::Post(record)), Some(turn)) => {
                        self.check_post(&record, turn, *request);
                    }
                    (Some(Pending::Message(record)), Some(turn)) => {
                        self.check_message(&record, turn, *request);
                    }
                    _ => {}
                }
                let rules = self.rules.clone();
                let unvoided = self.requests.get(request).map_or(0, |r| r.unvoided);
                if unvoided > 0 {
                    self.violate(
                        Rule::Retry,
                        format!(
                            "{request} started a new attempt after {unvoided} events of the \
                             last one without Reconnecting to void them"
                        ),
                    );
                }
                if let Some(req) = self.requests.get_mut(request) {
                    req.unvoided = 0;
                    req.attempts += 1;
                    req.attempt_items.clear();
                    let bound = (rules.stream_max + 2)
                        + (rules.stream_max + 1) * (rules.request_max + 1)
                        + 4;
                    if req.attempts > bound {
                        let n = req.attempts;
                        self.violate(
                            Rule::Retry,
                            format!("{request} made {n} attempts, over {bound}"),
                        );
                    }
                }
            }
            Telemetry::RetryScheduled {
                request,
                layer: RetryLayer::Request,
                retry,
                delay,
                ..
            } => {
                let rules = self.rules.clone();
                if *retry > rules.request_max {
                    self.violate(
                        Rule::Retry,
                        format!("{request} request-layer retry {retry} over budget"),
                    );
                }
                if !delay_ok(&rules, *retry, *delay, &self.requested_delays) {
                    self.violate(
                        Rule::Retry,
                        format!("{request} request-layer delay {delay:?} out of bounds"),
                    );
                }
                if let Some(req) = self.requests.get_mut(request) {
                    req.not_before = now.saturating_add(*delay);
                }
            }
            Telemetry::FallbackActivated { .. } => {
                self.ws_disabled_at.get_or_insert(now);
            }
            Telemetry::Preconnect {
                conn,
                result: PreconnectResult::Adopted { turn },
            } => {
                if let Some(state) = self.ws.get_mut(conn) {
                    state.adopted = true;
                }
                let id = self.running_in_turn(*turn).unwrap_or(RequestId(0));
                self.conns.insert(*conn, Owner::Request(*turn, id));
            }
            Telemetry::TurnStateCaptured { turn } => self.turn_state_captured(*turn),
            _ => {}
        }
    }

    fn turn_state_captured(&mut self, turn: TurnId) {
        if let Some(old) = self.turn_token.get(&turn) {
            let what = format!("{turn} captured a second token (first was {old:?})");
            return self.violate(Rule::TurnState, what);
        }
        let from_conn = self.input.conn;
        // The preconnect's own handshake completing while a turn waits on it.
        let from_preconnect =
            self.input.ws_opened && from_conn.is_some() && from_conn == self.preconnect_conn;
        let token = if from_preconnect || self.input.start_request {
            // Adoption: the token the preconnect's handshake brought.
            self.preconnect_conn
                .and_then(|c| self.ws.get(&c))
                .and_then(|s| s.turn_state.clone())
        } else {
            match from_conn.and_then(|c| self.conns.get(&c)).copied() {
                Some(Owner::Request(t, _)) if t != turn => {
                    let what = format!("{turn} captured a token sent to {t}");
                    self.violate(Rule::TurnState, what);
                }
                Some(Owner::Request(..)) => {}
                // The connection is now known to belong to this turn.
                _ => {
                    if let (Some(conn), Some(id)) = (from_conn, self.running_in_turn(turn)) {
                        self.conns.insert(conn, Owner::Request(turn, id));
                    }
                }
            }
            self.input.token.clone()
        };
        match token {
            Some(token) if token.len() > self.rules.header_limit => self.violate(
                Rule::TurnState,
                format!(
                    "{turn} captured a {}-byte token, over the bound",
                    token.len()
                ),
            ),
            Some(token) => {
                self.turn_token.insert(turn, token);
            }
            None => self.violate(
                Rule::TurnState,
                format!("{turn} captured a token the checker cannot place"),
            ),
        }
    }

    /// Called after the drain that followed an input, with `poll_timeout`.
    pub fn after_drain(&mut self, timeout: Option<Instant>) {
        let now = self.now;
        if let Some(at) = timeout {
            if at < now {
                self.violate(
                    Rule::Timeout,
                    format!("poll_timeout {at:?} is before now {now:?}"),
                );
            }
            if self.input.timeout && at <= now {
                self.same_instant_timeouts += 1;
                if self.same_instant_timeouts > 3 {
                    self.violate(
                        Rule::Timeout,
                        format!("timeouts repeat at {now:?} without time advancing"),
                    );
                    self.stuck = true;
                }
            }
        }
        if !self.must_close.is_empty() {
            let open: Vec<ConnId> = std::mem::take(&mut self.must_close).into_iter().collect();
            self.violate(
                Rule::Close,
                format!("HTTP connections {open:?} still open after their terminal event"),
            );
        }
        if self.input.head_with_token {
            let owner = self.input.conn.and_then(|c| self.conns.get(&c)).copied();
            if let Some(Owner::Request(turn, _)) = owner
                && !self.turn_token.contains_key(&turn)
            {
                self.violate(
                    Rule::TurnState,
                    format!("{turn} did not capture the turn state of its head"),
                );
            }
        }
    }

    /// Called when the run is over: every request must have ended.
    pub fn finish(&mut self) {
        let open: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| !r.ended)
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            self.violate(
                Rule::Terminal,
                format!("{id} never reached a terminal outcome"),
            );
        }
    }
}

/// A short name for an event in messages.
fn event_name(event: &ResponseEvent) -> &'static str {
    match event {
        ResponseEvent::Reconnecting { .. } => "Reconnecting",
        ResponseEvent::FallbackActivated { .. } => "FallbackActivated",
        _ => "event",
    }
}

/// Whether a retry delay is `min(max_backoff, base·2^(n-1))·[0.9, 1.1)` or a delay the
/// server asked for.
fn delay_ok(rules: &Rules, retry: u32, delay: Duration, requested: &BTreeSet<Duration>) -> bool {
    if requested.contains(&delay) {
        return true;
    }
    let exponent = retry.saturating_sub(1).min(40);
    let raw = rules.base.saturating_mul(1u32 << exponent.min(31));
    let raw = if exponent > 31 {
        rules.max_backoff
    } else {
        raw
    };
    let e = raw.min(rules.max_backoff).as_nanos();
    let d = delay.as_nanos();
    // Integer arithmetic with one nanosecond of rounding slack either way.
    d * 10 + 10 >= e * 9 && d * 10 < e * 11 + 10
}

/// Section 6: the message a request should go out as, given what the previous message
/// of its turn left behind.
fn expected_kind(
    last: Option<&LastMessage>,
    protocol: WsProtocol,
    conn: ConnId,
    input: &[Value],
    fields: &RequestFields,
) -> WsKind {
    let Some(last) = last else {
        return WsKind::Create;
    };
    if last.conn != conn || !last.completed || last.fields != *fields {
        return WsKind::Create;
    }
    let mut baseline = last.input.clone();
    if protocol != WsProtocol::V1 {
        baseline.extend(last.outputs.iter().cloned());
    }
    let prefix = !baseline.is_empty()
        && input.len() > baseline.len()
        && input[..baseline.len()] == baseline[..];
    if !prefix {
        return WsKind::Create;
    }
    match protocol {
        WsProtocol::V1 => WsKind::Append,
        _ if last.response_id.as_deref().is_some_and(|r| !r.is_empty()) => WsKind::Chained,
        _ => WsKind::Create,
    }
}
