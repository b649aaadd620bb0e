//! Reading an HTTP/1.1 request head on the server side, bounded.

use futures_util::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head and the bytes read past it.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
    /// Bytes after the head (the start of the body).
    pub(crate) rest: Vec<u8>,
}

impl RequestHead {
    /// True for a WebSocket upgrade request.
    pub(crate) fn is_websocket(&self) -> bool {
        self.headers
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }

    /// `Content-Length`, or 0.
    pub(crate) fn content_length(&self) -> usize {
        self.headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Reads one request head. `Ok(None)` when the client closed before sending one.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Option<RequestHead>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
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
    let rest = buf[end + 4..].to_vec();
    Ok(Some(RequestHead {
        method,
        path,
        headers,
        rest,
    }))
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}
