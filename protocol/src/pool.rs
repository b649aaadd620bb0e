//! The HTTP/1.1 keep-alive pool's policy (PROTOCOL.md section 3.3), without I/O: which
//! idle connection a request takes, which one goes when an origin holds too many, and
//! when one has sat idle too long.
//!
//! The pool holds opaque connection values `C` under an origin key `K`; it never reads,
//! writes or closes them. A driver keeps its sockets in it (the async driver), a
//! blocking embedder its `TcpStream`s, the simulator plain ids. Every value the pool
//! gives back from [`IdlePool::put`] or [`IdlePool::pop_expired`] is the caller's to
//! close. Time is an input: the same calls with the same instants always give the same
//! answers.
//!
//! ```
//! use core::time::Duration;
//! use turnwire_protocol::pool::{IdlePool, PoolLimits};
//! use turnwire_protocol::Instant;
//!
//! let mut pool = IdlePool::new(PoolLimits { max_idle_per_origin: 1, idle_timeout: Duration::from_secs(90) });
//! let t0 = Instant::ZERO;
//! assert!(pool.put(t0, "http://127.0.0.1:8080", "socket 1").is_none());
//! // a second idle socket to the same origin pushes the older one out: close it
//! assert_eq!(pool.put(t0, "http://127.0.0.1:8080", "socket 2"), Some("socket 1"));
//! assert_eq!(pool.take(t0, &"http://127.0.0.1:8080"), Some("socket 2"));
//! ```

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::time::Instant;

/// How many connections the pool keeps and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolLimits {
    /// Idle connections kept per origin (default 4). Zero turns pooling off: every
    /// connection offered is handed straight back to be closed.
    pub max_idle_per_origin: usize,
    /// A connection idle this long is closed (default 90 s). Zero turns pooling off.
    #[serde(with = "crate::serde_duration")]
    pub idle_timeout: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_idle_per_origin: 4,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

impl PoolLimits {
    /// Limits that keep nothing: every request opens its own connection.
    pub const DISABLED: PoolLimits = PoolLimits {
        max_idle_per_origin: 0,
        idle_timeout: Duration::ZERO,
    };

    /// True when the pool keeps connections at all.
    pub fn enabled(&self) -> bool {
        self.max_idle_per_origin > 0 && !self.idle_timeout.is_zero()
    }
}

/// One idle connection and when it went idle.
#[derive(Debug)]
struct Idle<C> {
    since: Instant,
    conn: C,
}

/// Idle connections by origin, oldest first within each origin. See the module
/// documentation.
#[derive(Debug)]
pub struct IdlePool<K, C> {
    limits: PoolLimits,
    origins: BTreeMap<K, VecDeque<Idle<C>>>,
}

impl<K: Ord + Clone, C> IdlePool<K, C> {
    /// An empty pool with these limits.
    pub fn new(limits: PoolLimits) -> Self {
        IdlePool {
            limits,
            origins: BTreeMap::new(),
        }
    }

    /// The limits the pool applies.
    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    /// Offers `conn` for reuse. Call only when its response was read to its end and
    /// neither side sent `Connection: close` (section 3.3). Returns the connection the
    /// caller must close now, if any: `conn` itself when pooling is off, else the
    /// origin's longest-idle connection when the origin already held its maximum.
    #[must_use = "a connection handed back must be closed"]
    pub fn put(&mut self, now: Instant, origin: K, conn: C) -> Option<C> {
        if !self.limits.enabled() {
            return Some(conn);
        }
        let idle = self.origins.entry(origin).or_default();
        // Keep each origin ordered by idle time even if a caller's clock stepped back.
        let since = idle.back().map_or(now, |last| now.max(last.since));
        idle.push_back(Idle { since, conn });
        if idle.len() > self.limits.max_idle_per_origin {
            idle.pop_front().map(|oldest| oldest.conn)
        } else {
            None
        }
    }

    /// Takes an idle connection to `origin` for a new request: the one that went idle
    /// most recently, since the server is least likely to have closed it. Connections
    /// expired at `now` are never taken (they wait for [`IdlePool::pop_expired`]).
    pub fn take(&mut self, now: Instant, origin: &K) -> Option<C> {
        let idle = self.origins.get_mut(origin)?;
        let newest = idle.back()?;
        if self.limits.expired(newest.since, now) {
            return None;
        }
        let taken = idle.pop_back().map(|entry| entry.conn);
        if idle.is_empty() {
            self.origins.remove(origin);
        }
        taken
    }

    /// Removes and returns one connection that has been idle for the idle timeout or
    /// longer at `now`, oldest origin key first. Call until it returns `None` whenever
    /// [`IdlePool::next_expiry`] has passed, and close each one.
    #[must_use = "an expired connection must be closed"]
    pub fn pop_expired(&mut self, now: Instant) -> Option<C> {
        let limits = self.limits;
        let origin = self.origins.iter().find_map(|(origin, idle)| {
            idle.front()
                .filter(|oldest| limits.expired(oldest.since, now))
                .map(|_| origin.clone())
        })?;
        let idle = self.origins.get_mut(&origin)?;
        let expired = idle.pop_front().map(|entry| entry.conn);
        if idle.is_empty() {
            self.origins.remove(&origin);
        }
        expired
    }

    /// The earliest instant at which an idle connection expires, or `None` when the
    /// pool is empty. Wake up then and call [`IdlePool::pop_expired`].
    #[must_use]
    pub fn next_expiry(&self) -> Option<Instant> {
        self.origins
            .values()
            .filter_map(|idle| idle.front())
            .map(|oldest| oldest.since.saturating_add(self.limits.idle_timeout))
            .min()
    }

    /// Idle connections held for `origin`.
    pub fn idle(&self, origin: &K) -> usize {
        self.origins.get(origin).map_or(0, VecDeque::len)
    }

    /// Idle connections held in all.
    pub fn len(&self) -> usize {
        self.origins.values().map(VecDeque::len).sum()
    }

    /// True when no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Removes every idle connection, for the caller to close (at shutdown).
    pub fn drain(&mut self) -> Vec<C> {
        std::mem::take(&mut self.origins)
            .into_values()
            .flat_map(|idle| idle.into_iter().map(|entry| entry.conn))
            .collect()
    }
}

impl PoolLimits {
    /// True when a connection idle since `since` must not be used at `now`.
    fn expired(&self, since: Instant, now: Instant) -> bool {
        now >= since.saturating_add(self.idle_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://a:80";
    const B: &str = "https://b:443";

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * 1000)
    }

    fn limits(max: usize, idle_secs: u64) -> PoolLimits {
        PoolLimits {
            max_idle_per_origin: max,
            idle_timeout: Duration::from_secs(idle_secs),
        }
    }

    /// One step of a table test and what the pool must answer.
    enum Op {
        Put(u64, &'static str, u32, Option<u32>),
        Take(u64, &'static str, Option<u32>),
        PopExpired(u64, Option<u32>),
        NextExpiry(Option<u64>),
    }

    fn run(limits: PoolLimits, ops: &[Op]) {
        let mut pool: IdlePool<&str, u32> = IdlePool::new(limits);
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Put(t, origin, conn, closed) => {
                    assert_eq!(pool.put(at(t), origin, conn), closed, "step {step}: put");
                }
                Op::Take(t, origin, taken) => {
                    assert_eq!(pool.take(at(t), &origin), taken, "step {step}: take");
                }
                Op::PopExpired(t, expired) => {
                    assert_eq!(pool.pop_expired(at(t)), expired, "step {step}: expiry");
                }
                Op::NextExpiry(expected) => {
                    assert_eq!(pool.next_expiry(), expected.map(at), "step {step}: next");
                }
            }
        }
    }

    #[test]
    fn take_prefers_the_most_recently_idle_connection() {
        use Op::*;
        run(
            limits(4, 90),
            &[
                Put(0, A, 1, None),
                Put(5, A, 2, None),
                Put(6, B, 3, None),
                Take(10, A, Some(2)),
                Take(10, A, Some(1)),
                Take(10, A, None),
                Take(10, B, Some(3)),
                Take(10, B, None),
            ],
        );
    }

    #[test]
    fn a_full_origin_evicts_its_longest_idle_connection() {
        use Op::*;
        run(
            limits(2, 90),
            &[
                Put(0, A, 1, None),
                Put(1, A, 2, None),
                Put(2, B, 9, None),
                Put(3, A, 3, Some(1)),
                Put(4, A, 4, Some(2)),
                Take(5, A, Some(4)),
                Take(5, A, Some(3)),
                Take(5, B, Some(9)),
            ],
        );
    }

    #[test]
    fn connections_expire_after_the_idle_timeout_and_are_never_taken_then() {
        use Op::*;
        run(
            limits(4, 90),
            &[
                NextExpiry(None),
                Put(0, A, 1, None),
                Put(30, A, 2, None),
                Put(10, B, 3, None),
                NextExpiry(Some(90)),
                PopExpired(89, None),
                PopExpired(90, Some(1)),
                PopExpired(90, None),
                NextExpiry(Some(100)),
                // B's connection expired at 100: not taken, handed back for closing.
                Take(100, B, None),
                PopExpired(100, Some(3)),
                NextExpiry(Some(120)),
                Take(119, A, Some(2)),
                NextExpiry(None),
            ],
        );
    }

    #[test]
    fn disabled_limits_hand_every_connection_back() {
        use Op::*;
        for off in [PoolLimits::DISABLED, limits(0, 90), limits(4, 0)] {
            run(
                off,
                &[Put(0, A, 1, Some(1)), Take(0, A, None), NextExpiry(None)],
            );
        }
    }

    #[test]
    fn a_clock_that_steps_back_keeps_the_idle_order() {
        use Op::*;
        run(
            limits(4, 90),
            &[
                Put(50, A, 1, None),
                Put(40, A, 2, None), // counted as idle since 50, not 40
                NextExpiry(Some(140)),
                PopExpired(140, Some(1)),
                PopExpired(140, Some(2)),
            ],
        );
    }

    #[test]
    fn counts_and_drain_cover_every_origin() {
        let mut pool: IdlePool<&str, u32> = IdlePool::new(PoolLimits::default());
        assert!(pool.is_empty());
        for (conn, origin) in [(1, A), (2, A), (3, B)] {
            assert!(pool.put(at(0), origin, conn).is_none());
        }
        assert_eq!((pool.idle(&A), pool.idle(&B), pool.len()), (2, 1, 3));
        let mut all = pool.drain();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3]);
        assert!(pool.is_empty());
        assert_eq!(pool.next_expiry(), None);
    }
}
