//! Who is calling: a bearer token or session cookie (users), or an API key (the app's backend).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use chinwag_core::auth::Principal;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::ids::TenantId;

use crate::error::ApiError;
use crate::state::AppState;

/// Name of the browser session cookie set by login.
pub const SESSION_COOKIE: &str = "chinwag_session";

/// An authenticated user (REST). Also applies the per-user rate limit.
#[derive(Debug, Clone)]
pub(crate) struct User(pub Principal);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let services = &state.node.services;
        let principal = match bearer(parts) {
            Some(token) => services.auth().verify(token)?,
            None => {
                let Some(token) = cookie(parts, SESSION_COOKIE) else {
                    return Err(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "send `Authorization: Bearer <token>` or log in for a session cookie",
                    ));
                };
                // Cookies ride along on cross-site requests: only the allowed origins may use them
                // to change anything.
                if parts.method != Method::GET && !origin_ok(parts, state) {
                    return Err(ApiError::new(ErrorCode::Forbidden, "origin not allowed"));
                }
                services.auth().verify(token)?
            }
        };
        services.check_user_rate(&principal)?;
        Ok(Self(principal))
    }
}

/// The app's backend, by API key (`X-Api-Key`); yields the key's tenant.
#[derive(Debug, Clone)]
pub(crate) struct ServerKey(pub TenantId);

impl FromRequestParts<AppState> for ServerKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        match key.and_then(|k| state.node.services.auth().verify_api_key(k)) {
            Some(tenant) => Ok(Self(tenant)),
            None => {
                Err(ApiError::new(ErrorCode::Unauthenticated, "a valid `X-Api-Key` is required"))
            }
        }
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// No `Origin` (not a browser) or an allowed one.
pub(crate) fn origin_ok(parts: &Parts, state: &AppState) -> bool {
    origin_allowed(&parts.headers, state)
}

/// [`origin_ok`] on a request's headers.
pub(crate) fn origin_allowed(headers: &http::HeaderMap, state: &AppState) -> bool {
    match headers.get(header::ORIGIN) {
        None => true,
        Some(o) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let scheme = scheme(headers, state);
            o.to_str().is_ok_and(|o| state.node.services.auth().origin_allowed(o, scheme, host))
        }
    }
}

/// How the client reached the server: `https` when a TLS proxy in front says so
/// (`X-Forwarded-Proto`) or the server is configured as served over TLS (`secure_cookies`),
/// `http` otherwise. A browser page cannot set `X-Forwarded-Proto` on its requests.
fn scheme(headers: &http::HeaderMap, state: &AppState) -> &'static str {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    match forwarded {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if state.options.secure_cookies => "https",
        _ => "http",
    }
}
