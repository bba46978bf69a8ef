//! Peer: socketioxide 0.18 on axum 0.8, WebSocket transport only (no long-polling), compression
//! off (socketioxide has none). The same "broadcast to the room" server as
//! `bench/peers/socketio-server.js`: rooms come from the handshake query (`?rooms=a,b`);
//! `emit("send", room, body)` is broadcast as `message` to everyone in the room with
//! `io.to(room).emit` (the sender included, as Chinwag does). No auth, no persistence.
//!
//! One difference the library imposes: socketioxide queues at most `max_buffer_size` packets per
//! connection and refuses an emit to a connection whose queue is full (the packet is dropped for
//! that connection; the connection stays open). Socket.IO on Node queues without a bound. The
//! bound is set to 8,192 packets, Chinwag's own `outbound_queue_frames`, and the number of
//! packets dropped this way is printed when the server stops.
//!
//! Usage: chinwag-bench-peer-socketioxide PORT

use std::sync::atomic::{AtomicU64, Ordering};

use axum::routing::get;
use socketioxide::SocketIo;
use socketioxide::TransportType;
use socketioxide::extract::{Data, SocketRef};

/// Packets not queued because a connection's queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9004);
    let (layer, io) = SocketIo::builder()
        .transports([TransportType::Websocket])
        .max_payload(1 << 20)
        .max_buffer_size(8192)
        .build_layer();
    io.ns("/", async |s: SocketRef| {
        let rooms: Vec<String> = s
            .req_parts()
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.strip_prefix("rooms="))
            .flat_map(|v| v.split(',').filter(|r| !r.is_empty()).map(str::to_owned))
            .collect();
        if !rooms.is_empty() {
            s.join(rooms);
        }
        s.on("send", async |io: SocketIo, Data((room, body)): Data<(String, String)>| {
            if let Err(socketioxide::BroadcastError::Socket(errors)) =
                io.to(room).emit("message", &body).await
            {
                DROPPED.fetch_add(errors.len() as u64, Ordering::Relaxed);
            }
        });
    });
    let app = axum::Router::new().route("/healthz", get(async || "")).layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("socketioxide peer listening on 127.0.0.1:{port}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = axum::serve(listener, app) => r?,
        _ = term.recv() => {}
    }
    println!("socketioxide peer: {} packets dropped (queue full)", DROPPED.load(Ordering::Relaxed));
    Ok(())
}
