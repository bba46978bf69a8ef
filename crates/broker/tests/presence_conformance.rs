//! The presence contract, against the in-memory presence and Redis presence: leases, expiry,
//! renewal and tenants on one node; then what only shared presence does (one user over several
//! nodes, a dead node's leases expiring, each transition reported once).
//!
//! The Redis cases need `TEST_CHINWAG_REDIS_URL` (`.ci/run` sets it); unset, they say so and
//! return. Each case uses a key prefix of its own.

use std::sync::Arc;
use std::time::Duration;

use chinwag_broker::presence::{MemoryPresence, NodeEpoch, Presence, Transition};
use chinwag_broker::redis::RedisOptions;
use chinwag_broker::redis::presence::RedisPresence;
use chinwag_proto::ids::{DeviceId, TenantId, UserId};

const URL_VAR: &str = "TEST_CHINWAG_REDIS_URL";
const LONG: Duration = Duration::from_secs(60);

fn t() -> TenantId {
    TenantId::from("acme")
}

fn u(name: &str) -> UserId {
    UserId::from(name)
}

// ---- What every presence does on one node ----------------------------------------------------

async fn online_while_any_lease_lives(p: Arc<dyn Presence>) {
    assert!(p.connect(&t(), &u("ann"), DeviceId(1), LONG).await, "first device: online");
    assert!(!p.connect(&t(), &u("ann"), DeviceId(2), LONG).await, "second: already online");
    assert!(!p.disconnect(&t(), &u("ann"), DeviceId(1)).await, "one left: still online");
    assert!(p.is_online(&t(), &u("ann")).await);
    assert!(p.disconnect(&t(), &u("ann"), DeviceId(2)).await, "last device: offline");
    assert!(!p.disconnect(&t(), &u("ann"), DeviceId(2)).await, "twice is nothing");
    assert!(!p.is_online(&t(), &u("ann")).await);
    assert!(p.expire().await.is_empty(), "a given-back lease never expires as a transition");
}

async fn unrenewed_leases_expire_and_renewed_ones_do_not(p: Arc<dyn Presence>) {
    let short = Duration::from_millis(300);
    p.connect(&t(), &u("ann"), DeviceId(1), short).await;
    p.connect(&t(), &u("bob"), DeviceId(2), short).await;
    p.connect(&t(), &u("cid"), DeviceId(3), LONG).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    p.renew(&t(), &u("bob"), DeviceId(2), Duration::from_millis(1_000));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!p.is_online(&t(), &u("ann")).await, "past its lease, before any sweep");
    let gone = p.expire().await;
    assert_eq!(gone, [Transition { tenant: t(), user: u("ann"), online: false }]);
    assert!(p.expire().await.is_empty(), "reported once");
    assert!(p.is_online(&t(), &u("bob")).await, "renewed");
    assert!(p.is_online(&t(), &u("cid")).await);
    // A renewal of a lease that is gone does not bring it back.
    p.renew(&t(), &u("ann"), DeviceId(1), LONG);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!p.is_online(&t(), &u("ann")).await);
}

async fn tenants_are_apart(p: Arc<dyn Presence>) {
    let other = TenantId::from("other");
    assert!(p.connect(&t(), &u("ann"), DeviceId(1), LONG).await);
    assert!(!p.is_online(&other, &u("ann")).await, "the same user id in another tenant");
    assert!(p.connect(&other, &u("ann"), DeviceId(2), LONG).await, "online there on its own");
    assert!(p.disconnect(&t(), &u("ann"), DeviceId(1)).await);
    assert!(p.is_online(&other, &u("ann")).await);
}

// ---- What only presence shared by nodes does ----------------------------------------------------

async fn one_user_over_several_nodes(a: Arc<dyn Presence>, b: Arc<dyn Presence>) {
    // The same device number on two nodes is two devices.
    assert!(a.connect(&t(), &u("ann"), DeviceId(1), LONG).await);
    assert!(!b.connect(&t(), &u("ann"), DeviceId(1), LONG).await, "online already, on a");
    assert!(b.is_online(&t(), &u("ann")).await);
    assert!(!a.disconnect(&t(), &u("ann"), DeviceId(1)).await, "still on b");
    assert!(a.is_online(&t(), &u("ann")).await, "a sees b's lease");
    assert!(b.disconnect(&t(), &u("ann"), DeviceId(1)).await, "the last device anywhere");
    assert!(!a.is_online(&t(), &u("ann")).await);
}

async fn a_dead_nodes_leases_expire_and_each_user_is_reported_once(
    dead: Arc<dyn Presence>,
    a: Arc<dyn Presence>,
    b: Arc<dyn Presence>,
) {
    let short = Duration::from_millis(300);
    for (i, name) in ["ann", "bob", "cid"].iter().enumerate() {
        dead.connect(&t(), &u(name), DeviceId(i as u64), short).await;
    }
    // bob is also on a live node: he stays online.
    a.connect(&t(), &u("bob"), DeviceId(9), LONG).await;
    drop(dead);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (ga, gb) = tokio::join!(a.expire(), b.expire());
    let mut gone: Vec<String> =
        ga.iter().chain(gb.iter()).map(|g| g.user.as_str().to_owned()).collect();
    gone.sort();
    assert_eq!(gone, ["ann", "cid"], "each user once, by whichever node swept first");
    assert!(b.is_online(&t(), &u("bob")).await);
}

// ---- Runs ---------------------------------------------------------------------------------------

fn memory() -> Arc<dyn Presence> {
    Arc::new(MemoryPresence::new(NodeEpoch { node: 1, epoch: 1 }))
}

#[tokio::test]
async fn memory_online_while_any_lease_lives() {
    online_while_any_lease_lives(memory()).await;
}

#[tokio::test]
async fn memory_unrenewed_leases_expire_and_renewed_ones_do_not() {
    unrenewed_leases_expire_and_renewed_ones_do_not(memory()).await;
}

#[tokio::test]
async fn memory_tenants_are_apart() {
    tenants_are_apart(memory()).await;
}

/// Nodes sharing one key prefix of their own.
struct RedisNodes {
    url: String,
    options: RedisOptions,
}

impl RedisNodes {
    fn new() -> Option<Self> {
        let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
        let Some(url) = url else {
            eprintln!("{URL_VAR} is not set: Redis presence tests not run");
            return None;
        };
        let prefix = format!("chinwag-test-{:016x}:", rand::random::<u64>());
        Some(Self { url, options: RedisOptions { prefix, ..RedisOptions::default() } })
    }

    async fn node(&self) -> Arc<dyn Presence> {
        let node = NodeEpoch { node: rand::random(), epoch: 1 };
        let p = RedisPresence::connect(&self.url, node, &self.options)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but Redis is not usable: {e}"));
        Arc::new(p)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_online_while_any_lease_lives() {
    let Some(nodes) = RedisNodes::new() else { return };
    online_while_any_lease_lives(nodes.node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unrenewed_leases_expire_and_renewed_ones_do_not() {
    let Some(nodes) = RedisNodes::new() else { return };
    unrenewed_leases_expire_and_renewed_ones_do_not(nodes.node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tenants_are_apart() {
    let Some(nodes) = RedisNodes::new() else { return };
    tenants_are_apart(nodes.node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_one_user_over_several_nodes() {
    let Some(nodes) = RedisNodes::new() else { return };
    one_user_over_several_nodes(nodes.node().await, nodes.node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_dead_nodes_leases_expire_and_each_user_is_reported_once() {
    let Some(nodes) = RedisNodes::new() else { return };
    let (dead, a, b) = (nodes.node().await, nodes.node().await, nodes.node().await);
    a_dead_nodes_leases_expire_and_each_user_is_reported_once(dead, a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_presence_refuses_an_unreachable_server_at_start() {
    let options = RedisOptions { timeout: Duration::from_millis(500), ..RedisOptions::default() };
    let node = NodeEpoch { node: 1, epoch: 1 };
    let err = RedisPresence::connect("redis://127.0.0.1:1", node, &options).await.unwrap_err();
    assert!(err.to_string().contains("not reachable"), "{err}");
}
