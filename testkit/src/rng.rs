//! Seeded draws for fault schedules and session scripts. The generator is the core's
//! [`SplitMix64`] (the same one backoff jitter comes from); this module adds only the
//! shapes of draw the simulator needs. Every random choice comes from one of these,
//! so a seed reproduces a run exactly.

use core::time::Duration;

pub use turnwire_protocol::rng::SplitMix64;

/// The draws a simulation makes, on top of the core's generator. Import it next to
/// [`SplitMix64`] to call them.
pub trait Draws {
    /// An independent generator for another purpose, derived from `seed` and
    /// `stream`, so that adding draws to one purpose does not shift the others.
    fn fork(seed: u64, stream: u64) -> Self;

    /// A number in `0..n` (0 when `n` is 0), without modulo bias.
    fn below(&mut self, n: u64) -> u64;

    /// A number in `lo..=hi` (`lo` when `hi <= lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    /// A duration in `lo..=hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }

    /// One element of a non-empty slice, chosen uniformly (callers pass literals; an
    /// empty slice panics).
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i.min(items.len().saturating_sub(1))]
    }
}

impl Draws for SplitMix64 {
    fn fork(seed: u64, stream: u64) -> Self {
        let mut mixer = SplitMix64::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        SplitMix64::new(mixer.next_u64())
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_below(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_seeds_give_equal_sequences_and_ranges_hold() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = SplitMix64::new(1);
        for _ in 0..1000 {
            let x = r.range(3, 5);
            assert!((3..=5).contains(&x));
            assert!(r.below(10) < 10);
        }
        assert_ne!(
            SplitMix64::fork(1, 1).next_u64(),
            SplitMix64::fork(1, 2).next_u64()
        );
    }
}
