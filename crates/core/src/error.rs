//! The error every service returns: a protocol [`ErrorCode`] plus a message for humans.

use chinwag_proto::error::{ErrorBody, ErrorCode};
use chinwag_store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// With `conflict`: the current state, for the client to reconcile with.
    pub current: Option<serde_json::Value>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_ms: None, current: None }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(ErrorCode::RateLimited, "rate limit exceeded")
        }
    }

    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            request_id: None,
            retry_after_ms: self.retry_after_ms,
            current: self.current.clone(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Forbidden(m) => Self::forbidden(m),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                Self::new(ErrorCode::Unavailable, "storage is unavailable, retry later")
            }
            StoreError::Backend(m) => {
                // Internals are logged, not returned: the client gets a stable shape.
                tracing::error!(error = %m, "store backend error");
                Self::new(ErrorCode::Internal, "internal storage error")
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
