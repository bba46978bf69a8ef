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
    pub client_msg_id: ClientMsgId,
    pub conversation_id: ConversationId,
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
    BreakerOpen { retry_in: Duration },
    /// The server closed with a code that says not to reconnect automatically
    /// (see `chinwag_proto::close`); call [`Client::reconnect`](crate::Client::reconnect).
    ClosedByServer { code: u16, reason: String },
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
    Reconnecting { attempt: u32, retry_in: Duration },
    /// Not trying (for now); see the reason.
    Offline(OfflineReason),
}

/// How a (re)connection caught up, from the server's `resumed` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Everything missed was replayed (conversations the replay cut short are being completed
    /// from `history`): the local state is whole.
    Recovered { replayed: u64 },
    /// Some conversations could not be resumed (the user is no longer a member): they were
    /// dropped from the cache; reload the conversation list.
    Resynced { replayed: u64, unavailable: Vec<ConversationId> },
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
        conversation_id: ConversationId,
        user_id: UserId,
        delivered_seq: Seq,
        read_seq: Seq,
    },
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        typing: bool,
    },
    Presence(UserPresence),
    /// The user's draft changed on another device, or sending cleared it.
    Draft {
        conversation_id: ConversationId,
        draft: DraftState,
    },
    /// A conversation the user is in was created or joined (or learned on resume).
    Conversation(Box<Conversation>),
    MemberAdded {
        conversation_id: ConversationId,
        member: Member,
    },
    MemberUpdated {
        conversation_id: ConversationId,
        member: Member,
    },
    MemberRemoved {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    /// The user's read position moved (on any of their devices).
    ReadUpdated {
        conversation_id: ConversationId,
        read_seq: Seq,
        unread: u64,
    },
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
