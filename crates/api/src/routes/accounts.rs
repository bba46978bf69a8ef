//! `/v1/accounts`: built-in accounts. Login also sets the browser session cookie.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chinwag_proto::model::UserInfo;
use chinwag_proto::rest::{LoginRequest, RegisterRequest, TokenResponse};

use crate::auth::{SESSION_COOKIE, User};
use crate::error::{ApiError, Json};
use crate::state::AppState;

pub(crate) async fn register(
    State(state): State<AppState>,
    Json(req): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let token =
        state.node.services.register(&req.username, &req.password, req.name.as_deref()).await?;
    Ok(with_cookie(&state, token))
}

pub(crate) async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let token = state.node.services.login(&req.username, &req.password).await?;
    Ok(with_cookie(&state, token))
}

pub(crate) async fn logout(State(state): State<AppState>) -> Response {
    let mut res = axum::http::StatusCode::NO_CONTENT.into_response();
    let cookie =
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", secure(&state));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

pub(crate) async fn me(User(p): User) -> Json<UserInfo> {
    Json(p.info())
}

fn with_cookie(state: &AppState, token: TokenResponse) -> Response {
    let max_age = (token.expires_at - chinwag_proto::clock::now_millis()).max(0) / 1000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        token.token,
        secure(state)
    );
    let mut res = Json(token).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn secure(state: &AppState) -> &'static str {
    if state.options.secure_cookies { "; Secure" } else { "" }
}
