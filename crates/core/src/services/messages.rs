//! Sending, reading history, and marking read. The one place a message enters the system.

use std::time::Instant;

use chinwag_proto::clock::now_millis;
use chinwag_proto::commands::SendMessage;
use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, Seq};
use chinwag_proto::model::LIFECYCLE_KINDS;
use chinwag_store::{
    Amend, Amended, Appended, Change, HistoryPage, HistoryRange, NewMessage, Receipt,
};

use super::Services;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// Kinds only the server API may send.
const RESERVED_KINDS: &[&str] = &["system"];

impl Services {
    /// Store a message and return it once committed (G1). Retries with the same
    /// `client_msg_id` return the original (G2). Publishing happens on the commit path.
    pub async fn send(&self, who: &Principal, input: SendMessage) -> ServiceResult<Appended> {
        self.send_as(who, input, false).await
    }

    /// `trusted` lets the server API use reserved kinds such as `system`.
    pub async fn send_as(
        &self,
        who: &Principal,
        input: SendMessage,
        trusted: bool,
    ) -> ServiceResult<Appended> {
        self.check_id("client_msg_id", input.client_msg_id.as_str())?;
        let kind = input.kind.unwrap_or_else(|| "text".to_owned());
        let kind_ok = (1..=64).contains(&kind.len())
            && kind.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
            });
        if !kind_ok {
            return Err(ServiceError::invalid("`kind` must be 1 to 64 of a-z, 0-9, `_`, `-`, `.`"));
        }
        if LIFECYCLE_KINDS.contains(&kind.as_str()) {
            return Err(ServiceError::forbidden(format!(
                "kind `{kind}` is written by edit, delete and react"
            )));
        }
        if !trusted && RESERVED_KINDS.contains(&kind.as_str()) {
            return Err(ServiceError::forbidden(format!(
                "kind `{kind}` is reserved for the server"
            )));
        }
        let payload_len = input.payload.as_ref().map_or(0, |p| p.to_string().len());
        if input.body.len() + payload_len > self.limits.max_body_bytes {
            return Err(ServiceError::too_large(format!(
                "body and payload exceed {} bytes",
                self.limits.max_body_bytes
            )));
        }
        if input.body.is_empty() && input.payload.is_none() {
            return Err(ServiceError::invalid("a message needs a `body` or a `payload`"));
        }
        self.role_of(who, &input.conversation_id).await?;
        let started = Instant::now();
        let appended = self
            .store
            .append(NewMessage {
                tenant: who.tenant.clone(),
                conversation_id: input.conversation_id,
                id: MessageId(ulid::Ulid::new().to_string()),
                sender: who.user.clone(),
                client_msg_id: input.client_msg_id,
                kind,
                body: input.body,
                payload: input.payload,
                created_at: now_millis(),
                reply_to: input.reply_to,
            })
            .await?;
        self.metrics.store_append_seconds.observe(started.elapsed().as_secs_f64());
        if appended.duplicate {
            self.republish(&who.tenant, &appended.message);
        }
        if let Some(cleared) = appended.draft_cleared.clone() {
            let conversation = &appended.message.conversation_id;
            self.publish_draft(
                &who.tenant,
                &who.user,
                conversation,
                super::live::draft_state(cleared),
            );
        }
        Ok(appended)
    }

    /// Edit, delete or react to a message; the change is stored as an event with its own seq.
    pub async fn amend(
        &self,
        who: &Principal,
        id: &ConversationId,
        target: Seq,
        client_msg_id: ClientMsgId,
        change: Change,
    ) -> ServiceResult<Amended> {
        self.check_id("client_msg_id", client_msg_id.as_str())?;
        match &change {
            Change::Edit { body } if body.is_empty() => {
                return Err(ServiceError::invalid(
                    "an edit needs a `body`; use delete to remove a message",
                ));
            }
            Change::Edit { body } if body.len() > self.limits.max_body_bytes => {
                return Err(ServiceError::too_large(format!(
                    "body exceeds {} bytes",
                    self.limits.max_body_bytes
                )));
            }
            Change::React { emoji, .. } if emoji.is_empty() || emoji.len() > 64 => {
                return Err(ServiceError::invalid("`emoji` must be 1 to 64 bytes"));
            }
            _ => {}
        }
        let role = self.role_of(who, id).await?;
        let amended = self
            .store
            .amend(Amend {
                tenant: who.tenant.clone(),
                conversation_id: id.clone(),
                actor: who.user.clone(),
                target,
                change,
                id: MessageId(ulid::Ulid::new().to_string()),
                client_msg_id,
                created_at: now_millis(),
                moderator: role.can_manage_members(),
            })
            .await?;
        if let (true, Some(event)) = (amended.duplicate, &amended.event) {
            self.republish(&who.tenant, event);
        }
        Ok(amended)
    }

    /// A page of history. `before` and `after` are exclusive; at most one may be given.
    pub async fn history(
        &self,
        who: &Principal,
        id: &ConversationId,
        before: Option<Seq>,
        after: Option<Seq>,
        limit: Option<u32>,
    ) -> ServiceResult<HistoryPage> {
        let limit = self.limits.page_size(limit)?;
        let range = match (before, after) {
            (None, None) => HistoryRange::Latest,
            (Some(b), None) => HistoryRange::Before(b),
            (None, Some(a)) => HistoryRange::After(a),
            (Some(_), Some(_)) => {
                return Err(ServiceError::invalid("give `before` or `after`, not both"));
            }
        };
        self.role_of(who, id).await?;
        Ok(self.store.history(&who.tenant, id, range, limit).await?)
    }

    /// Move the caller's read position forward; every device of the caller hears of it, and
    /// every member gets a `receipt`. Returns `(read_seq, unread)`.
    pub async fn mark_read(
        &self,
        who: &Principal,
        id: &ConversationId,
        seq: Seq,
    ) -> ServiceResult<(Seq, u64)> {
        let w = self.receipt(who, id, Receipt::Read, seq).await?;
        Ok((w.read_seq, w.last_seq.saturating_sub(w.read_seq)))
    }
}
