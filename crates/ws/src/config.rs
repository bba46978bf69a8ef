//! Per-connection limits, set once when a connection is upgraded.

use std::time::Duration;

/// Limits of one WebSocket connection. Build with `Config::default()` and override fields.
///
/// Every limit that bounds memory is here, so one look tells what a hostile peer can cost.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest data message accepted, summed over all its fragments, in bytes. Default: 64 KiB
    /// (65,536, inclusive). A frame whose header announces more fails the read with
    /// [`WsError::TooBig`](crate::WsError::TooBig) (close code 1009) before any of its payload is
    /// buffered, so this is also the most payload memory one connection can hold.
    pub max_message_bytes: usize,
    /// Most frames one data message may be split into. Default: 64. RFC 6455 sets no limit; this
    /// one is deliberate: a peer sending 1-byte fragments would otherwise make the server parse a
    /// header per payload byte. One more fragment fails the read with
    /// [`WsError::TooBig`](crate::WsError::TooBig) (close code 1009).
    pub max_fragments: usize,
    /// How long [`WebSocket::close`](crate::WebSocket::close) may take in total: flushing what is
    /// queued, then waiting for the peer's Close frame. Default: 1 s. A peer that stops reading or
    /// never answers costs at most this long, then the connection is dropped.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_fragments: 64,
            close_timeout: Duration::from_secs(1),
        }
    }
}
