//! Replaying the outbox. Entries go out control first, then in insertion order, with the same
//! `client_msg_id` on every attempt (G2), within `max_in_flight`; an entry leaves the outbox
//! file only when the server acknowledged it (G1). One that the server refused, or that passed
//! its deadline, waits as failed until the application retries or discards it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use chinwag_proto::error::{ErrorBody, ErrorCode};
use chinwag_proto::frames::ClientFrame;
use chinwag_proto::frames::Request;
use chinwag_proto::ids::Seq;
use tokio::time::Instant;

use super::connection::{End, advised};
use super::{Driver, with_id};
use crate::clock::now_millis;
use crate::command::Command;
use crate::events::{Event, MessageState, MessageStatus, describe};
use crate::outbox::{OutboxEntry, Priority};
use crate::shared::lock;

/// Acknowledged outbox entries remembered against late announcements.
const RECENT_ACKS: usize = 4_096;

/// The outbox entries the driver knows of, and where each stands on the current connection.
#[derive(Debug, Default)]
pub(super) struct Replay {
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
    /// The newest row number per key in `recent_acks`, to look one up without a scan.
    recent_index: HashMap<String, i64>,
    /// After a retryable refusal (`rate_limited`, `unavailable`), outbox sends pause until then.
    paused_until: Option<Instant>,
}

impl Replay {
    /// Put an entry into the queue (or the failed set), replacing one with the same key.
    pub(super) fn admit(&mut self, entry: OutboxEntry) {
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
    pub(super) fn known(&self, entry: &OutboxEntry) -> bool {
        let n = entry.n;
        self.keys.get(&entry.key).is_some_and(|(_, m)| *m >= n)
            || self.failed.get(&entry.key).is_some_and(|f| f.n >= n)
            || self.recent_index.get(&entry.key).is_some_and(|m| *m >= n)
    }

    /// The application removed the entry from the outbox file.
    pub(super) fn discard(&mut self, key: &str) {
        if let Some(pos) = self.keys.remove(key) {
            self.queue.remove(&pos);
        }
        self.failed.remove(key);
        self.in_flight.remove(key);
    }

    pub(super) fn paused(&self) -> bool {
        self.paused_until.is_some_and(|t| Instant::now() < t)
    }

    /// How many more entries may be sent before answers come back.
    pub(super) fn room(&self, max_in_flight: usize) -> usize {
        max_in_flight.saturating_sub(self.in_flight.len())
    }

    /// The next `budget` entries not in flight, in order, as frames with their request ids.
    pub(super) fn unsent(&self, budget: usize) -> Vec<(String, String)> {
        self.queue
            .values()
            .filter(|e| !self.in_flight.contains(&e.key))
            .take(budget)
            .map(|e| (e.key.clone(), with_id(&e.frame, &format!("o:{}", e.key))))
            .collect()
    }

    pub(super) fn sent(&mut self, key: String) {
        self.in_flight.insert(key);
    }

    /// Nothing sent on the connection that ended will be answered, and its pause is over.
    pub(super) fn disconnected(&mut self) {
        self.in_flight.clear();
        self.paused_until = None;
    }

    /// An acknowledged entry leaves: from the queue, or from the failed set when its deadline
    /// passed while it was in flight.
    fn take_acked(&mut self, key: &str) -> Option<OutboxEntry> {
        self.in_flight.remove(key);
        match self.keys.remove(key) {
            Some(pos) => self.queue.remove(&pos),
            None => self.failed.remove(key),
        }
    }

    fn remember_ack(&mut self, entry: &OutboxEntry) {
        self.recent_index.insert(entry.key.clone(), entry.n);
        self.recent_acks.push_back((entry.key.clone(), entry.n));
        while self.recent_acks.len() > RECENT_ACKS {
            if let Some((k, n)) = self.recent_acks.pop_front()
                && self.recent_index.get(&k) == Some(&n)
            {
                self.recent_index.remove(&k);
            }
        }
    }
}

impl Driver {
    /// An entry to send, new or retried; a chat entry is announced as sending.
    pub(super) async fn queued(&mut self, entry: OutboxEntry) {
        let status = (entry.priority == Priority::Chat).then(|| MessageStatus {
            client_msg_id: entry.key.as_str().into(),
            conversation_id: entry.conversation_id.clone(),
            state: MessageState::Sending,
            seq: None,
            error: None,
        });
        self.replay.admit(entry);
        if let Some(status) = status {
            self.emit(Event::MessageState(status)).await;
        }
    }

    /// An outbox entry was acknowledged: it is durable on the server.
    pub(super) async fn acked(&mut self, key: &str, seq: Option<Seq>) {
        let entry = self.replay.take_acked(key);
        let removed = lock(&self.shared.outbox).remove(key);
        if let Err(e) = removed {
            self.emit(Event::Error(format!("outbox: {e}"))).await;
        }
        let Some(entry) = entry else { return };
        self.replay.remember_ack(&entry);
        if entry.priority == Priority::Control {
            return;
        }
        if let (Some(seq), ClientFrame { request: Request::Send(_), .. }) = (seq, &entry.frame) {
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

    /// The server refused an outbox entry: a passing refusal pauses the sends, a bad token
    /// ends the session, anything else fails the entry.
    pub(super) async fn refused(&mut self, key: &str, error: ErrorBody) -> Option<End> {
        self.replay.in_flight.remove(key);
        match error.code {
            ErrorCode::TokenExpired | ErrorCode::Unauthenticated => {
                return Some(End::BadToken);
            }
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Internal => {
                let wait = error.retry_after_ms.map(advised);
                let wait = wait.unwrap_or(Duration::from_secs(1));
                self.replay.paused_until = Some(Instant::now() + wait);
            }
            _ => self.fail(key, describe(&error)).await,
        }
        None
    }

    async fn fail(&mut self, key: &str, error: String) {
        let Some(pos) = self.replay.keys.remove(key) else { return };
        let Some(mut entry) = self.replay.queue.remove(&pos) else { return };
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
        self.replay.failed.insert(key.to_owned(), entry);
        if status.client_msg_id.as_str().starts_with("read:") {
            return;
        }
        self.emit(Event::MessageState(status)).await;
    }

    /// Entries past their deadline become `failed`.
    pub(super) async fn expire(&mut self) {
        let now = now_millis();
        let expired: Vec<String> = self
            .replay
            .queue
            .values()
            .filter(|e| e.deadline_at <= now)
            .map(|e| e.key.clone())
            .collect();
        for key in expired {
            self.fail(&key, "not acknowledged before the send deadline".into()).await;
        }
    }

    /// Bring the queue in line with the outbox file, which handles changed without being able
    /// to tell (their command channel was full): new entries are admitted, retried ones leave
    /// the failed set, discarded ones go.
    pub(super) async fn reload(&mut self) {
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
            .replay
            .keys
            .keys()
            .chain(self.replay.failed.keys())
            .filter(|k| !in_file.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.on_command(Command::Discarded(key), false).await;
        }
        for e in entries {
            let retried = !e.failed && self.replay.failed.contains_key(&e.key);
            if retried {
                self.on_command(Command::Retry(e), false).await;
            } else {
                self.on_command(Command::Enqueued(e), false).await;
            }
        }
    }
}
