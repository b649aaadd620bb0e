//! Header capture: turn-state validation (PROTOCOL.md section 7), rate limits and the
//! other header-derived events (section 5), request ids, JSON header maps.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use turnwire_protocol::event::{
    CreditsSnapshot, RateLimitSnapshot, RateLimitWindow, ResponseEvent, ServerEvent,
    decode_server_event, headers_from_json,
};
use turnwire_protocol::header_names::TURN_STATE;
use turnwire_protocol::headers::{
    TurnStateError, header_events, rate_limits, request_id, turn_state, validate_turn_state,
};

const MAX: usize = 4096;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

// --- turn state ------------------------------------------------------------------------

#[test]
fn a_plain_token_is_accepted_and_kept_verbatim() {
    let token = validate_turn_state(b"ts-1.AbC_9+/=", MAX).expect("valid");
    assert_eq!(token.as_str(), "ts-1.AbC_9+/=");
    assert_eq!(
        token.header_value(),
        &HeaderValue::from_static("ts-1.AbC_9+/=")
    );
}

#[test]
fn interior_spaces_are_allowed_but_not_at_the_ends() {
    assert_eq!(
        validate_turn_state(b"a b", MAX).expect("valid").as_str(),
        "a b"
    );
    assert_eq!(
        validate_turn_state(b" ab", MAX),
        Err(TurnStateError::InvalidByte)
    );
    assert_eq!(
        validate_turn_state(b"ab ", MAX),
        Err(TurnStateError::InvalidByte)
    );
    assert_eq!(
        validate_turn_state(b" ", MAX),
        Err(TurnStateError::InvalidByte)
    );
}

#[test]
fn an_empty_token_is_rejected() {
    assert_eq!(validate_turn_state(b"", MAX), Err(TurnStateError::Empty));
}

#[test]
fn line_breaks_and_control_bytes_are_rejected() {
    for raw in [
        &b"ts\r\nx-injected: 1"[..],
        b"ts\n",
        b"ts\rx",
        b"t\0s",
        b"t\ts",
        b"t\x1bs",
        b"t\x7fs",
    ] {
        assert_eq!(
            validate_turn_state(raw, MAX),
            Err(TurnStateError::InvalidByte),
            "{raw:?}"
        );
    }
}

#[test]
fn non_ascii_is_rejected() {
    assert_eq!(
        validate_turn_state("tök".as_bytes(), MAX),
        Err(TurnStateError::InvalidByte)
    );
    assert_eq!(
        validate_turn_state(b"t\xffs", MAX),
        Err(TurnStateError::InvalidByte)
    );
}

#[test]
fn the_length_bound_is_inclusive() {
    let at_max = vec![b'a'; MAX];
    assert_eq!(
        validate_turn_state(&at_max, MAX)
            .expect("at the bound")
            .as_str()
            .len(),
        MAX
    );
    let over = vec![b'a'; MAX + 1];
    assert_eq!(
        validate_turn_state(&over, MAX),
        Err(TurnStateError::TooLong {
            len: MAX + 1,
            max: MAX
        })
    );
}

#[test]
fn turn_state_reads_the_header_when_present() {
    assert_eq!(turn_state(&HeaderMap::new(), MAX), None);
    let ok = headers(&[(TURN_STATE, "ts-1")]);
    assert_eq!(
        turn_state(&ok, MAX)
            .expect("present")
            .expect("valid")
            .as_str(),
        "ts-1"
    );
    let mut bad = HeaderMap::new();
    bad.insert(
        TURN_STATE,
        HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a header value"),
    );
    assert_eq!(
        turn_state(&bad, MAX),
        Some(Err(TurnStateError::InvalidByte))
    );
    let long = headers(&[(TURN_STATE, "abcdef")]);
    assert_eq!(
        turn_state(&long, 5),
        Some(Err(TurnStateError::TooLong { len: 6, max: 5 }))
    );
}

#[test]
fn debug_shows_the_token() {
    let token = validate_turn_state(b"ts-9", MAX).expect("valid");
    assert_eq!(format!("{token:?}"), r#"TurnStateToken("ts-9")"#);
}

// --- rate limits -----------------------------------------------------------------------

#[test]
fn full_rate_limit_headers_parse() {
    let map = headers(&[
        ("x-codex-primary-used-percent", "12.5"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-at", "1767225600"),
        ("x-codex-secondary-used-percent", "101"),
        ("x-codex-secondary-window-minutes", "10080"),
        ("x-codex-secondary-reset-at", "1767830400"),
        ("x-codex-credits-has-credits", "true"),
        ("x-codex-credits-unlimited", "0"),
        ("x-codex-credits-balance", "42.00"),
    ]);
    assert_eq!(
        rate_limits(&map),
        Some(RateLimitSnapshot {
            primary: Some(RateLimitWindow {
                used_percent: 12.5,
                window_minutes: Some(300),
                resets_at: Some(1_767_225_600),
            }),
            secondary: Some(RateLimitWindow {
                used_percent: 101.0,
                window_minutes: Some(10080),
                resets_at: Some(1_767_830_400),
            }),
            credits: Some(CreditsSnapshot {
                has_credits: true,
                unlimited: false,
                balance: Some("42.00".to_owned()),
            }),
        })
    );
}

#[test]
fn partial_rate_limit_headers_give_what_parses() {
    let map = headers(&[
        ("x-codex-primary-used-percent", " 7 "),
        ("x-codex-primary-window-minutes", "five hours"),
        ("x-codex-secondary-window-minutes", "60"),
        ("x-codex-credits-unlimited", "TRUE"),
    ]);
    assert_eq!(
        rate_limits(&map),
        Some(RateLimitSnapshot {
            primary: Some(RateLimitWindow {
                used_percent: 7.0,
                window_minutes: None,
                resets_at: None
            }),
            secondary: None,
            credits: Some(CreditsSnapshot {
                has_credits: false,
                unlimited: true,
                balance: None
            }),
        })
    );
}

#[test]
fn garbage_rate_limit_headers_give_none() {
    assert_eq!(rate_limits(&HeaderMap::new()), None);
    let map = headers(&[
        ("x-codex-primary-used-percent", "NaN"),
        ("x-codex-secondary-used-percent", "-5"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-credits-has-credits", "maybe"),
        ("x-codex-credits-balance", "  "),
    ]);
    assert_eq!(rate_limits(&map), None);
    let infinite = headers(&[("x-codex-primary-used-percent", "inf")]);
    assert_eq!(rate_limits(&infinite), None);
}

#[test]
fn rate_limit_headers_that_are_not_text_are_ignored() {
    let mut map = HeaderMap::new();
    map.insert(
        "x-codex-primary-used-percent",
        HeaderValue::from_bytes(b"1\xe90").expect("value"),
    );
    assert_eq!(rate_limits(&map), None);
}

// --- header events ---------------------------------------------------------------------

#[test]
fn header_events_come_in_the_documented_order() {
    let map = headers(&[
        ("x-reasoning-included", "true"),
        ("x-models-etag", "W/\"abc123\""),
        ("x-codex-primary-used-percent", "50"),
    ]);
    let events = header_events(&map, 256);
    assert_eq!(
        events,
        vec![
            ResponseEvent::RateLimits {
                snapshot: RateLimitSnapshot {
                    primary: Some(RateLimitWindow {
                        used_percent: 50.0,
                        window_minutes: None,
                        resets_at: None
                    }),
                    secondary: None,
                    credits: None,
                },
            },
            ResponseEvent::ModelsEtag {
                etag: "W/\"abc123\"".to_owned()
            },
            ResponseEvent::ServerReasoningIncluded { included: true },
        ]
    );
}

#[test]
fn no_relevant_headers_no_events() {
    let map = headers(&[
        ("content-type", "text/event-stream"),
        ("x-request-id", "req_1"),
    ]);
    assert!(header_events(&map, 256).is_empty());
}

#[test]
fn reasoning_included_needs_only_presence() {
    let map = headers(&[("x-reasoning-included", "")]);
    assert_eq!(
        header_events(&map, 256),
        vec![ResponseEvent::ServerReasoningIncluded { included: true }]
    );
}

#[test]
fn models_etag_is_bounded_and_visible_ascii() {
    let etag = |value: &str, max: usize| header_events(&headers(&[("x-models-etag", value)]), max);
    assert_eq!(
        etag("abcd", 4),
        vec![ResponseEvent::ModelsEtag {
            etag: "abcd".to_owned()
        }]
    );
    assert!(etag("abcde", 4).is_empty(), "over the bound");
    assert!(etag("ab cd", 64).is_empty(), "space is not visible");
    assert!(etag("", 64).is_empty(), "empty");
    let mut map = HeaderMap::new();
    map.insert(
        "x-models-etag",
        HeaderValue::from_bytes(b"\"\xe9\"").expect("value"),
    );
    assert!(header_events(&map, 64).is_empty(), "non-ASCII");
}

// --- request ids -----------------------------------------------------------------------

#[test]
fn request_id_prefers_x_request_id() {
    let both = headers(&[("x-oai-request-id", "oai_1"), ("x-request-id", "req_1")]);
    assert_eq!(request_id(&both).as_deref(), Some("req_1"));
    let oai = headers(&[("x-oai-request-id", "oai_1")]);
    assert_eq!(request_id(&oai).as_deref(), Some("oai_1"));
    assert_eq!(request_id(&HeaderMap::new()), None);
    let empty_first = headers(&[("x-request-id", ""), ("x-oai-request-id", "oai_2")]);
    assert_eq!(request_id(&empty_first).as_deref(), Some("oai_2"));
}

// --- headers_from_json -----------------------------------------------------------------

#[test]
fn json_headers_become_a_header_map() {
    let map = headers_from_json(&json!({
        "X-Codex-Turn-State": "ts-1",
        "retry-after-ms": 250,
        "x-flag": false,
        "set-cookie": ["a=1", "b=2"],
        "x-empty-list": [],
    }));
    assert_eq!(
        map.get(TURN_STATE).map(|v| v.to_str().ok()),
        Some(Some("ts-1"))
    );
    assert_eq!(
        map.get("retry-after-ms").map(HeaderValue::as_bytes),
        Some(&b"250"[..])
    );
    assert_eq!(
        map.get("x-flag").map(HeaderValue::as_bytes),
        Some(&b"false"[..])
    );
    let cookies: Vec<_> = map
        .get_all("set-cookie")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    assert_eq!(cookies, vec![&b"a=1"[..], &b"b=2"[..]]);
    assert!(!map.contains_key("x-empty-list"));
    assert_eq!(map.len(), 5, "five values");
}

#[test]
fn json_headers_skip_what_is_not_a_header() {
    let map = headers_from_json(&json!({
        "bad name": "v",
        "": "v",
        "x-crlf": "a\r\nb",
        "x-lf": "a\nb",
        "x-nul": "a\u{0}b",
        "x-non-ascii": "café",
        "x-null": null,
        "x-object": {"a": 1},
        "x-nested": [["a"]],
        "x-ok": "fine",
    }));
    assert_eq!(map.len(), 1, "{map:?}");
    assert_eq!(
        map.get("x-ok").map(HeaderValue::as_bytes),
        Some(&b"fine"[..])
    );
}

#[test]
fn json_headers_of_a_non_object_are_empty() {
    for value in [json!(null), json!([["a", "b"]]), json!("a: b"), json!(3)] {
        assert!(headers_from_json(&value).is_empty(), "{value}");
    }
}

// --- the token of a response.metadata event ----------------------------------------------

/// The raw `x-codex-turn-state` of a metadata event, as the session receives it.
fn metadata_token(json: &str) -> Option<String> {
    match decode_server_event(json) {
        Ok(ServerEvent::Metadata { turn_state, .. }) => turn_state,
        other => panic!("{json} is a metadata event, got {other:?}"),
    }
}

#[test]
fn a_metadata_event_keeps_its_token_as_sent_for_the_session_to_judge() {
    for (kind, json, token) in [
        (
            "plain",
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":"ts-1"}}"#,
            Some("ts-1"),
        ),
        (
            "codex prefix, any name case",
            r#"{"type":"codex.response.metadata","headers":{"X-Codex-Turn-State":"ts-2"}}"#,
            Some("ts-2"),
        ),
        (
            "first of an array",
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":["ts-a","ts-b"]}}"#,
            Some("ts-a"),
        ),
        (
            "a number in its JSON form",
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":42}}"#,
            Some("42"),
        ),
        (
            "CR/LF kept so it can be rejected and reported",
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":"a\r\nb"}}"#,
            Some("a\r\nb"),
        ),
        (
            "absent",
            r#"{"type":"response.metadata","headers":{"x-other":"v"}}"#,
            None,
        ),
        (
            "null",
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":null}}"#,
            None,
        ),
    ] {
        assert_eq!(metadata_token(json).as_deref(), token, "{kind}");
    }
    let bad =
        metadata_token(r#"{"type":"response.metadata","headers":{"x-codex-turn-state":"a\r\nb"}}"#)
            .expect("kept");
    assert_eq!(
        validate_turn_state(bad.as_bytes(), MAX),
        Err(TurnStateError::InvalidByte)
    );
}
