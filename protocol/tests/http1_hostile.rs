//! A hostile server against the HTTP/1.1 response codec: endless heads, too many
//! fields, endless chunk-size lines and trailers, huge chunks, compressed bodies. Each
//! must end in its typed error (or stream within the bounds), never a panic or an
//! unbounded buffer.

use turnwire_protocol::http1::{
    Http1Error, Http1Limits, Part, ResponseDecoder, UnsupportedEncoding, content_encoding,
    encode_request,
};

const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";

/// Feeds `stream` in `step`-byte chunks until an error, checking after every feed that
/// the decoder holds no more than `bound` bytes. Returns the error, if any.
fn feed_bounded(
    decoder: &mut ResponseDecoder,
    stream: impl Iterator<Item = Vec<u8>>,
    bound: usize,
) -> Result<Vec<Part>, Http1Error> {
    let mut parts = Vec::new();
    for chunk in stream {
        let fed = decoder.feed(&chunk, &mut parts);
        assert!(
            decoder.buffered_len() <= bound + chunk.len(),
            "holds {} bytes, over {bound} plus the chunk",
            decoder.buffered_len()
        );
        fed?;
    }
    Ok(parts)
}

#[test]
fn an_endless_head_is_cut_at_the_bound() {
    let limits = Http1Limits::default();
    let mut decoder = ResponseDecoder::new(limits);
    let head = b"HTTP/1.1 200 OK\r\n".to_vec();
    let fields = std::iter::repeat_n(b"x-pad: 0123456789abcdef\r\n".to_vec(), 100_000);
    let result = feed_bounded(
        &mut decoder,
        std::iter::once(head).chain(fields),
        limits.max_head,
    );
    assert_eq!(
        result.map(|_| ()),
        Err(Http1Error::HeadTooLarge {
            limit: limits.max_head
        })
    );
}

#[test]
fn a_head_without_line_ends_is_cut_at_the_bound() {
    let limits = Http1Limits {
        max_head: 1000,
        ..Http1Limits::default()
    };
    let mut decoder = ResponseDecoder::new(limits);
    let result = feed_bounded(&mut decoder, std::iter::repeat_n(vec![b'a'; 100], 50), 1000);
    assert_eq!(
        result.map(|_| ()),
        Err(Http1Error::HeadTooLarge { limit: 1000 })
    );
}

#[test]
fn too_many_header_fields_is_a_typed_error() {
    let limits = Http1Limits {
        max_headers: 8,
        ..Http1Limits::default()
    };
    let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
    for n in 0..9 {
        wire.extend_from_slice(format!("x-f{n}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    let mut decoder = ResponseDecoder::new(limits);
    assert_eq!(
        decoder.feed(&wire, &mut Vec::new()),
        Err(Http1Error::TooManyHeaders { limit: 8 })
    );
}

#[test]
fn endless_interim_responses_hold_no_more_than_one_head() {
    let limits = Http1Limits::default();
    let mut decoder = ResponseDecoder::new(limits);
    let interim = std::iter::repeat_n(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), 10_000);
    let parts = feed_bounded(&mut decoder, interim, limits.max_head).expect("interim heads");
    assert!(parts.is_empty(), "no interim head is reported: {parts:?}");
}

#[test]
fn an_endless_chunk_size_line_is_cut_at_the_bound() {
    let limits = Http1Limits::default();
    let mut decoder = ResponseDecoder::new(limits);
    let ext = std::iter::once(CHUNKED_HEAD.to_vec())
        .chain(std::iter::once(b"5;".to_vec()))
        .chain(std::iter::repeat_n(b"name=value;".to_vec(), 10_000));
    let result = feed_bounded(&mut decoder, ext, limits.max_chunk_line);
    assert_eq!(
        result.map(|_| ()),
        Err(Http1Error::ChunkLineTooLong {
            limit: limits.max_chunk_line
        })
    );
}

#[test]
fn leading_zeros_fill_the_chunk_line_bound_but_no_more() {
    let limits = Http1Limits::default();
    let mut ok = CHUNKED_HEAD.to_vec();
    ok.extend_from_slice(&vec![b'0'; limits.max_chunk_line - 3]);
    ok.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
    let mut parts = Vec::new();
    let mut decoder = ResponseDecoder::new(limits);
    decoder.feed(&ok, &mut parts).expect("a line at the bound");
    assert!(decoder.is_done());

    let mut over = CHUNKED_HEAD.to_vec();
    over.extend_from_slice(&vec![b'0'; limits.max_chunk_line - 2]);
    over.extend_from_slice(b"1\r\n");
    let mut decoder = ResponseDecoder::new(limits);
    assert_eq!(
        decoder.feed(&over, &mut parts),
        Err(Http1Error::ChunkLineTooLong {
            limit: limits.max_chunk_line
        })
    );
}

#[test]
fn endless_trailers_are_cut_at_the_bound() {
    let limits = Http1Limits::default();
    let mut decoder = ResponseDecoder::new(limits);
    let trailers = std::iter::once(CHUNKED_HEAD.to_vec())
        .chain(std::iter::once(b"0\r\n".to_vec()))
        .chain(std::iter::repeat_n(b"x-t: 1\r\n".to_vec(), 100_000));
    let result = feed_bounded(&mut decoder, trailers, limits.max_trailers);
    assert_eq!(
        result.map(|_| ()),
        Err(Http1Error::TrailersTooLarge {
            limit: limits.max_trailers
        })
    );
}

#[test]
fn a_huge_chunk_streams_without_buffering() {
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder.feed(CHUNKED_HEAD, &mut parts).unwrap();
    decoder.feed(b"7fffffffffffffff\r\n", &mut parts).unwrap();
    let mut streamed = 0;
    for _ in 0..1000 {
        parts.clear();
        decoder.feed(&[b'z'; 4096], &mut parts).unwrap();
        assert_eq!(
            decoder.buffered_len(),
            0,
            "body bytes are handed out, not held"
        );
        streamed += parts
            .iter()
            .map(|p| match p {
                Part::Data(d) => d.len(),
                _ => 0,
            })
            .sum::<usize>();
    }
    assert_eq!(streamed, 4096 * 1000);
    assert_eq!(decoder.finish(&mut parts), Err(Http1Error::Truncated));
}

#[test]
fn a_huge_content_length_streams_until_the_close() {
    let mut decoder = ResponseDecoder::default();
    let mut parts = Vec::new();
    decoder
        .feed(
            b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\nabc",
            &mut parts,
        )
        .unwrap();
    assert!(matches!(&parts[1], Part::Data(d) if &d[..] == b"abc"));
    assert_eq!(decoder.finish(&mut parts), Err(Http1Error::Truncated));
}

#[test]
fn control_bytes_in_a_header_value_are_refused() {
    let mut decoder = ResponseDecoder::default();
    let result = decoder.feed(b"HTTP/1.1 200 OK\r\nx-a: b\x00c\r\n\r\n", &mut Vec::new());
    assert!(matches!(result, Err(Http1Error::BadHead(_))), "{result:?}");
}

/// Header fields as (name, value) pairs.
type Fields<'a> = &'a [(&'a str, &'a str)];

fn headers(fields: Fields<'_>) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in fields {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[test]
fn only_identity_content_encoding_is_accepted() {
    let table: [(Fields<'_>, Result<(), &str>); 7] = [
        (&[], Ok(())),
        (&[("content-encoding", "identity")], Ok(())),
        (&[("content-encoding", "Identity, ")], Ok(())),
        (&[("content-encoding", "gzip")], Err("gzip")),
        (&[("content-encoding", "identity, br")], Err("br")),
        (
            &[("content-encoding", "gzip"), ("content-encoding", "zstd")],
            Err("gzip, zstd"),
        ),
        (
            &[("content-encoding", &"x".repeat(500))],
            Err(&"x".repeat(64)),
        ),
    ];
    for (fields, expected) in table {
        let got = content_encoding(&headers(fields));
        let expected = expected.map_err(|e| UnsupportedEncoding {
            encoding: e.to_owned(),
        });
        assert_eq!(got, expected, "{fields:?}");
    }
    let error = content_encoding(&headers(&[("content-encoding", "gzip")])).unwrap_err();
    assert!(error.to_string().contains("gzip"), "{error}");
}

#[test]
fn requests_are_written_in_origin_form_with_identity_and_one_length() {
    let (mut parts, ()) = http::Request::post("https://api.test/v1/responses?x=1")
        .header("host", "api.test")
        .header("content-length", "999")
        .body(())
        .unwrap()
        .into_parts();
    parts
        .headers
        .insert("authorization", "Bearer k".parse().unwrap());
    let text = String::from_utf8(encode_request(&parts, b"{}")).unwrap();
    assert_eq!(
        text,
        "POST /v1/responses?x=1 HTTP/1.1\r\nhost: api.test\r\nauthorization: Bearer k\r\n\
         accept-encoding: identity\r\ncontent-length: 2\r\n\r\n{}"
    );

    let (parts, ()) = http::Request::get("/")
        .header("host", "h")
        .header("accept-encoding", "identity")
        .body(())
        .unwrap()
        .into_parts();
    let text = String::from_utf8(encode_request(&parts, b"")).unwrap();
    assert_eq!(
        text,
        "GET / HTTP/1.1\r\nhost: h\r\naccept-encoding: identity\r\n\r\n"
    );
}
