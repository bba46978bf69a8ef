//! `/v1/conversations`: create, list, read; members.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_proto::ids::{ConversationId, UserId};
use chinwag_proto::model::Conversation;
use chinwag_proto::rest::{
    AddMemberRequest, ConversationPage, CreateConversationRequest, CreateConversationResponse,
    ListQuery, UpdateMemberRequest,
};

use crate::auth::User;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;

pub(crate) async fn create(
    State(state): State<AppState>,
    User(who): User,
    Json(req): Json<CreateConversationRequest>,
) -> Result<Response, ApiError> {
    let (conversation, created) = state.node.services.create_conversation(&who, req).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(CreateConversationResponse { conversation, created })).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    User(who): User,
    Query(q): Query<ListQuery>,
) -> Result<Json<ConversationPage>, ApiError> {
    Ok(Json(state.node.services.list_conversations(&who, q.cursor.as_deref(), q.limit).await?))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(state.node.services.get_conversation(&who, &id).await?))
}

pub(crate) async fn add_member(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<AddMemberRequest>,
) -> Result<Response, ApiError> {
    let added = state.node.services.add_member(&who, &id, &req.user_id, req.role).await?;
    let conversation = state.node.services.get_conversation(&who, &id).await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(conversation)).into_response())
}

pub(crate) async fn update_member(
    State(state): State<AppState>,
    User(who): User,
    Path((id, user)): Path<(ConversationId, UserId)>,
    Json(req): Json<UpdateMemberRequest>,
) -> Result<Json<Conversation>, ApiError> {
    state.node.services.set_role(&who, &id, &user, req.role).await?;
    Ok(Json(state.node.services.get_conversation(&who, &id).await?))
}

pub(crate) async fn remove_member(
    State(state): State<AppState>,
    User(who): User,
    Path((id, user)): Path<(ConversationId, UserId)>,
) -> Result<StatusCode, ApiError> {
    if state.node.services.remove_member(&who, &id, &user).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(chinwag_proto::error::ErrorCode::NotFound, "not a member"))
    }
}
