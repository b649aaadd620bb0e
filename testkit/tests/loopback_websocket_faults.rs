//! The loopback server's WebSocket faults over real sockets: a silent peer that
//! answers no pings, a socket closed silently that resets on the next message, and a
//! handshake reset before any answer. Each is driven by a plain blocking WebSocket
//! client, and each check reads both what the client got and what the server recorded.

use std::io::ErrorKind;
use std::net::TcpStream;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::protocol::WebSocket;
use async_tungstenite::tungstenite::{self, Bytes, Message};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Handshake};

fn ws_url(server: &LoopbackServer) -> String {
    format!("ws://{}/v1/responses", server.addr())
}

fn connect(server: &LoopbackServer) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let request = ws_url(server).into_client_request()?;
    let tcp = TcpStream::connect(server.addr()).expect("the loopback server accepts");
    match tungstenite::client(request, tcp) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(err)) => Err(err),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            unreachable!("a blocking socket never interrupts the handshake")
        }
    }
}

/// Pings, then starts the closing handshake, and returns every frame the server sent
/// until the connection ended (no timing involved: the server's answers, if any, come
/// before its end of the connection).
fn ping_then_close(socket: &mut WebSocket<TcpStream>) -> Vec<Message> {
    socket
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .expect("the ping goes out");
    socket.close(None).expect("the close frame goes out");
    let mut received = Vec::new();
    loop {
        match socket.read() {
            Ok(message) => received.push(message),
            Err(_) => return received,
        }
    }
}

#[test]
fn an_answering_peer_records_the_ping_and_sends_the_pong() {
    let server = LoopbackServer::start(FakeServer::new()).expect("bind 127.0.0.1");
    let mut socket = connect(&server).expect("the handshake succeeds");

    let received = ping_then_close(&mut socket);

    assert!(
        matches!(&received[..], [Message::Pong(data), Message::Close(_)] if &data[..] == b"are you there"),
        "{received:?}"
    );
    let rec = server.recording();
    assert_eq!(rec.pings.len(), 1);
    assert_eq!(rec.pings[0].1, rec.handshakes[0].conn);
}

#[test]
fn a_silent_peer_reads_the_ping_and_sends_nothing_more() {
    let mut script = FakeServer::new();
    script.stop_answering_pings();
    let server = LoopbackServer::start(script).expect("bind 127.0.0.1");
    let mut socket = connect(&server).expect("the handshake succeeds");

    let received = ping_then_close(&mut socket);

    assert_eq!(received, [], "no pong, and no close reply either");
    let rec = server.recording();
    assert_eq!(rec.pings.len(), 1, "the ping was read and recorded");
    assert!(
        server.wait_for_open_connections_at_most(0, std::time::Duration::from_secs(30)),
        "the silent peer still noticed the client's close"
    );
}

#[test]
fn a_message_on_a_silently_closed_socket_is_lost_and_the_connection_reset() {
    let server = LoopbackServer::start(FakeServer::new()).expect("bind 127.0.0.1");
    let mut socket = connect(&server).expect("the handshake succeeds");
    server.with_script(FakeServer::close_all_silently);

    let message = r#"{"type":"response.create","model":"m","input":[],"stream":true}"#;
    socket
        .send(Message::text(message))
        .expect("the message goes out");
    let error = socket.read().expect_err("nothing but the reset comes back");

    assert!(
        matches!(&error, tungstenite::Error::Io(e) if e.kind() == ErrorKind::ConnectionReset),
        "{error:?}"
    );
    let rec = server.recording();
    assert_eq!(rec.ws_messages.len(), 1);
    assert!(rec.ws_messages[0].lost, "recorded as lost");
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
}

#[test]
fn a_failed_handshake_is_reset_before_any_answer() {
    let mut script = FakeServer::new();
    script.push_handshake(Handshake::Fail("connection reset by peer".into()));
    let server = LoopbackServer::start(script).expect("bind 127.0.0.1");

    let error = connect(&server).expect_err("the handshake fails");

    assert!(
        matches!(&error, tungstenite::Error::Io(e) if e.kind() == ErrorKind::ConnectionReset),
        "{error:?}"
    );
    let rec = server.recording();
    assert_eq!(rec.ws_attempts(), 1);
    assert_eq!(rec.handshakes[0].status, 0, "never answered");
    // The next handshake is unscripted and succeeds on a fresh connection.
    connect(&server).expect("the next handshake succeeds");
    assert_eq!(server.accepted_connections(), 2);
}
