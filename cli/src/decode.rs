//! `turnwire decode`: a captured SSE stream (or one event JSON per line) to the caller
//! events the client would show, as JSON lines.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use turnwire_protocol::error::classify_failed;
use turnwire_protocol::event::{ErrorPayload, ServerEvent, decode_server_event};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};
use turnwire_protocol::{Limits, ResponseError, ResponseEvent};
use turnwire_transports::Error;

use crate::output::{Position, Printer};

const READ_SIZE: usize = 64 * 1024;
const AT: Position = Position {
    turn: 0,
    request: 0,
};

/// Decodes `file` (standard input for `-` or none). Exits non-zero on malformed or
/// oversized input, after printing what it could decode.
pub(crate) fn decode(
    jsonl: bool,
    file: Option<&Path>,
    printer: &mut Printer,
) -> Result<ExitCode, String> {
    let mut input: Box<dyn Read> = match file {
        Some(path) if path != Path::new("-") => Box::new(
            std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        ),
        _ => Box::new(std::io::stdin()),
    };
    let mut state = State::default();
    let limits = Limits::default();
    let mut buf = vec![0u8; READ_SIZE];
    if jsonl {
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| format!("read failed: {e}"))?;
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                state.line(&line, printer);
            }
            if pending.len() > limits.sse_event_data {
                return Err(format!(
                    "a line is longer than {} bytes",
                    limits.sse_event_data
                ));
            }
            if n == 0 {
                let rest = std::mem::take(&mut pending);
                state.line(&rest, printer);
                break;
            }
        }
    } else {
        let mut sse = SseDecoder::new(SseLimits {
            max_line: limits.sse_line,
            max_data: limits.sse_event_data,
        });
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| format!("read failed: {e}"))?;
            if n == 0 {
                sse.finish();
            } else {
                sse.feed(&buf[..n]);
            }
            while let Some(frame) = sse.next_frame() {
                match frame {
                    Ok(SseFrame::Event(event)) => state.event(event.data, printer),
                    Ok(_) => {} // comments are activity, not events
                    Err(err) if err.is_fatal() => {
                        printer.finish();
                        return Err(format!("the stream is malformed or too large: {err}"));
                    }
                    Err(err) => {
                        state.events += 1;
                        state.problem(err.to_string());
                    }
                }
            }
            if n == 0 {
                break;
            }
        }
    }
    state.end(printer);
    printer.finish();
    for problem in &state.problems {
        eprintln!("turnwire decode: {problem}");
    }
    Ok(if state.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Default)]
struct State {
    events: usize,
    terminal: bool,
    remembered_error: Option<ErrorPayload>,
    problems: Vec<String>,
}

impl State {
    fn line(&mut self, line: &[u8], printer: &mut Printer) {
        match std::str::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => self.event(text.trim(), printer),
            Err(_) => {
                self.events += 1;
                self.problem("a line is not valid UTF-8".to_owned());
            }
        }
    }

    /// Notes a problem with the event counted last.
    fn problem(&mut self, message: String) {
        self.problems
            .push(format!("event {}: {message}", self.events));
    }

    fn event(&mut self, data: &str, printer: &mut Printer) {
        self.events += 1;
        let decoded = match decode_server_event(data) {
            Ok(decoded) => decoded,
            Err(err) => return self.problem(err.to_string()),
        };
        let error = |e: ResponseError| Error::Response(e);
        match decoded {
            ServerEvent::Caller(event) => printer.event(AT, &event),
            ServerEvent::Completed { response_id, usage } => {
                self.terminal = true;
                printer.event(AT, &ResponseEvent::Completed { response_id, usage });
            }
            ServerEvent::Incomplete {
                response_id,
                reason,
                usage,
            } => {
                self.terminal = true;
                printer.event(
                    AT,
                    &ResponseEvent::Incomplete {
                        response_id,
                        reason,
                        usage,
                    },
                );
            }
            ServerEvent::Failed { error: payload, .. } => {
                self.terminal = true;
                let payload = payload.or_else(|| self.remembered_error.take());
                printer.error(AT, &error(classify_failed(payload.as_ref()).error));
            }
            ServerEvent::Error(payload) => self.remembered_error = Some(payload),
            ServerEvent::WsError {
                status,
                error: payload,
                headers,
            } => {
                self.terminal = true;
                let classified = turnwire_protocol::error::classify_ws_error(
                    status,
                    &payload,
                    &headers,
                    turnwire_protocol::UnixTime::EPOCH,
                );
                printer.error(AT, &error(classified.error));
            }
            _ => {}
        }
    }

    /// The stream ended: without a terminal event, say so the way the client would.
    fn end(&mut self, printer: &mut Printer) {
        if self.terminal {
            return;
        }
        let err = match self.remembered_error.take() {
            Some(payload) => classify_failed(Some(&payload)).error,
            None => ResponseError::Stream {
                message: "stream closed before response.completed".to_owned(),
            },
        };
        printer.error(AT, &Error::Response(err));
    }
}
