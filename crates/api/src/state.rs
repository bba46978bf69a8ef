//! The one state value every handler receives.

use chinwag_core::Node;

/// Settings of the HTTP surface itself.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// Serve `/v1/echo`, a WebSocket echo on the same stack and limits, for conformance tests.
    pub enable_echo: bool,
    /// Mark session cookies `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub node: Node,
    pub options: ApiOptions,
}
