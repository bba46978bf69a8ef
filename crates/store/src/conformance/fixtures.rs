//! What the cases share: a sink that records what it is given, and builders for the inputs.

use std::sync::{Arc, Mutex, PoisonError};

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Message, Role};

use crate::{CommitSink, ConversationRecord, NewConversation, NewMessage, Store};

/// A commit sink that keeps every message it receives, in the order received.
#[derive(Debug, Default)]
pub struct RecordingSink {
    /// A std mutex: `committed` is synchronous and the cases never hold it across an `.await`.
    seen: Mutex<Vec<(TenantId, Message)>>,
}

impl CommitSink for RecordingSink {
    fn committed(&self, tenant: &TenantId, messages: &[Message]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.extend(messages.iter().map(|m| (tenant.clone(), m.clone())));
    }
}

impl RecordingSink {
    /// Everything received so far.
    pub fn all(&self) -> Vec<(TenantId, Message)> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The seqs received for one conversation, in the order received.
    pub fn seqs(&self, id: &ConversationId) -> Vec<Seq> {
        self.all()
            .into_iter()
            .filter(|(_, m)| m.conversation_id == *id)
            .map(|(_, m)| m.seq)
            .collect()
    }
}

/// An arbitrary but fixed point in time, so cases control every timestamp.
pub(super) const T0: Millis = 1_700_000_000_000;

pub(super) fn tenant(name: &str) -> TenantId {
    TenantId::new(name)
}

pub(super) fn user(name: &str) -> UserId {
    UserId::new(name)
}

/// A fresh time-ordered id, as the server makes them.
pub(super) fn ulid() -> String {
    ulid::Ulid::new().to_string()
}

/// A group owned by `owner` with `others` as plain members.
pub(super) fn group(
    tenant: &TenantId,
    owner: &UserId,
    others: &[&UserId],
    at: Millis,
) -> NewConversation {
    let mut members = vec![(owner.clone(), Role::Owner)];
    members.extend(others.iter().map(|u| ((*u).clone(), Role::Member)));
    NewConversation {
        id: ConversationId::new(ulid()),
        tenant: tenant.clone(),
        kind: ConversationKind::Group,
        subject: None,
        title: Some("a group".into()),
        created_by: owner.clone(),
        created_at: at,
        members,
        direct_key: None,
    }
}

/// A direct conversation between `a` and `b` under `key`.
pub(super) fn direct(
    tenant: &TenantId,
    a: &UserId,
    b: &UserId,
    key: &str,
    at: Millis,
) -> NewConversation {
    NewConversation {
        id: ConversationId::new(ulid()),
        tenant: tenant.clone(),
        kind: ConversationKind::Direct,
        subject: Some("item:42".into()),
        title: None,
        created_by: a.clone(),
        created_at: at,
        members: vec![(a.clone(), Role::Member), (b.clone(), Role::Member)],
        direct_key: Some(key.to_owned()),
    }
}

/// A text message with a fresh id.
pub(super) fn text(
    tenant: &TenantId,
    conversation: &ConversationId,
    sender: &UserId,
    client_msg_id: &str,
    body: &str,
    at: Millis,
) -> NewMessage {
    NewMessage {
        tenant: tenant.clone(),
        conversation_id: conversation.clone(),
        id: MessageId::new(ulid()),
        sender: sender.clone(),
        client_msg_id: ClientMsgId::new(client_msg_id),
        kind: "text".into(),
        body: body.to_owned(),
        payload: None,
        created_at: at,
        reply_to: None,
    }
}

/// Creates a conversation that must be new.
pub(super) async fn create(store: &Arc<dyn Store>, new: NewConversation) -> ConversationRecord {
    let (record, created) = store.create_conversation(new).await.expect("create_conversation");
    assert!(created, "a fresh conversation must be created");
    record
}

/// Appends `n` messages from `sender` and returns them; the conversation must exist.
pub(super) async fn append_n(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    conversation: &ConversationId,
    sender: &UserId,
    n: u64,
) -> Vec<Message> {
    let mut out = Vec::new();
    for i in 0..n {
        let m = text(tenant, conversation, sender, &ulid(), &format!("message {i}"), T0 + i as i64);
        let appended = store.append(m).await.expect("append");
        assert!(!appended.duplicate);
        out.push(appended.message);
    }
    out
}

/// The record with members sorted by user id: member order is not part of the contract.
pub(super) fn normalized(mut record: ConversationRecord) -> ConversationRecord {
    record.members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    record
}
