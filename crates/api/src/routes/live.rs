//! REST equivalents of the live-state frames: delivery receipts, typing, drafts, presence.

use axum::extract::State;
use axum::http::StatusCode;
use chinwag_proto::commands::QueryPresence;
use chinwag_proto::frames::DraftState;
use chinwag_proto::ids::ConversationId;
use chinwag_proto::rest::{
    DraftRequest, PresenceQuery, PresenceResponse, ReceivedRequest, TypingRequest, Watermarks,
};

use crate::auth::User;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;

/// The caller's devices have the messages up to `seq`.
pub(crate) async fn received(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<ReceivedRequest>,
) -> Result<Json<Watermarks>, ApiError> {
    Ok(Json(state.node.services.apply(&who, req.into_command(id)).await?))
}

pub(crate) async fn typing(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<TypingRequest>,
) -> Result<StatusCode, ApiError> {
    state.node.services.apply(&who, req.into_command(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_draft(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
) -> Result<Json<DraftState>, ApiError> {
    Ok(Json(state.node.services.draft(&who, &id).await?))
}

/// Save the draft edited from `version`; a stale version is `409 conflict` with `current`.
pub(crate) async fn put_draft(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<DraftRequest>,
) -> Result<Json<DraftState>, ApiError> {
    Ok(Json(state.node.services.apply(&who, req.into_command(id)).await?.draft))
}

pub(crate) async fn presence(
    State(state): State<AppState>,
    User(who): User,
    Query(q): Query<PresenceQuery>,
) -> Result<Json<PresenceResponse>, ApiError> {
    let query = QueryPresence { users: q.user_ids() };
    Ok(Json(state.node.services.apply(&who, query).await?))
}
