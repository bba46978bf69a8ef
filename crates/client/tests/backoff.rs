//! With the server down, a client's reconnect attempts follow its configured, seeded schedule:
//! checked on a paused clock against a real socket that refuses every connection.

use std::time::Duration;

use chinwag_client::backoff::{BackoffPolicy, Wait, schedule};
use chinwag_client::{Client, ClientConfig, ConnectionState, Event, OfflineReason};
use tokio::time::Instant;

/// A loopback port with nothing listening: every connection attempt is refused at once.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("ws://127.0.0.1:{port}/v1/ws")
}

#[tokio::test(start_paused = true)]
async fn attempts_follow_the_seeded_schedule_with_the_breaker_at_the_end() {
    let policy = BackoffPolicy {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(3),
        breaker_threshold: 7,
        breaker_cooldown: Duration::from_secs(20),
    };
    let seed = 0x5eed;
    let config = ClientConfig {
        backoff: policy.clone(),
        backoff_seed: Some(seed),
        ..ClientConfig::default()
    };
    let (_client, mut events) =
        Client::connect_with(refused_url(), String::from("t"), config).await.unwrap();

    let expected = schedule(&policy, seed, 8);
    let mut waits = Vec::new();
    let mut times = Vec::new();
    while waits.len() < expected.len() {
        let event = tokio::time::timeout(Duration::from_secs(120), events.next()).await;
        let Ok(Some(Event::Connection(state))) = event else { continue };
        let wait = match state {
            ConnectionState::Reconnecting { attempt, retry_in } => {
                Wait::Retry { attempt, delay: retry_in }
            }
            ConnectionState::Offline(OfflineReason::BreakerOpen { retry_in }) => {
                Wait::BreakerOpen { attempt: waits.len() as u32 + 1, delay: retry_in }
            }
            ConnectionState::Connecting => continue,
            other => panic!("unexpected state {other:?}"),
        };
        waits.push(wait);
        times.push(Instant::now());
    }
    assert_eq!(waits, expected, "the client follows the pure schedule for its seed");
    assert!(matches!(waits[5], Wait::Retry { attempt: 6, .. }));
    assert!(matches!(waits[6], Wait::BreakerOpen { .. }), "the breaker opens after 7 failures");

    // Each failure is reported when the previous wait is over: the client really waited.
    for i in 1..times.len() {
        let gap = times[i] - times[i - 1];
        let planned = waits[i - 1].delay();
        assert!(
            gap >= planned && gap <= planned + Duration::from_millis(5),
            "attempt {}: waited {gap:?}, planned {planned:?}",
            i + 1
        );
    }
    // Full jitter: the delays are not simply the doubling ceilings.
    let ceilings: Vec<Duration> = (0..6).map(|f| policy.ceiling(f)).collect();
    let delays: Vec<Duration> = waits[..6].iter().map(|w| w.delay()).collect();
    assert!(delays.iter().zip(&ceilings).all(|(d, c)| d <= c));
    assert_ne!(delays, ceilings);
}

#[tokio::test(start_paused = true)]
async fn reconnect_resets_the_backoff_and_close_stops_the_client() {
    let config = ClientConfig {
        backoff: BackoffPolicy { breaker_threshold: 2, ..BackoffPolicy::default() },
        backoff_seed: Some(1),
        ..ClientConfig::default()
    };
    let (client, mut events) =
        Client::connect_with(refused_url(), String::from("t"), config).await.unwrap();
    let mut offline = false;
    while !offline {
        if let Some(Event::Connection(ConnectionState::Offline(OfflineReason::BreakerOpen {
            ..
        }))) = events.next().await
        {
            offline = true;
        }
    }
    let before = Instant::now();
    client.reconnect().await.unwrap();
    loop {
        match events.next().await {
            Some(Event::Connection(ConnectionState::Reconnecting { attempt, .. })) => {
                assert_eq!(attempt, 1, "a manual reconnect starts the backoff over");
                assert!(Instant::now() - before < Duration::from_secs(1), "without the cooldown");
                break;
            }
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    client.close().await;
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e);
    }
    assert_eq!(last, Some(Event::Connection(ConnectionState::Offline(OfflineReason::Closed))));
}
