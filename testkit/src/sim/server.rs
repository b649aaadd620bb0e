//! The fake server: a sans-IO stand-in for a Responses API endpoint that speaks HTTP
//! SSE and WebSocket.
//!
//! It is told what the session opened and sent ([`FakeServer::on_open_http`],
//! [`FakeServer::on_open_ws`], [`FakeServer::on_send_ws`], [`FakeServer::on_close`])
//! and answers with timed transport inputs ([`Emission`]s) for the simulator to
//! deliver. What it answers is scripted: queues of per-attempt replies consumed in
//! order, and when a queue is empty a default *model* that answers every request with
//! `response.created` → a text delta → `response.output_item.done` (an assistant
//! message) → `response.completed`, with ids `resp-1`, `resp-2`, … and `msg-1`, ….
//! [`FakeServer::spec_complete`] answers with the spec-complete model of
//! [`super::model`] instead, [`ReplyRules`] pick replies by what a request says
//! before the queues are consulted, and a `POST` without `"stream": true` gets the JSON
//! response its reply's events fold into ([`super::fold`]).
//!
//! Everything received is recorded with its virtual time ([`Recording`]), so tests
//! assert on the wire traffic. On WebSocket the server also keeps what a real server
//! holds per connection (the last completed response's input and output), for as
//! long as the socket lives, across the client's turns, and reconstructs the full
//! input of every incremental message. A `previous_response_id` the socket does not
//! hold is answered with a `previous_response_not_found` error frame, as `store:
//! false` servers do; it is also flagged as a violation unless the server was made to
//! forget the chain ([`FakeServer::forget_chains`], or the fault schedule). A
//! `"generate": false` message (a prewarm) is answered with a completed response with
//! empty output. Pings are answered with pongs unless the server was told to stop
//! ([`FakeServer::stop_answering_pings`]).
//!
//! Turn-state tokens queued with [`FakeServer::send_turn_state`] go out the way the
//! server's [`TurnStateDelivery`] says: in a `response.metadata` event of the next
//! WebSocket response (revision 2 servers, the default), or in the headers of the
//! next accepted handshake (the revision-1 behaviour); on HTTP always as a response
//! header of the next `POST`.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use core::time::Duration;
use serde_json::Value;
use turnwire_protocol::header_names::{RETRY_AFTER, TURN_STATE};
use turnwire_protocol::session::{ConnId, HttpOpen, Input, WsOpen};
use turnwire_protocol::time::Instant;

use super::faults::ServerFaults;
use super::fold::{Folded, fold};
use super::matching::ReplyRules;
use super::model::{self, ModelContext, ModelKind};
use crate::wire::{self, ev};

/// How a response body or message stream ends after its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// HTTP: end of body. WebSocket: nothing more; the socket stays open (the normal
    /// ending after a terminal event).
    Eof,
    /// Keep the connection open and send nothing more (a stall).
    Open,
    /// A transport error (connection reset) with this message.
    Reset(String),
    /// WebSocket: a close frame with this code and reason. HTTP: end of body.
    Close {
        /// The close code.
        code: Option<u16>,
        /// The reason.
        reason: String,
    },
}

/// One step of a scripted response.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// One server event: an SSE `event:`/`data:` block, or a WebSocket text frame.
    Event(Value),
    /// The default model's whole response, with fresh ids.
    Model,
    /// The first `n` events of the default model's response (of 4), with fresh ids.
    ModelPrefix(usize),
    /// An SSE comment line (`: keepalive`), or a WebSocket ping.
    Keepalive,
    /// Raw text: bytes appended to the SSE body, or a raw WebSocket text frame.
    Raw(String),
    /// A WebSocket binary frame of this length (HTTP: ignored).
    Binary(usize),
    /// Wait this long (virtual time) before the next step.
    Wait(Duration),
}

/// The reply to one HTTP `POST` or one WebSocket request message.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// HTTP status (ignored for WebSocket messages). 0 means no head is ever sent: only
    /// the ending happens ([`End::Reset`] → a transport error, otherwise silence).
    pub status: u16,
    /// HTTP response headers (ignored for WebSocket messages).
    pub headers: Vec<(String, String)>,
    /// Delay before the head (HTTP) or before the first step.
    pub head_delay: Duration,
    /// The body or frames.
    pub steps: Vec<Step>,
    /// What happens after the steps.
    pub end: End,
    /// Server-requested delays this reply carries (for the invariant checker).
    pub requested_delays: Vec<Duration>,
}

impl Reply {
    /// The default model's response, ending with EOF.
    pub fn model() -> Self {
        Reply::with_steps(vec![Step::Model])
    }

    /// A 200 streaming these events, ending with EOF.
    pub fn events(events: impl IntoIterator<Item = Value>) -> Self {
        Reply::with_steps(events.into_iter().map(Step::Event).collect())
    }

    /// A 200 with these steps, ending with EOF.
    pub fn with_steps(steps: Vec<Step>) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            head_delay: Duration::ZERO,
            steps,
            end: End::Eof,
            requested_delays: Vec::new(),
        }
    }

    /// An HTTP error response with a JSON (or any) body.
    pub fn status(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            head_delay: Duration::ZERO,
            steps: vec![Step::Raw(body.to_owned())],
            end: End::Eof,
            requested_delays: Vec::new(),
        }
    }

    /// An HTTP error response whose body is `{"error":{"type","code","message"}}`.
    pub fn error(status: u16, error_type: &str, code: &str, message: &str) -> Self {
        let body =
            serde_json::json!({"error": {"type": error_type, "code": code, "message": message}});
        Reply::status(status, &body.to_string())
    }

    /// No answer at all: no head, no body (the session's connect timeout must fire).
    /// Recorded with status 0.
    pub fn hang() -> Self {
        Reply {
            status: 0,
            headers: Vec::new(),
            head_delay: Duration::ZERO,
            steps: Vec::new(),
            end: End::Open,
            requested_delays: Vec::new(),
        }
    }

    /// The connection fails before any head arrives. Recorded with status 0.
    pub fn reset_before_head(message: &str) -> Self {
        Reply {
            end: End::Reset(message.to_owned()),
            ..Reply::hang()
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a `Retry-After` header in whole seconds, noting the requested delay.
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.requested_delays.push(Duration::from_secs(secs));
        self.header(RETRY_AFTER, &secs.to_string())
    }

    /// Appends a step.
    pub fn then(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Sets the ending.
    pub fn end(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// Keeps the connection open after the steps (no EOF).
    pub fn keep_open(self) -> Self {
        self.end(End::Open)
    }

    /// Delays the head (HTTP) or the first frame (WebSocket).
    pub fn delay_head(mut self, delay: Duration) -> Self {
        self.head_delay = delay;
        self
    }

    /// Notes a server-requested delay carried in the body (a WebSocket `error` frame's
    /// headers or a "try again in" phrase).
    pub fn requests_delay(mut self, delay: Duration) -> Self {
        self.requested_delays.push(delay);
        self
    }
}

/// The answer to one WebSocket handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// 101 Switching Protocols with these response headers, after `delay`.
    Accept {
        /// Handshake response headers.
        headers: Vec<(String, String)>,
        /// Time before the answer.
        delay: Duration,
    },
    /// A non-101 status.
    Refuse {
        /// The status.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// Response body.
        body: String,
    },
    /// 101 like `Accept`, then the server closes the socket `close_after` later
    /// (an idle close, or the server going away mid-use).
    AcceptThenClose {
        /// Handshake response headers.
        headers: Vec<(String, String)>,
        /// Time before the answer.
        delay: Duration,
        /// Time from the answer to the close frame.
        close_after: Duration,
    },
    /// The connect fails (transport error) with this message.
    Fail(String),
    /// No answer ever (the session's connect timeout must fire).
    Hang,
}

impl Handshake {
    /// An immediate accept without extra headers.
    pub fn accept() -> Self {
        Handshake::Accept {
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// An accept carrying one response header.
    pub fn accept_with(name: &str, value: &str) -> Self {
        Handshake::Accept {
            headers: vec![(name.to_owned(), value.to_owned())],
            delay: Duration::ZERO,
        }
    }

    /// A refusal with a status and an empty body.
    pub fn refuse(status: u16) -> Self {
        Handshake::Refuse {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// A timed transport input for the simulator to deliver: `after` is measured from the
/// moment the server was told (before network latency).
#[derive(Clone, Debug, PartialEq)]
pub struct Emission {
    /// Offset from the triggering output.
    pub after: Duration,
    /// The input, addressed to its connection.
    pub input: Input,
}

/// Where the server puts a turn-state token on WebSocket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TurnStateDelivery {
    /// Revision 2: a `response.metadata` event ahead of the next WebSocket response's
    /// frames.
    #[default]
    ResponseMetadata,
    /// Revision 1: the `x-codex-turn-state` header of the next accepted handshake.
    HandshakeHeader,
}

/// How a WebSocket request message asked for its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsKind {
    /// `response.create` without `previous_response_id`.
    Create,
    /// `response.append` (v1).
    Append,
    /// `response.create` with `previous_response_id` (v2).
    Chained,
    /// Anything else (a protocol violation).
    Invalid,
}

/// One `POST` the server received.
#[derive(Clone, Debug)]
pub struct HttpRecord {
    /// When it arrived (virtual).
    pub at: Instant,
    /// The number of the session input whose outputs produced it (orders records
    /// of different kinds and caller events).
    pub step: u64,
    /// Its connection.
    pub conn: ConnId,
    /// Method.
    pub method: String,
    /// Full URI.
    pub uri: String,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The JSON body (`Null` when it did not parse).
    pub body: Value,
    /// Whether the session asked for zstd compression.
    pub compress: bool,
    /// The HTTP status the server answered with (0 when it never answered).
    pub status: u16,
    /// The response headers it answered with.
    pub response_headers: Vec<(String, String)>,
}

/// One WebSocket handshake the server received.
#[derive(Clone, Debug)]
pub struct HandshakeRecord {
    /// When it arrived.
    pub at: Instant,
    /// The number of the session input whose outputs produced it (orders records
    /// of different kinds and caller events).
    pub step: u64,
    /// Its connection.
    pub conn: ConnId,
    /// Full URI.
    pub uri: String,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The status answered (101 accepted, 0 failed or hung).
    pub status: u16,
    /// The response headers sent with an accept.
    pub response_headers: Vec<(String, String)>,
}

/// One WebSocket message the server received.
#[derive(Clone, Debug)]
pub struct WsMessageRecord {
    /// When it arrived.
    pub at: Instant,
    /// The number of the session input whose outputs produced it (orders records
    /// of different kinds and caller events).
    pub step: u64,
    /// Its connection.
    pub conn: ConnId,
    /// The message JSON (`Null` when it did not parse).
    pub json: Value,
    /// How it asked for its response.
    pub kind: WsKind,
    /// The full input the server reconstructed (what it now holds as the prompt), or
    /// why it could not.
    pub full_input: Result<Vec<Value>, String>,
    /// The response id and output items, when the reply completed a response.
    pub completed: Option<(String, Vec<Value>)>,
    /// The server had already closed the socket: the message was lost.
    pub lost: bool,
    /// The turn-state token of the first `response.metadata` frame of the reply.
    pub metadata_token: Option<String>,
    /// The message's `client_metadata` object, entries with string values only (empty
    /// when absent).
    pub client_metadata: BTreeMap<String, String>,
    /// The server did not hold the chain the message named and answered
    /// `previous_response_not_found`.
    pub chain_lost: bool,
}

impl WsMessageRecord {
    /// The `client_metadata` value under `key`, if the message carried one.
    pub fn client_metadata_value(&self, key: &str) -> Option<&str> {
        self.client_metadata.get(key).map(String::as_str)
    }

    /// The turn-state token the message carried in `client_metadata`.
    pub fn turn_state(&self) -> Option<&str> {
        self.client_metadata_value(TURN_STATE)
    }

    /// The message's `previous_response_id`, if any.
    pub fn previous_response_id(&self) -> Option<&str> {
        self.json
            .get("previous_response_id")
            .and_then(Value::as_str)
    }

    /// The number of items in the message's `input`.
    pub fn input_len(&self) -> usize {
        self.json
            .get("input")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    /// The message's `generate` field, if present (`Some(false)` on a prewarm).
    pub fn generate(&self) -> Option<bool> {
        self.json.get("generate").and_then(Value::as_bool)
    }
}

/// The string entries of a message's or body's `client_metadata` object.
pub(super) fn client_metadata_of(json: &Value) -> BTreeMap<String, String> {
    json.get("client_metadata")
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A connection the session closed.
#[derive(Clone, Debug)]
pub struct CloseRecord {
    /// When.
    pub at: Instant,
    /// The number of the session input whose outputs produced it (orders records
    /// of different kinds and caller events).
    pub step: u64,
    /// Which.
    pub conn: ConnId,
}

/// Everything the server received, in order of arrival per kind.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// Every `POST`.
    pub http: Vec<HttpRecord>,
    /// Every WebSocket handshake (preconnects included).
    pub handshakes: Vec<HandshakeRecord>,
    /// Every WebSocket message.
    pub ws_messages: Vec<WsMessageRecord>,
    /// Every close.
    pub closes: Vec<CloseRecord>,
    /// Every ping, with the connection and when.
    pub pings: Vec<(Instant, ConnId)>,
    /// Protocol violations the server saw (malformed messages, chaining onto a
    /// response it does not hold, a message on a socket that is not open).
    pub violations: Vec<String>,
}

impl Recording {
    /// Number of `POST`s.
    pub fn posts(&self) -> usize {
        self.http.len()
    }

    /// Number of WebSocket handshakes.
    pub fn ws_attempts(&self) -> usize {
        self.handshakes.len()
    }

    /// The value of header `name` on the `i`th `POST`, if present.
    pub fn post_header(&self, i: usize, name: &str) -> Option<String> {
        header_text(&self.http.get(i)?.headers, name)
    }

    /// The value of header `name` on the `i`th handshake, if present.
    pub fn handshake_header(&self, i: usize, name: &str) -> Option<String> {
        header_text(&self.handshakes.get(i)?.headers, name)
    }

    /// The turn-state token each WebSocket message carried in its `client_metadata`,
    /// in order of arrival (lost messages included).
    pub fn message_turn_states(&self) -> Vec<Option<String>> {
        self.ws_messages
            .iter()
            .map(|m| m.turn_state().map(str::to_owned))
            .collect()
    }
}

/// A header's value as text.
pub fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// What the server holds for one WebSocket connection after a completed response.
#[derive(Clone, Debug)]
struct Held {
    input: Vec<Value>,
    output: Vec<Value>,
    response_id: String,
}

#[derive(Clone, Debug, Default)]
struct WsConnState {
    open: bool,
    held: Option<Held>,
    /// When the server closes the socket on its own.
    closes_at: Option<Instant>,
    /// The server dropped what it held on purpose (a lost chain, not a client bug).
    forgot: bool,
    /// The socket answers no pings.
    deaf: bool,
}

/// Line ending used in SSE bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`.
    CrLf,
    /// `\r`.
    Cr,
}

impl LineEnding {
    fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

/// The scripted fake server. See the module documentation.
#[derive(Debug, Default)]
pub struct FakeServer {
    http_script: VecDeque<Reply>,
    handshake_script: VecDeque<Handshake>,
    ws_script: VecDeque<Reply>,
    prewarm_script: VecDeque<Reply>,
    responses: u64,
    ws_conns: BTreeMap<ConnId, WsConnState>,
    recording: Recording,
    faults: Option<ServerFaults>,
    noted_delays: Vec<Duration>,
    /// Tokens queued by [`FakeServer::send_turn_state`], not yet sent.
    turn_states: VecDeque<String>,
    /// Where tokens go on WebSocket.
    pub turn_state_delivery: TurnStateDelivery,
    /// The number of the session input being handled; the simulator sets it.
    pub(crate) step: u64,
    /// Line ending of SSE bodies.
    pub line_ending: LineEnding,
    /// Text of the default model's reply; `{n}` is replaced by the response number.
    pub model_text: Option<String>,
    /// Which default model answers unscripted requests (and [`Step::Model`]).
    pub model: ModelKind,
    /// The request being answered, for the model.
    model_context: ModelContext,
    /// Rules that pick replies by what a request says; tried before the positional
    /// lists.
    pub rules: ReplyRules,
    /// Sockets accepted from now on answer no pings.
    deaf: bool,
    /// How the simulator's server ends idle keep-alive connections (the loopback
    /// server takes its keep-alive rules from its `ServerOptions` instead).
    pub keep_alive: super::keepalive::KeepAliveScript,
}

impl FakeServer {
    /// A server that answers everything with the default model.
    pub fn new() -> Self {
        FakeServer::default()
    }

    /// A server that answers everything with the spec-complete model
    /// ([`ModelKind::Full`]): what `turnwire serve` and scenario files use.
    pub fn spec_complete() -> Self {
        FakeServer {
            model: ModelKind::Full,
            ..FakeServer::default()
        }
    }

    /// A server whose unscripted replies come from a seeded fault schedule.
    pub fn with_faults(faults: ServerFaults) -> Self {
        FakeServer {
            faults: Some(faults),
            ..FakeServer::default()
        }
    }

    /// Queues the reply to the next unscripted `POST`.
    pub fn push_http(&mut self, reply: Reply) {
        self.http_script.push_back(reply);
    }

    /// Queues the answer to the next WebSocket handshake (preconnects included).
    pub fn push_handshake(&mut self, handshake: Handshake) {
        self.handshake_script.push_back(handshake);
    }

    /// Queues the reply to the next WebSocket request message.
    pub fn push_ws(&mut self, reply: Reply) {
        self.ws_script.push_back(reply);
    }

    /// Queues a turn-state token: it goes out with the next `POST` reply (as the
    /// `x-codex-turn-state` response header) or, on WebSocket, per
    /// [`FakeServer::turn_state_delivery`]: in a `response.metadata` event ahead of the
    /// next message's reply, or in the headers of the next accepted handshake. Tokens
    /// queued together go out one per reply, in order.
    pub fn send_turn_state(&mut self, token: &str) {
        self.turn_states.push_back(token.to_owned());
    }

    /// Queues the reply to the next prewarm (`generate: false`) message; unscripted
    /// prewarms get a completed response with empty output.
    pub fn push_prewarm(&mut self, reply: Reply) {
        self.prewarm_script.push_back(reply);
    }

    /// What the server received.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// Every open socket, and every socket accepted later, stops answering pings (a
    /// peer that went silent).
    pub fn stop_answering_pings(&mut self) {
        self.deaf = true;
        for state in self.ws_conns.values_mut() {
            state.deaf = true;
        }
    }

    /// The server closes `conn` without a close frame and without the client
    /// noticing: the next message on it fails to send.
    pub fn close_silently(&mut self, conn: ConnId) {
        if let Some(state) = self.ws_conns.get_mut(&conn) {
            state.open = false;
        }
    }

    /// Closes every open socket silently (see [`FakeServer::close_silently`]).
    pub fn close_all_silently(&mut self) {
        for state in self.ws_conns.values_mut() {
            state.open = false;
        }
    }

    /// The server forgets the response chain it holds on every socket (as after a
    /// restart behind the same connection): a chained message gets
    /// `previous_response_not_found`.
    pub fn forget_chains(&mut self) {
        for state in self.ws_conns.values_mut() {
            if state.held.take().is_some() {
                state.forgot = true;
            }
        }
    }

    /// The WebSocket connections that are open as far as the server knows.
    pub fn open_sockets(&self) -> Vec<ConnId> {
        self.ws_conns
            .iter()
            .filter(|(_, s)| s.open)
            .map(|(c, _)| *c)
            .collect()
    }

    /// The client pinged `conn`: a pong comes back unless the socket is deaf, closed,
    /// or was never a WebSocket.
    pub fn on_ping(&mut self, now: Instant, conn: ConnId) -> Vec<Emission> {
        self.recording.pings.push((now, conn));
        let Some(state) = self.ws_conns.get(&conn) else {
            self.violation(format!("ping on {conn}, which was never a WebSocket"));
            return Vec::new();
        };
        let alive = state.open && !state.deaf && state.closes_at.is_none_or(|at| now < at);
        if !alive {
            return Vec::new();
        }
        vec![Emission {
            after: Duration::ZERO,
            input: Input::WsActivity { conn },
        }]
    }

    /// Server-requested delays carried by the replies chosen since the last call.
    pub fn take_requested_delays(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.noted_delays)
    }

    /// Responses the default model started so far.
    pub fn model_responses(&self) -> u64 {
        self.responses
    }

    /// A `POST` arrived: record it and answer with the next scripted reply or the model.
    pub fn on_open_http(&mut self, now: Instant, open: &HttpOpen) -> Vec<Emission> {
        let request = &open.request;
        let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
        let streaming = body.get("stream") == Some(&Value::Bool(true));
        if !streaming {
            self.violation(format!("POST on {} without stream: true", open.conn));
        }
        if self.model == ModelKind::Full {
            self.model_context = ModelContext::new(body.clone(), now);
        }
        let chosen = self.rules.choose_http(request, &body);
        let mut reply = match chosen.or_else(|| self.http_script.pop_front()) {
            Some(reply) => reply,
            None => self.unscripted_http(),
        };
        if reply.status != 0
            && let Some(token) = self.turn_states.pop_front()
        {
            reply = reply.header(TURN_STATE, &token);
        }
        let reply = if streaming { reply } else { self.folded(reply) };
        self.noted_delays
            .extend(reply.requested_delays.iter().copied());
        self.recording.http.push(HttpRecord {
            at: now,
            step: self.step,
            conn: open.conn,
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            headers: request.headers().clone(),
            body,
            compress: open.compress,
            status: reply.status,
            response_headers: reply.headers.clone(),
        });
        self.render_http(open.conn, &reply)
    }

    /// A WebSocket handshake arrived: record it and answer per script (default: accept).
    pub fn on_open_ws(&mut self, now: Instant, open: &WsOpen) -> Vec<Emission> {
        let conn = open.conn;
        self.rules.note_handshake(conn, &open.request);
        let mut answer = match self.handshake_script.pop_front() {
            Some(answer) => answer,
            None => match self.faults.as_mut() {
                Some(faults) => faults.handshake(),
                None => Handshake::accept(),
            },
        };
        if self.turn_state_delivery == TurnStateDelivery::HandshakeHeader
            && let Handshake::Accept { headers, .. } | Handshake::AcceptThenClose { headers, .. } =
                &mut answer
            && let Some(token) = self.turn_states.pop_front()
        {
            headers.push((TURN_STATE.to_owned(), token));
        }
        let (status, response_headers) = match &answer {
            Handshake::Accept { headers, .. } | Handshake::AcceptThenClose { headers, .. } => {
                (101, headers.clone())
            }
            Handshake::Refuse { status, .. } => (*status, Vec::new()),
            Handshake::Fail(_) | Handshake::Hang => (0, Vec::new()),
        };
        self.recording.handshakes.push(HandshakeRecord {
            at: now,
            step: self.step,
            conn,
            uri: open.request.uri().to_string(),
            headers: open.request.headers().clone(),
            status,
            response_headers,
        });
        match answer {
            Handshake::Accept { headers, delay } => {
                let deaf = self.deaf || self.faults.as_mut().is_some_and(|f| f.deaf_socket());
                self.ws_conns.insert(
                    conn,
                    WsConnState {
                        open: true,
                        deaf,
                        ..WsConnState::default()
                    },
                );
                vec![Emission {
                    after: delay,
                    input: Input::WsOpened {
                        conn,
                        headers: header_map(&headers),
                    },
                }]
            }
            Handshake::AcceptThenClose {
                headers,
                delay,
                close_after,
            } => {
                let closes = delay.saturating_add(close_after);
                self.ws_conns.insert(
                    conn,
                    WsConnState {
                        open: true,
                        closes_at: Some(now.saturating_add(closes)),
                        deaf: self.deaf,
                        ..WsConnState::default()
                    },
                );
                vec![
                    Emission {
                        after: delay,
                        input: Input::WsOpened {
                            conn,
                            headers: header_map(&headers),
                        },
                    },
                    Emission {
                        after: closes,
                        input: Input::WsClosed {
                            conn,
                            code: Some(1001),
                            reason: "going away".into(),
                        },
                    },
                ]
            }
            Handshake::Refuse {
                status,
                headers,
                body,
            } => vec![Emission {
                after: Duration::ZERO,
                input: Input::WsRefused {
                    conn,
                    status,
                    headers: header_map(&headers),
                    body: Bytes::from(body),
                },
            }],
            Handshake::Fail(message) => vec![Emission {
                after: Duration::ZERO,
                input: Input::TransportError { conn, message },
            }],
            Handshake::Hang => Vec::new(),
        }
    }

    /// A WebSocket text message arrived: record it, reconstruct the full input it
    /// implies, and answer with the next scripted reply or the model.
    pub fn on_send_ws(&mut self, now: Instant, conn: ConnId, text: &str) -> Vec<Emission> {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let Some(state) = self.ws_conns.get(&conn).cloned() else {
            self.violation(format!(
                "message on {conn}, which was never an open WebSocket"
            ));
            return Vec::new();
        };
        if !state.open || state.closes_at.is_some_and(|at| now >= at) {
            // The server already closed this socket (its close is on the way to the
            // client): the message is lost and the send fails.
            self.recording.ws_messages.push(WsMessageRecord {
                at: now,
                step: self.step,
                conn,
                kind: reconstruct(&json, None).0,
                client_metadata: client_metadata_of(&json),
                json,
                full_input: Err("sent after the server closed the socket".into()),
                completed: None,
                lost: true,
                metadata_token: None,
                chain_lost: false,
            });
            return vec![Emission {
                after: Duration::ZERO,
                input: Input::SendFailed {
                    conn,
                    message: "the peer closed the socket".into(),
                },
            }];
        }
        let mut held = state.held;
        let mut forgot = state.forgot;
        let chained = json.get("previous_response_id").is_some();
        if chained && held.is_some() && self.faults.as_mut().is_some_and(ServerFaults::lose_chain) {
            held = None;
            forgot = true;
        }
        let (kind, full_input) = reconstruct(&json, held.as_ref());
        let chain_lost = chained && full_input.is_err() && kind == WsKind::Chained;
        if let Err(why) = &full_input
            && !(chain_lost && forgot)
        {
            self.violation(format!("message on {conn}: {why}"));
        }
        let prewarm = json.get("generate") == Some(&Value::Bool(false));
        let mut reply = if chain_lost {
            Reply::events([crate::wire::ev::ws_error(
                400,
                "invalid_request_error",
                "previous_response_not_found",
                "Previous response with id not found.",
                &[],
            )])
        } else if prewarm {
            let scripted = self.prewarm_script.pop_front();
            match scripted.or_else(|| self.faults.as_mut().and_then(ServerFaults::prewarm_fault)) {
                Some(reply) => reply,
                None => {
                    self.responses += 1;
                    let id = format!("resp-{}", self.responses);
                    Reply::events([ev::created(&id), ev::completed(&id)])
                }
            }
        } else {
            // Rules and the full model see the message with the input it stands for.
            let mut chosen = None;
            if self.model == ModelKind::Full || !self.rules.is_empty() {
                let mut request = json.clone();
                if let (Ok(input), Some(map)) = (&full_input, request.as_object_mut()) {
                    map.insert("input".into(), Value::Array(input.clone()));
                }
                chosen = self.rules.choose_ws(conn, &request);
                self.model_context = ModelContext::new(request, now);
            }
            match chosen.or_else(|| self.ws_script.pop_front()) {
                Some(reply) => reply,
                None => self.unscripted_ws(),
            }
        };
        if !prewarm
            && !chain_lost
            && self.turn_state_delivery == TurnStateDelivery::ResponseMetadata
            && let Some(token) = self.turn_states.pop_front()
        {
            reply
                .steps
                .insert(0, Step::Event(ev::metadata_turn_state(&token)));
        }
        self.noted_delays
            .extend(reply.requested_delays.iter().copied());
        let metadata_token = reply.steps.iter().find_map(|step| match step {
            Step::Event(e) if ev::kind(e) == "response.metadata" => e
                .get("headers")
                .and_then(|h| h.get(TURN_STATE))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        });
        let (emissions, completed) = self.render_ws(conn, &reply);
        if let Some(state) = self.ws_conns.get_mut(&conn) {
            state.forgot = false;
            state.held = match (&completed, &full_input) {
                (Some((id, output)), Ok(input)) => Some(Held {
                    input: input.clone(),
                    output: output.clone(),
                    response_id: id.clone(),
                }),
                _ => None,
            };
            if matches!(reply.end, End::Reset(_) | End::Close { .. }) {
                state.open = false;
            }
        }
        self.recording.ws_messages.push(WsMessageRecord {
            at: now,
            step: self.step,
            conn,
            client_metadata: client_metadata_of(&json),
            json,
            kind,
            full_input,
            completed,
            lost: false,
            metadata_token,
            chain_lost,
        });
        emissions
    }

    /// The session closed a connection.
    pub fn on_close(&mut self, now: Instant, conn: ConnId) {
        if let Some(state) = self.ws_conns.get_mut(&conn) {
            state.open = false;
        }
        self.recording.closes.push(CloseRecord {
            at: now,
            step: self.step,
            conn,
        });
    }

    fn violation(&mut self, text: String) {
        self.recording.violations.push(text);
    }

    fn unscripted_http(&mut self) -> Reply {
        match self.faults.as_mut() {
            Some(faults) => faults.http_reply(),
            None => Reply::model(),
        }
    }

    fn unscripted_ws(&mut self) -> Reply {
        match self.faults.as_mut() {
            Some(faults) => faults.ws_reply(),
            None => Reply::model(),
        }
    }

    /// The default model's events with fresh ids: four with [`ModelKind::Compact`],
    /// the whole sequence with [`ModelKind::Full`].
    fn model_events(&mut self) -> Vec<Value> {
        self.responses += 1;
        let n = self.responses;
        let id = format!("resp-{n}");
        let item_id = format!("msg-{n}");
        let text = match &self.model_text {
            Some(t) => t.replace("{n}", &n.to_string()),
            None => format!("Antwort {n}: grüße, 世界 ✓ 🙂"),
        };
        if self.model == ModelKind::Full {
            return model::full_events(&self.model_context, n, &text);
        }
        vec![
            ev::created(&id),
            ev::text_delta(&item_id, &text),
            ev::item_done(wire::assistant(&item_id, &text)),
            ev::completed(&id),
        ]
    }

    /// The reply a non-streaming request gets for `reply`: a streamed 200 becomes one
    /// `application/json` body with the response its events fold into (see
    /// [`fold`]), sent once the whole stream would have been; a cut or a stall stays
    /// one, before the head.
    fn folded(&mut self, reply: Reply) -> Reply {
        let streamed = reply.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("content-type") && value.starts_with("text/event-stream")
        });
        if reply.status != 200 || !streamed {
            return reply;
        }
        let frames = self.expand(&reply);
        let ready = frames.last().map_or(reply.head_delay, |(at, _)| *at);
        let events: Vec<Value> = frames
            .into_iter()
            .filter_map(|(_, frame)| match frame {
                Frame::Event(value) => Some(value),
                _ => None,
            })
            .collect();
        let mut headers: Vec<(String, String)> = reply
            .headers
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
            .collect();
        let answer = match reply.end {
            End::Reset(message) => Reply::reset_before_head(&message),
            End::Open => Reply::hang(),
            End::Eof | End::Close { .. } => match fold(&events) {
                Folded::Response(response) => Reply::status(200, &response.to_string()),
                Folded::Error { status, body } => Reply::status(status, &body.to_string()),
            },
        };
        headers.extend(answer.headers);
        Reply {
            headers,
            head_delay: ready,
            requested_delays: reply.requested_delays,
            ..answer
        }
    }

    /// Expands the steps into events/frames with their offsets.
    fn expand(&mut self, reply: &Reply) -> Vec<(Duration, Frame)> {
        let mut at = reply.head_delay;
        let mut frames = Vec::new();
        for step in &reply.steps {
            match step {
                Step::Event(value) => frames.push((at, Frame::Event(value.clone()))),
                Step::Model => {
                    for e in self.model_events() {
                        frames.push((at, Frame::Event(e)));
                    }
                }
                Step::ModelPrefix(n) => {
                    for e in self.model_events().into_iter().take(*n) {
                        frames.push((at, Frame::Event(e)));
                    }
                }
                Step::Keepalive => frames.push((at, Frame::Keepalive)),
                Step::Raw(text) => frames.push((at, Frame::Raw(text.clone()))),
                Step::Binary(len) => frames.push((at, Frame::Binary(*len))),
                Step::Wait(d) => at += *d,
            }
        }
        frames.push((at, Frame::End));
        frames
    }

    fn render_http(&mut self, conn: ConnId, reply: &Reply) -> Vec<Emission> {
        if reply.status == 0 {
            return match &reply.end {
                End::Reset(message) => vec![Emission {
                    after: reply.head_delay,
                    input: Input::TransportError {
                        conn,
                        message: message.clone(),
                    },
                }],
                _ => Vec::new(),
            };
        }
        let frames = self.expand(reply);
        let nl = self.line_ending.as_str();
        let mut out = vec![Emission {
            after: reply.head_delay,
            input: Input::HttpResponse {
                conn,
                status: reply.status,
                headers: header_map(&reply.headers),
            },
        }];
        for (after, frame) in frames {
            let input = match frame {
                Frame::Event(value) => {
                    let data = format!("event: {}{nl}data: {}{nl}{nl}", ev::kind(&value), value);
                    Input::HttpBody {
                        conn,
                        data: Bytes::from(data),
                    }
                }
                Frame::Keepalive => Input::HttpBody {
                    conn,
                    data: Bytes::from(format!(": keepalive{nl}")),
                },
                Frame::Raw(text) => Input::HttpBody {
                    conn,
                    data: Bytes::from(text),
                },
                Frame::Binary(_) => continue,
                Frame::End => match &reply.end {
                    End::Eof | End::Close { .. } => Input::HttpEnd { conn },
                    End::Open => continue,
                    End::Reset(message) => Input::TransportError {
                        conn,
                        message: message.clone(),
                    },
                },
            };
            out.push(Emission { after, input });
        }
        out
    }

    /// Renders WebSocket frames; also returns the completed response (id, output
    /// items) when the frames complete one before any error.
    fn render_ws(
        &mut self,
        conn: ConnId,
        reply: &Reply,
    ) -> (Vec<Emission>, Option<(String, Vec<Value>)>) {
        let frames = self.expand(reply);
        let mut out = Vec::new();
        let mut outputs = Vec::new();
        let mut completed = None;
        let mut ended = false;
        for (after, frame) in frames {
            let input = match frame {
                Frame::Event(value) => {
                    if !ended {
                        match ev::kind(&value) {
                            "response.output_item.done" => {
                                outputs.push(value.get("item").cloned().unwrap_or(Value::Null));
                            }
                            "response.completed" | "response.done" => {
                                let id = value
                                    .pointer("/response/id")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_owned();
                                completed = Some((id, outputs.clone()));
                                ended = true;
                            }
                            _ if ev::ends_response(&value) => ended = true,
                            _ => {}
                        }
                    }
                    Input::WsText {
                        conn,
                        text: value.to_string(),
                    }
                }
                Frame::Keepalive => Input::WsActivity { conn },
                Frame::Raw(text) => Input::WsText { conn, text },
                Frame::Binary(len) => {
                    ended = true;
                    Input::WsBinary { conn, len }
                }
                Frame::End => match &reply.end {
                    End::Eof | End::Open => continue,
                    End::Reset(message) => Input::TransportError {
                        conn,
                        message: message.clone(),
                    },
                    End::Close { code, reason } => Input::WsClosed {
                        conn,
                        code: *code,
                        reason: reason.clone(),
                    },
                },
            };
            out.push(Emission { after, input });
        }
        (out, completed)
    }
}

#[derive(Debug)]
enum Frame {
    Event(Value),
    Keepalive,
    Raw(String),
    Binary(usize),
    End,
}

/// What a message asks for and the full input it implies given what the connection
/// holds.
fn reconstruct(json: &Value, held: Option<&Held>) -> (WsKind, Result<Vec<Value>, String>) {
    let input = json.get("input").and_then(Value::as_array).cloned();
    let kind = json.get("type").and_then(Value::as_str).unwrap_or("");
    let previous = json.get("previous_response_id").and_then(Value::as_str);
    let Some(input) = input else {
        return (
            WsKind::Invalid,
            Err("message without an input array".into()),
        );
    };
    match (kind, previous) {
        ("response.create", None) => (WsKind::Create, Ok(input)),
        ("response.create", Some(previous)) => match held {
            Some(h) if h.response_id == previous => {
                let mut full = h.input.clone();
                full.extend(h.output.iter().cloned());
                full.extend(input);
                (WsKind::Chained, Ok(full))
            }
            _ => (
                WsKind::Chained,
                Err(format!(
                    "previous_response_id {previous:?} is not the connection's last completed response"
                )),
            ),
        },
        ("response.append", _) => match held {
            Some(h) => {
                let mut full = h.input.clone();
                full.extend(input);
                (WsKind::Append, Ok(full))
            }
            None => (
                WsKind::Append,
                Err("response.append without a completed response on the connection".into()),
            ),
        },
        (other, _) => (
            WsKind::Invalid,
            Err(format!("unknown message type {other:?}")),
        ),
    }
}

/// Builds a header map from pairs; invalid pairs are skipped (scripts are tests' own).
pub fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}
