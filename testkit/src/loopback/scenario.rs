//! Scenario files: a JSON description of what the loopback server answers, for
//! `turnwire serve --scenario FILE` and for tests in other projects.
//!
//! ```json
//! {
//!   "model_text": "Hello from the scenario ({n})",
//!   "rules": [
//!     {"match": {"input_contains": "weather"}, "reply": {"json": {"error": {"message": "no"}}, "status": 400}},
//!     {"match": {"model": "gpt-slow", "nth": 2}, "reply": {"status": 500, "body": "{}"}, "times": 1}
//!   ],
//!   "http": [
//!     {"status": 429, "headers": {"retry-after": "1"}, "body": "{\"error\":{\"type\":\"rate_limit\"}}"},
//!     {"events": [{"type": "response.created", "response": {"id": "r1"}}], "end": "open"},
//!     {"transcript": "capture.sse", "split": true}
//!   ],
//!   "handshakes": [{"refuse": {"status": 426}}, {"accept": {"headers": {"x-codex-turn-state": "ts-1"}}}],
//!   "ws": [{"steps": [{"model": true}]}, {"transcript": "capture.sse"}],
//!   "connections": {"max_requests": 2, "close_idle_after": [3]}
//! }
//! ```
//!
//! **Which reply a request gets.** For each `POST` and WebSocket request message the
//! `rules` are tried first, in order: the first whose `match` holds answers with its
//! `reply` (at most `times` times when set). A `match` object may hold any of
//! `transport` (`"http"` or `"ws"`), `method`, `path` (without query; a WebSocket
//! message has its handshake's `GET` and path), `model`, `input_contains` (a substring
//! of any text in the input), `tool_output` (`true` when the input carries a
//! `function_call_output`), `previous_response_id` (a string to equal, or `true`/`false`
//! for present/absent), `headers` (lower-case name → exact value; a WebSocket message
//! has its handshake's) and `nth` (only the n-th request, from 1, meeting the other
//! conditions); all that are given must hold. A request no rule takes gets the next
//! entry of `http` (per `POST`) or `ws` (per message), in order, and when that list
//! has run out, the default model. Handshakes take `handshakes` in order and are
//! accepted once it runs out.
//!
//! **The default model** is the spec-complete one ([`crate::sim::model`]): every event a
//! real server streams, full `Response` objects, and a call of the first function tool
//! the request offers until the tool's output comes back. `"default_model": "compact"`
//! selects the simulator's four-event model instead; `model_text` sets its text (`{n}`
//! is the response number).
//!
//! **A reply** has `status` (default 200), `headers` (they replace the defaults of the
//! same name, so `content-type` is never sent twice), `delay_ms` before the head, then
//! its body: `body` (raw text), `json` (any JSON value, sent as `application/json`),
//! `events` (event objects, streamed as SSE), `steps` (any mix of `{"event": {…}}`,
//! `{"wait_ms": n}`, `{"keepalive": true}`, `{"raw": "…"}`, `{"model": true}`,
//! `{"binary": n}`) or `transcript` (a file of SSE or one event JSON per line, relative
//! to the scenario file; events without a `sequence_number` get the next one, and with
//! `"split": true` in a list each response of a multi-response capture becomes its own
//! reply, in order), and `end`: `"eof"` (default), `"open"` (stall), `{"reset":
//! "message"}` (cut mid-stream) or `{"close": {"code": 1000, "reason": "…"}}`. A request
//! without `"stream": true` gets the `application/json` `Response` that a streamed
//! reply's events fold into.
//!
//! **Connections.** `connections.max_requests` makes the server close an HTTP
//! connection (announced with `connection: close`) after that many responses;
//! `connections.close_idle_after` lists server-wide response numbers (1 = the first
//! response) after which the connection that carried it is closed without notice,
//! as an idle pooled connection can be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::KeepAlive;
use crate::sim::matching::{Matcher, ReplyRule, Transport};
use crate::sim::{End, FakeServer, Handshake, ModelKind, Reply, Step};
use crate::wire::ev;

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
    default_model: ModelSpec,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    connections: ConnectionsSpec,
    #[serde(default)]
    http: Vec<ReplySpec>,
    #[serde(default)]
    handshakes: Vec<HandshakeSpec>,
    #[serde(default)]
    ws: Vec<ReplySpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ModelSpec {
    #[default]
    Full,
    Compact,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionsSpec {
    #[serde(default)]
    max_requests: Option<std::num::NonZeroU32>,
    #[serde(default)]
    close_idle_after: Vec<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(rename = "match", default)]
    matcher: MatchSpec,
    reply: ReplySpec,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    #[serde(default)]
    transport: Option<TransportSpec>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input_contains: Option<String>,
    #[serde(default)]
    tool_output: Option<bool>,
    #[serde(default)]
    previous_response_id: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    nth: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TransportSpec {
    Http,
    Ws,
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
    json: Option<Value>,
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    steps: Vec<StepSpec>,
    #[serde(default)]
    transcript: Option<PathBuf>,
    #[serde(default)]
    split: bool,
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

/// A loaded scenario: the script and the connection rules for the socket shell.
#[derive(Debug)]
pub struct Scenario {
    /// What the server answers.
    pub script: FakeServer,
    /// When the server closes HTTP connections.
    pub keep_alive: KeepAlive,
}

/// Reads a scenario file's script; transcript paths in it are relative to the file.
pub fn load(path: &Path) -> Result<FakeServer, ScenarioError> {
    load_scenario(path).map(|scenario| scenario.script)
}

/// Reads a scenario file: the script and its connection rules.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_scenario(&text, path.parent().unwrap_or(Path::new(".")))
}

/// Builds the script a scenario describes; `base` resolves relative transcript paths.
pub fn parse(json: &str, base: &Path) -> Result<FakeServer, ScenarioError> {
    parse_scenario(json, base).map(|scenario| scenario.script)
}

/// Builds the script and connection rules a scenario describes; `base` resolves
/// relative transcript paths.
pub fn parse_scenario(json: &str, base: &Path) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile =
        serde_json::from_str(json).map_err(|e| ScenarioError::Invalid(e.to_string()))?;
    let mut server = FakeServer::new();
    server.model = match file.default_model {
        ModelSpec::Full => ModelKind::Full,
        ModelSpec::Compact => ModelKind::Compact,
    };
    server.model_text = file.model_text;
    for spec in file.rules {
        let mut rule = ReplyRule::new(matcher(spec.matcher), reply(spec.reply, base)?);
        if let Some(times) = spec.times {
            rule = rule.times(times);
        }
        server.rules.push(rule);
    }
    for spec in file.http {
        for reply in replies(spec, base)? {
            server.push_http(reply);
        }
    }
    for spec in file.handshakes {
        server.push_handshake(handshake(spec));
    }
    for spec in file.ws {
        for reply in replies(spec, base)? {
            server.push_ws(reply);
        }
    }
    Ok(Scenario {
        script: server,
        keep_alive: KeepAlive {
            max_requests: file.connections.max_requests,
            close_idle_after: file.connections.close_idle_after,
            ..KeepAlive::default()
        },
    })
}

fn matcher(spec: MatchSpec) -> Matcher {
    Matcher {
        transport: spec.transport.map(|t| match t {
            TransportSpec::Http => Transport::Http,
            TransportSpec::Ws => Transport::Ws,
        }),
        method: spec.method,
        path: spec.path,
        model: spec.model,
        input_contains: spec.input_contains,
        tool_output: spec.tool_output,
        previous_response_id: spec.previous_response_id,
        headers: spec
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        nth: spec.nth,
    }
}

/// The replies one list entry stands for: one, or with `split` one per response of
/// its transcript.
fn replies(spec: ReplySpec, base: &Path) -> Result<Vec<Reply>, ScenarioError> {
    if !spec.split {
        return Ok(vec![reply(spec, base)?]);
    }
    let Some(path) = spec.transcript.clone() else {
        return Err(ScenarioError::Invalid(
            "\"split\" needs a \"transcript\"".into(),
        ));
    };
    let events = transcript_events(&resolve(path, base))?;
    split_responses(events)
        .into_iter()
        .map(|events| {
            reply(
                ReplySpec {
                    events,
                    transcript: None,
                    split: false,
                    status: spec.status,
                    headers: spec.headers.clone(),
                    delay_ms: spec.delay_ms,
                    ..ReplySpec::default()
                },
                base,
            )
        })
        .collect()
}

fn resolve(path: PathBuf, base: &Path) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

fn pairs(headers: BTreeMap<String, String>) -> Vec<(String, String)> {
    headers.into_iter().collect()
}

/// Sets `name: value`, replacing any header of the same name (case-insensitive).
fn set_header(headers: &mut Vec<(String, String)>, name: String, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    headers.push((name, value));
}

fn reply(spec: ReplySpec, base: &Path) -> Result<Reply, ScenarioError> {
    let mut steps: Vec<Step> = Vec::new();
    if let Some(body) = spec.body {
        steps.push(Step::Raw(body));
    }
    let is_json = spec.json.is_some();
    if let Some(json) = spec.json {
        steps.push(Step::Raw(json.to_string()));
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
        let mut events = transcript_events(&resolve(path, base))?;
        fill_sequence_numbers(&mut events);
        steps.extend(events.into_iter().map(Step::Event));
    }
    let mut reply = Reply::with_steps(steps);
    if let Some(status) = spec.status {
        reply.status = status;
    }
    if is_json || reply.status != 200 {
        set_header(
            &mut reply.headers,
            "content-type".into(),
            "application/json".into(),
        );
    }
    for (name, value) in pairs(spec.headers) {
        set_header(&mut reply.headers, name, value);
    }
    reply.head_delay = Duration::from_millis(spec.delay_ms);
    reply.end = match spec.end {
        EndSpec::Eof => End::Eof,
        EndSpec::Open => End::Open,
        EndSpec::Reset(message) => End::Reset(message),
        EndSpec::Close { code, reason } => End::Close { code, reason },
    };
    Ok(reply)
}

/// Gives every event without a `sequence_number` the one after the previous event's
/// (0 for a first event), as a real server numbers them.
pub fn fill_sequence_numbers(events: &mut [Value]) {
    let mut next: u64 = 0;
    for event in events {
        let Some(map) = event.as_object_mut() else {
            continue;
        };
        match map.get("sequence_number").and_then(Value::as_u64) {
            Some(n) => next = n.saturating_add(1),
            None => {
                map.insert("sequence_number".into(), Value::from(next));
                next = next.saturating_add(1);
            }
        }
    }
}

/// Splits a capture of several responses into one event list per response: each ends
/// with its terminal event (`response.completed`, `.incomplete`, `.failed` or
/// `.done`; an `error` event stays with the `response.failed` that follows it);
/// events after the last terminal one form a final, unfinished response.
/// Each list's missing sequence numbers are filled in from 0.
pub fn split_responses(events: Vec<Value>) -> Vec<Vec<Value>> {
    let mut responses = Vec::new();
    let mut current = Vec::new();
    for event in events {
        let ends = ev::ends_response(&event) && ev::kind(&event) != "error";
        current.push(event);
        if ends {
            responses.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        responses.push(current);
    }
    for response in &mut responses {
        fill_sequence_numbers(response);
    }
    responses
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
    use serde_json::json;

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
    fn captures_split_per_response_with_sequence_numbers_filled_in() {
        let events = vec![
            json!({"type": "response.created"}),
            json!({"type": "response.output_text.delta", "sequence_number": 5}),
            json!({"type": "response.completed"}),
            json!({"type": "response.created", "sequence_number": 0}),
            json!({"type": "error"}),
            json!({"type": "response.failed"}),
            json!({"type": "response.created"}),
        ];
        let responses = split_responses(events);
        let shape: Vec<Vec<(&str, u64)>> = responses
            .iter()
            .map(|r| {
                r.iter()
                    .map(|e| {
                        (
                            e["type"].as_str().unwrap(),
                            e["sequence_number"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            [
                vec![
                    ("response.created", 0),
                    ("response.output_text.delta", 5),
                    ("response.completed", 6)
                ],
                vec![
                    ("response.created", 0),
                    ("error", 1),
                    ("response.failed", 2)
                ],
                vec![("response.created", 0)],
            ]
        );
    }

    #[test]
    fn a_split_transcript_becomes_one_reply_per_response_and_headers_replace_defaults() {
        let dir = std::env::temp_dir().join(format!("turnwire-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("two.jsonl"),
            "{\"type\":\"response.created\"}\n{\"type\":\"response.completed\"}\n{\"type\":\"response.created\"}\n{\"type\":\"response.completed\"}\n",
        )
        .unwrap();
        let json = r#"{"http": [{"transcript": "two.jsonl", "split": true, "headers": {"Content-Type": "text/event-stream; charset=utf-8"}}]}"#;
        let scenario = parse_scenario(json, &dir).expect("valid scenario");
        let _ = std::fs::remove_dir_all(&dir);
        let mut server = scenario.script;
        assert!(
            parse(r#"{"http": [{"split": true}]}"#, Path::new(".")).is_err(),
            "split without a transcript"
        );
        // Two POSTs get one response each, the third the default model.
        let mut kinds = Vec::new();
        for conn in 1..=3 {
            let request = http::Request::post("http://127.0.0.1/v1/responses")
                .body(bytes::Bytes::from_static(b"{\"stream\": true}"))
                .unwrap();
            let open = turnwire_protocol::session::HttpOpen {
                conn: turnwire_protocol::session::ConnId(conn),
                request,
                compress: false,
                reuse: true,
            };
            let emissions = server.on_open_http(turnwire_protocol::time::Instant::ZERO, &open);
            let content_types: Vec<String> = emissions
                .iter()
                .filter_map(|e| match &e.input {
                    turnwire_protocol::session::Input::HttpResponse { headers, .. } => Some(
                        headers
                            .get_all("content-type")
                            .iter()
                            .map(|v| v.to_str().unwrap().to_owned())
                            .collect::<Vec<_>>()
                            .join(" | "),
                    ),
                    _ => None,
                })
                .collect();
            kinds.push((emissions.len(), content_types));
        }
        // Head, two events, end; the model streams more.
        assert_eq!(
            kinds[0],
            (4, vec!["text/event-stream; charset=utf-8".to_owned()])
        );
        assert_eq!(kinds[1], kinds[0]);
        assert!(kinds[2].0 > 4);
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
