//! Pacing writes under the server's announced `requests_per_second`, so that replaying a large
//! outbox does not run into `rate_limited`.

use tokio::time::Instant;

/// A token bucket; a frame that must go out at once (a request, a ping, a receipt) may take it
/// below zero, and outbox entries wait until it has refilled.
#[derive(Debug)]
pub(super) struct Rate {
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Rate {
    pub(super) fn new(per_sec: u32) -> Self {
        // Stay a little under the limit: the server also counts our pings and receipts.
        let per_sec = (f64::from(per_sec) * 0.9).max(1.0);
        Self { per_sec, tokens: per_sec, last: Instant::now() }
    }

    pub(super) fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.per_sec);
        self.last = now;
    }

    pub(super) fn spend(&mut self) {
        self.tokens -= 1.0;
    }

    /// Whole tokens left (none while the bucket is below one).
    pub(super) fn available(&self) -> usize {
        self.tokens as usize
    }
}
