//! `slow`: one room of N members at a fixed publish rate (the harness uses half of what Chinwag
//! sustains), first with every member reading (the baseline), then with `--slow-pct` of them
//! no longer polling their sockets (they neither read nor write: a frozen tab, a phone in a
//! tunnel). Measured on the same healthy members in both phases: delivered % and end-to-end
//! latency (p99 compared with the baseline); over the whole run: the server's resident memory
//! (sampled); the time until the server cuts the slow ones off (Chinwag closes them with 4008 and
//! counts them in `chinwag_queue_overflows_total`, read from `/metrics`; the peers have no such
//! rule); and afterwards whether the slow ones get everything: they read again, and a Chinwag
//! client that was closed reconnects with `resume` from the last `seq` it holds and pages the
//! rest with `history` when the replay stops at its cap. Every slow member must end up with every
//! published message exactly once (counted by `seq`; for the peers, by stamped bodies).

mod member;
mod monitor;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use self::member::{SlowMember, member};
use self::monitor::{Monitor, Samples};
use crate::conn::source_addr;
use crate::latency::{self, Summary};
use crate::procstat::CpuUse;
use crate::report::{mib, opt, pct, pct1, round};
use crate::scenario::room::{self, OneRoom, Period, Schedule};
use crate::setup::Common;
use crate::target::Target;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct SlowArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Members of the room, one connection each.
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Publish rate, messages per second (each delivered to every member).
    #[arg(long, default_value_t = 250.0)]
    pub rate: f64,
    /// Members that publish (never slow).
    #[arg(long, default_value_t = 8)]
    pub publishers: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Share of the members that stop reading in the second phase, in percent (at least one).
    #[arg(long, default_value_t = 1.0)]
    pub slow_pct: f64,
    /// Length of the baseline phase (everyone reads).
    #[arg(long, default_value_t = 20.0)]
    pub baseline_secs: f64,
    /// Length of the phase with slow members.
    #[arg(long, default_value_t = 60.0)]
    pub slow_secs: f64,
    /// After publishing stops: how long the healthy members get to receive the last messages.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// How long the slow members get to recover everything once they read again.
    #[arg(long, default_value_t = 60.0)]
    pub recover_secs: f64,
    /// Server memory (and Chinwag's cut-off counter) sampling interval.
    #[arg(long, default_value_t = 250)]
    pub sample_ms: u64,
    /// End the slow phase this long after the server has cut off every slow member (Chinwag),
    /// so that they read again while the server still holds their close frame (within
    /// `slow_close_grace_ms`) and see 4008; `--slow-secs` stays the upper bound. Negative: never.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub end_after_cut_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Everyone reads.
    Running,
    /// Slow members do not poll their sockets.
    Frozen,
    /// Slow members read again and recover.
    Recover,
}

/// What one slow member saw.
#[derive(Debug, Default, Clone, Serialize)]
struct SlowState {
    /// Stamped messages received (peers), or distinct `seq`s (Chinwag).
    received: u64,
    /// Chinwag: messages received through `resume` replay and `history` after reconnecting.
    recovered_by_resume: u64,
    dups: u64,
    gaps: u64,
    /// How its first connection ended (close code, `eof`, or an error).
    first_close: Option<String>,
    /// Seconds after it read again until the first connection ended.
    closed_after_secs: Option<f64>,
    reconnects: u32,
    history_pages: u32,
    /// Seconds after it read again until it held every published message.
    complete_after_secs: Option<f64>,
    error: Option<String>,
}

struct Shared {
    /// Phase 0, the baseline, and phase 1, with slow members: what the healthy members received.
    room: Schedule,
    /// Chinwag: highest `seq` acknowledged.
    max_acked_seq: u64,
    healthy_ended: BTreeMap<String, u64>,
    healthy_seq_gaps: u64,
    /// Messages every member must end up with (set when publishing has stopped).
    expected: Option<u64>,
    recover_started: Option<Instant>,
    recover_until: Option<Instant>,
    slow: Vec<SlowState>,
}

impl AsMut<Schedule> for Shared {
    fn as_mut(&mut self) -> &mut Schedule {
        &mut self.room
    }
}

/// How many members, how many of them publish, and how many stop reading (the last ones).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    n: usize,
    publishers: usize,
    slow_n: usize,
}

impl Sizes {
    fn of(args: &SlowArgs) -> Self {
        let n = args.members.max(2);
        let publishers = args.publishers.clamp(1, n - 1);
        let slow_n = ((n as f64 * args.slow_pct / 100.0).ceil() as usize).clamp(1, n - publishers);
        Sizes { n, publishers, slow_n }
    }

    fn healthy(&self) -> u64 {
        (self.n - self.slow_n) as u64
    }
}

pub fn run(args: SlowArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: SlowArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let sizes = Sizes::of(&args);
    let mut one = OneRoom::open(common, sizes.n, "w").await?;
    eprintln!(
        "slow {}: {} members connected in {:.1} s; {} of them will stop reading",
        common.label(),
        sizes.n,
        one.opened.elapsed.as_secs_f64(),
        sizes.slow_n
    );
    let shared = Rc::new(RefCell::new(Shared {
        room: Schedule::new(common.target, 2),
        max_acked_seq: 0,
        healthy_ended: BTreeMap::new(),
        healthy_seq_gaps: 0,
        expected: None,
        recover_started: None,
        recover_until: None,
        slow: vec![SlowState::default(); sizes.slow_n],
    }));
    let (stage_tx, stage_rx) = watch::channel(Stage::Running);
    let tasks = spawn_members(&args, sizes, &mut one, &shared, &stage_rx);
    let monitor = Monitor::start(common, common.target, args.sample_ms);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Phase 0: the baseline; phase 1: with slow members.
    let baseline = phase(&args, sizes, &shared, &monitor, 0, args.baseline_secs).await;
    stage_tx.send_replace(Stage::Frozen);
    let frozen_at = Instant::now();
    let with_slow = phase(&args, sizes, &shared, &monitor, 1, args.slow_secs).await;

    let recover_start = recover_all(&args, &shared, &stage_tx).await;
    let samples = monitor.stop().await;
    for t in &tasks {
        t.abort();
    }
    let s = shared.borrow();
    let run = Run { sizes, baseline, with_slow, frozen_at, recover_start, samples };
    Ok(report(&args, &s, &run))
}

/// One task per member; the slow members are the last ones (never publishers).
fn spawn_members(
    args: &SlowArgs,
    sizes: Sizes,
    one: &mut OneRoom,
    shared: &Rc<RefCell<Shared>>,
    stage: &watch::Receiver<Stage>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let Sizes { n, publishers, slow_n } = sizes;
    let common = &args.common;
    one.members(publishers, args.payload)
        .into_iter()
        .map(|(i, conn, publisher)| {
            let slow = (i >= n - slow_n).then(|| SlowMember {
                index: i - (n - slow_n),
                token: one.tokens[i].clone(),
                source: source_addr(i, common.sources),
                room: one.room.clone(),
                addr: common.addr,
            });
            let task = member(conn, shared.clone(), publisher, slow, stage.clone());
            tokio::task::spawn_local(task)
        })
        .collect()
}

/// Publish phase `k` for at most `secs` (the slow phase of a Chinwag run ends earlier, once
/// every slow member was cut off), let the healthy members drain, and report the phase.
async fn phase(
    args: &SlowArgs,
    sizes: Sizes,
    shared: &RefCell<Shared>,
    monitor: &Monitor,
    k: usize,
    secs: f64,
) -> (serde_json::Value, Summary) {
    let target = args.common.target;
    let meter = args.common.cpu_meter();
    let phase = shared.borrow_mut().room.open(k, args.rate, secs);
    if k == 1 && target == Target::Chinwag && args.end_after_cut_secs >= 0.0 {
        until_all_cut(args, sizes, monitor, phase.until).await;
    } else {
        tokio::time::sleep_until(phase.until.into()).await;
    }
    room::close(shared).await;
    let phase_secs = phase.start.elapsed().as_secs_f64();
    let cpu = meter.stop();
    // Let the healthy members receive the last messages of the phase.
    let progress = || shared.borrow().room.progress(k, sizes.healthy());
    let drain_start = crate::measure::drain(args.drain_secs, None, progress).await;
    let s = shared.borrow();
    let p = &s.room.periods[k];
    let r = phase_result(p, sizes, secs, phase_secs, drain_start, cpu);
    eprintln!(
        "  {} ({:.1} s): {} msg/s × {}: healthy members got {:.2} %, {}; server {} % CPU",
        if k == 0 { "baseline" } else { "with slow members" },
        phase_secs,
        args.rate,
        sizes.n,
        r.0["delivered_pct"].as_f64().unwrap_or(0.0),
        latency::human(&r.1),
        opt(pct1(cpu.server_pct())),
    );
    r
}

/// Wait until `until`, or until every slow member was cut off and `--end-after-cut-secs` more.
async fn until_all_cut(args: &SlowArgs, sizes: Sizes, monitor: &Monitor, until: Instant) {
    let base = monitor.overflows.get();
    let mut all_cut_at: Option<Instant> = None;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if all_cut_at.is_none()
            && monitor.overflows.get().saturating_sub(base) >= sizes.slow_n as u64
        {
            all_cut_at = Some(Instant::now());
        }
        if all_cut_at.is_some_and(|t| t.elapsed().as_secs_f64() >= args.end_after_cut_secs) {
            break;
        }
    }
}

/// A phase's figures (on the healthy members) and its latency.
fn phase_result(
    p: &Period,
    sizes: Sizes,
    max_secs: f64,
    phase_secs: f64,
    drain_start: Instant,
    cpu: CpuUse,
) -> (serde_json::Value, Summary) {
    let expected = p.sent * sizes.healthy();
    let lat = latency::summary(&p.hist);
    let r = json!({
        "secs": round(phase_secs, 2),
        "max_secs": max_secs,
        "sent": p.sent,
        "expected_healthy": expected,
        "delivered_healthy": p.received,
        "delivered_pct": round(pct(p.received, expected), 3),
        "drain_secs": round(drain_start.elapsed().as_secs_f64(), 2),
        "server_cpu_pct": pct1(cpu.server_pct()),
        "generator_cpu_pct": pct1(cpu.generator_pct()),
        "latency": lat,
    });
    (r, lat)
}

/// The slow members read again and recover, for at most `--recover-secs` (and a second);
/// returns when that started.
async fn recover_all(
    args: &SlowArgs,
    shared: &RefCell<Shared>,
    stage: &watch::Sender<Stage>,
) -> Instant {
    let recover_start = Instant::now();
    {
        let mut s = shared.borrow_mut();
        let sent = s.room.periods[0].sent + s.room.periods[1].sent;
        s.expected = Some(match args.common.target {
            // Every stored message (its `seq`), whichever publisher sent it.
            Target::Chinwag => s.max_acked_seq,
            _ => sent,
        });
        s.recover_started = Some(recover_start);
        s.recover_until = Some(recover_start + Duration::from_secs_f64(args.recover_secs));
    }
    stage.send_replace(Stage::Recover);
    loop {
        let done = {
            let s = shared.borrow();
            s.slow.iter().all(|st| st.complete_after_secs.is_some() || st.error.is_some())
        };
        if done || recover_start.elapsed().as_secs_f64() >= args.recover_secs + 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recover_start
}

/// What the run measured, for the report.
struct Run {
    sizes: Sizes,
    baseline: (serde_json::Value, Summary),
    with_slow: (serde_json::Value, Summary),
    frozen_at: Instant,
    recover_start: Instant,
    samples: Samples,
}

/// The slow members' recovery, summed over them.
struct Recovery {
    expected: u64,
    received: u64,
    recovered: u64,
    missing: u64,
    dups: u64,
    complete: usize,
    /// How each one's first connection ended.
    close_codes: BTreeMap<String, u64>,
    /// The slowest one's time to hold everything.
    max_secs: Option<f64>,
}

impl Recovery {
    fn of(s: &Shared, slow_n: usize) -> Self {
        let expected = s.expected.unwrap_or(0);
        let received: u64 = s.slow.iter().map(|st| st.received).sum();
        let mut close_codes: BTreeMap<String, u64> = BTreeMap::new();
        for st in &s.slow {
            let how = st.first_close.clone().unwrap_or_else(|| "open".into());
            *close_codes.entry(how).or_default() += 1;
        }
        Recovery {
            expected,
            received,
            recovered: s.slow.iter().map(|st| st.recovered_by_resume).sum(),
            missing: (expected * slow_n as u64).saturating_sub(received),
            dups: s.slow.iter().map(|st| st.dups).sum::<u64>(),
            complete: s.slow.iter().filter(|st| st.complete_after_secs.is_some()).count(),
            close_codes,
            max_secs: s.slow.iter().filter_map(|st| st.complete_after_secs).fold(None, max_opt),
        }
    }
}

/// The human summary on stderr and the JSON result.
fn report(args: &SlowArgs, s: &Shared, run: &Run) -> serde_json::Value {
    let common = &args.common;
    let target = common.target;
    let Sizes { n, publishers, slow_n } = run.sizes;
    let rec = Recovery::of(s, slow_n);
    let cut = run.samples.cut_off_times(run.frozen_at);
    let (base_lat, slow_lat) = (run.baseline.1, run.with_slow.1);
    let p99_ratio =
        (base_lat.p99_us > 0).then(|| round(slow_lat.p99_us as f64 / base_lat.p99_us as f64, 3));
    let rss = run.samples.rss_summary(run.frozen_at, run.recover_start);
    eprintln!(
        "  healthy p99 {} → {} ms ({}× the baseline); server RSS max {} MiB (baseline) / {} MiB (slow phase) / {} MiB (end)",
        round(base_lat.p99_us as f64 / 1000.0, 2),
        round(slow_lat.p99_us as f64 / 1000.0, 2),
        opt(p99_ratio),
        mib(rss.baseline_max),
        mib(rss.slow_max),
        mib(rss.end),
    );
    print_cut_and_recovery(target, slow_n, &cut, &rec);
    json!({
        "scenario": "slow",
        "label": common.label(),
        "target": target,
        "members": n,
        "slow_members": slow_n,
        "publishers": publishers,
        "rate": args.rate,
        "offered_deliveries_per_s": args.rate * n as f64,
        "payload_bytes": args.payload,
        "baseline": run.baseline.0,
        "with_slow": run.with_slow.0,
        "healthy_p99_ratio": p99_ratio,
        "server_rss": {
            "baseline_max_bytes": rss.baseline_max,
            "slow_max_bytes": rss.slow_max,
            "end_bytes": rss.end,
            "frozen_at_secs": run.samples.since_start(run.frozen_at),
            "recover_at_secs": run.samples.since_start(run.recover_start),
            "samples": run.samples.thinned_rss(400),
        },
        "cut_off": {
            "measured": target == Target::Chinwag,
            "count": cut.len(),
            "first_secs": cut.first(),
            "last_secs": cut.last(),
            "all": target == Target::Chinwag && cut.len() >= slow_n,
        },
        "recovery": recovery_json(s, slow_n, &rec),
        "acks": s.room.acks,
        "errors": s.room.errors.count,
        "first_error": s.room.errors.first,
        "healthy_seq_gaps": s.healthy_seq_gaps,
        "healthy_ended": s.healthy_ended,
        "args": args,
    })
}

fn print_cut_and_recovery(target: Target, slow_n: usize, cut: &[f64], rec: &Recovery) {
    match target {
        Target::Chinwag => eprintln!(
            "  cut off by the server: {} of {slow_n} ({} s after they stopped reading, last at {} s)",
            cut.len(),
            opt(cut.first().copied()),
            opt(cut.last().copied()),
        ),
        _ => eprintln!(
            "  how the slow members' connections ended (seen once they read again): {:?}",
            rec.close_codes
        ),
    }
    eprintln!(
        "  recovery: {} of {slow_n} slow members hold all {} messages ({} received in all, {} of them through resume/history, {} missing, {} duplicates), within {} s",
        rec.complete,
        rec.expected,
        rec.received,
        rec.recovered,
        rec.missing,
        rec.dups,
        opt(rec.max_secs.map(|v| round(v, 2))),
    );
}

fn recovery_json(s: &Shared, slow_n: usize, rec: &Recovery) -> serde_json::Value {
    json!({
        "published": s.room.periods[0].sent + s.room.periods[1].sent,
        "expected_per_member": rec.expected,
        "received": rec.received,
        "recovered_by_resume": rec.recovered,
        "missing": rec.missing,
        "dups": rec.dups,
        "gaps": s.slow.iter().map(|st| st.gaps).sum::<u64>(),
        "complete_members": rec.complete,
        "all_recovered": rec.complete == slow_n,
        "max_secs": rec.max_secs.map(|v| round(v, 2)),
        "reconnects": s.slow.iter().map(|st| u64::from(st.reconnects)).sum::<u64>(),
        "history_pages": s.slow.iter().map(|st| u64::from(st.history_pages)).sum::<u64>(),
        "first_close": rec.close_codes,
        "first_error": s.slow.iter().find_map(|st| st.error.clone()),
    })
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}
