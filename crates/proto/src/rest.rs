//! REST bodies under `/v1`: requests, query strings and responses, for the server and the Rust
//! client alike. Errors use [`crate::error::ErrorEnvelope`].
//!
//! A REST request that has a WebSocket equivalent names the conversation (and message) in its
//! path; its `into_command` turns path and body into the [`crate::commands`] type that the server
//! applies for both transports.

use serde::{Deserialize, Serialize};

use crate::commands::{
    DeleteMessage, EditMessage, GetHistory, MarkRead, MarkReceived, ReactToMessage, SaveDraft,
    SendMessage, SetTyping,
};
use crate::frames::UserPresence;
use crate::ids::{ClientMsgId, ConversationId, Millis, Seq, UserId};
use crate::model::{Conversation, ConversationKind, Message, Role, UserInfo};

/// `POST /v1/accounts/register`: create a built-in account in the default tenant, and log in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// 2 to 64 letters, digits, `_`, `-` or `.`; unique in the tenant (taken is `conflict`), and
    /// also the new user's id.
    pub username: String,
    /// 8 to 1024 bytes; only its argon2id hash is stored.
    pub password: String,
    /// Display name, at most 128 bytes; absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /v1/accounts/login`: log in to a built-in account of the default tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// As registered, compared exactly.
    pub username: String,
    /// Checked against the stored hash. A wrong pair is `unauthenticated`, whichever half is
    /// wrong; attempts are rate-limited per username.
    pub password: String,
}

/// Reply to register and login: a token for `auth` frames and `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// A JWT signed by this server (HS256), naming the user and tenant.
    pub token: String,
    /// When the token expires, in milliseconds since the Unix epoch (a whole second: its `exp`).
    pub expires_at: i64,
    /// Who the token names.
    pub user: UserInfo,
}

/// `POST /v1/conversations`: create a conversation with the caller in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateConversationRequest {
    /// Direct (one other member) or group.
    pub kind: ConversationKind,
    /// Other members (the caller is always a member). Exactly one for `direct`.
    pub members: Vec<UserId>,
    /// Ties the conversation to an app object ("item:42"); a direct conversation is unique per
    /// pair and subject. At most `limits.max_id_bytes` bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A display title, at most `limits.max_id_bytes` bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Reply to create: `created` is false when an existing direct conversation was returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateConversationResponse {
    /// The conversation as the caller sees it.
    pub conversation: Conversation,
    /// True when it was created (HTTP 201), false when it already existed (200).
    pub created: bool,
}

/// A page of `GET /v1/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationPage {
    /// The caller's conversations, most recent activity first, each as the caller sees it.
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` for the next (older) page; absent when this page came back short (a
    /// full last page is followed by an empty one). Opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /v1/conversations/{id}/members`: add a member to a group (owners and admins).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddMemberRequest {
    /// The user to add.
    pub user_id: UserId,
    /// Their role, `member` when absent; at most the caller's own.
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::Member
}

/// `PATCH /v1/conversations/{id}/members/{user}`: change a member's role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateMemberRequest {
    /// The new role, at most the caller's own; only owners grant or take `owner`, and a group
    /// keeps at least one (`conflict` otherwise).
    pub role: Role,
}

/// `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequest {
    /// The sending device's idempotency key (G2), 1 to `limits.max_id_bytes` bytes.
    pub client_msg_id: ClientMsgId,
    /// `text` when absent; 1 to 64 of `a-z 0-9 _ - .`. `system` and the lifecycle kinds are
    /// refused (`forbidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The text; may be empty when `payload` is set. Body and payload together are at most
    /// `limits.max_body_bytes`.
    pub body: String,
    /// App-defined JSON carried with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The seq of the message this one answers; it must exist (`not_found` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
}

impl SendRequest {
    /// The send command for conversation `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> SendMessage {
        let Self { client_msg_id, kind, body, payload, reply_to } = self;
        SendMessage { conversation_id, client_msg_id, kind, body, payload, reply_to }
    }
}

/// `PATCH /v1/conversations/{id}/messages/{seq}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// Idempotency key of the edit event.
    pub client_msg_id: ClientMsgId,
    /// The new text: not empty, at most `limits.max_body_bytes`.
    pub body: String,
}

impl EditRequest {
    /// The edit command for message `seq` of `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId, seq: Seq) -> EditMessage {
        EditMessage { conversation_id, seq, client_msg_id: self.client_msg_id, body: self.body }
    }
}

/// `DELETE /v1/conversations/{id}/messages/{seq}?client_msg_id=…`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Idempotency key of the delete event.
    pub client_msg_id: ClientMsgId,
}

impl DeleteQuery {
    /// The delete command for message `seq` of `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId, seq: Seq) -> DeleteMessage {
        DeleteMessage { conversation_id, seq, client_msg_id: self.client_msg_id }
    }
}

/// `POST /v1/conversations/{id}/messages/{seq}/reactions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactRequest {
    /// Idempotency key of the reaction event.
    pub client_msg_id: ClientMsgId,
    /// The reaction, 1 to 64 bytes (usually one emoji).
    pub emoji: String,
    /// `true` adds the caller's reaction, `false` removes it.
    pub add: bool,
}

impl ReactRequest {
    /// The reaction command for message `seq` of `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId, seq: Seq) -> ReactToMessage {
        let Self { client_msg_id, emoji, add } = self;
        ReactToMessage { conversation_id, seq, client_msg_id, emoji, add }
    }
}

/// Reply to edit, delete and react.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AmendResponse {
    /// The changed message in its state after the change.
    pub target: Message,
    /// The lifecycle event that records the change (the original one on a retry); absent when
    /// nothing changed, e.g. a reaction already there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Message>,
    /// True when this `client_msg_id` had been used before: a retry, nothing new stored.
    pub duplicate: bool,
}

/// Reply to a send (REST), the same as the `ack` frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResponse {
    /// The stored message with its `seq`; the original one when `duplicate`.
    pub message: Message,
    /// True when the `client_msg_id` had been stored before (HTTP 200 rather than 201).
    pub duplicate: bool,
}

/// `GET /v1/conversations/{id}/messages?before=&after=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The newest messages with a lower seq. Not together with `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Seq>,
    /// The oldest messages with a higher seq. Not together with `before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Seq>,
    /// Page size; the server's default when absent, at most `limits.max_page_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl HistoryQuery {
    /// The history command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> GetHistory {
        let Self { before, after, limit } = self;
        GetHistory { conversation_id, before, after, limit }
    }
}

/// A page of history (REST), the same as the `history` frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagePage {
    /// The conversation of the request path, echoed.
    pub conversation_id: ConversationId,
    /// Ascending `seq`, each message in its current state.
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction asked.
    pub has_more: bool,
}

/// `POST /v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRequest {
    /// Read up to here; clamped to `last_seq`, never backwards.
    pub seq: Seq,
}

impl ReadRequest {
    /// The read command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> MarkRead {
        MarkRead { conversation_id, seq: self.seq }
    }
}

/// Reply to `POST /v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadResponse {
    /// The caller's read position after the request.
    pub read_seq: Seq,
    /// The caller's unread count after it (`last_seq - read_seq`).
    pub unread: u64,
}

/// `POST /v1/conversations/{id}/received`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedRequest {
    /// Delivered up to here; clamped to `last_seq`, never backwards.
    pub seq: Seq,
}

impl ReceivedRequest {
    /// The delivery receipt command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> MarkReceived {
        MarkReceived { conversation_id, seq: self.seq }
    }
}

/// The caller's positions in a conversation (reply to `received`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermarks {
    /// Some device of the caller has every message up to here.
    pub delivered_seq: Seq,
    /// The caller has read every message up to here.
    pub read_seq: Seq,
    /// Seq of the conversation's newest message; 0 when there is none.
    pub last_seq: Seq,
}

/// `POST /v1/conversations/{id}/typing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
    /// `true` to start (repeat every 2–3 s while typing), `false` to stop.
    pub typing: bool,
}

impl TypingRequest {
    /// The typing command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> SetTyping {
        SetTyping { conversation_id, typing: self.typing }
    }
}

/// `PUT /v1/conversations/{id}/draft`: save the draft edited from `version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    /// The version this edit is based on (0 when there was no draft); stale is a 409
    /// `conflict` whose `current` is the current draft.
    pub version: u64,
    /// The whole draft text, at most `limits.max_body_bytes`.
    pub body: String,
}

impl DraftRequest {
    /// The draft command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> SaveDraft {
        SaveDraft { conversation_id, version: self.version, body: self.body }
    }
}

/// `GET /v1/presence?users=a,b`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceQuery {
    /// Comma-separated user ids.
    pub users: String,
}

impl PresenceQuery {
    /// The user ids asked about (empty entries skipped).
    pub fn user_ids(&self) -> Vec<UserId> {
        self.users.split(',').filter(|u| !u.is_empty()).map(UserId::from).collect()
    }
}

/// Reply to a presence query (REST), the same as the `presence_state` frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresenceResponse {
    /// Each user asked about whom the caller may see (themselves and co-members).
    pub users: Vec<UserPresence>,
}

/// `GET /v1/conversations?cursor=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The previous page's `next_cursor`; absent for the first (most recent) page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size; the server's default when absent, at most `limits.max_page_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `GET /v1/events?since=&positions=`: what the event stream replays before going live.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The `cursor` of an earlier `resumed`: replay conversations active since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// `conversation_id:seq` pairs, comma-separated: replay what came after each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions: Option<String>,
}

/// Server API (API key): find or create a conversation for one of the app's users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerCreateConversationRequest {
    /// The user who creates it (and owns a group).
    pub as_user: UserId,
    /// What to find or create, with the rules of `POST /v1/conversations`; its fields sit
    /// beside `as_user` in the body.
    #[serde(flatten)]
    pub conversation: CreateConversationRequest,
}

/// Server API (API key): send as one of the members; `system` messages are sent in a member's
/// name too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSendRequest {
    /// The sender; must be a member.
    pub as_user: UserId,
    /// The idempotency key, with `as_user` (G2): a retried call returns the original.
    pub client_msg_id: ClientMsgId,
    /// `text` when absent; unlike a user's send, reserved kinds such as `system` are allowed
    /// (the lifecycle kinds are not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The text; may be empty when `payload` is set. Body and payload together are at most
    /// `limits.max_body_bytes`.
    pub body: String,
    /// App-defined JSON carried with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The seq of the message this one answers; it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
}

impl ServerSendRequest {
    /// The sender and the send command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> (UserId, SendMessage) {
        let Self { as_user, client_msg_id, kind, body, payload, reply_to } = self;
        (as_user, SendMessage { conversation_id, client_msg_id, kind, body, payload, reply_to })
    }
}

/// Server API (API key): mint a token for one of the app's users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueTokenRequest {
    /// The user the token names, 1 to 256 bytes, in the API key's tenant.
    pub user_id: UserId,
    /// Display name put in the token; absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Token lifetime in seconds: `auth.token_ttl_secs` when absent, clamped to 1 s … 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

/// `GET /readyz` when the node can serve: which node answered, so that behind a load balancer
/// the answer names the process (and a restarted one shows a new `epoch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Always `ready` (a node that cannot serve answers `503 unavailable` instead).
    pub status: String,
    /// This node's id: 16 hex digits, chosen at random when the process starts.
    pub node: String,
    /// When this node process started (milliseconds since the Unix epoch).
    pub epoch: u64,
}
