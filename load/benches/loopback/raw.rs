//! The baselines: the same bytes read straight from a socket opened through the same
//! [`Runtime`] the driver uses, with no driver in between. SSE events are counted by
//! their blank lines, WebSocket events by their text frames (read with
//! async-tungstenite, as the driver does). With `parse` set, each event's JSON is
//! also parsed into a `serde_json::Value`, and nothing more.

use std::io;

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use serde_json::Value;
use turnwire_transports::Runtime;

/// Bytes read from the socket at a time, as the driver's HTTP reader does.
const READ_SIZE: usize = 16 * 1024;

/// The request body both raw clients send (the loopback server records it).
const REQUEST: &str = r#"{"type":"response.create","model":"bench","stream":true,"input":[]}"#;

/// Whether the raw client parses each event's JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parse {
    /// Count only.
    No,
    /// `serde_json::from_slice::<Value>` per event.
    Value,
}

/// POSTs to `127.0.0.1:port` and reads the SSE response until `events` events have
/// arrived. Returns the number counted (and parsed, with [`Parse::Value`]).
pub(crate) async fn sse(
    runtime: &dyn Runtime,
    port: u16,
    events: usize,
    parse: Parse,
) -> io::Result<usize> {
    let mut stream = runtime.connect("127.0.0.1".to_owned(), port).await?;
    let request = format!(
        "POST /v1/responses HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {}\r\n\r\n{REQUEST}",
        REQUEST.len()
    );
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = vec![0u8; READ_SIZE];
    let mut counter = BlankLines::default();
    let mut parser = DataLines::default();
    loop {
        let seen = match parse {
            Parse::No => counter.count,
            Parse::Value => parser.parsed,
        };
        if seen >= events {
            return Ok(seen);
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(seen);
        }
        match parse {
            Parse::No => counter.feed(&buf[..n]),
            Parse::Value => parser.feed(&buf[..n]),
        }
    }
}

/// Opens a WebSocket to `127.0.0.1:port`, sends one `response.create` and reads text
/// frames until `events` have arrived. Returns the number counted (and parsed).
pub(crate) async fn ws(
    runtime: &dyn Runtime,
    port: u16,
    events: usize,
    parse: Parse,
) -> io::Result<usize> {
    let stream = runtime.connect("127.0.0.1".to_owned(), port).await?;
    let url = format!("ws://127.0.0.1:{port}/v1/responses");
    let (mut socket, _) = async_tungstenite::client_async(url, stream)
        .await
        .map_err(io::Error::other)?;
    socket
        .send(Message::text(REQUEST))
        .await
        .map_err(io::Error::other)?;
    let mut seen = 0;
    while seen < events {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => match parse {
                Parse::No => seen += 1,
                Parse::Value => {
                    if serde_json::from_str::<Value>(text.as_str()).is_ok() {
                        seen += 1;
                    }
                }
            },
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(io::Error::other(err)),
            None => break,
        }
    }
    Ok(seen)
}

/// Counts `\n\n` pairs across chunk boundaries: one per SSE event of a body that
/// uses `\n` line endings. Chunked-encoding framing (`\r\n`) never forms such a pair.
#[derive(Default)]
struct BlankLines {
    count: usize,
    last_was_newline: bool,
}

impl BlankLines {
    fn feed(&mut self, bytes: &[u8]) {
        let Some((&first, _)) = bytes.split_first() else {
            return;
        };
        let across = usize::from(self.last_was_newline && first == b'\n');
        // A zip of adjacent bytes compiles to a vectorised compare-and-count.
        let within = bytes
            .iter()
            .zip(&bytes[1..])
            .filter(|&(&a, &b)| a == b'\n' && b == b'\n')
            .count();
        self.count += across + within;
        self.last_was_newline = bytes.last() == Some(&b'\n');
    }
}

/// Splits the body into events at `\n\n` and parses each event's `data:` line.
#[derive(Default)]
struct DataLines {
    pending: Vec<u8>,
    parsed: usize,
}

impl DataLines {
    fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = find(&self.pending[start..], b"\n\n") {
            let block = &self.pending[start..start + end];
            if let Some(at) = find(block, b"data: ") {
                let data = &block[at + 6..];
                let data = find(data, b"\n").map_or(data, |line_end| &data[..line_end]);
                if serde_json::from_slice::<Value>(data).is_ok() {
                    self.parsed += 1;
                }
            }
            start += end + 2;
        }
        self.pending.drain(..start);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
