//! `turnwire-hotpaths`: the core's hot paths as fixed workloads, for instruction
//! counts under callgrind (or `perf`), which stay comparable on a loaded machine
//! where wall-clock benchmarks do not.
//!
//! ```text
//! cargo build --release -p turnwire-load --bin turnwire-hotpaths
//! valgrind --tool=callgrind --toggle-collect='*hotpaths*measured*' \
//!     target/release/turnwire-hotpaths session-ws
//! ```
//!
//! Each workload builds its input first, then runs `measured` once over it and prints
//! the number of events handled; with `--toggle-collect` callgrind counts only
//! `measured`, so `Ir / events` is the instruction cost per event.
//!
//! Workloads: `sse` (the SSE decoder over the 1,406-event recorded transcript in
//! 16 KiB reads, 20 passes), `events` (decode_server_event over the same events,
//! 20 passes), `delta-type-first` and `delta-type-last` (one text delta shape,
//! 20,000 times, with `type` as the first or the last member), `session-ws` and
//! `session-sse` (a session streaming 20,000 text deltas from WebSocket frames or
//! one-event SSE reads).
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use turnwire_protocol::event::decode_server_event;
use turnwire_protocol::session::{
    ConnId, Input, Output, RequestInput, RequestSpec, Session, SessionParams, TurnOptions,
};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};
use turnwire_protocol::{Config, Credentials, Now, RequestFields, ResponseItem};

const TRANSCRIPT: &str = "vercel-ai__azure-gpt5-reasoning-multi-summary-no-encryption.chunks.txt";
const PASSES: usize = 20;
const DELTAS: usize = 20_000;
const READ: usize = 16 * 1024;

fn main() -> ExitCode {
    let workload = std::env::args().nth(1).unwrap_or_default();
    let events = match workload.as_str() {
        "sse" => sse(),
        "events" => events(),
        "delta-type-first" => deltas(true),
        "delta-type-last" => deltas(false),
        "session-ws" => session_ws(),
        "session-sse" => session_sse(),
        _ => {
            eprintln!(
                "usage: turnwire-hotpaths sse|events|delta-type-first|delta-type-last|session-ws|session-sse"
            );
            return ExitCode::from(2);
        }
    };
    println!("{workload}: {events} events");
    ExitCode::SUCCESS
}

/// Runs `work` over `input` once; callgrind's `--toggle-collect` counts only this.
#[inline(never)]
fn measured<T>(input: T, work: impl FnOnce(T) -> usize) -> usize {
    work(input)
}

/// The transcript's event JSON texts, or a generated stream of the same shape.
fn transcript_events() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openai/transcripts")
        .join(TRANSCRIPT);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => {
            eprintln!(
                "hotpaths: {} not found; using generated events",
                path.display()
            );
            (0..1406).map(|i| delta_json(i, true)).collect()
        }
    }
}

fn event_type(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    value["type"].as_str().unwrap_or("message").to_owned()
}

fn as_sse(events: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for json in events {
        out.extend_from_slice(format!("event: {}\ndata: {json}\n\n", event_type(json)).as_bytes());
    }
    out
}

/// A text delta shaped like the Responses API's, `type` first or last.
fn delta_json(i: usize, type_first: bool) -> String {
    let members = format!(
        r#""sequence_number":{i},"item_id":"msg_0123456789abcdef0123456789abcdef","output_index":0,"content_index":0,"delta":" word{i}","logprobs":[],"obfuscation":"Xy9""#
    );
    let kind = r#""type":"response.output_text.delta""#;
    if type_first {
        format!("{{{kind},{members}}}")
    } else {
        format!("{{{members},{kind}}}")
    }
}

fn sse() -> usize {
    let stream = as_sse(&transcript_events());
    measured(stream, |stream| {
        let mut events = 0;
        for _ in 0..PASSES {
            let mut decoder = SseDecoder::new(SseLimits::default());
            for chunk in stream.chunks(READ) {
                decoder.feed(chunk);
                while let Some(frame) = decoder.next_frame() {
                    if let Ok(SseFrame::Event(event)) = frame {
                        black_box(event.data);
                        events += 1;
                    }
                }
            }
        }
        events
    })
}

fn events() -> usize {
    let events = transcript_events();
    measured(events, |events| {
        let mut decoded = 0;
        for _ in 0..PASSES {
            for json in &events {
                if let Ok(event) = decode_server_event(json) {
                    black_box(event);
                    decoded += 1;
                }
            }
        }
        decoded
    })
}

fn deltas(type_first: bool) -> usize {
    let frames: Vec<String> = (0..DELTAS).map(|i| delta_json(i, type_first)).collect();
    measured(frames, |frames| {
        let mut decoded = 0;
        for json in &frames {
            if let Ok(event) = decode_server_event(json) {
                black_box(event);
                decoded += 1;
            }
        }
        decoded
    })
}

fn streaming_session(websockets: bool) -> (Session, ConnId) {
    let now = Now::default();
    let mut config = Config::new("http://127.0.0.1:9/v1");
    config.websockets = websockets;
    config.preconnect = Some(false);
    let mut s = Session::new(SessionParams {
        config,
        credentials: Credentials::bearer("key"),
        auth_refreshable: false,
        conversation_id: "hotpaths".into(),
        seed: 7,
    })
    .expect("valid config");
    let turn = s
        .start_turn_with(now, TurnOptions::default())
        .expect("turn");
    let spec = RequestSpec {
        fields: RequestFields::new("m"),
        input: RequestInput::Append(vec![ResponseItem::user_text("hello")]),
    };
    s.start_request_with(now, turn, spec).expect("request");
    let mut conn = None;
    while let Some(out) = s.poll_output() {
        match out {
            Output::OpenWs(open) => conn = Some(open.conn),
            Output::OpenHttp(open) => conn = Some(open.conn),
            _ => {}
        }
    }
    let conn = conn.expect("opened a connection");
    let opened = if websockets {
        Input::WsOpened {
            conn,
            headers: http::HeaderMap::new(),
        }
    } else {
        Input::HttpResponse {
            conn,
            status: 200,
            headers: http::HeaderMap::new(),
        }
    };
    s.handle_input(now, opened).expect("opened");
    while s.poll_output().is_some() {}
    (s, conn)
}

/// Drains outputs, counting caller events.
fn drain(s: &mut Session) -> usize {
    let mut events = 0;
    while let Some(out) = s.poll_output() {
        if matches!(out, Output::Event { .. }) {
            events += 1;
        }
        black_box(out);
    }
    events
}

fn session_ws() -> usize {
    let (mut s, conn) = streaming_session(true);
    let frames: Vec<String> = (0..DELTAS).map(|i| delta_json(i, true)).collect();
    measured(frames, |frames| {
        let mut events = 0;
        for text in frames {
            s.handle_input(Now::default(), Input::WsText { conn, text })
                .expect("frame");
            events += drain(&mut s);
        }
        events
    })
}

fn session_sse() -> usize {
    let (mut s, conn) = streaming_session(false);
    let chunks: Vec<Bytes> = (0..DELTAS)
        .map(|i| {
            Bytes::from(format!(
                "event: response.output_text.delta\ndata: {}\n\n",
                delta_json(i, true)
            ))
        })
        .collect();
    measured(chunks, |chunks| {
        let mut events = 0;
        for data in chunks {
            s.handle_input(Now::default(), Input::HttpBody { conn, data })
                .expect("body");
            events += drain(&mut s);
        }
        events
    })
}
