//! What a reconnecting client puts on the wire: its `auth` carries the resume request, then
//! control entries (read markers) go before queued messages, and messages go in the order they
//! were queued, each with its `client_msg_id`.

use std::time::Duration;

use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::{Client, ClientConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const AUTHED: &str = r#"{"type":"authed","id":"auth","user":{"id":"alice","tenant":"default"},"connection_id":"1","protocol":1,"heartbeat_ms":25000,"limits":{"max_frame_bytes":131072,"max_body_bytes":65536,"max_page_size":200,"requests_per_second":100}}"#;

#[tokio::test]
async fn after_a_reconnect_read_markers_go_first_then_messages_in_order() {
    // A port with nothing behind it yet: the client queues while it cannot connect.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ClientConfig {
        backoff: BackoffPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(100),
            breaker_threshold: 0,
            ..BackoffPolicy::default()
        },
        ..ClientConfig::default()
    };
    let (client, _events) =
        Client::connect_with(format!("ws://127.0.0.1:{port}/v1/ws"), String::from("t"), config)
            .await
            .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(client.send("c", format!("m{i}")).await.unwrap().client_msg_id.to_string());
    }
    client.mark_read("c", 7).await.unwrap();
    assert_eq!(client.outbox_len(), 4);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let (tcp, _) =
        tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let mut frames: Vec<Value> = Vec::new();
    while frames.len() < 5 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(WsMessage::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "auth" {
                    ws.send(WsMessage::text(AUTHED)).await.unwrap();
                }
                if v["type"] != "ping" && v["type"] != "received" {
                    frames.push(v);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
    assert_eq!(frames[0]["type"], "auth");
    assert_eq!(frames[0]["token"], "t");
    assert_eq!(frames[0]["resume"]["since"], 0, "a fresh device asks for everything");
    assert_eq!((&frames[1]["type"], &frames[1]["seq"]), (&Value::from("read"), &Value::from(7)));
    let sends: Vec<(&Value, &Value)> =
        frames[2..].iter().map(|f| (&f["type"], &f["client_msg_id"])).collect();
    let want: Vec<(Value, Value)> =
        ids.iter().map(|id| (Value::from("send"), Value::from(id.as_str()))).collect();
    assert_eq!(sends, want.iter().map(|(a, b)| (a, b)).collect::<Vec<_>>());
    assert!(frames[2..].iter().all(|f| f["id"].as_str().is_some_and(|i| i.starts_with("o:"))));
    client.close().await;
}
