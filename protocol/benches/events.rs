//! Event decoding throughput: the 1,406-event recorded transcript
//! `vercel-ai__azure-gpt5-reasoning-multi-summary-no-encryption.chunks.txt` (from the
//! shared OpenAI fixtures), framed as `event:`/`data:` SSE and fed in 16 KiB chunks.
//!
//! Group `events_full` (bytes in, events out; throughput over the SSE bytes):
//! - `turnwire`: `SseDecoder` + `decode_server_event` per event;
//! - `reference_eventsource_value`: `eventsource-stream` framing + `serde_json::Value` per
//!   event (the reference client's path).
//!
//! Group `events_presplit` (the JSON objects already split; throughput over their bytes):
//! - `serde_value`: `serde_json::from_str::<Value>`;
//! - `serde_typed_enum`: `serde_json::from_str` into a small `#[serde(tag = "type")]` enum;
//! - `turnwire_decode`: `decode_server_event`.
//!
//! Targets: `events_full/turnwire` ≥ 3× `reference_eventsource_value`, and
//! `turnwire_decode` at or above `serde_typed_enum`.
//!
//! Run: `cargo bench -p turnwire-protocol --bench events -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use turnwire_protocol::event::decode_server_event;
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};

const TRANSCRIPT: &str = "vercel-ai__azure-gpt5-reasoning-multi-summary-no-encryption.chunks.txt";
const EVENTS: usize = 1406;
const CHUNK: usize = 16 * 1024;

/// The transcript's event JSON texts, or `None` (with a notice) without the fixtures.
fn transcript_events() -> Option<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openai/transcripts")
        .join(TRANSCRIPT);
    let Ok(text) = std::fs::read_to_string(&path) else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("events bench: skipped: {} not found", path.display());
        }
        return None;
    };
    let events: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(events.len(), EVENTS);
    Some(events)
}

/// The events framed as SSE: `event: <type>` and `data: <json>` per event.
fn as_sse(events: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for json in events {
        let value: Value = serde_json::from_str(json).expect("transcript line is JSON");
        let event_type = value["type"].as_str().expect("typed event");
        out.extend_from_slice(format!("event: {event_type}\ndata: {json}\n\n").as_bytes());
    }
    out
}

/// (a) Our path: bytes through the SSE decoder, each event decoded to a typed event.
fn turnwire_full(sse: &[u8]) -> usize {
    let mut decoder = SseDecoder::new(SseLimits::default());
    let mut decoded = 0;
    let mut drain = |decoder: &mut SseDecoder| {
        while let Some(frame) = decoder.next_frame() {
            if let Ok(SseFrame::Event(event)) = frame
                && let Ok(event) = decode_server_event(event.data)
            {
                black_box(event);
                decoded += 1;
            }
        }
    };
    for chunk in sse.chunks(CHUNK) {
        decoder.feed(chunk);
        drain(&mut decoder);
    }
    decoder.finish();
    drain(&mut decoder);
    decoded
}

/// (b) The reference path: `eventsource-stream` framing, a `Value` per event.
fn reference_full(sse: &[u8]) -> usize {
    let chunks = sse.chunks(CHUNK).map(Ok::<&[u8], Infallible>);
    let mut events = std::pin::pin!(futures_util::stream::iter(chunks).eventsource());
    futures_executor::block_on(async {
        let mut decoded = 0;
        while let Some(event) = events.next().await {
            if let Ok(event) = event
                && let Ok(value) = serde_json::from_str::<Value>(&event.data)
            {
                black_box(value);
                decoded += 1;
            }
        }
        decoded
    })
}

/// (d) A small typed enum of the common events, the rest skipped.
#[derive(Deserialize)]
#[serde(tag = "type")]
#[allow(dead_code)] // fields are read by serde only
enum TypedBaseline {
    #[serde(rename = "response.created")]
    Created { response: BaselineResponse },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        delta: String,
        item_id: String,
        output_index: u32,
        content_index: u32,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    SummaryDelta { delta: String, summary_index: u32 },
    #[serde(rename = "response.reasoning_summary_part.added")]
    SummaryPartAdded { summary_index: u32 },
    #[serde(rename = "response.completed")]
    Completed { response: BaselineResponse },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[allow(dead_code)] // read by serde only
struct BaselineResponse {
    id: String,
}

fn bench_full(c: &mut Criterion, events: &[String]) {
    let sse = as_sse(events);
    assert_eq!(
        reference_full(&sse),
        EVENTS,
        "reference path decodes every event"
    );
    let mut group = c.benchmark_group("events_full");
    group.throughput(Throughput::Bytes(sse.len() as u64));
    group.bench_function("turnwire", |b| {
        assert_eq!(turnwire_full(&sse), EVENTS, "turnwire decodes every event");
        b.iter(|| turnwire_full(black_box(&sse)))
    });
    group.bench_function("reference_eventsource_value", |b| {
        b.iter(|| reference_full(black_box(&sse)))
    });
    group.finish();
}

fn bench_presplit(c: &mut Criterion, events: &[String]) {
    let bytes: usize = events.iter().map(String::len).sum();
    assert!(events.iter().all(|e| decode_server_event(e).is_ok()));
    assert!(
        events
            .iter()
            .all(|e| serde_json::from_str::<TypedBaseline>(e).is_ok())
    );
    let mut group = c.benchmark_group("events_presplit");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("serde_value", |b| {
        b.iter(|| {
            for json in events {
                black_box(serde_json::from_str::<Value>(black_box(json)).ok());
            }
        })
    });
    group.bench_function("serde_typed_enum", |b| {
        b.iter(|| {
            for json in events {
                black_box(serde_json::from_str::<TypedBaseline>(black_box(json)).ok());
            }
        })
    });
    group.bench_function("turnwire_decode", |b| {
        b.iter(|| {
            for json in events {
                black_box(decode_server_event(black_box(json)).ok());
            }
        })
    });
    group.finish();
}

fn events(c: &mut Criterion) {
    let Some(events) = transcript_events() else {
        return;
    };
    bench_full(c, &events);
    bench_presplit(c, &events);
}

criterion_group!(benches, events);
criterion_main!(benches);
