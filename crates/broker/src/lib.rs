//! Fan-out between nodes.
//!
//! # Layout
//! - [`EncodedEvent`]: a server frame serialized once (compact JSON), shared by every recipient
//!   and every transport; each transport adds its own framing at its edge.
//! - [`Event`]: one published event: a topic, what the hub must know to route it, and its
//!   [`EncodedEvent`]. [`Event::to_wire`] / [`Event::from_wire`] are the bytes a broker ships
//!   between nodes: a small header and the same encoded event, never re-serialized.
//! - [`Broker`]: the contract. `publish` hands an event to every node's [`EventReceiver`] (the
//!   node's hub) whose subscriptions cover its topic. Delivery is at-most-once: a broker may drop
//!   events (Redis pub/sub does), tells the receiver when it may have ([`EventReceiver::lost`]),
//!   and G4 recovery from the store covers what it drops. Within one topic, events from one
//!   publisher arrive in publish order.
//! - [`MemoryBroker`]: the single-node default: `publish` calls the local receiver directly.
//! - [`redis::RedisBroker`]: several nodes over Redis pub/sub.
//! - [`wire`]: the envelope format and its errors.
//! - [`presence`]: who is online, by leases; the [`presence::Presence`] contract and its
//!   in-memory implementation.

#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use chinwag_proto::ids::{ConversationId, Seq, TenantId, UserId};
use parking_lot::RwLock;

pub mod presence;
pub mod redis;
pub mod wire;

pub use wire::WireError;

/// Where an event goes: everyone in a conversation, or every device of one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every device of every member of the conversation. A hub learns the members from its
    /// devices' memberships at attach, then from [`EventKind::Joined`] and [`EventKind::Left`].
    Conversation(TenantId, ConversationId),
    /// Every device of the user, whatever conversations they are in.
    User(TenantId, UserId),
}

/// What the hub needs to know about an event besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A stored message; devices skip it if they already have `seq` (resume seam).
    Message {
        /// The message's position in its conversation.
        seq: Seq,
    },
    /// On a user topic: the user joined this conversation, so route its events to them from now.
    Joined(ConversationId),
    /// On a user topic: the user left this conversation; stop routing its events to them.
    Left(ConversationId),
    /// Anything else: delivered as is.
    Other,
    /// Events of this topic may have been dropped between nodes (a publisher lost its
    /// connection to the broker): devices that need the topic must catch up from the store.
    /// Its payload is empty; the hub does not forward it.
    Resync,
}

/// A server frame serialized once: its compact JSON (one line: no raw line breaks), shared by
/// every recipient. Transports frame it at their edge (a WebSocket text frame, an SSE `data:`
/// line); brokers ship it between nodes as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedEvent(Bytes);

impl EncodedEvent {
    /// Wraps `json`, which must be one server frame's compact JSON.
    pub fn from_json(json: impl Into<Bytes>) -> Self {
        Self(json.into())
    }

    /// The JSON bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The JSON bytes, taken.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length of the JSON in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no JSON at all (only in tests).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One published event, cheap to clone: the encoded bytes are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Who should receive it.
    pub topic: Topic,
    /// What the hub must act on besides forwarding the bytes.
    pub kind: EventKind,
    /// A user whose devices must not get this event (a typist does not see their own typing).
    pub skip_user: Option<UserId>,
    /// The server frame, serialized once.
    pub payload: EncodedEvent,
}

/// The node-side consumer of events: the hub. Must not block.
pub trait EventReceiver: Send + Sync + 'static {
    /// Route `event` to the local devices its topic names, and apply its `kind` (a join or leave
    /// changes routing from then on). Called on the broker's thread (the publisher's, for
    /// [`MemoryBroker`]); events of one topic from one publisher come in publish order.
    fn receive(&self, event: &Event);

    /// Events from other nodes may have been dropped (the broker lost its connection and has
    /// it back): every local device must catch up from the store (G4).
    fn lost(&self) {}
}

/// The broker contract; see the crate docs for delivery semantics.
pub trait Broker: Send + Sync + 'static {
    /// Attach this node's receiver. Called once at start-up, before the first publish.
    fn attach(&self, receiver: Arc<dyn EventReceiver>);
    /// Publish to every node whose subscriptions cover the topic, this one included. Never
    /// blocks on the network.
    fn publish(&self, event: Event);
    /// This node now has local devices that need `topic` (its first local member device, or
    /// the first device of the user); called once per topic until [`Broker::unsubscribe`].
    fn subscribe(&self, _topic: &Topic) {}
    /// This node's last local device that needed `topic` is gone.
    fn unsubscribe(&self, _topic: &Topic) {}
    /// Resolves once every [`Broker::subscribe`] called before it is in effect (or the broker
    /// is disconnected, in which case [`EventReceiver::lost`] follows its return): a device
    /// reads the store after this, so nothing published meanwhile falls between the two.
    fn subscribed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(std::future::ready(()))
    }
    /// Whether events of one topic from different nodes can arrive out of order (then the hub
    /// puts a conversation's messages back in `seq` order).
    fn may_reorder(&self) -> bool {
        false
    }
    /// Whether events from other nodes arrive now (`false` while a network broker is
    /// disconnected; the node then reports itself not ready).
    fn healthy(&self) -> bool {
        true
    }
}

/// Single-node broker: publishing is a direct call into the local hub.
#[derive(Default)]
pub struct MemoryBroker {
    // RwLock rather than OnceLock so that tests can re-attach; the write lock is taken once.
    // Weak: the hub holds the broker (to subscribe), and the node holds the hub.
    receiver: RwLock<Option<Weak<dyn EventReceiver>>>,
}

impl MemoryBroker {
    /// A broker with no receiver yet: events published before [`Broker::attach`] are dropped.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Broker for MemoryBroker {
    fn attach(&self, receiver: Arc<dyn EventReceiver>) {
        *self.receiver.write() = Some(Arc::downgrade(&receiver));
    }

    fn publish(&self, event: Event) {
        let receiver = self.receiver.read().as_ref().and_then(Weak::upgrade);
        if let Some(r) = receiver {
            r.receive(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);
    impl EventReceiver for Recorder {
        fn receive(&self, event: &Event) {
            self.0.lock().push(event.clone());
        }
    }

    #[test]
    fn memory_broker_delivers_in_order_to_the_attached_receiver() {
        let broker = MemoryBroker::new();
        // Publishing before attach drops the event: at-most-once, like every broker.
        let topic = Topic::User("t".into(), "u".into());
        broker.publish(Event {
            topic: topic.clone(),
            kind: EventKind::Other,
            skip_user: None,
            payload: EncodedEvent::default(),
        });
        let rec = Arc::new(Recorder::default());
        broker.attach(rec.clone());
        for seq in 1..=3 {
            broker.publish(Event {
                topic: topic.clone(),
                kind: EventKind::Message { seq },
                skip_user: None,
                payload: EncodedEvent::from_json(vec![seq as u8]),
            });
        }
        let got: Vec<_> = rec.0.lock().iter().map(|e| e.kind.clone()).collect();
        assert_eq!(got, (1..=3).map(|seq| EventKind::Message { seq }).collect::<Vec<_>>());
    }
}
