//! The streaming run: N concurrent sessions, then the figures and the checks.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use turnwire_smol::SmolRuntime;
use turnwire_tokio::TokioRuntime;
use turnwire_transports::Runtime;

use crate::args::{Args, RuntimeChoice};
use crate::check::{self, Problems};
use crate::memory;
use crate::report::{self, Figures};
use crate::server::Server;
use crate::session::{self, Plan, SessionReport};

/// Runs `make(runtime)` to completion on the chosen runtime with `threads` workers.
pub(crate) fn with_runtime<F, T>(
    choice: RuntimeChoice,
    threads: usize,
    make: impl FnOnce(Arc<dyn Runtime>) -> F,
) -> Result<T, String>
where
    F: Future<Output = T>,
{
    let threads = threads.max(1);
    match choice {
        RuntimeChoice::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
            let runtime: Arc<dyn Runtime> =
                Arc::new(TokioRuntime::with_handle(rt.handle().clone()));
            Ok(rt.block_on(make(runtime)))
        }
        RuntimeChoice::Smol => {
            let executor = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::unbounded::<()>();
            let workers: Vec<_> = (0..threads)
                .map(|i| {
                    let executor = executor.clone();
                    let stopped = stopped.clone();
                    std::thread::Builder::new()
                        .name(format!("smol-worker-{i}"))
                        .spawn(move || smol::block_on(executor.run(stopped.recv())))
                })
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cannot start smol workers: {e}"))?;
            let runtime: Arc<dyn Runtime> = Arc::new(SmolRuntime::with_executor(executor));
            let output = smol::block_on(make(runtime));
            drop(stop);
            for worker in workers {
                let _ = worker.join();
            }
            Ok(output)
        }
    }
}

/// Spawns `make(i)` for every session and collects the reports, giving up at
/// `timeout` (sessions still running then are reported as missing).
pub(crate) async fn spawn_all<F>(
    runtime: &Arc<dyn Runtime>,
    sessions: usize,
    timeout: Duration,
    make: impl Fn(usize) -> F,
) -> Vec<SessionReport>
where
    F: Future<Output = SessionReport> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded();
    for i in 0..sessions {
        let tx = tx.clone();
        let task = make(i);
        runtime.spawn(Box::pin(async move {
            let _ = tx.unbounded_send(task.await);
        }));
    }
    drop(tx);
    let mut reports = Vec::with_capacity(sessions);
    let deadline = Box::pin(session::sleep(runtime.as_ref(), timeout));
    let mut deadline = deadline;
    while reports.len() < sessions {
        match select(rx.next(), deadline).await {
            Either::Left((Some(report), rest)) => {
                reports.push(report);
                deadline = rest;
            }
            Either::Left((None, _)) | Either::Right(_) => break,
        }
    }
    reports
}

/// The streaming load test.
pub(crate) fn run(args: &Args) -> Result<ExitCode, String> {
    let (server, base_url) = Server::start(args)?;
    let plan = Arc::new(Plan {
        base_url,
        websocket: args.websocket(),
        turns: args.turns,
        requests: args.requests,
        deltas: args.deltas,
    });
    let sessions = args.sessions;
    let ramp = Duration::from_millis(args.ramp_ms);
    let timeout = Duration::from_secs(args.timeout_secs);
    let (baseline, reports, elapsed, client_cpu) =
        with_runtime(args.runtime, args.threads, |runtime| {
            let plan = plan.clone();
            async move {
                let baseline = memory::own();
                let cpu_before = memory::cpu_seconds("self");
                let start = runtime.now();
                let reports = spawn_all(&runtime, sessions, timeout, |i| {
                    let delay = ramp.mul_f64(i as f64 / sessions.max(1) as f64);
                    session::conversation(runtime.clone(), plan.clone(), i, delay)
                })
                .await;
                let elapsed = runtime.now().saturating_duration_since(start);
                let cpu = memory::cpu_seconds("self") - cpu_before;
                (baseline, reports, elapsed, cpu)
            }
        })?;
    let own = memory::own();
    let server_memory = server.process_memory();
    let server_cpu = server.process_cpu_seconds();
    let served = server.stop();

    let mut problems = Problems::default();
    let mut events = 0;
    let mut ttfe = Vec::new();
    let mut numbers = Vec::new();
    let finished = reports.len();
    for report in reports {
        events += report.events;
        ttfe.extend(report.ttfe_us);
        numbers.extend(report.numbers);
        problems.merge(report.problems);
    }
    if finished < sessions {
        problems.push(format!(
            "{} sessions did not finish within {timeout:?}",
            sessions - finished
        ));
    }
    if served.violations > 0 {
        problems.push(format!(
            "the server saw {} protocol violations",
            served.violations
        ));
    }
    let expected_requests = args.total_requests();
    let exactness = check::exactness(numbers, expected_requests);
    ttfe.sort_unstable();
    let figures = Figures {
        args: args.clone(),
        events,
        expected_events: (expected_requests * crate::script::events_per_response(args.deltas))
            as u64,
        elapsed,
        ttfe_p50_us: report::percentile(&ttfe, 50.0),
        ttfe_p99_us: report::percentile(&ttfe, 99.0),
        baseline_kib: baseline.rss,
        peak_kib: own.peak,
        server_peak_kib: server_memory.map(|m| m.peak),
        client_cpu,
        server_cpu,
        exactness,
        served,
        problems,
    };
    figures.print();
    Ok(if figures.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
