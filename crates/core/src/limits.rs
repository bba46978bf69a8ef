//! Limits enforced on every connection and request. Each has a typed error or close code.

use serde::{Deserialize, Serialize};

/// All limits, with their defaults. Documented in `docs/operations.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket message (after reassembly) a client may send; larger → close 1009.
    pub max_frame_bytes: usize,
    /// Largest fragment count of one WebSocket message; more → close 1009.
    pub max_fragments: usize,
    /// Largest message `body` (bytes of UTF-8) plus `payload` JSON; larger → `too_large`.
    pub max_body_bytes: usize,
    /// Largest REST request body; larger → 413 `too_large`.
    pub max_http_body_bytes: usize,
    /// Sustained requests per second per connection (burst: twice this); over → `rate_limited`.
    pub requests_per_second: u32,
    /// Sustained requests per second per user over all devices and REST (burst: twice this).
    pub user_requests_per_second: u32,
    /// Consecutive rate-limited requests after which the connection is closed with 4009.
    pub rate_limit_strikes: u32,
    /// Simultaneous WebSocket connections per user; one more → close 4005.
    pub max_connections_per_user: usize,
    /// Default page size for history and conversation lists.
    pub default_page_size: u32,
    /// Largest page size a client may ask for; larger → `too_large`.
    pub max_page_size: u32,
    /// Most messages replayed per conversation by one resume; the rest via `history`.
    pub resume_max_messages: u32,
    /// Frames a connection's outbound queue holds before the connection is a slow consumer (4008).
    pub outbound_queue_frames: usize,
    /// Bytes a connection's outbound queue holds before the connection is a slow consumer (4008).
    pub outbound_queue_bytes: usize,
    /// Time a client has to send `auth` after connecting; then close 4002.
    pub auth_timeout_ms: u64,
    /// Interval of protocol pings from the server.
    pub heartbeat_ms: u64,
    /// Silence after which a peer is considered dead and reaped (close 4010).
    pub idle_timeout_ms: u64,
    /// How long one socket write may stall before the connection is a slow consumer.
    pub write_timeout_ms: u64,
    /// How long a slow consumer is given to read what was already written before its close frame
    /// (so that it sees code 4008) before the socket is dropped.
    pub slow_close_grace_ms: u64,
    /// A typing indicator lasts this long after its last `typing: true` unless refreshed.
    pub typing_ttl_ms: u64,
    /// Fan-out window of a busy conversation: events published within it reach each device as
    /// one write (see `hub/windows.rs`). The first event of a quiet conversation is never delayed; 0
    /// delivers every event at once.
    pub fanout_window_ms: u64,
    /// Members of a group conversation at most.
    pub max_members: usize,
    /// Length of a `client_msg_id`, `subject`, `title`, `kind` at most (bytes).
    pub max_id_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 128 * 1024,
            max_fragments: 64,
            max_body_bytes: 64 * 1024,
            max_http_body_bytes: 256 * 1024,
            requests_per_second: 100,
            user_requests_per_second: 200,
            rate_limit_strikes: 50,
            max_connections_per_user: 20,
            default_page_size: 50,
            max_page_size: 200,
            resume_max_messages: 1000,
            outbound_queue_frames: 8192,
            outbound_queue_bytes: 4 * 1024 * 1024,
            auth_timeout_ms: 10_000,
            heartbeat_ms: 25_000,
            idle_timeout_ms: 60_000,
            write_timeout_ms: 10_000,
            slow_close_grace_ms: 30_000,
            typing_ttl_ms: 5_000,
            fanout_window_ms: 20,
            max_members: 1000,
            max_id_bytes: 256,
        }
    }
}

impl Limits {
    /// Reject nonsensical combinations once, at start-up.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_frame_bytes", self.max_frame_bytes as u64),
            ("max_fragments", self.max_fragments as u64),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_http_body_bytes", self.max_http_body_bytes as u64),
            ("requests_per_second", self.requests_per_second.into()),
            ("user_requests_per_second", self.user_requests_per_second.into()),
            ("rate_limit_strikes", self.rate_limit_strikes.into()),
            ("max_connections_per_user", self.max_connections_per_user as u64),
            ("default_page_size", self.default_page_size.into()),
            ("max_page_size", self.max_page_size.into()),
            ("resume_max_messages", self.resume_max_messages.into()),
            ("outbound_queue_frames", self.outbound_queue_frames as u64),
            ("outbound_queue_bytes", self.outbound_queue_bytes as u64),
            ("auth_timeout_ms", self.auth_timeout_ms),
            ("heartbeat_ms", self.heartbeat_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("write_timeout_ms", self.write_timeout_ms),
            ("slow_close_grace_ms", self.slow_close_grace_ms),
            ("typing_ttl_ms", self.typing_ttl_ms),
            ("max_members", self.max_members as u64),
            ("max_id_bytes", self.max_id_bytes as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("limits.{name} must be greater than 0"));
        }
        if self.default_page_size > self.max_page_size {
            return Err("limits.default_page_size must not exceed limits.max_page_size".into());
        }
        if self.max_body_bytes + 1024 > self.max_frame_bytes {
            return Err(
                "limits.max_frame_bytes must exceed limits.max_body_bytes by at least 1024".into(),
            );
        }
        if self.idle_timeout_ms <= self.heartbeat_ms {
            return Err("limits.idle_timeout_ms must be longer than limits.heartbeat_ms".into());
        }
        Ok(())
    }

    /// Clamp a requested page size: `None` → default, over the max → `too_large`.
    pub fn page_size(&self, asked: Option<u32>) -> Result<u32, crate::ServiceError> {
        match asked {
            None => Ok(self.default_page_size),
            Some(0) => Err(crate::ServiceError::invalid("limit must be at least 1")),
            Some(n) if n > self.max_page_size => Err(crate::ServiceError::too_large(format!(
                "limit {n} is over the maximum page size {}",
                self.max_page_size
            ))),
            Some(n) => Ok(n),
        }
    }
}
