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
//! - [`postgres`]: for several nodes sharing one database. One writer task per node batches every
//!   append into one transaction (group commit) under the conversations' row locks; everything
//!   else runs on a bounded pool of connections.
//! - [`copy`]: the one-way copy of a SQLite database into PostgreSQL (`chinwag migrate-store`).
//! - `conformance` (feature `conformance`): the suite every implementation must pass.
//!
//! Every method takes the tenant, and no query reaches across tenants (G6).

#![warn(missing_docs)]

use async_trait::async_trait;
use chinwag_proto::ids::{ClientMsgId, ConversationId, Millis, Seq, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Member, Message, Role};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod copy;
pub mod postgres;
mod rules;
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

/// What every [`Store`] method returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// A built-in account (username + password hash).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The tenant it belongs to; usernames and user ids are unique only within it.
    pub tenant: TenantId,
    /// The user it logs in as; one account per user id in a tenant.
    pub user_id: UserId,
    /// The login name, unique in the tenant and compared exactly.
    pub username: String,
    /// The password's hash (argon2id, PHC string); the store keeps it as opaque text.
    pub password_hash: String,
    /// Display name put in the account's tokens; `None` when none was given.
    pub name: Option<String>,
}

/// A conversation row with its members, independent of who is looking.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// The id the creator chose ([`NewConversation::id`]).
    pub id: ConversationId,
    /// The tenant it lives in; nothing outside it can see or change it.
    pub tenant: TenantId,
    /// Direct or group; fixed at creation.
    pub kind: ConversationKind,
    /// The app object it is about ("item:42"), stored as given.
    pub subject: Option<String>,
    /// Display title, stored as given.
    pub title: Option<String>,
    /// The user who created it.
    pub created_by: UserId,
    /// When it was created; also its first `last_activity`.
    pub created_at: Millis,
    /// Seq of the newest message (lifecycle events included); 0 when there is none.
    pub last_seq: Seq,
    /// The latest `created_at` of its messages, or its own creation time: the list's sort key.
    /// Never moves backwards, even for a message stamped by a slower clock.
    pub last_activity: Millis,
    /// Every current member with role and watermarks, in no particular order.
    pub members: Vec<Member>,
}

/// A conversation as one member sees it in their list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationView {
    /// The conversation itself, as [`Store::conversation`] returns it.
    pub record: ConversationRecord,
    /// The message at `last_seq`; `None` when there is none yet.
    pub last_message: Option<Message>,
    /// The viewing member's read position (their unread count is `last_seq - read_seq`).
    pub read_seq: Seq,
}

/// What `create_conversation` needs. For `direct` conversations `direct_key` makes the pair and
/// subject unique: creating the same one again returns the existing row.
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// Chosen by the caller (a fresh ULID); unused when an existing direct conversation is
    /// returned instead.
    pub id: ConversationId,
    /// The tenant to create it in.
    pub tenant: TenantId,
    /// Direct or group; the store does not check the member count of either.
    pub kind: ConversationKind,
    /// The app object it is about, stored as given.
    pub subject: Option<String>,
    /// Display title, stored as given.
    pub title: Option<String>,
    /// The creating user; recorded only, not made a member (list them in `members`).
    pub created_by: UserId,
    /// Creation time: also the `joined_at` of every initial member and the first
    /// `last_activity`.
    pub created_at: Millis,
    /// Every initial member with their role, the creator included; a user listed twice is one
    /// member with the first role given.
    pub members: Vec<(UserId, Role)>,
    /// For direct conversations: the key unique in the tenant (the server derives it from the
    /// sorted pair and the subject); `None` for groups, which are never deduplicated.
    pub direct_key: Option<String>,
}

/// What `append` needs. `id` and `created_at` are chosen by the caller (time-ordered ULID); `seq`
/// is assigned by the store inside the transaction that stores the message (G3).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The tenant of the conversation; any other tenant's conversation is `NotFound`.
    pub tenant: TenantId,
    /// Where to append; `NotFound` if it does not exist in the tenant.
    pub conversation_id: ConversationId,
    /// Unused when the send turns out to be a retry: the original keeps its id.
    pub id: chinwag_proto::ids::MessageId,
    /// The sending user. The store does not check membership: the caller has.
    pub sender: UserId,
    /// With `conversation_id` and `sender`, the idempotency key (G2).
    pub client_msg_id: ClientMsgId,
    /// Stored as given; the caller has validated it and refused reserved kinds.
    pub kind: String,
    /// Stored and returned exactly; may be empty.
    pub body: String,
    /// App-defined JSON, stored and returned exactly.
    pub payload: Option<serde_json::Value>,
    /// Moves the conversation's `last_activity` forward (never back).
    pub created_at: Millis,
    /// The seq of the message this one answers; must exist in the conversation.
    pub reply_to: Option<Seq>,
}

/// A change to a stored message: edit, delete for everyone, or a reaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Replace the body and set `edited_at`; only the sender may.
    Edit {
        /// The new text.
        body: String,
    },
    /// Delete for everyone: body, payload and reactions go, `deleted` stays. The sender may, and
    /// so may a moderator.
    Delete,
    /// Add or remove the actor's reaction; any member may.
    React {
        /// The reaction (usually one emoji); each user has at most one per emoji.
        emoji: String,
        /// `true` adds, `false` removes. Already so: nothing is stored, and `event` is `None`.
        add: bool,
    },
}

/// What `amend` needs. The change is stored as a lifecycle event with its own `seq` (so resume
/// replays it), and the target row is updated in place (so history shows current state).
#[derive(Debug, Clone)]
pub struct Amend {
    /// The tenant of the conversation; any other tenant's conversation is `NotFound`.
    pub tenant: TenantId,
    /// Where the target message is.
    pub conversation_id: ConversationId,
    /// Who makes the change, and the sender of the event. The store does not check
    /// membership: the caller has.
    pub actor: UserId,
    /// The seq of the message to change; `NotFound` if there is none.
    pub target: Seq,
    /// What to do to it.
    pub change: Change,
    /// Id and idempotency key of the event.
    pub id: chinwag_proto::ids::MessageId,
    /// With `conversation_id` and `actor`, the idempotency key of the event (G2); reusing it for
    /// another target is a `Conflict`.
    pub client_msg_id: ClientMsgId,
    /// The event's time, and the target's `edited_at` for an edit.
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
    /// The message as stored, with its `seq`.
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
    /// Some device of the member has every message up to here; never below `read_seq`.
    pub delivered_seq: Seq,
    /// The member has read every message up to here.
    pub read_seq: Seq,
    /// Seq of the conversation's newest message, the bound of both positions.
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
    /// The draft text (empty after a send cleared it).
    pub body: String,
    /// When it was last saved or cleared; 0 when there has never been a draft.
    pub updated_at: Millis,
}

/// The outcome of saving a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftSave {
    /// Stored as the next version; here it is.
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
    /// At most `limit` messages, contiguous in `seq`, each in its current state.
    pub messages: Vec<Message>,
    /// More messages exist beyond the page in the direction asked.
    pub has_more: bool,
}

/// Position in the conversation list: pages go from most to least recent activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// The `last_activity` of the last conversation of the previous page.
    pub last_activity: Millis,
    /// Its id, which orders conversations with the same `last_activity`.
    pub conversation_id: ConversationId,
}

/// Receives committed messages in commit order, before their senders are acknowledged.
///
/// Called on the store's writer thread (SQLite) or the committing task: it must not block. The
/// server's sink encodes each message once and publishes it to the broker.
pub trait CommitSink: Send + Sync + 'static {
    /// `messages` of `tenant` were just committed, in commit order (so in `seq` order within
    /// each conversation). Every new message and lifecycle event comes here once; duplicates
    /// and failed writes never do.
    fn committed(&self, tenant: &TenantId, messages: &[Message]);
}

/// A sink that drops everything, for tools and tests that need no fan-out.
#[derive(Debug, Default)]
pub struct NoSink;

impl CommitSink for NoSink {
    fn committed(&self, _: &TenantId, _: &[Message]) {}
}

/// The storage contract. Implementations must pass the `conformance` suite (feature `conformance`).
///
/// Durability: a method that writes returns `Ok` only after its transaction is committed durably.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Create a built-in account. `Conflict` when the username is taken in the tenant, or the
    /// user id already has an account there; of racing creates of one username, exactly one
    /// wins.
    async fn create_account(&self, account: Account) -> StoreResult<()>;
    /// The account with exactly this username in the tenant; `None` when there is none.
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
    /// A conversation with all its members, whoever asks (the caller checks membership);
    /// `None` when it does not exist in the tenant.
    async fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// The conversations `user` is a member of, at most `limit` (0 gives none), ordered by
    /// `(last_activity, id)` descending and starting strictly after `cursor`, so that paging
    /// with the last row of each page covers the list exactly once. Empty for a user in none.
    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<ListCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationView>>;
    /// One conversation as `user` sees it; `None` when they are not a member or it does not
    /// exist in the tenant.
    async fn conversation_view(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &ConversationId,
    ) -> StoreResult<Option<ConversationView>>;
    /// Ids of every conversation `user` is a member of, with their `last_seq` and `last_activity`,
    /// in no promised order. Resume plans from it.
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
    /// Remove a member (`false` if not one, or if the conversation does not exist in the
    /// tenant). Role and watermarks go with the membership: a later add starts afresh.
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
    /// transaction. A retry (same conversation, sender and `client_msg_id`) returns the original
    /// with `duplicate` set and writes nothing (G2). A new message reaches the commit sink
    /// before this returns. `NotFound` if the conversation does not exist in the tenant, or if
    /// `reply_to` names no existing message.
    async fn append(&self, message: NewMessage) -> StoreResult<Appended>;
    /// Edit, delete or react to the message at `amend.target`, storing the change as an event
    /// message in the same transaction (idempotent on the event's `client_msg_id`).
    /// `NotFound` if the conversation or target does not exist, `Forbidden` if the actor may not
    /// change it, `Conflict` if it was deleted or is itself an event. A retry returns the stored
    /// event with `duplicate` set; a new event reaches the commit sink before this returns.
    async fn amend(&self, amend: Amend) -> StoreResult<Amended>;
    /// A page of history of at most `limit` messages (0 gives an empty page whose `has_more`
    /// still tells). Bounds past either end are harmless. `NotFound` if the conversation does not
    /// exist in the tenant; membership is the caller's to check.
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

    /// Remember when a user was last online; an earlier `at` than the one stored is ignored.
    async fn set_last_seen(&self, tenant: &TenantId, user: &UserId, at: Millis) -> StoreResult<()>;
    /// When each of `users` was last online (users never seen are left out).
    async fn last_seen(
        &self,
        tenant: &TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, Millis)>>;
    /// Every other user who shares at least one conversation with `user`, each once, in
    /// ascending id order.
    async fn co_members(&self, tenant: &TenantId, user: &UserId) -> StoreResult<Vec<UserId>>;

    /// Is the store reachable and writable? For `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
