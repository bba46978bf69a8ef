//! WebSocket frames: JSON text frames with one envelope `{"type": ..., "id": ...}`.
//!
//! Client frames are decoded in two steps ([`ClientFrame::decode`]): first the envelope, so that a
//! frame with a wrong field still gets an error carrying its request `id`; then the typed body.

use serde::{Deserialize, Serialize};

use crate::commands::{
    Authenticate, DeleteMessage, EditMessage, GetHistory, MarkRead, MarkReceived, Ping,
    QueryPresence, ReactToMessage, SaveDraft, SendMessage, SetTyping,
};
use crate::error::{ErrorBody, ErrorCode};
use crate::ids::{ConversationId, Millis, RequestId, Seq, UserId};
use crate::model::{Conversation, Member, Message, UserInfo};
use crate::request_id::{check_id, top_level_id};

/// Where a device stands in one conversation: the highest `seq` it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// A conversation the device knows.
    pub conversation_id: ConversationId,
    /// The highest seq the device holds there (0 for none): replay starts after it.
    pub seq: Seq,
}

/// Catch-up request (G4): the missed messages of every listed conversation, and of every
/// conversation active since `since` that the device does not know yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumeRequest {
    /// One entry per conversation the device knows (a repeated conversation counts once, at its
    /// first entry), at most 10000. Those the user is no longer a member of come back in the
    /// reply's `unavailable`.
    #[serde(default)]
    pub positions: Vec<Position>,
    /// The `cursor` of an earlier `resumed` reply. Conversations not in `positions` whose last
    /// activity is at or after it are replayed from the start (up to the per-conversation cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
}

/// A frame a client sends: the request id (every request that carries one gets exactly one
/// reply with it) and the request itself, whose `type` names the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// The request id, a string or a number: the reply (or error) carries it back. `null` counts
    /// as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    /// The command. Its `type` and fields sit beside `id` in the same JSON object.
    #[serde(flatten)]
    pub request: Request,
}

/// `Request` and a `From` conversion into it for every command type, from one list.
macro_rules! requests {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// What a client frame asks for: one variant per command type of [`crate::commands`].
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum Request {
            $($(#[$doc])* $variant($ty),)*
        }

        $(impl From<$ty> for Request {
            fn from(command: $ty) -> Self {
                Self::$variant(command)
            }
        })*
    };
}

requests! {
    /// First frame of a connection (unless a session cookie authenticated the upgrade); sent
    /// again later with a fresh token to refresh it without reconnecting.
    Auth(Authenticate),
    /// Store a message; acknowledged with `ack` only after it is committed (G1).
    Send(SendMessage),
    /// Change the text of one of your messages (an `edit` event; reply `amended`).
    Edit(EditMessage),
    /// Delete a message for everyone (a `delete` event; reply `amended`).
    Delete(DeleteMessage),
    /// Add or remove a reaction (a `reaction` event; reply `amended`).
    React(ReactToMessage),
    /// Catch up on missed messages (see [`ResumeRequest`]).
    Resume(ResumeRequest),
    /// A page of history; reply `history`.
    History(GetHistory),
    /// Move the read position; reply `ok`.
    Read(MarkRead),
    /// Move the delivered position; reply `ok`.
    Received(MarkReceived),
    /// Typing started or stopped; reply `ok`.
    Typing(SetTyping),
    /// Save a draft; reply `draft_saved`.
    Draft(SaveDraft),
    /// Who of these users is online; reply `presence_state`.
    Presence(QueryPresence),
    /// Latency probe; reply `pong`.
    Ping(Ping),
}

/// The frame types a client may send, for error messages and docs.
pub const CLIENT_FRAME_TYPES: &[&str] = &[
    "auth", "send", "edit", "delete", "react", "resume", "history", "read", "received", "typing",
    "draft", "presence", "ping",
];

/// Why a client frame could not be decoded; carries the request id when one was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The frame's `id`, for the error reply; `None` when it had none, when the frame is not a
    /// JSON object, or when its `id` is neither a string nor a number.
    pub id: Option<RequestId>,
    /// `malformed` (not JSON, or not an object), `unknown_type`, or `invalid` (a bad `id`,
    /// `type` or field).
    pub code: ErrorCode,
    /// Human-readable detail for the error reply (serde's, for a bad field).
    pub message: String,
}

impl ClientFrame {
    /// A frame with request id `id`.
    pub fn new(id: Option<RequestId>, request: impl Into<Request>) -> Self {
        Self { id, request: request.into() }
    }

    /// Decode a text frame. Never panics; every failure is a typed [`DecodeError`], carrying
    /// the frame's `id` whenever one can be read, also from a frame that is not valid JSON as a
    /// whole (too deeply nested, cut short): its reply still names the request.
    pub fn decode(text: &[u8]) -> Result<Self, DecodeError> {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| DecodeError {
            id: top_level_id(text)
                .and_then(|raw| serde_json::from_slice(raw).ok())
                .filter(|id| check_id(id).is_ok()),
            code: ErrorCode::Malformed,
            message: format!("not valid JSON: {e}"),
        })?;
        let serde_json::Value::Object(map) = &value else {
            return Err(DecodeError {
                id: None,
                code: ErrorCode::Malformed,
                message: "a frame must be a JSON object".into(),
            });
        };
        let id = map.get("id").filter(|v| !v.is_null()).cloned();
        if let Some(Err(message)) = id.as_ref().map(check_id) {
            return Err(DecodeError { id: None, code: ErrorCode::Invalid, message });
        }
        let kind = match map.get("type") {
            Some(serde_json::Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(DecodeError {
                    id,
                    code: ErrorCode::Invalid,
                    message: "`type` must be a string".into(),
                });
            }
            None => {
                return Err(DecodeError {
                    id,
                    code: ErrorCode::Invalid,
                    message: "missing field `type`".into(),
                });
            }
        };
        if !CLIENT_FRAME_TYPES.contains(&kind) {
            return Err(DecodeError {
                id,
                code: ErrorCode::UnknownType,
                message: format!(
                    "unknown frame type `{}`; expected one of {}",
                    truncate(kind, 64),
                    CLIENT_FRAME_TYPES.join(", ")
                ),
            });
        }
        serde_json::from_value(value).map_err(|e| DecodeError {
            id,
            code: ErrorCode::Invalid,
            message: e.to_string(),
        })
    }

    /// The request id, if the client set one.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Limits the server enforces on this connection, told to the client in `authed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionLimits {
    /// Largest WebSocket message the server accepts, in bytes after reassembly; a larger one
    /// closes the connection with `1009 message_too_big`.
    pub max_frame_bytes: usize,
    /// Largest message `body` plus its `payload` JSON, edit body and draft, in bytes; over it is
    /// a `too_large` error.
    pub max_body_bytes: usize,
    /// Largest `limit` a page of history or of the conversation list may ask for; over it is a
    /// `too_large` error.
    pub max_page_size: u32,
    /// Sustained requests per second on this connection (bursts up to twice that); over it is a
    /// `rate_limited` error, and repeated strikes close with `4009 rate_limited`.
    pub requests_per_second: u32,
}

/// The outcome of resuming one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumedConversation {
    /// A conversation that had messages to replay, or that the device did not list (then
    /// `from_seq` is 0).
    pub conversation_id: ConversationId,
    /// Messages with `from_seq < seq <= to_seq` were sent before this reply.
    pub from_seq: Seq,
    /// The highest seq replayed (`from_seq` when nothing was); `last_seq` when `complete`.
    pub to_seq: Seq,
    /// The conversation's newest seq when the replay was read.
    pub last_seq: Seq,
    /// False when the replay hit the per-conversation cap: fetch `history` after `to_seq` for the rest.
    pub complete: bool,
}

/// A user's draft in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftState {
    /// Goes up by one with every save, and when sending clears the draft; 0 when there has never
    /// been one. The next save must be based on it.
    pub version: u64,
    /// The draft text; empty when there is none or sending cleared it.
    pub body: String,
    /// When it was last saved or cleared, by the server's clock; 0 when there has never been a
    /// draft.
    pub updated_at: Millis,
}

/// Whether a user is online, and when they last were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPresence {
    /// The user this is about.
    pub user_id: UserId,
    /// True while any device of the user holds a live presence lease (renewed by heartbeats).
    pub online: bool,
    /// When the user last went offline; absent when that was never recorded, and in the
    /// `presence` event announcing that they came online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Millis>,
}

/// Frames the server sends: replies (with the request `id`) and events (without).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Reply to `auth`.
    Authed {
        /// The `auth` frame's id; absent when it had none, and when the session cookie
        /// authenticated the upgrade or the connection is an event stream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// Who the token (or cookie) names.
        user: UserInfo,
        /// This connection's id on its node (a decimal number as a string), for logs and
        /// support; unique only within one run of one node.
        connection_id: String,
        /// The server's [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// Interval of the server's protocol pings.
        heartbeat_ms: u64,
        /// The token's expiry; refresh with another `auth` frame before it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Millis>,
        /// What this connection must keep to.
        limits: ConnectionLimits,
    },
    /// Reply to `send`: the stored message. `duplicate` is true when the `client_msg_id` had
    /// already been stored and this is the original message (G2).
    Ack {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The stored message with its `seq`; the original one when `duplicate`.
        message: Message,
        /// True when the `client_msg_id` had been stored before: nothing new was written.
        duplicate: bool,
    },
    /// Reply to `edit`, `delete` and `react`: the message's new state, and the lifecycle event
    /// that records the change (absent when nothing changed, e.g. a reaction already there).
    Amended {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The changed message in its state after the change.
        target: Message,
        /// The stored lifecycle event (kind `edit`, `delete` or `reaction`, with its own `seq`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<Message>,
        /// True when this `client_msg_id` had been used before: a retry, nothing new stored.
        duplicate: bool,
    },
    /// Reply to `history`, messages in ascending `seq`.
    History {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The request's conversation, echoed.
        conversation_id: ConversationId,
        /// At most `limit` messages, each in its current state, lifecycle events included.
        messages: Vec<Message>,
        /// More messages exist beyond this page in the direction asked.
        has_more: bool,
    },
    /// Reply to `resume` (or to `auth` with `resume`), sent after all replayed messages.
    Resumed {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// One entry per replayed conversation; those already up to date are left out.
        conversations: Vec<ResumedConversation>,
        /// Conversations in `positions` that the user is not (or no longer) a member of.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unavailable: Vec<ConversationId>,
        /// Pass as `since` next time.
        cursor: Millis,
    },
    /// Generic success reply (to `read`, `received` and `typing`).
    Ok {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
    },
    /// Reply to `draft`: the saved draft (a stale `version` gets a `conflict` error whose
    /// `current` is the current draft instead).
    DraftSaved {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The request's conversation, echoed.
        conversation_id: ConversationId,
        /// The draft as saved, with its new `version`.
        draft: DraftState,
    },
    /// Reply to `presence`.
    PresenceState {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// Each user asked about whom the caller may see (themselves and co-members); anyone
        /// else is left out, as if unknown.
        users: Vec<UserPresence>,
    },
    /// Reply to `ping`.
    Pong {
        /// The `id` of the request answered; absent when it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The ping's `ts`, echoed: the round trip is now minus `ts` on the client's clock.
        /// Absent when the ping had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<Millis>,
        /// The server's clock when it answered.
        server_ts: Millis,
    },
    /// Error reply (with the request `id` when the request had one and it was readable).
    Error {
        /// The failed request's id; always sent, `null` when the frame had none or it could not
        /// be read.
        #[serde(default)]
        id: Option<RequestId>,
        /// What went wrong.
        error: ErrorBody,
    },
    /// Event: a message in one of the user's conversations (live or replayed).
    Message {
        /// The message or lifecycle event as stored.
        message: Message,
    },
    /// Event: a conversation the user is in was created, joined, or changed its members.
    Conversation {
        /// The conversation as this user sees it (their `read_seq` and `unread`).
        conversation: Conversation,
    },
    /// Event: someone joined a conversation the user is in (the joiner gets `conversation`).
    MemberAdded {
        /// The conversation joined.
        conversation_id: ConversationId,
        /// The new member, with their role and `joined_at`.
        member: Member,
    },
    /// Event: a member's role changed.
    MemberUpdated {
        /// Where the role changed.
        conversation_id: ConversationId,
        /// The member with their new role.
        member: Member,
    },
    /// Event: a member left or was removed (sent to the remaining members and to the removed user).
    MemberRemoved {
        /// The conversation left; the removed user hears nothing more of it.
        conversation_id: ConversationId,
        /// Who left or was removed.
        user_id: UserId,
    },
    /// Event: the user's read position moved (sent to all of that user's devices).
    ReadUpdated {
        /// Where the read position moved.
        conversation_id: ConversationId,
        /// The user's read position now.
        read_seq: Seq,
        /// The user's unread count now (`last_seq - read_seq`); replaces the client's count.
        unread: u64,
    },
    /// Event: a member's delivery or read position moved (sent to every member's devices, and
    /// by resume for every member of a resumed conversation).
    Receipt {
        /// Where the positions moved (or, sent by resume, where they are current).
        conversation_id: ConversationId,
        /// The member whose positions these are.
        user_id: UserId,
        /// Some device of the member has every message up to here.
        delivered_seq: Seq,
        /// The member has read every message up to here.
        read_seq: Seq,
    },
    /// Event: a member started or stopped typing (never sent to the typist's own devices).
    Typing {
        /// Where they are typing.
        conversation_id: ConversationId,
        /// The typist; never the receiving user, whose own devices are not told.
        user_id: UserId,
        /// True when they started; false when they stopped or their indicator lapsed after
        /// `typing_ttl_ms`.
        typing: bool,
    },
    /// Event: a user who shares a conversation with you came online or went offline.
    Presence(UserPresence),
    /// Event: the user's draft changed on another device, or was cleared by sending.
    Draft {
        /// Where the draft changed.
        conversation_id: ConversationId,
        /// The current draft (empty, with a new version, when sending cleared it).
        draft: DraftState,
    },
}

impl ServerFrame {
    /// An `error` reply to request `id` (`None` for a frame without one).
    pub fn error(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error { id, error: ErrorBody::new(code, message) }
    }

    /// Serialize to JSON text. Serializing these types cannot fail (string keys, no non-finite floats
    /// outside `serde_json::Value`), so a failure is reported as an `internal` error frame.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","id":null,"error":{{"code":"internal","message":"encode: {e}"}}}}"#)
                .into_bytes()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reports_id_with_field_errors() {
        let err = ClientFrame::decode(br#"{"type":"send","id":7,"body":"hi"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid);
        assert_eq!(err.id, Some(serde_json::json!(7)));
        assert!(err.message.contains("conversation_id"), "{}", err.message);
    }

    #[test]
    fn decode_classifies_bad_input() {
        assert_eq!(ClientFrame::decode(b"{nope").unwrap_err().code, ErrorCode::Malformed);
        assert_eq!(ClientFrame::decode(b"[1,2]").unwrap_err().code, ErrorCode::Malformed);
        assert_eq!(ClientFrame::decode(b"\xff\x00").unwrap_err().code, ErrorCode::Malformed);
        let e = ClientFrame::decode(br#"{"type":"fly","id":"a"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::UnknownType, Some(serde_json::json!("a"))));
        let e = ClientFrame::decode(br#"{"type":"read","id":"r","conversation_id":"c","seq":"x"}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        assert_eq!(ClientFrame::decode(br#"{"id":1}"#).unwrap_err().code, ErrorCode::Invalid);
        assert_eq!(
            ClientFrame::decode(br#"{"type":"ping","id":{"x":1}}"#).unwrap_err().code,
            ErrorCode::Invalid
        );
    }

    #[test]
    fn decode_round_trips_every_frame() {
        let frames = [
            ClientFrame::new(Some(1.into()), Authenticate { token: "t".into(), resume: None }),
            ClientFrame::new(
                Some("s".into()),
                SendMessage {
                    conversation_id: "c".into(),
                    client_msg_id: "m".into(),
                    kind: None,
                    body: "hello".into(),
                    payload: Some(serde_json::json!({"amount": 3})),
                    reply_to: Some(2),
                },
            ),
            ClientFrame::new(
                None,
                ResumeRequest {
                    positions: vec![Position { conversation_id: "c".into(), seq: 4 }],
                    since: Some(10),
                },
            ),
            ClientFrame::new(
                None,
                GetHistory {
                    conversation_id: "c".into(),
                    before: Some(9),
                    after: None,
                    limit: Some(5),
                },
            ),
            ClientFrame::new(None, MarkRead { conversation_id: "c".into(), seq: 3 }),
            ClientFrame::new(Some(2.into()), Ping { ts: Some(99) }),
        ];
        for f in frames {
            let text = serde_json::to_vec(&f).unwrap();
            assert_eq!(ClientFrame::decode(&text).unwrap(), f);
        }
    }

    #[test]
    fn frames_keep_their_wire_shape() {
        let send = ClientFrame::new(
            Some(7.into()),
            SendMessage {
                conversation_id: "c".into(),
                client_msg_id: "m".into(),
                kind: None,
                body: "hi".into(),
                payload: None,
                reply_to: None,
            },
        );
        assert_eq!(
            serde_json::to_value(&send).unwrap(),
            serde_json::json!({"type":"send","id":7,"conversation_id":"c","client_msg_id":"m","body":"hi"})
        );
        let ping = ClientFrame::decode(br#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping, ClientFrame::new(None, Ping { ts: None }));
        let resume = ClientFrame::decode(br#"{"type":"resume","id":"r","since":5}"#).unwrap();
        assert_eq!(
            resume,
            ClientFrame::new(Some("r".into()), ResumeRequest { positions: vec![], since: Some(5) })
        );
        let null_id = ClientFrame::decode(br#"{"type":"ping","id":null,"ts":3}"#).unwrap();
        assert_eq!(null_id.id, None);
    }
}
