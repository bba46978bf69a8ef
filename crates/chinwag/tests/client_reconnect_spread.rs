//! 200 clients that lose the same server do not come back in lockstep: full jitter spreads
//! their reconnects after the server restarts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::{Client, ClientConfig, ConnectionState, Event};
use chinwag_testkit::{ChildServer, Proxy, mint_token};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");
const CLIENTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_reconnect_spread_out_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut server = ChildServer::start(BIN.as_ref(), data.path()).await;
    let proxy = Proxy::start(server.addr).await;
    let base = server.url("");

    let connected: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let token = mint_token(&http, &base, &format!("crowd-{i}"), Some(3_600)).await;
        let config = ClientConfig {
            backoff: BackoffPolicy {
                base: Duration::from_millis(300),
                cap: Duration::from_secs(2),
                breaker_threshold: 0,
                ..BackoffPolicy::default()
            },
            ping_interval: Duration::from_secs(30),
            ..ClientConfig::default()
        };
        let (client, mut events) =
            Client::connect_with(proxy.ws_url(), token, config).await.unwrap();
        let connected = connected.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if e == Event::Connection(ConnectionState::Connected) {
                    connected.lock().unwrap().push((i, Instant::now()));
                }
            }
        });
        clients.push(client);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while connected.lock().unwrap().len() < CLIENTS {
        assert!(Instant::now() < deadline, "not every client connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server = ChildServer::start(BIN.as_ref(), data.path()).await;
    let restarted = Instant::now();
    proxy.set_upstream(server.addr);
    let deadline = restarted + Duration::from_secs(15);
    while connected.lock().unwrap().len() < 2 * CLIENTS {
        assert!(Instant::now() < deadline, "not every client reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let all = connected.lock().unwrap().clone();
    let mut times: Vec<Duration> = all[CLIENTS..].iter().map(|(_, t)| *t - restarted).collect();
    times.sort();
    let pct = |p: usize| times[(times.len() - 1) * p / 100];
    let mut busiest = 0;
    for (i, t) in times.iter().enumerate() {
        let within = times[i..].iter().take_while(|u| **u - *t < Duration::from_millis(50)).count();
        busiest = busiest.max(within);
    }
    eprintln!(
        "reconnects after the restart: p10 {:?}, p50 {:?}, p90 {:?}, max {:?}; busiest 50 ms window {busiest}",
        pct(10),
        pct(50),
        pct(90),
        times[times.len() - 1]
    );
    assert!(
        pct(90) - pct(10) >= Duration::from_millis(500),
        "spread over time, not in lockstep: p10 {:?} p90 {:?}",
        pct(10),
        pct(90)
    );
    assert!(busiest <= CLIENTS / 4, "at most a quarter in any 50 ms ({busiest})");
}
