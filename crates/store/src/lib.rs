//! Chinwag's message store.
//!
//! # Layout
//! - [`Store`]: the storage contract every backend implements; the rest of the server sees only this.
//! - [`CommitSink`]: where a store hands newly committed messages, in commit order, before it
//!   acknowledges them. The server publishes them to the broker from there, so live delivery order
//!   equals `seq` order on a node.
//! - [`sqlite`]: the embedded default. One writer thread owns the write connection and drains every
//!   pending append into one transaction (group commit); readers use a small pool of read-only
//!   connections on blocking threads. WAL with `synchronous=FULL`.
//! - `conformance` (feature `conformance`): the suite every implementation must pass.
//!
//! Every method takes the tenant, and no query reaches across tenants (G6).

use async_trait::async_trait;
use chinwag_proto::ids::{ClientMsgId, ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Member, Message, Role};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod sqlite;

/// Errors a store returns. Callers map them to protocol error codes at the edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit (a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the operation needs does not exist in this tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store is shutting down or its writer is gone.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything the backend reported that the caller cannot fix.
    #[error("store backend: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A built-in account (username + password hash).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub tenant: TenantId,
    pub user_id: UserId,
    pub username: String,
    pub password_hash: String,
    pub name: Option<String>,
}

/// A conversation row with its members, independent of who is looking.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub id: ConversationId,
    pub tenant: TenantId,
    pub kind: ConversationKind,
    pub subject: Option<String>,
    pub title: Option<String>,
    pub created_by: UserId,
    pub created_at: Millis,
    pub last_seq: Seq,
    pub last_activity: Millis,
    pub members: Vec<Member>,
}

/// A conversation as one member sees it in their list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationView {
    pub record: ConversationRecord,
    pub last_message: Option<Message>,
    pub read_seq: Seq,
}

/// What `create_conversation` needs. For `direct` conversations `direct_key` makes the pair and
/// subject unique: creating the same one again returns the existing row.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: ConversationId,
    pub tenant: TenantId,
    pub kind: ConversationKind,
    pub subject: Option<String>,
    pub title: Option<String>,
    pub created_by: UserId,
    pub created_at: Millis,
    pub members: Vec<(UserId, Role)>,
    pub direct_key: Option<String>,
}

/// What `append` needs. `id` and `created_at` are chosen by the caller (time-ordered ULID); `seq`
/// is assigned by the store inside the transaction that stores the message (G3).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub tenant: TenantId,
    pub conversation_id: ConversationId,
    pub id: chinwag_proto::ids::MessageId,
    pub sender: UserId,
    pub client_msg_id: ClientMsgId,
    pub kind: String,
    pub body: String,
    pub payload: Option<serde_json::Value>,
    pub created_at: Millis,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message: Message,
    /// True when `(conversation, sender, client_msg_id)` was already stored: `message` is the
    /// original, nothing new was written, and nothing is handed to the commit sink (G2).
    pub duplicate: bool,
}

/// Which page of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRange {
    /// The newest messages.
    Latest,
    /// Messages with `seq < n`, the newest of them.
    Before(Seq),
    /// Messages with `seq > n`, the oldest of them.
    After(Seq),
}

/// A page of history, always in ascending `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// More messages exist beyond the page in the direction asked.
    pub has_more: bool,
}

/// Position in the conversation list: pages go from most to least recent activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub last_activity: Millis,
    pub conversation_id: ConversationId,
}

/// Receives committed messages in commit order, before their senders are acknowledged.
///
/// Called on the store's writer thread (SQLite) or the committing task: it must not block. The
/// server's sink encodes each message once and publishes it to the broker.
pub trait CommitSink: Send + Sync + 'static {
    fn committed(&self, tenant: &TenantId, messages: &[Message]);
}

/// A sink that drops everything, for tools and tests that need no fan-out.
#[derive(Debug, Default)]
pub struct NoSink;

impl CommitSink for NoSink {
    fn committed(&self, _: &TenantId, _: &[Message]) {}
}

/// The storage contract. Implementations must pass [`conformance`] (feature `conformance`).
///
/// Durability: a method that writes returns `Ok` only after its transaction is committed durably.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Create a built-in account. `Conflict` when the username is taken in the tenant.
    async fn create_account(&self, account: Account) -> StoreResult<()>;
    async fn account_by_username(&self, tenant: &TenantId, username: &str)
    -> StoreResult<Option<Account>>;

    /// Create a conversation, or return the existing direct one with the same `direct_key`
    /// (`bool` = created).
    async fn create_conversation(&self, new: NewConversation)
    -> StoreResult<(ConversationRecord, bool)>;
    async fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// The conversations `user` is a member of, most recent activity first, after `cursor`.
    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<ListCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationView>>;
    /// One conversation as `user` sees it, if they are a member.
    async fn conversation_view(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationView>>;
    /// Ids of every conversation `user` is a member of, with their `last_seq` and `last_activity`.
    async fn memberships(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> StoreResult<Vec<(ConversationId, Seq, Millis)>>;

    /// Add a member (`false` if already one: the role is left as it was).
    /// `NotFound` if the conversation does not exist in the tenant.
    async fn add_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
        at: Millis,
    ) -> StoreResult<bool>;
    /// Remove a member (`false` if not one).
    async fn remove_member(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<bool>;
    /// Change a member's role. `NotFound` if not a member.
    async fn set_role(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        role: Role,
    ) -> StoreResult<()>;

    /// Store a message: idempotency check, `seq = last_seq + 1`, insert, summary update, and the
    /// sender's read position moved to the new seq (own messages are never unread), in one
    /// transaction. `NotFound` if the conversation does not exist in the tenant.
    async fn append(&self, message: NewMessage) -> StoreResult<Appended>;
    /// A page of history of at most `limit` messages.
    async fn history(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<HistoryPage>;
    /// Move `user`'s read position forward to `min(seq, last_seq)`; never backwards.
    /// Returns `(read_seq, last_seq)` after the update. `NotFound` if not a member.
    async fn mark_read(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        seq: Seq,
    ) -> StoreResult<(Seq, Seq)>;

    /// Is the store reachable and writable? For `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
