//! The wall clock, in the protocol's milliseconds: outbox deadlines and token expiry are
//! compared with times that outlive the process (the state file) or come from the server, so
//! they cannot be measured on tokio's monotonic clock.

use chinwag_proto::ids::Millis;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}
