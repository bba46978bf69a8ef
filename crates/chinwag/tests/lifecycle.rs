//! Connection lifecycle: heartbeats and reaping of dead peers, token expiry and refresh.

use std::time::Duration;

use chinwag_testkit::{TestServer, WsClient, mint_token, silent_peer};
use serde_json::json;
use tokio::io::AsyncReadExt;

async fn short_token(server: &TestServer, user: &str, ttl_secs: u64) -> String {
    mint_token(&server.http, &server.url(""), user, Some(ttl_secs)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_peers_are_kept_and_silent_ones_are_reaped() {
    let server = TestServer::start_with(|c| {
        c.limits.heartbeat_ms = 200;
        c.limits.idle_timeout_ms = 700;
    })
    .await;
    // A client whose library answers protocol pings stays connected while idle.
    let mut alive = server.connect("alice").await;

    // A peer that completes the handshake and `auth`, then never reads or answers again.
    let mut raw = silent_peer(server.addr, &server.token("bob")).await;

    // Meanwhile the live client keeps reading, so its library answers the server's pings.
    let idle = alive.try_recv(Duration::from_millis(2_000)).await;
    assert!(matches!(idle, Ok(None)), "the live client stays connected: {idle:?}");
    // The silent peer was closed with heartbeat_timeout: its stream ends with a close frame 4010.
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await.unwrap().unwrap();
    let close = find_close_code(&buf);
    assert_eq!(close, Some(4010), "silent peer reaped with heartbeat_timeout");
    // The live one is still there.
    let pong = alive.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(server.node.services.device_count(&"default".into(), &"bob".into()), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_closes_the_connection_unless_refreshed() {
    let server = TestServer::start().await;
    let mut expiring =
        WsClient::connect_as(&server.ws_url(), &short_token(&server, "alice", 1).await, None).await;
    let mut refreshed =
        WsClient::connect_as(&server.ws_url(), &short_token(&server, "alice", 1).await, None).await;
    let r = refreshed.request(json!({"type": "auth", "token": server.token("alice")})).await;
    assert_eq!(r["type"], "authed", "{r}");
    // A token of another user cannot take over the connection.
    let r = refreshed.request(json!({"type": "auth", "token": server.token("mallory")})).await;
    assert_eq!(r["error"]["code"], "forbidden");

    let closed = expiring.closed().await;
    assert_eq!(closed.code, Some(4003), "{closed:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pong = refreshed.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "the refreshed connection outlives the first token");
    server.stop().await;
}

/// The status code of the first close frame in a server byte stream (after the HTTP response).
fn find_close_code(buf: &[u8]) -> Option<u16> {
    let start = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut i = start;
    while i + 2 <= buf.len() {
        let opcode = buf[i] & 0x0f;
        let (len, header) = match buf[i + 1] & 0x7f {
            126 => (u16::from_be_bytes([buf[i + 2], buf[i + 3]]) as usize, 4),
            127 => (u64::from_be_bytes(buf[i + 2..i + 10].try_into().ok()?) as usize, 10),
            n => (n as usize, 2),
        };
        let body = buf.get(i + header..i + header + len)?;
        if opcode == 0x8 && body.len() >= 2 {
            return Some(u16::from_be_bytes([body[0], body[1]]));
        }
        i += header + len;
    }
    None
}
