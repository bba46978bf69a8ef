//! Services: every operation a client or the app's backend can ask for, behind one authorization
//! check each. WebSocket sessions, REST handlers and the server API all call these, so a rule is
//! written once.

mod accounts;
mod conversations;
mod live;
mod members;
mod messages;
mod resume;

use std::collections::HashMap;
use std::sync::Arc;

use chinwag_broker::presence::Presence;
use chinwag_broker::{Broker, Event, EventKind, Topic};
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::{ConversationId, TenantId, UserId};
use chinwag_proto::model::{Message, Role};
use chinwag_store::Store;
use parking_lot::Mutex;

use crate::auth::{Authenticator, Principal};
use crate::error::{ServiceError, ServiceResult};
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::rate::UserRateLimiter;
use crate::typing::Typing;
use crate::wire::encode_event;

pub use chinwag_store::{Amended, Appended, Change, Receipt};
pub use conversations::to_conversation;
pub use resume::{ResumeItem, ResumePlan};

type Roster = Arc<HashMap<UserId, Role>>;

/// Everything a request handler needs. Cloned as `Arc<Services>`.
///
/// The backends are private: transports attach devices through [`crate::attach`] and apply
/// requests through [`crate::commands`], so every rule lives behind a method here.
pub struct Services {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    /// Requests per second per user, over all of the user's devices and REST calls.
    user_rate: UserRateLimiter,
    pub(crate) presence: Arc<dyn Presence>,
    pub(crate) typing: Typing,
    /// Password attempts per username (register and login), so that guessing is slow.
    password_rate: UserRateLimiter,
    /// Password hashes computed at once: argon2 is deliberately expensive, and a flood of logins
    /// must not take every core from message traffic. Waiters queue on the semaphore.
    hashing: tokio::sync::Semaphore,
    /// Members and roles per conversation, so that authorizing a send costs no query. Bounded by
    /// `ROSTER_CACHE_CAPACITY`; invalidated by every membership change made through this node.
    rosters: Mutex<HashMap<(TenantId, ConversationId), Roster>>,
}

const ROSTER_CACHE_CAPACITY: usize = 100_000;
/// Sustained password attempts per username (burst: twice this).
const PASSWORD_ATTEMPTS_PER_SECOND: u32 = 2;
const CONCURRENT_PASSWORD_HASHES: usize = 2;

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl Services {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn Presence>,
        hub: Arc<Hub>,
        auth: Arc<Authenticator>,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            user_rate: UserRateLimiter::new(limits.user_requests_per_second, 100_000),
            typing: Typing::new(std::time::Duration::from_millis(limits.typing_ttl_ms)),
            presence,
            password_rate: UserRateLimiter::new(PASSWORD_ATTEMPTS_PER_SECOND, 100_000),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_PASSWORD_HASHES),
            store,
            broker,
            hub,
            auth,
            limits,
            metrics,
            rosters: Mutex::new(HashMap::new()),
        }
    }

    /// The limits this node enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The node's metrics (rendered at `/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Token, API key and origin checks.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// The storage backend, for the admin commands and tests that inspect what was stored.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether storage answers (`/readyz`).
    pub async fn check_store(&self) -> ServiceResult<()> {
        Ok(self.store.ping().await?)
    }

    /// Whether events from other nodes reach this one now (always, on one node).
    pub fn broker_healthy(&self) -> bool {
        self.broker.healthy()
    }

    /// Number of devices `user` has attached to this node.
    pub fn device_count(&self, tenant: &TenantId, user: &UserId) -> usize {
        self.hub.device_count(tenant, user)
    }

    /// The per-user rate limit, shared by WebSocket and REST.
    pub fn check_user_rate(&self, who: &Principal) -> ServiceResult<()> {
        self.user_rate
            .check(&who.tenant, &who.user)
            .map_err(|wait| ServiceError::rate_limited(wait.as_millis().max(1) as u64))
    }

    /// The roster of a conversation, from cache or store. `NotFound` if it does not exist in the
    /// tenant.
    async fn roster(&self, tenant: &TenantId, id: &ConversationId) -> ServiceResult<Roster> {
        let key = (tenant.clone(), id.clone());
        if let Some(r) = self.rosters.lock().get(&key) {
            return Ok(r.clone());
        }
        let record = self
            .store
            .conversation(tenant, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such conversation"))?;
        let roster: Roster =
            Arc::new(record.members.into_iter().map(|m| (m.user_id, m.role)).collect());
        let mut cache = self.rosters.lock();
        if cache.len() >= ROSTER_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, roster.clone());
        Ok(roster)
    }

    fn forget_roster(&self, tenant: &TenantId, id: &ConversationId) {
        self.rosters.lock().remove(&(tenant.clone(), id.clone()));
    }

    /// The caller's role in a conversation. Non-members get `NotFound`, the same answer as for a
    /// conversation that does not exist, so that ids cannot be probed (G6).
    pub async fn role_of(&self, who: &Principal, id: &ConversationId) -> ServiceResult<Role> {
        self.check_id("conversation_id", id.as_str())?;
        let roster = self.roster(&who.tenant, id).await?;
        roster
            .get(&who.user)
            .copied()
            .ok_or_else(|| ServiceError::not_found("no such conversation"))
    }

    fn check_id(&self, what: &str, value: &str) -> ServiceResult<()> {
        if value.is_empty() {
            return Err(ServiceError::invalid(format!("`{what}` must not be empty")));
        }
        if value.len() > self.limits.max_id_bytes {
            return Err(ServiceError::too_large(format!(
                "`{what}` is longer than {} bytes",
                self.limits.max_id_bytes
            )));
        }
        Ok(())
    }

    fn publish(&self, topic: Topic, kind: EventKind, frame: &ServerFrame) {
        self.broker.publish(Event { topic, kind, skip_user: None, payload: encode_event(frame) });
    }

    /// A retry found `message` already stored. Between nodes, the attempt that stored it may
    /// have committed without its node publishing it (the connection to the database broke
    /// during the commit, or the node died right after): publish it again. Hubs that already
    /// delivered it drop it by its seq. On one node every commit is published, so nothing is.
    pub(crate) fn republish(&self, tenant: &TenantId, message: &Message) {
        if !self.broker.may_reorder() {
            return;
        }
        let topic = Topic::Conversation(tenant.clone(), message.conversation_id.clone());
        let frame = ServerFrame::Message { message: message.clone() };
        self.publish(topic, EventKind::Message { seq: message.seq }, &frame);
    }
}
