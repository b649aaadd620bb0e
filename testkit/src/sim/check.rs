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
//!   traffic (never from a socket it adopted), and carried by exactly the later
//!   requests of that turn (the `POST` header, each `response.create`'s
//!   `client_metadata`); a token never crosses into another turn;
//! - a handshake never carries turn-scoped headers (`x-codex-turn-state`,
//!   `x-codex-turn-metadata`), and every handshake and `POST` carries `session-id`,
//!   `thread-id` and `x-client-request-id` (the underscore forms only with
//!   `legacy_session_headers`);
//! - a WebSocket message is incremental exactly when section 6 says so, and the input
//!   the server reconstructs (or the `POST` body carries) is the request's full input;
//! - messages go only on open, idle sockets, never on a socket in the session's slot
//!   (except the prewarm, before any request); a socket is owned by at most one turn
//!   or the slot, and a turn hands back only its own socket;
//! - the response chain belongs to the socket: a turn that adopts a socket chains to
//!   the previous turn's (or the prewarm's) response exactly when section 6 says so;
//! - a free retry (stale socket, lost chain) happens at most once per request each;
//! - a terminal event on HTTP closes the connection at once (no waiting for EOF).

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;
use serde_json::Value;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::header_names::{
    CLIENT_REQUEST_ID, LEGACY_SESSION_ID, LEGACY_THREAD_ID, SESSION_ID, THREAD_ID, TURN_METADATA,
    TURN_STATE,
};
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    ConnId, FreeRetryReason, Input, InputAck, PreconnectResult, RequestId, RequestInput,
    RetryLayer, Telemetry, TurnHistory, TurnId,
};
use turnwire_protocol::time::Instant;

use super::server::{
    HandshakeRecord, HttpRecord, WsKind, WsMessageRecord, client_metadata_of, header_text,
};
use crate::wire;

/// The longest `client_metadata` value the session sends, in characters.
const MAX_METADATA_CHARS: usize = 2048;

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
    /// The simulation halted (too many inputs, or a loop).
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
    /// The socket of the request's latest WebSocket message.
    ws_conn: Option<ConnId>,
    /// Body events of the current attempt not yet voided by `Reconnecting` or
    /// `FallbackActivated`.
    unvoided: u32,
}

/// What the previous WebSocket message on a socket left behind (section 6 baseline).
#[derive(Clone, Debug)]
struct LastMessage {
    /// It was the prewarm (its request is a placeholder).
    prewarm: bool,
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
    legacy_session_headers: bool,
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
    last_message: BTreeMap<ConnId, LastMessage>,
    /// The history a `Continue` turn starts from.
    latest_history: Option<Vec<Value>>,
    /// `latest_history` before a prewarm replaced it (restored if it is skipped).
    before_prewarm: Option<Option<Vec<Value>>>,
    pending_prewarm: Option<(RequestFields, Vec<Value>)>,
    pending_history: Option<TurnHistory>,
    prewarm_spec: Option<(RequestFields, Vec<Value>)>,
    any_request: bool,
    turn_requested: BTreeSet<TurnId>,
    free_retries: BTreeSet<(RequestId, FreeRetryReason)>,
    requests: BTreeMap<RequestId, ReqInfo>,
    conns: BTreeMap<ConnId, Owner>,
    ws: BTreeMap<ConnId, WsState>,
    preconnect_conn: Option<ConnId>,
    ws_disabled_at: Option<Instant>,
    requested_delays: BTreeSet<Duration>,
    token: String,
    must_close: BTreeSet<ConnId>,
    pending: Option<Pending>,
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
                legacy_session_headers: config.legacy_session_headers,
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
            latest_history: None,
            before_prewarm: None,
            pending_prewarm: None,
            pending_history: None,
            prewarm_spec: None,
            any_request: false,
            turn_requested: BTreeSet::new(),
            free_retries: BTreeSet::new(),
            requests: BTreeMap::new(),
            conns: BTreeMap::new(),
            ws: BTreeMap::new(),
            preconnect_conn: None,
            ws_disabled_at: None,
            requested_delays: BTreeSet::new(),
            token: token.to_owned(),
            must_close: BTreeSet::new(),
            pending: None,
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
            Input::Prewarm { prefix: spec } => {
                current.preconnect = true;
                let items = spec.input.iter().map(wire::item_json).collect();
                self.pending_prewarm = Some((spec.fields.clone(), items));
            }
            Input::EndTurn { turn } => {
                let history = self.turn_history.get(turn).cloned().unwrap_or_default();
                if self.turns.contains(turn)
                    && (self.turn_requested.contains(turn) || !history.is_empty())
                {
                    self.latest_history = Some(history);
                }
                self.turns.remove(turn);
            }
            Input::StartTurn(options) => {
                current.start_turn = true;
                self.pending_history = Some(options.history);
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
                // A preconnect's handshake is no turn's: its token is never captured.
                current.head_with_token = valid && self.preconnect_conn != Some(*conn);
                if let Input::WsOpened { .. } = input {
                    current.ws_opened = true;
                    self.ws.entry(*conn).or_default().opened = true;
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
                    let completed = matches!(
                        wire::ev::kind(&json),
                        "response.completed" | "response.done"
                    );
                    if let Some(last) = self.last_message.get_mut(conn)
                        && last.prewarm
                        && !last.completed
                        && last.response_id.is_none()
                    {
                        // The prewarm's response: its id is the socket's baseline.
                        let id = json.pointer("/response/id").and_then(Value::as_str);
                        last.completed = completed && id.is_some_and(|i| !i.is_empty());
                        last.response_id = Some(id.unwrap_or("").to_owned());
                    }
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
                if self.pending_history.take() == Some(TurnHistory::Continue) {
                    let history = self.latest_history.take().unwrap_or_default();
                    self.turn_history.insert(*turn, history);
                }
                if let Some(metadata) = self.pending_metadata.take() {
                    self.turn_metadata.insert(*turn, metadata);
                }
                self.turn_history.entry(*turn).or_default();
            }
            Ok(InputAck::Applied) if self.pending_prewarm.is_some() => {
                if let Some((fields, items)) = self.pending_prewarm.take() {
                    self.before_prewarm = Some(self.latest_history.replace(items.clone()));
                    self.prewarm_spec = Some((fields, items));
                }
            }
            Ok(InputAck::RequestStarted(id)) => {
                let Some((turn, input, fields)) = self.pending_spec.take() else {
                    return;
                };
                self.turn_requested.insert(turn);
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
                        ws_conn: None,
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
        self.pending_prewarm = None;
        self.pending_history = None;
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
        self.any_request = true;
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, false);
        let carried = header_text(&record.headers, TURN_STATE);
        self.check_carried_token(carried, turn, &format!("POST of {id}"));
        let metadata = client_metadata_of(&record.body);
        if let Some(token) = metadata.get(TURN_STATE) {
            self.violate(
                Rule::TurnState,
                format!("POST of {id} carries turn state {token:?} in its body"),
            );
        }
        self.check_body_turn_metadata(&metadata, turn, &format!("POST of {id}"));
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

    /// The token a request of `turn` carried (`carried`) is exactly the turn's own:
    /// none before the turn captured one, and never another turn's.
    fn check_carried_token(&mut self, carried: Option<String>, turn: TurnId, what: &str) {
        let expected = self.expected_token(turn);
        if carried == expected {
            return;
        }
        let crossed = carried.as_ref().and_then(|token| {
            self.turn_token
                .iter()
                .find(|(other, t)| **other != turn && *t == token)
                .map(|(other, _)| *other)
        });
        let what = match crossed {
            Some(other) => format!(
                "{what} ({turn}) carries the turn state {carried:?} of {other}: a token crossed turns"
            ),
            None => {
                format!("{what} ({turn}) carries turn state {carried:?}, expected {expected:?}")
            }
        };
        self.violate(Rule::TurnState, what);
    }

    /// A body's `client_metadata` carries the turn's metadata when it fits the
    /// 2,048-character bound, and nothing under that key otherwise.
    fn check_body_turn_metadata(
        &mut self,
        metadata: &BTreeMap<String, String>,
        turn: TurnId,
        what: &str,
    ) {
        let carried = metadata.get(TURN_METADATA);
        let expected = self
            .turn_metadata
            .get(&turn)
            .filter(|m| m.chars().count() <= MAX_METADATA_CHARS);
        if carried != expected {
            self.violate(
                Rule::Wire,
                format!(
                    "{what} has client_metadata turn metadata {carried:?}, expected {expected:?}"
                ),
            );
        }
    }

    /// Authorization with the current token, the session headers, and the turn's
    /// metadata header on a `POST` (`turn` is `None` for a handshake, which carries
    /// nothing turn-scoped).
    fn check_identity(&mut self, headers: &http::HeaderMap, turn: Option<TurnId>, what: &str) {
        let auth = header_text(headers, http::header::AUTHORIZATION.as_str());
        let want = format!("Bearer {}", self.token);
        if auth.as_deref() != Some(want.as_str()) {
            self.violate(
                Rule::Wire,
                format!("{what} has the wrong Authorization header"),
            );
        }
        for name in [SESSION_ID, THREAD_ID, CLIENT_REQUEST_ID] {
            let value = header_text(headers, name);
            if value.as_deref() != Some(super::CONVERSATION_ID) {
                self.violate(Rule::Wire, format!("{what} has {name} {value:?}"));
            }
        }
        let legacy = self
            .rules
            .legacy_session_headers
            .then_some(super::CONVERSATION_ID);
        for name in [LEGACY_SESSION_ID, LEGACY_THREAD_ID] {
            let value = header_text(headers, name);
            if value.as_deref() != legacy {
                self.violate(
                    Rule::Wire,
                    format!("{what} has {name} {value:?}, expected {legacy:?}"),
                );
            }
        }
        let metadata = header_text(headers, TURN_METADATA);
        let expected = turn.and_then(|t| self.turn_metadata.get(&t).cloned());
        if metadata != expected {
            self.violate(
                Rule::Wire,
                format!("{what} carries turn metadata {metadata:?}, expected {expected:?}"),
            );
        }
    }

    /// A handshake carries nothing turn-scoped (PROTOCOL.md 3.2, rev 2): a socket may
    /// outlive the turn that opened it.
    fn check_handshake_headers(&mut self, record: &HandshakeRecord) {
        let conn = record.conn;
        for name in [TURN_STATE, TURN_METADATA] {
            if let Some(value) = header_text(&record.headers, name) {
                self.violate(
                    Rule::TurnState,
                    format!("handshake {conn} carries the turn-scoped header {name}: {value:?}"),
                );
            }
        }
        self.check_identity(&record.headers, None, &format!("handshake {conn}"));
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
        self.check_handshake_headers(record);
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
            return;
        }
        self.ws.insert(conn, WsState::default());
        let Some((turn, id)) = self.sole_running() else {
            // Several requests run: place the handshake when a message on it names
            // its request.
            self.conns.insert(conn, Owner::Unknown);
            return;
        };
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, true);
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
        if let Some(s) = self.ws.get_mut(&conn) {
            s.busy = true;
        }
        if record.generate() == Some(false) {
            return self.check_prewarm(record, &state);
        }
        if state.preconnect && !state.adopted {
            self.violate(
                Rule::Socket,
                format!("request message on {conn}, a socket in the session's slot"),
            );
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

    /// A `generate: false` message: only on the slot's socket, only before any
    /// request, with the prefix the caller gave; its response becomes the baseline.
    fn check_prewarm(&mut self, record: &WsMessageRecord, state: &WsState) {
        let conn = record.conn;
        if !state.preconnect || state.adopted {
            self.violate(
                Rule::Socket,
                format!("prewarm on {conn}, which is not in the session's slot"),
            );
        }
        if self.any_request {
            self.violate(
                Rule::Socket,
                format!("prewarm on {conn} after a request was sent"),
            );
        }
        let Some((fields, items)) = self.prewarm_spec.take() else {
            return self.violate(
                Rule::Socket,
                format!("prewarm on {conn} without a prefix from the caller"),
            );
        };
        let sent = record.json.get("input").and_then(Value::as_array);
        let model = record.json.get("model").and_then(Value::as_str);
        if sent != Some(&items) || model != Some(fields.model.as_str()) {
            self.violate(
                Rule::Wire,
                format!("prewarm on {conn} does not carry the caller's prefix"),
            );
        }
        self.last_message.insert(
            conn,
            LastMessage {
                prewarm: true,
                request: RequestId(0),
                conn,
                input: items,
                fields,
                completed: false,
                response_id: None,
                outputs: Vec::new(),
            },
        );
    }

    /// A ping: only on a socket idle in the session's slot.
    pub fn on_ping(&mut self, conn: ConnId) {
        let state = self.ws.get(&conn).cloned().unwrap_or_default();
        if !state.preconnect || state.adopted || state.busy || state.closed {
            self.violate(
                Rule::Socket,
                format!("ping on {conn}, which is not idle in the session's slot"),
            );
        }
    }

    fn check_message(&mut self, record: &WsMessageRecord, turn: TurnId, id: RequestId) {
        let conn = record.conn;
        self.any_request = true;
        self.conns.insert(conn, Owner::Request(turn, id));
        self.attempt_checks(id, true);
        self.check_message_metadata(record, turn, id);
        let Some(req) = self.requests.get(&id).cloned() else {
            return;
        };
        let expected = expected_kind(
            self.last_message.get(&conn),
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
            // The server lost the chain (the server's own check flags a bad one).
            _ if record.lost || record.chain_lost => {}
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
            prewarm: false,
            request: id,
            conn,
            input: req.intended,
            fields: req.fields,
            completed: false,
            response_id: None,
            outputs: Vec::new(),
        };
        self.last_message.insert(conn, last);
        if let Some(req) = self.requests.get_mut(&id) {
            req.ws_conn = Some(conn);
        }
    }

    /// A `response.create` carries the turn's token (when it fits the 2,048-character
    /// bound) and metadata in `client_metadata`; a `response.append` carries neither.
    fn check_message_metadata(&mut self, record: &WsMessageRecord, turn: TurnId, id: RequestId) {
        let what = format!("message of {id} on {}", record.conn);
        match record.kind {
            WsKind::Create | WsKind::Chained => {
                let carried = record.turn_state().map(str::to_owned);
                let fits = self
                    .expected_token(turn)
                    .is_none_or(|t| t.chars().count() <= MAX_METADATA_CHARS);
                if fits {
                    self.check_carried_token(carried, turn, &what);
                } else if let Some(token) = carried {
                    self.violate(
                        Rule::TurnState,
                        format!(
                            "{what} carries a token of {} characters, over the bound",
                            token.chars().count()
                        ),
                    );
                }
                let metadata = record.client_metadata.clone();
                self.check_body_turn_metadata(&metadata, turn, &what);
            }
            WsKind::Append if record.json.get("client_metadata").is_some() => {
                self.violate(
                    Rule::Wire,
                    format!("{what}: response.append carries client_metadata"),
                );
            }
            _ => {}
        }
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
                let ws_conn = req.ws_conn;
                if let Some(history) = self.turn_history.get_mut(&turn) {
                    history.extend(outputs.iter().cloned());
                }
                if let Some(last) = ws_conn.and_then(|c| self.last_message.get_mut(&c))
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
        let ws_conn = req.ws_conn;
        if !success
            && let Some(last) = ws_conn.and_then(|c| self.last_message.get_mut(&c))
            && last.request == id
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
            Telemetry::Prewarm {
                result: turnwire_protocol::session::PrewarmResult::Skipped { reason },
                ..
            } => {
                let before = self.before_prewarm.take();
                if !reason.prefix_kept()
                    && let Some(before) = before
                {
                    self.latest_history = before;
                }
                self.prewarm_spec = None;
            }
            Telemetry::FreeRetry { request, reason }
                if !self.free_retries.insert((*request, *reason)) =>
            {
                self.violate(
                    Rule::Retry,
                    format!("{request} got a second free retry for {reason:?}"),
                );
            }
            Telemetry::Preconnect {
                conn,
                result: PreconnectResult::Returned { turn },
            } => {
                match self.conns.get(conn).copied() {
                    Some(Owner::Request(owner, _)) if owner == *turn => {}
                    other => self.violate(
                        Rule::Socket,
                        format!("{turn} handed back {conn}, owned by {other:?}"),
                    ),
                }
                if self.running_in_turn(*turn).is_some() {
                    self.violate(
                        Rule::Socket,
                        format!("{turn} handed back {conn} with a request running"),
                    );
                }
                let state = self.ws.entry(*conn).or_default();
                let unfit = state.busy || state.closed;
                state.preconnect = true;
                state.adopted = false;
                if unfit {
                    self.violate(
                        Rule::Socket,
                        format!("{conn} went back to the slot busy or closed"),
                    );
                }
                self.conns.insert(*conn, Owner::Preconnect);
            }
            Telemetry::Preconnect {
                conn,
                result: PreconnectResult::Adopted { turn },
            } => {
                if !matches!(self.conns.get(conn), Some(Owner::Preconnect)) {
                    let owner = self.conns.get(conn).copied();
                    self.violate(
                        Rule::Socket,
                        format!("{turn} adopted {conn}, owned by {owner:?}, not the slot"),
                    );
                }
                if let Some(state) = self.ws.get_mut(conn) {
                    let unfit = !state.preconnect || state.adopted;
                    state.adopted = true;
                    if unfit {
                        self.violate(
                            Rule::Socket,
                            format!("{turn} adopted {conn}, which is not in the slot"),
                        );
                    }
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
        let unadopted = from_conn
            .and_then(|c| self.ws.get(&c))
            .is_some_and(|s| s.preconnect && !s.adopted);
        let from_preconnect = from_conn.is_some()
            && from_conn == self.preconnect_conn
            && (unadopted || self.input.ws_opened);
        let token = if from_preconnect || self.input.start_request || self.input.start_turn {
            // Adoption: a socket the turn did not open brings no token (section 7).
            let what = format!("{turn} captured a token from a socket it adopted");
            return self.violate(Rule::TurnState, what);
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
    if last.conn != conn || !last.completed || !last.fields.chains_with(fields) {
        return WsKind::Create;
    }
    let mut baseline = last.input.clone();
    if protocol != WsProtocol::V1 {
        baseline.extend(last.outputs.iter().cloned());
    }
    // A prewarm's baseline may be chained to with no new items (8.2).
    let longer = input.len() > baseline.len() || (last.prewarm && input.len() == baseline.len());
    let prefix = !baseline.is_empty() && longer && input[..baseline.len()] == baseline[..];
    if !prefix {
        return WsKind::Create;
    }
    match protocol {
        WsProtocol::V1 => WsKind::Append,
        _ if last.response_id.as_deref().is_some_and(|r| !r.is_empty()) => WsKind::Chained,
        _ => WsKind::Create,
    }
}

#[cfg(test)]
mod tests {
    //! The turn-state rules of the checker catch what they name, fed records a
    //! misbehaving session would produce.

    use super::*;
    use turnwire_protocol::session::{RequestSpec, TurnOptions};

    const AT: Instant = Instant::ZERO;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        super::super::server::header_map(
            &pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>(),
        )
    }

    /// The identity headers every request and handshake carries.
    fn identity(extra: &[(&str, &str)]) -> http::HeaderMap {
        let id = super::super::CONVERSATION_ID;
        let mut pairs = vec![
            ("authorization", "Bearer token-0"),
            ("session-id", id),
            ("thread-id", id),
            ("x-client-request-id", id),
        ];
        pairs.extend_from_slice(extra);
        headers(&pairs)
    }

    fn checker(websockets: bool) -> Checker {
        let config = Config {
            websockets,
            ..super::super::sim_config()
        };
        Checker::new(&config, "token-0")
    }

    /// Starts turn `turn` with request `request` (input: one user message).
    fn start(c: &mut Checker, turn: u64, request: u64) {
        c.before_input(AT, &Input::StartTurn(TurnOptions::default()));
        c.on_ack(&Ok(InputAck::TurnStarted(TurnId(turn))), false);
        let spec = RequestSpec {
            fields: RequestFields::new("m"),
            input: RequestInput::Append(wire::items([wire::user("q")])),
        };
        c.before_input(
            AT,
            &Input::StartRequest {
                turn: TurnId(turn),
                spec,
            },
        );
        c.on_ack(&Ok(InputAck::RequestStarted(RequestId(request))), false);
    }

    fn post(conn: u64, headers: http::HeaderMap) -> HttpRecord {
        HttpRecord {
            at: AT,
            step: 0,
            conn: ConnId(conn),
            method: "POST".into(),
            uri: "http://sim.invalid/v1/responses".into(),
            headers,
            body: serde_json::json!({"model": "m", "input": [wire::user("q")]}),
            compress: false,
            status: 200,
            response_headers: Vec::new(),
        }
    }

    fn turn_state_violations(c: &Checker) -> Vec<String> {
        c.violations()
            .iter()
            .filter(|v| v.rule == Rule::TurnState)
            .map(|v| v.what.clone())
            .collect()
    }

    #[test]
    fn a_handshake_carrying_turn_scoped_headers_is_a_violation() {
        let mut c = checker(true);
        start(&mut c, 1, 1);
        c.on_open_ws(&HandshakeRecord {
            at: AT,
            step: 0,
            conn: ConnId(1),
            uri: "ws://sim.invalid/v1/responses".into(),
            headers: identity(&[
                ("x-codex-turn-state", "ts-1"),
                ("x-codex-turn-metadata", "meta"),
            ]),
            status: 101,
            response_headers: Vec::new(),
        });
        let found = turn_state_violations(&c);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|v| v.contains("turn-scoped header")));
    }

    #[test]
    fn a_token_carried_into_the_next_turn_is_a_violation() {
        let mut c = checker(false);
        start(&mut c, 1, 1);
        c.on_open_http(&post(1, identity(&[])));
        c.before_input(
            AT,
            &Input::HttpResponse {
                conn: ConnId(1),
                status: 200,
                headers: headers(&[("x-codex-turn-state", "ts-1")]),
            },
        );
        c.on_telemetry(&Telemetry::TurnStateCaptured { turn: TurnId(1) });
        c.on_event(
            TurnId(1),
            RequestId(1),
            &ResponseEvent::Completed {
                response_id: "resp-1".into(),
                usage: None,
            },
        );
        c.on_close(ConnId(1));
        assert!(turn_state_violations(&c).is_empty(), "{:?}", c.violations());

        start(&mut c, 2, 2);
        c.on_open_http(&post(2, identity(&[("x-codex-turn-state", "ts-1")])));
        let found = turn_state_violations(&c);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("a token crossed turns"), "{found:?}");
    }
}
