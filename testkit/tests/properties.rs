//! Property tests of the session in the simulator. Each property computes what it
//! expects from the recorded wire traffic, inputs and caller transcript itself, apart
//! from the simulator's built-in checker (which must also stay silent).

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;
use proptest::prelude::*;
use serde_json::Value;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{Input, RequestId, RequestInput, RequestSpec, Telemetry};
use turnwire_protocol::time::Instant;
use turnwire_testkit::sim::script::{SessionScript, run};
use turnwire_testkit::sim::server::header_text;
use turnwire_testkit::sim::{
    End, FaultConfig, RecordedInput, Reply, SimOptions, Simulator, Step, WsKind, params, replay,
    sim_config,
};
use turnwire_testkit::wire::{self, ev, user};

/// `n` cases, or `TURNWIRE_PROPTEST_CASES` when set (for longer local runs).
fn cases(n: u32) -> ProptestConfig {
    #[allow(clippy::disallowed_methods)]
    let from_env = std::env::var("TURNWIRE_PROPTEST_CASES").ok();
    ProptestConfig {
        cases: from_env.and_then(|v| v.parse().ok()).unwrap_or(n),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A random script from `seed`, with some settings chosen by proptest (so shrinking
/// has something to work on).
fn script_with(seed: u64, websockets: bool, v1: bool, stream_retries: u32) -> SessionScript {
    let mut script = SessionScript::random(seed);
    script.config.websockets = websockets;
    script.config.ws_protocol = if v1 { WsProtocol::V1 } else { WsProtocol::V2 };
    script.config.stream_max_retries = stream_retries;
    script.preconnect &= websockets;
    script
}

fn traced() -> SimOptions {
    SimOptions {
        record_trace: false,
        ..SimOptions::default()
    }
}

fn first_violations(sim: &Simulator) -> String {
    let v: Vec<String> = sim
        .violations()
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect();
    v.join("\n")
}

proptest! {
    #![proptest_config(cases(48))]

    /// Every request ends in exactly one terminal outcome (completed, incomplete or an
    /// error), and the caller sees nothing of it afterwards.
    #[test]
    fn every_request_ends_in_exactly_one_terminal_outcome(
        seed in any::<u64>(), websockets in any::<bool>(), v1 in any::<bool>(),
        retries in 0u32..4,
    ) {
        let script = script_with(seed, websockets, v1, retries);
        let (sim, report) = run(&script, traced());
        let mut terminals: BTreeMap<RequestId, usize> = BTreeMap::new();
        for entry in sim.transcript() {
            let count = terminals.entry(entry.request).or_default();
            prop_assert_eq!(*count, 0, "{:?} after the terminal of {:?}", entry.what, entry.request);
            let terminal = match &entry.what {
                Ok(event) => event.is_terminal(),
                Err(_) => true,
            };
            *count += usize::from(terminal);
        }
        // Requests are numbered from 1 in the order they started.
        let expected: Vec<RequestId> = (1..=report.requests as u64).map(RequestId).collect();
        let ended: Vec<RequestId> = terminals.iter().filter(|(_, n)| **n == 1).map(|(id, _)| *id).collect();
        prop_assert_eq!(ended, expected);
        prop_assert!(report.violations.is_empty(), "{}", first_violations(&sim));
    }

    /// After each drain, `poll_timeout` is never before the current time, virtual time
    /// never goes backwards, and the session never needs the same instant's timeout
    /// over and over (no livelock). Checked by replaying the recorded inputs into a
    /// fresh session.
    #[test]
    fn deadlines_never_lie_in_the_past_and_time_advances(
        seed in any::<u64>(), websockets in any::<bool>(), v1 in any::<bool>(),
        retries in 0u32..4,
    ) {
        let script = script_with(seed, websockets, v1, retries);
        let (sim, report) = run(&script, traced());
        prop_assert!(report.violations.is_empty(), "{}", first_violations(&sim));
        let mut session = turnwire_protocol::session::Session::new(sim.params().clone()).unwrap();
        let mut last = Instant::ZERO;
        let mut timeouts_here = 0u32;
        let mut inputs_here = 0u32;
        for RecordedInput { now, input } in sim.inputs() {
            prop_assert!(now.instant >= last, "time went backwards");
            if now.instant == last {
                inputs_here += 1;
            } else {
                inputs_here = 0;
                timeouts_here = 0;
            }
            prop_assert!(inputs_here < 50_000, "too many inputs at {:?}", now.instant);
            last = now.instant;
            let is_timeout = matches!(input, Input::Timeout);
            let _ = session.handle_input(*now, input.clone());
            while session.poll_output().is_some() {}
            if let Some(deadline) = session.poll_timeout() {
                prop_assert!(deadline >= now.instant, "deadline {:?} before now {:?}", deadline, now.instant);
                if is_timeout && deadline == now.instant {
                    timeouts_here += 1;
                    prop_assert!(timeouts_here <= 3, "timeouts repeat at {:?}", now.instant);
                }
            }
        }
    }

    /// Stream retries count 1, 2, … and never exceed `stream_max_retries` within one
    /// transport phase (the fallback starts a fresh one), every delay lies within
    /// `min(max_backoff, base·2^(n-1))·[0.9, 1.1)` or is a delay the server asked
    /// for, and the next attempt does not start before the delay is over.
    #[test]
    fn stream_retries_stay_within_budget_and_delay_bounds(
        seed in any::<u64>(), websockets in any::<bool>(), v1 in any::<bool>(),
        retries in 0u32..5,
    ) {
        let script = script_with(seed, websockets, v1, retries);
        let (sim, report) = run(&script, traced());
        prop_assert!(report.violations.is_empty(), "{}", first_violations(&sim));
        let config = sim.session().config().clone();
        let requested = requested_delays(sim.inputs());
        let mut last: BTreeMap<RequestId, (u32, Instant)> = BTreeMap::new();
        for entry in sim.transcript() {
            match &entry.what {
                Ok(ResponseEvent::Reconnecting { attempt, max, delay, reason }) => {
                    let previous = last.get(&entry.request).map_or(0, |l| l.0);
                    prop_assert_eq!(*attempt, previous + 1);
                    prop_assert_eq!(*max, config.stream_max_retries);
                    prop_assert!(*attempt <= *max);
                    // A 401 after output is voided and refreshed at once.
                    let refresh = delay.is_zero() && reason.ends_with("refreshing credentials");
                    prop_assert!(
                        refresh || within_backoff(&config, *attempt, *delay) || requested.contains(delay),
                        "delay {:?} for retry {} is neither backoff nor requested ({:?})",
                        delay, attempt, requested
                    );
                    last.insert(entry.request, (*attempt, entry.at + *delay));
                }
                Ok(ResponseEvent::FallbackActivated { .. }) => {
                    last.insert(entry.request, (0, entry.at));
                }
                _ => {}
            }
        }
        // The next attempt of a request starts no earlier than its delay allows.
        let mut not_before: BTreeMap<RequestId, Instant> = BTreeMap::new();
        let mut reconnects = sim.transcript().iter().filter_map(|e| match &e.what {
            Ok(ResponseEvent::Reconnecting { delay, .. }) => Some((e.step, e.request, e.at + *delay)),
            _ => None,
        }).peekable();
        for t in sim.telemetry() {
            while let Some((_, request, at)) = reconnects.next_if(|r| r.0 <= t.step) {
                not_before.insert(request, at);
            }
            if let Telemetry::AttemptStarted { request, .. } = &t.record
                && let Some(at) = not_before.get(request)
            {
                prop_assert!(t.at >= *at, "{:?} retried at {:?}, before {:?}", request, t.at, at);
            }
        }
    }

    /// Fallback is sticky: once `FallbackActivated`, no WebSocket handshake happens
    /// again in the session, unless a cooldown is configured and a turn starts after it,
    /// which may try WebSocket again.
    #[test]
    fn fallback_is_sticky_or_honours_the_cooldown(
        seed in any::<u64>(), cooldown_s in proptest::option::of(5u64..120), turns in 2usize..4,
    ) {
        let mut script = script_with(seed, true, seed % 2 == 0, (seed % 3) as u32);
        script.config.fallback_cooldown = cooldown_s.map(Duration::from_secs);
        script.faults.handshake_fault_percent = 50;
        script.faults.allow_426 = true;
        while script.turns.len() < turns {
            let mut turn = script.turns[0].clone();
            turn.gap_before = Duration::from_secs(seed % 150);
            script.turns.push(turn);
        }
        let (sim, report) = run(&script, traced());
        prop_assert!(report.violations.is_empty(), "{}", first_violations(&sim));
        let cooldown = script.config.fallback_cooldown;
        // Walk inputs in order, tracking whether WebSocket is disabled.
        let activations: BTreeMap<u64, Instant> = sim.telemetry().iter()
            .filter(|t| matches!(t.record, Telemetry::FallbackActivated { .. }))
            .map(|t| (t.step, t.at)).collect();
        let handshakes: BTreeSet<u64> = sim.recording().handshakes.iter().map(|h| h.step).collect();
        let mut disabled_at: Option<Instant> = None;
        for (i, recorded) in sim.inputs().iter().enumerate() {
            let step = i as u64 + 1;
            if let (Input::StartTurn(_), Some(at)) = (&recorded.input, disabled_at)
                && cooldown.is_some_and(|c| recorded.now.instant >= at + c)
            {
                disabled_at = None;
            }
            if disabled_at.is_some() {
                prop_assert!(!handshakes.contains(&step), "a WebSocket handshake at input {} after the fallback", step);
            }
            if let Some(at) = activations.get(&step) {
                disabled_at = Some(*at);
            }
        }
    }
}

/// Every delay a server asked for in the recorded inputs: `retry-after-ms`,
/// `Retry-After` seconds, a WebSocket error frame's headers, "try again in 1.5s".
fn requested_delays(inputs: &[RecordedInput]) -> BTreeSet<Duration> {
    let mut out = BTreeSet::new();
    let mut bodies: BTreeMap<turnwire_protocol::session::ConnId, Vec<u8>> = BTreeMap::new();
    let note = |out: &mut BTreeSet<Duration>, name: &str, value: &str| {
        let Ok(number) = value.trim().parse::<f64>() else {
            return;
        };
        match name.to_ascii_lowercase().as_str() {
            "retry-after-ms" => {
                out.insert(Duration::from_secs_f64(number / 1000.0));
            }
            "retry-after" => {
                out.insert(Duration::from_secs_f64(number));
            }
            _ => {}
        }
    };
    for RecordedInput { input, .. } in inputs {
        match input {
            Input::HttpResponse { headers, .. } | Input::WsRefused { headers, .. } => {
                for (name, value) in headers {
                    note(&mut out, name.as_str(), value.to_str().unwrap_or(""));
                }
            }
            Input::WsText { text, .. } => {
                let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if let Some(map) = json.get("headers").and_then(Value::as_object) {
                    for (name, value) in map {
                        note(&mut out, name, value.as_str().unwrap_or(""));
                    }
                }
            }
            _ => {}
        }
        match input {
            Input::WsText { conn, text } => bodies.entry(*conn).or_default().extend(text.bytes()),
            Input::HttpBody { conn, data } => bodies.entry(*conn).or_default().extend(data.iter()),
            _ => {}
        }
    }
    // Bodies arrive in chunks split anywhere: look for the phrase per connection.
    let phrase: &[u8] = b"try again in 1.5s";
    for body in bodies.values() {
        if body.windows(phrase.len()).any(|w| w == phrase) {
            out.insert(Duration::from_millis(1500));
        }
    }
    out
}

/// `delay` is within `min(max_backoff, base·2^(n-1))·[0.9, 1.1)`.
fn within_backoff(config: &Config, retry: u32, delay: Duration) -> bool {
    let exponent = retry.saturating_sub(1).min(30);
    let raw = config.retry_base_delay.saturating_mul(1 << exponent);
    let e = raw.min(config.max_backoff).as_nanos();
    let d = delay.as_nanos();
    d * 10 + 10 >= e * 9 && d * 10 < e * 11 + 10
}

// ----- turn state ---------------------------------------------------------------------

/// What the server does after one scripted request.
#[derive(Clone, Copy, Debug)]
struct ReplyPlan {
    /// Send a new turn-state token with this reply.
    token: bool,
    /// Close the connection after the response (WebSocket) so the next request
    /// reconnects.
    close: bool,
}

fn reply_plan() -> impl Strategy<Value = ReplyPlan> {
    (any::<bool>(), any::<bool>()).prop_map(|(token, close)| ReplyPlan { token, close })
}

proptest! {
    #![proptest_config(cases(48))]

    /// A turn-state token never crosses into another turn, the first one a turn
    /// receives wins, and it is carried by every later POST (as a header) and
    /// `response.create` (in `client_metadata`) of that turn, never by a handshake.
    #[test]
    fn turn_state_stays_in_its_turn_and_the_first_wins(
        websockets in any::<bool>(),
        turns in proptest::collection::vec(proptest::collection::vec(reply_plan(), 1..4), 1..4),
    ) {
        let config = Config { websockets, preconnect: Some(false), ..sim_config() };
        let mut sim = Simulator::new(config, 3).unwrap();
        let mut token_number = 0;
        // Records of each turn: (post range, handshake range, message range).
        let mut spans = Vec::new();
        for plans in &turns {
            let before = counts(&sim);
            let turn = sim.start_turn();
            for plan in plans {
                let token = plan.token.then(|| { token_number += 1; format!("tok-{token_number}") });
                script_reply(&mut sim, websockets, token.as_deref(), plan.close);
                let outcome = sim.run_request(turn, RequestSpec {
                    fields: RequestFields::new("m"),
                    input: RequestInput::Append(wire::items([user("next")])),
                });
                prop_assert!(outcome.is_completed(), "{:?}", outcome);
                sim.run_until_idle();
            }
            spans.push((before, counts(&sim)));
        }
        prop_assert!(sim.finish().is_empty(), "{}", first_violations(&sim));

        let rec = sim.recording();
        for (before, after) in spans {
            // (step, token sent by the server, token carried, is a POST/handshake).
            let mut traffic: Vec<(u64, Option<String>, Option<String>, bool)> = Vec::new();
            for post in &rec.http[before.0..after.0] {
                let sent = post.response_headers.iter()
                    .find(|(n, _)| n == "x-codex-turn-state").map(|(_, v)| v.clone());
                traffic.push((post.step, sent, header_text(&post.headers, "x-codex-turn-state"), true));
            }
            for hs in &rec.handshakes[before.1..after.1] {
                let sent = hs.response_headers.iter()
                    .find(|(n, _)| n == "x-codex-turn-state").map(|(_, v)| v.clone());
                let carried = header_text(&hs.headers, "x-codex-turn-state");
                prop_assert_eq!(carried, None, "a handshake carries no token");
                traffic.push((hs.step, sent, None, false));
            }
            for msg in &rec.ws_messages[before.2..after.2] {
                let carried = msg.turn_state().map(str::to_owned);
                traffic.push((msg.step, msg.metadata_token.clone(), carried, true));
            }
            traffic.sort_by_key(|t| t.0);
            let tokens_of_turn: BTreeSet<String> = traffic.iter().filter_map(|t| t.1.clone()).collect();
            // Each POST or message carries exactly the first token the turn received
            // before it: none before any, the first one after (never a later one, never
            // one from another turn).
            let mut first: Option<String> = None;
            for (step, sent, carried, is_request) in &traffic {
                if *is_request {
                    if let Some(token) = carried {
                        prop_assert!(tokens_of_turn.contains(token), "{} crossed turns", token);
                    }
                    prop_assert_eq!(carried, &first, "at input {}", step);
                }
                if first.is_none() {
                    first = sent.clone();
                }
            }
        }
    }
}

fn counts(sim: &Simulator) -> (usize, usize, usize) {
    let rec = sim.recording();
    (rec.http.len(), rec.handshakes.len(), rec.ws_messages.len())
}

/// Scripts the replies for one request: the token goes on the POST's response headers
/// (HTTP), or on the handshake of a new connection and in a metadata frame
/// (WebSocket); `close` makes the server close the socket after the response.
fn script_reply(sim: &mut Simulator, websockets: bool, token: Option<&str>, close: bool) {
    let server = sim.server_mut();
    if websockets {
        let mut steps = Vec::new();
        if let Some(token) = token {
            steps.push(Step::Event(ev::metadata_turn_state(token)));
            server.push_handshake(turnwire_testkit::sim::Handshake::accept_with(
                "x-codex-turn-state",
                &format!("{token}-hs"),
            ));
        }
        steps.push(Step::Model);
        let reply = Reply::with_steps(steps);
        let reply = if close {
            reply.end(End::Close {
                code: Some(1000),
                reason: "bye".into(),
            })
        } else {
            reply
        };
        server.push_ws(reply);
    } else {
        let reply = Reply::model();
        server.push_http(match token {
            Some(token) => reply.header("x-codex-turn-state", token),
            None => reply,
        });
    }
}

// ----- incremental requests -------------------------------------------------------------

/// How one request builds its input and what the server answers.
#[derive(Clone, Debug)]
struct IncrementalStep {
    input: InputKind,
    instructions: bool,
    reply: ReplyKind,
}

#[derive(Clone, Copy, Debug)]
enum InputKind {
    Append(usize),
    /// Keep this percentage of the history, then add `n` items.
    ReplacePrefix(u8, usize),
    ReplaceSame,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyKind {
    Model,
    ModelThenClose,
    /// Non-retryable failure.
    Failed,
    /// Cut mid-stream by a close frame (retried on a new connection).
    Cut,
    Incomplete,
}

fn incremental_step() -> impl Strategy<Value = IncrementalStep> {
    let input = prop_oneof![
        4 => (1usize..3).prop_map(InputKind::Append),
        2 => (0u8..=100, 0usize..3).prop_map(|(k, n)| InputKind::ReplacePrefix(k, n)),
        1 => Just(InputKind::ReplaceSame),
    ];
    let reply = prop_oneof![
        6 => Just(ReplyKind::Model),
        1 => Just(ReplyKind::ModelThenClose),
        1 => Just(ReplyKind::Failed),
        1 => Just(ReplyKind::Cut),
        1 => Just(ReplyKind::Incomplete),
    ];
    (input, proptest::bool::weighted(0.2), reply).prop_map(|(input, instructions, reply)| {
        IncrementalStep {
            input,
            instructions,
            reply,
        }
    })
}

proptest! {
    #![proptest_config(cases(64))]

    /// A WebSocket message is incremental exactly when section 6 says so: computed here
    /// from the requests and the recorded messages and responses, independently of the
    /// session. The input the server ends up holding is always the request's input.
    #[test]
    fn websocket_message_is_incremental_exactly_when_section_6_allows(
        v1 in any::<bool>(),
        steps in proptest::collection::vec(incremental_step(), 1..8),
    ) {
        let protocol = if v1 { WsProtocol::V1 } else { WsProtocol::V2 };
        let config = Config {
            websockets: true,
            ws_protocol: protocol,
            preconnect: Some(false),
            stream_max_retries: 1,
            ..sim_config()
        };
        let mut sim = Simulator::new(config, 11).unwrap();
        let turn = sim.start_turn();
        let mut history: Vec<Value> = Vec::new();
        let mut counter = 0;
        // For each message: (request index, intended input, fields).
        let mut requests: Vec<(usize, Vec<Value>, RequestFields)> = Vec::new();
        let mut message_request: Vec<usize> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let mut fresh = |n: usize| -> Vec<Value> {
                (0..n).map(|_| { counter += 1; user(&format!("i{counter}")) }).collect()
            };
            let (input, intended) = match step.input {
                InputKind::Append(n) => {
                    let items = fresh(n);
                    let mut full = history.clone();
                    full.extend(items.iter().cloned());
                    (RequestInput::Append(wire::items(items)), full)
                }
                InputKind::ReplacePrefix(keep, n) => {
                    let kept = history.len() * usize::from(keep) / 100;
                    let mut full = history[..kept].to_vec();
                    full.extend(fresh(if kept == 0 { n.max(1) } else { n }));
                    (RequestInput::Replace(wire::items(full.clone())), full)
                }
                InputKind::ReplaceSame if !history.is_empty() => {
                    (RequestInput::Replace(wire::items(history.clone())), history.clone())
                }
                InputKind::ReplaceSame => {
                    let full = fresh(1);
                    (RequestInput::Replace(wire::items(full.clone())), full)
                }
            };
            let fields = RequestFields {
                instructions: step.instructions.then(|| "other".to_owned()),
                ..RequestFields::new("m")
            };
            let server = sim.server_mut();
            match step.reply {
                ReplyKind::Model => server.push_ws(Reply::model()),
                ReplyKind::ModelThenClose => server.push_ws(
                    Reply::model().end(End::Close { code: Some(1000), reason: "bye".into() })),
                ReplyKind::Failed => server.push_ws(Reply::events([
                    ev::created("resp-f"),
                    ev::failed("resp-f", "context_length_exceeded", "too long"),
                ])),
                ReplyKind::Cut => {
                    server.push_ws(Reply::with_steps(vec![Step::ModelPrefix(2)])
                        .end(End::Close { code: Some(1011), reason: "cut".into() }));
                    server.push_ws(Reply::model());
                }
                ReplyKind::Incomplete => server.push_ws(Reply::events([
                    ev::created("resp-i"), ev::incomplete("resp-i", "max_output_tokens"),
                ])),
            }
            let before = sim.recording().ws_messages.len();
            let outcome = sim.run_request(turn, RequestSpec { fields: fields.clone(), input });
            sim.run_until_idle();
            let after = sim.recording().ws_messages.len();
            message_request.extend(std::iter::repeat_n(i, after - before));
            requests.push((i, intended.clone(), fields));
            history = intended;
            if outcome.is_completed() {
                let last = &sim.recording().ws_messages[after - 1];
                history.extend(last.completed.clone().map(|c| c.1).unwrap_or_default());
            }
        }
        prop_assert!(sim.finish().is_empty(), "{}", first_violations(&sim));

        let messages = &sim.recording().ws_messages;
        for (m, message) in messages.iter().enumerate() {
            let (_, intended, fields) = &requests[message_request[m]];
            let expected = match m.checked_sub(1) {
                None => WsKind::Create,
                Some(p) => {
                    let previous = &messages[p];
                    let (_, prev_input, prev_fields) = &requests[message_request[p]];
                    let mut baseline = prev_input.clone();
                    let completed = previous.completed.as_ref();
                    if protocol == WsProtocol::V2 {
                        baseline.extend(completed.map(|c| c.1.clone()).unwrap_or_default());
                    }
                    let incremental = previous.conn == message.conn
                        && completed.is_some()
                        && prev_fields == fields
                        && !baseline.is_empty()
                        && intended.len() > baseline.len()
                        && intended[..baseline.len()] == baseline[..]
                        && (protocol == WsProtocol::V1 || completed.is_some_and(|c| !c.0.is_empty()));
                    match (incremental, protocol) {
                        (false, _) => WsKind::Create,
                        (true, WsProtocol::V1) => WsKind::Append,
                        (true, _) => WsKind::Chained,
                    }
                }
            };
            prop_assert_eq!(message.kind, expected, "message {} of {:?}", m, steps);
            prop_assert_eq!(message.full_input.as_ref().ok(), Some(intended), "message {}", m);
        }
    }
}

// ----- arbitrary input scripts ------------------------------------------------------------

fn header_pairs() -> impl Strategy<Value = http::HeaderMap> {
    let pair = prop_oneof![
        Just(("x-codex-turn-state", "tok-x".to_owned())),
        Just(("x-codex-turn-state", "t".repeat(5000))),
        Just(("retry-after", "1".to_owned())),
        Just(("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".to_owned())),
        Just(("retry-after-ms", "12.5".to_owned())),
        Just(("x-should-retry", "false".to_owned())),
        Just(("x-codex-primary-used-percent", "nan".to_owned())),
        Just(("x-codex-primary-used-percent", "55".to_owned())),
        Just(("x-models-etag", "e".to_owned())),
        Just(("x-reasoning-included", "".to_owned())),
        Just(("x-request-id", "r1".to_owned())),
        "[ -~]{0,20}".prop_map(|v| ("x-codex-turn-state", v)),
    ];
    proptest::collection::vec(pair, 0..4).prop_map(|pairs| {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                map.append(name, value);
            }
        }
        map
    })
}

fn body_bytes() -> impl Strategy<Value = bytes::Bytes> {
    let model = || {
        let mut out = String::new();
        for e in ev::response("resp-z", &[wire::assistant("m", "ü🙂")]) {
            out.push_str(&format!("data: {e}\r\n\r\n"));
        }
        out
    };
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(bytes::Bytes::from),
        (0usize..400).prop_map(move |cut| {
            let full = model();
            bytes::Bytes::from(full.as_bytes()[..cut.min(full.len())].to_vec())
        }),
        Just(bytes::Bytes::from(model())),
        Just(bytes::Bytes::from(vec![b'a'; 100_000])),
        Just(bytes::Bytes::from_static(b": keepalive\n\n")),
        Just(bytes::Bytes::from_static(
            b"data: {\"type\":\"error\",\"code\":\"x\"}\n\n"
        )),
    ]
}

fn ws_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        Just(ev::created("resp-a").to_string()),
        Just(ev::completed("resp-a").to_string()),
        Just(ev::completed("").to_string()),
        Just(ev::failed("r", "rate_limit_exceeded", "try again in 28ms").to_string()),
        Just(ev::ws_error_code("websocket_connection_limit_reached", "limit").to_string()),
        Just(
            ev::ws_error(
                429,
                "usage_limit_reached",
                "usage_limit_reached",
                "x",
                &[("x-codex-primary-used-percent", "100")]
            )
            .to_string()
        ),
        Just(
            ev::ws_error(
                503,
                "x",
                "server_is_overloaded",
                "x",
                &[("retry-after", "2")]
            )
            .to_string()
        ),
        Just(ev::metadata_turn_state("tok-m").to_string()),
        Just(ev::item_done(wire::assistant("m", "x")).to_string()),
        Just(serde_json::json!({"type": "response.output_text.delta", "delta": 5}).to_string()),
        Just("x".repeat(70_000)),
    ]
}

fn arbitrary_input() -> impl Strategy<Value = Input> {
    use turnwire_protocol::session::{ConnId, TurnHistory, TurnId, TurnOptions};
    let conn = (0u64..8).prop_map(ConnId);
    let status = prop_oneof![
        Just(0u16),
        Just(101),
        Just(200),
        Just(204),
        Just(400),
        Just(401),
        Just(404),
        Just(408),
        Just(426),
        Just(429),
        Just(500),
        Just(503),
        Just(999),
        any::<u16>(),
    ];
    prop_oneof![
        1 => Just(Input::Preconnect),
        2 => (proptest::option::of("[ -~]{0,8}"), any::<bool>()).prop_map(|(metadata, continuing)| {
            let history = if continuing { TurnHistory::Continue } else { TurnHistory::Fresh };
            Input::StartTurn(TurnOptions { metadata, history })
        }),
        3 => (0u64..5, proptest::collection::vec(0u8..4, 0..4), any::<bool>()).prop_map(|(t, items, replace)| {
            let items = wire::items(items.iter().map(|i| user(&format!("x{i}"))));
            Input::StartRequest {
                turn: TurnId(t),
                spec: RequestSpec {
                    fields: RequestFields::new("m"),
                    input: if replace { RequestInput::Replace(items) } else { RequestInput::Append(items) },
                },
            }
        }),
        1 => (0u64..6).prop_map(|r| Input::CancelRequest { request: RequestId(r) }),
        1 => (0u64..5).prop_map(|t| Input::EndTurn { turn: TurnId(t) }),
        3 => (conn.clone(), status.clone(), header_pairs()).prop_map(|(conn, status, headers)| Input::HttpResponse { conn, status, headers }),
        5 => (conn.clone(), body_bytes()).prop_map(|(conn, data)| Input::HttpBody { conn, data }),
        1 => conn.clone().prop_map(|conn| Input::HttpEnd { conn }),
        2 => (conn.clone(), header_pairs()).prop_map(|(conn, headers)| Input::WsOpened { conn, headers }),
        1 => (conn.clone(), status.clone(), header_pairs(), body_bytes()).prop_map(|(conn, status, headers, body)| Input::WsRefused { conn, status, headers, body }),
        5 => (conn.clone(), ws_text()).prop_map(|(conn, text)| Input::WsText { conn, text }),
        1 => (conn.clone(), any::<usize>()).prop_map(|(conn, len)| Input::WsBinary { conn, len }),
        1 => conn.clone().prop_map(|conn| Input::WsActivity { conn }),
        1 => (conn.clone(), proptest::option::of(any::<u16>()), "[ -~]{0,8}").prop_map(|(conn, code, reason)| Input::WsClosed { conn, code, reason }),
        1 => (conn.clone(), "[ -~]{0,8}").prop_map(|(conn, message)| Input::TransportError { conn, message }),
        1 => (conn.clone(), "[ -~]{0,8}").prop_map(|(conn, message)| Input::HttpStale { conn, message }),
        1 => (conn, "[ -~]{0,8}").prop_map(|(conn, message)| Input::SendFailed { conn, message }),
        1 => Just(Input::AuthRefreshed { credentials: turnwire_protocol::Credentials::bearer("t2") }),
        1 => Just(Input::AuthRefreshFailed { message: "no".into() }),
        3 => Just(Input::Timeout),
    ]
}

proptest! {
    #![proptest_config(cases(96))]

    /// Arbitrary input scripts fed straight to a session — bogus connection ids,
    /// transport results out of order, huge or garbage bytes, random time steps — never
    /// make it panic. A punctual driver (one that feeds `Timeout` once a deadline has
    /// passed, before anything later) never sees a deadline in the past after a drain,
    /// and the timeouts it feeds always move the deadline forward. A late driver (one
    /// that feeds later inputs without the due `Timeout`) may see a passed deadline,
    /// but never after feeding `Timeout` itself.
    #[test]
    fn arbitrary_input_scripts_never_panic(
        websockets in any::<bool>(), v1 in any::<bool>(), small_limits in any::<bool>(),
        retries in 0u32..3, punctual in any::<bool>(),
        script in proptest::collection::vec((0u64..5_000_000, arbitrary_input()), 1..120),
    ) {
        let mut config = Config {
            websockets,
            ws_protocol: if v1 { WsProtocol::V1 } else { WsProtocol::V2 },
            stream_max_retries: retries,
            request_max_retries: retries,
            stream_idle_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            ..sim_config()
        };
        if small_limits {
            config.limits.sse_line = 64;
            config.limits.sse_event_data = 128;
            config.limits.ws_message = 256;
            config.limits.error_body = 16;
            config.limits.queued_outputs = 8;
        }
        let mut session = turnwire_protocol::session::Session::new(params(config, 5)).unwrap();
        let unix = turnwire_protocol::time::UnixTime::from_secs(1_700_000_000);
        let feed = |session: &mut turnwire_protocol::session::Session, at: Instant, input: Input| {
            let _ = session.handle_input(turnwire_protocol::time::Now::new(at, unix), input);
            let mut drained = 0u64;
            while session.poll_output().is_some() {
                drained += 1;
            }
            drained
        };
        let mut clock = 0u64;
        for (step_us, input) in script {
            clock += step_us % 3_000_000;
            let at = Instant::from_nanos(clock * 1_000);
            if punctual {
                // Feed every deadline that passed before this input, at its own time.
                let mut rounds = 0;
                while let Some(deadline) = session.poll_timeout().filter(|d| *d <= at) {
                    feed(&mut session, deadline, Input::Timeout);
                    rounds += 1;
                    prop_assert!(rounds <= 100, "timeouts at {:?} do not advance the deadline", deadline);
                    if let Some(next) = session.poll_timeout() {
                        prop_assert!(next >= deadline, "deadline went back to {:?}", next);
                    }
                }
            }
            let is_timeout = matches!(input, Input::Timeout);
            let drained = feed(&mut session, at, input);
            prop_assert!(drained < 1_000_000);
            if let Some(deadline) = session.poll_timeout()
                && (punctual || is_timeout)
            {
                prop_assert!(deadline >= at, "deadline {:?} before now {:?}", deadline, at);
            }
        }
    }
}

// Determinism and replay live in determinism.rs; faults used here come from the
// scripts' own `FaultConfig::random`.
#[test]
fn fault_config_none_is_quiet() {
    let faults = FaultConfig::none(1);
    let mut sim = Simulator::with_faults(sim_config(), 1, &faults).unwrap();
    let turn = sim.start_turn();
    let outcome = sim.run_request(
        turn,
        RequestSpec {
            fields: RequestFields::new("m"),
            input: RequestInput::Append(wire::items([user("hi")])),
        },
    );
    assert!(outcome.is_completed());
    assert!(sim.finish().is_empty());
    assert_eq!(sim.recording().posts(), 1);
    let _ = replay(sim.params().clone(), sim.inputs()).unwrap();
}
