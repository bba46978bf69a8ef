//! Token buckets for request rate limits, per connection and per user.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chinwag_proto::ids::{TenantId, UserId};
use parking_lot::Mutex;

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: rate_per_sec as f64,
            burst: burst as f64,
            tokens: burst as f64,
            at: Instant::now(),
        }
    }

    /// Take a token at `now`; on refusal, how long until one is available.
    pub fn take_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    pub fn take(&mut self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }
}

/// Per-user buckets over all of a user's devices and REST calls.
///
/// Bounded: when it holds `capacity` users, buckets that have refilled completely (idle users)
/// are dropped, since a full bucket carries no state worth keeping.
#[derive(Debug)]
pub struct UserRateLimiter {
    buckets: Mutex<HashMap<(TenantId, UserId), TokenBucket>>,
    rate: u32,
    capacity: usize,
}

impl UserRateLimiter {
    pub fn new(rate: u32, capacity: usize) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), rate, capacity }
    }

    pub fn check(&self, tenant: &TenantId, user: &UserId) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= self.capacity {
            let idle = Duration::from_secs_f64(2.0);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < idle);
        }
        buckets
            .entry((tenant.clone(), user.clone()))
            .or_insert_with(|| TokenBucket::new(self.rate, self.rate.saturating_mul(2)))
            .take_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 3);
        for _ in 0..3 {
            assert!(b.take_at(t0).is_ok());
        }
        let wait = b.take_at(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        assert!(b.take_at(t0 + Duration::from_millis(100)).is_ok());
    }
}
