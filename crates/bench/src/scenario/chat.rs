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

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use crate::chinwag::{self, SeqTrack};
use crate::conn::{Conn, Open, source_addr};
use crate::latency;
use crate::procstat::{CpuMeter, rss_bytes};
use crate::scan::{self, Stamp};
use crate::report::{opt, round};
use crate::setup::{self, Common};
use crate::target::{Kind, Target};

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
    errors: u64,
    first_error: Option<String>,
    gaps: u64,
    dups: u64,
    /// Highest acknowledged `seq` per conversation.
    last_seq: HashMap<String, u64>,
    ended: HashMap<String, u64>,
}

impl Shared {
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

pub fn run(args: ChatArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: ChatArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let target = common.target;
    let n = (args.users.max(2) / 2) * 2;
    let g = args.group_size.clamp(2, n);
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-c{i}")).collect();
    let groups = n.div_ceil(g);
    let mut specs = Vec::with_capacity(groups + n / 2);
    for k in 0..groups {
        let members: Vec<String> = users.iter().skip(k * g).take(g).cloned().collect();
        specs.push((members[0].clone(), "group", members[1..].to_vec()));
    }
    for j in 0..n / 2 {
        specs.push((users[2 * j].clone(), "direct", vec![users[2 * j + 1].clone()]));
    }
    let ids = if target == Target::Chinwag {
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
        ids
    } else {
        // Peer rooms, in the same order: groups, then pairs.
        (0..groups)
            .map(|k| format!("{prefix}-g{k}"))
            .chain((0..n / 2).map(|j| format!("{prefix}-d{j}")))
            .collect()
    };
    let tokens = setup::room_tokens(common, target, &users)?;
    let path = |i: usize| target.path(&format!("{},{}", ids[i / g], ids[groups + i / 2]));
    let opened = setup::open_all(common, n, path, |i| tokens[i].clone()).await?;
    eprintln!("chat: {n} users connected in {:.1} s", opened.elapsed.as_secs_f64());
    let shared = Rc::new(RefCell::new(Shared {
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
        errors: 0,
        first_error: None,
        gaps: 0,
        dups: 0,
        last_seq: HashMap::new(),
        ended: HashMap::new(),
    }));
    let (stage_tx, stage_rx) = watch::channel(Stage::Warmup);
    let per_user_rate = args.rate / n as f64;
    let churn_per_s = args.churn_pct / 100.0;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in opened.conns.into_iter().enumerate() {
        let user = User {
            target,
            path: path(i),
            addr: common.addr,
            source: source_addr(i, common.sources),
            token: tokens[i].clone().unwrap_or_default(),
            convs: [ids[i / g].clone(), ids[groups + i / 2].clone()],
            members: [(users.len() - (i / g) * g).min(g) as u64, 2],
            tracks: [SeqTrack::default(); 2],
            rng: Rng::new(i as u64 + 1),
            per_user_rate,
            churn_per_s,
            group_share: args.group_share,
            payload: args.payload,
            sender: format!("{prefix}u{i}"),
            request: 0,
            pending: HashMap::new(),
            scratch: Vec::with_capacity(args.payload + 256),
        };
        tasks.spawn_local(user.run(conn.expect("opened"), shared.clone(), stage_rx.clone()));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;
    let rss_start = common.server_pid.and_then(rss_bytes);
    let meter = CpuMeter::start(common.server_pid);
    let measure_start = Instant::now();
    shared.borrow_mut().stage = Stage::Measure;
    stage_tx.send_replace(Stage::Measure);
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    shared.borrow_mut().stage = Stage::Stopped;
    stage_tx.send_replace(Stage::Stopped);
    let sending = meter.stop();
    let measured_secs = measure_start.elapsed().as_secs_f64();
    // Drain: until every measured delivery arrived, nothing arrived for a second, or the limit.
    let drain_start = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let (got, want) = {
            let s = shared.borrow();
            (s.delivered[1], s.expected[1])
        };
        if got >= want || drain_start.elapsed().as_secs_f64() >= args.drain_secs {
            break;
        }
        if got != last {
            (last, last_change) = (got, Instant::now());
        } else if last_change.elapsed() >= Duration::from_secs(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = meter.stop();
    let rss_end = common.server_pid.and_then(rss_bytes);
    // Every device reports the last `seq` it holds per conversation.
    drop(stage_tx);
    let mut behind = 0u64;
    let mut behind_devices = 0u64;
    let mut finals = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        if let Ok(f) = r {
            finals.push(f);
        }
    }
    let s = shared.borrow();
    for f in &finals {
        let mut lagging = false;
        for (conv, held) in &f.held {
            let last = s.last_seq.get(conv).copied().unwrap_or(0);
            if last > *held {
                behind += last - held;
                lagging = true;
            }
        }
        behind_devices += u64::from(lagging);
    }
    let delivered = s.delivered[1];
    let expected = s.expected[1];
    let deliveries_per_s = delivered as f64 / measured_secs;
    let us_per_delivery =
        cpu.server_cpu_secs.filter(|_| delivered > 0).map(|c| round(c * 1e6 / delivered as f64, 3));
    let live = latency::summary(&s.live_hist);
    let replay = latency::summary(&s.replay_hist);
    let reconnect = latency::summary(&s.reconnect_hist);
    let delivered_pct =
        if expected == 0 { 0.0 } else { round(100.0 * delivered as f64 / expected as f64, 3) };
    eprintln!(
        "chat: {n} users, {} sends/s ({} % to groups of {g}), churn {} %/s: {:.0} deliveries/s, delivered {delivered_pct} %, live {}; server {} µs/delivery ({} % CPU sending)",
        args.rate,
        round(100.0 * args.group_share, 0),
        args.churn_pct,
        deliveries_per_s,
        latency::human(&live),
        opt(us_per_delivery),
        opt(sending.server_pct().map(|v| round(v, 1))),
    );
    let chinwag = target == Target::Chinwag;
    if chinwag {
        eprintln!(
            "  churn: {} reconnects ({} failed), reconnect {}; {} deliveries replayed by resume ({}), {} history pages; {} sends re-sent, {} acknowledged as duplicates",
            s.reconnects,
            s.reconnect_failures,
            latency::human(&reconnect),
            s.replayed[1],
            latency::human(&replay),
            s.history_pages,
            s.resent,
            s.duplicate_acks
        );
    } else {
        eprintln!(
            "  churn: {} reconnects ({} failed), reconnect {} (nothing to resume)",
            s.reconnects,
            s.reconnect_failures,
            latency::human(&reconnect),
        );
    }
    if chinwag {
        eprintln!(
            "  missed: {} gaps, {} duplicates; after the drain {behind} messages behind on {behind_devices} devices; {} errors",
            s.gaps, s.dups, s.errors
        );
    } else {
        eprintln!(
            "  never delivered: {} of {expected} (sent while the member was reconnecting, or lost)",
            expected.saturating_sub(delivered)
        );
    }
    let mut out = json!({
        "scenario": "chat",
        "label": common.label(),
        "target": common.target,
        "users": n,
        "groups": groups,
        "directs": n / 2,
        "group_size": g,
        "rate": args.rate,
        "group_share": args.group_share,
        "churn_pct": args.churn_pct,
        "payload_bytes": args.payload,
        "secs": round(measured_secs, 2),
        "sent": s.sent[1],
        "expected": expected,
        "delivered": delivered,
        "delivered_pct": delivered_pct,
        "undelivered": expected.saturating_sub(delivered),
        "deliveries_per_s": round(deliveries_per_s, 0),
        "drain_secs": round(drain_start.elapsed().as_secs_f64(), 2),
        "latency": live,
    });
    let more = json!({
        "replay_latency": replay,
        "replayed": s.replayed[1],
        "reconnects": s.reconnects,
        "reconnect_failures": s.reconnect_failures,
        "reconnect_latency": reconnect,
        "history_pages": s.history_pages,
        "resent": s.resent,
        "duplicate_acks": s.duplicate_acks,
        "acks": s.acks,
        "gaps": chinwag.then_some(s.gaps),
        "dups": chinwag.then_some(s.dups),
        "behind_after_drain": chinwag.then_some(behind),
        "devices_behind": chinwag.then_some(behind_devices),
        "errors": s.errors,
        "first_error": s.first_error,
        "ended": s.ended,
        "server_cpu_secs": cpu.server_cpu_secs.map(|v| round(v, 2)),
        "server_cpu_pct": sending.server_pct().map(|v| round(v, 1)),
        "server_us_per_delivery": us_per_delivery,
        "generator_cpu_pct": sending.generator_pct().map(|v| round(v, 1)),
        "server_rss_start_bytes": rss_start,
        "server_rss_end_bytes": rss_end,
        "args": args,
    });
    if let (Some(o), serde_json::Value::Object(m)) = (out.as_object_mut(), more) {
        o.extend(m);
    }
    Ok(out)
}

/// A small deterministic generator (xorshift64*), one per user: no shared state, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// An exponential wait with the given rate per second (a Poisson process).
    fn wait(&mut self, per_s: f64) -> Duration {
        if per_s <= 0.0 {
            return Duration::from_secs(86_400);
        }
        Duration::from_secs_f64(-self.unit().ln() / per_s)
    }
}

struct User {
    target: Target,
    /// The upgrade path (peers: the user's two rooms).
    path: String,
    addr: SocketAddr,
    source: IpAddr,
    token: String,
    /// Group, then direct.
    convs: [String; 2],
    members: [u64; 2],
    tracks: [SeqTrack; 2],
    rng: Rng,
    per_user_rate: f64,
    churn_per_s: f64,
    group_share: f64,
    payload: usize,
    sender: String,
    request: u64,
    /// Sends not yet acknowledged: request id → the `send` frame's payload.
    pending: HashMap<u64, Vec<u8>>,
    scratch: Vec<u8>,
}

/// What a device holds at the end: conversation → last `seq`.
struct Final {
    held: Vec<(String, u64)>,
}

impl User {
    async fn run(
        mut self,
        mut conn: Conn,
        shared: Rc<RefCell<Shared>>,
        mut stage: watch::Receiver<Stage>,
    ) -> Final {
        let mut next_send = Instant::now() + self.rng.wait(self.per_user_rate);
        let mut next_churn = Instant::now() + self.rng.wait(self.churn_per_s);
        let ended = loop {
            let st = *stage.borrow();
            let active = st != Stage::Stopped;
            tokio::select! {
                r = conn.stream.readable() => {
                    if let Err(e) = r {
                        break e.to_string();
                    }
                    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
                        self.on_frame(&shared, payload, now, false, out);
                    };
                    match conn.read_now(&mut on_text) {
                        Ok(Open::Yes) => {}
                        Ok(Open::No) => break conn.close_code.map_or("eof".into(), |c| c.to_string()),
                        Err(e) => break e.to_string(),
                    }
                }
                r = conn.stream.writable(), if !conn.out.is_empty() => {
                    if let Err(e) = r {
                        break e.to_string();
                    }
                }
                _ = tokio::time::sleep_until(next_send.into()), if active => {
                    next_send += self.rng.wait(self.per_user_rate);
                    self.send(&shared, &mut conn.out);
                }
                _ = tokio::time::sleep_until(next_churn.into()), if active => {
                    next_churn = Instant::now() + self.rng.wait(self.churn_per_s);
                    drop(conn);
                    match self.reconnect(&shared).await {
                        Ok(c) => conn = c,
                        Err(e) => break e,
                    }
                }
                r = stage.changed() => {
                    if r.is_err() {
                        break "done".into();
                    }
                }
            }
            if !conn.out.is_empty()
                && let Err(e) = conn.try_flush()
            {
                break e.to_string();
            }
        };
        if ended != "done" {
            *shared.borrow_mut().ended.entry(ended).or_default() += 1;
        }
        Final { held: self.convs.iter().cloned().zip(self.tracks.iter().map(|t| t.last)).collect() }
    }

    fn send(&mut self, shared: &Rc<RefCell<Shared>>, out: &mut Vec<u8>) {
        let k = usize::from(self.rng.unit() > self.group_share);
        let mut s = shared.borrow_mut();
        let phase = match s.stage {
            Stage::Warmup => 0,
            Stage::Measure => 1,
            Stage::Stopped => return,
        };
        self.request += 1;
        self.scratch.clear();
        let stamp = Stamp { sent_us: crate::clock::now_us(), step: phase };
        self.target.write_send(
            &mut self.scratch,
            &self.convs[k],
            &self.sender,
            self.request,
            stamp,
            self.payload,
        );
        crate::frame::encode_masked(out, crate::frame::OP_TEXT, &self.scratch);
        if self.target == Target::Chinwag {
            // Peers acknowledge nothing: there is nothing to re-send.
            self.pending.insert(self.request, self.scratch.clone());
        }
        s.sent[phase as usize] += 1;
        s.expected[phase as usize] += self.members[k];
    }

    /// One frame from the server; `replay` while a resume is replaying. Replies (Socket.IO
    /// pongs) go to `out`.
    fn on_frame(
        &mut self,
        shared: &Rc<RefCell<Shared>>,
        payload: &[u8],
        now: u64,
        replay: bool,
        out: &mut Vec<u8>,
    ) {
        if self.target != Target::Chinwag {
            self.on_peer_frame(shared, payload, now, out);
            return;
        }
        let mut s = shared.borrow_mut();
        match chinwag::frame_type(payload) {
            b"message" => {
                let Some((conv, seq)) = chinwag::message_position(payload) else { return };
                let Some(k) = self.convs.iter().position(|c| c.as_bytes() == conv) else { return };
                if !s.see(&mut self.tracks[k], seq) {
                    return;
                }
                let Some(stamp) = Target::Chinwag.stamp(payload) else { return };
                s.count(u64::from(stamp.step), stamp.sent_us, now, replay);
            }
            b"ack" => {
                s.acks += 1;
                if let Some(id) = scan::field_u64(payload, br#""id":"#) {
                    self.pending.remove(&id);
                }
                if scan::find(payload, br#""duplicate":true"#).is_some() {
                    s.duplicate_acks += 1;
                }
                if let (Some(conv), Some(seq)) = (
                    chinwag::field_str(payload, br#""conversation_id":""#),
                    scan::field_u64(payload, br#""seq":"#),
                ) {
                    let conv = String::from_utf8_lossy(conv);
                    match s.last_seq.get_mut(conv.as_ref()) {
                        Some(v) => *v = (*v).max(seq),
                        None => {
                            s.last_seq.insert(conv.into_owned(), seq);
                        }
                    }
                }
            }
            b"error" => {
                s.errors += 1;
                s.first_error.get_or_insert_with(|| String::from_utf8_lossy(payload).into_owned());
            }
            _ => {}
        }
    }

    /// Reconnect with `resume` from the last `seq` held, page what the replay left out, re-send
    /// what was not acknowledged. Retries a failed attempt after a short jittered wait.
    async fn reconnect(&mut self, shared: &Rc<RefCell<Shared>>) -> Result<Conn, String> {
        let started = Instant::now();
        for attempt in 0..10u32 {
            if attempt > 0 {
                let wait = self.rng.unit() * 100.0 * f64::from(attempt);
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            match self.try_reconnect(shared).await {
                Ok(conn) => {
                    let mut s = shared.borrow_mut();
                    s.reconnects += 1;
                    s.reconnect_hist.saturating_record(started.elapsed().as_micros().max(1) as u64);
                    return Ok(conn);
                }
                Err(e) => {
                    let mut s = shared.borrow_mut();
                    s.reconnect_failures += 1;
                    s.first_error.get_or_insert_with(|| format!("reconnect: {e}"));
                }
            }
        }
        Err("gave up reconnecting".into())
    }

    async fn try_reconnect(&mut self, shared: &Rc<RefCell<Shared>>) -> std::io::Result<Conn> {
        if self.target != Target::Chinwag {
            // Nothing to resume: a new connection, back in the same rooms.
            let mut conn = Conn::connect(self.addr, self.source, &self.path).await?;
            conn.ready(self.target, None, Duration::from_secs(30)).await?;
            return Ok(conn);
        }
        let positions: Vec<(String, u64)> =
            self.convs.iter().cloned().zip(self.tracks.iter().map(|t| t.last)).collect();
        let token = self.token.clone();
        let frames = RefCell::new(Vec::new());
        let mut on_message = |payload: &[u8], now: u64, replayed: bool| {
            frames.borrow_mut().push((payload.to_vec(), now, replayed));
        };
        let (mut conn, incomplete) = chinwag::reconnect(
            self.addr,
            self.source,
            &token,
            &positions,
            Duration::from_secs(30),
            &mut on_message,
        )
        .await?;
        for (payload, now, replayed) in frames.take() {
            self.on_frame(shared, &payload, now, replayed, &mut conn.out);
        }
        for (conversation, _) in incomplete {
            let Some(k) = self.convs.iter().position(|c| *c == conversation) else { continue };
            let after = self.tracks[k].last;
            let pages = RefCell::new(Vec::new());
            let live = RefCell::new(Vec::new());
            let mut on_page = |seq: u64, body: &[u8], now: u64| {
                pages.borrow_mut().push((seq, body.to_vec(), now))
            };
            let mut on_live =
                |payload: &[u8], now: u64| live.borrow_mut().push((payload.to_vec(), now));
            let n =
                chinwag::page_history(&mut conn, &conversation, after, &mut on_page, &mut on_live)
                    .await?;
            shared.borrow_mut().history_pages += u64::from(n);
            for (seq, body, now) in pages.take() {
                self.on_history(shared, k, seq, &body, now);
            }
            for (payload, now) in live.take() {
                self.on_frame(shared, &payload, now, false, &mut conn.out);
            }
        }
        // Re-send what was not acknowledged, with the same ids: stored at most once (G2).
        let mut pending: Vec<(u64, Vec<u8>)> =
            self.pending.iter().map(|(k, v)| (*k, v.clone())).collect();
        pending.sort_by_key(|(k, _)| *k);
        shared.borrow_mut().resent += pending.len() as u64;
        for (_, frame) in pending {
            conn.queue_text(&frame);
        }
        conn.try_flush()?;
        Ok(conn)
    }

    /// A peer's frame: a room message counts as delivered (no `seq`, no dedup needed).
    fn on_peer_frame(
        &mut self,
        shared: &Rc<RefCell<Shared>>,
        payload: &[u8],
        now: u64,
        out: &mut Vec<u8>,
    ) {
        match self.target.classify(payload) {
            Kind::Message => {
                let Some(stamp) = self.target.stamp(payload) else { return };
                shared.borrow_mut().count(u64::from(stamp.step), stamp.sent_us, now, false);
            }
            Kind::EnginePing => crate::frame::encode_masked(out, crate::frame::OP_TEXT, b"3"),
            _ => {}
        }
    }

    /// A message fetched with `history` (body only, as the page carries it).
    fn on_history(
        &mut self,
        shared: &Rc<RefCell<Shared>>,
        k: usize,
        seq: u64,
        body: &[u8],
        now: u64,
    ) {
        let mut s = shared.borrow_mut();
        if !s.see(&mut self.tracks[k], seq) {
            return;
        }
        let Some((sent_us, n)) = scan::leading_u64(body) else { return };
        let Some((step, _)) = body.get(n + 1..).and_then(scan::leading_u64) else { return };
        s.count(step, sent_us, now, true);
    }
}
