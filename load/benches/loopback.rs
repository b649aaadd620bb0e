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
//! per-event driver overhead and first-event latencies, from the same samples, in
//! wall-clock time and in CPU time of the whole process (all threads, the in-process
//! servers' included). On a shared machine the CPU figures are the steadier ones:
//! they leave out time spent waiting for a core.
//!
//! Run: `cargo bench -p turnwire-load --bench loopback -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

#[path = "loopback/prerendered.rs"]
mod prerendered;
#[path = "loopback/raw.rs"]
mod raw;
#[path = "common/timing.rs"]
mod timing;
#[path = "loopback/workload.rs"]
mod workload;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use futures_util::StreamExt;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply};
use turnwire_transports::protocol::session::{PreconnectResult, Telemetry, TurnOptions};
use turnwire_transports::protocol::{Config, RequestFields, ResponseEvent};
use turnwire_transports::{ApiKey, Client, ClientOptions, Runtime};

use prerendered::PrerenderedServer;
use raw::Parse;
use timing::{Harness, Stopwatch, Timing, Timings};
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
    // Each iteration is a whole response (tens of milliseconds): the same number of
    // iterations per sample keeps the run within the measurement time.
    group.sampling_mode(SamplingMode::Flat);
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
                        let mut total = Timing::default();
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
                        total.wall
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
) -> Timing {
    match reader {
        Reader::Driver => {
            let client = Client::new(runtime, options(server.base_url(), transport, false))
                .expect("a client");
            let turn = client.new_turn(TurnOptions::default());
            let stopwatch = Stopwatch::start();
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
            let elapsed = stopwatch.stop();
            assert!(completed, "the response completed");
            assert_eq!(deltas, workload.deltas, "every delta arrived");
            assert_eq!(events, workload.events(), "every event arrived");
            elapsed
        }
        Reader::Raw(parse) => {
            let (port, events) = (server.port(), workload.events());
            let stopwatch = Stopwatch::start();
            let seen = match transport {
                Transport::Sse => raw::sse(runtime.as_ref(), port, events, parse).await,
                Transport::Ws => raw::ws(runtime.as_ref(), port, events, parse).await,
            }
            .expect("the raw read succeeds");
            let elapsed = stopwatch.stop();
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
                    let mut total = Timing::default();
                    for _ in 0..iters {
                        total += harness.block_on(time_to_first_event(
                            harness.runtime(),
                            server.base_url(),
                            case,
                        ));
                        finish_loopback_iteration(&server);
                    }
                    summary.record(&key, iters, total);
                    total.wall
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
) -> Timing {
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
    let stopwatch = Stopwatch::start();
    let mut stream = turn.stream_text(fields(), "go");
    let first = stream.next().await;
    let elapsed = stopwatch.stop();
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
struct Summary(Timings);

impl std::ops::Deref for Summary {
    type Target = Timings;

    fn deref(&self) -> &Timings {
        &self.0
    }
}

impl Summary {
    /// Wall-clock seconds per iteration as criterion estimates it (the least-squares
    /// slope through the origin; with flat sampling, the mean), over the last `samples`
    /// calls (the measurement; earlier calls were the warm-up).
    fn seconds(&self, key: &str, samples: usize) -> Option<f64> {
        self.slope(key, samples, |t| t.wall)
    }

    /// CPU seconds per iteration, all threads of the process, estimated the same way.
    fn cpu_seconds(&self, key: &str, samples: usize) -> Option<f64> {
        self.slope(key, samples, |t| t.cpu)
    }

    #[allow(clippy::print_stdout)]
    fn print(&self, workload: &Workload, harnesses: &[Harness]) {
        let runtimes: Vec<&str> = harnesses.iter().map(Harness::name).collect();
        println!();
        println!(
            "== loopback summary: {} events per response, {} B per SSE event, {} B per WebSocket message ==",
            workload.events(),
            workload.sse_bytes_per_event(),
            workload.ws_bytes_per_event()
        );
        self.print_throughput(workload, &runtimes);
        self.print_overhead(workload, &runtimes);
        self.print_first_event(&runtimes);
    }

    /// Events per second (wall clock) and CPU nanoseconds per event, per runtime.
    #[allow(clippy::print_stdout)]
    fn print_throughput(&self, workload: &Workload, runtimes: &[&str]) {
        let events = workload.events() as f64;
        println!();
        println!(
            "events/s: wall clock, higher is better; cpu ns/event: all threads of the process"
        );
        println!(
            "{:<36} {:>12} {:>12} {:>12} {:>12}",
            "benchmark",
            format!("{} ev/s", runtimes[0]),
            format!("{} ev/s", runtimes[1]),
            format!("{} cpu ns", runtimes[0]),
            format!("{} cpu ns", runtimes[1]),
        );
        for row in THROUGHPUT_ROWS {
            let mut line = format!("{row:<36}");
            for rt in runtimes {
                let wall = self.seconds(&format!("{row}/{rt}"), THROUGHPUT_SAMPLES);
                line.push_str(&cell(wall.map(|s| events / s), 0));
            }
            for rt in runtimes {
                let cpu = self.cpu_seconds(&format!("{row}/{rt}"), THROUGHPUT_SAMPLES);
                line.push_str(&cell(cpu.map(|s| s / events * 1e9), 0));
            }
            println!("{line}");
        }
    }

    /// The driver against raw reads of the same bytes from the same server: time
    /// ratios and the difference per event, wall clock and CPU.
    #[allow(clippy::print_stdout)]
    fn print_overhead(&self, workload: &Workload, runtimes: &[&str]) {
        let events = workload.events() as f64;
        println!();
        println!(
            "driver against raw reads of the same bytes (ratio of times; overhead = difference per event)"
        );
        println!(
            "{:<44} {:>7} {:>12} {:>14} {:>12} {:>14}",
            "comparison", "runtime", "wall ratio", "wall ns/event", "cpu ratio", "cpu ns/event"
        );
        for (prefix, baseline) in COMPARISONS {
            for rt in runtimes {
                let driver_key = format!("{prefix}/driver/{rt}");
                let base_key = format!("{prefix}/{baseline}/{rt}");
                let mut line = format!("{:<44} {rt:>7}", format!("{prefix}: driver vs {baseline}"));
                for measure in [Summary::seconds, Summary::cpu_seconds] {
                    let driver = measure(self, &driver_key, THROUGHPUT_SAMPLES);
                    let base = measure(self, &base_key, THROUGHPUT_SAMPLES);
                    let ratio = driver.zip(base).map(|(d, b)| d / b);
                    let overhead = driver.zip(base).map(|(d, b)| (d - b) / events * 1e9);
                    line.push_str(&cell(ratio, 2));
                    line.push_str(&format!(" {:>14}", cell(overhead, 0).trim_start()));
                }
                println!("{line}");
            }
        }
    }

    /// Time to the first event, per runtime, and the CPU the process spent meanwhile
    /// (far below the wall time: the rest is waiting on sockets and wake-ups).
    #[allow(clippy::print_stdout)]
    fn print_first_event(&self, runtimes: &[&str]) {
        println!();
        println!(
            "time to first event, microseconds (wall clock, lower is better; cpu: all threads)"
        );
        println!(
            "{:<36} {:>12} {:>12} {:>12} {:>12}",
            "benchmark",
            format!("{} µs", runtimes[0]),
            format!("{} µs", runtimes[1]),
            format!("{} cpu µs", runtimes[0]),
            format!("{} cpu µs", runtimes[1]),
        );
        for case in FirstEvent::ALL {
            let row = format!("first_event/{}", case.name());
            let mut line = format!("{row:<36}");
            for measure in [Summary::seconds, Summary::cpu_seconds] {
                for rt in runtimes {
                    let value = measure(self, &format!("{row}/{rt}"), FIRST_EVENT_SAMPLES);
                    line.push_str(&cell(value.map(|s| s * 1e6), 1));
                }
            }
            println!("{line}");
        }
    }
}

/// The throughput benchmarks, without their runtime.
const THROUGHPUT_ROWS: [&str; 10] = [
    "sse_events/loopback/driver",
    "sse_events/loopback/raw",
    "sse_events/prerendered/driver",
    "sse_events/prerendered/raw",
    "sse_events/prerendered/raw_parse",
    "ws_events/loopback/driver",
    "ws_events/loopback/raw",
    "ws_events/prerendered/driver",
    "ws_events/prerendered/raw",
    "ws_events/prerendered/raw_parse",
];

/// The driver against each baseline read from the same server.
const COMPARISONS: [(&str, &str); 6] = [
    ("sse_events/loopback", "raw"),
    ("sse_events/prerendered", "raw"),
    ("sse_events/prerendered", "raw_parse"),
    ("ws_events/loopback", "raw"),
    ("ws_events/prerendered", "raw"),
    ("ws_events/prerendered", "raw_parse"),
];

/// A right-aligned table cell, `-` when there is no number.
fn cell(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) => format!(" {v:>12.decimals$}"),
        None => format!(" {:>12}", "-"),
    }
}
