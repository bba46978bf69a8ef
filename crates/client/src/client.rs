//! The cloneable handle. It writes outgoing changes to the outbox itself (so a send is durable
//! before the call returns), then tells the driver task, which owns the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chinwag_proto::frames::{ClientFrame, DraftState, ServerFrame, UserPresence};
use chinwag_proto::ids::{ClientMsgId, ConversationId, Millis, Seq, UserId};
use chinwag_proto::model::{Message, UserInfo};
use tokio::sync::{mpsc, oneshot, watch};

use crate::backoff::{Backoff, Jitter};
use crate::cache::{CacheError, CacheStats, HistoryCache};
use crate::clock::now_millis;
use crate::command::{COMMAND_CAPACITY, Command};
use crate::config::ClientConfig;
use crate::driver::Driver;
use crate::error::{ClientError, RequestError, SendError};
use crate::events::{ConnectionState, Events, MessageState};
use crate::outbox::{Outbox, OutboxEntry, Priority};
use crate::quality::QualityReport;
use crate::shared::{Shared, lock};
use crate::token::TokenProvider;

/// Largest `client_msg_id` the server accepts, in bytes.
const MAX_CLIENT_MSG_ID: usize = 256;
/// The server's default `max_body_bytes`, used until `authed` tells the real limit.
const DEFAULT_MAX_BODY: usize = 65_536;
/// A typing start is repeated no more often than this per conversation.
const TYPING_REPEAT: std::time::Duration = std::time::Duration::from_millis(2_500);

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

/// A Chinwag connection: cheap to clone, usable from any task.
///
/// One driver task per client owns the socket; handles talk to it over a bounded channel.
/// Dropping every handle (or [`Client::close`]) stops the driver; whatever is in the outbox
/// stays in the state file for the next start.
///
/// ```no_run
/// use chinwag_client::{Client, ClientConfig, Event};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ClientConfig { state_path: Some("alice.db".into()), ..ClientConfig::default() };
/// let (client, mut events) =
///     Client::connect_with("ws://127.0.0.1:8080/v1/ws", String::from("<token>"), config).await?;
/// client.send("01J9Z...", "Is the bike still for sale?").await?;
/// while let Some(event) = events.next().await {
///     match event {
///         Event::Message(m) => println!("{}: {}", m.sender, m.body),
///         Event::MessageState(s) => println!("{} is {}", s.client_msg_id, s.state.as_str()),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    cmd: mpsc::Sender<Command>,
}

impl Client {
    /// Start a client with the default configuration (in-memory outbox). Returns at once: the
    /// connection is made in the background, and sends are queued until it is up.
    pub async fn connect(
        url: impl Into<String>,
        tokens: impl TokenProvider,
    ) -> Result<(Client, Events), ClientError> {
        Self::connect_with(url, tokens, ClientConfig::default()).await
    }

    /// Start a client with `config`. Opens (or creates) the state file and re-queues whatever
    /// it holds, with the same `client_msg_id`s.
    pub async fn connect_with(
        url: impl Into<String>,
        tokens: impl TokenProvider,
        config: ClientConfig,
    ) -> Result<(Client, Events), ClientError> {
        let url = url.into();
        if !(url.starts_with("ws://") && url.len() > "ws://".len()) {
            return Err(ClientError::InvalidUrl {
                url,
                reason: "expected ws://host:port/v1/ws".into(),
            });
        }
        config.validate().map_err(ClientError::Config)?;
        let path = config.state_path.clone();
        let capacity = config.outbox_capacity;
        let (outbox, entries, positions) = tokio::task::spawn_blocking(move || {
            let outbox = match &path {
                Some(p) => Outbox::open(p, capacity)?,
                None => Outbox::in_memory(capacity)?,
            };
            let entries = outbox.entries()?;
            let positions = outbox.load_positions()?;
            Ok::<_, ClientError>((outbox, entries, positions))
        })
        .await
        .map_err(|e| ClientError::Config(format!("opening the state file: {e}")))??;

        let mut cache = HistoryCache::new(config.cache.clone());
        for p in positions.0 {
            cache.set_position(p.conversation_id, p.seq);
        }
        if let Some(c) = positions.1 {
            cache.set_cursor(c);
        }
        let seed = config.backoff_seed.unwrap_or_else(Jitter::entropy_seed);
        let backoff = Backoff::new(config.backoff.clone(), seed);
        // Bounded: when the application does not keep up, the driver waits for room (and stops
        // reading the socket meanwhile); see `Events`.
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
        let shared = Arc::new(Shared {
            outbox: Mutex::new(outbox),
            cache: Mutex::new(cache),
            state: watch::Sender::new(ConnectionState::Connecting),
            quality: watch::Sender::new(QualityReport::OFFLINE),
            session: Mutex::new(None),
            typing: Mutex::new(HashMap::new()),
            reload: AtomicBool::new(false),
            reconnect: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            stopped: watch::Sender::new(false),
            config,
        });
        let driver = Driver::new(url, Box::new(tokens), shared.clone(), cmd_rx, events_tx, backoff);
        tokio::spawn(driver.run(entries));
        Ok((Client { shared, cmd: cmd_tx }, Events { rx: events_rx }))
    }

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
        let frame = ClientFrame::Send {
            id: None,
            conversation_id: m.conversation_id.clone(),
            client_msg_id: client_msg_id.clone(),
            kind: m.kind,
            body: m.body,
            payload: m.payload,
            reply_to: m.reply_to,
        };
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
        let frame = ClientFrame::Edit {
            id: None,
            conversation_id: conversation_id.clone(),
            seq,
            client_msg_id: key.clone(),
            body,
        };
        self.enqueue(key, conversation_id, frame).await
    }

    /// Delete a message for everyone (queued in the outbox like a send).
    pub async fn delete(
        &self,
        conversation_id: impl Into<ConversationId>,
        seq: Seq,
    ) -> Result<Outgoing, SendError> {
        let (conversation_id, key) = (conversation_id.into(), new_client_msg_id());
        let frame = ClientFrame::Delete {
            id: None,
            conversation_id: conversation_id.clone(),
            seq,
            client_msg_id: key.clone(),
        };
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
        let frame = ClientFrame::React {
            id: None,
            conversation_id: conversation_id.clone(),
            seq,
            client_msg_id: key.clone(),
            emoji,
            add,
        };
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
        let frame = ClientFrame::Read { id: None, conversation_id: conversation_id.clone(), seq };
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
            ClientFrame::Typing { id: None, conversation_id: conversation_id.clone(), typing };
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
        let frame = ClientFrame::History {
            id: None,
            conversation_id: conversation_id.into(),
            before: query.before,
            after: query.after,
            limit: query.limit,
        };
        match self.request(frame).await? {
            ServerFrame::History { messages, has_more, .. } => {
                Ok(HistoryPage { messages, has_more })
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Online state and last seen of users who share a conversation with you.
    pub async fn presence(&self, users: Vec<UserId>) -> Result<Vec<UserPresence>, RequestError> {
        match self.request(ClientFrame::Presence { id: None, users }).await? {
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
        let frame = ClientFrame::Draft {
            id: None,
            conversation_id: conversation_id.into(),
            version,
            body: body.into(),
        };
        match self.request(frame).await? {
            ServerFrame::DraftSaved { draft, .. } => Ok(draft),
            other => Err(unexpected(&other)),
        }
    }

    /// The connection's current state.
    pub fn connection_state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// A receiver of connection states, for waiting on a change.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// The current quality and smoothed round trip.
    pub fn quality(&self) -> QualityReport {
        *self.shared.quality.borrow()
    }

    /// The authenticated user, once connected.
    pub fn user(&self) -> Option<UserInfo> {
        lock(&self.shared.session).as_ref().map(|s| s.user.clone())
    }

    /// Cached messages of a conversation, in `seq` order.
    pub fn cached_messages(&self, conversation_id: &ConversationId) -> Vec<Message> {
        lock(&self.shared.cache).messages(conversation_id)
    }

    /// The highest gapless `seq` this device holds for a conversation.
    pub fn position(&self, conversation_id: &ConversationId) -> Option<Seq> {
        lock(&self.shared.cache).position(conversation_id)
    }

    /// Sizes and counters of the local history cache.
    pub fn cache_stats(&self) -> CacheStats {
        lock(&self.shared.cache).stats()
    }

    /// The cache (positions, cursor, messages) as JSON.
    pub fn export_cache(&self) -> String {
        lock(&self.shared.cache).export_json()
    }

    /// Replace the cache with an export. Takes effect for the next resume; positions only move
    /// forward in the state file.
    pub fn import_cache(&self, json: &str) -> Result<(), CacheError> {
        let cache = HistoryCache::import_json(self.shared.config.cache.clone(), json)?;
        *lock(&self.shared.cache) = cache;
        Ok(())
    }

    /// Connect now: leaves the offline state (open breaker, or a close that said not to
    /// reconnect) and restarts the backoff.
    pub async fn reconnect(&self) -> Result<(), SendError> {
        match self.cmd.try_send(Command::Reconnect) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.reconnect.store(true, Ordering::Release);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Close the connection (code 1000) and stop the driver. The outbox stays in the state file.
    pub async fn close(&self) {
        self.shared.stop.send_replace(true);
        let mut stopped = self.shared.stopped.subscribe();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            // The driver is gone already.
            _ = self.cmd.closed() => {}
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
        match self.cmd.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.reload.store(true, Ordering::Release);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
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

fn unexpected(frame: &ServerFrame) -> RequestError {
    // Error replies are turned into `RequestError::Server` by the driver; anything else here is
    // a reply of the wrong type.
    let ty = serde_json::to_value(frame)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
    RequestError::UnexpectedReply(ty.unwrap_or_default())
}

/// A fresh `client_msg_id`: a ULID (time-ordered, unique without coordination).
pub fn new_client_msg_id() -> ClientMsgId {
    ClientMsgId::new(ulid::Ulid::new().to_string())
}
