//! `/v1/server`: the app's backend, authenticated by API key, acting for its users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_core::auth::Principal;
use chinwag_core::services::SendInput;
use chinwag_proto::ids::{ClientMsgId, ConversationId, UserId};
use chinwag_proto::rest::{
    CreateConversationRequest, CreateConversationResponse, IssueTokenRequest, TokenResponse,
};
use serde::Deserialize;

use crate::auth::ServerKey;
use crate::error::{ApiError, Json, Path};
use crate::state::AppState;

fn acting(tenant: chinwag_proto::ids::TenantId, user: UserId) -> Principal {
    Principal { tenant, user, name: None, expires_at: None }
}

/// Mint a token for one of the app's users.
pub async fn issue_token(
    State(state): State<AppState>,
    ServerKey(tenant): ServerKey,
    Json(req): Json<IssueTokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.user_id.as_str().is_empty() || req.user_id.as_str().len() > 256 {
        return Err(ApiError::new(
            chinwag_proto::error::ErrorCode::Invalid,
            "`user_id` must be 1 to 256 bytes",
        ));
    }
    Ok(Json(state.node.services.token_with_ttl(
        &tenant,
        &req.user_id,
        req.name.as_deref(),
        req.ttl_secs,
    )?))
}

#[derive(Debug, Deserialize)]
pub struct ServerCreateConversation {
    /// The user who creates it (and owns a group).
    pub as_user: UserId,
    #[serde(flatten)]
    pub conversation: CreateConversationRequest,
}

/// Find or create a conversation for a user (e.g. "buyer asks seller about item 42").
pub async fn create_conversation(
    State(state): State<AppState>,
    ServerKey(tenant): ServerKey,
    Json(req): Json<ServerCreateConversation>,
) -> Result<Response, ApiError> {
    let who = acting(tenant, req.as_user);
    let (conversation, created) =
        state.node.services.create_conversation(&who, req.conversation).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(CreateConversationResponse { conversation, created })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSend {
    /// The sender; must be a member. `system` messages are sent in a member's name too.
    pub as_user: UserId,
    pub client_msg_id: ClientMsgId,
    pub kind: Option<String>,
    pub body: String,
    pub payload: Option<serde_json::Value>,
    pub reply_to: Option<chinwag_proto::ids::Seq>,
}

/// Send as one of the members; the server API may use reserved kinds such as `system`.
pub async fn send(
    State(state): State<AppState>,
    ServerKey(tenant): ServerKey,
    Path(id): Path<ConversationId>,
    Json(req): Json<ServerSend>,
) -> Result<Response, ApiError> {
    let who = acting(tenant, req.as_user);
    let input = SendInput {
        conversation_id: id,
        client_msg_id: req.client_msg_id,
        kind: req.kind,
        body: req.body,
        payload: req.payload,
        reply_to: req.reply_to,
    };
    Ok(super::messages::sent(state.node.services.send_as(&who, input, true).await?))
}
