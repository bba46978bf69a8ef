//! Live conversation state through real sockets: receipts (✓✓), unread counts, typing that
//! expires, presence with leases, drafts across devices; and G6/G7 for each new frame.

use std::time::Duration;

use chinwag_testkit::{Auth, TestServer, WsClient, silent_peer};
use reqwest::Method;
use serde_json::{Value, json};

fn fast(c: &mut chinwag::config::Config) {
    c.limits.requests_per_second = 10_000;
    c.limits.user_requests_per_second = 10_000;
}

/// Frames of `ty` that arrive within `wait` (others are dropped).
async fn collect(c: &mut WsClient, ty: &str, wait: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(Some(f)) = c.try_recv(wait).await {
        if f["type"] == ty {
            out.push(f);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_delivered_read_and_per_member_positions_in_a_group() {
    let server = TestServer::start_with(fast).await;
    let conv = server.group("alice", &["bob", "carol", "dave", "erin"]).await;
    let mut alice = server.connect("alice").await;
    let mut alice2 = server.connect("alice").await;
    let mut bob = server.connect("bob").await;

    let ack = alice.send_msg(&conv, "a1", "are you there?").await;
    let seq = ack["message"]["seq"].as_u64().unwrap();
    // Bob's device gets it and confirms delivery, as SDKs do automatically.
    assert_eq!(bob.messages(1).await[0]["seq"], seq);
    assert_eq!(
        bob.request(json!({"type": "received", "conversation_id": conv, "seq": seq})).await["type"],
        "ok"
    );
    for device in [&mut alice, &mut alice2] {
        let r = device.recv_type("receipt").await;
        assert_eq!(
            (r["user_id"].as_str(), r["delivered_seq"].as_u64(), r["read_seq"].as_u64()),
            (Some("bob"), Some(seq), Some(0))
        );
    }
    bob.request(json!({"type": "read", "conversation_id": conv, "seq": seq})).await;
    for device in [&mut alice, &mut alice2] {
        let r = device.recv_type("receipt").await;
        assert_eq!(
            (r["user_id"].as_str(), r["read_seq"].as_u64()),
            (Some("bob"), Some(seq)),
            "✓✓ read"
        );
    }
    // A repeated receipt that moves nothing is not broadcast.
    bob.request(json!({"type": "received", "conversation_id": conv, "seq": seq})).await;
    assert!(collect(&mut alice, "receipt", Duration::from_millis(300)).await.is_empty());

    // Five members, different positions: the conversation exposes who has read up to where.
    for i in 2..=5 {
        alice.send_msg(&conv, &format!("a{i}"), "more").await;
    }
    for (user, read) in [("carol", 2), ("dave", 5), ("erin", 0)] {
        if read > 0 {
            let (status, _) = server
                .rest(
                    &server.token(user),
                    Method::POST,
                    &format!("/v1/conversations/{conv}/read"),
                    Some(json!({"seq": read})),
                )
                .await;
            assert_eq!(status, 200);
        }
    }
    let (_, c) = server
        .rest(&server.token("alice"), Method::GET, &format!("/v1/conversations/{conv}"), None)
        .await;
    let positions: Vec<(String, u64, u64)> = c["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_owned(),
                m["delivered_seq"].as_u64().unwrap(),
                m["read_seq"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut positions = positions;
    positions.sort();
    assert_eq!(
        positions,
        [
            ("alice".into(), 5, 5),
            ("bob".into(), 1, 1),
            ("carol".into(), 2, 2),
            ("dave".into(), 5, 5),
            ("erin".into(), 0, 0)
        ]
    );

    // A device that reconnects learns the current watermarks with its resume.
    let resume = json!({"positions": [{"conversation_id": conv, "seq": 5}]});
    let mut back =
        WsClient::connect_as(&server.ws_url(), &server.token("alice"), Some(resume)).await;
    let mut receipts = Vec::new();
    loop {
        let f = back.recv().await;
        match f["type"].as_str() {
            Some("receipt") => receipts
                .push((f["user_id"].as_str().unwrap().to_owned(), f["read_seq"].as_u64().unwrap())),
            Some("resumed") => break,
            _ => {}
        }
    }
    receipts.sort();
    assert_eq!(receipts.len(), 5);
    assert!(receipts.contains(&("dave".into(), 5)) && receipts.contains(&("bob".into(), 1)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_are_exact_and_follow_the_user_across_devices() {
    let server = TestServer::start_with(fast).await;
    let conv = server.group("alice", &["bob", "carol"]).await;
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    for i in 0..15 {
        alice.send_msg(&conv, &format!("a{i}"), "x").await;
        bob.send_msg(&conv, &format!("b{i}"), "y").await;
    }
    // A brand-new conversation with unread messages for carol.
    let fresh = server.group("bob", &["carol"]).await;
    for i in 0..3 {
        bob.send_msg(&fresh, &format!("f{i}"), "z").await;
    }
    let carol_token = server.token("carol");
    let (_, list) = server.rest(&carol_token, Method::GET, "/v1/conversations", None).await;
    let unread: Vec<(String, u64)> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["unread"].as_u64().unwrap()))
        .collect();
    assert_eq!(unread, [(fresh.clone(), 3), (conv.clone(), 30)]);
    // Sending marks everything before it read for the sender: alice's last message was seq 29,
    // so only bob's last one (seq 30) is unread for her.
    let (_, list) =
        server.rest(&server.token("alice"), Method::GET, "/v1/conversations", None).await;
    assert_eq!(list["conversations"][0]["unread"], 1);

    let mut phone = server.connect("carol").await;
    let mut laptop = server.connect("carol").await;
    phone.request(json!({"type": "read", "conversation_id": conv, "seq": 10})).await;
    for device in [&mut phone, &mut laptop] {
        let ev = device.recv_type("read_updated").await;
        assert_eq!(
            (ev["read_seq"].as_u64(), ev["unread"].as_u64()),
            (Some(10), Some(20)),
            "one event, both devices"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_expires_on_the_server_and_is_not_echoed_to_the_typist() {
    let server = TestServer::start_with(|c| {
        fast(c);
        c.limits.typing_ttl_ms = 400;
    })
    .await;
    let conv = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    let mut alice_phone = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let mut outsider = server.connect("mallory").await;

    alice.request(json!({"type": "typing", "conversation_id": conv, "typing": true})).await;
    let started = bob.recv_type("typing").await;
    assert_eq!(
        (started["user_id"].as_str(), started["typing"].as_bool()),
        (Some("alice"), Some(true))
    );
    // The client crashes without `typing: false`: the server stops it within the lifetime.
    let t0 = std::time::Instant::now();
    let stopped = bob.recv_type("typing").await;
    assert_eq!(stopped["typing"], false);
    assert!(t0.elapsed() < Duration::from_millis(1_500), "stopped after {:?}", t0.elapsed());

    // Refreshes are not re-broadcast; an explicit stop is.
    for _ in 0..3 {
        alice.request(json!({"type": "typing", "conversation_id": conv, "typing": true})).await;
    }
    alice.request(json!({"type": "typing", "conversation_id": conv, "typing": false})).await;
    let seen = collect(&mut bob, "typing", Duration::from_millis(300)).await;
    let states: Vec<bool> = seen.iter().map(|f| f["typing"].as_bool().unwrap()).collect();
    assert_eq!(states, [true, false]);
    assert!(
        collect(&mut alice_phone, "typing", Duration::from_millis(200)).await.is_empty(),
        "no echo to the typist"
    );
    assert!(
        collect(&mut outsider, "typing", Duration::from_millis(100)).await.is_empty(),
        "no leak"
    );
    let r =
        outsider.request(json!({"type": "typing", "conversation_id": conv, "typing": true})).await;
    assert_eq!(r["error"]["code"], "not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_devices_and_leases_and_only_co_members_see_it() {
    let server = TestServer::start_with(|c| {
        fast(c);
        c.limits.heartbeat_ms = 200;
        c.limits.idle_timeout_ms = 600;
    })
    .await;
    server.group("alice", &["bob"]).await;
    let mut bob = server.connect("bob").await;
    let mut outsider = server.connect("mallory").await;

    let a1 = server.connect("alice").await;
    let ev = bob.recv_type("presence").await;
    assert_eq!((ev["user_id"].as_str(), ev["online"].as_bool()), (Some("alice"), Some(true)));
    let a2 = server.connect("alice").await;
    drop(a1);
    let r = bob.request(json!({"type": "presence", "users": ["alice", "mallory"]})).await;
    assert_eq!(
        r["users"],
        json!([{"user_id": "alice", "online": true}]),
        "mallory shares nothing with bob"
    );
    drop(a2);
    let ev = bob.recv_type("presence").await;
    assert_eq!(ev["online"], false);
    let last_seen = ev["last_seen"].as_i64().expect("last_seen with offline");
    let (_, r) =
        server.rest(&server.token("bob"), Method::GET, "/v1/presence?users=alice", None).await;
    assert_eq!(r["users"][0]["last_seen"], last_seen);
    assert_eq!(r["users"][0]["online"], false);

    // A connection that dies without a close frame or FIN (a silent peer) goes offline when its
    // lease lapses.
    let _silent = silent_peer(server.addr, &server.token("alice")).await;
    assert_eq!(bob.recv_type("presence").await["online"], true);
    let t0 = std::time::Instant::now();
    assert_eq!(bob.recv_type("presence").await["online"], false);
    assert!(t0.elapsed() < Duration::from_secs(3), "offline after {:?}", t0.elapsed());

    assert!(
        collect(&mut outsider, "presence", Duration::from_millis(200)).await.is_empty(),
        "no leak"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_sync_across_devices_conflict_when_stale_and_clear_on_send() {
    let server = TestServer::start_with(fast).await;
    let conv = server.group("alice", &["bob"]).await;
    let mut laptop = server.connect("alice").await;
    let mut phone = server.connect("alice").await;

    let saved = laptop
        .request(json!({"type": "draft", "conversation_id": conv, "version": 0, "body": "Hel"}))
        .await;
    assert_eq!(
        (saved["type"].as_str(), saved["draft"]["version"].as_u64()),
        (Some("draft_saved"), Some(1))
    );
    let synced = phone.recv_type("draft").await;
    assert_eq!(
        (synced["draft"]["body"].as_str(), synced["draft"]["version"].as_u64()),
        (Some("Hel"), Some(1))
    );

    // Both devices edit from version 1: the first wins, the second gets the current draft.
    let first = laptop
        .request(json!({"type": "draft", "conversation_id": conv, "version": 1, "body": "Hello"}))
        .await;
    assert_eq!(first["draft"]["version"], 2);
    assert_eq!(phone.recv_type("draft").await["draft"]["version"], 2, "the phone hears the winner");
    let second = phone
        .request(json!({"type": "draft", "conversation_id": conv, "version": 1, "body": "Help"}))
        .await;
    assert_eq!(second["error"]["code"], "conflict");
    assert_eq!(
        second["error"]["current"],
        json!({"version": 2, "body": "Hello", "updated_at": first["draft"]["updated_at"]})
    );

    // Sending clears it everywhere.
    laptop.send_msg(&conv, "m1", "Hello").await;
    let cleared = phone.recv_type("draft").await;
    assert_eq!(
        (cleared["draft"]["body"].as_str(), cleared["draft"]["version"].as_u64()),
        (Some(""), Some(3))
    );
    let r = server
        .call(
            Method::GET,
            &format!("/v1/conversations/{conv}/draft"),
            Auth::Bearer(&server.token("alice")),
            None,
        )
        .await;
    assert_eq!(r.body["version"], 3);
    // Bob sees none of Alice's drafts, and has his own.
    let r = server
        .call(
            Method::GET,
            &format!("/v1/conversations/{conv}/draft"),
            Auth::Bearer(&server.token("bob")),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"version": 0, "body": "", "updated_at": 0}));
    let r = server
        .call(
            Method::PUT,
            &format!("/v1/conversations/{conv}/draft"),
            Auth::Bearer(&server.token("bob")),
            Some(json!({"version": 5, "body": "x"})),
        )
        .await;
    r.assert_error(409, "conflict");
    server.stop().await;
}

/// A server with 1 KiB bodies, alice's and bob's conversation holding alice's "hi" as seq 1,
/// and alice's device.
async fn alice_and_bob_with_small_bodies() -> (TestServer, String, WsClient) {
    let server = TestServer::start_with(|c| {
        fast(c);
        c.limits.max_body_bytes = 1024;
    })
    .await;
    let conv = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    alice.send_msg(&conv, "m", "hi").await;
    (server, conv, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_frames_refuse_outsiders_and_bad_input_without_changing_state() {
    let (server, conv, mut alice) = alice_and_bob_with_small_bodies().await;
    let mut mallory = server.connect("mallory").await;
    let other_tenant =
        WsClient::connect_as(&server.ws_url(), &server.token_in(&"other".into(), "zed"), None)
            .await;
    for (client, who) in [(&mut mallory, "non-member"), (&mut { other_tenant }, "other tenant")] {
        for frame in [
            json!({"type": "received", "conversation_id": conv, "seq": 1}),
            json!({"type": "typing", "conversation_id": conv, "typing": true}),
            json!({"type": "draft", "conversation_id": conv, "version": 0, "body": "x"}),
        ] {
            let r = client.request(frame.clone()).await;
            assert_eq!(r["error"]["code"], "not_found", "{who}: {frame} → {r}");
        }
        let r = client.request(json!({"type": "presence", "users": ["alice", "bob"]})).await;
        assert_eq!(r["users"], json!([]), "{who} sees nobody's presence");
    }
    for (frame, code) in [
        (json!({"type": "typing", "conversation_id": conv, "typing": "yes"}), "invalid"),
        (json!({"type": "received", "conversation_id": conv}), "invalid"),
        (json!({"type": "draft", "conversation_id": conv, "version": -1, "body": "x"}), "invalid"),
        (
            json!({"type": "draft", "conversation_id": conv, "version": 0, "body": "x".repeat(2000)}),
            "too_large",
        ),
        (json!({"type": "presence", "users": vec!["u"; 201]}), "too_large"),
    ] {
        let r = alice.request(frame.clone()).await;
        assert_eq!(r["error"]["code"], code, "{frame} → {r}");
        assert!(r["id"].is_string(), "the error names the request");
    }
    let (_, c) = server
        .rest(&server.token("alice"), Method::GET, &format!("/v1/conversations/{conv}"), None)
        .await;
    let bob =
        c["members"].as_array().unwrap().iter().find(|m| m["user_id"] == "bob").unwrap().clone();
    assert_eq!(
        (bob["delivered_seq"].as_u64(), bob["read_seq"].as_u64()),
        (Some(0), Some(0)),
        "nothing moved"
    );
    let r = server
        .call(
            Method::GET,
            &format!("/v1/conversations/{conv}/draft"),
            Auth::Bearer(&server.token("alice")),
            None,
        )
        .await;
    assert_eq!(r.body["version"], 0, "no draft was stored");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_endpoints_refuse_outsiders_and_bad_input() {
    let (server, conv, _alice) = alice_and_bob_with_small_bodies().await;
    let base = format!("/v1/conversations/{conv}");
    let attempts = |key: &str| {
        vec![
            (Method::POST, format!("{base}/received"), Some(json!({"seq": 1}))),
            (Method::POST, format!("{base}/typing"), Some(json!({"typing": true}))),
            (Method::GET, format!("{base}/draft"), None),
            (Method::PUT, format!("{base}/draft"), Some(json!({"version": 0, "body": "x"}))),
            (
                Method::PATCH,
                format!("{base}/messages/1"),
                Some(json!({"client_msg_id": key, "body": "x"})),
            ),
            (Method::DELETE, format!("{base}/messages/1?client_msg_id={key}"), None),
            (
                Method::POST,
                format!("{base}/messages/1/reactions"),
                Some(json!({"client_msg_id": key, "emoji": "x", "add": true})),
            ),
        ]
    };
    for token in [server.token("mallory"), server.token_in(&"other".into(), "alice")] {
        for (method, path, body) in attempts("k") {
            server
                .call(method, &path, Auth::Bearer(&token), body)
                .await
                .assert_error(404, "not_found");
        }
        let r = server
            .call(Method::GET, "/v1/presence?users=alice,bob", Auth::Bearer(&token), None)
            .await;
        let users = r.body["users"].as_array().unwrap().clone();
        assert!(users.iter().all(|u| u["user_id"] == "alice"), "only oneself: {users:?}");
    }
    let alice_token = server.token("alice");
    for (method, path, body, status, code) in [
        (Method::POST, format!("{base}/received"), json!({"seq": "one"}), 400, "invalid"),
        (
            Method::POST,
            format!("{base}/typing"),
            json!({"typing": true, "extra": 1}),
            400,
            "invalid",
        ),
        (
            Method::PUT,
            format!("{base}/draft"),
            json!({"version": 0, "body": "x".repeat(2000)}),
            413,
            "too_large",
        ),
        (
            Method::PATCH,
            format!("{base}/messages/1"),
            json!({"client_msg_id": "e", "body": "x".repeat(2000)}),
            413,
            "too_large",
        ),
        (
            Method::POST,
            format!("{base}/messages/1/reactions"),
            json!({"client_msg_id": "r", "emoji": "", "add": true}),
            400,
            "invalid",
        ),
    ] {
        server
            .call(method, &path, Auth::Bearer(&alice_token), Some(body))
            .await
            .assert_error(status, code);
    }
    server
        .call_raw(
            Method::PUT,
            &format!("{base}/draft"),
            Auth::Bearer(&alice_token),
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await
        .assert_error(400, "malformed");
    // Nothing changed: no draft, message 1 as sent.
    let r =
        server.call(Method::GET, &format!("{base}/draft"), Auth::Bearer(&alice_token), None).await;
    assert_eq!(r.body["version"], 0);
    let r = server
        .call(Method::GET, &format!("{base}/messages"), Auth::Bearer(&alice_token), None)
        .await;
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["messages"][0]["body"], "hi");
    server.stop().await;
}
