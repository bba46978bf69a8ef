//! `chinwag chat`: a terminal client on the SDK (`chinwag-client`). Interactive by default
//! (`tui`), or line by line for scripts and tests (`line`: commands on stdin, events on stdout).

mod line;
mod tui;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chinwag_client::backoff::BackoffPolicy;
use chinwag_client::rest::Rest;
use chinwag_client::token::{BoxFuture, TokenError, TokenProvider};
use chinwag_client::{Client, ClientConfig, Events, StartFrom};
use chinwag_proto::model::Conversation;

/// The options of `chinwag chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "CHINWAG_SERVER")]
    pub server: String,
    /// Username to log in with (built-in accounts).
    #[arg(long, env = "CHINWAG_USER")]
    pub user: Option<String>,
    /// Password (prefer the environment variable to the command line).
    #[arg(long, env = "CHINWAG_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Use this token instead of logging in.
    #[arg(long, env = "CHINWAG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The outbox and resume state file (default: chinwag-chat-<user>.db in the current
    /// directory). Messages typed while offline wait here, across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Line mode: read commands and messages from stdin, print events as lines.
    #[arg(long)]
    pub line: bool,
    /// Open this conversation at start.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Longest pause between reconnect attempts, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub max_backoff_ms: u64,
}

/// Tokens for the chat: the one given, or a login kept until the server refuses it.
#[derive(Clone)]
struct ChatTokens {
    rest: Rest,
    credentials: Option<(String, String)>,
    /// The last token; shared with the REST calls of the chat (the conversation list).
    slot: Arc<Mutex<Option<String>>>,
}

impl ChatTokens {
    fn current(&self) -> Option<String> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl TokenProvider for ChatTokens {
    fn token(&self, refresh: bool) -> BoxFuture<Result<String, TokenError>> {
        let cached = self.current();
        if let Some(t) = cached.filter(|_| !refresh || self.credentials.is_none()) {
            return Box::pin(async move { Ok(t) });
        }
        let (rest, credentials, slot) =
            (self.rest.clone(), self.credentials.clone(), self.slot.clone());
        Box::pin(async move {
            let Some((user, password)) = credentials else {
                return Err(TokenError("no token and no username/password".into()));
            };
            let login =
                rest.login(&user, &password).await.map_err(|e| TokenError(e.to_string()))?;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(login.token.clone());
            Ok(login.token)
        })
    }
}

/// What both modes share: the client, its events, REST and tokens.
pub(crate) struct Session {
    pub client: Client,
    rest: Rest,
    tokens: ChatTokens,
}

impl Session {
    /// The user's conversations over REST (needs a token: logs in if none is held yet).
    pub(crate) async fn conversations(&self) -> anyhow::Result<Vec<Conversation>> {
        let token = self.tokens.token(false).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(self.rest.conversations(&token).await?)
    }
}

pub(crate) fn run(args: ChatArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let (session, events) = start(&args).await?;
        if args.line {
            line::run(session, events, args.conversation).await
        } else {
            tui::run(session, events, args.conversation).await
        }
    })
}

async fn start(args: &ChatArgs) -> anyhow::Result<(Session, Events)> {
    let rest = Rest::new(&args.server).context("--server")?;
    let credentials = match (&args.user, &args.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        _ => None,
    };
    if credentials.is_none() && args.token.is_none() {
        anyhow::bail!("give --user and --password (or CHINWAG_PASSWORD), or --token");
    }
    let tokens = ChatTokens {
        rest: rest.clone(),
        credentials,
        slot: Arc::new(Mutex::new(args.token.clone())),
    };
    let state = args.state.clone().unwrap_or_else(|| {
        PathBuf::from(format!("chinwag-chat-{}.db", args.user.as_deref().unwrap_or("token")))
    });
    let config = ClientConfig {
        state_path: Some(state),
        backoff: BackoffPolicy {
            base: Duration::from_millis(200),
            cap: Duration::from_millis(args.max_backoff_ms.max(200)),
            ..BackoffPolicy::default()
        },
        ping_interval: Duration::from_secs(2),
        // A terminal shows the open conversation's history on demand, not every old message.
        start_from: StartFrom::Now,
        ..ClientConfig::default()
    };
    let (client, events) = Client::connect_with(rest.ws_url(), tokens.clone(), config).await?;
    Ok((Session { client, rest, tokens }, events))
}

/// A conversation's name for humans: its title, or its other members.
pub(crate) fn title(c: &Conversation, me: Option<&str>) -> String {
    if let Some(t) = c.title.as_deref().filter(|t| !t.is_empty()) {
        return t.to_owned();
    }
    let others: Vec<&str> =
        c.members.iter().map(|m| m.user_id.as_str()).filter(|u| Some(*u) != me).collect();
    if others.is_empty() { c.id.to_string() } else { others.join(", ") }
}
