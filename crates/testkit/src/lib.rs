//! Test support for Chinwag.
//!
//! # Layout
//! - [`TestServer`]: the real server (the same `chinwag::build` + `chinwag::run` as the binary)
//!   on `127.0.0.1:0` with a temporary data directory; stop it, or drop it.
//!   [`high_request_limits`] is the configuration tweak for load.
//! - [`WsClient`]: a real WebSocket client (tokio-tungstenite, a third-party implementation) with
//!   helpers for request/reply and for waiting on events.
//! - [`ChildServer`]: the `chinwag` binary as a child process, for tests that kill it.
//! - [`open_with_headers`]: a WebSocket upgrade with chosen headers (`Origin`, `Cookie`);
//!   [`silent_peer`]: a connection that authenticates and then goes silent.
//! - [`mint_token`]: a token from the server API of any running server.
//! - [`register`], [`create_conversation`], [`messages_page`], [`full_history`], [`get_json`]:
//!   REST set-up and reads against any running server's root URL (in-process, child, or behind
//!   a [`Proxy`]).
//! - [`ChatProcess`]: `chinwag chat --line` as a child process, driven through stdin/stdout;
//!   [`ChatProcess::sign_in`] starts one signed in with a password.
//! - [`Proxy`]: a loopback TCP proxy that adds latency, cuts connections at random or all at
//!   once, and follows a server restarted on another port.
//! - [`TestServer::call`] and [`Reply`]: REST calls with any credentials ([`Auth`]), and
//!   [`Reply::assert_error`], the check of the one error shape.
//!
//! Helpers panic with a clear message on anything unexpected: they are for tests.

mod chat;
mod child;
mod client;
mod handshake;
mod proxy;
mod rest;
mod server;

pub use chat::ChatProcess;
pub use child::ChildServer;
pub use client::{Closed, WsClient};
pub use handshake::{Ws, open_with_headers, refused_status, silent_peer};
pub use proxy::Proxy;
pub use rest::{
    Auth, Reply, create_conversation, full_history, get_json, messages_page, mint_token, register,
};
pub use server::{API_KEY, TOKEN_SECRET, TestServer, high_request_limits};
pub use server::{REDIS_URL_VAR, cluster_available, redis_url};

/// Default wait for anything a test expects to happen.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(15);
