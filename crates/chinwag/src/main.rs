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
    /// Run the server (SQLite in the data directory, in-memory broker).
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
