//! Connection quality follows the latency: with a delaying proxy between client and server,
//! quality moves from excellent to good to poor and back, with events on each change.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chinwag_client::{Client, ClientConfig, Event, Quality, QualityReport};
use chinwag_testkit::{Proxy, TestServer};

/// Wait until the client's current report satisfies `ok`.
async fn settle(client: &Client, what: &str, ok: impl Fn(QualityReport) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !ok(client.quality()) {
        assert!(tokio::time::Instant::now() < deadline, "{what}: still {:?}", client.quality());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rtt_ms(r: QualityReport) -> u128 {
    r.rtt.map(|d| d.as_millis()).unwrap_or(0)
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
    let seen: Arc<Mutex<Vec<Quality>>> = Arc::default();
    let collector = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if let Event::Quality(q) = e {
                    seen.lock().unwrap().push(q.quality);
                }
            }
        })
    };

    settle(&client, "measured", |r| r.quality == Quality::Excellent && r.rtt.is_some()).await;
    proxy.set_delay(Duration::from_millis(80));
    settle(&client, "good", |r| r.quality == Quality::Good && (100..300).contains(&rtt_ms(r)))
        .await;
    proxy.set_delay(Duration::from_millis(250));
    settle(&client, "poor", |r| r.quality == Quality::Poor && rtt_ms(r) >= 300).await;
    proxy.set_delay(Duration::ZERO);
    settle(&client, "excellent again", |r| r.quality == Quality::Excellent && rtt_ms(r) < 100)
        .await;

    // Losing the connection is `offline`.
    server.stop().await;
    settle(&client, "offline", |r| r.quality == Quality::Offline && r.rtt.is_none()).await;
    client.close().await;
    collector.await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let first = |q: Quality| seen.iter().position(|s| *s == q);
    let (good, poor) = (first(Quality::Good).unwrap(), first(Quality::Poor).unwrap());
    let back = seen.iter().rposition(|s| *s == Quality::Excellent).unwrap();
    assert!(good < poor && poor < back, "events: down through good to poor, then back: {seen:?}");
    assert_eq!(seen.last(), Some(&Quality::Offline), "{seen:?}");
}
