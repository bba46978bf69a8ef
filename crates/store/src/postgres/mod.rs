//! The PostgreSQL store, for several nodes sharing one database.
//!
//! # Layout
//! - [`PgStore`]: connects (a bounded pool), applies pending migrations, implements [`Store`]
//!   by routing appends and amends to the writer and everything else to pooled connections.
//! - [`PgOptions`] (`options.rs`): every knob, with its default and the reason for it.
//! - `schema.rs`: the schema as migrations tracked in `chinwag_schema`.
//! - `writer.rs`: the node's writer task and its bounded queue; `batch.rs`: group commit, seqs
//!   under row locks, idempotency.
//! - `writes.rs`: every other write; `reads.rs`: the read queries.
//! - `rows.rs`: row mapping; `error.rs`: driver errors to [`StoreError`], `Unavailable` for
//!   everything that means the database is not reachable right now.
//!
//! PostgreSQL restarting or unreachable: calls fail with `Unavailable` (never an ack for what
//! was not committed); the pool drops broken connections and opens new ones once the server
//! is back, with no restart of the node.
//!
//! The driver is `tokio-postgres` with `deadpool-postgres` (see docs/architecture.md for the
//! measurement behind it): it pipelines statements on one connection, which the batch uses.

mod batch;
mod error;
mod options;
mod reads;
mod rows;
mod schema;
mod writer;
mod writes;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::Role;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

pub use options::PgOptions;
pub use schema::LATEST_VERSION as SCHEMA_VERSION;

use crate::{
    Account, Amend, Amended, Appended, CommitSink, ConversationRecord, ConversationView, Draft,
    DraftSave, HistoryPage, HistoryRange, ListCursor, NewConversation, NewMessage, Receipt, Store,
    StoreError, StoreResult, Watermarks,
};
use error::Context;
use writer::Writer;

/// The PostgreSQL implementation of [`Store`]. Share it behind an `Arc`.
pub struct PgStore {
    pool: Pool,
    writer: Writer,
    schema: Option<String>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`, or any form `tokio-postgres`
    /// accepts), applies pending migrations (refusing a schema from a newer build), and starts
    /// the writer. `sink` receives every committed message. Must be called on a tokio runtime.
    ///
    /// Fails with `Backend` for a malformed URL, a bad schema name or a newer schema, and with
    /// `Unavailable` if PostgreSQL cannot be reached.
    pub async fn open(
        url: &str,
        options: PgOptions,
        sink: Arc<dyn CommitSink>,
    ) -> StoreResult<Self> {
        let options = options.sanitized();
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("the PostgreSQL URL is not valid: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("chinwag");
        }
        if let Some(schema) = &options.schema {
            if schema.is_empty()
                || schema.len() > 63
                || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Backend(format!(
                    "the PostgreSQL schema name {schema:?} must be 1 to 63 letters, digits or _"
                )));
            }
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the PostgreSQL pool: {e}")))?;
        let mut client = pool.get().await.ctx("connecting to PostgreSQL")?;
        schema::migrate(&mut client, options.schema.as_deref()).await?;
        drop(client);
        let writer = Writer::spawn(pool.clone(), options.queue_capacity, options.max_batch, sink);
        tracing::info!(schema = ?options.schema, "PostgreSQL store open");
        Ok(Self { pool, writer, schema: options.schema })
    }

    /// Shuts the store down: new appends and amends fail with `Unavailable`, queued ones are
    /// committed and answered, then the pool closes. Idempotent.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close();
    }

    /// The shared setting `name`: the value stored by whichever node came first, or `proposed`
    /// if none has. Lets every node of a cluster use one generated token secret.
    pub async fn shared_setting(&self, name: &str, proposed: &str) -> StoreResult<String> {
        let client = self.client().await?;
        // Two statements, not one: the SELECT takes a fresh snapshot after the INSERT, so it
        // sees a row another node committed while the INSERT waited on it.
        client
            .execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &proposed],
            )
            .await
            .ctx("storing a shared setting")?;
        let row = client
            .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .ctx("reading a shared setting")?;
        Ok(row.get(0))
    }

    /// A pooled connection, for the copy from SQLite.
    pub(crate) async fn raw_client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.client().await
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        if self.pool.is_closed() {
            return Err(StoreError::Unavailable("the PostgreSQL store is closed".into()));
        }
        self.pool.get().await.ctx("getting a PostgreSQL connection")
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_account(&self, account: Account) -> StoreResult<()> {
        writes::create_account(&self.client().await?, &account).await
    }

    async fn account_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> StoreResult<Option<Account>> {
        reads::account_by_username(&self.client().await?, tenant, username).await
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        writes::create_conversation(&mut self.client().await?, &new).await
    }

    async fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationRecord>> {
        reads::conversation(&self.client().await?, tenant, id).await
    }

    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<ListCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationView>> {
        reads::list_conversations(&self.client().await?, tenant, user, cursor, limit).await
    }

    async fn conversation_view(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationView>> {
        reads::conversation_view(&self.client().await?, tenant, user, id).await
    }

    async fn memberships(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> StoreResult<Vec<(ConversationId, Seq, Millis)>> {
        reads::memberships(&self.client().await?, tenant, user).await
    }

    async fn add_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
        at: Millis,
    ) -> StoreResult<bool> {
        writes::add_member(&self.client().await?, tenant, id, user, role, at).await
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<bool> {
        writes::remove_member(&self.client().await?, tenant, id, user).await
    }

    async fn set_role(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
    ) -> StoreResult<()> {
        writes::set_role(&self.client().await?, tenant, id, user, role).await
    }

    async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        self.writer.append(message).await
    }

    async fn amend(&self, amend: Amend) -> StoreResult<Amended> {
        self.writer.amend(amend).await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<HistoryPage> {
        reads::history(&self.client().await?, tenant, id, range, limit).await
    }

    async fn mark(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        receipt: Receipt,
        seq: Seq,
    ) -> StoreResult<Watermarks> {
        writes::mark(&mut self.client().await?, tenant, id, user, receipt, seq).await
    }

    async fn draft(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<Draft>> {
        reads::draft(&self.client().await?, tenant, id, user).await
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
        let mut client = self.client().await?;
        writes::save_draft(&mut client, tenant, id, user, base_version, &body, at).await
    }

    async fn set_last_seen(&self, tenant: &TenantId, user: &UserId, at: Millis) -> StoreResult<()> {
        writes::set_last_seen(&self.client().await?, tenant, user, at).await
    }

    async fn last_seen(
        &self,
        tenant: &TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, Millis)>> {
        reads::last_seen(&self.client().await?, tenant, users).await
    }

    async fn co_members(&self, tenant: &TenantId, user: &UserId) -> StoreResult<Vec<UserId>> {
        reads::co_members(&self.client().await?, tenant, user).await
    }

    async fn ping(&self) -> StoreResult<()> {
        reads::ping(&self.client().await?).await
    }
}
