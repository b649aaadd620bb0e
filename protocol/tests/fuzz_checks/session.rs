//! The `session` target: an arbitrary input script fed to a [`Session`] with an
//! arbitrary but valid configuration, checked after every input.
//!
//! Input layout: a configuration header (see [`config`]), then steps of one time byte
//! (see [`time`]), one operation byte (see [`op`]) and the operation's arguments.
//! Transport results name connections the session opened (most recent first), or
//! stale and bogus ones; the same for turns and requests.
//!
//! Checked after every input, from the outside:
//! - `handle_input` does not panic; a refused input (`Err`) queues no output,
//!   changes no request and leaves `poll_timeout` as it was;
//! - the outputs one input queues stay below a generous function of the input's size
//!   and the number of running requests;
//! - after the drain, `poll_timeout` is never before the latest `now` of an accepted
//!   input, and a timeout at one instant does not ask for another at that instant
//!   again and again;
//! - every caller event and failure belongs to a started request of the same turn,
//!   no request has two terminal outcomes and nothing follows its terminal one, and
//!   `running_requests` is the number started minus the number ended;
//! - connections: each opened once with a fresh id, closed by the session at most
//!   once; a message is sent only on a WebSocket the driver reported open and did not
//!   report closed, and on a socket in the session's slot only after a turn adopted
//!   it (the prewarm, `"generate": false`, excepted); each message is a JSON object
//!   of a request type; a frame on a WebSocket whose handshake the driver never
//!   reported complete is refused or ignored; pings go only to sockets in the slot;
//! - a socket is owned by at most one turn or the slot: a turn adopts only a socket
//!   the slot holds, and only a socket a turn owns goes back to the slot;
//! - a free retry (stale socket, lost chain) happens at most once per request each;
//! - credentials never show in the `Debug` or `Display` text of any output.
//!
//! At the end of the script the harness lets time run to every deadline until the
//! session is idle (which must happen within a bound, since retries are bounded); a
//! request still running then must be waiting for an auth refresh the session asked
//! for; the refresh is failed, every turn is ended, and every request that started
//! must have ended exactly once.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use core::time::Duration;
use serde_json::{Value, json};
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::limits::Limits;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::secret::Secret;
use turnwire_protocol::session::{
    ConnId, FreeRetryReason, Input, InputAck, Output, PreconnectResult, PrewarmSpec, RequestId,
    RequestInput, RequestSpec, Session, SessionParams, Telemetry, TurnHistory, TurnId, TurnOptions,
};
use turnwire_protocol::{Credentials, Instant, Now, UnixTime};

use super::make;
use super::reader::Reader;

/// The token every script starts with; no output may show it (or any refreshed token,
/// which starts with it too).
pub(crate) const SECRET: &str = "sk-fuzz-secret";

/// Time never goes past this (about 146 years): far from the end of the clock, where
/// deadlines would saturate and time could not advance.
const MAX_INSTANT: u64 = 1 << 62;

/// The operation byte of a step (taken modulo [`op::COUNT`]).
pub(crate) mod op {
    /// `Input::Preconnect`.
    pub(crate) const PRECONNECT: u8 = 0;
    /// `Input::StartTurn`; then a metadata choice byte.
    pub(crate) const START_TURN: u8 = 1;
    /// `Input::StartRequest`; then a turn selector and a request spec.
    pub(crate) const START_REQUEST: u8 = 2;
    /// `Input::CancelRequest`; then a request selector.
    pub(crate) const CANCEL: u8 = 3;
    /// `Input::EndTurn`; then a turn selector.
    pub(crate) const END_TURN: u8 = 4;
    /// `Input::HttpResponse`; then a connection selector, a status and headers.
    pub(crate) const HTTP_RESPONSE: u8 = 5;
    /// `Input::HttpBody` with generated SSE events.
    pub(crate) const HTTP_EVENTS: u8 = 6;
    /// `Input::HttpBody` with raw bytes.
    pub(crate) const HTTP_BODY_RAW: u8 = 7;
    /// `Input::HttpEnd`.
    pub(crate) const HTTP_END: u8 = 8;
    /// `Input::WsOpened`; then a connection selector and headers.
    pub(crate) const WS_OPENED: u8 = 9;
    /// `Input::WsRefused`; then a connection, a status, headers and a body.
    pub(crate) const WS_REFUSED: u8 = 10;
    /// `Input::WsText` with a generated event.
    pub(crate) const WS_EVENT: u8 = 11;
    /// `Input::WsText` with raw text.
    pub(crate) const WS_TEXT_RAW: u8 = 12;
    /// `Input::WsBinary`.
    pub(crate) const WS_BINARY: u8 = 13;
    /// `Input::WsActivity`.
    pub(crate) const WS_ACTIVITY: u8 = 14;
    /// `Input::WsClosed`.
    pub(crate) const WS_CLOSED: u8 = 15;
    /// `Input::TransportError`.
    pub(crate) const TRANSPORT_ERROR: u8 = 16;
    /// `Input::SendFailed`.
    pub(crate) const SEND_FAILED: u8 = 17;
    /// `Input::AuthRefreshed`; then a token choice byte.
    pub(crate) const AUTH_REFRESHED: u8 = 18;
    /// `Input::AuthRefreshFailed`.
    pub(crate) const AUTH_FAILED: u8 = 19;
    /// `Input::Timeout`.
    pub(crate) const TIMEOUT: u8 = 20;
    /// No input: the wall clock jumps (eight bytes of milliseconds follow).
    pub(crate) const WALL_CLOCK: u8 = 21;
    /// A 200 head with headers, then a body with `created` and `completed`.
    pub(crate) const HTTP_OK_STREAM: u8 = 22;
    /// WebSocket `created` then `completed` frames.
    pub(crate) const WS_OK_STREAM: u8 = 23;
    /// `Input::Prewarm`; then a request spec (its items are the prefix).
    pub(crate) const PREWARM: u8 = 24;
    /// A WebSocket `error` frame (or `response.failed`) with code
    /// `previous_response_not_found`; then a connection selector and a shape byte.
    pub(crate) const WS_CHAIN_LOST: u8 = 25;
    /// Number of operations.
    pub(crate) const COUNT: u8 = 26;
}

/// The time byte of a step.
pub(crate) mod time {
    /// Same instant as the previous step (any byte up to 99).
    pub(crate) const SAME: u8 = 0;
    /// `MS_1 + n - 1` advances by `n` milliseconds, `n` in 1..=64.
    pub(crate) const MS_1: u8 = 100;
    /// `QUARTER_1 + n - 1` advances by `n` quarter seconds, `n` in 1..=32.
    pub(crate) const QUARTER_1: u8 = 164;
    /// Jump to the session's next deadline.
    pub(crate) const TO_DEADLINE: u8 = 196;
    /// One nanosecond before the next deadline (a spurious timeout).
    pub(crate) const BEFORE_DEADLINE: u8 = 220;
    /// `AFTER_DEADLINE + n` is `n` seconds past the deadline, `n` in 0..=5.
    pub(crate) const AFTER_DEADLINE: u8 = 226;
    /// `EARLIER_1 + n - 1` passes an instant `10·n` ms in the past, `n` in 1..=8.
    pub(crate) const EARLIER_1: u8 = 232;
    /// `MINUTE_1 + n - 1` advances by `n` minutes, `n` in 1..=8.
    pub(crate) const MINUTE_1: u8 = 240;
    /// Advances by four bytes of milliseconds.
    pub(crate) const ARBITRARY: u8 = 248;
}

/// What a script run did, for tests that check a seed reaches what it was written for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Requests that ended with `Completed`.
    pub(crate) completed: usize,
    /// Requests that ended with `Incomplete`.
    pub(crate) incomplete: usize,
    /// Requests that ended with a failure (the final clean-up included).
    pub(crate) failed: usize,
    /// `FallbackActivated` events.
    pub(crate) fallbacks: usize,
    /// `Reconnecting` events.
    pub(crate) reconnects: usize,
    /// `OpenHttp` outputs.
    pub(crate) http_opens: usize,
    /// `OpenWs` outputs.
    pub(crate) ws_opens: usize,
    /// `SendWs` outputs.
    pub(crate) ws_sends: usize,
    /// `RefreshAuth` outputs.
    pub(crate) refreshes: usize,
    /// Inputs `handle_input` refused.
    pub(crate) refused: usize,
}

/// A configuration and the session parameters from the header bytes.
///
/// Byte 0: bit 0 websockets, bit 1 v1 (else v2), bits 2–3 preconnect (`None`,
/// `Some(false)`, `Some(true)`, `None`), bit 4 `retry_after_partial_output`, bit 5 timing
/// metrics, bit 6 compression, bit 7 refreshable auth. Byte 1: bits 0–1 request retries,
/// bits 2–3 stream retries, bits 4–5 fallback cooldown (none, or 2·n s), bits 6–7 limits
/// (0 default; else six more bytes; 2 keeps the default output queue). Bytes 2–7:
/// idle timeout (1 + 50·b ms), connect timeout (same), base delay (1 + b ms), max
/// backoff (20·b ms), max retry-after (100·b ms), preconnect max idle (1 + 500·b ms).
/// Byte 8: bits 0–1 conversation id (`conv-fuzz`, empty, invalid as a header, long),
/// bit 2 an account id, bit 3 an invalid one. Then the jitter seed (eight bytes).
pub(crate) fn config(r: &mut Reader<'_>) -> SessionParams {
    let flags = r.u8();
    let budget = r.u8();
    let ms = |b: u8, scale: u64, plus: u64| Duration::from_millis(plus + u64::from(b) * scale);
    let mut config = Config::new("https://api.test/v1");
    config.websockets = flags & 1 != 0;
    config.ws_protocol = if flags & 2 != 0 {
        WsProtocol::V1
    } else {
        WsProtocol::V2
    };
    config.preconnect = match (flags >> 2) & 3 {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    };
    config.retry_after_partial_output = flags & 16 != 0;
    config.include_timing_metrics = flags & 32 != 0;
    config.request_compression = flags & 64 != 0;
    let auth_refreshable = flags & 128 != 0;
    config.request_max_retries = u32::from(budget & 3);
    config.stream_max_retries = u32::from((budget >> 2) & 3);
    config.fallback_cooldown = match (budget >> 4) & 3 {
        0 => None,
        n => Some(Duration::from_secs(2 * u64::from(n))),
    };
    config.stream_idle_timeout = ms(r.u8(), 50, 1);
    config.connect_timeout = ms(r.u8(), 50, 1);
    config.retry_base_delay = ms(r.u8(), 1, 1);
    config.max_backoff = ms(r.u8(), 20, 0);
    config.max_retry_after = ms(r.u8(), 100, 0);
    config.preconnect_max_idle = ms(r.u8(), 500, 1);
    let who = r.u8();
    let conversation_id = match who & 3 {
        0 => "conv-fuzz".to_owned(),
        1 => String::new(),
        2 => "conv\r\nbad".to_owned(),
        _ => "c".repeat(300),
    };
    let account_id = match (who >> 2) & 3 {
        1 => Some("acct-1".to_owned()),
        2 => Some("acct\n".to_owned()),
        _ => None,
    };
    let seed = r.u64();
    let preset = budget >> 6;
    if preset != 0 {
        let mut limits = Limits {
            sse_line: 1 + 8 * usize::from(r.u8()),
            sse_event_data: 1 + 8 * usize::from(r.u8()),
            ws_message: 1 + 8 * usize::from(r.u8()),
            header_value: 1 + usize::from(r.u8() / 4),
            error_body: 1 + usize::from(r.u8()),
            queued_outputs: 1 + usize::from(r.u8()),
        };
        if preset == 2 {
            limits.queued_outputs = Limits::default().queued_outputs;
        }
        config.limits = limits;
    }
    SessionParams {
        config,
        credentials: Credentials {
            token: Secret::new(format!("{SECRET}-0")),
            account_id,
        },
        auth_refreshable,
        conversation_id,
        seed,
    }
}

/// What the harness needs to remember about an input after handing it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Preconnect,
    EndTurn(TurnId),
    WsOpened(ConnId),
    /// The driver reports the WebSocket gone (closed, failed, refused).
    WsGone(ConnId),
    /// A frame or ping on a WebSocket.
    Frame(ConnId),
    AuthAnswer,
    Timeout,
    Other,
}

fn kind_of(input: &Input) -> Kind {
    match input {
        Input::Preconnect | Input::Prewarm { .. } => Kind::Preconnect,
        Input::EndTurn { turn } => Kind::EndTurn(*turn),
        Input::WsOpened { conn, .. } => Kind::WsOpened(*conn),
        Input::WsRefused { conn, .. }
        | Input::WsClosed { conn, .. }
        | Input::TransportError { conn, .. }
        | Input::HttpStale { conn, .. }
        | Input::SendFailed { conn, .. } => Kind::WsGone(*conn),
        Input::WsText { conn, .. } | Input::WsBinary { conn, .. } | Input::WsActivity { conn } => {
            Kind::Frame(*conn)
        }
        Input::AuthRefreshed { .. } | Input::AuthRefreshFailed { .. } => Kind::AuthAnswer,
        Input::Timeout => Kind::Timeout,
        _ => Kind::Other,
    }
}

/// A started request as the harness saw it.
#[derive(Clone, Copy, Debug)]
struct Started {
    turn: TurnId,
    ended: bool,
}

/// The session under test and everything the checks remember about it.
struct Harness {
    session: Session,
    /// The latest instant fed (the session's own notion of now).
    now: Instant,
    /// Wall clock at instant zero, in milliseconds.
    unix_base: u64,
    conns: Vec<ConnId>,
    turns: Vec<TurnId>,
    requests: Vec<RequestId>,
    live_turns: BTreeSet<TurnId>,
    started: BTreeMap<RequestId, Started>,
    ended: usize,
    opened: BTreeSet<ConnId>,
    closed: BTreeSet<ConnId>,
    ws_conns: BTreeSet<ConnId>,
    ws_open: BTreeSet<ConnId>,
    ws_gone: BTreeSet<ConnId>,
    preconnect_conns: BTreeSet<ConnId>,
    adopted: BTreeSet<ConnId>,
    /// Free retries seen, per request and reason.
    free_retries: BTreeSet<(RequestId, FreeRetryReason)>,
    refresh_outstanding: bool,
    /// Consecutive timeouts at one instant that left a deadline due at that instant.
    due_again: (Instant, u32),
    check_secret: bool,
    summary: Summary,
    /// The turn of the `StartRequest` being applied, until its ack.
    pending_turn: Option<TurnId>,
    /// Print every input and output (for `scripts/fuzz.sh trace`).
    trace: bool,
}

impl Harness {
    fn new(params: SessionParams, check_secret: bool) -> Self {
        let session = Session::new(params).expect("the harness builds valid configurations");
        Harness {
            session,
            now: Instant::ZERO,
            unix_base: 1_700_000_000_000,
            conns: Vec::new(),
            turns: Vec::new(),
            requests: Vec::new(),
            live_turns: BTreeSet::new(),
            started: BTreeMap::new(),
            ended: 0,
            opened: BTreeSet::new(),
            closed: BTreeSet::new(),
            ws_conns: BTreeSet::new(),
            ws_open: BTreeSet::new(),
            ws_gone: BTreeSet::new(),
            preconnect_conns: BTreeSet::new(),
            adopted: BTreeSet::new(),
            free_retries: BTreeSet::new(),
            refresh_outstanding: false,
            due_again: (Instant::ZERO, 0),
            check_secret,
            summary: Summary::default(),
            pending_turn: None,
            trace: false,
        }
    }

    fn running(&self) -> usize {
        self.started.len() - self.ended
    }

    /// Feeds one input at `at` and checks everything that can be checked after it.
    /// `size` is how many script bytes produced it (for the output bound).
    fn apply(&mut self, at: Instant, input: Input, size: usize) {
        let unix = UnixTime::from_millis(self.unix_base.saturating_add(at.as_nanos() / 1_000_000));
        let kind = kind_of(&input);
        if self.trace {
            trace_line(format!(
                "{:>8.3}ms  in  {input:?}",
                at.as_nanos() as f64 / 1e6
            ));
        }
        let running_before = self.running();
        let timeout_before = self.session.poll_timeout();
        let result = self.session.handle_input(Now::new(at, unix), input);
        match result {
            Err(err) => {
                self.summary.refused += 1;
                if let Some(output) = self.session.poll_output() {
                    panic!("refused input ({err}) queued {output:?}");
                }
                assert_eq!(
                    self.session.running_requests(),
                    running_before,
                    "a refused input ({err}) changed the running requests"
                );
                assert_eq!(
                    self.session.poll_timeout(),
                    timeout_before,
                    "a refused input ({err}) moved poll_timeout"
                );
            }
            Ok(ack) => {
                // A refused input does not move the session's clock; an accepted one does.
                self.now = self.now.max(at);
                if self.trace {
                    trace_line(format!("             ack {ack:?}"));
                }
                self.acknowledged(ack, kind)
            }
        }
        let mut count = 0;
        while let Some(output) = self.session.poll_output() {
            count += 1;
            if self.trace {
                trace_line(format!("             out {output:?}"));
            }
            self.observe(&output, kind);
        }
        if let Kind::Frame(conn) = kind
            && self.ws_conns.contains(&conn)
            && !self.ws_open.contains(&conn)
        {
            assert_eq!(
                count, 0,
                "a frame on {conn}, whose handshake never completed, was acted on"
            );
        }
        let bound = 64 + 32 * (running_before + 1) + 2 * size;
        assert!(
            count <= bound,
            "one input queued {count} outputs (bound {bound})"
        );
        self.after_drain(kind);
    }

    fn acknowledged(&mut self, ack: InputAck, kind: Kind) {
        match ack {
            InputAck::TurnStarted(turn) => {
                assert!(self.live_turns.insert(turn), "{turn} handed out twice");
                self.turns.push(turn);
            }
            InputAck::RequestStarted(request) => {
                let turn = self.pending_turn.take().expect("a StartRequest input");
                let fresh = self
                    .started
                    .insert(request, Started { turn, ended: false })
                    .is_none();
                assert!(fresh, "{request} handed out twice");
                self.requests.push(request);
            }
            _ => {}
        }
        match kind {
            Kind::EndTurn(turn) => {
                self.live_turns.remove(&turn);
            }
            // Only for connections the session opened: a bogus id may be handed out
            // later, and what the driver said about it before then says nothing.
            Kind::WsOpened(conn) if self.opened.contains(&conn) => {
                self.ws_open.insert(conn);
            }
            Kind::WsGone(conn) if self.opened.contains(&conn) => {
                self.ws_gone.insert(conn);
            }
            Kind::AuthAnswer => self.refresh_outstanding = false,
            _ => {}
        }
    }

    fn observe(&mut self, output: &Output, kind: Kind) {
        match output {
            Output::OpenHttp(open) => {
                self.summary.http_opens += 1;
                self.open(open.conn);
            }
            Output::OpenWs(open) => {
                self.summary.ws_opens += 1;
                self.open(open.conn);
                self.ws_conns.insert(open.conn);
                if kind == Kind::Preconnect {
                    self.preconnect_conns.insert(open.conn);
                }
            }
            Output::SendWs { conn, text } => {
                self.summary.ws_sends += 1;
                self.check_send(*conn, text);
            }
            Output::Close { conn, .. } => {
                assert!(self.opened.contains(conn), "close of unknown {conn}");
                assert!(self.closed.insert(*conn), "{conn} closed twice");
            }
            Output::RefreshAuth => {
                self.summary.refreshes += 1;
                self.refresh_outstanding = true;
            }
            Output::Event {
                turn,
                request,
                event,
            } => {
                match event {
                    ResponseEvent::FallbackActivated { .. } => self.summary.fallbacks += 1,
                    ResponseEvent::Reconnecting { .. } => self.summary.reconnects += 1,
                    ResponseEvent::Completed { .. } => self.summary.completed += 1,
                    ResponseEvent::Incomplete { .. } => self.summary.incomplete += 1,
                    _ => {}
                }
                self.request_output(*turn, *request, output.is_terminal());
            }
            Output::Failed {
                turn,
                request,
                error,
            } => {
                self.summary.failed += 1;
                assert!(output.is_terminal(), "Failed is terminal");
                if self.check_secret {
                    assert!(!error.to_string().contains(SECRET), "secret in {error}");
                }
                self.request_output(*turn, *request, true);
            }
            Output::Telemetry(Telemetry::Preconnect {
                conn,
                result: PreconnectResult::Adopted { turn },
            }) => {
                assert!(
                    self.preconnect_conns.contains(conn) && !self.adopted.contains(conn),
                    "{turn} adopted {conn}, which the slot does not hold"
                );
                self.adopted.insert(*conn);
            }
            Output::Telemetry(Telemetry::Preconnect {
                conn,
                result: PreconnectResult::Returned { turn },
            }) => {
                assert!(
                    !self.preconnect_conns.contains(conn) || self.adopted.contains(conn),
                    "{turn} handed back {conn}, which was in the slot already"
                );
                assert!(
                    self.ws_open.contains(conn),
                    "{turn} handed back unopened {conn}"
                );
                self.preconnect_conns.insert(*conn);
                self.adopted.remove(conn);
            }
            Output::Telemetry(Telemetry::FreeRetry { request, reason }) => {
                assert!(
                    self.free_retries.insert((*request, *reason)),
                    "{request} got a second free retry for {reason:?}"
                );
            }
            Output::Ping { conn } => {
                assert!(
                    self.preconnect_conns.contains(conn) && !self.adopted.contains(conn),
                    "ping on {conn}, which is not in the slot"
                );
                assert!(!self.closed.contains(conn), "ping on closed {conn}");
            }
            _ => {}
        }
        if self.check_secret {
            assert_no_secret(output);
        }
    }

    fn open(&mut self, conn: ConnId) {
        assert!(self.opened.insert(conn), "{conn} opened twice");
        self.conns.push(conn);
    }

    fn check_send(&self, conn: ConnId, text: &str) {
        assert!(
            self.ws_conns.contains(&conn),
            "message on non-WebSocket {conn}"
        );
        assert!(
            self.ws_open.contains(&conn),
            "message on {conn} before it opened"
        );
        assert!(
            !self.ws_gone.contains(&conn),
            "message on {conn} after it ended"
        );
        assert!(
            !self.closed.contains(&conn),
            "message on {conn} after closing it"
        );
        let message: Value = serde_json::from_str(text).expect("messages are JSON");
        let prewarm = message.get("generate") == Some(&Value::Bool(false));
        assert!(
            prewarm || !self.preconnect_conns.contains(&conn) || self.adopted.contains(&conn),
            "request message on {conn}, a socket in the session's slot"
        );
        assert!(
            !prewarm || (self.preconnect_conns.contains(&conn) && !self.adopted.contains(&conn)),
            "prewarm on {conn}, which is not in the session's slot"
        );
        let kind = message.get("type").and_then(Value::as_str);
        assert!(
            matches!(kind, Some("response.create" | "response.append")),
            "message of type {kind:?}"
        );
    }

    fn request_output(&mut self, turn: TurnId, request: RequestId, terminal: bool) {
        let Some(entry) = self.started.get_mut(&request) else {
            panic!("output for {request}, which never started");
        };
        assert_eq!(entry.turn, turn, "{request} reported under another turn");
        assert!(
            !entry.ended,
            "output for {request} after its terminal outcome"
        );
        if terminal {
            entry.ended = true;
            self.ended += 1;
        }
    }

    fn after_drain(&mut self, kind: Kind) {
        let deadline = self.session.poll_timeout();
        if let Some(at) = deadline {
            assert!(
                at >= self.now,
                "poll_timeout {at:?} before now {:?}",
                self.now
            );
        }
        assert_eq!(
            self.session.running_requests(),
            self.running(),
            "running_requests disagrees with the terminal outcomes seen"
        );
        if kind == Kind::Timeout && deadline.is_some_and(|at| at <= self.now) {
            let (instant, count) = self.due_again;
            self.due_again = if instant == self.now {
                (instant, count + 1)
            } else {
                (self.now, 1)
            };
            assert!(
                self.due_again.1 <= 3,
                "timeouts at {:?} keep asking for another at the same instant",
                self.now
            );
        }
    }
}

/// Input choices that depend on what the session handed out so far.
impl Harness {
    /// The instant of the next step, from its time byte (see [`time`]).
    fn step_time(&self, r: &mut Reader<'_>) -> Instant {
        let t = r.u8();
        let base = self.now;
        let deadline = self.session.poll_timeout().map(|d| d.max(base));
        let ms = |n: u64| base.saturating_add(Duration::from_millis(n));
        let at = match t {
            0..=99 => base,
            100..=163 => ms(u64::from(t - 99)),
            164..=195 => ms(250 * u64::from(t - 163)),
            196..=219 => deadline.unwrap_or(base),
            220..=225 => deadline.map_or(base, |d| {
                Instant::from_nanos(d.as_nanos().saturating_sub(1)).max(base)
            }),
            226..=231 => deadline
                .unwrap_or(base)
                .saturating_add(Duration::from_secs(u64::from(t - 226))),
            232..=239 => Instant::from_nanos(
                base.as_nanos()
                    .saturating_sub(10_000_000 * u64::from(t - 231)),
            ),
            240..=247 => ms(60_000 * u64::from(t - 239)),
            _ => ms(u64::from(r.u32())),
        };
        Instant::from_nanos(at.as_nanos().min(MAX_INSTANT))
    }

    /// A connection: one of the last four opened (most recent first), any opened one,
    /// or a bogus id.
    fn conn(&self, r: &mut Reader<'_>) -> ConnId {
        let k = r.u8();
        let n = self.conns.len();
        match k {
            _ if n == 0 => ConnId(u64::from(k)),
            0..=199 => self.conns[n - 1 - (usize::from(k) % 4).min(n - 1)],
            200..=239 => self.conns[r.below(n)],
            240..=247 => ConnId(0),
            _ => ConnId(r.u64()),
        }
    }

    /// A turn, chosen like [`Harness::conn`].
    fn turn(&self, r: &mut Reader<'_>) -> TurnId {
        let k = r.u8();
        let n = self.turns.len();
        match k {
            _ if n == 0 => TurnId(u64::from(k)),
            0..=199 => self.turns[n - 1 - (usize::from(k) % 4).min(n - 1)],
            200..=239 => self.turns[r.below(n)],
            _ => TurnId(r.u64()),
        }
    }

    /// A request, chosen like [`Harness::conn`].
    fn request(&self, r: &mut Reader<'_>) -> RequestId {
        let k = r.u8();
        let n = self.requests.len();
        match k {
            _ if n == 0 => RequestId(u64::from(k)),
            0..=199 => self.requests[n - 1 - (usize::from(k) % 4).min(n - 1)],
            200..=239 => self.requests[r.below(n)],
            _ => RequestId(r.u64()),
        }
    }

    /// Runs one step; false when the script is over.
    fn step(&mut self, r: &mut Reader<'_>) -> bool {
        if r.is_empty() {
            return false;
        }
        let before = r.clone();
        let at = self.step_time(r);
        let operation = r.u8() % op::COUNT;
        // The bytes this step uses, measured after the fact (the bound is generous).
        let size = |r: &Reader<'_>| before.remaining() - r.remaining();
        match operation {
            op::PRECONNECT => self.apply(at, Input::Preconnect, size(r)),
            op::START_TURN => {
                let choice = r.u8();
                let metadata = match choice {
                    0..=127 => None,
                    128..=191 => Some("meta-1".to_owned()),
                    _ => Some(r.string(64)),
                };
                // Odd choices below 128 continue the previous turn's history.
                let history = if choice < 128 && choice & 1 == 1 {
                    TurnHistory::Continue
                } else {
                    TurnHistory::Fresh
                };
                let options = TurnOptions { metadata, history };
                self.apply(at, Input::StartTurn(options), size(r));
            }
            op::PREWARM => {
                let RequestSpec { fields, input } = spec(r);
                let input = match input {
                    RequestInput::Append(items) | RequestInput::Replace(items) => items,
                    _ => Vec::new(),
                };
                let input = Input::Prewarm {
                    prefix: PrewarmSpec { fields, input },
                };
                self.apply(at, input, size(r));
            }
            op::WS_CHAIN_LOST => {
                let conn = self.conn(r);
                let text = if r.u8() & 1 == 0 {
                    json!({"type":"error","status":400,"error":{
                        "type":"invalid_request_error","code":"previous_response_not_found",
                        "message":"Previous response with id 'resp_1' not found."}})
                } else {
                    json!({"type":"response.failed","response":{"id":"resp_x","error":{
                        "code":"previous_response_not_found","message":"not found"}}})
                }
                .to_string();
                let size = size(r) + text.len();
                self.apply(at, Input::WsText { conn, text }, size);
            }
            op::START_REQUEST => {
                let turn = self.turn(r);
                let spec = spec(r);
                self.pending_turn = Some(turn);
                self.apply(at, Input::StartRequest { turn, spec }, size(r));
                self.pending_turn = None;
            }
            op::CANCEL => {
                let request = self.request(r);
                self.apply(at, Input::CancelRequest { request }, size(r));
            }
            op::END_TURN => {
                let turn = self.turn(r);
                self.apply(at, Input::EndTurn { turn }, size(r));
            }
            op::HTTP_RESPONSE => {
                let conn = self.conn(r);
                let status = make::status(r);
                let headers = make::headers(r);
                let input = Input::HttpResponse {
                    conn,
                    status,
                    headers,
                };
                self.apply(at, input, size(r));
            }
            op::HTTP_EVENTS => {
                let conn = self.conn(r);
                let mut body = Vec::new();
                if r.u8() == 0 {
                    body.extend_from_slice(b"\xEF\xBB\xBF");
                }
                for _ in 0..1 + r.below(4) {
                    let event = make::event_text(r);
                    body.extend(make::sse_block(r, &event));
                }
                let cut = if r.bool() {
                    r.below(body.len() + 1)
                } else {
                    body.len()
                };
                let size = size(r) + body.len();
                let (head, tail) = body.split_at(cut);
                for part in [head, tail].into_iter().filter(|p| !p.is_empty()) {
                    let data = Bytes::copy_from_slice(part);
                    self.apply(at, Input::HttpBody { conn, data }, size);
                }
            }
            op::HTTP_BODY_RAW => {
                let conn = self.conn(r);
                let data = Bytes::copy_from_slice(r.bytes(4096));
                self.apply(at, Input::HttpBody { conn, data }, size(r));
            }
            op::HTTP_END => {
                let conn = self.conn(r);
                self.apply(at, Input::HttpEnd { conn }, size(r));
            }
            op::WS_OPENED => {
                let conn = self.conn(r);
                let headers = make::headers(r);
                self.apply(at, Input::WsOpened { conn, headers }, size(r));
            }
            op::WS_REFUSED => {
                let conn = self.conn(r);
                let status = make::status(r);
                let headers = make::headers(r);
                let body = Bytes::copy_from_slice(r.bytes(512));
                let input = Input::WsRefused {
                    conn,
                    status,
                    headers,
                    body,
                };
                self.apply(at, input, size(r));
            }
            op::WS_EVENT => {
                let conn = self.conn(r);
                let text = make::event_text(r);
                let size = size(r) + text.len();
                self.apply(at, Input::WsText { conn, text }, size);
            }
            op::WS_TEXT_RAW => {
                let conn = self.conn(r);
                let text = r.string(4096);
                self.apply(at, Input::WsText { conn, text }, size(r));
            }
            op::WS_BINARY => {
                let conn = self.conn(r);
                let len = match r.u8() {
                    0..=199 => usize::from(r.u8()),
                    _ => r.u64() as usize,
                };
                self.apply(at, Input::WsBinary { conn, len }, size(r));
            }
            op::WS_ACTIVITY => {
                let conn = self.conn(r);
                self.apply(at, Input::WsActivity { conn }, size(r));
            }
            op::WS_CLOSED => {
                let conn = self.conn(r);
                let code = r.bool().then(|| r.u16());
                let reason = make::text(r, &["", "bye", "going away"]);
                self.apply(at, Input::WsClosed { conn, code, reason }, size(r));
            }
            op::TRANSPORT_ERROR => {
                let conn = self.conn(r);
                let message = make::text(r, &["connection reset", "tls: bad record"]);
                self.apply(at, Input::TransportError { conn, message }, size(r));
            }
            op::SEND_FAILED => {
                let conn = self.conn(r);
                let message = make::text(r, &["broken pipe"]);
                self.apply(at, Input::SendFailed { conn, message }, size(r));
            }
            op::AUTH_REFRESHED => {
                let choice = r.u8();
                let token = match choice {
                    0..=199 => format!("{SECRET}-{choice}"),
                    _ => format!("{SECRET}\n-invalid"),
                };
                let credentials = Credentials {
                    token: Secret::new(token),
                    account_id: choice.is_multiple_of(3).then(|| "acct-2".to_owned()),
                };
                self.apply(at, Input::AuthRefreshed { credentials }, size(r));
            }
            op::AUTH_FAILED => {
                let message = make::text(r, &["refresh token expired"]);
                self.apply(at, Input::AuthRefreshFailed { message }, size(r));
            }
            op::TIMEOUT => self.apply(at, Input::Timeout, size(r)),
            op::WALL_CLOCK => {
                self.unix_base = r.u64();
            }
            op::HTTP_OK_STREAM => {
                let conn = self.conn(r);
                let headers = make::headers(r);
                let size = size(r) + 256;
                let input = Input::HttpResponse {
                    conn,
                    status: 200,
                    headers,
                };
                self.apply(at, input, size);
                let body = concat!(
                    "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n",
                    "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\",",
                    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0}\n\n",
                    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\"}}\n\n",
                );
                let data = Bytes::from_static(body.as_bytes());
                self.apply(at, Input::HttpBody { conn, data }, size);
            }
            _ => {
                let conn = self.conn(r);
                let size = size(r) + 256;
                for text in [
                    json!({"type":"response.created","response":{"id":"resp_1"}}),
                    json!({"type":"response.output_item.done","output_index":0,
                           "item":{"type":"message","role":"assistant","id":"msg_1",
                                   "content":[{"type":"output_text","text":"Hi"}]}}),
                    json!({"type":"response.completed","response":{"id":"resp_1"}}),
                ] {
                    let text = text.to_string();
                    self.apply(at, Input::WsText { conn, text }, size);
                }
            }
        }
        true
    }

    /// Runs time forward to every deadline until the session is idle.
    fn settle(&mut self) {
        let cap = 200 + 64 * self.running();
        for _ in 0..cap {
            let Some(deadline) = self.session.poll_timeout() else {
                return;
            };
            self.apply(deadline.max(self.now), Input::Timeout, 0);
        }
        panic!(
            "the session is not idle after {cap} timeouts ({} requests running, next deadline {:?})",
            self.running(),
            self.session.poll_timeout()
        );
    }

    /// Ends the script: settle, fail an outstanding refresh, end every turn, and check
    /// that every request ended exactly once.
    fn finish(&mut self) {
        self.settle();
        if self.running() > 0 {
            assert!(
                self.refresh_outstanding,
                "{} requests are running with no deadline and no auth refresh asked for",
                self.running()
            );
            let message = "harness: refresh failed".to_owned();
            self.apply(self.now, Input::AuthRefreshFailed { message }, 0);
            self.settle();
        }
        for turn in self.live_turns.clone() {
            self.apply(self.now, Input::EndTurn { turn }, 0);
        }
        assert_eq!(self.session.running_requests(), 0, "requests left running");
        let open: Vec<_> = self
            .started
            .iter()
            .filter(|(_, s)| !s.ended)
            .map(|(id, _)| *id)
            .collect();
        assert!(open.is_empty(), "no terminal outcome for {open:?}");
        if self.check_secret {
            let text = format!("{:?}", self.session);
            assert!(
                !text.contains(SECRET),
                "credentials in the session's Debug text"
            );
        }
    }
}

/// Credentials never show in an output's `Debug` text. For the connections, whose
/// `Debug` text is long, the same is checked directly: the `Authorization` value is
/// marked sensitive (so `Debug` hides it) and no other header value or body holds it.
fn assert_no_secret(output: &Output) {
    let holds = |bytes: &[u8]| bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    let headers = |map: &http::HeaderMap| {
        for (name, value) in map {
            if name == http::header::AUTHORIZATION {
                assert!(value.is_sensitive(), "Authorization not marked sensitive");
            } else {
                assert!(!holds(value.as_bytes()), "credentials in header {name}");
            }
        }
    };
    match output {
        Output::OpenHttp(open) => {
            headers(open.request.headers());
            assert!(!holds(open.request.body()), "credentials in a request body");
        }
        Output::OpenWs(open) => headers(open.request.headers()),
        Output::SendWs { text, .. } => assert!(!holds(text.as_bytes()), "credentials sent"),
        other => {
            let text = format!("{other:?}");
            assert!(!text.contains(SECRET), "credentials in an output: {text}");
        }
    }
}

/// An input item.
fn item(r: &mut Reader<'_>) -> ResponseItem {
    match r.u8() % 6 {
        0 | 1 => ResponseItem::user_text(make::text(r, &["hi", "again", "𝄞"])),
        2 => ResponseItem::assistant_text("ok"),
        3 => ResponseItem::function_call_output("call_1", "4"),
        4 => ResponseItem::from(make::item_json(r)),
        _ => ResponseItem::from(json!({"type":"message","role":"user",
            "content":[{"type":"input_text","text":r.string(32)}]})),
    }
}

/// A request: model, instructions, tools and reasoning from small sets (so requests
/// often match and can go incrementally), and up to three input items appended to
/// the turn's history or replacing it.
fn spec(r: &mut Reader<'_>) -> RequestSpec {
    let mut fields = RequestFields::new(r.word(&["gpt-test", "m", ""]));
    let extras = r.u8();
    fields.instructions = match extras & 3 {
        1 => Some("be brief".to_owned()),
        2 => Some("other".to_owned()),
        _ => None,
    };
    if extras & 4 != 0 {
        fields.tools.push(json!({"type":"function","name":"f"}));
    }
    if extras & 8 != 0 {
        fields.reasoning = Some(json!({"effort":"low"}));
    }
    let items: Vec<ResponseItem> = (0..r.below(4)).map(|_| item(r)).collect();
    let input = if extras & 16 == 0 {
        RequestInput::Append(items)
    } else {
        RequestInput::Replace(items)
    };
    RequestSpec { fields, input }
}

/// One line of a trace, on stderr.
#[allow(clippy::print_stderr)]
fn trace_line(line: String) {
    eprintln!("{line}");
}

/// The check: runs the script and returns what happened. Panics with a description
/// when a property fails.
pub(crate) fn run(data: &[u8]) -> Summary {
    run_with(data, false)
}

/// [`run`], printing the configuration, every input, ack and output to stderr.
pub(crate) fn trace(data: &[u8]) -> Summary {
    run_with(data, true)
}

fn run_with(data: &[u8], trace: bool) -> Summary {
    let mut r = Reader::new(data);
    let params = config(&mut r);
    if trace {
        trace_line(format!("{params:#?}"));
    }
    // Raw input bytes could spell the secret themselves and have it echoed.
    let check_secret = !data.windows(7).any(|w| w == b"sk-fuzz");
    let mut harness = Harness::new(params, check_secret);
    harness.trace = trace;
    let mut steps = 0;
    while steps < 400 && harness.step(&mut r) {
        steps += 1;
    }
    harness.finish();
    harness.summary
}

/// The check as the fuzz target calls it.
pub(crate) fn check(data: &[u8]) {
    run(data);
}
