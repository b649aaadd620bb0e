//! What a scenario is, and how one is played against a loopback server on a runtime.
//!
//! A [`Scenario`] is data: how the client is configured, what the server is scripted
//! to answer, what the caller does (a [`Act`] list: preconnect, prewarm, start turns,
//! run requests, change the server's script between steps, wait for the client or the
//! server to have seen something), and a check over what was [`Observed`]: the
//! server's [`Recording`] and connection count, the caller's event transcript of every
//! request, and the client's telemetry. [`play`] runs one on a runtime; the same
//! scenario runs unchanged on tokio and smol over real sockets, and in virtual time
//! over in-memory ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_channel::mpsc;
use futures_util::StreamExt;
use serde_json::Value;
use turnwire_protocol::session::{
    Input, RequestInput, RequestSpec, Telemetry, TurnHistory, TurnOptions,
};
use turnwire_protocol::{Config, RequestFields, ResponseError, ResponseEvent};
use turnwire_testkit::loopback::{LoopbackServer, ServerOptions};
use turnwire_testkit::sim::{FakeServer, Recording};
use turnwire_testkit::vruntime::VirtualServer;
use turnwire_testkit::wire;
use turnwire_transports::{
    ApiKey, AuthProvider, Client, ClientOptions, InputRecorder, ResponseStream, Runtime,
    StreamError, TelemetryHook,
};

use crate::auth::RefreshingAuth;
use crate::harness::{Harness, Rt, eventually, within};

/// The model every scenario asks for.
pub const MODEL: &str = "gpt-conformance";
/// The conversation id every client is built with (the `session-id`, `thread-id` and
/// `x-client-request-id` headers).
pub const CONVERSATION_ID: &str = "conv-conformance";
/// The jitter seed every client is built with.
pub const SEED: u64 = 7;
/// The API key of [`Auth::ApiKey`], and the first token of [`Auth::Refreshing`].
pub const TOKEN: &str = "token-0";
/// Upper bound for one request to end, or one awaited input to arrive. Only a hang
/// reaches it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Where the client's credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// A fixed API key ([`TOKEN`]) that cannot refresh.
    ApiKey,
    /// [`TOKEN`], then these tokens, one per refresh.
    Refreshing(Vec<&'static str>),
}

/// Builds a request from the outcomes of the requests before it.
pub type SpecFn = Box<dyn Fn(&[Outcome]) -> RequestSpec + Send + Sync>;

/// One thing the caller does.
pub enum Act {
    /// `client.preconnect()`.
    Preconnect,
    /// Ends the current turn (if any) and starts a new one.
    NewTurn,
    /// Like [`Act::NewTurn`], with these turn options (turn metadata).
    NewTurnWith(TurnOptions),
    /// Ends the current turn (drops it): a healthy socket goes back to the session's
    /// slot, where the keepalive pings it.
    EndTurn,
    /// `client.prewarm(fields(), input)`: hands the session the prompt prefix.
    Prewarm(Vec<Value>),
    /// Runs one request in the current turn and collects its events to the end.
    Request(SpecFn),
    /// Changes the server's script between two steps (a socket closed silently, a
    /// peer that stops answering pings, chains the server forgets).
    Server {
        /// What changes, for the failure message.
        what: &'static str,
        /// The change.
        change: fn(&mut FakeServer),
    },
    /// Waits until the server has at most this many connections open: the way to
    /// let the client drop a socket it decided to drop on its own (a keepalive
    /// timeout) before the next step. Woken by every close, so it is not a sleep.
    AwaitOpenConnectionsAtMost(usize),
    /// Waits until the client's core has been fed an input that `matches` (one not
    /// consumed by an earlier wait): the way to let a server-side close or a
    /// preconnect refusal reach the client before the next step, without sleeping.
    AwaitInput {
        /// What is awaited, for the failure message.
        what: &'static str,
        /// The predicate.
        matches: fn(&Input) -> bool,
    },
}

impl std::fmt::Debug for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Act::Preconnect => f.write_str("Preconnect"),
            Act::NewTurn => f.write_str("NewTurn"),
            Act::NewTurnWith(options) => write!(f, "NewTurnWith({options:?})"),
            Act::EndTurn => f.write_str("EndTurn"),
            Act::Prewarm(input) => write!(f, "Prewarm({} items)", input.len()),
            Act::Request(_) => f.write_str("Request"),
            Act::Server { what, .. } => write!(f, "Server({what})"),
            Act::AwaitOpenConnectionsAtMost(n) => write!(f, "AwaitOpenConnectionsAtMost({n})"),
            Act::AwaitInput { what, .. } => write!(f, "AwaitInput({what})"),
        }
    }
}

impl Act {
    /// A request that appends one user message with `text` to the turn's history.
    pub fn say(text: &'static str) -> Act {
        Act::Request(Box::new(move |_| append(vec![wire::user(text)])))
    }

    /// A request built from the outcomes so far.
    pub fn request(spec: impl Fn(&[Outcome]) -> RequestSpec + Send + Sync + 'static) -> Act {
        Act::Request(Box::new(spec))
    }

    /// Ends the current turn (if any) and starts one that continues the conversation
    /// (`TurnHistory::Continue`): its first request appends to everything so far.
    pub fn continue_turn() -> Act {
        Act::NewTurnWith(TurnOptions {
            history: TurnHistory::Continue,
            ..TurnOptions::default()
        })
    }

    /// Waits until the client received a pong (any frame from an otherwise silent
    /// server counts the same) on a WebSocket.
    pub fn await_pong() -> Act {
        Act::AwaitInput {
            what: "a pong",
            matches: |input| matches!(input, Input::WsActivity { .. }),
        }
    }

    /// Waits until the client received the server's close of a WebSocket.
    pub fn await_server_close() -> Act {
        Act::AwaitInput {
            what: "a WebSocket close from the server",
            matches: |input| matches!(input, Input::WsClosed { .. }),
        }
    }

    /// Waits until the client received a refused WebSocket handshake.
    pub fn await_handshake_refused() -> Act {
        Act::AwaitInput {
            what: "a refused WebSocket handshake",
            matches: |input| matches!(input, Input::WsRefused { .. }),
        }
    }
}

/// The request fields every scenario uses unless it changes them.
pub fn fields() -> RequestFields {
    RequestFields::new(MODEL)
}

/// A request whose input is the turn's history plus `items`.
pub fn append(items: Vec<Value>) -> RequestSpec {
    RequestSpec {
        fields: fields(),
        input: RequestInput::Append(wire::items(items)),
    }
}

/// A request whose input is exactly `items`.
pub fn replace(items: Vec<Value>) -> RequestSpec {
    RequestSpec {
        fields: fields(),
        input: RequestInput::Replace(wire::items(items)),
    }
}

/// One PROTOCOL.md section 14 scenario. See the module documentation.
pub struct Scenario {
    /// The test name: `sNN_what_it_checks` for PROTOCOL.md section 14's scenario NN,
    /// `x_what_it_checks` for a check of the specification beyond that list.
    pub name: &'static str,
    /// Changes to [`base_config`].
    pub configure: fn(&mut Config),
    /// Credentials.
    pub auth: Auth,
    /// What the server answers (unscripted requests get the default model's reply).
    pub script: fn(&mut FakeServer),
    /// Changes to the loopback server's defaults (its keep-alive rules, for example).
    pub server: fn(&mut ServerOptions),
    /// What the caller does, in order.
    pub plan: Vec<Act>,
    /// Assertions over what happened.
    pub check: fn(&Observed),
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// The configuration every scenario starts from: the server's base URL, no request
/// retries (PROTOCOL.md 14: "unless stated"), and a short retry base delay (50 ms)
/// so backoffs stay quick in real time.
pub fn base_config(base_url: &str) -> Config {
    Config {
        request_max_retries: 0,
        retry_base_delay: Duration::from_millis(50),
        ..Config::new(base_url)
    }
}

/// What the caller saw of one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every item the stream yielded, in order: events, then at most one error.
    pub items: Vec<Result<ResponseEvent, StreamError>>,
    /// The stream did not end within [`PATIENCE`].
    pub timed_out: bool,
    /// When the request started, from the start of the plan (client clock).
    pub started: Duration,
    /// When its stream ended.
    pub ended: Duration,
}

impl Outcome {
    /// The events (the `Ok` items).
    pub fn events(&self) -> impl Iterator<Item = &ResponseEvent> {
        self.items.iter().filter_map(|item| item.as_ref().ok())
    }

    /// True when the stream ended with `Completed`.
    pub fn is_completed(&self) -> bool {
        matches!(self.items.last(), Some(Ok(ResponseEvent::Completed { .. })))
    }

    /// The error the stream ended with, if any.
    pub fn error(&self) -> Option<&StreamError> {
        self.items.last().and_then(|item| item.as_ref().err())
    }

    /// The response error the stream ended with, if any.
    pub fn response_error(&self) -> Option<&ResponseError> {
        match self.error() {
            Some(StreamError::Response(error)) => Some(error),
            _ => None,
        }
    }

    /// The text deltas of the last attempt joined (a `Reconnecting` event voids the
    /// partial output before it).
    pub fn text(&self) -> String {
        let events: Vec<&ResponseEvent> = self.events().collect();
        let last_attempt = events
            .iter()
            .rposition(|e| matches!(e, ResponseEvent::Reconnecting { .. }))
            .map_or(0, |i| i + 1);
        events[last_attempt..]
            .iter()
            .filter_map(|e| match e {
                ResponseEvent::OutputTextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect()
    }

    /// `(attempt, max)` of every `Reconnecting` event.
    pub fn reconnects(&self) -> Vec<(u32, u32)> {
        self.events()
            .filter_map(|e| match e {
                ResponseEvent::Reconnecting { attempt, max, .. } => Some((*attempt, *max)),
                _ => None,
            })
            .collect()
    }

    /// The reason of the first `Reconnecting` event.
    pub fn first_reconnect_reason(&self) -> Option<&str> {
        self.events().find_map(|e| match e {
            ResponseEvent::Reconnecting { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// The `i`th output item (`OutputItemDone`) as JSON.
    pub fn output_item(&self, i: usize) -> Value {
        self.events()
            .filter_map(|e| match e {
                ResponseEvent::OutputItemDone { item } => Some(wire::item_json(item)),
                _ => None,
            })
            .nth(i)
            .unwrap_or_else(|| panic!("no output item {i} in {:?}", self.items))
    }

    /// One word per item, for asserting the order of a transcript.
    pub fn shape(&self) -> Vec<&'static str> {
        self.items
            .iter()
            .map(|item| match item {
                Ok(ResponseEvent::Created { .. }) => "created",
                Ok(ResponseEvent::OutputItemAdded { .. }) => "item_added",
                Ok(ResponseEvent::OutputItemDone { .. }) => "item_done",
                Ok(ResponseEvent::OutputTextDelta { .. }) => "delta",
                Ok(ResponseEvent::Completed { .. }) => "completed",
                Ok(ResponseEvent::Incomplete { .. }) => "incomplete",
                Ok(ResponseEvent::RateLimits { .. }) => "rate_limits",
                Ok(ResponseEvent::ModelsEtag { .. }) => "models_etag",
                Ok(ResponseEvent::ServerReasoningIncluded { .. }) => "reasoning_included",
                Ok(ResponseEvent::Reconnecting { .. }) => "reconnecting",
                Ok(ResponseEvent::FallbackActivated { .. }) => "fallback",
                Ok(ResponseEvent::Other { .. }) => "other",
                Ok(_) => "event",
                Err(_) => "error",
            })
            .collect()
    }

    /// How long the request took.
    pub fn duration(&self) -> Duration {
        self.ended.saturating_sub(self.started)
    }
}

/// Everything a check can look at.
#[derive(Debug)]
pub struct Observed {
    /// The runtime it ran on.
    pub rt: Rt,
    /// The server's base URL (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
    /// Everything the server received, taken after every connection closed.
    pub recording: Recording,
    /// What the caller saw, one entry per [`Act::Request`], in plan order.
    pub requests: Vec<Outcome>,
    /// Refreshes the auth source was asked for.
    pub refreshes: usize,
    /// TCP connections the server accepted (HTTP and WebSocket alike).
    pub accepted_connections: u64,
    /// Connections the server closed without notice, as its keep-alive rules asked.
    pub idle_closes: u64,
    /// The client's telemetry records, in order.
    pub telemetry: Vec<Telemetry>,
}

impl Observed {
    /// The `i`th request's outcome.
    pub fn request(&self, i: usize) -> &Outcome {
        self.requests
            .get(i)
            .unwrap_or_else(|| panic!("no request {i}"))
    }

    /// Header `name` on every `POST`, in order.
    pub fn post_headers(&self, name: &str) -> Vec<Option<String>> {
        (0..self.recording.posts())
            .map(|i| self.recording.post_header(i, name))
            .collect()
    }

    /// Header `name` on every WebSocket handshake, in order.
    pub fn handshake_headers(&self, name: &str) -> Vec<Option<String>> {
        (0..self.recording.ws_attempts())
            .map(|i| self.recording.handshake_header(i, name))
            .collect()
    }

    /// The `input` array of the `i`th WebSocket message.
    pub fn message_input(&self, i: usize) -> Vec<Value> {
        self.recording.ws_messages[i].json["input"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `FreeRetry` records of the client's telemetry, by reason, in order.
    pub fn free_retries(&self) -> Vec<turnwire_protocol::session::FreeRetryReason> {
        self.telemetry
            .iter()
            .filter_map(|t| match t {
                Telemetry::FreeRetry { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// Retries the client scheduled in any layer: budget spent.
    pub fn retries_scheduled(&self) -> usize {
        self.telemetry
            .iter()
            .filter(|t| matches!(t, Telemetry::RetryScheduled { .. }))
            .count()
    }

    /// The gap between the `i`th and `j`th `POST`s' arrival (server clock).
    pub fn post_gap(&self, i: usize, j: usize) -> Duration {
        self.recording.http[j].at - self.recording.http[i].at
    }
}

/// Plays `scenario` on a fresh `rt` runtime against a fresh scripted server (a
/// loopback server on real sockets; on [`Rt::Virtual`], a server on the virtual
/// runtime's in-memory network): builds the client, carries out the plan, drops every
/// turn, stream and the client, waits until the server has no connection open (a
/// generous bound; the wait wakes on every close), and returns what happened. Does not
/// run the check.
pub fn play(scenario: &Scenario, rt: Rt) -> Observed {
    let mut script = FakeServer::new();
    (scenario.script)(&mut script);
    let mut server_options = ServerOptions::default();
    (scenario.server)(&mut server_options);
    let harness = Harness::new(rt);
    let server = Server::start(&harness, script, server_options);
    let base_url = server.base_url();
    let mut config = base_config(&base_url);
    (scenario.configure)(&mut config);

    let refreshing = match &scenario.auth {
        Auth::ApiKey => None,
        Auth::Refreshing(tokens) => Some(RefreshingAuth::new(TOKEN, tokens)),
    };
    let auth: Arc<dyn AuthProvider> = match &refreshing {
        Some(auth) => Arc::new(auth.clone()),
        None => Arc::new(ApiKey::new(TOKEN)),
    };
    let (recorder, inputs) = input_log();
    let telemetry = Arc::new(Mutex::new(Vec::new()));
    let mut options = client_options(config);
    options.auth = auth;
    options.recorder = Some(recorder);
    options.telemetry = Some(telemetry_log(telemetry.clone()));

    let runtime = harness.runtime();
    let requests = harness.block_on(run_plan(runtime, options, &scenario.plan, inputs, &server));
    let requests = requests.unwrap_or_else(|e| panic!("{} on {rt:?}: {e}", scenario.name));
    assert!(
        server.all_closed(&harness),
        "{} on {rt:?}: {} connections still open after the client was dropped",
        scenario.name,
        server.open_connections()
    );
    let recording = server.recording();
    drop(harness);
    Observed {
        rt,
        base_url,
        recording,
        requests,
        refreshes: refreshing.map_or(0, |a| a.refreshes()),
        accepted_connections: server.accepted_connections(),
        idle_closes: server.idle_closes(),
        telemetry: std::mem::take(&mut *lock(&telemetry)),
    }
}

/// The server a scenario plays against.
enum Server {
    Loopback(LoopbackServer),
    Virtual(VirtualServer),
}

impl Server {
    /// A loopback server on real sockets, or one on the harness's virtual network.
    fn start(harness: &Harness, script: FakeServer, options: ServerOptions) -> Server {
        match harness.virtual_runtime() {
            Some(rt) => Server::Virtual(rt.serve_with(script, options)),
            None => Server::Loopback(
                LoopbackServer::start_with(script, 0, false, options)
                    .expect("the loopback server binds 127.0.0.1"),
            ),
        }
    }

    fn base_url(&self) -> String {
        match self {
            Server::Loopback(server) => server.base_url(),
            Server::Virtual(server) => server.base_url(),
        }
    }

    fn recording(&self) -> Recording {
        match self {
            Server::Loopback(server) => server.recording(),
            Server::Virtual(server) => server.recording(),
        }
    }

    fn with_script(&self, change: impl FnOnce(&mut FakeServer)) {
        match self {
            Server::Loopback(server) => server.with_script(change),
            Server::Virtual(server) => server.with_script(change),
        }
    }

    fn open_connections(&self) -> usize {
        match self {
            Server::Loopback(server) => server.open_connections(),
            Server::Virtual(server) => server.open_connections(),
        }
    }

    fn accepted_connections(&self) -> u64 {
        match self {
            Server::Loopback(server) => server.accepted_connections(),
            Server::Virtual(server) => server.accepted_connections(),
        }
    }

    fn idle_closes(&self) -> u64 {
        match self {
            Server::Loopback(server) => server.idle_closes(),
            Server::Virtual(server) => server.idle_closes(),
        }
    }

    /// Waits (at most [`PATIENCE`]) until at most `n` connections are open; whether
    /// that happened. On real sockets a blocking wait on the server's condition
    /// variable (the client's tasks run on the runtime's own threads meanwhile); in
    /// virtual time a check after every step of the runtime.
    async fn open_at_most(&self, runtime: &dyn Runtime, n: usize) -> bool {
        match self {
            Server::Loopback(server) => server.wait_for_open_connections_at_most(n, PATIENCE),
            Server::Virtual(server) => {
                eventually(runtime, PATIENCE, || server.open_connections() <= n).await
            }
        }
    }

    /// Waits (at most [`PATIENCE`]) until no connection is open; whether none is.
    fn all_closed(&self, harness: &Harness) -> bool {
        let runtime = harness.runtime();
        harness.block_on(self.open_at_most(runtime.as_ref(), 0))
    }
}

/// Plays `scenario` on `rt` and runs its check, and the checks every scenario shares:
/// no request hung, and the server saw no protocol violation.
pub fn play_and_check(scenario: &Scenario, rt: Rt) -> Observed {
    let observed = play(scenario, rt);
    for (i, outcome) in observed.requests.iter().enumerate() {
        assert!(
            !outcome.timed_out,
            "{} on {rt:?}: request {i} did not end: {:?}",
            scenario.name, outcome.items
        );
    }
    assert!(
        observed.recording.violations.is_empty(),
        "{} on {rt:?}: the server saw violations: {:?}",
        scenario.name,
        observed.recording.violations
    );
    (scenario.check)(&observed);
    observed
}

/// Client options for `config` with what every run shares: the API key [`TOKEN`], the
/// seed [`SEED`] and the conversation id [`CONVERSATION_ID`].
pub fn client_options(config: Config) -> ClientOptions {
    let mut options = ClientOptions::new(config, ApiKey::new(TOKEN));
    options.seed = Some(SEED);
    options.conversation_id = Some(CONVERSATION_ID.to_owned());
    options
}

/// Builds a client from `options` on `harness`, runs `spec` as the one request of one
/// turn, drops everything, and returns what the caller saw. Panics when the client
/// cannot be built.
pub fn one_request(harness: &Harness, options: ClientOptions, spec: RequestSpec) -> Outcome {
    let runtime = harness.runtime();
    harness.block_on(async move {
        let origin = runtime.now();
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        collect(runtime.as_ref(), origin, turn.stream(spec)).await
    })
}

/// A telemetry hook that appends every record to `log`.
fn telemetry_log(log: Arc<Mutex<Vec<Telemetry>>>) -> TelemetryHook {
    Arc::new(move |record: &Telemetry| lock(&log).push(record.clone()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An input recorder that copies every input the core is fed into a channel.
fn input_log() -> (InputRecorder, mpsc::UnboundedReceiver<Input>) {
    let (sender, receiver) = mpsc::unbounded();
    let recorder: InputRecorder = Arc::new(move |_, input: &Input| {
        let _ = sender.unbounded_send(input.clone());
    });
    (recorder, receiver)
}

async fn run_plan(
    runtime: Arc<dyn Runtime>,
    options: ClientOptions,
    plan: &[Act],
    mut inputs: mpsc::UnboundedReceiver<Input>,
    server: &Server,
) -> Result<Vec<Outcome>, String> {
    let origin = runtime.now();
    let client = Client::new(runtime.clone(), options).map_err(|e| e.to_string())?;
    let mut turn = None;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for act in plan {
        match act {
            Act::Preconnect => client.preconnect(),
            Act::NewTurn => {
                drop(turn.take());
                turn = Some(client.new_turn(TurnOptions::default()));
            }
            Act::NewTurnWith(options) => {
                drop(turn.take());
                turn = Some(client.new_turn(options.clone()));
            }
            Act::EndTurn => drop(turn.take()),
            Act::Prewarm(input) => client.prewarm(fields(), wire::items(input.clone())),
            Act::Request(spec) => {
                let turn = turn
                    .as_ref()
                    .ok_or("the plan runs a request before any turn")?;
                let stream = turn.stream(spec(&outcomes));
                outcomes.push(collect(runtime.as_ref(), origin, stream).await);
            }
            Act::Server { change, .. } => server.with_script(change),
            Act::AwaitOpenConnectionsAtMost(n) => {
                if !server.open_at_most(runtime.as_ref(), *n).await {
                    return Err(format!(
                        "the server still had {} connections open, waited for at most {n}",
                        server.open_connections()
                    ));
                }
            }
            Act::AwaitInput { what, matches } => {
                let seen = within(runtime.as_ref(), PATIENCE, async {
                    while let Some(input) = inputs.next().await {
                        if matches(&input) {
                            return true;
                        }
                    }
                    false
                })
                .await;
                if seen != Some(true) {
                    return Err(format!("the client never received {what}"));
                }
            }
        }
    }
    drop(turn);
    drop(client);
    Ok(outcomes)
}

/// Reads a response stream to its end (bounded by [`PATIENCE`]).
pub async fn collect(
    runtime: &dyn Runtime,
    origin: Instant,
    mut stream: ResponseStream,
) -> Outcome {
    let started = runtime.now().saturating_duration_since(origin);
    let limit = runtime.now() + PATIENCE;
    let mut items = Vec::new();
    let mut timed_out = false;
    loop {
        let left = limit.saturating_duration_since(runtime.now());
        match within(runtime, left, stream.next()).await {
            Some(Some(item)) => items.push(item),
            Some(None) => break,
            None => {
                timed_out = true;
                break;
            }
        }
    }
    Outcome {
        items,
        timed_out,
        started,
        ended: runtime.now().saturating_duration_since(origin),
    }
}
