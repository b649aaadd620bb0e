//! The driver's rules in virtual time: its timers, backpressure, cancellation and
//! keepalive, on the testkit's virtual runtime with in-memory connections to the
//! scripted server. No test here waits on the wall clock; every time asserted is exact.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use turnwire_protocol::session::{Input, TurnOptions};
use turnwire_protocol::{Config, ResponseEvent, WsProtocol};
use turnwire_testkit::sim::{FakeServer, Reply, Step};
use turnwire_testkit::vruntime::{PIPE_CAPACITY, VirtualRuntime, VirtualServer};
use turnwire_testkit::wire::{ev, user};
use turnwire_tests::harness::{eventually, sleep};
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, collect};
use turnwire_tests::{Rt, timers};
use turnwire_transports::{Client, ClientOptions, InputRecorder};

/// Every input the client's core was fed, with its time (from the client's start).
type InputLog = Arc<Mutex<Vec<(Duration, Input)>>>;

/// A virtual runtime serving `script`, and client options for it changed by
/// `configure`, recording every input into the returned log.
fn world(
    script: FakeServer,
    configure: impl FnOnce(&mut Config),
) -> (VirtualRuntime, VirtualServer, ClientOptions, InputLog) {
    let rt = VirtualRuntime::new();
    let server = rt.serve(script);
    let mut config = base_config(&server.base_url());
    configure(&mut config);
    let mut options = client_options(config);
    let log: InputLog = Arc::default();
    let sink = log.clone();
    let recorder: InputRecorder = Arc::new(move |now, input| {
        let at = Duration::from_nanos(now.instant.as_nanos());
        sink.lock().unwrap().push((at, input.clone()));
    });
    options.recorder = Some(recorder);
    (rt, server, options, log)
}

/// When the core was fed `Input::Timeout`, in order.
fn timeouts(log: &InputLog) -> Vec<Duration> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, input)| matches!(input, Input::Timeout))
        .map(|(at, _)| *at)
        .collect()
}

/// The delay of the first `Reconnecting` event among `items`.
fn backoff(items: &[Result<ResponseEvent, turnwire_transports::StreamError>]) -> Duration {
    items
        .iter()
        .find_map(|item| match item {
            Ok(ResponseEvent::Reconnecting { delay, .. }) => Some(*delay),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Reconnecting in {items:?}"))
}

const SECOND: Duration = Duration::from_secs(1);

/// Streams one request (`hello`) on a fresh client and returns its items.
fn stream_once(
    rt: &VirtualRuntime,
    options: ClientOptions,
) -> Vec<Result<ResponseEvent, turnwire_transports::StreamError>> {
    let runtime = rt.handle();
    rt.block_on(async {
        let origin = runtime.now();
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let outcome = collect(
            runtime.as_ref(),
            origin,
            turn.stream(append(vec![user("hello")])),
        );
        outcome.await.items
    })
}

#[test]
fn an_idle_timeout_fires_exactly_at_its_deadline() {
    let mut script = FakeServer::new();
    // The head at once, then silence.
    script.push_http(Reply::with_steps(Vec::new()).keep_open());
    let (rt, server, options, log) = world(script, |c| {
        c.stream_idle_timeout = 10 * SECOND;
        c.stream_max_retries = 1;
    });
    let items = stream_once(&rt, options);
    assert!(
        matches!(items.last(), Some(Ok(ResponseEvent::Completed { .. }))),
        "{items:?}"
    );
    let delay = backoff(&items);
    assert_eq!(
        timeouts(&log),
        [10 * SECOND, 10 * SECOND + delay],
        "the idle deadline at 10 s (not a moment before), then the backoff's"
    );
    let conns = rt.connections();
    assert_eq!(conns[0].client_closed_at, Some(10 * SECOND));
    let rec = server.recording();
    assert_eq!(rec.posts(), 2);
    assert_eq!(
        rec.http[1].at.saturating_duration_since(rec.http[0].at),
        10 * SECOND + delay
    );
}

#[test]
fn a_deadline_moved_later_rearms_the_timer_and_nothing_fires_before_it() {
    let mut script = FakeServer::new();
    // The head, a comment 6 s later (the idle deadline moves from 10 s to 16 s), then
    // silence. The driver's timer is still set for 10 s when the comment comes.
    script.push_http(Reply::with_steps(vec![Step::Wait(6 * SECOND), Step::Keepalive]).keep_open());
    let (rt, _server, options, log) = world(script, |c| {
        c.stream_idle_timeout = 10 * SECOND;
        c.stream_max_retries = 1;
    });
    let items = stream_once(&rt, options);
    let delay = backoff(&items);
    assert_eq!(
        timeouts(&log),
        [16 * SECOND, 16 * SECOND + delay],
        "the timer woke at 10 s, found the deadline moved, and fed nothing until 16 s"
    );
    assert_eq!(rt.connections()[0].client_closed_at, Some(16 * SECOND));
}

#[test]
fn a_busy_stream_resets_its_timer_about_once_per_idle_period() {
    // 100 comments 100 ms apart (10 s), then the answer: the idle deadline moves 100
    // times, the driver's timer far fewer (once per 1 s idle period, plus a few).
    let mut steps = Vec::new();
    for _ in 0..100 {
        steps.push(Step::Keepalive);
        steps.push(Step::Wait(SECOND / 10));
    }
    steps.push(Step::Model);
    let mut script = FakeServer::new();
    script.push_http(Reply::with_steps(steps));
    let (rt, _server, options, log) = world(script, |c| c.stream_idle_timeout = SECOND);
    let before = rt.timer_resets();
    let items = stream_once(&rt, options);
    assert!(
        matches!(items.last(), Some(Ok(ResponseEvent::Completed { .. }))),
        "{items:?}"
    );
    assert!(timeouts(&log).is_empty(), "no deadline passed");
    let resets = rt.timer_resets() - before;
    assert!(
        (5..=25).contains(&resets),
        "{resets} timer resets for 100 deadline moves over 10 s"
    );
}

/// One text delta of `len` bytes.
fn big_delta(len: usize) -> Step {
    Step::Event(ev::text_delta("msg-1", &"x".repeat(len)))
}

#[test]
fn a_slow_reader_pauses_only_its_own_connection() {
    const DELTAS: usize = 1000;
    const DELTA: usize = 2048;
    // Turn A's answer: 1000 deltas of 2 KiB (2 MiB); turn B's: the model's.
    let mut steps = vec![Step::Event(ev::created("resp-a"))];
    steps.extend((0..DELTAS).map(|_| big_delta(DELTA)));
    steps.push(Step::Event(ev::completed("resp-a")));
    let mut script = FakeServer::new();
    script.push_http(Reply::with_steps(steps));
    script.push_http(Reply::model());
    let (rt, server, mut options, _log) = world(script, |_| {});
    options.stream_buffer = 4;
    let runtime = rt.handle();

    let (mut slow, client, turns) = rt.block_on(async {
        let origin = runtime.now();
        let client = Client::new(runtime.clone(), options).expect("a client");
        let (a, b) = (
            client.new_turn(TurnOptions::default()),
            client.new_turn(TurnOptions::default()),
        );
        let mut slow = a.stream(append(vec![user("slow")]));
        let fast = b.stream(append(vec![user("fast")]));
        let first = slow.next().await;
        assert!(
            matches!(first, Some(Ok(ResponseEvent::Created { .. }))),
            "{first:?}"
        );
        // A reads nothing more; B reads to its end meanwhile.
        let fast = collect(runtime.as_ref(), origin, fast).await;
        assert!(fast.is_completed(), "{:?}", fast.items);
        // A minute passes (well under the idle timeout) with A unread.
        sleep(runtime.as_ref(), 60 * SECOND).await;
        (slow, client, (a, b))
    });
    let rec = server.recording();
    assert_eq!(rec.posts(), 2);
    let conns = rt.connections();
    assert_eq!(conns.len(), 2);
    let total: u64 = conns[0].bytes_to_client;
    let body = (DELTAS * DELTA) as u64;
    assert!(
        total < body / 4,
        "the server got {total} of {body} bytes out while A's reader slept: it was not paused"
    );
    // What waits for the reader is bounded: the pipe, the connection's read buffer
    // and input queue, and the stream's channel and backlog.
    assert!(
        total <= (PIPE_CAPACITY + 20 * 16 * 1024) as u64,
        "{total} bytes buffered for a reader that stopped"
    );
    let paused_at = total;

    // A resumes: every event arrives, in order, and the server writes the rest.
    let rest = rt.block_on(async {
        let mut deltas = 0;
        let mut last = None;
        while let Some(item) = slow.next().await {
            match item.expect("no error") {
                ResponseEvent::OutputTextDelta { delta, .. } => {
                    assert_eq!(delta.len(), DELTA);
                    deltas += 1;
                }
                other => last = Some(other),
            }
        }
        (deltas, last)
    });
    assert_eq!(rest.0, DELTAS);
    assert!(
        matches!(rest.1, Some(ResponseEvent::Completed { .. })),
        "{:?}",
        rest.1
    );
    assert!(rt.connections()[0].bytes_to_client > paused_at + body / 2);
    drop((client, turns));
}

#[test]
fn dropping_a_stream_closes_its_connection_at_once() {
    let mut script = FakeServer::new();
    // Created and a delta, then silence with the connection open.
    script.push_http(Reply::with_steps(vec![Step::ModelPrefix(2)]).keep_open());
    let (rt, server, options, log) = world(script, |_| {});
    let runtime = rt.handle();
    let (client, turn) = rt.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let mut stream = turn.stream(append(vec![user("hello")]));
        for _ in 0..2 {
            assert!(matches!(stream.next().await, Some(Ok(_))));
        }
        sleep(runtime.as_ref(), 5 * SECOND).await;
        drop(stream);
        let closed = eventually(runtime.as_ref(), PATIENCE, || {
            server.open_connections() == 0
        });
        assert!(closed.await, "the connection stayed open");
        (client, turn)
    });
    // The turn and the client are alive: the stream's drop alone closed it, at the
    // moment it was dropped.
    assert_eq!(rt.connections()[0].client_closed_at, Some(5 * SECOND));
    let rec = server.recording();
    assert_eq!(rec.closes.len(), 1);
    assert_eq!(rec.closes[0].conn, rec.http[0].conn);
    assert_eq!(rec.closes[0].at - rec.http[0].at, 5 * SECOND);
    let log = log.lock().unwrap();
    assert!(
        log.iter()
            .any(|(at, input)| *at == 5 * SECOND && matches!(input, Input::CancelRequest { .. })),
        "the drop cancelled the request"
    );
    drop((client, turn));
}

#[test]
fn dropping_a_websocket_stream_closes_its_socket_at_once() {
    let mut script = FakeServer::new();
    script.push_ws(Reply::with_steps(vec![Step::ModelPrefix(2)]).keep_open());
    let (rt, server, options, _log) = world(script, |c| {
        c.websockets = true;
        c.ws_protocol = WsProtocol::V2;
        c.preconnect = Some(false);
    });
    let runtime = rt.handle();
    let (client, turn) = rt.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let mut stream = turn.stream(append(vec![user("hello")]));
        for _ in 0..2 {
            assert!(matches!(stream.next().await, Some(Ok(_))));
        }
        sleep(runtime.as_ref(), 3 * SECOND).await;
        drop(stream);
        let closed = eventually(runtime.as_ref(), PATIENCE, || {
            server.open_connections() == 0
        });
        assert!(closed.await, "the socket stayed open");
        (client, turn)
    });
    assert_eq!(rt.connections()[0].client_closed_at, Some(3 * SECOND));
    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(rec.closes.len(), 1);
    assert_eq!(rec.closes[0].at - rec.handshakes[0].at, 3 * SECOND);
    drop((client, turn));
}

#[test]
fn a_parked_socket_is_pinged_every_interval_and_dropped_without_a_pong() {
    let (rt, server, options, _log) = world(FakeServer::new(), |c| {
        c.websockets = true;
        c.ws_protocol = WsProtocol::V2;
        c.preconnect = Some(true);
        c.ws_keepalive_interval = 30 * SECOND;
    });
    let runtime = rt.handle();
    let client = Client::new(runtime.clone(), options).expect("a client");
    client.preconnect();
    // The preconnected socket sits in the slot, answering pings, for 100 s.
    rt.block_on(sleep(runtime.as_ref(), 100 * SECOND));
    let pinged = |server: &VirtualServer| -> Vec<Duration> {
        let rec = server.recording();
        let opened = rec.handshakes[0].at;
        rec.pings.iter().map(|(at, _)| *at - opened).collect()
    };
    assert_eq!(pinged(&server), [30 * SECOND, 60 * SECOND, 90 * SECOND]);
    assert_eq!(rt.connections()[0].client_closed_at, None);

    // The peer goes deaf: the ping at 120 s gets no pong, and one interval later
    // (150 s) the socket is dropped.
    server.with_script(FakeServer::stop_answering_pings);
    rt.block_on(sleep(runtime.as_ref(), 100 * SECOND));
    assert_eq!(
        pinged(&server),
        [30 * SECOND, 60 * SECOND, 90 * SECOND, 120 * SECOND]
    );
    assert_eq!(rt.connections()[0].client_closed_at, Some(150 * SECOND));

    // The next turn opens a new socket at once.
    let items = rt.block_on(async {
        let origin = runtime.now();
        let turn = client.new_turn(TurnOptions::default());
        collect(
            runtime.as_ref(),
            origin,
            turn.stream(append(vec![user("hello")])),
        )
        .await
        .items
    });
    assert!(
        matches!(items.last(), Some(Ok(ResponseEvent::Completed { .. }))),
        "{items:?}"
    );
    assert!(
        !items
            .iter()
            .any(|i| matches!(i, Ok(ResponseEvent::Reconnecting { .. }))),
        "{items:?}"
    );
    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 2);
    assert_eq!(rec.ws_messages[0].conn, rec.handshakes[1].conn);
}

#[test]
fn a_pooled_connection_is_reused_within_its_idle_timeout_and_closed_exactly_at_it() {
    let (rt, server, mut options, _log) = world(FakeServer::new(), |_| {});
    options.http_pool.idle_timeout = 20 * SECOND;
    let runtime = rt.handle();
    let client = Client::new(runtime.clone(), options).expect("a client");
    let turn = client.new_turn(TurnOptions::default());
    let request = |wait_first: Duration| {
        rt.block_on(async {
            sleep(runtime.as_ref(), wait_first).await;
            let origin = runtime.now();
            let stream = turn.stream(append(vec![user("hello")]));
            collect(runtime.as_ref(), origin, stream).await.items
        })
    };
    for (i, wait_first) in [Duration::ZERO, 10 * SECOND, 30 * SECOND]
        .into_iter()
        .enumerate()
    {
        let items = request(wait_first);
        assert!(
            matches!(items.last(), Some(Ok(ResponseEvent::Completed { .. }))),
            "request {i}: {items:?}"
        );
    }
    let rec = server.recording();
    assert_eq!(rec.posts(), 3);
    assert_eq!(
        rec.http[1].conn, rec.http[0].conn,
        "10 s idle is within the pool's 20 s: the connection was reused"
    );
    assert_ne!(
        rec.http[2].conn, rec.http[0].conn,
        "30 s idle is past it: a new connection"
    );
    assert_eq!(rt.connections().len(), 2);
    // Request 1 ran at 10 s and left the connection idle; the third came at 40 s.
    assert_eq!(
        rt.connections()[0].client_closed_at,
        Some(30 * SECOND),
        "closed by the pool's timer exactly 20 s after it went idle, not at the next request"
    );
    drop((client, turn));
}

// The table's timer scenarios, in virtual time.

macro_rules! timer_scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let scenario = timers::by_name(stringify!($name));
                turnwire_tests::scenario::play_and_check(&scenario, Rt::Virtual);
            }
        )*

        #[test]
        fn every_timer_scenario_has_a_test() {
            let tested = [$(stringify!($name)),*];
            let table: Vec<&str> = timers::all().iter().map(|s| s.name).collect();
            assert_eq!(table, tested);
        }
    };
}

timer_scenarios!(
    s16_retry_after,
    s18_idle_timeout,
    x_websocket_idle_timeout_and_pings,
    x_handshake_retry_after,
    x_websocket_connect_timeout,
    x_http_head_timeout,
);

/// Streams one response of 42 events, written at once (so the client reads it in one
/// go), over WebSocket or HTTP. Returns, for every input carrying events that the core
/// was fed, in order: whether the caller had its first event by then, and how many
/// events the input held.
fn event_inputs_and_first_delivery(websocket: bool) -> Vec<(bool, usize)> {
    let mut events = vec![ev::created("resp-1")];
    events.extend((0..40).map(|n| ev::text_delta("msg-1", &format!("word {n} "))));
    events.push(ev::completed("resp-1"));
    let mut script = FakeServer::new();
    if websocket {
        script.push_ws(Reply::events(events).keep_open());
    } else {
        script.push_http(Reply::events(events));
    }
    let (rt, _server, mut options, _log) = world(script, |c| {
        c.websockets = websocket;
        c.preconnect = Some(false);
    });
    let seen_first = Arc::new(AtomicBool::new(false));
    let inputs: Arc<Mutex<Vec<(bool, usize)>>> = Arc::default();
    let (seen, log) = (seen_first.clone(), inputs.clone());
    options.recorder = Some(Arc::new(move |_, input| {
        let events = match input {
            Input::HttpBody { data, .. } => String::from_utf8_lossy(data).matches("data:").count(),
            Input::WsText { .. } => 1,
            _ => return,
        };
        log.lock()
            .unwrap()
            .push((seen.load(Ordering::SeqCst), events));
    }));
    let runtime = rt.handle();
    let items = rt.block_on(async {
        let client = Client::new(runtime.clone(), options).expect("a client");
        let turn = client.new_turn(TurnOptions::default());
        let mut stream = turn.stream(append(vec![user("hello")]));
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            seen_first.store(true, Ordering::SeqCst);
            items.push(item);
        }
        items
    });
    assert!(
        matches!(items.first(), Some(Ok(ResponseEvent::Created { .. }))),
        "{items:?}"
    );
    assert!(
        matches!(items.last(), Some(Ok(ResponseEvent::Completed { .. }))),
        "{items:?}"
    );
    let inputs = inputs.lock().unwrap().clone();
    let total: usize = inputs.iter().map(|(_, events)| events).sum();
    assert_eq!(total, 42, "every event went to the core: {inputs:?}");
    inputs
}

#[test]
fn the_first_event_reaches_the_caller_before_the_rest_of_the_read_is_decoded() {
    let inputs = event_inputs_and_first_delivery(false);
    assert_eq!(
        inputs[0],
        (false, 1),
        "the first body input holds the first event alone: {inputs:?}"
    );
    assert!(
        inputs.len() >= 2 && inputs[1].0,
        "the rest went to the core after the caller had the first event: {inputs:?}"
    );
}

#[test]
fn the_first_websocket_event_reaches_the_caller_before_the_next_frame_is_decoded() {
    let inputs = event_inputs_and_first_delivery(true);
    assert_eq!(inputs[0], (false, 1), "{inputs:?}");
    assert!(
        inputs[1..].iter().all(|(seen, _)| *seen),
        "every later frame went to the core after the caller had the first event: {inputs:?}"
    );
}
