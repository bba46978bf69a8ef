//! From the store's commit to the broker: each committed message is serialized once (`wire.rs`) and
//! published to its conversation's topic. Runs on the store's commit path in commit order, so
//! live events leave this node in `seq` order. Delivery to devices happens in the hub.

use std::sync::Arc;

use chinwag_broker::{Broker, Event, EventKind, Topic};
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::TenantId;
use chinwag_proto::model::Message;
use chinwag_store::CommitSink;

use crate::metrics::Metrics;
use crate::wire::encode_event;

/// The server's [`CommitSink`]: publishes what the store committed.
pub struct CommitPublisher {
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
}

impl CommitPublisher {
    pub fn new(broker: Arc<dyn Broker>, metrics: Arc<Metrics>) -> Self {
        Self { broker, metrics }
    }
}

impl CommitSink for CommitPublisher {
    fn committed(&self, tenant: &TenantId, messages: &[Message]) {
        self.metrics.messages_stored.inc_by(messages.len() as u64);
        for m in messages {
            let payload = encode_event(&ServerFrame::Message { message: m.clone() });
            self.broker.publish(Event {
                topic: Topic::Conversation(tenant.clone(), m.conversation_id.clone()),
                kind: EventKind::Message { seq: m.seq },
                skip_user: None,
                payload,
            });
        }
    }
}
