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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Reply to register and login: a token for `auth` frames and `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: i64,
    pub user: UserInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateConversationRequest {
    pub kind: ConversationKind,
    /// Other members (the caller is always a member). Exactly one for `direct`.
    pub members: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Reply to create: `created` is false when an existing direct conversation was returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateConversationResponse {
    pub conversation: Conversation,
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddMemberRequest {
    pub user_id: UserId,
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::Member
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

/// `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequest {
    pub client_msg_id: ClientMsgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
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
    pub client_msg_id: ClientMsgId,
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
    pub client_msg_id: ClientMsgId,
    pub emoji: String,
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
    pub target: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Message>,
    pub duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResponse {
    pub message: Message,
    pub duplicate: bool,
}

/// `GET /v1/conversations/{id}/messages?before=&after=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Seq>,
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
    pub conversation_id: ConversationId,
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// `POST /v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRequest {
    pub seq: Seq,
}

impl ReadRequest {
    /// The read command for `conversation_id`.
    pub fn into_command(self, conversation_id: ConversationId) -> MarkRead {
        MarkRead { conversation_id, seq: self.seq }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadResponse {
    pub read_seq: Seq,
    pub unread: u64,
}

/// `POST /v1/conversations/{id}/received`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedRequest {
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
    pub delivered_seq: Seq,
    pub read_seq: Seq,
    pub last_seq: Seq,
}

/// `POST /v1/conversations/{id}/typing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
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
    pub version: u64,
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
    pub users: Vec<UserPresence>,
}

/// `GET /v1/conversations?cursor=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
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
    pub client_msg_id: ClientMsgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
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
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}
