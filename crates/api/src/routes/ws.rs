//! `GET /v1/ws`: the WebSocket upgrade; `GET /v1/echo` (test flag only): an echo on the same stack.

use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use chinwag_core::session;
use chinwag_proto::error::{ErrorBody, ErrorCode};
use chinwag_ws::{Config, UpgradeRejection, WebSocketUpgrade};

use crate::auth::{SESSION_COOKIE, cookie, origin_ok};
use crate::error::{ApiError, PendingError};
use crate::state::AppState;

fn ws_config(state: &AppState) -> Config {
    let limits = &state.node.services.limits();
    Config {
        max_message_bytes: limits.max_frame_bytes,
        max_fragments: limits.max_fragments,
        ..Config::default()
    }
}

pub(crate) async fn upgrade(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    // Cross-site WebSocket hijacking: a browser page from a foreign origin is refused before
    // the upgrade, whatever credentials it carries.
    if !origin_ok(&parts, &state) {
        return ApiError::new(ErrorCode::Forbidden, "origin not allowed").into_response();
    }
    let pre_auth =
        cookie(&parts, SESSION_COOKIE).and_then(|t| state.node.services.auth().verify(t).ok());
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(rejection) => return rejected(rejection),
    };
    if state.node.shutdown.is_cancelled() {
        return ApiError::new(ErrorCode::Unavailable, "draining").into_response();
    }
    let node = state.node.clone();
    let config = ws_config(&state);
    upgrade.on_upgrade(config, move |ws| {
        let tracker = node.sessions.clone();
        tracker.track_future(session::run(node, ws, pre_auth))
    })
}

/// The upgrade's own rejection (status and headers such as `Upgrade` or `Allow`), with its plain
/// text replaced by the one error shape, which the request-id middleware renders.
fn rejected(rejection: UpgradeRejection) -> Response {
    let mut res = rejection.into_response();
    let body = ErrorBody::new(ErrorCode::Invalid, rejection.to_string());
    res.extensions_mut().insert(PendingError(body));
    res
}

/// Echo every text and binary message back; used by the Autobahn conformance run.
pub(crate) async fn echo(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(ws_config(&state), chinwag_ws::echo)
}
