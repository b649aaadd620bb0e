//! Determinism: the same configuration, seed and script give the same trace byte for
//! byte, and a recorded input trace, written in the record format
//! (`turnwire_testkit::record`) and read back, replays into a fresh session to the
//! same outputs.

use turnwire_protocol::event::ResponseEvent;
use turnwire_protocol::session::Input;
use turnwire_testkit::record;
use turnwire_testkit::sim::script::{SessionScript, run};
use turnwire_testkit::sim::{RecordedInput, SimOptions, replay};

/// Seeds whose random scripts exercise faults, retries and both transports.
fn busy_seeds() -> Vec<u64> {
    let mut seeds = Vec::new();
    let mut seed = 0;
    while seeds.len() < 12 {
        let script = SessionScript::random(seed);
        let (sim, _) = run(&script, SimOptions::default());
        let retried = sim.transcript().iter().any(|e| {
            matches!(
                e.what,
                Ok(ResponseEvent::Reconnecting { .. } | ResponseEvent::FallbackActivated { .. })
            )
        });
        if retried || seeds.len() < 4 {
            seeds.push(seed);
        }
        seed += 1;
    }
    seeds
}

#[test]
fn same_configuration_seed_and_script_give_an_identical_trace() {
    for seed in busy_seeds() {
        let script = SessionScript::random(seed);
        let (first, _) = run(&script, SimOptions::default());
        let (second, _) = run(&script, SimOptions::default());
        assert!(first.trace().len() > 10, "seed {seed} did something");
        assert_eq!(first.trace(), second.trace(), "seed {seed}");
        assert_eq!(
            format!("{:?}", first.recording()),
            format!("{:?}", second.recording()),
            "seed {seed}: the server saw the same traffic"
        );
        assert_eq!(first.transcript(), second.transcript());
    }
}

#[test]
fn another_jitter_seed_changes_only_the_delays() {
    // Find a script that backs off, then run it with a different session seed: the
    // caller sees the same kinds of events but different delays.
    for seed in busy_seeds() {
        let script = SessionScript::random(seed);
        let (first, _) = run(&script, SimOptions::default());
        let delays = |sim: &turnwire_testkit::sim::Simulator| -> Vec<core::time::Duration> {
            sim.transcript()
                .iter()
                .filter_map(|e| match &e.what {
                    Ok(ResponseEvent::Reconnecting { delay, .. }) => Some(*delay),
                    _ => None,
                })
                .collect()
        };
        let backoff: Vec<_> = delays(&first);
        if backoff.is_empty() {
            continue;
        }
        let mut reseeded = script.clone();
        reseeded.seed = script.seed ^ 0xDEAD_BEEF;
        let (second, _) = run(&reseeded, SimOptions::default());
        let other = delays(&second);
        if other.len() == backoff.len() && other != backoff {
            return;
        }
    }
    panic!("no script showed seeded jitter");
}

#[test]
fn a_recorded_input_trace_replays_to_the_same_outputs() {
    for seed in busy_seeds() {
        let script = SessionScript::random(seed);
        let (sim, report) = run(&script, SimOptions::default());
        assert!(report.violations.is_empty(), "seed {seed}");

        let text = sim.record().expect("inputs encode");
        let read = record::read(text.as_bytes()).expect("and read back");
        assert_eq!(read.header, record::Header::of(sim.params()));
        assert_eq!(read.stopped, None);
        let inputs: Vec<RecordedInput> = read.inputs;
        assert_eq!(inputs.len(), sim.inputs().len());
        // Exact but for credentials, which a recording never holds.
        for (recorded, read) in sim.inputs().iter().zip(&inputs) {
            if !matches!(recorded.input, Input::AuthRefreshed { .. }) {
                assert_eq!(recorded, read, "seed {seed}: the JSON round trip is exact");
            }
        }
        let again = record::encode(&read.header, &inputs).expect("encode again");
        assert_eq!(again, text, "seed {seed}: the record form is stable");

        let replayed = replay(sim.params().clone(), &inputs).expect("valid configuration");
        assert_eq!(replayed, sim.output_trace(), "seed {seed}");
    }
}

#[test]
fn recorded_traces_never_hold_credentials() {
    use turnwire_testkit::sim::auth::{AuthAnswer, INITIAL_TOKEN};
    use turnwire_testkit::sim::{Reply, Simulator, sim_config};

    let mut sim = Simulator::new(sim_config(), 1).unwrap();
    sim.server_mut().push_http(Reply::error(
        401,
        "invalid_request_error",
        "expired",
        "expired",
    ));
    sim.auth_mut().push(AuthAnswer::Refresh {
        token: "sk-very-secret-refreshed".into(),
        latency: core::time::Duration::from_millis(5),
    });
    let turn = sim.start_turn();
    let outcome = sim.run_request(
        turn,
        turnwire_protocol::session::RequestSpec {
            fields: turnwire_protocol::request::RequestFields::new("m"),
            input: turnwire_protocol::session::RequestInput::Append(turnwire_testkit::wire::items(
                [turnwire_testkit::wire::user("hi")],
            )),
        },
    );
    assert!(outcome.is_completed());
    // The server did get the refreshed token...
    assert_eq!(
        sim.recording().post_header(1, "authorization").as_deref(),
        Some("Bearer sk-very-secret-refreshed")
    );
    // ...but no trace line, recorded input or replay output holds either token.
    let json = sim.record().unwrap();
    let replayed = replay(sim.params().clone(), sim.inputs()).unwrap();
    for text in sim.trace().iter().chain(&replayed).chain([&json]) {
        assert!(!text.contains("sk-very-secret-refreshed"), "{text}");
        assert!(!text.contains(INITIAL_TOKEN), "{text}");
    }
    sim.assert_no_violations();
}
