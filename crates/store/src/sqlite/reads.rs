//! The read queries, run on a pooled read-only connection (see `pool.rs`).
//!
//! Reads of more than one statement run in one deferred transaction, so they see one snapshot
//! (a conversation's `last_seq` and its last message agree). Each starts from the tenant (G6).

use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::Context;
use super::lookups;
use super::rows::{self, CONVERSATION_WIDTH, conversation_columns, message_columns, seq_to_sql};
use crate::{
    Account, ConversationRecord, ConversationView, HistoryPage, HistoryRange, ListCursor,
    StoreError, StoreResult,
};

pub(super) fn account_by_username(
    conn: &mut Connection,
    tenant: &TenantId,
    username: &str,
) -> StoreResult<Option<Account>> {
    conn.prepare_cached(
        "SELECT user_id, password_hash, name FROM accounts WHERE tenant = ?1 AND username = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row([tenant.as_str(), username], |row| {
            Ok(Account {
                tenant: tenant.clone(),
                user_id: UserId(row.get(0)?),
                username: username.to_owned(),
                password_hash: row.get(1)?,
                name: row.get(2)?,
            })
        })
        .optional()
    })
    .ctx("loading an account")
}

pub(super) fn conversation(
    conn: &mut Connection,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Option<ConversationRecord>> {
    let tx = conn.transaction().ctx("starting a read")?;
    lookups::conversation(&tx, tenant, id)
}

/// A page in ascending seq. `Latest` is `Before(∞)`; one more row than asked tells `has_more`.
pub(super) fn history(
    conn: &mut Connection,
    tenant: &TenantId,
    id: &ConversationId,
    range: HistoryRange,
    limit: u32,
) -> StoreResult<HistoryPage> {
    let tx = conn.transaction().ctx("starting a read")?;
    if lookups::last_seq(&tx, tenant, id)?.is_none() {
        return Err(StoreError::NotFound(format!("conversation {id}")));
    }
    let (sql, bound, newest_first) = match range {
        HistoryRange::Latest => (BEFORE, i64::MAX, true),
        HistoryRange::Before(seq) => (BEFORE, seq_to_sql(seq), true),
        HistoryRange::After(seq) => (AFTER, seq_to_sql(seq), false),
    };
    let mut messages = tx
        .prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.query_map(params![id.as_str(), bound, i64::from(limit) + 1], |row| {
                rows::message(row, 0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("loading history")?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok(HistoryPage { messages, has_more })
}

const BEFORE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
);
const AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
);

/// A conversation as a member sees it: its row, the viewer's `read_seq`, the last message
/// (found by `last_seq`, NULL columns when there is none). Completed by a WHERE clause.
macro_rules! view_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", m.read_seq, ",
            message_columns!(lm),
            " FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
             WHERE m.tenant = ?1 AND m.user_id = ?2 AND c.tenant = ?1 "
        )
    };
}

pub(super) fn list_conversations(
    conn: &mut Connection,
    tenant: &TenantId,
    user: &UserId,
    cursor: Option<ListCursor>,
    limit: u32,
) -> StoreResult<Vec<ConversationView>> {
    let tx = conn.transaction().ctx("starting a read")?;
    let (activity, after_id) = match &cursor {
        Some(c) => (Some(c.last_activity), Some(c.conversation_id.as_str())),
        None => (None, None),
    };
    let mut views = tx
        .prepare_cached(concat!(
            view_select!(),
            "AND (?3 IS NULL OR (c.last_activity, c.id) < (?3, ?4)) \
             ORDER BY c.last_activity DESC, c.id DESC LIMIT ?5"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(
                params![tenant.as_str(), user.as_str(), activity, after_id, i64::from(limit)],
                view,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("listing conversations")?;
    for v in &mut views {
        v.record.members = lookups::members(&tx, &v.record.id)?;
    }
    Ok(views)
}

pub(super) fn conversation_view(
    conn: &mut Connection,
    tenant: &TenantId,
    user: &UserId,
    id: &ConversationId,
) -> StoreResult<Option<ConversationView>> {
    let tx = conn.transaction().ctx("starting a read")?;
    let found = tx
        .prepare_cached(concat!(view_select!(), "AND c.id = ?3"))
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant.as_str(), user.as_str(), id.as_str()], view).optional()
        })
        .ctx("loading a conversation view")?;
    let Some(mut v) = found else { return Ok(None) };
    v.record.members = lookups::members(&tx, id)?;
    Ok(Some(v))
}

/// A row of `view_select!`, without members.
fn view(row: &Row<'_>) -> rusqlite::Result<ConversationView> {
    let record = rows::conversation(row, 0)?;
    let read_seq = row.get(CONVERSATION_WIDTH)?;
    let last_at = CONVERSATION_WIDTH + 1;
    let last_message = match row.get::<_, Option<String>>(last_at)? {
        Some(_) => Some(rows::message(row, last_at)?),
        None => None,
    };
    Ok(ConversationView { record, last_message, read_seq })
}

pub(super) fn memberships(
    conn: &mut Connection,
    tenant: &TenantId,
    user: &UserId,
) -> StoreResult<Vec<(ConversationId, Seq, Millis)>> {
    conn.prepare_cached(
        "SELECT c.id, c.last_seq, c.last_activity FROM members m \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.tenant = ?1 AND m.user_id = ?2 AND c.tenant = ?1 \
         ORDER BY c.last_activity DESC, c.id DESC",
    )
    .and_then(|mut stmt| {
        stmt.query_map([tenant.as_str(), user.as_str()], |row| {
            Ok((ConversationId(row.get(0)?), row.get(1)?, row.get(2)?))
        })?
        .collect()
    })
    .ctx("listing memberships")
}

pub(super) fn draft(
    conn: &mut Connection,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<Option<crate::Draft>> {
    let tx = conn.transaction().ctx("starting a read")?;
    if !lookups::is_member(&tx, tenant, id, user)? {
        return Err(crate::StoreError::NotFound(format!(
            "{user} is not a member of conversation {id}"
        )));
    }
    lookups::draft(&tx, id, user)
}

pub(super) fn last_seen(
    conn: &mut Connection,
    tenant: &TenantId,
    users: &[UserId],
) -> StoreResult<Vec<(UserId, Millis)>> {
    let mut stmt = conn
        .prepare_cached("SELECT at FROM last_seen WHERE tenant = ?1 AND user_id = ?2")
        .ctx("preparing a last-seen read")?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let at: Option<Millis> = stmt
            .query_row([tenant.as_str(), u.as_str()], |r| r.get(0))
            .optional()
            .ctx("reading last seen")?;
        if let Some(at) = at {
            out.push((u.clone(), at));
        }
    }
    Ok(out)
}

pub(super) fn co_members(
    conn: &mut Connection,
    tenant: &TenantId,
    user: &UserId,
) -> StoreResult<Vec<UserId>> {
    conn.prepare_cached(
        "SELECT DISTINCT other.user_id FROM members mine \
         JOIN members other ON other.conversation_id = mine.conversation_id \
         WHERE mine.tenant = ?1 AND mine.user_id = ?2 AND other.user_id != ?2 \
         ORDER BY other.user_id",
    )
    .and_then(|mut stmt| {
        stmt.query_map([tenant.as_str(), user.as_str()], |r| Ok(UserId(r.get(0)?)))?.collect()
    })
    .ctx("listing co-members")
}

/// Reads the database header, so the file really is there and readable.
pub(super) fn ping(conn: &mut Connection) -> StoreResult<()> {
    conn.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
        .map(|_| ())
        .ctx("reading the database header")
}
