//! Bad input is harmless: refusals are typed errors, a full outbox says so, and a server that
//! sends garbage neither panics the client nor stops it.

use std::time::Duration;

use chinwag_client::cache::{CacheConfig, CacheError, HistoryCache};
use chinwag_client::{
    Client, ClientConfig, ClientError, ConnectionState, Event, HistoryQuery, NewMessage,
    RequestError, SendError,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("ws://127.0.0.1:{port}/v1/ws")
}

#[tokio::test]
async fn a_full_outbox_and_bad_messages_are_typed_errors() {
    let state = tempfile::tempdir().unwrap();
    let config = ClientConfig {
        outbox_capacity: 3,
        state_path: Some(state.path().join("o.db")),
        ..ClientConfig::default()
    };
    let (client, _events) =
        Client::connect_with(refused_url(), String::from("t"), config).await.unwrap();
    for i in 0..3 {
        client.send("c", format!("m{i}")).await.unwrap();
    }
    match client.send("c", "one too many").await {
        Err(SendError::OutboxFull { capacity: 3 }) => {}
        other => panic!("expected OutboxFull, got {other:?}"),
    }
    assert_eq!(client.outbox_len(), 3, "nothing was written by the refused send");

    let first = client.outbox().unwrap()[0].key.clone();
    client.discard(&first.as_str().into()).await.unwrap();
    let mut m = NewMessage::text("c", "again");
    m.client_msg_id = Some(client.outbox().unwrap()[0].key.as_str().into());
    assert!(matches!(client.send_message(m).await, Err(SendError::Duplicate(_))));
    assert!(matches!(client.send("c", "").await, Err(SendError::Invalid(_))));
    let mut long_id = NewMessage::text("c", "x");
    long_id.client_msg_id = Some("x".repeat(257).as_str().into());
    assert!(matches!(client.send_message(long_id).await, Err(SendError::Invalid(_))));
    let mut bad_kind = NewMessage::text("c", "x");
    bad_kind.kind = Some("Offer!".into());
    assert!(matches!(client.send_message(bad_kind).await, Err(SendError::Invalid(_))));
    assert!(matches!(client.send("c", "x".repeat(70_000)).await, Err(SendError::Invalid(_))));
    assert!(matches!(client.retry(&"nope".into()).await, Err(SendError::NotFound(_))));
    assert!(matches!(client.discard(&"nope".into()).await, Err(SendError::NotFound(_))));
    assert!(matches!(
        client.history("c", HistoryQuery::default()).await,
        Err(RequestError::NotConnected)
    ));
    let both = HistoryQuery { before: Some(5), after: Some(1), limit: None };
    assert!(matches!(client.history("c", both).await, Err(RequestError::Invalid(_))));
    assert!(matches!(client.typing("c", true).await, Err(RequestError::NotConnected)));
    assert!(matches!(client.import_cache("{garbage"), Err(CacheError::Malformed(_))));
    assert_eq!(client.outbox_len(), 2);

    client.close().await;
    assert!(matches!(client.send("c", "after close").await, Err(SendError::Closed)));
}

#[tokio::test]
async fn bad_urls_configs_and_state_files_are_refused_at_start() {
    for url in ["http://127.0.0.1:1/v1/ws", "", "ws://"] {
        let r = Client::connect(url, String::from("t")).await;
        assert!(matches!(r, Err(ClientError::InvalidUrl { .. })), "{url}");
    }
    let bad_configs = [
        ClientConfig { outbox_capacity: 0, ..ClientConfig::default() },
        ClientConfig { ping_interval: Duration::MAX, ..ClientConfig::default() },
        ClientConfig { latency_alpha: f64::NAN, ..ClientConfig::default() },
        ClientConfig { event_capacity: 0, ..ClientConfig::default() },
    ];
    for config in bad_configs {
        assert!(matches!(
            Client::connect_with(refused_url(), String::from("t"), config).await,
            Err(ClientError::Config(_))
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("state.db");
    std::fs::write(&not_sqlite, b"this is not a database, just text that is long enough").unwrap();
    let config = ClientConfig { state_path: Some(not_sqlite), ..ClientConfig::default() };
    assert!(matches!(
        Client::connect_with(refused_url(), String::from("t"), config).await,
        Err(ClientError::Outbox(_))
    ));
    assert!(matches!(
        HistoryCache::import_json(CacheConfig::default(), "[1,2,3]"),
        Err(CacheError::Malformed(_))
    ));
}

const AUTHED: &str = r#"{"type":"authed","id":"auth","user":{"id":"u","tenant":"default"},"connection_id":"1","protocol":1,"heartbeat_ms":25000,"limits":{"max_frame_bytes":131072,"max_body_bytes":65536,"max_page_size":200,"requests_per_second":100}}"#;
const MESSAGE: &str = r#"{"type":"message","message":{"id":"m1","conversation_id":"c","seq":1,"sender":"v","client_msg_id":"v1","kind":"text","body":"still here","created_at":1,"a_field_from_the_future":true}}"#;

/// A server that authenticates anyone, then sends garbage, one good message, and closes with a
/// code no version of Chinwag defines.
async fn garbage_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let _auth = ws.next().await;
                let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
                let garbage = [
                    AUTHED.to_owned(),
                    "not json at all".to_owned(),
                    r#"{"type":"teleport","id":3}"#.to_owned(),
                    r#"{"type":"message"}"#.to_owned(),
                    r#"{"type":"ack","id":"o:never-sent","duplicate":false}"#.to_owned(),
                    r#"{"type":"pong","id":"p:999999","server_ts":1}"#.to_owned(),
                    r#"{"type":"error","id":"r:424242","error":{"code":"internal","message":"x"}}"#
                        .to_owned(),
                    r#"{"type":"error","id":null,"error":{"code":"no_such_code","message":"x"}}"#
                        .to_owned(),
                    deep,
                    "\u{0}\u{1}\u{2}".to_owned(),
                    MESSAGE.to_owned(),
                ];
                for g in garbage {
                    if ws.send(WsMessage::text(g)).await.is_err() {
                        return;
                    }
                }
                let _ = ws.send(WsMessage::binary(vec![0xff, 0x00, 0x13])).await;
                let close = CloseFrame { code: CloseCode::from(4999), reason: "who knows".into() };
                let _ = ws.send(WsMessage::Close(Some(close))).await;
                while ws.next().await.is_some() {}
            });
        }
    });
    format!("ws://{addr}/v1/ws")
}

#[tokio::test]
async fn a_server_sending_garbage_does_not_stop_the_client() {
    let url = garbage_server().await;
    let (client, mut events) = Client::connect(url, String::from("t")).await.unwrap();
    let mut errors = 0;
    let mut messages = Vec::new();
    let mut reconnecting = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(reconnecting && messages.len() == 1) {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Error(_))) => errors += 1,
            Ok(Some(Event::Message(m))) => messages.push(m),
            Ok(Some(Event::Connection(ConnectionState::Reconnecting { .. }))) => {
                reconnecting = true
            }
            Ok(Some(_)) => {}
            other => panic!("events stopped: {other:?}"),
        }
    }
    assert!(errors >= 5, "unreadable frames are reported, not fatal ({errors})");
    assert_eq!(messages[0].body, "still here", "a good frame after garbage still arrives");
    // The same message replayed on the reconnect is a duplicate by seq: not delivered twice.
    tokio::time::sleep(Duration::from_millis(800)).await;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await {
        assert!(!matches!(e, Event::Message(_)), "seq 1 again is dropped: {e:?}");
    }
    client.close().await;
}

/// A server whose advice is absurd: a token that never expires, a rate limit for ever, and a
/// restart close that asks the client to wait longer than a clock can count.
async fn absurd_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(m)) = ws.next().await {
                    let WsMessage::Text(t) = m else { continue };
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    let reply = match v["type"].as_str() {
                        Some("auth") => AUTHED.replace(
                            r#""heartbeat_ms":25000,"#,
                            r#""heartbeat_ms":25000,"expires_at":9223372036854775807,"#,
                        ),
                        Some("send") => {
                            let e = serde_json::json!({"type": "error", "id": v["id"], "error": {
                                "code": "rate_limited", "message": "slow down",
                                "retry_after_ms": u64::MAX}});
                            let _ = ws.send(WsMessage::text(e.to_string())).await;
                            let close = CloseFrame {
                                code: CloseCode::Restart,
                                reason: "retry_after_ms=18446744073709551615".into(),
                            };
                            let _ = ws.send(WsMessage::Close(Some(close))).await;
                            continue;
                        }
                        _ => continue,
                    };
                    let _ = ws.send(WsMessage::text(reply)).await;
                }
            });
        }
    });
    format!("ws://{addr}/v1/ws")
}

#[tokio::test]
async fn absurd_advice_from_the_server_is_capped_not_fatal() {
    let (client, mut events) =
        Client::connect(absurd_server().await, String::from("t")).await.unwrap();
    client.send("c", "hello").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let retry_in = loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Connection(ConnectionState::Reconnecting { retry_in, .. }))) => {
                break retry_in;
            }
            Ok(Some(_)) => {}
            other => panic!("no reconnect: {other:?}"),
        }
    };
    assert!(retry_in <= Duration::from_secs(11 * 60), "capped at ten minutes: {retry_in:?}");
    assert!(retry_in >= Duration::from_secs(10 * 60), "the advice is still honoured: {retry_in:?}");
    assert_eq!(client.outbox_len(), 1, "still queued");
    client.close().await;
    assert!(matches!(client.send("c", "x").await, Err(SendError::Closed)));
}

#[tokio::test]
async fn close_returns_even_when_nobody_reads_the_events() {
    let config = ClientConfig {
        event_capacity: 1,
        backoff: chinwag_client::backoff::BackoffPolicy {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(10),
            breaker_threshold: 0,
            ..Default::default()
        },
        ..ClientConfig::default()
    };
    let (client, _events) =
        Client::connect_with(refused_url(), String::from("t"), config).await.unwrap();
    for i in 0..5 {
        client.send("c", format!("m{i}")).await.unwrap();
    }
    // The driver is stuck on a full event buffer by now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), client.close()).await.expect("close returns");
    assert!(matches!(client.send("c", "late").await, Err(SendError::Closed)));
    assert!(matches!(client.reconnect().await, Err(SendError::Closed)));
}
