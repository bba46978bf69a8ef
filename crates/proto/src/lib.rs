//! Chinwag's protocol: the types both sides of the wire agree on.
//!
//! # Layout
//! - [`ids`]: typed identifiers (`UserId`, `ConversationId`, `MessageId`, …) that cross module lines.
//! - [`model`]: the domain as clients see it: messages, conversations, members.
//! - [`frames`]: WebSocket frames, one enum per direction (`ClientFrame`, `ServerFrame`).
//! - [`rest`]: REST request and response bodies under `/v1`.
//! - [`error`]: the stable error codes and the one error shape used everywhere.
//! - [`close`]: WebSocket close codes, each with its reconnect advice.
//!
//! This crate knows nothing of tokio, axum or storage, so the server and the Rust client share it.

pub mod close;
pub mod error;
pub mod frames;
pub mod ids;
pub mod model;
pub mod rest;

/// Version of the WebSocket protocol described in `docs/protocol.md`. Sent in `authed`.
pub const PROTOCOL_VERSION: u32 = 1;
