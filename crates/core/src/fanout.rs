//! From the store's commit to the broker: each committed message is encoded once, as a complete
//! WebSocket frame, and published to its conversation's topic. Runs on the store's commit path in
//! commit order, so live events leave this node in `seq` order.

use std::sync::Arc;

use bytes::Bytes;
use chinwag_broker::{Broker, Event, EventKind, Topic};
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::TenantId;
use chinwag_proto::model::Message;
use chinwag_store::CommitSink;

use crate::metrics::Metrics;

/// Encode a server frame as a complete WebSocket text frame.
pub fn encode_frame(frame: &ServerFrame) -> Bytes {
    chinwag_ws::encode_text(&frame.to_json())
}

/// The server's [`CommitSink`].
pub struct Fanout {
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
}

impl Fanout {
    pub fn new(broker: Arc<dyn Broker>, metrics: Arc<Metrics>) -> Self {
        Self { broker, metrics }
    }
}

impl CommitSink for Fanout {
    fn committed(&self, tenant: &TenantId, messages: &[Message]) {
        self.metrics.messages_stored.inc_by(messages.len() as u64);
        for m in messages {
            let frame = encode_frame(&ServerFrame::Message { message: m.clone() });
            self.broker.publish(Event {
                topic: Topic::Conversation(tenant.clone(), m.conversation_id.clone()),
                kind: EventKind::Message { seq: m.seq },
                skip_user: None,
                frame,
            });
        }
    }
}
