//! `turnwire-load`: many concurrent turnwire sessions against the scripted loopback
//! server, on tokio or smol, reporting throughput, time to first event, memory, and
//! whether every event arrived exactly once.
//!
//! ```text
//! cargo run --release -p turnwire-load -- --sessions 1000 --runtime tokio
//! cargo run --release -p turnwire-load -- --sessions 10000 --runtime smol --transport http
//! cargo run --release -p turnwire-load -- --sessions 10000 --runtime tokio --idle
//! ```
//!
//! The server runs in a child process by default (this binary again, with
//! `--server-only`), so the client's and the server's file descriptors and memory are
//! counted apart: 10,000 WebSocket sessions need 10,000 sockets on each side, and the
//! peak memory reported is the client's alone. `--server thread` runs it in-process
//! instead.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

mod args;
mod check;
mod drive;
mod idle;
mod memory;
mod report;
mod script;
mod server;
mod session;

use std::process::ExitCode;

use clap::Parser;

use args::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.server_only {
        server::serve_only(&args)
    } else if args.idle {
        idle::run(&args)
    } else {
        drive::run(&args)
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("turnwire-load: error: {message}");
            ExitCode::from(2)
        }
    }
}
