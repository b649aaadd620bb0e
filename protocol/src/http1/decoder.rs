//! The incremental response decoder: bytes in, [`Part`]s out, resettable for the
//! next response on a kept-alive connection.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Version};

use super::chunked::{Chunked, Step};
use super::framing::{BodyFraming, NotReusable, body_framing};
use super::head::{self, HeadScan};
use super::{Http1Error, Http1Limits};

/// The final (non-1xx) head of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (200 to 999).
    pub status: u16,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The header fields, in order, names lower-cased.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: BodyFraming,
}

/// One thing the decoder found, in wire order: one `Head`, any number of `Data`, one
/// `End`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The final response head (interim 1xx heads are skipped).
    Head(ResponseHead),
    /// Body bytes, with the transfer coding removed.
    Data(Bytes),
    /// The body ended.
    End,
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
    Failed(Http1Error),
}

/// Incremental decoder of one response at a time on one connection.
///
/// Call [`ResponseDecoder::feed`] with bytes as they are read, and
/// [`ResponseDecoder::finish`] when the connection reports end of stream. After
/// [`Part::End`], [`ResponseDecoder::reusable`] says whether the connection may carry
/// another request; [`ResponseDecoder::reset`] readies the decoder for it.
#[derive(Clone, Debug)]
pub struct ResponseDecoder {
    limits: Http1Limits,
    /// Received bytes not framed yet: part of a head, a chunk-size or trailer line, or
    /// body bytes of the chunk being fed.
    buf: BytesMut,
    scan: HeadScan,
    state: State,
    /// Any byte arrived since the last reset.
    received: bool,
    /// What the final head allows, once the body ends.
    reuse: Result<(), NotReusable>,
    /// Bytes that arrived after the end of the response.
    after_end: u64,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        ResponseDecoder::new(Http1Limits::default())
    }
}

impl ResponseDecoder {
    /// A decoder with these bounds, waiting for a response head.
    pub fn new(limits: Http1Limits) -> Self {
        ResponseDecoder {
            limits,
            buf: BytesMut::new(),
            scan: HeadScan::default(),
            state: State::Head,
            received: false,
            reuse: Ok(()),
            after_end: 0,
        }
    }

    /// Takes the next bytes read from the connection, in order, and appends the parts
    /// they complete to `out`. Bytes after the end of the response are counted (see
    /// [`ResponseDecoder::bytes_after_end`]), not decoded.
    ///
    /// # Errors
    /// The first [`Http1Error`] the bytes cause. Errors are sticky: every later call
    /// returns the same error, and parts found before it in this call are still in
    /// `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Part>) -> Result<(), Http1Error> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        if matches!(self.state, State::Done) {
            self.note_after_end(data.len());
            return Ok(());
        }
        self.received |= !data.is_empty();
        self.buf.extend_from_slice(data);
        let result = self.advance(out);
        if let Err(error) = &result {
            self.fail(error.clone());
        }
        result
    }

    /// The connection reached end of stream: a body delimited by the close ends here
    /// (a [`Part::End`] is appended to `out`); a response that has not ended is an
    /// error.
    ///
    /// # Errors
    /// [`Http1Error::ClosedBeforeResponse`] when no byte arrived since the last reset
    /// (a kept-alive connection the server closed while it was idle),
    /// [`Http1Error::Truncated`] inside a response, or the sticky earlier error.
    pub fn finish(&mut self, out: &mut Vec<Part>) -> Result<(), Http1Error> {
        let error = match &self.state {
            State::Failed(error) => return Err(error.clone()),
            State::Done => return Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                out.push(Part::End);
                return Ok(());
            }
            State::Head if !self.received => Http1Error::ClosedBeforeResponse,
            _ => Http1Error::Truncated,
        };
        self.fail(error.clone());
        Err(error)
    }

    /// True once [`Part::End`] was produced.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// `Ok` when the connection may carry another request: the response was read to
    /// its end, its head allows the connection to persist (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `keep-alive`), its body was not delimited
    /// by closing, its framing was not ambiguous, and no byte arrived after its end.
    /// Call it after [`Part::End`], before [`ResponseDecoder::reset`].
    ///
    /// # Errors
    /// Why the connection must be closed instead.
    pub fn reusable(&self) -> Result<(), NotReusable> {
        match self.state {
            State::Failed(_) => Err(NotReusable::Failed),
            State::Done if self.after_end > 0 => Err(NotReusable::BytesAfterEnd),
            State::Done => self.reuse,
            _ => Err(NotReusable::NotEnded),
        }
    }

    /// Bytes that arrived after the end of the response (since the last reset). A
    /// server that sends them is out of step with its requests; the connection is not
    /// reusable.
    pub fn bytes_after_end(&self) -> u64 {
        self.after_end
    }

    /// Bytes held but not yet decoded: at most the head bound (or a chunk-size or
    /// trailer line bound) plus the last chunk fed.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Readies the decoder for the next response, keeping its bounds and its buffer's
    /// allocation. Call it before sending the next request on a connection whose
    /// [`ResponseDecoder::reusable`] was `Ok`, or to reuse the decoder on a new
    /// connection.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.scan = HeadScan::default();
        self.state = State::Head;
        self.received = false;
        self.reuse = Ok(());
        self.after_end = 0;
    }

    fn fail(&mut self, error: Http1Error) {
        self.buf.clear();
        self.state = State::Failed(error);
    }

    fn note_after_end(&mut self, len: usize) {
        self.after_end = self.after_end.saturating_add(len as u64);
    }

    fn end(&mut self, out: &mut Vec<Part>) {
        self.state = State::Done;
        out.push(Part::End);
        let rest = self.buf.len();
        self.note_after_end(rest);
        self.buf.clear();
    }

    /// Decodes as far as the buffered bytes allow.
    fn advance(&mut self, out: &mut Vec<Part>) -> Result<(), Http1Error> {
        loop {
            match &mut self.state {
                State::Head => {
                    if !self.head(out)? {
                        return Ok(());
                    }
                }
                State::Length(left) => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    if take > 0 {
                        *left -= take as u64;
                        out.push(Part::Data(self.buf.split_to(take).freeze()));
                    }
                    if *left > 0 {
                        return Ok(());
                    }
                    self.end(out);
                }
                State::Chunked(chunked) => match chunked.step(&mut self.buf, &self.limits)? {
                    Step::Data(data) => out.push(Part::Data(data)),
                    Step::Progress => {}
                    Step::NeedMore => return Ok(()),
                    Step::End => self.end(out),
                },
                State::UntilClose => {
                    if !self.buf.is_empty() {
                        out.push(Part::Data(self.buf.split().freeze()));
                    }
                    return Ok(());
                }
                State::Done | State::Failed(_) => return Ok(()),
            }
        }
    }

    /// Parses one head if it is complete. Returns true when one was consumed.
    fn head(&mut self, out: &mut Vec<Part>) -> Result<bool, Http1Error> {
        let Some((head, len)) = head::parse(&self.buf, &mut self.scan, &self.limits)? else {
            return Ok(false);
        };
        self.buf.advance(len);
        self.scan = HeadScan::default();
        if head.status == 101 {
            return Err(Http1Error::UnexpectedUpgrade);
        }
        if head.status < 200 {
            return Ok(true); // interim: the final response follows
        }
        let framing = body_framing(head.status, head.version, &head.headers)?;
        self.reuse = framing.reuse;
        out.push(Part::Head(ResponseHead {
            status: head.status,
            version: head.version,
            headers: head.headers,
            framing: framing.body,
        }));
        match framing.body {
            BodyFraming::Empty => self.end(out),
            BodyFraming::Length(len) => self.state = State::Length(len),
            BodyFraming::Chunked => self.state = State::Chunked(Chunked::Size),
            BodyFraming::UntilClose => self.state = State::UntilClose,
        }
        Ok(true)
    }
}
