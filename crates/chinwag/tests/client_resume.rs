//! Resume from stored positions: a client started again on the same state file receives exactly
//! what it missed (`recovered`), and learns of conversations it was removed from (`resynced`).

use std::time::Duration;

use chinwag_client::{Client, ClientConfig, Event, Events, Recovery};
use chinwag_testkit::TestServer;
use reqwest::Method;

async fn until_resumed(events: &mut Events, messages: &mut Vec<u64>) -> Recovery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Resumed(r))) => return r,
            Ok(Some(Event::Message(m))) => messages.push(m.seq),
            Ok(Some(_)) => {}
            other => panic!("no resumed: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_resumes_from_its_saved_positions() {
    let server = TestServer::start().await;
    let conv = server.group("owner", &["alice"]).await;
    let kept = server.group("owner", &["alice"]).await;
    let state = tempfile::tempdir().unwrap();
    let config = || ClientConfig {
        state_path: Some(state.path().join("alice.db")),
        ..ClientConfig::default()
    };
    let mut owner = server.connect("owner").await;
    for i in 0..5 {
        owner.send_msg(&conv, &format!("before-{i}"), "before").await;
    }

    let (alice, mut events) =
        Client::connect_with(server.ws_url(), server.token("alice"), config()).await.unwrap();
    let mut seen = Vec::new();
    let first = until_resumed(&mut events, &mut seen).await;
    assert_eq!(first, Recovery::Recovered { replayed: 5 });
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    alice.close().await;

    // While alice's client is stopped: three more messages, and she is removed from `kept`.
    for i in 0..3 {
        owner.send_msg(&conv, &format!("after-{i}"), "after").await;
    }
    let owner_token = server.token("owner");
    let (status, body) = server
        .rest(
            &owner_token,
            Method::DELETE,
            &format!("/v1/conversations/{kept}/members/alice"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (alice, mut events) =
        Client::connect_with(server.ws_url(), server.token("alice"), config()).await.unwrap();
    let mut seen = Vec::new();
    let second = until_resumed(&mut events, &mut seen).await;
    assert_eq!(seen, [6, 7, 8], "exactly what was missed, from the saved position");
    assert_eq!(
        second,
        Recovery::Resynced { replayed: 3, unavailable: vec![kept.as_str().into()] },
        "the conversation she left is reported"
    );
    assert_eq!(alice.position(&conv.as_str().into()), Some(8));
    assert_eq!(alice.position(&kept.as_str().into()), None, "forgotten");
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_cut_short_is_completed_from_history_in_order() {
    let server = TestServer::start_with(|c| {
        c.limits.resume_max_messages = 10;
        c.limits.max_page_size = 7;
        c.limits.default_page_size = 5;
    })
    .await;
    let conv = server.group("owner", &["alice"]).await;
    let mut owner = server.connect("owner").await;
    for i in 0..40 {
        owner.send_msg(&conv, &format!("early-{i}"), "early").await;
    }
    let (alice, mut events) =
        Client::connect_with(server.ws_url(), server.token("alice"), ClientConfig::default())
            .await
            .unwrap();
    // More arrive live while the client is still catching up.
    for i in 0..5 {
        owner.send_msg(&conv, &format!("late-{i}"), "late").await;
    }
    let mut seqs = Vec::new();
    let mut recovery = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seqs.len() < 45 || recovery.is_none() {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Message(m))) => seqs.push(m.seq),
            Ok(Some(Event::Resumed(r))) => recovery = Some(r),
            Ok(Some(_)) => {}
            other => panic!("{} messages so far ({seqs:?}); then {other:?}", seqs.len()),
        }
    }
    assert_eq!(seqs, (1..=45).collect::<Vec<_>>(), "the capped replay, then history, then live");
    assert_eq!(recovery, Some(Recovery::Recovered { replayed: 10 }));
    assert_eq!(alice.position(&conv.as_str().into()), Some(45));
    // Nothing more arrives twice.
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        assert!(!matches!(e, Event::Message(_)), "a duplicate: {e:?}");
    }
    alice.close().await;
}
