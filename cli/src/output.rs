//! What the tool prints: streamed text and marked notices for people (colours only on
//! a terminal), or one JSON object per line for machines.

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};
use turnwire_transports::{ResponseEvent, StreamError};

/// Where a line belongs: which turn and which request of it (both from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) turn: usize,
    pub(crate) request: usize,
}

/// Prints caller events and notices.
pub(crate) struct Printer {
    json: bool,
    colour: bool,
    out: Box<dyn Write + Send>,
    /// A text line is open (deltas printed without a newline yet).
    mid_line: bool,
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

impl Printer {
    /// A printer to standard output.
    pub(crate) fn stdout(json: bool) -> Self {
        let colour = !json && std::io::stdout().is_terminal();
        Printer {
            json,
            colour,
            out: Box::new(std::io::stdout()),
            mid_line: false,
        }
    }

    /// True in `--json` mode.
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn line(&mut self, text: &str) {
        if self.mid_line {
            let _ = writeln!(self.out);
            self.mid_line = false;
        }
        let _ = writeln!(self.out, "{text}");
    }

    /// Prints one JSON object as a line.
    pub(crate) fn json_line(&mut self, value: &Value) {
        let _ = writeln!(self.out, "{value}");
    }

    /// A heading for people (ignored in JSON mode).
    pub(crate) fn heading(&mut self, text: &str) {
        if !self.json {
            let text = self.paint(BOLD, text);
            self.line(&text);
        }
    }

    /// A notice for people; in JSON mode a `{"kind": kind, "message": text}` line.
    pub(crate) fn notice(&mut self, kind: &str, text: &str) {
        if self.json {
            self.json_line(&json!({"kind": kind, "message": text}));
        } else {
            let text = self.paint(CYAN, &format!("» {text}"));
            self.line(&text);
        }
    }

    /// One caller event.
    pub(crate) fn event(&mut self, at: Position, event: &ResponseEvent) {
        if self.json {
            let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("turn".into(), at.turn.into());
                map.insert("request".into(), at.request.into());
            }
            return self.json_line(&value);
        }
        match event {
            ResponseEvent::OutputTextDelta { delta, .. } => {
                let _ = write!(self.out, "{delta}");
                let _ = self.out.flush();
                self.mid_line = true;
            }
            ResponseEvent::Reconnecting {
                attempt,
                max,
                delay,
                reason,
            } => {
                let text = format!(
                    "↻ reconnecting ({attempt}/{max}) in {} ms: {reason}",
                    delay.as_millis()
                );
                let text = self.paint(YELLOW, &text);
                self.line(&text);
            }
            ResponseEvent::FallbackActivated { reason } => {
                let text = self.paint(YELLOW, &format!("⇄ falling back to HTTP: {reason}"));
                self.line(&text);
            }
            ResponseEvent::Completed { usage, .. } => {
                let tokens = usage
                    .map(|u| format!(" ({} tokens)", u.total_tokens))
                    .unwrap_or_default();
                let text = self.paint(DIM, &format!("✓ completed{tokens}"));
                self.line(&text);
            }
            ResponseEvent::Incomplete { reason, .. } => {
                let text = format!(
                    "… incomplete: {}",
                    reason.as_deref().unwrap_or("no reason given")
                );
                let text = self.paint(YELLOW, &text);
                self.line(&text);
            }
            _ => {}
        }
    }

    /// A request's terminal error.
    pub(crate) fn error(&mut self, at: Position, error: &StreamError) {
        if self.json {
            let detail = match error {
                StreamError::Response(e) => serde_json::to_value(e).unwrap_or(Value::Null),
                other => json!({"kind": "client", "message": other.to_string()}),
            };
            let value = json!({"kind": "error", "turn": at.turn, "request": at.request,
                "message": error.to_string(), "error": detail});
            return self.json_line(&value);
        }
        let text = self.paint(RED, &format!("✗ {error}"));
        self.line(&text);
    }

    /// Ends any open text line.
    pub(crate) fn finish(&mut self) {
        if self.mid_line {
            let _ = writeln!(self.out);
            self.mid_line = false;
        }
        let _ = self.out.flush();
    }

    /// Prints a table with a header row, columns padded to fit.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let render = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let head = render(header.iter().map(|h| (*h).to_owned()).collect());
        let head = self.paint(BOLD, &head);
        self.line(&head);
        for row in rows {
            let text = render(row.clone());
            self.line(&text);
        }
    }
}
