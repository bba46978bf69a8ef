//! G4: a device that comes back gets everything it missed, in order, exactly once, and then live
//! messages with no gap at the seam.

use std::collections::BTreeSet;

use chinwag_testkit::{TestServer, WsClient, high_request_limits};
use serde_json::{Value, json};

async fn send_n(c: &mut WsClient, conv: &str, prefix: &str, n: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    for i in 0..n {
        let ack = c.send_msg(conv, &format!("{prefix}-{i}"), &format!("{prefix} {i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        seqs.push(ack["message"]["seq"].as_u64().unwrap());
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_for_500_messages_then_live_with_no_gap_at_the_seam() {
    let server = TestServer::start_with(high_request_limits).await;
    let conv = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    send_n(&mut alice, &conv, "before", 3).await;

    // Bob's device saw up to 3, then went away while 500 more were sent.
    send_n(&mut alice, &conv, "away", 500).await;

    // While Bob resumes, Alice keeps sending: some land before his replay is read, some after.
    let sender = {
        let mut alice2 = server.connect("alice").await;
        let conv = conv.clone();
        tokio::spawn(async move { send_n(&mut alice2, &conv, "seam", 200).await })
    };
    let resume = json!({"positions": [{"conversation_id": conv, "seq": 3}]});
    let mut bob = WsClient::connect_as(&server.ws_url(), &server.token("bob"), Some(resume)).await;
    let live_seqs = sender.await.unwrap();
    let last = *live_seqs.iter().max().unwrap();
    assert_eq!(last, 703);

    let mut got = Vec::new();
    let mut resumed: Option<Value> = None;
    while got.last().copied() != Some(last) {
        let f = bob.recv().await;
        match f["type"].as_str() {
            Some("message") => got.push(f["message"]["seq"].as_u64().unwrap()),
            Some("resumed") => resumed = Some(f),
            _ => {}
        }
    }
    assert_eq!(got, (4..=703).collect::<Vec<_>>(), "every missed and live message once, in order");
    let resumed = resumed.expect("a resumed reply");
    assert_eq!(resumed["id"], "auth");
    let r = &resumed["conversations"][0];
    assert_eq!(r["from_seq"], 3);
    assert_eq!(r["complete"], true);
    // Nothing more arrives: no duplicates trail behind.
    let extra = bob.try_recv(std::time::Duration::from_millis(300)).await.unwrap();
    assert!(extra.as_ref().is_none_or(|f| f["type"] != "message"), "unexpected {extra:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_learns_new_conversations_and_caps_long_replays() {
    let server = TestServer::start_with(|c| {
        high_request_limits(c);
        c.limits.resume_max_messages = 50;
    })
    .await;
    let known = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    send_n(&mut alice, &known, "k", 120).await;
    let mut bob = server.connect("bob").await;
    // The last fan-out window of alice's burst may reach bob live; the test is about what the
    // resume replays.
    bob.settle(std::time::Duration::from_millis(300)).await;
    let r = bob.request(json!({"type": "resume", "positions": [{"conversation_id": known, "seq": 0}], "since": 0})).await;
    // The reply comes after the replay; the replay stopped at the cap.
    assert_eq!(r["type"], "resumed", "{r}");
    let c = &r["conversations"][0];
    assert_eq!(
        (c["to_seq"].as_u64(), c["last_seq"].as_u64(), c["complete"].as_bool()),
        (Some(50), Some(120), Some(false))
    );
    let cursor = r["cursor"].as_i64().unwrap();
    let replayed = bob.messages(50).await;
    assert_eq!(replayed.first().unwrap()["seq"], 1);
    // The rest through history, from where the replay stopped.
    let page = bob
        .request(json!({"type": "history", "conversation_id": known, "after": 50, "limit": 200}))
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 70);
    assert_eq!(page["has_more"], false);
    drop(bob);

    // Bob is added to a conversation while away; resuming with `since` brings it and its messages.
    let fresh = server.group("alice", &["bob"]).await;
    send_n(&mut alice, &fresh, "f", 5).await;
    let resume = json!({"positions": [{"conversation_id": known, "seq": 120}], "since": cursor});
    let mut bob = WsClient::connect_as(&server.ws_url(), &server.token("bob"), Some(resume)).await;
    let conversation = bob.recv_type("conversation").await;
    assert_eq!(conversation["conversation"]["id"], json!(fresh));
    let msgs = bob.messages(5).await;
    assert!(msgs.iter().all(|m| m["conversation_id"] == json!(fresh)));
    let r = bob.recv_type("resumed").await;
    let ids: BTreeSet<&str> = r["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(fresh.as_str()) && !ids.contains(known.as_str()), "{r}");
    server.stop().await;
}
