//! The harness of the interop suite: starts the real `turnwire serve` binary on a free
//! loopback port, runs a third-party client against it, and reads back what the
//! server saw.
//!
//! The tests live in `tests/`: one file per client (the OpenAI Python SDK, the OpenAI
//! TypeScript SDK, async-openai). A client whose toolchain is not installed is skipped
//! with a notice on standard error; `.ci/run` installs all of them.
#![allow(clippy::print_stderr)] // skip notices

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

/// The `interop/` directory.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `turnwire` binary built beside this test executable (`target/<profile>/`).
///
/// `cargo nextest run --workspace` (and `cargo test --workspace`) builds it along with
/// the CLI's own tests. When it is missing, this builds it with `cargo build -p
/// turnwire-cli`; panics when that fails.
pub fn turnwire_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> → target/<profile>/turnwire
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable sits in target/<profile>/deps");
    let binary = profile_dir.join(format!("turnwire{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "turnwire-cli",
                "--bin",
                "turnwire",
            ])
            .current_dir(interop_dir())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building turnwire failed");
        assert!(binary.exists(), "no binary at {}", binary.display());
    }
    binary
}

/// A running `turnwire serve`. Dropping it closes its standard input, which stops it.
pub struct Serve {
    child: Child,
    stdin: Option<ChildStdin>,
    base_url: String,
    log: PathBuf,
    dir: PathBuf,
}

impl Serve {
    /// Starts `turnwire serve` on a free port with the default model answering every
    /// request, and with its request journal (`--log`) in a fresh temporary directory.
    pub fn start(name: &str) -> Serve {
        Self::start_with(name, None)
    }

    /// Like [`Serve::start`], with a scenario (the JSON of a `--scenario` file).
    pub fn start_with(name: &str, scenario: Option<&Value>) -> Serve {
        let dir =
            std::env::temp_dir().join(format!("turnwire-interop-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let log = dir.join("journal.jsonl");
        let mut command = Command::new(turnwire_binary());
        command.arg("serve").arg("--log").arg(&log);
        if let Some(scenario) = scenario {
            let path = dir.join("scenario.json");
            std::fs::write(&path, scenario.to_string()).expect("scenario file");
            command.arg("--scenario").arg(path);
        }
        let mut child = command
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("turnwire serve starts");
        let stdin = child.stdin.take();
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("serve prints its base URL");
        let base_url = first.trim().to_owned();
        assert!(
            base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"),
            "serve printed {first:?}"
        );
        Serve {
            child,
            stdin,
            base_url,
            log,
            dir,
        }
    }

    /// The base URL clients are pointed at (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A scratch directory for this test.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server and returns what it saw: its journal's lines and its summary.
    pub fn stop(mut self) -> Served {
        drop(self.stdin.take());
        let status = self.child.wait().expect("serve exits");
        let mut summary = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut summary);
        }
        assert!(status.success(), "serve failed: {summary}");
        let journal = std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("journal line {line}: {e}"))
            })
            .collect();
        Served { journal, summary }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// What a stopped server saw.
#[derive(Debug)]
pub struct Served {
    /// The `--log` journal, one JSON value per request, handshake and message.
    pub journal: Vec<Value>,
    /// What serve printed on standard error, ending with its counts.
    pub summary: String,
}

impl Served {
    /// The `POST` requests the journal holds, in arrival order.
    pub fn posts(&self) -> Vec<&Value> {
        self.of_kind("request")
            .filter(|line| line["method"] == "POST")
            .collect()
    }

    /// The WebSocket handshakes the journal holds.
    pub fn handshakes(&self) -> Vec<&Value> {
        self.of_kind("handshake").collect()
    }

    /// The WebSocket text messages the clients sent.
    pub fn messages(&self) -> Vec<&Value> {
        self.of_kind("message").collect()
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.journal.iter().filter(move |line| line["kind"] == kind)
    }
}

/// The event types of a streamed text answer, in the order a real server sends them
/// (`response.output_text.delta` repeats).
pub const TEXT_ANSWER_EVENTS: [&str; 9] = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
];

/// The `types` list of a client's report with runs of one type (the deltas) folded
/// into one, to compare with [`TEXT_ANSWER_EVENTS`].
pub fn distinct_types(report: &Value) -> Vec<&str> {
    let mut types: Vec<&str> = report["types"]
        .as_array()
        .unwrap_or_else(|| panic!("no types in {report}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    types.dedup();
    types
}

/// A third-party client's run: its exit status, output and last line as JSON.
#[derive(Debug)]
pub struct ClientRun {
    /// What the process returned.
    pub output: Output,
}

impl ClientRun {
    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the client exited successfully and returns the JSON report it printed
    /// on its last line.
    pub fn report(&self) -> Value {
        assert!(
            self.output.status.success(),
            "the client failed ({}):\n{}\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        let stdout = self.stdout();
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}"))
    }
}

/// Runs `program args…` pointed at `serve` with the environment the OpenAI SDKs read
/// (`OPENAI_BASE_URL`, `OPENAI_API_KEY=test-key`, no proxy).
pub fn run_client(serve: &Serve, program: &Path, args: &[&str]) -> ClientRun {
    let output = Command::new(program)
        .args(args)
        .current_dir(interop_dir())
        .env("OPENAI_BASE_URL", serve.base_url())
        .env("OPENAI_API_KEY", "test-key")
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", program.display()));
    ClientRun { output }
}

/// Says on standard error that `test` was skipped, and why.
pub fn skip(test: &str, why: &str) {
    eprintln!("{test}: skipped: {why}");
}

/// The venv's Python with the OpenAI SDK, or `None` (and a notice naming `test`) when
/// `.ci/run` has not created it here.
pub fn python(test: &str) -> Option<PathBuf> {
    let python = interop_dir().join(".venv/bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!(
            "{test}: skipped: no {} (run .ci/run, or: python3 -m venv interop/.venv && interop/.venv/bin/pip install -r interop/python/requirements.txt)",
            python.display()
        );
        None
    }
}

/// `node`, when it is installed and the TypeScript SDK is in `interop/ts/node_modules`;
/// otherwise `None` and a notice naming `test`.
pub fn node(test: &str) -> Option<PathBuf> {
    let sdk = interop_dir().join("ts/node_modules/openai/package.json");
    let node_runs = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_runs {
        eprintln!("{test}: skipped: node is not installed");
        return None;
    }
    if !sdk.exists() {
        eprintln!(
            "{test}: skipped: no {} (run .ci/run, or: npm ci --prefix interop/ts)",
            sdk.display()
        );
        return None;
    }
    Some(PathBuf::from("node"))
}
