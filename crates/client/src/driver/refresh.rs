//! Renewing the token: before it expires, a new one from the provider goes out as `auth` on
//! the open connection, so a healthy connection is never cut for expiry; after a refusal, the
//! next connect asks the provider for a fresh one.

use std::time::Duration;

use chinwag_proto::commands::Authenticate;
use chinwag_proto::frames::ClientFrame;
use chinwag_proto::ids::Millis;
use tokio::time::Instant;

use super::{Driver, with_id};
use crate::clock::now_millis;
use crate::events::Event;
use crate::token::{BoxFuture, TokenError};

/// Token lifetimes beyond this (30 days) are treated as this, for scheduling the refresh.
const MAX_TOKEN_LIFE_MS: i64 = 30 * 24 * 3_600_000;

/// Where the token stands: when the current one is to be renewed, a renewal under way, and
/// whether the next connect needs a fresh one.
#[derive(Default)]
pub(super) struct Refresh {
    /// The server refused the last token or said it expired: the next connect asks the
    /// provider for a fresh one, not one it may have cached.
    refused: bool,
    /// The current token's expiry, from `authed`; refreshed on the connection before it.
    expires_at: Option<Millis>,
    /// A token being fetched for a refresh on the open connection.
    fetching: Option<BoxFuture<Result<String, TokenError>>>,
}

impl Refresh {
    pub(super) fn token_refused(&mut self) {
        self.refused = true;
    }

    pub(super) fn needs_fresh_token(&self) -> bool {
        self.refused
    }

    /// The server accepted a token (at connect, or a refresh) that expires at `expires_at`.
    pub(super) fn authed(&mut self, expires_at: Option<Millis>) {
        self.refused = false;
        self.expires_at = expires_at;
    }

    /// A refresh is to start at `due`.
    pub(super) fn is_scheduled(&self) -> bool {
        self.fetching.is_none() && self.expires_at.is_some()
    }

    pub(super) fn is_fetching(&self) -> bool {
        self.fetching.is_some()
    }

    /// When to refresh the token: a fifth of its remaining life (at most a minute) before it
    /// expires.
    pub(super) fn due(&self) -> Instant {
        let left_ms = self
            .expires_at
            .map(|e| e.saturating_sub(now_millis()))
            .unwrap_or(0)
            .clamp(0, MAX_TOKEN_LIFE_MS);
        let margin = (left_ms / 5).min(60_000);
        Instant::now() + Duration::from_millis((left_ms - margin) as u64)
    }

    pub(super) fn start(&mut self, token: BoxFuture<Result<String, TokenError>>) {
        self.fetching = Some(token);
        // Scheduled again by the server's reply to this refresh, which tells the new expiry;
        // should the refresh fail, the reconnect after the server's 4003 asks again.
        self.expires_at = None;
    }

    /// The token being fetched for a refresh; never ready when there is none.
    pub(super) async fn fetched(&mut self) -> Result<String, TokenError> {
        match &mut self.fetching {
            Some(f) => f.await,
            None => std::future::pending().await,
        }
    }

    /// The next connection learns its own expiry, and a fetch for this one is of no use.
    pub(super) fn disconnected(&mut self) {
        self.fetching = None;
        self.expires_at = None;
    }
}

impl Driver {
    /// The token for a refresh arrived, or could not be had.
    pub(super) async fn refreshed(&mut self, token: Result<String, TokenError>) {
        self.refresh.fetching = None;
        match token {
            Ok(token) => {
                let frame = ClientFrame::new(None, Authenticate { token, resume: None });
                self.out.push_back(with_id(&frame, "auth-refresh"));
            }
            Err(e) => {
                // The server will close with 4003 at expiry; the reconnect asks again.
                self.emit(Event::Error(format!("token refresh: {e}"))).await;
            }
        }
    }
}
