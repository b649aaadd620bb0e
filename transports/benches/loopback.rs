//! Loopback benchmarks of the driver on tokio and on smol, side by side, with raw-socket
//! baselines measured in the same run.
//!
//! Group `sse_events` / `ws_events`: one request whose response is 10,003 events
//! (`created`, `output_item.added`, 10,000 text deltas, `completed`), timed from the
//! request's start (connect included) to its last event. Throughput is in events.
//! Two servers feed it:
//! - `loopback`: the testkit's `LoopbackServer` with the events scripted one
//!   `Step::Event` each: it renders and writes every event separately, as a real
//!   server streams them, so its own cost is in every number;
//! - `prerendered`: a tiny raw server (`loopback/prerendered.rs`) that writes the
//!   identical bytes pre-rendered in one write, so a reader's time against it is the
//!   reader's own cost.
//!
//! and three readers read it:
//! - `driver`: a `Client` (built before the clock starts), `stream_text`, every event;
//! - `raw`: a socket opened through the same `Runtime`, the request written by hand,
//!   SSE events counted by their blank lines, WebSocket events by their text frames
//!   (async-tungstenite, as the driver uses); no decoding at all;
//! - `raw_parse` (prerendered only): `raw` plus `serde_json::from_slice::<Value>` per
//!   event's JSON.
//!
//! Group `first_event`: from `turn.stream(...)` to the first event, against the
//! loopback server's default model: over HTTP, over a WebSocket opened by the request
//! (`ws_cold`), and over a preconnected WebSocket (`ws_preconnected`, the preconnect
//! finished before the clock starts).
//!
//! Every iteration builds its own client and waits, off the clock, until the server
//! has seen every connection close. The driver's tasks run on one background thread
//! on both runtimes (a one-worker multi-thread tokio runtime; smol's global executor);
//! the reading future runs on the bench thread.
//!
//! After criterion's output a summary prints events/s, driver-versus-raw ratios,
//! per-event driver overhead and first-event latencies, from the same samples.
//!
//! Run: `cargo bench -p turnwire-transports --bench loopback -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

#[path = "loopback/prerendered.rs"]
mod prerendered;
#[path = "loopback/raw.rs"]
mod raw;
#[path = "loopback/workload.rs"]
mod workload;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use futures_util::StreamExt;
use turnwire_smol::SmolRuntime;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply};
use turnwire_tokio::TokioRuntime;
use turnwire_transports::protocol::session::{PreconnectResult, Telemetry, TurnOptions};
use turnwire_transports::protocol::{Config, RequestFields, ResponseEvent};
use turnwire_transports::{ApiKey, Client, ClientOptions, Runtime};

use prerendered::PrerenderedServer;
use raw::Parse;
use workload::Workload;

/// Text deltas per throughput response.
const DELTAS: usize = 10_000;
/// Criterion samples per throughput benchmark (each iteration is a whole response).
const THROUGHPUT_SAMPLES: usize = 10;
/// Criterion samples per first-event benchmark.
const FIRST_EVENT_SAMPLES: usize = 20;
/// Longest wait for a server to see an iteration's connections close.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let workload = Workload::new(DELTAS);
    let harnesses = [Harness::tokio(), Harness::Smol];
    let summary = Summary::default();
    for transport in [Transport::Sse, Transport::Ws] {
        throughput(&mut criterion, &harnesses, &workload, transport, &summary);
    }
    first_event(&mut criterion, &harnesses, &summary);
    criterion.final_summary();
    summary.print(&workload, &harnesses);
}

/// An async runtime for the driver and the raw readers, with one background thread.
enum Harness {
    Tokio(tokio::runtime::Runtime),
    Smol,
}

impl Harness {
    fn tokio() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Harness::Tokio(runtime)
    }

    fn name(&self) -> &'static str {
        match self {
            Harness::Tokio(_) => "tokio",
            Harness::Smol => "smol",
        }
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        match self {
            Harness::Tokio(runtime) => {
                Arc::new(TokioRuntime::with_handle(runtime.handle().clone()))
            }
            Harness::Smol => Arc::new(SmolRuntime::global()),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Harness::Tokio(runtime) => runtime.block_on(future),
            Harness::Smol => smol::block_on(future),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Sse,
    Ws,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reader {
    Driver,
    Raw(Parse),
}

impl Reader {
    fn name(self) -> &'static str {
        match self {
            Reader::Driver => "driver",
            Reader::Raw(Parse::No) => "raw",
            Reader::Raw(Parse::Value) => "raw_parse",
        }
    }
}

/// The server a throughput benchmark reads from.
enum Server {
    Loopback(LoopbackServer),
    Prerendered(PrerenderedServer),
}

impl Server {
    fn name(&self) -> &'static str {
        match self {
            Server::Loopback(_) => "loopback",
            Server::Prerendered(_) => "prerendered",
        }
    }

    /// The readers measured against this server: parsing adds nothing to learn where
    /// the loopback server's own writing is the bottleneck.
    fn readers(&self) -> &'static [Reader] {
        match self {
            Server::Loopback(_) => &[Reader::Driver, Reader::Raw(Parse::No)],
            Server::Prerendered(_) => &[
                Reader::Driver,
                Reader::Raw(Parse::No),
                Reader::Raw(Parse::Value),
            ],
        }
    }

    fn base_url(&self) -> String {
        match self {
            Server::Loopback(server) => server.base_url(),
            Server::Prerendered(server) => server.base_url(),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Server::Loopback(server) => server.addr().port(),
            Server::Prerendered(server) => server.port(),
        }
    }

    /// Queues the response for the next request (the prerendered server always has it).
    fn prepare(&self, transport: Transport, reply: &Reply) {
        if let Server::Loopback(server) = self {
            let reply = reply.clone();
            server.with_script(|script| match transport {
                Transport::Sse => script.push_http(reply),
                Transport::Ws => script.push_ws(reply),
            });
        }
    }

    /// Waits until the iteration's connections are closed, so none is left behind.
    fn finish_iteration(&self) {
        match self {
            Server::Loopback(server) => finish_loopback_iteration(server),
            Server::Prerendered(server) => {
                assert!(server.wait_idle(IDLE_TIMEOUT), "a connection was left open");
            }
        }
    }
}

/// Waits until every connection is closed, then starts the script afresh so the
/// recording does not grow across thousands of iterations.
fn finish_loopback_iteration(server: &LoopbackServer) {
    assert!(
        server.wait_for_open_connections_at_most(0, IDLE_TIMEOUT),
        "a connection was left open"
    );
    server.with_script(|script| *script = FakeServer::new());
}

/// Options for a client of `base_url`: WebSocket or HTTP, preconnect only if asked.
fn options(base_url: String, transport: Transport, preconnect: bool) -> ClientOptions {
    let mut config = Config::new(base_url);
    config.websockets = transport == Transport::Ws;
    config.preconnect = Some(preconnect);
    ClientOptions::new(config, ApiKey::new("bench-key"))
}

fn fields() -> RequestFields {
    RequestFields::new("bench-model")
}

fn throughput(
    criterion: &mut Criterion,
    harnesses: &[Harness],
    workload: &Workload,
    transport: Transport,
    summary: &Summary,
) {
    let group_name = format!("{}_events", transport.name());
    let mut group = criterion.benchmark_group(&group_name);
    group.sample_size(THROUGHPUT_SAMPLES);
    group.throughput(Throughput::Elements(workload.events() as u64));
    let reply = Reply::with_steps(workload.steps());
    let servers = [
        Server::Loopback(LoopbackServer::start(FakeServer::new()).expect("bind 127.0.0.1")),
        Server::Prerendered(PrerenderedServer::start(workload).expect("bind 127.0.0.1")),
    ];
    for server in &servers {
        for &reader in server.readers() {
            for harness in harnesses {
                let id = format!("{}/{}/{}", server.name(), reader.name(), harness.name());
                let key = format!("{group_name}/{id}");
                group.bench_function(&id, |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            server.prepare(transport, &reply);
                            total += harness.block_on(read_response(
                                harness.runtime(),
                                server,
                                transport,
                                reader,
                                workload,
                            ));
                            server.finish_iteration();
                        }
                        summary.record(&key, iters, total);
                        total
                    });
                });
            }
        }
    }
    group.finish();
}

/// Reads one whole response with `reader`; the time from the request's start to its
/// last event.
async fn read_response(
    runtime: Arc<dyn Runtime>,
    server: &Server,
    transport: Transport,
    reader: Reader,
    workload: &Workload,
) -> Duration {
    match reader {
        Reader::Driver => {
            let client = Client::new(runtime, options(server.base_url(), transport, false))
                .expect("a client");
            let turn = client.new_turn(TurnOptions::default());
            let start = Instant::now();
            let mut stream = turn.stream_text(fields(), "go");
            let (mut events, mut deltas, mut completed) = (0, 0, false);
            while let Some(event) = stream.next().await {
                let event = event.expect("the driver streams the whole response");
                events += 1;
                match event {
                    ResponseEvent::OutputTextDelta { .. } => deltas += 1,
                    ResponseEvent::Completed { .. } => completed = true,
                    _ => {}
                }
            }
            let elapsed = start.elapsed();
            assert!(completed, "the response completed");
            assert_eq!(deltas, workload.deltas, "every delta arrived");
            assert_eq!(events, workload.events(), "every event arrived");
            elapsed
        }
        Reader::Raw(parse) => {
            let (port, events) = (server.port(), workload.events());
            let start = Instant::now();
            let seen = match transport {
                Transport::Sse => raw::sse(runtime.as_ref(), port, events, parse).await,
                Transport::Ws => raw::ws(runtime.as_ref(), port, events, parse).await,
            }
            .expect("the raw read succeeds");
            let elapsed = start.elapsed();
            assert_eq!(seen, events, "every event arrived");
            elapsed
        }
    }
}

/// How the first-event benchmark's request travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstEvent {
    Http,
    WsCold,
    WsPreconnected,
}

impl FirstEvent {
    const ALL: [FirstEvent; 3] = [
        FirstEvent::Http,
        FirstEvent::WsCold,
        FirstEvent::WsPreconnected,
    ];

    fn name(self) -> &'static str {
        match self {
            FirstEvent::Http => "http",
            FirstEvent::WsCold => "ws_cold",
            FirstEvent::WsPreconnected => "ws_preconnected",
        }
    }
}

fn first_event(criterion: &mut Criterion, harnesses: &[Harness], summary: &Summary) {
    let group_name = "first_event";
    let mut group = criterion.benchmark_group(group_name);
    group.sample_size(FIRST_EVENT_SAMPLES);
    let server = LoopbackServer::start(FakeServer::new()).expect("bind 127.0.0.1");
    for case in FirstEvent::ALL {
        for harness in harnesses {
            let id = format!("{}/{}", case.name(), harness.name());
            let key = format!("{group_name}/{id}");
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += harness.block_on(time_to_first_event(
                            harness.runtime(),
                            server.base_url(),
                            case,
                        ));
                        finish_loopback_iteration(&server);
                    }
                    summary.record(&key, iters, total);
                    total
                });
            });
        }
    }
    group.finish();
}

/// One request to the default model; the time from `stream` to its first event. The
/// rest of the response is read off the clock so the exchange ends normally.
async fn time_to_first_event(
    runtime: Arc<dyn Runtime>,
    base_url: String,
    case: FirstEvent,
) -> Duration {
    let transport = match case {
        FirstEvent::Http => Transport::Sse,
        FirstEvent::WsCold | FirstEvent::WsPreconnected => Transport::Ws,
    };
    let preconnect = case == FirstEvent::WsPreconnected;
    let mut options = options(base_url, transport, preconnect);
    let (opened_tx, opened) = futures_channel::oneshot::channel();
    let opened_tx = Mutex::new(Some(opened_tx));
    options.telemetry = Some(Arc::new(move |record: &Telemetry| {
        if let Telemetry::Preconnect {
            result: PreconnectResult::Opened,
            ..
        } = record
            && let Some(tx) = opened_tx.lock().ok().and_then(|mut tx| tx.take())
        {
            let _ = tx.send(());
        }
    }));
    let client = Client::new(runtime, options).expect("a client");
    if preconnect {
        client.preconnect();
        opened.await.expect("the preconnect opens");
    }
    let turn = client.new_turn(TurnOptions::default());
    let start = Instant::now();
    let mut stream = turn.stream_text(fields(), "go");
    let first = stream.next().await;
    let elapsed = start.elapsed();
    assert!(
        matches!(first, Some(Ok(ResponseEvent::Created { .. }))),
        "the first event is response.created: {first:?}"
    );
    while let Some(event) = stream.next().await {
        event.expect("the rest of the response streams");
    }
    elapsed
}

/// The timings criterion measured, kept to print ratios at the end.
#[derive(Default)]
struct Summary {
    calls: Mutex<BTreeMap<String, Vec<(u64, Duration)>>>,
}

impl Summary {
    fn record(&self, key: &str, iters: u64, total: Duration) {
        if let Ok(mut calls) = self.calls.lock() {
            calls
                .entry(key.to_owned())
                .or_default()
                .push((iters, total));
        }
    }

    /// Seconds per iteration as criterion estimates it (the least-squares slope through
    /// the origin), over the last `samples` calls (the measurement; earlier calls were
    /// the warm-up).
    fn seconds(&self, key: &str, samples: usize) -> Option<f64> {
        let calls = self.calls.lock().ok()?;
        let calls = calls.get(key)?;
        let measured = &calls[calls.len().saturating_sub(samples)..];
        let (xy, xx) = measured.iter().fold((0.0, 0.0), |(xy, xx), (n, d)| {
            let n = *n as f64;
            (xy + n * d.as_secs_f64(), xx + n * n)
        });
        (xx > 0.0).then(|| xy / xx)
    }

    #[allow(clippy::print_stdout)]
    fn print(&self, workload: &Workload, harnesses: &[Harness]) {
        let runtimes: Vec<&str> = harnesses.iter().map(Harness::name).collect();
        let events = workload.events() as f64;
        let throughput = |key: &str| self.seconds(key, THROUGHPUT_SAMPLES);
        println!();
        println!(
            "== loopback summary: {} events per response, {} B per SSE event, {} B per WebSocket message ==",
            workload.events(),
            workload.sse_bytes_per_event(),
            workload.ws_bytes_per_event()
        );
        println!();
        println!("events per second (higher is better)");
        println!(
            "{:<36} {:>14} {:>14}",
            "benchmark", runtimes[0], runtimes[1]
        );
        for transport in [Transport::Sse, Transport::Ws] {
            for (server, readers) in [
                ("loopback", &["driver", "raw"][..]),
                ("prerendered", &["driver", "raw", "raw_parse"][..]),
            ] {
                for reader in readers {
                    let row = format!("{}_events/{server}/{reader}", transport.name());
                    let cells: Vec<String> = runtimes
                        .iter()
                        .map(|rt| {
                            throughput(&format!("{row}/{rt}"))
                                .map_or("-".to_owned(), |s| format!("{:.0}", events / s))
                        })
                        .collect();
                    println!("{row:<36} {:>14} {:>14}", cells[0], cells[1]);
                }
            }
        }
        println!();
        println!(
            "driver against raw reads of the same bytes: time ratio, and driver overhead per event"
        );
        println!(
            "{:<44} {:>8} {:>12} {:>8} {:>12}",
            "comparison", "ratio", "ns/event", "ratio", "ns/event"
        );
        println!("{:<44} {:>21} {:>21}", "", runtimes[0], runtimes[1]);
        for transport in [Transport::Sse, Transport::Ws] {
            for (server, baseline) in [
                ("loopback", "raw"),
                ("prerendered", "raw"),
                ("prerendered", "raw_parse"),
            ] {
                let prefix = format!("{}_events/{server}", transport.name());
                let mut line = format!("{:<44}", format!("{prefix}: driver vs {baseline}"));
                for rt in &runtimes {
                    let driver = throughput(&format!("{prefix}/driver/{rt}"));
                    let base = throughput(&format!("{prefix}/{baseline}/{rt}"));
                    match (driver, base) {
                        (Some(d), Some(b)) => line.push_str(&format!(
                            " {:>7.2}x {:>12.0}",
                            d / b,
                            (d - b) / events * 1e9
                        )),
                        _ => line.push_str(&format!(" {:>8} {:>12}", "-", "-")),
                    }
                }
                println!("{line}");
            }
        }
        println!();
        println!("time to first event, microseconds (lower is better)");
        println!(
            "{:<36} {:>14} {:>14}",
            "benchmark", runtimes[0], runtimes[1]
        );
        for case in FirstEvent::ALL {
            let row = format!("first_event/{}", case.name());
            let cells: Vec<String> = runtimes
                .iter()
                .map(|rt| {
                    self.seconds(&format!("{row}/{rt}"), FIRST_EVENT_SAMPLES)
                        .map_or("-".to_owned(), |s| format!("{:.1}", s * 1e6))
                })
                .collect();
            println!("{row:<36} {:>14} {:>14}", cells[0], cells[1]);
        }
    }
}
