//! Queries both sides need: the writer answers with what it wrote (or found), and readers return
//! the same shapes. Every one that starts from a conversation id checks its tenant (G6).

use chinwag_proto::ids::{ClientMsgId, ConversationId, Seq, TenantId, UserId};
use chinwag_proto::model::{Member, Message};
use rusqlite::{Connection, OptionalExtension, params};

use super::error::Context;
use super::rows::{self, conversation_columns, message_columns};
use crate::{ConversationRecord, StoreResult};

/// The conversation with its members, if it exists in `tenant`.
pub(super) fn conversation(
    conn: &Connection,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Option<ConversationRecord>> {
    let record = conn
        .prepare_cached(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c WHERE c.id = ?1 AND c.tenant = ?2"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(params![id.as_str(), tenant.as_str()], |row| rows::conversation(row, 0))
                .optional()
        })
        .ctx("loading a conversation")?;
    match record {
        Some(mut record) => {
            record.members = members(conn, id)?;
            Ok(Some(record))
        }
        None => Ok(None),
    }
}

/// Members in the order they joined (ties by user id, so the order is stable).
pub(super) fn members(conn: &Connection, id: &ConversationId) -> StoreResult<Vec<Member>> {
    conn.prepare_cached(
        "SELECT user_id, role, joined_at, delivered_seq, read_seq FROM members \
         WHERE conversation_id = ?1 \
         ORDER BY joined_at, user_id",
    )
    .and_then(|mut stmt| stmt.query_map([id.as_str()], rows::member)?.collect())
    .ctx("loading members")
}

/// `last_seq` of the conversation, if it exists in `tenant`.
pub(super) fn last_seq(
    conn: &Connection,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Option<Seq>> {
    conn.prepare_cached("SELECT last_seq FROM conversations WHERE id = ?1 AND tenant = ?2")
        .and_then(|mut stmt| {
            stmt.query_row([id.as_str(), tenant.as_str()], |row| row.get(0)).optional()
        })
        .ctx("loading a conversation's last_seq")
}

/// The message a sender already stored under `client_msg_id` (G2). The caller has checked the
/// conversation's tenant.
pub(super) fn message_by_client_id(
    conn: &Connection,
    id: &ConversationId,
    sender: &UserId,
    client_msg_id: &ClientMsgId,
) -> StoreResult<Option<Message>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = ?1 AND sender = ?2 AND client_msg_id = ?3"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![id.as_str(), sender.as_str(), client_msg_id.as_str()], |row| {
            rows::message(row, 0)
        })
        .optional()
    })
    .ctx("looking up a client_msg_id")
}

/// Whether `user` is a member of the conversation in `tenant`.
pub(super) fn is_member(
    conn: &Connection,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM members WHERE conversation_id = ?1 AND user_id = ?2 AND tenant = ?3",
    )
    .and_then(|mut stmt| stmt.exists([id.as_str(), user.as_str(), tenant.as_str()]))
    .ctx("checking a membership")
}

/// `user`'s draft in a conversation; the caller has checked membership (and so the tenant).
pub(super) fn draft(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<Option<crate::Draft>> {
    conn.prepare_cached(
        "SELECT version, body, updated_at FROM drafts WHERE conversation_id = ?1 AND user_id = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row([id.as_str(), user.as_str()], |r| {
            Ok(crate::Draft { version: r.get(0)?, body: r.get(1)?, updated_at: r.get(2)? })
        })
        .optional()
    })
    .ctx("loading a draft")
}

/// The message at `seq`; the caller has checked the conversation's tenant.
pub(super) fn message_at(
    conn: &Connection,
    id: &ConversationId,
    seq: Seq,
) -> StoreResult<Option<Message>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = ?1 AND seq = ?2"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![id.as_str(), rows::seq_to_sql(seq)], |row| rows::message(row, 0))
            .optional()
    })
    .ctx("loading a message")
}
