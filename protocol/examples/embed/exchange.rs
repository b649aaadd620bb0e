//! One HTTP exchange: the request written with the core's codec, and the response
//! bytes turned into session inputs by the core's response decoder.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use turnwire_protocol::http1::{Part, ResponseDecoder, encode_request};
use turnwire_protocol::session::{ConnId, HttpOpen, Input};

use crate::net::{self, Stream};

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;

/// What one read gave.
pub(crate) enum Received {
    /// Inputs for the session, in order (the last one ends the exchange when it is
    /// `HttpEnd` or `TransportError`).
    Inputs(Vec<Input>),
    /// Nothing arrived before the timeout.
    TimedOut,
}

/// An open HTTP connection carrying one request.
pub(crate) struct Exchange {
    /// The session's handle for it.
    pub(crate) conn: ConnId,
    stream: Stream,
    decoder: ResponseDecoder,
    buf: Vec<u8>,
    /// The response ended or failed; nothing more will be read.
    finished: bool,
}

impl Exchange {
    /// Connects and sends the request of `open`. On failure, returns what happened,
    /// for a `TransportError` input.
    pub(crate) fn open(
        open: HttpOpen,
        connect_timeout: Duration,
        tls: &Arc<ClientConfig>,
    ) -> Result<Exchange, String> {
        let conn = open.conn;
        if open.compress {
            return Err("this example does not compress requests".to_owned());
        }
        let (mut parts, body) = open.request.into_parts();
        let host = match (parts.uri.host(), parts.uri.port_u16()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err("the request URL has no host".to_owned()),
        };
        let host = http::HeaderValue::from_str(&host)
            .map_err(|_| "the host is not a header value".to_owned())?;
        parts.headers.insert(http::header::HOST, host);
        let mut stream = net::connect(&parts.uri, connect_timeout, tls)?;
        // A TLS handshake runs inside the first write; bound it like the connect.
        let sent = stream
            .set_read_timeout(Some(connect_timeout))
            .and_then(|()| stream.write_all(&encode_request(&parts, &body)))
            .and_then(|()| stream.flush());
        sent.map_err(|e| format!("sending the request: {e}"))?;
        Ok(Exchange {
            conn,
            stream,
            decoder: ResponseDecoder::default(),
            buf: vec![0; READ_SIZE],
            finished: false,
        })
    }

    /// True once the response ended or failed.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// Waits up to `timeout` (`None`: no bound) for response bytes and decodes them.
    pub(crate) fn read(&mut self, timeout: Option<Duration>) -> Received {
        let conn = self.conn;
        if let Err(e) = self.stream.set_read_timeout(timeout) {
            return self.fail(format!("setting the read timeout: {e}"), Vec::new());
        }
        let mut parts = Vec::new();
        let decoded = match self.stream.read(&mut self.buf) {
            Ok(0) => self.decoder.finish(&mut parts),
            Ok(n) => self.decoder.feed(&self.buf[..n], &mut parts),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Received::TimedOut;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return Received::Inputs(Vec::new()),
            Err(e) => return self.fail(format!("reading the response: {e}"), Vec::new()),
        };
        let inputs: Vec<Input> = parts
            .into_iter()
            .filter_map(|part| match part {
                Part::Head(head) => Some(Input::HttpResponse {
                    conn,
                    status: head.status,
                    headers: head.headers,
                }),
                Part::Data(data) => Some(Input::HttpBody { conn, data }),
                Part::End => Some(Input::HttpEnd { conn }),
                _ => None,
            })
            .collect();
        if let Err(e) = decoded {
            return self.fail(e.to_string(), inputs);
        }
        self.finished = self.decoder.is_done();
        Received::Inputs(inputs)
    }

    fn fail(&mut self, message: String, mut inputs: Vec<Input>) -> Received {
        self.finished = true;
        inputs.push(Input::TransportError {
            conn: self.conn,
            message,
        });
        Received::Inputs(inputs)
    }
}
