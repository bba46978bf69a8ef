//! The server on the PostgreSQL store: nodes sharing one database share accounts, tokens and
//! history, and what one stored survives every node's restart.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` (`.ci/run` sets it); unset, each test says so and returns.

use chinwag_store::conformance::postgres::{TestSchema, available};
use chinwag_testkit::{TestServer, WsClient, create_conversation, full_history, register};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_database_share_accounts_tokens_and_history() {
    if !available() {
        return;
    }
    let schema = TestSchema::new();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = TestServer::start_config(TestServer::postgres_config(dir_a.path(), &schema)).await;
    let b = TestServer::start_config(TestServer::postgres_config(dir_b.path(), &schema)).await;
    let (base_a, base_b) = (a.url(""), b.url(""));

    // Accounts registered on one node sign in on the other, and its tokens are good there:
    // the generated secret is kept in the database, not in each node's data directory.
    let ann = register(&a.http, &base_a, "ann", "ann-password-1").await;
    let bob = register(&b.http, &base_b, "bob", "bob-password-1").await;
    let (status, body) = b.rest(&ann, reqwest::Method::GET, "/v1/conversations", None).await;
    assert_eq!(status, 200, "a token from node a works on node b: {body}");
    let signed_in = a
        .http
        .post(a.url("/v1/accounts/login"))
        .json(&json!({"username": "bob", "password": "bob-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200, "bob, registered on b, signs in on a");

    let conv = create_conversation(
        &b.http,
        &base_b,
        &ann,
        json!({"kind": "group", "title": "shared", "members": ["bob"]}),
    )
    .await;

    // Sends on both nodes land in one history, with one gapless order.
    let mut on_a = WsClient::connect_as(&a.ws_url(), &ann, None).await;
    let mut on_b = WsClient::connect_as(&b.ws_url(), &bob, None).await;
    for i in 0..10 {
        let ack = on_a.send_msg(&conv, &format!("a{i}"), &format!("from a {i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let ack = on_b.send_msg(&conv, &format!("b{i}"), &format!("from b {i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    // A retry on the other node is the same message (G2 across nodes).
    let again = on_b.send_msg(&conv, "b3", "from b 3").await;
    assert_eq!(again["type"], "ack", "{again}");
    let seqs: Vec<u64> = full_history(&a.http, &base_a, &ann, &conv)
        .await
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 20, "twenty messages, the retry stored once: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gapless: {seqs:?}");
    assert_eq!(
        full_history(&b.http, &base_b, &bob, &conv).await,
        full_history(&a.http, &base_a, &ann, &conv).await,
        "both nodes read the same history"
    );
    drop((on_a, on_b));
    a.stop().await;
    b.stop().await;

    // A node started later on the same database has it all, and the same secret.
    let dir_c = tempfile::tempdir().unwrap();
    let c = TestServer::start_config(TestServer::postgres_config(dir_c.path(), &schema)).await;
    let history = full_history(&c.http, &c.url(""), &ann, &conv).await;
    assert_eq!(history.len(), 20, "history survives every node's restart");
    assert_eq!(history[19]["body"], "from b 9");
    c.stop().await;
}
