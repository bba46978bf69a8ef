//! Sends and the other changes that go through the outbox: checked, written to the file on the
//! blocking pool, then announced to the driver without waiting for it.

use chinwag_proto::commands::{DeleteMessage, EditMessage, MarkRead, ReactToMessage, SendMessage};
use chinwag_proto::frames::ClientFrame;
use chinwag_proto::ids::{ClientMsgId, ConversationId, Millis, Seq};

use super::Client;
use crate::clock::now_millis;
use crate::command::Command;
use crate::error::SendError;
use crate::events::MessageState;
use crate::outbox::{OutboxEntry, Priority};
use crate::shared::lock;

/// Largest `client_msg_id` the server accepts, in bytes.
const MAX_CLIENT_MSG_ID: usize = 256;
/// The server's default `max_body_bytes`, used until `authed` tells the real limit.
const DEFAULT_MAX_BODY: usize = 65_536;

/// A message to send. Build with [`NewMessage::text`] and adjust the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Where to send it.
    pub conversation_id: ConversationId,
    /// The text; may be empty when there is a `payload`.
    pub body: String,
    /// Default `text`.
    pub kind: Option<String>,
    /// App-defined JSON (an offer's amount, a card's fields).
    pub payload: Option<serde_json::Value>,
    /// The `seq` of the message this one answers.
    pub reply_to: Option<Seq>,
    /// The idempotency key; generated (a ULID) when `None`. Give your own to make a send
    /// idempotent across your own retries too.
    pub client_msg_id: Option<ClientMsgId>,
}

impl NewMessage {
    /// A plain text message.
    pub fn text(conversation_id: impl Into<ConversationId>, body: impl Into<String>) -> Self {
        Self {
            conversation_id: conversation_id.into(),
            body: body.into(),
            kind: None,
            payload: None,
            reply_to: None,
            client_msg_id: None,
        }
    }
}

/// A message accepted into the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its idempotency key, the same on every attempt.
    pub client_msg_id: ClientMsgId,
    /// Where it goes.
    pub conversation_id: ConversationId,
    /// Always `Sending`: later states arrive as [`Event::MessageState`](crate::Event::MessageState).
    pub state: MessageState,
}

impl Client {
    /// Send a text message. It is in the outbox when this returns; its states follow as
    /// events.
    pub async fn send(
        &self,
        conversation_id: impl Into<ConversationId>,
        body: impl Into<String>,
    ) -> Result<Outgoing, SendError> {
        self.send_message(NewMessage::text(conversation_id, body)).await
    }

    /// Send a message with a kind, payload, reply or chosen `client_msg_id`.
    ///
    /// ```no_run
    /// # async fn run(client: chinwag_client::Client) -> Result<(), chinwag_client::SendError> {
    /// use chinwag_client::NewMessage;
    ///
    /// let mut offer = NewMessage::text("01J9Z...", "Offer: 120 EUR");
    /// offer.kind = Some("offer".into());
    /// offer.payload = Some(serde_json::json!({"amount": 120, "currency": "EUR"}));
    /// // The app's own id makes the send idempotent across the app's own retries too.
    /// offer.client_msg_id = Some("offer-42-1".into());
    /// client.send_message(offer).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_message(&self, m: NewMessage) -> Result<Outgoing, SendError> {
        let client_msg_id = m.client_msg_id.clone().unwrap_or_else(new_client_msg_id);
        self.check_id(&client_msg_id)?;
        self.check_body(&m.body, m.payload.as_ref())?;
        if m.body.is_empty() && m.payload.is_none() {
            return Err(SendError::Invalid("a message needs a non-empty body or a payload".into()));
        }
        if let Some(kind) = &m.kind {
            let ok = !kind.is_empty()
                && kind.len() <= 64
                && kind
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.'));
            if !ok {
                return Err(SendError::Invalid(format!("kind `{kind}`: use a-z 0-9 _ - . (1-64)")));
            }
        }
        let frame = ClientFrame::new(
            None,
            SendMessage {
                conversation_id: m.conversation_id.clone(),
                client_msg_id: client_msg_id.clone(),
                kind: m.kind,
                body: m.body,
                payload: m.payload,
                reply_to: m.reply_to,
            },
        );
        self.enqueue(client_msg_id, m.conversation_id, frame).await
    }

    /// Edit one of your messages (queued in the outbox like a send).
    pub async fn edit(
        &self,
        conversation_id: impl Into<ConversationId>,
        seq: Seq,
        body: impl Into<String>,
    ) -> Result<Outgoing, SendError> {
        let (conversation_id, body, key) =
            (conversation_id.into(), body.into(), new_client_msg_id());
        self.check_body(&body, None)?;
        if body.is_empty() {
            return Err(SendError::Invalid("an edit needs a non-empty body".into()));
        }
        let frame = ClientFrame::new(
            None,
            EditMessage {
                conversation_id: conversation_id.clone(),
                seq,
                client_msg_id: key.clone(),
                body,
            },
        );
        self.enqueue(key, conversation_id, frame).await
    }

    /// Delete a message for everyone (queued in the outbox like a send).
    pub async fn delete(
        &self,
        conversation_id: impl Into<ConversationId>,
        seq: Seq,
    ) -> Result<Outgoing, SendError> {
        let (conversation_id, key) = (conversation_id.into(), new_client_msg_id());
        let frame = ClientFrame::new(
            None,
            DeleteMessage {
                conversation_id: conversation_id.clone(),
                seq,
                client_msg_id: key.clone(),
            },
        );
        self.enqueue(key, conversation_id, frame).await
    }

    /// Add or remove a reaction (queued in the outbox like a send).
    pub async fn react(
        &self,
        conversation_id: impl Into<ConversationId>,
        seq: Seq,
        emoji: impl Into<String>,
        add: bool,
    ) -> Result<Outgoing, SendError> {
        let (conversation_id, emoji, key) =
            (conversation_id.into(), emoji.into(), new_client_msg_id());
        if emoji.is_empty() || emoji.len() > 64 {
            return Err(SendError::Invalid("emoji must be 1-64 bytes".into()));
        }
        let frame = ClientFrame::new(
            None,
            ReactToMessage {
                conversation_id: conversation_id.clone(),
                seq,
                client_msg_id: key.clone(),
                emoji,
                add,
            },
        );
        self.enqueue(key, conversation_id, frame).await
    }

    /// Mark a conversation read up to `seq`. Kept in the outbox as a control entry (sent before
    /// queued messages; a newer marker replaces an older one), so it survives restarts too.
    pub async fn mark_read(
        &self,
        conversation_id: impl Into<ConversationId>,
        seq: Seq,
    ) -> Result<(), SendError> {
        let conversation_id = conversation_id.into();
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let key = format!("read:{conversation_id}");
        let frame =
            ClientFrame::new(None, MarkRead { conversation_id: conversation_id.clone(), seq });
        let (now, deadline) = self.deadline();
        let shared = self.shared.clone();
        let entry = tokio::task::spawn_blocking(move || {
            lock(&shared.outbox).upsert_control(&key, &conversation_id, &frame, now, deadline)
        })
        .await
        .map_err(|e| SendError::Storage(e.to_string()))??;
        self.notify(entry)
    }

    /// Send a failed message again, with its original `client_msg_id` (so the server stores it
    /// at most once even if the first attempt did arrive).
    pub async fn retry(&self, client_msg_id: &ClientMsgId) -> Result<(), SendError> {
        let key = client_msg_id.as_str().to_owned();
        let (_, deadline) = self.deadline();
        let shared = self.shared.clone();
        let entry = tokio::task::spawn_blocking(move || lock(&shared.outbox).retry(&key, deadline))
            .await
            .map_err(|e| SendError::Storage(e.to_string()))??;
        self.hint(Command::Retry(entry))
    }

    /// Give up on a queued or failed message: remove it from the outbox.
    pub async fn discard(&self, client_msg_id: &ClientMsgId) -> Result<(), SendError> {
        let key = client_msg_id.as_str().to_owned();
        let shared = self.shared.clone();
        let k = key.clone();
        let removed = tokio::task::spawn_blocking(move || lock(&shared.outbox).remove(&k))
            .await
            .map_err(|e| SendError::Storage(e.to_string()))??;
        if !removed {
            return Err(SendError::NotFound(key));
        }
        self.hint(Command::Discarded(key))
    }

    /// What waits in the outbox (control entries first, then messages in order).
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, SendError> {
        Ok(lock(&self.shared.outbox).entries()?)
    }

    /// Number of entries in the outbox.
    pub fn outbox_len(&self) -> usize {
        lock(&self.shared.outbox).len()
    }

    async fn enqueue(
        &self,
        key: ClientMsgId,
        conversation_id: ConversationId,
        frame: ClientFrame,
    ) -> Result<Outgoing, SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let (now, deadline) = self.deadline();
        let shared = self.shared.clone();
        let (k, c) = (key.clone(), conversation_id.clone());
        let entry = tokio::task::spawn_blocking(move || {
            lock(&shared.outbox).push(k.as_str(), &c, Priority::Chat, &frame, now, deadline)
        })
        .await
        .map_err(|e| SendError::Storage(e.to_string()))??;
        self.notify(entry)?;
        Ok(Outgoing { client_msg_id: key, conversation_id, state: MessageState::Sending })
    }

    /// Tell the driver about a new outbox entry without waiting: the entry is in the file
    /// already, so when the command channel is full the driver is only asked to reload the
    /// file. A send never waits for the driver, so an application that sends from its event
    /// loop cannot deadlock with a driver waiting for that loop to take events.
    fn notify(&self, entry: OutboxEntry) -> Result<(), SendError> {
        self.hint(Command::Enqueued(entry))
    }

    /// Send a command that only mirrors a change already in the outbox file; when the channel
    /// is full, ask the driver to reload the file instead.
    fn hint(&self, cmd: Command) -> Result<(), SendError> {
        self.tell(cmd, &self.shared.reload)
    }

    fn is_closed(&self) -> bool {
        self.cmd.is_closed() || *self.shared.stop.borrow()
    }

    fn deadline(&self) -> (Millis, Millis) {
        let now = now_millis();
        let deadline = now.saturating_add(self.shared.config.send_deadline.as_millis() as Millis);
        (now, deadline)
    }

    fn check_id(&self, id: &ClientMsgId) -> Result<(), SendError> {
        if id.as_str().is_empty() || id.as_str().len() > MAX_CLIENT_MSG_ID {
            return Err(SendError::Invalid(format!(
                "client_msg_id must be 1-{MAX_CLIENT_MSG_ID} bytes"
            )));
        }
        if id.as_str().starts_with("read:") {
            return Err(SendError::Invalid("client_msg_id may not start with `read:`".into()));
        }
        Ok(())
    }

    fn check_body(&self, body: &str, payload: Option<&serde_json::Value>) -> Result<(), SendError> {
        let max = lock(&self.shared.session)
            .as_ref()
            .map(|s| s.limits.max_body_bytes)
            .unwrap_or(DEFAULT_MAX_BODY);
        let size = body.len() + payload.map(|p| p.to_string().len()).unwrap_or(0);
        if size > max {
            return Err(SendError::Invalid(format!(
                "body and payload are {size} bytes; at most {max}"
            )));
        }
        Ok(())
    }
}

/// A fresh `client_msg_id`: a ULID (time-ordered, unique without coordination).
pub fn new_client_msg_id() -> ClientMsgId {
    ClientMsgId::new(ulid::Ulid::new().to_string())
}
