//! `chinwag migrate-store`: a node's SQLite database copied into PostgreSQL, then served from
//! there with nothing lost or changed (history, receipts, drafts, accounts, idempotency), and a
//! copy that stopped half way finished by running it again.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` (`.ci/run` sets it); unset, it says so and returns.

use std::process::Command;

use chinwag_store::conformance::postgres::{TestSchema, available};
use chinwag_testkit::{TOKEN_SECRET, TestServer, WsClient, full_history, register};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");

fn migrate(dir: &std::path::Path, schema: &TestSchema) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["migrate-store", "--from"])
        .arg(format!("sqlite:{}", dir.display()))
        .args(["--to", &schema.url, "--schema", &schema.name])
        .output()
        .expect("run migrate-store");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn conversations(server: &TestServer, token: &str) -> Value {
    let (status, body) = server.rest(token, reqwest::Method::GET, "/v1/conversations", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_node_moves_to_postgres_with_everything() {
    if !available() {
        return;
    }
    // A node on SQLite with some life in it.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = TestServer::start_config(TestServer::test_config(dir.path())).await;
    let base = sqlite.url("");
    let ann = register(&sqlite.http, &base, "ann", "ann-password-1").await;
    let bob = register(&sqlite.http, &base, "bob", "bob-password-1").await;
    let conv = sqlite.group("ann", &["bob"]).await;
    let mut a = WsClient::connect_as(&sqlite.ws_url(), &ann, None).await;
    let mut b = WsClient::connect_as(&sqlite.ws_url(), &bob, None).await;
    for i in 0..30 {
        assert_eq!(a.send_msg(&conv, &format!("a{i}"), &format!("hello {i}")).await["type"], "ack");
    }
    let reply = a
        .request(json!({"type": "send", "conversation_id": conv, "client_msg_id": "r1",
            "body": "a reply", "reply_to": 3}))
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let edit = a
        .request(json!({"type": "edit", "conversation_id": conv, "seq": 1,
            "client_msg_id": "e1", "body": "hello, edited"}))
        .await;
    assert_eq!(edit["type"], "amended", "{edit}");
    let react = b
        .request(json!({"type": "react", "conversation_id": conv, "seq": 2,
            "client_msg_id": "x1", "emoji": "👍", "add": true}))
        .await;
    assert_eq!(react["type"], "amended", "{react}");
    for frame in [
        json!({"type": "received", "conversation_id": conv, "seq": 20}),
        json!({"type": "read", "conversation_id": conv, "seq": 10}),
        json!({"type": "draft", "conversation_id": conv, "version": 0, "body": "half a thought"}),
    ] {
        let r = b.request(frame).await;
        assert!(r["type"] == "ok" || r["type"] == "draft_saved", "{r}");
    }
    drop((a, b));
    let history_before = full_history(&sqlite.http, &base, &ann, &conv).await;
    let list_before = conversations(&sqlite, &bob).await;
    sqlite.stop().await;

    // Copy, and copy again: the second run finds everything there.
    let schema = TestSchema::new();
    let (ok, out) = migrate(dir.path(), &schema);
    assert!(ok, "{out}");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("messages") && out.contains("33 rows in SQLite"), "{out}");
    let (ok, again) = migrate(dir.path(), &schema);
    assert!(ok, "{again}");
    assert!(again.contains("0 copied now"), "{again}");

    // A copy that stopped half way: run again, and it is whole.
    let raw = schema.raw().await;
    let table = format!("\"{}\".messages", schema.name);
    raw.execute(&format!("DELETE FROM {table} WHERE seq > 12"), &[]).await.unwrap();
    let (ok, resumed) = migrate(dir.path(), &schema);
    assert!(ok, "{resumed}");
    assert!(resumed.contains("21 copied now"), "{resumed}");

    // Served from PostgreSQL: the same history, receipts and drafts; sends carry on.
    let pg_dir = tempfile::tempdir().unwrap();
    let mut config = TestServer::postgres_config(pg_dir.path(), &schema);
    config.auth.token_secret = TOKEN_SECRET.into();
    let pg = TestServer::start_config(config).await;
    let pg_base = pg.url("");
    assert_eq!(full_history(&pg.http, &pg_base, &ann, &conv).await, history_before);
    assert_eq!(conversations(&pg, &bob).await, list_before, "unread, receipts, last message");
    let login = pg
        .http
        .post(pg.url("/v1/accounts/login"))
        .json(&json!({"username": "bob", "password": "bob-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "accounts and password hashes came along");
    let draft_path = format!("/v1/conversations/{conv}/draft");
    let (status, draft) = pg.rest(&bob, reqwest::Method::GET, &draft_path, None).await;
    assert_eq!(
        (status, draft["version"].as_u64(), draft["body"].as_str()),
        (200, Some(1), Some("half a thought"))
    );
    let mut b = WsClient::connect_as(&pg.ws_url(), &bob, None).await;
    let retry = b.send_msg(&conv, "a0", "hello 0").await;
    let mut a = WsClient::connect_as(&pg.ws_url(), &ann, None).await;
    let retried = a.send_msg(&conv, "a0", "hello 0").await;
    assert_eq!(retried["message"]["seq"], 1, "a retry finds the original (G2): {retried}");
    assert_eq!(retry["message"]["seq"], 34, "bob's new message comes next: {retry}");
    pg.stop().await;
}
