//! Conversation and membership events reach exactly the right devices, and routing follows
//! membership changes live.

use std::time::Duration;

use chinwag_testkit::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_removals_change_who_gets_what_live() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let mut carol = server.connect("carol").await;

    let conv = server.group("alice", &["bob"]).await;
    for c in [&mut alice, &mut bob] {
        let ev = c.recv_type("conversation").await;
        assert_eq!(ev["conversation"]["id"], json!(conv));
        assert_eq!(ev["conversation"]["members"].as_array().unwrap().len(), 2);
    }

    let (status, _) = server
        .rest(
            &server.token("alice"),
            Method::POST,
            &format!("/v1/conversations/{conv}/members"),
            Some(json!({"user_id": "carol"})),
        )
        .await;
    assert_eq!(status, 201);
    let joined = carol.recv_type("conversation").await;
    assert_eq!(joined["conversation"]["id"], json!(conv));
    let added = bob.recv_type("member_added").await;
    assert_eq!(
        (added["conversation_id"].as_str(), added["member"]["user_id"].as_str()),
        (Some(conv.as_str()), Some("carol"))
    );

    // Carol's already-open connection now receives the conversation's messages.
    alice.send_msg(&conv, "m1", "welcome carol").await;
    assert_eq!(carol.messages(1).await[0]["body"], "welcome carol");

    let (status, _) = server
        .rest(
            &server.token("alice"),
            Method::DELETE,
            &format!("/v1/conversations/{conv}/members/carol"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let removed = carol.recv_type("member_removed").await;
    assert_eq!(removed["user_id"], "carol");
    let removed = bob.recv_type("member_removed").await;
    assert_eq!(removed["user_id"], "carol");

    alice.send_msg(&conv, "m2", "carol is gone").await;
    assert_eq!(bob.messages(2).await[1]["body"], "carol is gone");
    // Nothing more reaches carol, and she can no longer read or send.
    while let Ok(Some(f)) = carol.try_recv(Duration::from_millis(300)).await {
        assert_ne!(f["type"], "message", "carol got {f}");
    }
    let r = carol.send_msg(&conv, "c1", "still here?").await;
    assert_eq!(r["error"]["code"], "not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_one_device_updates_the_others() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    for i in 0..5 {
        alice.send_msg(&conv, &format!("m{i}"), "hi").await;
    }
    let mut phone = server.connect("bob").await;
    let mut laptop = server.connect("bob").await;
    let r = phone.request(json!({"type": "read", "conversation_id": conv, "seq": 3})).await;
    assert_eq!(r["type"], "ok");
    for device in [&mut phone, &mut laptop] {
        let ev = device.recv_type("read_updated").await;
        assert_eq!((ev["read_seq"].as_u64(), ev["unread"].as_u64()), (Some(3), Some(2)));
    }
    // Backwards is ignored; past the end is clamped.
    phone.request(json!({"type": "read", "conversation_id": conv, "seq": 1})).await;
    let ev = laptop.recv_type("read_updated").await;
    assert_eq!(ev["read_seq"], 3);
    phone.request(json!({"type": "read", "conversation_id": conv, "seq": 99})).await;
    let ev = laptop.recv_type("read_updated").await;
    assert_eq!((ev["read_seq"].as_u64(), ev["unread"].as_u64()), (Some(5), Some(0)));
    // Alice's devices hear nothing of Bob's read position (receipts are a separate feature).
    while let Ok(Some(f)) = alice.try_recv(Duration::from_millis(200)).await {
        assert_ne!(f["type"], "read_updated");
    }
    server.stop().await;
}
