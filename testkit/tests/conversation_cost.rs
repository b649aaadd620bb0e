//! PROTOCOL.md section 6 (beyond): deciding between a full create and an incremental
//! message costs time in the new items, not in the conversation's length, across turns
//! as within one. The session reports how many history items it compared one by one
//! (`compared_items` of `AttemptStarted`); a caller that continues the previous turn's
//! history must never make it compare any, whatever the length of the conversation.

use serde_json::Value;
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{RequestInput, RequestSpec, Telemetry};
use turnwire_testkit::sim::{Simulator, WsKind, sim_config};
use turnwire_testkit::wire::{self, user};

const HISTORY: usize = 10_000;
const TURNS: usize = 5;

fn config() -> Config {
    Config {
        websockets: true,
        ws_protocol: WsProtocol::V2,
        preconnect: Some(false),
        prewarm: Some(false),
        ..sim_config()
    }
}

fn spec(input: RequestInput) -> RequestSpec {
    RequestSpec {
        fields: RequestFields::new("gpt-sim"),
        input,
    }
}

/// `compared_items` of every attempt, in order.
fn compared(sim: &Simulator) -> Vec<usize> {
    sim.telemetry()
        .iter()
        .filter_map(|t| match t.record {
            Telemetry::AttemptStarted { compared_items, .. } => Some(compared_items),
            _ => None,
        })
        .collect()
}

/// A first turn whose request carries a `HISTORY`-item conversation, ended so the
/// socket and its chain go back to the slot.
fn long_first_turn(sim: &mut Simulator) {
    let items: Vec<Value> = (0..HISTORY).map(|i| user(&format!("m{i}"))).collect();
    let turn = sim.start_turn();
    let outcome = sim.run_request(turn, spec(RequestInput::Append(wire::items(items))));
    assert!(outcome.is_completed(), "{outcome:?}");
    sim.end_turn(turn).unwrap();
}

#[test]
fn continuing_turns_chain_without_comparing_the_conversation() {
    let mut sim = Simulator::new(config(), 3).unwrap();
    long_first_turn(&mut sim);

    for i in 0..TURNS {
        let turn = sim.start_turn_continuing();
        let input = RequestInput::Append(wire::items([user(&format!("next {i}"))]));
        let outcome = sim.run_request(turn, spec(input));
        assert!(outcome.is_completed(), "{outcome:?}");
        sim.end_turn(turn).unwrap();
    }

    let rec = sim.recording();
    assert_eq!(
        rec.ws_attempts(),
        1,
        "one socket for the whole conversation"
    );
    for message in &rec.ws_messages[1..] {
        assert_eq!(message.kind, WsKind::Chained);
        assert_eq!(message.input_len(), 1, "only the new item goes on the wire");
    }
    assert_eq!(
        compared(&sim),
        vec![0; TURNS + 1],
        "no history item was compared on any request"
    );
    sim.assert_no_violations();
}

#[test]
fn a_replaced_conversation_is_compared_item_by_item_once() {
    let mut sim = Simulator::new(config(), 3).unwrap();
    long_first_turn(&mut sim);
    let conversation: Vec<Value> = sim.recording().ws_messages[0]
        .full_input
        .clone()
        .unwrap()
        .into_iter()
        .chain(sim.recording().ws_messages[0].completed.clone().unwrap().1)
        .collect();
    assert_eq!(conversation.len(), HISTORY + 1);

    let turn = sim.start_turn();
    let mut input = conversation;
    input.push(user("next"));
    let outcome = sim.run_request(turn, spec(RequestInput::Replace(wire::items(input))));

    assert!(outcome.is_completed(), "{outcome:?}");
    let rec = sim.recording();
    assert_eq!(rec.ws_messages[1].kind, WsKind::Chained);
    assert_eq!(rec.ws_messages[1].input_len(), 1);
    assert_eq!(
        compared(&sim),
        [0, HISTORY + 1],
        "the replacement was checked against what the socket holds"
    );
    sim.assert_no_violations();
}
