//! One hand-off per socket read: the body bytes a read decoded into several
//! [`Part::Data`] (a chunked body whose server writes one chunk per event gives one per
//! event) are joined before they go to the session, so a read costs one channel hop to
//! the client task and one wake-up, not one per chunk.

use bytes::BytesMut;
use turnwire_protocol::http1::Part;

/// Joins every run of consecutive [`Part::Data`] in `parts` into one, keeping the
/// order of everything else. A run of one is left as it is (no copy); a longer run is
/// copied once into a buffer of its total size, which is at most one read.
///
/// Call it on the parts of one read, before reporting them.
pub(crate) fn join_data(parts: &mut Vec<Part>) {
    let runs = parts
        .windows(2)
        .any(|pair| matches!(pair, [Part::Data(_), Part::Data(_)]));
    if !runs {
        return;
    }
    let mut joined = Vec::with_capacity(parts.len());
    let mut run: Vec<bytes::Bytes> = Vec::new();
    for part in parts.drain(..) {
        match part {
            Part::Data(data) => run.push(data),
            other => {
                flush(&mut run, &mut joined);
                joined.push(other);
            }
        }
    }
    flush(&mut run, &mut joined);
    *parts = joined;
}

/// Appends the run of data parts as one part (nothing when the run is empty).
fn flush(run: &mut Vec<bytes::Bytes>, out: &mut Vec<Part>) {
    match run.len() {
        0 => {}
        1 => out.extend(run.drain(..).map(Part::Data)),
        _ => {
            let len = run.iter().map(|data| data.len()).sum();
            let mut buf = BytesMut::with_capacity(len);
            for data in run.drain(..) {
                buf.extend_from_slice(&data);
            }
            out.push(Part::Data(buf.freeze()));
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use turnwire_protocol::http1::ResponseDecoder;

    use super::*;

    /// The parts one read of `wire` decodes into.
    fn decode(wire: &[u8]) -> Vec<Part> {
        let mut decoder = ResponseDecoder::default();
        let mut parts = Vec::new();
        decoder.feed(wire, &mut parts).expect("a valid response");
        parts
    }

    fn data(parts: &[Part]) -> Vec<&[u8]> {
        parts
            .iter()
            .filter_map(|part| match part {
                Part::Data(data) => Some(&data[..]),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_read_of_many_chunks_becomes_one_data_part_between_head_and_end() {
        let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            6\r\nevent1\r\n6\r\nevent2\r\n6\r\nevent3\r\n0\r\n\r\n";
        let mut parts = decode(wire);
        assert_eq!(
            data(&parts).len(),
            3,
            "the decoder gives one part per chunk"
        );
        join_data(&mut parts);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(matches!(&parts[0], Part::Head(head) if head.status == 200));
        assert_eq!(data(&parts), [&b"event1event2event3"[..]]);
        assert!(matches!(parts[2], Part::End));
    }

    #[test]
    fn a_lone_data_part_is_kept_without_a_copy() {
        let body = Bytes::from_static(b"just one");
        let mut parts = vec![Part::Data(body.clone()), Part::End];
        join_data(&mut parts);
        match &parts[..] {
            [Part::Data(kept), Part::End] => assert_eq!(kept.as_ptr(), body.as_ptr()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn runs_apart_stay_apart_in_order() {
        let piece = |s: &'static [u8]| Part::Data(Bytes::from_static(s));
        let mut parts = vec![
            piece(b"a"),
            piece(b"b"),
            Part::End,
            piece(b"c"),
            piece(b"d"),
        ];
        join_data(&mut parts);
        assert_eq!(parts, vec![piece(b"ab"), Part::End, piece(b"cd")]);
        let mut empty = Vec::new();
        join_data(&mut empty);
        assert!(empty.is_empty());
    }
}
