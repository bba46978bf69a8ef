//! What can go wrong on a connection, and which close code each failure sends.

use crate::close;

/// Why [`WebSocket::recv`](crate::WebSocket::recv) failed.
///
/// After any error the read side is finished: further `recv` calls return [`WsError::Closed`].
/// Send the close code from [`WsError::close_code`] with
/// [`WebSocket::close`](crate::WebSocket::close), then drop the connection.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The peer broke RFC 6455 framing (unmasked frame, reserved bits or opcode, bad fragment
    /// order, oversized control frame, invalid close code...). Close code 1002.
    #[error("WebSocket protocol violation: {0}")]
    Protocol(&'static str),
    /// A text message or a close reason is not valid UTF-8. Close code 1007.
    #[error("text message or close reason is not valid UTF-8")]
    InvalidUtf8,
    /// A message is over [`Config::max_message_bytes`](crate::Config::max_message_bytes) or
    /// [`Config::max_fragments`](crate::Config::max_fragments). Close code 1009.
    #[error("message over the configured size or fragment limit")]
    TooBig,
    /// The socket failed, or the peer closed TCP without a Close frame (`UnexpectedEof`). No close
    /// frame can be delivered.
    #[error("WebSocket I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The read side already ended: a Close frame was received or an error was returned before.
    #[error("WebSocket already closed")]
    Closed,
}

impl WsError {
    /// The close code to send the peer for this failure, or `None` when no Close frame is due
    /// (the socket is gone, or the close handshake already happened).
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::Protocol(_) => Some(close::PROTOCOL_ERROR),
            WsError::InvalidUtf8 => Some(close::INVALID_PAYLOAD),
            WsError::TooBig => Some(close::MESSAGE_TOO_BIG),
            WsError::Io(_) | WsError::Closed => None,
        }
    }
}
