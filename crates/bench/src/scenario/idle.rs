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
use crate::scenario::fanout::{opt, round};
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
}

pub fn run(args: IdleArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: IdleArgs) -> anyhow::Result<serde_json::Value> {
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
