//! The read queries, on pooled connections. Each starts from the tenant (G6).
//!
//! Reads that need two queries (a row and its members, a tenant check and a page) send both at
//! once (pipelined on one connection) instead of waiting for the first; none of them needs one
//! snapshot for both, as members and history only ever grow or change in place.

use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::Member;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::error::Context;
use super::rows::{self, CONVERSATION_WIDTH, conversation_columns, message_columns, seq_to_sql};
use crate::{
    Account, ConversationRecord, ConversationView, Draft, HistoryPage, HistoryRange, ListCursor,
    StoreError, StoreResult,
};

pub(super) async fn account_by_username(
    client: &impl GenericClient,
    tenant: &TenantId,
    username: &str,
) -> StoreResult<Option<Account>> {
    let stmt = client
        .prepare_cached(
            "SELECT user_id, password_hash, name FROM accounts WHERE tenant = $1 AND username = $2",
        )
        .await
        .ctx("preparing an account read")?;
    let row =
        client.query_opt(&stmt, &[&tenant.as_str(), &username]).await.ctx("loading an account")?;
    row.map(|row| {
        Ok(Account {
            tenant: tenant.clone(),
            user_id: UserId(rows::get(&row, 0)?),
            username: username.to_owned(),
            password_hash: rows::get(&row, 1)?,
            name: rows::get(&row, 2)?,
        })
    })
    .transpose()
}

const CONVERSATION: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations c WHERE c.id = $1 AND c.tenant = $2"
);

/// Members in the order they joined (ties by user id, so the order is stable), of every
/// conversation in `$1`.
const MEMBERS: &str = "SELECT conversation_id, user_id, role, joined_at, delivered_seq, read_seq \
     FROM members WHERE conversation_id = ANY($1::text[]) ORDER BY joined_at, user_id";

/// The conversation with its members, if it exists in `tenant`.
pub(super) async fn conversation(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Option<ConversationRecord>> {
    let record = client.prepare_cached(CONVERSATION).await.ctx("preparing a conversation read")?;
    let ids = [id.as_str()];
    let (row, members) = futures_util::future::try_join(
        async {
            client
                .query_opt(&record, &[&id.as_str(), &tenant.as_str()])
                .await
                .ctx("loading a conversation")
        },
        members_of(client, &ids),
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut record = rows::conversation(&row, 0)?;
    record.members = members.into_iter().map(|(_, m)| m).collect();
    Ok(Some(record))
}

/// Members of the conversations `ids`, each with its conversation id.
async fn members_of(
    client: &impl GenericClient,
    ids: &[&str],
) -> StoreResult<Vec<(String, Member)>> {
    let stmt = client.prepare_cached(MEMBERS).await.ctx("preparing a members read")?;
    let found = client.query(&stmt, &[&ids]).await.ctx("loading members")?;
    found.iter().map(|row| Ok((rows::get(row, 0)?, rows::member(row, 1)?))).collect()
}

pub(super) async fn direct_conversation(
    client: &impl GenericClient,
    tenant: &TenantId,
    key: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let stmt = client
        .prepare_cached("SELECT id FROM conversations WHERE tenant = $1 AND direct_key = $2")
        .await
        .ctx("preparing a direct conversation lookup")?;
    let row = client
        .query_opt(&stmt, &[&tenant.as_str(), &key])
        .await
        .ctx("looking up a direct conversation")?;
    match row {
        Some(row) => conversation(client, tenant, &ConversationId(rows::get(&row, 0)?)).await,
        None => Ok(None),
    }
}

const BEFORE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
);
const AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
);

/// A page in ascending seq. `Latest` is `Before(∞)`; one more row than asked tells `has_more`.
pub(super) async fn history(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    range: HistoryRange,
    limit: u32,
) -> StoreResult<HistoryPage> {
    let (sql, bound, newest_first) = match range {
        HistoryRange::Latest => (BEFORE, i64::MAX, true),
        HistoryRange::Before(seq) => (BEFORE, seq_to_sql(seq), true),
        HistoryRange::After(seq) => (AFTER, seq_to_sql(seq), false),
    };
    let exists = client
        .prepare_cached("SELECT 1 FROM conversations WHERE id = $1 AND tenant = $2")
        .await
        .ctx("preparing a conversation check")?;
    let page = client.prepare_cached(sql).await.ctx("preparing a history read")?;
    let (found, rows) = futures_util::future::try_join(
        client.query_opt(&exists, &[&id.as_str(), &tenant.as_str()]),
        client.query(&page, &[&id.as_str(), &bound, &(i64::from(limit) + 1)]),
    )
    .await
    .ctx("loading history")?;
    if found.is_none() {
        return Err(StoreError::NotFound(format!("conversation {id}")));
    }
    let mut messages =
        rows.iter().map(|row| rows::message(row, 0)).collect::<StoreResult<Vec<_>>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok(HistoryPage { messages, has_more })
}

/// A conversation as a member sees it: its row, the viewer's `read_seq`, the last message
/// (found by `last_seq`, NULL columns when there is none). Completed by a WHERE clause.
macro_rules! view_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", mb.read_seq, ",
            message_columns!(lm),
            " FROM members mb \
             JOIN conversations c ON c.id = mb.conversation_id \
             LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
             WHERE mb.tenant = $1 AND mb.user_id = $2 AND c.tenant = $1 "
        )
    };
}

pub(super) async fn list_conversations(
    client: &impl GenericClient,
    tenant: &TenantId,
    user: &UserId,
    cursor: Option<ListCursor>,
    limit: u32,
) -> StoreResult<Vec<ConversationView>> {
    let (activity, after_id) = match &cursor {
        Some(c) => (Some(c.last_activity), Some(c.conversation_id.as_str())),
        None => (None, None),
    };
    let stmt = client
        .prepare_cached(concat!(
            view_select!(),
            "AND ($3::bigint IS NULL OR (c.last_activity, c.id) < ($3, $4::text)) \
             ORDER BY c.last_activity DESC, c.id DESC LIMIT $5"
        ))
        .await
        .ctx("preparing the conversation list")?;
    let found = client
        .query(&stmt, &[&tenant.as_str(), &user.as_str(), &activity, &after_id, &i64::from(limit)])
        .await
        .ctx("listing conversations")?;
    let mut views = found.iter().map(view).collect::<StoreResult<Vec<_>>>()?;
    with_members(client, &mut views).await?;
    Ok(views)
}

pub(super) async fn conversation_view(
    client: &impl GenericClient,
    tenant: &TenantId,
    user: &UserId,
    id: &ConversationId,
) -> StoreResult<Option<ConversationView>> {
    let stmt = client
        .prepare_cached(concat!(view_select!(), "AND c.id = $3"))
        .await
        .ctx("preparing a conversation view")?;
    let found = client
        .query_opt(&stmt, &[&tenant.as_str(), &user.as_str(), &id.as_str()])
        .await
        .ctx("loading a conversation view")?;
    let Some(row) = found else { return Ok(None) };
    let mut views = vec![view(&row)?];
    with_members(client, &mut views).await?;
    Ok(views.pop())
}

/// Fills in every view's members with one query.
async fn with_members(
    client: &impl GenericClient,
    views: &mut [ConversationView],
) -> StoreResult<()> {
    if views.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = views.iter().map(|v| v.record.id.as_str()).collect();
    let members = members_of(client, &ids).await?;
    for v in views.iter_mut() {
        v.record.members = members
            .iter()
            .filter(|(c, _)| c == v.record.id.as_str())
            .map(|(_, m)| m.clone())
            .collect();
    }
    Ok(())
}

/// A row of `view_select!`, without members.
fn view(row: &Row) -> StoreResult<ConversationView> {
    let record = rows::conversation(row, 0)?;
    let read_seq = rows::seq(row, CONVERSATION_WIDTH)?;
    let last_at = CONVERSATION_WIDTH + 1;
    let last_message = match rows::get::<Option<&str>>(row, last_at)? {
        Some(_) => Some(rows::message(row, last_at)?),
        None => None,
    };
    Ok(ConversationView { record, last_message, read_seq })
}

pub(super) async fn memberships(
    client: &impl GenericClient,
    tenant: &TenantId,
    user: &UserId,
) -> StoreResult<Vec<(ConversationId, Seq, Millis)>> {
    let stmt = client
        .prepare_cached(
            "SELECT c.id, c.last_seq, c.last_activity FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.tenant = $1 AND m.user_id = $2 AND c.tenant = $1 \
             ORDER BY c.last_activity DESC, c.id DESC",
        )
        .await
        .ctx("preparing the memberships read")?;
    let found = client
        .query(&stmt, &[&tenant.as_str(), &user.as_str()])
        .await
        .ctx("listing memberships")?;
    found
        .iter()
        .map(|row| Ok((ConversationId(rows::get(row, 0)?), rows::seq(row, 1)?, rows::get(row, 2)?)))
        .collect()
}

/// `user`'s draft: `NotFound` when not a member, `None` when there never was one.
pub(super) async fn draft(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<Option<Draft>> {
    let stmt = client
        .prepare_cached(
            "SELECT d.version, d.body, d.updated_at FROM members m \
             LEFT JOIN drafts d ON d.conversation_id = m.conversation_id AND d.user_id = m.user_id \
             WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.tenant = $3",
        )
        .await
        .ctx("preparing a draft read")?;
    let row = client
        .query_opt(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str()])
        .await
        .ctx("loading a draft")?
        .ok_or_else(|| {
            StoreError::NotFound(format!("{user} is not a member of conversation {id}"))
        })?;
    draft_of(&row)
}

/// The draft in `version, body, updated_at` of a `members LEFT JOIN drafts` row.
pub(super) fn draft_of(row: &Row) -> StoreResult<Option<Draft>> {
    match rows::get::<Option<i64>>(row, 0)? {
        None => Ok(None),
        Some(_) => Ok(Some(Draft {
            version: rows::seq(row, 0)?,
            body: rows::get(row, 1)?,
            updated_at: rows::get(row, 2)?,
        })),
    }
}

/// When each of `users` was last online, in the order asked (users never seen are left out).
pub(super) async fn last_seen(
    client: &impl GenericClient,
    tenant: &TenantId,
    users: &[UserId],
) -> StoreResult<Vec<(UserId, Millis)>> {
    let stmt = client
        .prepare_cached(
            "SELECT user_id, at FROM last_seen WHERE tenant = $1 AND user_id = ANY($2::text[])",
        )
        .await
        .ctx("preparing a last-seen read")?;
    let ids: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
    let found = client.query(&stmt, &[&tenant.as_str(), &ids]).await.ctx("reading last seen")?;
    let mut seen = std::collections::HashMap::with_capacity(found.len());
    for row in &found {
        seen.insert(rows::get::<String>(row, 0)?, rows::get::<Millis>(row, 1)?);
    }
    Ok(users.iter().filter_map(|u| seen.get(u.as_str()).map(|at| (u.clone(), *at))).collect())
}

pub(super) async fn co_members(
    client: &impl GenericClient,
    tenant: &TenantId,
    user: &UserId,
) -> StoreResult<Vec<UserId>> {
    let stmt = client
        .prepare_cached(
            "SELECT DISTINCT other.user_id FROM members mine \
             JOIN members other ON other.conversation_id = mine.conversation_id \
             WHERE mine.tenant = $1 AND mine.user_id = $2 AND other.user_id <> $2 \
             ORDER BY other.user_id",
        )
        .await
        .ctx("preparing the co-members read")?;
    let found =
        client.query(&stmt, &[&tenant.as_str(), &user.as_str()]).await.ctx("listing co-members")?;
    found.iter().map(|row| Ok(UserId(rows::get(row, 0)?))).collect()
}

/// Reachable and writable: a primary, not a standby in recovery.
pub(super) async fn ping(client: &impl GenericClient) -> StoreResult<()> {
    let stmt = client.prepare_cached("SELECT pg_is_in_recovery()").await.ctx("preparing a ping")?;
    let row = client.query_one(&stmt, &[]).await.ctx("pinging PostgreSQL")?;
    if rows::get::<bool>(&row, 0)? {
        return Err(StoreError::Unavailable(
            "PostgreSQL is a standby in recovery: read-only".into(),
        ));
    }
    Ok(())
}
