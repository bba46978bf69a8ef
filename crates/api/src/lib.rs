//! Chinwag's HTTP surface.
//!
//! # Layout
//! - [`app`]: the router: REST under `/v1`, the WebSocket upgrade at `/v1/ws`, the server API
//!   under `/v1/server`, and `/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json`.
//! - [`serve`]: runs the router on a listener the caller bound, until the shutdown token fires,
//!   then drains sessions.
//! - `error`: the one error shape and extractors that produce it; `request_id`: ids on every
//!   request and in every error; `auth`: bearer tokens, session cookies, API keys.
//!
//! Handlers are thin: they extract, call one `Services` method, and shape the reply.

mod auth;
pub mod error;
pub mod request_id;
mod routes;
mod state;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use chinwag_proto::error::ErrorCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::SESSION_COOKIE;
pub use routes::ops::OPENAPI;
pub use state::{ApiOptions, AppState};

use crate::error::ApiError;
use crate::routes::{accounts, conversations, messages, ops, server_api, ws};

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = state.node.services.limits.max_http_body_bytes;
    let mut v1 = Router::new()
        .route("/accounts/register", post(accounts::register))
        .route("/accounts/login", post(accounts::login))
        .route("/accounts/logout", post(accounts::logout))
        .route("/me", get(accounts::me))
        .route("/conversations", get(conversations::list).post(conversations::create))
        .route("/conversations/{id}", get(conversations::get))
        .route("/conversations/{id}/members", post(conversations::add_member))
        .route(
            "/conversations/{id}/members/{user}",
            patch(conversations::update_member).delete(conversations::remove_member),
        )
        .route("/conversations/{id}/messages", get(messages::history).post(messages::send))
        .route("/conversations/{id}/read", post(messages::read))
        .route("/server/tokens", post(server_api::issue_token))
        .route("/server/conversations", post(server_api::create_conversation))
        .route("/server/conversations/{id}/messages", post(server_api::send))
        .route("/openapi.json", get(ops::openapi))
        .route("/ws", get(ws::upgrade));
    if state.options.enable_echo {
        v1 = v1.route("/echo", get(ws::echo));
    }
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::Invalid, "method not allowed on this endpoint")
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    state.node.services.metrics.http_requests.inc();
    next.run(req).await
}

/// Serve until `shutdown` fires; then stop accepting, close every session with
/// `service_restart`, and wait up to `drain_timeout` for them.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let node = state.node.clone();
    let app = app(state);
    let stop = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
    // Graceful shutdown of hyper waits for open connections, and upgraded WebSockets count:
    // drain them in parallel so that it can finish.
    let drain = {
        let node = node.clone();
        async move {
            shutdown.cancelled().await;
            if tokio::time::timeout(drain_timeout, node.drain()).await.is_err() {
                tracing::warn!("sessions did not close within the drain timeout");
            }
        }
    };
    let (served, ()) = tokio::join!(server.into_future(), drain);
    served
}
