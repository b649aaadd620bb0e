//! PROTOCOL.md 3.3, bounded WebSocket buffers: a hostile server completes the
//! handshake, then floods pings and never reads the client's pongs. The client's
//! outgoing queue is bounded, so its memory stays flat instead of growing by one pong
//! per ping.
//!
//! The memory figure is the process's peak resident set (`VmHWM`, Linux only), so the
//! test runs alone in its process, as nextest runs every test.
#![allow(clippy::print_stderr)] // the skip notice and the measurement's figure

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures_channel::mpsc;
use futures_util::StreamExt;
use turnwire_protocol::session::Input;
use turnwire_protocol::{Config, WsProtocol};
use turnwire_tests::harness::within;
use turnwire_tests::scenario::{PATIENCE, base_config, client_options};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::{Client, InputRecorder};

/// Payload of each ping: the most a control frame may carry.
const PING_PAYLOAD: usize = 125;
/// Pings written per `write_all`.
const PINGS_PER_WRITE: usize = 512;

/// A server that accepts one WebSocket, writes `pings` pings, then a close frame, and
/// never reads after the handshake. Returns the listening port and the thread.
fn flooding_server(pings: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let thread = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("the client connects");
        let key = read_handshake(&mut socket);
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        socket
            .write_all(answer.as_bytes())
            .expect("answers the handshake");
        let mut ping = vec![0x89, PING_PAYLOAD as u8];
        ping.extend(std::iter::repeat_n(b'p', PING_PAYLOAD));
        let chunk = ping.repeat(PINGS_PER_WRITE);
        let mut left = pings;
        while left > 0 {
            let n = left.min(PINGS_PER_WRITE);
            if socket.write_all(&chunk[..n * ping.len()]).is_err() {
                return; // the client gave up on the connection: also bounded
            }
            left -= n;
        }
        // A close frame with code 1000, so the client reports the end.
        let _ = socket.write_all(&[0x88, 0x02, 0x03, 0xe8]);
        // The flood is over: drain until the client closes, so the close frame is
        // not lost to a reset.
        let _ = std::io::copy(&mut socket, &mut std::io::sink());
    });
    (port, thread)
}

/// Reads the handshake head and returns its `Sec-WebSocket-Key`.
fn read_handshake(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 16 * 1024, "handshake head too long");
        socket.read_exact(&mut byte).expect("reads the handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .expect("a Sec-WebSocket-Key header")
}

/// The process's peak and current resident set in KiB (`VmHWM`, `VmRSS`), where
/// `/proc` has them.
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Runs a preconnected client against the flooding server until the server's close
/// arrives (or the client drops the connection).
fn flood(rt: Rt, pings: usize, config: Config) {
    let (port, server) = flooding_server(pings);
    let harness = Harness::new(rt);
    let runtime = harness.runtime();
    let mut config = Config {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        ..config
    };
    config.websockets = true;
    config.ws_protocol = WsProtocol::V2;
    config.preconnect = Some(true);
    let (sender, mut inputs) = mpsc::unbounded();
    let recorder: InputRecorder = Arc::new(move |_, input: &Input| {
        if matches!(
            input,
            Input::WsClosed { .. } | Input::TransportError { .. } | Input::SendFailed { .. }
        ) {
            let _ = sender.unbounded_send(input.clone());
        }
    });
    let mut options = client_options(config);
    options.recorder = Some(recorder);
    let ended = harness.block_on(async move {
        let client = Client::new(runtime.clone(), options).expect("a client");
        client.preconnect();
        let ended = within(runtime.as_ref(), PATIENCE * 4, inputs.next()).await;
        drop(client);
        ended
    });
    let ended = ended
        .expect("the flood ended within the patience")
        .expect("an input");
    assert!(
        matches!(ended, Input::WsClosed { .. } | Input::TransportError { .. }),
        "{ended:?}"
    );
    drop(harness);
    server.join().expect("the server thread");
}

fn small_messages() -> Config {
    let mut config = base_config("http://127.0.0.1:1/v1");
    config.limits.ws_message = 64 * 1024;
    config
}

/// 300 000 unanswered pings would queue about 39 MB of pongs in an unbounded client;
/// the bounded one stays within a few MiB of where it started.
fn pongs_nobody_reads_do_not_grow_memory(rt: Rt) {
    let Some((_, before)) = memory_kib() else {
        eprintln!("skipped: no /proc/self/status on this platform");
        return;
    };
    flood(rt, 300_000, small_messages());
    let (peak, _) = memory_kib().expect("read before");
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 16 * 1024,
        "{rt:?}: peak resident set grew by {growth} KiB during the flood"
    );
}

#[test]
fn tokio_pongs_nobody_reads_do_not_grow_memory() {
    pongs_nobody_reads_do_not_grow_memory(Rt::Tokio);
}

#[test]
fn smol_pongs_nobody_reads_do_not_grow_memory() {
    pongs_nobody_reads_do_not_grow_memory(Rt::Smol);
}

/// The figure for the closing note: peak resident set of a client receiving one
/// million pings with the default limits.
/// `cargo test --release -p turnwire-tests --test ws_flood -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: one million pings, run by hand"]
fn one_million_pings_peak_rss() {
    let (_, before) = memory_kib().expect("a Linux /proc");
    let config = base_config("http://127.0.0.1:1/v1");
    flood(Rt::Tokio, 1_000_000, config);
    let (peak, after) = memory_kib().expect("a Linux /proc");
    eprintln!(
        "one million pings: resident set {before} KiB before, peak {peak} KiB (+{} KiB), {after} KiB after",
        peak.saturating_sub(before)
    );
}
