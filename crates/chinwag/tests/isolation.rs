//! G6: nobody reads, receives or writes anything of a conversation they are not a member of, or of
//! another tenant, over WebSocket or REST; and nobody gets in without valid credentials.

use std::time::Duration;

use base64::Engine;
use chinwag_core::auth::ApiKey;
use chinwag_proto::ids::TenantId;
use chinwag_testkit::{
    Auth, TOKEN_SECRET, TestServer, WsClient, open_with_headers, refused_status,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

const OTHER_API_KEY: &str = "other-tenant-api-key-0123";
const APP_SECRET: &str = "the-app-backends-own-secret-0123456789";

fn now_secs() -> i64 {
    chinwag_proto::clock::now_millis() / 1000
}

fn sign(alg: Algorithm, secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("sign")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Assert that a frame is an error with this code.
fn assert_ws_error(frame: &Value, code: &str) {
    assert_eq!(
        (&frame["type"], &frame["error"]["code"]),
        (&json!("error"), &json!(code)),
        "{frame}"
    );
}

/// Ping, expect the pong as the very next frame, then expect silence: nothing of anyone else's.
async fn assert_hears_nothing(c: &mut WsClient) {
    c.send(json!({"type": "ping", "id": "quiet"})).await;
    let pong = c.recv().await;
    assert_eq!(
        (&pong["type"], &pong["id"]),
        (&json!("pong"), &json!("quiet")),
        "nothing before the pong: {pong}"
    );
    match c.try_recv(QUIET).await {
        Ok(None) => {}
        other => panic!("expected silence, got {other:?}"),
    }
}

/// A conversation of alice and bob with three messages, seen by bob's device to the end. Alice
/// stays connected (her device is returned), so no presence change of hers races the test.
async fn alice_and_bob(server: &TestServer) -> (String, WsClient, WsClient) {
    let conv = server.group("alice", &["bob"]).await;
    let mut bob = server.connect("bob").await;
    let mut alice = server.connect("alice").await;
    for i in 1..=3 {
        assert_eq!(
            alice.send_msg(&conv, &format!("a{i}"), &format!("secret {i}")).await["type"],
            "ack"
        );
    }
    bob.messages(3).await;
    (conv, bob, alice)
}

/// Who is a member with which role (watermarks move with every message and are not membership).
fn roster(conversation: &Value) -> Vec<(Value, Value)> {
    conversation["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["user_id"].clone(), m["role"].clone()))
        .collect()
}

/// Everything `token`'s holder can try against `conv` over WebSocket, each refused like a
/// conversation that does not exist; resume lists it as unavailable and replays nothing.
async fn refused_over_ws(server: &TestServer, token: &str, conv: &str) {
    let positions = json!({"positions": [{"conversation_id": conv, "seq": 0}], "since": 0});
    let mut c = WsClient::connect_as(&server.ws_url(), token, None).await;
    for frame in [
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "x", "body": "let me in"}),
        json!({"type": "history", "conversation_id": conv}),
        json!({"type": "history", "conversation_id": conv, "after": 0}),
        json!({"type": "read", "conversation_id": conv, "seq": 3}),
    ] {
        let reply = c.request(frame.clone()).await;
        assert_ws_error(&reply, "not_found");
        let mut ghost = frame.clone();
        ghost["conversation_id"] = json!("01GHOST");
        let ghost = c.request(ghost).await;
        assert_eq!(
            reply["error"], ghost["error"],
            "the same answer as for an id that does not exist"
        );
    }
    let mut request = positions.clone();
    request["type"] = json!("resume");
    let resumed = c.request(request).await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["unavailable"], json!([conv]));
    assert_eq!(resumed["conversations"], json!([]));
    assert_hears_nothing(&mut c).await;

    // The same through `auth` with a resume.
    let mut c = WsClient::connect_as(&server.ws_url(), token, Some(positions)).await;
    let resumed = c.recv_type("resumed").await;
    assert_eq!(
        (&resumed["unavailable"], &resumed["conversations"]),
        (&json!([conv]), &json!([])),
        "{resumed}"
    );
    assert_hears_nothing(&mut c).await;
}

/// Everything `token`'s holder can try against `conv` over REST.
async fn refused_over_rest(server: &TestServer, token: &str, conv: &str) {
    let auth = Auth::Bearer(token);
    let base = format!("/v1/conversations/{conv}");
    let attempts = [
        (Method::GET, base.clone(), None),
        (Method::GET, format!("{base}/messages"), None),
        (Method::GET, format!("{base}/messages?after=0"), None),
        (
            Method::POST,
            format!("{base}/messages"),
            Some(json!({"client_msg_id": "x", "body": "let me in"})),
        ),
        (Method::POST, format!("{base}/read"), Some(json!({"seq": 3}))),
        (Method::POST, format!("{base}/members"), Some(json!({"user_id": "mallory"}))),
        (Method::PATCH, format!("{base}/members/bob"), Some(json!({"role": "member"}))),
        (Method::DELETE, format!("{base}/members/bob"), None),
    ];
    for (method, path, body) in attempts {
        server.call(method, &path, auth, body).await.assert_error(404, "not_found");
    }
    let r = server.call(Method::GET, "/v1/conversations", auth, None).await;
    assert_eq!(r.status, 200);
    assert!(
        !r.body["conversations"].as_array().unwrap().iter().any(|c| c["id"] == conv),
        "{}",
        r.body
    );
}

/// The conversation as its members know it: members, history, bob's read position.
async fn state_of(server: &TestServer, conv: &str) -> (Value, Value) {
    let token = server.token("bob");
    let conversation = server
        .call(Method::GET, &format!("/v1/conversations/{conv}"), Auth::Bearer(&token), None)
        .await;
    let history = server
        .call(
            Method::GET,
            &format!("/v1/conversations/{conv}/messages"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!((conversation.status, history.status), (200, 200));
    (conversation.body, history.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_can_neither_read_nor_write_nor_hear_a_conversation() {
    let server = TestServer::start().await;
    let (conv, mut bob, _alice) = alice_and_bob(&server).await;
    let before = state_of(&server, &conv).await;
    let mallory = server.token("mallory");

    let mut listening = server.connect("mallory").await;
    refused_over_ws(&server, &mallory, &conv).await;
    refused_over_rest(&server, &mallory, &conv).await;

    // Live traffic while mallory is connected reaches members only.
    let mut alice = server.connect("alice").await;
    assert_eq!(alice.send_msg(&conv, "a4", "secret 4").await["type"], "ack");
    assert_eq!(bob.messages(1).await[0]["body"], "secret 4");
    assert_hears_nothing(&mut listening).await;

    let (conversation, history) = state_of(&server, &conv).await;
    assert_eq!(roster(&conversation), roster(&before.0), "membership unchanged");
    assert_eq!(conversation["read_seq"], before.0["read_seq"], "bob's read position unchanged");
    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["secret 1", "secret 2", "secret 3", "secret 4"],
        "nothing written by the outsider"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_access_at_once() {
    let server = TestServer::start().await;
    let (conv, mut bob, _alice) = alice_and_bob(&server).await;
    let r = server
        .call(
            Method::DELETE,
            &format!("/v1/conversations/{conv}/members/bob"),
            Auth::Bearer(&server.token("alice")),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let removed = bob.recv_type("member_removed").await;
    assert_eq!((&removed["conversation_id"], &removed["user_id"]), (&json!(conv), &json!("bob")));

    let mut alice = server.connect("alice").await;
    assert_eq!(alice.send_msg(&conv, "after", "not for bob").await["type"], "ack");
    assert_hears_nothing(&mut bob).await;
    refused_over_ws(&server, &server.token("bob"), &conv).await;
    refused_over_rest(&server, &server.token("bob"), &conv).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_sees_nothing_of_the_default_tenant() {
    let server = TestServer::start_with(|c| {
        c.auth.api_keys.push(ApiKey { key: OTHER_API_KEY.into(), tenant: TenantId::from("other") });
    })
    .await;
    let (conv, mut bob, _alice) = alice_and_bob(&server).await;
    let before = state_of(&server, &conv).await;
    // The same user ids, in another tenant.
    let other_alice = server.token_in(&TenantId::from("other"), "alice");
    let other_bob = server.token_in(&TenantId::from("other"), "bob");
    let mut other_bob_ws = WsClient::connect_as(&server.ws_url(), &other_bob, None).await;
    assert_eq!(other_bob_ws.authed["user"], json!({"id": "bob", "tenant": "other"}));

    refused_over_ws(&server, &other_alice, &conv).await;
    refused_over_rest(&server, &other_alice, &conv).await;
    let r = server.call(Method::GET, "/v1/conversations", Auth::Bearer(&other_alice), None).await;
    assert_eq!(r.body["conversations"], json!([]), "alice of `other` is in no conversation");

    // The other tenant's backend cannot act in the default tenant either.
    let path = format!("/v1/server/conversations/{conv}/messages");
    let as_alice =
        json!({"as_user": "alice", "client_msg_id": "k", "kind": "system", "body": "injected"});
    server
        .call(Method::POST, &path, Auth::ApiKey(OTHER_API_KEY), Some(as_alice))
        .await
        .assert_error(404, "not_found");

    // A direct conversation of the same pair and subject in another tenant is another conversation.
    let direct = json!({"kind": "direct", "members": ["bob"], "subject": "item:1"});
    let mine = server
        .call(
            Method::POST,
            "/v1/conversations",
            Auth::Bearer(&server.token("alice")),
            Some(direct.clone()),
        )
        .await;
    let theirs = server
        .call(Method::POST, "/v1/conversations", Auth::Bearer(&other_alice), Some(direct))
        .await;
    assert_eq!((mine.status, theirs.status), (201, 201), "{mine:?} {theirs:?}");
    assert_ne!(mine.body["conversation"]["id"], theirs.body["conversation"]["id"]);
    // Bob of `other` hears of his tenant's conversation only, and bob of `default` of his.
    let event = other_bob_ws.recv_type("conversation").await;
    assert_eq!(event["conversation"]["id"], theirs.body["conversation"]["id"]);
    let event = bob.recv_type("conversation").await;
    assert_eq!(event["conversation"]["id"], mine.body["conversation"]["id"]);

    let mut alice = server.connect("alice").await;
    assert_eq!(alice.send_msg(&conv, "a4", "secret 4").await["type"], "ack");
    bob.messages(1).await;
    assert_hears_nothing(&mut other_bob_ws).await;

    let (conversation, history) = state_of(&server, &conv).await;
    assert_eq!(roster(&conversation), roster(&before.0));
    assert_eq!(history["messages"].as_array().unwrap().len(), 4, "only alice's own four");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_on_rest_and_websocket() {
    let server =
        TestServer::start_with(|c| c.auth.jwt_hs256_secret = Some(APP_SECRET.into())).await;
    let exp = now_secs() + 3600;
    let good = server.token("alice");
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('A') { "B" } else { "A" };
    flipped.replace_range(flipped.len() - 1.., last);
    let claims = |sub: &str| json!({"sub": sub, "tenant": "default", "exp": exp, "iss": "chinwag"});
    let as_bob = b64(&claims("bob").to_string());

    let refused = [
        ("bad signature", format!("{head}.{payload}.{flipped}")),
        ("payload swapped under the signature", format!("{head}.{as_bob}.{signature}")),
        (
            "signed with another key",
            sign(Algorithm::HS256, "some-other-secret-some-other-secret", claims("alice")),
        ),
        (
            "HS512, an algorithm without a key",
            sign(Algorithm::HS512, TOKEN_SECRET, claims("alice")),
        ),
        (
            "RS256 header without an RS256 key",
            format!("{}.{payload}.{signature}", b64(r#"{"alg":"RS256","typ":"JWT"}"#)),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&claims("alice").to_string())
            ),
        ),
        (
            "alg none without the dot",
            format!("{}.{}", b64(r#"{"alg":"none"}"#), b64(&claims("alice").to_string())),
        ),
        (
            "our secret, foreign issuer",
            sign(
                Algorithm::HS256,
                TOKEN_SECRET,
                json!({"sub": "alice", "exp": exp, "iss": "mallory"}),
            ),
        ),
        ("no exp", sign(Algorithm::HS256, TOKEN_SECRET, json!({"sub": "alice", "iss": "chinwag"}))),
        ("empty sub", sign(Algorithm::HS256, TOKEN_SECRET, claims(""))),
        ("garbage", "garbage".to_owned()),
        ("three dots of garbage", "a.b.c".to_owned()),
        ("empty", String::new()),
    ];
    for (what, token) in &refused {
        let r = server.call(Method::GET, "/v1/me", Auth::Bearer(token), None).await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        r.assert_error(401, "unauthenticated");
        let r = server.call(Method::GET, "/v1/me", Auth::Cookie(token), None).await;
        assert_eq!(r.status, 401, "{what} as a cookie: {r:?}");

        let mut c = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
        c.send(json!({"type": "auth", "id": what, "token": token})).await;
        let reply = c.recv().await;
        assert_eq!(
            (&reply["error"]["code"], &reply["id"]),
            (&json!("unauthenticated"), &json!(what)),
            "{what}: {reply}"
        );
        assert_eq!(c.closed().await.code, Some(4001), "{what}");
    }

    // Expired: ours, and the app's, refused with their own code and close code.
    let long_ago = now_secs() - 3600;
    let expired = [
        sign(
            Algorithm::HS256,
            TOKEN_SECRET,
            json!({"sub": "alice", "tenant": "default", "exp": long_ago, "iss": "chinwag"}),
        ),
        sign(Algorithm::HS256, APP_SECRET, json!({"sub": "alice", "exp": long_ago})),
    ];
    for token in &expired {
        server
            .call(Method::GET, "/v1/me", Auth::Bearer(token), None)
            .await
            .assert_error(401, "token_expired");
        let mut c = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
        c.send(json!({"type": "auth", "id": 1, "token": token})).await;
        let reply = c.recv().await;
        assert_eq!(
            (&reply["error"]["code"], &reply["id"]),
            (&json!("token_expired"), &json!(1)),
            "{reply}"
        );
        assert_eq!(c.closed().await.code, Some(4003));
    }

    // The controls: the genuine token, and one the app's backend signed, are accepted.
    let app = sign(
        Algorithm::HS256,
        APP_SECRET,
        json!({"sub": "carol", "tenant": "acme", "name": "Carol", "exp": exp}),
    );
    for (token, user) in [
        (&good, json!({"id": "alice", "tenant": "default"})),
        (&app, json!({"id": "carol", "tenant": "acme", "name": "Carol"})),
    ] {
        let r = server.call(Method::GET, "/v1/me", Auth::Bearer(token), None).await;
        assert_eq!((r.status, &r.body), (200, &user));
        let c = WsClient::connect_as(&server.ws_url(), token, None).await;
        assert_eq!(c.authed["user"], user);
    }

    // A refresh with another user's token is refused, and the session stays who it was.
    let mut c = WsClient::connect_as(&server.ws_url(), &good, None).await;
    let r = c.request(json!({"type": "auth", "token": server.token("bob")})).await;
    assert_ws_error(&r, "forbidden");
    let r = c.request(json!({"type": "auth", "token": "garbage"})).await;
    assert_ws_error(&r, "unauthenticated");
    let r = c.request(json!({"type": "auth", "token": good})).await;
    assert_eq!((&r["type"], &r["user"]["id"]), (&json!("authed"), &json!("alice")), "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_frame_must_be_auth_and_come_in_time() {
    let server = TestServer::start_with(|c| c.limits.auth_timeout_ms = 1_000).await;
    let firsts = [
        json!({"type": "ping", "id": "p"}).to_string(),
        json!({"type": "send", "id": "s", "conversation_id": "c", "client_msg_id": "m", "body": "x"})
            .to_string(),
        json!({"type": "auth", "id": "a"}).to_string(),
        "{not json".to_owned(),
        "[]".to_owned(),
    ];
    for first in firsts {
        let mut c = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
        c.send_text(&first).await;
        let reply = c.recv().await;
        assert_eq!(reply["type"], "error", "{first}: {reply}");
        let id = serde_json::from_str::<Value>(&first)
            .ok()
            .and_then(|v| v.get("id").cloned())
            .unwrap_or(Value::Null);
        assert_eq!(reply["id"], id, "the reply names the request: {reply}");
        assert_eq!(c.closed().await.code, Some(4001), "{first}");
    }
    let mut c = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
    c.send_binary(vec![0, 1, 2]).await;
    assert_eq!(c.recv().await["error"]["code"], "unauthenticated");
    assert_eq!(c.closed().await.code, Some(4001));

    let started = std::time::Instant::now();
    let mut silent = WsClient::from_ws(WsClient::open(&server.ws_url()).await);
    assert_eq!(silent.closed().await.code, Some(4002));
    assert!(started.elapsed() >= Duration::from_millis(900), "not before the timeout");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_foreign_origins_are_refused() {
    let server =
        TestServer::start_with(|c| c.auth.allowed_origins = vec!["https://app.example".into()])
            .await;
    let own = format!("http://{}", server.addr);
    let token = server.token("alice");
    for origin in [
        "https://evil.example",
        "null",
        "http://app.example",
        &format!("{own}.evil.example"),
        &format!("https://evil.example/{own}"),
        // The server's host and port, but another scheme, or its host with another port.
        &format!("https://{}", server.addr),
        &format!("http://{}:{}", server.addr.ip(), server.addr.port() + 1),
    ] {
        let e = open_with_headers(&server.ws_url(), &[("origin", origin)]).await.expect_err(origin);
        let (status, body) = refused_status(&e);
        assert_eq!(status, 403, "{origin}");
        let body: Value = serde_json::from_str(&body).expect("JSON error body");
        assert_eq!(body["error"]["code"], "forbidden");
        // Even with a valid session cookie: that is exactly the hijacking this prevents.
        let cookie = format!("chinwag_session={token}");
        let e = open_with_headers(&server.ws_url(), &[("origin", origin), ("cookie", &cookie)])
            .await
            .expect_err("refused");
        assert_eq!(refused_status(&e).0, 403, "{origin} with a cookie");
    }
    // Behind a TLS proxy that says so, the https origin of the server's host is its own.
    let own_tls = format!("https://{}", server.addr);
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (own.as_str(), &[]),
        ("https://app.example", &[]),
        (own_tls.as_str(), &[("x-forwarded-proto", "https")]),
    ];
    for (origin, extra) in cases {
        let mut headers = vec![("origin", origin)];
        headers.extend_from_slice(extra);
        let ws = open_with_headers(&server.ws_url(), &headers)
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        let mut c = WsClient::from_ws(ws);
        c.send(json!({"type": "auth", "id": 1, "token": token})).await;
        assert_eq!(c.recv().await["type"], "authed", "{origin}");
    }

    // Cookies are ambient: a foreign page may not use them to change anything over REST either.
    let path = "/v1/conversations";
    let body = json!({"kind": "group", "members": []}).to_string();
    let post = |origin: &'static str, auth: &'static str| {
        let req = server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .header("origin", origin);
        let req = if auth == "cookie" {
            req.header("cookie", format!("chinwag_session={token}"))
        } else {
            req.bearer_auth(&token)
        };
        req.body(body.clone()).send()
    };
    assert_eq!(post("https://evil.example", "cookie").await.unwrap().status(), 403);
    assert_eq!(post("https://app.example", "cookie").await.unwrap().status(), 201);
    assert_eq!(
        post("https://evil.example", "bearer").await.unwrap().status(),
        201,
        "a bearer token is not ambient"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_authenticates_the_upgrade_without_an_auth_frame() {
    let server = TestServer::start().await;
    let creds = json!({"username": "alice", "password": "correct horse"});
    assert_eq!(
        server
            .call(Method::POST, "/v1/accounts/register", Auth::None, Some(creds.clone()))
            .await
            .status,
        200
    );
    let login = server.call(Method::POST, "/v1/accounts/login", Auth::None, Some(creds)).await;
    let cookie = login.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();

    let ws = open_with_headers(&server.ws_url(), &[("cookie", &cookie)]).await.expect("upgrade");
    let mut c = WsClient::from_ws(ws);
    let authed = c.recv().await;
    assert_eq!(authed["type"], "authed", "the server speaks first: {authed}");
    assert!(authed.get("id").is_none(), "no request, no id: {authed}");
    assert_eq!(authed["user"]["id"], "alice");
    let pong = c.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");

    // A forged cookie authenticates nothing: the connection waits for an `auth` frame.
    let ws =
        open_with_headers(&server.ws_url(), &[("cookie", "chinwag_session=forged.token.here")])
            .await
            .expect("upgrade");
    let mut c = WsClient::from_ws(ws);
    c.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(c.recv().await["error"]["code"], "unauthenticated");
    assert_eq!(c.closed().await.code, Some(4001));
    server.stop().await;
}
