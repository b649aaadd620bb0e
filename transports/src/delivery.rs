//! Handing events to response streams without ever blocking the client's task.
//!
//! Each stream has a bounded channel. When a reader falls behind and its channel is
//! full, further items for it wait in a backlog, and the connection whose input
//! produced them is paused: the driver stops reading it, so the peer is slowed down by
//! TCP itself while every other turn, command and timer keeps running. The backlog is
//! bounded by what one input can produce (the session bounds that), and it drains as
//! soon as the reader makes room, which resumes the connection.

use std::collections::{BTreeMap, VecDeque};
use std::task::{Context, Poll};

use futures_channel::mpsc;
use tracing::Span;
use turnwire_protocol::ResponseEvent;
use turnwire_protocol::session::{ConnId, RequestId};

use crate::error::StreamError;

/// One item of a response stream.
pub(crate) type Item = Result<ResponseEvent, StreamError>;

/// The sending side of one response stream.
pub(crate) struct StreamSink {
    handle: u64,
    events: mpsc::Sender<Item>,
    backlog: VecDeque<Item>,
    /// Connections paused because of this sink's backlog.
    paused: Vec<ConnId>,
    /// The terminal item has been handed over (sent or queued).
    finished: bool,
    /// An item has been handed over (sent or queued).
    started: bool,
    pub(crate) span: Span,
    pub(crate) attempt: Option<Span>,
}

/// What became of a delivered item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// In the stream's channel (or dropped because nobody reads the stream any more).
    Done,
    /// Queued behind a full channel; pause this connection until it drains.
    Pause(ConnId),
    /// Queued behind a full channel; nothing to pause.
    Queued,
}

/// Every open response stream, by request and by the client's stream handle.
#[derive(Default)]
pub(crate) struct Sinks {
    by_request: BTreeMap<RequestId, StreamSink>,
    by_handle: BTreeMap<u64, RequestId>,
    /// A stream got its first item since [`Sinks::take_first_items`] was last called.
    first_items: bool,
}

impl Sinks {
    /// Registers the stream of a request that just started.
    pub(crate) fn insert(
        &mut self,
        request: RequestId,
        handle: u64,
        events: mpsc::Sender<Item>,
        span: Span,
    ) {
        self.by_handle.insert(handle, request);
        let sink = StreamSink {
            handle,
            events,
            backlog: VecDeque::new(),
            paused: Vec::new(),
            finished: false,
            started: false,
            span,
            attempt: None,
        };
        self.by_request.insert(request, sink);
    }

    /// The sink of a request, for tracing.
    pub(crate) fn get_mut(&mut self, request: &RequestId) -> Option<&mut StreamSink> {
        self.by_request.get_mut(request)
    }

    /// Forgets the stream with this handle (its reader is gone). Returns its request
    /// and the connections it had paused, which must be resumed.
    pub(crate) fn remove_by_handle(&mut self, handle: u64) -> Option<(RequestId, Vec<ConnId>)> {
        let request = self.by_handle.remove(&handle)?;
        let sink = self.by_request.remove(&request)?;
        Some((request, sink.paused))
    }

    /// Hands `item` to the request's stream. `source` is the connection whose input
    /// produced it, if any. Never waits.
    pub(crate) fn deliver(
        &mut self,
        request: RequestId,
        item: Item,
        terminal: bool,
        source: Option<ConnId>,
    ) -> Delivered {
        let Some(sink) = self.by_request.get_mut(&request) else {
            return Delivered::Done;
        };
        sink.finished |= terminal;
        self.first_items |= !std::mem::replace(&mut sink.started, true);
        if sink.backlog.is_empty() {
            match sink.events.try_send(item) {
                Ok(()) => {
                    if terminal {
                        self.remove(request);
                    }
                    return Delivered::Done;
                }
                Err(err) if err.is_full() => sink.backlog.push_back(err.into_inner()),
                Err(_) => {
                    // The reader is gone; its cancel is on its way.
                    return Delivered::Done;
                }
            }
        } else {
            sink.backlog.push_back(item);
        }
        match source {
            Some(conn) if !sink.paused.contains(&conn) => {
                sink.paused.push(conn);
                Delivered::Pause(conn)
            }
            _ => Delivered::Queued,
        }
    }

    /// True when some stream got its first item since the last call: the moment to let
    /// its reader run before decoding more (time to first event).
    pub(crate) fn take_first_items(&mut self) -> bool {
        std::mem::take(&mut self.first_items)
    }

    /// Moves backlogged items into streams that have room again. Returns the
    /// connections to resume (those whose sink's backlog emptied); `Pending` when no
    /// backlog could move.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Vec<ConnId>> {
        let mut resumed = Vec::new();
        let mut emptied = Vec::new();
        let mut moved = false;
        for (request, sink) in self
            .by_request
            .iter_mut()
            .filter(|(_, s)| !s.backlog.is_empty())
        {
            loop {
                match sink.events.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        let Some(item) = sink.backlog.pop_front() else {
                            break;
                        };
                        moved = true;
                        if sink.events.start_send(item).is_err() {
                            sink.backlog.clear();
                        }
                    }
                    // The reader is gone: drop what it will never read.
                    Poll::Ready(Err(_)) => {
                        moved = true;
                        sink.backlog.clear();
                    }
                    Poll::Pending => break,
                }
                if sink.backlog.is_empty() {
                    break;
                }
            }
            if sink.backlog.is_empty() {
                resumed.append(&mut sink.paused);
                if sink.finished {
                    emptied.push(*request);
                }
            }
        }
        for request in emptied {
            self.remove(request);
        }
        if moved || !resumed.is_empty() {
            Poll::Ready(resumed)
        } else {
            Poll::Pending
        }
    }

    fn remove(&mut self, request: RequestId) {
        if let Some(sink) = self.by_request.remove(&request) {
            self.by_handle.remove(&sink.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use futures_util::task::noop_waker_ref;

    fn event(n: u32) -> Item {
        Ok(ResponseEvent::ReasoningSummaryPartAdded { summary_index: n })
    }

    #[test]
    fn a_full_stream_queues_pauses_its_source_and_resumes_when_read() {
        let mut sinks = Sinks::default();
        let (tx, mut rx) = mpsc::channel(0); // room for one item per sender
        sinks.insert(RequestId(1), 7, tx, Span::none());
        let conn = ConnId(3);
        assert_eq!(
            sinks.deliver(RequestId(1), event(0), false, Some(conn)),
            Delivered::Done
        );
        assert_eq!(
            sinks.deliver(RequestId(1), event(1), false, Some(conn)),
            Delivered::Pause(conn)
        );
        assert_eq!(
            sinks.deliver(RequestId(1), event(2), true, Some(conn)),
            Delivered::Queued,
            "paused once"
        );
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(sinks.poll_flush(&mut cx).is_pending(), "nothing read yet");
        let mut read = Vec::new();
        let mut resumed = Vec::new();
        while read.len() < 3 {
            if let Poll::Ready(Some(Ok(ResponseEvent::ReasoningSummaryPartAdded {
                summary_index,
            }))) = rx.poll_next_unpin(&mut cx)
            {
                read.push(summary_index);
            }
            if let Poll::Ready(conns) = sinks.poll_flush(&mut cx) {
                resumed.extend(conns);
            }
        }
        assert_eq!(
            resumed,
            [conn],
            "the source resumes once, when the backlog empties"
        );
        assert_eq!(read, [0, 1, 2], "order kept");
        assert!(
            sinks.by_request.is_empty(),
            "the finished stream is forgotten once drained"
        );
    }

    #[test]
    fn a_streams_first_item_is_reported_once() {
        let mut sinks = Sinks::default();
        let (tx1, _rx1) = mpsc::channel(8);
        let (tx2, _rx2) = mpsc::channel(8);
        sinks.insert(RequestId(1), 1, tx1, Span::none());
        sinks.insert(RequestId(2), 2, tx2, Span::none());
        assert!(!sinks.take_first_items(), "nothing delivered yet");
        sinks.deliver(RequestId(1), event(0), false, None);
        assert!(sinks.take_first_items(), "stream 1's first item");
        assert!(!sinks.take_first_items(), "reported once");
        sinks.deliver(RequestId(1), event(1), false, None);
        assert!(!sinks.take_first_items(), "stream 1's second item");
        sinks.deliver(RequestId(2), event(0), false, None);
        assert!(sinks.take_first_items(), "stream 2's first item");
        sinks.deliver(RequestId(3), event(0), false, None);
        assert!(!sinks.take_first_items(), "no stream for request 3");
    }

    #[test]
    fn a_dropped_reader_never_blocks_delivery() {
        let mut sinks = Sinks::default();
        let (tx, rx) = mpsc::channel(0);
        sinks.insert(RequestId(1), 7, tx, Span::none());
        drop(rx);
        for n in 0..10 {
            assert_eq!(
                sinks.deliver(RequestId(1), event(n), false, Some(ConnId(1))),
                Delivered::Done
            );
        }
        assert_eq!(sinks.remove_by_handle(7), Some((RequestId(1), Vec::new())));
    }
}
