//! The client's background task: owns the sans-IO [`Session`], feeds it commands,
//! transport results and timeouts, and carries out its outputs.
//!
//! Loop: drain outputs → re-arm the timer if the deadline changed → feed a due
//! timeout → wait for one command, transport result, stream room or the timer. Each
//! wake-up feeds at most one input, so work per wake-up is bounded, and nothing in the
//! loop waits on a single stream or connection: a slow reader pauses only the
//! connection that feeds it (see [`crate::delivery`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use futures_channel::{mpsc, oneshot};
use futures_rustls::TlsConnector;
use futures_util::future::{AbortHandle, abortable, poll_fn};
use futures_util::{SinkExt, StreamExt};
use turnwire_protocol::pool::IdlePool;
use turnwire_protocol::session::{
    CloseReason, ConnId, HttpOpen, Input, InputAck, Output, RequestSpec, Session, SessionParams,
    Telemetry, TurnId, TurnOptions, UsageError,
};
use turnwire_protocol::{Instant, Now};

use crate::auth::AuthProvider;
use crate::client::{ClientOptions, InputRecorder, TelemetryHook};
use crate::delivery::{Delivered, Item, Sinks};
use crate::error::Error;
use crate::keepalive::{self, Ended};
use crate::runtime::{AsyncTimer, BoxStream, Runtime};
use crate::tls::Endpoint;
use crate::{http_conn, ws_conn};

/// Transport results queued per connection before its task waits for the session.
const CONN_QUEUE: usize = 16;
/// WebSocket messages queued per socket.
const OUTBOUND_QUEUE: usize = 16;
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
    outbound: Option<mpsc::Sender<String>>,
    /// What the task reports; `None` once it ended.
    inputs: Option<mpsc::Receiver<Input>>,
    /// Not read while a stream it feeds is full.
    paused: bool,
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
        outbound: Option<mpsc::Sender<String>>,
        inputs: mpsc::Receiver<Input>,
    ) -> Self {
        ConnTask {
            abort,
            outbound,
            inputs: Some(inputs),
            paused: false,
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
    tls: TlsConnector,
    auth: Arc<dyn AuthProvider>,
    origin: StdInstant,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Results of auth refreshes.
    auth_results: mpsc::Receiver<Input>,
    auth_results_tx: mpsc::Sender<Input>,
    timer: std::pin::Pin<Box<dyn AsyncTimer>>,
    timer_deadline: Option<Instant>,
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
    /// The connection whose input is being processed, for backpressure.
    source: Option<ConnId>,
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
    ) -> Result<Actor, Error> {
        let tls = options
            .tls
            .connector()
            .map_err(|e| Error::Tls(e.to_string()))?;
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
            tls,
            auth: options.auth,
            origin,
            commands,
            auth_results,
            auth_results_tx,
            timer,
            timer_deadline: None,
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
            source: None,
            telemetry: options.telemetry,
            recorder: options.recorder,
            max_message,
            runtime,
        })
    }

    /// Runs until every client handle is dropped, then closes everything it opened.
    pub(crate) async fn run(mut self) {
        loop {
            self.drain();
            let now = self.now().instant;
            while let Some(expired) = self.pool.pop_expired(now) {
                drop(expired); // closes the socket
            }
            if self.parked.iter().any(|(until, _)| *until <= now) {
                self.unpark(|until| until <= now);
            }
            let session_deadline = self.session.poll_timeout();
            self.arm_timer(session_deadline);
            if session_deadline.is_some_and(|d| now >= d) {
                self.feed(None, Input::Timeout);
                continue;
            }
            if let Some(input) = self.pending.pop_front() {
                self.feed(None, input);
                continue;
            }
            match poll_fn(|cx| self.poll_wake(cx)).await {
                Wake::Command(command) => self.command(command),
                Wake::Input { source, input } => {
                    self.feed(source, input);
                }
                Wake::Resume(conns) => {
                    for conn in conns {
                        if let Some(task) = self.conns.get_mut(&conn) {
                            task.paused = false;
                        }
                    }
                }
                Wake::Ended(ended) => self.task_ended(ended),
                Wake::Timer => {} // checked against the clock at the top of the loop
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

    fn now(&self) -> Now {
        let elapsed = self.runtime.now().saturating_duration_since(self.origin);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        Now::new(Instant::from_nanos(nanos), self.runtime.unix_time())
    }

    /// Arms the timer for the session's deadline or the pool's next expiry, whichever
    /// comes first.
    fn arm_timer(&mut self, session_deadline: Option<Instant>) {
        let parked = self.parked.iter().map(|(until, _)| *until).min();
        let deadline = [session_deadline, self.pool.next_expiry(), parked]
            .into_iter()
            .flatten()
            .min();
        if deadline == self.timer_deadline {
            return;
        }
        self.timer_deadline = deadline;
        if let Some(deadline) = deadline {
            let at = self.origin + Duration::from_nanos(deadline.as_nanos());
            self.timer.as_mut().reset(at);
        }
    }

    /// The next thing to do: an auth result, a command, room in a full stream, a
    /// connection's report (round robin over unpaused connections), or the timer.
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
        let order: Vec<ConnId> = {
            let after = self.conns.range(self.poll_from..).map(|(id, _)| *id);
            let before = self.conns.range(..self.poll_from).map(|(id, _)| *id);
            after.chain(before).collect()
        };
        for conn in order {
            let Some(task) = self.conns.get_mut(&conn) else {
                continue;
            };
            if task.paused {
                continue;
            }
            let Some(inputs) = task.inputs.as_mut() else {
                continue;
            };
            match inputs.poll_next_unpin(cx) {
                Poll::Ready(Some(input)) => {
                    self.poll_from = ConnId(conn.0 + 1);
                    return Poll::Ready(Wake::Input {
                        source: Some(conn),
                        input,
                    });
                }
                Poll::Ready(None) => {
                    // The task ended and the session read all it reported.
                    task.inputs = None;
                    if task.ended {
                        self.conns.remove(&conn);
                    }
                }
                Poll::Pending => {}
            }
        }
        if self.timer_deadline.is_some() && self.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    /// Feeds one input to the session. Transport results for connections the session
    /// no longer expects are refused by it; that is logged, never fatal.
    fn feed(&mut self, source: Option<ConnId>, input: Input) -> Option<InputAck> {
        self.source = source;
        let now = self.now();
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

    fn command(&mut self, command: Command) {
        match command {
            Command::Preconnect => {
                self.feed(None, Input::Preconnect);
            }
            Command::StartTurn { handle, options } => {
                if let Some(InputAck::TurnStarted(id)) = self.feed(None, Input::StartTurn(options))
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
                    let _ = events.try_send(Err(Error::Usage(UsageError::UnknownTurn(TurnId(0)))));
                    return;
                };
                let now = self.now();
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
                        let _ = events.try_send(Err(Error::Usage(err)));
                    }
                }
            }
            Command::Cancel { stream } => {
                if let Some((request, paused)) = self.sinks.remove_by_handle(stream) {
                    self.resume(&paused);
                    // The request may have ended already, its last event still queued
                    // for the dropped reader; the session then refuses the cancel.
                    self.feed(None, Input::CancelRequest { request });
                }
            }
            Command::EndTurn { turn } => {
                if let Some(id) = self.turns.remove(&turn) {
                    self.feed(None, Input::EndTurn { turn: id });
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

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::OpenHttp(open) => self.open_http_or_park(open),
                Output::OpenWs(open) => {
                    let conn = open.conn;
                    let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
                    let (inputs, receiver) = mpsc::channel(CONN_QUEUE);
                    let task = ws_conn::run(
                        self.runtime.clone(),
                        self.tls.clone(),
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
                        .map(|tx| tx.try_send(text));
                    if !matches!(sent, Some(Ok(()))) {
                        let message = "the socket's send queue is closed or full".to_owned();
                        self.pending.push_back(Input::SendFailed { conn, message });
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
                    self.deliver(request, Err(Error::Response(error)), true);
                }
                Output::Telemetry(record) => self.record(record),
                _ => {}
            }
        }
        self.source = None;
    }

    /// Starts an HTTP exchange, or parks it for a short while when no idle connection
    /// to its origin is pooled but one is reading the end of its body (see
    /// [`PARK_WAIT`]).
    fn open_http_or_park(&mut self, open: HttpOpen) {
        let origin = Endpoint::of(open.request.uri()).ok();
        let returning = origin.as_ref().is_some_and(|origin| {
            self.pool.idle(origin) == 0
                && self
                    .finishing
                    .values()
                    .any(|f| f.origin.as_ref() == Some(origin))
        });
        if open.reuse && returning {
            let until = self.now().instant.saturating_add(PARK_WAIT);
            self.parked.push((until, open));
        } else {
            self.open_http(open);
        }
    }

    /// Starts the parked requests whose wait `done` says is over.
    fn unpark(&mut self, done: impl Fn(Instant) -> bool) {
        let (ready, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(until, _)| done(*until));
        self.parked = waiting;
        for (_, open) in ready {
            self.open_http(open);
        }
    }

    /// Starts an HTTP exchange, on an idle pooled connection to the same origin when
    /// the session allows it and one still looks alive.
    fn open_http(&mut self, open: HttpOpen) {
        let conn = open.conn;
        let origin = Endpoint::of(open.request.uri()).ok();
        let reused = match &origin {
            Some(origin) if open.reuse => self.take_pooled(origin),
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
            self.tls.clone(),
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
    fn take_pooled(&mut self, endpoint: &Endpoint) -> Option<BoxStream> {
        let now = self.now().instant;
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
    fn task_ended(&mut self, ended: Ended) {
        self.finishing.remove(&ended.conn);
        if let Some(task) = self.conns.get_mut(&ended.conn) {
            task.ended = true;
            if task.inputs.is_none() {
                self.conns.remove(&ended.conn);
            }
        }
        if let Some((endpoint, stream)) = ended.reusable {
            let now = self.now().instant;
            if let Some(evicted) = self.pool.put(now, endpoint, stream) {
                drop(evicted); // closes the socket
            }
        }
        // A connection came back (or will not): parked requests go now.
        if !self.parked.is_empty() {
            self.unpark(|_| true);
        }
    }

    fn deliver(
        &mut self,
        request: turnwire_protocol::session::RequestId,
        item: Item,
        terminal: bool,
    ) {
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
