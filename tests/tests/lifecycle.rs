//! Cancellation, drop and shutdown on both runtimes: what the caller drops closes what
//! it owns, on the server's side of real sockets, and the client's background task
//! ends with the last handle. Every wait is an upper bound on a condition that wakes
//! on change (the server's open-connection count) or a bounded poll of the runtime's
//! own task count; none is a sleep used as synchronisation.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use turnwire_protocol::session::{Input, TurnHistory, TurnOptions};
use turnwire_protocol::{ResponseEvent, WsProtocol};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply, Step, WsKind};
use turnwire_testkit::wire::{ev, user};
use turnwire_tests::harness::{eventually, within};
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, collect};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{Client, ClientOptions, ResponseStream, Runtime};

/// `response.created` and a text delta, then nothing: the server keeps the
/// connection open and silent until the client goes away.
fn stalled() -> Reply {
    Reply::with_steps(vec![Step::ModelPrefix(2)]).keep_open()
}

fn http_options(server: &LoopbackServer) -> ClientOptions {
    client_options(base_config(&server.base_url()))
}

fn ws_options(server: &LoopbackServer) -> ClientOptions {
    let mut config = base_config(&server.base_url());
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(false);
    client_options(config)
}

/// Waits for the stream's first item and asserts it is `Created`.
async fn first_event_is_created(runtime: &dyn Runtime, stream: &mut ResponseStream) {
    let first = within(runtime, PATIENCE, stream.next()).await;
    assert!(
        matches!(first, Some(Some(Ok(ResponseEvent::Created { .. })))),
        "{first:?}"
    );
}

/// Spawned tasks still alive, where the runtime can count them (tokio).
fn tasks(harness: &Harness) -> Option<usize> {
    harness.alive_tasks()
}

fn dropping_a_stream_mid_response_closes_its_connection(rt: Rt) {
    let mut script = FakeServer::new();
    script.push_http(stalled());
    let server = LoopbackServer::start(script).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let options = http_options(&server);

    let (client, turn) = harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let mut stream = turn.stream(append(vec![user("hello")]));
        first_event_is_created(runtime.as_ref(), &mut stream).await;
        assert_eq!(
            server.open_connections(),
            1,
            "the response is still streaming"
        );
        drop(stream);
        (client, turn)
    });

    // The client and the turn are still alive: the stream's drop alone closed it.
    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: the cancelled response's connection stayed open"
    );
    let rec = server.recording();
    assert!(rec.closes.iter().any(|c| c.conn == rec.http[0].conn));

    // The turn is usable after the cancel.
    let origin = runtime.now();
    let next = harness.block_on(collect(
        runtime.as_ref(),
        origin,
        turn.stream(append(vec![user("again")])),
    ));
    assert!(next.is_completed(), "{rt:?}: {:?}", next.items);
    drop((turn, client));
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
}

/// On WebSocket a socket carries one response at a time, so a response cancelled in
/// the middle takes its socket with it; the turn's next request opens a new one and
/// sends a full create.
fn dropping_a_websocket_stream_mid_response_closes_its_socket(rt: Rt) {
    let mut script = FakeServer::new();
    script.push_ws(Reply::model());
    script.push_ws(stalled());
    let server = LoopbackServer::start(script).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let options = ws_options(&server);

    let (client, turn) = harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let done = collect(
            runtime.as_ref(),
            runtime.now(),
            turn.stream(append(vec![user("a")])),
        )
        .await;
        assert!(done.is_completed(), "{:?}", done.items);
        let mut stream = turn.stream(append(vec![user("b")]));
        first_event_is_created(runtime.as_ref(), &mut stream).await;
        drop(stream);
        (client, turn)
    });
    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: the socket of the cancelled response stayed open"
    );

    let next = harness.block_on(collect(
        runtime.as_ref(),
        runtime.now(),
        turn.stream(append(vec![user("c")])),
    ));
    assert!(next.is_completed(), "{rt:?}: {:?}", next.items);
    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 2);
    let kinds: Vec<WsKind> = rec.ws_messages.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [WsKind::Create, WsKind::Chained, WsKind::Create]);
    assert_eq!(rec.ws_messages[2].conn, rec.handshakes[1].conn);
    drop((turn, client));
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
}

/// A preconnected socket that no turn adopted is closed with the client.
fn dropping_the_client_closes_an_unadopted_preconnect(rt: Rt) {
    let server = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let mut options = ws_options(&server);
    options.config.preconnect = Some(true);
    let (recorder, mut inputs) = futures_channel::mpsc::unbounded();
    options.recorder = Some(Arc::new(move |_, input: &Input| {
        let _ = recorder.unbounded_send(input.clone());
    }));

    let client = harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        client.preconnect();
        let opened = within(runtime.as_ref(), PATIENCE, async {
            while let Some(input) = inputs.next().await {
                if matches!(input, Input::WsOpened { .. }) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(opened, Some(true), "{rt:?}: the preconnect never opened");
        client
    });
    assert_eq!(server.open_connections(), 1);
    assert_eq!(
        server.recording().ws_messages.len(),
        0,
        "a preconnect sends nothing"
    );

    drop(client);
    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: the preconnected socket outlived the client"
    );
    let ended = harness.block_on(eventually(runtime.as_ref(), PATIENCE, || harness.idle()));
    assert!(ended, "{rt:?}: tasks alive after the client was dropped");
}

fn dropping_a_healthy_turn_hands_its_websocket_to_the_next_turn(rt: Rt) {
    let server = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let options = ws_options(&server);

    let (client, turn) = harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let done = collect(
            runtime.as_ref(),
            runtime.now(),
            turn.stream(append(vec![user("hello")])),
        )
        .await;
        assert!(done.is_completed(), "{:?}", done.items);
        (client, turn)
    });
    assert_eq!(
        server.open_connections(),
        1,
        "{rt:?}: a completed response leaves the turn's socket open"
    );

    // Revision 2 (PROTOCOL.md 8.1, scenario 23): the turn ended healthy, so its socket
    // and response chain go back to the session's slot; the next turn that continues
    // the conversation adopts them and chains to the first response.
    drop(turn);
    let next = harness.block_on(async {
        let turn = client.new_turn(TurnOptions {
            history: TurnHistory::Continue,
            ..TurnOptions::default()
        });
        collect(
            runtime.as_ref(),
            runtime.now(),
            turn.stream(append(vec![user("next")])),
        )
        .await
    });
    assert!(next.is_completed(), "{rt:?}: {:?}", next.items);
    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 1, "{rt:?}: one socket for both turns");
    assert_eq!(rec.ws_messages.len(), 2);
    assert_eq!(rec.ws_messages[1].conn, rec.ws_messages[0].conn);
    assert_eq!(rec.ws_messages[1].previous_response_id(), Some("resp-1"));
    assert_eq!(rec.ws_messages[1].input_len(), 1, "only the new item");
    assert!(rec.closes.is_empty(), "{rt:?}: nothing was closed");
    drop(client);
    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: the socket in the slot outlived the client"
    );
}

fn dropping_the_client_closes_everything_and_ends_its_tasks(rt: Rt) {
    let mut script = FakeServer::new();
    script.push_ws(Reply::model());
    script.push_ws(stalled());
    let server = LoopbackServer::start(script).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let options = ws_options(&server);

    harness.block_on(async {
        let baseline = tasks(&harness);
        assert!(harness.idle(), "{rt:?}: a fresh runtime runs nothing");
        let client = Client::new(runtime.clone(), options).expect("a client");
        // Turn A: a completed response, its socket idle and open.
        let turn_a = client.new_turn(TurnOptions::default());
        let done = collect(
            runtime.as_ref(),
            runtime.now(),
            turn_a.stream(append(vec![user("a")])),
        )
        .await;
        assert!(done.is_completed(), "{:?}", done.items);
        // Turn B: a response in the middle of streaming.
        let turn_b = client.new_turn(TurnOptions::default());
        let mut stream_b = turn_b.stream(append(vec![user("b")]));
        first_event_is_created(runtime.as_ref(), &mut stream_b).await;
        assert_eq!(server.open_connections(), 2);
        if let (Some(now), Some(before)) = (tasks(&harness), baseline) {
            assert!(now >= before + 3, "the client task and two sockets: {now}");
        }

        drop(client);
        drop(turn_a);
        drop(turn_b);
        drop(stream_b);
        let ended = eventually(runtime.as_ref(), PATIENCE, || {
            tasks(&harness) == baseline && harness.idle()
        })
        .await;
        assert!(
            ended,
            "{rt:?}: tasks still alive after the client was dropped: {:?} (baseline {baseline:?})",
            tasks(&harness)
        );
    });
    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: {} connections still open",
        server.open_connections()
    );
    let rec = server.recording();
    assert_eq!(rec.closes.len(), 2, "the client closed both sockets");
}

const CYCLES: usize = 50;

fn request_cancel_cycles_leak_nothing(rt: Rt) {
    let mut script = FakeServer::new();
    for _ in 0..CYCLES {
        script.push_http(stalled());
    }
    let server = LoopbackServer::start(script).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let options = http_options(&server);

    let (client, with_client) = harness.block_on(async {
        let before = tasks(&harness);
        let client = Client::new(runtime.clone(), options).expect("a client");
        let with_client = before.map(|n| n + 1);
        for i in 0..CYCLES {
            let turn = client.new_turn(TurnOptions::default());
            let mut stream = turn.stream(append(vec![user(&format!("cycle {i}"))]));
            first_event_is_created(runtime.as_ref(), &mut stream).await;
            drop(stream);
            drop(turn);
        }
        (client, with_client)
    });

    assert!(
        server.wait_for_open_connections_at_most(0, PATIENCE),
        "{rt:?}: {} of {CYCLES} cancelled connections still open",
        server.open_connections()
    );
    assert_eq!(server.accepted_connections(), CYCLES as u64);
    let rec = server.recording();
    assert_eq!(rec.posts(), CYCLES);
    assert_eq!(
        rec.closes.len(),
        CYCLES,
        "the client closed every connection"
    );

    let runtime_ref: Arc<dyn Runtime> = runtime.clone();
    harness.block_on(async {
        // Only the client's own task is left.
        let settled = eventually(runtime_ref.as_ref(), PATIENCE, || {
            tasks(&harness) == with_client
        })
        .await;
        assert!(
            settled,
            "{rt:?}: {:?} tasks, want {with_client:?}",
            tasks(&harness)
        );
        // And the session is fine: the next request completes.
        let turn = client.new_turn(TurnOptions::default());
        let last = collect(
            runtime_ref.as_ref(),
            runtime_ref.now(),
            turn.stream(append(vec![user("still here")])),
        )
        .await;
        assert!(last.is_completed(), "{rt:?}: {:?}", last.items);
        drop(turn);
        drop(client);
        let ended = eventually(runtime_ref.as_ref(), PATIENCE, || harness.idle()).await;
        assert!(ended, "{rt:?}: tasks alive after the client was dropped");
    });
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
}

/// A reader that stops reading one response must not stall the client's other turns:
/// only the connection feeding the full stream is paused (`transports/src/delivery.rs`).
fn an_unread_stream_does_not_stall_other_turns(rt: Rt) {
    let mut script = FakeServer::new();
    let mut steps = vec![Step::Event(ev::created("resp-unread"))];
    for i in 0..20 {
        steps.push(Step::Event(ev::text_delta("msg-unread", &i.to_string())));
    }
    steps.push(Step::Event(ev::completed("resp-unread")));
    script.push_http(Reply::with_steps(steps));
    let server = LoopbackServer::start(script).expect("a loopback server");
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let mut options = http_options(&server);
    options.stream_buffer = 2;

    harness.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn_a = client.new_turn(TurnOptions::default());
        let mut unread = turn_a.stream(append(vec![user("a")]));
        first_event_is_created(runtime.as_ref(), &mut unread).await;
        // `unread` is never read again, but kept.
        let turn_b = client.new_turn(TurnOptions::default());
        let other = collect(
            runtime.as_ref(),
            runtime.now(),
            turn_b.stream(append(vec![user("b")])),
        );
        let other = within(runtime.as_ref(), Duration::from_secs(10), other).await;
        assert!(
            other.as_ref().is_some_and(|o| o.is_completed()),
            "{rt:?}: the other turn stalled behind an unread stream: {other:?}"
        );
        drop(unread);
    });
}

#[test]
fn tokio_an_unread_stream_does_not_stall_other_turns() {
    an_unread_stream_does_not_stall_other_turns(Rt::Tokio);
}

#[test]
fn smol_an_unread_stream_does_not_stall_other_turns() {
    an_unread_stream_does_not_stall_other_turns(Rt::Smol);
}

macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod tokio {
            $( #[test] fn $name() { super::$name(turnwire_tests::Rt::Tokio); } )*
        }
        mod smol {
            $( #[test] fn $name() { super::$name(turnwire_tests::Rt::Smol); } )*
        }
    };
}

on_both_runtimes!(
    dropping_a_stream_mid_response_closes_its_connection,
    dropping_a_websocket_stream_mid_response_closes_its_socket,
    dropping_the_client_closes_an_unadopted_preconnect,
    dropping_a_healthy_turn_hands_its_websocket_to_the_next_turn,
    dropping_the_client_closes_everything_and_ends_its_tasks,
    request_cancel_cycles_leak_nothing,
);
