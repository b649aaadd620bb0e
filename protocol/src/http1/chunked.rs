//! The chunked transfer coding (RFC 9112 section 7.1), strictly: every line ends in
//! CRLF, a chunk-size is hex digits that fit in 64 bits, extensions are bounded by the
//! line bound and ignored, trailers are bounded and dropped.

use bytes::{Buf, Bytes, BytesMut};

use super::{Http1Error, Http1Limits};

/// Where the decoder is inside a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// After the last chunk, reading trailer lines; this many bytes read so far.
    Trailers(usize),
}

/// What one step did.
pub(super) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// Framing bytes were consumed; step again.
    Progress,
    /// More bytes are needed.
    NeedMore,
    /// The body ended (the trailer section's blank line was consumed).
    End,
}

impl Chunked {
    /// Consumes what it can from the start of `buf`.
    pub(super) fn step(
        &mut self,
        buf: &mut BytesMut,
        limits: &Http1Limits,
    ) -> Result<Step, Http1Error> {
        match self {
            Chunked::Size => {
                let Some(line) = take_line(buf, limits.max_chunk_line)? else {
                    return Ok(Step::NeedMore);
                };
                let size = chunk_size(&line)?;
                *self = if size == 0 {
                    Chunked::Trailers(0)
                } else {
                    Chunked::Data(size)
                };
                Ok(Step::Progress)
            }
            Chunked::Data(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                if take == 0 {
                    return Ok(Step::NeedMore);
                }
                *left -= take as u64;
                if *left == 0 {
                    *self = Chunked::DataEnd;
                }
                Ok(Step::Data(buf.split_to(take).freeze()))
            }
            Chunked::DataEnd => match buf.get(..2) {
                None if buf.first().is_none_or(|&b| b == b'\r') => Ok(Step::NeedMore),
                Some(b"\r\n") => {
                    buf.advance(2);
                    *self = Chunked::Size;
                    Ok(Step::Progress)
                }
                _ => Err(Http1Error::BadChunk("chunk data not followed by CRLF")),
            },
            Chunked::Trailers(read) => {
                let room = limits.max_trailers.saturating_sub(*read);
                let too_large = Http1Error::TrailersTooLarge {
                    limit: limits.max_trailers,
                };
                let taken = take_line(buf, room).map_err(|e| match e {
                    Http1Error::ChunkLineTooLong { .. } => too_large,
                    other => other,
                })?;
                let Some(line) = taken else {
                    return Ok(Step::NeedMore);
                };
                *read += line.len() + 2;
                if line.is_empty() {
                    return Ok(Step::End);
                }
                if !line.contains(&b':') {
                    return Err(Http1Error::BadChunk("malformed trailer field"));
                }
                Ok(Step::Progress)
            }
        }
    }
}

/// Takes one CRLF-terminated line off `buf` (without its CRLF), or `None` while it is
/// incomplete. The line with its CRLF may be at most `max` bytes.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, Http1Error> {
    let too_long = Http1Error::ChunkLineTooLong { limit: max };
    let Some(lf) = memchr::memchr(b'\n', buf) else {
        return if buf.len() >= max {
            Err(too_long)
        } else {
            Ok(None)
        };
    };
    if lf + 1 > max {
        return Err(too_long);
    }
    if lf == 0 || buf[lf - 1] != b'\r' {
        return Err(Http1Error::BadChunk("line does not end in CRLF"));
    }
    let mut line = buf.split_to(lf + 1);
    line.truncate(lf - 1);
    if line.contains(&b'\r') {
        return Err(Http1Error::BadChunk("bare CR in a line"));
    }
    Ok(Some(line))
}

/// The size of a chunk-size line: hex digits, then optionally whitespace and
/// `;`-introduced extensions (which are ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Http1Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Http1Error::BadChunk("missing chunk size"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(Http1Error::ChunkSizeOverflow)?;
    }
    // Only spaces and tabs may come between the size and an extension.
    match line[digits..].iter().find(|&&b| b != b' ' && b != b'\t') {
        None | Some(b';') => Ok(size),
        Some(_) => Err(Http1Error::BadChunk("invalid chunk size")),
    }
}
