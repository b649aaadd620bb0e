//! `turnwire-peers`: turnwire against the Rust clients people use for the Responses
//! API, measured side by side in one interleaved run, with the server in its own
//! process.
//!
//! ```text
//! cargo run --release -p turnwire-peers -- --reps 15
//! cargo run --release -p turnwire-peers --features count-allocations -- --reps 3
//! ```
//!
//! The server (this binary again, with `--serve`) streams pre-rendered responses over
//! SSE (chunked and `content-length`, keep-alive) and WebSocket and counts the
//! connections it accepts. Every repetition runs every client on every case, the
//! clients' order rotating from one repetition to the next, so load on the machine
//! falls on all of them alike. Every client and the reading loop run on one thread:
//! tokio's current-thread runtime for turnwire on tokio and the peers (which need
//! tokio), one `smol::Executor` driven by `block_on` for turnwire on smol, its reading
//! loop a task on that executor.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

mod alloc;
mod case;
mod clients;
mod measure;
mod report;
mod server;
mod server_process;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use turnwire_smol::SmolRuntime;
use turnwire_tokio::TokioRuntime;

use case::{Case, Transport};
use clients::reqwest_sse::Decode;
use server_process::ServerProcess;
use workload::Response;

/// turnwire against peer clients on loopback, the server in its own process.
#[derive(Clone, Debug, Parser)]
#[command(name = "turnwire-peers")]
struct Args {
    /// Repetitions of every client on every case.
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Text deltas of the long response.
    #[arg(long, default_value_t = 10_000)]
    long_deltas: usize,
    /// Sequential requests of the `seq` cases.
    #[arg(long, default_value_t = 200)]
    seq_requests: usize,
    /// Text deltas of each `seq` response.
    #[arg(long, default_value_t = 20)]
    seq_deltas: usize,
    /// Only these cases (e.g. `long-chunked,seq-ws`); all when empty.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Only these clients; all when empty.
    #[arg(long, value_delimiter = ',', value_enum)]
    clients: Vec<Peer>,
    /// Internal: run the server, print its port, serve until standard input ends.
    #[arg(long, hide = true)]
    serve: bool,
}

/// A client measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Peer {
    /// turnwire on tokio's current-thread runtime.
    TurnwireTokio,
    /// turnwire on one smol executor.
    TurnwireSmol,
    /// async-openai's Responses streaming.
    AsyncOpenai,
    /// reqwest + eventsource-stream + `serde_json::Value`.
    ReqwestEventsource,
    /// WebSocket: async-tungstenite read loop + `serde_json::Value`.
    TungsteniteValue,
    /// Floor: reqwest's bare `bytes_stream`.
    ReqwestBytes,
    /// Floor: async-tungstenite read loop, frames counted.
    Tungstenite,
    /// Floor: a raw socket read.
    Raw,
}

impl Peer {
    const ALL: [Peer; 8] = [
        Peer::TurnwireTokio,
        Peer::TurnwireSmol,
        Peer::AsyncOpenai,
        Peer::ReqwestEventsource,
        Peer::TungsteniteValue,
        Peer::ReqwestBytes,
        Peer::Tungstenite,
        Peer::Raw,
    ];

    /// The column heading.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Peer::TurnwireTokio => "turnwire (tokio)",
            Peer::TurnwireSmol => "turnwire (smol)",
            Peer::AsyncOpenai => "async-openai",
            Peer::ReqwestEventsource => "reqwest + eventsource-stream + Value",
            Peer::TungsteniteValue => "tungstenite + Value",
            Peer::ReqwestBytes => "reqwest bytes_stream (floor)",
            Peer::Tungstenite => "tungstenite, no parse (floor)",
            Peer::Raw => "raw socket (floor)",
        }
    }

    /// Whether the client can read this transport.
    fn reads(self, transport: Transport) -> bool {
        match self {
            Peer::TurnwireTokio | Peer::TurnwireSmol => true,
            Peer::AsyncOpenai | Peer::ReqwestEventsource | Peer::ReqwestBytes | Peer::Raw => {
                transport.is_sse()
            }
            Peer::TungsteniteValue | Peer::Tungstenite => !transport.is_sse(),
        }
    }

    /// turnwire itself, not a peer or a floor.
    pub(crate) fn is_turnwire(self) -> bool {
        matches!(self, Peer::TurnwireTokio | Peer::TurnwireSmol)
    }

    /// A floor (moves bytes, decodes nothing).
    pub(crate) fn is_floor(self) -> bool {
        matches!(self, Peer::ReqwestBytes | Peer::Tungstenite | Peer::Raw)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let long = Response::new(args.long_deltas);
    let seq = Response::new(args.seq_deltas);
    if args.serve {
        return match server::serve(&long, &seq) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("turnwire-peers server: {err}");
                ExitCode::from(2)
            }
        };
    }
    match run(&args, long, seq) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("turnwire-peers: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Every client on every case, `args.reps` times, interleaved; then the report.
fn run(args: &Args, long: Response, seq: Response) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (long, seq) = (Arc::new(long), Arc::new(seq));
    let mut cases = Vec::new();
    for transport in [Transport::SseChunked, Transport::SseLength, Transport::Ws] {
        cases.push(Case {
            shape: "long",
            transport,
            requests: 1,
            response: long.clone(),
        });
        cases.push(Case {
            shape: "seq",
            transport,
            requests: args.seq_requests,
            response: seq.clone(),
        });
    }
    cases.retain(|case| args.cases.is_empty() || args.cases.contains(&case.name()));
    let peers: Vec<Peer> = Peer::ALL
        .into_iter()
        .filter(|peer| args.clients.is_empty() || args.clients.contains(peer))
        .collect();
    let mut server = ServerProcess::start(args)?;
    let port = server.port();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let smol = Arc::new(smol::Executor::new());
    if alloc::ENABLED {
        eprintln!("counting allocations: the times of this run are not representative");
    }
    let _counting = alloc::start();
    let mut results = report::Results::default();
    for rep in 0..args.reps {
        for case in &cases {
            let mut order: Vec<Peer> = peers
                .iter()
                .copied()
                .filter(|p| p.reads(case.transport))
                .collect();
            let len = order.len().max(1);
            order.rotate_left(rep % len);
            for peer in order {
                let before = server.accepts()?;
                let mut result = match peer {
                    Peer::TurnwireTokio => {
                        let runtime = Arc::new(TokioRuntime::with_handle(tokio.handle().clone()));
                        tokio.block_on(clients::turnwire::read(runtime, case, port))
                    }
                    Peer::TurnwireSmol => {
                        let runtime = Arc::new(SmolRuntime::with_executor(smol.clone()));
                        {
                            // The caller is a task on the executor, as in a smol app that
                            // runs its work on one (see BENCHMARKS.md for the caller as
                            // `Executor::run`'s own future).
                            let case = case.clone();
                            let caller = smol.spawn(async move {
                                clients::turnwire::read(runtime, &case, port).await
                            });
                            smol::block_on(smol.run(caller))
                        }
                    }
                    Peer::AsyncOpenai => tokio.block_on(clients::openai::read(case, port)),
                    Peer::ReqwestEventsource => tokio.block_on(clients::reqwest_sse::read(
                        case,
                        port,
                        Decode::EventsourceValue,
                    )),
                    Peer::ReqwestBytes => {
                        tokio.block_on(clients::reqwest_sse::read(case, port, Decode::Bytes))
                    }
                    Peer::Raw => tokio.block_on(clients::raw::read(case, port)),
                    Peer::TungsteniteValue => tokio.block_on(clients::ws::read(case, port, true)),
                    Peer::Tungstenite => tokio.block_on(clients::ws::read(case, port, false)),
                }
                .map_err(|e| format!("{} on {}: {e}", peer.label(), case.name()))?;
                // Let background tasks (closing sockets, ending client tasks) finish
                // off the clock, on the runtime that runs them.
                tokio.block_on(async { tokio::time::sleep(SETTLE).await });
                smol::block_on(smol.run(smol::Timer::after(SETTLE)));
                result.connections = server.accepts()? - before;
                results.add(case, peer, result);
            }
        }
        eprintln!("repetition {} of {} done", rep + 1, args.reps);
    }
    report::print(args.reps, &cases, &peers, &results);
    Ok(())
}

/// Time given to background tasks between measurements.
const SETTLE: Duration = Duration::from_millis(5);
