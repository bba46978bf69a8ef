//! The broker contract, against the in-memory broker and the Redis broker: what every broker
//! does on one node, then what only a broker between nodes does (delivery across nodes, only
//! to subscribers, in order, once; and the recovery signals after a lost connection).
//!
//! The Redis cases need `TEST_CHINWAG_REDIS_URL` (`.ci/run` sets it); unset, they say so and
//! return. Each Redis case uses a channel prefix of its own, so cases never see each other.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chinwag_broker::redis::{RedisBroker, RedisOptions};
use chinwag_broker::{Broker, EncodedEvent, Event, EventKind, EventReceiver, MemoryBroker, Topic};
use parking_lot::Mutex;

const URL_VAR: &str = "TEST_CHINWAG_REDIS_URL";

fn redis_url() -> Option<String> {
    let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("{URL_VAR} is not set: Redis broker tests not run");
    }
    url
}

/// What a node's hub got: events, and how many times it was told it lost some.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    lost: Mutex<u32>,
}

impl EventReceiver for Recorder {
    fn receive(&self, event: &Event) {
        self.events.lock().push(event.clone());
    }
    fn lost(&self) {
        *self.lost.lock() += 1;
    }
}

impl Recorder {
    fn bodies(&self) -> Vec<String> {
        self.events
            .lock()
            .iter()
            .map(|e| String::from_utf8(e.payload.bytes().to_vec()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.bodies();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn conversation(id: &str) -> Topic {
    Topic::Conversation("acme".into(), id.into())
}

fn message(topic: Topic, seq: u64) -> Event {
    Event {
        topic,
        kind: EventKind::Message { seq },
        skip_user: None,
        payload: EncodedEvent::from_json(Bytes::from(format!("{{\"seq\":{seq}}}"))),
    }
}

/// A node: its broker and what its hub received. The recorder is kept alive here (brokers hold
/// their receiver weakly, as the hub is owned by the node).
struct TestNode {
    broker: Arc<dyn Broker>,
    hub: Arc<Recorder>,
}

fn attach(broker: Arc<dyn Broker>) -> TestNode {
    let hub = Arc::new(Recorder::default());
    broker.attach(hub.clone());
    TestNode { broker, hub }
}

// ---- What every broker does on one node ------------------------------------------------------

async fn delivers_to_its_own_node_in_publish_order(node: TestNode) {
    let topic = conversation("c1");
    node.broker.subscribe(&topic);
    node.broker.subscribed().await;
    for seq in 1..=100 {
        node.broker.publish(message(topic.clone(), seq));
    }
    let expected: Vec<String> = (1..=100).map(|s| format!("{{\"seq\":{s}}}")).collect();
    assert_eq!(node.hub.wait_for(100).await, expected);
    // The local hub hears its own events at once, without a round trip.
    node.broker.publish(message(topic, 101));
    assert_eq!(node.hub.bodies().len(), 101, "own events are delivered synchronously");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(node.hub.bodies().len(), 101, "and exactly once");
    assert!(node.broker.healthy());
}

async fn delivers_every_kind_and_topic_as_published(node: TestNode) {
    let user = Topic::User("acme".into(), "bob".into());
    let events = [
        Event { kind: EventKind::Joined("c2".into()), ..message(user.clone(), 0) },
        Event { kind: EventKind::Left("c2".into()), ..message(user.clone(), 0) },
        Event { skip_user: Some("ann".into()), ..message(conversation("c2"), 0) },
        message(conversation("c2"), 7),
    ];
    for e in &events {
        node.broker.publish(e.clone());
    }
    assert_eq!(node.hub.events.lock().as_slice(), &events);
}

// ---- What only a broker between nodes does -----------------------------------------------------

async fn other_nodes_get_events_of_the_topics_they_subscribed_to_once_in_order(
    a: TestNode,
    b: TestNode,
    c: TestNode,
) {
    let (t1, t2) = (conversation("c1"), conversation("c2"));
    b.broker.subscribe(&t1);
    c.broker.subscribe(&t2);
    b.broker.subscribed().await;
    c.broker.subscribed().await;
    for seq in 1..=200 {
        a.broker.publish(message(t1.clone(), seq));
        a.broker.publish(message(t2.clone(), seq));
    }
    let expected: Vec<String> = (1..=200).map(|s| format!("{{\"seq\":{s}}}")).collect();
    assert_eq!(b.hub.wait_for(200).await, expected, "b: every c1 event, in order");
    assert_eq!(c.hub.wait_for(200).await, expected, "c: every c2 event, in order");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.hub.bodies().len(), 200, "b got nothing of c2 and nothing twice");
    assert_eq!(c.hub.bodies().len(), 200);
    assert_eq!(a.hub.bodies().len(), 400, "the publisher's own hub, once each");
    let got = b.hub.events.lock()[0].clone();
    assert_eq!(got, message(t1.clone(), 1), "topic, kind and payload cross unchanged");

    // Unsubscribed: nothing more arrives.
    b.broker.unsubscribe(&t1);
    b.broker.subscribed().await;
    a.broker.publish(message(t1.clone(), 201));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.hub.bodies().len(), 200, "no events after unsubscribe");
    // Subscribed again: they arrive again.
    b.broker.subscribe(&t1);
    b.broker.subscribed().await;
    a.broker.publish(message(t1, 202));
    assert_eq!(b.hub.wait_for(201).await.last().unwrap(), "{\"seq\":202}");
}

async fn a_subscriber_that_loses_its_connection_recovers_and_is_told(
    a: TestNode,
    b: TestNode,
    kill: impl AsyncFn(u64, &str),
) {
    let t = conversation("c1");
    b.broker.subscribe(&t);
    b.broker.subscribed().await;
    a.broker.publish(message(t.clone(), 1));
    assert_eq!(b.hub.wait_for(1).await.len(), 1);
    kill(2, "pubsub").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while *b.hub.lost.lock() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*b.hub.lost.lock(), 1, "told once that events may have been lost");
    assert!(b.broker.healthy(), "healthy again");
    // Subscriptions came back with the connection.
    a.broker.publish(message(t, 2));
    assert_eq!(b.hub.wait_for(2).await.last().unwrap(), "{\"seq\":2}");
}

// ---- Runs ---------------------------------------------------------------------------------------

fn memory() -> TestNode {
    attach(Arc::new(MemoryBroker::new()))
}

#[tokio::test]
async fn memory_delivers_to_its_own_node_in_publish_order() {
    delivers_to_its_own_node_in_publish_order(memory()).await;
}

#[tokio::test]
async fn memory_delivers_every_kind_and_topic_as_published() {
    delivers_every_kind_and_topic_as_published(memory()).await;
}

#[tokio::test]
async fn memory_drops_what_is_published_before_a_receiver_is_attached() {
    let broker = MemoryBroker::new();
    broker.publish(message(conversation("c"), 1));
    let node = attach(Arc::new(broker));
    assert!(node.hub.bodies().is_empty());
}

/// A Redis cluster of test nodes sharing one channel prefix of their own. Each node connects
/// as a Redis user of its own (removed on drop), so a case can cut one node's connections
/// with `CLIENT KILL USER` without touching any other case's.
struct RedisCluster {
    url: String,
    prefix: String,
    /// Node `i` of this cluster is `base | i`: unique across the cases running at once.
    base: u64,
    users: Mutex<Vec<String>>,
}

impl RedisCluster {
    fn new() -> Option<Self> {
        let url = redis_url()?;
        let prefix = format!("chinwag-test-{:016x}:", rand::random::<u64>());
        let base = rand::random::<u64>() & !0xff;
        Some(Self { url, prefix, base, users: Mutex::new(Vec::new()) })
    }

    fn user(&self, node: u64) -> String {
        format!("chinwag-test-{:016x}", self.base | node)
    }

    async fn node(&self, id: u64) -> (TestNode, RedisBroker) {
        let user = self.user(id);
        let mut admin = self.admin().await;
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &user, "on", "nopass", "allcommands", "allkeys", "allchannels"][..])
            .query_async(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but Redis is not usable: {e}"));
        self.users.lock().push(user.clone());
        let url = self.url.replacen("redis://", &format!("redis://{user}:any@"), 1);
        let options = RedisOptions {
            prefix: self.prefix.clone(),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            ..RedisOptions::default()
        };
        let broker = RedisBroker::connect(&url, self.base | id, options)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but Redis is not usable: {e}"));
        (attach(Arc::new(broker.clone())), broker)
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but Redis is not usable: {e}"))
    }

    /// Kills node `node`'s connections of one kind (`pubsub`: its subscriber; `normal`: its
    /// publisher).
    async fn kill(&self, node: u64, kind: &str) {
        let killed: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "USER", &self.user(node), "TYPE", kind][..])
            .query_async(&mut self.admin().await)
            .await
            .unwrap();
        assert!(killed > 0, "node {node} had no {kind} connection");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let users = std::mem::take(&mut *self.users.lock());
        let removed = redis::Client::open(self.url.as_str()).and_then(|c| {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_delivers_to_its_own_node_in_publish_order() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (node, broker) = cluster.node(1).await;
    delivers_to_its_own_node_in_publish_order(node).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_delivers_every_kind_and_topic_as_published() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (node, broker) = cluster.node(1).await;
    delivers_every_kind_and_topic_as_published(node).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_other_nodes_get_events_of_the_topics_they_subscribed_to_once_in_order() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (a, ab) = cluster.node(1).await;
    let (b, bb) = cluster.node(2).await;
    let (c, cb) = cluster.node(3).await;
    other_nodes_get_events_of_the_topics_they_subscribed_to_once_in_order(a, b, c).await;
    for broker in [ab, bb, cb] {
        broker.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_subscriber_that_loses_its_connection_recovers_and_is_told() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (a, ab) = cluster.node(1).await;
    let (b, bb) = cluster.node(2).await;
    let kill = async |node: u64, kind: &str| cluster.kill(node, kind).await;
    a_subscriber_that_loses_its_connection_recovers_and_is_told(a, b, kill).await;
    ab.close().await;
    bb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_publisher_that_loses_its_connection_resyncs_the_topics_it_dropped() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (a, ab) = cluster.node(1).await;
    let (b, bb) = cluster.node(2).await;
    let (t1, t2) = (conversation("c1"), conversation("c2"));
    b.broker.subscribe(&t1);
    b.broker.subscribe(&t2);
    b.broker.subscribed().await;
    a.broker.publish(message(t1.clone(), 1));
    assert_eq!(b.hub.wait_for(1).await.len(), 1);

    // Kill a's publisher, and publish while it is gone: what does not get through is
    // followed, once the publisher is back, by a resync of its topic.
    cluster.kill(1, "normal").await;
    for seq in 2..=50 {
        a.broker.publish(message(t1.clone(), seq));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = b.hub.events.lock().clone();
        let seqs: Vec<u64> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Message { seq } => Some(seq),
                _ => None,
            })
            .collect();
        let resynced = events.iter().any(|e| e.kind == EventKind::Resync && e.topic == t1);
        if seqs.len() == 50 || resynced {
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
            assert!(
                events.iter().all(|e| e.topic == t1),
                "nothing about a topic that lost nothing: {events:?}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "neither every event nor a resync");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = ab.stats();
    let dropped = stats.dropped.load(std::sync::atomic::Ordering::Relaxed);
    let resynced = b.hub.events.lock().iter().any(|e| e.kind == EventKind::Resync);
    assert!(dropped == 0 || resynced, "{dropped} envelopes dropped and no resync");
    eprintln!("publisher cut: {dropped} envelopes dropped, resync sent: {resynced}");
    ab.close().await;
    bb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_closing_node_sends_what_it_queued_first() {
    let Some(cluster) = RedisCluster::new() else { return };
    let (a, ab) = cluster.node(1).await;
    let (b, bb) = cluster.node(2).await;
    let t = conversation("c1");
    b.broker.subscribe(&t);
    b.broker.subscribed().await;
    for seq in 1..=500 {
        a.broker.publish(message(t.clone(), seq));
    }
    // A draining node closes its broker right after its last commits.
    ab.close().await;
    assert_eq!(b.hub.wait_for(500).await.len(), 500, "nothing queued was dropped");
    bb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refuses_a_bad_url_and_an_unreachable_server_at_start() {
    let err = RedisBroker::connect("http://nowhere", 1, RedisOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
    let options = RedisOptions { timeout: Duration::from_millis(500), ..RedisOptions::default() };
    let err = RedisBroker::connect("redis://127.0.0.1:1", 1, options).await.unwrap_err();
    assert!(err.to_string().contains("not reachable"), "{err}");
}
