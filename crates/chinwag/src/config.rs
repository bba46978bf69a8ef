//! The server configuration: one typed place, read once at start-up from (in rising precedence)
//! defaults, a TOML file, `CHINWAG_*` environment variables, and command-line flags, then
//! validated. Every field is documented, with its default, in `docs/operations.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chinwag_core::auth::AuthConfig;
use chinwag_core::limits::Limits;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Directory of the SQLite database and the generated token secret (default `./chinwag-data`).
    pub data_dir: PathBuf,
    /// Log filter in `tracing` syntax (default `info`).
    pub log: String,
    /// How long shutdown waits for sessions to close (default 10000 ms).
    pub drain_timeout_ms: u64,
    /// Serve the `/v1/echo` WebSocket endpoint for conformance tests (default false).
    pub enable_echo: bool,
    /// Mark session cookies `Secure` (default false; set it behind TLS).
    pub secure_cookies: bool,
    pub store: StoreConfig,
    pub broker: BrokerConfig,
    pub auth: AuthConfig,
    pub limits: Limits,
}

/// `[store]`: where messages are kept. Without `url`, the embedded SQLite database in
/// `data_dir`; with a `postgres://` URL, a PostgreSQL database that several nodes can share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database` to use PostgreSQL; empty (the default) for
    /// the embedded SQLite database.
    pub url: String,
    /// PostgreSQL only: the schema for Chinwag's tables, created if missing (default empty: the
    /// connection's `search_path`, usually `public`).
    pub schema: String,
    /// PostgreSQL only: most connections this node opens (default 16).
    pub pool_size: usize,
    /// fsync every commit (`synchronous=FULL`, default true): acknowledged messages survive power
    /// loss. False survives process crashes only.
    pub synchronous_full: bool,
    /// Most writes per group commit (default 512).
    pub max_batch: usize,
    /// Read connections (default 4).
    pub read_connections: usize,
    /// WAL pages written before the writer checkpoints between two batches (default 1000,
    /// about 4 MiB).
    pub checkpoint_pages: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            schema: String::new(),
            pool_size: 16,
            synchronous_full: true,
            max_batch: 512,
            read_connections: 4,
            checkpoint_pages: 1000,
        }
    }
}

/// `[broker]`: how events reach the other nodes. Without `url`, the in-memory broker (one
/// node); with a `redis://` URL, Redis pub/sub between every node that uses the same Redis and
/// prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`) to use Redis; empty (the
    /// default) for one node.
    pub url: String,
    /// Put in front of every channel name (default `chinwag:`), so that several installations
    /// can share one Redis.
    pub prefix: String,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self { url: String::new(), prefix: "chinwag:".into() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./chinwag-data"),
            log: "info".into(),
            drain_timeout_ms: 10_000,
            enable_echo: false,
            secure_cookies: false,
            store: StoreConfig::default(),
            broker: BrokerConfig::default(),
            auth: AuthConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_echo: bool,
}

impl Config {
    /// Load and validate. `file` is the `--config` path; without one, `./chinwag.toml` is read
    /// if it exists.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    bail!("config file {} does not exist", f.display());
                }
                figment = figment.merge(Toml::file(f));
            }
            None => figment = figment.merge(Toml::file("chinwag.toml")),
        }
        let config: Config = figment
            .merge(Env::prefixed("CHINWAG_").split("__").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.limits.validate().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if self.store.max_batch == 0 || self.store.read_connections == 0 {
            bail!(
                "invalid configuration: store.max_batch and store.read_connections must be at least 1"
            );
        }
        if self.store.pool_size < 2 {
            bail!("invalid configuration: store.pool_size must be at least 2");
        }
        if !self.store.url.is_empty() && self.postgres_url().is_none() {
            bail!(
                "invalid configuration: store.url must start with postgres:// or postgresql:// \
                 (or be empty for the embedded SQLite database)"
            );
        }
        if !self.broker.url.is_empty()
            && !self.broker.url.starts_with("redis://")
            && !self.broker.url.starts_with("rediss://")
        {
            bail!(
                "invalid configuration: broker.url must start with redis:// or rediss:// \
                 (or be empty for one node)"
            );
        }
        if !self.store.schema.is_empty() && self.store.url.is_empty() {
            bail!("invalid configuration: store.schema applies to PostgreSQL only; set store.url");
        }
        if !self.auth.token_secret.is_empty() && self.auth.token_secret.len() < 32 {
            bail!(
                "invalid configuration: auth.token_secret must be at least 32 bytes (or empty to generate one)"
            );
        }
        if self.auth.api_keys.iter().any(|k| k.key.len() < 16) {
            bail!("invalid configuration: every auth.api_keys[].key must be at least 16 bytes");
        }
        if self.drain_timeout_ms == 0 {
            bail!("invalid configuration: drain_timeout_ms must be greater than 0");
        }
        Ok(())
    }

    /// The PostgreSQL URL, if `store.url` names one.
    pub fn postgres_url(&self) -> Option<&str> {
        let url = self.store.url.as_str();
        (url.starts_with("postgres://") || url.starts_with("postgresql://")).then_some(url)
    }

    /// The token secret: configured, or generated once and kept in the data directory so that
    /// tokens survive restarts. (With PostgreSQL, `build` keeps a generated one in the database
    /// instead, so every node of a cluster shares it.)
    pub fn token_secret(&self) -> anyhow::Result<String> {
        if !self.auth.token_secret.is_empty() {
            return Ok(self.auth.token_secret.clone());
        }
        let path = self.data_dir.join("token_secret");
        if let Some(secret) = read_secret(&path)? {
            return Ok(secret);
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        match write_private(&path, &generate_secret()) {
            // Another process sharing the directory wrote one first: use that.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                read_secret(&path)?.with_context(|| format!("reading {}", path.display()))
            }
            Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
            Ok(secret) => Ok(secret),
        }
    }
}

/// A new random token secret: 48 characters from 62, about 285 bits.
pub fn generate_secret() -> String {
    (0..48)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    [rand::random_range(0..62)],
            )
        })
        .collect()
}

fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim().to_owned();
            if s.len() < 32 {
                bail!("{} holds a secret shorter than 32 bytes", path.display());
            }
            Ok(Some(s))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `contents` to a new file only its owner reads; fails with `AlreadyExists` if there is
/// one. Returns what it wrote.
#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(contents.to_owned())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(contents.to_owned())
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_layers_override() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "listen = \"127.0.0.1:9000\"\n[limits]\nmax_page_size = 300\n",
            )?;
            jail.set_env("CHINWAG_LIMITS__MAX_PAGE_SIZE", "400");
            jail.set_env("CHINWAG_LOG", "debug");
            let c = Config::load(Some(Path::new("c.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.limits.max_page_size, 400, "env beats file");
            assert_eq!(c.log, "debug");
            let o =
                Overrides { listen: Some("127.0.0.1:9100".parse().unwrap()), ..Default::default() };
            let c = Config::load(Some(Path::new("c.toml")), &o).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9100, "flags beat env and file");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_clear_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[limits]\nmax_page_size = 0\n")?;
            let e = Config::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("max_page_size"), "{e}");
            jail.create_file("unknown.toml", "lisen = \"x\"\n")?;
            let e =
                Config::load(Some(Path::new("unknown.toml")), &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("lisen"), "{e}");
            let e =
                Config::load(Some(Path::new("missing.toml")), &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("does not exist"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn the_store_and_broker_urls_pick_postgres_and_redis_and_anything_else_is_refused() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.postgres_url(), None, "SQLite unless a URL is set");
            jail.set_env("CHINWAG_STORE__URL", "postgres://chinwag@db.internal/chat");
            jail.set_env("CHINWAG_STORE__POOL_SIZE", "32");
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.postgres_url(), Some("postgres://chinwag@db.internal/chat"));
            assert_eq!(c.store.pool_size, 32);
            jail.set_env("CHINWAG_STORE__URL", "mysql://db.internal/chat");
            let e = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("store.url must start with postgres://"), "{e}");
            jail.set_env("CHINWAG_STORE__URL", "");
            jail.set_env("CHINWAG_BROKER__URL", "redis://cache.internal:6379");
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.broker.url, "redis://cache.internal:6379");
            jail.set_env("CHINWAG_BROKER__URL", "nats://cache.internal");
            let e = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("broker.url must start with redis://"), "{e}");
            jail.set_env("CHINWAG_BROKER__URL", "");
            jail.set_env("CHINWAG_STORE__SCHEMA", "chat");
            let e = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("store.schema applies to PostgreSQL only"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn a_generated_secret_is_kept_and_reused_from_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        let first = config.token_secret().unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(config.token_secret().unwrap(), first, "the same secret after a restart");
        std::fs::write(dir.path().join("data/token_secret"), "short").unwrap();
        let e = config.token_secret().unwrap_err();
        assert!(e.to_string().contains("shorter than 32 bytes"), "{e}");
    }
}
