//! An echo server over `chinwag-ws`, for the Autobahn test cases (`scripts/autobahn.sh`).
//!
//! Usage: `cargo run -p chinwag-ws --example echo -- [--port N] [--max-message-bytes N]
//! [--max-fragments N]`. Listens on 127.0.0.1 (port 9001 by default) and echoes every text and
//! binary message at any path, with the crate's default limits unless overridden.

use std::process::ExitCode;

use axum::Router;
use axum::routing::any;
use chinwag_ws::upgrade::WebSocketUpgrade;
use chinwag_ws::{Config, echo};

#[tokio::main]
async fn main() -> ExitCode {
    let mut port: u16 = 9001;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(v)) => port = u16::try_from(v).unwrap_or(port),
            ("--max-message-bytes", Some(v)) => config.max_message_bytes = v,
            ("--max-fragments", Some(v)) => config.max_fragments = v,
            _ => {
                eprintln!("usage: echo [--port N] [--max-message-bytes N] [--max-fragments N]");
                return ExitCode::from(2);
            }
        }
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new().fallback(any(move |upgrade: WebSocketUpgrade| {
        let config = config.clone();
        async move { upgrade.on_upgrade(config, echo) }
    }));
    eprintln!("echo server on ws://127.0.0.1:{port}/");
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
