//! Turns fuzzer bytes into structured choices, the same way on nightly (the cargo-fuzz
//! targets) and on stable (the corpus replay test), so a corpus file means the same
//! thing to both.
//!
//! Every read takes bytes from the front and never fails: once the input is used up,
//! numbers read as zero, byte strings as empty. A number is little-endian; a byte
//! string is a length (one byte, or 255 then two more bytes) followed by that many
//! bytes (fewer if the input ends first). [`Writer`] produces exactly this layout, for
//! seed inputs built by hand.

use turnwire_protocol::rng::SplitMix64;

/// Reads choices from fuzzer bytes. See the module documentation for the layout.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// True when every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    /// Takes up to `n` bytes from the front.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// Takes `N` bytes as a little-endian number's bytes, zero-padded.
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let head = self.take(N);
        out[..head.len()].copy_from_slice(head);
        out
    }

    /// One byte (zero when none is left).
    pub(crate) fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// Two bytes, little-endian.
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// Four bytes, little-endian.
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// Eight bytes, little-endian.
    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// One byte's low bit.
    pub(crate) fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// An index below `n` (zero when `n` is zero): one byte when `n` ≤ 256, else two.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let raw = if n <= 256 {
            usize::from(self.u8())
        } else {
            usize::from(self.u16())
        };
        raw % n
    }

    /// One of `items` (which must not be empty).
    pub(crate) fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// One of `words` (which must not be empty).
    pub(crate) fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, max: usize) -> &'a [u8] {
        let mut len = usize::from(self.u8());
        if len == 255 {
            len = usize::from(self.u16());
        }
        self.take(len.min(max))
    }

    /// A length-prefixed string of at most `max` bytes, invalid UTF-8 replaced.
    pub(crate) fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

/// Writes bytes that a [`Reader`] reads back as the same choices. Used to build seed
/// inputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub(crate) fn new() -> Self {
        Writer::default()
    }

    /// What a [`Reader::u8`] reads as `v`.
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    /// What a [`Reader::u16`] reads as `v`.
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// What a [`Reader::u32`] reads as `v`.
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// What a [`Reader::u64`] reads as `v`.
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// What a [`Reader::bytes`] reads as `v` (at most 65,535 bytes).
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = v.len().min(usize::from(u16::MAX));
        if len < 255 {
            self.out.push(len as u8);
        } else {
            self.out.push(255);
            self.out.extend_from_slice(&(len as u16).to_le_bytes());
        }
        self.out.extend_from_slice(&v[..len]);
        self
    }

    /// Raw bytes, for a [`Reader::rest`].
    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.out.extend_from_slice(v);
        self
    }

    /// The bytes written.
    pub(crate) fn finish(&self) -> Vec<u8> {
        self.out.clone()
    }
}

/// A tiny deterministic generator for choices that should not consume input bytes
/// (chunk sizes of the SSE target): the core's [`SplitMix64`].
#[derive(Clone, Debug)]
pub(crate) struct Mix(SplitMix64);

impl Mix {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Mix(SplitMix64::new(seed))
    }

    /// The next 64 bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `1..=max` (`max` ≥ 1).
    pub(crate) fn between_1_and(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}
