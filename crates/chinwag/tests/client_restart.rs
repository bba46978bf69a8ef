//! The outbox survives a restart of the client process: `chinwag chat --line` queues 50
//! messages while the server is down and is killed with SIGKILL; a new process on the same state
//! file delivers all 50 once the server is back, once each, in order, with the same
//! `client_msg_id`s.

use std::path::Path;
use std::time::Duration;

use chinwag_testkit::{
    ChatProcess, ChildServer, Proxy, create_conversation, messages_page, register,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");
const PASSWORD: &str = "correct horse battery";

fn chat(server: &str, state: &Path, conversation: Option<&str>) -> ChatProcess {
    let mut more = vec!["--max-backoff-ms", "300"];
    if let Some(c) = conversation {
        more.extend(["--conversation", c]);
    }
    ChatProcess::sign_in(BIN, server, "alice", PASSWORD, state, &more)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_messages_queued_offline_survive_a_client_restart() {
    let data = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("alice.db");
    let http = reqwest::Client::new();
    let mut server = ChildServer::start(BIN.as_ref(), data.path()).await;
    let proxy = Proxy::start(server.addr).await;
    let base = format!("http://{}", proxy.addr());

    let token = register(&http, &base, "alice", PASSWORD).await;
    register(&http, &base, "bob", PASSWORD).await;
    let conv =
        create_conversation(&http, &base, &token, json!({"kind": "direct", "members": ["bob"]}))
            .await;

    server.kill();
    let mut first = chat(&base, &state, Some(&conv));
    for i in 0..50 {
        first.say(&format!("offline message {i}")).await;
    }
    let mut queued = Vec::new();
    first
        .until(Duration::from_secs(20), |l| {
            if let Some(rest) = l.strip_prefix("queued ") {
                queued.push(rest.split(' ').next().unwrap().to_owned());
            }
            queued.len() == 50
        })
        .await;
    // SIGKILL: no chance to flush or close anything.
    first.child.kill().await.unwrap();

    let mut second = chat(&base, &state, None);
    second.say("/wait").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server = ChildServer::start(BIN.as_ref(), data.path()).await;
    proxy.set_upstream(server.addr);
    let mut sent = Vec::new();
    let lines = second
        .until(Duration::from_secs(30), |l| {
            if let Some(rest) = l.strip_prefix("state ")
                && let [id, "sent", seq] = rest.split(' ').collect::<Vec<_>>()[..]
            {
                sent.push((id.to_owned(), seq.trim_start_matches("seq=").parse::<u64>().unwrap()));
            }
            l == "outbox empty"
        })
        .await;
    assert!(lines.iter().any(|l| l == "connection connected"), "{lines:#?}");
    let expected: Vec<(String, u64)> = queued.iter().cloned().zip(1..=50).collect();
    assert_eq!(sent, expected, "the same client_msg_ids, acknowledged in the order typed");

    let page = messages_page(&http, &base, &token, &conv, 0).await;
    let stored: Vec<(u64, String, String)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap(),
                m["client_msg_id"].as_str().unwrap().to_owned(),
                m["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(u64, String, String)> = (0..50)
        .map(|i| (i as u64 + 1, queued[i].clone(), format!("offline message {i}")))
        .collect();
    assert_eq!(stored, want, "stored once each, in order");

    let status = second.quit().await;
    assert!(status.expect("chat exits on /quit").unwrap().success());
}
