//! The drain rule as a blocking loop: feed an input, drain every output, then wait for
//! response bytes or the session's next deadline, whichever comes first.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use rustls::ClientConfig;
use turnwire_protocol::ResponseEvent;
use turnwire_protocol::item::{FunctionCallItem, ResponseItem};
use turnwire_protocol::session::{
    Input, InputAck, Output, RequestId, RequestSpec, RetryLayer, Session, Telemetry, TurnId,
    TurnOptions,
};

use crate::clock::Clock;
use crate::exchange::{Exchange, Received};

/// How a response ended when it completed.
pub(crate) struct Outcome {
    /// The response id.
    pub(crate) completed: String,
    /// The function calls it asked for, in order.
    pub(crate) calls: Vec<FunctionCallItem>,
}

/// What is known so far of the request being streamed.
struct Streaming {
    request: Option<RequestId>,
    calls: Vec<FunctionCallItem>,
    done: Option<Result<String, String>>,
}

/// A session with the sockets it opened: at most one HTTP exchange at a time, since
/// the example streams one request at a time.
pub(crate) struct Driver {
    session: Session,
    clock: Clock,
    tls: Arc<ClientConfig>,
    exchange: Option<Exchange>,
    /// Inputs produced while draining (a connect that failed), fed next.
    pending: VecDeque<Input>,
}

impl Driver {
    /// A driver for `session`.
    pub(crate) fn new(session: Session, clock: Clock, tls: Arc<ClientConfig>) -> Driver {
        Driver {
            session,
            clock,
            tls,
            exchange: None,
            pending: VecDeque::new(),
        }
    }

    /// Starts a turn.
    pub(crate) fn start_turn(&mut self, options: TurnOptions) -> Result<TurnId, String> {
        let mut idle = Streaming::idle();
        match self.feed(Input::StartTurn(options), &mut idle)? {
            InputAck::TurnStarted(turn) => Ok(turn),
            other => Err(format!("the session answered StartTurn with {other:?}")),
        }
    }

    /// Ends a turn, closing what it holds.
    pub(crate) fn end_turn(&mut self, turn: TurnId) -> Result<(), String> {
        self.feed(Input::EndTurn { turn }, &mut Streaming::idle())
            .map(drop)
    }

    /// Streams one request of `turn` to its end: text to standard output, retries to
    /// standard error. Returns how it completed, or why it failed.
    pub(crate) fn stream(&mut self, turn: TurnId, spec: RequestSpec) -> Result<Outcome, String> {
        let mut streaming = Streaming::idle();
        match self.feed(Input::StartRequest { turn, spec }, &mut streaming)? {
            InputAck::RequestStarted(request) => streaming.request = Some(request),
            other => return Err(format!("the session answered StartRequest with {other:?}")),
        }
        loop {
            if let Some(done) = streaming.done.take() {
                let completed = done?;
                return Ok(Outcome {
                    completed,
                    calls: streaming.calls,
                });
            }
            let input = self.wait()?;
            self.feed(input, &mut streaming)?;
        }
    }

    /// The next input: one produced while draining, else response bytes or the
    /// session's deadline, whichever comes first.
    fn wait(&mut self) -> Result<Input, String> {
        if let Some(input) = self.pending.pop_front() {
            return Ok(input);
        }
        let deadline = self.session.poll_timeout();
        match &mut self.exchange {
            Some(exchange) if !exchange.finished() => {
                let timeout = deadline.map(|d| self.clock.until(d));
                match exchange.read(timeout) {
                    Received::TimedOut => Ok(Input::Timeout),
                    Received::Inputs(inputs) => {
                        self.pending.extend(inputs);
                        // Bytes that completed no part: wait again.
                        Ok(self.pending.pop_front().unwrap_or(Input::Timeout))
                    }
                }
            }
            _ => {
                let deadline = deadline.ok_or("the session has nothing to wait for")?;
                self.clock.sleep_until(deadline);
                Ok(Input::Timeout)
            }
        }
    }

    /// Feeds one input and drains every output it caused.
    fn feed(&mut self, input: Input, streaming: &mut Streaming) -> Result<InputAck, String> {
        let ack = self
            .session
            .handle_input(self.clock.now(), input)
            .map_err(|e| format!("the session refused an input: {e}"))?;
        if let InputAck::RequestStarted(request) = ack {
            streaming.request = Some(request);
        }
        while let Some(output) = self.session.poll_output() {
            self.apply(output, streaming);
        }
        Ok(ack)
    }

    /// Carries out one output.
    fn apply(&mut self, output: Output, streaming: &mut Streaming) {
        let timeout = self.session.config().connect_timeout;
        match output {
            Output::OpenHttp(open) => {
                let conn = open.conn;
                match Exchange::open(open, timeout, &self.tls) {
                    Ok(exchange) => self.exchange = Some(exchange),
                    Err(message) => self
                        .pending
                        .push_back(Input::TransportError { conn, message }),
                }
            }
            Output::OpenWs(open) => self.pending.push_back(Input::TransportError {
                conn: open.conn,
                message: "this example speaks HTTP only".to_owned(),
            }),
            Output::SendWs { conn, .. } => self.pending.push_back(Input::SendFailed {
                conn,
                message: "this example speaks HTTP only".to_owned(),
            }),
            // No keep-alive pool here: a finished connection is closed like an abandoned
            // one, by dropping its socket.
            Output::Close { conn, .. }
                if self.exchange.as_ref().is_some_and(|e| e.conn == conn) =>
            {
                self.exchange = None;
            }
            Output::RefreshAuth => self.pending.push_back(Input::AuthRefreshFailed {
                message: "an API key cannot be refreshed".to_owned(),
            }),
            Output::Event { request, event, .. } if Some(request) == streaming.request => {
                streaming.on_event(event);
            }
            Output::Failed { request, error, .. } if Some(request) == streaming.request => {
                streaming.done = Some(Err(error.to_string()));
            }
            Output::Telemetry(Telemetry::RetryScheduled {
                request,
                layer,
                retry,
                delay,
                reason,
            }) if Some(request) == streaming.request => {
                eprintln!(
                    "[retry {retry} ({}) in {delay:?}: {reason}]",
                    layer_name(layer)
                );
            }
            // Other telemetry, and outputs of no request this driver streams.
            _ => {}
        }
    }
}

impl Streaming {
    fn idle() -> Streaming {
        Streaming {
            request: None,
            calls: Vec::new(),
            done: None,
        }
    }

    fn on_event(&mut self, event: ResponseEvent) {
        match event {
            ResponseEvent::OutputTextDelta { delta, .. } => {
                print!("{delta}");
                let _ = std::io::stdout().flush();
            }
            ResponseEvent::OutputItemDone {
                item: ResponseItem::FunctionCall(call),
            } => self.calls.push(call),
            ResponseEvent::Reconnecting { attempt, max, .. } => {
                // Output of the failed attempt is void (the retry itself is reported
                // by its telemetry).
                self.calls.clear();
                eprintln!("\n[stream retry {attempt} of {max}: earlier output is void]");
            }
            ResponseEvent::Completed { response_id, .. } => self.done = Some(Ok(response_id)),
            ResponseEvent::Incomplete { reason, .. } => {
                let reason = reason.unwrap_or_else(|| "no reason given".to_owned());
                self.done = Some(Err(format!("the response is incomplete: {reason}")));
            }
            _ => {}
        }
    }
}

/// The name of a retry layer, for people.
fn layer_name(layer: RetryLayer) -> &'static str {
    match layer {
        RetryLayer::Request => "request",
        RetryLayer::Stream => "stream",
        _ => "other",
    }
}
