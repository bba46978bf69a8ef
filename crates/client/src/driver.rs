//! The driver: one task per client that owns the socket. It connects, authenticates with a
//! resume request, replays the outbox, reads frames into events, pings, and reconnects with
//! backoff when the connection ends, following the server's close code.
//!
//! Request ids tell replies apart: `o:<key>` an outbox entry, `r:<n>` an application request,
//! `g:<n>` a history page that fills a gap, `p:<n>` a ping, `d:<n>` a delivery receipt.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chinwag_proto::close::{CloseCode, Reconnect};
use chinwag_proto::error::{ErrorBody, ErrorCode};
use chinwag_proto::frames::{ClientFrame, ResumeRequest, ResumedConversation, ServerFrame};
use chinwag_proto::ids::{ConversationId, Millis, Seq, UserId};
use chinwag_proto::model::{LIFECYCLE_KINDS, Message};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

use crate::backoff::{Backoff, Wait};
use crate::clock::now_millis;
use crate::command::Command;
use crate::config::StartFrom;
use crate::error::RequestError;
use crate::events::{
    ConnectionState, Event, MessageState, MessageStatus, OfflineReason, Recovery, describe,
};
use crate::outbox::{OutboxEntry, Priority};
use crate::quality::{Latency, Quality, QualityReport};
use crate::shared::{SessionInfo, Shared, lock};
use crate::token::{BoxFuture, TokenError, TokenProvider};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How often timers that need no precision run: delivery receipts, deadlines, saving
/// positions, and outbox entries held back by the rate limit.
const HOUSEKEEPING: Duration = Duration::from_millis(50);
/// Positions are written to the state file at most this often.
const SAVE_POSITIONS_EVERY: Duration = Duration::from_millis(500);
/// Own messages whose delivered/read state is followed; the oldest are forgotten past this.
const TRACKED_MAX: usize = 10_000;
/// The longest delay a server's `retry_after_ms` can impose (10 minutes).
const MAX_ADVICE_MS: u64 = 600_000;
/// Token lifetimes beyond this (30 days) are treated as this, for scheduling the refresh.
const MAX_TOKEN_LIFE_MS: i64 = 30 * 24 * 3_600_000;
/// Acknowledged outbox entries remembered against late announcements.
const RECENT_ACKS: usize = 4_096;
/// Application requests waiting for a reply on one connection.
const MAX_PENDING_REQUESTS: usize = 1_024;

/// Why a session (or an attempt at one) ended.
#[derive(Debug)]
enum End {
    /// The server closed the socket with a code.
    Closed { code: u16, reason: String },
    /// The connection broke, timed out, or could not be made.
    Lost(String),
    /// The server said the token expired or was refused.
    BadToken,
    /// The application asked to reconnect now.
    Reconnect,
    /// The application closed the client (or dropped every handle).
    Stop,
}

/// Sent messages whose delivered/read state is still followed, per conversation by `seq`.
#[derive(Debug, Default)]
struct Tracker {
    by_conversation: HashMap<ConversationId, BTreeMap<Seq, (String, MessageState)>>,
    len: usize,
}

impl Tracker {
    fn track(&mut self, conversation: &ConversationId, seq: Seq, key: String) {
        let map = self.by_conversation.entry(conversation.clone()).or_default();
        if map.insert(seq, (key, MessageState::Sent)).is_none() {
            self.len += 1;
        }
        while self.len > TRACKED_MAX {
            let Some(map) = self.by_conversation.values_mut().find(|m| !m.is_empty()) else {
                break;
            };
            map.pop_first();
            self.len -= 1;
        }
    }

    /// Another member's watermarks moved: the own messages that became delivered or read.
    fn receipt(
        &mut self,
        conversation: &ConversationId,
        delivered: Seq,
        read: Seq,
    ) -> Vec<MessageStatus> {
        let Some(map) = self.by_conversation.get_mut(conversation) else { return Vec::new() };
        let mut changed = Vec::new();
        for (seq, (key, state)) in map.range_mut(..=delivered.max(read)) {
            let next = if *seq <= read { MessageState::Read } else { MessageState::Delivered };
            if next > *state {
                *state = next;
                changed.push(MessageStatus {
                    client_msg_id: key.as_str().into(),
                    conversation_id: conversation.clone(),
                    state: next,
                    seq: Some(*seq),
                    error: None,
                });
            }
        }
        let before = map.len();
        map.retain(|_, (_, s)| *s != MessageState::Read);
        self.len -= before - map.len();
        changed
    }
}

/// A token bucket under the server's announced `requests_per_second`, so that replaying a
/// large outbox does not run into `rate_limited`.
#[derive(Debug)]
struct Rate {
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Rate {
    fn new(per_sec: u32) -> Self {
        // Stay a little under the limit: the server also counts our pings and receipts.
        let per_sec = (f64::from(per_sec) * 0.9).max(1.0);
        Self { per_sec, tokens: per_sec, last: Instant::now() }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.per_sec);
        self.last = now;
    }
}

pub(crate) struct Driver {
    url: String,
    tokens: Box<dyn TokenProvider>,
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
    /// Bounded (`event_capacity`); a full buffer makes the driver wait (see `Events`).
    events: mpsc::Sender<Event>,
    backoff: Backoff,
    /// Outbox entries waiting to be acknowledged, control first, then in insertion order.
    queue: BTreeMap<(Reverse<Priority>, i64), OutboxEntry>,
    /// Key → position in `queue`.
    keys: HashMap<String, (Reverse<Priority>, i64)>,
    /// Keys sent on this connection and not yet answered.
    in_flight: HashSet<String>,
    /// Failed entries (deadline passed or refused), kept until retried or discarded.
    failed: HashMap<String, OutboxEntry>,
    /// Entries acknowledged lately (key → row number), so that a late announcement of an entry
    /// that a reload already sent is not sent again. At most `RECENT_ACKS`, oldest out first.
    recent_acks: VecDeque<(String, i64)>,
    recent_index: HashMap<String, i64>,
    /// After a retryable refusal (`rate_limited`, `unavailable`), outbox sends pause until then.
    paused_until: Option<Instant>,
    tracker: Tracker,
    me: Option<UserId>,
    authed: bool,
    next_id: u64,
    /// Frames to write before any outbox entry: requests, pings, receipts. Emptied after every
    /// step of the session loop, and each step adds at most one frame per conversation, so it
    /// stays small; cleared when a connection ends.
    out: VecDeque<String>,
    /// Requests waiting for their reply; at most `MAX_PENDING_REQUESTS` (more are refused with
    /// `RequestError::TooMany`), all failed with `Disconnected` when the connection ends.
    requests: HashMap<String, oneshot::Sender<Result<ServerFrame, RequestError>>>,
    gap_fills: HashMap<String, ConversationId>,
    filling: HashSet<ConversationId>,
    /// Highest `seq` received per conversation since the last `received` was sent.
    received: HashMap<ConversationId, Seq>,
    pings: BTreeMap<u64, Instant>,
    latency: Latency,
    last_quality: Quality,
    positions_dirty: bool,
    positions_saved: Instant,
    rate: Rate,
    refresh_token: bool,
    /// The current token's expiry, from `authed`; refreshed on the connection before it.
    expires_at: Option<Millis>,
    /// A token being fetched for a refresh on the open connection.
    refreshing: Option<BoxFuture<Result<String, TokenError>>>,
    /// Set by `Client::close`: every wait of the driver ends on it.
    stop: watch::Receiver<bool>,
}

impl Driver {
    pub(crate) fn new(
        url: String,
        tokens: Box<dyn TokenProvider>,
        shared: Arc<Shared>,
        cmd_rx: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        backoff: Backoff,
    ) -> Self {
        let alpha = shared.config.latency_alpha;
        let stop = shared.stop.subscribe();
        Self {
            url,
            tokens,
            shared,
            cmd_rx,
            events,
            backoff,
            queue: BTreeMap::new(),
            keys: HashMap::new(),
            in_flight: HashSet::new(),
            failed: HashMap::new(),
            paused_until: None,
            recent_acks: VecDeque::new(),
            recent_index: HashMap::new(),
            tracker: Tracker::default(),
            me: None,
            authed: false,
            next_id: 0,
            out: VecDeque::new(),
            requests: HashMap::new(),
            gap_fills: HashMap::new(),
            filling: HashSet::new(),
            received: HashMap::new(),
            pings: BTreeMap::new(),
            latency: Latency::new(alpha),
            last_quality: Quality::Offline,
            positions_dirty: false,
            positions_saved: Instant::now(),
            rate: Rate::new(100),
            refresh_token: false,
            expires_at: None,
            refreshing: None,
            stop,
        }
    }

    pub(crate) async fn run(mut self, entries: Vec<OutboxEntry>) {
        for e in entries {
            self.admit(e);
        }
        self.set_state(ConnectionState::Connecting).await;
        loop {
            if *self.stop.borrow() {
                break;
            }
            let mut stop = self.stop.clone();
            let connected = tokio::select! {
                c = self.connect() => c,
                _ = stopped(&mut stop) => Err(End::Stop),
            };
            let end = match connected {
                Ok(ws) => {
                    self.backoff.succeeded();
                    self.session(ws).await
                }
                Err(end) => end,
            };
            self.after_session().await;
            let advice = match end {
                End::Stop => break,
                End::Reconnect => {
                    self.backoff.succeeded();
                    continue;
                }
                End::BadToken => {
                    self.refresh_token = true;
                    None
                }
                End::Lost(reason) => {
                    tracing::debug!(%reason, "connection lost");
                    None
                }
                End::Closed { code, reason } => {
                    let advice = retry_after(&reason);
                    match CloseCode::from_code(code).map(|c| c.reconnect) {
                        Some(Reconnect::Never) => {
                            let offline = OfflineReason::ClosedByServer { code, reason };
                            self.set_state(ConnectionState::Offline(offline)).await;
                            match self.idle(None).await {
                                Idle::Stop => break,
                                Idle::Elapsed | Idle::Reconnect => {
                                    self.backoff.succeeded();
                                    continue;
                                }
                            }
                        }
                        Some(Reconnect::WithNewToken) => {
                            self.refresh_token = true;
                            advice
                        }
                        _ => advice,
                    }
                }
            };
            let wait = self.backoff.next(advice);
            let state = match wait {
                Wait::Retry { attempt, delay } => {
                    ConnectionState::Reconnecting { attempt, retry_in: delay }
                }
                Wait::BreakerOpen { delay, .. } => {
                    ConnectionState::Offline(OfflineReason::BreakerOpen { retry_in: delay })
                }
            };
            self.set_state(state).await;
            match self.idle(Some(wait.delay())).await {
                Idle::Stop => break,
                Idle::Reconnect => self.backoff.succeeded(),
                Idle::Elapsed => {}
            }
        }
        self.save_positions(true);
        self.set_state(ConnectionState::Offline(OfflineReason::Closed)).await;
        self.shared.stopped.send_replace(true);
    }

    /// Open the socket, authenticate with a resume request, and wait for `authed`.
    async fn connect(&mut self) -> Result<Ws, End> {
        let timeout = self.shared.config.connect_timeout;
        let deadline = Instant::now() + timeout;
        let token =
            match tokio::time::timeout_at(deadline, self.tokens.token(self.refresh_token)).await {
                Err(_) => return Err(End::Lost("the token provider timed out".into())),
                Ok(Err(e)) => return Err(End::Lost(e.to_string())),
                Ok(Ok(t)) => t,
            };
        let connect = tokio_tungstenite::connect_async_with_config(self.url.as_str(), None, true);
        let mut ws = match tokio::time::timeout_at(deadline, connect).await {
            Err(_) => return Err(End::Lost("connect timed out".into())),
            Ok(Err(e)) => return Err(End::Lost(format!("connect: {e}"))),
            Ok(Ok((ws, _))) => ws,
        };
        let auth = ClientFrame::Auth {
            id: Some("auth".into()),
            token,
            resume: Some(self.resume_request()),
        };
        let text = serde_json::to_string(&auth).unwrap_or_default();
        if let Err(e) = ws.send(WsMessage::text(text)).await {
            return Err(End::Lost(format!("sending auth: {e}")));
        }
        loop {
            let next = match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return Err(End::Lost("no authed reply in time".into())),
                Ok(n) => n,
            };
            match next {
                Some(Ok(WsMessage::Text(t))) => {
                    match serde_json::from_str::<ServerFrame>(t.as_str()) {
                        Ok(ServerFrame::Authed { user, limits, expires_at, .. }) => {
                            self.refresh_token = false;
                            self.expires_at = expires_at;
                            self.me = Some(user.id.clone());
                            self.rate = Rate::new(limits.requests_per_second);
                            *lock(&self.shared.session) = Some(SessionInfo { user, limits });
                            return Ok(ws);
                        }
                        Ok(ServerFrame::Error { error, .. }) => {
                            if matches!(
                                error.code,
                                ErrorCode::TokenExpired | ErrorCode::Unauthenticated
                            ) {
                                return Err(End::BadToken);
                            }
                            self.emit(Event::Error(describe(&error))).await;
                            return Err(End::Lost(describe(&error)));
                        }
                        _ => {}
                    }
                }
                Some(Ok(WsMessage::Close(f))) => return Err(closed(f)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(End::Lost(e.to_string())),
                None => return Err(End::Lost("closed before authed".into())),
            }
        }
    }

    fn resume_request(&self) -> ResumeRequest {
        let cache = lock(&self.shared.cache);
        let positions = cache.positions();
        let since = match (cache.cursor(), self.shared.config.start_from) {
            (Some(c), _) => Some(c),
            (None, StartFrom::Everything) => Some(0),
            (None, StartFrom::Now) => None,
        };
        ResumeRequest { positions, since }
    }

    async fn session(&mut self, ws: Ws) -> End {
        self.authed = true;
        self.set_state(ConnectionState::Connected).await;
        self.latency.reset();
        self.update_quality(QualityReport { quality: Quality::Excellent, rtt: None }).await;
        let (mut sink, mut stream) = ws.split();
        let every = self.shared.config.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Err(e) = self.write(&mut sink).await {
            return End::Lost(e.to_string());
        }
        loop {
            let refresh_at = self.refresh_at();
            let mut stop = self.stop.clone();
            let end = tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(WsMessage::Text(t))) => self.on_frame(t.as_str()).await,
                    Some(Ok(WsMessage::Close(f))) => Some(closed(f)),
                    Some(Ok(WsMessage::Binary(_))) => {
                        self.emit(Event::Error("the server sent a binary frame; ignored".into())).await;
                        None
                    }
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some(End::Lost(e.to_string())),
                    None => Some(End::Lost("the connection closed".into())),
                },
                cmd = self.cmd_rx.recv() => match cmd {
                    None => Some(End::Stop),
                    Some(cmd) => self.on_command(cmd, true).await,
                },
                _ = tokio::time::sleep_until(refresh_at), if self.refreshing.is_none() && self.expires_at.is_some() => {
                    self.refreshing = Some(self.tokens.token(true));
                    // Asked again only if this refresh fails (see below).
                    self.expires_at = None;
                    None
                }
                token = refreshed(&mut self.refreshing), if self.refreshing.is_some() => {
                    self.refreshing = None;
                    match token {
                        Ok(token) => {
                            let frame = ClientFrame::Auth { id: None, token, resume: None };
                            self.out.push_back(with_id(&frame, "auth-refresh"));
                        }
                        Err(e) => {
                            // The server will close with 4003 at expiry; the reconnect asks again.
                            self.emit(Event::Error(format!("token refresh: {e}"))).await;
                        }
                    }
                    None
                }
                _ = ping.tick() => self.ping().await,
                _ = housekeeping.tick() => {
                    self.housekeeping().await;
                    None
                }
                _ = stopped(&mut stop) => Some(End::Stop),
            };
            if let Some(end) = end {
                if matches!(end, End::Stop | End::Reconnect) {
                    let frame = CloseFrame { code: WsCloseCode::Normal, reason: "".into() };
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        sink.send(WsMessage::Close(Some(frame))),
                    )
                    .await;
                }
                return end;
            }
            if let Err(e) = self.write(&mut sink).await {
                return End::Lost(e.to_string());
            }
        }
    }

    /// Write queued frames, then outbox entries within the in-flight window and the rate.
    async fn write<S>(&mut self, sink: &mut S) -> Result<(), tokio_tungstenite::tungstenite::Error>
    where
        S: Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        let mut wrote = false;
        self.rate.refill();
        while let Some(text) = self.out.pop_front() {
            self.rate.tokens -= 1.0;
            sink.feed(WsMessage::text(text)).await?;
            wrote = true;
        }
        let paused = self.paused_until.is_some_and(|t| Instant::now() < t);
        let room = self.shared.config.max_in_flight.saturating_sub(self.in_flight.len());
        if !paused && room > 0 && self.rate.tokens >= 1.0 {
            let budget = room.min(self.rate.tokens as usize);
            let batch: Vec<(String, String)> = self
                .queue
                .values()
                .filter(|e| !self.in_flight.contains(&e.key))
                .take(budget)
                .map(|e| (e.key.clone(), with_id(&e.frame, &format!("o:{}", e.key))))
                .collect();
            for (key, text) in batch {
                self.rate.tokens -= 1.0;
                sink.feed(WsMessage::text(text)).await?;
                self.in_flight.insert(key);
                wrote = true;
            }
        }
        if wrote {
            sink.flush().await?;
        }
        Ok(())
    }

    async fn on_frame(&mut self, text: &str) -> Option<End> {
        let frame: ServerFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                // New frame types may be added within a protocol version: not fatal.
                self.emit(Event::Error(format!("unreadable server frame: {e}"))).await;
                return None;
            }
        };
        match frame {
            ServerFrame::Ack { message, .. } => {
                let key = message.client_msg_id.as_str().to_owned();
                self.acked(&key, Some(message.seq)).await;
            }
            ServerFrame::Amended { id, event, .. } => {
                if let Some(key) = id_str(id.as_ref()).and_then(|s| s.strip_prefix("o:")) {
                    let key = key.to_owned();
                    self.acked(&key, event.map(|e| e.seq)).await;
                }
            }
            ServerFrame::Ok { id } => {
                let id = id_str(id.as_ref())?;
                if let Some(key) = id.strip_prefix("o:") {
                    let key = key.to_owned();
                    self.acked(&key, None).await;
                } else {
                    let id = id.to_owned();
                    self.reply(&id, ServerFrame::Ok { id: None });
                }
            }
            ServerFrame::Error { id, error } => {
                return self.on_error(id_str(id.as_ref()), error).await;
            }
            ServerFrame::Message { message } => self.on_message(message).await,
            ServerFrame::History { id, conversation_id, messages, has_more } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                if let Some(conversation) = self.gap_fills.remove(&id) {
                    self.filling.remove(&conversation);
                    for m in messages {
                        self.on_message(m).await;
                    }
                    if has_more {
                        let position =
                            lock(&self.shared.cache).position(&conversation).unwrap_or(0);
                        self.fill_gap(conversation, position);
                    }
                } else {
                    self.reply(
                        &id,
                        ServerFrame::History { id: None, conversation_id, messages, has_more },
                    );
                }
            }
            ServerFrame::Resumed { conversations, unavailable, cursor, .. } => {
                self.on_resumed(conversations, unavailable, cursor).await;
            }
            ServerFrame::Pong { id, .. } => {
                let n = id_str(id.as_ref())
                    .and_then(|s| s.strip_prefix("p:"))
                    .and_then(|n| n.parse().ok());
                if let Some(sent) = n.and_then(|n: u64| self.pings.remove(&n)) {
                    // Pongs come back in order: older pings still waiting were answered too late
                    // to matter; their delay is in this sample.
                    self.pings.retain(|&k, _| k > n.unwrap_or(0));
                    let rtt = sent.elapsed();
                    self.latency.record(rtt);
                    let report = self.latency.report();
                    self.update_quality(report).await;
                }
            }
            ServerFrame::Authed { user, limits, expires_at, .. } => {
                // The reply to a token refresh on this connection.
                self.expires_at = expires_at;
                *lock(&self.shared.session) = Some(SessionInfo { user, limits });
            }
            ServerFrame::DraftSaved { id, conversation_id, draft } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                self.reply(&id, ServerFrame::DraftSaved { id: None, conversation_id, draft });
            }
            ServerFrame::PresenceState { id, users } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                self.reply(&id, ServerFrame::PresenceState { id: None, users });
            }
            ServerFrame::Receipt { conversation_id, user_id, delivered_seq, read_seq } => {
                if self.me.as_ref() != Some(&user_id) {
                    for status in self.tracker.receipt(&conversation_id, delivered_seq, read_seq) {
                        self.emit(Event::MessageState(status)).await;
                    }
                }
                self.emit(Event::Receipt { conversation_id, user_id, delivered_seq, read_seq })
                    .await;
            }
            ServerFrame::Typing { conversation_id, user_id, typing } => {
                self.emit(Event::Typing { conversation_id, user_id, typing }).await;
            }
            ServerFrame::Presence(p) => self.emit(Event::Presence(p)).await,
            ServerFrame::Draft { conversation_id, draft } => {
                self.emit(Event::Draft { conversation_id, draft }).await;
            }
            ServerFrame::Conversation { conversation } => {
                {
                    // Known from now on: listed in the next resume (so that leaving it is
                    // reported as `unavailable`). With `Everything` its messages follow from
                    // seq 1; with `Now` only what comes after its current last message.
                    let mut cache = lock(&self.shared.cache);
                    if cache.position(&conversation.id).is_none() {
                        let start = match self.shared.config.start_from {
                            StartFrom::Everything => 0,
                            StartFrom::Now => conversation.last_seq,
                        };
                        cache.set_position(conversation.id.clone(), start);
                    }
                }
                self.positions_dirty = true;
                self.emit(Event::Conversation(Box::new(conversation))).await;
            }
            ServerFrame::MemberAdded { conversation_id, member } => {
                self.emit(Event::MemberAdded { conversation_id, member }).await;
            }
            ServerFrame::MemberUpdated { conversation_id, member } => {
                self.emit(Event::MemberUpdated { conversation_id, member }).await;
            }
            ServerFrame::MemberRemoved { conversation_id, user_id } => {
                if self.me.as_ref() == Some(&user_id) {
                    lock(&self.shared.cache).forget(&conversation_id);
                    let _ = lock(&self.shared.outbox).forget_position(&conversation_id);
                }
                self.emit(Event::MemberRemoved { conversation_id, user_id }).await;
            }
            ServerFrame::ReadUpdated { conversation_id, read_seq, unread } => {
                self.emit(Event::ReadUpdated { conversation_id, read_seq, unread }).await;
            }
        }
        None
    }

    async fn on_error(&mut self, id: Option<&str>, error: ErrorBody) -> Option<End> {
        let id = id.map(str::to_owned);
        match id.as_deref() {
            Some(id) if id.starts_with("o:") => {
                let key = &id[2..];
                self.in_flight.remove(key);
                match error.code {
                    ErrorCode::TokenExpired | ErrorCode::Unauthenticated => {
                        return Some(End::BadToken);
                    }
                    ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Internal => {
                        let wait = error.retry_after_ms.map(advised);
                        let wait = wait.unwrap_or(Duration::from_secs(1));
                        self.paused_until = Some(Instant::now() + wait);
                    }
                    _ => self.fail(key, describe(&error)).await,
                }
            }
            Some(id) if id.starts_with("r:") => {
                if let Some(tx) = self.requests.remove(id) {
                    let _ = tx.send(Err(RequestError::Server(error)));
                }
            }
            Some(id) if id.starts_with("g:") => {
                // The gap stays; the next message past it asks again.
                if let Some(c) = self.gap_fills.remove(id) {
                    self.filling.remove(&c);
                }
                self.emit(Event::Error(describe(&error))).await;
            }
            Some(id) if id.starts_with("p:") || id.starts_with("d:") => {}
            Some("auth-refresh") => {
                // The refreshed token was refused: reconnect with another one.
                self.emit(Event::Error(describe(&error))).await;
                return Some(End::BadToken);
            }
            _ => {
                if error.code == ErrorCode::TokenExpired {
                    return Some(End::BadToken);
                }
                self.emit(Event::Error(describe(&error))).await;
            }
        }
        None
    }

    async fn on_message(&mut self, message: Message) {
        let conversation = message.conversation_id.clone();
        let accepted = {
            let mut cache = lock(&self.shared.cache);
            if self.shared.config.start_from == StartFrom::Now
                && cache.position(&conversation).is_none()
            {
                // A conversation first seen live: start from here, fetch history on demand.
                cache.set_position(conversation.clone(), message.seq.saturating_sub(1));
            }
            cache.accept(message)
        };
        if let Some(after) = accepted.missing_after {
            self.fill_gap(conversation.clone(), after);
        }
        if accepted.deliver.is_empty() {
            return;
        }
        self.positions_dirty = true;
        for m in accepted.deliver {
            if self.me.as_ref() != Some(&m.sender) {
                let r = self.received.entry(conversation.clone()).or_insert(0);
                *r = (*r).max(m.seq);
                if !LIFECYCLE_KINDS.contains(&m.kind.as_str()) {
                    // Sending moves the sender's read position to their message, and the
                    // server announces no receipt for that: everything before it is read.
                    for status in self.tracker.receipt(&conversation, m.seq, m.seq) {
                        self.emit(Event::MessageState(status)).await;
                    }
                }
            }
            self.emit(Event::Message(m)).await;
        }
    }

    fn fill_gap(&mut self, conversation: ConversationId, after: Seq) {
        if !self.authed || !self.filling.insert(conversation.clone()) {
            return;
        }
        let limit =
            lock(&self.shared.session).as_ref().map(|s| s.limits.max_page_size).unwrap_or(200);
        let id = self.id("g");
        let frame = ClientFrame::History {
            id: None,
            conversation_id: conversation.clone(),
            before: None,
            after: Some(after),
            limit: Some(limit.clamp(1, 200)),
        };
        self.out.push_back(with_id(&frame, &id));
        self.gap_fills.insert(id, conversation);
    }

    async fn on_resumed(
        &mut self,
        conversations: Vec<ResumedConversation>,
        unavailable: Vec<ConversationId>,
        cursor: Millis,
    ) {
        let mut replayed = 0;
        {
            let mut cache = lock(&self.shared.cache);
            cache.set_cursor(cursor);
            for u in &unavailable {
                cache.forget(u);
            }
        }
        for u in &unavailable {
            let _ = lock(&self.shared.outbox).forget_position(u);
        }
        for c in conversations {
            replayed += c.to_seq.saturating_sub(c.from_seq);
            if !c.complete {
                let position =
                    lock(&self.shared.cache).position(&c.conversation_id).unwrap_or(c.to_seq);
                self.fill_gap(c.conversation_id, position);
            }
        }
        self.positions_dirty = true;
        self.save_positions(true);
        let recovery = if unavailable.is_empty() {
            Recovery::Recovered { replayed }
        } else {
            Recovery::Resynced { replayed, unavailable }
        };
        self.emit(Event::Resumed(recovery)).await;
    }

    /// An outbox entry was acknowledged: it is durable on the server.
    async fn acked(&mut self, key: &str, seq: Option<Seq>) {
        self.in_flight.remove(key);
        let entry = match self.keys.remove(key) {
            Some(pos) => self.queue.remove(&pos),
            None => self.failed.remove(key),
        };
        let removed = lock(&self.shared.outbox).remove(key);
        if let Err(e) = removed {
            self.emit(Event::Error(format!("outbox: {e}"))).await;
        }
        let Some(entry) = entry else { return };
        self.recent_index.insert(entry.key.clone(), entry.n);
        self.recent_acks.push_back((entry.key.clone(), entry.n));
        while self.recent_acks.len() > RECENT_ACKS {
            if let Some((k, n)) = self.recent_acks.pop_front()
                && self.recent_index.get(&k) == Some(&n)
            {
                self.recent_index.remove(&k);
            }
        }
        if entry.priority == Priority::Control {
            return;
        }
        if let (Some(seq), ClientFrame::Send { .. }) = (seq, &entry.frame) {
            self.tracker.track(&entry.conversation_id, seq, key.to_owned());
        }
        self.emit(Event::MessageState(MessageStatus {
            client_msg_id: key.into(),
            conversation_id: entry.conversation_id,
            state: MessageState::Sent,
            seq,
            error: None,
        }))
        .await;
    }

    async fn fail(&mut self, key: &str, error: String) {
        let Some(pos) = self.keys.remove(key) else { return };
        let Some(mut entry) = self.queue.remove(&pos) else { return };
        let marked = lock(&self.shared.outbox).mark_failed(key, &error);
        if let Err(e) = marked {
            self.emit(Event::Error(format!("outbox: {e}"))).await;
        }
        entry.failed = true;
        entry.error = Some(error.clone());
        let status = MessageStatus {
            client_msg_id: key.into(),
            conversation_id: entry.conversation_id.clone(),
            state: MessageState::Failed,
            seq: None,
            error: Some(error),
        };
        self.failed.insert(key.to_owned(), entry);
        if status.client_msg_id.as_str().starts_with("read:") {
            return;
        }
        self.emit(Event::MessageState(status)).await;
    }

    /// Put an entry into the queue (or the failed set), replacing one with the same key.
    fn admit(&mut self, entry: OutboxEntry) {
        if let Some(pos) = self.keys.remove(&entry.key) {
            self.queue.remove(&pos);
            self.in_flight.remove(&entry.key);
        }
        self.failed.remove(&entry.key);
        if entry.failed {
            self.failed.insert(entry.key.clone(), entry);
        } else {
            let pos = (Reverse(entry.priority), entry.n);
            self.keys.insert(entry.key.clone(), pos);
            self.queue.insert(pos, entry);
        }
    }

    /// Whether this entry (or a newer one with its key) was admitted already: announced twice
    /// (by its command and by a reload), or sent and acknowledged in between.
    fn known(&self, entry: &OutboxEntry) -> bool {
        let n = entry.n;
        self.keys.get(&entry.key).is_some_and(|(_, m)| *m >= n)
            || self.failed.get(&entry.key).is_some_and(|f| f.n >= n)
            || self.recent_index.get(&entry.key).is_some_and(|m| *m >= n)
    }

    /// Handle a command; `connected` says whether requests can go out now.
    async fn on_command(&mut self, cmd: Command, connected: bool) -> Option<End> {
        match cmd {
            Command::Enqueued(entry) if self.known(&entry) => {}
            Command::Enqueued(entry) | Command::Retry(entry) => {
                let status = (entry.priority == Priority::Chat).then(|| MessageStatus {
                    client_msg_id: entry.key.as_str().into(),
                    conversation_id: entry.conversation_id.clone(),
                    state: MessageState::Sending,
                    seq: None,
                    error: None,
                });
                self.admit(entry);
                if let Some(status) = status {
                    self.emit(Event::MessageState(status)).await;
                }
            }
            Command::Discarded(key) => {
                if let Some(pos) = self.keys.remove(&key) {
                    self.queue.remove(&pos);
                }
                self.failed.remove(&key);
                self.in_flight.remove(&key);
            }
            Command::Request { frame, reply } => {
                if !connected {
                    let _ = reply.send(Err(RequestError::NotConnected));
                } else if self.requests.len() >= MAX_PENDING_REQUESTS {
                    let _ = reply.send(Err(RequestError::TooMany(MAX_PENDING_REQUESTS)));
                } else {
                    let id = self.id("r");
                    self.out.push_back(with_id(&frame, &id));
                    self.requests.insert(id, reply);
                }
            }
            Command::Reconnect => return Some(End::Reconnect),
        }
        None
    }

    /// Send a ping; a connection with pings unanswered for `max_missed_pongs` intervals is dead.
    async fn ping(&mut self) -> Option<End> {
        let every = self.shared.config.ping_interval;
        let limit = every.saturating_mul(self.shared.config.max_missed_pongs.max(1));
        if let Some((_, oldest)) = self.pings.first_key_value() {
            let waiting = oldest.elapsed();
            if waiting >= limit {
                return Some(End::Lost(format!("no pong for {waiting:?}")));
            }
            // A pong that is late already says the path is slow: count it before it arrives.
            if self.latency.rtt().is_none_or(|rtt| waiting > rtt) {
                let quality = Quality::from_rtt(waiting);
                if quality > self.last_quality {
                    // The round trip is at least this long: report it as the estimate.
                    let report = QualityReport { quality, rtt: Some(waiting) };
                    self.update_quality(report).await;
                }
            }
        }
        self.next_id += 1;
        let n = self.next_id;
        self.pings.insert(n, Instant::now());
        let frame = ClientFrame::Ping { id: None, ts: Some(now_millis()) };
        self.out.push_back(with_id(&frame, &format!("p:{n}")));
        None
    }

    /// Bring the queue in line with the outbox file, which handles changed without being able
    /// to tell (their command channel was full): new entries are admitted, retried ones leave
    /// the failed set, discarded ones go.
    async fn reload(&mut self) {
        if !self.shared.reload.swap(false, Ordering::AcqRel) {
            return;
        }
        let entries = lock(&self.shared.outbox).entries();
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) => return self.emit(Event::Error(format!("outbox: {e}"))).await,
        };
        let in_file: HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
        let gone: Vec<String> = self
            .keys
            .keys()
            .chain(self.failed.keys())
            .filter(|k| !in_file.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.on_command(Command::Discarded(key), false).await;
        }
        for e in entries {
            let retried = !e.failed && self.failed.contains_key(&e.key);
            if retried {
                self.on_command(Command::Retry(e), false).await;
            } else {
                self.on_command(Command::Enqueued(e), false).await;
            }
        }
    }

    async fn housekeeping(&mut self) {
        self.reload().await;
        for (conversation_id, seq) in std::mem::take(&mut self.received) {
            let id = self.id("d");
            let frame = ClientFrame::Received { id: None, conversation_id, seq };
            self.out.push_back(with_id(&frame, &id));
        }
        self.save_positions(false);
        self.expire().await;
    }

    /// Entries past their deadline become `failed`.
    async fn expire(&mut self) {
        let now = now_millis();
        let expired: Vec<String> =
            self.queue.values().filter(|e| e.deadline_at <= now).map(|e| e.key.clone()).collect();
        for key in expired {
            self.fail(&key, "not acknowledged before the send deadline".into()).await;
        }
    }

    fn save_positions(&mut self, now: bool) {
        if !self.positions_dirty || (!now && self.positions_saved.elapsed() < SAVE_POSITIONS_EVERY)
        {
            return;
        }
        let (positions, cursor) = {
            let cache = lock(&self.shared.cache);
            (cache.positions(), cache.cursor())
        };
        // A small transaction in WAL mode without fsync: fast enough for the driver's task.
        if let Err(e) = lock(&self.shared.outbox).save_positions(&positions, cursor) {
            tracing::warn!(error = %e, "saving resume positions");
        }
        self.positions_dirty = false;
        self.positions_saved = Instant::now();
    }

    /// Between connections: everything in flight is unanswered; requests fail.
    async fn after_session(&mut self) {
        self.authed = false;
        self.in_flight.clear();
        self.out.clear();
        self.pings.clear();
        self.gap_fills.clear();
        self.filling.clear();
        self.received.clear();
        self.paused_until = None;
        self.refreshing = None;
        self.expires_at = None;
        for (_, tx) in self.requests.drain() {
            let _ = tx.send(Err(RequestError::Disconnected));
        }
        self.save_positions(true);
        self.update_quality(QualityReport::OFFLINE).await;
    }

    /// Wait `delay` (forever when `None`) while serving commands offline.
    async fn idle(&mut self, delay: Option<Duration>) -> Idle {
        let until = delay.map(|d| Instant::now() + d);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let sleep = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = sleep => return Idle::Elapsed,
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return Idle::Stop,
                    Some(cmd) => match self.on_command(cmd, false).await {
                        Some(End::Stop) => return Idle::Stop,
                        Some(_) => return Idle::Reconnect,
                        None => {}
                    },
                },
                _ = housekeeping.tick() => {
                    self.reload().await;
                    self.expire().await;
                    if self.shared.reconnect.swap(false, Ordering::AcqRel) {
                        return Idle::Reconnect;
                    }
                }
                _ = stopped(&mut stop) => return Idle::Stop,
            }
        }
    }

    /// When to refresh the token: a fifth of its remaining life (at most a minute) before it
    /// expires.
    fn refresh_at(&self) -> Instant {
        let left_ms = self
            .expires_at
            .map(|e| e.saturating_sub(now_millis()))
            .unwrap_or(0)
            .clamp(0, MAX_TOKEN_LIFE_MS);
        let margin = (left_ms / 5).min(60_000);
        Instant::now() + Duration::from_millis((left_ms - margin) as u64)
    }

    fn reply(&mut self, id: &str, frame: ServerFrame) {
        if let Some(tx) = self.requests.remove(id) {
            let _ = tx.send(Ok(frame));
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}:{}", self.next_id)
    }

    async fn set_state(&mut self, state: ConnectionState) {
        self.shared.state.send_replace(state.clone());
        self.emit(Event::Connection(state)).await;
    }

    async fn update_quality(&mut self, report: QualityReport) {
        self.shared.quality.send_replace(report);
        if report.quality != self.last_quality {
            self.last_quality = report.quality;
            self.emit(Event::Quality(report)).await;
        }
    }

    async fn emit(&mut self, event: Event) {
        // A dropped `Events` means nobody listens: the event is discarded. Once the client is
        // closing, events go out only if there is room: a closing client never waits for an
        // application that stopped reading.
        if *self.stop.borrow() {
            let _ = self.events.try_send(event);
            return;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = self.events.send(event) => {}
            _ = stopped(&mut stop) => {}
        }
    }
}

/// Resolves once `Client::close` was called (never holds the watch's lock past that).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The token being fetched for a refresh; never ready when there is none.
async fn refreshed(
    slot: &mut Option<BoxFuture<Result<String, TokenError>>>,
) -> Result<String, TokenError> {
    match slot {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

enum Idle {
    Elapsed,
    Reconnect,
    Stop,
}

fn closed(frame: Option<CloseFrame>) -> End {
    match frame {
        Some(f) => End::Closed { code: u16::from(f.code), reason: f.reason.to_string() },
        None => End::Lost("closed without a code".into()),
    }
}

/// `retry_after_ms=N` from a close reason.
fn retry_after(reason: &str) -> Option<Duration> {
    reason
        .split([' ', ';', ','])
        .find_map(|part| part.strip_prefix("retry_after_ms="))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(advised)
}

/// A server's advised delay, capped: advice is data from the network, and a delay past any
/// sensible bound (or past what a clock can add) would park the client for good.
fn advised(ms: u64) -> Duration {
    Duration::from_millis(ms.min(MAX_ADVICE_MS))
}

fn id_str(id: Option<&serde_json::Value>) -> Option<&str> {
    id.and_then(|v| v.as_str())
}

/// The frame as JSON text with its request id set.
fn with_id(frame: &ClientFrame, id: &str) -> String {
    let mut v = serde_json::to_value(frame).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), serde_json::Value::String(id.to_owned()));
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_from_the_close_reason() {
        assert_eq!(retry_after("retry_after_ms=1500"), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("draining; retry_after_ms=20"), Some(Duration::from_millis(20)));
        assert_eq!(retry_after("retry_after_ms=lots"), None);
        assert_eq!(retry_after(""), None);
        assert_eq!(
            retry_after("retry_after_ms=18446744073709551615"),
            Some(Duration::from_millis(MAX_ADVICE_MS)),
            "capped"
        );
    }

    #[test]
    fn tracker_moves_states_forward_only() {
        let mut t = Tracker::default();
        let c: ConversationId = "c".into();
        t.track(&c, 3, "a".into());
        t.track(&c, 5, "b".into());
        let s: Vec<_> = t.receipt(&c, 4, 0).into_iter().map(|s| (s.seq, s.state)).collect();
        assert_eq!(s, [(Some(3), MessageState::Delivered)]);
        assert!(t.receipt(&c, 4, 0).is_empty(), "no repeat");
        let s: Vec<_> = t.receipt(&c, 5, 5).into_iter().map(|s| (s.seq, s.state)).collect();
        assert_eq!(s, [(Some(3), MessageState::Read), (Some(5), MessageState::Read)]);
        assert_eq!(t.len, 0, "read messages are no longer followed");
    }
}
