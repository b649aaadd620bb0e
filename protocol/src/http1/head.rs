//! Finding and parsing one response head (status line and header fields) with
//! `httparse`, within the head bounds.

use http::{HeaderMap, HeaderName, HeaderValue, Version};

use super::{Http1Error, Http1Limits};

/// A parsed head: status, version and headers.
pub(super) struct RawHead {
    pub(super) status: u16,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
}

/// Where the blank line that ends a head is searched from, so bytes fed one at a time
/// are scanned once, not once per feed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct HeadScan {
    from: usize,
}

impl HeadScan {
    /// The length of the head at the start of `buf` (through its blank line), or `None`
    /// while the blank line has not arrived. A line may end in CRLF or, as RFC 9112
    /// section 2.2 lets a recipient accept, a bare LF.
    pub(super) fn find_end(&mut self, buf: &[u8]) -> Option<usize> {
        for lf in memchr::memchr_iter(b'\n', buf.get(self.from..)?).map(|i| i + self.from) {
            match (buf.get(lf + 1), buf.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (None, _) | (Some(b'\r'), None) => {
                    self.from = lf;
                    return None;
                }
                _ => {}
            }
        }
        self.from = buf.len();
        None
    }
}

/// Parses the head that `scan` finds at the start of `buf`. Returns the head and its
/// length in bytes, `None` while it is incomplete.
///
/// # Errors
/// [`Http1Error::HeadTooLarge`] as soon as the head is known to be over the bound,
/// [`Http1Error::TooManyHeaders`], or [`Http1Error::BadHead`].
pub(super) fn parse(
    buf: &[u8],
    scan: &mut HeadScan,
    limits: &Http1Limits,
) -> Result<Option<(RawHead, usize)>, Http1Error> {
    let too_large = Http1Error::HeadTooLarge {
        limit: limits.max_head,
    };
    let Some(end) = scan.find_end(buf) else {
        return if buf.len() > limits.max_head {
            Err(too_large)
        } else {
            Ok(None)
        };
    };
    if end > limits.max_head {
        return Err(too_large);
    }
    // A field line is at least three bytes ("a:\n"), so more slots than that could
    // never be filled within the head bound.
    let slots = limits.max_headers.min(limits.max_head / 3 + 1);
    let mut fields = vec![httparse::EMPTY_HEADER; slots];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(len)) if len == end => len,
        Ok(httparse::Status::Complete(_)) => return Err(Http1Error::BadHead("head ends early")),
        Ok(httparse::Status::Partial) => return Err(Http1Error::BadHead("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Http1Error::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(error) => return Err(Http1Error::BadHead(describe(error))),
    };
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Http1Error::BadHead("unknown HTTP version")),
    };
    let status = response.code.ok_or(Http1Error::BadHead("missing status"))?;
    if !(100..=999).contains(&status) {
        return Err(Http1Error::BadHead("status out of range"));
    }
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for field in response.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| Http1Error::BadHead("invalid header name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| Http1Error::BadHead("invalid header value"))?;
        headers.append(name, value);
    }
    Ok(Some((
        RawHead {
            status,
            version,
            headers,
        },
        len,
    )))
}

fn describe(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line end",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::Version => "not an HTTP/1 status line",
        httparse::Error::TooManyHeaders => "too many header fields",
    }
}
