//! `chat`: N users, one connection each; every user is in one direct conversation (users 2j and
//! 2j+1) and one group of `--group-size` (consecutive users). Together they send
//! `--rate` messages per second (a Poisson process per user), `--group-share` of them to their
//! group and the rest to their direct conversation, with persistence on. Meanwhile
//! `--churn-pct` of the connections per second drop (the socket just goes away, as on a phone)
//! and reconnect at once with `resume` from the last `seq` they hold, re-sending their
//! unacknowledged sends with the same `client_msg_id` (G2 makes that safe).
//!
//! Measured: deliveries per second (every member's device receives every message of its
//! conversations, the sender's included), delivered %, end-to-end latency of live deliveries
//! (send stamp → read; replayed ones have their own histogram), server CPU µs per delivery,
//! reconnect time (drop → `resumed`), and that nothing is missed: per device and conversation the
//! `seq`s must have no gaps and no duplicates, and once the run has drained every device must
//! hold its conversations' last `seq`.
//!
//! The peers run it as rooms: a group room and a pair room per user in the upgrade URL, the same
//! send mix and churn, but a reconnect is a plain new connection (they have nothing to resume
//! from), so what was sent to a member while it was away is simply not delivered: delivered %
//! shows it. `seq` checks and "behind after drain" are Chinwag's only.

mod user;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use self::user::{Final, Rng, User};
use crate::chinwag::SeqTrack;
use crate::conn::source_addr;
use crate::latency;
use crate::procstat::CpuUse;
use crate::report::{Errors, merged, opt, pct, pct1, round, us_each};
use crate::setup::{self, Common};
use crate::target::Target;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct ChatArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Users, one connection each (an even number: directs pair them up).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Members of each group.
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// Messages sent per second by all users together.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Share of the sends that go to the group (the rest to the direct conversation).
    #[arg(long, default_value_t = 0.8)]
    pub group_share: f64,
    /// Connections that drop and reconnect with resume, percent per second.
    #[arg(long, default_value_t = 1.0)]
    pub churn_pct: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Sending and churning before the measurement.
    #[arg(long, default_value_t = 5.0)]
    pub warmup_secs: f64,
    #[arg(long, default_value_t = 30.0)]
    pub secs: f64,
    /// After sending stops: wait at most this long for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Conversations created at the same time during set-up.
    #[arg(long, default_value_t = 16)]
    pub create_concurrency: usize,
}

/// 0: warm-up, 1: measured, 2: stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Warmup,
    Measure,
    Stopped,
}

struct Shared {
    stage: Stage,
    /// Sends in the measured phase, and the deliveries they owe (members of the conversation).
    sent: [u64; 2],
    expected: [u64; 2],
    /// Deliveries received (live or replayed) per phase.
    delivered: [u64; 2],
    replayed: [u64; 2],
    live_hist: Histogram<u64>,
    replay_hist: Histogram<u64>,
    reconnect_hist: Histogram<u64>,
    acks: u64,
    duplicate_acks: u64,
    resent: u64,
    reconnects: u64,
    reconnect_failures: u64,
    history_pages: u64,
    errors: Errors,
    gaps: u64,
    dups: u64,
    /// Highest acknowledged `seq` per conversation.
    last_seq: HashMap<String, u64>,
    ended: HashMap<String, u64>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            stage: Stage::Warmup,
            sent: [0; 2],
            expected: [0; 2],
            delivered: [0; 2],
            replayed: [0; 2],
            live_hist: latency::histogram(),
            replay_hist: latency::histogram(),
            reconnect_hist: latency::histogram(),
            acks: 0,
            duplicate_acks: 0,
            resent: 0,
            reconnects: 0,
            reconnect_failures: 0,
            history_pages: 0,
            errors: Errors::default(),
            gaps: 0,
            dups: 0,
            last_seq: HashMap::new(),
            ended: HashMap::new(),
        }
    }

    /// Takes `seq` into a conversation's track, adding any gap or duplicate to the totals;
    /// whether it is new.
    fn see(&mut self, track: &mut SeqTrack, seq: u64) -> bool {
        let (gaps, dups) = (track.gaps, track.dups);
        let new = track.see(seq);
        self.gaps += track.gaps - gaps;
        self.dups += track.dups - dups;
        new
    }

    /// Counts a new delivery of a message sent in phase `step` (0 warm-up, 1 measured; later
    /// phases are not counted), live or replayed, and its latency in the measured phase.
    fn count(&mut self, step: u64, sent_us: u64, now: u64, replay: bool) {
        let Ok(p @ 0..=1) = usize::try_from(step) else { return };
        self.delivered[p] += 1;
        if replay {
            self.replayed[p] += 1;
        }
        if p == 1 {
            let h = if replay { &mut self.replay_hist } else { &mut self.live_hist };
            latency::record(h, sent_us, now);
        }
    }
}

/// Who is in which conversation: user i is in group `i / g` and in direct `i / 2` (users 2j and
/// 2j+1); conversation ids (or peer room names) list the groups, then the directs.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Users (even).
    n: usize,
    /// Members per group.
    g: usize,
    groups: usize,
}

impl Layout {
    fn of(args: &ChatArgs) -> Self {
        let n = (args.users.max(2) / 2) * 2;
        let g = args.group_size.clamp(2, n);
        Layout { n, g, groups: n.div_ceil(g) }
    }

    /// User `i`'s conversations, group then direct, as indices into the id list.
    fn convs_of(&self, i: usize) -> [usize; 2] {
        [i / self.g, self.groups + i / 2]
    }

    /// Members of user `i`'s group (the last one may be short) and of its direct conversation.
    fn members_of(&self, i: usize) -> [u64; 2] {
        [(self.n - (i / self.g) * self.g).min(self.g) as u64, 2]
    }
}

pub fn run(args: ChatArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: ChatArgs) -> anyhow::Result<serde_json::Value> {
    let layout = Layout::of(&args);
    let n = layout.n;
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-c{i}")).collect();
    let ids = conversations(&args, layout, &users, &prefix).await?;
    let shared = Rc::new(RefCell::new(Shared::new()));
    let (stage_tx, stage_rx) = watch::channel(Stage::Warmup);
    let mut tasks = spawn_users(&args, layout, &users, &ids, &prefix, &shared, &stage_rx).await?;
    let measured = measure(&args, &shared, &stage_tx).await;
    // Every device reports the last `seq` it holds per conversation.
    drop(stage_tx);
    let mut finals = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        if let Ok(f) = r {
            finals.push(f);
        }
    }
    let s = shared.borrow();
    let behind = Behind::of(&s, &finals);
    Ok(report(&args, layout, &s, &measured, behind))
}

/// The conversations (Chinwag, created over REST) or peer rooms, groups first, then directs.
async fn conversations(
    args: &ChatArgs,
    layout: Layout,
    users: &[String],
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let common = &args.common;
    let Layout { n, g, groups } = layout;
    if common.target != Target::Chinwag {
        // Peer rooms, in the same order: groups, then pairs.
        return Ok((0..groups)
            .map(|k| format!("{prefix}-g{k}"))
            .chain((0..n / 2).map(|j| format!("{prefix}-d{j}")))
            .collect());
    }
    let mut specs = Vec::with_capacity(groups + n / 2);
    for k in 0..groups {
        let members: Vec<String> = users.iter().skip(k * g).take(g).cloned().collect();
        specs.push((members[0].clone(), "group", members[1..].to_vec()));
    }
    for j in 0..n / 2 {
        specs.push((users[2 * j].clone(), "direct", vec![users[2 * j + 1].clone()]));
    }
    let started = Instant::now();
    let ids = setup::create_conversations(
        common.addr,
        &common.token_secret,
        specs,
        args.create_concurrency,
    )
    .await?;
    eprintln!(
        "chat: created {groups} groups and {} direct conversations in {:.1} s",
        n / 2,
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// Connect every user and start its task (sending, churning, counting).
async fn spawn_users(
    args: &ChatArgs,
    layout: Layout,
    users: &[String],
    ids: &[String],
    prefix: &str,
    shared: &Rc<RefCell<Shared>>,
    stage: &watch::Receiver<Stage>,
) -> anyhow::Result<tokio::task::JoinSet<Final>> {
    let common = &args.common;
    let target = common.target;
    let n = layout.n;
    let tokens = setup::room_tokens(common, target, users)?;
    let path = |i: usize| {
        let [group, direct] = layout.convs_of(i);
        target.path(&format!("{},{}", ids[group], ids[direct]))
    };
    let opened = setup::open_all(common, n, path, |i| tokens[i].clone()).await?;
    eprintln!("chat: {n} users connected in {:.1} s", opened.elapsed.as_secs_f64());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in opened.conns.into_iter().enumerate() {
        let user = User {
            target,
            path: path(i),
            addr: common.node_addr(i),
            source: source_addr(i, common.sources),
            token: tokens[i].clone().unwrap_or_default(),
            convs: layout.convs_of(i).map(|k| ids[k].clone()),
            members: layout.members_of(i),
            tracks: [SeqTrack::default(); 2],
            rng: Rng::new(i as u64 + 1),
            per_user_rate: args.rate / n as f64,
            churn_per_s: args.churn_pct / 100.0,
            group_share: args.group_share,
            payload: args.payload,
            sender: format!("{prefix}u{i}"),
            request: 0,
            pending: HashMap::new(),
            scratch: Vec::with_capacity(args.payload + 256),
        };
        tasks.spawn_local(user.run(conn.expect("opened"), shared.clone(), stage.clone()));
    }
    Ok(tasks)
}

/// What the measured phase and the drain took.
struct Measured {
    measured_secs: f64,
    /// CPU while sending (the measured phase).
    sending: CpuUse,
    /// CPU over sending and the drain.
    cpu: CpuUse,
    rss_start: Option<u64>,
    rss_end: Option<u64>,
    drain_start: Instant,
}

/// Warm up, measure for `--secs`, stop sending, and drain: until every measured delivery
/// arrived, nothing arrived for a second, or `--drain-secs`.
async fn measure(
    args: &ChatArgs,
    shared: &RefCell<Shared>,
    stage: &watch::Sender<Stage>,
) -> Measured {
    let common = &args.common;
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;
    let rss_start = common.server_rss();
    let meter = common.cpu_meter();
    let measure_start = Instant::now();
    shared.borrow_mut().stage = Stage::Measure;
    stage.send_replace(Stage::Measure);
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    shared.borrow_mut().stage = Stage::Stopped;
    stage.send_replace(Stage::Stopped);
    let sending = meter.stop();
    let measured_secs = measure_start.elapsed().as_secs_f64();
    let progress = || {
        let s = shared.borrow();
        (s.delivered[1], s.expected[1])
    };
    let drain_start =
        crate::measure::drain(args.drain_secs, Some(Duration::from_secs(1)), progress).await;
    let cpu = meter.stop();
    let rss_end = common.server_rss();
    Measured { measured_secs, sending, cpu, rss_start, rss_end, drain_start }
}

/// How far behind the devices were after the drain.
struct Behind {
    /// Messages short of their conversations' last `seq`, summed.
    messages: u64,
    devices: u64,
}

impl Behind {
    fn of(s: &Shared, finals: &[Final]) -> Self {
        let mut behind = Behind { messages: 0, devices: 0 };
        for f in finals {
            let mut lagging = false;
            for (conv, held) in &f.held {
                let last = s.last_seq.get(conv).copied().unwrap_or(0);
                if last > *held {
                    behind.messages += last - held;
                    lagging = true;
                }
            }
            behind.devices += u64::from(lagging);
        }
        behind
    }
}

/// The human summary on stderr and the JSON result.
fn report(
    args: &ChatArgs,
    layout: Layout,
    s: &Shared,
    m: &Measured,
    behind: Behind,
) -> serde_json::Value {
    let delivered = s.delivered[1];
    let expected = s.expected[1];
    let deliveries_per_s = delivered as f64 / m.measured_secs;
    let us_per_delivery = us_each(m.cpu.server_cpu_secs, delivered, 3);
    let live = latency::summary(&s.live_hist);
    let delivered_pct = round(pct(delivered, expected), 3);
    eprintln!(
        "chat: {} users, {} sends/s ({} % to groups of {}), churn {} %/s: {:.0} deliveries/s, delivered {delivered_pct} %, live {}; server {} µs/delivery ({} % CPU sending)",
        layout.n,
        args.rate,
        round(100.0 * args.group_share, 0),
        layout.g,
        args.churn_pct,
        deliveries_per_s,
        latency::human(&live),
        opt(us_per_delivery),
        opt(pct1(m.sending.server_pct())),
    );
    print_churn_and_misses(args.common.target, s, &behind);
    let out = json!({
        "scenario": "chat",
        "label": args.common.label(),
        "target": args.common.target,
        "users": layout.n,
        "groups": layout.groups,
        "directs": layout.n / 2,
        "group_size": layout.g,
        "rate": args.rate,
        "group_share": args.group_share,
        "churn_pct": args.churn_pct,
        "payload_bytes": args.payload,
        "secs": round(m.measured_secs, 2),
        "sent": s.sent[1],
        "expected": expected,
        "delivered": delivered,
        "delivered_pct": delivered_pct,
        "undelivered": expected.saturating_sub(delivered),
        "deliveries_per_s": round(deliveries_per_s, 0),
        "drain_secs": round(m.drain_start.elapsed().as_secs_f64(), 2),
        "latency": live,
        "server_cpu_secs": m.cpu.server_cpu_secs.map(|v| round(v, 2)),
        "server_cpu_pct": pct1(m.sending.server_pct()),
        "server_us_per_delivery": us_per_delivery,
        "generator_cpu_pct": pct1(m.sending.generator_pct()),
        "server_rss_start_bytes": m.rss_start,
        "server_rss_end_bytes": m.rss_end,
        "args": args,
    });
    merged(out, churn_json(args.common.target, s, &behind))
}

fn print_churn_and_misses(target: Target, s: &Shared, behind: &Behind) {
    let reconnect = latency::summary(&s.reconnect_hist);
    if target != Target::Chinwag {
        eprintln!(
            "  churn: {} reconnects ({} failed), reconnect {} (nothing to resume)",
            s.reconnects,
            s.reconnect_failures,
            latency::human(&reconnect),
        );
        eprintln!(
            "  never delivered: {} of {} (sent while the member was reconnecting, or lost)",
            s.expected[1].saturating_sub(s.delivered[1]),
            s.expected[1]
        );
        return;
    }
    eprintln!(
        "  churn: {} reconnects ({} failed), reconnect {}; {} deliveries replayed by resume ({}), {} history pages; {} sends re-sent, {} acknowledged as duplicates",
        s.reconnects,
        s.reconnect_failures,
        latency::human(&reconnect),
        s.replayed[1],
        latency::human(&latency::summary(&s.replay_hist)),
        s.history_pages,
        s.resent,
        s.duplicate_acks
    );
    eprintln!(
        "  missed: {} gaps, {} duplicates; after the drain {} messages behind on {} devices; {} errors",
        s.gaps, s.dups, behind.messages, behind.devices, s.errors.count
    );
}

/// Churn, resume and `seq` checks (the last only for Chinwag).
fn churn_json(target: Target, s: &Shared, behind: &Behind) -> serde_json::Value {
    let chinwag = target == Target::Chinwag;
    json!({
        "replay_latency": latency::summary(&s.replay_hist),
        "replayed": s.replayed[1],
        "reconnects": s.reconnects,
        "reconnect_failures": s.reconnect_failures,
        "reconnect_latency": latency::summary(&s.reconnect_hist),
        "history_pages": s.history_pages,
        "resent": s.resent,
        "duplicate_acks": s.duplicate_acks,
        "acks": s.acks,
        "gaps": chinwag.then_some(s.gaps),
        "dups": chinwag.then_some(s.dups),
        "behind_after_drain": chinwag.then_some(behind.messages),
        "devices_behind": chinwag.then_some(behind.devices),
        "errors": s.errors.count,
        "first_error": s.errors.first,
        "ended": s.ended,
    })
}
