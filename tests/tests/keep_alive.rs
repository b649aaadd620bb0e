//! HTTP keep-alive (PROTOCOL.md section 3.3) against a hostile server, over real
//! sockets on both runtimes: the server ends pooled connections after responses a
//! seeded generator picks (at once after the response, or as the next request arrives
//! on it), and with both retry budgets at zero no request may be lost, duplicated or
//! charged for it. Also plain and TLS: the pool keeps one TLS session.

use turnwire_protocol::ResponseEvent;
use turnwire_protocol::session::TurnOptions;
use turnwire_testkit::loopback::{KeepAlive, LoopbackServer, ServerOptions};
use turnwire_testkit::rng::{Draws, SplitMix64};
use turnwire_testkit::sim::FakeServer;
use turnwire_testkit::wire::user;
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, collect};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{Client, RootStore, TlsSettings};

/// Requests per run.
const REQUESTS: usize = 24;

/// Keep-alive rules drawn from `seed`: after each response, in equal shares, the
/// server keeps the connection, closes it at once, or closes it when the next request
/// arrives on it.
fn hostile_keep_alive(seed: u64) -> KeepAlive {
    let mut rng = SplitMix64::new(seed);
    let mut rules = KeepAlive::default();
    for response in 1..=REQUESTS as u64 {
        match rng.below(3) {
            0 => {}
            1 => rules.close_idle_after.push(response),
            _ => rules.drop_next_request_after.push(response),
        }
    }
    rules
}

fn no_request_lost_or_duplicated_when_the_server_closes_at_random(rt: Rt, seed: u64) {
    let options = ServerOptions {
        keep_alive: hostile_keep_alive(seed),
        ..ServerOptions::default()
    };
    let server = LoopbackServer::start_with(FakeServer::new(), 0, false, options)
        .expect("a loopback server");
    let mut config = base_config(&server.base_url());
    config.stream_max_retries = 0;
    config.request_max_retries = 0;
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let outcomes = harness.block_on(async {
        let client = Client::new(runtime.clone(), client_options(config)).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let origin = runtime.now();
        let mut outcomes = Vec::new();
        for i in 0..REQUESTS {
            let spec = append(vec![user(&format!("request {i}"))]);
            outcomes.push(collect(runtime.as_ref(), origin, turn.stream(spec)).await);
        }
        outcomes
    });
    for (i, outcome) in outcomes.iter().enumerate() {
        assert!(
            outcome.is_completed(),
            "{rt:?} seed {seed}: request {i}: {:?}",
            outcome.items
        );
        assert!(
            !outcome
                .events()
                .any(|e| matches!(e, ResponseEvent::Reconnecting { .. })),
            "{rt:?} seed {seed}: request {i} showed a retry"
        );
    }
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let rec = server.recording();
    // Exactly one answered POST per request, in order: none lost, none sent twice.
    let inputs: Vec<String> = rec
        .http
        .iter()
        .map(|p| p.body["input"].as_array().and_then(|a| a.last()).cloned())
        .map(|last| last.map_or_else(String::new, |v| v["content"][0]["text"].to_string()))
        .collect();
    let expected: Vec<String> = (0..REQUESTS).map(|i| format!("\"request {i}\"")).collect();
    assert_eq!(inputs, expected, "{rt:?} seed {seed}");
    // Every connection but the first replaced one the server ended; the pool reused
    // the rest (the server may also end the last one after the last response).
    let closes = server.idle_closes();
    let accepted = server.accepted_connections();
    assert!(
        closes > 2,
        "{rt:?} seed {seed}: the seed closed too little ({closes})"
    );
    assert!(
        accepted == closes || accepted == closes + 1,
        "{rt:?} seed {seed}: {accepted} connections for {closes} server closes"
    );
    assert!(
        (accepted as usize) < REQUESTS,
        "{rt:?} seed {seed}: no connection was reused"
    );
}

fn tls_requests_share_one_connection(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let root = server
        .root_certificate_der()
        .expect("a TLS server")
        .to_vec();
    let mut options = client_options(base_config(&server.base_url()));
    options.tls = TlsSettings::new(RootStore::None).with_root(root);
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let completed = harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let origin = runtime.now();
        let mut completed = 0;
        for i in 0..3 {
            let spec = append(vec![user(&format!("tls {i}"))]);
            completed += usize::from(
                collect(runtime.as_ref(), origin, turn.stream(spec))
                    .await
                    .is_completed(),
            );
        }
        completed
    });
    assert_eq!(completed, 3, "{rt:?}");
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    assert_eq!(server.recording().posts(), 3);
    assert_eq!(
        server.accepted_connections(),
        1,
        "{rt:?}: one TLS handshake"
    );
}

#[test]
fn tokio_no_request_lost_or_duplicated_when_the_server_closes_at_random() {
    for seed in [1, 2, 3] {
        no_request_lost_or_duplicated_when_the_server_closes_at_random(Rt::Tokio, seed);
    }
}

#[test]
fn smol_no_request_lost_or_duplicated_when_the_server_closes_at_random() {
    for seed in [1, 2, 3] {
        no_request_lost_or_duplicated_when_the_server_closes_at_random(Rt::Smol, seed);
    }
}

#[test]
fn tokio_tls_requests_share_one_connection() {
    tls_requests_share_one_connection(Rt::Tokio);
}

#[test]
fn smol_tls_requests_share_one_connection() {
    tls_requests_share_one_connection(Rt::Smol);
}
