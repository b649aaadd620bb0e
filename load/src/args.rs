//! Command-line arguments.

use clap::{Parser, ValueEnum};

/// Load test for turnwire: N concurrent sessions, each streaming multi-turn
/// conversations from the scripted loopback server.
#[derive(Clone, Debug, Parser)]
#[command(name = "turnwire-load", version)]
pub(crate) struct Args {
    /// Concurrent sessions (one `Client` each).
    #[arg(long, default_value_t = 100)]
    pub(crate) sessions: usize,
    /// Async runtime of the clients.
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Tokio)]
    pub(crate) runtime: RuntimeChoice,
    /// Turns per session.
    #[arg(long, default_value_t = 3)]
    pub(crate) turns: usize,
    /// Requests per turn (each appends a user message to the turn's history).
    #[arg(long, default_value_t = 2)]
    pub(crate) requests: usize,
    /// Transport: WebSocket (preconnected, chained requests) or HTTP SSE.
    #[arg(long, value_enum, default_value_t = TransportChoice::Ws)]
    pub(crate) transport: TransportChoice,
    /// Measure memory per idle session instead of streaming.
    #[arg(long)]
    pub(crate) idle: bool,
    /// Text deltas per response. 1 uses the server's default model; more scripts
    /// every reply ahead of the run.
    #[arg(long, default_value_t = 8)]
    pub(crate) deltas: usize,
    /// Where the loopback server runs.
    #[arg(long, value_enum, default_value_t = ServerPlacement::Process)]
    pub(crate) server: ServerPlacement,
    /// Use a server that is already running (started with `--server-only` and the same
    /// `--sessions`, `--turns`, `--requests`, `--deltas` and `--transport`) instead of
    /// starting one; handy to profile the server on its own.
    #[arg(long)]
    pub(crate) server_url: Option<String>,
    /// Worker threads of the client runtime.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Spread the sessions' starts evenly over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) ramp_ms: u64,
    /// Give up on the run after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout_secs: u64,
    /// Internal: serve the script for a run with these arguments on stdout's URL until
    /// stdin closes.
    #[arg(long, hide = true)]
    pub(crate) server_only: bool,
}

impl Args {
    /// Requests the whole run makes.
    pub(crate) fn total_requests(&self) -> usize {
        self.sessions * self.turns * self.requests
    }

    /// Whether the clients use WebSocket.
    pub(crate) fn websocket(&self) -> bool {
        self.transport == TransportChoice::Ws
    }
}

/// The client runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio's multi-threaded runtime.
    Tokio,
    /// a smol executor run on worker threads.
    Smol,
}

impl RuntimeChoice {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RuntimeChoice::Tokio => "tokio",
            RuntimeChoice::Smol => "smol",
        }
    }
}

/// The transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportChoice {
    /// WebSocket with preconnect.
    Ws,
    /// HTTP POST with a Server-Sent Events body.
    Http,
}

impl TransportChoice {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TransportChoice::Ws => "ws",
            TransportChoice::Http => "http",
        }
    }

    pub(crate) fn flag(self) -> &'static str {
        self.name()
    }
}

/// Where the loopback server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ServerPlacement {
    /// A child process (this binary with `--server-only`): separate fds and memory.
    Process,
    /// A thread of this process.
    Thread,
}
