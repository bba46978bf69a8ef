//! Chinwag's node: everything between the transports and the backends.
//!
//! # Layout
//! - [`commands`]: one handler per request type of `chinwag_proto::commands`; every transport
//!   (WebSocket, REST, the server API) parses a request into its command and applies it here.
//! - [`services`]: the operations behind the commands (send, history, receipts, typing, drafts,
//!   presence, conversations, members, accounts, resume), each with its authorization check.
//! - [`attach`]: a device's life on the node: attach (hub registration, its conversations
//!   routed, presence lease) and detach, one guard for every transport.
//! - [`commit_publisher`]: the store's commit sink: publishes each committed message once.
//! - [`hub`]: this node's device registry and the routing of broker events to devices, with
//!   fan-out windows for busy conversations (`hub/windows.rs`).
//! - [`device_queue`]: a device's bounded outbound queue and its overflow rule (G5).
//! - [`wire`]: how a server frame becomes the shared bytes on device queues.
//! - [`session`]: one WebSocket connection: authenticate, attach, resume, then requests and live
//!   events. [`event_stream`]: the same events as server-sent events, for networks that block
//!   WebSocket. `replay` is the resume replay both share.
//! - [`typing`]: typing indicators that expire on the server.
//! - [`auth`], [`limits`], [`rate`], [`metrics`], [`error`]: identity, limits, rate limiting,
//!   Prometheus metrics, and the service error type.
//! - [`node`]: builds all of the above from backends and configuration, and drains on shutdown.
//!
//! The path of a message: session → [`commands::answer`] → `Services::send` → `Store::append`
//! (group commit) → `CommitPublisher` (commit order) → `Broker` → every node's `Hub` → device
//! queues → sessions → sockets.

pub mod attach;
pub mod auth;
pub mod commands;
pub mod commit_publisher;
pub mod device_queue;
pub mod error;
pub mod event_stream;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod rate;
mod replay;
pub mod services;
pub mod session;
pub mod typing;
pub mod wire;

pub use error::{ServiceError, ServiceResult};
pub use node::Node;
