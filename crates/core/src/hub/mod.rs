//! The hub: this node's registry of connected devices, and the router of broker events to them.
//!
//! Two sharded indexes, both under short synchronous locks (never held across `.await`, so
//! `parking_lot` locks are right; the `await_holding_lock` lint guards it):
//! - users: `(tenant, user)` → that user's local devices and the conversations they are in;
//! - conversations: `(tenant, conversation)` → the users with local devices who are members,
//!   copy-on-write (`Arc<[UserKey]>`) so that fan-out clones one pointer and takes no lock while
//!   it pushes.
//!
//! A conversation event goes to every local device of every member; a user event to every device
//! of that user. Pushing never waits (see `device_queue.rs` for the overflow rule).
//!
//! Busy conversations are delivered in fan-out windows (`windows.rs`): one write per device per
//! window instead of one per event.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use chinwag_broker::{Broker, Event, EventKind, EventReceiver, Topic};
use chinwag_proto::ids::{ConversationId, DeviceId, TenantId, UserId};
use parking_lot::{Mutex, RwLock};
use tokio::runtime::Handle;

use crate::device_queue::{DeviceSender, Outbound};
use crate::metrics::Metrics;

mod order;
mod windows;
use order::Sequencer;
pub use windows::WINDOW_SEAL_BYTES;
use windows::Window;

type UserKey = (TenantId, UserId);
type ConvKey = (TenantId, ConversationId);

const SHARDS: usize = 64;

/// Users with local devices per conversation; the lists are shared, replaced on change.
type ConversationIndex = HashMap<ConvKey, Arc<[UserKey]>>;

/// Lists grown one slot at a time rather than maps or doubling vectors: a user has few devices,
/// and every idle connection pays for this entry.
#[derive(Default)]
struct UserEntry {
    devices: Vec<(DeviceId, DeviceSender)>,
    /// Sorted, for binary search.
    conversations: Vec<ConversationId>,
}

/// Why a device could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    TooManyConnections,
}

pub struct Hub {
    users: Box<[Mutex<HashMap<UserKey, UserEntry>>]>,
    conversations: Box<[RwLock<ConversationIndex>]>,
    /// Open fan-out windows by conversation; a key is present exactly while its window is open.
    windows: Box<[Mutex<HashMap<ConvKey, Window>>]>,
    /// Zero: no windows, every event is delivered at once.
    window: Duration,
    /// A window's buffer is sealed at this size (see `windows.rs`).
    seal_bytes: usize,
    /// Where window tasks run; events arrive on the store's writer thread too, outside tokio.
    runtime: Option<Handle>,
    /// The hub itself, for the window tasks it spawns.
    this: Weak<Hub>,
    hasher: RandomState,
    next_device: AtomicU64,
    max_per_user: usize,
    metrics: Arc<Metrics>,
    /// The broker, told which topics this node's devices need; set once by the node.
    broker: OnceLock<Arc<dyn Broker>>,
    /// Whether the broker may reorder a conversation's messages from different nodes; then
    /// each goes through its conversation's sequencer (`order.rs`).
    ordered: AtomicBool,
    sequencers: Box<[Mutex<HashMap<ConvKey, Sequencer>>]>,
    /// Where a sequencer reads a message that did not arrive; set once by the node.
    store: OnceLock<Arc<dyn chinwag_store::Store>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with fan-out windows of `window` (zero disables them), for device queues bounded at
    /// `queue_bytes`. Windows need a tokio runtime: created outside one, the hub delivers every
    /// event at once.
    pub fn new(
        max_per_user: usize,
        window: Duration,
        queue_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            users: (0..SHARDS).map(|_| Mutex::default()).collect(),
            conversations: (0..SHARDS).map(|_| RwLock::default()).collect(),
            windows: (0..SHARDS).map(|_| Mutex::default()).collect(),
            window,
            seal_bytes: WINDOW_SEAL_BYTES.min(queue_bytes / 8).max(1),
            runtime: Handle::try_current().ok(),
            this: this.clone(),
            hasher: RandomState::new(),
            next_device: AtomicU64::new(1),
            max_per_user,
            metrics,
            broker: OnceLock::new(),
            ordered: AtomicBool::new(false),
            sequencers: (0..SHARDS).map(|_| Mutex::default()).collect(),
            store: OnceLock::new(),
        })
    }

    /// Tell `broker` which topics this node's devices need from now on (subscribe on a
    /// conversation's first local member and a user's first local device, unsubscribe after the
    /// last), and put messages back in order if it may reorder them. Called once, before the
    /// first device registers.
    pub fn use_broker(&self, broker: Arc<dyn Broker>) {
        self.ordered.store(broker.may_reorder(), Ordering::Relaxed);
        let _ = self.broker.set(broker);
    }

    /// Where a conversation's sequencer reads a message that other nodes' broker did not
    /// bring (it is stored: it was committed before the ones after it).
    pub fn use_store(&self, store: Arc<dyn chinwag_store::Store>) {
        let _ = self.store.set(store);
    }

    fn subscribe(&self, topic: Topic) {
        if let Some(b) = self.broker.get() {
            b.subscribe(&topic);
        }
    }

    fn unsubscribe(&self, topic: Topic) {
        if let Some(b) = self.broker.get() {
            b.unsubscribe(&topic);
        }
    }

    fn shard<K: Hash>(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// Register a device of `user`. Returns its id and whether it is the user's first local
    /// device (then the caller loads the user's conversations with [`Hub::join_many`]).
    pub fn register(
        &self,
        tenant: &TenantId,
        user: &UserId,
        sender: DeviceSender,
    ) -> Result<(DeviceId, bool), RegisterError> {
        let key = (tenant.clone(), user.clone());
        let mut users = self.users[self.shard(&key)].lock();
        let entry = users.entry(key).or_insert_with(|| {
            // Under the shard lock, as the unsubscribe after the last device is: the broker
            // sees a user's subscribe and unsubscribe in the order they happened.
            self.subscribe(Topic::User(tenant.clone(), user.clone()));
            UserEntry::default()
        });
        if entry.devices.len() >= self.max_per_user {
            return Err(RegisterError::TooManyConnections);
        }
        let id = DeviceId(self.next_device.fetch_add(1, Ordering::Relaxed));
        entry.devices.reserve_exact(1);
        entry.devices.push((id, sender));
        let first = entry.devices.len() == 1;
        self.metrics.connections.inc();
        Ok((id, first))
    }

    /// Remove a device; when it was the user's last, the user leaves every conversation index.
    pub fn unregister(&self, tenant: &TenantId, user: &UserId, device: DeviceId) {
        let key = (tenant.clone(), user.clone());
        let left = {
            let mut users = self.users[self.shard(&key)].lock();
            let Some(entry) = users.get_mut(&key) else { return };
            let before = entry.devices.len();
            entry.devices.retain(|(id, _)| *id != device);
            if entry.devices.len() < before {
                self.metrics.connections.dec();
            }
            if entry.devices.is_empty() {
                self.unsubscribe(Topic::User(tenant.clone(), user.clone()));
                users.remove(&key).map(|e| e.conversations)
            } else {
                None
            }
        };
        for conversation in left.into_iter().flatten() {
            self.index_remove(&(tenant.clone(), conversation), &key);
        }
    }

    /// Route the conversations' events to `user`'s local devices (if any are connected).
    pub fn join_many(&self, tenant: &TenantId, user: &UserId, conversations: &[ConversationId]) {
        let key = (tenant.clone(), user.clone());
        let added: Vec<ConversationId> = {
            let mut users = self.users[self.shard(&key)].lock();
            let Some(entry) = users.get_mut(&key) else { return };
            let mut added: Vec<ConversationId> = conversations
                .iter()
                .filter(|c| entry.conversations.binary_search(c).is_err())
                .cloned()
                .collect();
            added.sort_unstable();
            added.dedup();
            entry.conversations.reserve_exact(added.len());
            entry.conversations.extend(added.iter().cloned());
            entry.conversations.sort_unstable();
            added
        };
        for c in added {
            let ckey = (tenant.clone(), c);
            let mut shard = self.conversations[self.shard(&ckey)].write();
            let list = shard.entry(ckey).or_insert_with_key(|(t, c)| {
                self.subscribe(Topic::Conversation(t.clone(), c.clone()));
                Arc::from(Vec::new())
            });
            if !list.contains(&key) {
                let mut v = list.to_vec();
                v.push(key.clone());
                *list = Arc::from(v);
            }
        }
    }

    /// Stop routing a conversation's events to `user`.
    pub fn leave(&self, tenant: &TenantId, user: &UserId, conversation: &ConversationId) {
        let key = (tenant.clone(), user.clone());
        let was = {
            let mut users = self.users[self.shard(&key)].lock();
            users.get_mut(&key).is_some_and(|e| match e.conversations.binary_search(conversation) {
                Ok(at) => {
                    e.conversations.remove(at);
                    true
                }
                Err(_) => false,
            })
        };
        if was {
            self.index_remove(&(tenant.clone(), conversation.clone()), &key);
        }
    }

    fn index_remove(&self, ckey: &ConvKey, user: &UserKey) {
        let emptied = {
            let mut shard = self.conversations[self.shard(ckey)].write();
            let Some(list) = shard.get_mut(ckey) else { return };
            let v: Vec<UserKey> = list.iter().filter(|k| *k != user).cloned().collect();
            if v.is_empty() {
                shard.remove(ckey);
                self.unsubscribe(Topic::Conversation(ckey.0.clone(), ckey.1.clone()));
                true
            } else {
                *list = Arc::from(v);
                false
            }
        };
        if emptied {
            // After the index lock is released: delivery takes the sequencer lock first.
            self.sequencers[self.shard(ckey)].lock().remove(ckey);
        }
    }

    /// Whether any local device needs this conversation's events.
    fn has_members(&self, ckey: &ConvKey) -> bool {
        self.conversations[self.shard(ckey)].read().contains_key(ckey)
    }

    /// End every local device of a conversation's members here: they catch up from the store.
    fn resync_members(&self, ckey: &ConvKey) {
        let members = self.conversations[self.shard(ckey)].read().get(ckey).cloned();
        for user in members.iter().flat_map(|m| m.iter()) {
            self.resync_user(user);
        }
    }

    /// End every local device of `user`: it catches up from the store.
    fn resync_user(&self, key: &UserKey) {
        if let Some(entry) = self.users[self.shard(key)].lock().get(key) {
            for (_, device) in &entry.devices {
                device.resync();
            }
        }
    }

    /// Number of local devices of a user.
    pub fn device_count(&self, tenant: &TenantId, user: &UserId) -> usize {
        let key = (tenant.clone(), user.clone());
        self.users[self.shard(&key)].lock().get(&key).map_or(0, |e| e.devices.len())
    }

    fn push_to_user(&self, key: &UserKey, out: &Outbound) {
        let users = self.users[self.shard(key)].lock();
        if let Some(entry) = users.get(key) {
            for (_, device) in &entry.devices {
                // An overflow wakes the device's session, which closes it and counts it.
                device.push(out.clone());
            }
        }
    }

    /// Deliver a conversation's entry to the local devices of its members, but `skip`.
    fn deliver(&self, ckey: &ConvKey, out: &Outbound, skip: Option<&UserId>) {
        let members = self.conversations[self.shard(ckey)].read().get(ckey).cloned();
        let Some(members) = members else { return };
        for user in members.iter() {
            if skip != Some(&user.1) {
                self.push_to_user(user, out);
            }
        }
    }
}

impl EventReceiver for Hub {
    fn receive(&self, event: &Event) {
        let started = Instant::now();
        if event.kind == EventKind::Resync {
            return self.resync_topic(&event.topic);
        }
        match &event.topic {
            Topic::Conversation(tenant, conversation) => {
                let ckey = (tenant.clone(), conversation.clone());
                match event.kind {
                    EventKind::Message { seq } if self.ordered.load(Ordering::Relaxed) => {
                        self.in_order(ckey, seq, event);
                    }
                    _ => self.conversation_event(ckey, event),
                }
            }
            Topic::User(tenant, user) => {
                match &event.kind {
                    EventKind::Joined(c) => self.join_many(tenant, user, std::slice::from_ref(c)),
                    EventKind::Left(c) => self.leave(tenant, user, c),
                    _ => {}
                }
                let out = Outbound { payload: event.payload.bytes().clone(), events: None };
                self.push_to_user(&(tenant.clone(), user.clone()), &out);
            }
        }
        self.metrics.fanout_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// The broker may have dropped events from other nodes: every local device catches up from
    /// the store.
    fn lost(&self) {
        self.metrics.resyncs_lost.inc();
        for shard in self.users.iter() {
            for entry in shard.lock().values() {
                for (_, device) in &entry.devices {
                    device.resync();
                }
            }
        }
        for shard in self.sequencers.iter() {
            shard.lock().clear();
        }
    }
}

impl Hub {
    /// Events of `topic` may have been lost between nodes: the local devices that need it
    /// catch up from the store.
    fn resync_topic(&self, topic: &Topic) {
        self.metrics.resyncs_notice.inc();
        match topic {
            Topic::Conversation(tenant, conversation) => {
                let ckey = (tenant.clone(), conversation.clone());
                self.resync_members(&ckey);
                self.sequencers[self.shard(&ckey)].lock().remove(&ckey);
            }
            Topic::User(tenant, user) => self.resync_user(&(tenant.clone(), user.clone())),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::device_queue::{DeviceReceiver, device_queue};
    use bytes::Bytes;
    use chinwag_broker::EncodedEvent;
    use chinwag_proto::ids::Seq;

    pub(crate) fn ev(topic: Topic, kind: EventKind, b: &'static [u8]) -> Event {
        Event {
            topic,
            kind,
            skip_user: None,
            payload: EncodedEvent::from_json(Bytes::from_static(b)),
        }
    }

    /// Everything queued for a device, as (bytes, message seqs) per entry.
    pub(crate) fn drain(rx: &mut DeviceReceiver) -> Vec<(Vec<u8>, Vec<Seq>)> {
        rx.try_recv_all()
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                let seqs = o.events.map_or(vec![], |e| e.frames.iter().map(|f| f.1).collect());
                (o.payload.to_vec(), seqs)
            })
            .collect()
    }

    pub(crate) fn frames(rx: &mut DeviceReceiver) -> Vec<String> {
        drain(rx).into_iter().map(|(b, _)| String::from_utf8(b).unwrap()).collect()
    }

    #[tokio::test]
    async fn routes_conversation_events_to_members_devices_only() {
        let hub = Hub::new(2, Duration::ZERO, 1 << 20, Arc::new(Metrics::new()));
        let t = TenantId::from("t");
        let (a1, mut a1r) = device_queue(16, 1 << 20);
        let (a2, mut a2r) = device_queue(16, 1 << 20);
        let (b1, mut b1r) = device_queue(16, 1 << 20);
        let (_, first) = hub.register(&t, &"a".into(), a1).unwrap();
        assert!(first);
        let (d2, first) = hub.register(&t, &"a".into(), a2).unwrap();
        assert!(!first);
        let (a3, _) = device_queue(16, 1 << 20);
        assert_eq!(hub.register(&t, &"a".into(), a3), Err(RegisterError::TooManyConnections));
        hub.register(&t, &"b".into(), b1).unwrap();
        hub.join_many(&t, &"a".into(), &["c1".into()]);

        let c1 = || Topic::Conversation(t.clone(), "c1".into());
        hub.receive(&ev(c1(), EventKind::Message { seq: 1 }, b"m1"));
        assert_eq!(frames(&mut a1r), ["m1"]);
        assert_eq!(drain(&mut a2r), [(b"m1".to_vec(), vec![1])]);
        assert!(frames(&mut b1r).is_empty(), "b is not a member");

        // b joins through a user event, then receives conversation events.
        hub.receive(&ev(Topic::User(t.clone(), "b".into()), EventKind::Joined("c1".into()), b"j"));
        hub.receive(&ev(c1(), EventKind::Message { seq: 2 }, b"m2"));
        assert_eq!(frames(&mut b1r), ["j", "m2"]);

        // Another tenant's conversation with the same id reaches nobody here.
        hub.receive(&ev(Topic::Conversation("other".into(), "c1".into()), EventKind::Other, b"x"));
        assert_eq!(frames(&mut a1r), ["m2"]);

        hub.unregister(&t, &"a".into(), d2);
        assert_eq!(hub.device_count(&t, &"a".into()), 1);
        hub.receive(&ev(Topic::User(t.clone(), "b".into()), EventKind::Left("c1".into()), b"l"));
        hub.receive(&ev(c1(), EventKind::Message { seq: 3 }, b"m3"));
        assert_eq!(frames(&mut b1r), ["l"], "b left");

        // An event for all but one user skips that user's devices.
        let typing = Event { skip_user: Some("a".into()), ..ev(c1(), EventKind::Other, b"t") };
        hub.join_many(&t, &"b".into(), &["c1".into()]);
        hub.receive(&typing);
        assert_eq!(frames(&mut b1r), ["t"]);
        assert_eq!(frames(&mut a1r), ["m3"]);
    }
}
