//! Headers of the `POST` and of the WebSocket handshake (PROTOCOL.md 3.1, 3.2, rev 2):
//! each present or absent in the right conditions, in a stable order, with the
//! token marked sensitive and never shown by `Debug`; the handshake carries nothing
//! turn-scoped.

use bytes::Bytes;
use http::{HeaderMap, Method};
use turnwire_protocol::config::{Config, WsProtocol};
use turnwire_protocol::headers::{TurnStateToken, validate_turn_state};
use turnwire_protocol::request::{HeaderContext, RequestError, http_request, ws_handshake};
use turnwire_protocol::secret::Credentials;

const TOKEN: &str = "sk-test-SECRET-0123456789";

fn config() -> Config {
    Config::new("https://api.example.test/v1")
        .validate()
        .expect("valid")
}

fn ctx<'a>(config: &'a Config, credentials: &'a Credentials) -> HeaderContext<'a> {
    HeaderContext {
        config,
        credentials,
        conversation_id: "conv-1",
        turn_state: None,
        turn_metadata: None,
    }
}

fn names(headers: &HeaderMap) -> Vec<&str> {
    headers.iter().map(|(name, _)| name.as_str()).collect()
}

fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().expect("visible ASCII"))
}

fn post(ctx: &HeaderContext<'_>) -> http::Request<Bytes> {
    http_request(ctx, Bytes::from_static(b"{}"), false).expect("request builds")
}

/// A turn-state token, validated as the session validates captured ones.
fn turn_state_token(raw: &str) -> TurnStateToken {
    validate_turn_state(raw.as_bytes(), 4096).expect("a plain token is valid")
}

#[test]
fn minimal_post_has_the_always_headers_in_table_order() {
    let config = config();
    let creds = Credentials::bearer(TOKEN);
    let request = post(&ctx(&config, &creds));
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), "https://api.example.test/v1/responses");
    let h = request.headers();
    assert_eq!(
        names(h),
        [
            "accept",
            "content-type",
            "authorization",
            "session-id",
            "thread-id",
            "x-client-request-id",
            "originator",
            "user-agent",
            "version"
        ]
    );
    assert_eq!(get(h, "accept"), Some("text/event-stream"));
    assert_eq!(get(h, "content-type"), Some("application/json"));
    assert_eq!(
        get(h, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    for name in ["session-id", "thread-id", "x-client-request-id"] {
        assert_eq!(get(h, name), Some("conv-1"), "{name}");
    }
    for legacy in ["session_id", "thread_id"] {
        assert!(
            h.get(legacy).is_none(),
            "{legacy} only with legacy_session_headers"
        );
    }
    let id = &config.identity;
    assert_eq!(get(h, "originator"), Some(id.originator.as_str()));
    assert_eq!(get(h, "user-agent"), Some(id.user_agent.as_str()));
    assert_eq!(get(h, "version"), Some(id.version.as_str()));
    assert_eq!(request.body().as_ref(), b"{}");
}

#[test]
fn optional_headers_appear_when_set_in_stable_order() {
    let mut config = Config::new("http://127.0.0.1:9/v1");
    config.query_params = vec![("api-version".into(), "1".into())];
    config.identity.organization = Some("org-1".into());
    config.identity.project = Some("proj-1".into());
    config.identity.subagent = Some("review".into());
    config.identity.extra_headers = vec![
        ("x-extra".into(), "one".into()),
        ("x-extra".into(), "two".into()),
    ];
    config.beta_features = vec!["alpha".into(), "beta".into()];
    let config = config.validate().expect("valid");
    let creds = Credentials {
        account_id: Some("acct-9".into()),
        ..Credentials::bearer(TOKEN)
    };
    let context = HeaderContext {
        turn_metadata: Some(r#"{"turn":1}"#),
        ..ctx(&config, &creds)
    };
    let request = http_request(&context, Bytes::from_static(b"{\"a\":1}"), true).expect("builds");
    assert_eq!(
        request.uri(),
        "http://127.0.0.1:9/v1/responses?api-version=1"
    );
    let h = request.headers();
    assert_eq!(
        names(h),
        [
            "accept",
            "content-type",
            "authorization",
            "chatgpt-account-id",
            "session-id",
            "thread-id",
            "x-client-request-id",
            "originator",
            "user-agent",
            "version",
            "openai-organization",
            "openai-project",
            "x-openai-subagent",
            "x-codex-beta-features",
            "x-codex-turn-metadata",
            "x-extra",
            "x-extra",
            "content-encoding",
        ]
    );
    assert_eq!(get(h, "chatgpt-account-id"), Some("acct-9"));
    assert_eq!(get(h, "openai-organization"), Some("org-1"));
    assert_eq!(get(h, "openai-project"), Some("proj-1"));
    assert_eq!(get(h, "x-openai-subagent"), Some("review"));
    assert_eq!(get(h, "x-codex-beta-features"), Some("alpha,beta"));
    assert_eq!(get(h, "x-codex-turn-metadata"), Some(r#"{"turn":1}"#));
    let extras: Vec<&str> = h
        .get_all("x-extra")
        .iter()
        .map(|v| v.to_str().expect("ASCII"))
        .collect();
    assert_eq!(extras, ["one", "two"]);
    assert_eq!(get(h, "content-encoding"), Some("zstd"));
    assert_eq!(
        request.body().as_ref(),
        b"{\"a\":1}",
        "the driver compresses; the value keeps the JSON"
    );
    assert!(h.get("x-codex-turn-state").is_none(), "no token captured");
}

#[test]
fn absent_options_leave_their_headers_out() {
    let config = config();
    let creds = Credentials::bearer(TOKEN);
    let context = HeaderContext {
        conversation_id: "",
        ..ctx(&config, &creds)
    };
    let h = post(&context).headers().clone();
    for name in [
        "chatgpt-account-id",
        "openai-organization",
        "openai-project",
        "x-openai-subagent",
        "x-codex-beta-features",
        "x-codex-turn-state",
        "x-codex-turn-metadata",
        "content-encoding",
        "session-id",
        "thread-id",
        "x-client-request-id",
        "session_id",
        "thread_id",
    ] {
        assert!(h.get(name).is_none(), "{name} must be absent");
    }
}

#[test]
fn legacy_session_headers_add_the_underscore_forms_on_post_and_handshake() {
    let mut config = config();
    config.legacy_session_headers = true;
    let creds = Credentials::bearer(TOKEN);
    let context = ctx(&config, &creds);
    let post = post(&context);
    let handshake = ws_handshake(&context).expect("builds");
    for h in [post.headers(), handshake.headers()] {
        for name in [
            "session-id",
            "thread-id",
            "x-client-request-id",
            "session_id",
            "thread_id",
        ] {
            assert_eq!(get(h, name), Some("conv-1"), "{name}");
        }
    }
    let names = names(post.headers());
    let at = |name: &str| names.iter().position(|n| *n == name).expect(name);
    assert!(
        at("x-client-request-id") < at("session_id") && at("thread_id") < at("originator"),
        "the legacy forms follow the hyphenated ones: {names:?}"
    );
}

#[test]
fn invalid_turn_metadata_header_is_dropped_silently() {
    let config = config();
    let creds = Credentials::bearer(TOKEN);
    for bad in ["line\r\nInjected: yes", "a\nb", "nul\0", "tab\x7f"] {
        let context = HeaderContext {
            turn_metadata: Some(bad),
            ..ctx(&config, &creds)
        };
        let request = http_request(&context, Bytes::new(), false).expect("still builds");
        assert!(
            request.headers().get("x-codex-turn-metadata").is_none(),
            "{bad:?} dropped"
        );
        assert!(request.headers().get("injected").is_none());
    }
}

#[test]
fn turn_state_is_sent_on_a_post_only_when_captured_and_never_in_a_handshake() {
    let token = turn_state_token("ts-1");
    let config = config();
    let creds = Credentials::bearer(TOKEN);
    let without = ctx(&config, &creds);
    let with = HeaderContext {
        turn_state: Some(&token),
        turn_metadata: Some("meta-1"),
        ..without
    };
    assert!(post(&without).headers().get("x-codex-turn-state").is_none());
    assert_eq!(
        get(post(&with).headers(), "x-codex-turn-state"),
        Some("ts-1")
    );
    assert_eq!(
        get(post(&with).headers(), "x-codex-turn-metadata"),
        Some("meta-1")
    );
    for context in [without, with] {
        let handshake = ws_handshake(&context).expect("builds");
        for turn_scoped in ["x-codex-turn-state", "x-codex-turn-metadata"] {
            assert!(
                handshake.headers().get(turn_scoped).is_none(),
                "a socket may outlive its turn: no {turn_scoped} in a handshake"
            );
        }
    }
}

#[test]
fn bad_credentials_are_a_typed_error() {
    let config = config();
    for creds in [
        Credentials::bearer("sk-bad\r\nX: y"),
        Credentials {
            account_id: Some("acct\n".into()),
            ..Credentials::bearer(TOKEN)
        },
    ] {
        let context = ctx(&config, &creds);
        assert_eq!(
            http_request(&context, Bytes::new(), false).map(|_| ()),
            Err(RequestError::Credentials)
        );
        assert_eq!(
            ws_handshake(&context).map(|_| ()),
            Err(RequestError::Credentials)
        );
    }
}

#[test]
fn unvalidated_bad_config_headers_are_a_typed_error() {
    let creds = Credentials::bearer(TOKEN);
    let mut config = config();
    config.identity.extra_headers = vec![("bad name".into(), "v".into())];
    let err = http_request(&ctx(&config, &creds), Bytes::new(), false).map(|_| ());
    assert_eq!(err, Err(RequestError::Header("bad name".into())));
    let mut config = self::config();
    config.identity.originator = "a\rb".into();
    let err = ws_handshake(&ctx(&config, &creds)).map(|_| ());
    assert_eq!(err, Err(RequestError::Header("originator".into())));
    let mut config = self::config();
    config.base_url = "https://bad host".into();
    assert!(matches!(
        http_request(&ctx(&config, &creds), Bytes::new(), false),
        Err(RequestError::Url(_))
    ));
}

#[test]
fn authorization_is_sensitive_and_debug_hides_the_token() {
    let config = config();
    let creds = Credentials {
        account_id: Some("acct-9".into()),
        ..Credentials::bearer(TOKEN)
    };
    let context = ctx(&config, &creds);
    let request = http_request(&context, Bytes::from_static(b"{}"), true).expect("builds");
    assert!(request.headers()["authorization"].is_sensitive());
    let shown = format!("{request:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains("SECRET"),
        "{shown}"
    );
    assert!(shown.contains("Sensitive"), "{shown}");

    let handshake = ws_handshake(&context).expect("builds");
    assert!(handshake.headers()["authorization"].is_sensitive());
    let shown = format!("{handshake:?} {context:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[test]
fn handshake_has_identity_and_beta_headers_but_no_body_headers() {
    let mut config = Config::new("https://api.example.test/v1");
    config.query_params = vec![("a".into(), "b c".into())];
    config.beta_features = vec!["x".into()];
    config.identity.extra_headers = vec![("x-extra".into(), "1".into())];
    let config = config.validate().expect("valid");
    let creds = Credentials {
        account_id: Some("acct-9".into()),
        ..Credentials::bearer(TOKEN)
    };
    let token = turn_state_token("ts-1");
    let context = HeaderContext {
        turn_metadata: Some("meta"),
        turn_state: Some(&token),
        ..ctx(&config, &creds)
    };
    let request = ws_handshake(&context).expect("builds");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri(), "wss://api.example.test/v1/responses?a=b%20c");
    let h = request.headers();
    assert_eq!(
        names(h),
        [
            "authorization",
            "chatgpt-account-id",
            "session-id",
            "thread-id",
            "x-client-request-id",
            "originator",
            "user-agent",
            "version",
            "x-codex-beta-features",
            "x-extra",
            "openai-beta",
        ]
    );
    assert_eq!(
        get(h, "openai-beta"),
        Some("responses_websockets=2026-02-06"),
        "v2 is the default"
    );
    assert!(h.get("x-responsesapi-include-timing-metrics").is_none());
}

#[test]
fn handshake_beta_follows_protocol_version_and_timing_is_opt_in() {
    let creds = Credentials::bearer(TOKEN);
    for (protocol, timing, beta) in [
        (WsProtocol::V1, false, "responses_websockets=2026-02-04"),
        (WsProtocol::V2, false, "responses_websockets=2026-02-06"),
        (WsProtocol::V1, true, "responses_websockets=2026-02-04"),
        (WsProtocol::V2, true, "responses_websockets=2026-02-06"),
    ] {
        let mut config = Config::new("http://127.0.0.1:7/v1");
        config.ws_protocol = protocol;
        config.include_timing_metrics = timing;
        let config = config.validate().expect("valid");
        let request = ws_handshake(&ctx(&config, &creds)).expect("builds");
        assert_eq!(request.uri(), "ws://127.0.0.1:7/v1/responses");
        let h = request.headers();
        assert_eq!(get(h, "openai-beta"), Some(beta));
        assert_eq!(
            get(h, "x-responsesapi-include-timing-metrics"),
            timing.then_some("true")
        );
        for body_header in ["accept", "content-type", "content-encoding"] {
            assert!(
                h.get(body_header).is_none(),
                "{body_header} is not a handshake header"
            );
        }
    }
}
