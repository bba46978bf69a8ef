//! Making a connection: a token, the socket, `auth` with the resume request, and the wait for
//! `authed`, all within `connect_timeout`. And how a session ends: `End`, and the delay that a
//! close reason advises before the next attempt.

use std::time::Duration;

use chinwag_proto::commands::Authenticate;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::Driver;
use super::rate::Rate;
use crate::events::{Event, describe};
use crate::shared::{SessionInfo, lock};

pub(super) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest delay a server's `retry_after_ms` can impose (10 minutes).
const MAX_ADVICE_MS: u64 = 600_000;

/// Why a session (or an attempt at one) ended.
#[derive(Debug)]
pub(super) enum End {
    /// The server closed the socket with a code.
    Closed { code: u16, reason: String },
    /// The connection broke, timed out, or could not be made.
    Lost(String),
    /// The server said the token expired or was refused.
    BadToken,
    /// The application asked to reconnect now.
    Reconnect,
    /// The application closed the client (or dropped every handle).
    Stop,
}

impl Driver {
    /// Open the socket, authenticate with a resume request, and wait for `authed`.
    pub(super) async fn connect(&mut self) -> Result<Ws, End> {
        let timeout = self.shared.config.connect_timeout;
        let deadline = Instant::now() + timeout;
        let fresh = self.refresh.needs_fresh_token();
        let token = match tokio::time::timeout_at(deadline, self.tokens.token(fresh)).await {
            Err(_) => return Err(End::Lost("the token provider timed out".into())),
            Ok(Err(e)) => return Err(End::Lost(e.to_string())),
            Ok(Ok(t)) => t,
        };
        let connect = tokio_tungstenite::connect_async_with_config(self.url.as_str(), None, true);
        let mut ws = match tokio::time::timeout_at(deadline, connect).await {
            Err(_) => return Err(End::Lost("connect timed out".into())),
            Ok(Err(e)) => return Err(End::Lost(format!("connect: {e}"))),
            Ok(Ok((ws, _))) => ws,
        };
        let auth = ClientFrame::new(
            Some("auth".into()),
            Authenticate { token, resume: Some(self.resume_request()) },
        );
        let text = serde_json::to_string(&auth).unwrap_or_default();
        if let Err(e) = ws.send(WsMessage::text(text)).await {
            return Err(End::Lost(format!("sending auth: {e}")));
        }
        loop {
            let next = match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return Err(End::Lost("no authed reply in time".into())),
                Ok(n) => n,
            };
            match next {
                Some(Ok(WsMessage::Text(t))) => {
                    match serde_json::from_str::<ServerFrame>(t.as_str()) {
                        Ok(ServerFrame::Authed { user, limits, expires_at, .. }) => {
                            self.refresh.authed(expires_at);
                            self.me = Some(user.id.clone());
                            self.rate = Rate::new(limits.requests_per_second);
                            *lock(&self.shared.session) = Some(SessionInfo { user, limits });
                            return Ok(ws);
                        }
                        Ok(ServerFrame::Error { error, .. }) => {
                            if matches!(
                                error.code,
                                ErrorCode::TokenExpired | ErrorCode::Unauthenticated
                            ) {
                                return Err(End::BadToken);
                            }
                            self.emit(Event::Error(describe(&error))).await;
                            return Err(End::Lost(describe(&error)));
                        }
                        _ => {}
                    }
                }
                Some(Ok(WsMessage::Close(f))) => return Err(closed(f)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(End::Lost(e.to_string())),
                None => return Err(End::Lost("closed before authed".into())),
            }
        }
    }
}

pub(super) fn closed(frame: Option<CloseFrame>) -> End {
    match frame {
        Some(f) => End::Closed { code: u16::from(f.code), reason: f.reason.to_string() },
        None => End::Lost("closed without a code".into()),
    }
}

/// `retry_after_ms=N` from a close reason.
pub(super) fn retry_after(reason: &str) -> Option<Duration> {
    reason
        .split([' ', ';', ','])
        .find_map(|part| part.strip_prefix("retry_after_ms="))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(advised)
}

/// A server's advised delay, capped: advice is data from the network, and a delay past any
/// sensible bound (or past what a clock can add) would park the client for good.
pub(super) fn advised(ms: u64) -> Duration {
    Duration::from_millis(ms.min(MAX_ADVICE_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_from_the_close_reason() {
        assert_eq!(retry_after("retry_after_ms=1500"), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("draining; retry_after_ms=20"), Some(Duration::from_millis(20)));
        assert_eq!(retry_after("retry_after_ms=lots"), None);
        assert_eq!(retry_after(""), None);
        assert_eq!(
            retry_after("retry_after_ms=18446744073709551615"),
            Some(Duration::from_millis(MAX_ADVICE_MS)),
            "capped"
        );
    }
}
