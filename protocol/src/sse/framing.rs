//! The decoder's inner workings: framing lines in its buffer, applying fields, and
//! keeping the open event's parts valid across compaction.

use super::{BOM, SHRINK_ABOVE, SseDecoder, SseError, SseEvent, SseFrame};

/// A byte range of the decoder's input buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    start: usize,
    end: usize,
}

/// Where the value of an event field (type or data) currently lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Held {
    /// No value: no `event` line, or no `data` line yet.
    #[default]
    Nothing,
    /// One line's value, still in the input buffer.
    InBuf(Span),
    /// In the field's own buffer (`type_buf` or `data_buf`).
    Owned,
}

/// The fields the decoder acts on; any other name is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldName {
    Data,
    Event,
    Id,
    Retry,
    Other,
}

impl FieldName {
    fn of(name: &[u8]) -> FieldName {
        match name {
            b"data" => FieldName::Data,
            b"event" => FieldName::Event,
            b"id" => FieldName::Id,
            b"retry" => FieldName::Retry,
            _ => FieldName::Other,
        }
    }
}

/// What the line loop found.
pub(super) enum Step {
    /// Nothing complete yet: feed more bytes (or the stream is over).
    NeedMore,
    /// A comment line.
    Comment,
    /// A blank line dispatched an event with this type and data.
    Dispatch { event_type: Held, data: Held },
    /// A bound was crossed.
    Fatal(SseError),
}

impl SseDecoder {
    /// Bytes of the type and data of the event being built, wherever they are kept.
    pub(super) fn held_len(&self) -> usize {
        let len = |held: Held, owned: &[u8]| match held {
            Held::Nothing => 0,
            Held::InBuf(span) => span.end - span.start,
            Held::Owned => owned.len(),
        };
        len(self.event_type, &self.type_buf) + len(self.data, &self.data_buf)
    }

    /// Drops the framed bytes before a new chunk is appended. Moves only the unframed
    /// tail (at most the previous chunk), after copying out the parts of the open event
    /// that still point into the dropped bytes.
    pub(super) fn compact(&mut self, incoming: usize) {
        if self.pos == 0 {
            return;
        }
        self.own_open_event();
        let pos = self.pos;
        if pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.copy_within(pos.., 0);
            self.buf.truncate(self.buf.len() - pos);
        }
        self.scanned = self.scanned.saturating_sub(pos);
        self.pos = 0;
        let needed = self.buf.len() + incoming;
        if self.buf.capacity() > SHRINK_ABOVE && self.buf.capacity() / 4 > needed {
            self.buf.shrink_to(needed);
        }
    }

    /// Copies the type and data of the open event out of the input buffer.
    fn own_open_event(&mut self) {
        if let Held::InBuf(span) = self.event_type {
            self.type_buf.clear();
            self.type_buf.extend_from_slice(slice(&self.buf, span));
            self.event_type = Held::Owned;
        }
        if let Held::InBuf(span) = self.data {
            self.data_buf.clear();
            self.data_buf.extend_from_slice(slice(&self.buf, span));
            self.data = Held::Owned;
        }
    }

    /// True when everything unframed is one partial line and `chunk` does not end it,
    /// yet the line would be longer than `max_line`: no need to buffer it to know.
    pub(super) fn line_cannot_fit(&self, chunk: &[u8]) -> bool {
        let partial = self.buf.len() - self.pos;
        let drained = self.scanned >= self.buf.len() && self.bom_checked;
        drained
            && partial.saturating_add(chunk.len()) > self.limits.max_line
            && find_line_end(chunk).is_none()
    }

    /// Records a fatal error and releases the buffers.
    pub(super) fn fail(&mut self, error: SseError) {
        self.fatal = Some(error);
        self.buf = Vec::new();
        self.type_buf = Vec::new();
        self.data_buf = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.event_type = Held::Nothing;
        self.data = Held::Nothing;
    }

    /// Frames lines until one yields something for the caller.
    pub(super) fn advance(&mut self) -> Step {
        loop {
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    if self.finished {
                        // End of input: an open block is discarded.
                        self.event_type = Held::Nothing;
                        self.data = Held::Nothing;
                    }
                    return Step::NeedMore;
                }
                Err(error) => return Step::Fatal(error),
            };
            if line.start == line.end {
                if let Some((event_type, data)) = self.dispatch() {
                    return Step::Dispatch { event_type, data };
                }
                continue;
            }
            let bytes = slice(&self.buf, line);
            if bytes.first() == Some(&b':') {
                return Step::Comment;
            }
            if let Err(error) = self.field(line) {
                return Step::Fatal(error);
            }
        }
    }

    /// The next complete line (without its line end), or the final unterminated line
    /// after [`SseDecoder::finish`]; `None` when more input is needed.
    fn next_line(&mut self) -> Result<Option<Span>, SseError> {
        if self.skip_lf {
            match self.buf.get(self.pos) {
                None => return Ok(None),
                Some(&byte) => {
                    self.skip_lf = false;
                    if byte == b'\n' {
                        self.pos += 1;
                    }
                }
            }
        }
        if !self.bom_checked && !self.skip_bom() {
            return Ok(None);
        }
        let start = self.pos;
        let from = self.scanned.max(start);
        let rest = self.buf.get(from..).unwrap_or_default();
        // A blank line needs no search.
        let line_end = match rest.first() {
            Some(b'\n' | b'\r') => Some(0),
            _ => find_line_end(rest),
        };
        match line_end {
            Some(offset) => {
                let end = from + offset;
                if end - start > self.limits.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                self.pos = end + 1;
                if self.buf.get(end) == Some(&b'\r') {
                    match self.buf.get(end + 1) {
                        Some(b'\n') => self.pos += 1,
                        Some(_) => {}
                        None => self.skip_lf = true,
                    }
                }
                self.scanned = self.pos;
                Ok(Some(Span { start, end }))
            }
            None => {
                let end = self.buf.len();
                self.scanned = end;
                if end - start > self.limits.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                if self.finished && start < end {
                    self.pos = end;
                    return Ok(Some(Span { start, end }));
                }
                Ok(None)
            }
        }
    }

    /// Skips a byte order mark at the start of the stream. False while the bytes seen
    /// so far are a proper prefix of one and more may come.
    fn skip_bom(&mut self) -> bool {
        let head = self.buf.get(self.pos..).unwrap_or_default();
        let n = head.len().min(BOM.len());
        if head.get(..n) != BOM.get(..n) {
            self.bom_checked = true;
        } else if n == BOM.len() {
            self.pos += n;
            self.bom_checked = true;
        } else if self.finished {
            self.bom_checked = true;
        }
        self.bom_checked
    }

    /// Applies one field line.
    fn field(&mut self, line: Span) -> Result<(), SseError> {
        let bytes = slice(&self.buf, line);
        // The two fields of nearly every event first, without searching for the colon.
        let (name, value) = if bytes.starts_with(b"data:") {
            (FieldName::Data, value_span(line, 5, bytes))
        } else if bytes.starts_with(b"event:") {
            (FieldName::Event, value_span(line, 6, bytes))
        } else {
            match bytes.iter().position(|&b| b == b':') {
                Some(colon) => (
                    FieldName::of(bytes.get(..colon).unwrap_or_default()),
                    value_span(line, colon + 1, bytes),
                ),
                None => (
                    FieldName::of(bytes),
                    Span {
                        start: line.end,
                        end: line.end,
                    },
                ),
            }
        };
        match name {
            FieldName::Data => self.append_data(value)?,
            FieldName::Event => self.event_type = Held::InBuf(value),
            FieldName::Id => self.set_id(value),
            FieldName::Retry => self.set_retry(value),
            FieldName::Other => {}
        }
        Ok(())
    }

    /// Adds one `data` line to the open event.
    fn append_data(&mut self, value: Span) -> Result<(), SseError> {
        let max = self.limits.max_data;
        let too_large = SseError::DataTooLarge { limit: max };
        let line = slice(&self.buf, value);
        match self.data {
            Held::Nothing => {
                if line.len() > max {
                    return Err(too_large);
                }
                self.data = Held::InBuf(value);
            }
            Held::InBuf(first) => {
                let first = slice(&self.buf, first);
                if first.len() + 1 + line.len() > max {
                    return Err(too_large);
                }
                self.data_buf.clear();
                self.data_buf.extend_from_slice(first);
                self.data_buf.push(b'\n');
                self.data_buf.extend_from_slice(line);
                self.data = Held::Owned;
            }
            Held::Owned => {
                if self.data_buf.len() + 1 + line.len() > max {
                    return Err(too_large);
                }
                self.data_buf.push(b'\n');
                self.data_buf.extend_from_slice(line);
            }
        }
        Ok(())
    }

    /// Sets the last event id buffer, unless the value has NUL or is not UTF-8.
    fn set_id(&mut self, value: Span) {
        let bytes = slice(&self.buf, value);
        if bytes.contains(&0) {
            return;
        }
        if let Ok(id) = std::str::from_utf8(bytes) {
            self.id_buffer.clear();
            self.id_buffer.push_str(id);
            self.id_changed = true;
        }
    }

    /// Sets the reconnection time when the value is only ASCII digits (and fits).
    fn set_retry(&mut self, value: Span) {
        let bytes = slice(&self.buf, value);
        if bytes.is_empty() {
            return;
        }
        let mut millis: u64 = 0;
        for &byte in bytes {
            if !byte.is_ascii_digit() {
                return;
            }
            let Some(next) = millis
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(byte - b'0')))
            else {
                return;
            };
            millis = next;
        }
        self.retry = Some(millis);
    }

    /// A blank line: takes the open event, or `None` when it has no data.
    fn dispatch(&mut self) -> Option<(Held, Held)> {
        if self.id_changed {
            self.last_event_id.clone_from(&self.id_buffer);
            self.id_changed = false;
        }
        let event_type = std::mem::take(&mut self.event_type);
        let data = std::mem::take(&mut self.data);
        if data == Held::Nothing {
            return None;
        }
        // After a huge event, give its buffers back once they are not in use.
        if self.data_buf.capacity() > SHRINK_ABOVE && data != Held::Owned {
            self.data_buf = Vec::new();
        }
        if self.type_buf.capacity() > SHRINK_ABOVE && event_type != Held::Owned {
            self.type_buf = Vec::new();
        }
        Some((event_type, data))
    }

    /// The dispatched event as a frame, or `InvalidUtf8` when it is not UTF-8.
    pub(super) fn event(&self, event_type: Held, data: Held) -> Result<SseFrame<'_>, SseError> {
        let event_type = self.held_str(event_type, &self.type_buf)?;
        let data = self.held_str(data, &self.data_buf)?;
        Ok(SseFrame::Event(SseEvent {
            event_type,
            data,
            last_event_id: &self.last_event_id,
        }))
    }

    /// The text of a held field, checked for UTF-8.
    fn held_str<'a>(&'a self, held: Held, owned: &'a [u8]) -> Result<&'a str, SseError> {
        let bytes = match held {
            Held::Nothing => &[][..],
            Held::InBuf(span) => slice(&self.buf, span),
            Held::Owned => owned,
        };
        std::str::from_utf8(bytes).map_err(|_| SseError::InvalidUtf8)
    }
}

/// The bytes of `span` (empty if it were ever out of range, which it is not).
fn slice(buf: &[u8], span: Span) -> &[u8] {
    buf.get(span.start..span.end).unwrap_or_default()
}

/// The value of a field whose colon ends just before `line.start + after`, without
/// the one optional leading space.
fn value_span(line: Span, after: usize, bytes: &[u8]) -> Span {
    let skip = usize::from(bytes.get(after) == Some(&b' '));
    Span {
        start: line.start + after + skip,
        end: line.end,
    }
}

/// The index of the first CR or LF.
fn find_line_end(hay: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut decoder = SseDecoder::default();
        decoder.feed(input);
        decoder.finish();
        let mut out = Vec::new();
        while let Some(frame) = decoder.next_frame() {
            out.push(match frame {
                Ok(SseFrame::Event(e)) => {
                    format!("{}|{}|{}", e.event_type, e.data, e.last_event_id)
                }
                Ok(SseFrame::Comment) => "#".to_owned(),
                Err(e) => format!("error {e}"),
            });
        }
        out
    }

    #[test]
    fn single_line_data_is_borrowed_from_the_input_buffer() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"event: t\ndata: x\n\n");
        assert!(matches!(decoder.next_frame(), Some(Ok(SseFrame::Event(_)))));
        assert!(decoder.data_buf.is_empty() && decoder.type_buf.is_empty());
    }

    #[test]
    fn open_event_survives_compaction() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"event: t\ndata: x\n");
        assert!(decoder.next_frame().is_none());
        decoder.feed(b"data: y\n\n");
        assert_eq!(
            decoder.data,
            Held::Owned,
            "the first data line was copied out before compaction"
        );
        let Some(Ok(SseFrame::Event(event))) = decoder.next_frame() else {
            panic!("no event")
        };
        assert_eq!((event.event_type, event.data), ("t", "x\ny"));
    }

    #[test]
    fn compaction_moves_only_the_unframed_tail() {
        let mut decoder = SseDecoder::default();
        decoder.feed(b"data: 1\n\ndata: 2");
        assert!(decoder.next_frame().is_some());
        assert!(decoder.next_frame().is_none());
        decoder.feed(b"\n\n");
        assert_eq!(decoder.buf, b"data: 2\n\n");
        assert_eq!(frames(b"data: 1\n\ndata: 2\n\n"), ["|1|", "|2|"]);
    }

    #[test]
    fn find_line_end_finds_the_first_cr_or_lf() {
        assert_eq!(find_line_end(b"abc"), None);
        assert_eq!(find_line_end(b"ab\rc\n"), Some(2));
        assert_eq!(find_line_end(b"0123456789abcdef\n"), Some(16));
    }
}
