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

/// Starts a record file and returns the recorder hook that appends to it.
pub(crate) fn recorder(path: &Path, header: &Header) -> Result<InputRecorder, String> {
    let mut file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create record file {}: {e}", path.display()))?;
    let first = serde_json::to_string(header).map_err(|e| e.to_string())?;
    writeln!(file, "{first}").map_err(|e| format!("cannot write record file: {e}"))?;
    let file = Arc::new(Mutex::new(file));
    Ok(Arc::new(move |now: &Now, input: &Input| {
        if let (Ok(line), Ok(mut file)) = (
            serde_json::to_string(&Line {
                now: *now,
                input: input.clone(),
            }),
            file.lock(),
        ) {
            let _ = writeln!(file, "{line}");
        }
    }))
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
                        &turnwire_transports::Error::Response(error),
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
