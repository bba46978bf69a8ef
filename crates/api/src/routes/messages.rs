//! `/v1/conversations/{id}/messages` and `/read`: the same commands as the WebSocket frames.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_proto::ids::{ConversationId, Seq};
use chinwag_proto::rest::{
    AmendResponse, DeleteQuery, EditRequest, HistoryQuery, MessagePage, ReactRequest, ReadRequest,
    ReadResponse, SendRequest, SendResponse,
};

use crate::auth::User;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;

pub(crate) async fn history(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    Ok(Json(state.node.services.apply(&who, q.into_command(id)).await?))
}

/// `201 Created` for a new message, `200 OK` with `duplicate: true` for a retried one.
pub(crate) async fn send(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<SendRequest>,
) -> Result<Response, ApiError> {
    Ok(sent(state.node.services.apply(&who, req.into_command(id)).await?))
}

/// The reply to a send: `201 Created` for a new message, `200 OK` for a retried one.
pub(crate) fn sent(reply: SendResponse) -> Response {
    let status = if reply.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(reply)).into_response()
}

pub(crate) async fn read(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<ReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    Ok(Json(state.node.services.apply(&who, req.into_command(id)).await?))
}

/// `PATCH /v1/conversations/{id}/messages/{seq}`: edit one of your messages.
pub(crate) async fn edit(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Json(req): Json<EditRequest>,
) -> Result<Response, ApiError> {
    Ok(amended(state.node.services.apply(&who, req.into_command(id, seq)).await?))
}

/// `DELETE /v1/conversations/{id}/messages/{seq}?client_msg_id=…`: delete for everyone.
pub(crate) async fn delete(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    Ok(amended(state.node.services.apply(&who, q.into_command(id, seq)).await?))
}

/// `POST /v1/conversations/{id}/messages/{seq}/reactions`: add or remove a reaction.
pub(crate) async fn react(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Json(req): Json<ReactRequest>,
) -> Result<Response, ApiError> {
    Ok(amended(state.node.services.apply(&who, req.into_command(id, seq)).await?))
}

/// `201 Created` when an event was stored, `200 OK` for a retry or a change that changed nothing.
fn amended(reply: AmendResponse) -> Response {
    let status = if reply.event.is_some() && !reply.duplicate {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(reply)).into_response()
}
