//! Random caller scripts for sweeps and property tests: a configuration, a fault
//! schedule and a sequence of turns and requests, all drawn from one seed, and a runner
//! that plays a script in the simulator and reports what happened.

use core::time::Duration;
use serde_json::Value;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    PrewarmSpec, RequestInput, RequestSpec, TurnHistory, TurnOptions,
};

use super::auth::AuthAnswer;
use super::{
    FaultConfig, RequestOutcome, SimOptions, Simulator, Terminal, Violation, params, sim_config,
};
use crate::rng::{Draws, SplitMix64};
use crate::wire;

/// How a request's input is built from the turn's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputPlan {
    /// `Append` of `n` new user items.
    Append(usize),
    /// `Replace` with the whole history plus `n` new items (a prefix, incremental).
    ReplaceExtending(usize),
    /// `Replace` with the first `keep` percent of the history plus `n` new items.
    ReplacePrefix {
        /// Percentage of the history kept.
        keep: u8,
        /// New items.
        n: usize,
    },
    /// `Replace` with exactly the history (not strictly longer: never incremental).
    ReplaceSame,
}

/// One request of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPlan {
    /// Its input.
    pub input: InputPlan,
    /// Its instructions (a change from the previous request's forbids incremental).
    pub instructions: Option<String>,
    /// Cancel it after this long, if still running.
    pub cancel_after: Option<Duration>,
    /// Cancel by ending the turn instead of cancelling the request (later requests
    /// of the turn are then refused and skipped).
    pub cancel_by_ending_turn: bool,
}

/// Where a scripted turn's history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnStart {
    /// An empty history.
    Fresh,
    /// `TurnHistory::Continue`: the previous turn's history, its requests `Append`ing.
    Continue,
    /// An empty history, the first request a `Replace` with the whole conversation so
    /// far plus new items (the session compares it with the adopted socket's chain).
    FreshCarrying,
}

/// One turn of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnPlan {
    /// Where its history starts.
    pub start: TurnStart,
    /// Virtual time that passes before the turn starts.
    pub gap_before: Duration,
    /// Feed `Preconnect` just before the turn.
    pub preconnect_before: bool,
    /// Turn metadata.
    pub metadata: Option<String>,
    /// Its requests, run one after the other.
    pub requests: Vec<RequestPlan>,
    /// End the turn explicitly afterwards.
    pub end_turn: bool,
}

/// A whole session's script.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionScript {
    /// The session's jitter seed.
    pub seed: u64,
    /// The configuration.
    pub config: Config,
    /// Whether the auth source can refresh.
    pub auth_refreshable: bool,
    /// Whether the first refresh fails.
    pub first_refresh_fails: bool,
    /// The fault schedule.
    pub faults: FaultConfig,
    /// Feed `Preconnect` at session start.
    pub preconnect: bool,
    /// Feed `Prewarm` with this many prefix items at session start.
    pub prewarm: Option<usize>,
    /// The turns, one after the other.
    pub turns: Vec<TurnPlan>,
    /// A turn that runs alongside all of them (its requests one after the other), so
    /// that two turns have requests in flight at once.
    pub background: Option<TurnPlan>,
}

impl SessionScript {
    /// A random but small session from `seed`: either transport, either WebSocket
    /// protocol, preconnect on or off, random budgets, timeouts, cooldown and faults,
    /// one to three turns of one to three requests.
    pub fn random(seed: u64) -> SessionScript {
        let mut rng = SplitMix64::fork(seed, 0x5C21);
        let websockets = rng.chance(65);
        let idle = rng.millis(5_000, 60_000);
        let base = rng.millis(50, 300);
        let config = Config {
            websockets,
            ws_protocol: if rng.chance(50) {
                WsProtocol::V1
            } else {
                WsProtocol::V2
            },
            preconnect: Some(rng.chance(50)),
            prewarm: Some(rng.chance(60)),
            ws_keepalive_interval: rng.millis(5_000, 60_000),
            ws_unreachable_fallback_after: rng.range(0, 3) as u32,
            request_max_retries: rng.range(0, 2) as u32,
            stream_max_retries: rng.range(0, 3) as u32,
            stream_idle_timeout: idle,
            connect_timeout: rng.millis(2_000, 15_000),
            retry_base_delay: base,
            max_backoff: base.saturating_mul(rng.range(1, 20) as u32),
            fallback_cooldown: rng.chance(20).then(|| rng.millis(10_000, 120_000)),
            retry_after_partial_output: rng.chance(85),
            request_compression: rng.chance(25),
            preconnect_max_idle: if rng.chance(20) {
                rng.millis(30_000, 300_000)
            } else {
                Duration::from_secs(55 * 60)
            },
            ..sim_config()
        };
        let preconnect = config.preconnect_enabled() && rng.chance(80);
        let prewarm = (websockets && rng.chance(40)).then(|| rng.range(0, 3) as usize);
        let faults = FaultConfig::random(seed, idle);
        let turns = (0..rng.range(1, 3))
            .map(|_| random_turn(&mut rng, websockets))
            .collect();
        let background = rng.chance(20).then(|| random_turn(&mut rng, websockets));
        SessionScript {
            seed,
            config,
            auth_refreshable: rng.chance(80),
            first_refresh_fails: rng.chance(10),
            faults,
            preconnect,
            prewarm,
            turns,
            background,
        }
    }
}

fn random_turn(rng: &mut SplitMix64, websockets: bool) -> TurnPlan {
    let requests = (0..rng.range(1, 3))
        .map(|_| RequestPlan {
            input: match rng.below(10) {
                0..=5 => InputPlan::Append(rng.range(1, 2) as usize),
                6 => InputPlan::ReplaceExtending(1),
                7 => InputPlan::ReplacePrefix {
                    keep: rng.range(0, 99) as u8,
                    n: rng.range(0, 2) as usize,
                },
                8 => InputPlan::ReplaceSame,
                _ => InputPlan::Append(1),
            },
            instructions: rng.chance(15).then(|| "be brief".to_owned()),
            cancel_after: rng.chance(5).then(|| rng.millis(0, 3_000)),
            cancel_by_ending_turn: rng.chance(30),
        })
        .collect();
    TurnPlan {
        start: match rng.below(10) {
            0..=3 => TurnStart::Continue,
            4 | 5 => TurnStart::FreshCarrying,
            _ => TurnStart::Fresh,
        },
        gap_before: if rng.chance(30) {
            rng.millis(0, 200_000)
        } else {
            rng.millis(0, 100)
        },
        preconnect_before: websockets && rng.chance(10),
        metadata: rng.chance(20).then(|| "meta-1".to_owned()),
        requests,
        end_turn: rng.chance(80),
    }
}

/// What running a script produced.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Requests started.
    pub requests: usize,
    /// Requests that completed (or ended incomplete).
    pub succeeded: usize,
    /// Requests that failed (cancellations included).
    pub failed: usize,
    /// Inputs fed to the session.
    pub inputs: u64,
    /// Virtual time the session lasted.
    pub virtual_time: Duration,
    /// Whether the session fell back to HTTP.
    pub fell_back: bool,
}

/// Plays `script` in a fresh simulator and reports. `options` controls tracing.
pub fn run(script: &SessionScript, options: SimOptions) -> (Simulator, RunReport) {
    let mut p = params(script.config.clone(), script.seed);
    p.auth_refreshable = script.auth_refreshable;
    let mut sim = match Simulator::with_params(p, Some(&script.faults), options) {
        Ok(sim) => sim,
        Err(err) => panic!("a random script made an invalid configuration: {err}"),
    };
    if script.first_refresh_fails {
        sim.auth_mut().push(AuthAnswer::Fail {
            message: "refresh token revoked".into(),
            latency: Duration::from_millis(20),
        });
    }
    if script.preconnect {
        sim.preconnect();
    }
    // The conversation a `Continue` turn starts from, as the session keeps it.
    let mut latest: Vec<Value> = Vec::new();
    if let Some(n) = script.prewarm {
        let mut counter = 0usize;
        let prefix: Vec<Value> = (0..n)
            .map(|_| {
                counter += 1;
                wire::user(&format!("prefix-{counter}"))
            })
            .collect();
        sim.prewarm(PrewarmSpec {
            fields: RequestFields::new("gpt-sim"),
            input: wire::items(prefix.clone()),
        });
        if script.config.prewarm_enabled() {
            latest = prefix;
        }
    }
    let mut counter = 0usize;
    let mut tally = Tally::default();
    let mut background = script.background.as_ref().map(|plan| Background {
        turn: sim.start_turn_with(TurnOptions {
            metadata: plan.metadata.clone(),
            ..TurnOptions::default()
        }),
        plans: plan.requests.iter().cloned().collect(),
        history: Vec::new(),
        current: None,
    });
    let pump = |sim: &mut Simulator,
                bg: &mut Option<Background>,
                counter: &mut usize,
                tally: &mut Tally| {
        if let Some(bg) = bg.as_mut() {
            bg.pump(sim, counter, tally);
        }
    };
    pump(&mut sim, &mut background, &mut counter, &mut tally);
    for plan in &script.turns {
        sim.advance(plan.gap_before);
        if plan.preconnect_before {
            sim.preconnect();
        }
        let continuing = plan.start == TurnStart::Continue;
        let turn = sim.start_turn_with(TurnOptions {
            metadata: plan.metadata.clone(),
            history: if continuing {
                TurnHistory::Continue
            } else {
                TurnHistory::Fresh
            },
        });
        let mut history: Vec<Value> = if continuing {
            std::mem::take(&mut latest)
        } else {
            Vec::new()
        };
        let mut requested = false;
        let mut ended = false;
        for (i, request) in plan.requests.iter().enumerate() {
            let (input, intended) = if i == 0 && plan.start == TurnStart::FreshCarrying {
                build_input(&InputPlan::ReplaceExtending(1), &latest, &mut counter)
            } else {
                build_input(&request.input, &history, &mut counter)
            };
            requested = true;
            let Ok(id) = sim.start_request(turn, spec(request, input)) else {
                break;
            };
            tally.requests += 1;
            if let Some(delay) = request.cancel_after {
                sim.advance(delay);
                if sim
                    .outcome(id)
                    .is_some_and(|o| o.terminal == Terminal::Unfinished)
                {
                    if request.cancel_by_ending_turn {
                        ended = sim.end_turn(turn).is_ok();
                        latest = intended.clone();
                    } else {
                        let _ = sim.cancel(id);
                    }
                }
            }
            let outcome = sim.run_until_done(id);
            tally.count(&outcome);
            history = history_after(intended, &outcome);
            pump(&mut sim, &mut background, &mut counter, &mut tally);
        }
        if plan.end_turn && !ended {
            let _ = sim.end_turn(turn);
            if requested || !history.is_empty() {
                latest = history;
            }
        }
    }
    while let Some(id) = background
        .as_ref()
        .and_then(|bg| bg.current.as_ref().map(|c| c.0))
    {
        sim.run_until_done(id);
        pump(&mut sim, &mut background, &mut counter, &mut tally);
        if sim
            .outcome(id)
            .is_some_and(|o| o.terminal == Terminal::Unfinished)
        {
            break;
        }
    }
    sim.run_until_idle();
    let violations = sim.finish();
    let report = RunReport {
        violations,
        requests: tally.requests,
        succeeded: tally.succeeded,
        failed: tally.failed,
        inputs: sim.input_count(),
        virtual_time: sim.now() - turnwire_protocol::time::Instant::ZERO,
        fell_back: sim.session().websocket_disabled(),
    };
    (sim, report)
}

/// Outcome counts.
#[derive(Default)]
struct Tally {
    requests: usize,
    succeeded: usize,
    failed: usize,
}

impl Tally {
    fn count(&mut self, outcome: &RequestOutcome) {
        match &outcome.terminal {
            Terminal::Completed { .. } | Terminal::Incomplete { .. } => self.succeeded += 1,
            Terminal::Failed(_) => self.failed += 1,
            Terminal::Unfinished => {}
        }
    }
}

/// The request spec of a plan.
fn spec(plan: &RequestPlan, input: RequestInput) -> RequestSpec {
    let fields = RequestFields {
        instructions: plan.instructions.clone(),
        ..RequestFields::new("gpt-sim")
    };
    RequestSpec { fields, input }
}

/// The background turn: its remaining requests and the one in flight.
struct Background {
    turn: turnwire_protocol::session::TurnId,
    plans: std::collections::VecDeque<RequestPlan>,
    history: Vec<Value>,
    current: Option<(turnwire_protocol::session::RequestId, Vec<Value>)>,
}

impl Background {
    /// Notes the outcome of the request in flight, if it ended, and starts the next.
    fn pump(&mut self, sim: &mut Simulator, counter: &mut usize, tally: &mut Tally) {
        if let Some((id, intended)) = &self.current {
            let Some(outcome) = sim.outcome(*id) else {
                return;
            };
            if outcome.terminal == Terminal::Unfinished {
                return;
            }
            tally.count(&outcome);
            self.history = history_after(intended.clone(), &outcome);
            self.current = None;
        }
        let Some(plan) = self.plans.pop_front() else {
            return;
        };
        let (input, intended) = build_input(&plan.input, &self.history, counter);
        if let Ok(id) = sim.start_request(self.turn, spec(&plan, input)) {
            tally.requests += 1;
            self.current = Some((id, intended));
        }
    }
}

fn new_items(n: usize, counter: &mut usize) -> Vec<Value> {
    (0..n)
        .map(|_| {
            *counter += 1;
            wire::user(&format!("u{counter}"))
        })
        .collect()
}

/// The request input for a plan and the full input it stands for.
fn build_input(
    plan: &InputPlan,
    history: &[Value],
    counter: &mut usize,
) -> (RequestInput, Vec<Value>) {
    let replace = |items: Vec<Value>| (RequestInput::Replace(wire::items(items.clone())), items);
    match *plan {
        InputPlan::Append(n) => {
            let items = new_items(n, counter);
            let mut full = history.to_vec();
            full.extend(items.iter().cloned());
            (RequestInput::Append(wire::items(items)), full)
        }
        InputPlan::ReplaceExtending(n) => {
            let mut full = history.to_vec();
            full.extend(new_items(n, counter));
            replace(full)
        }
        InputPlan::ReplacePrefix { keep, n } => {
            let kept = history.len() * usize::from(keep) / 100;
            let mut full = history[..kept].to_vec();
            full.extend(new_items(n.max(usize::from(kept == 0)), counter));
            replace(full)
        }
        InputPlan::ReplaceSame => {
            if history.is_empty() {
                replace(new_items(1, counter))
            } else {
                replace(history.to_vec())
            }
        }
    }
}

/// The turn's history after a request: its input, plus the output items of its final
/// attempt when it completed or ended incomplete.
fn history_after(mut intended: Vec<Value>, outcome: &RequestOutcome) -> Vec<Value> {
    if matches!(
        outcome.terminal,
        Terminal::Completed { .. } | Terminal::Incomplete { .. }
    ) {
        let restart = outcome
            .events
            .iter()
            .rposition(|e| {
                matches!(
                    e,
                    ResponseEvent::Reconnecting { .. } | ResponseEvent::FallbackActivated { .. }
                )
            })
            .map_or(0, |i| i + 1);
        for event in &outcome.events[restart..] {
            if let ResponseEvent::OutputItemDone { item } = event {
                intended.push(wire::item_json(item));
            }
        }
    }
    intended
}
