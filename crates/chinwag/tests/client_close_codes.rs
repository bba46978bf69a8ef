//! The SDK follows the server's close codes and token expiry: it refreshes a token on the open
//! connection before it expires; `4003 token_expired` makes it ask its token provider for a
//! fresh token and resume; `1012 service_restart` makes it wait at least the advised
//! `retry_after_ms`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::token::{TokenError, token_fn};
use chinwag_client::{Client, ClientConfig, ConnectionState, Event, MessageState, Recovery};
use chinwag_testkit::{TOKEN_SECRET, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

fn short_lived(user: &str, secs: i64) -> String {
    let exp = chinwag_proto::clock::now_millis() / 1000 + secs;
    let claims = json!({"sub": user, "tenant": "default", "exp": exp, "iss": "chinwag"});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TOKEN_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn next_matching(
    events: &mut chinwag_client::Events,
    what: &str,
    mut want: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(e)) if want(&e) => return e,
            Ok(Some(_)) => {}
            other => panic!("waiting for {what}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_through_the_provider_and_the_client_resumes() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let calls: Arc<Mutex<Vec<bool>>> = Arc::default();
    let fresh = server.token("alice");
    let provider = {
        let calls = calls.clone();
        token_fn(move |refresh| {
            let mut calls = calls.lock().unwrap();
            calls.push(refresh);
            // The first token runs out two seconds after it is issued, and the refresh before
            // expiry fails (the app's backend is down), so the server closes with 4003.
            let token = match (refresh, calls.len()) {
                (false, _) => Ok(short_lived("alice", 2)),
                (true, 2) => Err(TokenError("backend down".into())),
                (true, _) => Ok(fresh.clone()),
            };
            async move { token }
        })
    };
    let (client, mut events) =
        Client::connect_with(server.ws_url(), provider, ClientConfig::default()).await.unwrap();
    next_matching(&mut events, "connected", |e| {
        *e == Event::Connection(ConnectionState::Connected)
    })
    .await;
    next_matching(&mut events, "the server's close", |e| {
        matches!(e, Event::Connection(ConnectionState::Reconnecting { .. }))
    })
    .await;
    next_matching(&mut events, "connected again", |e| {
        *e == Event::Connection(ConnectionState::Connected)
    })
    .await;
    next_matching(&mut events, "resumed", |e| {
        matches!(e, Event::Resumed(Recovery::Recovered { .. }))
    })
    .await;
    assert_eq!(*calls.lock().unwrap(), [false, true, true], "asked again after the 4003");

    client.send(conv.as_str(), "after the refresh").await.unwrap();
    next_matching(
        &mut events,
        "sent",
        |e| matches!(e, Event::MessageState(s) if s.state == MessageState::Sent),
    )
    .await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_restart_close_is_waited_out_as_advised() {
    let server = TestServer::start().await;
    let config = ClientConfig {
        // On its own this policy would retry within 20 ms.
        backoff: BackoffPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(20),
            ..BackoffPolicy::default()
        },
        ..ClientConfig::default()
    };
    let (client, mut events) =
        Client::connect_with(server.ws_url(), server.token("alice"), config).await.unwrap();
    next_matching(&mut events, "connected", |e| {
        *e == Event::Connection(ConnectionState::Connected)
    })
    .await;
    server.stop().await;
    let Event::Connection(ConnectionState::Reconnecting { attempt, retry_in }) =
        next_matching(&mut events, "reconnecting", |e| {
            matches!(e, Event::Connection(ConnectionState::Reconnecting { .. }))
        })
        .await
    else {
        unreachable!()
    };
    assert_eq!(attempt, 1);
    // The server spreads its advice over 1-5 s; the client adds its jitter on top.
    assert!(
        retry_in >= Duration::from_secs(1) && retry_in <= Duration::from_millis(5_020),
        "{retry_in:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_refreshed_on_the_open_connection_before_it_expires() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let calls: Arc<Mutex<Vec<bool>>> = Arc::default();
    let fresh = server.token("alice");
    let provider = {
        let calls = calls.clone();
        token_fn(move |refresh| {
            calls.lock().unwrap().push(refresh);
            let token = if refresh { fresh.clone() } else { short_lived("alice", 3) };
            async move { Ok(token) }
        })
    };
    let (client, mut events) =
        Client::connect_with(server.ws_url(), provider, ClientConfig::default()).await.unwrap();
    next_matching(&mut events, "connected", |e| {
        *e == Event::Connection(ConnectionState::Connected)
    })
    .await;
    // Past the first token's expiry: the connection must still be the same one.
    let until = tokio::time::Instant::now() + Duration::from_millis(4_500);
    while let Ok(Some(e)) = tokio::time::timeout_at(until, events.next()).await {
        assert!(!matches!(e, Event::Connection(_)), "the connection changed: {e:?}");
    }
    assert_eq!(*calls.lock().unwrap(), [false, true], "refreshed once, before expiry");
    client.send(conv.as_str(), "still connected").await.unwrap();
    next_matching(
        &mut events,
        "sent",
        |e| matches!(e, Event::MessageState(s) if s.state == MessageState::Sent),
    )
    .await;
    client.close().await;
}
