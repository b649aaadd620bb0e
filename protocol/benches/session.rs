//! Benchmarks of the session core: the incremental decision against history length
//! (it must be flat), and the core's cost per streamed event on each transport.
//!
//! Run: `cargo bench -p turnwire-protocol --bench session`
#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::hint::black_box;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use turnwire_protocol::session::{
    ConnId, Input, Output, RequestInput, RequestSpec, Session, SessionParams, TurnId, TurnOptions,
};
use turnwire_protocol::{Config, Credentials, Now, RequestFields, ResponseItem};

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

/// Drains outputs, returning the connection of the last open/send.
fn drain(s: &mut Session) -> Option<ConnId> {
    let mut conn = None;
    while let Some(out) = s.poll_output() {
        match out {
            Output::OpenWs(open) => conn = Some(open.conn),
            Output::OpenHttp(open) => conn = Some(open.conn),
            Output::SendWs { conn: c, .. } => conn = Some(c),
            other => {
                black_box(other);
            }
        }
    }
    conn
}

fn item(i: usize) -> ResponseItem {
    ResponseItem::user_text(format!("message number {i} with a little text in it"))
}

fn completed(id: usize) -> String {
    format!(r#"{{"type":"response.completed","response":{{"id":"resp-{id}","usage":null}}}}"#)
}

/// A turn on an open WebSocket whose first request carried `history` items and
/// completed, so the next appended request can be chained.
fn turn_with_history(history: usize) -> (Session, TurnId, ConnId) {
    let now = Now::default();
    let mut s = session(true);
    let turn = s
        .start_turn_with(now, TurnOptions::default())
        .expect("turn");
    let input = RequestInput::Append((0..history).map(item).collect());
    s.start_request_with(
        now,
        turn,
        RequestSpec {
            fields: RequestFields::new("m"),
            input,
        },
    )
    .expect("request");
    let conn = drain(&mut s).expect("open ws");
    s.handle_input(
        now,
        Input::WsOpened {
            conn,
            headers: http::HeaderMap::new(),
        },
    )
    .expect("opened");
    drain(&mut s);
    s.handle_input(
        now,
        Input::WsText {
            conn,
            text: completed(0),
        },
    )
    .expect("completed");
    drain(&mut s);
    (s, turn, conn)
}

/// One chained request with a single new item, through to its completion.
fn chained_request(
    s: &mut Session,
    turn: TurnId,
    conn: ConnId,
    n: usize,
    replace_with: Option<&[ResponseItem]>,
) {
    let now = Now::default();
    let input = match replace_with {
        Some(all) => RequestInput::Replace(all.to_vec()),
        None => RequestInput::Append(vec![item(n)]),
    };
    s.start_request_with(
        now,
        turn,
        RequestSpec {
            fields: RequestFields::new("m"),
            input,
        },
    )
    .expect("request");
    drain(s);
    s.handle_input(
        now,
        Input::WsText {
            conn,
            text: completed(n),
        },
    )
    .expect("completed");
    drain(s);
}

fn incremental_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("incremental_append");
    for history in [10usize, 1_000, 10_000] {
        group.bench_with_input(
            BenchmarkId::from_parameter(history),
            &history,
            |b, &history| {
                b.iter_custom(|iters| {
                    let (mut s, turn, conn) = turn_with_history(history);
                    let start = StdInstant::now();
                    for n in 0..iters as usize {
                        chained_request(&mut s, turn, conn, n + 1, None);
                    }
                    start.elapsed()
                });
            },
        );
    }
    group.finish();

    // The same decision when the caller hands the whole input again (Replace): this
    // one compares items and is expected to grow with the history.
    let mut group = c.benchmark_group("incremental_replace");
    for history in [10usize, 1_000, 10_000] {
        group.bench_with_input(
            BenchmarkId::from_parameter(history),
            &history,
            |b, &history| {
                b.iter_custom(|iters| {
                    let (mut s, turn, conn) = turn_with_history(history);
                    let mut all: Vec<ResponseItem> = (0..history).map(item).collect();
                    let mut total = Duration::ZERO;
                    for n in 0..iters as usize {
                        // The responses here carry no output items, so the history is
                        // exactly the inputs so far: hand all of it back plus one item.
                        all.push(item(history + n));
                        let start = StdInstant::now();
                        chained_request(&mut s, turn, conn, n + 1, Some(&all));
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

fn delta_frame(i: usize) -> String {
    format!(
        r#"{{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"tok{i} "}}"#
    )
}

fn per_event_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_per_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("websocket_text_delta", |b| {
        let (mut s, turn, conn) = turn_with_history(1);
        let now = Now::default();
        let input = RequestInput::Append(vec![item(1)]);
        s.start_request_with(
            now,
            turn,
            RequestSpec {
                fields: RequestFields::new("m"),
                input,
            },
        )
        .expect("request");
        drain(&mut s);
        let frames: Vec<String> = (0..1024).map(delta_frame).collect();
        let mut i = 0usize;
        b.iter(|| {
            let text = frames[i % frames.len()].clone();
            i += 1;
            s.handle_input(now, Input::WsText { conn, text })
                .expect("frame");
            while let Some(out) = s.poll_output() {
                black_box(out);
            }
        });
    });
    group.bench_function("sse_text_delta", |b| {
        let now = Now::default();
        let mut s = session(false);
        let turn = s
            .start_turn_with(now, TurnOptions::default())
            .expect("turn");
        let input = RequestInput::Append(vec![item(0)]);
        s.start_request_with(
            now,
            turn,
            RequestSpec {
                fields: RequestFields::new("m"),
                input,
            },
        )
        .expect("request");
        let conn = drain(&mut s).expect("open http");
        s.handle_input(
            now,
            Input::HttpResponse {
                conn,
                status: 200,
                headers: http::HeaderMap::new(),
            },
        )
        .expect("head");
        drain(&mut s);
        let chunks: Vec<Bytes> = (0..1024)
            .map(|i| {
                Bytes::from(format!(
                    "event: response.output_text.delta\ndata: {}\n\n",
                    delta_frame(i)
                ))
            })
            .collect();
        let mut i = 0usize;
        b.iter(|| {
            let data = chunks[i % chunks.len()].clone();
            i += 1;
            s.handle_input(now, Input::HttpBody { conn, data })
                .expect("body");
            while let Some(out) = s.poll_output() {
                black_box(out);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, incremental_decision, per_event_cost);
criterion_main!(benches);
