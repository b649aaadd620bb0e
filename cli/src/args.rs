//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// turnwire: stream model responses over WebSocket and HTTP, and debug the streams.
#[derive(Debug, Parser)]
#[command(name = "turnwire", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which async runtime drives the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio (multi-threaded).
    #[default]
    Tokio,
    /// smol (no tokio involved).
    Smol,
}

/// Which transports the client may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportChoice {
    /// WebSocket first, falling back to HTTP.
    #[default]
    Auto,
    /// WebSocket (the fallback to HTTP still applies when WebSocket keeps failing).
    Ws,
    /// HTTP Server-Sent Events only.
    Http,
}

/// WebSocket request protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum WsProtocolChoice {
    /// `response.append`.
    V1,
    /// `response.create` with `previous_response_id`.
    #[default]
    V2,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: its size does not matter
pub(crate) enum Command {
    /// Run a multi-turn session against an embedded loopback server and show every
    /// capability at work. Needs no account and no network.
    Demo {
        /// Async runtime.
        #[arg(long, value_enum, default_value_t)]
        runtime: RuntimeChoice,
        /// Print one JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stream a conversation from a real or compatible server.
    Run(RunArgs),
    /// Decode a captured SSE stream (or JSON lines) into caller events. Exits 1 when a
    /// response failed, the stream ended with an error event or without a terminal
    /// event, or an event was malformed; 2 when the input cannot be read.
    Decode {
        /// Input is one event JSON per line (detected by itself when neither flag is given).
        #[arg(long, conflicts_with = "sse")]
        jsonl: bool,
        /// Input is Server-Sent Events (detected by itself when neither flag is given).
        #[arg(long)]
        sse: bool,
        /// The capture; `-` or absent for standard input.
        file: Option<PathBuf>,
    },
    /// Run the scripted loopback server for testing other clients.
    Serve(ServeArgs),
    /// Replay a recorded input trace through the core and print its outputs.
    Replay {
        /// A file written by `turnwire run --record`.
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// A scenario file (JSON); without one the spec-complete default model answers
    /// every request.
    #[arg(long)]
    pub(crate) scenario: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Write every request, handshake, WebSocket message and response head to this
    /// file as JSON lines, with credentials redacted.
    #[arg(long)]
    pub(crate) log: Option<PathBuf>,
    /// Connections served at once; further ones are closed at once.
    #[arg(long, default_value_t = turnwire_testkit::loopback::ServerOptions::DEFAULT_MAX_CONNECTIONS)]
    pub(crate) max_connections: usize,
    /// Milliseconds a connection has to send a whole request head (also the idle
    /// time after which a keep-alive connection is closed).
    #[arg(long, default_value_t = 30_000)]
    pub(crate) head_timeout_ms: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Base URL of the Responses API.
    #[arg(long, default_value = "https://api.openai.com/v1")]
    pub(crate) base_url: String,
    /// API key. Other users can read a command line: prefer --api-key-file or the
    /// OPENAI_API_KEY environment variable, which is used when neither flag is given.
    #[arg(long, conflicts_with = "api_key_file")]
    pub(crate) api_key: Option<String>,
    /// A file holding the API key (a trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub(crate) api_key_file: Option<PathBuf>,
    /// Async runtime.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) runtime: RuntimeChoice,
    /// Transports to use.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) transport: TransportChoice,
    /// WebSocket request protocol.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) ws_protocol: WsProtocolChoice,
    /// Do not open a WebSocket ahead of the first turn (no preconnect, no prewarm).
    #[arg(long)]
    pub(crate) no_preconnect: bool,
    /// Retries of one POST until its status arrives.
    #[arg(long)]
    pub(crate) request_max_retries: Option<u32>,
    /// Retries of one request's stream.
    #[arg(long)]
    pub(crate) stream_max_retries: Option<u32>,
    /// Idle timeout while streaming, in milliseconds.
    #[arg(long)]
    pub(crate) idle_timeout_ms: Option<u64>,
    /// Model.
    #[arg(long, default_value = "gpt-5")]
    pub(crate) model: String,
    /// Instructions (system prompt).
    #[arg(long)]
    pub(crate) instructions: Option<String>,
    /// A script file: {"model", "instructions", "turns": [["request 1", "request 2"], ...]}.
    #[arg(long)]
    pub(crate) script: Option<PathBuf>,
    /// Print one JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
    /// Record every input fed to the core to this file, for `turnwire replay`.
    #[arg(long)]
    pub(crate) record: Option<PathBuf>,
    /// Stop recording (with a notice; the run goes on) before the record file would
    /// grow past this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::record::DEFAULT_MAX_BYTES)]
    pub(crate) record_max_bytes: u64,
    /// HTTP proxy for every connection: `http://[user:pass@]host:port`. Defaults to
    /// HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (lower-case forms first) for the base URL's
    /// scheme.
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Hosts that bypass the proxy, comma-separated: names (with their subdomains),
    /// .domain suffixes, IP addresses, or * for all. Defaults to NO_PROXY.
    #[arg(long, value_name = "HOSTS")]
    pub(crate) no_proxy: Option<String>,
    /// Also trust the CA certificates in this PEM file (repeatable), besides the
    /// platform's roots and SSL_CERT_FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Vec<PathBuf>,
    /// The prompt (one turn with one request), unless a script is given; `-` chats over
    /// standard input, one turn per line, each continuing the conversation so far.
    pub(crate) prompt: Option<String>,
}
