//! The server's child process: this binary with `--serve`, controlled over its
//! standard input and output.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::Args;

/// The running server; dropping it closes its input, which stops it.
pub(crate) struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl ServerProcess {
    /// Starts the server for the run's responses and reads its port.
    pub(crate) fn start(args: &Args) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "--serve".to_owned(),
                format!("--long-deltas={}", args.long_deltas),
                format!("--seq-deltas={}", args.seq_deltas),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let mut server = ServerProcess {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            port: 0,
        };
        server.port = server
            .read_line()?
            .parse()
            .map_err(|_| "the server printed no port")?;
        Ok(server)
    }

    /// The port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Connections it has accepted so far.
    pub(crate) fn accepts(&mut self) -> Result<u64, String> {
        let stdin = self.stdin.as_mut().ok_or("the server's input is closed")?;
        stdin
            .write_all(b"accepts\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("asking the server: {e}"))?;
        self.read_line()?
            .parse()
            .map_err(|_| "the server's count is not a number".to_owned())
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the server: {e}"))?;
        Ok(line.trim().to_owned())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
