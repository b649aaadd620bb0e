//! Timing and runtimes shared by the loopback benches: a section's wall-clock and
//! process CPU time, and the async runtime a bench drives the client on.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use turnwire_smol::SmolRuntime;
use turnwire_tokio::TokioRuntime;
use turnwire_transports::Runtime;

/// One timed section: wall-clock time, and CPU time of the whole process (every
/// thread: the bench thread, the runtime's, the in-process server's).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timing {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
}

impl std::ops::AddAssign for Timing {
    fn add_assign(&mut self, other: Timing) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// Starts timing a section; [`Stopwatch::stop`] ends it.
pub(crate) struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub(crate) fn start() -> Stopwatch {
        Stopwatch {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    pub(crate) fn stop(self) -> Timing {
        let wall = self.wall.elapsed();
        Timing {
            wall,
            cpu: process_cpu_time().saturating_sub(self.cpu),
        }
    }
}

/// CPU time the process has used so far, all threads (exited ones too) included.
#[cfg(unix)]
pub(crate) fn process_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// No process CPU clock here: the CPU columns read zero.
#[cfg(not(unix))]
pub(crate) fn process_cpu_time() -> Duration {
    Duration::ZERO
}

/// An async runtime for the driver and the raw readers, with one background thread.
pub(crate) enum Harness {
    Tokio(tokio::runtime::Runtime),
    Smol,
}

impl Harness {
    pub(crate) fn tokio() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Harness::Tokio(runtime)
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Harness::Tokio(_) => "tokio",
            Harness::Smol => "smol",
        }
    }

    pub(crate) fn runtime(&self) -> Arc<dyn Runtime> {
        match self {
            Harness::Tokio(runtime) => {
                Arc::new(TokioRuntime::with_handle(runtime.handle().clone()))
            }
            Harness::Smol => Arc::new(SmolRuntime::global()),
        }
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Harness::Tokio(runtime) => runtime.block_on(future),
            Harness::Smol => smol::block_on(future),
        }
    }
}

/// The timings criterion measured per key (every call of a bench routine, warm-up
/// included), kept so a bench can print ratios of the same run at the end.
#[derive(Default)]
pub(crate) struct Timings {
    calls: Mutex<BTreeMap<String, Vec<(u64, Timing)>>>,
}

impl Timings {
    /// Records one call of `key`'s routine: `iters` iterations took `total`.
    pub(crate) fn record(&self, key: &str, iters: u64, total: Timing) {
        if let Ok(mut calls) = self.calls.lock() {
            calls
                .entry(key.to_owned())
                .or_default()
                .push((iters, total));
        }
    }

    /// Seconds per iteration of the part of a timing `of` picks, as criterion
    /// estimates it (the least-squares slope through the origin; with flat sampling,
    /// the mean), over the last `samples` calls (the measurement; earlier calls were
    /// the warm-up). `None` when `key` was never recorded.
    pub(crate) fn slope(
        &self,
        key: &str,
        samples: usize,
        of: impl Fn(&Timing) -> Duration,
    ) -> Option<f64> {
        let calls = self.calls.lock().ok()?;
        let calls = calls.get(key)?;
        let measured = &calls[calls.len().saturating_sub(samples)..];
        let (xy, xx) = measured.iter().fold((0.0, 0.0), |(xy, xx), (n, t)| {
            let n = *n as f64;
            (xy + n * of(t).as_secs_f64(), xx + n * n)
        });
        (xx > 0.0).then(|| xy / xx)
    }
}
