//! Presence by leases (G8: no ghosts).
//!
//! Every connected device holds a lease that its session renews while the peer is alive; a user
//! is online while any of their devices holds an unexpired lease. A lease is never trusted
//! forever: one that is not renewed expires (a stuck or killed session cannot leave its user
//! online), and every lease names the node and the node's epoch (its start), so a
//! scale-out implementation can drop every lease of a node that died or restarted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use chinwag_proto::ids::{DeviceId, TenantId, UserId};
use parking_lot::Mutex;

/// A node incarnation: leases of an older epoch of the same node are dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeEpoch {
    /// The node's id, chosen at random when the process starts.
    pub node: u64,
    /// When the process started (milliseconds since the Unix epoch), so that a restarted node's
    /// old leases are told apart from its new ones.
    pub epoch: u64,
}

impl NodeEpoch {
    /// The node id as it is shown (readiness, metrics, logs): 16 hex digits.
    pub fn node_id(&self) -> String {
        format!("{:016x}", self.node)
    }
}

/// A user's online state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The user's tenant.
    pub tenant: TenantId,
    /// Whose state changed.
    pub user: UserId,
    /// The new state: `true` when their first lease appeared, `false` when their last one went.
    pub online: bool,
}

/// The presence contract. A user's online state is over every node that shares the
/// implementation (on one node, that node): `connect` and `disconnect` say whether the user's
/// state changed anywhere, and each change is reported once. Implementations that talk to a
/// network service treat it as best effort: when it cannot be reached they log and answer as if
/// nothing changed, and leases expire by themselves.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// A device connected; `true` if its user just came online (had no live lease anywhere).
    async fn connect(
        &self,
        tenant: &TenantId,
        user: &UserId,
        device: DeviceId,
        ttl: Duration,
    ) -> bool;
    /// Extend a device's lease to `ttl` from now; nothing if the device holds none (any more).
    /// Does not wait (a network implementation sends it in the background).
    fn renew(&self, tenant: &TenantId, user: &UserId, device: DeviceId, ttl: Duration);
    /// A device disconnected; `true` if its user just went offline (no live lease is left).
    async fn disconnect(&self, tenant: &TenantId, user: &UserId, device: DeviceId) -> bool;
    /// Whether any device of the user holds a live lease.
    async fn is_online(&self, tenant: &TenantId, user: &UserId) -> bool;
    /// Drop expired leases; returns the users who went offline because of it, each once.
    async fn expire(&self) -> Vec<Transition>;
}

/// A user's leases: (device, expiry, the node epoch that granted it). A list, not a map: a user
/// has few devices, and one per idle connection is memory that every connection pays for.
type Leases = Vec<(DeviceId, Instant, NodeEpoch)>;

/// Single-node presence: leases in a map.
#[derive(Debug)]
pub struct MemoryPresence {
    node: NodeEpoch,
    /// Per user: device → (lease expiry, the node epoch that granted it). Bounded by the number
    /// of connected devices, which the hub bounds per user.
    leases: Mutex<HashMap<(TenantId, UserId), Leases>>,
}

impl MemoryPresence {
    /// An empty presence table for the node incarnation `node`; leases it grants carry it.
    pub fn new(node: NodeEpoch) -> Self {
        Self { node, leases: Mutex::new(HashMap::new()) }
    }

    /// A test hook and the sweeper's clock: expire as of `now`.
    pub fn expire_at(&self, now: Instant) -> Vec<Transition> {
        let mut leases = self.leases.lock();
        let mut gone = Vec::new();
        leases.retain(|(tenant, user), devices| {
            devices.retain(|(_, until, epoch)| *until > now && *epoch == self.node);
            if devices.is_empty() {
                gone.push(Transition { tenant: tenant.clone(), user: user.clone(), online: false });
                false
            } else {
                true
            }
        });
        gone
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn connect(
        &self,
        tenant: &TenantId,
        user: &UserId,
        device: DeviceId,
        ttl: Duration,
    ) -> bool {
        let now = Instant::now();
        let mut leases = self.leases.lock();
        let devices = leases.entry((tenant.clone(), user.clone())).or_default();
        let was_online = devices.iter().any(|l| l.1 > now);
        let lease = (device, now + ttl, self.node);
        match devices.iter_mut().find(|l| l.0 == device) {
            Some(existing) => *existing = lease,
            None => {
                devices.reserve_exact(1);
                devices.push(lease);
            }
        }
        !was_online
    }

    fn renew(&self, tenant: &TenantId, user: &UserId, device: DeviceId, ttl: Duration) {
        let mut leases = self.leases.lock();
        if let Some(lease) = leases
            .get_mut(&(tenant.clone(), user.clone()))
            .and_then(|d| d.iter_mut().find(|l| l.0 == device))
        {
            lease.1 = Instant::now() + ttl;
        }
    }

    async fn disconnect(&self, tenant: &TenantId, user: &UserId, device: DeviceId) -> bool {
        let mut leases = self.leases.lock();
        let key = (tenant.clone(), user.clone());
        let Some(devices) = leases.get_mut(&key) else { return false };
        let Some(at) = devices.iter().position(|l| l.0 == device) else { return false };
        devices.swap_remove(at);
        let now = Instant::now();
        devices.retain(|l| l.1 > now);
        if devices.is_empty() {
            leases.remove(&key);
            true
        } else {
            false
        }
    }

    async fn is_online(&self, tenant: &TenantId, user: &UserId) -> bool {
        let now = Instant::now();
        let leases = self.leases.lock();
        leases.get(&(tenant.clone(), user.clone())).is_some_and(|d| d.iter().any(|l| l.1 > now))
    }

    async fn expire(&self) -> Vec<Transition> {
        self.expire_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unrenewed_leases_expire_at_the_sweepers_clock() {
        let p = MemoryPresence::new(NodeEpoch { node: 1, epoch: 1 });
        let (t, u, v) = (TenantId::from("t"), UserId::from("u"), UserId::from("v"));
        p.connect(&t, &u, DeviceId(1), Duration::from_secs(5)).await;
        p.connect(&t, &v, DeviceId(2), Duration::from_secs(60)).await;
        let later = Instant::now() + Duration::from_secs(6);
        assert_eq!(
            p.expire_at(later),
            [Transition { tenant: t.clone(), user: u.clone(), online: false }]
        );
        assert!(!p.is_online(&t, &u).await && p.is_online(&t, &v).await);
        p.renew(&t, &v, DeviceId(2), Duration::from_secs(1));
        assert_eq!(p.expire_at(Instant::now() + Duration::from_secs(2)).len(), 1);
    }
}
