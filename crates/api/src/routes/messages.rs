//! `/v1/conversations/{id}/messages` and `/read`: the same services as the WebSocket frames.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_core::services::SendInput;
use chinwag_proto::ids::{ConversationId, Seq};
use chinwag_proto::rest::{MessagePage, ReadRequest, ReadResponse, SendRequest, SendResponse};
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
