//! The one record format for a session's inputs: what `turnwire run --record` writes,
//! what `turnwire replay` reads, and what the simulator's runs are saved and replayed
//! as. A recording made by one replays in the other.
//!
//! A record is JSON lines:
//!
//! 1. a [`Header`]: `{"turnwire_record": 1, "config": …, "conversation_id": …,
//!    "seed": …, "auth_refreshable": …}`;
//! 2. one [`RecordedInput`] per input, `{"now": …, "input": …}`, in the order the
//!    session saw them;
//! 3. optionally a last `{"stopped": "why"}` line when recording stopped early (a
//!    replay ends there).
//!
//! Credentials are never written: the session is rebuilt with credentials the replayer
//! supplies, and the `Secret` type inside inputs serialises as `[redacted]`.
//!
//! Encoding and decoding work on strings and lines; [`RecordCap`] holds the size-cap
//! rule (whole lines only, with room kept for the stop line) so a writer of any kind
//! applies it the same way.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use turnwire_protocol::session::{Input, SessionParams};
use turnwire_protocol::{Config, Credentials, Now};

/// The format version written in every header.
pub const VERSION: u32 = 1;

/// Bytes kept free under a size cap for the line that says recording stopped.
pub const STOP_LINE_ROOM: u64 = 256;

/// The first line of a record: everything but credentials needed to rebuild the
/// session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The format version ([`VERSION`]).
    pub turnwire_record: u32,
    /// The session's configuration.
    pub config: Config,
    /// The conversation id.
    pub conversation_id: String,
    /// The jitter seed.
    pub seed: u64,
    /// Whether the auth source could refresh.
    pub auth_refreshable: bool,
}

impl Header {
    /// The header of a session built from `params` (its credentials are left out).
    pub fn of(params: &SessionParams) -> Header {
        Header {
            turnwire_record: VERSION,
            config: params.config.clone(),
            conversation_id: params.conversation_id.clone(),
            seed: params.seed,
            auth_refreshable: params.auth_refreshable,
        }
    }

    /// The parameters to rebuild the recorded session with, using `credentials` in
    /// place of the ones never recorded.
    pub fn session_params(&self, credentials: Credentials) -> SessionParams {
        SessionParams {
            config: self.config.clone(),
            credentials,
            auth_refreshable: self.auth_refreshable,
            conversation_id: self.conversation_id.clone(),
            seed: self.seed,
        }
    }
}

/// One input as fed to the session, with the time passed with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedInput {
    /// The time passed with it.
    pub now: Now,
    /// The input.
    pub input: Input,
}

/// The last line of a record whose recording stopped early.
#[derive(Debug, Serialize, Deserialize)]
struct Stopped {
    stopped: String,
}

/// Longest reason a stop line carries, in characters.
const STOP_REASON_CHARS: usize = 160;

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record holds no header line.
    #[error("the record file is empty")]
    Empty,
    /// The first line is not a record header.
    #[error("not a turnwire record file: {0}")]
    NotARecord(String),
    /// The header names a format version this reader does not know.
    #[error("record format version {0} is not supported (this reader knows {VERSION})")]
    Version(u32),
    /// A line after the header is neither an input nor a stop line.
    #[error("record line {line}: {message}")]
    Line {
        /// The line's number, from 1 (the header).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Reading failed.
    #[error("reading the record: {0}")]
    Io(#[from] std::io::Error),
    /// A value could not be encoded.
    #[error("encoding the record: {0}")]
    Encode(String),
}

/// The header as one line (no newline).
pub fn encode_header(header: &Header) -> Result<String, RecordError> {
    serde_json::to_string(header).map_err(|e| RecordError::Encode(e.to_string()))
}

/// An input as one line (no newline).
pub fn encode_input(input: &RecordedInput) -> Result<String, RecordError> {
    serde_json::to_string(input).map_err(|e| RecordError::Encode(e.to_string()))
}

/// The line that ends a record whose recording stopped, its reason cut to a bounded
/// length so the line fits in [`STOP_LINE_ROOM`].
pub fn encode_stop(why: &str) -> String {
    let stopped = Stopped {
        stopped: why.chars().take(STOP_REASON_CHARS).collect(),
    };
    // A struct of one string always serialises.
    serde_json::to_string(&stopped).unwrap_or_else(|_| r#"{"stopped":""}"#.to_owned())
}

/// A whole record as text: the header and one line per input, each ending in a
/// newline. What the simulator saves a run as.
pub fn encode(header: &Header, inputs: &[RecordedInput]) -> Result<String, RecordError> {
    let mut text = encode_header(header)?;
    text.push('\n');
    for input in inputs {
        text.push_str(&encode_input(input)?);
        text.push('\n');
    }
    Ok(text)
}

/// One line after the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// An input (boxed: an input is large, a stop marker small).
    Input(Box<RecordedInput>),
    /// Recording stopped here, for this reason; nothing follows.
    Stopped(String),
}

/// Reads a record line by line: the header first ([`RecordReader::new`]), then the
/// entries as an iterator. Blank lines are skipped; the iterator ends after a stop
/// line or at the end of the input.
pub struct RecordReader<R> {
    lines: std::io::Lines<R>,
    /// The number of the last line read, from 1.
    line: usize,
    stopped: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// Reads and checks the header; the entries follow from the returned reader.
    pub fn new(reader: R) -> Result<(Header, RecordReader<R>), RecordError> {
        let mut lines = reader.lines();
        let first = lines.next().ok_or(RecordError::Empty)??;
        let header: Header =
            serde_json::from_str(&first).map_err(|e| RecordError::NotARecord(e.to_string()))?;
        if header.turnwire_record != VERSION {
            return Err(RecordError::Version(header.turnwire_record));
        }
        let reader = RecordReader {
            lines,
            line: 1,
            stopped: false,
        };
        Ok((header, reader))
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Entry, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped {
            return None;
        }
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e.into())),
            };
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            if let Ok(Stopped { stopped }) = serde_json::from_str::<Stopped>(&line) {
                self.stopped = true;
                return Some(Ok(Entry::Stopped(stopped)));
            }
            return Some(
                serde_json::from_str(&line)
                    .map(|i| Entry::Input(Box::new(i)))
                    .map_err(|e| RecordError::Line {
                        line: self.line,
                        message: e.to_string(),
                    }),
            );
        }
    }
}

/// A whole record read back: the header, the inputs, and why recording stopped when
/// it stopped early.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The header.
    pub header: Header,
    /// Every input, in order.
    pub inputs: Vec<RecordedInput>,
    /// The stop line's reason, if the record has one.
    pub stopped: Option<String>,
}

/// Reads a whole record.
pub fn read(reader: impl BufRead) -> Result<Record, RecordError> {
    let (header, entries) = RecordReader::new(reader)?;
    let mut record = Record {
        header,
        inputs: Vec::new(),
        stopped: None,
    };
    for entry in entries {
        match entry? {
            Entry::Input(input) => record.inputs.push(*input),
            Entry::Stopped(why) => record.stopped = Some(why),
        }
    }
    Ok(record)
}

/// The size-cap rule of a record: it never grows past `max_bytes`, holds only whole
/// lines, and keeps [`STOP_LINE_ROOM`] free for the line that says it stopped.
#[derive(Clone, Debug)]
pub struct RecordCap {
    written: u64,
    max_bytes: u64,
    stopped: bool,
}

impl RecordCap {
    /// A cap for a record whose header line (without newline) is `header_len` bytes.
    /// Fails, saying how much a record needs, when even the header does not fit.
    pub fn new(max_bytes: u64, header_len: usize) -> Result<RecordCap, String> {
        let needed = header_len as u64 + 1 + STOP_LINE_ROOM;
        if needed > max_bytes {
            return Err(format!(
                "a record file needs at least {needed} bytes, the cap is {max_bytes}"
            ));
        }
        Ok(RecordCap {
            written: 0,
            max_bytes,
            stopped: false,
        })
    }

    /// Whether a line of `len` bytes (without newline) may be written now. False once
    /// recording stopped, or when the line would leave no room for the stop line;
    /// then the caller writes [`encode_stop`] and calls [`RecordCap::stop`].
    pub fn admits(&self, len: usize) -> bool {
        !self.stopped && self.written + len as u64 + 1 + STOP_LINE_ROOM <= self.max_bytes
    }

    /// Counts a line of `len` bytes (without newline) as written.
    pub fn wrote(&mut self, len: usize) {
        self.written += len as u64 + 1;
    }

    /// Bytes of whole lines written, newlines included: where to cut a file back to
    /// after a failed write.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The cap, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Marks recording stopped; nothing more is admitted.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// True once recording stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}
