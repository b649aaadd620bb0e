//! Scenario 31 and the trust policy of PROTOCOL.md 3.3 on both runtimes: `https://`
//! and `wss://` against the loopback server, whose leaf certificate chains to a
//! generated CA. Trusted through the CA as an extra PEM file, refused without it with
//! a certificate error that names the host.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use turnwire_protocol::{Config, ResponseError, WsProtocol};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_testkit::wire::user;
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, one_request};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{RootStore, StreamError, TlsSettings};

/// The server's CA written to a PEM file in a fresh temporary directory.
struct CaFile {
    dir: PathBuf,
    path: PathBuf,
}

impl CaFile {
    fn of(server: &LoopbackServer, rt: Rt) -> CaFile {
        let der = server
            .root_certificate_der()
            .expect("a TLS server has a CA");
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        let dir = std::env::temp_dir().join(format!(
            "turnwire-ca-{}-{rt:?}-{}",
            std::process::id(),
            server.addr().port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("ca.pem");
        std::fs::write(&path, pem).expect("writes the CA file");
        CaFile { dir, path }
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn websocket(config: &mut Config) {
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(false);
}

/// Scenario 31, first half: the platform's store plus the CA file (the default policy
/// with one extra CA) carries `https` and `wss`.
fn https_and_wss_with_the_ca_file(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let base_url = server.base_url();
    assert!(base_url.starts_with("https://127.0.0.1:"), "{base_url}");
    let ca = CaFile::of(&server, rt);
    let trusted = || {
        TlsSettings::default()
            .with_ca_file(&ca.path)
            .expect("a CA file")
    };
    let harness = Harness::new(rt);

    let mut http = client_options(base_config(&base_url));
    http.tls = trusted();
    let over_https = one_request(&harness, http, append(vec![user("over https")]));

    let mut config = base_config(&base_url);
    websocket(&mut config);
    let mut ws = client_options(config);
    ws.tls = trusted();
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
    assert_eq!(rec.ws_messages[0].json["input"], json!([user("over wss")]));
    assert_eq!(server.accepted_connections(), 2);
}

/// A client that trusts the CA alone (no platform or bundled roots) works the same.
fn only_the_ca(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let harness = Harness::new(rt);
    let der = server.root_certificate_der().expect("a CA").to_vec();
    let mut options = client_options(base_config(&server.base_url()));
    options.tls = TlsSettings::new(RootStore::None).with_root(der);
    let outcome = one_request(&harness, options, append(vec![user("hello")]));
    assert!(outcome.is_completed(), "{rt:?}: {:?}", outcome.items);
}

/// Scenario 31, second half: without the CA, `https` and `wss` fail with a
/// certificate error naming the host and the reason; no request reaches the server.
fn an_untrusted_certificate_is_a_certificate_error(rt: Rt) {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS loopback server");
    let harness = Harness::new(rt);
    for websockets in [false, true] {
        let mut config = Config {
            stream_max_retries: 1,
            ..base_config(&server.base_url())
        };
        if websockets {
            websocket(&mut config);
        }
        let outcome = one_request(
            &harness,
            client_options(config),
            append(vec![user("hello")]),
        );
        assert!(!outcome.timed_out, "{rt:?}: the request hung");
        assert!(
            outcome.duration() < Duration::from_secs(10),
            "{:?}",
            outcome.duration()
        );
        let Some(StreamError::Response(error @ ResponseError::Certificate { host, reason })) =
            outcome.error()
        else {
            panic!(
                "{rt:?}: expected a certificate error, got {:?}",
                outcome.items
            )
        };
        assert_eq!(host, "127.0.0.1");
        assert_eq!(reason, "UnknownIssuer");
        assert_eq!(
            error.to_string(),
            "certificate error: invalid peer certificate for 127.0.0.1: UnknownIssuer"
        );
    }
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let rec = server.recording();
    assert_eq!(
        (rec.posts(), rec.ws_attempts()),
        (0, 0),
        "nothing got through"
    );
}

#[test]
fn tokio_s31_https_and_wss_with_the_ca_file() {
    https_and_wss_with_the_ca_file(Rt::Tokio);
}

#[test]
fn smol_s31_https_and_wss_with_the_ca_file() {
    https_and_wss_with_the_ca_file(Rt::Smol);
}

#[test]
fn tokio_only_the_ca() {
    only_the_ca(Rt::Tokio);
}

#[test]
fn smol_only_the_ca() {
    only_the_ca(Rt::Smol);
}

#[test]
fn tokio_s31_an_untrusted_certificate_is_a_certificate_error() {
    an_untrusted_certificate_is_a_certificate_error(Rt::Tokio);
}

#[test]
fn smol_s31_an_untrusted_certificate_is_a_certificate_error() {
    an_untrusted_certificate_is_a_certificate_error(Rt::Smol);
}
