//! Edits, deletes, replies and reactions are events with their own seq: a device that was away
//! and resumes ends with exactly the state of a device that stayed online, and of history.

use std::collections::BTreeMap;

use chinwag_testkit::{Auth, TestServer, WsClient};
use reqwest::Method;
use serde_json::{Value, json};

/// A client's view of a conversation, built only from `message` events, as an SDK would.
#[derive(Default, Debug, PartialEq)]
struct View(BTreeMap<u64, Value>);

impl View {
    fn apply(&mut self, m: &Value) {
        let mut m = m.clone();
        if let Some(target) = m["target"].as_u64() {
            self.0.insert(target, m["payload"]["message"].clone());
            // The event itself is kept too: it is part of the conversation's sequence.
            m["payload"] = Value::Null;
        }
        self.0.insert(m["seq"].as_u64().unwrap(), m);
    }

    /// The messages that are not lifecycle events, keyed by seq.
    fn messages(&self) -> BTreeMap<u64, Value> {
        self.0.iter().filter(|(_, m)| m["target"].is_null()).map(|(k, v)| (*k, v.clone())).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_device_converges_with_one_that_stayed_online() {
    let server = TestServer::start_with(|c| {
        c.limits.requests_per_second = 10_000;
        c.limits.user_requests_per_second = 10_000;
    })
    .await;
    let conv = server.group("alice", &["bob", "carol"]).await;
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let mut online = server.connect("carol").await;
    let mut online_view = View::default();

    for i in 1..=3 {
        alice.send_msg(&conv, &format!("a{i}"), &format!("message {i}")).await;
    }
    for m in online.messages(3).await {
        online_view.apply(&m);
    }
    // Carol's second device goes away at seq 3.
    let mut away_view = View::default();
    for m in &online_view.0 {
        away_view.0.insert(*m.0, m.1.clone());
    }

    // While it is away: a reply, an edit, reactions, a delete by the sender and one by an admin.
    let reply = bob.request(json!({"type": "send", "conversation_id": conv, "client_msg_id": "b1", "body": "replying", "reply_to": 1})).await;
    assert_eq!(reply["message"]["reply_to"], 1);
    let edit = alice.request(json!({"type": "edit", "conversation_id": conv, "seq": 1, "client_msg_id": "e1", "body": "message 1 (edited)"})).await;
    assert_eq!(
        (edit["type"].as_str(), edit["target"]["body"].as_str()),
        (Some("amended"), Some("message 1 (edited)"))
    );
    assert_eq!(edit["event"]["kind"], "edit");
    let retry = alice.request(json!({"type": "edit", "conversation_id": conv, "seq": 1, "client_msg_id": "e1", "body": "message 1 (edited)"})).await;
    assert_eq!(
        (retry["duplicate"].as_bool(), &retry["event"]["seq"]),
        (Some(true), &edit["event"]["seq"]),
        "idempotent"
    );
    for (who, emoji) in [("bob", "👍"), ("alice", "👍"), ("bob", "🎉")] {
        let who = if who == "bob" { &mut bob } else { &mut alice };
        let r = who.request(json!({"type": "react", "conversation_id": conv, "seq": 2, "client_msg_id": format!("r-{emoji}-{}", rand_id()), "emoji": emoji, "add": true})).await;
        assert_eq!(r["type"], "amended", "{r}");
    }
    bob.request(json!({"type": "react", "conversation_id": conv, "seq": 2, "client_msg_id": "r-off", "emoji": "🎉", "add": false})).await;
    let forbidden = bob.request(json!({"type": "edit", "conversation_id": conv, "seq": 2, "client_msg_id": "x1", "body": "not mine"})).await;
    assert_eq!(forbidden["error"]["code"], "forbidden");
    let forbidden = bob
        .request(
            json!({"type": "delete", "conversation_id": conv, "seq": 3, "client_msg_id": "x2"}),
        )
        .await;
    assert_eq!(forbidden["error"]["code"], "forbidden", "a member deletes only their own");
    let del = alice
        .request(
            json!({"type": "delete", "conversation_id": conv, "seq": 3, "client_msg_id": "d1"}),
        )
        .await;
    assert_eq!(del["target"]["deleted"], true);
    let by_admin = alice
        .request(
            json!({"type": "delete", "conversation_id": conv, "seq": 4, "client_msg_id": "d2"}),
        )
        .await;
    assert_eq!(by_admin["target"]["deleted"], true, "the owner deletes bob's reply");
    let again = alice.request(json!({"type": "edit", "conversation_id": conv, "seq": 3, "client_msg_id": "e9", "body": "back"})).await;
    assert_eq!(again["error"]["code"], "conflict", "a deleted message stays deleted");
    let fake = alice.request(json!({"type": "send", "conversation_id": conv, "client_msg_id": "f1", "kind": "edit", "body": "x"})).await;
    assert_eq!(fake["error"]["code"], "forbidden", "lifecycle kinds cannot be sent");

    // The device that stayed online applied every event live.
    let last =
        del["event"]["seq"].as_u64().unwrap().max(by_admin["event"]["seq"].as_u64().unwrap());
    while online_view.0.keys().last().copied() != Some(last) {
        let f = online.recv().await;
        if f["type"] == "message" {
            online_view.apply(&f["message"]);
        }
    }
    // The one that was away resumes from seq 3 and applies the replay.
    let resume = json!({"positions": [{"conversation_id": conv, "seq": 3}]});
    let mut back =
        WsClient::connect_as(&server.ws_url(), &server.token("carol"), Some(resume)).await;
    loop {
        let f = back.recv().await;
        match f["type"].as_str() {
            Some("message") => away_view.apply(&f["message"]),
            Some("resumed") => break,
            _ => {}
        }
    }
    assert_eq!(away_view, online_view, "same state after resume as online");

    // And history returns the current state of each message.
    let r = server
        .call(
            Method::GET,
            &format!("/v1/conversations/{conv}/messages?after=0&limit=200"),
            Auth::Bearer(&server.token("carol")),
            None,
        )
        .await;
    let history: BTreeMap<u64, Value> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["target"].is_null())
        .map(|m| (m["seq"].as_u64().unwrap(), m.clone()))
        .collect();
    assert_eq!(history, online_view.messages());
    assert_eq!(history[&1]["body"], "message 1 (edited)");
    assert!(history[&1]["edited_at"].is_i64());
    assert_eq!(history[&2]["reactions"], json!({"👍": ["bob", "alice"]}));
    assert_eq!(
        (history[&3]["deleted"].as_bool(), history[&3]["body"].as_str()),
        (Some(true), Some(""))
    );
    assert_eq!(history[&4]["reply_to"], 1);

    // REST equivalents.
    let token = server.token("bob");
    let r = server
        .call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages/2/reactions"),
            Auth::Bearer(&token),
            Some(json!({"client_msg_id": "rest-r", "emoji": "🔥", "add": true})),
        )
        .await;
    assert_eq!((r.status, r.body["target"]["reactions"]["🔥"].clone()), (201, json!(["bob"])));
    let r = server
        .call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}/messages/2"),
            Auth::Bearer(&token),
            Some(json!({"client_msg_id": "rest-e", "body": "mine?"})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = server
        .call(
            Method::DELETE,
            &format!("/v1/conversations/{conv}/messages/99?client_msg_id=rest-d"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    r.assert_error(404, "not_found");
    server.stop().await;
}

fn rand_id() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
