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
    pub auth: AuthConfig,
    pub limits: Limits,
}

/// `[store]`: the embedded SQLite store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
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
        Self { synchronous_full: true, max_batch: 512, read_connections: 4, checkpoint_pages: 1000 }
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

    /// The token secret: configured, or generated once and kept in the data directory so that
    /// tokens survive restarts.
    pub fn token_secret(&self) -> anyhow::Result<String> {
        if !self.auth.token_secret.is_empty() {
            return Ok(self.auth.token_secret.clone());
        }
        let path = self.data_dir.join("token_secret");
        if let Ok(s) = std::fs::read_to_string(&path) {
            let s = s.trim().to_owned();
            if s.len() >= 32 {
                return Ok(s);
            }
            bail!("{} holds a secret shorter than 32 bytes", path.display());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let secret: String = (0..48)
            .map(|_| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        [rand::random_range(0..62)],
                )
            })
            .collect();
        write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
        Ok(secret)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
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
}
