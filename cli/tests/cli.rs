//! Tests that run the `turnwire` binary as a person would.
#![allow(clippy::print_stderr)] // the skip notice when the shared fixtures are absent

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply};

fn turnwire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_turnwire"));
    command.env_remove("OPENAI_API_KEY");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["kind"].as_str()).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("turnwire-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn demo_shows_every_capability(runtime: &str) {
    let output = run(turnwire().args(["demo", "--json", "--runtime", runtime]));
    assert!(output.status.success(), "demo failed: {}", stderr(&output));
    let lines = json_lines(&output);
    let kinds = kinds(&lines);
    for kind in [
        "created",
        "output_text_delta",
        "completed",
        "reconnecting",
        "fallback_activated",
        "summary",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let summary = lines
        .iter()
        .find(|l| l["kind"] == "summary")
        .expect("summary");
    assert_eq!(summary["preconnect"], "adopted by the first turn");
    let requests = summary["requests"].as_array().expect("rows");
    let messages: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    let transports: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["transport"].as_str())
        .collect();
    assert_eq!(
        messages,
        ["create", "chained", "post", "post"],
        "incremental request inside turn 1, then HTTP"
    );
    assert_eq!(
        transports,
        ["websocket", "websocket", "http", "http"],
        "fallback, then the next turn straight to HTTP"
    );
    assert!(
        requests[2]["attempts"].as_u64() > Some(1),
        "the faulty request was retried"
    );
    let sent_on: Vec<&str> = summary["server"]["turn_state_sent_on"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        sent_on.iter().any(|s| s.starts_with("POST 1")),
        "turn state carried into the fallback: {sent_on:?}"
    );
    assert!(
        !sent_on.iter().any(|s| s.starts_with("POST 2")),
        "turn state never crosses into the next turn"
    );
}

#[test]
fn demo_on_tokio_shows_every_capability() {
    demo_shows_every_capability("tokio");
}

#[test]
fn demo_on_smol_shows_every_capability() {
    demo_shows_every_capability("smol");
}

#[test]
fn demo_prints_for_people_without_colour_when_not_a_terminal() {
    let output = run(turnwire().arg("demo"));
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("reconnecting (1/2)"), "{text}");
    assert!(text.contains("falling back to HTTP"));
    assert!(
        text.contains("transport") && text.contains("first event"),
        "summary table"
    );
    assert!(!text.contains('\x1b'), "no colours on a pipe");
}

fn write_script(dir: &Path) -> PathBuf {
    let path = dir.join("script.json");
    std::fs::write(
        &path,
        r#"{"model":"m-test","instructions":"be brief","turns":[["first","second"],["third"]]}"#,
    )
    .expect("script");
    path
}

#[test]
fn run_with_a_script_sends_what_the_script_says() {
    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let dir = temp_dir("run");
    let script = write_script(&dir);
    let output = run(turnwire()
        .args([
            "run",
            "--json",
            "--transport",
            "http",
            "--api-key",
            "sk-test",
            "--base-url",
        ])
        .arg(server.base_url())
        .arg("--script")
        .arg(&script));
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    let completed: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| l["kind"] == "completed")
        .map(|l| (l["turn"].as_u64().unwrap(), l["request"].as_u64().unwrap()))
        .collect();
    assert_eq!(completed, [(0, 0), (0, 1), (1, 0)]);
    let recording = server.recording();
    assert_eq!(recording.posts(), 3);
    let bodies: Vec<&Value> = recording.http.iter().map(|r| &r.body).collect();
    assert!(
        bodies
            .iter()
            .all(|b| b["model"] == "m-test" && b["instructions"] == "be brief")
    );
    let inputs: Vec<usize> = bodies
        .iter()
        .map(|b| b["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        inputs,
        [1, 3, 5],
        "each request carries everything so far (messages and answers, across turns) and the new message"
    );
    let turn_two: Vec<&str> = bodies[2]["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["role"].as_str())
        .collect();
    assert_eq!(turn_two, ["user", "assistant", "user", "assistant", "user"]);
    assert_eq!(bodies[2]["input"][4]["content"][0]["text"], "third");
    assert_eq!(
        recording.post_header(0, "authorization").as_deref(),
        Some("Bearer sk-test")
    );
}

#[test]
fn run_chats_over_standard_input_on_one_prewarmed_socket() {
    use std::io::Write;
    use std::process::Stdio;

    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let mut child = turnwire()
        .args(["run", "--json", "--transport", "ws", "--api-key", "sk-test"])
        .args([
            "--model",
            "m-chat",
            "--instructions",
            "be brief",
            "--base-url",
        ])
        .arg(server.base_url())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("turnwire starts");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(b"first\n\nsecond\n")
        .expect("the chat is written");
    let output = child.wait_with_output().expect("turnwire ends");
    assert!(output.status.success(), "{}", stderr(&output));
    let completed: Vec<(u64, u64)> = json_lines(&output)
        .iter()
        .filter(|l| l["kind"] == "completed")
        .map(|l| (l["turn"].as_u64().unwrap(), l["request"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        completed,
        [(0, 0), (1, 0)],
        "one turn per line, blank lines skipped"
    );

    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 1, "one handshake for the whole chat");
    assert_eq!(rec.posts(), 0);
    let messages = &rec.ws_messages;
    assert_eq!(messages.len(), 3, "the prewarm and one request per turn");
    let prewarm = &messages[0];
    assert_eq!(
        prewarm.generate(),
        Some(false),
        "the first message prewarms"
    );
    assert_eq!(prewarm.json["model"], "m-chat");
    assert_eq!(prewarm.json["instructions"], "be brief");
    assert_eq!(prewarm.input_len(), 0);
    let response_id = |i: usize| {
        messages[i]
            .completed
            .as_ref()
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("message {i} got a completed response"))
    };
    let (turn_one, turn_two) = (&messages[1], &messages[2]);
    assert_eq!(turn_one.generate(), None);
    assert!(
        prewarm.completed.is_some(),
        "the server answered the prewarm"
    );
    assert_eq!(
        turn_one.previous_response_id(),
        None,
        "the prewarm held no input items, so turn 1 has nothing to chain to (a full create)"
    );
    assert_eq!(
        turn_one.json["input"],
        serde_json::json!([user_message("first")])
    );
    assert_eq!(
        turn_two.previous_response_id(),
        Some(response_id(1).as_str()),
        "turn 2 chains to turn 1's response"
    );
    assert_eq!(
        turn_two.json["input"],
        serde_json::json!([user_message("second")]),
        "turn 2 sends only its new message"
    );
    let held = turn_two
        .full_input
        .as_ref()
        .expect("the server holds the chain");
    assert_eq!(
        held.len(),
        3,
        "the server holds the whole conversation: {held:?}"
    );
}

/// A user message item as the client sends it.
fn user_message(text: &str) -> Value {
    serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

#[test]
fn record_then_replay_reproduces_the_same_events() {
    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let dir = temp_dir("replay");
    let script = write_script(&dir);
    let record = dir.join("run.record");
    let output = run(turnwire()
        .args([
            "run",
            "--json",
            "--api-key",
            "sk-secret-value",
            "--base-url",
        ])
        .arg(server.base_url())
        .arg("--script")
        .arg(&script)
        .arg("--record")
        .arg(&record));
    assert!(output.status.success(), "{}", stderr(&output));
    let recorded = std::fs::read_to_string(&record).expect("record file");
    assert!(
        !recorded.contains("sk-secret-value"),
        "credentials never reach the record"
    );
    let replayed = run(turnwire().arg("replay").arg(&record));
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert_eq!(stdout(&replayed), stdout(&output));
    assert!(stdout(&output).contains("\"kind\":\"completed\""));
}

/// The text deltas a run or replay printed with `--json`, in order.
fn printed_deltas(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["kind"] == "output_text_delta")
        .map(|l| l["delta"].as_str().expect("a delta is a string").to_owned())
        .collect()
}

#[test]
fn a_cli_recording_replays_in_the_simulator() {
    use turnwire_protocol::Credentials;
    use turnwire_testkit::record;
    use turnwire_testkit::sim::replay;

    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let dir = temp_dir("cli-to-sim");
    let script = write_script(&dir);
    let path = dir.join("run.record");
    let output = run(turnwire()
        .args(["run", "--json", "--base-url"])
        .arg(server.base_url())
        .arg("--script")
        .arg(&script)
        .arg("--record")
        .arg(&path));
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = json_lines(&output);

    let file = std::fs::File::open(&path).expect("record file");
    let record = record::read(std::io::BufReader::new(file)).expect("the shared reader reads it");
    assert_eq!(record.stopped, None);
    assert!(!record.inputs.is_empty());
    let params = record.header.session_params(Credentials::bearer("replay"));
    let trace = replay(params, &record.inputs).expect("the recorded configuration is valid");

    // The simulator's replay reproduces every delta the run printed, in order, and
    // every completion.
    let deltas = printed_deltas(&printed);
    assert!(!deltas.is_empty(), "the run printed text");
    let replayed: Vec<&String> = trace
        .iter()
        .filter(|line| line.contains("event: OutputTextDelta"))
        .collect();
    assert_eq!(replayed.len(), deltas.len(), "{trace:#?}");
    for (line, delta) in replayed.iter().zip(&deltas) {
        let expected = format!("OutputTextDelta {{ delta: {delta:?}");
        assert!(line.contains(&expected), "{line} lacks {expected}");
    }
    let completed = trace
        .iter()
        .filter(|line| line.contains("event: Completed"))
        .count();
    assert_eq!(
        completed,
        kinds(&printed)
            .iter()
            .filter(|k| **k == "completed")
            .count()
    );
}

#[test]
fn a_simulator_recording_replays_in_the_cli() {
    use turnwire_protocol::ResponseEvent;
    use turnwire_protocol::request::RequestFields;
    use turnwire_protocol::session::{RequestInput, RequestSpec};
    use turnwire_testkit::sim::{Simulator, sim_config};
    use turnwire_testkit::wire;

    let mut sim = Simulator::new(sim_config(), 7).expect("valid configuration");
    let turn = sim.start_turn();
    let spec = RequestSpec {
        fields: RequestFields::new("m"),
        input: RequestInput::Append(wire::items([wire::user("hello")])),
    };
    assert!(sim.run_request(turn, spec).is_completed());
    let dir = temp_dir("sim-to-cli");
    let path = dir.join("sim.record");
    let text = sim.record().expect("the run encodes");
    std::fs::write(&path, &text).expect("write the record");
    assert!(
        !text.contains(turnwire_testkit::sim::auth::INITIAL_TOKEN),
        "credentials never reach the record"
    );

    let replayed = run(turnwire().arg("replay").arg(&path));
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let lines = json_lines(&replayed);
    let seen: Vec<String> = sim
        .transcript()
        .iter()
        .filter_map(|entry| match &entry.what {
            Ok(ResponseEvent::OutputTextDelta { delta, .. }) => Some(delta.clone()),
            _ => None,
        })
        .collect();
    assert!(!seen.is_empty(), "the simulated model wrote text");
    assert_eq!(printed_deltas(&lines), seen);
    assert_eq!(kinds(&lines).last(), Some(&"completed"));
}

#[test]
fn decode_reads_our_own_captures_in_both_formats() {
    let dir = temp_dir("decode");
    let sse = dir.join("capture.sse");
    std::fs::write(
        &sse,
        "event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\"}}\r\n\r\n: keepalive\n\
         data: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"hé\"}\n\n\
         data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\"}}\n\n",
    )
    .unwrap();
    let output = run(turnwire().arg("decode").arg(&sse));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        kinds(&json_lines(&output)),
        ["created", "output_text_delta", "completed"]
    );

    let jsonl = dir.join("capture.jsonl");
    std::fs::write(&jsonl, "{\"type\":\"response.created\",\"response\":{\"id\":\"r1\"}}\n{\"type\":\"response.failed\",\"response\":{\"id\":\"r1\",\"error\":{\"code\":\"context_length_exceeded\",\"message\":\"too long\"}}}\n").unwrap();
    let output = run(turnwire().args(["decode", "--jsonl"]).arg(&jsonl));
    let lines = json_lines(&output);
    assert_eq!(kinds(&lines), ["created", "error"]);
    assert_eq!(lines[1]["error"]["kind"], "context_window_exceeded");
}

#[test]
fn decode_rejects_malformed_and_oversized_input() {
    let dir = temp_dir("decode-bad");
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\nnot json at all\n",
    )
    .unwrap();
    let output = run(turnwire().args(["decode", "--jsonl"]).arg(&bad));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("event 2"), "{}", stderr(&output));

    let huge = dir.join("huge.sse");
    let mut body = b"data: ".to_vec();
    body.resize(17 << 20, b'a');
    std::fs::write(&huge, body).unwrap();
    let output = run(turnwire().arg("decode").arg(&huge));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("too large") || stderr(&output).contains("longer than"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn decode_every_fixture_transcript() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/openai/transcripts");
    if !dir.is_dir() {
        eprintln!(
            "decode_every_fixture_transcript: skipped: fixtures not found at {}",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failed = 0;
    for file in files {
        // No format flag: SSE and JSON-lines captures are told apart by their content.
        let output = run(turnwire().arg("decode").arg(&file));
        let lines = json_lines(&output);
        assert!(!lines.is_empty(), "{}", file.display());
        let last = kinds(&lines).last().copied().unwrap_or_default().to_owned();
        match last.as_str() {
            "completed" | "incomplete" => assert!(
                output.status.success(),
                "{}: {}",
                file.display(),
                stderr(&output)
            ),
            "error" => {
                failed += 1;
                assert_eq!(output.status.code(), Some(1), "{}", file.display());
                // A failed response, an error event, or a capture cut before its
                // terminal event (one fixture lacks the blank line that ends the last
                // SSE event, so that event is never dispatched).
                assert!(
                    stderr(&output).contains("the response failed")
                        || stderr(&output).contains("error event")
                        || stderr(&output).contains("without a terminal event"),
                    "{}: {}",
                    file.display(),
                    stderr(&output)
                );
            }
            other => panic!("{} ends with {other}", file.display()),
        }
    }
    assert!(failed > 0, "the fixtures include failed responses");
}

fn decode_text(name: &str, text: &str, flags: &[&str]) -> Output {
    let dir = temp_dir("decode-text");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    run(turnwire().arg("decode").args(flags).arg(&path))
}

const CREATED: &str = r#"{"type":"response.created","response":{"id":"r1"}}"#;
const DELTA: &str = r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"hi"}"#;
const COMPLETED: &str = r#"{"type":"response.completed","response":{"id":"r1"}}"#;

#[test]
fn decode_tells_sse_from_json_lines_by_itself() {
    let jsonl = format!("\n{CREATED}\n{DELTA}\n{COMPLETED}\n");
    let sse =
        format!("\u{feff}: hello\n\ndata: {CREATED}\n\ndata: {DELTA}\n\ndata: {COMPLETED}\n\n");
    for (name, text) in [("a.jsonl", &jsonl), ("a.sse", &sse)] {
        let output = decode_text(name, text, &[]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert_eq!(
            kinds(&json_lines(&output)),
            ["created", "output_text_delta", "completed"],
            "{name}"
        );
    }
    // The flags still override the guess: JSON lines read as SSE hold no event.
    let forced = decode_text("b.jsonl", &jsonl, &["--sse"]);
    assert_eq!(forced.status.code(), Some(1));
    assert_eq!(kinds(&json_lines(&forced)), ["error"]);
    let forced = decode_text("b.sse", &sse, &["--jsonl"]);
    assert_eq!(forced.status.code(), Some(1));
    assert!(stderr(&forced).contains("event 1"), "{}", stderr(&forced));
}

#[test]
fn decode_exits_nonzero_and_says_why_when_the_response_did_not_complete() {
    let failed = r#"{"type":"response.failed","response":{"id":"r1","status":"failed","error":{"code":"server_error","message":"boom"}}}"#;
    let error = r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down"}"#;
    let cases = [
        (
            "failed",
            format!("{CREATED}\n{DELTA}\n{failed}\n"),
            "the response failed",
        ),
        (
            "error",
            format!("{CREATED}\n{DELTA}\n{error}\n"),
            "the stream ended with an error event",
        ),
        (
            "cut",
            format!("data: {CREATED}\n\ndata: {DELTA}\n\n"),
            "without a terminal event",
        ),
        ("empty", String::new(), "without a terminal event"),
        // A second response that never ends spoils a first that completed.
        (
            "second-cut",
            format!("{CREATED}\n{COMPLETED}\n{CREATED}\n{DELTA}\n"),
            "without a terminal event",
        ),
    ];
    for (name, text, why) in cases {
        let output = decode_text(name, &text, &[]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stdout(&output));
        assert!(stderr(&output).contains(why), "{name}: {}", stderr(&output));
        assert_eq!(kinds(&json_lines(&output)).last(), Some(&"error"), "{name}");
    }
    let incomplete = r#"{"type":"response.incomplete","response":{"id":"r1","incomplete_details":{"reason":"max_output_tokens"}}}"#;
    let output = decode_text("incomplete", &format!("{CREATED}\n{incomplete}\n"), &[]);
    assert!(
        output.status.success(),
        "an incomplete response is an ending: {}",
        stderr(&output)
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn people_get_clear_errors_and_a_nonzero_exit() {
    // Missing key against the default endpoint: refused before any network use.
    let output = run(turnwire().args(["run", "hello"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no API key"),
        "{}",
        stderr(&output)
    );

    // A base URL that is not one.
    let output =
        run(turnwire().args(["run", "--api-key", "k", "--base-url", "not a url", "hello"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("base_url"), "{}", stderr(&output));

    // A script that does not exist, and one that is malformed.
    let output = run(turnwire().args([
        "run",
        "--api-key",
        "k",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--script",
        "/nonexistent/script.json",
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read script"),
        "{}",
        stderr(&output)
    );
    let dir = temp_dir("errors");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"turns\": \"not a list\"}").unwrap();
    let output = run(turnwire()
        .args([
            "run",
            "--api-key",
            "k",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--script",
        ])
        .arg(&bad));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected"), "{}", stderr(&output));

    // An unreachable server: a port that was just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let output = run(turnwire().args([
        "run",
        "--api-key",
        "k",
        "--transport",
        "http",
        "--request-max-retries",
        "0",
        "--stream-max-retries",
        "0",
        "--base-url",
        &url,
        "hello",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("could not reach the server"),
        "{}",
        stderr(&output)
    );

    // A 401.
    let mut script = FakeServer::new();
    script.push_http(Reply::error(
        401,
        "invalid_request_error",
        "invalid_api_key",
        "bad key",
    ));
    let server = LoopbackServer::start(script).expect("server");
    let output = run(turnwire()
        .args([
            "run",
            "--api-key",
            "wrong",
            "--transport",
            "http",
            "--base-url",
        ])
        .arg(server.base_url())
        .arg("hello"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("wrong"),
        "the key is never printed"
    );
}

#[test]
fn serve_prints_its_url_and_answers_requests() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = turnwire()
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).unwrap();
    let url = url.trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    let output = run(turnwire().args([
        "run",
        "--json",
        "--api-key",
        "k",
        "--transport",
        "http",
        "--base-url",
        &url,
        "hi",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    drop(child.stdin.take()); // end of input stops the server
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("served 1 POSTs"), "{log}");
    let _ = std::io::stderr().flush();
}

#[test]
fn run_reads_the_key_from_a_file_and_warns_about_a_key_on_the_command_line() {
    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let dir = temp_dir("key-file");
    let key_file = dir.join("key");
    std::fs::write(&key_file, "sk-from-the-file\r\n").unwrap();
    let base = ["run", "--json", "--transport", "http", "--base-url"];
    let output = run(turnwire()
        .args(base)
        .arg(server.base_url())
        .arg("--api-key-file")
        .arg(&key_file)
        .arg("hi"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("visible"),
        "no warning for a key file: {}",
        stderr(&output)
    );
    assert_eq!(
        server
            .recording()
            .post_header(0, "authorization")
            .as_deref(),
        Some("Bearer sk-from-the-file"),
        "the trailing newline is dropped"
    );

    let output = run(turnwire().args(base).arg(server.base_url()).args([
        "--api-key",
        "sk-on-the-line",
        "hi",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("visible to other users"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        server
            .recording()
            .post_header(1, "authorization")
            .as_deref(),
        Some("Bearer sk-on-the-line")
    );

    // The environment variable is used when no flag is given, without a warning.
    let output = run(turnwire()
        .env("OPENAI_API_KEY", "sk-from-the-env")
        .args(base)
        .arg(server.base_url())
        .arg("hi"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("visible"), "{}", stderr(&output));
    assert_eq!(
        server
            .recording()
            .post_header(2, "authorization")
            .as_deref(),
        Some("Bearer sk-from-the-env")
    );

    // Both flags at once, an empty file and a missing one are refused before any request.
    let output = run(turnwire()
        .args(base)
        .arg(server.base_url())
        .args(["--api-key", "k", "--api-key-file"])
        .arg(&key_file)
        .arg("hi"));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for (file, why) in [(&empty, "is empty"), (&dir.join("missing"), "cannot open")] {
        let output = run(turnwire()
            .args(base)
            .arg(server.base_url())
            .arg("--api-key-file")
            .arg(file)
            .arg("hi"));
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains(why), "{}", stderr(&output));
    }
    assert_eq!(server.recording().posts(), 3);
}

#[test]
fn rust_log_shows_diagnostics_on_stderr_without_the_key() {
    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let key = "sk-trace-secret-4242";
    let args = ["run", "--json", "--base-url"];
    // WebSocket first (the default), so the handshake is logged too.
    let output = run(turnwire()
        .env("RUST_LOG", "trace")
        .env("OPENAI_API_KEY", key)
        .args(args)
        .arg(server.base_url())
        .arg("hi"));
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        log.contains("TRACE")
            && log.contains("turnwire.request")
            && log.contains("attempt started"),
        "RUST_LOG=trace shows the client's spans and events: {log}"
    );
    assert!(!log.contains(key), "the key never reaches the log");
    assert!(!stdout(&output).contains(key));
    assert_eq!(
        server.recording().handshakes.len(),
        1,
        "it went over WebSocket"
    );

    // Off by default.
    let output = run(turnwire()
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", key)
        .args(args)
        .arg(server.base_url())
        .arg("hi"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn a_record_file_stops_at_its_size_cap_and_the_run_goes_on() {
    let server = LoopbackServer::start(FakeServer::new()).expect("server");
    let dir = temp_dir("record-cap");
    let script = write_script(&dir);
    let record = dir.join("capped.record");
    let cap = 4096;
    let output = run(turnwire()
        .args(["run", "--json", "--transport", "http", "--base-url"])
        .arg(server.base_url())
        .arg("--script")
        .arg(&script)
        .arg("--record")
        .arg(&record)
        .args(["--record-max-bytes", &cap.to_string()]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        kinds(&json_lines(&output))
            .iter()
            .filter(|k| **k == "completed")
            .count(),
        3,
        "every request still ran"
    );
    assert!(
        stderr(&output).contains("size cap of 4096 bytes"),
        "{}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.len() <= cap, "{} bytes", text.len());
    assert!(text.ends_with('\n'), "only whole lines");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines.len() > 2, "it recorded until the cap");
    assert!(lines.last().unwrap()["stopped"].is_string());

    let replayed = run(turnwire().arg("replay").arg(&record));
    assert!(
        stderr(&replayed).contains("the recording stopped here"),
        "{}",
        stderr(&replayed)
    );

    // A cap below the header's size is refused up front.
    let output = run(turnwire()
        .args(["run", "--transport", "http", "--base-url"])
        .arg(server.base_url())
        .arg("--record")
        .arg(dir.join("tiny.record"))
        .args(["--record-max-bytes", "100", "hi"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("leaves no room"),
        "{}",
        stderr(&output)
    );
}

/// A TCP server on 127.0.0.1 that answers every connection with `reply` and closes it.
fn canned_server(reply: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply);
        }
    });
    port
}

#[test]
fn run_says_what_a_failure_was_when_the_server_was_reached() {
    // Plain HTTP spoken to an https URL: the TLS handshake fails.
    let port = canned_server(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    let output = run(turnwire()
        .args(["run", "--transport", "http", "--request-max-retries", "0"])
        .args(["--stream-max-retries", "0", "--base-url"])
        .arg(format!("https://127.0.0.1:{port}/v1"))
        .arg("hi"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("TLS handshake") && !stderr(&output).contains("could not reach"),
        "{}",
        stderr(&output)
    );

    // A reply that is not HTTP: a protocol error.
    let port = canned_server(b"SSH-2.0-not-http\r\n\r\n");
    let output = run(turnwire()
        .args(["run", "--transport", "http", "--request-max-retries", "0"])
        .args(["--stream-max-retries", "0", "--base-url"])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .arg("hi"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the reply was malformed")
            && !stderr(&output).contains("could not reach"),
        "{}",
        stderr(&output)
    );
}
