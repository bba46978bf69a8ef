//! Chinwag's node: everything between the transports and the backends.
//!
//! # Layout
//! - [`services`]: every operation (send, history, receipts, typing, drafts, presence,
//!   conversations, members, accounts, resume), each with its authorization check. REST, WebSocket and the server API call these.
//! - [`fanout`]: the store's commit sink: encodes each committed message once and publishes it.
//! - [`hub`]: this node's devices and the routing of broker events to them.
//! - [`device`]: a device's bounded outbound queue and its overflow rule (G5).
//! - [`session`]: one WebSocket connection: authenticate, resume, then requests and live events.
//! - [`event_stream`]: the same events as server-sent events, for networks that block WebSocket;
//!   `replay` is the resume replay both share.
//! - [`typing`]: typing indicators that expire on the server.
//! - [`auth`], [`limits`], [`rate`], [`metrics`], [`error`]: identity, limits, rate limiting,
//!   Prometheus metrics, and the service error type.
//! - [`node`]: builds all of the above from backends and configuration, and drains on shutdown.
//!
//! The path of a message: session → `Services::send` → `Store::append` (group commit) →
//! `Fanout` (commit order) → `Broker` → every node's `Hub` → device queues → sessions → sockets.

pub mod auth;
pub mod device;
pub mod error;
pub mod event_stream;
pub mod fanout;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod rate;
mod replay;
pub mod services;
pub mod session;
pub mod typing;

pub use error::{ServiceError, ServiceResult};
pub use node::Node;
