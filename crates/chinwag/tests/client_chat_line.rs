//! `chinwag chat --line` between two users: conversations with unread counts, typing, message
//! states from receipts, and the connection quality, all as lines.

use std::time::Duration;

use chinwag_testkit::{ChatProcess, ChildServer, create_conversation, register};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");
const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminals_see_typing_receipts_unread_counts_and_quality() {
    let data = tempfile::tempdir().unwrap();
    let states = tempfile::tempdir().unwrap();
    let server = ChildServer::start(BIN.as_ref(), data.path()).await;
    let base = server.url("");
    let http = reqwest::Client::new();
    let token = register(&http, &base, "alice", PASSWORD).await;
    register(&http, &base, "bob", PASSWORD).await;
    let conv =
        create_conversation(&http, &base, &token, json!({"kind": "direct", "members": ["bob"]}))
            .await;

    let start = |user: &str| {
        let state = states.path().join(format!("{user}.db"));
        ChatProcess::sign_in(BIN, &base, user, PASSWORD, &state, &["--conversation", &conv])
    };
    let mut alice = start("alice");
    let mut bob = start("bob");
    alice.expect("connection connected").await;
    alice.expect("quality excellent").await;
    bob.expect("connection connected").await;

    bob.say("/typing on").await;
    alice.expect(&format!("typing {conv} bob on")).await;

    alice.say("hello bob").await;
    let queued = alice.expect("queued ").await;
    let id = queued.split(' ').nth(1).unwrap().to_owned();
    alice.expect(&format!("state {id} sent seq=1")).await;
    bob.expect(&format!("message {conv} 1 alice {id} hello bob")).await;
    // Bob's client confirms delivery by itself; alice sees the receipt and the new state.
    alice.expect(&format!("state {id} delivered seq=1")).await;
    bob.say("/read").await;
    bob.expect(&format!("marked {conv} read_seq=1")).await;
    alice.expect(&format!("state {id} read seq=1")).await;

    bob.say("two for you").await;
    bob.say("and three").await;
    alice.expect(&format!("message {conv} 3 bob")).await;
    alice.say("/list").await;
    let list = alice.until(Duration::from_secs(10), |l| l == "end list").await;
    let line = list.iter().find(|l| l.starts_with(&format!("conversation {conv} "))).unwrap();
    assert!(line.contains("unread=2 last_seq=3 title=bob"), "{line}");

    // After a ping interval the status carries a measured round trip.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    alice.say("/status").await;
    let status = alice.expect("status ").await;
    assert!(status.starts_with("status connected quality=excellent rtt_ms="), "{status}");
    assert!(!status.contains("rtt_ms=-"), "a round trip was measured: {status}");
    assert!(status.ends_with("outbox=0"), "{status}");

    for chat in [&mut alice, &mut bob] {
        let exit = chat.quit().await;
        assert!(exit.expect("exits on /quit").unwrap().success());
    }
}
