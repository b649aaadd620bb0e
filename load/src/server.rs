//! The loopback server: in a child process (default) or on a thread of this one.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};

use turnwire_testkit::loopback::{LoopbackServer, ServerOptions};

use crate::args::Args;
use crate::memory::{self, MemoryKib};
use crate::script;

/// Descriptors a process needs besides its sockets.
const FD_SLACK: u64 = 256;

/// Starts the loopback server for the run: plain HTTP on a free port, serving the
/// run's script, with room for every session's connections. The server's default cap
/// (4096 connections at once) closed the rest of 10,000 preconnecting sessions' sockets
/// at once, and two unanswered connects in a row make a client fall back to HTTP.
fn start(args: &Args) -> std::io::Result<LoopbackServer> {
    let options = ServerOptions {
        // A session's socket, and one more while it replaces it.
        max_connections: 2 * args.sessions + FD_SLACK as usize,
        ..ServerOptions::default()
    };
    LoopbackServer::start_with(script::server(args), 0, false, options)
}

/// What the server saw, as counts (a full recording of a large run is big).
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    pub(crate) posts: usize,
    pub(crate) handshakes: usize,
    pub(crate) ws_messages: usize,
    pub(crate) violations: usize,
}

impl Served {
    fn of(server: &LoopbackServer) -> Served {
        server.with_script(|s| {
            let r = s.recording();
            Served {
                posts: r.posts(),
                handshakes: r.ws_attempts(),
                ws_messages: r.ws_messages.len(),
                violations: r.violations.len(),
            }
        })
    }

    fn to_line(&self) -> String {
        format!(
            "served posts={} handshakes={} ws_messages={} violations={}",
            self.posts, self.handshakes, self.ws_messages, self.violations
        )
    }

    fn from_line(line: &str) -> Option<Served> {
        let mut served = Served::default();
        for pair in line.strip_prefix("served ")?.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            let value = value.parse().ok()?;
            match key {
                "posts" => served.posts = value,
                "handshakes" => served.handshakes = value,
                "ws_messages" => served.ws_messages = value,
                "violations" => served.violations = value,
                _ => {}
            }
        }
        Some(served)
    }
}

/// A running server.
pub(crate) enum Server {
    External,
    Thread(LoopbackServer),
    Process {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: BufReader<ChildStdout>,
    },
}

impl Server {
    /// Starts the server for a run with `args`; returns it with its base URL.
    pub(crate) fn start(args: &Args) -> Result<(Server, String), String> {
        let sockets = args.sessions as u64;
        if let Some(url) = &args.server_url {
            memory::check_fd_budget(sockets + FD_SLACK, "the client")?;
            return Ok((Server::External, url.clone()));
        }
        match args.server {
            crate::args::ServerPlacement::Thread => {
                memory::check_fd_budget(2 * sockets + FD_SLACK, "client and server together")?;
                let server =
                    start(args).map_err(|e| format!("cannot start the loopback server: {e}"))?;
                let url = server.base_url();
                Ok((Server::Thread(server), url))
            }
            crate::args::ServerPlacement::Process => {
                memory::check_fd_budget(sockets + FD_SLACK, "the client")?;
                Self::spawn_child(args)
            }
        }
    }

    fn spawn_child(args: &Args) -> Result<(Server, String), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "--server-only".to_owned(),
                format!("--sessions={}", args.sessions),
                format!("--turns={}", args.turns),
                format!("--requests={}", args.requests),
                format!("--deltas={}", args.deltas),
                format!("--transport={}", args.transport.flag()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or("the server process has no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut url = String::new();
        stdout
            .read_line(&mut url)
            .map_err(|e| format!("reading the server's URL: {e}"))?;
        let url = url.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the server process printed {url:?} instead of its URL"
            ));
        }
        Ok((
            Server::Process {
                child,
                stdin,
                stdout,
            },
            url,
        ))
    }

    /// The server's memory when it runs in its own process.
    pub(crate) fn process_memory(&self) -> Option<MemoryKib> {
        match self {
            Server::External | Server::Thread(_) => None,
            Server::Process { child, .. } => Some(memory::of_pid(child.id())),
        }
    }

    /// CPU seconds the server process has used, when it runs in its own process.
    pub(crate) fn process_cpu_seconds(&self) -> Option<f64> {
        match self {
            Server::External | Server::Thread(_) => None,
            Server::Process { child, .. } => Some(memory::cpu_seconds(&child.id().to_string())),
        }
    }

    /// Stops the server; returns what it served.
    pub(crate) fn stop(self) -> Served {
        match self {
            Server::External => Served::default(),
            Server::Thread(server) => Served::of(&server),
            Server::Process {
                mut child,
                stdin,
                mut stdout,
            } => {
                drop(stdin); // end of input tells the child to report and exit
                let mut line = String::new();
                let _ = stdout.read_line(&mut line);
                let _ = child.wait();
                Served::from_line(line.trim()).unwrap_or_default()
            }
        }
    }
}

/// `--server-only`: serves the run's script, printing the base URL first, until
/// standard input closes; then prints what it served and exits.
pub(crate) fn serve_only(args: &Args) -> Result<ExitCode, String> {
    let sockets = args.sessions as u64;
    memory::check_fd_budget(sockets + FD_SLACK, "the server")?;
    let server = start(args).map_err(|e| format!("cannot start the loopback server: {e}"))?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", server.base_url());
    let _ = out.flush();
    let mut sink = String::new();
    let stdin = std::io::stdin();
    while stdin.read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    let _ = writeln!(out, "{}", Served::of(&server).to_line());
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_counts_survive_the_pipe() {
        let served = Served {
            posts: 3,
            handshakes: 4,
            ws_messages: 5,
            violations: 0,
        };
        let back = Served::from_line(&served.to_line()).expect("parses");
        assert_eq!(
            (
                back.posts,
                back.handshakes,
                back.ws_messages,
                back.violations
            ),
            (3, 4, 5, 0)
        );
    }
}
