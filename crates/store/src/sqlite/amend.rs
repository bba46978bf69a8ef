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
use crate::{Amend, Amended, StoreError, StoreResult, rules};

pub(super) struct AmendMessage(pub Amend);

impl Write for AmendMessage {
    type Output = Amended;
    fn apply(
        self,
        conn: &Connection,
        stored: &mut Vec<(TenantId, Message)>,
    ) -> StoreResult<Amended> {
        let a = self.0;
        let tenant = a.tenant.clone();
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
            rules::check_retry(&a, &event)?;
            return Ok(Amended { target: load_target()?, event: Some(event), duplicate: true });
        }
        let current = load_target()?;
        let (target, event) = match rules::amend(a, current)? {
            rules::Outcome::Unchanged(target) => {
                return Ok(Amended { target, event: None, duplicate: false });
            }
            rules::Outcome::Changed { target, event } => (target, event),
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
        let event = insert_next(conn, last_seq, event)?;
        stored.push((tenant, event.clone()));
        Ok(Amended { target, event: Some(event), duplicate: false })
    }
}
