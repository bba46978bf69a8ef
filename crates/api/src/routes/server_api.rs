//! `/v1/server`: the app's backend, authenticated by API key, acting for its users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chinwag_core::auth::Principal;
use chinwag_core::commands::ServerSend;
use chinwag_proto::ids::{ConversationId, UserId};
use chinwag_proto::rest::{
    CreateConversationResponse, IssueTokenRequest, ServerCreateConversationRequest,
    ServerSendRequest, TokenResponse,
};

use crate::auth::ServerKey;
use crate::error::{ApiError, Json, Path};
use crate::state::AppState;

fn acting(tenant: chinwag_proto::ids::TenantId, user: UserId) -> Principal {
    Principal { tenant, user, name: None, expires_at: None }
}

/// Mint a token for one of the app's users.
pub(crate) async fn issue_token(
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

/// Find or create a conversation for a user (e.g. "buyer asks seller about item 42").
pub(crate) async fn create_conversation(
    State(state): State<AppState>,
    ServerKey(tenant): ServerKey,
    Json(req): Json<ServerCreateConversationRequest>,
) -> Result<Response, ApiError> {
    let who = acting(tenant, req.as_user);
    let (conversation, created) =
        state.node.services.create_conversation(&who, req.conversation).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(CreateConversationResponse { conversation, created })).into_response())
}

/// Send as one of the members; the server API may use reserved kinds such as `system`.
pub(crate) async fn send(
    State(state): State<AppState>,
    ServerKey(tenant): ServerKey,
    Path(id): Path<ConversationId>,
    Json(req): Json<ServerSendRequest>,
) -> Result<Response, ApiError> {
    let (as_user, message) = req.into_command(id);
    let who = acting(tenant, as_user);
    Ok(super::messages::sent(state.node.services.apply(&who, ServerSend(message)).await?))
}
