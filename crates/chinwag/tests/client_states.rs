//! Per-message states through the SDK: sending → sent → delivered → read from the other
//! member's receipts (and from their replies), and failed after the deadline, then retry.

use std::time::Duration;

use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::{
    Client, ClientConfig, ConnectionState, Event, Events, HistoryQuery, MessageState,
};
use chinwag_testkit::{Proxy, TestServer, high_request_limits};

/// Collect state events until `done` says so.
async fn states_until(
    events: &mut Events,
    mut done: impl FnMut(&[(String, MessageState)]) -> bool,
) -> Vec<(String, MessageState)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::MessageState(s))) => seen.push((s.client_msg_id.to_string(), s.state)),
            Ok(Some(_)) => {}
            other => panic!("states so far {seen:?}; then {other:?}"),
        }
    }
    seen
}

fn has(seen: &[(String, MessageState)], id: &str, state: MessageState) -> bool {
    seen.iter().any(|(i, s)| i == id && *s == state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_delivered_read_from_receipts_and_replies() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let (alice, mut a_events) =
        Client::connect_with(server.ws_url(), server.token("alice"), ClientConfig::default())
            .await
            .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            alice
                .send(conv.as_str(), format!("hello {i}"))
                .await
                .unwrap()
                .client_msg_id
                .to_string(),
        );
    }
    let seen =
        states_until(&mut a_events, |s| ids.iter().all(|id| has(s, id, MessageState::Sent))).await;
    for id in &ids {
        let order: Vec<MessageState> =
            seen.iter().filter(|(i, _)| i == id).map(|(_, s)| *s).collect();
        assert_eq!(order, [MessageState::Sending, MessageState::Sent], "{id}");
    }

    // Bob's client confirms delivery by itself as the messages arrive.
    let (bob, mut b_events) =
        Client::connect_with(server.ws_url(), server.token("bob"), ClientConfig::default())
            .await
            .unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Some(Event::Message(m)) = b_events.next().await {
            got.push(m.seq);
        }
    }
    assert_eq!(got, [1, 2, 3]);
    let seen =
        states_until(&mut a_events, |s| ids.iter().all(|id| has(s, id, MessageState::Delivered)))
            .await;
    assert!(!seen.iter().any(|(_, s)| *s == MessageState::Read), "delivered is not read: {seen:?}");

    // Bob reads up to the second message.
    bob.mark_read(conv.as_str(), 2).await.unwrap();
    let seen = states_until(&mut a_events, |s| has(s, &ids[1], MessageState::Read)).await;
    assert!(has(&seen, &ids[0], MessageState::Read));
    assert!(!has(&seen, &ids[2], MessageState::Read), "the third is not read yet");

    // Bob answers: his own send moves his read position past the third.
    bob.send(conv.as_str(), "hi alice").await.unwrap();
    states_until(&mut a_events, |s| has(s, &ids[2], MessageState::Read)).await;
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_its_deadline_fails_stays_failed_and_retry_sends_it_once() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    // Nothing listens where the proxy forwards to at first: the server is unreachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let proxy = Proxy::start(dead).await;
    let config = ClientConfig {
        send_deadline: Duration::from_millis(300),
        backoff: BackoffPolicy {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            breaker_threshold: 0,
            ..BackoffPolicy::default()
        },
        ..ClientConfig::default()
    };
    let (alice, mut events) =
        Client::connect_with(proxy.ws_url(), server.token("alice"), config).await.unwrap();
    let id = alice.send(conv.as_str(), "late").await.unwrap().client_msg_id;
    let seen = states_until(&mut events, |s| has(s, id.as_str(), MessageState::Failed)).await;
    assert_eq!(seen.last().unwrap().1, MessageState::Failed);
    assert!(alice.outbox().unwrap()[0].failed, "kept in the outbox, marked failed");

    // The server becomes reachable: a failed message is not sent on its own.
    proxy.set_upstream(server.addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while alice.connection_state() != ConnectionState::Connected {
        assert!(tokio::time::Instant::now() < deadline, "not connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = alice.history(conv.as_str(), Default::default()).await.unwrap();
    assert!(page.messages.is_empty(), "nothing was sent: {:?}", page.messages);

    alice.retry(&id).await.unwrap();
    let seen = states_until(&mut events, |s| has(s, id.as_str(), MessageState::Sent)).await;
    assert!(has(&seen, id.as_str(), MessageState::Sending), "{seen:?}");
    let page = alice.history(conv.as_str(), Default::default()).await.unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["late"]);
    assert_eq!(page.messages[0].client_msg_id, id, "the same client_msg_id");
    assert_eq!(alice.outbox_len(), 0);
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_never_wait_for_an_application_that_is_not_reading_events() {
    let server = TestServer::start_with(high_request_limits).await;
    let conv = server.group("alice", &["bob"]).await;
    // One event of room: the driver stalls at once while nobody reads.
    let config = ClientConfig { event_capacity: 1, ..ClientConfig::default() };
    let (alice, mut events) =
        Client::connect_with(server.ws_url(), server.token("alice"), config).await.unwrap();
    const N: usize = 1_100;
    let mut ids = Vec::new();
    let queued = tokio::time::timeout(Duration::from_secs(20), async {
        for i in 0..N {
            ids.push(alice.send(conv.as_str(), format!("m{i}")).await.unwrap().client_msg_id);
        }
    })
    .await;
    assert!(queued.is_ok(), "more sends than the command channel holds, none waited");

    let mut sent = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while sent.len() < N {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::MessageState(s))) if s.state == MessageState::Sent => {
                *sent.entry(s.client_msg_id.to_string()).or_insert(0) += 1;
            }
            Ok(Some(_)) => {}
            other => panic!("{} of {N} sent, then {other:?}", sent.len()),
        }
    }
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        if let Event::MessageState(s) = e
            && s.state == MessageState::Sent
        {
            *sent.entry(s.client_msg_id.to_string()).or_insert(0) += 1;
        }
    }
    assert!(sent.values().all(|n| *n == 1), "`sent` once each");
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = alice
            .history(
                conv.as_str(),
                HistoryQuery { after: Some(after), limit: Some(200), ..Default::default() },
            )
            .await
            .unwrap();
        stored.extend(page.messages.iter().map(|m| m.client_msg_id.clone()));
        after = page.messages.last().map(|m| m.seq).unwrap_or(after);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(stored, ids, "stored once each, in the order sent");
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_starts_are_throttled_and_stops_are_not() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let mut bob = server.connect("bob").await;
    let (alice, _events) =
        Client::connect_with(server.ws_url(), server.token("alice"), ClientConfig::default())
            .await
            .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alice.connection_state() != ConnectionState::Connected {
        assert!(tokio::time::Instant::now() < deadline, "not connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    alice.typing(conv.as_str(), true).await.unwrap();
    let typing = bob.recv_type("typing").await;
    assert_eq!((&typing["user_id"], &typing["typing"]), (&"alice".into(), &true.into()));

    // Without a server, only what is actually sent can fail.
    server.stop().await;
    while alice.connection_state() == ConnectionState::Connected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    alice.typing(conv.as_str(), true).await.expect("a repeat within 2.5 s is not sent");
    assert!(matches!(
        alice.typing(conv.as_str(), false).await,
        Err(chinwag_client::RequestError::NotConnected)
    ));
    assert!(
        matches!(
            alice.typing(conv.as_str(), true).await,
            Err(chinwag_client::RequestError::NotConnected)
        ),
        "after a stop, a start is sent again"
    );
    alice.close().await;
}
