//! `request_compression = true`: the body goes out zstd-compressed with
//! `Content-Encoding: zstd`, and decodes to exactly what an uncompressed request
//! carries. WebSocket messages are never compressed.

use turnwire_protocol::WsProtocol;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_testkit::wire::user;
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, one_request};
use turnwire_tests::{Harness, Rt};

fn compressed_body_decodes_to_the_plain_one(rt: Rt) {
    let server = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let harness = Harness::new(rt);
    for compress in [false, true] {
        let mut config = base_config(&server.base_url());
        config.request_compression = compress;
        let outcome = one_request(
            &harness,
            client_options(config),
            append(vec![user("squeeze me")]),
        );
        assert!(outcome.is_completed(), "{rt:?}: {:?}", outcome.items);
    }
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let rec = server.recording();
    let (plain, squeezed) = (&rec.http[0], &rec.http[1]);
    assert_eq!(rec.post_header(0, "content-encoding"), None);
    assert!(!plain.compress);
    assert_eq!(
        rec.post_header(1, "content-encoding").as_deref(),
        Some("zstd")
    );
    assert!(squeezed.compress, "the server decompressed a zstd body");
    assert_eq!(squeezed.body, plain.body, "the same request, compressed");
    assert_eq!(
        squeezed.body["input"],
        serde_json::json!([user("squeeze me")])
    );
    let length = |i| {
        rec.post_header(i, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
    };
    assert_ne!(length(0), length(1), "the wire carried different bytes");
}

fn websocket_messages_stay_plain(rt: Rt) {
    let server = LoopbackServer::start(FakeServer::new()).expect("a loopback server");
    let harness = Harness::new(rt);
    let mut config = base_config(&server.base_url());
    config.request_compression = true;
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(false);
    let outcome = one_request(
        &harness,
        client_options(config),
        append(vec![user("hello")]),
    );
    assert!(outcome.is_completed(), "{rt:?}: {:?}", outcome.items);
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    let rec = server.recording();
    assert_eq!(rec.posts(), 0);
    assert_eq!(rec.handshake_header(0, "content-encoding"), None);
    assert_eq!(
        rec.ws_messages[0].json["type"], "response.create",
        "a plain JSON text frame"
    );
}

#[test]
fn tokio_compressed_body_decodes_to_the_plain_one() {
    compressed_body_decodes_to_the_plain_one(Rt::Tokio);
}

#[test]
fn smol_compressed_body_decodes_to_the_plain_one() {
    compressed_body_decodes_to_the_plain_one(Rt::Smol);
}

#[test]
fn tokio_websocket_messages_stay_plain() {
    websocket_messages_stay_plain(Rt::Tokio);
}

#[test]
fn smol_websocket_messages_stay_plain() {
    websocket_messages_stay_plain(Rt::Smol);
}
