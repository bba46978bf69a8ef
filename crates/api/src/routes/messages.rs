//! `/v1/conversations/{id}/messages` and `/read`: the same services as the WebSocket frames.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_core::services::{Amended, Change, SendInput};
use chinwag_proto::ids::{ClientMsgId, ConversationId, Seq};
use chinwag_proto::rest::{
    AmendResponse, EditRequest, MessagePage, ReactRequest, ReadRequest, ReadResponse, SendRequest,
    SendResponse,
};
use serde::Deserialize;

use crate::auth::User;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    before: Option<Seq>,
    after: Option<Seq>,
    limit: Option<u32>,
}

pub async fn history(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let page = state.node.services.history(&who, &id, q.before, q.after, q.limit).await?;
    Ok(Json(MessagePage { conversation_id: id, messages: page.messages, has_more: page.has_more }))
}

/// `201 Created` for a new message, `200 OK` with `duplicate: true` for a retried one.
pub async fn send(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<SendRequest>,
) -> Result<Response, ApiError> {
    let input = SendInput {
        conversation_id: id,
        client_msg_id: req.client_msg_id,
        kind: req.kind,
        body: req.body,
        payload: req.payload,
        reply_to: req.reply_to,
    };
    Ok(sent(state.node.services.send(&who, input).await?))
}

/// The reply to a send: `201 Created` for a new message, `200 OK` for a retried one.
pub fn sent(a: chinwag_core::services::Appended) -> Response {
    let status = if a.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(SendResponse { message: a.message, duplicate: a.duplicate })).into_response()
}

pub async fn read(
    State(state): State<AppState>,
    User(who): User,
    Path(id): Path<ConversationId>,
    Json(req): Json<ReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    let (read_seq, unread) = state.node.services.mark_read(&who, &id, req.seq).await?;
    Ok(Json(ReadResponse { read_seq, unread }))
}

/// `PATCH /v1/conversations/{id}/messages/{seq}`: edit one of your messages.
pub async fn edit(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Json(req): Json<EditRequest>,
) -> Result<Response, ApiError> {
    let change = Change::Edit { body: req.body };
    Ok(amended(state.node.services.amend(&who, &id, seq, req.client_msg_id, change).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    client_msg_id: ClientMsgId,
}

/// `DELETE /v1/conversations/{id}/messages/{seq}?client_msg_id=…`: delete for everyone.
pub async fn delete(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    Ok(amended(state.node.services.amend(&who, &id, seq, q.client_msg_id, Change::Delete).await?))
}

/// `POST /v1/conversations/{id}/messages/{seq}/reactions`: add or remove a reaction.
pub async fn react(
    State(state): State<AppState>,
    User(who): User,
    Path((id, seq)): Path<(ConversationId, Seq)>,
    Json(req): Json<ReactRequest>,
) -> Result<Response, ApiError> {
    let change = Change::React { emoji: req.emoji, add: req.add };
    Ok(amended(state.node.services.amend(&who, &id, seq, req.client_msg_id, change).await?))
}

/// `201 Created` when an event was stored, `200 OK` for a retry or a change that changed nothing.
fn amended(a: Amended) -> Response {
    let status =
        if a.event.is_some() && !a.duplicate { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(AmendResponse { target: a.target, event: a.event, duplicate: a.duplicate }))
        .into_response()
}
