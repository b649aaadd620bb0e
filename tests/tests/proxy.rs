//! PROTOCOL.md 3.3 and scenario 29 on tokio and smol: streams through a real proxy
//! (tinyproxy), the no-proxy list, a proxy that asks for credentials, and proxies
//! that refuse, babble or stay silent. Asserts what the proxy and the loopback origin
//! saw (`CONNECT` lines, accepted TCP connections) and what the caller saw.

use std::time::Duration;

use serde_json::json;
use turnwire_protocol::{Config, ResponseError, WsProtocol};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_testkit::wire::user;
use turnwire_tests::proxy::{HostileProxy, Misbehaviour, PROXY_PASSWORD, PROXY_USER, Tinyproxy};
use turnwire_tests::scenario::{Outcome, append, base_config, client_options, one_request};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{ClientOptions, NoProxy, Proxy, RootStore, TlsSettings};

/// Trusts only the loopback server's CA.
fn trusting(server: &LoopbackServer) -> TlsSettings {
    let ca = server
        .root_certificate_der()
        .expect("a TLS server has a CA");
    TlsSettings::new(RootStore::None).with_root(ca.to_vec())
}

fn over_websocket(config: &mut Config) {
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(false);
}

fn options(config: Config, server: &LoopbackServer, proxy: Option<Proxy>) -> ClientOptions {
    let mut options = client_options(config);
    if server.root_certificate_der().is_some() {
        options.tls = trusting(server);
    }
    options.proxy = proxy;
    options
}

fn assert_clean(rt: Rt, outcome: &Outcome) {
    assert!(outcome.is_completed(), "{rt:?}: {:?}", outcome.items);
    assert!(
        outcome.reconnects().is_empty(),
        "{rt:?}: {:?}",
        outcome.items
    );
}

/// Scenario 29: an `https` stream and a `wss` stream through the proxy complete with
/// exactly one tunnel each; a host on the no-proxy list connects directly.
fn streams_go_through_the_tunnel(rt: Rt) {
    let origin = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let port = origin.addr().port();
    let Some(tinyproxy) = Tinyproxy::start(false, &[port]) else {
        return;
    };
    let proxy = Proxy::new(&tinyproxy.url()).expect("a proxy URL");
    let harness = Harness::new(rt);
    let base_url = origin.base_url();

    let https = options(base_config(&base_url), &origin, Some(proxy.clone()));
    let over_https = one_request(&harness, https, append(vec![user("through the tunnel")]));
    assert_clean(rt, &over_https);

    let mut config = base_config(&base_url);
    over_websocket(&mut config);
    let wss = options(config, &origin, Some(proxy.clone()));
    let over_wss = one_request(&harness, wss, append(vec![user("wss through the tunnel")]));
    assert_clean(rt, &over_wss);

    let expected = format!("CONNECT 127.0.0.1:{port} HTTP/1.1");
    assert_eq!(
        tinyproxy.connect_requests(),
        [expected.clone(), expected.clone()],
        "{rt:?}"
    );
    assert_eq!(
        tinyproxy.tunnels_established(),
        2,
        "{rt:?}: {}",
        tinyproxy.log()
    );
    assert_eq!(origin.accepted_connections(), 2, "{rt:?}");
    let rec = origin.recording();
    assert_eq!(rec.posts(), 1);
    assert_eq!(
        rec.http[0].body["input"],
        json!([user("through the tunnel")])
    );
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(
        rec.ws_messages[0].json["input"],
        json!([user("wss through the tunnel")])
    );
    // TLS ran end to end inside the tunnel: the origin saw its own host, no proxy header.
    assert_eq!(rec.http[0].uri, format!("{base_url}/responses"));

    let bypassing = proxy.with_no_proxy(NoProxy::parse("localhost, 127.0.0.1"));
    let direct = options(base_config(&base_url), &origin, Some(bypassing));
    let outcome = one_request(&harness, direct, append(vec![user("direct")]));
    assert_clean(rt, &outcome);
    assert_eq!(
        tinyproxy.connect_requests().len(),
        2,
        "{rt:?}: the proxy saw the direct one"
    );
    assert_eq!(origin.accepted_connections(), 3, "{rt:?}");
}

/// Scenario 29: a proxy that wants credentials lets the right ones through, and ends a
/// request without them (407) or with wrong ones with a proxy error at once: one
/// `CONNECT`, no retry, the proxy named without its credentials.
fn a_refusing_proxy_is_not_retried(rt: Rt) {
    let origin = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let Some(tinyproxy) = Tinyproxy::start(true, &[origin.addr().port()]) else {
        return;
    };
    let harness = Harness::new(rt);
    let retrying = || Config {
        request_max_retries: 3,
        stream_max_retries: 3,
        ..base_config(&origin.base_url())
    };

    let with_credentials = Proxy::new(&tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD)).unwrap();
    let outcome = one_request(
        &harness,
        options(retrying(), &origin, Some(with_credentials)),
        append(vec![user("authorised")]),
    );
    assert_clean(rt, &outcome);
    assert_eq!(tinyproxy.connect_requests().len(), 1);
    assert_eq!(origin.recording().posts(), 1);

    let wrong_password = "not-the-password";
    let cases = [
        (Proxy::new(&tinyproxy.url()).unwrap(), 407),
        (
            Proxy::new(&tinyproxy.url_with(PROXY_USER, wrong_password)).unwrap(),
            401,
        ),
    ];
    for (n, (proxy, status)) in cases.into_iter().enumerate() {
        let debug = format!("{proxy:?}");
        assert!(!debug.contains(wrong_password), "{debug}");
        let outcome = one_request(
            &harness,
            options(retrying(), &origin, Some(proxy)),
            append(vec![user("refused")]),
        );
        assert!(!outcome.timed_out, "{rt:?}");
        let Some(ResponseError::Proxy {
            proxy: named,
            status: Some(got),
            ..
        }) = outcome.response_error()
        else {
            panic!("{rt:?}: expected a proxy error, got {:?}", outcome.items)
        };
        assert_eq!((named.as_str(), *got), (tinyproxy.url().as_str(), status));
        let shown = format!(
            "{} {:?}",
            outcome.items.last().unwrap().as_ref().unwrap_err(),
            outcome.items
        );
        assert!(
            !shown.contains(wrong_password) && !shown.contains(PROXY_USER),
            "{shown}"
        );
        assert!(
            outcome.reconnects().is_empty(),
            "{rt:?}: retried {:?}",
            outcome.items
        );
        assert_eq!(
            tinyproxy.connect_requests().len(),
            2 + n,
            "{rt:?}: one CONNECT, no retry"
        );
    }
    assert_eq!(
        origin.recording().posts(),
        1,
        "nothing else reached the origin"
    );
    assert_eq!(origin.accepted_connections(), 1);
}

/// Proxies that answer 502, garbage or nothing: typed, retryable errors (PROTOCOL.md
/// 3.3), so the request is tried `1 + request_max_retries` times.
fn a_broken_proxy_is_a_retryable_error(rt: Rt) {
    let origin = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let harness = Harness::new(rt);
    for how in [
        Misbehaviour::Status(502),
        Misbehaviour::Garbage,
        Misbehaviour::Silence,
    ] {
        let hostile = HostileProxy::start(how);
        let config = Config {
            request_max_retries: 1,
            connect_timeout: Duration::from_millis(400),
            ..base_config(&origin.base_url())
        };
        let proxy = Proxy::new(&hostile.url()).unwrap();
        let outcome = one_request(
            &harness,
            options(config, &origin, Some(proxy)),
            append(vec![user("hello")]),
        );
        assert!(!outcome.timed_out, "{rt:?} {how:?}");
        let error = outcome.response_error();
        match (how, error) {
            (
                Misbehaviour::Status(502),
                Some(ResponseError::Proxy {
                    proxy,
                    status: Some(502),
                    ..
                }),
            )
            | (
                Misbehaviour::Garbage,
                Some(ResponseError::Proxy {
                    proxy,
                    status: None,
                    ..
                }),
            ) => {
                assert_eq!(proxy, &hostile.url());
            }
            (Misbehaviour::Silence, Some(ResponseError::Stream { .. })) => {}
            other => panic!("{rt:?}: unexpected outcome {other:?}"),
        }
        assert_eq!(hostile.accepted(), 2, "{rt:?} {how:?}: tried twice");
        for head in hostile.requests() {
            let expected = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n", origin.addr().port());
            assert!(head.starts_with(&expected), "{head:?}");
            assert!(!head.contains("Proxy-Authorization"), "{head:?}");
        }
    }
    assert_eq!(
        origin.accepted_connections(),
        0,
        "nothing got past the proxies"
    );
}

#[test]
fn tokio_s29_streams_go_through_the_tunnel() {
    streams_go_through_the_tunnel(Rt::Tokio);
}

#[test]
fn smol_s29_streams_go_through_the_tunnel() {
    streams_go_through_the_tunnel(Rt::Smol);
}

#[test]
fn tokio_s29_a_refusing_proxy_is_not_retried() {
    a_refusing_proxy_is_not_retried(Rt::Tokio);
}

#[test]
fn smol_s29_a_refusing_proxy_is_not_retried() {
    a_refusing_proxy_is_not_retried(Rt::Smol);
}

#[test]
fn tokio_a_broken_proxy_is_a_retryable_error() {
    a_broken_proxy_is_a_retryable_error(Rt::Tokio);
}

#[test]
fn smol_a_broken_proxy_is_a_retryable_error() {
    a_broken_proxy_is_a_retryable_error(Rt::Smol);
}
