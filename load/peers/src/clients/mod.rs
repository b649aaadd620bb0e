//! The clients measured, each reading a case's responses to the end and checking
//! that every event (or every text delta) arrived.

pub(crate) mod openai;
pub(crate) mod raw;
pub(crate) mod reqwest_sse;
pub(crate) mod turnwire;
pub(crate) mod ws;

/// Counts `\n\n` pairs across reads: one per SSE event whose lines end in `\n`.
/// Chunked framing (`\r\n`) and the HTTP head never form such a pair.
#[derive(Default)]
pub(crate) struct BlankLines {
    pub(crate) count: usize,
    last_was_newline: bool,
}

impl BlankLines {
    /// Counts the pairs in `bytes`, continuing from the previous call.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let Some((&first, rest)) = bytes.split_first() else {
            return;
        };
        let across = usize::from(self.last_was_newline && first == b'\n');
        let within = bytes
            .iter()
            .zip(rest)
            .filter(|&(&a, &b)| a == b'\n' && b == b'\n')
            .count();
        self.count += across + within;
        self.last_was_newline = bytes.last() == Some(&b'\n');
    }
}

/// An error unless `seen == expected`.
pub(crate) fn expect(what: &str, seen: usize, expected: usize) -> Result<(), String> {
    if seen == expected {
        Ok(())
    } else {
        Err(format!("{what}: {seen} arrived, {expected} expected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_counted_across_reads() {
        let mut counter = BlankLines::default();
        for part in ["data: a\n", "\ndata: b\n\n", "\r\n0\r\n\r\n", "data: c\n\n"] {
            counter.feed(part.as_bytes());
        }
        assert_eq!(counter.count, 3);
    }
}
