//! Every write except append (see `append.rs`): what each one does inside the writer's batch
//! transaction. Each runs in its own savepoint (see `batch.rs`), so returning an error undoes
//! exactly its own changes.

use chinwag_proto::clock::now_millis;
use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::{Message, Role};
use rusqlite::{Connection, OptionalExtension, params};

use super::error::{Context, backend, is_unique_violation};
use super::lookups;
use super::rows::seq_to_sql;
use crate::{
    Account, ConversationRecord, Draft, DraftSave, NewConversation, Receipt, StoreError,
    StoreResult, Watermarks, rules,
};

/// A write the writer thread runs inside a batch transaction.
pub(super) trait Write: Send + 'static {
    type Output: Send + 'static;
    /// Does the write. Messages it stores go to `stored`, in the order they got their seq; the
    /// commit sink receives them once the batch has committed.
    fn apply(
        self,
        conn: &Connection,
        stored: &mut Vec<(TenantId, Message)>,
    ) -> StoreResult<Self::Output>;
}

pub(super) struct CreateAccount(pub Account);

impl Write for CreateAccount {
    type Output = ();
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<()> {
        let a = self.0;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO accounts (tenant, username, user_id, password_hash, name, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    a.tenant.as_str(),
                    a.username,
                    a.user_id.as_str(),
                    a.password_hash,
                    a.name,
                    now_millis()
                ])
            });
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "the username {:?} or the user id {} is taken",
                a.username, a.user_id
            ))),
            Err(e) => Err(backend("creating an account", e)),
        }
    }
}

pub(super) struct CreateConversation(pub NewConversation);

impl Write for CreateConversation {
    type Output = (ConversationRecord, bool);
    fn apply(
        self,
        conn: &Connection,
        _: &mut Vec<(TenantId, Message)>,
    ) -> StoreResult<(ConversationRecord, bool)> {
        let new = self.0;
        // The writer is the only writer, so nothing can slip in between this check and the
        // insert; the unique index still backs the rule up.
        if let Some(key) = &new.direct_key
            && let Some(existing) = direct_conversation(conn, &new.tenant, key)?
        {
            return Ok((existing, false));
        }
        conn.prepare_cached(
            "INSERT INTO conversations (id, tenant, kind, subject, title, direct_key, created_by, \
             created_at, last_seq, last_activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?8)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                new.id.as_str(),
                new.tenant.as_str(),
                new.kind.as_str(),
                new.subject,
                new.title,
                new.direct_key,
                new.created_by.as_str(),
                new.created_at
            ])
        })
        .ctx("creating a conversation")?;
        // A user listed twice keeps the first role given.
        for (user, role) in &new.members {
            insert_member(conn, &new.tenant, &new.id, user, *role, new.created_at)?;
        }
        let record = lookups::conversation(conn, &new.tenant, &new.id)?.ok_or_else(|| {
            StoreError::Backend(format!("conversation {} vanished while being created", new.id))
        })?;
        Ok((record, true))
    }
}

fn direct_conversation(
    conn: &Connection,
    tenant: &TenantId,
    key: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let id: Option<String> = conn
        .prepare_cached("SELECT id FROM conversations WHERE tenant = ?1 AND direct_key = ?2")
        .and_then(|mut stmt| stmt.query_row([tenant.as_str(), key], |row| row.get(0)).optional())
        .ctx("looking up a direct conversation")?;
    match id {
        Some(id) => lookups::conversation(conn, tenant, &ConversationId(id)),
        None => Ok(None),
    }
}

/// Inserts a member unless they already are one; returns whether a row was added.
fn insert_member(
    conn: &Connection,
    tenant: &TenantId,
    id: &ConversationId,
    user: &UserId,
    role: Role,
    at: Millis,
) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT INTO members (conversation_id, user_id, tenant, role, joined_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (conversation_id, user_id) DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![id.as_str(), user.as_str(), tenant.as_str(), role.as_str(), at])
    })
    .map(|changed| changed == 1)
    .ctx("adding a member")
}

pub(super) struct AddMember {
    pub tenant: TenantId,
    pub id: ConversationId,
    pub user: UserId,
    pub role: Role,
    pub at: Millis,
}

impl Write for AddMember {
    type Output = bool;
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<bool> {
        if lookups::last_seq(conn, &self.tenant, &self.id)?.is_none() {
            return Err(StoreError::NotFound(format!("conversation {}", self.id)));
        }
        insert_member(conn, &self.tenant, &self.id, &self.user, self.role, self.at)
    }
}

pub(super) struct RemoveMember {
    pub tenant: TenantId,
    pub id: ConversationId,
    pub user: UserId,
}

impl Write for RemoveMember {
    type Output = bool;
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<bool> {
        conn.prepare_cached(
            "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2 AND tenant = ?3",
        )
        .and_then(|mut stmt| {
            stmt.execute([self.id.as_str(), self.user.as_str(), self.tenant.as_str()])
        })
        .map(|changed| changed == 1)
        .ctx("removing a member")
    }
}

pub(super) struct SetRole {
    pub tenant: TenantId,
    pub id: ConversationId,
    pub user: UserId,
    pub role: Role,
}

impl Write for SetRole {
    type Output = ();
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<()> {
        let changed = conn
            .prepare_cached(
                "UPDATE members SET role = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2 AND tenant = ?3",
            )
            .and_then(|mut stmt| {
                stmt.execute([
                    self.id.as_str(),
                    self.user.as_str(),
                    self.tenant.as_str(),
                    self.role.as_str(),
                ])
            })
            .ctx("changing a role")?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "{} is not a member of conversation {}",
                self.user, self.id
            )));
        }
        Ok(())
    }
}

pub(super) struct Mark {
    pub tenant: TenantId,
    pub id: ConversationId,
    pub user: UserId,
    pub receipt: Receipt,
    pub seq: Seq,
}

impl Write for Mark {
    type Output = Watermarks;
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<Watermarks> {
        let found: Option<(Seq, Seq, Seq)> = conn
            .prepare_cached(
                "SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.conversation_id = ?1 AND m.user_id = ?2 AND c.tenant = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row([self.id.as_str(), self.user.as_str(), self.tenant.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .ctx("loading receipt positions")?;
        let Some((delivered, read, last_seq)) = found else {
            return Err(StoreError::NotFound(format!(
                "{} is not a member of conversation {}",
                self.user, self.id
            )));
        };
        let marks = rules::watermarks(self.receipt, self.seq, (delivered, read), last_seq);
        let Watermarks { delivered_seq, read_seq, changed, .. } = marks;
        if changed {
            conn.prepare_cached(
                "UPDATE members SET delivered_seq = ?3, read_seq = ?4 \
                 WHERE conversation_id = ?1 AND user_id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    self.id.as_str(),
                    self.user.as_str(),
                    seq_to_sql(delivered_seq),
                    seq_to_sql(read_seq)
                ])
            })
            .ctx("moving receipt positions")?;
        }
        Ok(marks)
    }
}

pub(super) struct SaveDraft {
    pub tenant: TenantId,
    pub id: ConversationId,
    pub user: UserId,
    pub base_version: u64,
    pub body: String,
    pub at: Millis,
}

impl Write for SaveDraft {
    type Output = DraftSave;
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<DraftSave> {
        if !lookups::is_member(conn, &self.tenant, &self.id, &self.user)? {
            return Err(StoreError::NotFound(format!(
                "{} is not a member of conversation {}",
                self.user, self.id
            )));
        }
        let current = lookups::draft(conn, &self.id, &self.user)?;
        let current_version = current.as_ref().map_or(0, |d| d.version);
        if current_version != self.base_version {
            let current =
                current.unwrap_or(Draft { version: 0, body: String::new(), updated_at: 0 });
            return Ok(DraftSave::Conflict(current));
        }
        let draft = Draft { version: current_version + 1, body: self.body, updated_at: self.at };
        conn.prepare_cached(
            "INSERT INTO drafts (conversation_id, user_id, version, body, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
             version = excluded.version, body = excluded.body, updated_at = excluded.updated_at",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                self.id.as_str(),
                self.user.as_str(),
                seq_to_sql(draft.version),
                draft.body,
                draft.updated_at
            ])
        })
        .ctx("saving a draft")?;
        Ok(DraftSave::Saved(draft))
    }
}

pub(super) struct SetLastSeen {
    pub tenant: TenantId,
    pub user: UserId,
    pub at: Millis,
}

impl Write for SetLastSeen {
    type Output = ();
    fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO last_seen (tenant, user_id, at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (tenant, user_id) DO UPDATE SET at = MAX(at, excluded.at)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![self.tenant.as_str(), self.user.as_str(), self.at])
        })
        .ctx("saving last seen")?;
        Ok(())
    }
}

/// Proves the writer is alive and can take the write lock: a batch holding only pings still runs
/// `BEGIN IMMEDIATE … COMMIT`.
pub(super) struct Ping;

impl Write for Ping {
    type Output = ();
    fn apply(self, _: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<()> {
        Ok(())
    }
}
