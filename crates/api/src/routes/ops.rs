//! Operations endpoints: health, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use chinwag_proto::rest::Readiness;

use crate::error::{ApiError, Json};
use crate::state::AppState;

/// The process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// The node can serve: not draining, and the store answers. The body names the node.
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if state.node.shutdown.is_cancelled() {
        return Err(ApiError::new(chinwag_proto::error::ErrorCode::Unavailable, "draining"));
    }
    state.node.services.check_store().await?;
    if !state.node.services.broker_healthy() {
        return Err(ApiError::new(
            chinwag_proto::error::ErrorCode::Unavailable,
            "the broker is not connected: events from other nodes do not arrive",
        ));
    }
    let identity = &state.node.identity;
    Ok(Json(Readiness { status: "ready".into(), node: identity.node_id(), epoch: identity.epoch }))
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.node.services.metrics().render(),
    )
        .into_response()
}

/// The OpenAPI 3.1 document of the REST API, kept beside the routes and checked against them by
/// a test.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
