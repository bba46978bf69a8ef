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
    /// The caller may not do this to this row (edit someone else's message).
    #[error("forbidden: {0}")]
    Forbidden(String),
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
    /// The seq of the message this one answers; must exist in the conversation.
    pub reply_to: Option<Seq>,
}

/// A change to a stored message: edit, delete for everyone, or a reaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Edit { body: String },
    Delete,
    React { emoji: String, add: bool },
}

/// What `amend` needs. The change is stored as a lifecycle event with its own `seq` (so resume
/// replays it), and the target row is updated in place (so history shows current state).
#[derive(Debug, Clone)]
pub struct Amend {
    pub tenant: TenantId,
    pub conversation_id: ConversationId,
    pub actor: UserId,
    pub target: Seq,
    pub change: Change,
    /// Id and idempotency key of the event.
    pub id: chinwag_proto::ids::MessageId,
    pub client_msg_id: ClientMsgId,
    pub created_at: Millis,
    /// The actor may delete other members' messages (an admin or owner).
    pub moderator: bool,
}

/// The result of an amend.
#[derive(Debug, Clone, PartialEq)]
pub struct Amended {
    /// The target's state after the change.
    pub target: Message,
    /// The stored event; `None` when the change changed nothing (a reaction already there).
    pub event: Option<Message>,
    /// The event had been stored before under the same key (G2): nothing new was written.
    pub duplicate: bool,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message: Message,
    /// True when `(conversation, sender, client_msg_id)` was already stored: `message` is the
    /// original, nothing new was written, and nothing is handed to the commit sink (G2).
    pub duplicate: bool,
    /// The sender's draft in the conversation, when sending cleared it (a new, empty version).
    pub draft_cleared: Option<Draft>,
}

/// Which watermark a receipt moves. Both only move forward and never past `last_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Some device of the user has the messages up to here.
    Delivered,
    /// The user has read up to here (which implies delivered).
    Read,
}

/// One member's positions in a conversation after a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub delivered_seq: Seq,
    pub read_seq: Seq,
    pub last_seq: Seq,
    /// Whether the receipt moved anything (if not, there is nothing to tell anyone).
    pub changed: bool,
}

/// A user's unsent text in a conversation, versioned so that two devices cannot silently
/// overwrite each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// 0 when there has never been a draft.
    pub version: u64,
    pub body: String,
    pub updated_at: Millis,
}

/// The outcome of saving a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftSave {
    Saved(Draft),
    /// The draft had moved past the version the edit was based on; here is the current one.
    Conflict(Draft),
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
    async fn account_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> StoreResult<Option<Account>>;

    /// Create a conversation, or return the existing direct one with the same `direct_key`
    /// (`bool` = created).
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)>;
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
    /// Edit, delete or react to the message at `amend.target`, storing the change as an event
    /// message in the same transaction (idempotent on the event's `client_msg_id`).
    /// `NotFound` if the conversation or target does not exist, `Forbidden` if the actor may not
    /// change it, `Conflict` if it was deleted or is itself an event.
    async fn amend(&self, amend: Amend) -> StoreResult<Amended>;
    /// A page of history of at most `limit` messages.
    async fn history(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        range: HistoryRange,
        limit: u32,
    ) -> StoreResult<HistoryPage>;
    /// Move one of `user`'s watermarks forward to `min(seq, last_seq)`; never backwards. A read
    /// also moves `delivered_seq` up to `read_seq`. `NotFound` if not a member.
    async fn mark(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        receipt: Receipt,
        seq: Seq,
    ) -> StoreResult<Watermarks>;

    /// [`Store::mark`] with [`Receipt::Read`]; returns `(read_seq, last_seq)`.
    async fn mark_read(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        seq: Seq,
    ) -> StoreResult<(Seq, Seq)> {
        let w = self.mark(tenant, id, user, Receipt::Read, seq).await?;
        Ok((w.read_seq, w.last_seq))
    }

    /// `user`'s draft in a conversation (`None` if there never was one). `NotFound` if not a
    /// member.
    async fn draft(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<Draft>>;

    /// Save a draft edited from `base_version` (0 for none): if that is still the current
    /// version, store `body` as version `base_version + 1`; otherwise answer `Conflict` with the
    /// current draft and change nothing. `NotFound` if not a member.
    async fn save_draft(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        user: &UserId,
        base_version: u64,
        body: String,
        at: Millis,
    ) -> StoreResult<DraftSave>;

    /// Remember when a user was last online.
    async fn set_last_seen(&self, tenant: &TenantId, user: &UserId, at: Millis) -> StoreResult<()>;
    /// When each of `users` was last online (users never seen are left out).
    async fn last_seen(
        &self,
        tenant: &TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, Millis)>>;
    /// Every other user who shares at least one conversation with `user`.
    async fn co_members(&self, tenant: &TenantId, user: &UserId) -> StoreResult<Vec<UserId>>;

    /// Is the store reachable and writable? For `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
