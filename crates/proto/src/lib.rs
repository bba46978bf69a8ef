//! Chinwag's protocol: the types both sides of the wire agree on.
//!
//! # Layout
//! - [`ids`]: typed identifiers (`UserId`, `ConversationId`, `MessageId`, …) that cross module lines.
//! - [`model`]: the domain as clients see it: messages, conversations, members.
//! - [`commands`]: one type per request a device can make (send, edit, history, read, …).
//! - [`frames`]: WebSocket frames: `ClientFrame` (a request id and one command) and
//!   `ServerFrame` (replies and events).
//! - `request_id` (private): what a request `id` may be, and reading it from a frame that cannot
//!   be decoded whole.
//! - [`rest`]: REST request and response bodies under `/v1`, each REST request with its
//!   conversion into the command it carries.
//! - [`clock`]: the wall clock in wire units.
//! - [`error`]: the stable error codes and the one error shape used everywhere.
//! - [`close`]: WebSocket close codes, each with its reconnect advice.
//!
//! This crate knows nothing of tokio, axum or storage, so the server and the Rust client share it.

#![warn(missing_docs)]

pub mod clock;
pub mod close;
pub mod commands;
pub mod error;
pub mod frames;
pub mod ids;
pub mod model;
mod request_id;
pub mod rest;

/// Version of the WebSocket protocol described in `docs/protocol.md`. Sent in `authed`.
pub const PROTOCOL_VERSION: u32 = 1;
