//! The `chinwag` server as a library: configuration → backends → node → serve. The binary
//! (`main.rs`) adds the command line and signals; tests start the same server in-process.
//!
//! # Layout
//! - [`config`]: the typed configuration (file, environment, flags) and its validation.
//! - [`demo`]: demo users and conversations for `serve --demo`.
//! - [`build`] and [`run`]: pick the backends (embedded SQLite or PostgreSQL, the in-memory or
//!   Redis broker and presence), wire a node, serve it on a listener the caller bound, and shut down in order
//!   (sessions, then store).
//!
//! Only this crate picks backends.

pub mod config;
pub mod demo;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chinwag_api::{ApiOptions, AppState};
use chinwag_broker::presence::{MemoryPresence, NodeEpoch, Presence};
use chinwag_broker::redis::presence::RedisPresence;
use chinwag_broker::redis::{RedisBroker, RedisOptions};
use chinwag_broker::{Broker, MemoryBroker};
use chinwag_core::Node;
use chinwag_core::auth::{AuthConfig, Authenticator};
use chinwag_core::commit_publisher::CommitPublisher;
use chinwag_core::metrics::Metrics;
use chinwag_store::Store;
use chinwag_store::postgres::{PgOptions, PgStore};
use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// A wired node and the backends it must close on the way out.
#[derive(Debug)]
pub struct Backends {
    pub node: Node,
    pub store: StoreBackend,
    /// The Redis broker, when one is configured.
    pub redis: Option<RedisBroker>,
}

/// The store this node opened, kept to close it last.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl StoreBackend {
    /// Commits what is queued and closes.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }

    fn shared(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }
}

/// Open the store and wire a node from the configuration.
pub async fn build(config: &Config) -> anyhow::Result<Backends> {
    // This process is one node; its epoch is its start time, so leases of an earlier run of the
    // same node can be told apart (and dropped) by a shared presence backend.
    let epoch =
        NodeEpoch { node: rand::random(), epoch: chinwag_proto::clock::now_millis() as u64 };
    let metrics = Arc::new(Metrics::with_node(&epoch));
    let (redis, presence): (_, Arc<dyn Presence>) = match config.broker.url.as_str() {
        "" => (None, Arc::new(MemoryPresence::new(epoch))),
        url => {
            let options =
                RedisOptions { prefix: config.broker.prefix.clone(), ..RedisOptions::default() };
            let presence = RedisPresence::connect(url, epoch, &options)
                .await
                .map_err(|e| anyhow::anyhow!("connecting presence to Redis: {e}"))?;
            let broker = RedisBroker::connect(url, epoch.node, options)
                .await
                .map_err(|e| anyhow::anyhow!("connecting the Redis broker: {e}"))?;
            (Some(broker), Arc::new(presence))
        }
    };
    let broker: Arc<dyn Broker> = match &redis {
        Some(r) => Arc::new(r.clone()),
        None => Arc::new(MemoryBroker::new()),
    };
    let sink = Arc::new(CommitPublisher::new(broker.clone(), metrics.clone()));
    let (store, token_secret) = match config.postgres_url() {
        Some(url) => {
            let options = PgOptions {
                schema: (!config.store.schema.is_empty()).then(|| config.store.schema.clone()),
                pool_size: config.store.pool_size,
                max_batch: config.store.max_batch,
                ..PgOptions::default()
            };
            let store = Arc::new(
                PgStore::open(url, options, sink)
                    .await
                    .map_err(|e| anyhow::anyhow!("opening the PostgreSQL store: {e}"))?,
            );
            // Every node of a cluster must accept every other's tokens: a generated secret is
            // kept in the shared database, not in each node's data directory.
            let secret = match config.auth.token_secret.as_str() {
                "" => store
                    .shared_setting("token_secret", &config::generate_secret())
                    .await
                    .map_err(|e| anyhow::anyhow!("reading the shared token secret: {e}"))?,
                configured => configured.to_owned(),
            };
            (StoreBackend::Postgres(store), secret)
        }
        None => {
            let options = SqliteOptions {
                synchronous_full: config.store.synchronous_full,
                max_batch: config.store.max_batch,
                read_connections: config.store.read_connections,
                checkpoint_pages: config.store.checkpoint_pages,
                ..SqliteOptions::default()
            };
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("creating data directory {}", config.data_dir.display())
            })?;
            let store = Arc::new(SqliteStore::open(&config.data_dir, options, sink).with_context(
                || format!("opening the database in {}", config.data_dir.display()),
            )?);
            (StoreBackend::Sqlite(store), config.token_secret()?)
        }
    };
    let auth = Authenticator::new(AuthConfig { token_secret, ..config.auth.clone() })
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let node =
        Node::new(epoch, store.shared(), broker, presence, auth, config.limits.clone(), metrics);
    Ok(Backends { node, store, redis })
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
    if let Some(redis) = &backends.redis {
        redis.close().await;
    }
    tracing::info!("chinwag stopped");
    Ok(())
}
