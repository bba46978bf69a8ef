//! The PostgreSQL schema, as a versioned list of migrations tracked in `chinwag_schema`.
//!
//! Its own SQL, not SQLite's: ids and user ids are `text COLLATE "C"` (byte order, as the other
//! backend and Rust sort them, and cheaper to compare than a locale), seqs and times `bigint`,
//! payloads and reactions JSON kept as `text` (returned exactly as given; `jsonb` would reorder
//! and rewrite them). Migration `i` (0-based) brings the schema to version `i + 1`; all pending
//! steps run in one transaction holding an advisory lock, so nodes starting together apply each
//! step once, and a crash leaves the schema at a version boundary. Never edit a released step:
//! append a new one.

use deadpool_postgres::Client;

use super::error::Context;
use crate::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: accounts, conversations, members, messages, receipts, drafts, last seen, lifecycle.
    r#"
    CREATE TABLE accounts (
        tenant        text COLLATE "C" NOT NULL,
        username      text COLLATE "C" NOT NULL,
        user_id       text COLLATE "C" NOT NULL,
        password_hash text NOT NULL,
        name          text,
        created_at    bigint NOT NULL,
        PRIMARY KEY (tenant, username)
    );
    -- One account per user id: two accounts sharing one would be the same user twice.
    CREATE UNIQUE INDEX accounts_by_user ON accounts (tenant, user_id);

    CREATE TABLE conversations (
        id            text COLLATE "C" PRIMARY KEY,
        tenant        text COLLATE "C" NOT NULL,
        kind          text NOT NULL CHECK (kind IN ('direct', 'group')),
        subject       text,
        title         text,
        direct_key    text COLLATE "C",
        created_by    text COLLATE "C" NOT NULL,
        created_at    bigint NOT NULL,
        last_seq      bigint NOT NULL DEFAULT 0,
        last_activity bigint NOT NULL
    );
    CREATE UNIQUE INDEX conversations_direct_key ON conversations (tenant, direct_key)
        WHERE direct_key IS NOT NULL;

    CREATE TABLE members (
        conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id         text COLLATE "C" NOT NULL,
        tenant          text COLLATE "C" NOT NULL,
        role            text NOT NULL,
        joined_at       bigint NOT NULL,
        delivered_seq   bigint NOT NULL DEFAULT 0,
        read_seq        bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, user_id)
    );
    CREATE INDEX members_by_user ON members (tenant, user_id);

    CREATE TABLE messages (
        conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq             bigint NOT NULL,
        id              text COLLATE "C" NOT NULL,
        sender          text COLLATE "C" NOT NULL,
        client_msg_id   text COLLATE "C" NOT NULL,
        kind            text NOT NULL,
        body            text NOT NULL,
        payload         text,
        created_at      bigint NOT NULL,
        reply_to        bigint,
        target          bigint,
        edited_at       bigint,
        deleted         boolean NOT NULL DEFAULT false,
        reactions       text,
        PRIMARY KEY (conversation_id, seq)
    );
    -- Idempotent sends (G2): a retry finds the original here.
    CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender, client_msg_id);

    CREATE TABLE drafts (
        conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id         text COLLATE "C" NOT NULL,
        version         bigint NOT NULL,
        body            text NOT NULL,
        updated_at      bigint NOT NULL,
        PRIMARY KEY (conversation_id, user_id)
    );

    CREATE TABLE last_seen (
        tenant  text COLLATE "C" NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        at      bigint NOT NULL,
        PRIMARY KEY (tenant, user_id)
    );
    "#,
    // 2: settings every node of a cluster shares (the generated token secret).
    r#"
    CREATE TABLE settings (
        name  text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any number that is Chinwag's own, so the migration lock does not collide with an app's.
const MIGRATION_LOCK: i64 = 0x0063_6869_6e77_6167; // "chinwag"

/// Brings the schema to [`LATEST_VERSION`], creating `schema` first if one is named. Refuses a
/// schema written by a newer build.
pub(super) async fn migrate(client: &mut Client, schema: Option<&str>) -> StoreResult<()> {
    let tx = client.transaction().await.ctx("starting the migration")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .ctx("taking the migration lock")?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)))
            .await
            .ctx("creating the schema")?;
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chinwag_schema (version integer NOT NULL)")
        .await
        .ctx("creating the version table")?;
    let version: i64 = match tx
        .query_opt("SELECT version::bigint FROM chinwag_schema", &[])
        .await
        .ctx("reading the schema version")?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO chinwag_schema (version) VALUES (0)", &[])
                .await
                .ctx("recording the schema version")?;
            0
        }
    };
    if !(0..=LATEST_VERSION).contains(&version) {
        return Err(StoreError::Backend(format!(
            "database schema version {version} is newer than this build knows \
             ({LATEST_VERSION}): run a newer chinwag, or this is not a chinwag database"
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let next = step as i64 + 1;
        tx.batch_execute(sql).await.ctx(&format!("applying migration {next}"))?;
        tx.execute("UPDATE chinwag_schema SET version = $1::bigint::integer", &[&next])
            .await
            .ctx("writing the schema version")?;
        tracing::info!(version = next, "applied PostgreSQL migration");
    }
    tx.commit().await.ctx("committing the migration")
}

/// `name` as a quoted SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
