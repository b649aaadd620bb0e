//! The pure rules of a response head: how its body is framed (RFC 9112 section 6.3),
//! whether its connection may carry another request (section 9.3), and whether its
//! content encoding is one the client can read.

use http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Version};

use super::Http1Error;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No body (1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Why a connection must not carry another request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotReusable {
    /// The response has not been read to its end.
    #[error("the response was not read to its end")]
    NotEnded,
    /// The body ran until the server closed.
    #[error("the body was delimited by closing the connection")]
    CloseDelimited,
    /// The server sent `Connection: close`.
    #[error("the server sent connection: close")]
    ConnectionClose,
    /// An HTTP/1.0 response without `Connection: keep-alive`.
    #[error("an HTTP/1.0 response without keep-alive")]
    Http10,
    /// Both `Transfer-Encoding` and `Content-Length`: the framing was ambiguous.
    #[error("the response had both transfer-encoding and content-length")]
    AmbiguousFraming,
    /// The server sent bytes after the end of the response.
    #[error("the server sent bytes after the end of the response")]
    BytesAfterEnd,
    /// The response failed to decode.
    #[error("the response failed to decode")]
    Failed,
}

/// What a final response head says about its body and its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// How the body is delimited.
    pub body: BodyFraming,
    /// `Ok` when the head allows the connection to be reused once the body ended;
    /// otherwise why not.
    pub reuse: Result<(), NotReusable>,
}

/// Decides the framing of a final (non-1xx) response to a `GET` or `POST` from its
/// status, HTTP version and headers. Call it once per final head; it reads nothing
/// else and never panics.
///
/// # Errors
/// A malformed or conflicting `Content-Length`, a malformed `Transfer-Encoding`, or
/// `Transfer-Encoding` on an HTTP/1.0 response (RFC 9112 section 6.1: faulty framing).
pub fn body_framing(
    status: u16,
    version: Version,
    headers: &HeaderMap,
) -> Result<Framing, Http1Error> {
    let mut reuse = connection_reuse(version, headers);
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        BodyFraming::Empty
    } else if has_te {
        if version == Version::HTTP_10 {
            return Err(Http1Error::BadTransferEncoding("on an HTTP/1.0 response"));
        }
        if headers.contains_key(CONTENT_LENGTH) && reuse.is_ok() {
            reuse = Err(NotReusable::AmbiguousFraming);
        }
        if final_coding_is_chunked(headers)? {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        }
    } else if let Some(len) = content_length(headers)? {
        if len == 0 {
            BodyFraming::Empty
        } else {
            BodyFraming::Length(len)
        }
    } else {
        BodyFraming::UntilClose
    };
    if body == BodyFraming::UntilClose && reuse.is_ok() {
        reuse = Err(NotReusable::CloseDelimited);
    }
    Ok(Framing { body, reuse })
}

/// Whether the head lets the connection persist (RFC 9112 section 9.3): HTTP/1.1
/// unless a `close` connection option, HTTP/1.0 only with a `keep-alive` option.
fn connection_reuse(version: Version, headers: &HeaderMap) -> Result<(), NotReusable> {
    let options = || tokens(headers.get_all(CONNECTION).iter());
    if options().any(|t| t.eq_ignore_ascii_case(b"close")) {
        Err(NotReusable::ConnectionClose)
    } else if version == Version::HTTP_10
        && !options().any(|t| t.eq_ignore_ascii_case(b"keep-alive"))
    {
        Err(NotReusable::Http10)
    } else {
        Ok(())
    }
}

/// True when the last transfer coding (over every `Transfer-Encoding` field, in
/// order) is `chunked`. `chunked` before the last coding, or an empty coding, is an
/// error.
fn final_coding_is_chunked(headers: &HeaderMap) -> Result<bool, Http1Error> {
    let mut last_chunked = false;
    let mut any = false;
    for value in headers.get_all(TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|&b| b == b',') {
            let coding = trim(coding);
            // A coding may carry parameters (`gzip;q=…` is not valid here, but a
            // transfer-parameter is); only its name matters.
            let name = trim(coding.split(|&b| b == b';').next().unwrap_or_default());
            if name.is_empty() {
                return Err(Http1Error::BadTransferEncoding("empty coding"));
            }
            if last_chunked {
                return Err(Http1Error::BadTransferEncoding(
                    "chunked is not the last coding",
                ));
            }
            last_chunked = name.eq_ignore_ascii_case(b"chunked");
            any = true;
        }
    }
    if !any {
        return Err(Http1Error::BadTransferEncoding("empty coding"));
    }
    Ok(last_chunked)
}

/// The one `Content-Length` value, when the header is present: every value in every
/// field must be the same run of ASCII digits.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Http1Error> {
    let mut found: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let len = parse_length(trim(item)).ok_or(Http1Error::InvalidContentLength)?;
            match found {
                Some(seen) if seen != len => return Err(Http1Error::ConflictingContentLength),
                _ => found = Some(len),
            }
        }
    }
    Ok(found)
}

/// A non-empty run of ASCII digits that fits in `u64`; anything else (a sign,
/// whitespace inside, hex) is `None`.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The comma-separated tokens of some header values, trimmed, empty ones skipped.
fn tokens<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Longest coding name kept in an [`UnsupportedEncoding`].
const MAX_ENCODING_NAME: usize = 64;

/// A `Content-Encoding` the client did not ask for and cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server sent a body with content-encoding {encoding:?}; turnwire asks for identity and does not decode others"
)]
pub struct UnsupportedEncoding {
    /// The codings other than `identity`, comma-joined as sent (cut at 64 bytes).
    pub encoding: String,
}

/// Checks a response's `Content-Encoding` (PROTOCOL.md section 3.3): `Ok` when it is
/// absent, empty or only `identity`. Call it on the head of a response whose body the
/// client will read.
///
/// # Errors
/// [`UnsupportedEncoding`] naming every other coding.
pub fn content_encoding(headers: &HeaderMap) -> Result<(), UnsupportedEncoding> {
    let others: Vec<&[u8]> = tokens(headers.get_all(CONTENT_ENCODING).iter())
        .filter(|t| !t.eq_ignore_ascii_case(b"identity"))
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    let joined = others.join(&b", "[..]);
    let mut encoding = String::from_utf8_lossy(&joined).into_owned();
    if encoding.len() > MAX_ENCODING_NAME {
        let mut cut = MAX_ENCODING_NAME;
        while !encoding.is_char_boundary(cut) {
            cut -= 1;
        }
        encoding.truncate(cut);
    }
    Err(UnsupportedEncoding { encoding })
}
