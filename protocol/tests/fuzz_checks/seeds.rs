//! Seed inputs for every target, built from the project's own data only: the
//! hand-written fixtures under `protocol/tests/data/`, small generated SSE streams,
//! JSON events and items written here, and session scripts in the shapes of the
//! acceptance scenarios (PROTOCOL.md section 14). `scripts/fuzz.sh seed` writes them
//! out and merges them into the committed corpus; the replay test runs them too.

use std::path::Path;

use serde_json::Value;

use super::make;
use super::reader::Writer;
use super::session::{op, time};

/// One seed input.
#[derive(Clone, Debug)]
pub(crate) struct Seed {
    /// The target it is for.
    pub(crate) target: &'static str,
    /// A file name that says what it is.
    pub(crate) name: String,
    /// The bytes.
    pub(crate) data: Vec<u8>,
}

fn seed(target: &'static str, name: impl Into<String>, data: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.into(),
        data,
    }
}

/// The hand-written fixtures folder.
fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

/// Every `input` of the hand-written event fixtures, as event text.
fn fixture_events() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(data_dir().join("events"))
        .expect("tests/data/events")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        let text = std::fs::read_to_string(&path).expect("fixture file");
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Value = serde_json::from_str(line).expect("fixture line is JSON");
            let input = match case.get("input") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => continue,
            };
            out.push((format!("{stem}-{n:02}"), input));
        }
    }
    out
}

/// The hand-written SSE fixtures.
fn fixture_streams() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(data_dir().join("sse"))
        .expect("tests/data/sse")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
            (stem.to_owned(), std::fs::read(&path).expect("fixture file"))
        })
        .collect()
}

/// Small streams that exercise the WHATWG rules and the bounds.
const STREAMS: &[(&str, &[u8])] = &[
    ("crlf-bom", b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\n\r\n"),
    ("cr-only", b"event: t\rdata: x\r\rdata: y\r\r"),
    ("comments", b": hi\n: there\ndata: z\n\n"),
    ("multiline", b"data: 1\ndata: 2\ndata\ndata:3\n\n"),
    (
        "id-retry",
        b"id: 5\nretry: 3000\ndata: a\n\nid: a\0b\nretry: x1\ndata: b\n\n",
    ),
    ("unterminated", b"data: done\n\ndata: open"),
    ("no-data", b"event: x\n\nid: 1\n\n"),
    ("bad-utf8", b"data: \xff\xfe\n\ndata: ok\n\n"),
    ("utf8-char", "data: Grüße 𝄞\n\n".as_bytes()),
    ("long-line", &[b'x'; 300]),
    ("field-names", b"dat: 1\ndata 2\nevent\n:\ndata:\n\n"),
];

fn sse_seeds(out: &mut Vec<Seed>) {
    let mut streams: Vec<(String, Vec<u8>)> = fixture_streams();
    streams.extend(STREAMS.iter().map(|(n, b)| ((*n).to_owned(), b.to_vec())));
    for (name, stream) in streams {
        for (limits, chunks, label) in [
            ([255, 255], 1u64, "default-1"),
            ([255, 255], 7, "default-7"),
            ([40, 60], 3, "small"),
            ([5, 5], 11, "tiny"),
        ] {
            let data = Writer::new()
                .u8(limits[0])
                .u8(limits[1])
                .u64(chunks)
                .raw(&stream)
                .finish();
            out.push(seed("sse", format!("{name}-{label}"), data));
        }
    }
}

/// Events written here, beyond the fixtures.
const EVENTS: &[&str] = &[
    r#"{"type":"response.completed","response":{"id":""}}"#,
    r#"{"type":"response.done","response":{"id":"resp_1","usage":{"input_tokens":1}}}"#,
    r#"{"type":"error","status":429,"error":{"type":"usage_limit_reached","plan_type":"plus","resets_at":1700000000},"headers":{"x-codex-primary-used-percent":"100","retry-after":"2"}}"#,
    r#"{"type":"error","status":400,"error":{"code":"websocket_connection_limit_reached"}}"#,
    r#"{"type":"response.metadata","headers":{"x-codex-turn-state":["ts-1","ts-2"],"n":1,"b":true,"o":{}}}"#,
    r#"{"sequence_number":1,"type":"response.output_text.delta","delta":"x","item_id":"m","output_index":0,"content_index":0}"#,
    r#"{"type":"responsesapi.websocket_timing","timing":{"a":1}}"#,
    r#"{"type":"codex.rate_limits","rate_limits":{"primary":{"used_percent":"NaN"}}}"#,
    r#"{"type":"response.output_item.done","item":{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}}"#,
    r#"{"type":"x","type":"y"}"#,
    r#"  {"type" : "response.created" , "response":{"id":"resp_\u0041"}}  "#,
];

fn event_seeds(out: &mut Vec<Seed>) {
    for (name, text) in fixture_events() {
        out.push(seed("event", name, text.into_bytes()));
    }
    for (n, text) in EVENTS.iter().enumerate() {
        out.push(seed(
            "event",
            format!("own-{n:02}"),
            text.as_bytes().to_vec(),
        ));
    }
}

/// Items written here (the kinds of `item_roundtrip.rs`).
const ITEMS: &[&str] = &[
    r#"{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[],"logprobs":null},{"type":"refusal","refusal":"no"}],"phase":"final_answer"}"#,
    r#"{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Thinking"}],"content":null,"encrypted_content":"gAAA"}"#,
    r#"{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_1","name":"calculator"}"#,
    r#"{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"4"},{"type":"input_image","image_url":"data:"}]}"#,
    r#"{"type":"custom_tool_call","id":"ct_1","call_id":"c2","name":"write_sql","input":"SELECT 1"}"#,
    r#"{"type":"custom_tool_call_output","call_id":"c2","output":"1 row"}"#,
    r#"{"id":"ws_1","type":"web_search_call","status":"completed","action":{"type":"search","query":"rust"}}"#,
    r#"{"role":"user","content":"untyped"}"#,
    r#"{"type":"message","role":null,"content":[],"id":1.5e300}"#,
    r#"[1,"two",null]"#,
];

fn item_seeds(out: &mut Vec<Seed>) {
    for (n, text) in ITEMS.iter().enumerate() {
        let data = Writer::new().u8(0).raw(text.as_bytes()).finish();
        out.push(seed("item", format!("json-{n:02}"), data));
    }
    for (n, shape) in [
        [1u8, 0, 0, 3, 2, 0, 4],
        [1, 0, 2, 5, 8, 0, 2],
        [1, 10, 1, 6, 7, 3, 1],
    ]
    .iter()
    .enumerate()
    {
        out.push(seed("item", format!("built-{n}"), shape.to_vec()));
    }
}

/// The index of `value` in `list` as a byte.
fn index_of<T: PartialEq + ?Sized>(list: &[&T], value: &T) -> u8 {
    list.iter()
        .position(|v| *v == value)
        .expect("value in the vocabulary") as u8
}

/// A header map of `(name, value)` pairs from the vocabularies, as `make::headers` reads it.
fn headers(w: &mut Writer, pairs: &[(&str, &str)]) {
    w.u8(pairs.len() as u8);
    for (name, value) in pairs {
        w.u8(0).u8(index_of(make::HEADER_NAMES, *name));
        w.u8(0).u8(index_of(make::HEADER_VALUES, *value));
    }
}

fn status(w: &mut Writer, code: u16) {
    let index = make::STATUSES
        .iter()
        .position(|s| *s == code)
        .expect("status");
    w.u8(0).u8(index as u8);
}

/// An HTTP error response seed: name, status, headers, body.
type HttpCase = (
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
);

fn classify_seeds(out: &mut Vec<Seed>) {
    let bodies: &[HttpCase] = &[
        (
            "429-retry-after",
            429,
            &[("retry-after", "1.5")],
            r#"{"error":{"message":"slow"}}"#,
        ),
        (
            "429-usage",
            429,
            &[("x-codex-primary-used-percent", "42.5")],
            r#"{"error":{"type":"usage_limit_reached","plan_type":"plus","resets_at":1700000000}}"#,
        ),
        (
            "503-overloaded",
            503,
            &[],
            r#"{"error":{"code":"server_is_overloaded"}}"#,
        ),
        ("400-detail", 400, &[], r#"{"detail":"bad input"}"#),
        (
            "500-date",
            500,
            &[
                ("retry-after", "Wed, 21 Oct 2099 07:28:00 GMT"),
                ("x-request-id", "1"),
            ],
            "oops",
        ),
        (
            "401",
            401,
            &[("x-should-retry", "true")],
            r#"{"error":"expired"}"#,
        ),
        (
            "409-no-retry",
            409,
            &[("x-should-retry", "FALSE")],
            "\u{fe}\u{ff}",
        ),
    ];
    for (name, code, pairs, body) in bodies {
        let mut w = Writer::new();
        w.u8(0);
        status(&mut w, *code);
        headers(&mut w, pairs);
        w.u16(200).u64(1_700_000_000_000).raw(body.as_bytes());
        out.push(seed("classify", format!("http-{name}"), w.finish()));
    }
    // A WebSocket error frame: status, headers, every payload field present.
    let mut w = Writer::new();
    w.u8(1);
    status(&mut w, 429);
    headers(&mut w, &[("retry-after-ms", "120")]);
    for _ in 0..5 {
        w.u8(1).u8(0).u8(6);
    }
    w.u8(1).u64(1_700_000_000).u8(0).u64(0);
    out.push(seed("classify", "ws-error-429", w.finish()));
    for (name, payload) in [
        ("failed-none", vec![2u8, 0]),
        ("failed-rate", vec![2, 1, 1, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0]),
    ] {
        out.push(seed("classify", name, payload));
    }
    for (name, token) in [
        ("ts-ok", &b"ts-1.abc"[..]),
        ("ts-space", b" x"),
        ("ts-ctl", b"a\x01b"),
    ] {
        let data = Writer::new().u8(3).u8(63).raw(token).finish();
        out.push(seed("classify", name, data));
    }
    let mut w = Writer::new();
    w.u8(4);
    headers(
        &mut w,
        &[
            ("x-codex-primary-used-percent", "42.5"),
            ("x-models-etag", "\"etag-1\""),
            ("x-reasoning-included", "true"),
        ],
    );
    w.u8(40);
    out.push(seed("classify", "header-events", w.finish()));
    let json =
        br#"{"X-Codex-Turn-State":"ts-1","a":[1,"b",true,null,[2]],"bad name":"x","c":"\r\n"}"#;
    out.push(seed(
        "classify",
        "headers-json",
        Writer::new().u8(5).raw(json).finish(),
    ));
}

fn backoff_seeds(out: &mut Vec<Seed>) {
    // Policy: base 200 ms, cap 30 s, max retry-after 120 s, exponents 0 and 3.
    for exponent in [0u8, 3, 69] {
        let mut w = Writer::new();
        w.u8(0);
        w.u8(5).u16(200).u8(4).u16(30).u8(4).u16(120);
        w.u8(1).u8(exponent).u64(42).u8(0).u64(1000);
        out.push(seed("backoff", format!("policy-{exponent}"), w.finish()));
    }
    let mut w = Writer::new();
    w.u8(0)
        .u8(2)
        .u8(2)
        .u8(2)
        .u8(0)
        .u32(u32::MAX)
        .u64(7)
        .u8(1)
        .u8(2)
        .u64(0);
    out.push(seed("backoff", "policy-max", w.finish()));
    for (name, ms, ra) in [
        ("ms", Some("1.5"), None),
        ("secs", None, Some("120")),
        ("date", None, Some("Sun, 06 Nov 1994 08:49:37 GMT")),
    ] {
        let mut w = Writer::new();
        w.u8(1);
        for value in [ms, ra] {
            match value {
                Some(v) => w.u8(1).u8(2).u8(index_of(make::HEADER_VALUES, v)),
                None => w.u8(0),
            };
        }
        w.u64(1_700_000_000_000);
        out.push(seed("backoff", format!("retry-after-{name}"), w.finish()));
    }
    let mut w = Writer::new();
    w.u8(2)
        .bytes(b"Rate limit reached. Try again in 1m30.5s please")
        .u32(28)
        .u8(0)
        .bytes(b"x");
    out.push(seed("backoff", "try-again", w.finish()));
    for (name, date) in [
        ("imf", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("rfc850", "Sunday, 06-Nov-94 08:49:37 GMT"),
        ("asctime", "Sun Nov  6 08:49:37 1994"),
        ("leap", "Thu, 29 Feb 2024 23:59:60 GMT"),
    ] {
        let mut w = Writer::new();
        w.u8(3).u64(1_767_225_600_000).u8(1).raw(date.as_bytes());
        out.push(seed("backoff", format!("date-{name}"), w.finish()));
    }
}

/// A session script under construction.
struct Script(Writer);

/// Configuration flags of the script header (byte 0).
const WS: u8 = 1;
const V1: u8 = 2;
const PRECONNECT_ON: u8 = 2 << 2;
const PARTIAL_OK: u8 = 16;
const REFRESHABLE: u8 = 128;

impl Script {
    /// A script header: `flags` (byte 0), `budget` (byte 1), idle and connect timeouts
    /// of about 1 s, base delay 100 ms, backoff cap 1 s, retry-after cap 5 s,
    /// preconnect idle 10 s.
    fn new(flags: u8, budget: u8) -> Self {
        let mut w = Writer::new();
        w.u8(flags)
            .u8(budget)
            .u8(20)
            .u8(20)
            .u8(99)
            .u8(50)
            .u8(50)
            .u8(20)
            .u8(0)
            .u64(7);
        Script(w)
    }

    fn step(&mut self, time: u8, operation: u8) -> &mut Writer {
        self.0.u8(time).u8(operation)
    }

    fn turn(&mut self) -> &mut Self {
        self.step(time::SAME, op::START_TURN).u8(0);
        self
    }

    /// A request on the newest turn appending one user item.
    fn request(&mut self) -> &mut Self {
        self.step(time::SAME, op::START_REQUEST)
            .u8(0)
            .u8(0)
            .u8(0)
            .u8(1)
            .u8(0)
            .u8(0)
            .u8(0);
        self
    }

    fn http_head(&mut self, code: u16, pairs: &[(&str, &str)]) -> &mut Self {
        let w = self.step(time::SAME, op::HTTP_RESPONSE).u8(0);
        status(w, code);
        headers(w, pairs);
        self
    }

    fn http_body(&mut self, body: &[u8]) -> &mut Self {
        self.step(time::SAME, op::HTTP_BODY_RAW).u8(0).bytes(body);
        self
    }

    fn http_end(&mut self) -> &mut Self {
        self.step(time::SAME, op::HTTP_END).u8(0);
        self
    }

    fn http_ok(&mut self) -> &mut Self {
        self.step(time::SAME, op::HTTP_OK_STREAM).u8(0).u8(0);
        self
    }

    fn ws_opened(&mut self, pairs: &[(&str, &str)]) -> &mut Self {
        let w = self.step(time::SAME, op::WS_OPENED).u8(0);
        headers(w, pairs);
        self
    }

    fn ws_refused(&mut self, code: u16) -> &mut Self {
        let w = self.step(time::SAME, op::WS_REFUSED).u8(0);
        status(w, code);
        w.u8(0).bytes(b"");
        self
    }

    fn ws_text(&mut self, text: &str) -> &mut Self {
        self.step(time::SAME, op::WS_TEXT_RAW)
            .u8(0)
            .bytes(text.as_bytes());
        self
    }

    fn ws_ok(&mut self) -> &mut Self {
        self.step(time::SAME, op::WS_OK_STREAM).u8(0);
        self
    }

    /// Jumps to the next deadline and feeds a timeout.
    fn timeout(&mut self) -> &mut Self {
        self.step(time::TO_DEADLINE, op::TIMEOUT);
        self
    }

    fn op(&mut self, operation: u8) -> &mut Self {
        self.step(time::SAME, operation);
        self
    }

    fn finish(&self) -> Vec<u8> {
        self.0.finish()
    }
}

const COMPLETED: &str = r#"{"type":"response.completed","response":{"id":"resp_1"}}"#;

/// Session scripts in the shapes of the acceptance scenarios, with what each must
/// reach: (name, script, completed requests, failed requests).
pub(crate) fn session_scripts() -> Vec<(&'static str, Vec<u8>, usize, usize)> {
    let stream = std::fs::read(data_dir().join("sse/responses-stream.sse")).expect("fixture");
    let failed = std::fs::read(data_dir().join("sse/error-stream.sse")).expect("fixture");
    let mut out = Vec::new();
    let mut s = Script::new(0, 0);
    s.turn()
        .request()
        .http_head(200, &[("x-codex-turn-state", "ts-1")]);
    s.http_body(&stream).request().http_ok();
    s.turn().request().http_ok();
    out.push(("http-stream-turn-state", s.finish(), 3, 0));

    let mut s = Script::new(0, 0);
    s.turn().request().http_head(200, &[]).http_body(&failed);
    out.push(("http-failed-quota", s.finish(), 0, 1));

    for (name, flags) in [
        ("ws-v2-chained", WS | PRECONNECT_ON),
        ("ws-v1-append", WS | V1 | PRECONNECT_ON),
    ] {
        let mut s = Script::new(flags, 0);
        s.op(op::PRECONNECT)
            .ws_opened(&[("x-models-etag", "\"etag-1\"")]);
        s.turn().request().ws_ok().request().ws_ok();
        out.push((name, s.finish(), 2, 0));
    }

    let mut s = Script::new(WS | PRECONNECT_ON, 0);
    s.op(op::PRECONNECT)
        .ws_refused(426)
        .turn()
        .request()
        .http_ok();
    out.push(("ws-426-fallback", s.finish(), 1, 0));

    // Stream retries 2: refused three times, then the fallback goes to HTTP.
    let mut s = Script::new(WS, 2 << 2);
    s.turn()
        .request()
        .ws_refused(404)
        .timeout()
        .ws_refused(404)
        .timeout()
        .ws_refused(404);
    s.http_ok().turn().request().http_ok();
    out.push(("ws-budget-fallback", s.finish(), 2, 0));

    let mut s = Script::new(0, 1 << 2);
    s.turn()
        .request()
        .http_head(200, &[])
        .http_body(b"data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n");
    s.http_end().timeout().http_ok();
    out.push(("http-early-close", s.finish(), 1, 0));

    let mut s = Script::new(0, 1);
    s.turn()
        .request()
        .http_head(500, &[])
        .http_end()
        .timeout()
        .http_head(500, &[])
        .http_end();
    s.turn().request().http_ok();
    out.push(("http-5xx-then-next-turn", s.finish(), 1, 1));

    let mut s = Script::new(0, 1);
    s.turn()
        .request()
        .http_head(429, &[("retry-after", "1")])
        .http_end()
        .timeout()
        .http_ok();
    out.push(("http-429-retry-after", s.finish(), 1, 0));

    let mut s = Script::new(REFRESHABLE, 0);
    s.turn().request().http_head(401, &[]).http_end();
    s.step(time::SAME, op::AUTH_REFRESHED).u8(1);
    s.http_ok();
    out.push(("http-401-refresh", s.finish(), 1, 0));

    let mut s = Script::new(REFRESHABLE, 0);
    s.turn().request().http_head(401, &[]).http_end();
    out.push(("http-401-refresh-unanswered", s.finish(), 0, 1));

    let mut s = Script::new(PARTIAL_OK, 1 << 2);
    s.turn()
        .request()
        .http_head(200, &[])
        .http_body(b": keep-alive\n\n");
    s.timeout().timeout().http_ok();
    out.push(("http-idle-timeout", s.finish(), 1, 0));

    let mut s = Script::new(WS, 0);
    s.turn().request().ws_opened(&[]);
    s.ws_text(r#"{"type":"error","error":{"code":"websocket_connection_limit_reached"}}"#);
    s.ws_opened(&[]).ws_ok();
    out.push(("ws-connection-limit", s.finish(), 1, 0));

    let mut s = Script::new(WS, 0);
    s.turn().request().ws_opened(&[]);
    s.ws_text(r#"{"type":"error","status":429,"error":{"type":"usage_limit_reached","plan_type":"plus"},"headers":{"x-codex-primary-used-percent":"100"}}"#);
    out.push(("ws-usage-limit", s.finish(), 0, 1));

    let mut s = Script::new(WS, 0);
    s.turn().request().ws_opened(&[]);
    s.ws_text(r#"{"type":"response.metadata","headers":{"x-codex-turn-state":"ts-9"}}"#);
    s.ws_text(COMPLETED).request().ws_text(COMPLETED);
    out.push(("ws-metadata-turn-state", s.finish(), 2, 0));

    let mut s = Script::new(0, 0);
    s.turn().request().step(time::SAME, op::CANCEL).u8(0);
    s.request().step(time::SAME, op::END_TURN).u8(0);
    out.push(("cancel-and-end-turn", s.finish(), 0, 2));

    // Small limits: a body line longer than the SSE line bound.
    let mut w = Writer::new();
    w.u8(0)
        .u8(1 << 6)
        .u8(20)
        .u8(20)
        .u8(99)
        .u8(50)
        .u8(50)
        .u8(20)
        .u8(0)
        .u64(7);
    w.u8(2).u8(2).u8(2).u8(16).u8(16).u8(8);
    let mut s = Script(w);
    s.turn()
        .request()
        .http_head(200, &[])
        .http_body(&[b'x'; 100]);
    out.push(("small-limits-long-line", s.finish(), 0, 1));

    // A preconnect left unadopted past its idle limit is discarded; the turn opens its
    // own socket.
    let mut s = Script::new(WS | PRECONNECT_ON, 0);
    s.op(op::PRECONNECT).ws_opened(&[]);
    s.step(time::MINUTE_1, op::TIMEOUT);
    s.turn().request().ws_opened(&[]).ws_ok();
    out.push(("ws-preconnect-stale", s.finish(), 1, 0));

    // The driver's clock wobbles: spurious and early timeouts, an instant in the past,
    // small and large steps; the stream still completes after one idle retry.
    let mut s = Script::new(PARTIAL_OK, 1 << 2);
    s.turn().request().http_head(200, &[]);
    s.step(time::BEFORE_DEADLINE, op::TIMEOUT);
    s.step(time::EARLIER_1 + 3, op::TIMEOUT);
    s.step(time::MS_1 + 9, op::TIMEOUT);
    s.step(time::AFTER_DEADLINE, op::TIMEOUT);
    s.0.u8(time::ARBITRARY).u32(5).u8(op::TIMEOUT);
    s.step(time::QUARTER_1, op::TIMEOUT);
    s.http_ok();
    out.push(("clock-wobble", s.finish(), 1, 0));

    let mut s = Script::new(WS, 0);
    s.turn().request().ws_opened(&[]);
    s.step(time::SAME, op::WS_BINARY).u8(200).u64(u64::MAX);
    out.push(("ws-binary-huge", s.finish(), 0, 1));
    out
}

fn session_seeds(out: &mut Vec<Seed>) {
    for (name, data, _, _) in session_scripts() {
        out.push(seed("session", name, data));
    }
}

/// Every seed of every target.
pub(crate) fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    sse_seeds(&mut out);
    event_seeds(&mut out);
    item_seeds(&mut out);
    classify_seeds(&mut out);
    backoff_seeds(&mut out);
    session_seeds(&mut out);
    http1_seeds(&mut out);
    out
}

/// Responses as servers send them, one framing or hostile shape each.
const RESPONSES: &[(&str, &[u8])] = &[
    ("length", b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 17\r\n\r\ndata: {\"a\":1}\n\n\n"),
    ("chunked", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 1\r\n\r\n"),
    ("until-close", b"HTTP/1.1 200 OK\r\n\r\ndata: x\n\n"),
    ("te-final-gzip", b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw"),
    ("te-and-cl", b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ("cl-conflict", b"HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\nabcd"),
    ("cl-signed", b"HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\nabc"),
    ("interim", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    ("http10-keep-alive", b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok"),
    ("connection-close", b"HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}"),
    ("two-responses", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
    ("bytes-after-end", b"HTTP/1.1 304 Not Modified\r\n\r\n\r\n"),
    ("huge-chunk", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff\r\n"),
    ("bare-lf", b"HTTP/1.1 500 Internal Server Error\ncontent-length: 0\n\n"),
    ("encoded", b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 1\r\n\r\nz"),
];

fn http1_seeds(out: &mut Vec<Seed>) {
    for (name, response) in RESPONSES {
        for (limits, chunks, label) in [
            (255u8, 1u64, "default-1"),
            (255, 5, "default-5"),
            (20, 3, "small"),
        ] {
            let data = Writer::new().u8(limits).u64(chunks).raw(response).finish();
            out.push(seed("http1", format!("{name}-{label}"), data));
        }
    }
}
