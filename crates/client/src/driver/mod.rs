//! The driver: one task per client that owns the socket. It connects, authenticates with a
//! resume request, replays the outbox, reads frames into events, pings, and reconnects with
//! backoff when the connection ends, following the server's close code.
//!
//! `run` (here) is the loop over connections; the rest is one module per part of their life:
//! - `connection`: the token, the socket and the `auth`/`authed` handshake; why a session ends.
//! - `session`: the loop of one open connection and what it writes after every step.
//! - `commands`: what the handles ask, and the replies to their requests.
//! - `incoming`: server frames into events, and messages through the cache.
//! - `replay`: outbox entries on the wire (in order, in flight, acknowledged, failed);
//!   `rate` paces them under the server's request rate.
//! - `gap_fill`: history pages that close a gap in a conversation's `seq`s.
//! - `receipts`: `received` frames out, delivered/read states of own messages in.
//! - `resume`: the positions a resume sends, the `resumed` reply, saving positions.
//! - `ping`: pings, latency and quality; `refresh`: a new token before the current expires.
//!
//! Request ids tell replies apart: `o:<key>` an outbox entry, `r:<n>` an application request,
//! `g:<n>` a history page that fills a gap, `p:<n>` a ping, `d:<n>` a delivery receipt.

mod commands;
mod connection;
mod gap_fill;
mod incoming;
mod ping;
mod rate;
mod receipts;
mod refresh;
mod replay;
mod resume;
mod session;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chinwag_proto::close::{CloseCode, Reconnect};
use chinwag_proto::frames::{ClientFrame, ServerFrame};
use chinwag_proto::ids::{ConversationId, Seq, UserId};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use self::connection::{End, retry_after};
use self::gap_fill::GapFills;
use self::rate::Rate;
use self::receipts::Tracker;
use self::refresh::Refresh;
use self::replay::Replay;
use crate::backoff::{Backoff, Wait};
use crate::command::Command;
use crate::error::RequestError;
use crate::events::{ConnectionState, Event, OfflineReason};
use crate::outbox::OutboxEntry;
use crate::quality::{Latency, Quality, QualityReport};
use crate::shared::Shared;
use crate::token::TokenProvider;

/// How often timers that need no precision run: delivery receipts, deadlines, saving
/// positions, and outbox entries held back by the rate limit.
const HOUSEKEEPING: Duration = Duration::from_millis(50);

pub(crate) struct Driver {
    url: String,
    tokens: Box<dyn TokenProvider>,
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
    /// Bounded (`event_capacity`); a full buffer makes the driver wait (see `Events`).
    events: mpsc::Sender<Event>,
    backoff: Backoff,
    /// The outbox file's entries in memory, with what the file cannot know: which of them are
    /// in flight on this connection.
    replay: Replay,
    /// Own messages by `seq`, so that receipts, which name only watermarks, become states of
    /// `client_msg_id`s.
    tracker: Tracker,
    /// The authenticated user: messages and receipts of this user's own devices say nothing
    /// about delivery.
    me: Option<UserId>,
    /// A connection is up and authenticated: only then may a gap fill go out.
    authed: bool,
    /// The last number given to a request id; never reused, so a reply names one request.
    next_id: u64,
    /// Frames to write before any outbox entry: requests, pings, receipts. Emptied after every
    /// step of the session loop, and each step adds at most one frame per conversation, so it
    /// stays small; cleared when a connection ends.
    out: VecDeque<String>,
    /// Requests waiting for their reply; at most `MAX_PENDING_REQUESTS` (more are refused with
    /// `RequestError::TooMany`), all failed with `Disconnected` when the connection ends.
    requests: HashMap<String, oneshot::Sender<Result<ServerFrame, RequestError>>>,
    gaps: GapFills,
    /// Highest `seq` received per conversation since the last `received` was sent.
    received: HashMap<ConversationId, Seq>,
    /// Pings not yet answered, by number, with when each was sent.
    pings: BTreeMap<u64, Instant>,
    latency: Latency,
    /// The quality last announced: an event goes out only when the category changes.
    last_quality: Quality,
    /// Positions moved since they were last written to the state file.
    positions_dirty: bool,
    /// When they were last written. Writes are spaced by `SAVE_POSITIONS_EVERY`, not one per
    /// message; the price: after a crash, the first resume may hand out that window again.
    positions_saved: Instant,
    /// Under the `requests_per_second` of the last `authed`.
    rate: Rate,
    refresh: Refresh,
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
            replay: Replay::default(),
            tracker: Tracker::default(),
            me: None,
            authed: false,
            next_id: 0,
            out: VecDeque::new(),
            requests: HashMap::new(),
            gaps: GapFills::default(),
            received: HashMap::new(),
            pings: BTreeMap::new(),
            latency: Latency::new(alpha),
            last_quality: Quality::Offline,
            positions_dirty: false,
            positions_saved: Instant::now(),
            rate: Rate::new(100),
            refresh: Refresh::default(),
            stop,
        }
    }

    pub(crate) async fn run(mut self, entries: Vec<OutboxEntry>) {
        for e in entries {
            self.replay.admit(e);
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
                    self.refresh.token_refused();
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
                            self.refresh.token_refused();
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

    /// Between connections: everything in flight is unanswered; requests fail.
    async fn after_session(&mut self) {
        self.authed = false;
        self.replay.disconnected();
        self.out.clear();
        self.pings.clear();
        self.gaps.clear();
        self.received.clear();
        self.refresh.disconnected();
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

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}:{}", self.next_id)
    }

    async fn set_state(&mut self, state: ConnectionState) {
        self.shared.state.send_replace(state.clone());
        self.emit(Event::Connection(state)).await;
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

/// How a wait between connections ended.
enum Idle {
    Elapsed,
    Reconnect,
    Stop,
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
