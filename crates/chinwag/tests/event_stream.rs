//! `GET /v1/events`, the server-sent events fallback, through a real server: the same frames as
//! WebSocket, resume with an exactly-once seam, isolation, typed refusals, the close event on
//! shutdown, and the per-user connection limit.

use std::time::Duration;

use chinwag_testkit::{Auth, TestServer, WAIT};
use reqwest::Method;
use serde_json::{Value, json};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

/// One SSE event: its `event:` name (`message` when absent) and its `data` as JSON.
#[derive(Debug)]
struct Event {
    name: String,
    data: Value,
}

/// A reader of an event stream (reqwest, a third-party HTTP client).
struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(server: &TestServer, token: &str, query: &str) -> Self {
        let res = server
            .http
            .get(server.url(&format!("/v1/events{query}")))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("open the stream");
        assert_eq!(res.status(), 200, "{:?}", res.headers());
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Self { res, buf: String::new() }
    }

    /// The next event within `wait`; `Ok(None)` when none came, `Err(())` when the stream ended.
    async fn try_next(&mut self, wait: Duration) -> Result<Option<Event>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !data.is_empty() {
                    let data = serde_json::from_str(&data).expect("data is JSON");
                    return Ok(Some(Event { name, data }));
                }
                // A comment (heartbeat): no event.
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Some(chunk))) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) => return Err(()),
            }
        }
    }

    async fn next(&mut self) -> Event {
        match self.try_next(WAIT).await {
            Ok(Some(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The data of the next frame, skipping `presence` (co-members come and go).
    async fn frame(&mut self) -> Value {
        loop {
            let e = self.next().await;
            assert_eq!(e.name, "message", "{e:?}");
            if e.data["type"] != "presence" {
                return e.data;
            }
        }
    }

    /// Nothing but presence for a while.
    async fn quiet(&mut self) {
        let end = tokio::time::Instant::now() + QUIET;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next(left).await {
                Ok(None) => return,
                Ok(Some(e)) if e.data["type"] == "presence" => {}
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }
}

async fn send(server: &TestServer, user: &str, conv: &str, id: &str, body: &str) -> Value {
    let r = server
        .call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Auth::Bearer(&server.token(user)),
            Some(json!({"client_msg_id": id, "body": body})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["message"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_members_and_nobody_else() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let elsewhere = server.group("carol", &["dave"]).await;

    let mut bob = Sse::open(&server, &server.token("bob"), "").await;
    let authed = bob.frame().await;
    assert_eq!((&authed["type"], &authed["user"]["id"]), (&json!("authed"), &json!("bob")));
    assert!(authed.get("id").is_none(), "{authed}");
    // Carol even asks to resume alice's conversation: it is unavailable to her.
    let mut carol =
        Sse::open(&server, &server.token("carol"), &format!("?positions={conv}:0")).await;
    assert_eq!(carol.frame().await["type"], "authed");
    let resumed = carol.frame().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["unavailable"], json!([conv]));

    let sent = send(&server, "alice", &conv, "live-1", "for bob only").await;
    let got = bob.frame().await;
    assert_eq!(got["type"], "message");
    assert_eq!(got["message"], sent, "the same frame as over WebSocket");
    // Typing and receipts come down the stream too; carol hears none of it.
    let r = server
        .call(
            Method::POST,
            &format!("/v1/conversations/{conv}/typing"),
            Auth::Bearer(&server.token("alice")),
            Some(json!({"typing": true})),
        )
        .await;
    assert_eq!(r.status, 204);
    let typing = bob.frame().await;
    assert_eq!((&typing["type"], &typing["user_id"]), (&json!("typing"), &json!("alice")));
    carol.quiet().await;

    // Her own conversation does reach her.
    send(&server, "dave", &elsewhere, "d-1", "hi carol").await;
    let mine = carol.frame().await;
    assert_eq!(mine["message"]["conversation_id"], json!(elsewhere));
    bob.quiet().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_what_was_missed_once_then_goes_live() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    for i in 1..=5 {
        send(&server, "alice", &conv, &format!("m{i}"), &format!("message {i}")).await;
    }
    let mut bob = Sse::open(&server, &server.token("bob"), &format!("?positions={conv}:2")).await;
    assert_eq!(bob.frame().await["type"], "authed");
    let mut seqs = Vec::new();
    let mut receipts = 0;
    let resumed = loop {
        let f = bob.frame().await;
        match f["type"].as_str() {
            Some("message") => seqs.push(f["message"]["seq"].as_u64().unwrap()),
            Some("receipt") => receipts += 1,
            Some("resumed") => break f,
            other => panic!("unexpected {other:?}: {f}"),
        }
    };
    assert_eq!(seqs, vec![3, 4, 5], "exactly the missed ones, in order");
    assert_eq!(receipts, 2, "a receipt per member");
    let c = &resumed["conversations"][0];
    assert_eq!(
        (&c["from_seq"], &c["to_seq"], &c["complete"]),
        (&json!(2), &json!(5), &json!(true))
    );
    assert!(resumed["cursor"].is_i64());

    send(&server, "alice", &conv, "m6", "live").await;
    let live = bob.frame().await;
    assert_eq!(live["message"]["seq"], 6);
    bob.quiet().await;

    // `since` alone: a conversation the device never heard of comes with its history.
    let mut fresh = Sse::open(&server, &server.token("bob"), "?since=0").await;
    assert_eq!(fresh.frame().await["type"], "authed");
    assert_eq!(fresh.frame().await["type"], "conversation");
    let mut n = 0;
    while fresh.frame().await["type"] == "message" {
        n += 1;
    }
    assert_eq!(n, 6);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_in_the_one_error_shape() {
    let server = TestServer::start().await;
    let token = server.token("alice");
    let call = |query: &'static str, accept: Option<&'static str>, auth: bool| {
        let mut req = server.http.request(Method::GET, server.url(&format!("/v1/events{query}")));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        if auth {
            req = req.bearer_auth(&token);
        }
        async move {
            let res = req.send().await.expect("request");
            let status = res.status().as_u16();
            let body: Value = res.json().await.expect("JSON error body");
            (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    let sse = Some("text/event-stream");
    assert_eq!(call("", sse, false).await, (401, "unauthenticated".into()));
    assert_eq!(call("", Some("application/json"), true).await, (406, "invalid".into()));
    assert_eq!(call("", None, true).await, (406, "invalid".into()));
    assert_eq!(call("?positions=nonsense", sse, true).await, (400, "invalid".into()));
    assert_eq!(call("?positions=a:x", sse, true).await, (400, "invalid".into()));
    assert_eq!(call("?positions=:4", sse, true).await, (400, "invalid".into()));
    assert_eq!(call("?since=yesterday", sse, true).await, (400, "invalid".into()));
    assert_eq!(call("?unknown=1", sse, true).await, (400, "invalid".into()));
    let res = server
        .http
        .get(server.url("/v1/events"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a foreign page may not read events");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_counts_as_a_connection_and_ends_with_a_close_event_on_shutdown() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_user = 1).await;
    let token = server.token("alice");
    let mut stream = Sse::open(&server, &token, "").await;
    assert_eq!(stream.frame().await["type"], "authed");
    let second = server
        .http
        .get(server.url("/v1/events"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["retry_after_ms"].is_u64(), "{body}");

    let stop = tokio::spawn(server.stop());
    let close = stream.next().await;
    assert_eq!(close.name, "close", "{close:?}");
    assert_eq!(close.data["code"], 1012);
    assert_eq!(close.data["name"], "service_restart");
    let advice = close.data["reason"].as_str().unwrap();
    let ms: u64 = advice.strip_prefix("retry_after_ms=").expect(advice).parse().unwrap();
    assert!((1_000..5_000).contains(&ms), "{ms}");
    assert!(matches!(stream.try_next(WAIT).await, Err(())), "the stream ends");
    tokio::time::timeout(WAIT, stop).await.expect("server stopped").unwrap();
}
