//! `storm`: N clients, each (its user) a member of two rooms of `--group-size` (the `idle`
//! layout), connect and go live; then every connection drops at once, `--missed` messages are
//! stored in every room while they are away (Chinwag, over REST), and all N reconnect within
//! `--window-secs` (evenly spread) and resume from the last `seq` they hold → time until every
//! client is live again (Chinwag: authenticated and `resumed`; peers: upgraded, Socket.IO
//! namespace joined), handshakes per second, per-client time to live, failed attempts (each retried
//! after a jittered back-off, as a client should), and for Chinwag that every missed message was
//! replayed exactly once.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use crate::chinwag::{self, SeqTrack};
use crate::conn::{Conn, source_addr};
use crate::latency;
use crate::procstat::CpuUse;
use crate::report::{mib, opt, pct1, round, us_each};
use crate::scenario::two_rooms::{LayoutArgs, TwoRooms};
use crate::setup::{self, Common};
use crate::target::Target;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct StormArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[command(flatten)]
    #[serde(flatten)]
    pub layout: LayoutArgs,
    /// The reconnects start evenly spread over this many seconds.
    #[arg(long, default_value_t = 1.0)]
    pub window_secs: f64,
    /// Messages stored in every room while everyone is away (Chinwag), to be replayed by resume.
    #[arg(long, default_value_t = 2)]
    pub missed: u32,
    /// Give up on the storm after this long.
    #[arg(long, default_value_t = 60.0)]
    pub limit_secs: f64,
    /// Conversations created (and missed messages sent) at the same time during set-up.
    #[arg(long, default_value_t = 16)]
    pub create_concurrency: usize,
}

#[derive(Default)]
struct Shared {
    live: u64,
    attempts_failed: u64,
    first_error: Option<String>,
    gave_up: u64,
    /// Per client: microseconds from its scheduled start to live.
    to_live: Option<hdrhistogram::Histogram<u64>>,
    last_live: Option<Instant>,
    replayed: u64,
    gaps: u64,
    dups: u64,
    incomplete: u64,
}

pub fn run(args: StormArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: StormArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let target = common.target;
    let layout = args.layout.rooms();
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..layout.n).map(|i| format!("{prefix}-t{i}")).collect();
    // Each room's id and owner (Chinwag).
    let rooms = if target == Target::Chinwag {
        layout.create(common, &users, args.create_concurrency, "storm").await?
    } else {
        Vec::new()
    };
    let tokens = setup::room_tokens(common, target, &users)?;
    go_live_and_drop(common, layout, &tokens).await?;
    let missed_sent = store_missed(&args, &rooms, &prefix).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let shared =
        Rc::new(RefCell::new(Shared { to_live: Some(latency::histogram()), ..Shared::default() }));
    let rss_before = common.server_rss();
    let meter = common.cpu_meter();
    let (t0, conns) = storm(&args, layout, &rooms, &tokens, &shared).await;
    let cpu = meter.stop();
    let rss_after = common.server_rss();
    let measured = Measured { t0, missed_sent, cpu, rss_before, rss_after };
    let s = shared.borrow();
    let result = report(&args, layout, &s, &measured);
    drop(conns);
    Ok(result)
}

/// Every client connects and goes live, then every connection drops at once.
async fn go_live_and_drop(
    common: &Common,
    layout: TwoRooms,
    tokens: &[Option<String>],
) -> anyhow::Result<()> {
    let n = layout.n;
    let path = |i: usize| layout.path(common.target, i);
    let opened = setup::open_all(common, n, path, |i| tokens[i].clone()).await?;
    eprintln!(
        "storm {}: {n} clients live in {:.1} s; dropping them all",
        common.label(),
        opened.elapsed.as_secs_f64()
    );
    drop(opened);
    // Let the server notice every close before anything is sent or anyone comes back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Chinwag: store `--missed` messages in every room while everyone is away; how many.
async fn store_missed(
    args: &StormArgs,
    rooms: &[(String, String)],
    prefix: &str,
) -> anyhow::Result<u64> {
    if args.common.target != Target::Chinwag || args.missed == 0 {
        return Ok(0);
    }
    let started = Instant::now();
    let sent =
        send_missed(&args.common, rooms, args.missed, prefix, args.create_concurrency).await?;
    eprintln!(
        "storm {}: {sent} messages stored while everyone was away ({:.1} s)",
        args.common.label(),
        started.elapsed().as_secs_f64()
    );
    Ok(sent)
}

/// All clients come back, evenly spread over `--window-secs` from `t0` (returned with the
/// connections that made it).
async fn storm(
    args: &StormArgs,
    layout: TwoRooms,
    rooms: &[(String, String)],
    tokens: &[Option<String>],
    shared: &Rc<RefCell<Shared>>,
) -> (Instant, Vec<Conn>) {
    let common = &args.common;
    let n = layout.n;
    let t0 = Instant::now() + Duration::from_millis(50);
    let limit = t0 + Duration::from_secs_f64(args.limit_secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let at = t0 + Duration::from_secs_f64(args.window_secs * i as f64 / n as f64);
        let (ra, rb) = layout.rooms_of(i);
        let positions: Vec<(String, u64)> = if common.target == Target::Chinwag {
            vec![(rooms[ra].0.clone(), 0), (rooms[rb].0.clone(), 0)]
        } else {
            Vec::new()
        };
        let client = Client {
            target: common.target,
            addr: common.addr,
            source: source_addr(i, common.sources),
            path: layout.path(common.target, i),
            token: token.clone(),
            positions,
            expected_each: u64::from(args.missed),
        };
        let shared = shared.clone();
        tasks.spawn_local(async move {
            tokio::time::sleep_until(at.into()).await;
            // The connection stays open until everyone is back.
            client.come_back(&shared, at, limit).await
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some(c)) = r {
            conns.push(c);
        }
    }
    (t0, conns)
}

/// What the storm measured beyond the clients' counters.
struct Measured {
    /// When the first client was due back.
    t0: Instant,
    missed_sent: u64,
    cpu: CpuUse,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
}

/// The human summary on stderr and the JSON result.
fn report(args: &StormArgs, layout: TwoRooms, s: &Shared, m: &Measured) -> serde_json::Value {
    let common = &args.common;
    let target = common.target;
    let TwoRooms { n, g, .. } = layout;
    let cpu = m.cpu;
    let all_live_secs = s.last_live.map(|t| t.saturating_duration_since(m.t0).as_secs_f64());
    let to_live = latency::summary(s.to_live.as_ref().expect("histogram"));
    let handshakes_per_s = all_live_secs.filter(|&v| v > 0.0).map(|v| s.live as f64 / v);
    let expected_replay = m.missed_sent * g as u64;
    eprintln!(
        "storm {}: {}/{n} live again {} s after the first reconnect ({} handshakes/s; per client {}); {} failed attempts, {} gave up; server {} % CPU, RSS {} → {} MiB",
        common.label(),
        s.live,
        opt(all_live_secs.map(|v| round(v, 3))),
        opt(handshakes_per_s.map(|v| round(v, 0))),
        latency::human(&to_live),
        s.attempts_failed,
        s.gave_up,
        opt(pct1(cpu.server_pct())),
        mib(m.rss_before),
        mib(m.rss_after),
    );
    if target == Target::Chinwag {
        eprintln!(
            "  resume: {} of {expected_replay} missed messages replayed, {} gaps, {} duplicates, {} replays incomplete",
            s.replayed, s.gaps, s.dups, s.incomplete
        );
    }
    json!({
        "scenario": "storm",
        "label": common.label(),
        "target": target,
        "connections": n,
        "group_size": g,
        "window_secs": args.window_secs,
        "live": s.live,
        "all_live": s.live == n as u64,
        "all_live_secs": all_live_secs.map(|v| round(v, 3)),
        "handshakes_per_s": handshakes_per_s.map(|v| round(v, 0)),
        "to_live": to_live,
        "attempts_failed": s.attempts_failed,
        "gave_up": s.gave_up,
        "first_error": s.first_error,
        "missed_sent": m.missed_sent,
        "replay_expected": (target == Target::Chinwag).then_some(expected_replay),
        "replayed": (target == Target::Chinwag).then_some(s.replayed),
        "replay_gaps": s.gaps,
        "replay_dups": s.dups,
        "replay_incomplete": s.incomplete,
        "server_cpu_secs": cpu.server_cpu_secs.map(|v| round(v, 2)),
        "server_cpu_pct": pct1(cpu.server_pct()),
        "server_us_per_handshake": us_each(cpu.server_cpu_secs, s.live, 1),
        "generator_cpu_pct": pct1(cpu.generator_pct()),
        "server_rss_before_bytes": m.rss_before,
        "server_rss_after_bytes": m.rss_after,
        "args": args,
    })
}

/// Store `missed` messages in every room over REST, as its owner.
async fn send_missed(
    common: &Common,
    rooms: &[(String, String)],
    missed: u32,
    prefix: &str,
    concurrency: usize,
) -> anyhow::Result<u64> {
    let http = reqwest::Client::new();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (k, (room, owner)) in rooms.iter().enumerate() {
        let token = setup::token(&common.token_secret, owner)?;
        let (http, gate, room) = (http.clone(), gate.clone(), room.clone());
        let (addr, prefix) = (common.addr, prefix.to_owned());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("open semaphore");
            for j in 0..missed {
                let res = http
                    .post(format!("http://{addr}/v1/conversations/{room}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"client_msg_id": format!("{prefix}-away-{k}-{j}"), "body": "while you were away"}))
                    .send()
                    .await?;
                if res.status().as_u16() != 201 {
                    bail!("storing a message: HTTP {}: {}", res.status(), res.text().await?);
                }
            }
            Ok(u64::from(missed))
        });
    }
    let mut sent = 0;
    while let Some(r) = tasks.join_next().await {
        sent += r??;
    }
    Ok(sent)
}

struct Client {
    target: Target,
    addr: std::net::SocketAddr,
    source: std::net::IpAddr,
    path: String,
    token: Option<String>,
    positions: Vec<(String, u64)>,
    expected_each: u64,
}

impl Client {
    /// Reconnect (retrying failed attempts with a jittered back-off) until live; `None` if it
    /// gave up at `limit`.
    async fn come_back(
        &self,
        shared: &Rc<RefCell<Shared>>,
        at: Instant,
        limit: Instant,
    ) -> Option<Conn> {
        let mut backoff_ms = 100u64;
        loop {
            let left = limit.saturating_duration_since(Instant::now());
            match self.attempt(shared, left).await {
                Ok(conn) => {
                    let mut s = shared.borrow_mut();
                    s.live += 1;
                    let now = Instant::now();
                    s.last_live = Some(s.last_live.map_or(now, |t| t.max(now)));
                    if let Some(h) = s.to_live.as_mut() {
                        h.saturating_record(
                            now.saturating_duration_since(at).as_micros().max(1) as u64
                        );
                    }
                    return Some(conn);
                }
                Err(e) => {
                    let mut s = shared.borrow_mut();
                    s.attempts_failed += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
            }
            // Full jitter, as docs/protocol.md asks of clients.
            let wait = Duration::from_millis(jitter(backoff_ms));
            if Instant::now() + wait >= limit {
                shared.borrow_mut().gave_up += 1;
                return None;
            }
            tokio::time::sleep(wait).await;
            backoff_ms = (backoff_ms * 2).min(5_000);
        }
    }

    async fn attempt(&self, shared: &Rc<RefCell<Shared>>, left: Duration) -> std::io::Result<Conn> {
        match self.target {
            Target::Chinwag => {
                let mut tracks: Vec<SeqTrack> =
                    self.positions.iter().map(|(_, s)| SeqTrack::at(*s)).collect();
                let mut on_message = |payload: &[u8], _now: u64, _replayed: bool| {
                    if let Some((conv, seq)) = chinwag::message_position(payload)
                        && let Some(k) =
                            self.positions.iter().position(|(c, _)| c.as_bytes() == conv)
                    {
                        tracks[k].see(seq);
                    }
                };
                let token = self.token.as_deref().unwrap_or_default();
                let (conn, incomplete) = chinwag::reconnect(
                    self.addr,
                    self.source,
                    token,
                    &self.positions,
                    left,
                    &mut on_message,
                )
                .await?;
                let mut s = shared.borrow_mut();
                for t in &tracks {
                    s.replayed += t.received;
                    s.gaps += t.gaps + self.expected_each.saturating_sub(t.last);
                    s.dups += t.dups;
                }
                s.incomplete += incomplete.len() as u64;
                Ok(conn)
            }
            _ => {
                let mut conn = Conn::connect(self.addr, self.source, &self.path).await?;
                conn.ready(self.target, None, left).await?;
                Ok(conn)
            }
        }
    }
}

/// A pseudo-random duration in [0, max_ms] (full jitter), from the clock's low bits.
fn jitter(max_ms: u64) -> u64 {
    let x = crate::clock::now_us().wrapping_mul(6_364_136_223_846_793_005);
    (x >> 33) % (max_ms + 1)
}
