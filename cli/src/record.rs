//! Recording a run's inputs and replaying them through the core offline, in the
//! record format of [`turnwire_testkit::record`] (the one the simulator uses too, so a
//! CLI recording replays in the simulator and a simulator run replays here).
//! Credentials are never written (the `Secret` type serialises as `[redacted]`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use turnwire_protocol::session::{Input, InputAck, Output, RequestId, Session, TurnId};
use turnwire_protocol::{Credentials, Now};
use turnwire_testkit::record::{
    self, Entry, Header, RecordCap, RecordReader, RecordedInput, encode_header, encode_input,
    encode_stop,
};
use turnwire_transports::InputRecorder;

use crate::output::{Position, Printer};

/// The record file's size cap when `--record-max-bytes` is not given: 64 MiB.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// Starts a record file that never grows past `max_bytes`, and returns the recorder
/// hook that appends to it. When the next line would cross the cap, or a write fails,
/// recording stops with a notice on standard error and a last line saying so; the run
/// goes on, and the file holds only whole lines.
pub(crate) fn recorder(
    path: &Path,
    header: &Header,
    max_bytes: u64,
) -> Result<InputRecorder, String> {
    let first = encode_header(header).map_err(|e| e.to_string())?;
    let cap = RecordCap::new(max_bytes, first.len())
        .map_err(|why| format!("--record-max-bytes {max_bytes} leaves no room: {why}"))?;
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create record file {}: {e}", path.display()))?;
    let mut writer = RecordWriter {
        file,
        path: path.display().to_string(),
        cap,
    };
    writer
        .write_line(&first)
        .map_err(|e| format!("cannot write record file {}: {e}", writer.path))?;
    let writer = Arc::new(Mutex::new(writer));
    Ok(Arc::new(move |now: &Now, input: &Input| {
        let recorded = RecordedInput {
            now: *now,
            input: input.clone(),
        };
        if let (Ok(line), Ok(mut writer)) = (encode_input(&recorded), writer.lock()) {
            writer.append(&line);
        }
    }))
}

/// Appends whole lines to a record file and keeps it under its cap.
struct RecordWriter {
    file: std::fs::File,
    /// For notices.
    path: String,
    cap: RecordCap,
}

impl RecordWriter {
    /// Appends `line` unless recording stopped; stops it when the line does not fit
    /// or cannot be written.
    fn append(&mut self, line: &str) {
        if self.cap.is_stopped() {
            return;
        }
        if !self.cap.admits(line.len()) {
            let why = format!(
                "the record file reached its size cap of {} bytes (--record-max-bytes)",
                self.cap.max_bytes()
            );
            self.stop(&why);
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
                self.cap.wrote(line.len());
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.cap.written());
                Err(err)
            }
        }
    }

    fn stop(&mut self, why: &str) {
        self.cap.stop();
        eprintln!(
            "turnwire: {why}; recording to {} stopped, the run goes on (a replay ends where the recording stopped)",
            self.path
        );
        let line = encode_stop(why);
        if (line.len() as u64) < record::STOP_LINE_ROOM {
            let _ = self.write_line(&line);
        }
    }
}

/// Replays a record file and prints the caller events it reproduces, as
/// `turnwire run --json` printed them. Returns whether every request completed.
pub(crate) fn replay(path: &Path, printer: &mut Printer) -> Result<bool, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open record file {}: {e}", path.display()))?;
    let (header, entries) =
        RecordReader::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
    let mut session = Session::new(header.session_params(Credentials::bearer("replay")))
        .map_err(|e| format!("the recorded configuration is invalid: {e}"))?;
    let mut positions = Positions::default();
    let mut all_completed = true;
    for entry in entries {
        let RecordedInput { now, input } = match entry.map_err(|e| e.to_string())? {
            Entry::Input(recorded) => *recorded,
            Entry::Stopped(why) => {
                eprintln!("turnwire: the recording stopped here ({why}); the replay ends with it");
                break;
            }
        };
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
