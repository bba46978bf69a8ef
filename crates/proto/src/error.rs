//! Stable error codes and the one error shape. Clients branch on [`ErrorCode`], never on messages.

use serde::{Deserialize, Serialize};

/// Every error Chinwag returns, over WebSocket and REST. The string form is API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input is not JSON, or not a JSON object. Fix the client; do not retry.
    Malformed,
    /// The frame `type` is not one this server knows. Do not retry.
    UnknownType,
    /// A field is missing, has the wrong type, or a value is out of range. Do not retry.
    Invalid,
    /// A body, frame or page size is over its limit. Do not retry as is.
    TooLarge,
    /// No valid credentials. Authenticate (again) before anything else.
    Unauthenticated,
    /// The token's `exp` has passed. Refresh the token, then retry.
    TokenExpired,
    /// Authenticated, but not allowed: not a member, or the role is too low. Do not retry.
    Forbidden,
    /// The thing does not exist, or is invisible to this user. Do not retry.
    NotFound,
    /// The request clashes with current state (a taken username). Do not retry as is.
    Conflict,
    /// Too many requests. Retry after `retry_after_ms`.
    RateLimited,
    /// The server is draining or a backend is down. Retry with backoff.
    Unavailable,
    /// A bug or an unexpected backend failure; logged on the server. Retry with backoff.
    Internal,
}

impl ErrorCode {
    /// The wire form (`not_found`, `rate_limited`, …), the same string serde writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::Unauthenticated => "unauthenticated",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status this code maps to on REST.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Malformed | Self::UnknownType | Self::Invalid => 400,
            Self::TooLarge => 413,
            Self::Unauthenticated | Self::TokenExpired => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// Whether repeating the same request later can succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Internal | Self::TokenExpired)
    }
}

/// The error shape. Over REST it is wrapped as `{"error": ErrorBody}`; over WebSocket it is the
/// `error` field of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong: the one field clients branch on.
    pub code: ErrorCode,
    /// Human-readable detail, for logs and developers. Not API.
    pub message: String,
    /// REST: the `x-request-id` of the HTTP request, for matching server logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// With `rate_limited`: how long to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// With `conflict` on some requests: the current state the request clashed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<serde_json::Value>,
}

impl ErrorBody {
    /// An error with `code` and `message` and none of the optional fields.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            request_id: None,
            retry_after_ms: None,
            current: None,
        }
    }
}

/// The REST error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error itself, the same shape a WebSocket `error` frame carries.
    pub error: ErrorBody,
}
