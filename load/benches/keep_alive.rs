//! HTTP keep-alive on loopback (PROTOCOL.md section 3.3): 200 sequential small
//! requests of one client, with the pool (the default) against without it
//! (`PoolLimits::DISABLED`, a new connection per request), on plain TCP and on TLS.
//!
//! Criterion times one batch of 200 requests per configuration. Before that, one
//! measured batch per configuration gives the figures criterion cannot: events per
//! second, the mean time to the first event, and the TCP connections the server
//! accepted; they are printed with the pool/no-pool ratios of the same run.
//!
//! `cargo bench -p turnwire-load --bench keep_alive -- --warm-up-time 1 --measurement-time 5`
#![allow(missing_docs, clippy::print_stderr)] // a benchmark prints its summary
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use turnwire_protocol::pool::PoolLimits;
use turnwire_protocol::session::TurnOptions;
use turnwire_protocol::{Config, RequestFields};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_tokio::{ApiKey, Client, ClientOptions, RootStore, TlsSettings, TokioRuntime};

/// Sequential requests per batch.
const REQUESTS: usize = 200;

/// One configuration: TLS or not, pool or not.
#[derive(Clone, Copy)]
struct Setup {
    tls: bool,
    pool: bool,
}

impl Setup {
    fn name(self) -> String {
        let transport = if self.tls { "tls" } else { "tcp" };
        let pool = if self.pool { "pool" } else { "no_pool" };
        format!("{transport}/{pool}")
    }
}

/// What one batch measured.
struct Batch {
    elapsed: Duration,
    events: u64,
    first_event: Duration,
    connections: u64,
}

struct Bench {
    runtime: tokio::runtime::Runtime,
    server: LoopbackServer,
    setup: Setup,
}

impl Bench {
    fn new(setup: Setup) -> Bench {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server = if setup.tls {
            LoopbackServer::start_tls(FakeServer::new())
        } else {
            LoopbackServer::start(FakeServer::new())
        }
        .expect("a loopback server");
        Bench {
            runtime,
            server,
            setup,
        }
    }

    fn options(&self) -> ClientOptions {
        let config = Config {
            request_max_retries: 0,
            ..Config::new(self.server.base_url())
        };
        let mut options = ClientOptions::new(config, ApiKey::new("bench-key"));
        options.seed = Some(1);
        if let Some(root) = self.server.root_certificate_der() {
            options.tls = TlsSettings::new(RootStore::None).with_root(root.to_vec());
        }
        if !self.setup.pool {
            options.http_pool = PoolLimits::DISABLED;
        }
        options
    }

    /// Runs one batch of sequential requests on a new client.
    fn batch(&self) -> Batch {
        let options = self.options();
        let accepted_before = self.server.accepted_connections();
        let (elapsed, events, first_event) = self.runtime.block_on(async move {
            let runtime = Arc::new(TokioRuntime::current());
            let client = Client::new(runtime, options).expect("a client");
            let start = Instant::now();
            let mut events = 0u64;
            let mut first_total = Duration::ZERO;
            for i in 0..REQUESTS {
                let turn = client.new_turn(TurnOptions::default());
                let sent = Instant::now();
                let mut stream =
                    turn.stream_text(RequestFields::new("bench-model"), format!("request {i}"));
                let mut first = None;
                while let Some(item) = stream.next().await {
                    item.expect("the request completes");
                    first.get_or_insert_with(|| sent.elapsed());
                    events += 1;
                }
                first_total += first.unwrap_or_default();
            }
            let elapsed = start.elapsed();
            (elapsed, events, first_total / REQUESTS as u32)
        });
        Batch {
            elapsed,
            events,
            first_event,
            connections: self.server.accepted_connections() - accepted_before,
        }
    }
}

fn keep_alive(c: &mut Criterion) {
    let setups = [
        Setup {
            tls: false,
            pool: true,
        },
        Setup {
            tls: false,
            pool: false,
        },
        Setup {
            tls: true,
            pool: true,
        },
        Setup {
            tls: true,
            pool: false,
        },
    ];
    let benches: Vec<Bench> = setups.into_iter().map(Bench::new).collect();

    let batches: Vec<Batch> = benches.iter().map(Bench::batch).collect();
    eprintln!("\n{REQUESTS} sequential requests, one client, loopback:");
    eprintln!(
        "{:<12} {:>10} {:>12} {:>14} {:>12}",
        "setup", "time ms", "events/s", "first event us", "connections"
    );
    for (bench, batch) in benches.iter().zip(&batches) {
        eprintln!(
            "{:<12} {:>10.1} {:>12.0} {:>14.0} {:>12}",
            bench.setup.name(),
            batch.elapsed.as_secs_f64() * 1e3,
            batch.events as f64 / batch.elapsed.as_secs_f64(),
            batch.first_event.as_secs_f64() * 1e6,
            batch.connections
        );
    }
    for (transport, pooled, fresh) in [
        ("tcp", &batches[0], &batches[1]),
        ("tls", &batches[2], &batches[3]),
    ] {
        let rate = |b: &Batch| b.events as f64 / b.elapsed.as_secs_f64();
        eprintln!(
            "{transport}: pool/no-pool events/s x{:.2}, first event x{:.2}, connections {} vs {}",
            rate(pooled) / rate(fresh),
            pooled.first_event.as_secs_f64() / fresh.first_event.as_secs_f64(),
            pooled.connections,
            fresh.connections
        );
    }

    let mut group = c.benchmark_group("keep_alive_200_sequential");
    // Ten samples (criterion's least) of whole batches; the measurement time comes
    // from the command line (`--measurement-time`).
    group.sample_size(10);
    for bench in &benches {
        group.bench_function(bench.setup.name(), |b| b.iter(|| bench.batch()));
    }
    group.finish();
}

criterion_group!(benches, keep_alive);
criterion_main!(benches);
