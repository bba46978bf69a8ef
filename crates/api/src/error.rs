//! The one error shape of every HTTP response: `{"error":{"code","message","request_id"}}`.
//!
//! Handlers return [`ApiError`]; its response carries the error in an extension, and the
//! request-id middleware ([`crate::request_id`]) writes the body with the request's id filled in,
//! so every error (handler, extractor, fallback) names the request it belongs to.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chinwag_core::ServiceError;
use chinwag_proto::error::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self(e.to_body())
    }
}

/// The error inside a response, until the middleware renders it.
#[derive(Debug, Clone)]
pub struct PendingError(pub ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = status.into_response();
        if let Some(ms) = self.0.retry_after_ms {
            let secs = ms.div_ceil(1000).to_string();
            if let Ok(v) = secs.parse() {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        res.extensions_mut().insert(PendingError(self.0));
        res
    }
}

/// Render an error body with its request id.
pub fn render(mut body: ErrorBody, request_id: Option<&str>) -> Vec<u8> {
    body.request_id = request_id.map(str::to_owned);
    serde_json::to_vec(&chinwag_proto::error::ErrorEnvelope { error: body }).unwrap_or_default()
}

/// JSON body extractor whose rejections are Chinwag errors, not axum's plain text.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::Invalid, e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(ErrorCode::Malformed, e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::Malformed, "expected `Content-Type: application/json`")
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::TooLarge, "request body is too large")
        }
        other => ApiError::new(ErrorCode::Malformed, other.body_text()),
    }
}

impl<T> IntoResponse for Json<T>
where
    axum::Json<T>: IntoResponse,
{
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query extractor with Chinwag errors.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::new(ErrorCode::Invalid, e.body_text()))
    }
}

/// Path extractor with Chinwag errors.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::new(ErrorCode::Invalid, e.body_text()))
    }
}
