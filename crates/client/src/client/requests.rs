//! Requests: what needs a connection and waits for one reply (typing, history, presence,
//! drafts). Not queued: without a connection they fail at once.

use chinwag_proto::commands::{GetHistory, QueryPresence, SaveDraft, SetTyping};
use chinwag_proto::frames::{ClientFrame, DraftState, ServerFrame, UserPresence};
use chinwag_proto::ids::{ConversationId, Seq, UserId};
use chinwag_proto::model::Message;
use tokio::sync::oneshot;

use super::Client;
use crate::command::Command;
use crate::error::RequestError;
use crate::shared::lock;

/// A typing start is repeated no more often than this per conversation.
const TYPING_REPEAT: std::time::Duration = std::time::Duration::from_millis(2_500);

/// A page of history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// In ascending `seq`.
    pub messages: Vec<Message>,
    /// More messages exist beyond this page in the direction asked.
    pub has_more: bool,
}

/// Which page of history to fetch; `seq` bounds are exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Messages before this `seq` (the page next to it).
    pub before: Option<Seq>,
    /// Messages after this `seq`.
    pub after: Option<Seq>,
    /// Page size (the server's default when `None`, at most `max_page_size`).
    pub limit: Option<u32>,
}

impl Client {
    /// Start (`true`) or stop typing. Call it on every keystroke: a start is sent at most once
    /// per 2.5 s per conversation (the server keeps it for `typing_ttl_ms`, 5 s by default), and
    /// a throttled call returns `Ok` at once. A stop is always sent. Needs a connection: typing
    /// is not worth queueing.
    pub async fn typing(
        &self,
        conversation_id: impl Into<ConversationId>,
        typing: bool,
    ) -> Result<(), RequestError> {
        let conversation_id = conversation_id.into();
        {
            let mut sent = lock(&self.shared.typing);
            let now = tokio::time::Instant::now();
            if !typing {
                sent.remove(&conversation_id);
            } else if sent.get(&conversation_id).is_some_and(|t| now - *t < TYPING_REPEAT) {
                return Ok(());
            }
        }
        let frame =
            ClientFrame::new(None, SetTyping { conversation_id: conversation_id.clone(), typing });
        let result = match self.request(frame).await? {
            ServerFrame::Ok { .. } => Ok(()),
            other => Err(unexpected(&other)),
        };
        if typing && result.is_ok() {
            let mut sent = lock(&self.shared.typing);
            let now = tokio::time::Instant::now();
            // Bounded: starts older than the repeat interval are useless, drop them.
            sent.retain(|_, t| now - *t < TYPING_REPEAT);
            sent.insert(conversation_id, now);
        }
        result
    }

    /// A page of history from the server.
    ///
    /// ```no_run
    /// # async fn run(client: chinwag_client::Client) -> Result<(), chinwag_client::RequestError> {
    /// use chinwag_client::HistoryQuery;
    ///
    /// // The newest page, then the one before it.
    /// let newest = client.history("01J9Z...", HistoryQuery::default()).await?;
    /// if let (true, Some(first)) = (newest.has_more, newest.messages.first()) {
    ///     let query = HistoryQuery { before: Some(first.seq), ..HistoryQuery::default() };
    ///     let older = client.history("01J9Z...", query).await?;
    ///     println!("{} older messages", older.messages.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn history(
        &self,
        conversation_id: impl Into<ConversationId>,
        query: HistoryQuery,
    ) -> Result<HistoryPage, RequestError> {
        if query.before.is_some() && query.after.is_some() {
            return Err(RequestError::Invalid("give at most one of before and after".into()));
        }
        let frame = ClientFrame::new(
            None,
            GetHistory {
                conversation_id: conversation_id.into(),
                before: query.before,
                after: query.after,
                limit: query.limit,
            },
        );
        match self.request(frame).await? {
            ServerFrame::History { messages, has_more, .. } => {
                Ok(HistoryPage { messages, has_more })
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Online state and last seen of users who share a conversation with you.
    pub async fn presence(&self, users: Vec<UserId>) -> Result<Vec<UserPresence>, RequestError> {
        match self.request(ClientFrame::new(None, QueryPresence { users })).await? {
            ServerFrame::PresenceState { users, .. } => Ok(users),
            other => Err(unexpected(&other)),
        }
    }

    /// Save a draft edited from `version`; a stale version is `RequestError::Server` with code
    /// `conflict` and the current draft in `current`.
    pub async fn save_draft(
        &self,
        conversation_id: impl Into<ConversationId>,
        version: u64,
        body: impl Into<String>,
    ) -> Result<DraftState, RequestError> {
        let frame = ClientFrame::new(
            None,
            SaveDraft { conversation_id: conversation_id.into(), version, body: body.into() },
        );
        match self.request(frame).await? {
            ServerFrame::DraftSaved { draft, .. } => Ok(draft),
            other => Err(unexpected(&other)),
        }
    }

    async fn request(&self, frame: ClientFrame) -> Result<ServerFrame, RequestError> {
        let (tx, rx) = oneshot::channel();
        let asked = async {
            self.cmd
                .send(Command::Request { frame, reply: tx })
                .await
                .map_err(|_| RequestError::Closed)?;
            rx.await.map_err(|_| RequestError::Disconnected)?
        };
        // The whole request, queueing included, is bounded: a driver held up by an
        // application that does not read its events makes it time out, not hang.
        match tokio::time::timeout(self.shared.config.request_timeout, asked).await {
            Err(_) => Err(RequestError::Timeout),
            Ok(reply) => reply,
        }
    }
}

fn unexpected(frame: &ServerFrame) -> RequestError {
    // Error replies are turned into `RequestError::Server` by the driver; anything else here is
    // a reply of the wrong type.
    let ty = serde_json::to_value(frame)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
    RequestError::UnexpectedReply(ty.unwrap_or_default())
}
