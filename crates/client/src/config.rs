//! The client's settings, each with its default.

use std::path::PathBuf;
use std::time::Duration;

use crate::backoff::BackoffPolicy;
use crate::cache::CacheConfig;

/// Where the client resumes from when it has no saved positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Replay every conversation from its start (up to the server's per-conversation cap).
    Everything,
    /// Only what happens from now on; history is fetched on demand.
    Now,
}

/// Client settings. `ClientConfig::default()` suits an interactive app.
///
/// ```
/// use std::time::Duration;
/// use chinwag_client::backoff::BackoffPolicy;
/// use chinwag_client::{ClientConfig, StartFrom};
///
/// // A bot: its outbox survives restarts, it gives up on a reply after a minute, it reconnects
/// // within 5 s at most, and it does not replay old history.
/// let config = ClientConfig {
///     state_path: Some("bot.db".into()),
///     send_deadline: Duration::from_secs(60),
///     backoff: BackoffPolicy { cap: Duration::from_secs(5), ..BackoffPolicy::default() },
///     start_from: StartFrom::Now,
///     ..ClientConfig::default()
/// };
/// assert_eq!(config.outbox_capacity, 10_000);
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The SQLite file of the outbox and resume positions. `None`: in memory, nothing survives
    /// a restart of the process (default `None`).
    pub state_path: Option<PathBuf>,
    /// At most this many messages wait in the outbox; more are refused with
    /// [`SendError::OutboxFull`](crate::SendError::OutboxFull) (default 10,000).
    pub outbox_capacity: usize,
    /// A message not acknowledged this long after it was queued is `failed` (default 5 min).
    pub send_deadline: Duration,
    /// At most this many outbox entries sent and not yet acknowledged (default 128).
    pub max_in_flight: usize,
    /// Reconnect policy (default: 250 ms base, 30 s cap, breaker after 12 failures).
    pub backoff: BackoffPolicy,
    /// Seed of the reconnect jitter; `None` draws one per client (default `None`).
    pub backoff_seed: Option<u64>,
    /// Time allowed for TCP, the WebSocket handshake and the `authed` reply (default 10 s).
    pub connect_timeout: Duration,
    /// Interval of app-level `ping`s (default 5 s).
    pub ping_interval: Duration,
    /// Weight of the newest round trip in the latency EWMA (default 0.3).
    pub latency_alpha: f64,
    /// This many consecutive pings without a pong mean the connection is dead (default 3).
    pub max_missed_pongs: u32,
    /// Time allowed for a request's reply (default 15 s).
    pub request_timeout: Duration,
    /// The local history cache's bounds.
    pub cache: CacheConfig,
    /// Capacity of the event stream's buffer (default 1,024; see [`Events`](crate::Events)).
    pub event_capacity: usize,
    /// Where to start without saved positions (default [`StartFrom::Everything`]).
    pub start_from: StartFrom,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            state_path: None,
            outbox_capacity: 10_000,
            send_deadline: Duration::from_secs(300),
            max_in_flight: 128,
            backoff: BackoffPolicy::default(),
            backoff_seed: None,
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            latency_alpha: 0.3,
            max_missed_pongs: 3,
            request_timeout: Duration::from_secs(15),
            cache: CacheConfig::default(),
            event_capacity: 1_024,
            start_from: StartFrom::Everything,
        }
    }
}

impl ClientConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.outbox_capacity == 0 {
            return Err("outbox_capacity must be at least 1".into());
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        if self.event_capacity == 0 {
            return Err("event_capacity must be at least 1".into());
        }
        if self.ping_interval.is_zero() || self.connect_timeout.is_zero() {
            return Err("ping_interval and connect_timeout must be positive".into());
        }
        if self.backoff.base.is_zero() {
            return Err("backoff.base must be positive".into());
        }
        let year = Duration::from_secs(365 * 24 * 3600);
        let durations = [
            ("send_deadline", self.send_deadline),
            ("connect_timeout", self.connect_timeout),
            ("ping_interval", self.ping_interval),
            ("request_timeout", self.request_timeout),
            ("backoff.base", self.backoff.base),
            ("backoff.cap", self.backoff.cap),
            ("backoff.breaker_cooldown", self.backoff.breaker_cooldown),
            ("cache.ttl", self.cache.ttl),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| *d > year) {
            return Err(format!("{name} must be at most a year"));
        }
        if !(self.latency_alpha > 0.0 && self.latency_alpha <= 1.0) {
            return Err("latency_alpha must be in (0, 1]".into());
        }
        Ok(())
    }
}
