//! The client's background task: owns the sans-IO [`Session`], feeds it commands,
//! transport results and timeouts, and carries out its outputs.
//!
//! Loop: drain outputs → re-arm the timer if the deadline changed → feed a due
//! timeout → wait for one command, transport result, stream room or the timer → read
//! the clock once → feed what woke it. Each wake-up feeds at most one input, so work
//! per wake-up is bounded, and nothing in the loop waits on a single stream or
//! connection: a slow reader pauses only the connection that feeds it (see
//! [`crate::delivery`]). Reports a connection has queued are fed in bursts (see
//! [`BURST`]): the next one is taken without polling anything else first, and on the
//! clock reading of the burst's first. A large HTTP body read is fed in slices, the
//! first one ending with the first event, and the task yields as soon as a stream has
//! its first item, so the caller takes it before the rest of the read is decoded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_util::future::{AbortHandle, abortable, poll_fn};
use futures_util::{SinkExt, StreamExt};
use turnwire_protocol::pool::IdlePool;
use turnwire_protocol::session::{
    CloseReason, ConnId, HttpOpen, Input, InputAck, Output, PrewarmSpec, RequestSpec, Session,
    SessionParams, Telemetry, TurnId, TurnOptions, UsageError,
};
use turnwire_protocol::{Instant, Now, UnixTime};

use crate::auth::AuthProvider;
use crate::connect::{Connector, Endpoint};
use crate::delivery::{Delivered, Item, Sinks};
use crate::error::{BuildError, StreamError};
use crate::keepalive::{self, Ended};
use crate::options::{ClientOptions, InputRecorder, TelemetryHook};
use crate::runtime::{AsyncTimer, BoxStream, Runtime};
use crate::{http_conn, ws_conn};

/// Transport results queued per connection before its task waits for the session.
const CONN_QUEUE: usize = 16;
/// WebSocket messages queued per socket.
const OUTBOUND_QUEUE: usize = 16;
/// Most bytes of an HTTP body fed to the session per wake-up. A read of up to 16 KiB
/// holds dozens of events; feeding it in slices, and letting the readers run between
/// slices, hands the first events over before the rest is decoded. The first slice of
/// a response is shorter still: it ends with its first event (see [`first_event_end`]).
const FEED_SLICE: usize = 4 * 1024;
/// How long one reading of the wall clock is carried forward on the monotonic clock
/// before the wall clock is read again. The session reads wall time only to interpret
/// `Retry-After` HTTP dates, which count whole seconds.
const WALL_CLOCK_REFRESH: Duration = Duration::from_secs(1);
/// Most reports of one connection fed in a row, each on the clock reading of the
/// first, before commands, the timer and the other connections are polled again. A
/// WebSocket frame or an HTTP read is one report; polling every channel for each one
/// cost more than handing its event over.
const BURST: usize = 16;
/// End reports of connection tasks queued before a task waits to send its own.
const ENDED_QUEUE: usize = 16;
/// How long a request that finds no idle connection waits for one to its origin that
/// is still reading the end of its previous body (the usual case for sequential
/// requests: the caller saw the terminal event before the terminating chunk was read).
const PARK_WAIT: Duration = Duration::from_millis(50);

/// What the API sends the background task. Handles are the client's own numbers for
/// turns and streams; the task maps them to the session's ids.
pub(crate) enum Command {
    Preconnect,
    Prewarm(Box<PrewarmSpec>),
    StartTurn {
        handle: u64,
        options: TurnOptions,
    },
    StartRequest {
        turn: u64,
        stream: u64,
        spec: Box<RequestSpec>,
        events: mpsc::Sender<Item>,
    },
    Cancel {
        stream: u64,
    },
    EndTurn {
        turn: u64,
    },
}

/// A running connection task.
struct ConnTask {
    abort: AbortHandle,
    /// Messages to send (WebSocket only).
    outbound: Option<mpsc::Sender<ws_conn::Outbound>>,
    /// What the task reports; `None` once it ended.
    inputs: Option<mpsc::Receiver<Input>>,
    /// Not read while a stream it feeds is full.
    paused: bool,
    /// Some of its HTTP body was fed to the session.
    body_fed: bool,
    /// The task reported its end (its queued inputs may still wait to be read).
    ended: bool,
    /// Where an HTTP exchange goes (the pool's key); `None` for a WebSocket.
    origin: Option<Endpoint>,
    /// Dropped to tell an HTTP task the session stopped listening (which dropping the
    /// whole entry does too).
    stop: Option<oneshot::Sender<()>>,
}

impl ConnTask {
    fn new(
        abort: AbortHandle,
        outbound: Option<mpsc::Sender<ws_conn::Outbound>>,
        inputs: mpsc::Receiver<Input>,
    ) -> Self {
        ConnTask {
            abort,
            outbound,
            inputs: Some(inputs),
            paused: false,
            body_fed: false,
            ended: false,
            origin: None,
            stop: None,
        }
    }
}

/// A task the session closed as finished, still ending gracefully.
struct Finishing {
    abort: AbortHandle,
    /// The origin of an HTTP connection that may come back to the pool.
    origin: Option<Endpoint>,
}

// `Input` is large because a request's spec travels in it, but a `Wake` is built
// and consumed once per poll; boxing it would allocate for every transport input.
#[allow(clippy::large_enum_variant)]
enum Wake {
    Command(Command),
    Input {
        source: Option<ConnId>,
        input: Input,
    },
    Resume(Vec<ConnId>),
    Ended(Ended),
    Timer,
    Shutdown,
}

pub(crate) struct Actor {
    session: Session,
    runtime: Arc<dyn Runtime>,
    connector: Arc<Connector>,
    auth: Arc<dyn AuthProvider>,
    origin: StdInstant,
    /// The last wall-clock reading and the monotonic time it was taken at.
    wall: Option<(Instant, UnixTime)>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Results of auth refreshes.
    auth_results: mpsc::Receiver<Input>,
    auth_results_tx: mpsc::Sender<Input>,
    timer: std::pin::Pin<Box<dyn AsyncTimer>>,
    /// The next deadline: the session's, the pool's next expiry or a parked request's
    /// wait, whichever comes first.
    timer_deadline: Option<Instant>,
    /// The deadline the timer is set to, while it has not fired; never later than
    /// `timer_deadline`.
    armed: Option<Instant>,
    conns: BTreeMap<ConnId, ConnTask>,
    /// Tasks the session closed as finished, still ending gracefully (reading an HTTP
    /// body to its end, closing a WebSocket); aborted only at shutdown.
    finishing: BTreeMap<ConnId, Finishing>,
    /// HTTP requests waiting (until the instant) for a finishing connection to their
    /// origin to come back to the pool, instead of opening a new one at once.
    parked: Vec<(Instant, HttpOpen)>,
    /// Idle HTTP connections kept for reuse (PROTOCOL.md section 3.3).
    pool: IdlePool<Endpoint, BoxStream>,
    /// Connection tasks report their end here.
    ended: mpsc::Receiver<Ended>,
    ended_tx: mpsc::Sender<Ended>,
    /// Where the next connection poll starts, so busy connections cannot starve others.
    poll_from: ConnId,
    turns: BTreeMap<u64, TurnId>,
    sinks: Sinks,
    auth_task: Option<AbortHandle>,
    /// Inputs the task generated itself (failed sends), fed before waiting.
    pending: VecDeque<Input>,
    /// The part of a connection's HTTP body read not fed yet (see [`FEED_SLICE`]).
    carry: Option<(ConnId, Bytes)>,
    /// An event was handed to a stream since the task last let other tasks run.
    delivered: bool,
    /// The connection whose input is being processed, for backpressure.
    source: Option<ConnId>,
    /// The connection of the burst in progress and how many more of its reports the
    /// burst may take (see [`BURST`]).
    burst: Option<(ConnId, usize)>,
    telemetry: Option<TelemetryHook>,
    recorder: Option<InputRecorder>,
    max_message: usize,
}

impl Actor {
    pub(crate) fn new(
        runtime: Arc<dyn Runtime>,
        options: ClientOptions,
        conversation_id: String,
        seed: u64,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<Actor, BuildError> {
        let connector = Arc::new(Connector::new(&options.tls, options.proxy.clone())?);
        let max_message = options.config.limits.ws_message;
        let session = Session::new(SessionParams {
            config: options.config,
            credentials: options.auth.credentials(),
            auth_refreshable: options.auth.can_refresh(),
            conversation_id,
            seed,
        })?;
        let origin = runtime.now();
        let (auth_results_tx, auth_results) = mpsc::channel(1);
        let (ended_tx, ended) = mpsc::channel(ENDED_QUEUE);
        let pool = IdlePool::new(options.http_pool);
        let timer = runtime.new_timer(origin + Duration::from_secs(3600));
        tracing::debug!(seed, "turnwire session started");
        Ok(Actor {
            session,
            connector,
            auth: options.auth,
            origin,
            wall: None,
            commands,
            auth_results,
            auth_results_tx,
            timer,
            timer_deadline: None,
            armed: None,
            conns: BTreeMap::new(),
            finishing: BTreeMap::new(),
            parked: Vec::new(),
            pool,
            ended,
            ended_tx,
            poll_from: ConnId(0),
            turns: BTreeMap::new(),
            sinks: Sinks::default(),
            auth_task: None,
            pending: VecDeque::new(),
            carry: None,
            delivered: false,
            source: None,
            burst: None,
            telemetry: options.telemetry,
            recorder: options.recorder,
            max_message,
            runtime,
        })
    }

    /// Runs until every client handle is dropped, then closes everything it opened.
    ///
    /// The clock is read once per wake-up, right after it: every input of that
    /// wake-up, the pool's expiries, parked requests and the check for a due timeout
    /// after it use that reading. A deadline that passes while the outputs are handled
    /// is caught by the timer.
    pub(crate) async fn run(mut self) {
        let mut now = self.now();
        loop {
            self.drain(now.instant);
            if self.sinks.take_first_items() {
                // A stream just got its first item: let its reader take it before
                // anything else is decoded. This is the wait a caller feels most.
                self.runtime.yield_now().await;
                now = self.now();
            }
            while let Some(expired) = self.pool.pop_expired(now.instant) {
                drop(expired); // closes the socket
            }
            if self.parked.iter().any(|(until, _)| *until <= now.instant) {
                self.unpark(now.instant, |until| until <= now.instant);
            }
            let session_deadline = self.session.poll_timeout();
            self.arm_timer(session_deadline);
            if session_deadline.is_some_and(|d| now.instant >= d) {
                self.feed(now, None, Input::Timeout);
                continue;
            }
            if let Some(input) = self.pending.pop_front() {
                self.feed(now, None, input);
                continue;
            }
            if let Some((conn, rest)) = self.carry.take() {
                match self.conns.get(&conn) {
                    // Closed: the session expects nothing more from it.
                    None => continue,
                    // Fed once its reader makes room (the connection is not polled
                    // meanwhile, so its bytes stay in order).
                    Some(task) if task.paused => self.carry = Some((conn, rest)),
                    Some(_) => {
                        if std::mem::take(&mut self.delivered) {
                            // Let the readers take what was delivered before decoding
                            // more.
                            self.runtime.yield_now().await;
                            now = self.now();
                        }
                        let input = self.slice(conn, rest);
                        self.feed(now, Some(conn), input);
                        continue;
                    }
                }
            }
            let (wake, in_burst) = match self.next_in_burst() {
                Some(wake) => (wake, true),
                None => (poll_fn(|cx| self.poll_wake(cx)).await, false),
            };
            if !in_burst {
                now = self.now();
            }
            match wake {
                Wake::Command(command) => self.command(now, command),
                Wake::Input {
                    source: Some(conn),
                    input: Input::HttpBody { data, .. },
                } => {
                    self.delivered = false;
                    let input = self.slice(conn, data);
                    self.feed(now, Some(conn), input);
                }
                Wake::Input { source, input } => {
                    self.feed(now, source, input);
                }
                Wake::Resume(conns) => {
                    for conn in conns {
                        if let Some(task) = self.conns.get_mut(&conn) {
                            task.paused = false;
                        }
                    }
                }
                Wake::Ended(ended) => self.task_ended(now.instant, ended),
                // Checked against the clock at the top of the loop; the timer may have
                // been set to an earlier deadline than the next one (see `arm_timer`).
                Wake::Timer => self.armed = None,
                Wake::Shutdown => break,
            }
        }
        for (_, task) in std::mem::take(&mut self.conns) {
            task.abort.abort();
        }
        for (_, finishing) in std::mem::take(&mut self.finishing) {
            finishing.abort.abort();
        }
        drop(self.pool.drain());
        if let Some(task) = self.auth_task.take() {
            task.abort();
        }
    }

    /// Reads the monotonic clock. The wall clock is read at most once per
    /// [`WALL_CLOCK_REFRESH`] and carried forward on the monotonic one in between.
    fn now(&mut self) -> Now {
        let elapsed = self.runtime.now().saturating_duration_since(self.origin);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let instant = Instant::from_nanos(nanos);
        let unix = match self.wall {
            Some((read_at, unix))
                if instant.saturating_duration_since(read_at) < WALL_CLOCK_REFRESH =>
            {
                let since = instant.saturating_duration_since(read_at).as_millis();
                let since = u64::try_from(since).unwrap_or(u64::MAX);
                UnixTime::from_millis(unix.as_millis().saturating_add(since))
            }
            _ => {
                let unix = self.runtime.unix_time();
                self.wall = Some((instant, unix));
                unix
            }
        };
        Now::new(instant, unix)
    }

    /// Sets the timer for the next deadline (the session's, the pool's next expiry or
    /// a parked request's wait, whichever comes first), resetting it only when that
    /// deadline moved earlier than the one the timer is set to. A deadline that moved
    /// later (an idle timeout pushed on by every event) keeps the timer where it is:
    /// it fires early, once, and is then set to the deadline of that moment. A stream
    /// thus resets its timer about once per idle period instead of once per event.
    fn arm_timer(&mut self, session_deadline: Option<Instant>) {
        let parked = self.parked.iter().map(|(until, _)| *until).min();
        let deadline = [session_deadline, self.pool.next_expiry(), parked]
            .into_iter()
            .flatten()
            .min();
        self.timer_deadline = deadline;
        let Some(deadline) = deadline else {
            return;
        };
        if self.armed.is_some_and(|armed| armed <= deadline) {
            return;
        }
        self.armed = Some(deadline);
        let at = self.origin + Duration::from_nanos(deadline.as_nanos());
        self.timer.as_mut().reset(at);
    }

    /// The next report of the connection whose burst is in progress, when it has one
    /// queued, is not paused and the burst may take more; never waits.
    fn next_in_burst(&mut self) -> Option<Wake> {
        let (conn, left) = self.burst.take()?;
        let task = self.conns.get_mut(&conn).filter(|task| !task.paused)?;
        let input = task.inputs.as_mut()?.try_recv().ok()?;
        if left > 1 {
            self.burst = Some((conn, left - 1));
        }
        Some(Wake::Input {
            source: Some(conn),
            input,
        })
    }

    /// The next thing to do: an auth result, a command, room in a full stream, a
    /// connection's report (round robin over unpaused connections), or the timer. A
    /// connection's report starts a burst (see [`BURST`]).
    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Poll::Ready(Some(input)) = self.auth_results.poll_next_unpin(cx) {
            return Poll::Ready(Wake::Input {
                source: None,
                input,
            });
        }
        match self.commands.poll_next_unpin(cx) {
            Poll::Ready(Some(command)) => return Poll::Ready(Wake::Command(command)),
            Poll::Ready(None) => return Poll::Ready(Wake::Shutdown),
            Poll::Pending => {}
        }
        if let Poll::Ready(resumed) = self.sinks.poll_flush(cx) {
            return Poll::Ready(Wake::Resume(resumed));
        }
        if let Poll::Ready(Some(ended)) = self.ended.poll_next_unpin(cx) {
            return Poll::Ready(Wake::Ended(ended));
        }
        // Round robin without collecting the order: the connections from `poll_from`
        // on, then those before it. A connection whose task ended and whose reports
        // were all read is forgotten, and the round starts again without it.
        loop {
            let from = self.poll_from;
            let polled = poll_conns(self.conns.range_mut(from..), cx)
                .or_else(|| poll_conns(self.conns.range_mut(..from), cx));
            match polled {
                Some(Polled::Input(conn, input)) => {
                    self.poll_from = ConnId(conn.0 + 1);
                    self.burst = Some((conn, BURST - 1));
                    return Poll::Ready(Wake::Input {
                        source: Some(conn),
                        input,
                    });
                }
                Some(Polled::Gone(conn)) => {
                    self.conns.remove(&conn);
                }
                None => break,
            }
        }
        if self.timer_deadline.is_some() && self.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    /// The first [`FEED_SLICE`] bytes of `data` as the connection's body input (up to
    /// the end of the first event, for the first bytes of a body); the rest waits in
    /// `carry`, fed on the next turns of the loop.
    fn slice(&mut self, conn: ConnId, mut data: Bytes) -> Input {
        let first = self
            .conns
            .get_mut(&conn)
            .is_some_and(|task| !std::mem::replace(&mut task.body_fed, true));
        let end = if first {
            first_event_end(&data[..data.len().min(FEED_SLICE)])
        } else {
            None
        };
        let end = end.unwrap_or(FEED_SLICE);
        if data.len() > end {
            self.carry = Some((conn, data.split_off(end)));
        }
        Input::HttpBody { conn, data }
    }

    /// Feeds one input to the session. Transport results for connections the session
    /// no longer expects are refused by it; that is logged, never fatal.
    fn feed(&mut self, now: Now, source: Option<ConnId>, input: Input) -> Option<InputAck> {
        self.source = source;
        if let Some(recorder) = &self.recorder {
            recorder(&now, &input);
        }
        match self.session.handle_input(now, input) {
            Ok(ack) => Some(ack),
            Err(UsageError::UnknownRequest(_)) => None,
            Err(err) => {
                tracing::warn!(error = %err, "input refused by the session");
                None
            }
        }
    }

    fn command(&mut self, now: Now, command: Command) {
        match command {
            Command::Preconnect => {
                self.feed(now, None, Input::Preconnect);
            }
            Command::Prewarm(prefix) => {
                self.feed(now, None, Input::Prewarm { prefix: *prefix });
            }
            Command::StartTurn { handle, options } => {
                if let Some(InputAck::TurnStarted(id)) =
                    self.feed(now, None, Input::StartTurn(options))
                {
                    self.turns.insert(handle, id);
                }
            }
            Command::StartRequest {
                turn,
                stream,
                spec,
                mut events,
            } => {
                let Some(&turn_id) = self.turns.get(&turn) else {
                    let _ = events.try_send(Err(StreamError::TurnNotStarted));
                    return;
                };
                let input = Input::StartRequest {
                    turn: turn_id,
                    spec: *spec,
                };
                if let Some(recorder) = &self.recorder {
                    recorder(&now, &input);
                }
                self.source = None;
                match self.session.handle_input(now, input) {
                    Ok(InputAck::RequestStarted(id)) => {
                        let span =
                            tracing::info_span!("turnwire.request", request = %id, turn = %turn_id);
                        self.sinks.insert(id, stream, events, span);
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let _ = events.try_send(Err(StreamError::Usage(err)));
                    }
                }
            }
            Command::Cancel { stream } => {
                if let Some((request, paused)) = self.sinks.remove_by_handle(stream) {
                    self.resume(&paused);
                    // The request may have ended already, its last event still queued
                    // for the dropped reader; the session then refuses the cancel.
                    self.feed(now, None, Input::CancelRequest { request });
                }
            }
            Command::EndTurn { turn } => {
                if let Some(id) = self.turns.remove(&turn) {
                    self.feed(now, None, Input::EndTurn { turn: id });
                }
            }
        }
    }

    fn resume(&mut self, conns: &[ConnId]) {
        for conn in conns {
            if let Some(task) = self.conns.get_mut(conn) {
                task.paused = false;
            }
        }
    }

    /// Carries out the session's outputs; `now` is the reading of this wake-up.
    fn drain(&mut self, now: Instant) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::OpenHttp(open) => self.open_http_or_park(now, open),
                Output::OpenWs(open) => {
                    let conn = open.conn;
                    let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
                    let (inputs, receiver) = mpsc::channel(CONN_QUEUE);
                    let task = ws_conn::run(
                        self.runtime.clone(),
                        self.connector.clone(),
                        open,
                        self.max_message,
                        inputs,
                        outbound_rx,
                        self.ended_tx.clone(),
                    );
                    let abort = self.spawn(task);
                    let task = ConnTask::new(abort, Some(outbound), receiver);
                    self.conns.insert(conn, task);
                }
                Output::SendWs { conn, text } => {
                    let sent = self
                        .conns
                        .get_mut(&conn)
                        .and_then(|t| t.outbound.as_mut())
                        .map(|tx| tx.try_send(ws_conn::Outbound::Text(text)));
                    if !matches!(sent, Some(Ok(()))) {
                        let message = "the socket's send queue is closed or full".to_owned();
                        self.pending.push_back(Input::SendFailed { conn, message });
                    }
                }
                Output::Ping { conn } => {
                    // A full queue means the socket is busy sending: no ping is needed
                    // to learn it is alive, and the session's keepalive deadline still
                    // drops it if nothing comes back.
                    if let Some(tx) = self.conns.get_mut(&conn).and_then(|t| t.outbound.as_mut()) {
                        let _ = tx.try_send(ws_conn::Outbound::Ping);
                    }
                }
                Output::Close { conn, reason } => self.close(conn, reason),
                Output::RefreshAuth => {
                    let auth = self.auth.clone();
                    let mut results = self.auth_results_tx.clone();
                    let refresh = async move {
                        let input = match auth.refresh().await {
                            Ok(credentials) => Input::AuthRefreshed { credentials },
                            Err(message) => Input::AuthRefreshFailed { message },
                        };
                        let _ = results.send(input).await;
                    };
                    self.auth_task = Some(self.spawn(refresh));
                }
                Output::Event { request, event, .. } => {
                    if let Some(sink) = self.sinks.get_mut(&request) {
                        let _entered = sink.span.enter();
                        tracing::trace!(?event, "event");
                    }
                    let terminal = event.is_terminal();
                    self.deliver(request, Ok(event), terminal);
                }
                Output::Failed { request, error, .. } => {
                    self.deliver(request, Err(StreamError::Response(error)), true);
                }
                Output::Telemetry(record) => self.record(record),
            }
        }
        self.source = None;
    }

    /// Starts an HTTP exchange, or parks it for a short while when no idle connection
    /// to its origin is pooled but one is reading the end of its body (see
    /// [`PARK_WAIT`]).
    fn open_http_or_park(&mut self, now: Instant, open: HttpOpen) {
        let origin = Endpoint::of(open.request.uri()).ok();
        let returning = origin.as_ref().is_some_and(|origin| {
            self.pool.idle(origin) == 0
                && self
                    .finishing
                    .values()
                    .any(|f| f.origin.as_ref() == Some(origin))
        });
        if open.reuse && returning {
            let until = now.saturating_add(PARK_WAIT);
            self.parked.push((until, open));
        } else {
            self.open_http(now, open);
        }
    }

    /// Starts the parked requests whose wait `done` says is over.
    fn unpark(&mut self, now: Instant, done: impl Fn(Instant) -> bool) {
        let (ready, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(until, _)| done(*until));
        self.parked = waiting;
        for (_, open) in ready {
            self.open_http(now, open);
        }
    }

    /// Starts an HTTP exchange, on an idle pooled connection to the same origin when
    /// the session allows it and one still looks alive.
    fn open_http(&mut self, now: Instant, open: HttpOpen) {
        let conn = open.conn;
        let origin = Endpoint::of(open.request.uri()).ok();
        let reused = match &origin {
            Some(origin) if open.reuse => self.take_pooled(now, origin),
            _ => None,
        };
        let (inputs, receiver) = mpsc::channel(CONN_QUEUE);
        let (stop_tx, stop) = oneshot::channel();
        let channels = http_conn::Channels {
            inputs,
            stop,
            ended: self.ended_tx.clone(),
        };
        let task = http_conn::run(
            self.runtime.clone(),
            self.connector.clone(),
            open,
            reused,
            channels,
        );
        let abort = self.spawn(task);
        let mut task = ConnTask::new(abort, None, receiver);
        task.origin = origin;
        task.stop = Some(stop_tx);
        self.conns.insert(conn, task);
    }

    /// The most recently idle pooled connection to `endpoint` that still looks alive;
    /// the ones that do not are closed on the way.
    fn take_pooled(&mut self, now: Instant, endpoint: &Endpoint) -> Option<BoxStream> {
        while let Some(mut stream) = self.pool.take(now, endpoint) {
            if keepalive::looks_alive(&mut stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Carries out the session's close: an abandoned connection is dropped at once; a
    /// finished one is left to end gracefully (its task reads an HTTP body to its end
    /// or sends a WebSocket close frame), seeing the session stop listening.
    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.parked.retain(|(_, open)| open.conn != conn);
        let Some(task) = self.conns.remove(&conn) else {
            return;
        };
        if task.ended {
            return; // nothing left running
        }
        match reason {
            CloseReason::Finished => {
                let ConnTask {
                    abort,
                    origin,
                    stop,
                    ..
                } = task;
                drop(stop);
                self.finishing.insert(conn, Finishing { abort, origin });
            }
            _ => task.abort.abort(),
        }
    }

    /// A connection task ended, with its socket when it may be reused.
    fn task_ended(&mut self, now: Instant, ended: Ended) {
        self.finishing.remove(&ended.conn);
        if let Some(task) = self.conns.get_mut(&ended.conn) {
            task.ended = true;
            if task.inputs.is_none() {
                self.conns.remove(&ended.conn);
            }
        }
        if let Some((endpoint, stream)) = ended.reusable
            && let Some(evicted) = self.pool.put(now, endpoint, stream)
        {
            drop(evicted); // closes the socket
        }
        // A connection came back (or will not): parked requests go now.
        if !self.parked.is_empty() {
            self.unpark(now, |_| true);
        }
    }

    fn deliver(
        &mut self,
        request: turnwire_protocol::session::RequestId,
        item: Item,
        terminal: bool,
    ) {
        self.delivered = true;
        let delivered = self.sinks.deliver(request, item, terminal, self.source);
        if let Delivered::Pause(conn) = delivered
            && let Some(task) = self.conns.get_mut(&conn)
        {
            task.paused = true;
        }
    }

    fn record(&mut self, record: Telemetry) {
        match &record {
            Telemetry::AttemptStarted {
                request,
                attempt,
                transport,
                message,
                ..
            } => {
                if let Some(sink) = self.sinks.get_mut(request) {
                    let span = tracing::debug_span!(parent: &sink.span, "turnwire.attempt", attempt, transport = ?transport);
                    span.in_scope(|| tracing::debug!(message = ?message, "attempt started"));
                    sink.attempt = Some(span);
                }
            }
            Telemetry::AttemptEnded {
                request,
                outcome,
                duration,
                ..
            } => {
                if let Some(span) = self
                    .sinks
                    .get_mut(request)
                    .and_then(|sink| sink.attempt.take())
                {
                    span.in_scope(|| tracing::debug!(outcome, ?duration, "attempt ended"));
                }
            }
            other => tracing::debug!(telemetry = ?other),
        }
        if let Some(hook) = &self.telemetry {
            hook(&record);
        }
    }

    fn spawn(
        &self,
        future: impl core::future::Future<Output = ()> + Send + 'static,
    ) -> AbortHandle {
        let (future, handle) = abortable(future);
        self.runtime.spawn(Box::pin(async move {
            let _ = future.await;
        }));
        handle
    }
}

/// What polling the connections found. Built and consumed once per poll, like
/// `Wake`; boxing the input would allocate for every transport input.
#[allow(clippy::large_enum_variant)]
enum Polled {
    /// A report from this connection.
    Input(ConnId, Input),
    /// This connection's task ended and every report it sent was read.
    Gone(ConnId),
}

/// The first report of an unpaused connection in `conns`, in order, or the first
/// connection found gone. Marks connections whose report channel closed.
fn poll_conns<'a>(
    conns: impl Iterator<Item = (&'a ConnId, &'a mut ConnTask)>,
    cx: &mut Context<'_>,
) -> Option<Polled> {
    for (&conn, task) in conns {
        if task.paused {
            continue;
        }
        let Some(inputs) = task.inputs.as_mut() else {
            continue;
        };
        match inputs.poll_next_unpin(cx) {
            Poll::Ready(Some(input)) => return Some(Polled::Input(conn, input)),
            Poll::Ready(None) => {
                // The task ended and the session read all it reported.
                task.inputs = None;
                if task.ended {
                    return Some(Polled::Gone(conn));
                }
            }
            Poll::Pending => {}
        }
    }
    None
}

/// Where the first server-sent event in `body` ends: just after the blank line that
/// ends it (`\n\n`, `\r\n\r\n` or `\r\r`). `None` when no event ends in `body`, or
/// when the first one ends the whole of it.
///
/// Used only to choose where to cut a body: any cut is correct (the core's decoder
/// keeps a partial event for the next input), this one hands the first event over
/// after decoding it alone.
fn first_event_end(body: &[u8]) -> Option<usize> {
    let end = body
        .windows(2)
        .enumerate()
        .find_map(|(at, pair)| match pair {
            b"\n\n" | b"\r\r" => Some(at + 2),
            b"\n\r" if body.get(at + 2) == Some(&b'\n') => Some(at + 3),
            _ => None,
        })?;
    (end < body.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_ends_after_its_blank_line() {
        let cases: [(&[u8], Option<usize>); 9] = [
            (b"data: a\n\ndata: b\n\n", Some(9)),
            (b"data: a\r\n\r\ndata: b\r\n\r\n", Some(11)),
            (b"data: a\r\rdata: b\r\r", Some(9)),
            (b"event: x\ndata: a\n\nrest", Some(18)),
            (b": comment\n\ndata: a\n\n", Some(11)),
            // The first event is all there is: nothing to cut.
            (b"data: a\n\n", None),
            // No event ends here (a partial one, or one line of it).
            (b"data: a\ndata: b", None),
            (b"data: a\r\n", None),
            (b"", None),
        ];
        for (body, end) in cases {
            assert_eq!(
                first_event_end(body),
                end,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
