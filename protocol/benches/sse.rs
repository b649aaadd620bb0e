//! SSE framing throughput: turnwire's decoder against `eventsource-stream` and
//! `sse-stream` on the same bytes, fed in socket-sized chunks.
//!
//! Input: the 1,406-event recorded transcript framed as `event: <type>\ndata: <json>\n\n`
//! (or, without the shared fixtures, a generated stream of the same shape).
#![allow(missing_docs, clippy::print_stderr)]

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use turnwire_protocol::sse::{SseDecoder, SseFrame, SseLimits};

#[path = "../tests/support/mod.rs"]
mod support;

const TRANSCRIPT: &str = "vercel-ai__azure-gpt5-reasoning-multi-summary-no-encryption.chunks.txt";
const SOCKET_READ: usize = 16 << 10;

/// The bench input, and what it is.
fn input() -> (Vec<u8>, &'static str) {
    if let Some(dir) = support::openai_fixtures("sse bench") {
        let path = dir.join("transcripts").join(TRANSCRIPT);
        if path.is_file() {
            return (support::transcript_as_sse(&path), "recorded transcript");
        }
    }
    eprintln!("sse bench: using a generated stream of the same shape instead");
    (generated_stream(1406), "generated stream")
}

/// Events shaped like the transcript: mostly short text deltas, a few large items.
fn generated_stream(events: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..events {
        let (ty, json) = if i % 100 == 0 {
            let text = "lorem ipsum dolor sit amet ".repeat(40);
            let ty = "response.output_item.done";
            (
                ty,
                format!(
                    r#"{{"type":"{ty}","sequence_number":{i},"item":{{"id":"msg_{i:08}","type":"message","content":[{{"type":"output_text","text":"{text}"}}]}}}}"#
                ),
            )
        } else {
            let ty = "response.output_text.delta";
            (
                ty,
                format!(
                    r#"{{"type":"{ty}","sequence_number":{i},"item_id":"msg_0123456789abcdef0123456789abcdef","output_index":1,"content_index":0,"delta":" word{i}","logprobs":[],"obfuscation":"Xy9"}}"#
                ),
            )
        };
        out.extend_from_slice(format!("event: {ty}\ndata: {json}\n\n").as_bytes());
    }
    out
}

fn chunks(input: &[u8], size: usize) -> Vec<Bytes> {
    input.chunks(size).map(Bytes::copy_from_slice).collect()
}

/// turnwire: frames every event and touches its data.
fn turnwire(decoder: &mut SseDecoder, chunks: &[Bytes]) -> usize {
    decoder.reset();
    let mut total = 0;
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(frame) = decoder.next_frame() {
            if let Ok(SseFrame::Event(event)) = frame {
                total += event.data.len();
            }
        }
    }
    decoder.finish();
    while decoder.next_frame().is_some() {}
    total
}

fn byte_stream(
    chunks: &[Bytes],
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + '_ {
    futures_util::stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>))
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    futures_executor::block_on(async {
        let mut stream = eventsource_stream::EventStream::new(byte_stream(chunks));
        let mut total = 0;
        while let Some(event) = stream.next().await {
            total += event.map(|e| e.data.len()).unwrap_or(0);
        }
        total
    })
}

/// sse-stream over an HTTP body (`StreamBody`), as an HTTP client drives it.
fn sse_stream_body(chunks: &[Bytes]) -> usize {
    futures_executor::block_on(async {
        let mut stream = sse_stream::SseStream::from_bytes_stream(byte_stream(chunks));
        let mut total = 0;
        while let Some(event) = stream.next().await {
            total += event.ok().and_then(|e| e.data).map_or(0, |d| d.len());
        }
        total
    })
}

/// sse-stream over a plain byte stream, its fastest entry point.
fn sse_stream_bytes(chunks: &[Bytes]) -> usize {
    futures_executor::block_on(async {
        let mut stream = sse_stream::SseByteStream::new(byte_stream(chunks));
        let mut total = 0;
        while let Some(event) = stream.next().await {
            total += event.ok().and_then(|e| e.data).map_or(0, |d| d.len());
        }
        total
    })
}

fn bench(c: &mut Criterion) {
    let (input, what) = input();
    eprintln!("sse bench: {what}, {} bytes", input.len());
    let socket = chunks(&input, SOCKET_READ);
    let mut decoder = SseDecoder::new(SseLimits::default());

    // All decoders must agree on the bytes of data before their speed means anything.
    let expected = turnwire(&mut decoder, &socket);
    assert_eq!(
        eventsource_stream(&socket),
        expected,
        "eventsource-stream disagrees"
    );
    assert_eq!(sse_stream_body(&socket), expected, "sse-stream disagrees");
    assert_eq!(sse_stream_bytes(&socket), expected, "sse-stream disagrees");

    let mut group = c.benchmark_group("sse_framing_16k_reads");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("turnwire", |b| {
        b.iter(|| turnwire(&mut decoder, black_box(&socket)))
    });
    group.bench_function("eventsource-stream", |b| {
        b.iter(|| eventsource_stream(black_box(&socket)))
    });
    group.bench_function("sse-stream_body", |b| {
        b.iter(|| sse_stream_body(black_box(&socket)))
    });
    group.bench_function("sse-stream_bytes", |b| {
        b.iter(|| sse_stream_bytes(black_box(&socket)))
    });
    group.finish();

    let mut group = c.benchmark_group("sse_turnwire_read_size");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for size in [1 << 10, 16 << 10, 256 << 10] {
        let reads = chunks(&input, size);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{}KiB", size >> 10)),
            &reads,
            |b, reads| b.iter(|| turnwire(&mut decoder, black_box(reads))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
