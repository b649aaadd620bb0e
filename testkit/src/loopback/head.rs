//! Reading an HTTP/1.1 request head on the server side, bounded.

use futures_util::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
}

impl RequestHead {
    /// True for a WebSocket upgrade request.
    pub(crate) fn is_websocket(&self) -> bool {
        self.headers
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }

    /// `Content-Length`, or 0; `None` when it is present but not a number.
    pub(crate) fn content_length(&self) -> Option<usize> {
        match self.headers.get(http::header::CONTENT_LENGTH) {
            None => Some(0),
            Some(v) => v.to_str().ok()?.trim().parse().ok(),
        }
    }

    /// True when the body is chunked (not supported for requests: answered 411).
    pub(crate) fn is_chunked(&self) -> bool {
        self.headers.contains_key(http::header::TRANSFER_ENCODING)
    }

    /// True when the client asked to close the connection after this exchange.
    pub(crate) fn wants_close(&self) -> bool {
        self.headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("close"))
    }

    /// The path without its query.
    pub(crate) fn route(&self) -> &str {
        let path = self.path.split('?').next().unwrap_or_default();
        path.strip_suffix('/').unwrap_or(path)
    }
}

/// Bytes read from the socket at a time while waiting for a head: small, because an
/// idle connection holds this much for as long as it stays open.
const HEAD_READ: usize = 1024;

/// Reads one request head. `buf` holds bytes already read on the connection (a
/// pipelined request's start) and keeps whatever follows the head (the body's start).
/// `Ok(None)` when the client closed before sending one.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<RequestHead>> {
    let mut chunk = [0u8; HEAD_READ];
    let mut searched = 0;
    let end = loop {
        if let Some(at) = find_blank_line(&buf[searched..]) {
            break searched + at;
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(invalid("connection closed inside a request head"))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text =
        std::str::from_utf8(&buf[..end]).map_err(|_| invalid("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let mut words = lines.next().unwrap_or_default().split(' ');
    let method = words
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| invalid("bad method"))?;
    let path = words
        .next()
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| invalid("bad request target"))?
        .to_owned();
    if words
        .next()
        .is_some_and(|version| !version.starts_with("HTTP/1."))
    {
        return Err(invalid("not an HTTP/1.x request"));
    }
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header without colon"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| invalid("bad header name"))?;
        let value =
            http::HeaderValue::from_str(value.trim()).map_err(|_| invalid("bad header value"))?;
        headers.append(name, value);
    }
    buf.drain(..end + 4);
    Ok(Some(RequestHead {
        method,
        path,
        headers,
    }))
}

/// The offset of the first blank line (`\r\n\r\n`).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}
