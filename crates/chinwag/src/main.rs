//! The `chinwag` binary: the command line, logging, signals. The server itself is the library
//! (`lib.rs`), so that tests start exactly what this starts.

mod chat;

use std::path::PathBuf;

use anyhow::Context;
use chinwag::config::{Config, Overrides};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "chinwag", version, about = "Chinwag: a self-hosted real-time messaging server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (by default SQLite in the data directory and the in-memory broker; see
    /// `store.url` and `broker.url` for a cluster).
    Serve {
        /// TOML configuration file (default: ./chinwag.toml if it exists).
        #[arg(long, env = "CHINWAG_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Directory for the database and generated secrets.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Log filter, e.g. `info` or `chinwag_core=debug`.
        #[arg(long)]
        log: Option<String>,
        /// Create demo users (alice, bob, carol) and conversations, and print how to log in.
        #[arg(long)]
        demo: bool,
        /// Serve the /v1/echo WebSocket endpoint (conformance tests only).
        #[arg(long)]
        enable_echo: bool,
    },
    /// Copy an embedded SQLite database into PostgreSQL, to move a node to a cluster: every
    /// account, conversation, member, message, receipt and draft, verified by counts. Run it
    /// while no server uses either database; run it again after an interruption.
    MigrateStore {
        /// The source: `sqlite:DIR`, the data directory holding chinwag.db.
        #[arg(long)]
        from: String,
        /// The target: `postgres://user@host:port/database`.
        #[arg(long)]
        to: String,
        /// The PostgreSQL schema to copy into (created if missing; default: the connection's
        /// search_path).
        #[arg(long)]
        schema: Option<String>,
    },
    /// Chat in the terminal: log in, list conversations, send, see typing, receipts and the
    /// connection quality. Messages typed while offline wait in a local outbox.
    Chat(chat::ChatArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen, data_dir, log, demo, enable_echo } => {
            let overrides = Overrides { listen, data_dir, log, enable_echo };
            let config = Config::load(config.as_deref(), &overrides)?;
            init_logging(&config.log)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(serve(config, demo))
        }
        Command::MigrateStore { from, to, schema } => {
            init_logging("warn")?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(migrate_store(&from, &to, schema))
        }
        Command::Chat(args) => chat::run(args),
    }
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid configuration: log filter `{filter}`: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    Ok(())
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let backends = chinwag::build(&config).await?;
    if demo {
        chinwag::demo::seed(&backends.node, config.listen).await.context("creating demo data")?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let store = if config.postgres_url().is_some() { "postgres" } else { "sqlite" };
    tracing::info!(%addr, store, data_dir = %config.data_dir.display(), "chinwag listening");
    println!("chinwag listening on http://{addr}");
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    chinwag::run(&config, backends, listener, shutdown).await
}

async fn migrate_store(from: &str, to: &str, schema: Option<String>) -> anyhow::Result<()> {
    let Some(dir) = from.strip_prefix("sqlite:") else {
        anyhow::bail!("--from must be sqlite:DIR (the data directory holding chinwag.db)");
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let dir = std::path::Path::new(dir);
    if !dir.join(chinwag_store::sqlite::DATABASE_FILE).exists() {
        anyhow::bail!("{} holds no chinwag.db", dir.display());
    }
    let options = chinwag_store::postgres::PgOptions { schema, ..Default::default() };
    println!("copying {} into PostgreSQL", dir.display());
    let report = chinwag_store::copy::sqlite_to_postgres(dir, to, options, |t| {
        println!(
            "{:<14} {:>9} rows in SQLite, {:>9} copied now, {:>9} in PostgreSQL",
            t.table, t.source, t.inserted, t.target
        );
    })
    .await
    .map_err(|e| anyhow::anyhow!("migrate-store: {e}"))?;
    let rows: u64 = report.iter().map(|t| t.target).sum();
    println!("verified: every table has the same number of rows on both sides ({rows} in all)");
    Ok(())
}

async fn on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: closing sessions, flushing the store");
    shutdown.cancel();
}
