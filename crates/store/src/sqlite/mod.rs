//! The embedded SQLite store: one file, one writer thread with group commit, a pool of readers.
//!
//! # Layout
//! - [`SqliteStore`]: opens the database, implements [`Store`] by routing writes to the writer
//!   and reads to the pool, and closes it all down ([`SqliteStore::close`]).
//! - [`SqliteOptions`] (`options.rs`): every knob, with its default and the reason for it.
//! - `connection.rs`: where the file lives; how writer and reader connections are set up
//!   (WAL, `synchronous=FULL`, `foreign_keys`, busy timeout, mmap).
//! - `schema.rs`: the schema as migrations tracked in `PRAGMA user_version`.
//! - `writer.rs`: the writer thread and its bounded queue; `batch.rs`: group commit with one
//!   savepoint per write; `checkpoint.rs`: WAL checkpoints between batches, never inside one.
//! - `append.rs`: where a message is stored; `writes.rs`: every other write.
//! - `pool.rs`: read-only connections on blocking threads; `reads.rs`: the read queries.
//! - `lookups.rs` and `rows.rs`: queries and row mapping both sides share; `error.rs`: rusqlite
//!   errors to [`StoreError`](crate::StoreError).
//!
//! A write flows: `Store` method → `Writer::submit` (waits for queue room) → writer thread →
//! batch transaction → COMMIT → [`CommitSink`] → the caller's answer.

mod amend;
mod append;
mod batch;
mod checkpoint;
mod connection;
mod error;
mod lookups;
mod options;
mod pool;
mod reads;
mod rows;
mod schema;
mod writer;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::Role;

pub use connection::DATABASE_FILE;
pub use options::SqliteOptions;
pub use schema::LATEST_VERSION as SCHEMA_VERSION;

use crate::{
    Account, Amend, Amended, Appended, CommitSink, ConversationRecord, ConversationView, Draft,
    DraftSave, HistoryPage, HistoryRange, ListCursor, NewConversation, NewMessage, Receipt, Store,
    StoreResult, Watermarks,
};
use pool::ReadPool;
use writer::Writer;
use writes::{
    AddMember, CreateAccount, CreateConversation, Mark, Ping, RemoveMember, SaveDraft, SetLastSeen,
    SetRole,
};

/// The SQLite implementation of [`Store`]. Share it behind an `Arc`.
///
/// Dropping it without [`close`](Self::close) is safe: the writer finishes what was queued and
/// stops on its own, but nobody waits for it, so a process that exits right after may skip the
/// final checkpoint (harmless: the WAL is replayed on the next open, and every acknowledged
/// write was already durable).
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    reads: Arc<ReadPool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations, then starts the
    /// writer thread and the read connections. `dir_or_path` is a data directory (the database
    /// is `chinwag.db` in it; the directory is created) or, if it names an existing file or ends
    /// in `.db`/`.sqlite`/`.sqlite3`, the database file itself.
    ///
    /// Synchronous: it does file I/O and may run migrations, so call it at start-up (or inside
    /// `spawn_blocking`). It needs no tokio runtime, but the returned store's methods must be
    /// called from one (reads use `spawn_blocking`). `sink` receives every committed message.
    ///
    /// Fails with `Backend` if the file cannot be opened in WAL mode, a migration fails, or the
    /// database has a newer schema than [`SCHEMA_VERSION`].
    pub fn open(
        dir_or_path: &Path,
        options: SqliteOptions,
        sink: Arc<dyn CommitSink>,
    ) -> StoreResult<Self> {
        let options = options.sanitized();
        let path = connection::database_path(dir_or_path)?;
        let mut conn = connection::open_writer(&path, &options)?;
        schema::migrate(&mut conn)?;
        // Readers before the writer thread: if they fail, no thread is left running.
        let reads = ReadPool::open(path.clone(), &options)?;
        let writer = Writer::spawn(conn, &options, sink)?;
        tracing::info!(path = %path.display(), "SQLite store open");
        Ok(Self { path, writer, reads })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shuts the store down: new calls fail with `Unavailable`; writes already queued are
    /// committed and answered; then the writer checkpoints (emptying the WAL) and its thread
    /// ends, which this awaits. Idempotent; call it once the server has stopped taking requests.
    pub async fn close(&self) {
        self.reads.close();
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: Account) -> StoreResult<()> {
        self.writer.submit(CreateAccount(account)).await
    }

    async fn account_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> StoreResult<Option<Account>> {
        let (tenant, username) = (tenant.clone(), username.to_owned());
        self.reads.run(move |c| reads::account_by_username(c, &tenant, &username)).await
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        self.writer.submit(CreateConversation(new)).await
    }

    async fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationRecord>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.reads.run(move |c| reads::conversation(c, &tenant, &id)).await
    }

    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<ListCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationView>> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.reads.run(move |c| reads::list_conversations(c, &tenant, &user, cursor, limit)).await
    }

    async fn conversation_view(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationView>> {
        let (tenant, user, id) = (tenant.clone(), user.clone(), id.clone());
        self.reads.run(move |c| reads::conversation_view(c, &tenant, &user, &id)).await
    }

    async fn memberships(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> StoreResult<Vec<(ConversationId, Seq, Millis)>> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.reads.run(move |c| reads::memberships(c, &tenant, &user)).await
    }

    async fn add_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
        at: Millis,
    ) -> StoreResult<bool> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.writer.submit(AddMember { tenant, id, user, role, at }).await
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<bool> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.writer.submit(RemoveMember { tenant, id, user }).await
    }

    async fn set_role(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
    ) -> StoreResult<()> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.writer.submit(SetRole { tenant, id, user, role }).await
    }

    async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        self.writer.submit(append::Append(message)).await
    }

    async fn amend(&self, amend: Amend) -> StoreResult<Amended> {
        self.writer.submit(amend::AmendMessage(amend)).await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<HistoryPage> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.reads.run(move |c| reads::history(c, &tenant, &id, range, limit)).await
    }

    async fn mark(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        receipt: Receipt,
        seq: Seq,
    ) -> StoreResult<Watermarks> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.writer.submit(Mark { tenant, id, user, receipt, seq }).await
    }

    async fn draft(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<Draft>> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.reads.run(move |c| reads::draft(c, &tenant, &id, &user)).await
    }

    async fn save_draft(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        base_version: u64,
        body: String,
        at: Millis,
    ) -> StoreResult<DraftSave> {
        let (tenant, id, user) = (tenant.clone(), id.clone(), user.clone());
        self.writer.submit(SaveDraft { tenant, id, user, base_version, body, at }).await
    }

    async fn set_last_seen(&self, tenant: &TenantId, user: &UserId, at: Millis) -> StoreResult<()> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.writer.submit(SetLastSeen { tenant, user, at }).await
    }

    async fn last_seen(
        &self,
        tenant: &TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, Millis)>> {
        let (tenant, users) = (tenant.clone(), users.to_vec());
        self.reads.run(move |c| reads::last_seen(c, &tenant, &users)).await
    }

    async fn co_members(&self, tenant: &TenantId, user: &UserId) -> StoreResult<Vec<UserId>> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.reads.run(move |c| reads::co_members(c, &tenant, &user)).await
    }

    /// Both halves: a reader reads the file, and the writer commits an (empty) transaction.
    async fn ping(&self) -> StoreResult<()> {
        self.reads.run(reads::ping).await?;
        self.writer.submit(Ping).await
    }
}
