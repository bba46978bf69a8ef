//! Several nodes behind no affinity at all: one PostgreSQL schema and one Redis (a channel
//! prefix of their own) per test, clients spread over the nodes. Every message reaches every
//! member's devices on every node once, in one order; typing, receipts and drafts cross nodes;
//! `/readyz` says when the broker is away, and devices catch up after it comes back.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` and `TEST_CHINWAG_REDIS_URL` (`.ci/run` sets both); unset,
//! each test says so and returns.

use std::time::Duration;

use chinwag_store::conformance::postgres::TestSchema;
use chinwag_testkit::{TestServer, WsClient, cluster_available, create_conversation, register};
use serde_json::{Value, json};

/// Nodes sharing one database and one broker prefix. Each node connects to Redis as a user of
/// its own (removed on drop), so a test can cut one node off Redis without touching others.
struct Cluster {
    schema: TestSchema,
    prefix: String,
    nodes: Vec<TestServer>,
    users: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(n: usize) -> Self {
        let schema = TestSchema::new();
        let prefix = format!("chinwag-test-{:016x}:", rand::random::<u64>());
        let mut cluster =
            Self { schema, prefix, nodes: Vec::new(), users: Vec::new(), _dirs: Vec::new() };
        for _ in 0..n {
            cluster.add().await;
        }
        cluster
    }

    async fn add(&mut self) -> &TestServer {
        let user = format!("{}{}", self.prefix.trim_end_matches(':'), self.nodes.len());
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &user, "on", "nopass", "allcommands", "allkeys", "allchannels"][..])
            .query_async(&mut admin().await)
            .await
            .expect("create a Redis user");
        self.users.push(user.clone());
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestServer::cluster_config(dir.path(), &self.schema, &self.prefix);
        config.broker.url =
            config.broker.url.replacen("redis://", &format!("redis://{user}:any@"), 1);
        chinwag_testkit::high_request_limits(&mut config);
        self.nodes.push(TestServer::start_config(config).await);
        self._dirs.push(dir);
        self.nodes.last().unwrap()
    }

    fn base(&self, i: usize) -> String {
        self.nodes[i].url("")
    }

    async fn connect(&self, i: usize, token: &str) -> WsClient {
        WsClient::connect_as(&self.nodes[i].ws_url(), token, None).await
    }

    /// Cut node `i` off Redis (`on: false`: its user refused, its connections killed), or let
    /// it back.
    async fn redis_access(&self, i: usize, on: bool) {
        let mut admin = admin().await;
        let state = if on { "on" } else { "off" };
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &self.users[i], state][..])
            .query_async(&mut admin)
            .await
            .unwrap();
        if !on {
            let _: i64 = redis::cmd("CLIENT")
                .arg(&["KILL", "USER", &self.users[i]][..])
                .query_async(&mut admin)
                .await
                .unwrap();
        }
    }

    async fn ready(&self, i: usize) -> u16 {
        let url = self.nodes[i].url("/readyz");
        reqwest::get(url).await.unwrap().status().as_u16()
    }

    async fn stop(mut self) {
        for node in std::mem::take(&mut self.nodes) {
            node.stop().await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let url = chinwag_testkit::redis_url().unwrap_or_default();
        let users = std::mem::take(&mut self.users);
        let removed = redis::Client::open(url.as_str()).and_then(|c| {
            let mut conn = c.get_connection()?;
            for user in &users {
                redis::cmd("ACL").arg(&["DELUSER", user.as_str()][..]).query::<i64>(&mut conn)?;
            }
            Ok(())
        });
        if let Err(e) = removed {
            eprintln!("could not remove the test users {users:?}: {e}");
        }
    }
}

async fn admin() -> redis::aio::MultiplexedConnection {
    let url = chinwag_testkit::redis_url().expect("TEST_CHINWAG_REDIS_URL");
    let client = redis::Client::open(url).unwrap();
    client
        .get_multiplexed_async_connection()
        .await
        .expect("TEST_CHINWAG_REDIS_URL is set but Redis is not usable")
}

/// `message` events until `n` arrived or none came for five seconds.
async fn collect(c: &mut WsClient, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match c.try_recv(Duration::from_secs(5)).await {
            Ok(Some(f)) if f["type"] == "message" => out.push(f["message"].clone()),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Waits until `check` holds, for up to ten seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ann registered on node 0 and bob on node 1, and a conversation of theirs (the request
/// body `conversation`) created by ann on node `on`: their tokens and its id.
async fn ann_and_bob(
    cluster: &Cluster,
    on: usize,
    conversation: Value,
) -> (String, String, String) {
    let http = reqwest::Client::new();
    let ann = register(&http, &cluster.base(0), "ann", "ann-password-1").await;
    let bob = register(&http, &cluster.base(1), "bob", "bob-password-1").await;
    let conv = create_conversation(&http, &cluster.base(on), &ann, conversation).await;
    (ann, bob, conv)
}

/// The next frame of type `ty`, skipping others; panics after a few seconds.
async fn next_of(c: &mut WsClient, ty: &str) -> Value {
    loop {
        let f = c.recv().await;
        if f["type"] == ty {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_message_to_every_device_once_in_one_order() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let http = reqwest::Client::new();
    let ann = register(&http, &cluster.base(0), "ann", "ann-password-1").await;
    let bob = register(&http, &cluster.base(1), "bob", "bob-password-1").await;
    let carol = register(&http, &cluster.base(2), "carol", "carol-password-1").await;
    let conv = create_conversation(
        &http,
        &cluster.base(0),
        &ann,
        json!({"kind": "group", "title": "three nodes", "members": ["bob", "carol"]}),
    )
    .await;

    // Senders on every node, and bob also on a second node: one user, devices on two nodes.
    const EACH: usize = 30;
    let senders = [(0, ann.clone(), "a"), (1, bob.clone(), "b"), (2, carol.clone(), "c")];
    // Every device is connected before the first send.
    let mut clients = Vec::new();
    for (node, token, name) in senders {
        clients.push((cluster.connect(node, &token).await, name));
    }
    let mut bob_elsewhere = cluster.connect(2, &bob).await;
    let mut tasks = Vec::new();
    for (mut client, name) in clients {
        let conv = conv.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let ack =
                    client.send_msg(&conv, &format!("{name}{i}"), &format!("{name} {i}")).await;
                assert_eq!(ack["type"], "ack", "{ack}");
            }
            collect(&mut client, 3 * EACH).await
        }));
    }
    let elsewhere = tokio::spawn(async move { collect(&mut bob_elsewhere, 3 * EACH).await });
    tasks.push(elsewhere);

    let expected: Vec<u64> = (1..=(3 * EACH) as u64).collect();
    let mut orders = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        let seqs: Vec<u64> = got.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, expected, "every message once, in seq order");
        orders.push(got.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>());
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "one order on every device");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_and_drafts_cross_nodes() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let group = json!({"kind": "group", "title": "live state", "members": ["bob"]});
    let (ann, bob, conv) = ann_and_bob(&cluster, 2, group).await;
    let mut ann0 = cluster.connect(0, &ann).await;
    let mut ann2 = cluster.connect(2, &ann).await;
    let mut bob1 = cluster.connect(1, &bob).await;

    let ok = ann0.request(json!({"type": "typing", "conversation_id": conv, "typing": true})).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let typing = next_of(&mut bob1, "typing").await;
    assert_eq!((typing["user_id"].as_str(), typing["typing"].as_bool()), (Some("ann"), Some(true)));

    let ack = ann0.send_msg(&conv, "m1", "hello from node 0").await;
    let seq = ack["message"]["seq"].as_u64().unwrap();
    let message = next_of(&mut bob1, "message").await;
    assert_eq!(message["message"]["body"], "hello from node 0");
    let ok = bob1.request(json!({"type": "received", "conversation_id": conv, "seq": seq})).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    loop {
        let receipt = next_of(&mut ann0, "receipt").await;
        if receipt["user_id"] == "bob" && receipt["delivered_seq"] == seq {
            break;
        }
    }

    let saved = ann0
        .request(json!({"type": "draft", "conversation_id": conv, "version": 0, "body": "See you"}))
        .await;
    assert_eq!(saved["type"], "draft_saved", "{saved}");
    loop {
        let draft = next_of(&mut ann2, "draft").await;
        if draft["draft"]["body"] == "See you" {
            break;
        }
    }
    // Typing never reaches the typist's own devices, on any node.
    let own: Vec<Value> = ann2.settle(Duration::from_millis(300)).await;
    assert!(own.iter().all(|f| f["type"] != "typing"), "{own:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_redis_is_unready_serves_its_own_devices_and_they_catch_up_after() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(2).await;
    let direct = json!({"kind": "direct", "members": ["bob"]});
    let (ann, bob, conv) = ann_and_bob(&cluster, 0, direct).await;
    assert_eq!(cluster.ready(1).await, 200);
    let mut ann0 = cluster.connect(0, &ann).await;
    let mut ann1 = cluster.connect(1, &ann).await;
    let mut bob1 = cluster.connect(1, &bob).await;

    cluster.redis_access(1, false).await;
    eventually("node 1 unready", async || cluster.ready(1).await == 503).await;
    assert_eq!(cluster.ready(0).await, 200, "the other node is fine");

    // Node 1 keeps serving its own devices; what node 0 stores meanwhile cannot reach it.
    let ack = ann1.send_msg(&conv, "local", "same node").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(next_of(&mut bob1, "message").await["message"]["body"], "same node");
    let ack = ann0.send_msg(&conv, "remote", "from the other node").await;
    assert_eq!(ack["type"], "ack", "stored while node 1 is cut off: {ack}");

    // Back: node 1 is ready again, and its devices are sent to catch up from the store.
    cluster.redis_access(1, true).await;
    eventually("node 1 ready again", async || cluster.ready(1).await == 200).await;
    let closed = bob1.closed().await;
    assert_eq!(closed.code, Some(1012), "{closed:?}");
    assert!(closed.reason.starts_with("retry_after_ms="), "{closed:?}");
    let mut bob1 =
        WsClient::connect_as(&cluster.nodes[1].ws_url(), &bob, Some(json!({"since": 0}))).await;
    let mut replayed = Vec::new();
    loop {
        let f = bob1.recv().await;
        match f["type"].as_str() {
            Some("message") => replayed.push(f["message"]["body"].as_str().unwrap().to_owned()),
            Some("resumed") => break,
            _ => {}
        }
    }
    assert_eq!(replayed, ["same node", "from the other node"], "nothing missed");

    // And live again across nodes.
    let mut ann0 = cluster.connect(0, &ann).await;
    let ack = ann0.send_msg(&conv, "after", "after the cut").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(next_of(&mut bob1, "message").await["message"]["body"], "after the cut");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes_and_counts_every_device_on_every_node() {
    if !cluster_available() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let direct = json!({"kind": "direct", "members": ["bob"]});
    let (ann, bob, _) = ann_and_bob(&cluster, 0, direct).await;
    let mut bob1 = cluster.connect(1, &bob).await;
    let query = json!({"type": "presence", "users": ["ann"]});
    let state = bob1.request(query.clone()).await;
    assert_eq!(state["users"][0]["online"], false, "{state}");

    let ann0 = cluster.connect(0, &ann).await;
    let event = next_of(&mut bob1, "presence").await;
    assert_eq!((event["user_id"].as_str(), event["online"].as_bool()), (Some("ann"), Some(true)));
    let ann2 = cluster.connect(2, &ann).await;
    assert_eq!(bob1.request(query.clone()).await["users"][0]["online"], true);

    // One of ann's devices goes: she is still online (on node 2); the last one: offline.
    drop(ann0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bob1.request(query.clone()).await["users"][0]["online"], true);
    let quiet = bob1.settle(Duration::from_millis(200)).await;
    assert!(quiet.iter().all(|f| f["type"] != "presence"), "no offline while on node 2: {quiet:?}");
    drop(ann2);
    let event = next_of(&mut bob1, "presence").await;
    assert_eq!((event["user_id"].as_str(), event["online"].as_bool()), (Some("ann"), Some(false)));
    assert!(event["last_seen"].as_i64().is_some(), "{event}");
    assert_eq!(bob1.request(query).await["users"][0]["online"], false);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_of_a_big_room_on_two_nodes_gets_every_message_live() {
    if !cluster_available() {
        return;
    }
    // Every member of a big room, spread over two nodes, gets every message live: their
    // presence at connect goes once per conversation between nodes (not once per co-member),
    // so it does not crowd the broker's queue.
    let cluster = Cluster::start(2).await;
    const MEMBERS: usize = 300;
    let names: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    let owner = cluster.nodes[0].token(&names[0]);
    let http = reqwest::Client::new();
    let conv = create_conversation(
        &http,
        &cluster.base(0),
        &owner,
        json!({"kind": "group", "title": "big room", "members": &names[1..]}),
    )
    .await;
    let mut devices = Vec::new();
    for (i, name) in names.iter().enumerate() {
        devices.push(cluster.connect(i % 2, &cluster.nodes[0].token(name)).await);
    }
    for i in 0..10 {
        let ack = devices[0].send_msg(&conv, &format!("b{i}"), "to everyone").await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    for (i, device) in devices.iter_mut().enumerate() {
        let got = collect(device, 10).await;
        let seqs: Vec<u64> = got.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "member {i}: every message, live");
    }
    cluster.stop().await;
}
