//! Chinwag's lean server-side WebSocket (RFC 6455) and, with the `axum` feature, its axum upgrade.
//!
//! # Layout
//!
//! - `upgrade` (feature `axum`): the axum extractor that checks an upgrade request and answers
//!   `101`; it hands hyper's raw upgraded connection to a [`WebSocket`] in the connection's one
//!   task. Without the feature the crate needs no HTTP stack: the node drives sockets that the
//!   HTTP edge upgraded.
//! - `handshake`: [`accept_key`], the key proof of the handshake.
//! - [`WebSocket`] (`socket.rs`): one connection. `recv` reads into the thread's scratch buffer
//!   (`scratch.rs`) and feeds the bytes to the decoder; sends write pre-encoded frames with one
//!   vectored write. Pings are answered and Close frames echoed on the way.
//! - `decoder`: bytes → frames → messages: header checks, unmasking, reassembly of fragments,
//!   limits ([`Config`]), incremental UTF-8 checks (`utf8.rs`), close payloads ([`close`]).
//! - `frame`: opcodes and server frame encoding ([`encode_text`] and friends), built once per
//!   broadcast and shared by every recipient.
//! - [`WsError`]: why a read failed, and the close code that failure sends.
//! - [`echo`]: an echo loop on the same socket code, for the Autobahn conformance cases.
//!
//! Bytes flow socket → scratch buffer → decoder → [`Message`] on the way in, and
//! `Bytes` frames → outbound queue (only while the socket is full) → socket on the way out.
//!
//! # Memory rules
//!
//! This crate exists to keep an idle connection small (see DESIGN.md §6); these rules are why.
//! - **No read buffer per connection.** Reads land in one buffer per runtime thread (32 KiB),
//!   and every byte is parsed before the poll function returns. A connection keeps only what is
//!   incomplete: a partial header inline (≤ 14 bytes), a partial control payload (≤ 125 bytes),
//!   the data message being reassembled (≤ [`Config::max_message_bytes`], allocated as its bytes
//!   arrive), and bytes read past a returned message until the next `recv` parses them. Each is
//!   freed as soon as it is consumed.
//! - **No write buffer per connection.** Frames are written straight from the caller's shared
//!   `Bytes`; only what the socket did not take is kept (a reference count per frame, no copy),
//!   and the queue is freed once drained. Pongs waiting there are capped at 16, after which
//!   `recv` stops reading until they are written.
//! - **No task or channel** in this crate besides the one task per connection that
//!   `WebSocketUpgrade::on_upgrade` spawns to run the handler.
//!
//! # Protocol
//!
//! Server role only; no extensions and no subprotocols are negotiated, so any RSV bit is an
//! error. Client frames must be masked. Violations fail the read with [`WsError`]; send its
//! [`close_code`](WsError::close_code) with [`WebSocket::close`]. Verified against the Autobahn
//! test cases by `scripts/autobahn.sh`.
//!
//! # Use
//!
//! ```no_run
//! use axum::{Router, response::Response, routing::get};
//! use chinwag_ws::{Config, Message, close, encode_text, upgrade::WebSocketUpgrade};
//!
//! async fn ws_handler(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.on_upgrade(Config::default(), |mut ws| async move {
//!         loop {
//!             match ws.recv().await {
//!                 Ok(Message::Text(json)) => {
//!                     // Frames are encoded once and may be shared by many connections.
//!                     let reply = encode_text(&json);
//!                     if ws.send_frames(&[reply]).await.is_err() {
//!                         return;
//!                     }
//!                 }
//!                 Ok(Message::Binary(_) | Message::Pong(_)) => {}
//!                 Ok(Message::Close(_)) => {
//!                     let _ = ws.close(close::NORMAL, "").await;
//!                     return;
//!                 }
//!                 Err(error) => {
//!                     if let Some(code) = error.close_code() {
//!                         let _ = ws.close(code, "").await;
//!                     }
//!                     return;
//!                 }
//!             }
//!         }
//!     })
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let app: Router = Router::new().route("/v1/ws", get(ws_handler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // `axum::serve` serves HTTP/1.1 with upgrades enabled, which the handshake needs.
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod close;
mod config;
mod decoder;
mod echo;
mod error;
mod frame;
mod handshake;
mod scratch;
mod socket;
#[cfg(test)]
mod test_frames;
#[cfg(feature = "axum")]
pub mod upgrade;
mod utf8;

use bytes::Bytes;

pub use close::CloseFrame;
pub use config::Config;
pub use echo::echo;
pub use error::WsError;
pub use frame::{
    MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, encode_binary, encode_binary_into, encode_close,
    encode_text, encode_text_into,
};
pub use handshake::accept_key;
pub use socket::WebSocket;
#[cfg(feature = "axum")]
pub use upgrade::{UpgradeRejection, WebSocketUpgrade};

/// A message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A complete text message, reassembled from its fragments; valid UTF-8 (checked).
    Text(Bytes),
    /// A complete binary message, reassembled from its fragments.
    Binary(Bytes),
    /// The answer to one of our pings, with its payload.
    Pong(Bytes),
    /// The peer's Close frame (`None` if it carried no code). It has already been answered; call
    /// [`WebSocket::close`] to finish.
    Close(Option<CloseFrame>),
}
