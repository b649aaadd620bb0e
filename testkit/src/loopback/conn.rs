//! One accepted connection: an HTTP exchange or a WebSocket, played out from the fake
//! server's emissions on the server's clock (real time on sockets, virtual time on the
//! virtual runtime's network).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode,
};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use turnwire_protocol::session::{ConnId, HttpOpen, Input, WsOpen};
use turnwire_protocol::time::Instant;

use super::Shared;
use super::clock::Sleep;
use super::head::{RequestHead, read_head};
use crate::sim::{Emission, UNIX_BASE_MS};

/// Largest request body accepted (after decompression too); a larger announced body
/// is refused with 413 before any of it is read.
const MAX_BODY: usize = 64 << 20;

/// Bytes read from a WebSocket at a time. tungstenite zero-fills this much of its read
/// buffer before every read attempt; the server polls for a read before every frame it
/// sends, so the 128 KiB default meant a 128 KiB memset per frame sent.
const WS_READ_BUFFER: usize = 8 * 1024;

/// Serves one connection until it ends: requests one after the other (HTTP/1.1
/// keep-alive) until the client closes, asks to close, a reply ends the connection, a
/// scenario's keep-alive rule closes it, or no head arrives within the head timeout; or
/// one WebSocket after an upgrade.
pub(crate) async fn serve<S>(mut stream: S, shared: Arc<Shared>, conn: ConnId, scheme: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + ResetOnDrop,
{
    let authority = shared.authority.clone();
    // Bytes read past the previous request: the start of a pipelined one.
    let mut buffer = Vec::new();
    let mut served: u32 = 0;
    // The keep-alive rules close this connection when the next request arrives.
    let mut drop_next = false;
    loop {
        let give_up = shared.clock.now() + shared.options.head_timeout;
        let read = {
            let reading = Box::pin(read_head(&mut stream, &mut buffer));
            match select(reading, shared.clock.sleep_until(give_up)).await {
                Either::Left((read, _)) => read,
                // No whole head in time.
                Either::Right(_) => return,
            }
        };
        let head = match read {
            Ok(Some(head)) => head,
            // The client closed.
            Ok(None) => return,
            Err(err) => {
                let error = ApiError::new(400, "bad_request", &err.to_string());
                return error.send(&mut stream, &shared, conn, true).await;
            }
        };
        if drop_next {
            shared.idle_closes.fetch_add(1, Ordering::Relaxed);
            let _ = stream.close().await;
            return;
        }
        if head.is_websocket() {
            if head.method == http::Method::GET && is_responses(head.route()) {
                let ws_scheme = if scheme == "https" { "wss" } else { "ws" };
                let origin = format!("{ws_scheme}://{authority}");
                Box::pin(websocket(stream, head, &shared, conn, origin)).await;
            } else {
                let error = ApiError::not_found(&head);
                error.send(&mut stream, &shared, conn, true).await;
            }
            return;
        }
        let framing_error = match head.content_length() {
            _ if head.is_chunked() => Some(ApiError::new(
                411,
                "length_required",
                "a request body needs a Content-Length",
            )),
            None => Some(ApiError::new(400, "bad_request", "invalid Content-Length")),
            Some(length) if length > MAX_BODY => Some(ApiError::new(
                413,
                "request_too_large",
                "the request body is larger than the server accepts",
            )),
            Some(_) => None,
        };
        if let Some(error) = framing_error {
            return error.send(&mut stream, &shared, conn, true).await;
        }
        let length = head.content_length().unwrap_or(0);
        let Ok(body) = Box::pin(read_body(&mut stream, &mut buffer, length)).await else {
            return;
        };
        if let Some(journal) = &shared.options.journal {
            journal.request(conn, &head.method, &head.path, &head.headers, &body);
        }
        served = served.saturating_add(1);
        let number = shared.http_responses.fetch_add(1, Ordering::Relaxed) + 1;
        let keep_alive = &shared.options.keep_alive;
        let announce_close = head.wants_close()
            || keep_alive
                .max_requests
                .is_some_and(|max| served >= max.get());
        let silent_close = keep_alive.close_idle_after.contains(&number);
        drop_next = keep_alive.drop_next_request_after.contains(&number);
        let finished = match (route(&head), &head.method) {
            (Route::Responses, &http::Method::POST) => {
                let origin = format!("{scheme}://{authority}");
                Box::pin(exchange(
                    &mut stream,
                    head,
                    body,
                    &shared,
                    conn,
                    origin,
                    announce_close,
                ))
                .await
            }
            (Route::Responses, _) => {
                let error = ApiError::new(
                    405,
                    "method_not_allowed",
                    &format!("{} is not allowed on {}", head.method, head.route()),
                );
                error.send(&mut stream, &shared, conn, announce_close).await;
                true
            }
            (Route::Models, &http::Method::GET) => {
                let list = json!({"object": "list", "data": [model_object(DEFAULT_MODEL)]});
                send_json(&mut stream, &shared, conn, 200, &list, announce_close).await;
                true
            }
            (Route::Model(id), &http::Method::GET) => {
                let model = model_object(&id);
                send_json(&mut stream, &shared, conn, 200, &model, announce_close).await;
                true
            }
            _ => {
                let error = ApiError::not_found(&head);
                error.send(&mut stream, &shared, conn, announce_close).await;
                true
            }
        };
        if !finished || announce_close || silent_close {
            if finished && silent_close && !announce_close {
                shared.idle_closes.fetch_add(1, Ordering::Relaxed);
            }
            let _ = stream.close().await;
            return;
        }
    }
}

/// The model `GET /v1/models` lists.
const DEFAULT_MODEL: &str = "turnwire-default";

/// A model object as `GET /v1/models` lists it.
fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": UNIX_BASE_MS / 1000, "owned_by": "turnwire"})
}

/// What a request target names.
enum Route {
    /// `…/responses`.
    Responses,
    /// `…/models`.
    Models,
    /// `…/models/{id}`.
    Model(String),
    /// Anything else.
    Other,
}

/// True for the Responses endpoint: any path whose last segment is `responses`
/// (`/v1/responses`, or behind a prefix such as `/openai/v1/responses`).
fn is_responses(route: &str) -> bool {
    route == "/responses" || route.ends_with("/responses")
}

fn route(head: &RequestHead) -> Route {
    let path = head.route();
    if is_responses(path) {
        return Route::Responses;
    }
    if path == "/models" || path.ends_with("/models") {
        return Route::Models;
    }
    match path.rsplit_once("/models/") {
        Some((_, id)) if !id.is_empty() && !id.contains('/') => Route::Model(id.to_owned()),
        _ => Route::Other,
    }
}

/// An OpenAI-shaped error answer: `{"error": {"message", "type", "param", "code"}}`.
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: &str) -> Self {
        ApiError {
            status,
            code,
            message: message.to_owned(),
        }
    }

    fn not_found(head: &RequestHead) -> Self {
        ApiError::new(
            404,
            "not_found",
            &format!("no route for {} {}", head.method, head.route()),
        )
    }

    fn body(&self) -> Value {
        json!({"error": {
            "message": self.message, "type": "invalid_request_error", "param": null, "code": self.code
        }})
    }

    async fn send<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        shared: &Shared,
        conn: ConnId,
        close: bool,
    ) {
        send_json(stream, shared, conn, self.status, &self.body(), close).await;
    }
}

/// Sends a whole JSON answer with `Content-Length`.
async fn send_json<S: AsyncWrite + Unpin>(
    stream: &mut S,
    shared: &Shared,
    conn: ConnId,
    status: u16,
    body: &Value,
    close: bool,
) {
    let body = body.to_string();
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let mut bytes = response_head(
        shared,
        conn,
        status,
        headers,
        &format!("content-length: {}", body.len()),
        close,
    );
    bytes.extend_from_slice(body.as_bytes());
    let _ = stream.write_all(&bytes).await;
    let _ = stream.flush().await;
}

/// Headers the server frames itself; a script's values for them are dropped. A
/// script's `connection` header is sent as given: a scenario can announce a close the
/// server does not carry out, to show that a client never reuses such a connection.
const FRAMING_HEADERS: [&str; 2] = ["content-length", "transfer-encoding"];

/// Headers a response carries once: a later value replaces an earlier one (a
/// scenario's `content-type` replaces the default instead of adding a second).
const SINGLE_HEADERS: [&str; 2] = ["content-type", "x-request-id"];

/// A response head: the status line, `headers` (single-valued ones deduplicated,
/// framing ones dropped), an `x-request-id` unless one is given, `framing` and
/// `connection: close` when the connection ends after this response (once, when the
/// script already says it). Journals the head as sent.
fn response_head(
    shared: &Shared,
    conn: ConnId,
    status: u16,
    headers: Vec<(String, String)>,
    framing: &str,
    close: bool,
) -> Vec<u8> {
    let mut sent: Vec<(String, String)> = Vec::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if FRAMING_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        if SINGLE_HEADERS.contains(&lower.as_str()) {
            sent.retain(|(n, _)| !n.eq_ignore_ascii_case(&lower));
        }
        sent.push((name, value));
    }
    if !sent
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
    {
        let id = shared.next_request_id.fetch_add(1, Ordering::Relaxed);
        sent.push(("x-request-id".into(), format!("req_{id:08}")));
    }
    let announced = sent
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    if close && !announced {
        sent.push(("connection".into(), "close".into()));
    }
    if let Some(journal) = &shared.options.journal {
        journal.response(conn, status, &sent);
    }
    let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in &sent {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !framing.is_empty() {
        text.push_str(framing);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Emissions ordered by time, measured from `start`.
fn timeline(start: Instant, mut emissions: Vec<Emission>) -> Vec<(Instant, Input)> {
    emissions.sort_by_key(|e| e.after);
    emissions
        .into_iter()
        .map(|e| (start + e.after, e.input))
        .collect()
}

/// Plays one `POST` out; true when the response ended normally and the connection
/// may carry another request.
async fn exchange<S>(
    stream: &mut S,
    head: RequestHead,
    body: Bytes,
    shared: &Shared,
    conn: ConnId,
    origin: String,
    close: bool,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let start = shared.clock.now();
    let compressed = head
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"zstd");
    let body = if compressed {
        match zstd::bulk::decompress(&body, MAX_BODY) {
            Ok(plain) => Bytes::from(plain),
            Err(_) => {
                let error = ApiError::new(400, "bad_request", "request body is not valid zstd");
                error.send(stream, shared, conn, true).await;
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
            let error = ApiError::new(400, "bad_request", "bad request target");
            error.send(stream, shared, conn, true).await;
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
        shared.clock.sleep_until(at).await;
        let written = match input {
            Input::HttpResponse {
                status, headers, ..
            } => {
                head_sent = true;
                let text = response_head(
                    shared,
                    conn,
                    status,
                    pairs(&headers),
                    "transfer-encoding: chunked",
                    close,
                );
                stream.write_all(&text).await
            }
            Input::HttpBody { data, .. } if head_sent && !data.is_empty() => {
                let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                stream.write_all(&chunk).await
            }
            Input::HttpEnd { .. } => {
                if !head_sent {
                    return false;
                }
                return stream.write_all(b"0\r\n\r\n").await.is_ok()
                    && stream.flush().await.is_ok();
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
    S: AsyncRead + AsyncWrite + Unpin + Send + ResetOnDrop,
{
    let start = shared.clock.now();
    let key = head
        .headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut request = http::Request::new(());
    *request.uri_mut() = match format!("{origin}{}", head.path).parse() {
        Ok(uri) => uri,
        Err(_) => {
            let error = ApiError::new(400, "bad_request", "bad request target");
            return error.send(&mut stream, shared, conn, true).await;
        }
    };
    if let Some(journal) = &shared.options.journal {
        journal.handshake(conn, &head.path, &head.headers);
    }
    *request.headers_mut() = head.headers;
    let open = WsOpen { conn, request };
    // A deque: frames leave from the front, so a long script costs linear time, not
    // quadratic (`Vec::remove(0)` per frame took over a second for 10,000 frames).
    let mut pending: VecDeque<(Instant, Input)> = timeline(
        start,
        shared.with_server(|server, now| server.on_open_ws(now, &open)),
    )
    .into();
    let Some(key) = key else {
        let error = ApiError::new(400, "bad_request", "missing sec-websocket-key");
        return error.send(&mut stream, shared, conn, true).await;
    };
    // The first emission decides the handshake.
    let (at, first) = match pending.pop_front() {
        Some((at, input)) => (at, Some(input)),
        None => (start, None),
    };
    shared.clock.sleep_until(at).await;
    match first {
        Some(Input::WsOpened { headers, .. }) => {
            let mut all = vec![
                ("upgrade".to_owned(), "websocket".to_owned()),
                (
                    "sec-websocket-accept".to_owned(),
                    derive_accept_key(key.as_bytes()),
                ),
            ];
            all.extend(pairs(&headers));
            let text = response_head(shared, conn, 101, all, "connection: Upgrade", false);
            if stream.write_all(&text).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
        Some(Input::WsRefused {
            status,
            headers,
            body,
            ..
        }) => {
            let mut bytes = response_head(
                shared,
                conn,
                status,
                pairs(&headers),
                &format!("content-length: {}", body.len()),
                true,
            );
            bytes.extend_from_slice(&body);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.close().await;
            return;
        }
        Some(Input::TransportError { .. }) => {
            // A connect that gets no HTTP answer at all: reset it.
            stream.reset_on_drop();
            return;
        }
        _ => {
            // No answer: hang until the client gives up.
            wait_for_close(&mut stream).await;
            return shared.with_server(|server, now| server.on_close(now, conn));
        }
    }
    let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
    let stream = Muzzle {
        inner: stream,
        silent: false,
    };
    let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
    loop {
        let due: Sleep = match pending.front() {
            Some((at, _)) => shared.clock.sleep_until(*at),
            None => Box::pin(std::future::pending()),
        };
        // The socket first: what the client sent is taken before what is due.
        let frame = match select(socket.next(), due).await {
            Either::Left((frame, _)) => Some(frame),
            Either::Right(_) => None,
        };
        match frame {
            Some(Some(Ok(Message::Text(text)))) => {
                if let Some(journal) = &shared.options.journal {
                    journal.message(conn, text.as_str());
                }
                let now = shared.clock.now();
                let emissions =
                    shared.with_server(|server, t| server.on_send_ws(t, conn, text.as_str()));
                pending.extend(timeline(now, emissions));
                pending.make_contiguous().sort_by_key(|(at, _)| *at);
            }
            Some(Some(Ok(Message::Ping(_)))) => {
                // tungstenite has queued the pong; it leaves with the next read
                // unless the script says this peer went silent.
                let answered = shared.with_server(|server, t| server.on_ping(t, conn));
                if answered.is_empty() {
                    socket.get_mut().silent = true;
                }
            }
            Some(Some(Ok(_))) => {}
            Some(Some(Err(_)) | None) => {
                return shared.with_server(|server, now| server.on_close(now, conn));
            }
            None => {
                let Some((_, input)) = pending.pop_front() else {
                    continue;
                };
                let sent = match input {
                    Input::WsText { text, .. } => socket.send(Message::text(text)).await,
                    Input::WsActivity { .. } => socket.send(Message::Ping(Bytes::new())).await,
                    Input::WsBinary { len, .. } => {
                        let data = Bytes::from(vec![0u8; len]);
                        socket.send(Message::Binary(data)).await
                    }
                    Input::WsClosed { code, reason, .. } => {
                        let frame = code.map(|code| CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        });
                        let _ = socket.close(frame).await;
                        return;
                    }
                    // A cut: drop the connection without a close frame.
                    Input::TransportError { .. } => return,
                    // A message on a socket the server had already closed: the peer's
                    // kernel answers it with a reset.
                    Input::SendFailed { .. } => {
                        socket.get_ref().inner.reset_on_drop();
                        return;
                    }
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

/// A connection the server can end with a TCP reset instead of an orderly close.
pub(crate) trait ResetOnDrop {
    /// Makes dropping the connection send a reset (RST) instead of a FIN, as a peer
    /// that vanished or a closed socket receiving data does. Best effort: an error
    /// setting the option leaves the orderly close.
    fn reset_on_drop(&self);
}

impl ResetOnDrop for tokio_util::compat::Compat<tokio::net::TcpStream> {
    fn reset_on_drop(&self) {
        let _ = self.get_ref().set_zero_linger();
    }
}

impl<S: ResetOnDrop> ResetOnDrop for futures_rustls::server::TlsStream<S> {
    fn reset_on_drop(&self) {
        self.get_ref().0.reset_on_drop();
    }
}

/// A WebSocket connection whose writes can be switched off: a peer that went silent
/// (it answers no pings, PROTOCOL.md 8.1) still reads, so it notices the client's
/// close, but sends nothing any more, pongs and close replies included.
struct Muzzle<S> {
    inner: S,
    /// Writes are accepted and dropped.
    silent: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Muzzle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Muzzle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.silent {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.silent {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.silent {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

/// Bytes read from the socket at a time while reading a body.
const BODY_READ: usize = 16 * 1024;

/// Reads a body of `length` bytes: first what `buffer` already holds (leaving any
/// bytes past the body there), then from the socket. The body grows with the bytes
/// that arrive, never with the length announced, so a client announcing 64 MiB and
/// sending 10 bytes costs 10 bytes plus one read buffer.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    length: usize,
) -> std::io::Result<Bytes> {
    let buffered = length.min(buffer.len());
    let mut body: Vec<u8> = buffer.drain(..buffered).collect();
    if body.len() < length {
        let mut chunk = vec![0u8; BODY_READ.min(length - body.len())];
        while body.len() < length {
            let want = chunk.len().min(length - body.len());
            let n = stream.read(&mut chunk[..want]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(Bytes::from(body))
}

/// Reads and discards until the peer closes or fails.
async fn wait_for_close<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status")
}
