//! G5: a client that stops reading is cut off with `slow_consumer` (4008) while everyone else
//! keeps receiving every message; it then recovers everything through resume (G4).

use std::time::Duration;

use chinwag_testkit::{TestServer, WsClient, high_request_limits};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

const SENDERS: usize = 10;
const PER_SENDER: usize = 2_000;
const TOTAL: u64 = (SENDERS * PER_SENDER) as u64;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// A client whose socket has a tiny receive buffer, so that not reading fills it at once.
async fn tiny_window_client(server: &TestServer, user: &str) -> WsClient {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    let mut c = WsClient::from_ws(ws);
    c.send(json!({"type": "auth", "id": 1, "token": server.token(user)})).await;
    assert_eq!(c.recv().await["type"], "authed");
    c
}

/// Send `n` messages without waiting for each ack (pipelined), then wait for all acks.
async fn pipelined_sender(url: String, token: String, conv: String, name: String) {
    let c = WsClient::connect_as(&url, &token, None).await;
    let (mut sink, mut stream) = c.ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..PER_SENDER {
            let f = json!({"type": "send", "id": i, "conversation_id": conv, "client_msg_id": format!("{name}-{i}"), "body": "flowing message body"});
            sink.send(Message::text(f.to_string())).await.unwrap();
        }
        sink
    });
    let mut acks = 0;
    while acks < PER_SENDER {
        let t = match stream.next().await {
            Some(Ok(Message::Text(t))) => t,
            // The server's heartbeat (the client library answers it).
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("sender lost its connection after {acks} acks: {other:?}"),
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => panic!("send failed: {v}"),
            _ => {}
        }
    }
    let _ = writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_cut_off_others_get_everything_and_it_recovers() {
    let server = TestServer::start_with(|c| {
        high_request_limits(c);
        c.limits.resume_max_messages = 50_000;
        // The kernel alone can absorb megabytes for a stalled loopback socket (tcp_wmem up to
        // 4 MiB): smaller caps make the rule bite within this test's traffic. Both: fan-out
        // windows pack many messages into one queue entry, so the byte bound is the one a busy
        // conversation reaches.
        c.limits.outbound_queue_frames = 1_000;
        c.limits.outbound_queue_bytes = 256 * 1024;
        c.limits.write_timeout_ms = 2_000;
    })
    .await;
    let senders: Vec<String> = (0..SENDERS).map(|i| format!("s{i}")).collect();
    let mut members: Vec<&str> = senders.iter().map(String::as_str).collect();
    members.extend(["bob", "carol"]);
    let conv = server.group("owner", &members).await;

    let mut carol = tiny_window_client(&server, "carol").await;
    // Bob reads everything as it comes and checks the order.
    let mut bob = server.connect("bob").await;
    let bob_task = tokio::spawn(async move {
        let mut next = 1;
        while next <= TOTAL {
            let v = bob.recv().await;
            if v["type"] == "message" {
                assert_eq!(
                    v["message"]["seq"].as_u64(),
                    Some(next),
                    "bob sees every message in order"
                );
                next += 1;
            }
        }
    });
    let rss_before = rss_kib();
    let mut tasks = Vec::new();
    for s in &senders {
        tasks.push(tokio::spawn(pipelined_sender(
            server.ws_url(),
            server.token(s),
            conv.clone(),
            s.clone(),
        )));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), bob_task).await.expect("bob kept up").unwrap();
    let rss_growth_mib = rss_kib().saturating_sub(rss_before) / 1024;

    let metrics = server.node.services.metrics().render();
    let overflows: u64 = metrics
        .lines()
        .find(|l| l.starts_with("chinwag_queue_overflows_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .expect("overflow metric");
    assert!(overflows >= 1, "carol was cut off as a slow consumer");
    // Carol's backlog was dropped, not kept: 20,000 messages to her would not fit the queue caps,
    // and the whole process (server and every client) grew by far less than the traffic.
    assert!(rss_growth_mib < 64, "memory grew by {rss_growth_mib} MiB");

    // Carol reads again: what the socket already held, then the close code.
    let mut seen = Vec::new();
    let closed = loop {
        match carol.try_recv(Duration::from_secs(10)).await {
            Ok(Some(v)) if v["type"] == "message" => {
                seen.push(v["message"]["seq"].as_u64().unwrap())
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("carol was neither closed nor fed"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, Some(4008), "slow_consumer close code: {closed:?}");
    assert_eq!(
        seen,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "what arrived is a gapless prefix"
    );
    assert!((seen.len() as u64) < TOTAL);

    let last = seen.last().copied().unwrap_or(0);
    let resume = json!({"positions": [{"conversation_id": conv, "seq": last}]});
    let mut carol =
        WsClient::connect_as(&server.ws_url(), &server.token("carol"), Some(resume)).await;
    let rest = carol.messages((TOTAL - last) as usize).await;
    let rest: Vec<u64> = rest.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        rest,
        (last + 1..=TOTAL).collect::<Vec<_>>(),
        "carol recovers everything, once, in order"
    );
    eprintln!(
        "carol had {} of {TOTAL} when cut off; overflows={overflows}; rss growth {rss_growth_mib} MiB",
        seen.len()
    );
    server.stop().await;
}
