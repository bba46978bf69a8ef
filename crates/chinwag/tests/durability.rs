//! G1 (acked means durable) and G2 (idempotent sends), against the real binary killed with
//! SIGKILL and against graceful restarts.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chinwag_testkit::{
    ChildServer, TestServer, WsClient, create_conversation, full_history, mint_token,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");

async fn mint(http: &reqwest::Client, base: &str, user: &str) -> String {
    mint_token(http, base, user, None).await
}

/// Send messages one after another until the connection dies; return what was acknowledged
/// (client_msg_id → (seq, id)) and the id that was in flight when it died.
async fn sender(
    url: String,
    token: String,
    conv: String,
    name: String,
) -> (Vec<(String, u64, String)>, Option<String>) {
    let mut acked = Vec::new();
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async_with_config(&url, None, true).await
    else {
        return (acked, None);
    };
    if ws
        .send(Message::text(json!({"type": "auth", "id": 0, "token": token}).to_string()))
        .await
        .is_err()
    {
        return (acked, None);
    }
    let mut i = 0u64;
    let mut in_flight = None;
    loop {
        let Some(Ok(msg)) = ws.next().await else { return (acked, in_flight) };
        let Message::Text(t) = msg else { continue };
        let f: Value = serde_json::from_str(&t).unwrap();
        match f["type"].as_str() {
            Some("ack") => {
                let m = &f["message"];
                acked.push((
                    m["client_msg_id"].as_str().unwrap().to_owned(),
                    m["seq"].as_u64().unwrap(),
                    m["id"].as_str().unwrap().to_owned(),
                ));
            }
            Some("authed") => {}
            Some("error") => panic!("unexpected error: {f}"),
            _ => continue,
        }
        let id = format!("{name}-{i}");
        i += 1;
        let frame = json!({"type": "send", "id": i, "conversation_id": conv, "client_msg_id": id, "body": "durable"});
        in_flight = Some(id);
        if ws.send(Message::text(frame.to_string())).await.is_err() {
            return (acked, in_flight);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_senders_never_loses_an_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut server = ChildServer::start(BIN.as_ref(), dir.path()).await;
    let base = server.url("");
    let owner = mint(&http, &base, "owner").await;
    let senders: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let conv =
        create_conversation(&http, &base, &owner, json!({"kind": "group", "members": senders}))
            .await;

    let mut acked: HashMap<String, (u64, String)> = HashMap::new();
    let mut in_flight = Vec::new();
    for round in 0..5 {
        if round > 0 {
            server = ChildServer::start(BIN.as_ref(), dir.path()).await;
        }
        let base = server.url("");
        let mut tasks = Vec::new();
        for s in &senders {
            let token = mint(&http, &base, s).await;
            tasks.push(tokio::spawn(sender(
                server.ws_url(),
                token,
                conv.clone(),
                format!("{s}-r{round}"),
            )));
        }
        let pause = 300 + rand_ms(round) % 700;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.kill();
        for t in tasks {
            let (got, flying) = t.await.unwrap();
            for (cid, seq, id) in got {
                assert!(acked.insert(cid, (seq, id)).is_none(), "an ack repeated");
            }
            in_flight.extend(flying);
        }
    }
    assert!(acked.len() > 100, "the senders got going ({} acks)", acked.len());

    let server = ChildServer::start(BIN.as_ref(), dir.path()).await;
    let base = server.url("");
    let token = mint(&http, &base, "owner").await;
    // Retrying what was in flight at each kill never duplicates (G2 across crashes).
    let mut retry_client =
        WsClient::connect_as(&server.ws_url(), &mint(&http, &base, "s0").await, None).await;
    for cid in in_flight.iter().filter(|c| c.starts_with("s0-")) {
        let ack = retry_client.send_msg(&conv, cid, "durable").await;
        assert_eq!(ack["type"], "ack", "{ack}");
        if let Some((seq, id)) = acked.get(cid) {
            assert_eq!(
                (ack["message"]["seq"].as_u64().unwrap(), ack["message"]["id"].as_str().unwrap()),
                (*seq, id.as_str())
            );
            assert_eq!(ack["duplicate"], true);
        }
    }

    let history = full_history(&http, &base, &token, &conv).await;
    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seq gapless from 1");
    let mut by_cid: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for m in &history {
        by_cid
            .entry(format!(
                "{}/{}",
                m["sender"].as_str().unwrap(),
                m["client_msg_id"].as_str().unwrap()
            ))
            .or_default()
            .push((m["seq"].as_u64().unwrap(), m["id"].as_str().unwrap().to_owned()));
    }
    assert!(by_cid.values().all(|v| v.len() == 1), "every message stored exactly once");
    for (cid, (seq, id)) in &acked {
        let sender = cid.split('-').next().unwrap();
        let stored = by_cid
            .get(&format!("{sender}/{cid}"))
            .unwrap_or_else(|| panic!("acked {cid} was lost"));
        assert_eq!(stored[0], (*seq, id.clone()), "acked {cid} kept its seq and id");
    }
    eprintln!(
        "{} acknowledged messages over 5 SIGKILLs, {} stored, none lost",
        acked.len(),
        history.len()
    );
}

/// Spread the kill moments without a random-number dependency in the test.
fn rand_ms(round: u64) -> u64 {
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
            as u64;
    t.wrapping_mul(2654435761).wrapping_add(round * 7919)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_client_msg_id_on_one_connection_after_reconnect_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestServer::test_config(dir.path());
    let server = TestServer::start_config(config.clone()).await;
    let conv = server.group("alice", &["bob"]).await;
    let mut a = server.connect("alice").await;
    let first = a.send_msg(&conv, "m-1", "once").await;
    assert_eq!(first["duplicate"], false);
    let again = a.send_msg(&conv, "m-1", "once").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"], first["message"], "same id, seq, created_at");
    // A different body with the same key is still the original: the key decides.
    let changed = a.send_msg(&conv, "m-1", "twice?").await;
    assert_eq!(changed["message"]["body"], "once");
    // Another user may use the same client_msg_id: it is a different message.
    let mut b = server.connect("bob").await;
    let bobs = b.send_msg(&conv, "m-1", "bob's").await;
    assert_eq!(
        (bobs["duplicate"].as_bool(), bobs["message"]["seq"].as_u64()),
        (Some(false), Some(2))
    );
    drop(a);

    let mut a = server.connect("alice").await;
    let reconnected = a.send_msg(&conv, "m-1", "once").await;
    assert_eq!(reconnected["message"], first["message"]);
    server.stop().await;

    let server = TestServer::start_config(config).await;
    let mut a = server.connect("alice").await;
    let restarted = a.send_msg(&conv, "m-1", "once").await;
    assert_eq!(restarted["message"], first["message"]);
    assert_eq!(restarted["duplicate"], true);
    let page = a.request(json!({"type": "history", "conversation_id": conv})).await;
    let bodies: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["once", "bob's"], "one stored row per (sender, client_msg_id)");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_clients_with_service_restart_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut server = ChildServer::start(BIN.as_ref(), dir.path()).await;
    let token = mint(&http, &server.url(""), "alice").await;
    let mut c = WsClient::connect_as(&server.ws_url(), &token, None).await;
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    let closed = c.closed().await;
    assert_eq!(closed.code, Some(1012), "{closed:?}");
    assert!(closed.reason.starts_with("retry_after_ms="), "{closed:?}");
    assert!(status.success(), "exit status {status:?}");
}
