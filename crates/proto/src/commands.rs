//! Commands: one type per request a device can make, whatever carries it.
//!
//! A WebSocket frame is `{"type": ..., "id": ..., <command fields>}`: the envelope
//! ([`crate::frames::ClientFrame`]) holds the request id, and [`crate::frames::Request`] names one
//! of these types by its `type`. REST routes build the same types from a path and a body (the
//! `into_command` conversions in [`crate::rest`]), so the server applies every request through
//! one handler per command, and the Rust client builds the frames it sends from them.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, ConversationId, Millis, Seq, UserId};

/// Authenticate the connection (the first frame), or refresh its token later without
/// reconnecting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authenticate {
    /// An app JWT or a token from the built-in account login.
    pub token: String,
    /// Resume in the same round trip: replay, then live, with no gap and no reordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<crate::frames::ResumeRequest>,
}

/// Store a message; acknowledged only after it is committed (G1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The sending device's idempotency key (G2).
    pub client_msg_id: ClientMsgId,
    /// `text` when absent; apps may use their own kinds (an offer, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The text; may be empty when `payload` is set. Body and payload together are at most
    /// `limits.max_body_bytes`.
    pub body: String,
    /// App-defined JSON carried with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The seq of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
}

/// Change the text of one of your messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditMessage {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The message to edit.
    pub seq: Seq,
    /// Idempotency key of the edit event.
    pub client_msg_id: ClientMsgId,
    /// The new text: not empty (delete removes a message), at most `limits.max_body_bytes`.
    pub body: String,
}

/// Delete a message for everyone: your own, or anyone's as an admin or owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteMessage {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The message to delete.
    pub seq: Seq,
    /// Idempotency key of the delete event.
    pub client_msg_id: ClientMsgId,
}

/// Add (`add: true`) or remove your reaction `emoji` on a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReactToMessage {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The message reacted to.
    pub seq: Seq,
    /// Idempotency key of the reaction event.
    pub client_msg_id: ClientMsgId,
    /// The reaction, 1 to 64 bytes (usually one emoji); each user reacts once per emoji.
    pub emoji: String,
    /// `true` adds the caller's reaction, `false` removes it; either is a no-op (no event) when
    /// it is already so.
    pub add: bool,
}

/// A page of history. `before`/`after` are exclusive seq bounds; neither means the newest page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetHistory {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The newest messages with a lower seq (scrolling back). Not together with `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Seq>,
    /// The oldest messages with a higher seq (catching up). Not together with `before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Seq>,
    /// Page size; the server's default when absent, at most its `max_page_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Mark the conversation read up to `seq` (only moves forward).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRead {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// Read up to here; clamped to the conversation's `last_seq`, and lower than the current
    /// position changes nothing.
    pub seq: Seq,
}

/// Some device of the user has the conversation's messages up to `seq` (SDKs send it on
/// delivery). Moves the user's `delivered_seq`; members hear a `receipt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkReceived {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// Delivered up to here (the highest seq of a batch); clamped to `last_seq`, never backwards.
    pub seq: Seq,
}

/// The user started (`true`) or stopped (`false`) typing. A start expires on its own after
/// `typing_ttl_ms` unless sent again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTyping {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// `true` to start (repeat every 2–3 s while the user types), `false` to stop.
    pub typing: bool,
}

/// Save the user's draft, edited from `version` (0 when there was none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveDraft {
    /// The conversation; the caller must be a member (else `not_found`).
    pub conversation_id: ConversationId,
    /// The draft version this edit is based on; if another save came first, the reply is a
    /// `conflict` carrying the current draft.
    pub version: u64,
    /// The whole draft text (not a diff), at most `limits.max_body_bytes`.
    pub body: String,
}

/// Ask whether users are online (only users who share a conversation with the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryPresence {
    /// At most 200 user ids; the caller's co-members (and the caller) are answered, others are
    /// left out as if unknown.
    pub users: Vec<UserId>,
}

/// App-level ping for latency; the reply `pong` echoes `ts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    /// The client's clock when it sent the ping, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Millis>,
}
