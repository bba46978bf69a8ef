//! What the client tells the application: typed events on one stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chinwag_proto::error::ErrorBody;
use chinwag_proto::frames::{DraftState, UserPresence};
use chinwag_proto::ids::{ClientMsgId, ConversationId, Seq, UserId};
use chinwag_proto::model::{Conversation, Member, Message};
use tokio::sync::mpsc;

use crate::quality::QualityReport;

/// The life of one outgoing message, as its sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageState {
    /// In the outbox, not yet acknowledged.
    Sending,
    /// Acknowledged: durably stored by the server (G1).
    Sent,
    /// Some other member's device has it (their `delivered_seq` reached it).
    Delivered,
    /// Some other member read it (their `read_seq` reached it).
    Read,
    /// Not acknowledged before its deadline, or refused by the server; see
    /// [`Client::retry`](crate::Client::retry).
    Failed,
}

impl MessageState {
    /// The lowercase name (`sending`, `sent`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

/// A state change of one outgoing message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStatus {
    /// Which message.
    pub client_msg_id: ClientMsgId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Its new state.
    pub state: MessageState,
    /// The message's `seq` once the server assigned it.
    pub seq: Option<Seq>,
    /// Why it failed (`Failed` only).
    pub error: Option<String>,
}

/// Why the client is offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineReason {
    /// Too many consecutive failures: the breaker is open; one probe after `retry_in`.
    BreakerOpen {
        /// Time until the probe.
        retry_in: Duration,
    },
    /// The server closed with a code that says not to reconnect automatically
    /// (see `chinwag_proto::close`); call [`Client::reconnect`](crate::Client::reconnect).
    ClosedByServer {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// [`Client::close`](crate::Client::close) was called, or every handle was dropped.
    Closed,
}

/// The connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// Authenticated; events flow.
    Connected,
    /// The connection was lost; attempt `attempt` (1 = the first retry) starts after `retry_in`.
    Reconnecting {
        /// The number of the coming attempt.
        attempt: u32,
        /// Time until it starts.
        retry_in: Duration,
    },
    /// Not trying (for now); see the reason.
    Offline(OfflineReason),
}

/// How a (re)connection caught up, from the server's `resumed` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Everything missed was replayed (conversations the replay cut short are being completed
    /// from `history`): the local state is whole.
    Recovered {
        /// Messages the server replayed.
        replayed: u64,
    },
    /// Some conversations could not be resumed (the user is no longer a member): they were
    /// dropped from the cache; reload the conversation list.
    Resynced {
        /// Messages the server replayed.
        replayed: u64,
        /// Conversations the user is no longer in.
        unavailable: Vec<ConversationId>,
    },
}

/// Everything the client reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A message (or lifecycle event) in one of the user's conversations: live, replayed, or
    /// fetched to fill a gap. Each `seq` once, in `seq` order per conversation.
    Message(Message),
    /// An outgoing message changed state.
    MessageState(MessageStatus),
    /// A member's delivery or read watermark moved.
    Receipt {
        /// The conversation.
        conversation_id: ConversationId,
        /// Whose watermarks.
        user_id: UserId,
        /// Some device of the member has every message up to here.
        delivered_seq: Seq,
        /// The member read every message up to here.
        read_seq: Seq,
    },
    /// A member started or stopped typing (never the user's own devices).
    Typing {
        /// The conversation.
        conversation_id: ConversationId,
        /// Who.
        user_id: UserId,
        /// Started (`true`) or stopped.
        typing: bool,
    },
    /// A user who shares a conversation with you came online or went offline.
    Presence(UserPresence),
    /// The user's draft changed on another device, or sending cleared it.
    Draft {
        /// The conversation.
        conversation_id: ConversationId,
        /// The current draft.
        draft: DraftState,
    },
    /// A conversation the user is in was created or joined (or learned on resume).
    Conversation(Box<Conversation>),
    /// Someone joined a conversation the user is in.
    MemberAdded {
        /// The conversation.
        conversation_id: ConversationId,
        /// The new member.
        member: Member,
    },
    /// A member's role changed.
    MemberUpdated {
        /// The conversation.
        conversation_id: ConversationId,
        /// The member with the new role.
        member: Member,
    },
    /// A member left or was removed (the user too: then the conversation is forgotten).
    MemberRemoved {
        /// The conversation.
        conversation_id: ConversationId,
        /// Who left.
        user_id: UserId,
    },
    /// The user's read position moved (on any of their devices).
    ReadUpdated {
        /// The conversation.
        conversation_id: ConversationId,
        /// The new read position.
        read_seq: Seq,
        /// The new unread count.
        unread: u64,
    },
    /// The connection state changed.
    Connection(ConnectionState),
    /// A (re)connection finished its resume.
    Resumed(Recovery),
    /// The connection quality category changed.
    Quality(QualityReport),
    /// The server reported an error that belongs to no request of the application (a frame
    /// the client sent was refused), or the client could not read a server frame.
    Error(String),
}

/// The stream of [`Event`]s of one client. Poll it (it implements `futures::Stream`) or call
/// [`Events::next`]. It must be consumed: when its buffer is full the client stops reading the
/// socket until there is room (the server then sheds the connection as a slow consumer, and the
/// next resume catches up: nothing is lost). Dropping it discards events.
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the client has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// An error frame from the server, as the application sees it.
pub(crate) fn describe(error: &ErrorBody) -> String {
    format!("{}: {}", error.code.as_str(), error.message)
}
