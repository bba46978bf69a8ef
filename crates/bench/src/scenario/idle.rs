//! `idle`: N connections, each (its user) a member of two rooms of `--group-size` members, opened
//! `--connect-concurrency` at a time and then left idle → handshakes per second, and the
//! server's resident memory per connection (VmRSS after − before, over N).
//!
//! Rooms: the [`two_rooms`](crate::scenario::two_rooms) layout (member i in `a{i / G}` and
//! `b{i mod M}`). For Chinwag these are group conversations created over REST before the
//! baseline is taken; peers get them in the URL.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use crate::procstat::{CpuMeter, CpuUse};
use crate::report::{merged, mib, opt, pct1, round, us_each};
use crate::scenario::two_rooms::{LayoutArgs, TwoRooms};
use crate::setup::{self, Common, Opened};
use crate::target::Target;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct IdleArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[command(flatten)]
    #[serde(flatten)]
    pub layout: LayoutArgs,
    /// How long to wait after the last connection opened before reading the server's memory.
    #[arg(long, default_value_t = 3.0)]
    pub settle_secs: f64,
    /// Diagnostic: upgrade only, skip the protocol's opening (no Chinwag `auth`), to split a
    /// connection's memory into "upgraded socket" and "authenticated session".
    #[arg(long)]
    pub skip_opening: bool,
    /// Conversations created at the same time during set-up (Chinwag).
    #[arg(long, default_value_t = 16)]
    pub create_concurrency: usize,
    /// Generator processes to spread the connections over (each stays under the per-process
    /// file limit).
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Internal: this process is shard `K` of `--procs` (started by the parent).
    #[arg(long, hide = true)]
    pub shard: Option<usize>,
    /// Internal: the parent's user-name prefix.
    #[arg(long, hide = true)]
    pub prefix: Option<String>,
}

pub fn run(args: IdleArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: IdleArgs) -> anyhow::Result<serde_json::Value> {
    if let Some(shard) = args.shard {
        return shard_run(&args, shard).await;
    }
    let common = &args.common;
    let layout = args.layout.rooms();
    let n = layout.n;
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| user(&prefix, i)).collect();
    if common.target == Target::Chinwag {
        layout.create(common, &users, args.create_concurrency, "idle").await?;
    }
    let tokens = tokens(&args, &users)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    if args.procs > 1 {
        return multi_process(&args, &prefix).await;
    }
    let rss_before = common.server_rss();
    let meter = common.cpu_meter();
    let opened = open(&args, layout, n, |i| i, &tokens).await;
    let cpu = meter.stop();
    let connected = n - opened.failed;
    if connected == 0 {
        bail!("no connection opened: {}", opened.first_error.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let rss_after = common.server_rss();
    let handshakes_per_s = connected as f64 / opened.elapsed.as_secs_f64();
    let h = Handshakes { connected, handshakes_per_s, cpu, rss_before, rss_after };
    eprintln!(
        "idle {}: {connected}/{n} connected in {:.2} s {}",
        common.label(),
        opened.elapsed.as_secs_f64(),
        h.human(),
    );
    drop(opened.conns);
    let more = json!({
        "failed": opened.failed,
        "first_error": opened.first_error,
        "connect_secs": round(opened.elapsed.as_secs_f64(), 3),
        "generator_cpu_pct": pct1(cpu.generator_pct()),
    });
    Ok(merged(h.json(&args), more))
}

/// The name of member `i`.
fn user(prefix: &str, i: usize) -> String {
    format!("{prefix}-i{i}")
}

/// The members' tokens (Chinwag, unless the opening is skipped).
fn tokens(args: &IdleArgs, users: &[String]) -> anyhow::Result<Vec<Option<String>>> {
    if args.skip_opening {
        return Ok(vec![None; users.len()]);
    }
    setup::room_tokens(&args.common, args.common.target, users)
}

/// Open `count` connections, the k-th as member `member(k)` with `tokens[k]`.
async fn open(
    args: &IdleArgs,
    layout: TwoRooms,
    count: usize,
    member: impl Fn(usize) -> usize,
    tokens: &[Option<String>],
) -> Opened {
    let target = args.common.target;
    setup::open_many(
        &Common { skip_opening: args.skip_opening, ..args.common.clone() },
        count,
        |k| layout.path(target, member(k)),
        |k| tokens[k].clone(),
    )
    .await
}

/// What opening the connections cost the server, in one generator process or over several.
struct Handshakes {
    connected: usize,
    handshakes_per_s: f64,
    cpu: CpuUse,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
}

impl Handshakes {
    /// Server memory per connection: VmRSS after − before, over the connections.
    fn per_conn(&self) -> Option<f64> {
        match (self.rss_before, self.rss_after) {
            (Some(b), Some(a)) => Some((a as f64 - b as f64) / self.connected as f64),
            _ => None,
        }
    }

    fn server_us_each(&self) -> Option<f64> {
        us_each(self.cpu.server_cpu_secs, self.connected as u64, 1)
    }

    /// The end of the summary line: rate, CPU and memory.
    fn human(&self) -> String {
        format!(
            "({:.0} handshakes/s, server {} µs CPU each); server RSS {} → {} MiB: {} KiB per connection",
            self.handshakes_per_s,
            opt(self.server_us_each()),
            mib(self.rss_before),
            mib(self.rss_after),
            opt(self.per_conn().map(|b| round(b / 1024.0, 2))),
        )
    }

    /// The result fields a single- and a multi-process run share.
    fn json(&self, args: &IdleArgs) -> serde_json::Value {
        json!({
            "scenario": "idle",
            "label": args.common.label(),
            "target": args.common.target,
            "connections": args.layout.rooms().n,
            "connected": self.connected,
            "handshakes_per_s": round(self.handshakes_per_s, 0),
            "server_cpu_secs": self.cpu.server_cpu_secs,
            "server_us_per_handshake": self.server_us_each(),
            "server_rss_before_bytes": self.rss_before,
            "server_rss_after_bytes": self.rss_after,
            "server_rss_per_conn_bytes": self.per_conn().map(|v| round(v, 0)),
            "args": args,
        })
    }
}

/// This process's share of the connections: the indices i ≡ shard (mod procs).
fn shard_users(args: &IdleArgs, shard: usize) -> Vec<usize> {
    let n = args.layout.rooms().n;
    (shard..n).step_by(args.procs.max(1)).collect()
}

/// A shard: open its connections, report them in one JSON line, hold them until standard input
/// closes.
async fn shard_run(args: &IdleArgs, shard: usize) -> anyhow::Result<serde_json::Value> {
    let layout = args.layout.rooms();
    let prefix = args.prefix.clone().unwrap_or_default();
    let mine = shard_users(args, shard);
    let users: Vec<String> = mine.iter().map(|&i| user(&prefix, i)).collect();
    let tokens = tokens(args, &users)?;
    let own = CpuMeter::start(Vec::new());
    let opened = open(args, layout, mine.len(), |k| mine[k], &tokens).await;
    let line = json!({
        "shard": shard,
        "connections": mine.len(),
        "connected": mine.len() - opened.failed,
        "failed": opened.failed,
        "first_error": opened.first_error,
        "connect_secs": opened.elapsed.as_secs_f64(),
        "generator_cpu_secs": own.stop().generator_cpu_secs,
    });
    println!("{line}");
    use std::io::Write;
    std::io::stdout().flush()?;
    // Hold the connections until the parent closes our standard input.
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdin, &mut sink).await;
    drop(opened.conns);
    // The parent already has the line; `main` prints the returned value, so return nothing new.
    std::process::exit(0);
}

/// Start `--procs` shards of this very command line.
fn spawn_shards(args: &IdleArgs, prefix: &str) -> anyhow::Result<Vec<tokio::process::Child>> {
    let exe = std::env::current_exe()?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut children = Vec::with_capacity(args.procs);
    for k in 0..args.procs {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&argv)
            .args(["--shard", &k.to_string(), "--prefix", prefix])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        children.push(cmd.spawn()?);
    }
    Ok(children)
}

/// Each shard's JSON line, once it has opened its connections.
async fn shard_lines(
    children: &mut [tokio::process::Child],
) -> anyhow::Result<Vec<serde_json::Value>> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = Vec::with_capacity(children.len());
    for child in children {
        let out = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no shard stdout"))?;
        let mut reader = tokio::io::BufReader::new(out).lines();
        let line =
            reader.next_line().await?.ok_or_else(|| anyhow::anyhow!("a shard ended early"))?;
        lines.push(serde_json::from_str::<serde_json::Value>(&line)?);
    }
    Ok(lines)
}

/// The parent of `--procs` shards.
async fn multi_process(args: &IdleArgs, prefix: &str) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let n = args.layout.rooms().n;
    let procs = args.procs;
    let rss_before = common.server_rss();
    let meter = common.cpu_meter();
    let started = Instant::now();
    let mut children = spawn_shards(args, prefix)?;
    let lines = shard_lines(&mut children).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.stop();
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let rss_after = common.server_rss();
    for child in &mut children {
        drop(child.stdin.take());
    }
    for child in &mut children {
        let _ = child.wait().await;
    }
    let sum = |key: &str| lines.iter().filter_map(|l| l[key].as_u64()).sum::<u64>();
    let connected = sum("connected") as usize;
    let first_error = lines.iter().find_map(|l| l["first_error"].as_str());
    if connected == 0 {
        bail!("no connection opened: {}", first_error.unwrap_or_default());
    }
    // Handshakes per second over the slowest shard's connecting time (process start-up excluded).
    let connect_secs = lines.iter().filter_map(|l| l["connect_secs"].as_f64()).fold(0.0, f64::max);
    let handshakes_per_s = connected as f64 / connect_secs.max(1e-3);
    let shard_cpu: f64 = lines.iter().filter_map(|l| l["generator_cpu_secs"].as_f64()).sum();
    let h = Handshakes { connected, handshakes_per_s, cpu, rss_before, rss_after };
    eprintln!(
        "idle {} ({procs} generator processes): {connected}/{n} connected in {:.2} s, {:.2} s with start-up {}",
        common.label(),
        connect_secs,
        elapsed,
        h.human(),
    );
    let more = json!({
        "failed": sum("failed") as usize,
        "first_error": first_error,
        "connect_secs": round(connect_secs, 3),
        "wall_secs": round(elapsed, 3),
        "generator_procs": procs,
        "generator_cpu_pct": Some(round(100.0 * shard_cpu / elapsed, 1)),
        "shards": lines,
    });
    Ok(merged(h.json(args), more))
}
