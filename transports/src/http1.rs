//! A small HTTP/1.1 client codec, sans-IO: the request's bytes out, the response head
//! and body chunks in.
//!
//! DESIGN.md names hyper 1.x for this, but hyper 1.x always depends on tokio (its
//! `sync` feature is not optional), and `turnwire-smol` must have no tokio anywhere in
//! its tree. The driver needs one request per connection with a streamed response
//! body, so this codec covers exactly that: a bounded head parser and the three body
//! framings (chunked, `Content-Length`, close-delimited).

use bytes::{Buf, Bytes, BytesMut};

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size line accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// Why a response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Http1Error {
    #[error("response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("malformed response head: {0}")]
    BadHead(&'static str),
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    #[error("connection closed before the response ended")]
    Truncated,
}

/// Writes a request head and body as HTTP/1.1 bytes. The URI must be in origin-form
/// and a `Host` header present.
pub(crate) fn encode_request(parts: &http::request::Parts, body: &[u8]) -> Vec<u8> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if parts.method != http::Method::GET {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The final (non-1xx) status and headers.
    Head {
        status: u16,
        headers: http::HeaderMap,
    },
    /// Body bytes.
    Data(Bytes),
    /// The body ended.
    End,
}

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

#[derive(Debug)]
enum State {
    Head,
    Body(Body),
    Done,
}

/// Incremental response decoder: [`ResponseDecoder::feed`] bytes as they arrive, then
/// [`ResponseDecoder::finish`] at end of stream.
#[derive(Debug)]
pub(crate) struct ResponseDecoder {
    buf: BytesMut,
    state: State,
}

impl ResponseDecoder {
    pub(crate) fn new() -> Self {
        ResponseDecoder {
            buf: BytesMut::new(),
            state: State::Head,
        }
    }

    /// True once the body ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Takes the next bytes of the connection and appends what they complete to `out`.
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<Part>) -> Result<(), Http1Error> {
        self.buf.extend_from_slice(data);
        loop {
            let progressed = match &mut self.state {
                State::Head => self.head(out)?,
                State::Body(Body::Length(left)) => {
                    let take = (*left).min(self.buf.len() as u64) as usize;
                    if take > 0 {
                        out.push(Part::Data(self.buf.split_to(take).freeze()));
                        *left -= take as u64;
                    }
                    if *left == 0 {
                        self.state = State::Done;
                        out.push(Part::End);
                        true
                    } else {
                        false
                    }
                }
                State::Body(Body::UntilClose) => {
                    if !self.buf.is_empty() {
                        out.push(Part::Data(self.buf.split().freeze()));
                    }
                    false
                }
                State::Body(Body::Chunked(_)) => self.chunked(out)?,
                State::Done => {
                    self.buf.clear();
                    false
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The connection ended: a close-delimited body ends here; anything else that has
    /// not ended is truncated.
    pub(crate) fn finish(&mut self, out: &mut Vec<Part>) -> Result<(), Http1Error> {
        match self.state {
            State::Done => Ok(()),
            State::Body(Body::UntilClose) => {
                self.state = State::Done;
                out.push(Part::End);
                Ok(())
            }
            _ => Err(Http1Error::Truncated),
        }
    }

    fn head(&mut self, out: &mut Vec<Part>) -> Result<bool, Http1Error> {
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            return if self.buf.len() > MAX_HEAD {
                Err(Http1Error::HeadTooLarge)
            } else {
                Ok(false)
            };
        };
        if end > MAX_HEAD {
            return Err(Http1Error::HeadTooLarge);
        }
        let head = self.buf.split_to(end + 4);
        let text =
            std::str::from_utf8(&head[..end]).map_err(|_| Http1Error::BadHead("not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().ok_or(Http1Error::BadHead("empty"))?;
        let mut words = status_line.splitn(3, ' ');
        let version = words.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(Http1Error::BadHead("not an HTTP/1 status line"));
        }
        let status: u16 = words
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(Http1Error::BadHead("bad status code"))?;
        if !(100..1000).contains(&status) {
            return Err(Http1Error::BadHead("bad status code"));
        }
        let mut headers = http::HeaderMap::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or(Http1Error::BadHead("header without colon"))?;
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Http1Error::BadHead("bad header name"))?;
            let value = http::HeaderValue::from_str(value.trim())
                .map_err(|_| Http1Error::BadHead("bad header value"))?;
            headers.append(name, value);
        }
        if (100..200).contains(&status) {
            return Ok(true); // an interim response: the real one follows
        }
        let body = if status == 204 || status == 304 {
            None
        } else if headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| contains_token(v, "chunked"))
        {
            Some(Body::Chunked(Chunk::Size))
        } else if let Some(len) = headers.get(http::header::CONTENT_LENGTH) {
            let len = len
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or(Http1Error::BadHead("bad content-length"))?;
            Some(Body::Length(len))
        } else {
            Some(Body::UntilClose)
        };
        out.push(Part::Head { status, headers });
        match body {
            Some(Body::Length(0)) | None => {
                self.state = State::Done;
                out.push(Part::End);
            }
            Some(body) => self.state = State::Body(body),
        }
        Ok(true)
    }

    fn chunked(&mut self, out: &mut Vec<Part>) -> Result<bool, Http1Error> {
        let State::Body(Body::Chunked(chunk)) = &mut self.state else {
            return Ok(false);
        };
        match chunk {
            Chunk::Size => {
                let Some(end) = find(&self.buf, b"\r\n") else {
                    return if self.buf.len() > MAX_CHUNK_LINE {
                        Err(Http1Error::BadChunk("size line too long"))
                    } else {
                        Ok(false)
                    };
                };
                let line = self.buf.split_to(end + 2);
                let size = line[..end].split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .map(str::trim)
                    .ok_or(Http1Error::BadChunk("size not text"))?;
                let size =
                    u64::from_str_radix(size, 16).map_err(|_| Http1Error::BadChunk("bad size"))?;
                *chunk = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
                Ok(true)
            }
            Chunk::Data(left) => {
                let take = (*left).min(self.buf.len() as u64) as usize;
                if take == 0 {
                    return Ok(false);
                }
                out.push(Part::Data(self.buf.split_to(take).freeze()));
                *left -= take as u64;
                if *left == 0 {
                    *chunk = Chunk::DataEnd;
                }
                Ok(true)
            }
            Chunk::DataEnd => {
                if self.buf.len() < 2 {
                    return Ok(false);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(Http1Error::BadChunk("data not followed by CRLF"));
                }
                self.buf.advance(2);
                *chunk = Chunk::Size;
                Ok(true)
            }
            Chunk::Trailers => {
                let Some(end) = find(&self.buf, b"\r\n") else {
                    return if self.buf.len() > MAX_HEAD {
                        Err(Http1Error::BadChunk("trailers too long"))
                    } else {
                        Ok(false)
                    };
                };
                self.buf.advance(end + 2);
                if end == 0 {
                    self.state = State::Done;
                    out.push(Part::End);
                }
                Ok(true)
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains_token(value: &http::HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(bytes: &[u8], at: usize) -> Result<Vec<Part>, Http1Error> {
        let mut decoder = ResponseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(&bytes[..at], &mut out)?;
        decoder.feed(&bytes[at..], &mut out)?;
        decoder.finish(&mut out)?;
        Ok(out)
    }

    /// Joins body parts so splits compare equal regardless of chunking.
    fn normalise(parts: Vec<Part>) -> (u16, Vec<u8>, bool) {
        let mut status = 0;
        let mut body = Vec::new();
        let mut ended = false;
        for part in parts {
            match part {
                Part::Head { status: s, .. } => status = s,
                Part::Data(d) => body.extend_from_slice(&d),
                Part::End => ended = true,
            }
        }
        (status, body, ended)
    }

    #[test]
    fn every_framing_decodes_the_same_at_every_split() {
        let cases: [(&[u8], &[u8]); 4] = [
            (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", b"hello"),
            (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nx-trailer: 1\r\n\r\n", b"hello"),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nhello", b"hello"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        ];
        for (wire, body) in cases {
            for at in 0..=wire.len() {
                let parts = decode_split(wire, at).unwrap_or_else(|e| panic!("split {at}: {e}"));
                let (status, got, ended) = normalise(parts);
                assert!(status == 200 || status == 204);
                assert_eq!(got, body, "split at {at}");
                assert!(ended);
            }
        }
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        assert_eq!(
            decode_split(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello", 3),
            Err(Http1Error::Truncated)
        );
        assert_eq!(
            decode_split(b"HTTP/1.1 200 OK\r\n", 3),
            Err(Http1Error::Truncated)
        );
        assert!(matches!(
            decode_split(b"SSH-2.0\r\n\r\n", 0),
            Err(Http1Error::BadHead(_))
        ));
        let bad_chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            decode_split(bad_chunk, 0),
            Err(Http1Error::BadChunk(_))
        ));
        let mut decoder = ResponseDecoder::new();
        let endless = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(
            decoder.feed(&endless, &mut Vec::new()),
            Err(Http1Error::HeadTooLarge)
        );
    }

    #[test]
    fn requests_are_written_in_origin_form_with_a_length() {
        let (mut parts, ()) = http::Request::post("/v1/responses?x=1")
            .body(())
            .unwrap()
            .into_parts();
        parts
            .headers
            .insert("host", "example.test".parse().unwrap());
        let bytes = encode_request(&parts, b"{}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("POST /v1/responses?x=1 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("host: example.test\r\n"));
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"));
    }
}
