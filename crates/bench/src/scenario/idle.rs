//! `idle`: N connections, each (its user) a member of two rooms of `--group-size` members, opened
//! `--connect-concurrency` at a time and then left idle → handshakes per second, and the
//! server's resident memory per connection (VmRSS after − before, over N).
//!
//! Rooms: member i is in `a{i / G}` and in `b{i mod M}` (M = N / G rooms per family), so every
//! room has G members and every member is in exactly two. For Chinwag these are group
//! conversations created over REST before the baseline is taken; peers get them in the URL.

use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use crate::procstat::{CpuMeter, rss_bytes};
use crate::report::{opt, round};
use crate::setup::{self, Common};
use crate::target::Target;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct IdleArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
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
    let target = common.target;
    let n = args.connections.max(1);
    let g = args.group_size.clamp(1, n);
    let rooms_per_family = n.div_ceil(g);
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-i{i}")).collect();
    if target == Target::Chinwag {
        let mut groups = Vec::with_capacity(2 * rooms_per_family);
        for k in 0..rooms_per_family {
            let a: Vec<String> = users.iter().skip(k * g).take(g).cloned().collect();
            let b: Vec<String> = users.iter().skip(k).step_by(rooms_per_family).cloned().collect();
            for family in [a, b] {
                if let Some((owner, rest)) = family.split_first() {
                    groups.push((owner.clone(), rest.to_vec()));
                }
            }
        }
        let started = std::time::Instant::now();
        let count = groups.len();
        setup::create_groups(common.addr, &common.token_secret, groups, args.create_concurrency)
            .await?;
        eprintln!(
            "idle {}: created {count} conversations in {:.1} s",
            common.label(),
            started.elapsed().as_secs_f64()
        );
    }
    let secret = common.token_secret.clone();
    let tokens: Vec<Option<String>> = match target {
        _ if args.skip_opening => vec![None; n],
        Target::Chinwag => {
            users.iter().map(|u| setup::token(&secret, u).map(Some)).collect::<Result<_, _>>()?
        }
        _ => vec![None; n],
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    if args.procs > 1 {
        return multi_process(&args, &prefix).await;
    }
    let rss_before = common.server_pid.and_then(rss_bytes);
    let meter = CpuMeter::start(common.server_pid);
    let opened = setup::open_many(
        &Common { skip_opening: args.skip_opening, ..common.clone() },
        n,
        |i| target.path(&format!("a{},b{}", i / g, i % rooms_per_family)),
        |i| tokens[i].clone(),
    )
    .await;
    let cpu = meter.stop();
    let connected = n - opened.failed;
    if connected == 0 {
        bail!("no connection opened: {}", opened.first_error.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let rss_after = common.server_pid.and_then(rss_bytes);
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some((a as f64 - b as f64) / connected as f64),
        _ => None,
    };
    let handshakes_per_s = connected as f64 / opened.elapsed.as_secs_f64();
    let server_us_per_handshake = cpu.server_cpu_secs.map(|c| round(c * 1e6 / connected as f64, 1));
    eprintln!(
        "idle {}: {connected}/{n} connected in {:.2} s ({:.0} handshakes/s, server {} µs CPU each); server RSS {} → {} MiB: {} KiB per connection",
        common.label(),
        opened.elapsed.as_secs_f64(),
        handshakes_per_s,
        opt(server_us_per_handshake),
        opt(rss_before.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(rss_after.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(per_conn.map(|b| round(b / 1024.0, 2))),
    );
    drop(opened.conns);
    Ok(json!({
        "scenario": "idle",
        "label": common.label(),
        "target": target,
        "connections": n,
        "connected": connected,
        "failed": opened.failed,
        "first_error": opened.first_error,
        "connect_secs": round(opened.elapsed.as_secs_f64(), 3),
        "handshakes_per_s": round(handshakes_per_s, 0),
        "server_cpu_secs": cpu.server_cpu_secs,
        "server_us_per_handshake": server_us_per_handshake,
        "generator_cpu_pct": cpu.generator_pct().map(|v| round(v, 1)),
        "server_rss_before_bytes": rss_before,
        "server_rss_after_bytes": rss_after,
        "server_rss_per_conn_bytes": per_conn.map(|v| round(v, 0)),
        "args": args,
    }))
}

/// This process's share of the connections: the indices i ≡ shard (mod procs).
fn shard_users(args: &IdleArgs, shard: usize) -> Vec<usize> {
    let n = args.connections.max(1);
    (shard..n).step_by(args.procs.max(1)).collect()
}

/// A shard: open its connections, report them in one JSON line, hold them until standard input
/// closes.
async fn shard_run(args: &IdleArgs, shard: usize) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let target = common.target;
    let n = args.connections.max(1);
    let g = args.group_size.clamp(1, n);
    let rooms_per_family = n.div_ceil(g);
    let prefix = args.prefix.clone().unwrap_or_default();
    let mine = shard_users(args, shard);
    let tokens: Vec<Option<String>> = match target {
        _ if args.skip_opening => vec![None; mine.len()],
        Target::Chinwag => mine
            .iter()
            .map(|i| setup::token(&common.token_secret, &format!("{prefix}-i{i}")).map(Some))
            .collect::<Result<_, _>>()?,
        _ => vec![None; mine.len()],
    };
    let own = CpuMeter::start(None);
    let opened = setup::open_many(
        &Common { skip_opening: args.skip_opening, ..common.clone() },
        mine.len(),
        |k| {
            let i = mine[k];
            target.path(&format!("a{},b{}", i / g, i % rooms_per_family))
        },
        |k| tokens[k].clone(),
    )
    .await;
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

/// The parent of `--procs` shards.
async fn multi_process(args: &IdleArgs, prefix: &str) -> anyhow::Result<serde_json::Value> {
    use tokio::io::AsyncBufReadExt;
    let common = &args.common;
    let n = args.connections.max(1);
    let procs = args.procs;
    let exe = std::env::current_exe()?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let rss_before = common.server_pid.and_then(rss_bytes);
    let meter = CpuMeter::start(common.server_pid);
    let started = std::time::Instant::now();
    let mut children = Vec::with_capacity(procs);
    for k in 0..procs {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&argv)
            .args(["--shard", &k.to_string(), "--prefix", prefix])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        children.push(cmd.spawn()?);
    }
    let mut lines = Vec::with_capacity(procs);
    for child in &mut children {
        let out = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no shard stdout"))?;
        let mut reader = tokio::io::BufReader::new(out).lines();
        let line =
            reader.next_line().await?.ok_or_else(|| anyhow::anyhow!("a shard ended early"))?;
        lines.push(serde_json::from_str::<serde_json::Value>(&line)?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.stop();
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let rss_after = common.server_pid.and_then(rss_bytes);
    for child in &mut children {
        drop(child.stdin.take());
    }
    for child in &mut children {
        let _ = child.wait().await;
    }
    let sum = |key: &str| lines.iter().filter_map(|l| l[key].as_u64()).sum::<u64>();
    let connected = sum("connected") as usize;
    let failed = sum("failed") as usize;
    if connected == 0 {
        bail!(
            "no connection opened: {}",
            lines.iter().find_map(|l| l["first_error"].as_str()).unwrap_or_default()
        );
    }
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some((a as f64 - b as f64) / connected as f64),
        _ => None,
    };
    // Handshakes per second over the slowest shard's connecting time (process start-up excluded).
    let connect_secs = lines.iter().filter_map(|l| l["connect_secs"].as_f64()).fold(0.0, f64::max);
    let handshakes_per_s = connected as f64 / connect_secs.max(1e-3);
    let server_us_per_handshake = cpu.server_cpu_secs.map(|c| round(c * 1e6 / connected as f64, 1));
    let shard_cpu: f64 = lines.iter().filter_map(|l| l["generator_cpu_secs"].as_f64()).sum();
    eprintln!(
        "idle {} ({procs} generator processes): {connected}/{n} connected in {:.2} s, {:.2} s with start-up ({:.0} handshakes/s, server {} µs CPU each); server RSS {} → {} MiB: {} KiB per connection",
        common.label(),
        connect_secs,
        elapsed,
        handshakes_per_s,
        opt(server_us_per_handshake),
        opt(rss_before.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(rss_after.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(per_conn.map(|b| round(b / 1024.0, 2))),
    );
    Ok(json!({
        "scenario": "idle",
        "label": common.label(),
        "target": common.target,
        "connections": n,
        "connected": connected,
        "failed": failed,
        "first_error": lines.iter().find_map(|l| l["first_error"].as_str()),
        "connect_secs": round(connect_secs, 3),
        "wall_secs": round(elapsed, 3),
        "handshakes_per_s": round(handshakes_per_s, 0),
        "server_cpu_secs": cpu.server_cpu_secs,
        "server_us_per_handshake": server_us_per_handshake,
        "generator_procs": procs,
        "generator_cpu_pct": Some(round(100.0 * shard_cpu / elapsed, 1)),
        "server_rss_before_bytes": rss_before,
        "server_rss_after_bytes": rss_after,
        "server_rss_per_conn_bytes": per_conn.map(|v| round(v, 0)),
        "shards": lines,
        "args": args,
    }))
}
