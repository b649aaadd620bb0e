//! A refused `Session::handle_input` leaves the session as it was: the same state, the
//! same pending outputs and the same `poll_timeout`, whatever `now` the refused input
//! carried. Each test refuses one kind of input at a time well past the running
//! request's deadline, so a clock that moved on a refusal would show in
//! `poll_timeout`.

use core::time::Duration;
use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    ConnId, Input, Output, RequestId, RequestInput, RequestSpec, Session, SessionParams, TurnId,
    TurnOptions, UsageError,
};
use turnwire_protocol::{Config, Credentials, Instant, Now, UnixTime};

const START: Now = Now::new(Instant::ZERO, UnixTime::EPOCH);

/// Well after every deadline the running request has, on both clocks.
fn later() -> Now {
    Now::new(
        Instant::ZERO.saturating_add(Duration::from_secs(3_600)),
        UnixTime::from_millis(3_600_000),
    )
}

fn spec(text: &str) -> RequestSpec {
    RequestSpec {
        fields: RequestFields::new("m"),
        input: RequestInput::Append(vec![ResponseItem::user_text(text)]),
    }
}

/// A session on HTTP with one request waiting for its response head (on the
/// returned connection), and a second turn's request whose outputs are still queued.
fn requesting() -> (Session, TurnId, RequestId, ConnId) {
    let mut session = Session::new(SessionParams {
        config: Config::new("http://api.test/v1"),
        credentials: Credentials::bearer("k"),
        auth_refreshable: false,
        conversation_id: "c".into(),
        seed: 1,
    })
    .expect("valid configuration");
    let turn = session
        .start_turn_with(START, TurnOptions::default())
        .unwrap();
    let request = session.start_request_with(START, turn, spec("hi")).unwrap();
    let conn = std::iter::from_fn(|| session.poll_output())
        .find_map(|o| match o {
            Output::OpenHttp(open) => Some(open.conn),
            _ => None,
        })
        .expect("the request opens an HTTP connection");
    while session.poll_output().is_some() {}
    // Outputs left pending: a refusal must neither drop nor add any.
    let other = session
        .start_turn_with(START, TurnOptions::default())
        .unwrap();
    session
        .start_request_with(START, other, spec("other"))
        .unwrap();
    (session, turn, request, conn)
}

/// Feeds `input` at [`later`], asserts it is refused with an error `expected`
/// accepts, and that nothing observable changed.
fn assert_refused_without_change(
    session: &mut Session,
    input: Input,
    expected: impl Fn(&UsageError) -> bool,
) {
    let timeout_before = session.poll_timeout();
    let state_before = format!("{session:?}");
    assert!(
        timeout_before.is_some_and(|at| at < later().instant),
        "the setup has a deadline before the refused input's time: {timeout_before:?}"
    );

    let error = session
        .handle_input(later(), input)
        .expect_err("the input is refused");

    assert!(expected(&error), "unexpected refusal: {error:?}");
    assert_eq!(session.poll_timeout(), timeout_before, "poll_timeout moved");
    assert_eq!(
        format!("{session:?}"),
        state_before,
        "the refused input changed the session (state or pending outputs)"
    );
}

#[test]
fn an_unknown_request_is_refused_without_moving_the_clock() {
    let (mut session, ..) = requesting();
    let input = Input::CancelRequest {
        request: RequestId(999),
    };
    assert_refused_without_change(&mut session, input, |e| {
        matches!(e, UsageError::UnknownRequest(RequestId(999)))
    });
}

#[test]
fn an_unknown_turn_is_refused_without_moving_the_clock() {
    let (mut session, ..) = requesting();
    let start = Input::StartRequest {
        turn: TurnId(999),
        spec: spec("again"),
    };
    assert_refused_without_change(&mut session, start, |e| {
        matches!(e, UsageError::UnknownTurn(TurnId(999)))
    });
    let end = Input::EndTurn { turn: TurnId(999) };
    assert_refused_without_change(&mut session, end, |e| {
        matches!(e, UsageError::UnknownTurn(TurnId(999)))
    });
}

#[test]
fn a_second_request_in_a_busy_turn_is_refused_without_moving_the_clock() {
    let (mut session, turn, running, _) = requesting();
    let input = Input::StartRequest {
        turn,
        spec: spec("again"),
    };
    assert_refused_without_change(&mut session, input, |e| {
        *e == UsageError::RequestInProgress { turn, running }
    });
}

#[test]
fn an_input_the_connection_cannot_have_yet_is_refused_without_moving_the_clock() {
    let (mut session, _, _, conn) = requesting();
    // Body bytes before the response head.
    let input = Input::HttpBody {
        conn,
        data: bytes::Bytes::from_static(b"data: {}\n\n"),
    };
    assert_refused_without_change(
        &mut session,
        input,
        |e| matches!(e, UsageError::UnexpectedInput { conn: c, .. } if *c == conn),
    );
}

#[test]
fn after_a_refusal_the_deadline_still_fires_when_it_is_due() {
    let (mut session, ..) = requesting();
    let deadline = session.poll_timeout().expect("the request has a deadline");
    let refused = Input::CancelRequest {
        request: RequestId(999),
    };
    session.handle_input(later(), refused).unwrap_err();
    // Time passed in the refused input did not count: the deadline is still in the
    // future for an input one nanosecond before it.
    let just_before = Now::new(
        Instant::from_nanos(deadline.as_nanos() - 1),
        UnixTime::EPOCH,
    );
    session.handle_input(just_before, Input::Timeout).unwrap();
    assert_eq!(session.poll_timeout(), Some(deadline));
}
