//! Recording a run's inputs and replaying them through the core offline.
//!
//! A record file is JSON lines: a header with the configuration, conversation id and
//! seed, then one `{"now": …, "input": …}` per input, in the order the core saw them.
//! Credentials are never written (the `Secret` type serialises as `[redacted]`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use turnwire_protocol::session::{
    Input, InputAck, Output, RequestId, Session, SessionParams, TurnId,
};
use turnwire_protocol::{Config, Credentials, Now};
use turnwire_transports::InputRecorder;

use crate::output::{Position, Printer};

/// The first line of a record file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    /// Format version.
    pub(crate) turnwire_record: u32,
    pub(crate) config: Config,
    pub(crate) conversation_id: String,
    pub(crate) seed: u64,
    pub(crate) auth_refreshable: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    now: Now,
    input: Input,
}

/// The record file's size cap when `--record-max-bytes` is not given: 64 MiB.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// Room kept under the cap for the line that says recording stopped.
const STOP_LINE_ROOM: u64 = 256;

/// The last line of a record file whose recording stopped early.
#[derive(Debug, Serialize, Deserialize)]
struct Stopped {
    /// Why, for people reading the file.
    stopped: String,
}

/// Starts a record file that never grows past `max_bytes`, and returns the recorder
/// hook that appends to it. When the next line would cross the cap, or a write fails,
/// recording stops with a notice on standard error and a last line saying so; the run
/// goes on, and the file holds only whole lines.
pub(crate) fn recorder(
    path: &Path,
    header: &Header,
    max_bytes: u64,
) -> Result<InputRecorder, String> {
    let first = serde_json::to_string(header).map_err(|e| e.to_string())?;
    let needed = first.len() as u64 + 1 + STOP_LINE_ROOM;
    if needed > max_bytes {
        return Err(format!(
            "--record-max-bytes {max_bytes} leaves no room: a record file needs at least {needed} bytes"
        ));
    }
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create record file {}: {e}", path.display()))?;
    let mut writer = RecordWriter {
        file,
        path: path.display().to_string(),
        written: 0,
        max_bytes,
        stopped: false,
    };
    writer
        .write_line(&first)
        .map_err(|e| format!("cannot write record file {}: {e}", writer.path))?;
    let writer = Arc::new(Mutex::new(writer));
    Ok(Arc::new(move |now: &Now, input: &Input| {
        if let (Ok(line), Ok(mut writer)) = (
            serde_json::to_string(&Line {
                now: *now,
                input: input.clone(),
            }),
            writer.lock(),
        ) {
            writer.append(&line);
        }
    }))
}

/// Appends whole lines to a record file and keeps it under its cap.
struct RecordWriter {
    file: std::fs::File,
    /// For notices.
    path: String,
    /// Bytes of whole lines in the file.
    written: u64,
    max_bytes: u64,
    stopped: bool,
}

impl RecordWriter {
    /// Appends `line` unless recording stopped; stops it when the line does not fit
    /// or cannot be written.
    fn append(&mut self, line: &str) {
        if self.stopped {
            return;
        }
        if self.written + line.len() as u64 + 1 + STOP_LINE_ROOM > self.max_bytes {
            self.stop(&format!(
                "the record file reached its size cap of {} bytes (--record-max-bytes)",
                self.max_bytes
            ));
            return;
        }
        if let Err(err) = self.write_line(line) {
            self.stop(&format!("writing the record file failed: {err}"));
        }
    }

    /// Writes `line` and a newline in one call; on failure, cuts the file back to
    /// its last whole line.
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self.file.write_all(&bytes) {
            Ok(()) => {
                self.written += bytes.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.written);
                Err(err)
            }
        }
    }

    fn stop(&mut self, why: &str) {
        self.stopped = true;
        eprintln!(
            "turnwire: {why}; recording to {} stopped, the run goes on (a replay ends where the recording stopped)",
            self.path
        );
        let stopped = Stopped {
            stopped: why.chars().take(160).collect(),
        };
        if let Ok(line) = serde_json::to_string(&stopped)
            && (line.len() as u64) < STOP_LINE_ROOM
        {
            let _ = self.write_line(&line);
        }
    }
}

/// Replays a record file and prints the caller events it reproduces, as
/// `turnwire run --json` printed them. Returns whether every request completed.
pub(crate) fn replay(path: &Path, printer: &mut Printer) -> Result<bool, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open record file {}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or("the record file is empty")?
        .map_err(|e| e.to_string())?;
    let header: Header =
        serde_json::from_str(&first).map_err(|e| format!("not a turnwire record file: {e}"))?;
    let mut session = Session::new(SessionParams {
        config: header.config,
        credentials: Credentials::bearer("replay"),
        auth_refreshable: header.auth_refreshable,
        conversation_id: header.conversation_id,
        seed: header.seed,
    })
    .map_err(|e| format!("the recorded configuration is invalid: {e}"))?;
    let mut positions = Positions::default();
    let mut all_completed = true;
    for (number, line) in lines.enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        if let Ok(Stopped { stopped }) = serde_json::from_str::<Stopped>(&line) {
            eprintln!("turnwire: the recording stopped here ({stopped}); the replay ends with it");
            break;
        }
        let Line { now, input } =
            serde_json::from_str(&line).map_err(|e| format!("record line {}: {e}", number + 2))?;
        let turn_of_request = match &input {
            Input::StartRequest { turn, .. } => Some(*turn),
            _ => None,
        };
        if let Ok(InputAck::RequestStarted(id)) = session.handle_input(now, input) {
            positions.request_started(id, turn_of_request);
        }
        while let Some(output) = session.poll_output() {
            match output {
                Output::Event { request, event, .. } => {
                    printer.event(positions.of(request), &event)
                }
                Output::Failed { request, error, .. } => {
                    all_completed = false;
                    printer.error(
                        positions.of(request),
                        &turnwire_transports::StreamError::Response(error),
                    );
                }
                _ => {}
            }
        }
    }
    Ok(all_completed)
}

/// Maps the session's ids to the script's turn and request indices.
#[derive(Default)]
struct Positions {
    turns: BTreeMap<TurnId, usize>,
    requests_in_turn: BTreeMap<TurnId, usize>,
    requests: BTreeMap<RequestId, Position>,
}

impl Positions {
    fn request_started(&mut self, id: RequestId, turn: Option<TurnId>) {
        let Some(turn) = turn else { return };
        let next_turn = self.turns.len();
        let turn_index = *self.turns.entry(turn).or_insert(next_turn);
        let count = self.requests_in_turn.entry(turn).or_default();
        self.requests.insert(
            id,
            Position {
                turn: turn_index,
                request: *count,
            },
        );
        *count += 1;
    }

    fn of(&self, id: RequestId) -> Position {
        self.requests.get(&id).copied().unwrap_or(Position {
            turn: 0,
            request: 0,
        })
    }
}
