//! What one repetition of one client measures, and the statistics over repetitions.

use std::time::{Duration, Instant};

/// One repetition: wall-clock and client CPU time from the first request's start to
/// the last event, and each request's time to its first event.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rep {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) first_events: Vec<Duration>,
    /// Connections the server accepted during the repetition.
    pub(crate) connections: u64,
    /// Heap allocations during the repetition (only with `count-allocations`).
    pub(crate) allocations: Option<u64>,
}

/// Times a repetition; [`Stopwatch::stop`] ends it.
pub(crate) struct Stopwatch {
    wall: Instant,
    cpu: Duration,
    allocations: Option<u64>,
}

impl Stopwatch {
    /// Starts the clocks.
    pub(crate) fn start() -> Stopwatch {
        Stopwatch {
            allocations: crate::alloc::count(),
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// Stops the clocks; `first_events` are the requests' times to first event.
    pub(crate) fn stop(self, first_events: Vec<Duration>) -> Rep {
        let wall = self.wall.elapsed();
        let cpu = process_cpu_time().saturating_sub(self.cpu);
        let allocations = crate::alloc::count()
            .zip(self.allocations)
            .map(|(end, start)| end - start);
        Rep {
            wall,
            cpu,
            first_events,
            connections: 0,
            allocations,
        }
    }
}

/// Times one request's first event.
pub(crate) struct FirstEvent {
    start: Instant,
    seen: Option<Duration>,
}

impl FirstEvent {
    /// Call when the request starts.
    pub(crate) fn start() -> FirstEvent {
        FirstEvent {
            start: Instant::now(),
            seen: None,
        }
    }

    /// Call on every event; only the first one's time is kept.
    pub(crate) fn event(&mut self) {
        if self.seen.is_none() {
            self.seen = Some(self.start.elapsed());
        }
    }

    /// The time to the first event (the whole request's time if none came).
    pub(crate) fn finish(self) -> Duration {
        self.seen.unwrap_or_else(|| self.start.elapsed())
    }
}

/// CPU time the process has used so far, all threads included.
#[cfg(unix)]
fn process_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// No process CPU clock here: CPU figures read zero.
#[cfg(not(unix))]
fn process_cpu_time() -> Duration {
    Duration::ZERO
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
pub(crate) fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut values: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        assert_eq!(quantile(&mut values, 0.5), Duration::from_micros(50));
        assert_eq!(quantile(&mut values, 0.99), Duration::from_micros(99));
        assert_eq!(quantile(&mut values, 1.0), Duration::from_micros(100));
        assert_eq!(quantile(&mut [], 0.5), Duration::ZERO);
    }
}
