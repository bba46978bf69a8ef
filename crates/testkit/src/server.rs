//! An in-process server on an ephemeral port.

use std::net::SocketAddr;

use chinwag::config::Config;
use chinwag_core::Node;
use chinwag_core::auth::ApiKey;
use chinwag_proto::ids::TenantId;
use chinwag_store::conformance::postgres::TestSchema;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::WsClient;

/// The token secret test servers use, so that tests can also mint tokens of their own.
pub const TOKEN_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The API key of the default tenant on test servers.
pub const API_KEY: &str = "test-api-key-0123456789";

/// The variable naming the Redis server tests use (`.ci/run` sets it to the local one).
pub const REDIS_URL_VAR: &str = "TEST_CHINWAG_REDIS_URL";

/// The test Redis server's URL, if [`REDIS_URL_VAR`] is set.
pub fn redis_url() -> Option<String> {
    std::env::var(REDIS_URL_VAR).ok().filter(|u| !u.is_empty())
}

/// Whether cluster tests (PostgreSQL and Redis) run here; says so on stderr when they do not.
pub fn cluster_available() -> bool {
    let pg = chinwag_store::conformance::postgres::available();
    let redis = redis_url().is_some();
    if !redis {
        eprintln!("{REDIS_URL_VAR} is not set: cluster tests not run");
    }
    pg && redis
}

/// A [`TestServer::start_with`] tweak for load: request limits (per connection and per user) far
/// above anything a test sends.
pub fn high_request_limits(config: &mut Config) {
    config.limits.requests_per_second = 100_000;
    config.limits.user_requests_per_second = 100_000;
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub node: Node,
    pub http: reqwest::Client,
    pub config: Config,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Start with a configuration adjusted by `tweak` (limits, echo, origins…).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Self::test_config(dir.path());
        tweak(&mut config);
        let mut s = Self::start_config(config).await;
        s._dir = Some(dir);
        s
    }

    /// The configuration test servers start from.
    pub fn test_config(data_dir: &std::path::Path) -> Config {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data_dir.to_owned(),
            drain_timeout_ms: 5_000,
            ..Config::default()
        };
        config.auth.token_secret = TOKEN_SECRET.into();
        config.auth.api_keys =
            vec![ApiKey { key: API_KEY.into(), tenant: TenantId::default_tenant() }];
        config
    }

    /// A configuration whose store is `schema` on the test PostgreSQL server, with no token
    /// secret configured (the nodes of one schema generate and share one).
    pub fn postgres_config(data_dir: &std::path::Path, schema: &TestSchema) -> Config {
        let mut config = Self::test_config(data_dir);
        config.store.url = schema.url.clone();
        config.store.schema = schema.name.clone();
        config.store.pool_size = 8;
        config.auth.token_secret = String::new();
        config
    }

    /// A configuration for one node of a cluster: `schema` on the test PostgreSQL server, and
    /// the test Redis (`TEST_CHINWAG_REDIS_URL`) with channel `prefix`.
    ///
    /// # Panics
    /// If `TEST_CHINWAG_REDIS_URL` is not set: check [`cluster_available`] first.
    pub fn cluster_config(data_dir: &std::path::Path, schema: &TestSchema, prefix: &str) -> Config {
        let mut config = Self::postgres_config(data_dir, schema);
        config.broker.url = redis_url().unwrap_or_else(|| panic!("{REDIS_URL_VAR} is not set"));
        config.broker.prefix = prefix.to_owned();
        config
    }

    /// Start on an existing configuration (and data directory, which the caller keeps).
    pub async fn start_config(config: Config) -> Self {
        config.validate().expect("valid test configuration");
        let backends = chinwag::build(&config).await.expect("build server");
        let node = backends.node.clone();
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let task = {
            let (config, shutdown) = (config.clone(), shutdown.clone());
            tokio::spawn(async move { chinwag::run(&config, backends, listener, shutdown).await })
        };
        Self {
            addr,
            node,
            http: reqwest::Client::new(),
            config,
            shutdown,
            task: Some(task),
            _dir: None,
        }
    }

    /// Graceful shutdown; returns once the store is closed.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ran cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// A token for `user` in the default tenant.
    pub fn token(&self, user: &str) -> String {
        self.token_in(&TenantId::default_tenant(), user)
    }

    pub fn token_in(&self, tenant: &TenantId, user: &str) -> String {
        self.node.services.token_for(tenant, &user.into(), None).expect("token").token
    }

    /// Connect and authenticate as `user`.
    pub async fn connect(&self, user: &str) -> WsClient {
        WsClient::connect_as(&self.ws_url(), &self.token(user), None).await
    }

    /// An authenticated REST call; returns status and JSON body (Null when empty).
    pub async fn rest(
        &self,
        user_token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(user_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("http request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    /// Create a group of `owner` and `members` over REST; returns its id.
    pub async fn group(&self, owner: &str, members: &[&str]) -> String {
        let (status, body) = self
            .rest(
                &self.token(owner),
                reqwest::Method::POST,
                "/v1/conversations",
                Some(json!({"kind": "group", "members": members, "title": "test"})),
            )
            .await;
        assert_eq!(status, 201, "create group: {body}");
        body["conversation"]["id"].as_str().expect("id").to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
