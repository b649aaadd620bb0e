//! The deterministic simulator: a [`Session`] driven against the [`FakeServer`] in
//! virtual time.
//!
//! The simulator is the session's driver. It obeys the drain rule: after each input it
//! drains `poll_output` fully, routing opens, messages and closes to the server,
//! refreshes to the [`AuthSource`], and caller events to the transcript; then it
//! advances virtual time to the earlier of the next delivery and `poll_timeout`,
//! feeding [`Input::Timeout`] when the deadline comes first. Deliveries wait in a queue
//! ordered by (time, sequence), so equal times keep a fixed order, and each connection's
//! deliveries stay in order (a TCP stream does not reorder).
//!
//! A seeded [`FaultConfig`] adds latency, splits SSE bodies into chunks (1-byte chunks,
//! splits inside CRLF and inside multi-byte UTF-8 characters) and makes the server
//! misbehave. A [`Checker`] watches every input and output and records
//! [`Violation`]s of the protocol's invariants. Every input fed to the session is kept
//! ([`Simulator::inputs`]) so a run can be replayed into a fresh session with
//! [`replay`].

pub mod auth;
pub mod check;
pub mod faults;
pub mod fold;
pub mod keepalive;
pub mod matching;
pub mod model;
mod pooling;
pub mod script;
pub mod server;

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;
use turnwire_protocol::config::{Config, ConfigError};
use turnwire_protocol::error::ResponseError;
use turnwire_protocol::event::{ResponseEvent, Usage};
use turnwire_protocol::header_names::{RETRY_AFTER, RETRY_AFTER_MS};
use turnwire_protocol::pool::PoolLimits;
use turnwire_protocol::session::{
    CloseReason, ConnId, Input, InputAck, Output, PrewarmSpec, RequestId, RequestSpec, Session,
    SessionParams, Telemetry, TurnHistory, TurnId, TurnOptions, UsageError,
};
use turnwire_protocol::time::{Instant, Now, UnixTime};

pub use auth::{AuthAnswer, AuthSource};
pub use check::{Checker, Rule, Violation};
pub use faults::{FaultConfig, NetFaults, ServerFaults};
pub use keepalive::{IdleFate, KeepAliveScript};
pub use matching::{Matcher, ReplyRule, ReplyRules};
pub use model::ModelKind;
pub use server::{
    Emission, End, FakeServer, Handshake, LineEnding, Recording, Reply, Step, TurnStateDelivery,
    WsKind,
};

/// The wall-clock time at virtual instant zero: 2026-01-01T00:00:00Z.
pub const UNIX_BASE_MS: u64 = 1_767_225_600_000;

/// The conversation id simulated sessions use.
pub const CONVERSATION_ID: &str = "conv-sim";

pub use crate::record::RecordedInput;

/// How a request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Terminal {
    /// `Completed`.
    Completed {
        /// The response id.
        response_id: String,
        /// Usage, when reported.
        usage: Option<Usage>,
    },
    /// `Incomplete`.
    Incomplete {
        /// The response id.
        response_id: String,
        /// The reason.
        reason: Option<String>,
    },
    /// A terminal error.
    Failed(ResponseError),
    /// No outcome when the simulation could not go on (a violation).
    Unfinished,
}

/// What the caller saw of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestOutcome {
    /// The request.
    pub request: RequestId,
    /// Its turn.
    pub turn: TurnId,
    /// Every caller event before the terminal outcome, in order.
    pub events: Vec<ResponseEvent>,
    /// The terminal outcome.
    pub terminal: Terminal,
    /// When the request started (virtual).
    pub started_at: Instant,
    /// When it ended.
    pub ended_at: Option<Instant>,
}

impl RequestOutcome {
    /// True when the request completed.
    pub fn is_completed(&self) -> bool {
        matches!(self.terminal, Terminal::Completed { .. })
    }

    /// The terminal error, if it failed.
    pub fn error(&self) -> Option<&ResponseError> {
        match &self.terminal {
            Terminal::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// The `(attempt, max)` of every `Reconnecting` event, in order.
    pub fn reconnects(&self) -> Vec<(u32, u32)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ResponseEvent::Reconnecting { attempt, max, .. } => Some((*attempt, *max)),
                _ => None,
            })
            .collect()
    }

    /// True when a `FallbackActivated` event was seen.
    pub fn fell_back(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, ResponseEvent::FallbackActivated { .. }))
    }

    /// The text of every `OutputTextDelta`, concatenated.
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                ResponseEvent::OutputTextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// One line of the caller transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct CallerEntry {
    /// When it was drained.
    pub at: Instant,
    /// The number of the session input it followed.
    pub step: u64,
    /// The turn.
    pub turn: TurnId,
    /// The request.
    pub request: RequestId,
    /// An event, or the failure.
    pub what: Result<ResponseEvent, ResponseError>,
}

/// A telemetry record with when it was drained.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedTelemetry {
    /// When.
    pub at: Instant,
    /// The number of the session input it followed.
    pub step: u64,
    /// The record.
    pub record: Telemetry,
}

/// Simulator knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// Keep a printable trace of every input and output (costly; off in sweeps).
    pub record_trace: bool,
    /// Keep every input for replay.
    pub record_inputs: bool,
    /// Stop (with a violation) after this many inputs.
    pub max_inputs: u64,
    /// Stop (with a violation) after this many inputs at one virtual instant.
    pub max_inputs_per_instant: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            record_trace: true,
            record_inputs: true,
            max_inputs: 2_000_000,
            max_inputs_per_instant: 200_000,
        }
    }
}

#[derive(Debug)]
struct Delivery {
    conn: Option<ConnId>,
    input: Input,
}

#[derive(Clone, Debug)]
struct RequestLog {
    turn: TurnId,
    events: Vec<ResponseEvent>,
    terminal: Option<Terminal>,
    started_at: Instant,
    ended_at: Option<Instant>,
}

/// The simulator. See the module documentation.
#[derive(Debug)]
pub struct Simulator {
    session: Session,
    params: SessionParams,
    server: FakeServer,
    auth: AuthSource,
    net: Option<NetFaults>,
    options: SimOptions,
    queue: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    conn_clock: BTreeMap<ConnId, Instant>,
    finished_conns: BTreeSet<ConnId>,
    /// The driver's HTTP keep-alive pool, modelled.
    pool: pooling::PoolModel,
    now: Instant,
    inputs: Vec<RecordedInput>,
    input_count: u64,
    inputs_this_instant: u64,
    last_input_at: Instant,
    trace: Vec<String>,
    output_trace: Vec<String>,
    transcript: Vec<CallerEntry>,
    telemetry: Vec<TimedTelemetry>,
    logs: BTreeMap<RequestId, RequestLog>,
    checker: Checker,
    halted: Option<String>,
}

/// Session parameters for a simulated session: the given configuration and seed, the
/// conversation id [`CONVERSATION_ID`], the token [`auth::INITIAL_TOKEN`], and a
/// refreshable auth source.
pub fn params(config: Config, seed: u64) -> SessionParams {
    SessionParams {
        config,
        credentials: AuthSource::initial_credentials(),
        auth_refreshable: true,
        conversation_id: CONVERSATION_ID.to_owned(),
        seed,
    }
}

/// A configuration for simulated runs: `base_url = http://sim.invalid/v1`,
/// `request_max_retries = 0`, other settings at their defaults.
pub fn sim_config() -> Config {
    Config {
        request_max_retries: 0,
        ..Config::new("http://sim.invalid/v1")
    }
}

impl Simulator {
    /// A simulator with a well-behaved server and no network faults.
    pub fn new(config: Config, seed: u64) -> Result<Simulator, ConfigError> {
        Simulator::with_params(params(config, seed), None, SimOptions::default())
    }

    /// A simulator with a seeded fault schedule.
    pub fn with_faults(
        config: Config,
        seed: u64,
        faults: &FaultConfig,
    ) -> Result<Simulator, ConfigError> {
        Simulator::with_params(params(config, seed), Some(faults), SimOptions::default())
    }

    /// The general constructor.
    pub fn with_params(
        params: SessionParams,
        faults: Option<&FaultConfig>,
        options: SimOptions,
    ) -> Result<Simulator, ConfigError> {
        let session = Session::new(params.clone())?;
        let checker = Checker::new(session.config(), params.credentials.token.expose());
        let (net, server) = match faults {
            Some(faults) => {
                let (net, server_faults) = faults.split();
                let mut server = FakeServer::with_faults(server_faults);
                server.line_ending = faults.line_ending;
                (Some(net), server)
            }
            None => (None, FakeServer::new()),
        };
        Ok(Simulator {
            session,
            params,
            server,
            auth: AuthSource::default(),
            net,
            options,
            queue: BTreeMap::new(),
            seq: 0,
            conn_clock: BTreeMap::new(),
            finished_conns: BTreeSet::new(),
            pool: pooling::PoolModel::new(PoolLimits::default()),
            now: Instant::ZERO,
            inputs: Vec::new(),
            input_count: 0,
            inputs_this_instant: 0,
            last_input_at: Instant::ZERO,
            trace: Vec::new(),
            output_trace: Vec::new(),
            transcript: Vec::new(),
            telemetry: Vec::new(),
            logs: BTreeMap::new(),
            checker,
            halted: None,
        })
    }

    // ----- access -------------------------------------------------------------------

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The session (read-only).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The parameters the session was created with (for replay).
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The fake server, to script it.
    pub fn server_mut(&mut self) -> &mut FakeServer {
        &mut self.server
    }

    /// What the server received.
    pub fn recording(&self) -> &Recording {
        self.server.recording()
    }

    /// The auth source stand-in, to script it.
    pub fn auth_mut(&mut self) -> &mut AuthSource {
        &mut self.auth
    }

    /// The auth source stand-in.
    pub fn auth(&self) -> &AuthSource {
        &self.auth
    }

    /// Every input fed so far, with its time.
    pub fn inputs(&self) -> &[RecordedInput] {
        &self.inputs
    }

    /// The run so far as a record (the format of [`crate::record`]): replay it with
    /// [`replay`] after [`crate::record::read`], or with `turnwire replay`.
    pub fn record(&self) -> Result<String, crate::record::RecordError> {
        crate::record::encode(&crate::record::Header::of(&self.params), &self.inputs)
    }

    /// The printable trace: every input, ack and output with its virtual time.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// The outputs only, each tagged with the index of the input it followed: what a
    /// replay of [`Simulator::inputs`] must reproduce.
    pub fn output_trace(&self) -> &[String] {
        &self.output_trace
    }

    /// Every caller event and failure, in order.
    pub fn transcript(&self) -> &[CallerEntry] {
        &self.transcript
    }

    /// Every telemetry record, in order.
    pub fn telemetry(&self) -> &[TimedTelemetry] {
        &self.telemetry
    }

    /// Invariant violations seen so far: the checker's and the server's, and why the
    /// simulation halted if it did.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all = self.checker.violations().to_vec();
        all.extend(
            self.server
                .recording()
                .violations
                .iter()
                .map(|v| Violation {
                    at: self.now,
                    rule: Rule::Server,
                    what: v.clone(),
                }),
        );
        all.extend(self.halted.iter().map(|h| Violation {
            at: self.now,
            rule: Rule::Halt,
            what: h.clone(),
        }));
        all
    }

    /// Ends the run: every started request must have its terminal outcome. Returns all
    /// violations.
    pub fn finish(&mut self) -> Vec<Violation> {
        self.checker.finish();
        self.violations()
    }

    /// Ends the run and panics, printing the violations and the end of the trace, if
    /// any invariant was broken. For tests.
    #[track_caller]
    pub fn assert_no_violations(&mut self) {
        let violations = self.finish();
        if violations.is_empty() {
            return;
        }
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        let tail = self.trace.len().saturating_sub(400);
        panic!(
            "{} violation(s):\n{}\n\ntrace (last 400 lines):\n{}",
            list.len(),
            list.join("\n"),
            self.trace[tail..].join("\n")
        );
    }

    /// The outcome of a request so far.
    pub fn outcome(&self, request: RequestId) -> Option<RequestOutcome> {
        let log = self.logs.get(&request)?;
        Some(RequestOutcome {
            request,
            turn: log.turn,
            events: log.events.clone(),
            terminal: log.terminal.clone().unwrap_or(Terminal::Unfinished),
            started_at: log.started_at,
            ended_at: log.ended_at,
        })
    }

    /// Number of inputs fed so far.
    pub fn input_count(&self) -> u64 {
        self.input_count
    }

    /// Number of deliveries waiting.
    pub fn pending_deliveries(&self) -> usize {
        self.queue.len()
    }

    // ----- caller commands ------------------------------------------------------------

    /// Feeds `Input::Preconnect`.
    pub fn preconnect(&mut self) {
        let _ = self.feed(Input::Preconnect);
    }

    /// Feeds `Input::Prewarm` with this prefix.
    pub fn prewarm(&mut self, spec: PrewarmSpec) {
        let _ = self.feed(Input::Prewarm { prefix: spec });
    }

    /// Starts a turn that continues the previous turn's history.
    pub fn start_turn_continuing(&mut self) -> TurnId {
        self.start_turn_with(TurnOptions {
            history: TurnHistory::Continue,
            ..TurnOptions::default()
        })
    }

    /// Starts a turn without metadata.
    pub fn start_turn(&mut self) -> TurnId {
        self.start_turn_with(TurnOptions::default())
    }

    /// Starts a turn.
    ///
    /// # Panics
    /// When the session does not acknowledge the turn (it always does, unless the
    /// simulation halted).
    pub fn start_turn_with(&mut self, options: TurnOptions) -> TurnId {
        match self.feed(Input::StartTurn(options)) {
            Ok(InputAck::TurnStarted(turn)) => turn,
            other => panic!("StartTurn was not acknowledged with a turn: {other:?}"),
        }
    }

    /// Starts a request and returns at once; the session's refusal (an unknown turn, a
    /// request already running in it) is returned as is.
    pub fn start_request(
        &mut self,
        turn: TurnId,
        spec: RequestSpec,
    ) -> Result<RequestId, UsageError> {
        let started_at = self.now;
        match self.feed(Input::StartRequest { turn, spec })? {
            InputAck::RequestStarted(id) => {
                self.logs.entry(id).or_insert(RequestLog {
                    turn,
                    events: Vec::new(),
                    terminal: None,
                    started_at,
                    ended_at: None,
                });
                Ok(id)
            }
            other => panic!("StartRequest was acknowledged with {other:?}"),
        }
    }

    /// Starts a request and runs until it has its terminal outcome (or nothing more can
    /// happen: then the outcome is [`Terminal::Unfinished`] and the checker reports it
    /// at [`Simulator::finish`]).
    ///
    /// # Panics
    /// When the session refuses the request: a test that means to provoke a refusal
    /// calls [`Simulator::start_request`].
    pub fn run_request(&mut self, turn: TurnId, spec: RequestSpec) -> RequestOutcome {
        match self.start_request(turn, spec) {
            Ok(id) => self.run_until_done(id),
            Err(err) => panic!("the session refused the request: {err}"),
        }
    }

    /// Runs until `request` has its terminal outcome (or nothing more can happen).
    pub fn run_until_done(&mut self, request: RequestId) -> RequestOutcome {
        while self
            .logs
            .get(&request)
            .is_some_and(|l| l.terminal.is_none())
        {
            if !self.step() {
                break;
            }
        }
        self.outcome(request).unwrap_or(RequestOutcome {
            request,
            turn: TurnId(0),
            events: Vec::new(),
            terminal: Terminal::Unfinished,
            started_at: self.now,
            ended_at: None,
        })
    }

    /// Runs until no request is running and no delivery is waiting.
    pub fn run_until_idle(&mut self) {
        while self.session.running_requests() > 0 || !self.queue.is_empty() {
            if !self.step() {
                break;
            }
        }
    }

    /// Runs everything due within `d`, then moves the clock to `now + d`.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now.saturating_add(d);
        while self.next_event_time().is_some_and(|t| t <= target) {
            if !self.step() {
                break;
            }
        }
        self.now = self.now.max(target);
    }

    /// Cancels a running request.
    pub fn cancel(&mut self, request: RequestId) -> Result<(), UsageError> {
        self.feed(Input::CancelRequest { request }).map(|_| ())
    }

    /// TCP connections the modelled driver opened for HTTP requests so far: one per
    /// request unless the keep-alive pool reused one (PROTOCOL.md section 3.3).
    pub fn http_connections(&self) -> u64 {
        self.pool.opened()
    }

    /// Ends a turn.
    pub fn end_turn(&mut self, turn: TurnId) -> Result<(), UsageError> {
        self.feed(Input::EndTurn { turn }).map(|_| ())
    }

    /// Feeds any input directly (for tests of odd inputs) and drains.
    pub fn feed_raw(&mut self, input: Input) -> Result<InputAck, UsageError> {
        self.feed(input)
    }

    // ----- the driving loop -----------------------------------------------------------

    fn next_event_time(&self) -> Option<Instant> {
        let delivery = self.queue.keys().next().map(|k| k.0);
        let timeout = self.session.poll_timeout();
        match (delivery, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does one thing: the next delivery, or the session's deadline when it comes
    /// first. Returns false when there is nothing to do or the run halted.
    pub fn step(&mut self) -> bool {
        if self.halted.is_some() {
            return false;
        }
        if self.checker.stuck() {
            self.halted = Some("the session loops without advancing time".into());
            return false;
        }
        let next = self.queue.keys().next().copied();
        let deadline = self.session.poll_timeout();
        match (next, deadline) {
            (None, None) => false,
            (Some(key), Some(at)) if at < key.0 => {
                self.fire_timeout(at);
                true
            }
            (Some(key), _) => {
                self.deliver(key);
                true
            }
            (None, Some(at)) => {
                self.fire_timeout(at);
                true
            }
        }
    }

    fn fire_timeout(&mut self, at: Instant) {
        self.now = self.now.max(at);
        let _ = self.feed(Input::Timeout);
    }

    fn deliver(&mut self, key: (Instant, u64)) {
        let Some(delivery) = self.queue.remove(&key) else {
            return;
        };
        self.now = self.now.max(key.0);
        if let Some(conn) = delivery.conn {
            if self.finished_conns.contains(&conn) {
                return;
            }
            if ends_connection(&delivery.input) {
                self.finished_conns.insert(conn);
                let body_ended = matches!(delivery.input, Input::HttpEnd { .. });
                self.pool.released(self.now, conn, body_ended);
            }
        }
        let _ = self.feed(delivery.input);
    }

    fn now_pair(&self) -> Now {
        let millis = self.now.as_nanos() / 1_000_000;
        Now::new(self.now, UnixTime::from_millis(UNIX_BASE_MS + millis))
    }

    fn feed(&mut self, input: Input) -> Result<InputAck, UsageError> {
        if self.halted.is_some() {
            return Err(UsageError::OutputsNotDrained(0));
        }
        self.count_input();
        let now = self.now_pair();
        let transport = is_transport(&input);
        self.checker.before_input(self.now, &input);
        if self.options.record_trace {
            self.trace.push(format!("{} > {input:?}", stamp(self.now)));
        }
        if self.options.record_inputs {
            self.inputs.push(RecordedInput {
                now,
                input: input.clone(),
            });
        }
        let result = self.session.handle_input(now, input);
        if self.options.record_trace {
            self.trace.push(format!("{} = {result:?}", stamp(self.now)));
            self.output_trace
                .push(format!("#{} = {result:?}", self.input_count));
        }
        self.checker
            .on_ack(&result.clone().map_err(|e| e.to_string()), transport);
        self.drain();
        let timeout = self.session.poll_timeout();
        self.checker.after_drain(timeout);
        result
    }

    fn count_input(&mut self) {
        self.input_count += 1;
        if self.input_count > 1 && self.last_input_at == self.now {
            self.inputs_this_instant += 1;
        } else {
            self.inputs_this_instant = 0;
            self.last_input_at = self.now;
        }
        if self.input_count > self.options.max_inputs {
            self.halted = Some(format!("more than {} inputs", self.options.max_inputs));
        }
        if self.inputs_this_instant > self.options.max_inputs_per_instant {
            self.halted = Some(format!(
                "more than {} inputs at {}",
                self.options.max_inputs_per_instant,
                stamp(self.now)
            ));
        }
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            if self.options.record_trace {
                let line = format!("{output:?}");
                self.trace.push(format!("{} < {line}", stamp(self.now)));
                self.output_trace
                    .push(format!("#{} < {line}", self.input_count));
            }
            self.route(output);
        }
    }

    fn route(&mut self, output: Output) {
        let now = self.now;
        self.server.step = self.input_count;
        match output {
            Output::OpenHttp(open) => {
                let server = &mut self.server;
                let placement = self.pool.place(now, open.conn, open.reuse, || {
                    server.keep_alive.drop_reused_arrival()
                });
                if placement == pooling::Placement::Stale {
                    let message = "connection closed before any byte of the response".into();
                    let stale = Input::HttpStale {
                        conn: open.conn,
                        message,
                    };
                    let emission = Emission {
                        after: Duration::ZERO,
                        input: stale,
                    };
                    self.schedule(open.conn, vec![emission]);
                    return;
                }
                let index = self.server.recording().posts();
                let emissions = self.server.on_open_http(now, &open);
                if pooling::PoolModel::ends_cleanly(&emissions) {
                    let fate = self.server.keep_alive.after_response(index);
                    self.pool.replied_cleanly(open.conn, fate);
                }
                let delays = self.server.take_requested_delays();
                self.checker.note_requested_delays(&delays);
                if let Some(record) = self.server.recording().http.last() {
                    self.checker.on_open_http(record);
                }
                self.schedule(open.conn, emissions);
            }
            Output::OpenWs(open) => {
                let emissions = self.server.on_open_ws(now, &open);
                if let Some(record) = self.server.recording().handshakes.last() {
                    self.checker.on_open_ws(record);
                }
                self.schedule(open.conn, emissions);
            }
            Output::SendWs { conn, text } => {
                let emissions = self.server.on_send_ws(now, conn, &text);
                let delays = self.server.take_requested_delays();
                self.checker.note_requested_delays(&delays);
                if let Some(record) = self.server.recording().ws_messages.last() {
                    self.checker.on_send_ws(record);
                }
                self.schedule(conn, emissions);
            }
            Output::Ping { conn } => {
                let emissions = self.server.on_ping(now, conn);
                self.checker.on_ping(conn);
                self.schedule(conn, emissions);
            }
            Output::Close { conn, reason } => {
                self.pool
                    .released(now, conn, reason == CloseReason::Finished);
                self.server.on_close(now, conn);
                self.checker.on_close(conn);
                self.finished_conns.insert(conn);
                self.queue.retain(|_, d| d.conn != Some(conn));
            }
            Output::RefreshAuth => {
                let (latency, input) = self.auth.on_refresh(now);
                self.push_delivery(now.saturating_add(latency), None, input);
            }
            Output::Event {
                turn,
                request,
                event,
            } => {
                self.checker.on_event(turn, request, &event);
                let log = self.log_for(turn, request);
                if let Some(terminal) = terminal_of(&event) {
                    log.terminal = Some(terminal);
                    log.ended_at = Some(now);
                } else {
                    log.events.push(event.clone());
                }
                self.transcript.push(CallerEntry {
                    at: now,
                    step: self.input_count,
                    turn,
                    request,
                    what: Ok(event),
                });
            }
            Output::Failed {
                turn,
                request,
                error,
            } => {
                self.checker.on_failed(turn, request);
                let log = self.log_for(turn, request);
                log.terminal = Some(Terminal::Failed(error.clone()));
                log.ended_at = Some(now);
                self.transcript.push(CallerEntry {
                    at: now,
                    step: self.input_count,
                    turn,
                    request,
                    what: Err(error),
                });
            }
            Output::Telemetry(record) => {
                self.checker.on_telemetry(&record);
                self.telemetry.push(TimedTelemetry {
                    at: now,
                    step: self.input_count,
                    record,
                });
            }
        }
    }

    fn log_for(&mut self, turn: TurnId, request: RequestId) -> &mut RequestLog {
        let now = self.now;
        self.logs.entry(request).or_insert(RequestLog {
            turn,
            events: Vec::new(),
            terminal: None,
            started_at: now,
            ended_at: None,
        })
    }

    /// Puts a server's emissions on the network: latency, chunk splitting, and
    /// per-connection order.
    fn schedule(&mut self, conn: ConnId, emissions: Vec<Emission>) {
        let now = self.now;
        for emission in emissions {
            self.checker
                .note_requested_delays(&requested_delays(&emission.input));
            let base = now.saturating_add(emission.after);
            let pieces = match (emission.input, self.net.as_mut()) {
                (Input::HttpBody { conn, data }, Some(net)) => net
                    .split(data)
                    .into_iter()
                    .map(|data| Input::HttpBody { conn, data })
                    .collect(),
                (input, _) => vec![input],
            };
            for input in pieces {
                let latency = self.net.as_mut().map_or(Duration::ZERO, NetFaults::latency);
                let earliest = self.conn_clock.get(&conn).copied().unwrap_or(Instant::ZERO);
                let at = base.saturating_add(latency).max(earliest);
                self.conn_clock.insert(conn, at);
                self.push_delivery(at, Some(conn), input);
            }
        }
    }

    fn push_delivery(&mut self, at: Instant, conn: Option<ConnId>, input: Input) {
        self.seq += 1;
        self.queue.insert((at, self.seq), Delivery { conn, input });
    }
}

/// The caller-facing terminal outcome an event is, if it is one.
fn terminal_of(event: &ResponseEvent) -> Option<Terminal> {
    match event {
        ResponseEvent::Completed { response_id, usage } => Some(Terminal::Completed {
            response_id: response_id.clone(),
            usage: *usage,
        }),
        ResponseEvent::Incomplete {
            response_id,
            reason,
            ..
        } => Some(Terminal::Incomplete {
            response_id: response_id.clone(),
            reason: reason.clone(),
        }),
        _ => None,
    }
}

fn is_transport(input: &Input) -> bool {
    !matches!(
        input,
        Input::Preconnect
            | Input::Prewarm { .. }
            | Input::StartTurn(_)
            | Input::StartRequest { .. }
            | Input::CancelRequest { .. }
            | Input::EndTurn { .. }
            | Input::AuthRefreshed { .. }
            | Input::AuthRefreshFailed { .. }
            | Input::Timeout
    )
}

fn ends_connection(input: &Input) -> bool {
    matches!(
        input,
        Input::HttpEnd { .. }
            | Input::TransportError { .. }
            | Input::HttpStale { .. }
            | Input::WsClosed { .. }
            | Input::WsRefused { .. }
    )
}

/// Delays a server asks for in an input: `retry-after-ms` / `Retry-After` (seconds) in
/// headers, or in a WebSocket `error` frame's `headers`, and "try again in" phrases.
fn requested_delays(input: &Input) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut from_pair = |name: &str, value: &str| {
        let name = name.to_ascii_lowercase();
        if name == RETRY_AFTER_MS {
            if let Ok(ms) = value.trim().parse::<f64>() {
                out.push(Duration::from_secs_f64(ms / 1000.0));
                out.push(Duration::from_millis(ms as u64));
            }
        } else if name == RETRY_AFTER
            && let Ok(secs) = value.trim().parse::<f64>()
        {
            out.push(Duration::from_secs_f64(secs));
            out.push(Duration::from_millis((secs * 1000.0) as u64));
        }
    };
    match input {
        Input::HttpResponse { headers, .. } | Input::WsRefused { headers, .. } => {
            for (name, value) in headers {
                from_pair(name.as_str(), value.to_str().unwrap_or(""));
            }
        }
        Input::WsText { text, .. } if text.contains(RETRY_AFTER) => {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(text)
                && let Some(map) = json.get("headers").and_then(|h| h.as_object())
            {
                for (name, value) in map {
                    from_pair(name, value.as_str().unwrap_or(""));
                }
            }
        }
        _ => {}
    }
    out
}

/// A virtual time for the trace: seconds with millisecond precision.
fn stamp(at: Instant) -> String {
    let ms = at.as_nanos() / 1_000_000;
    format!("{:>6}.{:03}", ms / 1000, ms % 1000)
}

/// Feeds recorded inputs into a fresh session built from `params` and returns its
/// output trace in the format of [`Simulator::output_trace`].
pub fn replay(params: SessionParams, inputs: &[RecordedInput]) -> Result<Vec<String>, ConfigError> {
    let mut session = Session::new(params)?;
    let mut trace = Vec::new();
    for (i, recorded) in inputs.iter().enumerate() {
        let n = i + 1;
        let result = session.handle_input(recorded.now, recorded.input.clone());
        trace.push(format!("#{n} = {result:?}"));
        while let Some(output) = session.poll_output() {
            trace.push(format!("#{n} < {output:?}"));
        }
    }
    Ok(trace)
}
