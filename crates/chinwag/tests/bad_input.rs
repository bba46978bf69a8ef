//! G7: malformed, oversized, unknown or unauthorized input gets a typed error (with the request `id`
//! where there is one), leaves the state as it was, and abuse is cut off without hurting others.

use std::time::Duration;

use chinwag_testkit::{Auth, TestServer, WsClient, high_request_limits};
use futures_util::SinkExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// What the members of `conv` see: the history and both members' conversation lists.
async fn snapshot(server: &TestServer, conv: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for user in ["alice", "bob"] {
        let token = server.token(user);
        for path in [format!("/v1/conversations/{conv}/messages"), "/v1/conversations".to_owned()] {
            let r = server.call(Method::GET, &path, Auth::Bearer(&token), None).await;
            assert_eq!(r.status, 200, "{r:?}");
            out.push(r.body);
        }
    }
    out
}

/// A group of alice and bob with three messages.
async fn conversation_with_history(server: &TestServer) -> String {
    let conv = server.group("alice", &["bob"]).await;
    let mut alice = server.connect("alice").await;
    for i in 1..=3 {
        assert_eq!(
            alice.send_msg(&conv, &format!("m{i}"), &format!("hello {i}")).await["type"],
            "ack"
        );
    }
    conv
}

/// The next frame that is not a message event. The history written before this connection
/// opened may still reach it live: a busy conversation's events go out once per fan-out window.
async fn next_reply(c: &mut WsClient) -> Value {
    loop {
        let frame = c.recv().await;
        if frame["type"] != "message" {
            return frame;
        }
    }
}

/// The connection still answers: a ping gets its pong.
async fn assert_usable(c: &mut WsClient, after: &str) {
    let pong = c.request(json!({"type": "ping", "ts": 1})).await;
    assert_eq!((&pong["type"], &pong["ts"]), (&json!("pong"), &json!(1)), "after {after}: {pong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_typed_errors_and_the_connection_stays_usable() {
    let server = TestServer::start_with(high_request_limits).await;
    let conv = conversation_with_history(&server).await;
    let before = snapshot(&server, &conv).await;
    let max_body = server.config.limits.max_body_bytes;
    let send = |id: &str, fields: Value| {
        let mut f = json!({"type": "send", "id": id, "conversation_id": conv, "client_msg_id": "bad", "body": "x"});
        for (k, v) in fields.as_object().unwrap() {
            f[k] = v.clone();
        }
        f.to_string()
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    // (frame, expected code, expected reply id)
    let cases: Vec<(String, &str, Value)> = vec![
        ("{nope".into(), "malformed", Value::Null),
        ("".into(), "malformed", Value::Null),
        ("[1, 2]".into(), "malformed", Value::Null),
        ("42".into(), "malformed", Value::Null),
        ("null".into(), "malformed", Value::Null),
        (r#""auth""#.into(), "malformed", Value::Null),
        (deep, "malformed", Value::Null),
        (r#"{"type": "fly", "id": "u1"}"#.into(), "unknown_type", json!("u1")),
        (r#"{"type": "fly", "id": 17}"#.into(), "unknown_type", json!(17)),
        (r#"{"type": "", "id": "u2"}"#.into(), "unknown_type", json!("u2")),
        (r#"{"id": "t1"}"#.into(), "invalid", json!("t1")),
        (r#"{"type": 7, "id": "t2"}"#.into(), "invalid", json!("t2")),
        (r#"{"type": "ping", "id": {"x": 1}}"#.into(), "invalid", Value::Null),
        (r#"{"type": "ping", "id": [1]}"#.into(), "invalid", Value::Null),
        (r#"{"type": "ping", "id": true}"#.into(), "invalid", Value::Null),
        (r#"{"type": "send", "id": "f1", "body": "x"}"#.into(), "invalid", json!("f1")),
        (send("f2", json!({"body": 5})), "invalid", json!("f2")),
        (send("f3", json!({"conversation_id": ["a"]})), "invalid", json!("f3")),
        (send("f4", json!({"payload": 1, "kind": 3})), "invalid", json!("f4")),
        (send("f5", json!({"conversation_id": ""})), "invalid", json!("f5")),
        (send("f6", json!({"kind": "NOT A KIND"})), "invalid", json!("f6")),
        (send("f7", json!({"body": ""})), "invalid", json!("f7")),
        (send("f8", json!({"kind": "system"})), "forbidden", json!("f8")),
        (send("f9", json!({"conversation_id": "c".repeat(300)})), "too_large", json!("f9")),
        (send("f10", json!({"client_msg_id": "m".repeat(300)})), "too_large", json!("f10")),
        (send("big1", json!({"body": "x".repeat(max_body + 1)})), "too_large", json!("big1")),
        (
            send("big2", json!({"body": "x", "payload": {"blob": "y".repeat(max_body)}})),
            "too_large",
            json!("big2"),
        ),
        (
            format!(r#"{{"type": "read", "id": "r1", "conversation_id": "{conv}", "seq": "x"}}"#),
            "invalid",
            json!("r1"),
        ),
        (
            format!(r#"{{"type": "read", "id": "r2", "conversation_id": "{conv}", "seq": -1}}"#),
            "invalid",
            json!("r2"),
        ),
        (
            format!(r#"{{"type": "read", "id": "r3", "conversation_id": "{conv}", "seq": 1e400}}"#),
            "malformed",
            // Not valid JSON as a whole, but its id is readable, so the reply names it.
            json!("r3"),
        ),
        (
            format!(
                r#"{{"type": "history", "id": "h1", "conversation_id": "{conv}", "limit": "ten"}}"#
            ),
            "invalid",
            json!("h1"),
        ),
        (
            format!(
                r#"{{"type": "history", "id": "h2", "conversation_id": "{conv}", "limit": 100000}}"#
            ),
            "too_large",
            json!("h2"),
        ),
        (
            format!(
                r#"{{"type": "history", "id": "h3", "conversation_id": "{conv}", "limit": 0}}"#
            ),
            "invalid",
            json!("h3"),
        ),
        (
            format!(
                r#"{{"type": "history", "id": "h4", "conversation_id": "{conv}", "before": 3, "after": 1}}"#
            ),
            "invalid",
            json!("h4"),
        ),
        (r#"{"type": "resume", "id": "s1", "positions": "all"}"#.into(), "invalid", json!("s1")),
        (
            format!(
                r#"{{"type": "resume", "id": "s2", "positions": [{{"conversation_id": "{conv}"}}]}}"#
            ),
            "invalid",
            json!("s2"),
        ),
        (r#"{"type": "auth", "id": "a1"}"#.into(), "invalid", json!("a1")),
        (
            r#"{"type": "auth", "id": "a2", "token": "garbage"}"#.into(),
            "unauthenticated",
            json!("a2"),
        ),
    ];

    let mut alice = server.connect("alice").await;
    for (frame, code, id) in &cases {
        let shown = &frame[..frame.len().min(80)];
        alice.send_text(frame).await;
        let reply = next_reply(&mut alice).await;
        assert_eq!(reply["type"], "error", "{shown}: {reply}");
        assert_eq!(reply["error"]["code"], *code, "{shown}: {reply}");
        assert_eq!(reply["id"], *id, "{shown}: {reply}");
        assert!(
            reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty() && m.len() < 1024),
            "{reply}"
        );
        assert_usable(&mut alice, shown).await;
    }
    alice.send_binary(vec![0xff, 0x00, 0x13, 0x37]).await;
    let reply = next_reply(&mut alice).await;
    assert_eq!(
        (&reply["error"]["code"], &reply["id"]),
        (&json!("malformed"), &Value::Null),
        "{reply}"
    );
    assert_usable(&mut alice, "binary junk").await;

    // A burst of garbage: one error each, and nothing else changes.
    let junk = [
        "{",
        "}",
        "[]",
        "\u{0}",
        "{\"type\":",
        "💥",
        "{\"type\":\"send\"}",
        "1e99999",
        "{\"id\":[]}",
        "tru",
    ];
    for i in 0..200 {
        alice.send_text(junk[i % junk.len()]).await;
    }
    for i in 0..200 {
        let reply = next_reply(&mut alice).await;
        assert_eq!(reply["type"], "error", "garbage #{i}: {reply}");
    }
    assert_usable(&mut alice, "200 garbage frames").await;
    let mut bob = server.connect("bob").await;
    assert_usable(&mut bob, "someone else's garbage").await;

    assert_eq!(snapshot(&server, &conv).await, before, "bad input changed nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_websocket_message_closes_1009_and_hurts_no_one_else() {
    let server = TestServer::start().await;
    let conv = conversation_with_history(&server).await;
    let before = snapshot(&server, &conv).await;
    let too_big = server.config.limits.max_frame_bytes + 1;
    let mut bob = server.connect("bob").await;

    let mut alice = server.connect("alice").await;
    let body = "x".repeat(too_big);
    let frame = json!({"type": "send", "id": 1, "conversation_id": conv, "client_msg_id": "huge", "body": body});
    alice.send_text(&frame.to_string()).await;
    assert_eq!(alice.closed().await.code, Some(1009));

    // Before authenticating, too.
    let mut anonymous = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
    anonymous.send_text(&"x".repeat(too_big)).await;
    assert_eq!(anonymous.closed().await.code, Some(1009));

    assert_usable(&mut bob, "someone else's huge frame").await;
    assert_eq!(snapshot(&server, &conv).await, before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_that_is_not_utf8_closes_1007() {
    let server = TestServer::start().await;
    let not_utf8 = || {
        Message::Frame(Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true))
    };
    let mut bob = server.connect("bob").await;
    let mut alice = server.connect("alice").await;
    alice.ws.send(not_utf8()).await.expect("send");
    assert_eq!(alice.closed().await.code, Some(1007), "invalid_payload, as docs/protocol.md says");

    let mut anonymous = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
    anonymous.ws.send(not_utf8()).await.expect("send");
    assert_eq!(anonymous.closed().await.code, Some(1007), "before authenticating, too");
    assert_usable(&mut bob, "someone else's broken frame").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rest_input_gets_typed_errors_and_changes_nothing() {
    let limit = 4096;
    let server = TestServer::start_with(|c| c.limits.max_http_body_bytes = limit).await;
    let conv = conversation_with_history(&server).await;
    let before = snapshot(&server, &conv).await;
    let alice = server.token("alice");
    let auth = Auth::Bearer(&alice);
    let messages = format!("/v1/conversations/{conv}/messages");
    let json_ct = Some("application/json");

    let raw = |path: &str, ct: Option<&'static str>, body: Vec<u8>| {
        let path = path.to_owned();
        let server = &server;
        async move { server.call_raw(Method::POST, &path, auth, ct, body).await }
    };
    raw(&messages, json_ct, b"{\"client_msg_id\": ".to_vec()).await.assert_error(400, "malformed");
    raw(&messages, json_ct, b"".to_vec()).await.assert_error(400, "malformed");
    raw(&messages, json_ct, vec![0xff, 0xfe, 0x00]).await.assert_error(400, "malformed");
    raw(&messages, json_ct, b"[1, 2]".to_vec()).await.assert_error(400, "invalid");
    raw(&messages, None, br#"{"client_msg_id": "a", "body": "x"}"#.to_vec())
        .await
        .assert_error(400, "malformed");
    raw(&messages, Some("text/plain"), br#"{"client_msg_id": "a", "body": "x"}"#.to_vec())
        .await
        .assert_error(400, "malformed");

    let post = |path: &str, body: Value| {
        let path = path.to_owned();
        let server = &server;
        async move { server.call(Method::POST, &path, auth, Some(body)).await }
    };
    post(&messages, json!({"client_msg_id": 5, "body": "x"})).await.assert_error(400, "invalid");
    post(&messages, json!({"body": "x"})).await.assert_error(400, "invalid");
    post(&messages, json!({"client_msg_id": "a", "body": "x", "payload": 1, "kind": ["text"]}))
        .await
        .assert_error(400, "invalid");
    post(&format!("/v1/conversations/{conv}/read"), json!({"seq": "all"}))
        .await
        .assert_error(400, "invalid");
    post(&format!("/v1/conversations/{conv}/read"), json!({"seq": -3}))
        .await
        .assert_error(400, "invalid");
    post("/v1/conversations", json!({"kind": "channel", "members": []}))
        .await
        .assert_error(400, "invalid");
    post("/v1/conversations", json!({"kind": "group", "members": "bob"}))
        .await
        .assert_error(400, "invalid");
    post(&format!("/v1/conversations/{conv}/members"), json!({"user_id": "carol", "role": "god"}))
        .await
        .assert_error(400, "invalid");
    let oversized = json!({"client_msg_id": "big", "body": "x".repeat(limit + 1)});
    post(&messages, oversized).await.assert_error(413, "too_large");
    let oversized = json!({"kind": "group", "members": ["m".repeat(limit)]});
    post("/v1/conversations", oversized).await.assert_error(413, "too_large");
    let long_id = format!("/v1/conversations/{}", "c".repeat(300));
    server.call(Method::GET, &long_id, auth, None).await.assert_error(413, "too_large");

    server.call(Method::GET, "/v1/no/such/thing", auth, None).await.assert_error(404, "not_found");
    server
        .call(Method::GET, "/nothing-here", Auth::None, None)
        .await
        .assert_error(404, "not_found");
    let r = server.call(Method::PUT, &messages, auth, Some(json!({}))).await;
    r.assert_error(405, "invalid");
    assert_eq!(r.header("allow"), Some("GET,HEAD,POST"));
    server.call(Method::DELETE, "/v1/conversations", auth, None).await.assert_error(405, "invalid");
    server.call(Method::POST, "/v1/ws", auth, None).await.assert_error(405, "invalid");
    let r = server.call(Method::GET, "/v1/ws", auth, None).await;
    r.assert_error(426, "invalid");
    assert_eq!(
        r.header("upgrade"),
        Some("websocket"),
        "a plain GET learns what the endpoint wants"
    );
    server
        .call(Method::GET, &format!("{messages}?before=x"), auth, None)
        .await
        .assert_error(400, "invalid");
    server
        .call(Method::GET, &format!("{messages}?sort=desc"), auth, None)
        .await
        .assert_error(400, "invalid");

    assert_eq!(snapshot(&server, &conv).await, before, "bad input changed nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_cut_off_while_others_carry_on() {
    let server = TestServer::start_with(|c| {
        c.limits.requests_per_second = 5;
        c.limits.rate_limit_strikes = 20;
    })
    .await;
    let conv = server.group("alice", &["bob"]).await;
    let mut bob = server.connect("bob").await;

    // A burst over the limit: every request still gets one reply, some of them `rate_limited`.
    let mut alice = server.connect("alice").await;
    for i in 0..18 {
        alice.send(json!({"type": "ping", "id": i})).await;
    }
    let mut limited = 0;
    for i in 0..18 {
        let reply = alice.recv().await;
        assert_eq!(reply["id"], i, "one reply per request, in order: {reply}");
        match reply["type"].as_str() {
            Some("pong") => {}
            Some("error") => {
                assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
                let wait = reply["error"]["retry_after_ms"].as_u64().expect("retry_after_ms");
                assert!((1..=1000).contains(&wait), "{reply}");
                limited += 1;
            }
            _ => panic!("{reply}"),
        }
    }
    assert!(limited >= 6, "a burst of 18 against 5/s (burst 10) is limited: {limited}");

    // Sustained flooding closes the connection; other users do not notice.
    let flood = tokio::spawn(async move {
        for i in 0..400 {
            if alice
                .ws
                .send(Message::text(json!({"type": "ping", "id": i}).to_string()))
                .await
                .is_err()
            {
                break;
            }
        }
        alice.closed().await
    });
    let closed = flood.await.unwrap();
    assert_eq!(closed.code, Some(4009), "{closed:?}");
    assert!(
        closed.reason.starts_with("retry_after_ms="),
        "the close says when to come back: {closed:?}"
    );
    assert_usable(&mut bob, "alice's flood").await;
    assert_eq!(bob.send_msg(&conv, "b1", "still here").await["type"], "ack");

    // Garbage counts too: a flood of frames that are not even JSON is cut off the same way.
    let mut carol = server.connect("carol").await;
    let flood = tokio::spawn(async move {
        for _ in 0..400 {
            if carol.ws.send(Message::text("{garbage")).await.is_err() {
                break;
            }
        }
        carol.closed().await
    });
    assert_eq!(flood.await.unwrap().code, Some(4009));
    assert_usable(&mut bob, "carol's flood").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_user_limit_are_closed_4005() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_user = 2).await;
    let token = server.token("alice");
    let first = server.connect("alice").await;
    let mut second = server.connect("alice").await;

    let mut third = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
    third.send(json!({"type": "auth", "id": 1, "token": token})).await;
    let reply = third.recv().await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["error"]["retry_after_ms"], 5000, "{reply}");
    let closed = third.closed().await;
    assert_eq!(closed.code, Some(4005));
    assert_eq!(closed.reason, "retry_after_ms=5000", "the close says when to come back");

    assert_usable(&mut second, "a refused third connection").await;
    let mut bob = server.connect("bob").await;
    assert_usable(&mut bob, "alice's limit").await;

    // A freed slot can be used again.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
        c.send(json!({"type": "auth", "id": 1, "token": token})).await;
        if c.recv().await["type"] == "authed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_with_a_readable_id_gets_its_reply_even_too_deep_or_out_of_range() {
    let server = TestServer::start().await;
    let conv = conversation_with_history(&server).await;
    let before = snapshot(&server, &conv).await;
    let mut c = server.connect("alice").await;

    // Nested past the JSON decoder's limit: the reply still carries the request's id.
    let deep = format!(
        r#"{{"type":"send","id":"deep-1","conversation_id":"{conv}","client_msg_id":"d1","body":"x","payload":{}1{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    c.send_text(&deep).await;
    let reply = next_reply(&mut c).await;
    assert_eq!(
        (reply["type"].as_str(), reply["id"].as_str()),
        (Some("error"), Some("deep-1")),
        "{reply}"
    );
    assert_eq!(reply["error"]["code"], "malformed", "{reply}");

    // A numeric id a client cannot hold exactly is refused, not echoed rounded.
    c.send_text(r#"{"type":"ping","id":123456789012345678901234567890}"#).await;
    let reply = next_reply(&mut c).await;
    assert_eq!(
        (reply["type"].as_str(), reply["error"]["code"].as_str()),
        (Some("error"), Some("invalid")),
        "{reply}"
    );
    assert!(reply["error"]["message"].as_str().unwrap().contains("send it as a string"), "{reply}");
    c.send_text(r#"{"type":"ping","id":9007199254740991}"#).await;
    let exact = next_reply(&mut c).await;
    assert_eq!(exact["type"], "pong", "{exact}");
    assert_eq!(exact["id"], json!(9_007_199_254_740_991_u64), "the largest safe id echoes exactly");

    assert_usable(&mut c, "deep and huge ids").await;
    assert_eq!(snapshot(&server, &conv).await, before, "nothing stored");
    server.stop().await;
}
