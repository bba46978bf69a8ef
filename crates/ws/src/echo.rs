//! An echo loop: every text and binary message is sent back. It is what the Autobahn
//! conformance cases talk to, so it runs the same socket code and limits as real sessions.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Message, WebSocket, close, encode_binary, encode_text};

/// Echo until the peer closes or breaks the protocol (then close with the matching code).
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    loop {
        let sent = match ws.recv().await {
            Ok(Message::Text(text)) => ws.send_frames(&[encode_text(&text)]).await,
            Ok(Message::Binary(data)) => ws.send_frames(&[encode_binary(&data)]).await,
            Ok(Message::Pong(_)) => Ok(()),
            Ok(Message::Close(_)) => {
                // `recv` already answered the Close; this flushes it and ends the connection.
                let _ = ws.close(close::NORMAL, "").await;
                return;
            }
            Err(error) => {
                if let Some(code) = error.close_code() {
                    let _ = ws.close(code, "").await;
                }
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}
