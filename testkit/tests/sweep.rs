//! The seed sweep: thousands of small simulated sessions with random configurations
//! (both transports, both WebSocket protocols, preconnect on and off, random budgets,
//! timeouts and cooldowns), random multi-turn scripts and random fault schedules, each
//! checked against every invariant of the checker. `TURNWIRE_SWEEP=N` runs N sessions
//! instead of the default; `TURNWIRE_SWEEP_START=S` starts at seed S.

#![allow(clippy::print_stderr)]

use turnwire_testkit::sim::SimOptions;
use turnwire_testkit::sim::script::{SessionScript, run};

const DEFAULT_SESSIONS: u64 = 10_000;

fn env_u64(name: &str) -> Option<u64> {
    #[allow(clippy::disallowed_methods)]
    let value = std::env::var(name).ok()?;
    value.trim().parse().ok()
}

fn sweep_options() -> SimOptions {
    SimOptions {
        record_trace: false,
        record_inputs: false,
        ..SimOptions::default()
    }
}

/// What a share of the sweep saw.
#[derive(Default)]
struct Tally {
    requests: usize,
    succeeded: usize,
    failed: usize,
    inputs: u64,
    fell_back: usize,
    failures: Vec<(u64, Vec<String>)>,
}

/// Runs the seeds `start + k·stride + offset` below `end`.
fn sweep_share(start: u64, end: u64, offset: u64, stride: u64) -> Tally {
    let mut tally = Tally::default();
    let mut seed = start + offset;
    while seed < end {
        let script = SessionScript::random(seed);
        let (_, report) = run(&script, sweep_options());
        tally.requests += report.requests;
        tally.succeeded += report.succeeded;
        tally.failed += report.failed;
        tally.inputs += report.inputs;
        tally.fell_back += usize::from(report.fell_back);
        if !report.violations.is_empty() {
            let shown = report.violations.iter().map(ToString::to_string).collect();
            tally.failures.push((seed, shown));
        }
        seed += stride;
    }
    tally
}

#[test]
fn seed_sweep_finds_no_invariant_violation() {
    let sessions = env_u64("TURNWIRE_SWEEP").unwrap_or(DEFAULT_SESSIONS);
    let start = env_u64("TURNWIRE_SWEEP_START").unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u64;
    #[allow(clippy::disallowed_methods)]
    let clock = std::time::Instant::now();
    let shares: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|offset| {
                scope.spawn(move || sweep_share(start, start + sessions, offset, threads))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a sweep thread panicked"))
            .collect()
    });
    let elapsed = clock.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for share in shares {
        all.requests += share.requests;
        all.succeeded += share.succeeded;
        all.failed += share.failed;
        all.inputs += share.inputs;
        all.fell_back += share.fell_back;
        all.failures.extend(share.failures);
    }
    all.failures.sort_by_key(|(seed, _)| *seed);
    eprintln!(
        "sweep: {sessions} sessions from seed {start} on {threads} threads in {elapsed:.1} s \
         ({:.0} sessions/s, {:.0} inputs/s); {} requests: {} succeeded, {} failed; \
         {} sessions fell back",
        sessions as f64 / elapsed,
        all.inputs as f64 / elapsed,
        all.requests,
        all.succeeded,
        all.failed,
        all.fell_back,
    );
    if !all.failures.is_empty() {
        let shown: Vec<String> = all
            .failures
            .iter()
            .take(10)
            .map(|(seed, v)| {
                let first: Vec<&str> = v.iter().take(3).map(String::as_str).collect();
                format!("seed {seed}:\n  {}", first.join("\n  "))
            })
            .collect();
        panic!(
            "{} of {sessions} sessions broke invariants (replay one with \
             `TURNWIRE_SEED=<seed> cargo test -p turnwire-testkit --test sweep replay_seed \
             -- --nocapture`):\n{}",
            all.failures.len(),
            shown.join("\n")
        );
    }
    // Every request ended one way or the other, and the sweep reached both kinds of
    // outcome and the fallback.
    assert_eq!(all.succeeded + all.failed, all.requests);
    assert!(sessions < 100 || (all.succeeded > 0 && all.failed > 0 && all.fell_back > 0));
}

/// Replays one seed with a full trace: `TURNWIRE_SEED=<seed> cargo test -p
/// turnwire-testkit --test sweep replay_seed -- --nocapture`.
#[test]
fn replay_seed() {
    let Some(seed) = env_u64("TURNWIRE_SEED") else {
        return;
    };
    let script = SessionScript::random(seed);
    eprintln!("{script:#?}");
    let (sim, report) = run(&script, SimOptions::default());
    for line in sim.trace() {
        eprintln!("{line}");
    }
    for v in &report.violations {
        eprintln!("VIOLATION {v}");
    }
    assert!(report.violations.is_empty());
}
