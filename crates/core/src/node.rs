//! A node: the services plus its lifecycle (shutdown signal and the tasks to wait for).

use std::sync::Arc;

use chinwag_broker::Broker;
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
    /// Cancelled when the node starts draining: sessions close with `service_restart`.
    pub shutdown: CancellationToken,
    /// Every session task, so that shutdown can wait for them to finish their close handshakes.
    pub sessions: TaskTracker,
}

impl Node {
    /// Wire a node from its backends. The store must already have been opened with a
    /// [`crate::fanout::Fanout`] sink on the same `broker` and `metrics`.
    pub fn new(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        auth: Authenticator,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let hub = Arc::new(Hub::new(limits.max_connections_per_user, metrics.clone()));
        broker.attach(hub.clone());
        let services = Services::new(store, broker, hub, Arc::new(auth), limits, metrics);
        Self {
            services: Arc::new(services),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        }
    }

    /// Tell every session to close, and wait for them (bounded by the caller's timeout).
    pub async fn drain(&self) {
        self.shutdown.cancel();
        self.sessions.close();
        self.sessions.wait().await;
    }
}
