//! Every write that hands out no seq: each is one short transaction (or one statement) on a
//! pooled connection. Races between nodes are settled by the database: unique indexes for
//! accounts and direct conversations, row locks for receipts and drafts.

use chinwag_proto::clock::now_millis;
use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::Role;
use deadpool_postgres::GenericClient;

use super::error::{Context, classify, is_unique_violation};
use super::reads;
use super::rows::{self, seq_to_sql};
use crate::{
    Account, ConversationRecord, Draft, DraftSave, NewConversation, Receipt, StoreError,
    StoreResult, Watermarks, rules,
};

pub(super) async fn create_account(client: &impl GenericClient, a: &Account) -> StoreResult<()> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO accounts (tenant, username, user_id, password_hash, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .ctx("preparing an account insert")?;
    let inserted = client
        .execute(
            &stmt,
            &[
                &a.tenant.as_str(),
                &a.username,
                &a.user_id.as_str(),
                &a.password_hash,
                &a.name,
                &now_millis(),
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
            "the username {:?} or the user id {} is taken",
            a.username, a.user_id
        ))),
        Err(e) => Err(classify("creating an account", &e)),
    }
}

/// Inserts the conversation and its members in one transaction. A direct conversation whose key
/// exists already (also one created a moment ago on another node: the unique index makes the
/// second insert wait for the first and then do nothing) is returned instead.
pub(super) async fn create_conversation(
    client: &mut deadpool_postgres::Client,
    new: &NewConversation,
) -> StoreResult<(ConversationRecord, bool)> {
    let tx = client.transaction().await.ctx("starting a conversation create")?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO conversations (id, tenant, kind, subject, title, direct_key, created_by, \
             created_at, last_seq, last_activity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8) \
             ON CONFLICT (tenant, direct_key) WHERE direct_key IS NOT NULL DO NOTHING",
        )
        .await
        .ctx("preparing a conversation insert")?;
    let inserted = tx
        .execute(
            &stmt,
            &[
                &new.id.as_str(),
                &new.tenant.as_str(),
                &new.kind.as_str(),
                &new.subject,
                &new.title,
                &new.direct_key,
                &new.created_by.as_str(),
                &new.created_at,
            ],
        )
        .await
        .ctx("creating a conversation")?;
    if inserted == 0 {
        drop(tx);
        let key = new.direct_key.as_deref().unwrap_or_default();
        let existing = reads::direct_conversation(&*client, &new.tenant, key).await?;
        return existing.map(|record| (record, false)).ok_or_else(|| {
            StoreError::Backend(format!("direct conversation {key:?} vanished while being created"))
        });
    }
    // A user listed twice keeps the first role given.
    for (user, role) in &new.members {
        insert_member(&tx, &new.tenant, &new.id, user, *role, new.created_at).await?;
    }
    let record = reads::conversation(&tx, &new.tenant, &new.id).await?.ok_or_else(|| {
        StoreError::Backend(format!("conversation {} vanished while being created", new.id))
    })?;
    tx.commit().await.ctx("committing a conversation create")?;
    Ok((record, true))
}

/// Inserts a member unless they already are one; returns whether a row was added.
async fn insert_member(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    role: Role,
    at: Millis,
) -> StoreResult<bool> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO members (conversation_id, user_id, tenant, role, joined_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, user_id) DO NOTHING",
        )
        .await
        .ctx("preparing a member insert")?;
    client
        .execute(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str(), &role.as_str(), &at])
        .await
        .map(|changed| changed == 1)
        .ctx("adding a member")
}

pub(super) async fn add_member(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    role: Role,
    at: Millis,
) -> StoreResult<bool> {
    // One statement: the member row is inserted only if the conversation exists in the tenant.
    let stmt = client
        .prepare_cached(
            "WITH c AS (SELECT id FROM conversations WHERE id = $1 AND tenant = $3), \
             ins AS (INSERT INTO members (conversation_id, user_id, tenant, role, joined_at) \
                     SELECT c.id, $2, $3, $4, $5 FROM c \
                     ON CONFLICT (conversation_id, user_id) DO NOTHING RETURNING 1) \
             SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM ins)",
        )
        .await
        .ctx("preparing a member insert")?;
    let row = client
        .query_one(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str(), &role.as_str(), &at])
        .await
        .ctx("adding a member")?;
    let (found, added): (i64, i64) = (rows::get(&row, 0)?, rows::get(&row, 1)?);
    if found == 0 {
        return Err(StoreError::NotFound(format!("conversation {id}")));
    }
    Ok(added == 1)
}

pub(super) async fn remove_member(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<bool> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2 AND tenant = $3",
        )
        .await
        .ctx("preparing a member removal")?;
    client
        .execute(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str()])
        .await
        .map(|changed| changed == 1)
        .ctx("removing a member")
}

pub(super) async fn set_role(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    role: Role,
) -> StoreResult<()> {
    let stmt = client
        .prepare_cached(
            "UPDATE members SET role = $4 WHERE conversation_id = $1 AND user_id = $2 AND tenant = $3",
        )
        .await
        .ctx("preparing a role change")?;
    let changed = client
        .execute(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str(), &role.as_str()])
        .await
        .ctx("changing a role")?;
    if changed == 0 {
        return Err(not_a_member(user, id));
    }
    Ok(())
}

fn not_a_member(user: &UserId, id: &ConversationId) -> StoreError {
    StoreError::NotFound(format!("{user} is not a member of conversation {id}"))
}

/// Locks the member's row, decides the new watermarks (`crate::rules`), and moves them.
pub(super) async fn mark(
    client: &mut deadpool_postgres::Client,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    receipt: Receipt,
    seq: Seq,
) -> StoreResult<Watermarks> {
    let tx = client.transaction().await.ctx("starting a receipt")?;
    let stmt = tx
        .prepare_cached(
            "SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.tenant = $3 \
             FOR UPDATE OF m",
        )
        .await
        .ctx("preparing a receipt read")?;
    let row = tx
        .query_opt(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str()])
        .await
        .ctx("loading receipt positions")?
        .ok_or_else(|| not_a_member(user, id))?;
    let current = (rows::seq(&row, 0)?, rows::seq(&row, 1)?);
    let marks = rules::watermarks(receipt, seq, current, rows::seq(&row, 2)?);
    if marks.changed {
        let stmt = tx
            .prepare_cached(
                "UPDATE members SET delivered_seq = $3, read_seq = $4 \
                 WHERE conversation_id = $1 AND user_id = $2",
            )
            .await
            .ctx("preparing a receipt")?;
        tx.execute(
            &stmt,
            &[
                &id.as_str(),
                &user.as_str(),
                &seq_to_sql(marks.delivered_seq),
                &seq_to_sql(marks.read_seq),
            ],
        )
        .await
        .ctx("moving receipt positions")?;
    }
    tx.commit().await.ctx("committing a receipt")?;
    Ok(marks)
}

/// Saves a draft if `base_version` is still current. The member row is locked first, so two
/// saves of one draft (from two nodes) take turns, and the loser sees the winner's version.
pub(super) async fn save_draft(
    client: &mut deadpool_postgres::Client,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    base_version: u64,
    body: &str,
    at: Millis,
) -> StoreResult<DraftSave> {
    let tx = client.transaction().await.ctx("starting a draft save")?;
    let stmt = tx
        .prepare_cached(
            "SELECT d.version, d.body, d.updated_at FROM members m \
             LEFT JOIN drafts d ON d.conversation_id = m.conversation_id AND d.user_id = m.user_id \
             WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.tenant = $3 FOR UPDATE OF m",
        )
        .await
        .ctx("preparing a draft read")?;
    let row = tx
        .query_opt(&stmt, &[&id.as_str(), &user.as_str(), &tenant.as_str()])
        .await
        .ctx("loading a draft")?
        .ok_or_else(|| not_a_member(user, id))?;
    let current = reads::draft_of(&row)?;
    let current_version = current.as_ref().map_or(0, |d| d.version);
    if current_version != base_version {
        let current = current.unwrap_or(Draft { version: 0, body: String::new(), updated_at: 0 });
        return Ok(DraftSave::Conflict(current));
    }
    let draft = Draft { version: current_version + 1, body: body.to_owned(), updated_at: at };
    let stmt = tx
        .prepare_cached(
            "INSERT INTO drafts (conversation_id, user_id, version, body, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
             version = excluded.version, body = excluded.body, updated_at = excluded.updated_at",
        )
        .await
        .ctx("preparing a draft save")?;
    tx.execute(
        &stmt,
        &[&id.as_str(), &user.as_str(), &seq_to_sql(draft.version), &draft.body, &draft.updated_at],
    )
    .await
    .ctx("saving a draft")?;
    tx.commit().await.ctx("committing a draft save")?;
    Ok(DraftSave::Saved(draft))
}

pub(super) async fn set_last_seen(
    client: &impl GenericClient,
    tenant: &TenantId,
    user: &UserId,
    at: Millis,
) -> StoreResult<()> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO last_seen (tenant, user_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, user_id) DO UPDATE SET at = GREATEST(last_seen.at, excluded.at)",
        )
        .await
        .ctx("preparing a last-seen write")?;
    client
        .execute(&stmt, &[&tenant.as_str(), &user.as_str(), &at])
        .await
        .ctx("saving last seen")?;
    Ok(())
}
