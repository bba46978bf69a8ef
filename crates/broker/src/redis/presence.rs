//! Presence in Redis: leases every node shares, so a user is online while any device on any
//! node holds a live lease (G8 across nodes).
//!
//! Per user a sorted set `{prefix}p:{len}:{tenant}{user}` of leases, each member
//! `{node}:{epoch}:{device}` (the node incarnation that granted it) scored by its expiry; and one
//! sorted set `{prefix}leases` of every lease by expiry, which any node's sweeper drains. Every
//! change is one Lua script, run atomically with Redis's own clock, so nodes never disagree on
//! time and each transition is reported by exactly one node: `connect` says "came online" when
//! the user had no live lease, `disconnect` says "went offline" when it took the last one (and
//! drops the user's expired ones with it), and the sweep reports users whose last lease it
//! removed. A node that dies stops renewing: its leases expire within one lease period, and
//! the next sweep on any node announces its users offline.
//!
//! Scripts touch keys they compute (a lease's user key), so this needs a standalone Redis (or
//! one primary), not Redis Cluster. Redis unreachable: calls log and answer as if nothing
//! changed; leases expire by themselves, and the connection reconnects in the background.

use std::time::Duration;

use async_trait::async_trait;
use chinwag_proto::ids::{DeviceId, TenantId, UserId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{RedisError, RedisOptions, client, probe};
use crate::presence::{NodeEpoch, Presence, Transition};

/// Redis's clock in milliseconds, as every script starts.
const NOW: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: user, all leases. ARGV: lease, ttl ms. 1 if the user had no live lease.
const CONNECT: &str = "
local ttl = tonumber(ARGV[2])
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1] .. '|' .. ARGV[1])
if live == 0 then return 1 else return 0 end
";

/// KEYS: user, all leases. ARGV: lease, ttl ms. Only a lease that is still held is extended.
const RENEW: &str = "
local ttl = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  redis.call('ZADD', KEYS[2], 'XX', now + ttl, KEYS[1] .. '|' .. ARGV[1])
end
return 0
";

/// KEYS: user, all leases. ARGV: lease. 1 if the user has no lease left.
const DISCONNECT: &str = "
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], KEYS[1] .. '|' .. ARGV[1])
if removed == 0 then return 0 end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], KEYS[1] .. '|' .. m)
end
if redis.call('ZCARD', KEYS[1]) == 0 then return 1 else return 0 end
";

/// KEYS: user. 1 if a lease is live.
const ONLINE: &str = "
if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') > 0 then return 1 else return 0 end
";

/// KEYS: all leases. ARGV: most leases per run. The user keys whose last lease went.
const EXPIRE: &str = "
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local touched = {}
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local at = string.find(m, '|[^|]*$')
  local key = string.sub(m, 1, at - 1)
  redis.call('ZREM', key, string.sub(m, at + 1))
  touched[key] = true
end
local gone = {}
for key, _ in pairs(touched) do
  if redis.call('ZCARD', key) == 0 then table.insert(gone, key) end
end
return gone
";

/// Most leases one sweep removes (the next sweep takes the rest).
const SWEEP_BATCH: usize = 10_000;

struct Scripts {
    connect: redis::Script,
    renew: redis::Script,
    disconnect: redis::Script,
    online: redis::Script,
    expire: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| redis::Script::new(&format!("{NOW}{body}"));
        Self {
            connect: s(CONNECT),
            renew: s(RENEW),
            disconnect: s(DISCONNECT),
            online: s(ONLINE),
            expire: s(EXPIRE),
        }
    }
}

/// Presence in Redis; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct RedisPresence {
    node: NodeEpoch,
    prefix: String,
    conn: ConnectionManager,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence").field("node", &self.node).finish_non_exhaustive()
    }
}

impl RedisPresence {
    /// Connects to `url` as the node incarnation `node`, with the options' prefix and timeouts.
    pub async fn connect(
        url: &str,
        node: NodeEpoch,
        options: &RedisOptions,
    ) -> Result<Self, RedisError> {
        let client = client(url, node.node)?;
        // Fail fast at start-up; the manager below retries on its own later.
        probe(&client, options).await?;
        let config = ConnectionManagerConfig::new()
            .set_min_delay(options.backoff_min)
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_max_delay(options.backoff_max);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| RedisError::Unreachable(e.to_string()))?;
        Ok(Self {
            node,
            prefix: options.prefix.clone(),
            conn,
            scripts: std::sync::Arc::new(Scripts::new()),
        })
    }

    fn user_key(&self, tenant: &TenantId, user: &UserId) -> String {
        format!("{}p:{}:{}{}", self.prefix, tenant.as_str().len(), tenant.as_str(), user.as_str())
    }

    fn all_key(&self) -> String {
        format!("{}leases", self.prefix)
    }

    fn lease(&self, device: DeviceId) -> String {
        format!("{:016x}:{}:{}", self.node.node, self.node.epoch, device.0)
    }

    /// The user a user key names (the inverse of `user_key`).
    fn user_of(&self, key: &str) -> Option<(TenantId, UserId)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("p:")?;
        let (len, rest) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        Some((TenantId::new(rest.get(..len)?), UserId::new(rest.get(len..)?)))
    }

    async fn run(&self, what: &str, invocation: redis::ScriptInvocation<'_>) -> Option<i64> {
        let mut conn = self.conn.clone();
        match invocation.invoke_async::<i64>(&mut conn).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, what, "presence in Redis not updated");
                None
            }
        }
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connect(
        &self,
        tenant: &TenantId,
        user: &UserId,
        device: DeviceId,
        ttl: Duration,
    ) -> bool {
        let mut call = self.scripts.connect.prepare_invoke();
        call.key(self.user_key(tenant, user)).key(self.all_key());
        call.arg(self.lease(device)).arg(ttl_ms(ttl));
        self.run("connect", call).await == Some(1)
    }

    fn renew(&self, tenant: &TenantId, user: &UserId, device: DeviceId, ttl: Duration) {
        let (key, all, lease) = (self.user_key(tenant, user), self.all_key(), self.lease(device));
        let this = self.clone();
        tokio::spawn(async move {
            let mut call = this.scripts.renew.prepare_invoke();
            call.key(key).key(all).arg(lease).arg(ttl_ms(ttl));
            this.run("renew", call).await;
        });
    }

    async fn disconnect(&self, tenant: &TenantId, user: &UserId, device: DeviceId) -> bool {
        let mut call = self.scripts.disconnect.prepare_invoke();
        call.key(self.user_key(tenant, user)).key(self.all_key()).arg(self.lease(device));
        self.run("disconnect", call).await == Some(1)
    }

    async fn is_online(&self, tenant: &TenantId, user: &UserId) -> bool {
        let mut call = self.scripts.online.prepare_invoke();
        call.key(self.user_key(tenant, user));
        self.run("online", call).await == Some(1)
    }

    async fn expire(&self) -> Vec<Transition> {
        let mut call = self.scripts.expire.prepare_invoke();
        call.key(self.all_key()).arg(SWEEP_BATCH);
        let mut conn = self.conn.clone();
        let gone: Vec<String> = match call.invoke_async(&mut conn).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "presence sweep in Redis failed");
                return Vec::new();
            }
        };
        gone.iter()
            .filter_map(|key| self.user_of(key))
            .map(|(tenant, user)| Transition { tenant, user, online: false })
            .collect()
    }
}
