//! HTTP/1.1 client codec, sans-IO: a request's bytes out ([`encode_request`]), the
//! response's head, body bytes and end in ([`ResponseDecoder`]).
//!
//! The response side parses untrusted bytes, so it lives in the core with the other
//! codecs, where the fuzz targets reach it. It is written for a client that sends only
//! `POST` and `GET` (never `HEAD` or `CONNECT`, never an upgrade through this codec).
//!
//! ```
//! use turnwire_protocol::http1::{Part, ResponseDecoder};
//!
//! let mut decoder = ResponseDecoder::default();
//! let mut parts = Vec::new();
//! decoder.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel", &mut parts)?;
//! decoder.feed(b"lo", &mut parts)?;
//! assert!(matches!(&parts[0], Part::Head(head) if head.status == 200));
//! assert!(matches!(&parts[1], Part::Data(d) if &d[..] == b"hel"));
//! assert!(matches!(&parts[2], Part::Data(d) if &d[..] == b"lo"));
//! assert!(matches!(parts[3], Part::End));
//! assert_eq!(decoder.reusable(), Ok(()));
//! decoder.reset(); // ready for the next response on the same connection
//! # Ok::<(), turnwire_protocol::http1::Http1Error>(())
//! ```
//!
//! # Framing (RFC 9112 section 6.3)
//!
//! [`framing::body_framing`] decides, from the status and headers alone:
//! - 1xx responses are interim: skipped, and the final response follows (a `101` is
//!   an error, since this codec never asks to switch protocols); 204 and 304 have no
//!   body, whatever their headers say.
//! - `Transfer-Encoding` whose final coding is `chunked`: a chunked body. A final
//!   coding other than `chunked`: the body runs until the server closes. `chunked`
//!   anywhere but last, an empty coding, or `Transfer-Encoding` on an HTTP/1.0
//!   response: an error. With `Content-Length` as well, `Transfer-Encoding` wins and
//!   the connection is not reused.
//! - Otherwise `Content-Length`: every value (repeated headers and comma lists) must
//!   be the same run of ASCII digits; a sign, an empty value, another character, a
//!   value above `u64::MAX` or two different values are errors.
//! - Neither: the body runs until the server closes.
//!
//! # Bounds
//!
//! The head (status line and headers, each interim response counted alone) is at most
//! [`Http1Limits::max_head`] bytes with at most [`Http1Limits::max_headers`] fields; a
//! chunk-size line with its extensions at most [`Http1Limits::max_chunk_line`]; the
//! trailer section at most [`Http1Limits::max_trailers`] (trailers are read and
//! dropped). Body bytes are never buffered beyond the chunk fed: they come out as
//! [`Part::Data`] slices of it. Every malformed input is a typed [`Http1Error`], and an
//! error is sticky.
//!
//! # Keep-alive
//!
//! After [`Part::End`], [`ResponseDecoder::reusable`] says whether the connection may
//! carry another request, and [`ResponseDecoder::reset`] readies the decoder for the
//! next response on it. Bytes that arrive after the end of a response are counted
//! ([`ResponseDecoder::bytes_after_end`]), never taken as the start of the next
//! response, and they make the connection not reusable.
//!
//! # Response encodings
//!
//! Requests ask for `Accept-Encoding: identity` (PROTOCOL.md section 3.3), and
//! [`content_encoding`] is the one rule that refuses a response with any other
//! `Content-Encoding`. The session applies it to the head of every successful
//! response and ends the request with
//! [`ResponseError::UnsupportedContentEncoding`](crate::ResponseError::UnsupportedContentEncoding),
//! which is not retried: a server that compressed once will compress again.

mod chunked;
mod decoder;
mod encode;
pub mod framing;
mod head;

pub use decoder::{Part, ResponseDecoder, ResponseHead};
pub use encode::encode_request;
pub use framing::{BodyFraming, NotReusable, UnsupportedEncoding, content_encoding};

/// Bounds of the response decoder (PROTOCOL.md section 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http1Limits {
    /// Largest response head (status line, headers and the blank line), in bytes.
    pub max_head: usize,
    /// Most header fields in one head.
    pub max_headers: usize,
    /// Longest chunk-size line (size, extensions and line end), in bytes.
    pub max_chunk_line: usize,
    /// Largest trailer section (every trailer line and the blank line), in bytes.
    pub max_trailers: usize,
}

impl Default for Http1Limits {
    /// 64 KiB of head with at most 100 fields, 1 KiB chunk-size lines, 16 KiB of
    /// trailers.
    fn default() -> Self {
        Http1Limits {
            max_head: 64 << 10,
            max_headers: 100,
            max_chunk_line: 1 << 10,
            max_trailers: 16 << 10,
        }
    }
}

/// Why a response could not be read. Every variant is fatal for the response and the
/// connection: it must be closed, never reused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Http1Error {
    /// The response head is larger than [`Http1Limits::max_head`].
    #[error("response head larger than {limit} bytes")]
    HeadTooLarge {
        /// The bound.
        limit: usize,
    },
    /// The head has more fields than [`Http1Limits::max_headers`].
    #[error("response head has more than {limit} header fields")]
    TooManyHeaders {
        /// The bound.
        limit: usize,
    },
    /// The status line or a header field is malformed.
    #[error("malformed response head: {0}")]
    BadHead(&'static str),
    /// A `101 Switching Protocols`, which this codec never asks for.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedUpgrade,
    /// A `Content-Length` value is not a plain run of ASCII digits within `u64`.
    #[error("invalid content-length")]
    InvalidContentLength,
    /// `Content-Length` values disagree.
    #[error("conflicting content-length values")]
    ConflictingContentLength,
    /// `Transfer-Encoding` is malformed, names `chunked` other than last, or is on an
    /// HTTP/1.0 response.
    #[error("invalid transfer-encoding: {0}")]
    BadTransferEncoding(&'static str),
    /// A chunk-size line is longer than [`Http1Limits::max_chunk_line`].
    #[error("chunk-size line longer than {limit} bytes")]
    ChunkLineTooLong {
        /// The bound.
        limit: usize,
    },
    /// A chunk size does not fit in 64 bits.
    #[error("chunk size too large")]
    ChunkSizeOverflow,
    /// The chunked framing is malformed.
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// The trailer section is larger than [`Http1Limits::max_trailers`].
    #[error("trailers larger than {limit} bytes")]
    TrailersTooLarge {
        /// The bound.
        limit: usize,
    },
    /// The connection ended before any byte of a response arrived (for a reused
    /// connection: the server closed it while it was idle).
    #[error("connection closed before a response arrived")]
    ClosedBeforeResponse,
    /// The connection ended inside a response.
    #[error("connection closed before the response ended")]
    Truncated,
}
