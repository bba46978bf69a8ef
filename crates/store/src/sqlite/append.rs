//! Where a message is stored: the hot path of the writer.
//!
//! Idempotency lookup, `seq = last_seq + 1`, insert, summary update. It runs on the single writer
//! connection inside the batch transaction, so "the last seq" cannot change underneath it (G3),
//! and an earlier append of the same batch is already visible to the idempotency lookup (G2).
//! Lifecycle events (`amend.rs`) are stored through [`insert_next`] too, so they get their own
//! `seq` the same way.

use chinwag_proto::ids::TenantId;
use chinwag_proto::model::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::error::Context;
use super::lookups;
use super::rows::{payload_to_sql, reactions_to_sql, seq_to_sql};
use super::writes::Write;
use crate::{Appended, Draft, NewMessage, StoreError, StoreResult, rules};

pub(super) struct Append(pub NewMessage);

impl Write for Append {
    type Output = Appended;
    fn apply(
        self,
        conn: &Connection,
        stored: &mut Vec<(TenantId, Message)>,
    ) -> StoreResult<Appended> {
        let new = self.0;
        let Some(last_seq) = lookups::last_seq(conn, &new.tenant, &new.conversation_id)? else {
            return Err(StoreError::NotFound(format!("conversation {}", new.conversation_id)));
        };
        if let Some(original) = lookups::message_by_client_id(
            conn,
            &new.conversation_id,
            &new.sender,
            &new.client_msg_id,
        )? {
            return Ok(Appended { message: original, duplicate: true, draft_cleared: None });
        }
        rules::check_reply_to(&new, last_seq)?;
        let message = rules::new_message(&new, 0);
        let message = insert_next(conn, last_seq, message)?;
        // Sending clears the sender's draft: a new, empty version, so that the sender's other
        // devices drop what they showed, and an edit based on the old version is a conflict.
        let draft_cleared = conn
            .prepare_cached(
                "UPDATE drafts SET version = version + 1, body = '', updated_at = ?3 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND body != '' \
                 RETURNING version, body, updated_at",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        message.conversation_id.as_str(),
                        message.sender.as_str(),
                        message.created_at
                    ],
                    |r| Ok(Draft { version: r.get(0)?, body: r.get(1)?, updated_at: r.get(2)? }),
                )
                .optional()
            })
            .ctx("clearing a draft")?;
        stored.push((new.tenant, message.clone()));
        Ok(Appended { message, duplicate: false, draft_cleared })
    }
}

/// Store `message` as `last_seq + 1`: insert it, move the conversation's summary, and move the
/// sender's own watermarks (their own messages are never unread). Returns it with its seq.
pub(super) fn insert_next(
    conn: &Connection,
    last_seq: u64,
    mut message: Message,
) -> StoreResult<Message> {
    let seq = rules::next_seq(&message.conversation_id, last_seq)?;
    message.seq = seq;
    let m = &message;
    let payload = payload_to_sql(m.payload.as_ref()).ctx("encoding a payload")?;
    let reactions = reactions_to_sql(&m.reactions).ctx("encoding reactions")?;
    conn.prepare_cached(
        "INSERT INTO messages (conversation_id, seq, id, sender, client_msg_id, kind, body, \
         payload, created_at, reply_to, target, edited_at, deleted, reactions) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            m.conversation_id.as_str(),
            seq_to_sql(seq),
            m.id.as_str(),
            m.sender.as_str(),
            m.client_msg_id.as_str(),
            m.kind,
            m.body,
            payload,
            m.created_at,
            m.reply_to.map(seq_to_sql),
            m.target.map(seq_to_sql),
            m.edited_at,
            m.deleted,
            reactions
        ])
    })
    .ctx("inserting a message")?;
    // `MAX`: a message stamped by a node with a slower clock must not move the conversation
    // back in everyone's list.
    conn.prepare_cached(
        "UPDATE conversations SET last_seq = ?2, last_activity = MAX(last_activity, ?3) \
         WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![m.conversation_id.as_str(), seq_to_sql(seq), m.created_at])
    })
    .ctx("updating a conversation summary")?;
    conn.prepare_cached(
        "UPDATE members SET read_seq = ?3, delivered_seq = MAX(delivered_seq, ?3) \
         WHERE conversation_id = ?1 AND user_id = ?2 AND read_seq < ?3",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![m.conversation_id.as_str(), m.sender.as_str(), seq_to_sql(seq)])
    })
    .ctx("moving the sender's read position")?;
    Ok(message)
}
