//! REST equivalents of the live-state frames: delivery receipts, typing, drafts, presence.

use axum::extract::State;
use axum::http::StatusCode;
use chinwag_core::services::Receipt;
use chinwag_proto::frames::{DraftState, UserPresence};
use chinwag_proto::ids::{ConversationId, Seq, UserId};
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedRequest {
    seq: Seq,
}

/// The caller's devices have the messages up to `seq`.
pub async fn received(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<ReceivedRequest>,
) -> Result<Json<Watermarks>, ApiError> {
    let w = state.node.services.receipt(&who, &id, Receipt::Delivered, req.seq).await?;
    Ok(Json(Watermarks {
        delivered_seq: w.delivered_seq,
        read_seq: w.read_seq,
        last_seq: w.last_seq,
    }))
}

/// The caller's positions in a conversation.
#[derive(Debug, Serialize)]
pub struct Watermarks {
    delivered_seq: Seq,
    read_seq: Seq,
    last_seq: Seq,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
    typing: bool,
}

pub async fn typing(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<TypingRequest>,
) -> Result<StatusCode, ApiError> {
    state.node.services.typing(&who, &id, req.typing).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_draft(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
) -> Result<Json<DraftState>, ApiError> {
    Ok(Json(state.node.services.draft(&who, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    version: u64,
    body: String,
}

/// Save the draft edited from `version`; a stale version is `409 conflict` with `current`.
pub async fn put_draft(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<DraftRequest>,
) -> Result<Json<DraftState>, ApiError> {
    Ok(Json(state.node.services.save_draft(&who, &id, req.version, req.body).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceQuery {
    /// Comma-separated user ids.
    users: String,
}

#[derive(Debug, Serialize)]
pub struct PresenceResponse {
    users: Vec<UserPresence>,
}

pub async fn presence(
    State(state): State<AppState>,
    User(who): User,
    Query(q): Query<PresenceQuery>,
) -> Result<Json<PresenceResponse>, ApiError> {
    let users: Vec<UserId> =
        q.users.split(',').filter(|u| !u.is_empty()).map(UserId::from).collect();
    Ok(Json(PresenceResponse { users: state.node.services.presence_of(&who, &users).await? }))
}
