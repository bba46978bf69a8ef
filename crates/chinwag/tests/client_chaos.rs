//! The client SDK end to end under chaos: three clients exchange 2,000 messages through a proxy
//! that cuts connections at random, while the real binary is SIGKILLed and restarted five
//! times. Every client must end with every message exactly once, in `seq` order, and every
//! message it sent must have reached `sent`.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::{Client, ClientConfig, Event, MessageState};
use chinwag_testkit::{ChildServer, Proxy, create_conversation, get_json, mint_token};
use serde_json::json;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");
const USERS: [&str; 3] = ["ana", "ben", "cy"];
const TOTAL: usize = 2_000;

fn share(i: usize) -> usize {
    TOTAL / USERS.len() + usize::from(i < TOTAL % USERS.len())
}

#[derive(Debug, Default)]
struct Seen {
    /// (seq, sender, client_msg_id) of every message event, in arrival order.
    messages: Vec<(u64, String, String)>,
    /// Own messages that reached `sent`.
    sent: HashSet<String>,
    sent_events: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_exchange_2000_messages_through_sigkills_and_cut_connections() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut server = ChildServer::start(BIN.as_ref(), data.path()).await;
    let proxy = Proxy::start(server.addr).await;
    let mut tokens = Vec::new();
    for u in USERS {
        tokens.push(mint_token(&http, &server.url(""), u, Some(3_600)).await);
    }
    let conv = create_conversation(
        &http,
        &server.url(""),
        &tokens[0],
        json!({"kind": "group", "members": ["ben", "cy"], "title": "chaos"}),
    )
    .await;
    proxy.set_cut_after(Some((Duration::from_millis(100), Duration::from_millis(700))));

    let mut clients = Vec::new();
    let mut collectors = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let config = ClientConfig {
            state_path: Some(state.path().join(format!("{}.db", USERS[i]))),
            backoff: BackoffPolicy {
                base: Duration::from_millis(50),
                cap: Duration::from_millis(500),
                breaker_threshold: 0,
                ..BackoffPolicy::default()
            },
            ping_interval: Duration::from_secs(1),
            ..ClientConfig::default()
        };
        let (client, mut events) =
            Client::connect_with(proxy.ws_url(), token.clone(), config).await.unwrap();
        let conv = conv.clone();
        collectors.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let deadline = Instant::now() + Duration::from_secs(50);
            while seen.messages.len() < TOTAL || seen.sent.len() < share(i) {
                match tokio::time::timeout_at(deadline, events.next()).await {
                    Ok(Some(Event::Message(m))) if m.conversation_id.as_str() == conv => seen
                        .messages
                        .push((m.seq, m.sender.to_string(), m.client_msg_id.to_string())),
                    Ok(Some(Event::MessageState(s))) if s.state == MessageState::Sent => {
                        seen.sent_events += 1;
                        seen.sent.insert(s.client_msg_id.to_string());
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            seen
        }));
        clients.push(client);
    }

    let mut senders = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let (client, conv) = (client.clone(), conv.clone());
        senders.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..share(i) {
                let out = client.send(conv.as_str(), format!("{}-{k}", USERS[i])).await.unwrap();
                ids.push(out.client_msg_id.to_string());
                if k % 10 == 9 {
                    tokio::time::sleep(Duration::from_millis(80)).await;
                }
            }
            ids
        }));
    }

    let mut rng = started.elapsed().as_nanos() as u64 | 1;
    for _ in 0..5 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(600 + rng % 600)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(150)).await;
        server = ChildServer::start(BIN.as_ref(), data.path()).await;
        proxy.set_upstream(server.addr);
    }

    let mut sent_ids = Vec::new();
    for s in senders {
        sent_ids.push(s.await.unwrap());
    }
    let mut everyone: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, ids) in sent_ids.iter().enumerate() {
        assert_eq!(ids.len(), share(i));
        for id in ids {
            everyone.insert((USERS[i].to_owned(), id.clone()));
        }
    }
    assert_eq!(everyone.len(), TOTAL, "client_msg_ids are unique");

    for (i, c) in collectors.into_iter().enumerate() {
        let seen = c.await.unwrap();
        let seqs: Vec<u64> = seen.messages.iter().map(|m| m.0).collect();
        assert_eq!(
            seqs,
            (1..=TOTAL as u64).collect::<Vec<_>>(),
            "{}: every message once, in seq order ({} events)",
            USERS[i],
            seqs.len()
        );
        let got: BTreeSet<(String, String)> =
            seen.messages.iter().map(|m| (m.1.clone(), m.2.clone())).collect();
        assert_eq!(got, everyone, "{}: exactly the messages that were sent", USERS[i]);
        let mine: HashSet<String> = sent_ids[i].iter().cloned().collect();
        assert_eq!(seen.sent, mine, "{}: every own message reached `sent`", USERS[i]);
        assert_eq!(seen.sent_events, share(i), "{}: `sent` once per message", USERS[i]);
        assert_eq!(clients[i].outbox_len(), 0, "{}: the outbox drained", USERS[i]);
    }

    let page = get_json(&http, &server.url(&format!("/v1/conversations/{conv}")), &tokens[0]).await;
    assert_eq!(page["last_seq"], TOTAL as u64, "the server stored each message once");
    let elapsed = started.elapsed();
    eprintln!(
        "{TOTAL} messages, 3 clients, 5 SIGKILLs, {} connections through the proxy, {} cut, in {elapsed:?}",
        proxy.accepted(),
        proxy.cuts()
    );
    assert!(elapsed < Duration::from_secs(55), "bounded in time: {elapsed:?}");
}
