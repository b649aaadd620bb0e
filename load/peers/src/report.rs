//! The side-by-side tables (Markdown), one per case, from every repetition.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Peer;
use crate::case::Case;
use crate::measure::{Rep, median, quantile};

/// Every repetition, by case name and client.
#[derive(Default)]
pub(crate) struct Results {
    reps: BTreeMap<(String, Peer), Vec<Rep>>,
}

impl Results {
    /// Records one repetition.
    pub(crate) fn add(&mut self, case: &Case, peer: Peer, rep: Rep) {
        self.reps.entry((case.name(), peer)).or_default().push(rep);
    }
}

/// One client's figures on one case.
struct Row {
    events_per_sec: f64,
    cpu_us_per_event: f64,
    first_p50: Duration,
    first_p99: Duration,
    connections: f64,
    allocs_per_event: Option<f64>,
}

fn row(case: &Case, reps: &[Rep]) -> Row {
    let events = case.total_events() as f64;
    let mut rates: Vec<f64> = reps.iter().map(|r| events / r.wall.as_secs_f64()).collect();
    let mut cpu: Vec<f64> = reps
        .iter()
        .map(|r| r.cpu.as_secs_f64() * 1e6 / events)
        .collect();
    let mut firsts: Vec<Duration> = reps.iter().flat_map(|r| r.first_events.clone()).collect();
    let mut connections: Vec<f64> = reps.iter().map(|r| r.connections as f64).collect();
    let mut allocs: Vec<f64> = reps
        .iter()
        .filter_map(|r| r.allocations)
        .map(|a| a as f64 / events)
        .collect();
    Row {
        events_per_sec: median(&mut rates),
        cpu_us_per_event: median(&mut cpu),
        first_p50: quantile(&mut firsts, 0.5),
        first_p99: quantile(&mut firsts, 0.99),
        connections: median(&mut connections),
        allocs_per_event: (!allocs.is_empty()).then(|| median(&mut allocs)),
    }
}

/// Prints a table per case, then turnwire's ratios against the best peer.
pub(crate) fn print(reps: usize, cases: &[Case], peers: &[Peer], results: &Results) {
    println!(
        "medians over {reps} interleaved repetitions; time to first event over every request of every repetition"
    );
    for case in cases {
        let rows: Vec<(Peer, Row)> = peers
            .iter()
            .filter_map(|&peer| {
                let reps = results.reps.get(&(case.name(), peer))?;
                Some((peer, row(case, reps)))
            })
            .collect();
        let Some((_, reference)) = rows.iter().find(|(p, _)| *p == Peer::TurnwireTokio) else {
            continue;
        };
        println!();
        println!(
            "### {}: {} request(s) × {} events ({} text deltas each)",
            case.name(),
            case.requests,
            case.events_per_request(),
            case.response.deltas
        );
        println!();
        println!(
            "| client | events/s | turnwire (tokio) is | CPU µs/event | first event p50 / p99 µs | connections | allocations/event |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (peer, row) in &rows {
            let ratio = if *peer == Peer::TurnwireTokio {
                String::new()
            } else {
                format!("{:.2}×", reference.events_per_sec / row.events_per_sec)
            };
            let allocs = row
                .allocs_per_event
                .map_or_else(|| "–".to_owned(), |a| format!("{a:.2}"));
            println!(
                "| {} | {:.0}k | {ratio} | {:.2} | {} / {} | {} | {allocs} |",
                peer.label(),
                row.events_per_sec / 1e3,
                row.cpu_us_per_event,
                row.first_p50.as_micros(),
                row.first_p99.as_micros(),
                row.connections,
            );
        }
        let best_peer = rows
            .iter()
            .filter(|(p, _)| !p.is_turnwire() && !p.is_floor())
            .max_by(|a, b| a.1.events_per_sec.total_cmp(&b.1.events_per_sec));
        if let Some((peer, best)) = best_peer {
            println!();
            println!(
                "turnwire (tokio) against the best peer ({}): {:.2}× its events/s, {:.2}× its CPU per event",
                peer.label(),
                reference.events_per_sec / best.events_per_sec,
                reference.cpu_us_per_event / best.cpu_us_per_event
            );
        }
    }
}
