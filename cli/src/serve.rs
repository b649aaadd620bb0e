//! `turnwire serve`: the scripted loopback server, for testing other clients.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use turnwire_testkit::loopback::{LoopbackServer, scenario};
use turnwire_testkit::sim::FakeServer;

/// Serves until standard input closes or the process is interrupted. Prints the base
/// URL first, on its own line, so scripts can read it.
pub(crate) fn serve(scenario_file: Option<&Path>, port: u16) -> Result<ExitCode, String> {
    let script = match scenario_file {
        Some(path) => scenario::load(path).map_err(|e| e.to_string())?,
        None => FakeServer::new(),
    };
    let server = LoopbackServer::start_on(script, port, false)
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
        "turnwire serve: served {} POSTs, {} WebSocket handshakes, {} WebSocket messages",
        recording.posts(),
        recording.ws_attempts(),
        recording.ws_messages.len()
    );
    Ok(ExitCode::SUCCESS)
}
