//! The `chinwag` server as a library: configuration → backends → node → serve. The binary
//! (`main.rs`) adds the command line and signals; tests start the same server in-process.
//!
//! # Layout
//! - [`config`]: the typed configuration (file, environment, flags) and its validation.
//! - [`demo`]: demo users and conversations for `serve --demo`.
//! - [`build`] and [`run`]: pick the backends (embedded SQLite, in-memory broker and presence),
//!   wire a node, serve it on a listener the caller bound, and shut down in order (sessions,
//!   then store).
//!
//! Only this crate picks backends.

pub mod config;
pub mod demo;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chinwag_api::{ApiOptions, AppState};
use chinwag_broker::presence::{MemoryPresence, NodeEpoch, Presence};
use chinwag_broker::{Broker, MemoryBroker};
use chinwag_core::Node;
use chinwag_core::auth::{AuthConfig, Authenticator};
use chinwag_core::commit_publisher::CommitPublisher;
use chinwag_core::metrics::Metrics;
use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// A wired node and the store it must close on the way out.
#[derive(Debug)]
pub struct Backends {
    pub node: Node,
    pub store: Arc<SqliteStore>,
}

/// Open the store and wire a node from the configuration.
pub fn build(config: &Config) -> anyhow::Result<Backends> {
    // This process is one node; its epoch is its start time, so leases of an earlier run of the
    // same node can be told apart (and dropped) by a shared presence backend.
    let epoch =
        NodeEpoch { node: rand::random(), epoch: chinwag_proto::clock::now_millis() as u64 };
    let metrics = Arc::new(Metrics::with_node(&epoch));
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let sink = Arc::new(CommitPublisher::new(broker.clone(), metrics.clone()));
    let options = SqliteOptions {
        synchronous_full: config.store.synchronous_full,
        max_batch: config.store.max_batch,
        read_connections: config.store.read_connections,
        checkpoint_pages: config.store.checkpoint_pages,
        ..SqliteOptions::default()
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = Arc::new(
        SqliteStore::open(&config.data_dir, options, sink)
            .with_context(|| format!("opening the database in {}", config.data_dir.display()))?,
    );
    let auth = Authenticator::new(AuthConfig {
        token_secret: config.token_secret()?,
        ..config.auth.clone()
    })
    .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let presence: Arc<dyn Presence> = Arc::new(MemoryPresence::new(epoch));
    let node =
        Node::new(epoch, store.clone(), broker, presence, auth, config.limits.clone(), metrics);
    Ok(Backends { node, store })
}

/// Serve `backends` on `listener` until `shutdown` fires; then close sessions with
/// `service_restart`, commit what is queued, checkpoint, and return.
pub async fn run(
    config: &Config,
    backends: Backends,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState {
        node: backends.node,
        options: ApiOptions {
            enable_echo: config.enable_echo,
            secure_cookies: config.secure_cookies,
        },
    };
    chinwag_api::serve(listener, state, shutdown, Duration::from_millis(config.drain_timeout_ms))
        .await
        .context("serving")?;
    backends.store.close().await;
    tracing::info!("chinwag stopped");
    Ok(())
}
