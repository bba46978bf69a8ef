//! Typing indicators that expire on the server: a client that crashes mid-sentence never leaves
//! "is typing…" behind.
//!
//! State per `(tenant, conversation, user)`: when the indicator lapses. Only transitions are
//! published (start once, stop once); refreshes just move the expiry, which keeps fan-out
//! throttled however often a client repeats `typing: true`. A sweeper calls [`Typing::expire`].

use std::collections::HashMap;
use std::time::Duration;

use chinwag_proto::ids::{ConversationId, TenantId, UserId};
use parking_lot::Mutex;
use tokio::time::Instant;

type Key = (TenantId, ConversationId, UserId);

/// What a call changed, to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypingChange {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub user: UserId,
    pub typing: bool,
}

#[derive(Debug)]
pub struct Typing {
    ttl: Duration,
    /// Bounded by users × conversations they type in at once; entries leave on stop or expiry.
    until: Mutex<HashMap<Key, Instant>>,
}

impl Typing {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, until: Mutex::new(HashMap::new()) }
    }

    /// `typing: true` or `false` from a client; returns the change to publish, if any.
    pub fn set(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        typing: bool,
    ) -> Option<TypingChange> {
        let key = (tenant.clone(), conversation.clone(), user.clone());
        let mut until = self.until.lock();
        let changed = if typing {
            until.insert(key, Instant::now() + self.ttl).is_none()
        } else {
            until.remove(&key).is_some()
        };
        changed.then(|| TypingChange {
            tenant: tenant.clone(),
            conversation: conversation.clone(),
            user: user.clone(),
            typing,
        })
    }

    /// Indicators whose time is up, now stopped.
    pub fn expire(&self) -> Vec<TypingChange> {
        let now = Instant::now();
        let mut out = Vec::new();
        self.until.lock().retain(|(tenant, conversation, user), at| {
            let alive = *at > now;
            if !alive {
                out.push(TypingChange {
                    tenant: tenant.clone(),
                    conversation: conversation.clone(),
                    user: user.clone(),
                    typing: false,
                });
            }
            alive
        });
        out
    }

    /// How often the sweeper should look: a fifth of the lifetime, so an indicator outlives its
    /// last refresh by at most 20 %.
    pub fn sweep_interval(&self) -> Duration {
        (self.ttl / 5).max(Duration::from_millis(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn starts_once_refreshes_silently_and_expires() {
        let t = Typing::new(Duration::from_secs(5));
        let (tenant, c, u) = (TenantId::from("t"), ConversationId::from("c"), UserId::from("u"));
        assert!(t.set(&tenant, &c, &u, true).is_some_and(|ch| ch.typing), "start is published");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(t.set(&tenant, &c, &u, true), None, "a refresh is not");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(t.expire().is_empty(), "refreshed 4 s ago: still typing");
        tokio::time::advance(Duration::from_secs(2)).await;
        let gone = t.expire();
        assert_eq!(gone.len(), 1);
        assert!(!gone[0].typing);
        assert_eq!(t.set(&tenant, &c, &u, false), None, "stopping twice publishes nothing");
        t.set(&tenant, &c, &u, true);
        assert!(t.set(&tenant, &c, &u, false).is_some_and(|ch| !ch.typing));
    }
}
