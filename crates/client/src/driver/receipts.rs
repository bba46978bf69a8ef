//! Receipts both ways: `received` frames tell the server what reached this device (one per
//! conversation per housekeeping tick, however many messages came), and other members'
//! receipts move own messages to delivered and read.

use std::collections::{BTreeMap, HashMap};

use chinwag_proto::commands::MarkReceived;
use chinwag_proto::frames::ClientFrame;
use chinwag_proto::ids::{ConversationId, Seq, UserId};
use chinwag_proto::model::{LIFECYCLE_KINDS, Message};

use super::{Driver, with_id};
use crate::events::{Event, MessageState, MessageStatus};

/// Own messages whose delivered/read state is followed; the oldest are forgotten past this.
const TRACKED_MAX: usize = 10_000;

/// Sent messages whose delivered/read state is still followed, per conversation by `seq`.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    by_conversation: HashMap<ConversationId, BTreeMap<Seq, (String, MessageState)>>,
    /// Entries over all conversations, to keep them under `TRACKED_MAX` without counting.
    len: usize,
}

impl Tracker {
    pub(super) fn track(&mut self, conversation: &ConversationId, seq: Seq, key: String) {
        let map = self.by_conversation.entry(conversation.clone()).or_default();
        if map.insert(seq, (key, MessageState::Sent)).is_none() {
            self.len += 1;
        }
        while self.len > TRACKED_MAX {
            let Some(map) = self.by_conversation.values_mut().find(|m| !m.is_empty()) else {
                break;
            };
            map.pop_first();
            self.len -= 1;
        }
    }

    /// Another member's watermarks moved: the own messages that became delivered or read.
    fn receipt(
        &mut self,
        conversation: &ConversationId,
        delivered: Seq,
        read: Seq,
    ) -> Vec<MessageStatus> {
        let Some(map) = self.by_conversation.get_mut(conversation) else { return Vec::new() };
        let mut changed = Vec::new();
        for (seq, (key, state)) in map.range_mut(..=delivered.max(read)) {
            let next = if *seq <= read { MessageState::Read } else { MessageState::Delivered };
            if next > *state {
                *state = next;
                changed.push(MessageStatus {
                    client_msg_id: key.as_str().into(),
                    conversation_id: conversation.clone(),
                    state: next,
                    seq: Some(*seq),
                    error: None,
                });
            }
        }
        let before = map.len();
        map.retain(|_, (_, s)| *s != MessageState::Read);
        self.len -= before - map.len();
        changed
    }
}

impl Driver {
    /// A message of another member reached the application.
    pub(super) async fn received_from_other(&mut self, conversation: &ConversationId, m: &Message) {
        let r = self.received.entry(conversation.clone()).or_insert(0);
        *r = (*r).max(m.seq);
        if !LIFECYCLE_KINDS.contains(&m.kind.as_str()) {
            // Sending moves the sender's read position to their message, and the server
            // announces no receipt for that: everything before it is read.
            for status in self.tracker.receipt(conversation, m.seq, m.seq) {
                self.emit(Event::MessageState(status)).await;
            }
        }
    }

    /// A member's watermarks moved. Own messages move with them unless the member is this
    /// user: what another of this user's devices read says nothing about the other members.
    pub(super) async fn on_receipt(
        &mut self,
        conversation_id: ConversationId,
        user_id: UserId,
        delivered_seq: Seq,
        read_seq: Seq,
    ) {
        if self.me.as_ref() != Some(&user_id) {
            for status in self.tracker.receipt(&conversation_id, delivered_seq, read_seq) {
                self.emit(Event::MessageState(status)).await;
            }
        }
        self.emit(Event::Receipt { conversation_id, user_id, delivered_seq, read_seq }).await;
    }

    /// One `received` per conversation for what arrived since the last one.
    pub(super) fn send_receipts(&mut self) {
        for (conversation_id, seq) in std::mem::take(&mut self.received) {
            let id = self.id("d");
            let frame = ClientFrame::new(None, MarkReceived { conversation_id, seq });
            self.out.push_back(with_id(&frame, &id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_moves_states_forward_only() {
        let mut t = Tracker::default();
        let c: ConversationId = "c".into();
        t.track(&c, 3, "a".into());
        t.track(&c, 5, "b".into());
        let s: Vec<_> = t.receipt(&c, 4, 0).into_iter().map(|s| (s.seq, s.state)).collect();
        assert_eq!(s, [(Some(3), MessageState::Delivered)]);
        assert!(t.receipt(&c, 4, 0).is_empty(), "no repeat");
        let s: Vec<_> = t.receipt(&c, 5, 5).into_iter().map(|s| (s.seq, s.state)).collect();
        assert_eq!(s, [(Some(3), MessageState::Read), (Some(5), MessageState::Read)]);
        assert_eq!(t.len, 0, "read messages are no longer followed");
    }
}
