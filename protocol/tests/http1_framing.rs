//! The HTTP/1.1 response codec's framing rules (RFC 9112 section 6.3) as one table:
//! each row is a whole response as sent, what the client must make of it (status,
//! body, or the error), and whether the connection may carry another request. Every
//! row is also decoded split at every byte boundary and must give the same result.

use http::Version;
use turnwire_protocol::http1::{
    BodyFraming, Http1Error, Http1Limits, NotReusable, Part, ResponseDecoder,
};

/// What decoding a whole response gave.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The response ended: status, body, and whether the connection may be reused.
    Ended {
        status: u16,
        body: Vec<u8>,
        reuse: Result<(), NotReusable>,
    },
    /// The response failed with this error.
    Failed(Http1Error),
}

fn ended(status: u16, body: &[u8], reuse: Result<(), NotReusable>) -> Outcome {
    Outcome::Ended {
        status,
        body: body.to_vec(),
        reuse,
    }
}

/// Feeds `chunks` in order, then end of stream, and sums up what came out. Checks the
/// part order (one head, data, one end) on the way.
fn decode(decoder: &mut ResponseDecoder, chunks: &[&[u8]]) -> Outcome {
    let mut parts = Vec::new();
    let mut result = Ok(());
    for chunk in chunks {
        result = decoder.feed(chunk, &mut parts);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = decoder.finish(&mut parts);
    }
    if let Err(error) = result {
        return Outcome::Failed(error);
    }
    let mut status = None;
    let mut body = Vec::new();
    let mut ends = 0;
    for part in parts {
        match part {
            Part::Head(head) => {
                assert!(status.is_none(), "two heads");
                status = Some(head.status);
            }
            Part::Data(data) => {
                assert!(status.is_some() && ends == 0, "data outside the body");
                body.extend_from_slice(&data);
            }
            Part::End => ends += 1,
            other => panic!("unknown part {other:?}"),
        }
    }
    assert_eq!(ends, 1, "one end per response");
    Outcome::Ended {
        status: status.expect("a head"),
        body,
        reuse: decoder.reusable(),
    }
}

fn decode_whole(wire: &[u8]) -> Outcome {
    decode(&mut ResponseDecoder::default(), &[wire])
}

/// Every framing rule, one row each: (what it checks, the response, the outcome).
fn table() -> Vec<(&'static str, &'static [u8], Outcome)> {
    use NotReusable::*;
    vec![
        (
            "content-length body, kept alive",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            ended(200, b"hello", Ok(())),
        ),
        (
            "content-length 0 ends at the head",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            ended(200, b"", Ok(())),
        ),
        (
            "repeated equal content-length values",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc",
            ended(200, b"abc", Ok(())),
        ),
        (
            "an equal comma list of content-length values",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc",
            ended(200, b"abc", Ok(())),
        ),
        (
            "conflicting content-length across headers",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
            Outcome::Failed(Http1Error::ConflictingContentLength),
        ),
        (
            "conflicting content-length in a comma list",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3,4\r\n\r\nabcd",
            Outcome::Failed(Http1Error::ConflictingContentLength),
        ),
        (
            "signed +N content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\nabc",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "signed -N content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "empty content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "an empty item in a content-length list",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3,\r\n\r\nabc",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "hex content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0x10\r\n\r\n",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "content-length above u64",
            b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551616\r\n\r\n",
            Outcome::Failed(Http1Error::InvalidContentLength),
        ),
        (
            "content-length truncated by the close",
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello",
            Outcome::Failed(Http1Error::Truncated),
        ),
        (
            "chunked, with an extension and a trailer",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2 ; x\r\nlo\r\n0\r\nx-trailer: 1\r\n\r\n",
            ended(200, b"hello", Ok(())),
        ),
        (
            "chunked as the final of several codings",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            ended(200, b"hi", Ok(())),
        ),
        (
            "a final coding other than chunked reads until close",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw",
            ended(200, b"raw", Err(CloseDelimited)),
        ),
        (
            "chunked before another coding",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nraw",
            Outcome::Failed(Http1Error::BadTransferEncoding(
                "chunked is not the last coding",
            )),
        ),
        (
            "a non-chunked final coding with content-length: until close, never reused",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 2\r\n\r\nraw bytes",
            ended(200, b"raw bytes", Err(AmbiguousFraming)),
        ),
        (
            "transfer-encoding wins over content-length, and the connection is closed",
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            ended(200, b"hi", Err(AmbiguousFraming)),
        ),
        (
            "chunked twice",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadTransferEncoding(
                "chunked is not the last coding",
            )),
        ),
        (
            "an empty transfer coding",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: ,chunked\r\n\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadTransferEncoding("empty coding")),
        ),
        (
            "transfer-encoding on HTTP/1.0",
            b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadTransferEncoding("on an HTTP/1.0 response")),
        ),
        (
            "neither header: the body runs until close",
            b"HTTP/1.1 200 OK\r\n\r\nall of it",
            ended(200, b"all of it", Err(CloseDelimited)),
        ),
        (
            "204 has no body whatever its headers say",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\n",
            ended(204, b"", Ok(())),
        ),
        (
            "304 has no body even when chunked is announced",
            b"HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n",
            ended(304, b"", Ok(())),
        ),
        (
            "interim 1xx responses are skipped",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            ended(200, b"ok", Ok(())),
        ),
        (
            "101 was never asked for",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            Outcome::Failed(Http1Error::UnexpectedUpgrade),
        ),
        (
            "connection: close from the server",
            b"HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 2\r\n\r\nok",
            ended(200, b"ok", Err(ConnectionClose)),
        ),
        (
            "HTTP/1.0 without keep-alive",
            b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
            ended(200, b"ok", Err(Http10)),
        ),
        (
            "HTTP/1.0 with keep-alive",
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok",
            ended(200, b"ok", Ok(())),
        ),
        (
            "bytes after the end of the response",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
            ended(200, b"ok", Err(BytesAfterEnd)),
        ),
        (
            "bytes after a chunked body",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            ended(200, b"", Err(BytesAfterEnd)),
        ),
        (
            "an error status with its body",
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}",
            ended(500, b"{}", Ok(())),
        ),
        (
            "bare LF line ends in the head are accepted",
            b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok",
            ended(200, b"ok", Ok(())),
        ),
        (
            "a chunk line without CR",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadChunk("line does not end in CRLF")),
        ),
        (
            "chunk data not followed by CRLF",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadChunk("chunk data not followed by CRLF")),
        ),
        (
            "a signed chunk size",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n+2\r\nhi\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadChunk("missing chunk size")),
        ),
        (
            "a chunk size followed by junk",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2x\r\nhi\r\n0\r\n\r\n",
            Outcome::Failed(Http1Error::BadChunk("invalid chunk size")),
        ),
        (
            "a chunk size above u64",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10000000000000000\r\n",
            Outcome::Failed(Http1Error::ChunkSizeOverflow),
        ),
        (
            "a huge chunk size that fits streams until the close truncates it",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nsome",
            Outcome::Failed(Http1Error::Truncated),
        ),
        (
            "a malformed trailer",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n",
            Outcome::Failed(Http1Error::BadChunk("malformed trailer field")),
        ),
        (
            "chunked body truncated before its last chunk",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n",
            Outcome::Failed(Http1Error::Truncated),
        ),
        (
            "not HTTP at all",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            Outcome::Failed(Http1Error::BadHead("not an HTTP/1 status line")),
        ),
        (
            "a header line without a colon",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            Outcome::Failed(Http1Error::BadHead("invalid header name")),
        ),
        (
            "closed before any byte",
            b"",
            Outcome::Failed(Http1Error::ClosedBeforeResponse),
        ),
        (
            "closed inside the head",
            b"HTTP/1.1 200 OK\r\ncontent-",
            Outcome::Failed(Http1Error::Truncated),
        ),
    ]
}

#[test]
fn every_framing_rule_gives_its_outcome() {
    let mut failures = Vec::new();
    for (name, wire, expected) in table() {
        let got = decode_whole(wire);
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_row_decodes_the_same_split_at_every_byte_boundary() {
    for (name, wire, _) in table() {
        let whole = decode_whole(wire);
        for at in 0..=wire.len() {
            let (a, b) = wire.split_at(at);
            let split = decode(&mut ResponseDecoder::default(), &[a, b]);
            assert_eq!(split, whole, "{name}: split at {at}");
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(
            decode(&mut ResponseDecoder::default(), &bytes),
            whole,
            "{name}: one byte at a time"
        );
    }
}

#[test]
fn the_head_reports_version_and_framing() {
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder
        .feed(
            b"HTTP/1.0 200 OK\r\nX-Request-Id: r1\r\ncontent-length: 7\r\n\r\n",
            &mut parts,
        )
        .unwrap();
    let Some(Part::Head(head)) = parts.first() else {
        panic!("{parts:?}");
    };
    assert_eq!(head.version, Version::HTTP_10);
    assert_eq!(head.framing, BodyFraming::Length(7));
    assert_eq!(head.headers["x-request-id"], "r1");
    assert_eq!(decoder.reusable(), Err(NotReusable::NotEnded));
}

#[test]
fn a_reset_decoder_reads_the_next_response_on_the_same_connection() {
    let first = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    let second = b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nbye";
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder.feed(first, &mut parts).unwrap();
    assert!(decoder.is_done());
    assert_eq!(decoder.reusable(), Ok(()));
    decoder.reset();
    assert_eq!(decode(&mut decoder, &[second]), ended(201, b"bye", Ok(())));
}

#[test]
fn a_kept_alive_connection_closed_while_idle_is_told_apart_from_a_truncation() {
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder
        .feed(b"HTTP/1.1 204 No Content\r\n\r\n", &mut parts)
        .unwrap();
    decoder.reset();
    assert_eq!(
        decoder.finish(&mut parts),
        Err(Http1Error::ClosedBeforeResponse)
    );
    decoder.reset();
    decoder.feed(b"H", &mut parts).unwrap();
    assert_eq!(decoder.finish(&mut parts), Err(Http1Error::Truncated));
}

#[test]
fn bytes_after_the_end_are_counted_across_later_feeds() {
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder
        .feed(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxyz",
            &mut parts,
        )
        .unwrap();
    assert_eq!(decoder.bytes_after_end(), 2);
    decoder.feed(b"more", &mut parts).unwrap();
    assert_eq!(decoder.bytes_after_end(), 6);
    assert_eq!(
        parts.len(),
        3,
        "no part comes from bytes after the end: {parts:?}"
    );
    assert_eq!(decoder.reusable(), Err(NotReusable::BytesAfterEnd));
    decoder.reset();
    assert_eq!(decoder.bytes_after_end(), 0);
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ResponseDecoder::new(Http1Limits::default());
    let mut parts = Vec::new();
    let error = decoder.feed(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", &mut parts);
    assert_eq!(error, Err(Http1Error::InvalidContentLength));
    assert_eq!(
        decoder.feed(b"HTTP/1.1 200 OK\r\n\r\n", &mut parts),
        error,
        "a later feed returns the same error"
    );
    assert_eq!(decoder.finish(&mut parts), error);
    assert_eq!(decoder.reusable(), Err(NotReusable::Failed));
    assert!(parts.is_empty());
    assert_eq!(decoder.buffered_len(), 0, "a failed decoder holds nothing");
}
