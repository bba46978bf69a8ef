//! The schema, as a versioned list of migrations tracked in `PRAGMA user_version`.
//!
//! Migration `i` (0-based) brings the database to version `i + 1`. Each runs in its own
//! `BEGIN IMMEDIATE` transaction together with its `user_version` bump, so a crash leaves the
//! database at a version boundary. Never edit a released step: append a new one.
//!
//! Every message dirties pages; an append touches the `messages` row, its idempotency index entry
//! and the `conversations` row, and nothing else. That is why:
//! - `messages` and `members` are `WITHOUT ROWID`: the primary key *is* the table, no second tree;
//! - messages have no index on `id` and no `tenant` column: the conversation carries the tenant,
//!   and every read checks the conversation's tenant first (G6);
//! - the last message is found by `(conversation_id, last_seq)`, so no `last_message_id` column;
//! - there is no index on `conversations(tenant, last_activity)`: it would move on every append,
//!   and a user's list is driven by `members_by_user` anyway (a user's conversations are few
//!   enough to sort).

use rusqlite::{Connection, TransactionBehavior};

use super::error::Context;
use crate::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: accounts, conversations, members, messages.
    "
    CREATE TABLE accounts (
        tenant        TEXT NOT NULL,
        username      TEXT NOT NULL,
        user_id       TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        name          TEXT,
        created_at    INTEGER NOT NULL,
        PRIMARY KEY (tenant, username)
    ) WITHOUT ROWID;
    -- One account per user id: two accounts sharing one would be the same user twice.
    CREATE UNIQUE INDEX accounts_by_user ON accounts (tenant, user_id);

    CREATE TABLE conversations (
        id            TEXT PRIMARY KEY,
        tenant        TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
        subject       TEXT,
        title         TEXT,
        direct_key    TEXT,
        created_by    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL DEFAULT 0,
        last_activity INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX conversations_direct_key ON conversations (tenant, direct_key)
        WHERE direct_key IS NOT NULL;

    CREATE TABLE members (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id         TEXT NOT NULL,
        tenant          TEXT NOT NULL,
        role            TEXT NOT NULL,
        joined_at       INTEGER NOT NULL,
        read_seq        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_user ON members (tenant, user_id);

    CREATE TABLE messages (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL,
        id              TEXT NOT NULL,
        sender          TEXT NOT NULL,
        client_msg_id   TEXT NOT NULL,
        kind            TEXT NOT NULL,
        body            TEXT NOT NULL,
        payload         TEXT,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    ) WITHOUT ROWID;
    -- Idempotent sends (G2): a retry finds the original here.
    CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender, client_msg_id);
    ",
    // 2: delivery receipts, drafts, last seen.
    "
    ALTER TABLE members ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE members SET delivered_seq = read_seq;

    CREATE TABLE drafts (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id         TEXT NOT NULL,
        version         INTEGER NOT NULL,
        body            TEXT NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, user_id)
    ) WITHOUT ROWID;

    CREATE TABLE last_seen (
        tenant  TEXT NOT NULL,
        user_id TEXT NOT NULL,
        at      INTEGER NOT NULL,
        PRIMARY KEY (tenant, user_id)
    ) WITHOUT ROWID;
    ",
    // 3: message lifecycle (replies, edits, deletes, reactions).
    "
    ALTER TABLE messages ADD COLUMN reply_to INTEGER;
    ALTER TABLE messages ADD COLUMN target INTEGER;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reactions TEXT;
    ",
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST_VERSION`]. Refuses a database written by a newer build: its
/// schema may mean things this code would get wrong.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    loop {
        // The version is read inside the write transaction, so two processes opening the same
        // file at once cannot both apply a step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting a migration")?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .ctx("reading user_version")?;
        if !(0..=LATEST_VERSION).contains(&version) {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this build knows \
                 ({LATEST_VERSION}): run a newer chinwag, or this is not a chinwag database"
            )));
        }
        let Some(step) = usize::try_from(version).ok().and_then(|v| MIGRATIONS.get(v)) else {
            return Ok(()); // up to date
        };
        let next = version + 1;
        tx.execute_batch(step).ctx(&format!("applying migration {next}"))?;
        tx.pragma_update(None, "user_version", next).ctx("writing user_version")?;
        tx.commit().ctx(&format!("committing migration {next}"))?;
        tracing::info!(version = next, "applied SQLite migration");
    }
}
