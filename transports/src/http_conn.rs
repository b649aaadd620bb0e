//! One HTTP exchange: connect, write the POST, and report the response head, each
//! body chunk and the end to the session as inputs.

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::SinkExt;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use turnwire_protocol::http1::{Part, ResponseDecoder, encode_request};
use turnwire_protocol::session::{HttpOpen, Input};

use crate::connect::{Connector, Endpoint};
use crate::runtime::Runtime;

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;

/// Runs the exchange to its end, reporting everything on `inputs`. Returns when the
/// body ended, the connection failed, or the session went away.
pub(crate) async fn run(
    runtime: Arc<dyn Runtime>,
    connector: Arc<Connector>,
    open: HttpOpen,
    mut inputs: mpsc::Sender<Input>,
) {
    let conn = open.conn;
    if let Err(Stop::Failed(message)) =
        exchange(runtime.as_ref(), &connector, open, &mut inputs).await
    {
        let _ = inputs.send(Input::TransportError { conn, message }).await;
    }
}

/// Why an exchange ended before the body did.
enum Stop {
    /// The exchange failed; the session hears why as a transport error.
    Failed(String),
    /// The session dropped the connection's input channel: nobody listens any more,
    /// so nothing is reported.
    SessionGone,
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Failed(message)
    }
}

/// Reports `input` to the session, or stops the exchange when the session is gone.
async fn report(inputs: &mut mpsc::Sender<Input>, input: Input) -> Result<(), Stop> {
    inputs.send(input).await.map_err(|_| Stop::SessionGone)
}

async fn exchange(
    runtime: &dyn Runtime,
    connector: &Connector,
    open: HttpOpen,
    inputs: &mut mpsc::Sender<Input>,
) -> Result<(), Stop> {
    let conn = open.conn;
    let (mut parts, body) = open.request.into_parts();
    let endpoint = Endpoint::of(&parts.uri).map_err(|e| e.to_string())?;
    let host = endpoint.host_header(&parts.uri);
    parts.headers.insert(
        http::header::HOST,
        host.parse().map_err(|_| "invalid host".to_owned())?,
    );
    let body = if open.compress { compress(body)? } else { body };
    let request = encode_request(&parts, &body);

    let mut stream = match connector.open(runtime, &endpoint).await {
        Ok(stream) => stream,
        Err(err) => {
            return report(inputs, err.into_input(conn)).await;
        }
    };
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("sending the request: {e}"))?;

    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        let decoded = if n == 0 {
            decoder.finish(&mut parts)
        } else {
            decoder.feed(&buf[..n], &mut parts)
        };
        for part in parts.drain(..) {
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
            report(inputs, input).await?;
        }
        decoded.map_err(|e| e.to_string())?;
        if decoder.is_done() || n == 0 {
            return Ok(());
        }
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
