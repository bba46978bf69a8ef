//! The REST API over real HTTP: accounts and the session cookie, conversations, members and roles,
//! history, sends, read positions, the server API, the error shape, and the operations endpoints.

use std::time::Duration;

use chinwag_testkit::{API_KEY, Auth, TestServer, WsClient};
use reqwest::Method;
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<String> {
    page["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// Send over REST as `user`; asserts `201 Created`.
async fn send(
    server: &TestServer,
    user: &str,
    conv: &str,
    client_msg_id: &str,
    body: &str,
) -> Value {
    let token = server.token(user);
    let r = server
        .call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Auth::Bearer(&token),
            Some(json!({"client_msg_id": client_msg_id, "body": body})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["message"].clone()
}

/// The value of an unlabelled metric (a counter's `_total`, a gauge, a histogram's `_count`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no `{name}` in\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_cookie_and_me() {
    let server = TestServer::start().await;
    let creds = json!({"username": "alice", "password": "correct horse", "name": "Alice"});
    let r =
        server.call(Method::POST, "/v1/accounts/register", Auth::None, Some(creds.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user"], json!({"id": "alice", "tenant": "default", "name": "Alice"}));
    assert!(r.body["expires_at"].as_i64().unwrap() > chinwag_proto::clock::now_millis());
    let account =
        server.node.services.store().account_by_username(&"default".into(), "alice").await.unwrap();
    assert!(
        account.unwrap().password_hash.starts_with("$argon2id$"),
        "passwords are stored as argon2id hashes"
    );

    let taken = server.call(Method::POST, "/v1/accounts/register", Auth::None, Some(creds)).await;
    taken.assert_error(409, "conflict");
    for bad in [
        json!({"username": "a", "password": "long enough"}),
        json!({"username": "bob", "password": "short"}),
    ] {
        server
            .call(Method::POST, "/v1/accounts/register", Auth::None, Some(bad))
            .await
            .assert_error(400, "invalid");
    }

    let wrong = json!({"username": "alice", "password": "wrong horse"});
    let r = server.call(Method::POST, "/v1/accounts/login", Auth::None, Some(wrong)).await;
    let wrong_message = r.assert_error(401, "unauthenticated")["message"].clone();
    let nobody = json!({"username": "nobody", "password": "correct horse"});
    let r = server.call(Method::POST, "/v1/accounts/login", Auth::None, Some(nobody)).await;
    assert_eq!(
        r.assert_error(401, "unauthenticated")["message"],
        wrong_message,
        "no hint whether the user exists"
    );

    let login = json!({"username": "alice", "password": "correct horse"});
    let r = server.call(Method::POST, "/v1/accounts/login", Auth::None, Some(login)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_owned();
    let cookie = r.header("set-cookie").expect("login sets the session cookie").to_owned();
    assert!(cookie.starts_with(&format!("chinwag_session={token};")), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let me = json!({"id": "alice", "tenant": "default", "name": "Alice"});
    let r = server.call(Method::GET, "/v1/me", Auth::Cookie(&token), None).await;
    assert_eq!((r.status, &r.body), (200, &me), "the cookie authenticates");
    let r = server.call(Method::GET, "/v1/me", Auth::Bearer(&token), None).await;
    assert_eq!((r.status, &r.body), (200, &me), "so does the bearer token");
    server.call(Method::GET, "/v1/me", Auth::None, None).await.assert_error(401, "unauthenticated");

    // The account's token also opens a WebSocket.
    let ws = WsClient::connect_as(&server.ws_url(), &token, None).await;
    assert_eq!(ws.authed["user"]["id"], "alice");

    let r = server.call(Method::POST, "/v1/accounts/logout", Auth::Cookie(&token), None).await;
    assert_eq!(r.status, 204, "{r:?}");
    let cleared = r.header("set-cookie").expect("logout clears the cookie");
    assert!(cleared.starts_with("chinwag_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_conversation_is_unique_per_pair_and_subject() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    let create = |token: String, body: Value| {
        let server = &server;
        async move {
            server.call(Method::POST, "/v1/conversations", Auth::Bearer(&token), Some(body)).await
        }
    };
    let item42 = json!({"kind": "direct", "members": ["bob"], "subject": "item:42"});
    let first = create(alice.clone(), item42.clone()).await;
    assert_eq!((first.status, &first.body["created"]), (201, &json!(true)), "{first:?}");
    let id = first.body["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first.body["conversation"]["kind"], "direct");
    assert_eq!(first.body["conversation"]["subject"], "item:42");
    let members: Vec<&str> = first.body["conversation"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["alice", "bob"]);

    let again = create(alice.clone(), item42).await;
    assert_eq!((again.status, &again.body["created"]), (200, &json!(false)), "{again:?}");
    assert_eq!(again.body["conversation"]["id"], id.as_str());
    let from_bob =
        create(bob.clone(), json!({"kind": "direct", "members": ["alice"], "subject": "item:42"}))
            .await;
    assert_eq!(
        (from_bob.status, from_bob.body["conversation"]["id"].as_str()),
        (200, Some(id.as_str())),
        "either side finds it"
    );

    let item43 =
        create(alice.clone(), json!({"kind": "direct", "members": ["bob"], "subject": "item:43"}))
            .await;
    assert_eq!(item43.status, 201, "{item43:?}");
    let plain = create(alice.clone(), json!({"kind": "direct", "members": ["bob"]})).await;
    assert_eq!(plain.status, 201, "{plain:?}");
    let distinct = [
        &id,
        item43.body["conversation"]["id"].as_str().unwrap(),
        plain.body["conversation"]["id"].as_str().unwrap(),
    ];
    assert!(
        distinct[0] != distinct[1] && distinct[1] != distinct[2] && distinct[0] != distinct[2],
        "{distinct:?}"
    );

    for bad in [
        json!({"kind": "direct", "members": ["bob", "carol"]}),
        json!({"kind": "direct", "members": ["alice"]}),
    ] {
        create(alice.clone(), bad).await.assert_error(400, "invalid");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_newest_first_with_preview_and_unread_counts() {
    let server = TestServer::start().await;
    let (c1, c2, c3) = (
        server.group("alice", &["bob"]).await,
        server.group("alice", &["bob"]).await,
        server.group("alice", &["bob"]).await,
    );
    // Activity order: c1, then c3, then c2 (apart in time, so the order is not decided by ids).
    for (conv, n) in [(&c1, 2), (&c3, 1), (&c2, 3)] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        for i in 0..n {
            send(&server, "alice", conv, &format!("{conv}-{i}"), &format!("last is {i}")).await;
        }
    }
    let r = server
        .call(Method::GET, "/v1/conversations", Auth::Bearer(&server.token("bob")), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(ids(&r.body), [c2.clone(), c3.clone(), c1.clone()]);
    assert!(r.body.get("next_cursor").is_none(), "one page: {}", r.body);
    let list = r.body["conversations"].as_array().unwrap();
    for (c, (unread, last_body)) in
        list.iter().zip([(3, "last is 2"), (1, "last is 0"), (2, "last is 1")])
    {
        assert_eq!(c["unread"], unread, "{c}");
        assert_eq!(c["last_seq"], unread);
        assert_eq!(c["read_seq"], 0);
        assert_eq!(c["last_message"]["body"], last_body, "the preview is the newest message");
        assert_eq!(c["last_message"]["seq"], unread);
        assert_eq!(c["last_activity"], c["last_message"]["created_at"]);
    }
    // A fresh conversation without messages has no preview, and comes first.
    let c4 = server.group("bob", &["alice"]).await;
    let r = server
        .call(Method::GET, "/v1/conversations?limit=2", Auth::Bearer(&server.token("bob")), None)
        .await;
    assert_eq!(ids(&r.body), [c4, c2]);
    assert!(r.body["conversations"][0].get("last_message").is_none(), "{}", r.body);
    assert_eq!(r.body["conversations"][0]["unread"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pages_cover_every_conversation_exactly_once() {
    let server = TestServer::start().await;
    let token = server.token("bob");
    let mut created = Vec::new();
    for i in 0..7 {
        let conv = server.group("alice", &["bob"]).await;
        if i % 2 == 0 {
            send(&server, "alice", &conv, "m", "activity reorders the list").await;
        }
        created.push(conv);
    }
    let all = server.call(Method::GET, "/v1/conversations", Auth::Bearer(&token), None).await;
    let expected = ids(&all.body);
    assert_eq!(expected.len(), 7);

    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, Vec::new());
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/conversations?limit=3&cursor={c}"),
            None => "/v1/conversations?limit=3".to_owned(),
        };
        let r = server.call(Method::GET, &path, Auth::Bearer(&token), None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let page = ids(&r.body);
        pages.push(page.len());
        seen.extend(page);
        match r.body.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "pagination does not end: {pages:?}");
    }
    assert_eq!(pages, [3, 3, 1]);
    assert_eq!(seen, expected, "the pages are the whole list, in order, each conversation once");
    created.sort();
    seen.sort();
    assert_eq!(seen, created);

    let get = |path: &'static str| server.call(Method::GET, path, Auth::Bearer(&token), None);
    get("/v1/conversations?cursor=nonsense").await.assert_error(400, "invalid");
    get("/v1/conversations?limit=0").await.assert_error(400, "invalid");
    get("/v1/conversations?limit=201").await.assert_error(413, "too_large");
    get("/v1/conversations?limit=x").await.assert_error(400, "invalid");
    get("/v1/conversations?colour=red").await.assert_error(400, "invalid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_roles_follow_the_rules() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let (alice, bob, dave) = (server.token("alice"), server.token("bob"), server.token("dave"));
    let members = format!("/v1/conversations/{conv}/members");
    let member = |user: &str| format!("{members}/{user}");
    let add = |token: &str, user: &str, role: &str| {
        let (token, body) = (token.to_owned(), json!({"user_id": user, "role": role}));
        let (server, path) = (&server, members.clone());
        async move { server.call(Method::POST, &path, Auth::Bearer(&token), Some(body)).await }
    };
    let set_role = |token: &str, user: &str, role: &str| {
        let (token, path, body) = (token.to_owned(), member(user), json!({"role": role}));
        let server = &server;
        async move { server.call(Method::PATCH, &path, Auth::Bearer(&token), Some(body)).await }
    };
    let remove = |token: &str, user: &str| {
        let (token, path) = (token.to_owned(), member(user));
        let server = &server;
        async move { server.call(Method::DELETE, &path, Auth::Bearer(&token), None).await }
    };
    let role_of = |conversation: &Value, user: &str| {
        conversation["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == user)
            .map(|m| m["role"].clone())
    };

    add(&bob, "carol", "member").await.assert_error(403, "forbidden");
    let r = add(&alice, "dave", "admin").await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(role_of(&r.body, "dave"), Some(json!("admin")));
    let r = server
        .call(Method::POST, &members, Auth::Bearer(&alice), Some(json!({"user_id": "dave"})))
        .await;
    assert_eq!(r.status, 200, "adding a member again changes nothing: {r:?}");
    assert_eq!(role_of(&r.body, "dave"), Some(json!("admin")));

    // An admin manages members up to their own role, never owners.
    set_role(&dave, "bob", "owner").await.assert_error(403, "forbidden");
    add(&dave, "erin", "owner").await.assert_error(403, "forbidden");
    assert_eq!(add(&dave, "erin", "member").await.status, 201);
    let r = set_role(&dave, "erin", "admin").await;
    assert_eq!((r.status, role_of(&r.body, "erin")), (200, Some(json!("admin"))), "{r:?}");
    remove(&dave, "alice").await.assert_error(403, "forbidden");
    set_role(&dave, "alice", "member").await.assert_error(403, "forbidden");
    add(&bob, "frank", "member").await.assert_error(403, "forbidden");
    remove(&bob, "erin").await.assert_error(403, "forbidden");

    // The last owner cannot leave or step down; after handing over ownership they can.
    remove(&alice, "alice").await.assert_error(409, "conflict");
    set_role(&alice, "alice", "admin").await.assert_error(409, "conflict");
    let r = set_role(&alice, "bob", "owner").await;
    assert_eq!((r.status, role_of(&r.body, "bob")), (200, Some(json!("owner"))), "{r:?}");
    assert_eq!(remove(&alice, "alice").await.status, 204);
    let path = format!("/v1/conversations/{conv}");
    server
        .call(Method::GET, &path, Auth::Bearer(&alice), None)
        .await
        .assert_error(404, "not_found");
    add(&alice, "alice", "member").await.assert_error(404, "not_found");

    assert_eq!(remove(&bob, "erin").await.status, 204, "an owner removes an admin");
    remove(&bob, "erin").await.assert_error(404, "not_found");
    let r = server.call(Method::GET, &path, Auth::Bearer(&bob), None).await;
    let left: Vec<(&str, &str)> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(left, [("bob", "owner"), ("dave", "admin")]);

    // A member may leave; a direct conversation keeps its two members.
    assert_eq!(remove(&dave, "dave").await.status, 204);
    let direct = server
        .call(
            Method::POST,
            "/v1/conversations",
            Auth::Bearer(&alice),
            Some(json!({"kind": "direct", "members": ["bob"]})),
        )
        .await;
    let direct_members = format!(
        "/v1/conversations/{}/members",
        direct.body["conversation"]["id"].as_str().unwrap()
    );
    let r = server
        .call(
            Method::POST,
            &direct_members,
            Auth::Bearer(&alice),
            Some(json!({"user_id": "carol"})),
        )
        .await;
    r.assert_error(400, "invalid");
    server
        .call(
            Method::POST,
            &members,
            Auth::Bearer(&bob),
            Some(json!({"user_id": "x", "role": "king"})),
        )
        .await
        .assert_error(400, "invalid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_both_ways() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    for i in 1..=10 {
        send(&server, "alice", &conv, &format!("m{i}"), &format!("message {i}")).await;
    }
    let token = server.token("bob");
    let page = |query: &str| {
        let path = format!("/v1/conversations/{conv}/messages{query}");
        let (server, token) = (&server, token.clone());
        async move { server.call(Method::GET, &path, Auth::Bearer(&token), None).await }
    };
    let expect = |r: &chinwag_testkit::Reply, want: std::ops::RangeInclusive<u64>, more: bool| {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["conversation_id"], conv.as_str());
        let want: Vec<u64> = want.collect();
        assert_eq!((seqs(&r.body), &r.body["has_more"]), (want, &json!(more)), "{}", r.body);
    };
    expect(&page("").await, 1..=10, false);
    expect(&page("?limit=4").await, 7..=10, true);
    expect(&page("?before=7&limit=4").await, 3..=6, true);
    expect(&page("?before=3&limit=4").await, 1..=2, false);
    expect(&page("?after=0&limit=4").await, 1..=4, true);
    expect(&page("?after=4&limit=4").await, 5..=8, true);
    expect(&page("?after=8&limit=4").await, 9..=10, false);
    expect(&page("?after=6&limit=4").await, 7..=10, false);
    let empty = page("?after=10").await;
    assert_eq!((seqs(&empty.body).len(), &empty.body["has_more"]), (0, &json!(false)));
    let r = page("?limit=1").await;
    assert_eq!(r.body["messages"][0]["body"], "message 10");
    assert_eq!(r.body["messages"][0]["sender"], "alice");
    assert_eq!(r.body["messages"][0]["client_msg_id"], "m10");
    assert_eq!(r.body["messages"][0]["kind"], "text");

    page("?before=5&after=2").await.assert_error(400, "invalid");
    page("?limit=500").await.assert_error(413, "too_large");
    page("?before=-1").await.assert_error(400, "invalid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_idempotent_and_read_positions_only_move_forward() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    let messages = format!("/v1/conversations/{conv}/messages");
    let post = |token: &str, body: Value| {
        let (server, path, token) = (&server, messages.clone(), token.to_owned());
        async move { server.call(Method::POST, &path, Auth::Bearer(&token), Some(body)).await }
    };
    let mut bob_ws = server.connect("bob").await;

    let first = post(&alice, json!({"client_msg_id": "c1", "body": "hello"})).await;
    assert_eq!((first.status, &first.body["duplicate"]), (201, &json!(false)), "{first:?}");
    assert_eq!(first.body["message"]["seq"], 1);
    let retry = post(&alice, json!({"client_msg_id": "c1", "body": "hello, retried"})).await;
    assert_eq!((retry.status, &retry.body["duplicate"]), (200, &json!(true)), "{retry:?}");
    assert_eq!(
        retry.body["message"], first.body["message"],
        "a retry returns the original message"
    );
    let live = bob_ws.messages(1).await;
    assert_eq!(live[0], first.body["message"], "REST sends reach WebSocket devices");

    let offer = post(
        &alice,
        json!({"client_msg_id": "c2", "kind": "offer", "body": "", "payload": {"amount": 30}}),
    )
    .await;
    assert_eq!(offer.status, 201, "{offer:?}");
    assert_eq!(
        (&offer.body["message"]["kind"], &offer.body["message"]["payload"]),
        (&json!("offer"), &json!({"amount": 30}))
    );
    for i in 3..=4 {
        post(&alice, json!({"client_msg_id": format!("c{i}"), "body": "more"})).await;
    }

    post(&alice, json!({"client_msg_id": "c9", "body": ""})).await.assert_error(400, "invalid");
    post(&alice, json!({"client_msg_id": "c9", "kind": "Shouting Kind", "body": "x"}))
        .await
        .assert_error(400, "invalid");
    post(&alice, json!({"client_msg_id": "", "body": "x"})).await.assert_error(400, "invalid");
    post(&alice, json!({"client_msg_id": "c9", "body": "x".repeat(64 * 1024 + 1)}))
        .await
        .assert_error(413, "too_large");
    post(&bob, json!({"client_msg_id": "c9", "kind": "system", "body": "I am the server"}))
        .await
        .assert_error(403, "forbidden");

    let read = |seq: u64| {
        let (server, path, token) =
            (&server, format!("/v1/conversations/{conv}/read"), bob.clone());
        async move {
            server.call(Method::POST, &path, Auth::Bearer(&token), Some(json!({"seq": seq}))).await
        }
    };
    let unread = || {
        let (server, path, token) = (&server, format!("/v1/conversations/{conv}"), bob.clone());
        async move {
            let r = server.call(Method::GET, &path, Auth::Bearer(&token), None).await;
            (r.body["read_seq"].as_u64().unwrap(), r.body["unread"].as_u64().unwrap())
        }
    };
    assert_eq!(unread().await, (0, 4));
    let r = read(2).await;
    assert_eq!((r.status, &r.body), (200, &json!({"read_seq": 2, "unread": 2})));
    assert_eq!(unread().await, (2, 2));
    let r = read(1).await;
    assert_eq!((r.status, &r.body), (200, &json!({"read_seq": 2, "unread": 2})), "never backwards");
    let r = read(100).await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"read_seq": 4, "unread": 0})),
        "clamped to the last message"
    );
    assert_eq!(unread().await, (4, 0));
    let event = bob_ws.recv_type("read_updated").await;
    assert_eq!(event["read_seq"], 2, "the user's devices hear of it: {event}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_one_shape_naming_its_request() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let alice = server.token("alice");
    let auth = Auth::Bearer(&alice);
    let messages = format!("/v1/conversations/{conv}/messages");
    let cases = [
        (
            server.call(Method::GET, "/v1/conversations", Auth::None, None).await,
            401,
            "unauthenticated",
        ),
        (
            server.call(Method::GET, "/v1/conversations", Auth::Bearer("x.y.z"), None).await,
            401,
            "unauthenticated",
        ),
        (server.call(Method::GET, "/v1/nowhere", auth, None).await, 404, "not_found"),
        (server.call(Method::GET, "/v1/conversations/01NOPE", auth, None).await, 404, "not_found"),
        (server.call(Method::DELETE, "/v1/me", auth, None).await, 405, "invalid"),
        (
            server
                .call_raw(Method::POST, &messages, auth, Some("application/json"), b"{".to_vec())
                .await,
            400,
            "malformed",
        ),
        (
            server
                .call_raw(Method::POST, &messages, auth, Some("text/plain"), b"{}".to_vec())
                .await,
            400,
            "malformed",
        ),
        (
            server.call(Method::POST, &messages, auth, Some(json!({"body": 5}))).await,
            400,
            "invalid",
        ),
        (
            server.call(Method::GET, &format!("{messages}?limit=1000"), auth, None).await,
            413,
            "too_large",
        ),
        (
            server
                .call(Method::POST, "/v1/server/tokens", auth, Some(json!({"user_id": "x"})))
                .await,
            401,
            "unauthenticated",
        ),
        (
            server
                .call(
                    Method::POST,
                    &messages,
                    auth,
                    Some(json!({"client_msg_id": "s", "kind": "system", "body": "x"})),
                )
                .await,
            403,
            "forbidden",
        ),
        (
            server
                .call(
                    Method::POST,
                    "/v1/accounts/register",
                    Auth::None,
                    Some(json!({"username": "alice", "password": "12345678"})),
                )
                .await,
            200,
            "",
        ),
        (
            server
                .call(
                    Method::POST,
                    "/v1/accounts/register",
                    Auth::None,
                    Some(json!({"username": "alice", "password": "12345678"})),
                )
                .await,
            409,
            "conflict",
        ),
    ];
    for (reply, status, code) in &cases {
        if code.is_empty() {
            assert_eq!(reply.status, *status, "{reply:?}");
        } else {
            reply.assert_error(*status, code);
        }
    }
    let method_not_allowed = &cases[4].0;
    assert_eq!(method_not_allowed.header("allow"), Some("GET,HEAD"), "{method_not_allowed:?}");

    // A client's own request id is used, and a request id is fresh per request otherwise.
    let r = server
        .http
        .get(server.url("/v1/nowhere"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "trace-42");
    assert_ne!(cases[0].0.header("x-request-id"), cases[1].0.header("x-request-id"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_api_mints_tokens_and_sends_system_messages() {
    let server = TestServer::start().await;
    let key = Auth::ApiKey(API_KEY);
    let r = server
        .call(
            Method::POST,
            "/v1/server/tokens",
            key,
            Some(json!({"user_id": "zed", "name": "Zed", "ttl_secs": 600})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user"], json!({"id": "zed", "tenant": "default", "name": "Zed"}));
    let expires_in = r.body["expires_at"].as_i64().unwrap() - chinwag_proto::clock::now_millis();
    assert!((590_000..=601_000).contains(&expires_in), "ttl_secs is honoured: {expires_in}");
    let zed_token = r.body["token"].as_str().unwrap().to_owned();
    let mut zed = WsClient::connect_as(&server.ws_url(), &zed_token, None).await;
    assert_eq!(zed.authed["user"], json!({"id": "zed", "tenant": "default", "name": "Zed"}));

    let body = json!({"user_id": "zed"});
    let wrong = server
        .call(
            Method::POST,
            "/v1/server/tokens",
            Auth::ApiKey("not-the-key-0123456789"),
            Some(body.clone()),
        )
        .await;
    wrong.assert_error(401, "unauthenticated");
    server
        .call(Method::POST, "/v1/server/tokens", Auth::None, Some(body.clone()))
        .await
        .assert_error(401, "unauthenticated");
    server
        .call(Method::POST, "/v1/server/tokens", Auth::Bearer(&zed_token), Some(body))
        .await
        .assert_error(401, "unauthenticated");
    server
        .call(Method::POST, "/v1/server/tokens", key, Some(json!({"user_id": ""})))
        .await
        .assert_error(400, "invalid");

    let deal =
        json!({"as_user": "alice", "kind": "direct", "members": ["zed"], "subject": "deal:7"});
    let r = server.call(Method::POST, "/v1/server/conversations", key, Some(deal.clone())).await;
    assert_eq!((r.status, &r.body["created"]), (201, &json!(true)), "{r:?}");
    let conv = r.body["conversation"]["id"].as_str().unwrap().to_owned();
    let r = server.call(Method::POST, "/v1/server/conversations", key, Some(deal)).await;
    assert_eq!(
        (r.status, r.body["conversation"]["id"].as_str()),
        (200, Some(conv.as_str())),
        "{r:?}"
    );
    assert_eq!(zed.recv_type("conversation").await["conversation"]["id"], conv.as_str());

    let path = format!("/v1/server/conversations/{conv}/messages");
    let system = json!({"as_user": "alice", "client_msg_id": "sys-1", "kind": "system", "body": "Deal closed"});
    let r = server.call(Method::POST, &path, key, Some(system.clone())).await;
    assert_eq!((r.status, &r.body["message"]["kind"]), (201, &json!("system")), "{r:?}");
    assert_eq!(r.body["message"]["sender"], "alice");
    let r = server.call(Method::POST, &path, key, Some(system)).await;
    assert_eq!((r.status, &r.body["duplicate"]), (200, &json!(true)), "{r:?}");
    let live = zed.messages(1).await;
    assert_eq!((&live[0]["kind"], &live[0]["body"]), (&json!("system"), &json!("Deal closed")));

    let outsider = json!({"as_user": "mallory", "client_msg_id": "m", "body": "hi"});
    server.call(Method::POST, &path, key, Some(outsider)).await.assert_error(404, "not_found");
    let r = server
        .call(
            Method::POST,
            &path,
            Auth::None,
            Some(json!({"as_user": "alice", "client_msg_id": "x", "body": "x"})),
        )
        .await;
    r.assert_error(401, "unauthenticated");

    // Users may not send `system`, over REST or WebSocket.
    let user_path = format!("/v1/conversations/{conv}/messages");
    let r = server
        .call(
            Method::POST,
            &user_path,
            Auth::Bearer(&zed_token),
            Some(json!({"client_msg_id": "z", "kind": "system", "body": "x"})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let frame = json!({"type": "send", "conversation_id": conv, "client_msg_id": "z", "kind": "system", "body": "x"});
    let r = zed.request(frame).await;
    assert_eq!((&r["type"], &r["error"]["code"]), (&json!("error"), &json!("forbidden")), "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_that_move() {
    let server = TestServer::start().await;
    let r = server.call(Method::GET, "/healthz", Auth::None, None).await;
    assert_eq!((r.status, &r.body), (200, &json!("ok")));
    let r = server.call(Method::GET, "/readyz", Auth::None, None).await;
    let identity = &server.node.identity;
    let node = format!("{:016x}", identity.node);
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"status": "ready", "node": node, "epoch": identity.epoch})),
        "readiness names the node that answered"
    );

    let scrape = || async {
        let r = server.http.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        r.text().await.unwrap()
    };
    let before = scrape().await;
    for name in [
        "chinwag_connections",
        "chinwag_messages_stored",
        "chinwag_fanout_seconds",
        "chinwag_queue_overflows",
        "chinwag_store_append_seconds",
        "chinwag_frames_in",
    ] {
        assert!(before.lines().any(|l| l.starts_with(name)), "`{name}` is exported:\n{before}");
    }
    assert_eq!(metric(&before, "chinwag_messages_stored_total"), 0.0);
    assert_eq!(metric(&before, "chinwag_connections"), 0.0);
    let info = format!("chinwag_node_info{{node=\"{node}\",epoch=\"{}\"}} 1", identity.epoch);
    assert!(before.lines().any(|l| l == info), "`{info}` is exported:\n{before}");

    let conv = server.group("alice", &["bob"]).await;
    let mut bob = server.connect("bob").await;
    let mut alice = server.connect("alice").await;
    for i in 0..3 {
        assert_eq!(alice.send_msg(&conv, &format!("ws-{i}"), "hi").await["type"], "ack");
    }
    send(&server, "alice", &conv, "rest-1", "hi").await;
    bob.messages(4).await;
    let dup = alice.send_msg(&conv, "ws-0", "hi").await;
    assert_eq!(dup["duplicate"], true, "a duplicate stores nothing");

    let after = scrape().await;
    assert_eq!(metric(&after, "chinwag_messages_stored_total"), 4.0, "{after}");
    assert_eq!(metric(&after, "chinwag_connections"), 2.0);
    assert!(metric(&after, "chinwag_frames_in_total") >= 6.0, "two auths and four sends: {after}");
    assert!(metric(&after, "chinwag_store_append_seconds_count") >= 4.0, "{after}");
    assert!(metric(&after, "chinwag_fanout_seconds_count") >= 4.0, "{after}");
    assert_eq!(metric(&after, "chinwag_queue_overflows_total"), 0.0);
    drop((alice, bob));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_rate_limited_per_username() {
    let server = TestServer::start().await;
    let creds = json!({"username": "victim", "password": "correct horse battery"});
    let r = server.call(Method::POST, "/v1/accounts/register", Auth::None, Some(creds)).await;
    assert_eq!(r.status, 200, "{r:?}");
    // Guesses fired at once, as an attacker would: the burst is served, the rest refused.
    let guesses = (0..12).map(|i| {
        let guess = json!({"username": "victim", "password": format!("guess-{i}")});
        server.call(Method::POST, "/v1/accounts/login", Auth::None, Some(guess))
    });
    let replies = futures_util::future::join_all(guesses).await;
    for r in &replies {
        assert!(r.status == 401 || r.status == 429, "{r:?}");
    }
    let limited = replies.iter().find(|r| r.status == 429).expect("rapid guesses are cut off");
    let error = limited.assert_error(429, "rate_limited");
    assert!(error["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
    // Another username is not affected.
    let other = json!({"username": "someone-else", "password": "whatever-123"});
    server
        .call(Method::POST, "/v1/accounts/login", Auth::None, Some(other))
        .await
        .assert_error(401, "unauthenticated");
    server.stop().await;
}
