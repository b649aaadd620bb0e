//! The backoff policy of PROTOCOL.md section 9: seeded jitter, exponential delays in
//! integer arithmetic, and the precedence of server-requested delays.

use core::time::Duration;

use proptest::prelude::*;
use turnwire_protocol::backoff::{BackoffPolicy, JitterRng, RetryDelay};

fn policy(base: Duration, max_backoff: Duration) -> BackoffPolicy {
    BackoffPolicy {
        base,
        max_backoff,
        max_retry_after: Duration::from_secs(120),
    }
}

/// `min(max, base · 2^exponent)` in nanoseconds, computed the slow, obvious way.
fn expected_cap(base: Duration, max: Duration, exponent: u32) -> u128 {
    let doubled = 1u128
        .checked_shl(exponent)
        .and_then(|power| base.as_nanos().checked_mul(power))
        .unwrap_or(if base.is_zero() { 0 } else { u128::MAX });
    doubled.min(max.as_nanos())
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..100_000_000_000).prop_map(Duration::from_nanos),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

fn any_exponent() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..140, Just(u32::MAX), any::<u32>()]
}

#[test]
fn splitmix64_matches_the_reference_outputs() {
    // The first outputs of SplitMix64 seeded with 0, as published with the algorithm.
    let mut rng = JitterRng::new(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
}

#[test]
fn next_below_stays_in_range_and_spreads_evenly() {
    let mut rng = JitterRng::new(7);
    let mut buckets = [0u32; 10];
    for _ in 0..10_000 {
        let value = rng.next_below(10);
        assert!(value < 10);
        buckets[value as usize] += 1;
    }
    for (digit, count) in buckets.iter().enumerate() {
        assert!(
            (850..=1150).contains(count),
            "digit {digit} drawn {count} times of 10,000"
        );
    }
    assert_eq!(rng.next_below(0), 0);
    assert_eq!(rng.next_below(1), 0);
}

#[test]
fn defaults_give_about_200_400_800_1600_ms() {
    let policy = BackoffPolicy::default();
    let mut rng = JitterRng::new(42);
    for (exponent, nominal_ms) in [(0, 200u64), (1, 400), (2, 800), (3, 1600), (4, 3200)] {
        let delay = policy.exponential(exponent, &mut rng);
        let low = Duration::from_millis(nominal_ms * 9 / 10);
        let high = Duration::from_millis(nominal_ms * 11 / 10);
        assert!(
            delay >= low && delay < high,
            "attempt {exponent}: {delay:?} not in [{low:?}, {high:?})"
        );
    }
}

#[test]
fn the_default_cap_stops_growth_at_30_seconds() {
    let policy = BackoffPolicy::default();
    let mut rng = JitterRng::new(1);
    for exponent in [8, 10, 31, 64, 127, 128, 1000, u32::MAX] {
        let delay = policy.exponential(exponent, &mut rng);
        assert!(
            delay >= Duration::from_secs(27) && delay < Duration::from_secs(33),
            "exponent {exponent}: {delay:?}"
        );
    }
}

#[test]
fn jitter_covers_the_whole_band_around_one() {
    let policy = policy(Duration::from_secs(1), Duration::from_secs(1));
    let mut rng = JitterRng::new(3);
    let draws: Vec<u128> = (0..20_000)
        .map(|_| policy.exponential(0, &mut rng).as_nanos())
        .collect();
    let (min, max) = (draws.iter().min().copied(), draws.iter().max().copied());
    let mean = draws.iter().sum::<u128>() / draws.len() as u128;
    assert!(min.is_some_and(|m| m < 902_000_000), "smallest {min:?}");
    assert!(max.is_some_and(|m| m > 1_098_000_000), "largest {max:?}");
    assert!((995_000_000..1_005_000_000).contains(&mean), "mean {mean}");
}

#[test]
fn extreme_settings_saturate_instead_of_overflowing() {
    let mut rng = JitterRng::new(9);
    let huge = policy(Duration::MAX, Duration::MAX);
    for exponent in [0, 1, 64, u32::MAX] {
        let delay = huge.exponential(exponent, &mut rng);
        assert!(
            delay.as_nanos() * 10 >= Duration::MAX.as_nanos() * 9,
            "{delay:?}"
        );
    }
    let zero = policy(Duration::ZERO, Duration::MAX);
    assert_eq!(zero.exponential(u32::MAX, &mut rng), Duration::ZERO);
    let no_room = policy(Duration::from_secs(1), Duration::ZERO);
    assert_eq!(no_room.exponential(5, &mut rng), Duration::ZERO);
}

#[test]
fn from_config_takes_the_three_settings() {
    let config = turnwire_protocol::Config {
        retry_base_delay: Duration::from_millis(50),
        max_backoff: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(60),
        ..turnwire_protocol::Config::default()
    };
    let policy = BackoffPolicy::from_config(&config);
    assert_eq!(policy.base, Duration::from_millis(50));
    assert_eq!(policy.max_backoff, Duration::from_secs(5));
    assert_eq!(policy.max_retry_after, Duration::from_secs(60));
    assert_eq!(
        BackoffPolicy::from_config(&turnwire_protocol::Config::default()),
        BackoffPolicy::default()
    );
}

#[test]
fn a_requested_delay_wins_over_backoff_and_draws_no_jitter() {
    let policy = BackoffPolicy::default();
    let mut rng = JitterRng::new(5);
    let before = rng.clone();
    assert_eq!(
        policy.delay(3, Some(Duration::from_millis(1500)), &mut rng),
        RetryDelay::Wait(Duration::from_millis(1500))
    );
    assert_eq!(
        policy.delay(3, Some(Duration::ZERO), &mut rng),
        RetryDelay::Wait(Duration::ZERO)
    );
    assert_eq!(
        rng, before,
        "a server-requested delay must not consume jitter"
    );
}

#[test]
fn a_requested_delay_at_the_cap_is_waited_and_above_it_is_too_long() {
    let policy = BackoffPolicy::default();
    let mut rng = JitterRng::new(5);
    let cap = policy.max_retry_after;
    assert_eq!(policy.delay(0, Some(cap), &mut rng), RetryDelay::Wait(cap));
    let above = cap + Duration::from_nanos(1);
    assert_eq!(
        policy.delay(0, Some(above), &mut rng),
        RetryDelay::TooLong(above)
    );
    assert_eq!(
        policy.delay(0, Some(Duration::MAX), &mut rng),
        RetryDelay::TooLong(Duration::MAX)
    );
}

#[test]
fn without_a_requested_delay_the_backoff_is_used() {
    let policy = BackoffPolicy::default();
    let mut rng = JitterRng::new(11);
    let mut twin = rng.clone();
    let expected = policy.exponential(2, &mut twin);
    assert_eq!(policy.delay(2, None, &mut rng), RetryDelay::Wait(expected));
    assert_eq!(rng, twin);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn exponential_stays_within_ten_percent_of_the_capped_power(
        base in any_duration(),
        max in any_duration(),
        exponent in any_exponent(),
        seed in any::<u64>(),
    ) {
        let cap = expected_cap(base, max, exponent);
        prop_assert_eq!(policy(base, max).capped_nanos(exponent), cap);
        let delay = policy(base, max).exponential(exponent, &mut JitterRng::new(seed)).as_nanos();
        // ⌊0.9·cap⌋ ≤ delay < 1.1·cap, or zero for a zero cap.
        prop_assert!(delay >= cap * 9 / 10, "delay {} below 0.9 × {}", delay, cap);
        if cap == 0 {
            prop_assert_eq!(delay, 0);
        } else {
            prop_assert!(delay * 10 < cap * 11, "delay {} not below 1.1 × {}", delay, cap);
        }
        prop_assert!(delay * 10 < max.as_nanos() * 11 || (max.is_zero() && delay == 0));
    }

    #[test]
    fn equal_seeds_give_equal_sequences(seed in any::<u64>()) {
        let policy = BackoffPolicy::default();
        let (mut a, mut b) = (JitterRng::new(seed), JitterRng::new(seed));
        for exponent in 0..16 {
            prop_assert_eq!(policy.exponential(exponent, &mut a), policy.exponential(exponent, &mut b));
            prop_assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn different_seeds_give_different_sequences(a in any::<u64>(), b in any::<u64>()) {
        prop_assume!(a != b);
        // SplitMix64's output function is a bijection of its state, so two seeds never
        // give the same first value.
        prop_assert_ne!(JitterRng::new(a).next_u64(), JitterRng::new(b).next_u64());
    }

    #[test]
    fn delay_prefers_the_request_and_refuses_above_the_cap(
        requested in proptest::option::of(any_duration()),
        max_retry_after in any_duration(),
        exponent in 0u32..64,
        seed in any::<u64>(),
    ) {
        let policy = BackoffPolicy { max_retry_after, ..BackoffPolicy::default() };
        let mut rng = JitterRng::new(seed);
        let outcome = policy.delay(exponent, requested, &mut rng);
        match requested {
            Some(r) if r <= max_retry_after => prop_assert_eq!(outcome, RetryDelay::Wait(r)),
            Some(r) => prop_assert_eq!(outcome, RetryDelay::TooLong(r)),
            None => {
                let expected = policy.exponential(exponent, &mut JitterRng::new(seed));
                prop_assert_eq!(outcome, RetryDelay::Wait(expected));
            }
        }
    }
}
