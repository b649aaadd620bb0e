//! One HTTP exchange: connect (or take a pooled connection), write the POST, report
//! the response head, the body bytes of each read (its chunks joined) and the end to
//! the session as inputs, and hand the connection back for reuse when the response was
//! read to its end.

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use futures_util::future::{Either, poll_fn, select};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use turnwire_protocol::http1::{Part, ResponseDecoder, encode_request};
use turnwire_protocol::session::{HttpOpen, Input};

use crate::body_batch;
use crate::connect::{Connector, Endpoint};
use crate::keepalive::{DRAIN_BYTES, DRAIN_TIME, Ended};
use crate::runtime::{BoxStream, Runtime};

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;

/// Runs the exchange to its end, reporting everything on `inputs`, on `reused` (a
/// pooled connection) or on a new one. Once the session stops listening (it closed
/// the connection as finished, and dropped the sender of `stop`), reads the body on to
/// its end within the drain bounds. Its last act is to report on `ended`, with the
/// socket when it may be reused.
pub(crate) async fn run(
    runtime: Arc<dyn Runtime>,
    connector: Arc<Connector>,
    open: HttpOpen,
    reused: Option<BoxStream>,
    channels: Channels,
) {
    let Channels {
        mut inputs,
        stop,
        mut ended,
    } = channels;
    let conn = open.conn;
    let was_reused = reused.is_some();
    let exchanged = exchange(
        runtime.as_ref(),
        &connector,
        open,
        reused,
        &mut inputs,
        stop,
    )
    .await;
    let reusable = match exchanged {
        Ok(reusable) => reusable,
        Err(failure) => {
            let input = match failure {
                Failure::SessionGone => None,
                Failure::Report(input) => Some(*input),
                Failure::Stale(message) if was_reused => Some(Input::HttpStale { conn, message }),
                Failure::Stale(message) | Failure::Other(message) => {
                    Some(Input::TransportError { conn, message })
                }
            };
            if let Some(input) = input {
                let _ = inputs.send(input).await;
            }
            None
        }
    };
    let _ = ended.send(Ended { conn, reusable }).await;
}

/// How an exchange task talks with the driver.
pub(crate) struct Channels {
    /// Transport results for the session.
    pub(crate) inputs: mpsc::Sender<Input>,
    /// Resolves (its sender dropped) when the session stops listening.
    pub(crate) stop: oneshot::Receiver<()>,
    /// The task's end report.
    pub(crate) ended: mpsc::Sender<Ended>,
}

/// Why an exchange ended without a reusable connection.
enum Failure {
    /// The connection failed before any byte of the response arrived.
    Stale(String),
    /// Any other failure.
    Other(String),
    /// Opening a new connection failed; the input says how (typed set-up failures
    /// such as a proxy refusal or a certificate error, or a transport error).
    Report(Box<Input>),
    /// The session stopped listening and the connection cannot be reused.
    SessionGone,
}

async fn exchange(
    runtime: &dyn Runtime,
    connector: &Connector,
    open: HttpOpen,
    reused: Option<BoxStream>,
    inputs: &mut mpsc::Sender<Input>,
    mut stop: oneshot::Receiver<()>,
) -> Result<Option<(Endpoint, BoxStream)>, Failure> {
    let conn = open.conn;
    let (mut parts, body) = open.request.into_parts();
    let endpoint = Endpoint::of(&parts.uri).map_err(|e| Failure::Other(e.to_string()))?;
    let host = endpoint.host_header(&parts.uri);
    parts.headers.insert(
        http::header::HOST,
        host.parse()
            .map_err(|_| Failure::Other("invalid host".to_owned()))?,
    );
    let body = if open.compress {
        compress(body).map_err(Failure::Other)?
    } else {
        body
    };
    let request = encode_request(&parts, &body);

    let mut stream = match reused {
        Some(stream) => stream,
        None => connector
            .open(runtime, &endpoint)
            .await
            .map_err(|err| Failure::Report(Box::new(err.into_input(conn))))?,
    };
    let sent = async {
        stream.write_all(&request).await?;
        stream.flush().await
    };
    sent.await
        .map_err(|e| Failure::Stale(format!("sending the request: {e}")))?;

    let mut reader = Reader {
        decoder: ResponseDecoder::default(),
        parts: Vec::new(),
        buf: vec![0u8; READ_SIZE],
        received: 0,
        error: None,
    };
    let mut listening = true;
    while listening {
        let read = Box::pin(reader.read(&mut stream));
        let n = match select(read, &mut stop).await {
            Either::Left((n, _)) => n?,
            Either::Right(_) => break, // the session stopped listening
        };
        body_batch::join_data(&mut reader.parts);
        for part in reader.parts.drain(..) {
            let input = match part {
                Part::Head(head) => Input::HttpResponse {
                    conn,
                    status: head.status,
                    headers: head.headers,
                },
                Part::Data(data) => Input::HttpBody { conn, data },
                Part::End => Input::HttpEnd { conn },
                // A part kind this driver does not know yet cannot be reported.
                _ => continue,
            };
            if listening && inputs.send(input).await.is_err() {
                listening = false;
            }
        }
        if let Some(message) = reader.error.take() {
            return Err(Failure::Other(message));
        }
        if reader.decoder.is_done() || n == 0 {
            return Ok(reader.reusable(endpoint, stream));
        }
    }
    // The session closed the connection as finished: read the body on to its end,
    // within the drain bounds, then offer the connection for reuse.
    let mut timer = runtime.new_timer(runtime.now() + DRAIN_TIME);
    let drain_from = reader.received;
    loop {
        let read = Box::pin(reader.read(&mut stream));
        let expired = poll_fn(|cx| timer.as_mut().poll(cx));
        let n = match select(read, expired).await {
            Either::Left((n, _)) => n.map_err(|_| Failure::SessionGone)?,
            Either::Right(_) => return Err(Failure::SessionGone),
        };
        reader.parts.clear();
        if reader.error.is_some() {
            return Err(Failure::SessionGone);
        }
        if reader.decoder.is_done() || n == 0 {
            return Ok(reader.reusable(endpoint, stream));
        }
        if reader.received - drain_from > DRAIN_BYTES {
            return Err(Failure::SessionGone);
        }
    }
}

/// The response side of an exchange: the decoder and what it has seen.
struct Reader {
    decoder: ResponseDecoder,
    parts: Vec<Part>,
    buf: Vec<u8>,
    /// Response bytes read so far.
    received: usize,
    /// A decoding error, reported after the parts decoded before it.
    error: Option<String>,
}

impl Reader {
    /// Reads once and decodes into `self.parts`. Returns the bytes read (0 at end of
    /// stream). A failure before any response byte is [`Failure::Stale`].
    async fn read(&mut self, stream: &mut BoxStream) -> Result<usize, Failure> {
        let n = match stream.read(&mut self.buf).await {
            Ok(n) => n,
            Err(e) if self.received == 0 => {
                return Err(Failure::Stale(format!("reading the response: {e}")));
            }
            Err(e) => return Err(Failure::Other(format!("reading the response: {e}"))),
        };
        if n == 0 && self.received == 0 {
            return Err(Failure::Stale(
                "connection closed before any byte of the response".to_owned(),
            ));
        }
        self.received += n;
        let decoded = if n == 0 {
            self.decoder.finish(&mut self.parts)
        } else {
            self.decoder.feed(&self.buf[..n], &mut self.parts)
        };
        // What decoded before an error still goes to the session first.
        self.error = decoded.err().map(|e| e.to_string());
        Ok(n)
    }

    /// The connection for the pool when the codec says it may carry another request:
    /// the response ended by its framing (not by the end of the stream), no side asked
    /// to close, and no byte arrived after its end.
    fn reusable(&self, endpoint: Endpoint, stream: BoxStream) -> Option<(Endpoint, BoxStream)> {
        self.decoder
            .reusable()
            .is_ok()
            .then_some((endpoint, stream))
    }
}

#[cfg(feature = "zstd")]
fn compress(body: Bytes) -> Result<Bytes, String> {
    zstd::bulk::compress(&body, 3)
        .map(Bytes::from)
        .map_err(|e| format!("zstd compression failed: {e}"))
}

#[cfg(not(feature = "zstd"))]
fn compress(_body: Bytes) -> Result<Bytes, String> {
    Err("request compression needs the turnwire-transports `zstd` feature".to_owned())
}
