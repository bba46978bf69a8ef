//! The axum side of the opening handshake: an extractor that checks an upgrade request and a
//! `101 Switching Protocols` response that hands the raw connection to [`WebSocket`].
//!
//! Only HTTP/1.1 upgrades (RFC 6455 §4); the connection must be served with upgrades enabled,
//! which `axum::serve` does. No subprotocol or extension (permessage-deflate) is negotiated.

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use crate::handshake::{accept_key, is_valid_key};
use crate::{Config, WebSocket};

/// The only protocol version this server speaks (§4.4).
const VERSION: &str = "13";

/// A checked WebSocket upgrade request. Extract it in a handler, then call
/// [`on_upgrade`](Self::on_upgrade). Headers other than the handshake's own (`Origin`, cookies,
/// ...) are left for the handler to read itself.
pub struct WebSocketUpgrade {
    /// Resolves to the raw connection once hyper has sent the 101 response.
    on_upgrade: OnUpgrade,
    /// `Sec-WebSocket-Accept`, computed while the request's key is at hand.
    accept: HeaderValue,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade").finish_non_exhaustive()
    }
}

/// Why a request is not a WebSocket upgrade this server accepts. Each is an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRejection {
    /// Not a GET (§4.1). 405 with `Allow: GET`.
    #[error("WebSocket upgrade requests must use GET")]
    MethodNotGet,
    /// `Connection` does not list `upgrade`, or `Upgrade` does not list `websocket`. 426 with
    /// `Upgrade: websocket`, so a plain HTTP client learns what this endpoint wants.
    #[error(
        "not a WebSocket upgrade request (Connection: upgrade and Upgrade: websocket required)"
    )]
    NotUpgradeRequest,
    /// `Sec-WebSocket-Version` is missing or not 13. 426 with `Sec-WebSocket-Version: 13` (§4.4).
    #[error("unsupported WebSocket version (only 13 is supported)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing or not the base64 form of 16 bytes. 400.
    #[error("missing or malformed Sec-WebSocket-Key")]
    InvalidKey,
    /// The connection cannot be upgraded (served without upgrade support, or not HTTP/1.1). 426.
    #[error("this connection cannot be upgraded to WebSocket")]
    NotUpgradable,
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        let status = match self {
            UpgradeRejection::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            UpgradeRejection::InvalidKey => StatusCode::BAD_REQUEST,
            UpgradeRejection::NotUpgradeRequest
            | UpgradeRejection::UnsupportedVersion
            | UpgradeRejection::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
        };
        let mut response = (status, self.to_string()).into_response();
        let headers = response.headers_mut();
        match self {
            UpgradeRejection::MethodNotGet => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            UpgradeRejection::NotUpgradeRequest | UpgradeRejection::UnsupportedVersion => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
            }
            UpgradeRejection::InvalidKey | UpgradeRejection::NotUpgradable => {}
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(UpgradeRejection::MethodNotGet);
        }
        let headers = &parts.headers;
        if !lists_token(headers, &header::CONNECTION, "upgrade")
            || !lists_token(headers, &header::UPGRADE, "websocket")
        {
            return Err(UpgradeRejection::NotUpgradeRequest);
        }
        let version = headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes().trim_ascii());
        if version != Some(VERSION.as_bytes()) {
            return Err(UpgradeRejection::UnsupportedVersion);
        }
        // Exactly one key header (§4.2.1).
        let mut keys =
            headers.get_all(header::SEC_WEBSOCKET_KEY).iter().map(|k| k.as_bytes().trim_ascii());
        let key = match (keys.next(), keys.next()) {
            (Some(key), None) if is_valid_key(key) => key,
            _ => return Err(UpgradeRejection::InvalidKey),
        };
        // base64 output is always a valid header value; the error arm only keeps this panic-free.
        let accept =
            HeaderValue::from_str(&accept_key(key)).map_err(|_| UpgradeRejection::InvalidKey)?;
        // Taken last, so a rejected request leaves it in place.
        let on_upgrade =
            parts.extensions.remove::<OnUpgrade>().ok_or(UpgradeRejection::NotUpgradable)?;
        Ok(Self { on_upgrade, accept })
    }
}

/// Whether any `name` header lists `token` in its comma-separated value (case-insensitive).
fn lists_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

impl WebSocketUpgrade {
    /// Accepts the upgrade: returns the `101 Switching Protocols` response for the handler to
    /// return, and spawns the connection's task, which waits for hyper to hand over the raw
    /// connection and then runs `callback` with it. This is the connection's only task; if the
    /// server tracks tasks for shutdown, move a tracker token into `callback`.
    ///
    /// If the upgrade fails (the client went away before it completed), `callback` is not called.
    pub fn on_upgrade<F, Fut>(self, config: Config, callback: F) -> Response
    where
        F: FnOnce(WebSocket<TokioIo<Upgraded>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        // Boxed so that what it captures does not stay in the connection's task for its whole
        // life after being moved out (a spawned future keeps room for its captures).
        let callback = Box::new(callback);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => callback(WebSocket::new(TokioIo::new(upgraded), config)).await,
                Err(error) => tracing::debug!(%error, "WebSocket upgrade did not complete"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}
