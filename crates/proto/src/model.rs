//! The domain as clients see it.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, ConversationId, MessageId, Millis, Seq, UserId};

/// A stored message. `seq` is its gapless position in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Server-assigned ULID, unique across conversations; a retried send keeps the original's.
    pub id: MessageId,
    /// The conversation it was sent in.
    pub conversation_id: ConversationId,
    /// Its position in the conversation: 1, 2, 3, … with no gaps; clients order and deduplicate
    /// by it.
    pub seq: Seq,
    /// Who sent it; for a lifecycle event, who made the change.
    pub sender: UserId,
    /// The sender's idempotency key: a retry with the same key returns this message (G2).
    pub client_msg_id: ClientMsgId,
    /// `text`, `media`, `system`, or an app-defined kind such as `offer`.
    pub kind: String,
    /// The text. May be empty when `payload` carries the content; always empty for lifecycle
    /// events and once the message is deleted.
    pub body: String,
    /// App-defined JSON for custom kinds (an offer's amount, a card's fields). For `edit`,
    /// `delete` and `reaction` events: `{"message": <the target's state after the change>}`
    /// (reactions add `"emoji"` and `"add"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// When the server accepted it, by the server's clock.
    pub created_at: Millis,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
    /// For `edit`, `delete` and `reaction` events: the seq of the message they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Seq>,
    /// When the body was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Millis>,
    /// Deleted for everyone: body and payload are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Emoji → the users who reacted with it (one reaction per user per emoji).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reactions: std::collections::BTreeMap<String, Vec<UserId>>,
}

/// Kinds the server writes for message lifecycle events; clients cannot send them as messages.
pub const LIFECYCLE_KINDS: &[&str] = &["edit", "delete", "reaction"];

/// What sort of conversation it is; fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Exactly two members; one conversation per pair and subject.
    Direct,
    /// Any number of members with roles.
    Group,
}

impl ConversationKind {
    /// The wire form: `direct` or `group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }
}

/// A member's role in a conversation, ordered `Member < Admin < Owner`: nobody grants, changes or
/// removes a role above their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends, reacts and reads; deletes only their own messages (and nobody edits another's).
    /// Both members of a direct conversation have this role.
    Member,
    /// Also adds and removes members, changes roles up to `admin`, and deletes anyone's messages.
    Admin,
    /// Also grants and takes `owner`. A group's creator is its first owner, and a group always
    /// keeps at least one.
    Owner,
}

impl Role {
    /// The wire form: `member`, `admin` or `owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The role whose wire form is `s`; `None` for anything else (case matters).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Admins and owners manage membership.
    pub fn can_manage_members(self) -> bool {
        self >= Self::Admin
    }
}

/// One member of a conversation, with the positions that give message states (delivered, read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Who this is; a user is a member of a conversation at most once.
    pub user_id: UserId,
    /// What they may do in the conversation.
    pub role: Role,
    /// When they (last) joined: a member who left and was added again has the later time.
    pub joined_at: Millis,
    /// Some device of this member has every message up to here.
    #[serde(default)]
    pub delivered_seq: Seq,
    /// This member has read every message up to here.
    #[serde(default)]
    pub read_seq: Seq,
}

/// A conversation as one member sees it: with that member's unread count and read position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Server-assigned ULID, so ids sort by creation time.
    pub id: ConversationId,
    /// Direct or group; fixed at creation.
    pub kind: ConversationKind,
    /// Ties the conversation to an app object ("item:42").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A display title given at creation; absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The user who created it (through the server API: the `as_user`); a group's first owner.
    pub created_by: UserId,
    /// When it was created, by the server's clock.
    pub created_at: Millis,
    /// Seq of the newest message; 0 when there is none.
    pub last_seq: Seq,
    /// Time of the newest message, or of creation.
    pub last_activity: Millis,
    /// The newest message (the preview in a list); absent when there is none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Every member with their role and positions, in no particular order.
    pub members: Vec<Member>,
    /// The viewing member's read position.
    pub read_seq: Seq,
    /// `last_seq - read_seq`, kept by the server.
    pub unread: u64,
}

/// The authenticated user as the server sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user: the token's `sub` (a built-in account's username).
    pub id: UserId,
    /// The tenant the user belongs to: the token's `tenant` claim, `default` when it has none.
    pub tenant: crate::ids::TenantId,
    /// Display name, from the token's `name` claim; absent when none is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
