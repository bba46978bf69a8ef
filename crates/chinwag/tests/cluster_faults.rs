//! A cluster of real `chinwag` processes on PostgreSQL and Redis, under load, while nodes are
//! killed and restarted: nothing acknowledged is lost, nothing is stored twice, seqs have no
//! gaps, devices that resume get every message once, and a dead node's users go offline within
//! one lease.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` and `TEST_CHINWAG_REDIS_URL` (`.ci/run` sets both); unset,
//! each test says so and returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chinwag_store::conformance::postgres::TestSchema;
use chinwag_testkit::{
    ChildServer, WsClient, cluster_available, create_conversation, full_history, mint_token,
    redis_url,
};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_chinwag");
/// The presence lease of these clusters (`idle_timeout_ms`): short, so a dead node's users go
/// offline within the test.
const LEASE_MS: u64 = 2_000;

/// Node processes sharing one database and one Redis prefix. A node's slot is `None` while it
/// is down; its address stays, so it can come back where it was.
struct Cluster {
    _schema: TestSchema,
    env: Vec<(String, String)>,
    nodes: Vec<Option<ChildServer>>,
    addrs: Vec<std::net::SocketAddr>,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(n: usize) -> Self {
        let schema = TestSchema::new();
        let prefix = format!("chinwag-test-{:016x}:", rand::random::<u64>());
        let env: Vec<(String, String)> = [
            ("CHINWAG_STORE__URL", schema.url.clone()),
            ("CHINWAG_STORE__SCHEMA", schema.name.clone()),
            ("CHINWAG_STORE__POOL_SIZE", "6".into()),
            ("CHINWAG_BROKER__URL", redis_url().expect("TEST_CHINWAG_REDIS_URL")),
            ("CHINWAG_BROKER__PREFIX", prefix),
            ("CHINWAG_LIMITS__HEARTBEAT_MS", "500".into()),
            ("CHINWAG_LIMITS__IDLE_TIMEOUT_MS", LEASE_MS.to_string()),
            ("CHINWAG_DRAIN_TIMEOUT_MS", "3000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut cluster =
            Self { _schema: schema, env, nodes: Vec::new(), addrs: Vec::new(), dirs: Vec::new() };
        for _ in 0..n {
            let dir = tempfile::tempdir().unwrap();
            let node = ChildServer::start_env(BIN.as_ref(), dir.path(), &cluster.env).await;
            cluster.addrs.push(node.addr);
            cluster.nodes.push(Some(node));
            cluster.dirs.push(dir);
        }
        cluster
    }

    fn base(&self, i: usize) -> String {
        format!("http://{}", self.addrs[i])
    }

    fn ws_urls(&self) -> Vec<String> {
        self.addrs.iter().map(|a| format!("ws://{a}/v1/ws")).collect()
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill();
        }
    }

    fn terminate(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            assert!(node.terminate().success(), "node {i} drained and exited cleanly");
        }
    }

    async fn restart(&mut self, i: usize) {
        let node =
            ChildServer::start_at(BIN.as_ref(), self.dirs[i].path(), &self.env, self.addrs[i])
                .await;
        self.nodes[i] = Some(node);
    }
}

/// What one sender had acknowledged: client_msg_id → seq.
type Acked = BTreeMap<String, u64>;

/// Send messages as `name`, one after another with a short pause, starting on node `first`,
/// until `stop` is set (the message in flight is finished first). When the connection dies or
/// the node answers `unavailable`, go to the next node and send the same message again (same
/// `client_msg_id`: a retry, G2). Returns what was acknowledged and how many times it moved.
async fn sender(
    urls: Arc<Vec<String>>,
    first: usize,
    token: String,
    conv: String,
    name: String,
    stop: Arc<AtomicBool>,
) -> (Acked, usize) {
    let mut acked = Acked::new();
    let (mut at, mut moves, mut i) = (first, 0usize, 0u64);
    'connect: loop {
        let url = &urls[at % urls.len()];
        let connected = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await;
        let Ok(Ok((mut ws, _))) = connected else {
            (at, moves) = (at + 1, moves + 1);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let auth = json!({"type": "auth", "id": "auth", "token": token});
        if ws.send(Message::text(auth.to_string())).await.is_err() {
            (at, moves) = (at + 1, moves + 1);
            continue;
        }
        let mut sent = None;
        loop {
            if sent != Some(i) {
                let frame = json!({"type": "send", "id": i, "conversation_id": conv,
                    "client_msg_id": format!("{name}-{i}"), "body": format!("{name} {i}")});
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    (at, moves) = (at + 1, moves + 1);
                    continue 'connect;
                }
                sent = Some(i);
            }
            let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
            let f: Value = match next {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).unwrap(),
                Ok(Some(Ok(_))) => continue,
                // Closed, failed or silent: another node.
                _ => {
                    (at, moves) = (at + 1, moves + 1);
                    continue 'connect;
                }
            };
            if f["id"] != json!(i) {
                continue;
            }
            match f["type"].as_str() {
                Some("ack") => {
                    let m = &f["message"];
                    let cmid = m["client_msg_id"].as_str().unwrap().to_owned();
                    acked.insert(cmid, m["seq"].as_u64().unwrap());
                    i += 1;
                    if stop.load(Ordering::Relaxed) {
                        return (acked, moves);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Some("error") if f["error"]["code"] == "unavailable" => {
                    // The node is going away, or its store is: send it elsewhere.
                    (at, moves) = (at + 1, moves + 1);
                    continue 'connect;
                }
                _ => panic!("unexpected reply: {f}"),
            }
        }
    }
}

/// A device that stays connected to the cluster: when its node goes, it resumes on the next one
/// from the highest seq it has. Records every message seq it is given, in order.
async fn observer(
    urls: Arc<Vec<String>>,
    first: usize,
    token: String,
    conv: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<u64>>>,
) {
    let mut at = first;
    while !stop.load(Ordering::Relaxed) {
        let top = seen.lock().last().copied().unwrap_or(0);
        let resume = json!({"positions": [{"conversation_id": conv, "seq": top}]});
        let url = &urls[at % urls.len()];
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        else {
            at += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let auth = json!({"type": "auth", "id": "auth", "token": token, "resume": resume});
        if ws.send(Message::text(auth.to_string())).await.is_err() {
            at += 1;
            continue;
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let f: Value = serde_json::from_str(&t).unwrap();
                    if f["type"] == "message" && f["message"]["conversation_id"] == json!(conv) {
                        seen.lock().push(f["message"]["seq"].as_u64().unwrap());
                    }
                }
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(_) => break,
            }
        }
        at += 1;
    }
}

/// Every acknowledged message is stored once with the seq it was acknowledged with, and the
/// history has no gaps.
fn check_history(history: &[Value], acked: &[Acked]) {
    let mut stored: HashMap<String, u64> = HashMap::new();
    for (i, m) in history.iter().enumerate() {
        assert_eq!(m["seq"].as_u64(), Some(i as u64 + 1), "gapless from 1");
        let cmid = m["client_msg_id"].as_str().unwrap().to_owned();
        assert!(stored.insert(cmid.clone(), i as u64 + 1).is_none(), "{cmid} stored twice");
    }
    let mut total = 0;
    for sender in acked {
        for (cmid, seq) in sender {
            assert_eq!(stored.get(cmid), Some(seq), "{cmid} acknowledged with seq {seq}");
            total += 1;
        }
    }
    assert_eq!(total, history.len(), "every stored message was acknowledged to its sender");
}

async fn group(cluster: &Cluster, http: &reqwest::Client, members: &[String]) -> (String, String) {
    let owner = mint_token(http, &cluster.base(0), "owner", None).await;
    let conv = create_conversation(
        http,
        &cluster.base(0),
        &owner,
        json!({"kind": "group", "title": "under fire", "members": members}),
    )
    .await;
    (owner, conv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_a_node_under_fifty_senders_loses_nothing_and_its_users_go_offline() {
    if !cluster_available() {
        return;
    }
    let mut cluster = Cluster::start(3).await;
    let http = reqwest::Client::new();
    const SENDERS: usize = 50;
    let mut members: Vec<String> = (0..SENDERS).map(|i| format!("s{i}")).collect();
    members.push("ghost".into());
    members.push("watcher".into());
    let (_, conv) = group(&cluster, &http, &members).await;

    // ghost is only on node 1, which dies; watcher on node 0 sees ghost go offline.
    let ghost = mint_token(&http, &cluster.base(1), "ghost", None).await;
    let watcher = mint_token(&http, &cluster.base(0), "watcher", None).await;
    let mut watching = WsClient::connect_as(&cluster.ws_urls()[0], &watcher, None).await;
    let _ghost_device = WsClient::connect_as(&cluster.ws_urls()[1], &ghost, None).await;
    loop {
        let f = watching.recv().await;
        if f["type"] == "presence" && f["user_id"] == "ghost" && f["online"] == true {
            break;
        }
    }

    let urls = Arc::new(cluster.ws_urls());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..SENDERS {
        let token = mint_token(&http, &cluster.base(0), &format!("s{i}"), None).await;
        let (urls, conv, stop) = (urls.clone(), conv.clone(), stop.clone());
        tasks.push(tokio::spawn(sender(urls, i, token, conv, format!("s{i}"), stop)));
    }
    // Under load, SIGKILL node 1: no drain, no flush.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    cluster.kill(1);
    let killed_at = tokio::time::Instant::now();

    // ghost goes offline within about one lease (plus a sweep), announced by a live node.
    let offline = tokio::time::timeout(Duration::from_millis(LEASE_MS * 4), async {
        loop {
            let f = watching.recv().await;
            if f["type"] == "presence" && f["user_id"] == "ghost" && f["online"] == false {
                return f;
            }
        }
    })
    .await
    .expect("ghost never went offline");
    assert!(offline["last_seen"].as_i64().is_some(), "{offline}");
    let after = killed_at.elapsed();
    assert!(after < Duration::from_millis(LEASE_MS * 3), "offline after {after:?}");

    // Keep the load on the survivors a while longer, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, moved) = finish(tasks).await;
    assert!(moved >= SENDERS / 3, "the senders of node 1 moved: {moved} moves");
    let history = full_history(&http, &cluster.base(2), &watcher, &conv).await;
    eprintln!("SIGKILL under load: {} messages stored, {moved} reconnects", history.len());
    check_history(&history, &acked);
}

/// Every sender's acknowledgements, and how many times they moved node in all.
async fn finish(tasks: Vec<tokio::task::JoinHandle<(Acked, usize)>>) -> (Vec<Acked>, usize) {
    let (mut acked, mut moved) = (Vec::new(), 0);
    for t in tasks {
        let (a, m) = t.await.unwrap();
        assert!(!a.is_empty(), "every sender got messages through");
        acked.push(a);
        moved += m;
    }
    (acked, moved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_of_every_node_under_load_loses_and_duplicates_nothing() {
    if !cluster_available() {
        return;
    }
    let mut cluster = Cluster::start(3).await;
    let http = reqwest::Client::new();
    const SENDERS: usize = 12;
    let mut members: Vec<String> = (0..SENDERS).map(|i| format!("s{i}")).collect();
    members.push("reader".into());
    let (_, conv) = group(&cluster, &http, &members).await;
    let urls = Arc::new(cluster.ws_urls());

    // A reader that resumes on another node each time its node goes.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader_token = mint_token(&http, &cluster.base(0), "reader", None).await;
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(observer(
        urls.clone(),
        2,
        reader_token.clone(),
        conv.clone(),
        stop_reading.clone(),
        seen.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..SENDERS {
        let token = mint_token(&http, &cluster.base(0), &format!("s{i}"), None).await;
        let (urls, conv, stop) = (urls.clone(), conv.clone(), stop.clone());
        tasks.push(tokio::spawn(sender(urls, i, token, conv, format!("s{i}"), stop)));
    }
    // One node at a time: drain (SIGTERM), start again where it was, wait until it is ready.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.terminate(i);
        cluster.restart(i).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, moved) = finish(tasks).await;
    assert!(moved >= SENDERS, "every sender was moved at least once: {moved} moves");
    let history = full_history(&http, &cluster.base(1), &reader_token, &conv).await;
    eprintln!("rolling restart under load: {} messages stored, {moved} reconnects", history.len());
    check_history(&history, &acked);

    // The reader ends with every message once, in order.
    let total = history.len() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().last().copied().unwrap_or(0) < total {
        assert!(tokio::time::Instant::now() < deadline, "the reader never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_reading.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(15), reader).await;
    let seen = seen.lock().clone();
    assert_eq!(
        (missing(&seen, total), duplicated(&seen), out_of_order(&seen)),
        (vec![], vec![], vec![]),
        "the reader got every message once, in order, across restarts (missing, twice, out of order)"
    );
}

fn missing(seen: &[u64], total: u64) -> Vec<u64> {
    let have: std::collections::HashSet<u64> = seen.iter().copied().collect();
    (1..=total).filter(|s| !have.contains(s)).collect()
}

fn duplicated(seen: &[u64]) -> Vec<u64> {
    let mut once = std::collections::HashSet::new();
    seen.iter().copied().filter(|s| !once.insert(*s)).collect()
}

fn out_of_order(seen: &[u64]) -> Vec<(u64, u64)> {
    seen.windows(2).filter(|w| w[1] < w[0]).map(|w| (w[0], w[1])).collect()
}
