//! Edits, deletes for everyone, and reactions: the target row changes in place (history shows
//! current state) and the change is stored as a lifecycle event with its own `seq` (resume
//! replays it), both in one transaction. The event carries the target's new state, so a device
//! applying events in `seq` order ends where one that stayed online is.

use chinwag_proto::ids::TenantId;
use chinwag_proto::model::Message;
use rusqlite::{Connection, params};

use super::append::insert_next;
use super::error::Context;
use super::lookups;
use super::rows::{payload_to_sql, reactions_to_sql, seq_to_sql};
use super::writes::Write;
use crate::{Amend, Amended, Change, StoreError, StoreResult};

pub(super) struct AmendMessage(pub Amend);

impl Write for AmendMessage {
    type Output = Amended;
    fn apply(
        self,
        conn: &Connection,
        stored: &mut Vec<(TenantId, Message)>,
    ) -> StoreResult<Amended> {
        let a = self.0;
        let Some(last_seq) = lookups::last_seq(conn, &a.tenant, &a.conversation_id)? else {
            return Err(StoreError::NotFound(format!("conversation {}", a.conversation_id)));
        };
        let load_target = || {
            lookups::message_at(conn, &a.conversation_id, a.target)?
                .ok_or_else(|| StoreError::NotFound(format!("message {}", a.target)))
        };
        if let Some(event) =
            lookups::message_by_client_id(conn, &a.conversation_id, &a.actor, &a.client_msg_id)?
        {
            if event.target != Some(a.target) {
                return Err(StoreError::Conflict(format!(
                    "client_msg_id {} was used for another message",
                    a.client_msg_id
                )));
            }
            return Ok(Amended { target: load_target()?, event: Some(event), duplicate: true });
        }
        let mut target = load_target()?;
        if target.target.is_some() {
            return Err(StoreError::Conflict("lifecycle events cannot be changed".into()));
        }
        if target.deleted {
            return Err(StoreError::Conflict(format!("message {} was deleted", a.target)));
        }
        let (kind, extra) = match &a.change {
            Change::Edit { body } => {
                if target.sender != a.actor {
                    return Err(StoreError::Forbidden("only the sender edits a message".into()));
                }
                target.body = body.clone();
                target.edited_at = Some(a.created_at);
                ("edit", None)
            }
            Change::Delete => {
                if target.sender != a.actor && !a.moderator {
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
                let had = users.contains(&a.actor);
                if had == *add {
                    target.reactions.retain(|_, u| !u.is_empty());
                    return Ok(Amended { target, event: None, duplicate: false });
                }
                if *add {
                    users.push(a.actor.clone());
                } else {
                    users.retain(|u| *u != a.actor);
                }
                target.reactions.retain(|_, u| !u.is_empty());
                ("reaction", Some((emoji.clone(), *add)))
            }
        };
        let payload = payload_to_sql(target.payload.as_ref()).ctx("encoding a payload")?;
        let reactions = reactions_to_sql(&target.reactions).ctx("encoding reactions")?;
        conn.prepare_cached(
            "UPDATE messages SET body = ?3, payload = ?4, edited_at = ?5, deleted = ?6, reactions = ?7 \
             WHERE conversation_id = ?1 AND seq = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                target.conversation_id.as_str(),
                seq_to_sql(target.seq),
                target.body,
                payload,
                target.edited_at,
                target.deleted,
                reactions
            ])
        })
        .ctx("changing a message")?;
        let mut details = serde_json::json!({ "message": target });
        if let Some((emoji, add)) = extra {
            details["emoji"] = emoji.into();
            details["add"] = add.into();
        }
        let event = Message {
            id: a.id,
            conversation_id: a.conversation_id,
            seq: 0,
            sender: a.actor,
            client_msg_id: a.client_msg_id,
            kind: kind.to_owned(),
            body: String::new(),
            payload: Some(details),
            created_at: a.created_at,
            reply_to: None,
            target: Some(a.target),
            edited_at: None,
            deleted: false,
            reactions: Default::default(),
        };
        let event = insert_next(conn, last_seq, event)?;
        stored.push((a.tenant, event.clone()));
        Ok(Amended { target, event: Some(event), duplicate: false })
    }
}
