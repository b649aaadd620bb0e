//! Writing a request as HTTP/1.1 bytes.

use http::header::{ACCEPT_ENCODING, CONTENT_LENGTH, TRANSFER_ENCODING};

/// Writes a request head and body as HTTP/1.1 bytes, ready to send on a connection.
/// Call it once per request; the result does not depend on anything else.
///
/// The request line has the URI's path and query (origin-form); every header of
/// `parts` follows in order, so `Host` must be among them. The body is framed by a
/// `content-length` this function writes (for any method but a `GET` with an empty
/// body); a `content-length` or `transfer-encoding` in `parts` is not copied, so the
/// framing cannot conflict. `accept-encoding: identity` is added unless `parts` has an
/// `Accept-Encoding` (PROTOCOL.md section 3.3).
pub fn encode_request(parts: &http::request::Parts, body: &[u8]) -> Vec<u8> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        field(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !parts.headers.contains_key(ACCEPT_ENCODING) {
        field(&mut out, b"accept-encoding", b"identity");
    }
    if parts.method != http::Method::GET || !body.is_empty() {
        field(
            &mut out,
            b"content-length",
            body.len().to_string().as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
