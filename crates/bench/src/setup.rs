//! Getting a server ready for a scenario: tokens, conversations, and many connections at once.
//! None of this is on the measured path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::conn::{Conn, source_addr};
use crate::procstat::{CpuMeter, rss_bytes};
use crate::target::Target;

/// Options every scenario shares.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Common {
    /// Which server speaks at `--addr`.
    #[arg(long, value_enum, default_value = "chinwag")]
    pub target: Target,
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The server's process id, to read its CPU time and memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// More nodes of the same cluster (Chinwag on PostgreSQL and Redis): connections are spread
    /// over `--addr` and these, round-robin; set-up requests go to `--addr`.
    #[arg(long, value_delimiter = ',')]
    pub more_addrs: Vec<SocketAddr>,
    /// Those nodes' process ids: their CPU time and memory are added to `--server-pid`'s.
    #[arg(long, value_delimiter = ',')]
    pub more_pids: Vec<u32>,
    /// Client source addresses 127.0.0.2… to spread connections over (each has its own
    /// ephemeral ports).
    #[arg(long, default_value_t = 8)]
    pub sources: usize,
    /// Connections opening at the same time.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Chinwag's `auth.token_secret`: tokens are signed locally (HS256, iss "chinwag").
    #[arg(long, env = "CHINWAG_AUTH__TOKEN_SECRET", default_value = DEFAULT_SECRET, hide_env_values = true)]
    #[serde(skip)]
    pub token_secret: String,
    /// A name for this run in the JSON line (default: the target's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Set by scenarios that only upgrade (see `idle --skip-opening`).
    #[arg(skip)]
    pub skip_opening: bool,
}

impl Common {
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.target.name().to_owned())
    }

    /// The server's resident memory now (every node's, summed), if its pid is known.
    pub fn server_rss(&self) -> Option<u64> {
        self.server_pids().into_iter().map(rss_bytes).sum()
    }

    /// Start measuring the server's (every node's) and this generator's CPU time.
    pub fn cpu_meter(&self) -> CpuMeter {
        CpuMeter::start(self.server_pids())
    }

    /// Every server process measured: `--server-pid`, then `--more-pids`.
    pub fn server_pids(&self) -> Vec<u32> {
        self.server_pid.into_iter().chain(self.more_pids.iter().copied()).collect()
    }

    /// The node connection `i` goes to: `--addr` and `--more-addrs`, round-robin.
    pub fn node_addr(&self, i: usize) -> SocketAddr {
        match i % (1 + self.more_addrs.len()) {
            0 => self.addr,
            n => self.more_addrs[n - 1],
        }
    }
}

/// The token secret the harness starts Chinwag with (any 32+ byte string works).
pub const DEFAULT_SECRET: &str = "chinwag-bench-token-secret-0123456789";

/// A prefix that keeps user ids of different runs apart on a reused database.
pub fn run_prefix() -> String {
    format!("b{}", crate::clock::now_us() / 1000 % 100_000_000)
}

/// A Chinwag token for `user` in the default tenant, valid for a day.
pub fn token(secret: &str, user: &str) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        tenant: &'a str,
        exp: u64,
        iss: &'a str,
    }
    let exp = crate::clock::now_us() / 1_000_000 + 86_400;
    let claims = Claims { sub: user, tenant: "default", exp, iss: "chinwag" };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
        .context("signing a token")
}

/// Create group conversations over REST (`POST /v1/conversations` as the owner), `concurrency`
/// at a time; returns their ids in order. Each group is `(owner, other members)`.
pub async fn create_groups(
    addr: SocketAddr,
    secret: &str,
    groups: Vec<(String, Vec<String>)>,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let specs = groups.into_iter().map(|(owner, members)| (owner, "group", members)).collect();
    create_conversations(addr, secret, specs, concurrency).await
}

/// Create conversations over REST (`POST /v1/conversations` as the first user), `concurrency`
/// at a time; returns their ids in order. Each is `(creator, kind, other members)`, kind
/// `group` or `direct` (an existing direct conversation is returned as it is).
pub async fn create_conversations(
    addr: SocketAddr,
    secret: &str,
    specs: Vec<(String, &'static str, Vec<String>)>,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let n = specs.len();
    for (i, (owner, kind, members)) in specs.into_iter().enumerate() {
        let (http, gate) = (http.clone(), gate.clone());
        let token = token(secret, &owner)?;
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("open semaphore");
            let mut body = serde_json::json!({"kind": kind, "members": members});
            if kind == "group" {
                body["title"] = "bench".into();
            }
            let res = http
                .post(format!("http://{addr}/v1/conversations"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            let status = res.status();
            let body: serde_json::Value = res.json().await?;
            if !matches!(status.as_u16(), 200 | 201) {
                bail!("creating a {kind} conversation: HTTP {status}: {body}");
            }
            let id = body["conversation"]["id"].as_str().context("no conversation id")?.to_owned();
            Ok((i, id))
        });
    }
    let mut ids = vec![String::new(); n];
    while let Some(r) = tasks.join_next().await {
        let (i, id) = r??;
        ids[i] = id;
    }
    Ok(ids)
}

/// The connections a scenario opened, and what it took.
#[derive(Debug)]
pub struct Opened {
    /// Index-aligned with the request; `None` where opening failed.
    pub conns: Vec<Option<Conn>>,
    pub failed: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Open `n` connections, `concurrency` at a time: connect from spread source addresses,
/// upgrade at `path(i)`, and run the protocol's opening with `token(i)`.
pub async fn open_many(
    common: &Common,
    n: usize,
    path: impl Fn(usize) -> String,
    token: impl Fn(usize) -> Option<String>,
) -> Opened {
    let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for i in 0..n {
        let (gate, path, token) = (gate.clone(), path(i), token(i));
        let (addr, target, source) =
            (common.node_addr(i), common.target, source_addr(i, common.sources));
        let skip_opening = common.skip_opening;
        tasks.spawn_local(async move {
            let _permit = gate.acquire_owned().await.expect("open semaphore");
            let result = async {
                let mut conn = Conn::connect(addr, source, &path).await?;
                if !skip_opening {
                    conn.ready(target, token.as_deref(), Duration::from_secs(30)).await?;
                }
                Ok::<_, std::io::Error>(conn)
            }
            .await;
            (i, result)
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let (mut failed, mut first_error) = (0, None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(conn))) => conns[i] = Some(conn),
            Ok((_, Err(e))) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Opened { conns, failed, first_error, elapsed: started.elapsed() }
}

/// One room holding all `users`: for Chinwag a group conversation owned by the first (created
/// over REST, its id returned), for peers a room name derived from `prefix`.
pub async fn one_room(
    common: &Common,
    target: Target,
    prefix: &str,
    users: &[String],
) -> anyhow::Result<String> {
    match target {
        Target::Chinwag => {
            let (owner, others) = users.split_first().context("a room needs a member")?;
            let ids = create_groups(
                common.addr,
                &common.token_secret,
                vec![(owner.clone(), others.to_vec())],
                1,
            )
            .await?;
            ids.into_iter().next().context("no conversation created")
        }
        _ => Ok(format!("{prefix}-room")),
    }
}

/// Each user's token when the target is Chinwag; peers take none.
pub fn room_tokens(
    common: &Common,
    target: Target,
    users: &[String],
) -> anyhow::Result<Vec<Option<String>>> {
    match target {
        Target::Chinwag => users.iter().map(|u| token(&common.token_secret, u).map(Some)).collect(),
        _ => Ok(vec![None; users.len()]),
    }
}

/// [`open_many`], failing unless every connection opened.
pub async fn open_all(
    common: &Common,
    n: usize,
    path: impl Fn(usize) -> String,
    token: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<Opened> {
    let opened = open_many(common, n, path, token).await;
    if opened.failed > 0 {
        bail!(
            "{} of {n} connections failed to open: {}",
            opened.failed,
            opened.first_error.unwrap_or_default()
        );
    }
    Ok(opened)
}

/// One connection per token into `room`; fails unless every connection opened.
pub async fn open_room(
    common: &Common,
    target: Target,
    room: &str,
    tokens: &[Option<String>],
) -> anyhow::Result<Opened> {
    open_all(common, tokens.len(), |_| target.path(room), |i| tokens[i].clone()).await
}
