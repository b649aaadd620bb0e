//! `turnwire decode`: a captured SSE stream (or one event JSON per line) to the caller
//! events the client would show, as JSON lines, and an exit status a script can trust.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use turnwire_protocol::error::classify_failed;
use turnwire_protocol::event::{ErrorPayload, ServerEvent, decode_server_event};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};
use turnwire_protocol::{Limits, ResponseError, ResponseEvent};
use turnwire_transports::StreamError;

use crate::output::{Position, Printer};

const READ_SIZE: usize = 64 * 1024;
const AT: Position = Position {
    turn: 0,
    request: 0,
};
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a capture frames its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Server-Sent Events, as they came over HTTP.
    Sse,
    /// One event JSON per line, as WebSocket captures are usually kept.
    JsonLines,
}

/// Decodes `file` (standard input for `-` or none) in `format`, or in the format its
/// first non-blank bytes show when `format` is `None`.
///
/// Exit status: 0 when every response in the capture ended with `response.completed`
/// or `response.incomplete`; 1 when one failed, the stream ended with an `error` event
/// or without a terminal event, or an event was malformed (each reason goes to
/// standard error); an `Err` (exit 2) when the input cannot be read or is too large.
pub(crate) fn decode(
    format: Option<Format>,
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
    let mut framing = format.map(Framing::new);
    let mut sniffer = Sniffer::default();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| format!("read failed: {e}"))?;
        let chunk = &buf[..n];
        let fed = match &mut framing {
            Some(framing) => framing.feed(chunk, &mut state, printer),
            None => {
                let sniffed = if n == 0 {
                    Some(sniffer.finish())
                } else {
                    sniffer.feed(chunk)
                };
                match sniffed {
                    Some((format, rest)) => framing
                        .insert(Framing::new(format))
                        .feed(&rest, &mut state, printer),
                    None => Ok(()),
                }
            }
        };
        if let Err(message) = fed {
            printer.finish();
            return Err(message);
        }
        if n == 0 {
            if let Some(framing) = &mut framing {
                framing.finish(&mut state, printer);
            }
            break;
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

/// Tells SSE from JSON lines by the first bytes that are not blank: a JSON object
/// starts with `{`, while an SSE stream starts with a field name or a `:` comment.
/// A leading byte-order mark and blank lines are dropped; they mean nothing in
/// either format.
#[derive(Debug, Default)]
struct Sniffer {
    /// Undecided bytes: at most the start of a byte-order mark.
    held: Vec<u8>,
}

impl Sniffer {
    /// Feeds the next bytes; returns the format and the bytes to decode from, once
    /// a byte that is neither blank nor part of a byte-order mark arrived.
    fn feed(&mut self, bytes: &[u8]) -> Option<(Format, Vec<u8>)> {
        self.held.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let rest = &self.held[start..];
            if rest.starts_with(BOM) {
                start += BOM.len();
                continue;
            }
            match rest.first() {
                None => {
                    self.held.clear();
                    return None;
                }
                Some(byte) if byte.is_ascii_whitespace() => start += 1,
                Some(_) if BOM.starts_with(rest) => {
                    self.held = rest.to_vec();
                    return None;
                }
                Some(b'{') => return Some((Format::JsonLines, rest.to_vec())),
                Some(_) => return Some((Format::Sse, rest.to_vec())),
            }
        }
    }

    /// The input ended before a decision: whatever is held is decoded as SSE.
    fn finish(&mut self) -> (Format, Vec<u8>) {
        (Format::Sse, std::mem::take(&mut self.held))
    }
}

/// Splits the input into events in one format.
enum Framing {
    Sse(Box<SseDecoder>),
    /// Bytes of the line not ended yet.
    Lines(Vec<u8>),
}

impl Framing {
    fn new(format: Format) -> Self {
        let limits = Limits::default();
        match format {
            Format::Sse => Framing::Sse(Box::new(SseDecoder::new(SseLimits {
                max_line: limits.sse_line,
                max_data: limits.sse_event_data,
            }))),
            Format::JsonLines => Framing::Lines(Vec::new()),
        }
    }

    /// Decodes the events `bytes` complete. An `Err` is a fatal framing error.
    fn feed(
        &mut self,
        bytes: &[u8],
        state: &mut State,
        printer: &mut Printer,
    ) -> Result<(), String> {
        match self {
            Framing::Sse(sse) => {
                sse.feed(bytes);
                drain_sse(sse, state, printer)
            }
            Framing::Lines(pending) => {
                pending.extend_from_slice(bytes);
                let mut start = 0;
                while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                    state.line(&pending[start..start + end], printer);
                    start += end + 1;
                }
                pending.drain(..start);
                let max = Limits::default().sse_event_data;
                if pending.len() > max {
                    return Err(format!("a line is longer than {max} bytes"));
                }
                Ok(())
            }
        }
    }

    /// The input ended: decodes what is left.
    fn finish(&mut self, state: &mut State, printer: &mut Printer) {
        match self {
            Framing::Sse(sse) => {
                sse.finish();
                // Finishing only completes a pending event; nothing fatal is left.
                let _ = drain_sse(sse, state, printer);
            }
            Framing::Lines(pending) => {
                let rest = std::mem::take(pending);
                state.line(&rest, printer);
            }
        }
    }
}

fn drain_sse(sse: &mut SseDecoder, state: &mut State, printer: &mut Printer) -> Result<(), String> {
    while let Some(frame) = sse.next_frame() {
        match frame {
            Ok(SseFrame::Event(event)) => state.event(event.data, printer),
            Ok(_) => {} // comments are activity, not events
            Err(err) if err.is_fatal() => {
                return Err(format!("the stream is malformed or too large: {err}"));
            }
            Err(err) => {
                state.events += 1;
                state.problem(err.to_string());
            }
        }
    }
    Ok(())
}

/// What the events so far amount to.
#[derive(Default)]
struct State {
    events: usize,
    /// The last response started has ended (completed, incomplete or failed).
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

    /// A response ended in failure: print it the way the client would, and say why
    /// the exit status will be non-zero.
    fn failed(&mut self, error: ResponseError, why: &str, printer: &mut Printer) {
        self.terminal = true;
        self.problems
            .push(format!("event {}: {why}: {error}", self.events));
        printer.error(AT, &StreamError::Response(error));
    }

    fn event(&mut self, data: &str, printer: &mut Printer) {
        self.events += 1;
        let decoded = match decode_server_event(data) {
            Ok(decoded) => decoded,
            Err(err) => return self.problem(err.to_string()),
        };
        match decoded {
            ServerEvent::Caller(event) => {
                if matches!(event, ResponseEvent::Created { .. }) {
                    self.terminal = false;
                }
                printer.event(AT, &event);
            }
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
                let payload = payload.or_else(|| self.remembered_error.take());
                let error = classify_failed(payload.as_ref()).error;
                self.failed(error, "the response failed", printer);
            }
            ServerEvent::Error(payload) => self.remembered_error = Some(payload),
            ServerEvent::WsError {
                status,
                error: payload,
                headers,
            } => {
                let classified = turnwire_protocol::error::classify_ws_error(
                    status,
                    &payload,
                    &headers,
                    turnwire_protocol::UnixTime::EPOCH,
                );
                self.failed(classified.error, "the server sent an error", printer);
            }
            _ => {}
        }
    }

    /// The stream ended: without a terminal event, say so the way the client would.
    fn end(&mut self, printer: &mut Printer) {
        if self.terminal {
            return;
        }
        match self.remembered_error.take() {
            Some(payload) => {
                let error = classify_failed(Some(&payload)).error;
                self.failed(error, "the stream ended with an error event", printer);
            }
            None => {
                let error = ResponseError::Stream {
                    message: "stream closed before response.completed".to_owned(),
                };
                self.failed(
                    error,
                    "the stream ended without a terminal event (response.completed, response.incomplete or response.failed)",
                    printer,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_all(chunks: &[&[u8]]) -> (Format, Vec<u8>) {
        let mut sniffer = Sniffer::default();
        for chunk in chunks {
            if let Some(found) = sniffer.feed(chunk) {
                return found;
            }
        }
        sniffer.finish()
    }

    #[test]
    fn a_json_object_first_means_json_lines() {
        assert_eq!(
            sniff_all(&[b"\n  \r\n{\"type\":\"x\"}\n"]),
            (Format::JsonLines, b"{\"type\":\"x\"}\n".to_vec())
        );
    }

    #[test]
    fn a_field_or_comment_first_means_sse() {
        for input in [
            &b"data: {}\n\n"[..],
            b": keepalive\n",
            b"event: x\n",
            b"\n\nid: 1\n",
        ] {
            assert_eq!(sniff_all(&[input]).0, Format::Sse, "{input:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_split_across_reads_is_dropped() {
        assert_eq!(
            sniff_all(&[b"\xEF", b"\xBB", b"\xBF{}"]),
            (Format::JsonLines, b"{}".to_vec())
        );
        assert_eq!(
            sniff_all(&[b"\xEF\xBB", b"\xBFdata: 1\n"]),
            (Format::Sse, b"data: 1\n".to_vec())
        );
    }

    #[test]
    fn blank_input_is_undecided_until_the_end_and_holds_nothing() {
        let mut sniffer = Sniffer::default();
        assert_eq!(sniffer.feed(b"\n\n   \n"), None);
        assert!(sniffer.held.is_empty(), "blank bytes are not kept");
        assert_eq!(sniffer.finish(), (Format::Sse, Vec::new()));
    }
}
