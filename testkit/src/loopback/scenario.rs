//! Scenario files: a JSON description of what the loopback server answers, for
//! `turnwire serve --scenario FILE` and for tests in other projects.
//!
//! ```json
//! {
//!   "model_text": "Hello from the scenario ({n})",
//!   "http": [
//!     {"status": 429, "headers": {"retry-after": "1"}, "body": "{\"error\":{\"type\":\"rate_limit\"}}"},
//!     {"events": [{"type": "response.created", "response": {"id": "r1"}}], "end": "open"}
//!   ],
//!   "handshakes": [{"refuse": {"status": 426}}, {"accept": {"headers": {"x-codex-turn-state": "ts-1"}}}],
//!   "ws": [{"steps": [{"model": true}]}, {"transcript": "capture.sse"}]
//! }
//! ```
//!
//! Each list is consumed in order, one entry per `POST`, handshake or WebSocket request
//! message; when a list runs out, the server accepts handshakes and answers with its
//! default model. A reply has `status` (default 200), `headers`, `delay_ms` before the
//! head, then its body: `body` (raw text), `events` (event objects), `steps` (any mix of
//! `{"event": {…}}`, `{"wait_ms": n}`, `{"keepalive": true}`, `{"raw": "…"}`,
//! `{"model": true}`, `{"binary": n}`) or `transcript` (a file of SSE or one event JSON
//! per line), and `end`: `"eof"` (default), `"open"` (stall), `{"reset": "message"}`
//! (cut mid-stream) or `{"close": {"code": 1000, "reason": "…"}}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::sim::{End, FakeServer, Handshake, Reply, Step};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The JSON does not describe a scenario.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    model_text: Option<String>,
    #[serde(default)]
    http: Vec<ReplySpec>,
    #[serde(default)]
    handshakes: Vec<HandshakeSpec>,
    #[serde(default)]
    ws: Vec<ReplySpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    steps: Vec<StepSpec>,
    #[serde(default)]
    transcript: Option<PathBuf>,
    #[serde(default)]
    end: EndSpec,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StepSpec {
    Event { event: Value },
    Wait { wait_ms: u64 },
    Keepalive { keepalive: bool },
    Raw { raw: String },
    Model { model: bool },
    Binary { binary: usize },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EndSpec {
    #[default]
    Eof,
    Open,
    Reset(String),
    Close {
        #[serde(default)]
        code: Option<u16>,
        #[serde(default)]
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HandshakeSpec {
    Accept {
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        delay_ms: u64,
    },
    Refuse {
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
    },
    Fail(String),
    Hang,
}

/// Reads a scenario file; transcript paths in it are relative to the file.
pub fn load(path: &Path) -> Result<FakeServer, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
}

/// Builds the script a scenario describes; `base` resolves relative transcript paths.
pub fn parse(json: &str, base: &Path) -> Result<FakeServer, ScenarioError> {
    let file: ScenarioFile =
        serde_json::from_str(json).map_err(|e| ScenarioError::Invalid(e.to_string()))?;
    let mut server = FakeServer::new();
    server.model_text = file.model_text;
    for spec in file.http {
        server.push_http(reply(spec, base)?);
    }
    for spec in file.handshakes {
        server.push_handshake(handshake(spec));
    }
    for spec in file.ws {
        server.push_ws(reply(spec, base)?);
    }
    Ok(server)
}

fn pairs(headers: BTreeMap<String, String>) -> Vec<(String, String)> {
    headers.into_iter().collect()
}

fn reply(spec: ReplySpec, base: &Path) -> Result<Reply, ScenarioError> {
    let mut steps: Vec<Step> = Vec::new();
    if let Some(body) = spec.body {
        steps.push(Step::Raw(body));
    }
    steps.extend(spec.events.into_iter().map(Step::Event));
    // `{"keepalive": false}` and `{"model": false}` are no steps at all.
    steps.extend(spec.steps.into_iter().filter_map(|step| match step {
        StepSpec::Event { event } => Some(Step::Event(event)),
        StepSpec::Wait { wait_ms } => Some(Step::Wait(Duration::from_millis(wait_ms))),
        StepSpec::Keepalive { keepalive } => keepalive.then_some(Step::Keepalive),
        StepSpec::Raw { raw } => Some(Step::Raw(raw)),
        StepSpec::Model { model } => model.then_some(Step::Model),
        StepSpec::Binary { binary } => Some(Step::Binary(binary)),
    }));
    if let Some(path) = spec.transcript {
        let path = if path.is_absolute() {
            path
        } else {
            base.join(path)
        };
        steps.extend(transcript_events(&path)?.into_iter().map(Step::Event));
    }
    let mut reply = Reply::with_steps(steps);
    if let Some(status) = spec.status {
        reply.status = status;
        if status != 200 {
            reply.headers = vec![("content-type".into(), "application/json".into())];
        }
    }
    reply.headers.extend(pairs(spec.headers));
    reply.head_delay = Duration::from_millis(spec.delay_ms);
    reply.end = match spec.end {
        EndSpec::Eof => End::Eof,
        EndSpec::Open => End::Open,
        EndSpec::Reset(message) => End::Reset(message),
        EndSpec::Close { code, reason } => End::Close { code, reason },
    };
    Ok(reply)
}

fn handshake(spec: HandshakeSpec) -> Handshake {
    match spec {
        HandshakeSpec::Accept { headers, delay_ms } => Handshake::Accept {
            headers: pairs(headers),
            delay: Duration::from_millis(delay_ms),
        },
        HandshakeSpec::Refuse {
            status,
            headers,
            body,
        } => Handshake::Refuse {
            status,
            headers: pairs(headers),
            body,
        },
        HandshakeSpec::Fail(message) => Handshake::Fail(message),
        HandshakeSpec::Hang => Handshake::Hang,
    }
}

/// The event objects of a recorded stream: the `data` of each SSE event, or one JSON
/// object per line.
pub fn transcript_events(path: &Path) -> Result<Vec<Value>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    let looks_like_sse = text.lines().any(|l| l.starts_with("data:"));
    let payloads: Vec<&str> = if looks_like_sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .collect()
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    };
    payloads
        .into_iter()
        .map(|p| {
            serde_json::from_str(p)
                .map_err(|e| ScenarioError::Invalid(format!("{}: {e}", path.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_builds_the_script_it_describes() {
        let json = r#"{
            "model_text": "hi {n}",
            "http": [
                {"status": 429, "headers": {"retry-after": "1"}, "body": "{}"},
                {"events": [{"type": "response.created", "response": {"id": "r1"}}], "end": "open"},
                {"steps": [{"wait_ms": 5}, {"keepalive": true}, {"model": true}], "end": {"reset": "cut"}}
            ],
            "handshakes": [{"refuse": {"status": 426}}, {"accept": {"headers": {"x-codex-turn-state": "ts-1"}}}, "hang"],
            "ws": [{"steps": [{"binary": 3}], "end": {"close": {"code": 1011, "reason": "bye"}}}]
        }"#;
        let server = parse(json, Path::new(".")).expect("valid scenario");
        assert_eq!(server.model_text.as_deref(), Some("hi {n}"));
        assert!(
            parse(r#"{"htp": []}"#, Path::new(".")).is_err(),
            "unknown keys are rejected"
        );
        assert!(parse(r#"{"http": [{"end": "sideways"}]}"#, Path::new(".")).is_err());
    }

    #[test]
    fn transcripts_read_as_sse_or_json_lines() {
        let dir = std::env::temp_dir().join(format!("turnwire-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sse = dir.join("a.sse");
        std::fs::write(
            &sse,
            "event: x\ndata: {\"type\":\"a\"}\n\ndata:{\"type\":\"b\"}\n\n",
        )
        .unwrap();
        let lines = dir.join("b.jsonl");
        std::fs::write(&lines, "{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n").unwrap();
        for path in [&sse, &lines] {
            let events = transcript_events(path).unwrap();
            let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["a", "b"], "{}", path.display());
        }
    }
}
