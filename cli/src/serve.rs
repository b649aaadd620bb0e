//! `turnwire serve`: the scripted loopback server, for testing other clients.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use turnwire_testkit::loopback::scenario::{self, Scenario};
use turnwire_testkit::loopback::{Journal, KeepAlive, LoopbackServer, ServerOptions};
use turnwire_testkit::sim::FakeServer;

use crate::args::ServeArgs;

/// Serves until standard input closes or the process is interrupted. Prints the base
/// URL first, on its own line, so scripts can read it; prints a summary on stderr when
/// it stops.
pub(crate) fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let scenario = match &args.scenario {
        Some(path) => scenario::load_scenario(path).map_err(|e| e.to_string())?,
        None => Scenario {
            script: FakeServer::spec_complete(),
            keep_alive: KeepAlive::default(),
        },
    };
    let journal = match &args.log {
        Some(path) => Some(
            Journal::create(path)
                .map_err(|e| format!("cannot write the log {}: {e}", path.display()))?,
        ),
        None => None,
    };
    if args.max_connections == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    let options = ServerOptions {
        max_connections: args.max_connections,
        head_timeout: Duration::from_millis(args.head_timeout_ms.max(1)),
        keep_alive: scenario.keep_alive,
        journal,
    };
    let port = args.port;
    let server = LoopbackServer::start_with(scenario.script, port, false, options)
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    println!("{}", server.base_url());
    let _ = std::io::stdout().flush();
    eprintln!("turnwire serve: listening; close standard input (Ctrl-D) or press Ctrl-C to stop");
    // Block until stdin reaches end of file; the server runs on its own thread.
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    let recording = server.recording();
    eprintln!(
        "turnwire serve: served {} POSTs, {} WebSocket handshakes, {} WebSocket messages over {} connections ({} refused over the cap)",
        recording.posts(),
        recording.ws_attempts(),
        recording.ws_messages.len(),
        server.accepted_connections(),
        server.refused_connections(),
    );
    Ok(ExitCode::SUCCESS)
}
