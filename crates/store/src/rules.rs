//! What both backends share: how a new message, a lifecycle event and a receipt are decided,
//! and how committed messages reach the commit sink. Each backend loads the rows, calls these, and writes what they say in its
//! own SQL, so SQLite and PostgreSQL cannot drift apart on what an edit or a receipt means.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chinwag_proto::ids::{ConversationId, Seq, TenantId};
use chinwag_proto::model::Message;

use crate::{Amend, Change, CommitSink, NewMessage, Receipt, StoreError, StoreResult, Watermarks};

/// The seq after `last_seq`. Backends store seqs as signed 64-bit integers, so the last usable
/// one is `i64::MAX`.
pub(crate) fn next_seq(conversation: &ConversationId, last_seq: Seq) -> StoreResult<Seq> {
    last_seq
        .checked_add(1)
        .filter(|s| i64::try_from(*s).is_ok())
        .ok_or_else(|| StoreError::Backend(format!("conversation {conversation} ran out of seqs")))
}

/// A reply must name a message that exists: seq 1 up to `last_seq`.
pub(crate) fn check_reply_to(new: &NewMessage, last_seq: Seq) -> StoreResult<()> {
    match new.reply_to.filter(|r| *r == 0 || *r > last_seq) {
        Some(r) => Err(StoreError::NotFound(format!("message {r} to reply to"))),
        None => Ok(()),
    }
}

/// The message `new` becomes once it is stored at `seq`.
pub(crate) fn new_message(new: &NewMessage, seq: Seq) -> Message {
    Message {
        id: new.id.clone(),
        conversation_id: new.conversation_id.clone(),
        seq,
        sender: new.sender.clone(),
        client_msg_id: new.client_msg_id.clone(),
        kind: new.kind.clone(),
        body: new.body.clone(),
        payload: new.payload.clone(),
        created_at: new.created_at,
        reply_to: new.reply_to,
        target: None,
        edited_at: None,
        deleted: false,
        reactions: Default::default(),
    }
}

/// An amend whose `client_msg_id` was stored before as `event`: the same change (a retry), or
/// a `Conflict` if the key was used for another target.
pub(crate) fn check_retry(amend: &Amend, event: &Message) -> StoreResult<()> {
    if event.target != Some(amend.target) {
        return Err(StoreError::Conflict(format!(
            "client_msg_id {} was used for another message",
            amend.client_msg_id
        )));
    }
    Ok(())
}

/// What an amend does to its target.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "returned once per amend and taken apart at once")]
pub(crate) enum Outcome {
    /// Nothing to store (the reaction was already there, or already gone); `target` is its
    /// current state.
    Unchanged(Message),
    /// Store `target` in place and `event` (seq 0: the backend assigns it) as the next message.
    Changed {
        /// The target after the change.
        target: Message,
        /// The lifecycle event recording it.
        event: Message,
    },
}

/// Applies `amend` to `target` (its current state) or refuses it: only the sender edits, the
/// sender or a moderator deletes, anyone reacts; events and deleted messages do not change.
pub(crate) fn amend(amend: Amend, mut target: Message) -> StoreResult<Outcome> {
    if target.target.is_some() {
        return Err(StoreError::Conflict("lifecycle events cannot be changed".into()));
    }
    if target.deleted {
        return Err(StoreError::Conflict(format!("message {} was deleted", amend.target)));
    }
    let (kind, extra) = match &amend.change {
        Change::Edit { body } => {
            if target.sender != amend.actor {
                return Err(StoreError::Forbidden("only the sender edits a message".into()));
            }
            target.body = body.clone();
            target.edited_at = Some(amend.created_at);
            ("edit", None)
        }
        Change::Delete => {
            if target.sender != amend.actor && !amend.moderator {
                return Err(StoreError::Forbidden(
                    "only the sender or an admin deletes a message".into(),
                ));
            }
            target.body.clear();
            target.payload = None;
            target.reactions.clear();
            target.deleted = true;
            ("delete", None)
        }
        Change::React { emoji, add } => {
            let users = target.reactions.entry(emoji.clone()).or_default();
            let had = users.contains(&amend.actor);
            if had == *add {
                target.reactions.retain(|_, u| !u.is_empty());
                return Ok(Outcome::Unchanged(target));
            }
            if *add {
                users.push(amend.actor.clone());
            } else {
                users.retain(|u| *u != amend.actor);
            }
            target.reactions.retain(|_, u| !u.is_empty());
            ("reaction", Some((emoji.clone(), *add)))
        }
    };
    let mut details = serde_json::json!({ "message": target });
    if let Some((emoji, add)) = extra {
        details["emoji"] = emoji.into();
        details["add"] = add.into();
    }
    let event = Message {
        id: amend.id,
        conversation_id: amend.conversation_id,
        seq: 0,
        sender: amend.actor,
        client_msg_id: amend.client_msg_id,
        kind: kind.to_owned(),
        body: String::new(),
        payload: Some(details),
        created_at: amend.created_at,
        reply_to: None,
        target: Some(amend.target),
        edited_at: None,
        deleted: false,
        reactions: Default::default(),
    };
    Ok(Outcome::Changed { target, event })
}

/// A member's watermarks after a receipt up to `seq`, from their current `(delivered, read)`:
/// both only move forward, never past `last_seq`, and a read also moves `delivered`.
pub(crate) fn watermarks(
    receipt: Receipt,
    seq: Seq,
    (delivered, read): (Seq, Seq),
    last_seq: Seq,
) -> Watermarks {
    let target = seq.min(last_seq);
    let (delivered_seq, read_seq) = match receipt {
        Receipt::Delivered => (delivered.max(target), read),
        Receipt::Read => {
            let read_seq = read.max(target);
            (delivered.max(read_seq), read_seq)
        }
    };
    let changed = (delivered_seq, read_seq) != (delivered, read);
    Watermarks { delivered_seq, read_seq, last_seq, changed }
}

/// `StoreError` is not `Clone` (it is the crate's public type); every caller of a failed batch
/// gets its own copy.
pub(crate) fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Forbidden(m) => StoreError::Forbidden(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
    }
}

/// One `committed` call per tenant, each with that tenant's messages in commit order (so in
/// `seq` order within every conversation). The sink is the server's code: if it panics, the
/// messages are still stored and acknowledged, and devices recover them on resume (G4).
pub(crate) fn publish(sink: &dyn CommitSink, stored: Vec<(TenantId, Message)>) {
    let mut by_tenant: Vec<(TenantId, Vec<Message>)> = Vec::new();
    for (tenant, message) in stored {
        match by_tenant.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, messages)) => messages.push(message),
            None => by_tenant.push((tenant, vec![message])),
        }
    }
    for (tenant, messages) in by_tenant {
        if catch_unwind(AssertUnwindSafe(|| sink.committed(&tenant, &messages))).is_err() {
            tracing::error!(%tenant, count = messages.len(), "commit sink panicked");
        }
    }
}
