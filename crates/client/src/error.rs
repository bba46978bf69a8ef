//! Typed errors of the client API.

use chinwag_proto::error::ErrorBody;

use crate::outbox::OutboxError;

/// [`Client::connect`](crate::Client::connect) could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not a `ws://` URL.
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The outbox file could not be opened or read.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The configuration is inconsistent.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// A send (or edit, delete, reaction, read marker) was refused before it reached the outbox.
/// Nothing was written when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The outbox holds `capacity` entries: wait for acknowledgements (or discard failed ones).
    #[error("outbox full: {capacity} messages are waiting")]
    OutboxFull {
        /// The configured `outbox_capacity`.
        capacity: usize,
    },
    /// The message breaks a protocol rule (empty body, id too long, body too large, …).
    #[error("invalid message: {0}")]
    Invalid(String),
    /// A message with this `client_msg_id` is already waiting in the outbox.
    #[error("client_msg_id `{0}` is already in the outbox")]
    Duplicate(String),
    /// No outbox entry with this `client_msg_id` (for `retry` and `discard`).
    #[error("no outbox entry `{0}`")]
    NotFound(String),
    /// The outbox file failed.
    #[error("outbox storage: {0}")]
    Storage(String),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

impl From<OutboxError> for SendError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Full { capacity } => Self::OutboxFull { capacity },
            OutboxError::Duplicate(k) => Self::Duplicate(k),
            OutboxError::NotFound(k) => Self::NotFound(k),
            other => Self::Storage(other.to_string()),
        }
    }
}

/// A request that needs an answer (history, presence, typing, draft) failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The client is not connected right now; such requests are not queued.
    #[error("not connected")]
    NotConnected,
    /// The connection was lost before the reply arrived.
    #[error("the connection was lost before the reply")]
    Disconnected,
    /// No reply within the configured request timeout.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The server answered with an error.
    #[error("server error {}: {}", .0.code.as_str(), .0.message)]
    Server(ErrorBody),
    /// The server answered with a frame of another type.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// This many requests already wait for their replies on the connection.
    #[error("{0} requests are already waiting for replies")]
    TooMany(usize),
    /// The input was refused before sending.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}
