//! WebSocket close codes. Each says whether and when a client should reconnect.

/// A close code with its documented meaning. See `docs/protocol.md`, "Close codes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCode {
    /// The status code of the close frame: 1000–1014 are the registered WebSocket codes,
    /// 4000–4999 Chinwag's own.
    pub code: u16,
    /// Stable snake_case name, as in the protocol's close code table and in the `name` of an
    /// event stream's `event: close`.
    pub name: &'static str,
    /// What a client should do after this close.
    pub reconnect: Reconnect,
}

/// What a client should do after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Reconnect at once (with the usual jittered backoff) and resume.
    Now,
    /// Reconnect after the delay in the close reason (`retry_after_ms=N`), jittered.
    After,
    /// Get a fresh token first, then reconnect.
    WithNewToken,
    /// Do not reconnect automatically: the client is misbehaving or was logged out.
    Never,
}

impl CloseCode {
    const fn new(code: u16, name: &'static str, reconnect: Reconnect) -> Self {
        Self { code, name, reconnect }
    }

    /// Look a code up; unknown codes mean "reconnect with backoff".
    pub fn from_code(code: u16) -> Option<Self> {
        ALL.iter().copied().find(|c| c.code == code)
    }
}

/// Normal closure, asked for by the client.
pub const NORMAL: CloseCode = CloseCode::new(1000, "normal", Reconnect::Never);
/// The peer broke the WebSocket protocol (bad framing, unmasked client frame, bad UTF-8).
pub const PROTOCOL_ERROR: CloseCode = CloseCode::new(1002, "protocol_error", Reconnect::Never);
/// A text message that is not valid UTF-8.
pub const INVALID_PAYLOAD: CloseCode = CloseCode::new(1007, "invalid_payload", Reconnect::Never);
/// A frame or message over `max_frame_bytes`.
pub const MESSAGE_TOO_BIG: CloseCode = CloseCode::new(1009, "message_too_big", Reconnect::Never);
/// Server bug; reconnect with backoff.
pub const INTERNAL_ERROR: CloseCode = CloseCode::new(1011, "internal_error", Reconnect::Now);
/// The server is shutting down or restarting; reconnect after the advised jittered delay.
pub const SERVICE_RESTART: CloseCode = CloseCode::new(1012, "service_restart", Reconnect::After);
/// The first frame was not a valid `auth` (or the token was refused).
pub const AUTH_FAILED: CloseCode = CloseCode::new(4001, "auth_failed", Reconnect::WithNewToken);
/// No `auth` frame arrived within `auth_timeout_ms`.
pub const AUTH_TIMEOUT: CloseCode = CloseCode::new(4002, "auth_timeout", Reconnect::Now);
/// The token expired while connected and was not refreshed in time.
pub const TOKEN_EXPIRED: CloseCode = CloseCode::new(4003, "token_expired", Reconnect::WithNewToken);
/// The user already holds `max_connections_per_user` connections.
pub const TOO_MANY_CONNECTIONS: CloseCode =
    CloseCode::new(4005, "too_many_connections", Reconnect::After);
/// The connection fell too far behind (its outbound queue overflowed). Reconnect and resume (G4).
pub const SLOW_CONSUMER: CloseCode = CloseCode::new(4008, "slow_consumer", Reconnect::Now);
/// The connection kept exceeding its rate limit.
pub const RATE_LIMITED: CloseCode = CloseCode::new(4009, "rate_limited", Reconnect::After);
/// No pong to protocol pings within `idle_timeout_ms`: the server reaped a dead peer.
pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode::new(4010, "heartbeat_timeout", Reconnect::Now);

/// Every close code Chinwag sends.
pub const ALL: &[CloseCode] = &[
    NORMAL,
    PROTOCOL_ERROR,
    INVALID_PAYLOAD,
    MESSAGE_TOO_BIG,
    INTERNAL_ERROR,
    SERVICE_RESTART,
    AUTH_FAILED,
    AUTH_TIMEOUT,
    TOKEN_EXPIRED,
    TOO_MANY_CONNECTIONS,
    SLOW_CONSUMER,
    RATE_LIMITED,
    HEARTBEAT_TIMEOUT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_in_valid_ranges() {
        for (i, a) in ALL.iter().enumerate() {
            assert!((1000..=1014).contains(&a.code) || (4000..=4999).contains(&a.code));
            for b in &ALL[i + 1..] {
                assert_ne!(a.code, b.code, "{} and {} share a code", a.name, b.name);
            }
        }
        assert_eq!(CloseCode::from_code(4008), Some(SLOW_CONSUMER));
        assert_eq!(CloseCode::from_code(4999), None);
    }
}
