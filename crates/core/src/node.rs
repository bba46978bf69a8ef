//! A node: the services plus its lifecycle (shutdown signal and the tasks to wait for).

use std::sync::Arc;

use chinwag_broker::Broker;
use chinwag_broker::presence::{NodeEpoch, Presence};
use chinwag_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::services::Services;

/// Cheap to clone; one per server.
#[derive(Debug, Clone)]
pub struct Node {
    pub services: Arc<Services>,
    /// Which node this is: its random id and its epoch (start time), the same that its presence
    /// leases carry. Shown by `/readyz` and the `chinwag_node_info` metric.
    pub identity: NodeEpoch,
    /// Cancelled when the node starts draining: sessions close with `service_restart`.
    pub shutdown: CancellationToken,
    /// Every session task, so that shutdown can wait for them to finish their close handshakes.
    pub sessions: TaskTracker,
}

impl Node {
    /// Wire a node from its backends. The store must already have been opened with a
    /// [`crate::commit_publisher::CommitPublisher`] sink on the same `broker` and `metrics`.
    ///
    /// Must be called inside a tokio runtime: it starts the sweeper that expires typing
    /// indicators and presence leases.
    pub fn new(
        identity: NodeEpoch,
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn Presence>,
        auth: Authenticator,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let window = std::time::Duration::from_millis(limits.fanout_window_ms);
        let hub = Hub::new(
            limits.max_connections_per_user,
            window,
            limits.outbound_queue_bytes,
            metrics.clone(),
        );
        hub.use_broker(broker.clone());
        hub.use_store(store.clone());
        broker.attach(hub.clone());
        let services = Services::new(store, broker, presence, hub, Arc::new(auth), limits, metrics);
        let node = Self {
            services: Arc::new(services),
            identity,
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        };
        tokio::spawn(sweep(node.services.clone(), node.shutdown.clone()));
        node
    }

    /// Tell every session to close, and wait for them (bounded by the caller's timeout).
    pub async fn drain(&self) {
        self.shutdown.cancel();
        self.sessions.close();
        self.sessions.wait().await;
    }
}

/// Expire typing indicators and presence leases, and publish what that changed, until shutdown.
async fn sweep(services: Arc<Services>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(services.typing.sweep_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for change in services.typing.expire() {
            services.publish_typing(change);
        }
        for gone in services.presence.expire().await {
            if let Err(e) = services.presence_changed(&gone.tenant, &gone.user, false).await {
                tracing::warn!(error = %e, "could not publish an expired presence");
            }
        }
    }
}
