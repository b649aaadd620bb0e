//! The loopback server as `turnwire serve` runs it, checked over real sockets with a
//! minimal HTTP/1.1 client written here: the spec-complete default model, `stream`
//! handling, routes, header semantics, keep-alive, reply rules, the journal and the
//! bounds under abuse.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU32;
use std::time::Duration;

use serde_json::{Value, json};
use turnwire_testkit::loopback::{Journal, KeepAlive, LoopbackServer, ServerOptions, scenario};
use turnwire_testkit::sim::{FakeServer, Reply};
use turnwire_testkit::wire::{self, ev};

/// How long a test waits for anything on loopback before failing.
const PATIENCE: Duration = Duration::from_secs(20);

/// One HTTP response as read off the socket.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).first().copied()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The `data:` payloads of an SSE body.
    fn events(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).expect("event JSON"))
            .collect()
    }
}

/// A client connection that can carry several requests.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) {
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(body);
        self.stream.write_all(text.as_bytes()).expect("write");
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn take_line(&mut self) -> String {
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[..at]).into_owned();
                self.buffer.drain(..at + 2);
                return line;
            }
            assert!(self.fill(), "connection closed inside a response");
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buffer.len() < n {
            assert!(self.fill(), "connection closed inside a body");
        }
        self.buffer.drain(..n).collect()
    }

    fn receive(&mut self) -> Response {
        let status_line = self.take_line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.take_line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if response.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.take_line(), 16).expect("chunk size");
                if size == 0 {
                    assert_eq!(self.take_line(), "");
                    break;
                }
                let data = self.take(size);
                response.body.extend_from_slice(&data);
                assert_eq!(self.take_line(), "");
            }
        } else if let Some(length) = response.header("content-length") {
            let length = length.parse().expect("content-length");
            response.body = self.take(length);
        }
        response
    }

    fn request(&mut self, method: &str, path: &str, body: &str) -> Response {
        self.send(method, path, &[], body);
        self.receive()
    }

    /// True when the server closed the connection (EOF) before `PATIENCE`.
    fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0))
            || matches!(self.stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }
}

fn serve(script: FakeServer) -> LoopbackServer {
    LoopbackServer::start(script).expect("bind")
}

fn serve_with(script: FakeServer, options: ServerOptions) -> LoopbackServer {
    LoopbackServer::start_with(script, 0, false, options).expect("bind")
}

fn ask(model: &str, stream: bool) -> String {
    json!({"model": model, "input": "hello", "stream": stream}).to_string()
}

#[test]
fn the_default_model_streams_every_stage_with_one_content_type_and_a_request_id() {
    let server = serve(FakeServer::spec_complete());
    let mut client = Client::connect(server.addr());
    let response = client.request("POST", "/v1/responses", &ask("gpt-echo", true));
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header_values("content-type"),
        ["text/event-stream"]
    );
    assert!(response.header("x-request-id").is_some());
    let events = response.events();
    let kinds: Vec<&str> = events.iter().map(ev::kind).collect();
    assert_eq!(
        kinds[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        kinds[kinds.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(
        kinds[4..kinds.len() - 4]
            .iter()
            .all(|k| *k == "response.output_text.delta")
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], json!(i));
    }
    let done = &events[events.len() - 1]["response"];
    assert_eq!(done["model"], "gpt-echo");
    assert_eq!(done["status"], "completed");
    assert_eq!(server.recording().http[0].body["model"], "gpt-echo");
}

#[test]
fn a_request_without_stream_gets_the_json_response_the_events_fold_into() {
    let mut script = FakeServer::spec_complete();
    // Scripted events (the compact shapes) fold the same way: output from the items.
    script.push_http(Reply::events(ev::response(
        "resp-s",
        &[wire::assistant("m-s", "scripted")],
    )));
    let server = serve(script);
    let mut client = Client::connect(server.addr());
    let scripted = client.request("POST", "/v1/responses", &ask("m", false));
    assert_eq!(scripted.status, 200);
    assert_eq!(scripted.header_values("content-type"), ["application/json"]);
    let body = scripted.json();
    assert_eq!(
        (body["id"].as_str(), body["object"].as_str()),
        (Some("resp-s"), Some("response"))
    );
    assert_eq!(body["output"], json!([wire::assistant("m-s", "scripted")]));

    let streamed = client.request("POST", "/v1/responses", &ask("m", true));
    let text: String = streamed
        .events()
        .iter()
        .filter(|e| ev::kind(e) == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap().to_owned())
        .collect();
    let folded = client.request(
        "POST",
        "/v1/responses",
        &json!({"model": "m", "input": "hello"}).to_string(),
    );
    assert_eq!(folded.header_values("content-type"), ["application/json"]);
    let body = folded.json();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "m");
    assert_eq!(
        body["id"], "resp-2",
        "the default model numbers its responses"
    );
    let folded_text = body["output"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(folded_text.replace("Antwort 2", "Antwort 1"), text);
    assert_eq!(
        server.accepted_connections(),
        1,
        "three requests on one kept-alive connection"
    );
}

#[test]
fn routes_other_than_responses_get_models_or_openai_shaped_errors() {
    let server = serve(FakeServer::spec_complete());
    let mut client = Client::connect(server.addr());
    let models = client.request("GET", "/v1/models", "");
    assert_eq!(models.status, 200);
    let list = models.json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["object"], "model");
    let one = client.request("GET", "/v1/models/gpt-x", "");
    assert_eq!(one.json()["id"], "gpt-x");
    for (method, path, status) in [
        ("GET", "/v1/responses", 405),
        ("POST", "/v1/chat/completions", 404),
        ("DELETE", "/nothing", 404),
    ] {
        let response = client.request(method, path, "");
        assert_eq!(response.status, status, "{method} {path}");
        let error = &response.json()["error"];
        for field in ["message", "type", "param", "code"] {
            assert!(
                error.get(field).is_some(),
                "{method} {path}: no {field} in {error}"
            );
        }
    }
    assert_eq!(server.recording().posts(), 0, "no route reached the script");
}

#[test]
fn scenario_headers_replace_the_defaults_and_request_ids_are_unique() {
    let scenario = scenario::parse(
        r#"{"http": [
            {"events": [{"type": "response.created", "response": {"id": "r"}}], "headers": {"Content-Type": "text/event-stream; charset=utf-8", "x-extra": "1"}},
            {"status": 400, "json": {"error": {"message": "no", "type": "invalid_request_error", "param": null, "code": "bad"}}}
        ]}"#,
        std::path::Path::new("."),
    )
    .expect("scenario");
    let server = serve(scenario);
    let mut client = Client::connect(server.addr());
    let first = client.request("POST", "/v1/responses", &ask("m", true));
    assert_eq!(
        first.header_values("content-type"),
        ["text/event-stream; charset=utf-8"]
    );
    assert_eq!(first.header("x-extra"), Some("1"));
    let second = client.request("POST", "/v1/responses", &ask("m", true));
    assert_eq!(second.status, 400);
    assert_eq!(second.header_values("content-type"), ["application/json"]);
    assert_eq!(second.json()["error"]["code"], "bad");
    let third = client.request("GET", "/v1/models", "");
    let ids = [&first, &second, &third]
        .map(|r| r.header("x-request-id").expect("x-request-id").to_owned());
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}

#[test]
fn keep_alive_serves_requests_in_turn_and_honours_connection_close() {
    let server = serve(FakeServer::spec_complete());
    let mut client = Client::connect(server.addr());
    for _ in 0..3 {
        assert_eq!(
            client
                .request("POST", "/v1/responses", &ask("m", true))
                .status,
            200
        );
    }
    client.send(
        "POST",
        "/v1/responses",
        &[("connection", "close")],
        &ask("m", true),
    );
    let last = client.receive();
    assert_eq!(last.header("connection"), Some("close"));
    assert!(client.closed_by_server());
    assert_eq!(server.recording().posts(), 4);
    assert_eq!(server.accepted_connections(), 1);
}

#[test]
fn keep_alive_rules_close_after_n_requests_or_silently_after_a_chosen_response() {
    let options = ServerOptions {
        keep_alive: KeepAlive {
            max_requests: NonZeroU32::new(2),
            close_idle_after: vec![3],
            ..KeepAlive::default()
        },
        ..ServerOptions::default()
    };
    let server = serve_with(FakeServer::spec_complete(), options);
    let mut first = Client::connect(server.addr());
    assert_eq!(
        first
            .request("POST", "/v1/responses", &ask("m", true))
            .header("connection"),
        None
    );
    let second = first.request("POST", "/v1/responses", &ask("m", true));
    assert_eq!(
        second.header("connection"),
        Some("close"),
        "max_requests announces the close"
    );
    assert!(first.closed_by_server());
    let mut other = Client::connect(server.addr());
    let third = other.request("POST", "/v1/responses", &ask("m", true));
    assert_eq!(
        third.header("connection"),
        None,
        "the idle close is not announced"
    );
    assert!(other.closed_by_server());
    assert_eq!(server.accepted_connections(), 2);
    assert_eq!(server.recording().posts(), 3);
}

#[test]
fn rules_choose_replies_by_what_the_request_says() {
    let scenario = scenario::parse(
        r#"{
            "rules": [
                {"match": {"input_contains": "weather"}, "reply": {"status": 503, "json": {"error": {"message": "busy"}}}},
                {"match": {"model": "gpt-b", "nth": 2}, "reply": {"status": 429, "json": {"error": {"message": "slow"}}}},
                {"match": {"headers": {"x-tenant": "t1"}}, "reply": {"status": 401, "json": {"error": {"message": "who"}}}, "times": 1}
            ],
            "http": [{"status": 418, "body": "{}"}]
        }"#,
        std::path::Path::new("."),
    )
    .expect("scenario");
    let server = serve(scenario);
    let mut client = Client::connect(server.addr());
    let post = |client: &mut Client, body: Value, headers: &[(&str, &str)]| {
        client.send("POST", "/v1/responses", headers, &body.to_string());
        client.receive().status
    };
    assert_eq!(
        post(
            &mut client,
            json!({"model": "a", "input": "the weather?"}),
            &[]
        ),
        503
    );
    assert_eq!(
        post(&mut client, json!({"model": "gpt-b", "input": "x"}), &[]),
        418,
        "first gpt-b: positional"
    );
    assert_eq!(
        post(&mut client, json!({"model": "gpt-b", "input": "x"}), &[]),
        429,
        "second gpt-b: the nth rule"
    );
    assert_eq!(
        post(
            &mut client,
            json!({"model": "a", "input": "x"}),
            &[("x-tenant", "t1")]
        ),
        401
    );
    assert_eq!(
        post(
            &mut client,
            json!({"model": "a", "input": "x", "stream": true}),
            &[("x-tenant", "t1")]
        ),
        200,
        "times: 1 spent; the default model"
    );
}

#[test]
fn the_journal_has_every_request_and_response_and_never_a_credential() {
    let path = std::env::temp_dir().join(format!("turnwire-journal-{}.jsonl", std::process::id()));
    let options = ServerOptions {
        journal: Some(Journal::create(&path).expect("journal")),
        ..ServerOptions::default()
    };
    let server = serve_with(FakeServer::spec_complete(), options);
    let mut client = Client::connect(server.addr());
    client.send(
        "POST",
        "/v1/responses?api-key=sk-query-secret",
        &[
            ("authorization", "Bearer sk-journal-secret"),
            ("api-key", "sk-azure-secret"),
            ("cookie", "s=sk-cookie-secret"),
        ],
        &ask("m", true),
    );
    assert_eq!(client.receive().status, 200);
    drop(server);
    let text = std::fs::read_to_string(&path).expect("journal file");
    let _ = std::fs::remove_file(&path);
    assert!(
        !text.contains("sk-"),
        "a credential reached the journal: {text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["request", "response"]);
    assert_eq!(lines[0]["body"]["model"], "m");
    assert_eq!(lines[0]["headers"]["authorization"], "[redacted]");
    assert_eq!(lines[1]["status"], 200);
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let options = ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    };
    let server = serve_with(FakeServer::spec_complete(), options);
    let mut held: Vec<Client> = (0..2).map(|_| Client::connect(server.addr())).collect();
    // Both are being served: each answers a request.
    for client in &mut held {
        assert_eq!(client.request("GET", "/v1/models", "").status, 200);
    }
    let mut extra = Client::connect(server.addr());
    assert!(extra.closed_by_server(), "the third connection is closed");
    assert_eq!(server.refused_connections(), 1);
    assert_eq!(server.accepted_connections(), 2);
    drop(held);
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let mut later = Client::connect(server.addr());
    assert_eq!(
        later.request("GET", "/v1/models", "").status,
        200,
        "room again once they closed"
    );
}

#[test]
fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    let options = ServerOptions {
        head_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let server = serve_with(FakeServer::spec_complete(), options);
    let mut slow = Client::connect(server.addr());
    slow.stream
        .write_all(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    assert!(slow.closed_by_server(), "the unfinished head timed out");
    assert_eq!(server.recording().posts(), 0);
}

/// This process's resident set size in KiB (Linux), or `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn announced_bodies_cost_only_the_bytes_that_arrived() {
    let server = serve(FakeServer::spec_complete());
    let Some(before) = rss_kib() else {
        return; // no /proc: nothing to measure
    };
    let announced = 64 << 20;
    let mut liars: Vec<TcpStream> = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        let head =
            format!("POST /v1/responses HTTP/1.1\r\ncontent-length: {announced}\r\n\r\n0123456789");
        stream.write_all(head.as_bytes()).expect("write");
        liars.push(stream);
    }
    // A full exchange after them: the server has read their heads by the time it
    // answers (one thread serves all connections, each in turn).
    let mut client = Client::connect(server.addr());
    assert_eq!(client.request("GET", "/v1/models", "").status, 200);
    let after = rss_kib().unwrap_or(before);
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 32,
        "8 announced 64 MiB bodies grew the process by {grown_mib} MiB"
    );
    assert_eq!(server.open_connections(), 9);
    assert_eq!(server.recording().posts(), 0);
}

#[test]
fn a_tool_loop_runs_against_the_default_model_without_a_script() {
    let server = serve(FakeServer::spec_complete());
    let mut client = Client::connect(server.addr());
    let tools = json!([{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]);
    let first =
        json!({"model": "m", "input": [wire::user("find it")], "tools": tools, "stream": true});
    let events = client
        .request("POST", "/v1/responses", &first.to_string())
        .events();
    let call = events
        .iter()
        .find(|e| ev::kind(e) == "response.output_item.done")
        .map(|e| e["item"].clone())
        .expect("an output item");
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "lookup");
    assert!(
        events
            .iter()
            .any(|e| ev::kind(e) == "response.function_call_arguments.delta")
    );
    let output = wire::function_output(call["call_id"].as_str().unwrap(), "found");
    let second =
        json!({"model": "m", "input": [wire::user("find it"), call, output], "tools": tools});
    let answer = client
        .request("POST", "/v1/responses", &second.to_string())
        .json();
    assert_eq!(
        answer["output"][0]["type"], "message",
        "answered in text once the output came back"
    );
    assert_eq!(answer["status"], "completed");
}
