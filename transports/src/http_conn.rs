//! One HTTP exchange: connect, send the POST with hyper's HTTP/1.1 client connection,
//! and report the head, each body chunk and the end to the session as inputs.

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_rustls::TlsConnector;
use futures_util::SinkExt;
use futures_util::future::{Either, select};
use http_body_util::{BodyExt, Full};
use turnwire_protocol::session::{HttpOpen, Input};

use crate::io::HyperIo;
use crate::runtime::Runtime;
use crate::tls::{Endpoint, open_stream};

/// Runs the exchange to its end, reporting everything on `inputs`. Returns when the
/// body ended, the connection failed, or the session went away.
pub(crate) async fn run(
    runtime: Arc<dyn Runtime>,
    tls: TlsConnector,
    open: HttpOpen,
    mut inputs: mpsc::Sender<Input>,
) {
    let conn = open.conn;
    if let Err(message) = exchange(runtime.as_ref(), &tls, open, &mut inputs).await {
        let _ = inputs.send(Input::TransportError { conn, message }).await;
    }
}

async fn exchange(
    runtime: &dyn Runtime,
    tls: &TlsConnector,
    open: HttpOpen,
    inputs: &mut mpsc::Sender<Input>,
) -> Result<(), String> {
    let conn = open.conn;
    let (mut parts, body) = open.request.into_parts();
    let endpoint = Endpoint::of(&parts.uri).map_err(|e| e.to_string())?;
    let host = endpoint.host_header(&parts.uri);
    parts.headers.insert(
        http::header::HOST,
        host.parse().map_err(|_| "invalid host".to_owned())?,
    );
    // hyper's client connection writes the URI as given: send origin-form.
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = path
        .parse()
        .map_err(|_| "invalid request path".to_owned())?;
    let body = if open.compress { compress(body)? } else { body };
    let request = http::Request::from_parts(parts, Full::new(body));

    let stream = open_stream(runtime, tls, &endpoint)
        .await
        .map_err(|e| format!("connect {}:{}: {e}", endpoint.host, endpoint.port))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;

    let work = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (head, mut body) = response.into_parts();
        let input = Input::HttpResponse {
            conn,
            status: head.status.as_u16(),
            headers: head.headers,
        };
        inputs.send(input).await.map_err(|_| String::new())?;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                if !data.is_empty() {
                    inputs
                        .send(Input::HttpBody { conn, data })
                        .await
                        .map_err(|_| String::new())?;
                }
            }
        }
        inputs
            .send(Input::HttpEnd { conn })
            .await
            .map_err(|_| String::new())
    };
    let mut connection = core::pin::pin!(connection);
    let mut work = core::pin::pin!(work);
    match select(work.as_mut(), connection.as_mut()).await {
        Either::Left((result, _)) => result,
        Either::Right((Err(e), _)) => Err(e.to_string()),
        // The connection finished cleanly; the exchange still completes on its own.
        Either::Right((Ok(()), work)) => work.await,
    }
    .or_else(|message| {
        if message.is_empty() {
            Ok(())
        } else {
            Err(message)
        }
    })
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
