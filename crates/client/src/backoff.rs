//! Reconnect delays: exponential backoff with full jitter, server advice, and a circuit breaker.
//!
//! Everything here is pure and seedable, so the schedule a client follows can be computed (and
//! tested) without a socket or a clock: [`Backoff::next`] only does arithmetic on its own state.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How a client spaces its reconnect attempts.
///
/// After `n` consecutive failures the next delay is drawn uniformly from
/// `[0, min(cap, base · 2ⁿ)]` ("full jitter"), so a crowd of clients that lost the same server
/// spreads out instead of returning in lockstep. After `breaker_threshold` consecutive failures
/// the breaker opens: the client reports itself offline and probes only once per
/// `breaker_cooldown` (jittered by up to `base`), until an attempt succeeds.
///
/// ```
/// use std::time::Duration;
/// use chinwag_client::backoff::{Backoff, BackoffPolicy, Wait};
///
/// let policy = BackoffPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(2), ..BackoffPolicy::default() };
/// let mut backoff = Backoff::new(policy, 7);
/// match backoff.next(None) {
///     Wait::Retry { attempt, delay } => assert!(attempt == 1 && delay <= Duration::from_millis(100)),
///     Wait::BreakerOpen { .. } => unreachable!("one failure does not open the breaker"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Upper bound of the first delay (default 250 ms).
    pub base: Duration,
    /// No backoff delay is longer than this (default 30 s).
    pub cap: Duration,
    /// Consecutive failures after which the breaker opens (default 12; 0 disables the breaker).
    pub breaker_threshold: u32,
    /// While the breaker is open, the time between probes (default 60 s).
    pub breaker_cooldown: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            breaker_threshold: 12,
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

impl BackoffPolicy {
    /// The ceiling of the jittered delay after `failures` consecutive failures (0 = the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Full jitter: the delay for a uniform draw `unit` in `[0, 1)`.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        self.ceiling(failures).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// What to do before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Attempt number `attempt` (1 = the first retry) after `delay`.
    Retry {
        /// Consecutive failures so far, which is the number of this retry.
        attempt: u32,
        /// How long to wait before it.
        delay: Duration,
    },
    /// Too many consecutive failures: stay offline, probe once after `delay`.
    BreakerOpen {
        /// Consecutive failures so far.
        attempt: u32,
        /// The cooldown before the probe, jittered.
        delay: Duration,
    },
}

impl Wait {
    /// How long to wait.
    pub fn delay(self) -> Duration {
        match self {
            Self::Retry { delay, .. } | Self::BreakerOpen { delay, .. } => delay,
        }
    }

    /// The number of the coming attempt.
    pub fn attempt(self) -> u32 {
        match self {
            Self::Retry { attempt, .. } | Self::BreakerOpen { attempt, .. } => attempt,
        }
    }
}

/// The backoff state of one client: the policy, its random source and the failure count.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    rng: Jitter,
    failures: u32,
}

impl Backoff {
    /// A backoff whose jitter is fully determined by `seed`.
    pub fn new(policy: BackoffPolicy, seed: u64) -> Self {
        Self { policy, rng: Jitter::seeded(seed), failures: 0 }
    }

    /// The policy this backoff follows.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection attempt (or a connection) failed; how long to wait before the next one.
    /// `advice` is the server's `retry_after_ms` when it gave one: the delay is then never
    /// shorter than the advice, and jittered on top of it.
    pub fn next(&mut self, advice: Option<Duration>) -> Wait {
        let failures = self.failures;
        self.failures = self.failures.saturating_add(1);
        let attempt = self.failures;
        let unit = self.rng.unit();
        if self.policy.breaker_threshold > 0 && self.failures >= self.policy.breaker_threshold {
            let delay = self.policy.breaker_cooldown + self.policy.base.mul_f64(unit);
            return Wait::BreakerOpen { attempt, delay: delay.max(advice.unwrap_or_default()) };
        }
        let jittered = self.policy.delay(failures, unit);
        let delay = match advice {
            Some(advice) => advice.saturating_add(jittered),
            None => jittered,
        };
        Wait::Retry { attempt, delay }
    }

    /// A connection was established: start again from the base delay.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// The first `n` waits of a client that keeps failing, without server advice: the schedule a
/// client with this policy and seed follows while the server is down.
pub fn schedule(policy: &BackoffPolicy, seed: u64, n: usize) -> Vec<Wait> {
    let mut backoff = Backoff::new(policy.clone(), seed);
    (0..n).map(|_| backoff.next(None)).collect()
}

/// A small seedable random source (SplitMix64): enough for jitter, reproducible in tests.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A source whose sequence is fully determined by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed that differs between clients and processes (std's per-process random hash keys).
    pub fn entropy_seed() -> u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.finish()
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1_600),
            breaker_threshold: 8,
            breaker_cooldown: Duration::from_secs(30),
        }
    }

    #[test]
    fn delays_stay_under_the_doubling_ceiling_and_the_cap() {
        let p = policy();
        let waits = schedule(&p, 42, 12);
        for (i, w) in waits.iter().enumerate() {
            let failures = i as u32;
            match *w {
                Wait::Retry { attempt, delay } => {
                    assert_eq!(attempt, failures + 1);
                    assert!(delay <= p.ceiling(failures), "{i}: {delay:?}");
                    assert!(delay <= p.cap);
                }
                Wait::BreakerOpen { attempt, delay } => {
                    assert!(attempt >= p.breaker_threshold, "{i}");
                    assert!(delay >= p.breaker_cooldown && delay <= p.breaker_cooldown + p.base);
                }
            }
        }
        assert!(matches!(waits[6], Wait::Retry { .. }));
        assert!(matches!(waits[7], Wait::BreakerOpen { attempt: 8, .. }));
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(40), p.cap, "no overflow for large counts");
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let p = policy();
        assert_eq!(schedule(&p, 1, 10), schedule(&p, 1, 10));
        assert_ne!(schedule(&p, 1, 10), schedule(&p, 2, 10));
    }

    #[test]
    fn jitter_is_spread_over_the_whole_window() {
        let p = policy();
        let mut buckets = [0u32; 10];
        for seed in 0..2_000u64 {
            let d = schedule(&p, seed, 1)[0].delay();
            let b = (d.as_secs_f64() / p.base.as_secs_f64() * 10.0) as usize;
            buckets[b.min(9)] += 1;
        }
        for (i, n) in buckets.iter().enumerate() {
            assert!((120..=280).contains(n), "bucket {i} holds {n} of 2000: {buckets:?}");
        }
    }

    #[test]
    fn advice_is_a_floor_and_success_resets() {
        let mut b = Backoff::new(policy(), 9);
        let advice = Duration::from_millis(1_500);
        for _ in 0..3 {
            let w = b.next(Some(advice));
            assert!(w.delay() >= advice && w.delay() <= advice + p_ceiling(&b), "{w:?}");
        }
        assert_eq!(b.failures(), 3);
        b.succeeded();
        assert_eq!(b.failures(), 0);
        assert!(b.next(None).delay() <= Duration::from_millis(100));
    }

    fn p_ceiling(b: &Backoff) -> Duration {
        b.policy().ceiling(b.failures())
    }

    #[test]
    fn zero_threshold_disables_the_breaker() {
        let p = BackoffPolicy { breaker_threshold: 0, ..policy() };
        assert!(schedule(&p, 3, 50).iter().all(|w| matches!(w, Wait::Retry { .. })));
    }
}
