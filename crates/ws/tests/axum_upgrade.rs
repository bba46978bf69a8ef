//! End to end: `axum::serve` on a real port, upgraded by our extractor, driven by a third-party
//! client (tokio-tungstenite) and by hand-written HTTP for the rejections.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use chinwag_ws::upgrade::WebSocketUpgrade;
use chinwag_ws::{Config, Message, WebSocket, close, echo};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const WAIT: Duration = Duration::from_secs(5);

/// Pings the client, then reports the pong's payload as a text message.
async fn ping_then_report<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    ws.ping(b"heartbeat").await.unwrap();
    loop {
        match ws.recv().await {
            Ok(Message::Pong(payload)) => {
                let report = format!("pong:{}", String::from_utf8_lossy(&payload));
                ws.send_text(report.as_bytes()).await.unwrap();
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = ws.close(close::NORMAL, "").await;
}

async fn start() -> SocketAddr {
    let small = Config { max_message_bytes: 1024, ..Config::default() };
    let app =
        Router::new()
            .route(
                "/echo",
                any(|upgrade: WebSocketUpgrade| async move {
                    upgrade.on_upgrade(Config::default(), echo)
                }),
            )
            .route(
                "/small",
                get(
                    move |upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(small, echo) },
                ),
            )
            .route(
                "/ping",
                get(|upgrade: WebSocketUpgrade| async move {
                    upgrade.on_upgrade(Config::default(), ping_then_report)
                }),
            )
            .route(
                "/vectored",
                get(|upgrade: WebSocketUpgrade| async move {
                    upgrade.on_upgrade(Config::default(), |mut ws| async move {
                        // Whether hyper's upgraded connection keeps vectored writes: the coalescing
                        // of many frames into one syscall depends on it.
                        let vectored = ws.get_ref().is_write_vectored();
                        ws.send_text(vectored.to_string().as_bytes()).await.unwrap();
                        let _ = ws.close(close::NORMAL, "").await;
                    })
                }),
            );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn next(
    stream: &mut (
             impl StreamExt<Item = Result<TMessage, tokio_tungstenite::tungstenite::Error>> + Unpin
         ),
) -> TMessage {
    timeout(WAIT, stream.next()).await.expect("timely").expect("a message").expect("no error")
}

#[tokio::test]
async fn text_and_binary_echo() {
    let addr = start().await;
    let (mut client, response) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/echo")).await.unwrap();
    assert_eq!(response.status(), 101);
    client.send(TMessage::text("hello, chinwag")).await.unwrap();
    assert_eq!(next(&mut client).await, TMessage::text("hello, chinwag"));
    let binary: Vec<u8> = (0..=255).collect();
    client.send(TMessage::binary(binary.clone())).await.unwrap();
    assert_eq!(next(&mut client).await, TMessage::binary(binary));
    // Every length form, and the limit itself (64 KiB, inclusive).
    for len in [0, 125, 126, 65_535, 65_536] {
        let text = "x".repeat(len);
        client.send(TMessage::text(text.clone())).await.unwrap();
        assert_eq!(next(&mut client).await, TMessage::text(text), "len {len}");
    }
}

#[tokio::test]
async fn client_ping_gets_pong() {
    let addr = start().await;
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/echo")).await.unwrap();
    client.send(TMessage::Ping(b"ping?".to_vec().into())).await.unwrap();
    assert_eq!(next(&mut client).await, TMessage::Pong(b"ping?".to_vec().into()));
}

#[tokio::test]
async fn server_ping_gets_pong() {
    let addr = start().await;
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ping")).await.unwrap();
    // tungstenite answers the ping while reading; the server then reports the pong it got.
    assert_eq!(next(&mut client).await, TMessage::Ping(b"heartbeat".to_vec().into()));
    assert_eq!(next(&mut client).await, TMessage::text("pong:heartbeat"));
}

#[tokio::test]
async fn close_handshake() {
    let addr = start().await;
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/echo")).await.unwrap();
    client.close(None).await.unwrap();
    match next(&mut client).await {
        TMessage::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the close echo, got {other:?}"),
    }
    // Then the server ends the TCP connection.
    let end = timeout(WAIT, client.next()).await.expect("timely");
    assert!(end.is_none(), "stream ended: {end:?}");
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let addr = start().await;
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/small")).await.unwrap();
    client.send(TMessage::text("y".repeat(1024))).await.unwrap();
    assert_eq!(next(&mut client).await, TMessage::text("y".repeat(1024)));
    client.send(TMessage::binary(vec![0; 1025])).await.unwrap();
    match next(&mut client).await {
        TMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn upgraded_connection_keeps_vectored_writes() {
    let addr = start().await;
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/vectored")).await.unwrap();
    assert_eq!(next(&mut client).await, TMessage::text("true"));
}

/// Sends a raw HTTP/1.1 request and returns the response head (status line and headers).
async fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout(WAIT, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed before the response head");
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).to_lowercase()
}

fn handshake(method: &str, extra: &[(&str, &str)], skip: &str) -> String {
    let mut headers = vec![
        ("host", "localhost"),
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    headers.retain(|(name, _)| *name != skip && !extra.iter().any(|(n, _)| n == name));
    headers.extend_from_slice(extra);
    let mut request = format!("{method} /echo HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

#[tokio::test]
async fn handshake_accepts_token_lists_and_any_case() {
    let addr = start().await;
    let head = raw_request(addr, &handshake("GET", &[], "")).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
}

#[tokio::test]
async fn handshake_rejections() {
    let addr = start().await;
    let cases = [
        (handshake("POST", &[], ""), "405", Some("allow: get")),
        (handshake("GET", &[], "upgrade"), "426", Some("upgrade: websocket")),
        (handshake("GET", &[("connection", "keep-alive")], ""), "426", Some("upgrade: websocket")),
        (handshake("GET", &[("upgrade", "h2c")], ""), "426", None),
        (handshake("GET", &[], "sec-websocket-version"), "426", Some("sec-websocket-version: 13")),
        (
            handshake("GET", &[("sec-websocket-version", "8")], ""),
            "426",
            Some("sec-websocket-version: 13"),
        ),
        (handshake("GET", &[], "sec-websocket-key"), "400", None),
        (handshake("GET", &[("sec-websocket-key", "c2hvcnQ=")], ""), "400", None),
        (handshake("GET", &[("sec-websocket-key", "not base64 at all, no!!")], ""), "400", None),
    ];
    for (request, status, header) in cases {
        let head = raw_request(addr, &request).await;
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{request}\n→ {head}");
        if let Some(header) = header {
            assert!(head.contains(header), "{request}\n→ {head}");
        }
    }
}
