//! `--idle`: memory per idle session.
//!
//! After a warm-up session (so one-off allocations such as the runtime's and the TLS
//! provider's are in the baseline), N clients are created, each with an open turn and,
//! on WebSocket, a preconnected socket. Their resident memory over the baseline,
//! divided by N, is the cost of an idle session before its first request (stage A).
//! Then every session streams one request, which adopts the preconnected socket into
//! its turn, and sits idle again (stage B: a session between requests, holding its
//! socket and the turn's history). Kernel socket buffers are not part of RSS.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use turnwire_protocol::session::{PreconnectResult, Telemetry, TurnOptions};
use turnwire_transports::{Client, Runtime, TelemetryHook, Turn};

use crate::args::Args;
use crate::check::Problems;
use crate::drive::with_runtime;
use crate::memory::{self, MemoryKib};
use crate::report::mib;
use crate::server::Server;
use crate::session::{self, Plan};

/// The per-session memory the design aims under.
const TARGET_KIB: f64 = 64.0;

/// Time for the background tasks to settle before reading memory.
const SETTLE: Duration = Duration::from_millis(500);

struct Stages {
    baseline: MemoryKib,
    preconnected: MemoryKib,
    after_request: MemoryKib,
    opened: usize,
    problems: Problems,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, String> {
    // The default model answers any number of requests, so no reply is scripted.
    let mut args = args.clone();
    args.deltas = 1;
    let (server, base_url) = Server::start(&args)?;
    let plan = Arc::new(Plan {
        base_url,
        websocket: args.websocket(),
        turns: 1,
        requests: 1,
        deltas: args.deltas,
    });
    let sessions = args.sessions;
    let timeout = Duration::from_secs(args.timeout_secs);
    let stages = with_runtime(args.runtime, args.threads, |runtime| async move {
        measure(runtime, plan, sessions, timeout).await
    })?;
    let served = server.stop();
    let per = |m: MemoryKib| m.rss.saturating_sub(stages.baseline.rss) as f64 / sessions as f64;
    println!(
        "turnwire-load --idle: {sessions} sessions over {} on {} ({} threads)",
        args.transport.name(),
        args.runtime.name(),
        args.threads
    );
    println!(
        "  baseline RSS {} MiB; preconnects opened {}/{}; server saw {} handshakes, {} POSTs, {} messages",
        mib(stages.baseline.rss),
        stages.opened,
        if args.websocket() { sessions } else { 0 },
        served.handshakes,
        served.posts,
        served.ws_messages
    );
    let (a, b) = if args.websocket() {
        (
            "client, open turn, preconnected socket",
            "after one request, socket adopted by the turn",
        )
    } else {
        ("client, open turn", "after one request")
    };
    println!(
        "  stage A ({a}): RSS {} MiB, {:.1} KiB per session",
        mib(stages.preconnected.rss),
        per(stages.preconnected)
    );
    println!(
        "  stage B ({b}, idle): RSS {} MiB, {:.1} KiB per session",
        mib(stages.after_request.rss),
        per(stages.after_request)
    );
    println!("  peak (VmHWM) {} MiB", mib(memory::own().peak));
    for p in &stages.problems.first {
        println!("    - {p}");
    }
    println!(
        "| {sessions} | {} | {} | {:.1} | {:.1} | {} |",
        args.runtime.name(),
        args.transport.name(),
        per(stages.preconnected),
        per(stages.after_request),
        stages.problems.count
    );
    let passed = stages.problems.count == 0
        && (!args.websocket() || stages.opened == sessions)
        && per(stages.after_request) < TARGET_KIB;
    println!(
        "{} (target < {TARGET_KIB} KiB per idle session)",
        if passed { "PASS" } else { "FAIL" }
    );
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn measure(
    runtime: Arc<dyn Runtime>,
    plan: Arc<Plan>,
    sessions: usize,
    timeout: Duration,
) -> Stages {
    let mut problems = Problems::default();
    // Warm-up: one whole session, dropped before the baseline.
    {
        let client = Client::new(
            runtime.clone(),
            session::client_options(&plan, sessions, None),
        );
        if let Ok(client) = client {
            client.preconnect();
            let turn = client.new_turn(TurnOptions::default());
            let (log, _) =
                session::request(runtime.as_ref(), &turn, "warm up".into(), plan.deltas).await;
            if let Err(why) = log.verdict() {
                problems.push(format!("warm-up: {why}"));
            }
        }
    }
    session::sleep(runtime.as_ref(), SETTLE).await;
    let baseline = memory::own();

    let opened = Arc::new(AtomicUsize::new(0));
    let hook: TelemetryHook = {
        let opened = opened.clone();
        Arc::new(move |record: &Telemetry| {
            if let Telemetry::Preconnect {
                result: PreconnectResult::Opened,
                ..
            } = record
            {
                opened.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut held: Vec<(Client, Turn)> = Vec::with_capacity(sessions);
    for i in 0..sessions {
        match Client::new(
            runtime.clone(),
            session::client_options(&plan, i, Some(hook.clone())),
        ) {
            Ok(client) => {
                client.preconnect();
                let turn = client.new_turn(TurnOptions::default());
                held.push((client, turn));
            }
            Err(err) => problems.push(format!("session {i}: client: {err}")),
        }
    }
    if plan.websocket {
        let start = runtime.now();
        while opened.load(Ordering::Relaxed) < sessions
            && runtime.now().saturating_duration_since(start) < timeout
        {
            session::sleep(runtime.as_ref(), Duration::from_millis(50)).await;
        }
    }
    session::sleep(runtime.as_ref(), SETTLE).await;
    let preconnected = memory::own();

    let mut requests: FuturesUnordered<_> = held
        .iter()
        .enumerate()
        .map(|(i, (_, turn))| {
            let runtime = runtime.clone();
            let deltas = plan.deltas;
            async move {
                let text = format!("idle session {i}: one request");
                (
                    i,
                    session::request(runtime.as_ref(), turn, text, deltas)
                        .await
                        .0,
                )
            }
        })
        .collect();
    while let Some((i, log)) = requests.next().await {
        if let Err(why) = log.verdict() {
            problems.push(format!("session {i}: {why}"));
        }
    }
    drop(requests);
    session::sleep(runtime.as_ref(), SETTLE).await;
    let after_request = memory::own();
    drop(held);
    Stages {
        baseline,
        preconnected,
        after_request,
        opened: opened.load(Ordering::Relaxed),
        problems,
    }
}
