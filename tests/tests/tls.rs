//! `https://` and `wss://` against the loopback server's generated certificate, on both
//! runtimes: trusted through `TlsSettings::with_root`, and refused without it.

use std::time::Duration;

use serde_json::json;
use turnwire_protocol::{ResponseError, WsProtocol};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_testkit::wire::user;
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, one_request};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{Error, TlsSettings};

/// Trusts only the server's own certificate.
fn trusting(server: &LoopbackServer) -> TlsSettings {
    let root = server
        .root_certificate_der()
        .expect("a TLS server has a certificate");
    TlsSettings {
        webpki_roots: false,
        extra_roots: Vec::new(),
    }
    .with_root(root.to_vec())
}

fn https_and_wss_with_the_servers_root(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let base_url = server.base_url();
    assert!(base_url.starts_with("https://127.0.0.1:"), "{base_url}");
    let harness = Harness::new(rt);

    let mut http = client_options(base_config(&base_url));
    http.tls = trusting(&server);
    let over_https = one_request(&harness, http, append(vec![user("over https")]));

    let mut config = base_config(&base_url);
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(false);
    let mut ws = client_options(config);
    ws.tls = trusting(&server);
    let over_wss = one_request(&harness, ws, append(vec![user("over wss")]));

    for outcome in [&over_https, &over_wss] {
        assert!(outcome.is_completed(), "{rt:?}: {:?}", outcome.items);
        assert!(
            outcome.reconnects().is_empty(),
            "{rt:?}: {:?}",
            outcome.items
        );
    }
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let rec = server.recording();
    assert_eq!(rec.posts(), 1);
    assert_eq!(rec.http[0].uri, format!("{base_url}/responses"));
    assert_eq!(rec.http[0].body["input"], json!([user("over https")]));
    assert_eq!(rec.ws_attempts(), 1);
    let wss_url = base_url.replacen("https://", "wss://", 1);
    assert_eq!(rec.handshakes[0].uri, format!("{wss_url}/responses"));
    assert_eq!(rec.ws_messages.len(), 1);
    assert_eq!(rec.ws_messages[0].json["input"], json!([user("over wss")]));
}

/// Without the server's root (only the public webpki roots), the handshake fails with
/// a certificate error: an error outcome, quickly, and no request reaches the server.
fn an_untrusted_certificate_fails_the_request(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let harness = Harness::new(rt);
    let options = client_options(base_config(&server.base_url()));
    let outcome = one_request(&harness, options, append(vec![user("hello")]));

    assert!(!outcome.timed_out, "{rt:?}: the request hung");
    assert!(
        outcome.duration() < Duration::from_secs(10),
        "{:?}",
        outcome.duration()
    );
    let Some(Error::Response(ResponseError::Stream { message })) = outcome.error() else {
        panic!("{rt:?}: expected a stream error, got {:?}", outcome.items)
    };
    assert!(
        message.contains("certificate") || message.contains("UnknownIssuer"),
        "{rt:?}: not a certificate error: {message}"
    );
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    assert_eq!(server.recording().posts(), 0, "nothing got through");
}

#[test]
fn tokio_https_and_wss_with_the_servers_root() {
    https_and_wss_with_the_servers_root(Rt::Tokio);
}

#[test]
fn smol_https_and_wss_with_the_servers_root() {
    https_and_wss_with_the_servers_root(Rt::Smol);
}

#[test]
fn tokio_an_untrusted_certificate_fails_the_request() {
    an_untrusted_certificate_fails_the_request(Rt::Tokio);
}

#[test]
fn smol_an_untrusted_certificate_fails_the_request() {
    an_untrusted_certificate_fails_the_request(Rt::Smol);
}
