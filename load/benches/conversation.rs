//! What the session's socket slot and cross-turn chaining (PROTOCOL.md rev 2, 8.1 and 6)
//! buy a multi-turn conversation over WebSocket, on loopback, with the testkit's
//! `LoopbackServer` (its default model, a revision-2 server that holds response chains
//! per socket) in its own process: this binary again, started with
//! `TURNWIRE_BENCH_SERVE=1`.
//!
//! Group `turn2_first_event`: the time from `turn.stream(...)` to the first event of
//! turn 2 of a conversation, after a turn 1 that ran off the clock:
//! - `reused_socket`: one client; turn 1 ended, so its socket and response chain went
//!   to the session's slot; turn 2 is a `TurnHistory::Continue` turn that adopts the
//!   socket and sends `previous_response_id` with the one new message;
//! - `new_socket`: a new client for turn 2 (built off the clock, no preconnect), whose
//!   request opens a socket and sends the whole conversation (turn 1's input and
//!   output, then the new message) as a full `response.create`.
//!
//! Every iteration asserts, from the server's count of accepted connections, that
//! the reused case opened one socket for both turns and the other case two.
//!
//! Group `conversation_50_turns`: a whole 50-turn conversation, each turn one user
//! message of [`USER_WORDS`] words and the model's reply, the same two ways (`chained`:
//! one client, `Continue` turns; `full_creates`: a client and a socket per turn, every
//! request carrying the conversation so far). Before criterion runs, one conversation
//! of each kind counts the request bytes the client sent (`AttemptStarted.bytes` of
//! its telemetry: WebSocket message bytes), checking that every chained turn after the
//! first went out as `chained` and every other request as a full `create`.
//!
//! After criterion's output a summary prints the ratios from the same run, wall clock
//! and CPU time of this process (the client; the server's CPU is in its own process).
//!
//! Run: `cargo bench -p turnwire-load --bench conversation -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock
#![allow(clippy::print_stdout)] // the summary

#[path = "common/timing.rs"]
mod timing;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_transports::protocol::item::ResponseItem;
use turnwire_transports::protocol::session::{
    MessageKind, RequestInput, RequestSpec, Telemetry, TurnHistory, TurnOptions,
};
use turnwire_transports::protocol::{Config, RequestFields, ResponseEvent};
use turnwire_transports::{ApiKey, Client, ClientOptions, Runtime};

use timing::{Harness, Stopwatch, Timing, Timings};

/// Turns in the long conversation.
const TURNS: usize = 50;
/// Words in every user message.
const USER_WORDS: usize = 40;
/// The model's reply, `{n}` standing for the response number (about 300 bytes).
const MODEL_TEXT: &str = "Reply {n}: here is what I found after reading the files you named. \
The function you asked about parses the header, checks its length against the limit, and \
hands the rest to the decoder; the bug is in the limit check, which counts characters \
where it should count bytes. Changing it to count bytes fixes the test you mentioned.";
/// Criterion samples of the first-event group.
const FIRST_EVENT_SAMPLES: usize = 30;
/// Criterion samples of the conversation group (each iteration is 50 turns).
const CONVERSATION_SAMPLES: usize = 10;
/// The environment variable that makes this binary the server.
const SERVE_ENV: &str = "TURNWIRE_BENCH_SERVE";
/// Longest wait for the server to see an iteration's connections close.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        serve();
        return;
    }
    let server = Mutex::new(ServerProcess::start());
    let base_url = server_url(&server);
    let harnesses = [Harness::tokio(), Harness::Smol];
    let summary = Summary::default();
    let bytes = count_request_bytes(&harnesses[0], &base_url, &server);
    let mut criterion = Criterion::default().configure_from_args();
    turn2_first_event(&mut criterion, &harnesses, &base_url, &server, &summary);
    conversation(&mut criterion, &harnesses, &base_url, &server, &summary);
    criterion.final_summary();
    summary.print(&harnesses, &bytes);
}

fn server_url(server: &Mutex<ServerProcess>) -> String {
    server.lock().expect("the server handle").base_url.clone()
}

/// The child: serves the default model with [`MODEL_TEXT`], prints its base URL, then
/// answers each line of its input (`finish`: wait until every connection is closed,
/// start the script afresh, print the connections accepted since the last `finish`)
/// until its input ends.
fn serve() {
    let server = LoopbackServer::start(script()).expect("bind 127.0.0.1");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.base_url()).expect("print the URL");
    out.flush().expect("print the URL");
    let mut counted = 0;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() != "finish" {
            continue;
        }
        let idle = server.wait_for_open_connections_at_most(0, IDLE_TIMEOUT);
        server.with_script(|s| *s = script());
        let accepted = server.accepted_connections();
        let reply = if idle {
            (accepted - counted).to_string()
        } else {
            "busy".to_owned()
        };
        counted = accepted;
        writeln!(out, "{reply}").expect("answer");
        out.flush().expect("answer");
    }
}

fn script() -> FakeServer {
    let mut server = FakeServer::new();
    server.model_text = Some(MODEL_TEXT.to_owned());
    server
}

/// The server's child process; dropping it closes its input, which stops it.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    base_url: String,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let exe = std::env::current_exe().expect("the bench binary");
        let mut child = Command::new(exe)
            .env(SERVE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("its output"));
        let mut server = ServerProcess {
            child,
            stdin,
            stdout,
            base_url: String::new(),
        };
        server.base_url = server.read_line();
        assert!(
            server.base_url.starts_with("http://"),
            "{}",
            server.base_url
        );
        server
    }

    /// Waits until the iteration's connections are closed; returns how many the
    /// server accepted during it.
    fn finish(&mut self) -> u64 {
        let stdin = self.stdin.as_mut().expect("the server's input");
        stdin
            .write_all(b"finish\n")
            .and_then(|()| stdin.flush())
            .expect("ask the server");
        let answer = self.read_line();
        answer
            .parse()
            .unwrap_or_else(|_| panic!("a connection was left open ({answer})"))
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the server");
        line.trim().to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn finish(server: &Mutex<ServerProcess>) -> u64 {
    server.lock().expect("the server handle").finish()
}

/// How a conversation's turns reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// One client: each turn adopts the slot's socket and chains to the previous turn.
    Reused,
    /// A new client, so a new socket, per turn; every request a full create.
    NewSocket,
}

/// Request bytes and message kinds a client's telemetry reported.
type Sent = Arc<Mutex<Vec<(MessageKind, usize)>>>;

/// A WebSocket client of `base_url` with no preconnect and no prewarm, recording the
/// size and kind of every request it sends.
fn client(runtime: Arc<dyn Runtime>, base_url: &str, sent: &Sent) -> Client {
    let mut config = Config::new(base_url);
    config.websockets = true;
    config.preconnect = Some(false);
    config.prewarm = Some(false);
    let mut options = ClientOptions::new(config, ApiKey::new("bench-key"));
    let sent = sent.clone();
    options.telemetry = Some(Arc::new(move |record: &Telemetry| {
        if let Telemetry::AttemptStarted { message, bytes, .. } = record
            && let Ok(mut sent) = sent.lock()
        {
            sent.push((*message, *bytes));
        }
    }));
    Client::new(runtime, options).expect("a client")
}

fn fields() -> RequestFields {
    RequestFields::new("bench-model")
}

/// The user message of turn `turn` (from 1): [`USER_WORDS`] words.
fn user_message(turn: usize) -> ResponseItem {
    let words: Vec<String> = (0..USER_WORDS).map(|w| format!("word{turn}x{w}")).collect();
    ResponseItem::user_text(format!("Turn {turn}: {}", words.join(" ")))
}

/// Reads a response to its end; returns its finished items (what a caller appends to
/// its own copy of the conversation) and the timing from `started` to the first event.
async fn read_response(
    mut stream: turnwire_transports::ResponseStream,
    started: Stopwatch,
) -> (Vec<ResponseItem>, Timing) {
    let first = stream.next().await;
    let elapsed = started.stop();
    assert!(
        matches!(first, Some(Ok(ResponseEvent::Created { .. }))),
        "the first event is response.created: {first:?}"
    );
    let mut items = Vec::new();
    let mut completed = false;
    while let Some(event) = stream.next().await {
        match event.expect("the response streams to its end") {
            ResponseEvent::OutputItemDone { item } => items.push(item),
            ResponseEvent::Completed { .. } => completed = true,
            _ => {}
        }
    }
    assert!(completed, "the response completed");
    (items, elapsed)
}

/// A conversation in progress, however its turns reach the server.
struct Conversation {
    runtime: Arc<dyn Runtime>,
    base_url: String,
    mode: Mode,
    sent: Sent,
    /// The client of the reused mode (`None` in the other mode).
    client: Option<Client>,
    /// Everything said so far, for the full creates.
    items: Vec<ResponseItem>,
    turns: usize,
}

impl Conversation {
    fn new(runtime: Arc<dyn Runtime>, base_url: &str, mode: Mode) -> Conversation {
        let sent = Sent::default();
        let client = (mode == Mode::Reused).then(|| client(runtime.clone(), base_url, &sent));
        Conversation {
            runtime,
            base_url: base_url.to_owned(),
            mode,
            sent,
            client,
            items: Vec::new(),
            turns: 0,
        }
    }

    /// Runs the next turn (one request); the time from `stream` to its first event.
    async fn turn(&mut self) -> Timing {
        self.turns += 1;
        let message = user_message(self.turns);
        match self.mode {
            Mode::Reused => {
                let client = self.client.as_ref().expect("the reused client");
                let turn = client.new_turn(TurnOptions {
                    history: TurnHistory::Continue,
                    ..TurnOptions::default()
                });
                let spec = RequestSpec {
                    fields: fields(),
                    input: RequestInput::Append(vec![message]),
                };
                let started = Stopwatch::start();
                let (_, elapsed) = read_response(turn.stream(spec), started).await;
                elapsed
                // Dropping the turn ends it: its socket and chain go to the slot.
            }
            Mode::NewSocket => {
                let client = client(self.runtime.clone(), &self.base_url, &self.sent);
                let turn = client.new_turn(TurnOptions::default());
                self.items.push(message);
                let spec = RequestSpec {
                    fields: fields(),
                    input: RequestInput::Append(self.items.clone()),
                };
                let started = Stopwatch::start();
                let (output, elapsed) = read_response(turn.stream(spec), started).await;
                self.items.extend(output);
                elapsed
            }
        }
    }
}

/// One conversation of each mode, off the clock, on `harness`: the request bytes each
/// sent, after checking every request went out as the mode intends.
fn count_request_bytes(
    harness: &Harness,
    base_url: &str,
    server: &Mutex<ServerProcess>,
) -> BTreeMap<&'static str, (usize, usize)> {
    let mut totals = BTreeMap::new();
    for mode in [Mode::Reused, Mode::NewSocket] {
        let mut conversation = Conversation::new(harness.runtime(), base_url, mode);
        harness.block_on(async {
            for _ in 0..TURNS {
                conversation.turn().await;
            }
        });
        let sent = conversation.sent.lock().expect("the telemetry").clone();
        drop(conversation);
        let sockets = finish(server);
        assert_eq!(sent.len(), TURNS, "one attempt per turn: {sent:?}");
        for (i, (kind, _)) in sent.iter().enumerate() {
            let expected = if mode == Mode::Reused && i > 0 {
                MessageKind::Chained
            } else {
                MessageKind::Create
            };
            assert_eq!(*kind, expected, "request {} of {mode:?}", i + 1);
        }
        let expected_sockets = if mode == Mode::Reused {
            1
        } else {
            TURNS as u64
        };
        assert_eq!(sockets, expected_sockets, "sockets opened by {mode:?}");
        let bytes: usize = sent.iter().map(|(_, bytes)| bytes).sum();
        let last = sent.last().map_or(0, |(_, bytes)| *bytes);
        totals.insert(mode_name(mode), (bytes, last));
    }
    totals
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Reused => "reused_socket",
        Mode::NewSocket => "new_socket",
    }
}

fn turn2_first_event(
    criterion: &mut Criterion,
    harnesses: &[Harness],
    base_url: &str,
    server: &Mutex<ServerProcess>,
    summary: &Summary,
) {
    let mut group = criterion.benchmark_group("turn2_first_event");
    group.sample_size(FIRST_EVENT_SAMPLES);
    for mode in [Mode::Reused, Mode::NewSocket] {
        for harness in harnesses {
            let id = format!("{}/{}", mode_name(mode), harness.name());
            let key = format!("turn2_first_event/{id}");
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Timing::default();
                    for _ in 0..iters {
                        let mut conversation = Conversation::new(harness.runtime(), base_url, mode);
                        total += harness.block_on(async {
                            conversation.turn().await;
                            conversation.turn().await
                        });
                        drop(conversation);
                        let expected = if mode == Mode::Reused { 1 } else { 2 };
                        assert_eq!(finish(server), expected, "sockets opened by {mode:?}");
                    }
                    summary.record(&key, iters, total);
                    total.wall
                });
            });
        }
    }
    group.finish();
}

fn conversation(
    criterion: &mut Criterion,
    harnesses: &[Harness],
    base_url: &str,
    server: &Mutex<ServerProcess>,
    summary: &Summary,
) {
    let mut group = criterion.benchmark_group("conversation_50_turns");
    group.sample_size(CONVERSATION_SAMPLES);
    group.sampling_mode(SamplingMode::Flat);
    for mode in [Mode::Reused, Mode::NewSocket] {
        for harness in harnesses {
            let id = format!("{}/{}", mode_name(mode), harness.name());
            let key = format!("conversation_50_turns/{id}");
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Timing::default();
                    for _ in 0..iters {
                        let mut conversation = Conversation::new(harness.runtime(), base_url, mode);
                        let stopwatch = Stopwatch::start();
                        harness.block_on(async {
                            for _ in 0..TURNS {
                                conversation.turn().await;
                            }
                        });
                        total += stopwatch.stop();
                        drop(conversation);
                        finish(server);
                    }
                    summary.record(&key, iters, total);
                    total.wall
                });
            });
        }
    }
    group.finish();
}

/// The timings criterion measured, kept to print ratios at the end.
#[derive(Default)]
struct Summary(Timings);

impl std::ops::Deref for Summary {
    type Target = Timings;

    fn deref(&self) -> &Timings {
        &self.0
    }
}

impl Summary {
    fn print(&self, harnesses: &[Harness], bytes: &BTreeMap<&'static str, (usize, usize)>) {
        println!();
        println!("== conversation summary (WebSocket, loopback, server in its own process) ==");
        let groups = [
            ("turn2_first_event", FIRST_EVENT_SAMPLES, 1e6, "µs"),
            ("conversation_50_turns", CONVERSATION_SAMPLES, 1e3, "ms"),
        ];
        for (group, samples, scale, unit) in groups {
            println!();
            println!("{group} ({unit}, wall / client CPU; new_socket ÷ reused_socket)");
            for harness in harnesses {
                let rt = harness.name();
                let get = |mode: Mode, of: fn(&Timing) -> Duration| {
                    self.slope(&format!("{group}/{}/{rt}", mode_name(mode)), samples, of)
                };
                let wall = |t: &Timing| t.wall;
                let cpu = |t: &Timing| t.cpu;
                let (rw, nw) = (get(Mode::Reused, wall), get(Mode::NewSocket, wall));
                let (rc, nc) = (get(Mode::Reused, cpu), get(Mode::NewSocket, cpu));
                let show =
                    |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{:.1}", s * scale));
                let ratio = |n: Option<f64>, r: Option<f64>| {
                    n.zip(r)
                        .map_or("-".to_owned(), |(n, r)| format!("{:.2}×", n / r))
                };
                println!(
                    "  {rt:<6} reused {} / {}   new {} / {}   ratio {} wall, {} CPU",
                    show(rw),
                    show(rc),
                    show(nw),
                    show(nc),
                    ratio(nw, rw),
                    ratio(nc, rc),
                );
            }
        }
        println!();
        println!("request bytes over a {TURNS}-turn conversation (client telemetry)");
        let (chained, chained_last) = bytes.get("reused_socket").copied().unwrap_or_default();
        let (full, full_last) = bytes.get("new_socket").copied().unwrap_or_default();
        println!("  chained (reused socket, Continue): {chained} B, last request {chained_last} B");
        println!("  full creates (new socket per turn): {full} B, last request {full_last} B");
        if chained > 0 {
            println!(
                "  full ÷ chained: {:.2}× ({:.1}% of the bytes)",
                full as f64 / chained as f64,
                100.0 * chained as f64 / full as f64
            );
        }
    }
}
