//! Chinwag's Rust client SDK.
//!
//! # Layout
//! - [`Client`] (`client/`): the cloneable handle. A send is checked and written to the outbox
//!   file *before* anything else (`client/send.rs`), then announced to the driver; requests
//!   (history, typing, presence, drafts: `client/requests.rs`) go to the driver and wait for
//!   their reply.
//! - `command.rs`: what a handle tells the driver, over a bounded channel. `shared.rs`: what
//!   both hold: the outbox file, the cache, the latest state and quality, and the flags that
//!   stand in for a command when the channel is full. `clock.rs`: wall-clock milliseconds.
//! - `driver/`: one task per client that owns the socket. `run` loops over connections:
//!   `connection` makes one (token, socket, `auth` with the resume request of `resume`),
//!   `session` serves it, and the close code and [`backoff`] decide when to try again. In a
//!   session, `incoming` turns server frames into [`Event`]s, `replay` sends the outbox in
//!   order with the same `client_msg_id`s, paced by `rate`, `gap_fill` asks `history` for what
//!   a gap lacks, `receipts` sends `received` and moves own messages to delivered and read,
//!   `ping` measures the [`quality`], and `refresh` renews the token before it expires.
//! - [`outbox`]: the SQLite file of outgoing changes and saved resume positions.
//! - [`cache`]: per-conversation history with TTL and size bounds, deduplication by `seq`,
//!   gap detection, resume positions, statistics, JSON export and import.
//! - [`backoff`]: exponential backoff with full jitter and a circuit breaker, pure and seedable.
//! - [`quality`]: latency EWMA and the excellent / good / poor / offline quality.
//! - [`events`]: the typed events and the [`Events`] stream; [`token`]: where tokens come
//!   from; [`rest`]: login and the conversation list over REST.
//!
//! Dependencies point one way: `client` uses `driver`, both use `command`, `shared`, `clock`
//! and the modules listed after them, and the driver never reaches back into the handle.
//!
//! What flows: application → `Client` → outbox file (and a command) → driver → socket;
//! socket → driver → cache (duplicates dropped, gaps filled from `history`) → `Events` →
//! application.
//!
//! The server's guarantees hold end to end: an outbox entry leaves the file only when the
//! server acknowledged it (G1); every attempt carries the same `client_msg_id` (G2); messages
//! reach the application once each, in `seq` order per conversation (G3, G4).
//!
//! ```no_run
//! use chinwag_client::{Client, ClientConfig, ConnectionState, Event};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut events) = Client::connect("ws://127.0.0.1:8080/v1/ws", String::from("<token>")).await?;
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Connection(ConnectionState::Connected) => println!("online"),
//!         Event::Message(m) if m.body == "ping" => {
//!             client.send(m.conversation_id.clone(), "pong").await?;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod backoff;
pub mod cache;
mod client;
mod clock;
mod command;
mod config;
mod driver;
mod error;
pub mod events;
pub mod outbox;
pub mod quality;
pub mod rest;
mod shared;
pub mod token;

pub use chinwag_proto as proto;
pub use client::{Client, HistoryPage, HistoryQuery, NewMessage, Outgoing, new_client_msg_id};
pub use config::{ClientConfig, StartFrom};
pub use error::{ClientError, RequestError, SendError};
pub use events::{
    ConnectionState, Event, Events, MessageState, MessageStatus, OfflineReason, Recovery,
};
pub use quality::{Quality, QualityReport};
pub use token::{TokenError, TokenProvider, token_fn};
