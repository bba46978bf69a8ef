//! Chinwag's HTTP surface.
//!
//! # Layout
//! - [`app`]: the router: REST under `/v1`, the WebSocket upgrade at `/v1/ws` (and its events as
//!   server-sent events at `/v1/events`), the server API
//!   under `/v1/server`, and `/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json`; built from
//!   [`ROUTES`], the list that `openapi.json` documents; the web app and the JavaScript SDK
//!   (`routes/web.rs`, files embedded in the binary) behind the fallback.
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
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, on};
use axum::serve::ListenerExt;
use chinwag_proto::error::ErrorCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::SESSION_COOKIE;
pub use routes::ops::OPENAPI;
pub use state::{ApiOptions, AppState};

use crate::error::ApiError;
use crate::routes::{accounts, conversations, events, live, messages, ops, server_api, web, ws};

/// Every route [`app`] serves, as `(method, path)`. The path is in axum's `{param}` syntax, which
/// is also OpenAPI's. `app` registers routes only through `RouteTable`, which refuses a pair that
/// is not listed here and one listed here that it did not register; `openapi.json` documents
/// exactly these (checked by `crates/chinwag/tests/openapi.rs`). `GET` routes also answer `HEAD`.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/accounts/register"),
    ("POST", "/v1/accounts/login"),
    ("POST", "/v1/accounts/logout"),
    ("GET", "/v1/me"),
    ("GET", "/v1/conversations"),
    ("POST", "/v1/conversations"),
    ("GET", "/v1/conversations/{id}"),
    ("POST", "/v1/conversations/{id}/members"),
    ("PATCH", "/v1/conversations/{id}/members/{user}"),
    ("DELETE", "/v1/conversations/{id}/members/{user}"),
    ("GET", "/v1/conversations/{id}/messages"),
    ("POST", "/v1/conversations/{id}/messages"),
    ("PATCH", "/v1/conversations/{id}/messages/{seq}"),
    ("DELETE", "/v1/conversations/{id}/messages/{seq}"),
    ("POST", "/v1/conversations/{id}/messages/{seq}/reactions"),
    ("POST", "/v1/conversations/{id}/read"),
    ("POST", "/v1/conversations/{id}/received"),
    ("POST", "/v1/conversations/{id}/typing"),
    ("GET", "/v1/conversations/{id}/draft"),
    ("PUT", "/v1/conversations/{id}/draft"),
    ("GET", "/v1/presence"),
    ("POST", "/v1/server/tokens"),
    ("POST", "/v1/server/conversations"),
    ("POST", "/v1/server/conversations/{id}/messages"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/ws"),
    ("GET", "/v1/events"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// Routes served only with [`ApiOptions::enable_echo`], for conformance runs; not part of the
/// documented API.
pub const TEST_ROUTES: &[(&str, &str)] = &[("GET", "/v1/echo")];

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = state.node.services.limits().max_http_body_bytes;
    let mut routes = RouteTable::default()
        .add("POST", "/v1/accounts/register", accounts::register)
        .add("POST", "/v1/accounts/login", accounts::login)
        .add("POST", "/v1/accounts/logout", accounts::logout)
        .add("GET", "/v1/me", accounts::me)
        .add("GET", "/v1/conversations", conversations::list)
        .add("POST", "/v1/conversations", conversations::create)
        .add("GET", "/v1/conversations/{id}", conversations::get)
        .add("POST", "/v1/conversations/{id}/members", conversations::add_member)
        .add("PATCH", "/v1/conversations/{id}/members/{user}", conversations::update_member)
        .add("DELETE", "/v1/conversations/{id}/members/{user}", conversations::remove_member)
        .add("GET", "/v1/conversations/{id}/messages", messages::history)
        .add("POST", "/v1/conversations/{id}/messages", messages::send)
        .add("PATCH", "/v1/conversations/{id}/messages/{seq}", messages::edit)
        .add("DELETE", "/v1/conversations/{id}/messages/{seq}", messages::delete)
        .add("POST", "/v1/conversations/{id}/messages/{seq}/reactions", messages::react)
        .add("POST", "/v1/conversations/{id}/read", messages::read)
        .add("POST", "/v1/conversations/{id}/received", live::received)
        .add("POST", "/v1/conversations/{id}/typing", live::typing)
        .add("GET", "/v1/conversations/{id}/draft", live::get_draft)
        .add("PUT", "/v1/conversations/{id}/draft", live::put_draft)
        .add("GET", "/v1/presence", live::presence)
        .add("POST", "/v1/server/tokens", server_api::issue_token)
        .add("POST", "/v1/server/conversations", server_api::create_conversation)
        .add("POST", "/v1/server/conversations/{id}/messages", server_api::send)
        .add("GET", "/v1/openapi.json", ops::openapi)
        .add("GET", "/v1/ws", ws::upgrade)
        .add("GET", "/v1/events", events::stream)
        .add("GET", "/healthz", ops::healthz)
        .add("GET", "/readyz", ops::readyz)
        .add("GET", "/metrics", ops::metrics);
    if state.options.enable_echo {
        routes = routes.add("GET", "/v1/echo", ws::echo);
    }
    routes
        .finish()
        // After the routes: axum gives it to the routes that exist when it is set.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(web::asset_or_not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// The router under construction, held to [`ROUTES`] and [`TEST_ROUTES`].
#[derive(Default)]
struct RouteTable {
    router: Router<AppState>,
    added: Vec<(&'static str, &'static str)>,
}

impl RouteTable {
    /// Serve `handler` for `method` on `path`. Panics (in every test that builds the app) if the
    /// pair is not listed in `ROUTES` or `TEST_ROUTES`.
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let pair = (method, path);
        assert!(
            ROUTES.contains(&pair) || TEST_ROUTES.contains(&pair),
            "{method} {path} is served but missing from ROUTES (and so from openapi.json)"
        );
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PATCH" => MethodFilter::PATCH,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("no method filter for {other}"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.added.push(pair);
        self
    }

    /// The router, once every pair of `ROUTES` has a handler.
    fn finish(self) -> Router<AppState> {
        for (method, path) in ROUTES {
            assert!(
                self.added.contains(&(method, path)),
                "{method} {path} is in ROUTES but not served"
            );
        }
        self.router
    }
}

/// `405` with axum's `Allow` header, in the one error shape.
async fn method_not_allowed() -> axum::response::Response {
    let mut res =
        ApiError::new(ErrorCode::Invalid, "method not allowed on this endpoint").into_response();
    *res.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    res
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    state.node.services.metrics().http_requests.inc();
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
    // Small frames must leave at once: Nagle's algorithm would hold a reply back for the peer's
    // delayed ACK (tens of milliseconds).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let server =
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
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
