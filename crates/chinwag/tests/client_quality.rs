//! Connection quality follows the latency: with a delaying proxy between client and server,
//! quality moves from excellent to good to poor and back.

use std::time::Duration;

use chinwag_client::{Client, ClientConfig, Event, Quality};
use chinwag_testkit::{Proxy, TestServer};

async fn wait_for(events: &mut chinwag_client::Events, want: Quality, seen: &mut Vec<Quality>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Quality(q))) => {
                seen.push(q.quality);
                if q.quality == want && (want == Quality::Offline || q.rtt.is_some()) {
                    return;
                }
            }
            Ok(Some(_)) => {}
            other => panic!("no {want:?} quality (seen {seen:?}): {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_follows_added_latency_and_recovers() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let config = ClientConfig {
        ping_interval: Duration::from_millis(100),
        latency_alpha: 0.5,
        max_missed_pongs: 30,
        ..ClientConfig::default()
    };
    let (client, mut events) =
        Client::connect_with(proxy.ws_url(), server.token("alice"), config).await.unwrap();
    let mut seen = Vec::new();

    // The first sample of a connection moves quality off its unmeasured `excellent`; wait
    // for a measured round trip.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while client.quality().rtt.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no pong measured");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.quality().quality, Quality::Excellent, "{:?}", client.quality());

    proxy.set_delay(Duration::from_millis(80));
    wait_for(&mut events, Quality::Good, &mut seen).await;
    let rtt = client.quality().rtt.unwrap();
    assert!(rtt >= Duration::from_millis(100), "good means 100-300 ms: {rtt:?}");

    proxy.set_delay(Duration::from_millis(250));
    wait_for(&mut events, Quality::Poor, &mut seen).await;

    proxy.set_delay(Duration::ZERO);
    wait_for(&mut events, Quality::Excellent, &mut seen).await;
    assert!(client.quality().rtt.unwrap() < Duration::from_millis(100));
    let good = seen.iter().position(|q| *q == Quality::Good).unwrap();
    let poor = seen.iter().position(|q| *q == Quality::Poor).unwrap();
    assert!(good < poor, "down through good to poor, then back: {seen:?}");
    assert_eq!(seen.last(), Some(&Quality::Excellent), "{seen:?}");

    // Losing the connection is `offline`.
    server.stop().await;
    wait_for(&mut events, Quality::Offline, &mut seen).await;
    assert_eq!(client.quality().quality, Quality::Offline);
}
