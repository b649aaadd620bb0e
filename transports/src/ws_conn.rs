//! One WebSocket: connect, run async-tungstenite's client handshake with the session's
//! headers, then forward frames to the session and the session's messages to the peer.

use std::sync::Arc;

use async_tungstenite::tungstenite::handshake::client::generate_key;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::future::{Either, poll_fn, select};
use futures_util::{SinkExt, StreamExt};
use turnwire_protocol::session::{Input, WsOpen};

use crate::connect::{Connector, Endpoint};
use crate::keepalive::{Ended, WS_CLOSE_TIME};
use crate::runtime::Runtime;

/// Bytes read from the socket at a time. tungstenite zero-fills this much of its read
/// buffer before every read attempt (pending ones included) and keeps it resident, so
/// its 128 KiB default cost a 128 KiB memset per poll and 128 KiB per idle socket.
const READ_BUFFER: usize = 8 * 1024;

/// Bytes of outgoing frames the socket may hold beyond one message of the configured
/// WebSocket message bound, before tungstenite stops queueing. Without a bound
/// (tungstenite's default) a server that floods pings and never reads the pongs grows
/// the queue without end; with it, pongs that do not fit replace each other.
const WRITE_SLACK: usize = 64 * 1024;

/// The tungstenite settings for a socket whose messages (both ways) are at most
/// `max_message` bytes: a small read buffer and a bounded write buffer.
fn socket_config(max_message: usize) -> WebSocketConfig {
    let config = WebSocketConfig::default();
    let max_write = config
        .write_buffer_size
        .saturating_add(max_message)
        .saturating_add(WRITE_SLACK);
    config
        .read_buffer_size(READ_BUFFER)
        .max_write_buffer_size(max_write)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// What the session asks to send on a socket.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A text message.
    Text(String),
    /// A ping (the session's keepalive of a socket idle in its slot); the pong comes
    /// back as `Input::WsActivity`.
    Ping,
}

/// Runs the socket until it closes, fails, or the session drops `outbound` (then it
/// closes the socket with a close frame). Its last act is to report on `ended`.
pub(crate) async fn run(
    runtime: Arc<dyn Runtime>,
    connector: Arc<Connector>,
    open: WsOpen,
    max_message: usize,
    mut inputs: mpsc::Sender<Input>,
    outbound: mpsc::Receiver<Outbound>,
    mut ended: mpsc::Sender<Ended>,
) {
    let conn = open.conn;
    if let Err(message) = session(
        runtime.as_ref(),
        &connector,
        open,
        max_message,
        &mut inputs,
        outbound,
    )
    .await
        && !message.is_empty()
    {
        let _ = inputs.send(Input::TransportError { conn, message }).await;
    }
    let reusable = None;
    let _ = ended.send(Ended { conn, reusable }).await;
}

async fn session(
    runtime: &dyn Runtime,
    connector: &Connector,
    open: WsOpen,
    max_message: usize,
    inputs: &mut mpsc::Sender<Input>,
    mut outbound: mpsc::Receiver<Outbound>,
) -> Result<(), String> {
    let conn = open.conn;
    let (mut parts, ()) = open.request.into_parts();
    let endpoint = Endpoint::of(&parts.uri).map_err(|e| e.to_string())?;
    let host = endpoint.host_header(&parts.uri);
    let headers = &mut parts.headers;
    let upgrade_headers = [
        ("host", host),
        ("connection", "Upgrade".to_owned()),
        ("upgrade", "websocket".to_owned()),
        ("sec-websocket-version", "13".to_owned()),
        ("sec-websocket-key", generate_key()),
    ];
    for (name, value) in upgrade_headers {
        headers.insert(
            name,
            value
                .parse()
                .map_err(|_| format!("invalid {name} header"))?,
        );
    }
    let request = http::Request::from_parts(parts, ());
    let stream = match connector.open(runtime, &endpoint).await {
        Ok(stream) => stream,
        Err(err) => return send(inputs, err.into_input(conn)).await,
    };
    let config = socket_config(max_message);
    let mut socket =
        match async_tungstenite::client_async_with_config(request, stream, Some(config)).await {
            Ok((socket, response)) => {
                let headers = response.headers().clone();
                send(inputs, Input::WsOpened { conn, headers }).await?;
                socket
            }
            Err(WsError::Http(response)) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = Bytes::from(response.into_body().unwrap_or_default());
                return send(
                    inputs,
                    Input::WsRefused {
                        conn,
                        status,
                        headers,
                        body,
                    },
                )
                .await;
            }
            Err(err) => return Err(format!("WebSocket handshake failed: {err}")),
        };
    loop {
        match select(socket.next(), outbound.next()).await {
            Either::Left((frame, _)) => match frame {
                Some(Ok(Message::Text(text))) => {
                    send(
                        inputs,
                        Input::WsText {
                            conn,
                            text: text.as_str().to_owned(),
                        },
                    )
                    .await?
                }
                Some(Ok(Message::Binary(data))) => {
                    send(
                        inputs,
                        Input::WsBinary {
                            conn,
                            len: data.len(),
                        },
                    )
                    .await?
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    send(inputs, Input::WsActivity { conn }).await?
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                        None => (None, String::new()),
                    };
                    return send(inputs, Input::WsClosed { conn, code, reason }).await;
                }
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(err)) => return Err(err.to_string()),
                None => {
                    return send(
                        inputs,
                        Input::WsClosed {
                            conn,
                            code: None,
                            reason: "connection ended".into(),
                        },
                    )
                    .await;
                }
            },
            Either::Right((Some(outbound), _)) => {
                let message = match outbound {
                    Outbound::Text(text) if text.len() > max_message => {
                        let message = format!(
                            "a request message of {} bytes is over the WebSocket message bound of {max_message} bytes",
                            text.len()
                        );
                        return send(inputs, Input::SendFailed { conn, message }).await;
                    }
                    Outbound::Text(text) => Message::text(text),
                    Outbound::Ping => Message::Ping(Bytes::new()),
                };
                if let Err(err) = socket.send(message).await {
                    return send(
                        inputs,
                        Input::SendFailed {
                            conn,
                            message: err.to_string(),
                        },
                    )
                    .await;
                }
            }
            // The session closed this connection as finished: send a close frame and
            // wait a short while for the peer's, so it ends the TCP stream first.
            Either::Right((None, _)) => {
                if socket.close(None).await.is_ok() {
                    let mut timer = runtime.new_timer(runtime.now() + WS_CLOSE_TIME);
                    let closed = async { while let Some(Ok(_)) = socket.next().await {} };
                    let expired = poll_fn(|cx| timer.as_mut().poll(cx));
                    select(Box::pin(closed), expired).await;
                }
                return Ok(());
            }
        }
    }
}

/// Sends an input to the session; an empty error means the session is gone.
async fn send(inputs: &mut mpsc::Sender<Input>, input: Input) -> Result<(), String> {
    // Most sends find room: no need to build the waiting send for them.
    match inputs.try_send(input) {
        Ok(()) => Ok(()),
        Err(err) if err.is_full() => inputs
            .send(err.into_inner())
            .await
            .map_err(|_| String::new()),
        Err(_) => Err(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_buffer_is_bounded_and_holds_one_full_message() {
        let config = socket_config(1 << 20);
        assert!(config.max_write_buffer_size < usize::MAX);
        assert!(config.max_write_buffer_size > config.write_buffer_size + (1 << 20));
        assert!(config.max_write_buffer_size <= config.write_buffer_size + (1 << 20) + WRITE_SLACK);
        assert_eq!(config.max_message_size, Some(1 << 20));
    }
}
