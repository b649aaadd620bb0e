//! Heap allocations per streamed text delta in steady state, counted with `dhat` as the
//! global allocator (the workspace forbids unsafe code, so we cannot write a counting
//! allocator ourselves).
//!
//! Each scenario warms up on 1,000 events, then counts every allocation (and its
//! requested bytes) made while it handles 10,000 more, and divides. Inputs are built
//! before the count starts, so what is counted is what the code under test allocates.
//! The goal is no allocation beyond the event's own payload: a caller-facing
//! `OutputTextDelta` owns two strings (`delta` and `item_id`), so 2 allocations of
//! `delta.len() + item_id.len()` bytes per event is the floor for a session scenario,
//! and 0 for the SSE framing alone.
//!
//! Run: `cargo bench -p turnwire-protocol --bench alloc`
//! (`-- --profile dhat-heap.json` also writes dhat's profile of the whole run, with a
//! backtrace per allocation site, for `dh_view.html` or a script).
#![allow(missing_docs, clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;

use bytes::Bytes;
use turnwire_protocol::event::decode_server_event;
use turnwire_protocol::session::{
    ConnId, Input, Output, RequestInput, RequestSpec, Session, SessionParams, TurnOptions,
};
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};
use turnwire_protocol::{Config, Credentials, Now, RequestFields, ResponseEvent, ResponseItem};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const WARM_UP: usize = 1_000;
const MEASURED: usize = 10_000;
const ITEM_ID: &str = "msg_0123456789abcdef0123456789abcdef";

/// A text delta frame shaped like the Responses API's (extra members included).
fn delta_json(i: usize, escaped: bool) -> String {
    let delta = if escaped {
        format!(" line {i}\\n\\u00e9")
    } else {
        format!(" word{i}")
    };
    format!(
        r#"{{"type":"response.output_text.delta","sequence_number":{i},"item_id":"{ITEM_ID}","output_index":0,"content_index":0,"delta":"{delta}","logprobs":[],"obfuscation":"Xy9"}}"#
    )
}

/// The bytes the decoded event owns: its `delta` and `item_id`.
fn payload_bytes(i: usize, escaped: bool) -> u64 {
    let delta = if escaped {
        format!(" line {i}\n\u{e9}")
    } else {
        format!(" word{i}")
    };
    (delta.len() + ITEM_ID.len()) as u64
}

fn sse_block(json: &str) -> Vec<u8> {
    format!("event: response.output_text.delta\ndata: {json}\n\n").into_bytes()
}

/// Allocation counts over a measured run.
struct Count {
    scenario: &'static str,
    events: u64,
    blocks: u64,
    bytes: u64,
    payload_blocks: u64,
    payload_bytes: u64,
}

impl Count {
    fn print(&self) {
        let per = |n: u64| n as f64 / self.events as f64;
        println!(
            "{:<34} {:>8.2} {:>10.1} {:>10.2} {:>10.1}",
            self.scenario,
            per(self.blocks),
            per(self.bytes),
            per(self.blocks) - per(self.payload_blocks),
            per(self.bytes) - per(self.payload_bytes),
        );
    }
}

/// Runs `step` on every input after the warm-up ones and counts what it allocates.
fn measure<T>(
    scenario: &'static str,
    inputs: Vec<T>,
    payload: (u64, u64),
    mut step: impl FnMut(T),
) -> Count {
    let mut inputs = inputs.into_iter();
    for input in inputs.by_ref().take(WARM_UP) {
        step(input);
    }
    let before = dhat::HeapStats::get();
    let mut events = 0u64;
    for input in inputs {
        step(input);
        events += 1;
    }
    let after = dhat::HeapStats::get();
    Count {
        scenario,
        events,
        blocks: after.total_blocks - before.total_blocks,
        bytes: after.total_bytes - before.total_bytes,
        payload_blocks: payload.0,
        payload_bytes: payload.1,
    }
}

fn measured_payload(escaped: bool) -> (u64, u64) {
    let bytes = (WARM_UP..WARM_UP + MEASURED)
        .map(|i| payload_bytes(i, escaped))
        .sum();
    (2 * MEASURED as u64, bytes)
}

fn total() -> usize {
    WARM_UP + MEASURED
}

// ---------------------------------------------------------------------------------------
// Codecs alone

fn sse_framing() -> Count {
    let mut decoder = SseDecoder::new(SseLimits::default());
    let chunks: Vec<Vec<u8>> = (0..total())
        .map(|i| sse_block(&delta_json(i, false)))
        .collect();
    measure(
        "sse decoder (one event per read)",
        chunks,
        (0, 0),
        |chunk| {
            decoder.feed(&chunk);
            while let Some(frame) = decoder.next_frame() {
                if let Ok(SseFrame::Event(event)) = frame {
                    black_box(event.data.len());
                }
            }
        },
    )
}

fn event_decoding(escaped: bool) -> Count {
    let frames: Vec<String> = (0..total()).map(|i| delta_json(i, escaped)).collect();
    let name = if escaped {
        "decode_server_event (escaped delta)"
    } else {
        "decode_server_event"
    };
    measure(name, frames, measured_payload(escaped), |json| {
        let event = decode_server_event(&json).expect("a text delta");
        black_box(&event);
    })
}

// ---------------------------------------------------------------------------------------
// The session

fn session(websockets: bool) -> Session {
    let mut config = Config::new("http://127.0.0.1:9/v1");
    config.websockets = websockets;
    config.preconnect = Some(false);
    Session::new(SessionParams {
        config,
        credentials: Credentials::bearer("bench-key"),
        auth_refreshable: false,
        conversation_id: "bench".into(),
        seed: 7,
    })
    .expect("valid config")
}

/// Drains outputs; returns the connection the session opened, if it opened one.
fn drain_opened(s: &mut Session) -> Option<ConnId> {
    let mut conn = None;
    while let Some(out) = s.poll_output() {
        match out {
            Output::OpenWs(open) => conn = Some(open.conn),
            Output::OpenHttp(open) => conn = Some(open.conn),
            _ => {}
        }
    }
    conn
}

/// Drains the outputs of one delta, checking it came out as a text delta.
fn drain_delta(s: &mut Session) {
    let mut deltas = 0;
    while let Some(out) = s.poll_output() {
        if let Output::Event {
            event: ResponseEvent::OutputTextDelta { delta, .. },
            ..
        } = &out
        {
            black_box(delta.len());
            deltas += 1;
        }
        drop(out);
    }
    assert!(deltas > 0, "the input produced no text delta");
}

/// A session with one request streaming on `transport`; returns it with the connection.
fn streaming_session(websockets: bool) -> (Session, ConnId) {
    let now = Now::default();
    let mut s = session(websockets);
    let turn = s
        .start_turn_with(now, TurnOptions::default())
        .expect("turn");
    let spec = RequestSpec {
        fields: RequestFields::new("m"),
        input: RequestInput::Append(vec![ResponseItem::user_text("hello")]),
    };
    s.start_request_with(now, turn, spec).expect("request");
    let conn = drain_opened(&mut s).expect("the request opened a connection");
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

fn session_websocket() -> Count {
    let (mut s, conn) = streaming_session(true);
    let frames: Vec<String> = (0..total()).map(|i| delta_json(i, false)).collect();
    measure(
        "session, WebSocket frame",
        frames,
        measured_payload(false),
        |text| {
            s.handle_input(Now::default(), Input::WsText { conn, text })
                .expect("frame");
            drain_delta(&mut s);
        },
    )
}

fn session_sse() -> Count {
    let (mut s, conn) = streaming_session(false);
    let chunks: Vec<Bytes> = (0..total())
        .map(|i| Bytes::from(sse_block(&delta_json(i, false))))
        .collect();
    measure(
        "session, SSE (one event per read)",
        chunks,
        measured_payload(false),
        |data| {
            s.handle_input(Now::default(), Input::HttpBody { conn, data })
                .expect("body");
            drain_delta(&mut s);
        },
    )
}

fn main() {
    let profile = std::env::args().skip_while(|a| a != "--profile").nth(1);
    let _profiler = match &profile {
        Some(path) => dhat::Profiler::builder()
            .file_name(path)
            .trim_backtraces(Some(16))
            .build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    println!(
        "allocations per text delta event after {WARM_UP} warm-up events, over {MEASURED} events"
    );
    println!(
        "{:<34} {:>8} {:>10} {:>10} {:>10}",
        "scenario", "allocs", "bytes", "extra", "extra B"
    );
    for count in [
        sse_framing(),
        event_decoding(false),
        event_decoding(true),
        session_websocket(),
        session_sse(),
    ] {
        count.print();
    }
    println!(
        "allocs/bytes: per event; extra: beyond the event's own payload (its delta and item_id strings)"
    );
}
