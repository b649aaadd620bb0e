//! Percentiles and the printed report.

use std::time::Duration;

use crate::args::Args;
use crate::check::{Exactness, Problems};
use crate::server::Served;

/// The `p`th percentile (nearest rank) of sorted `values`; 0 when empty.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a streaming run measured.
pub(crate) struct Figures {
    pub(crate) args: Args,
    pub(crate) events: u64,
    pub(crate) expected_events: u64,
    pub(crate) elapsed: Duration,
    pub(crate) ttfe_p50_us: u64,
    pub(crate) ttfe_p99_us: u64,
    pub(crate) baseline_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) server_peak_kib: Option<u64>,
    /// CPU seconds the client used during the run.
    pub(crate) client_cpu: f64,
    /// CPU seconds the server process used in all (start-up included).
    pub(crate) server_cpu: Option<f64>,
    pub(crate) exactness: Exactness,
    pub(crate) served: Served,
    pub(crate) problems: Problems,
}

impl Figures {
    /// True when every event arrived exactly once and nothing went wrong.
    pub(crate) fn passed(&self) -> bool {
        self.problems.count == 0
            && self.exactness
                == (Exactness {
                    lost: 0,
                    duplicated: 0,
                })
            && self.events == self.expected_events
    }

    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn per_session_kib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / self.args.sessions.max(1) as f64
    }

    pub(crate) fn print(&self) {
        let a = &self.args;
        println!(
            "turnwire-load: {} sessions × {} turns × {} requests ({} deltas each) over {} on {} ({} threads), server in a {}",
            a.sessions,
            a.turns,
            a.requests,
            a.deltas,
            a.transport.name(),
            a.runtime.name(),
            a.threads,
            match a.server {
                crate::args::ServerPlacement::Process => "child process",
                crate::args::ServerPlacement::Thread => "thread",
            }
        );
        println!(
            "  events        {} of {} expected in {:.2} s = {:.0} events/s",
            self.events,
            self.expected_events,
            self.elapsed.as_secs_f64(),
            self.events_per_second()
        );
        println!(
            "  first event   p50 {} p99 {}",
            micros(self.ttfe_p50_us),
            micros(self.ttfe_p99_us)
        );
        println!(
            "  client memory baseline {} MiB, peak (VmHWM) {} MiB, {:.1} KiB per session",
            mib(self.baseline_kib),
            mib(self.peak_kib),
            self.per_session_kib()
        );
        if let Some(server) = self.server_peak_kib {
            println!("  server memory peak (VmHWM) {} MiB", mib(server));
        }
        println!(
            "  CPU           client {:.2} s ({:.1} µs per event){}",
            self.client_cpu,
            self.client_cpu * 1e6 / self.events.max(1) as f64,
            match self.server_cpu {
                Some(cpu) => format!(", server {cpu:.2} s"),
                None => String::new(),
            }
        );
        println!(
            "  server saw    {} POSTs, {} WebSocket handshakes, {} WebSocket messages, {} violations",
            self.served.posts,
            self.served.handshakes,
            self.served.ws_messages,
            self.served.violations
        );
        println!(
            "  exactness     lost {} duplicated {} (of {} responses); problems {}",
            self.exactness.lost,
            self.exactness.duplicated,
            a.total_requests(),
            self.problems.count
        );
        for p in &self.problems.first {
            println!("    - {p}");
        }
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {}/{} |",
            a.sessions,
            a.runtime.name(),
            a.transport.name(),
            self.events_per_second(),
            micros(self.ttfe_p50_us),
            micros(self.ttfe_p99_us),
            mib(self.peak_kib),
            self.per_session_kib(),
            self.exactness.lost,
            self.exactness.duplicated,
        );
        println!("{}", if self.passed() { "PASS" } else { "FAIL" });
    }
}

/// Microseconds as a readable duration.
pub(crate) fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
