//! What the handles and the driver both hold: the state file, the cache, the latest published
//! states, and the flags by which a handle still reaches the driver when the command channel is
//! full.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};

use chinwag_proto::frames::ConnectionLimits;
use chinwag_proto::ids::ConversationId;
use chinwag_proto::model::UserInfo;
use tokio::sync::watch;

use crate::cache::HistoryCache;
use crate::config::ClientConfig;
use crate::events::ConnectionState;
use crate::outbox::Outbox;
use crate::quality::QualityReport;

/// State shared by the handles and the driver. Every lock is a std mutex held for a few
/// statements and never across `.await` (SQLite calls from handles run on the blocking pool).
#[derive(Debug)]
pub(crate) struct Shared {
    /// The state file. Handles write new entries into it themselves, so that a send is durable
    /// before it returns, whatever the driver is busy with; the driver removes what the server
    /// acknowledged and saves the resume positions.
    pub(crate) outbox: Mutex<Outbox>,
    /// Filled by the driver as messages arrive; handles read it (cached messages, positions,
    /// export) without a round trip through the driver.
    pub(crate) cache: Mutex<HistoryCache>,
    /// The latest connection state, readable at any time; the driver also emits every change
    /// as an event, which an application may not have read yet.
    pub(crate) state: watch::Sender<ConnectionState>,
    /// The latest quality and round trip; events announce only changes of the category.
    pub(crate) quality: watch::Sender<QualityReport>,
    /// From the last `authed`: handles check a body against the server's limit before it goes
    /// into the outbox, where a refusal would only show up much later.
    pub(crate) session: Mutex<Option<SessionInfo>>,
    /// When a typing start was last sent, per conversation (entries older than the repeat
    /// interval are dropped on every insert).
    pub(crate) typing: Mutex<HashMap<ConversationId, tokio::time::Instant>>,
    /// Set when a new outbox entry could not be announced (command channel full): the driver
    /// reloads the outbox file at its next housekeeping tick.
    pub(crate) reload: AtomicBool,
    /// Set when `reconnect` could not be announced: the driver reconnects at its next tick.
    pub(crate) reconnect: AtomicBool,
    /// Set by `Client::close`; the driver stops at the next await, whatever it waits for.
    pub(crate) stop: watch::Sender<bool>,
    /// Set by the driver when it has stopped.
    pub(crate) stopped: watch::Sender<bool>,
    pub(crate) config: ClientConfig,
}

/// What the server told the current (or last) connection in `authed`.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) user: UserInfo,
    pub(crate) limits: ConnectionLimits,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-changed in a way
    // that matters more than stopping the client, so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
