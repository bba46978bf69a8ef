//! A cluster of real `chinwag` processes on PostgreSQL and Redis, under load, while nodes are
//! killed and restarted: nothing acknowledged is lost, nothing is stored twice, seqs have no
//! gaps, devices that resume get every message once, and a dead node's users go offline within
//! one lease.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` and `TEST_CHINWAG_REDIS_URL` (`.ci/run` sets both); unset,
//! each test says so and returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
/// is down; its address stays, so it can come back where it was. The nodes connect to
/// PostgreSQL and Redis as a role and a user of this cluster's own, so a test can take either
/// away from this cluster alone.
struct Cluster {
    // Dropped in this order: the processes first, then their role and user, then the schema.
    nodes: Vec<Option<ChildServer>>,
    env: Vec<(String, String)>,
    access: Access,
    _schema: TestSchema,
    addrs: Vec<std::net::SocketAddr>,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(n: usize) -> Self {
        let schema = TestSchema::new();
        let id = format!("{:016x}", rand::random::<u64>());
        let prefix = format!("chinwag-test-{id}:");
        let access = Access::create(&schema, &format!("chinwag_test_{id}")).await;
        let env: Vec<(String, String)> = [
            ("CHINWAG_STORE__URL", with_user(&schema.url, &access.name)),
            ("CHINWAG_STORE__SCHEMA", schema.name.clone()),
            ("CHINWAG_STORE__POOL_SIZE", "6".into()),
            ("CHINWAG_BROKER__URL", with_user(&access.redis, &format!("{}:any", access.name))),
            ("CHINWAG_BROKER__PREFIX", prefix),
            ("CHINWAG_LIMITS__HEARTBEAT_MS", "500".into()),
            ("CHINWAG_LIMITS__IDLE_TIMEOUT_MS", LEASE_MS.to_string()),
            ("CHINWAG_DRAIN_TIMEOUT_MS", "3000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut cluster = Self {
            nodes: Vec::new(),
            env,
            access,
            _schema: schema,
            addrs: Vec::new(),
            dirs: Vec::new(),
        };
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

    async fn ready(&self) -> Vec<u16> {
        let mut all = Vec::new();
        for a in &self.addrs {
            let status = match reqwest::get(format!("http://{a}/readyz")).await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            all.push(status);
        }
        all
    }

    async fn restart(&mut self, i: usize) {
        let node =
            ChildServer::start_at(BIN.as_ref(), self.dirs[i].path(), &self.env, self.addrs[i])
                .await;
        self.nodes[i] = Some(node);
    }
}

/// This cluster's PostgreSQL role and Redis user (the same name), dropped with it.
struct Access {
    name: String,
    redis: String,
    postgres: String,
}

impl Access {
    async fn create(schema: &TestSchema, name: &str) -> Self {
        let pg = schema.raw().await;
        pg.batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN SUPERUSER")).await.unwrap();
        let redis = redis_url().expect("TEST_CHINWAG_REDIS_URL");
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", name, "on", "nopass", "allcommands", "allkeys", "allchannels"][..])
            .query_async(&mut redis_admin(&redis).await)
            .await
            .unwrap();
        Self { name: name.into(), redis, postgres: schema.url.clone() }
    }

    /// Let the cluster reach Redis, or not (refused, and its connections cut).
    async fn redis(&self, on: bool) {
        let mut admin = redis_admin(&self.redis).await;
        let state = if on { "on" } else { "off" };
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &self.name, state][..])
            .query_async(&mut admin)
            .await
            .unwrap();
        if !on {
            let _: i64 = redis::cmd("CLIENT")
                .arg(&["KILL", "USER", &self.name][..])
                .query_async(&mut admin)
                .await
                .unwrap();
        }
    }

    /// Let the cluster reach PostgreSQL, or not (refused, and its connections terminated).
    async fn postgres(&self, on: bool) {
        let (pg, conn) =
            tokio_postgres::connect(&self.postgres, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let login = if on { "LOGIN" } else { "NOLOGIN" };
        pg.batch_execute(&format!("ALTER ROLE \"{}\" {login}", self.name)).await.unwrap();
        if !on {
            pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                &[&self.name],
            )
            .await
            .unwrap();
        }
    }
}

impl Drop for Access {
    fn drop(&mut self) {
        let (name, pg_url, redis_url) =
            (self.name.clone(), self.postgres.clone(), self.redis.clone());
        // Its own thread and runtime: drop may run inside a runtime.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((pg, conn)) = tokio_postgres::connect(&pg_url, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = pg
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                            &[&name],
                        )
                        .await;
                    let _ = pg
                        .batch_execute(&format!("DROP OWNED BY \"{name}\" CASCADE; DROP ROLE \"{name}\""))
                        .await;
                }
                let mut admin = redis_admin(&redis_url).await;
                let _: Result<i64, _> =
                    redis::cmd("ACL").arg(&["DELUSER", name.as_str()][..]).query_async(&mut admin).await;
            });
        })
        .join();
        if done.is_err() {
            eprintln!("could not remove the test role and user {}", self.name);
        }
    }
}

async fn redis_admin(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.expect("Redis is not usable")
}

/// `url` with `user` (`name` or `name:password`) as its credentials.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// The senders' shared state: told to stop, and how many sends were refused as `unavailable`.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    refused: AtomicUsize,
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
    load: Arc<Load>,
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
                    if load.stop.load(Ordering::Relaxed) {
                        return (acked, moves);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Some("error") if f["error"]["code"] == "unavailable" => {
                    // The node is going away, or its store is: send it elsewhere, soon.
                    load.refused.fetch_add(1, Ordering::Relaxed);
                    (at, moves) = (at + 1, moves + 1);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue 'connect;
                }
                _ => panic!("unexpected reply: {f}"),
            }
        }
    }
}

/// What a reader was given: every message seq as it came on the wire, and what an application
/// would see (as the SDKs do it: in order, each once, held back past a gap until it closes).
#[derive(Default)]
struct Seen {
    wire: Vec<u64>,
    delivered: Vec<u64>,
    held: std::collections::BTreeSet<u64>,
}

impl Seen {
    /// The highest gapless seq: what a resume asks to continue from.
    fn top(&self) -> u64 {
        self.delivered.last().copied().unwrap_or(0)
    }

    fn accept(&mut self, seq: u64) {
        self.wire.push(seq);
        if seq <= self.top() {
            return;
        }
        self.held.insert(seq);
        while self.held.remove(&(self.top() + 1)) {
            self.delivered.push(self.top() + 1);
        }
    }
}

/// A device that stays connected to the cluster: when its node goes, it resumes on the next one
/// from the highest gapless seq it has.
async fn observer(
    urls: Arc<Vec<String>>,
    first: usize,
    token: String,
    conv: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut at = first;
    while !stop.load(Ordering::Relaxed) {
        let top = seen.lock().top();
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
                        seen.lock().accept(f["message"]["seq"].as_u64().unwrap());
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

/// A group of the senders `s0`… `s{senders - 1}` and `others`, created by an owner on node 0;
/// its id.
async fn group(
    cluster: &Cluster,
    http: &reqwest::Client,
    senders: usize,
    others: &[&str],
) -> String {
    let mut members: Vec<String> = (0..senders).map(|i| format!("s{i}")).collect();
    members.extend(others.iter().map(|o| o.to_string()));
    let owner = mint_token(http, &cluster.base(0), "owner", None).await;
    create_conversation(
        http,
        &cluster.base(0),
        &owner,
        json!({"kind": "group", "title": "under fire", "members": members}),
    )
    .await
}

/// Starts [`sender`] `s{i}` for every `i` below `senders`, sender `i` first on node `i`.
async fn spawn_senders(
    cluster: &Cluster,
    http: &reqwest::Client,
    conv: &str,
    senders: usize,
    load: &Arc<Load>,
) -> Vec<tokio::task::JoinHandle<(Acked, usize)>> {
    let urls = Arc::new(cluster.ws_urls());
    let mut tasks = Vec::with_capacity(senders);
    for i in 0..senders {
        let token = mint_token(http, &cluster.base(0), &format!("s{i}"), None).await;
        let (urls, conv, load) = (urls.clone(), conv.to_owned(), load.clone());
        tasks.push(tokio::spawn(sender(urls, i, token, conv, format!("s{i}"), load)));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_a_node_under_fifty_senders_loses_nothing_and_its_users_go_offline() {
    if !cluster_available() {
        return;
    }
    let mut cluster = Cluster::start(3).await;
    let http = reqwest::Client::new();
    const SENDERS: usize = 50;
    let conv = group(&cluster, &http, SENDERS, &["ghost", "watcher"]).await;

    // ghost is only on node 1, which dies; watcher, on node 0, sees ghost go offline.
    let ghost = mint_token(&http, &cluster.base(1), "ghost", None).await;
    let watcher = mint_token(&http, &cluster.base(0), "watcher", None).await;
    let _ghost_device = WsClient::connect_as(&cluster.ws_urls()[1], &ghost, None).await;
    let watch_url = cluster.ws_urls()[0].clone();
    let ghost_online = async || {
        let mut c = WsClient::connect_as(&watch_url, &watcher, None).await;
        let state = c.request(json!({"type": "presence", "users": ["ghost"]})).await;
        state["users"][0]["online"].as_bool().unwrap_or_else(|| panic!("{state}"))
    };
    assert!(ghost_online().await, "ghost is online, seen from another node");

    let load = Arc::new(Load::default());
    let tasks = spawn_senders(&cluster, &http, &conv, SENDERS, &load).await;
    // Under load, SIGKILL node 1: no drain, no flush.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    cluster.kill(1);
    let killed_at = tokio::time::Instant::now();

    // ghost goes offline within about one lease (plus a sweep), as seen from a live node.
    while ghost_online().await {
        assert!(
            killed_at.elapsed() < Duration::from_millis(LEASE_MS * 3),
            "ghost still online {:?} after its node died",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("a dead node's user went offline after {:?}", killed_at.elapsed());

    // Keep the load on the survivors a while longer, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.stop.store(true, Ordering::Relaxed);
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
    let conv = group(&cluster, &http, SENDERS, &["reader"]).await;
    let urls = Arc::new(cluster.ws_urls());

    // A reader that resumes on another node each time its node goes.
    let seen = Arc::new(Mutex::new(Seen::default()));
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

    let load = Arc::new(Load::default());
    let tasks = spawn_senders(&cluster, &http, &conv, SENDERS, &load).await;
    // One node at a time: drain (SIGTERM), start again where it was, wait until it is ready.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.terminate(i);
        cluster.restart(i).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.stop.store(true, Ordering::Relaxed);
    let (acked, moved) = finish(tasks).await;
    assert!(moved >= SENDERS, "every sender was moved at least once: {moved} moves");
    let history = full_history(&http, &cluster.base(1), &reader_token, &conv).await;
    eprintln!("rolling restart under load: {} messages stored, {moved} reconnects", history.len());
    check_history(&history, &acked);

    let wire = check_reader(history.len() as u64, &seen, stop_reading, reader).await;
    // Drained nodes and resumes leave no trace on the wire either.
    assert_eq!(
        (duplicated(&wire), out_of_order(&wire)),
        (vec![], vec![]),
        "nothing twice, nothing out of order, as sent (twice, out of order)"
    );
}

/// The reader ends with every message: what it would show reaches `total` without a gap
/// (nobody is left with a silent gap). Returns the seqs as they came on the wire.
async fn check_reader(
    total: u64,
    seen: &Mutex<Seen>,
    stop: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<()>,
) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().top() < total {
        if tokio::time::Instant::now() > deadline {
            let s = seen.lock();
            panic!("the reader is stuck at {} of {total}; held past a gap: {:?}", s.top(), s.held);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(15), reader).await;
    let s = seen.lock();
    assert_eq!(s.delivered, (1..=total).collect::<Vec<_>>());
    s.wire.clone()
}

fn duplicated(seen: &[u64]) -> Vec<u64> {
    let mut once = std::collections::HashSet::new();
    seen.iter().copied().filter(|s| !once.insert(*s)).collect()
}

fn out_of_order(seen: &[u64]) -> Vec<(u64, u64)> {
    seen.windows(2).filter(|w| w[1] < w[0]).map(|w| (w[0], w[1])).collect()
}

/// A reader task: what it saw, and its stop flag.
type Reader = (Arc<Mutex<Seen>>, Arc<AtomicBool>, tokio::task::JoinHandle<()>);

/// Senders on every node and two readers resuming wherever they are put, for an outage test.
struct Traffic {
    conv: String,
    token: String,
    load: Arc<Load>,
    senders: Vec<tokio::task::JoinHandle<(Acked, usize)>>,
    readers: Vec<Reader>,
}

impl Traffic {
    async fn start(cluster: &Cluster, senders: usize) -> Self {
        let http = reqwest::Client::new();
        let conv = group(cluster, &http, senders, &["r1", "r2"]).await;
        let urls = Arc::new(cluster.ws_urls());
        let mut readers = Vec::new();
        for (i, name) in ["r1", "r2"].into_iter().enumerate() {
            let token = mint_token(&http, &cluster.base(0), name, None).await;
            let (seen, stop) = (Arc::new(Mutex::default()), Arc::new(AtomicBool::new(false)));
            let task = tokio::spawn(observer(
                urls.clone(),
                i + 1,
                token,
                conv.clone(),
                stop.clone(),
                seen.clone(),
            ));
            readers.push((seen, stop, task));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let load = Arc::new(Load::default());
        let tasks = spawn_senders(cluster, &http, &conv, senders, &load).await;
        let token = mint_token(&http, &cluster.base(0), "r1", None).await;
        Self { conv, token, load, senders: tasks, readers }
    }

    /// Stop sending; then every acknowledged message is stored once, gapless, and every reader
    /// has every message once, in order.
    async fn finish(self, cluster: &Cluster) -> (usize, usize) {
        self.load.stop.store(true, Ordering::Relaxed);
        let (acked, _) = finish(self.senders).await;
        let http = reqwest::Client::new();
        let history = full_history(&http, &cluster.base(0), &self.token, &self.conv).await;
        check_history(&history, &acked);
        for (seen, stop, task) in self.readers {
            check_reader(history.len() as u64, &seen, stop, task).await;
        }
        (history.len(), self.load.refused.load(Ordering::Relaxed))
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_gone_under_load_makes_every_node_unready_and_every_device_ends_with_everything() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let traffic = Traffic::start(&cluster, 9).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    cluster.access.redis(false).await;
    eventually("every node unready", async || cluster.ready().await == [503, 503, 503]).await;
    // Sends still succeed meanwhile: the store is fine; only events between nodes stop.
    tokio::time::sleep(Duration::from_millis(600)).await;
    cluster.access.redis(true).await;
    eventually("every node ready again", async || cluster.ready().await == [200, 200, 200]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (stored, refused) = traffic.finish(&cluster).await;
    eprintln!("Redis gone under load: {stored} messages stored, {refused} sends refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_gone_under_load_refuses_sends_with_a_typed_error_and_loses_nothing() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let traffic = Traffic::start(&cluster, 9).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let refused_before = traffic.load.refused.load(Ordering::Relaxed);
    cluster.access.postgres(false).await;
    eventually("every node unready", async || cluster.ready().await == [503, 503, 503]).await;
    // A device that connects now is told to come back later, with a typed close.
    let token = mint_token(&reqwest::Client::new(), &cluster.base(0), "s0", None).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(cluster.ws_urls()[1].as_str()).await.unwrap();
    ws.send(Message::text(json!({"type": "auth", "id": 1, "token": token}).to_string()))
        .await
        .unwrap();
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1012, "{close:?}");
    assert!(close.reason.starts_with("retry_after_ms="), "{close:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = traffic.load.refused.load(Ordering::Relaxed) - refused_before;
    assert!(refused > 0, "sends in flight are refused as unavailable while PostgreSQL is gone");
    cluster.access.postgres(true).await;
    eventually("every node ready again", async || cluster.ready().await == [200, 200, 200]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (stored, refused) = traffic.finish(&cluster).await;
    eprintln!("PostgreSQL gone under load: {stored} messages stored, {refused} sends refused");
}
