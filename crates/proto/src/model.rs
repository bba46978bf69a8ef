//! The domain as clients see it.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, ConversationId, MessageId, Millis, Seq, UserId};

/// A stored message. `seq` is its gapless position in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub sender: UserId,
    pub client_msg_id: ClientMsgId,
    /// `text`, `media`, `system`, or an app-defined kind such as `offer`.
    pub kind: String,
    pub body: String,
    /// App-defined JSON for custom kinds (an offer's amount, a card's fields). For `edit`,
    /// `delete` and `reaction` events: `{"message": <the target's state after the change>}`
    /// (reactions add `"emoji"` and `"add"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Exactly two members; one conversation per pair and subject.
    Direct,
    /// Any number of members with roles.
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
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
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Ties the conversation to an app object ("item:42").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub created_by: UserId,
    pub created_at: Millis,
    /// Seq of the newest message; 0 when there is none.
    pub last_seq: Seq,
    /// Time of the newest message, or of creation.
    pub last_activity: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    pub members: Vec<Member>,
    /// The viewing member's read position.
    pub read_seq: Seq,
    /// `last_seq - read_seq`, kept by the server.
    pub unread: u64,
}

/// The authenticated user as the server sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub tenant: crate::ids::TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
