//! The client's background task: owns the sans-IO [`Session`], feeds it commands,
//! transport results and timeouts, and carries out its outputs.
//!
//! Loop: drain outputs → re-arm the timer if the deadline changed → feed a due
//! timeout → wait for one command, transport result or the timer. Each wake-up feeds
//! exactly one input, so work per wake-up is bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use futures_channel::mpsc;
use futures_rustls::TlsConnector;
use futures_util::future::{AbortHandle, abortable, poll_fn};
use futures_util::{SinkExt, StreamExt};
use tracing::Span;
use turnwire_protocol::session::{
    ConnId, Input, Output, RequestId, RequestSpec, Session, SessionParams, Telemetry, TurnId,
    TurnOptions, UsageError,
};
use turnwire_protocol::{Instant, Now, ResponseEvent};

use crate::auth::AuthProvider;
use crate::client::{ClientOptions, InputRecorder, TelemetryHook};
use crate::error::Error;
use crate::runtime::{AsyncTimer, Runtime};
use crate::{http_conn, ws_conn};

/// Transport results queued from connection tasks before they wait for the session.
const INPUT_QUEUE: usize = 64;
/// WebSocket messages queued per socket.
const OUTBOUND_QUEUE: usize = 16;

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
        events: mpsc::Sender<Result<ResponseEvent, Error>>,
    },
    Cancel {
        stream: u64,
    },
    EndTurn {
        turn: u64,
    },
}

struct ConnTask {
    abort: AbortHandle,
    outbound: Option<mpsc::Sender<String>>,
}

struct StreamSink {
    handle: u64,
    events: mpsc::Sender<Result<ResponseEvent, Error>>,
    span: Span,
    attempt: Option<Span>,
}

enum Wake {
    Command(Command),
    Input(Input),
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
    inputs: mpsc::Receiver<Input>,
    inputs_tx: mpsc::Sender<Input>,
    timer: std::pin::Pin<Box<dyn AsyncTimer>>,
    timer_deadline: Option<Instant>,
    conns: BTreeMap<ConnId, ConnTask>,
    turns: BTreeMap<u64, TurnId>,
    streams: BTreeMap<RequestId, StreamSink>,
    stream_requests: BTreeMap<u64, RequestId>,
    auth_task: Option<AbortHandle>,
    pending: VecDeque<Input>,
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
        let (inputs_tx, inputs) = mpsc::channel(INPUT_QUEUE);
        let timer = runtime.new_timer(origin + Duration::from_secs(3600));
        tracing::debug!(seed, "turnwire session started");
        Ok(Actor {
            session,
            tls,
            auth: options.auth,
            origin,
            commands,
            inputs,
            inputs_tx,
            timer,
            timer_deadline: None,
            conns: BTreeMap::new(),
            turns: BTreeMap::new(),
            streams: BTreeMap::new(),
            stream_requests: BTreeMap::new(),
            auth_task: None,
            pending: VecDeque::new(),
            telemetry: options.telemetry,
            recorder: options.recorder,
            max_message,
            runtime,
        })
    }

    /// Runs until every client handle is dropped, then closes everything it opened.
    pub(crate) async fn run(mut self) {
        loop {
            self.drain().await;
            self.arm_timer();
            if self.timer_deadline.is_some_and(|d| self.now().instant >= d) {
                self.feed(Input::Timeout);
                continue;
            }
            if let Some(input) = self.pending.pop_front() {
                self.feed(input);
                continue;
            }
            match self.wake().await {
                Wake::Command(command) => self.command(command),
                Wake::Input(input) => {
                    self.feed(input);
                }
                Wake::Timer => {} // checked against the clock at the top of the loop
                Wake::Shutdown => break,
            }
        }
        for (_, task) in std::mem::take(&mut self.conns) {
            task.abort.abort();
        }
        if let Some(task) = self.auth_task.take() {
            task.abort();
        }
    }

    fn now(&self) -> Now {
        let elapsed = self.runtime.now().saturating_duration_since(self.origin);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        Now::new(Instant::from_nanos(nanos), self.runtime.unix_time())
    }

    fn arm_timer(&mut self) {
        let deadline = self.session.poll_timeout();
        if deadline == self.timer_deadline {
            return;
        }
        self.timer_deadline = deadline;
        if let Some(deadline) = deadline {
            let at = self.origin + Duration::from_nanos(deadline.as_nanos());
            self.timer.as_mut().reset(at);
        }
    }

    async fn wake(&mut self) -> Wake {
        let armed = self.timer_deadline.is_some();
        poll_fn(|cx| {
            if let std::task::Poll::Ready(Some(input)) = self.inputs.poll_next_unpin(cx) {
                return std::task::Poll::Ready(Wake::Input(input));
            }
            match self.commands.poll_next_unpin(cx) {
                std::task::Poll::Ready(Some(command)) => {
                    return std::task::Poll::Ready(Wake::Command(command));
                }
                std::task::Poll::Ready(None) => return std::task::Poll::Ready(Wake::Shutdown),
                std::task::Poll::Pending => {}
            }
            if armed && self.timer.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(Wake::Timer);
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Feeds one input to the session. Transport results for connections the session
    /// no longer expects are refused by it; that is logged, never fatal.
    fn feed(&mut self, input: Input) -> Option<turnwire_protocol::session::InputAck> {
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
                self.feed(Input::Preconnect);
            }
            Command::StartTurn { handle, options } => {
                if let Some(turnwire_protocol::session::InputAck::TurnStarted(id)) =
                    self.feed(Input::StartTurn(options))
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
                match self.session.handle_input(now, input) {
                    Ok(turnwire_protocol::session::InputAck::RequestStarted(id)) => {
                        let span =
                            tracing::info_span!("turnwire.request", request = %id, turn = %turn_id);
                        self.stream_requests.insert(stream, id);
                        self.streams.insert(
                            id,
                            StreamSink {
                                handle: stream,
                                events,
                                span,
                                attempt: None,
                            },
                        );
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let _ = events.try_send(Err(Error::Usage(err)));
                    }
                }
            }
            Command::Cancel { stream } => {
                if let Some(request) = self.stream_requests.remove(&stream) {
                    self.streams.remove(&request);
                    // The request may have ended already, its last event still queued
                    // for the dropped reader; the session then refuses the cancel.
                    self.feed(Input::CancelRequest { request });
                }
            }
            Command::EndTurn { turn } => {
                if let Some(id) = self.turns.remove(&turn) {
                    self.feed(Input::EndTurn { turn: id });
                }
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::OpenHttp(open) => {
                    let conn = open.conn;
                    let task = http_conn::run(
                        self.runtime.clone(),
                        self.tls.clone(),
                        open,
                        self.inputs_tx.clone(),
                    );
                    let abort = self.spawn(task);
                    self.conns.insert(
                        conn,
                        ConnTask {
                            abort,
                            outbound: None,
                        },
                    );
                }
                Output::OpenWs(open) => {
                    let conn = open.conn;
                    let (outbound, receiver) = mpsc::channel(OUTBOUND_QUEUE);
                    let task = ws_conn::run(
                        self.runtime.clone(),
                        self.tls.clone(),
                        open,
                        self.max_message,
                        self.inputs_tx.clone(),
                        receiver,
                    );
                    let abort = self.spawn(task);
                    self.conns.insert(
                        conn,
                        ConnTask {
                            abort,
                            outbound: Some(outbound),
                        },
                    );
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
                Output::Close { conn } => {
                    if let Some(task) = self.conns.remove(&conn) {
                        task.abort.abort();
                    }
                }
                Output::RefreshAuth => {
                    let auth = self.auth.clone();
                    let mut inputs = self.inputs_tx.clone();
                    let refresh = async move {
                        let input = match auth.refresh().await {
                            Ok(credentials) => Input::AuthRefreshed { credentials },
                            Err(message) => Input::AuthRefreshFailed { message },
                        };
                        let _ = inputs.send(input).await;
                    };
                    self.auth_task = Some(self.spawn(refresh));
                }
                Output::Event { request, event, .. } => {
                    let terminal = event.is_terminal();
                    self.deliver(request, Ok(event), terminal).await;
                }
                Output::Failed { request, error, .. } => {
                    self.deliver(request, Err(Error::Response(error)), true)
                        .await
                }
                Output::Telemetry(record) => self.record(record),
                _ => {}
            }
        }
    }

    /// Hands an item to the request's stream, waiting while its buffer is full.
    async fn deliver(
        &mut self,
        request: RequestId,
        item: Result<ResponseEvent, Error>,
        terminal: bool,
    ) {
        let Some(sink) = self.streams.get_mut(&request) else {
            return;
        };
        if let Ok(event) = &item {
            let _entered = sink.span.enter();
            tracing::trace!(?event, "event");
        }
        // A dropped reader has already asked to cancel; nothing to deliver to.
        let _ = sink.events.send(item).await;
        if terminal && let Some(sink) = self.streams.remove(&request) {
            self.stream_requests.remove(&sink.handle);
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
                if let Some(sink) = self.streams.get_mut(request) {
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
                    .streams
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
