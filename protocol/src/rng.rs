//! The project's one pseudo-random generator: SplitMix64, seeded by whoever drives.
//!
//! The core draws backoff jitter from it (as [`crate::backoff::JitterRng`]); the
//! testkit draws its fault schedules and scripts from it; the fuzz checks draw chunk
//! sizes from it. It reads no clock and no operating-system entropy: the seed is all
//! there is, so a logged seed replays a run exactly.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter stepped by the
/// golden-ratio constant and scrambled by a fixed mix. Every seed, zero included, gives
/// a full-period sequence; equal seeds give equal sequences on every platform.
///
/// Create one with [`SplitMix64::new`] from a seed the caller chose (and logged);
/// draw with [`SplitMix64::next_u64`] or [`SplitMix64::next_below`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator from a seed; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `[0, bound)`, without modulo bias (Lemire's
    /// multiply-and-reject); zero when `bound` is zero. Usually one draw; a rejection
    /// (probability below `bound / 2⁶⁴`) takes another.
    pub fn next_below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Values of the low half below this threshold would over-represent some results.
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }
}
