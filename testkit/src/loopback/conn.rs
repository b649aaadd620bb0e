//! One accepted connection: HTTP exchanges one after another (keep-alive) or a
//! WebSocket, played out in real time from the fake server's emissions.

use std::collections::VecDeque;
use std::sync::Arc;
use tokio::time::Instant as StdInstant;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode,
};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use turnwire_protocol::session::{ConnId, HttpOpen, Input, WsOpen};

use super::Shared;
use super::head::{RequestHead, read_head};
use crate::sim::{Emission, IdleFate};

/// Largest request body accepted (after decompression too).
const MAX_BODY: usize = 64 << 20;

/// Bytes read from a WebSocket at a time. tungstenite zero-fills this much of its read
/// buffer before every read attempt; the server polls for a read before every frame it
/// sends, so the 128 KiB default meant a 128 KiB memset per frame sent.
const WS_READ_BUFFER: usize = 8 * 1024;

/// Serves one connection until it ends: HTTP requests one after another while the
/// connection is kept alive, or one WebSocket.
pub(crate) async fn serve<S>(mut stream: S, shared: Arc<Shared>, conn: ConnId, scheme: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let authority = format!("127.0.0.1:{}", shared.port);
    let mut reused = false;
    let mut fate = IdleFate::Keep;
    loop {
        let head = match fate {
            IdleFate::CloseAfter(idle) => {
                let arrived = tokio::select! {
                    head = read_head(&mut stream) => Some(head),
                    () = tokio::time::sleep(idle) => None,
                };
                match arrived {
                    Some(head) => head,
                    None => return idle_close(stream, &shared).await,
                }
            }
            _ => read_head(&mut stream).await,
        };
        let Ok(Some(head)) = head else {
            return;
        };
        if reused
            && (fate == IdleFate::DropNext
                || shared.with_server(|server, _| server.keep_alive.drop_reused_arrival()))
        {
            return idle_close(stream, &shared).await;
        }
        if head.is_websocket() {
            let ws_scheme = if scheme == "https" { "wss" } else { "ws" };
            let origin = format!("{ws_scheme}://{authority}");
            return websocket(stream, head, &shared, conn, origin).await;
        }
        let close_asked = head
            .headers
            .get(http::header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let index = shared.with_server(|server, _| server.recording().posts());
        let origin = format!("{scheme}://{authority}");
        if !exchange(&mut stream, head, &shared, conn, origin).await || close_asked {
            let _ = stream.close().await;
            return;
        }
        fate = shared.with_server(|server, _| server.keep_alive.after_response(index));
        if fate == IdleFate::Close {
            return idle_close(stream, &shared).await;
        }
        reused = true;
    }
}

/// Ends a keep-alive connection on the server's initiative and counts it.
async fn idle_close<S: AsyncWrite + Unpin>(mut stream: S, shared: &Shared) {
    shared.idle_closed();
    let _ = stream.close().await;
}

/// Emissions ordered by time, measured from `start`.
fn timeline(start: StdInstant, mut emissions: Vec<Emission>) -> Vec<(StdInstant, Input)> {
    emissions.sort_by_key(|e| e.after);
    emissions
        .into_iter()
        .map(|e| (start + e.after, e.input))
        .collect()
}

/// Plays one HTTP exchange. True when the response ended cleanly and the connection
/// may serve another request.
async fn exchange<S>(
    stream: &mut S,
    head: RequestHead,
    shared: &Shared,
    conn: ConnId,
    origin: String,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let start = StdInstant::now();
    let Ok(body) = read_body(stream, &head).await else {
        return false;
    };
    let compressed = head
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"zstd");
    let body = if compressed {
        match zstd::bulk::decompress(&body, MAX_BODY) {
            Ok(plain) => Bytes::from(plain),
            Err(_) => {
                respond_plain(stream, 400, "request body is not valid zstd").await;
                return false;
            }
        }
    } else {
        body
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = head.method;
    *request.uri_mut() = match format!("{origin}{}", head.path).parse() {
        Ok(uri) => uri,
        Err(_) => {
            respond_plain(stream, 400, "bad request target").await;
            return false;
        }
    };
    *request.headers_mut() = head.headers;
    let open = HttpOpen {
        conn,
        request,
        compress: compressed,
        reuse: true,
    };
    let emissions = shared.with_server(|server, now| server.on_open_http(now, &open));
    let mut head_sent = false;
    for (at, input) in timeline(start, emissions) {
        sleep_until(at).await;
        let written = match input {
            Input::HttpResponse {
                status, headers, ..
            } => {
                head_sent = true;
                let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (name, value) in &headers {
                    text.push_str(&format!(
                        "{name}: {}\r\n",
                        String::from_utf8_lossy(value.as_bytes())
                    ));
                }
                text.push_str("transfer-encoding: chunked\r\n\r\n");
                stream.write_all(text.as_bytes()).await
            }
            Input::HttpBody { data, .. } if head_sent && !data.is_empty() => {
                let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                stream.write_all(&chunk).await
            }
            Input::HttpEnd { .. } => {
                let ended = !head_sent || stream.write_all(b"0\r\n\r\n").await.is_ok();
                return ended && head_sent && stream.flush().await.is_ok();
            }
            // A cut: end the connection without finishing the chunked body.
            Input::TransportError { .. } => return false,
            _ => Ok(()),
        };
        if written.is_err() || stream.flush().await.is_err() {
            return false; // the client went away
        }
    }
    // A stall: nothing more is sent until the client gives up.
    wait_for_close(stream).await;
    shared.with_server(|server, now| server.on_close(now, conn));
    false
}

async fn websocket<S>(
    mut stream: S,
    head: RequestHead,
    shared: &Shared,
    conn: ConnId,
    origin: String,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let start = StdInstant::now();
    let key = head
        .headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut request = http::Request::new(());
    *request.uri_mut() = match format!("{origin}{}", head.path).parse() {
        Ok(uri) => uri,
        Err(_) => return respond_plain(&mut stream, 400, "bad request target").await,
    };
    *request.headers_mut() = head.headers;
    let open = WsOpen { conn, request };
    // A deque: frames leave from the front, so a long script costs linear time, not
    // quadratic (`Vec::remove(0)` per frame took over a second for 10,000 frames).
    let mut pending: VecDeque<(StdInstant, Input)> = timeline(
        start,
        shared.with_server(|server, now| server.on_open_ws(now, &open)),
    )
    .into();
    let Some(key) = key else {
        return respond_plain(&mut stream, 400, "missing sec-websocket-key").await;
    };
    // The first emission decides the handshake.
    let (at, first) = match pending.pop_front() {
        Some((at, input)) => (at, Some(input)),
        None => (start, None),
    };
    sleep_until(at).await;
    match first {
        Some(Input::WsOpened { headers, .. }) => {
            let mut text = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n",
                derive_accept_key(key.as_bytes())
            );
            for (name, value) in &headers {
                text.push_str(&format!(
                    "{name}: {}\r\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            text.push_str("\r\n");
            if stream.write_all(text.as_bytes()).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
        Some(Input::WsRefused {
            status,
            headers,
            body,
            ..
        }) => {
            let mut text = format!(
                "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in &headers {
                text.push_str(&format!(
                    "{name}: {}\r\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            text.push_str("\r\n");
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.close().await;
            return;
        }
        Some(Input::TransportError { .. }) => return,
        _ => {
            // No answer: hang until the client gives up.
            wait_for_close(&mut stream).await;
            return shared.with_server(|server, now| server.on_close(now, conn));
        }
    }
    let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
    let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
    loop {
        let next = pending.front().map(|(at, _)| *at);
        let due = async {
            match next {
                Some(at) => sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let now = StdInstant::now();
                    let emissions = shared.with_server(|server, t| server.on_send_ws(t, conn, text.as_str()));
                    pending.extend(timeline(now, emissions));
                    pending.make_contiguous().sort_by_key(|(at, _)| *at);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return shared.with_server(|server, now| server.on_close(now, conn)),
            },
            () = due => {
                let Some((_, input)) = pending.pop_front() else {
                    continue;
                };
                let sent = match input {
                    Input::WsText { text, .. } => socket.send(Message::text(text)).await,
                    Input::WsActivity { .. } => socket.send(Message::Ping(Bytes::new())).await,
                    Input::WsBinary { len, .. } => socket.send(Message::Binary(Bytes::from(vec![0u8; len]))).await,
                    Input::WsClosed { code, reason, .. } => {
                        let frame = code.map(|code| CloseFrame { code: CloseCode::from(code), reason: reason.into() });
                        let _ = socket.close(frame).await;
                        return;
                    }
                    // A cut: drop the connection without a close frame.
                    Input::TransportError { .. } => return,
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &RequestHead,
) -> std::io::Result<Bytes> {
    let length = head.content_length();
    if length > MAX_BODY {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "request body too large",
        ));
    }
    let mut body = head.rest.clone();
    body.truncate(length);
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        stream.read_exact(&mut body[start..]).await?;
    }
    Ok(Bytes::from(body))
}

async fn respond_plain<S: AsyncWrite + Unpin>(stream: &mut S, status: u16, message: &str) {
    let text = format!(
        "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n\r\n{message}",
        reason(status),
        message.len()
    );
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.close().await;
}

/// Reads and discards until the peer closes or fails.
async fn wait_for_close<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Waits until `at`, and not at all once it has passed: tokio's timer rounds a
/// deadline up to its next 1 ms tick, so sleeping until an instant already past still
/// waited up to a millisecond, added to every immediate reply and handshake.
async fn sleep_until(at: StdInstant) {
    if at > StdInstant::now() {
        tokio::time::sleep_until(at).await;
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status")
}
