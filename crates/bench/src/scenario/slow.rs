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

use std::cell::RefCell;
use std::collections::BTreeMap;
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
use crate::scan;
use crate::scenario::fanout::{Phase, Publisher, opt, round};
use crate::setup::{self, Common};
use crate::target::{Kind, Target};

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

#[derive(Default)]
struct PhaseState {
    sent: u64,
    /// Stamped messages of this phase received by healthy members.
    received: u64,
    hist: Option<Histogram<u64>>,
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
    target: Target,
    phase: Option<Phase>,
    phases: [PhaseState; 2],
    acks: u64,
    /// Chinwag: highest `seq` acknowledged.
    max_acked_seq: u64,
    errors: u64,
    first_error: Option<String>,
    healthy_ended: BTreeMap<String, u64>,
    healthy_seq_gaps: u64,
    /// Messages every member must end up with (set when publishing has stopped).
    expected: Option<u64>,
    recover_started: Option<Instant>,
    recover_until: Option<Instant>,
    slow: Vec<SlowState>,
}

pub fn run(args: SlowArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: SlowArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let target = common.target;
    let n = args.members.max(2);
    let publishers = args.publishers.clamp(1, n - 1);
    let slow_n = ((n as f64 * args.slow_pct / 100.0).ceil() as usize).clamp(1, n - publishers);
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-w{i}")).collect();
    let room = setup::one_room(common, target, &prefix, &users).await?;
    let tokens = setup::room_tokens(common, target, &users)?;
    let opened = setup::open_room(common, target, &room, &tokens).await?;
    eprintln!(
        "slow {}: {n} members connected in {:.1} s; {slow_n} of them will stop reading",
        common.label(),
        opened.elapsed.as_secs_f64()
    );
    let shared = Rc::new(RefCell::new(Shared {
        target,
        phase: None,
        phases: [
            PhaseState { hist: Some(latency::histogram()), ..PhaseState::default() },
            PhaseState { hist: Some(latency::histogram()), ..PhaseState::default() },
        ],
        acks: 0,
        max_acked_seq: 0,
        errors: 0,
        first_error: None,
        healthy_ended: BTreeMap::new(),
        healthy_seq_gaps: 0,
        expected: None,
        recover_started: None,
        recover_until: None,
        slow: vec![SlowState::default(); slow_n],
    }));
    let (stage_tx, stage_rx) = watch::channel(Stage::Running);
    let mut tasks = Vec::with_capacity(n);
    for (i, conn) in opened.conns.into_iter().enumerate() {
        let conn = conn.expect("all opened");
        let publisher = (i < publishers)
            .then(|| Publisher::new(i as u64, publishers as u64, &room, &prefix, args.payload));
        // The slow members are the last ones (never publishers).
        let slow = (i >= n - slow_n).then(|| SlowMember {
            index: i - (n - slow_n),
            token: tokens[i].clone(),
            source: source_addr(i, common.sources),
        });
        tasks.push(tokio::task::spawn_local(member(
            conn,
            shared.clone(),
            publisher,
            slow,
            stage_rx.clone(),
            room.clone(),
            common.addr,
        )));
    }
    let healthy = (n - slow_n) as u64;
    let monitor = Monitor::start(common, target, args.sample_ms);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Phase 0: the baseline; phase 1: with slow members.
    let mut phase_results = Vec::new();
    let mut frozen_at = None;
    for (k, secs) in [args.baseline_secs, args.slow_secs].into_iter().enumerate() {
        if k == 1 {
            stage_tx.send_replace(Stage::Frozen);
            frozen_at = Some(Instant::now());
        }
        let meter = CpuMeter::start(common.server_pid);
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(secs);
        shared.borrow_mut().phase = Some(Phase { step: k as u32, rate: args.rate, start, until });
        if k == 1 && target == Target::Chinwag && args.end_after_cut_secs >= 0.0 {
            // Until the limit, or until every slow member was cut off and a little longer.
            let base = monitor.overflows.get();
            let mut all_cut_at: Option<Instant> = None;
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if all_cut_at.is_none()
                    && monitor.overflows.get().saturating_sub(base) >= slow_n as u64
                {
                    all_cut_at = Some(Instant::now());
                }
                if all_cut_at.is_some_and(|t| t.elapsed().as_secs_f64() >= args.end_after_cut_secs)
                {
                    break;
                }
            }
        } else {
            tokio::time::sleep_until(until.into()).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.borrow_mut().phase = None;
        let phase_secs = start.elapsed().as_secs_f64();
        let cpu = meter.stop();
        // Let the healthy members receive the last messages of the phase.
        let drain_start = Instant::now();
        loop {
            let (sent, received) = {
                let s = shared.borrow();
                (s.phases[k].sent, s.phases[k].received)
            };
            if received >= sent * healthy || drain_start.elapsed().as_secs_f64() >= args.drain_secs
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = shared.borrow();
        let p = &s.phases[k];
        let expected = p.sent * healthy;
        let lat = latency::summary(p.hist.as_ref().expect("histogram"));
        let r = json!({
            "secs": round(phase_secs, 2),
            "max_secs": secs,
            "sent": p.sent,
            "expected_healthy": expected,
            "delivered_healthy": p.received,
            "delivered_pct": if expected == 0 { 0.0 } else { round(100.0 * p.received as f64 / expected as f64, 3) },
            "drain_secs": round(drain_start.elapsed().as_secs_f64(), 2),
            "server_cpu_pct": cpu.server_pct().map(|v| round(v, 1)),
            "generator_cpu_pct": cpu.generator_pct().map(|v| round(v, 1)),
            "latency": lat,
        });
        eprintln!(
            "  {} ({:.1} s): {} msg/s × {n}: healthy members got {:.2} %, {}; server {} % CPU",
            if k == 0 { "baseline" } else { "with slow members" },
            phase_secs,
            args.rate,
            r["delivered_pct"].as_f64().unwrap_or(0.0),
            latency::human(&lat),
            opt(cpu.server_pct().map(|v| round(v, 1))),
        );
        phase_results.push((r, lat));
    }

    // The slow members read again and recover.
    let recover_start = Instant::now();
    {
        let mut s = shared.borrow_mut();
        let sent = s.phases[0].sent + s.phases[1].sent;
        s.expected = Some(match target {
            // Every stored message (its `seq`), whichever publisher sent it.
            Target::Chinwag => s.max_acked_seq,
            _ => sent,
        });
        s.recover_started = Some(recover_start);
        s.recover_until = Some(recover_start + Duration::from_secs_f64(args.recover_secs));
    }
    stage_tx.send_replace(Stage::Recover);
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
    let samples = monitor.stop().await;
    for t in &tasks {
        t.abort();
    }

    let s = shared.borrow();
    let expected = s.expected.unwrap_or(0);
    let sent_total = s.phases[0].sent + s.phases[1].sent;
    let received: u64 = s.slow.iter().map(|st| st.received).sum();
    let recovered: u64 = s.slow.iter().map(|st| st.recovered_by_resume).sum();
    let complete = s.slow.iter().filter(|st| st.complete_after_secs.is_some()).count();
    let mut close_codes: BTreeMap<String, u64> = BTreeMap::new();
    for st in &s.slow {
        *close_codes.entry(st.first_close.clone().unwrap_or_else(|| "open".into())).or_default() +=
            1;
    }
    let recover_secs = s.slow.iter().filter_map(|st| st.complete_after_secs).fold(None, max_opt);
    let frozen_at = frozen_at.unwrap_or(recover_start);
    let cut = samples.cut_off_times(frozen_at);
    let (base_lat, slow_lat) = (phase_results[0].1, phase_results[1].1);
    let p99_ratio =
        (base_lat.p99_us > 0).then(|| round(slow_lat.p99_us as f64 / base_lat.p99_us as f64, 3));
    let rss = samples.rss_summary(frozen_at, recover_start);
    eprintln!(
        "  healthy p99 {} → {} ms ({}× the baseline); server RSS max {} MiB (baseline) / {} MiB (slow phase) / {} MiB (end)",
        round(base_lat.p99_us as f64 / 1000.0, 2),
        round(slow_lat.p99_us as f64 / 1000.0, 2),
        opt(p99_ratio),
        opt(rss.baseline_max.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(rss.slow_max.map(|b| round(b as f64 / 1048576.0, 1))),
        opt(rss.end.map(|b| round(b as f64 / 1048576.0, 1))),
    );
    match target {
        Target::Chinwag => eprintln!(
            "  cut off by the server: {} of {slow_n} ({} s after they stopped reading, last at {} s)",
            cut.len(),
            opt(cut.first().copied()),
            opt(cut.last().copied()),
        ),
        _ => eprintln!(
            "  how the slow members' connections ended (seen once they read again): {close_codes:?}"
        ),
    }
    eprintln!(
        "  recovery: {complete} of {slow_n} slow members hold all {expected} messages ({} received in all, {} of them through resume/history, {} missing, {} duplicates), within {} s",
        received,
        recovered,
        (expected * slow_n as u64).saturating_sub(received),
        s.slow.iter().map(|st| st.dups).sum::<u64>(),
        opt(recover_secs.map(|v| round(v, 2))),
    );
    Ok(json!({
        "scenario": "slow",
        "label": common.label(),
        "target": target,
        "members": n,
        "slow_members": slow_n,
        "publishers": publishers,
        "rate": args.rate,
        "offered_deliveries_per_s": args.rate * n as f64,
        "payload_bytes": args.payload,
        "baseline": phase_results[0].0,
        "with_slow": phase_results[1].0,
        "healthy_p99_ratio": p99_ratio,
        "server_rss": {
            "baseline_max_bytes": rss.baseline_max,
            "slow_max_bytes": rss.slow_max,
            "end_bytes": rss.end,
            "frozen_at_secs": samples.since_start(frozen_at),
            "recover_at_secs": samples.since_start(recover_start),
            "samples": samples.thinned_rss(400),
        },
        "cut_off": {
            "measured": target == Target::Chinwag,
            "count": cut.len(),
            "first_secs": cut.first(),
            "last_secs": cut.last(),
            "all": target == Target::Chinwag && cut.len() >= slow_n,
        },
        "recovery": {
            "published": sent_total,
            "expected_per_member": expected,
            "received": received,
            "recovered_by_resume": recovered,
            "missing": (expected * slow_n as u64).saturating_sub(received),
            "dups": s.slow.iter().map(|st| st.dups).sum::<u64>(),
            "gaps": s.slow.iter().map(|st| st.gaps).sum::<u64>(),
            "complete_members": complete,
            "all_recovered": complete == slow_n,
            "max_secs": recover_secs.map(|v| round(v, 2)),
            "reconnects": s.slow.iter().map(|st| u64::from(st.reconnects)).sum::<u64>(),
            "history_pages": s.slow.iter().map(|st| u64::from(st.history_pages)).sum::<u64>(),
            "first_close": close_codes,
            "first_error": s.slow.iter().find_map(|st| st.error.clone()),
        },
        "acks": s.acks,
        "errors": s.errors,
        "first_error": s.first_error,
        "healthy_seq_gaps": s.healthy_seq_gaps,
        "healthy_ended": s.healthy_ended,
        "args": args,
    }))
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

struct SlowMember {
    index: usize,
    token: Option<String>,
    source: std::net::IpAddr,
}

/// One member: count and time what arrives, publish its share if it publishes; a slow member
/// stops polling its socket while the stage is `Frozen`, then recovers.
async fn member(
    mut conn: Conn,
    shared: Rc<RefCell<Shared>>,
    mut publisher: Option<Publisher>,
    slow: Option<SlowMember>,
    mut stage: watch::Receiver<Stage>,
    room: String,
    addr: std::net::SocketAddr,
) {
    let target = shared.borrow().target;
    let slow_index = slow.as_ref().map(|s| s.index);
    let mut track = SeqTrack::default();
    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
        let mut s = shared.borrow_mut();
        match target.classify(payload) {
            Kind::Message => on_message(&mut s, target, slow_index, &mut track, payload, now),
            Kind::Ack => {
                s.acks += 1;
                if let Some(seq) = scan::field_u64(payload, br#""seq":"#) {
                    s.max_acked_seq = s.max_acked_seq.max(seq);
                }
            }
            Kind::Error => {
                s.errors += 1;
                s.first_error.get_or_insert_with(|| String::from_utf8_lossy(payload).into_owned());
            }
            Kind::EnginePing => crate::frame::encode_masked(out, crate::frame::OP_TEXT, b"3"),
            _ => {}
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    let ended = loop {
        let frozen = slow.is_some() && *stage.borrow() == Stage::Frozen;
        if slow.is_some() && *stage.borrow() == Stage::Recover && slow_complete(&shared, slow_index)
        {
            break None;
        }
        tokio::select! {
            r = conn.stream.readable(), if !frozen => {
                if let Err(e) = r {
                    break Some(e.to_string());
                }
                match conn.read_now(&mut on_text) {
                    Ok(Open::Yes) => {}
                    Ok(Open::No) => break Some(conn.close_code.map_or("eof".into(), |c| c.to_string())),
                    Err(e) => break Some(e.to_string()),
                }
                if !conn.out.is_empty() && let Err(e) = conn.try_flush() {
                    break Some(e.to_string());
                }
            }
            r = conn.stream.writable(), if !frozen && !conn.out.is_empty() => {
                if let Err(e) = r.and_then(|()| conn.try_flush()) {
                    break Some(e.to_string());
                }
            }
            _ = tick.tick(), if publisher.is_some() => {
                if let Some(p) = publisher.as_mut() {
                    let mut s = shared.borrow_mut();
                    if let Some(phase) = s.phase {
                        let queued = p.queue_due(phase, target, &mut conn.out);
                        s.phases[phase.step as usize].sent += queued;
                    }
                }
                if !conn.out.is_empty() && let Err(e) = conn.try_flush() {
                    break Some(e.to_string());
                }
            }
            r = stage.changed(), if slow.is_some() => {
                if r.is_err() {
                    break Some("stopped".into());
                }
            }
            _ = check.tick(), if slow.is_some() && !frozen => {}
        }
    };
    let Some(slow) = slow else {
        let mut s = shared.borrow_mut();
        *s.healthy_ended.entry(ended.unwrap_or_default()).or_default() += 1;
        return;
    };
    let i = slow.index;
    {
        let mut s = shared.borrow_mut();
        let since = s.recover_started.map(|t| round(t.elapsed().as_secs_f64(), 3));
        let st = &mut s.slow[i];
        if let Some(how) = &ended {
            st.first_close = Some(how.clone());
            st.closed_after_secs = since;
        }
        st.gaps = track.gaps;
        st.dups = track.dups;
    }
    if ended.is_none() || target != Target::Chinwag {
        return;
    }
    // Chinwag: reconnect and resume until everything is held (nothing is lost on 4008).
    drop(conn);
    if let Err(e) = recover(&shared, i, &slow, &room, addr, track).await {
        shared.borrow_mut().slow[i].error = Some(e.to_string());
    }
}

/// Count a received message. Healthy members feed the phase's latency histogram; slow members
/// count what they hold.
fn on_message(
    s: &mut Shared,
    target: Target,
    slow: Option<usize>,
    track: &mut SeqTrack,
    payload: &[u8],
    now: u64,
) {
    let stamp = target.stamp(payload);
    let seq = (target == Target::Chinwag).then(|| scan::field_u64(payload, br#""seq":"#)).flatten();
    match slow {
        None => {
            if let Some(stamp) = stamp
                && let Some(p) = s.phases.get_mut(stamp.step as usize)
            {
                p.received += 1;
                if let Some(h) = p.hist.as_mut() {
                    latency::record(h, stamp.sent_us, now);
                }
            }
            if let Some(seq) = seq {
                let gaps = track.gaps;
                track.see(seq);
                s.healthy_seq_gaps += track.gaps - gaps;
            }
        }
        Some(i) => {
            let new = match seq {
                Some(seq) => track.see(seq),
                None => stamp.is_some(),
            };
            if new {
                s.slow[i].received += 1;
            }
            mark_complete(s, i);
        }
    }
}

fn mark_complete(s: &mut Shared, i: usize) {
    if let (Some(expected), Some(started)) = (s.expected, s.recover_started) {
        let st = &mut s.slow[i];
        if st.complete_after_secs.is_none() && st.received >= expected {
            st.complete_after_secs = Some(started.elapsed().as_secs_f64());
        }
    }
}

fn slow_complete(shared: &Rc<RefCell<Shared>>, i: Option<usize>) -> bool {
    let mut s = shared.borrow_mut();
    let Some(i) = i else { return false };
    mark_complete(&mut s, i);
    let past = s.recover_until.is_some_and(|u| Instant::now() >= u);
    s.slow[i].complete_after_secs.is_some() || past
}

/// A closed Chinwag slow member: reconnect with `resume` from the last `seq` held, page the
/// rest with `history` if the replay stopped at its cap, then read live until it holds every
/// message or the recovery time is up. Repeats if it is closed again.
async fn recover(
    shared: &Rc<RefCell<Shared>>,
    i: usize,
    slow: &SlowMember,
    room: &str,
    addr: std::net::SocketAddr,
    track: SeqTrack,
) -> anyhow::Result<()> {
    let track = RefCell::new(track);
    let token = slow.token.clone().unwrap_or_default();
    let count = |shared: &Rc<RefCell<Shared>>, track: &mut SeqTrack, seq: u64| {
        let mut s = shared.borrow_mut();
        if track.see(seq) {
            let st = &mut s.slow[i];
            st.received += 1;
            st.recovered_by_resume += 1;
        }
        let st = &mut s.slow[i];
        st.gaps = track.gaps;
        st.dups = track.dups;
        mark_complete(&mut s, i);
    };
    loop {
        if slow_complete(shared, Some(i)) {
            return Ok(());
        }
        shared.borrow_mut().slow[i].reconnects += 1;
        let positions = vec![(room.to_owned(), track.borrow().last)];
        let mut on_message = |payload: &[u8], _now: u64, _replayed: bool| {
            if let Some((_, seq)) = chinwag::message_position(payload) {
                count(shared, &mut track.borrow_mut(), seq);
            }
        };
        let (mut conn, incomplete) = chinwag::reconnect(
            addr,
            slow.source,
            &token,
            &positions,
            Duration::from_secs(30),
            &mut on_message,
        )
        .await?;
        for (conversation, _) in incomplete {
            let after = track.borrow().last;
            let mut on_page =
                |seq: u64, _body: &[u8], _now: u64| count(shared, &mut track.borrow_mut(), seq);
            let mut on_live = |payload: &[u8], _now: u64| {
                if let Some((_, seq)) = chinwag::message_position(payload) {
                    count(shared, &mut track.borrow_mut(), seq);
                }
            };
            let pages =
                chinwag::page_history(&mut conn, &conversation, after, &mut on_page, &mut on_live)
                    .await?;
            shared.borrow_mut().slow[i].history_pages += pages;
        }
        // Live until complete (or closed again).
        let mut check = tokio::time::interval(Duration::from_millis(100));
        loop {
            if slow_complete(shared, Some(i)) {
                return Ok(());
            }
            let mut on_text = |payload: &[u8], _now: u64, _out: &mut Vec<u8>| {
                if chinwag::frame_type(payload) == b"message"
                    && let Some((_, seq)) = chinwag::message_position(payload)
                {
                    count(shared, &mut track.borrow_mut(), seq);
                }
            };
            tokio::select! {
                r = conn.read(&mut on_text) => match r? {
                    Open::Yes => conn.try_flush()?,
                    Open::No => break,
                },
                _ = check.tick() => {}
            }
        }
    }
}

/// Server memory and (Chinwag) the cut-off counter, sampled in the background.
struct Monitor {
    task: tokio::task::JoinHandle<Samples>,
    stop: watch::Sender<bool>,
    /// The latest `chinwag_queue_overflows_total` read.
    overflows: Rc<std::cell::Cell<u64>>,
}

#[derive(Default)]
struct Samples {
    /// (time, server RSS bytes).
    rss: Vec<(Instant, u64)>,
    /// (time, `chinwag_queue_overflows_total`).
    overflows: Vec<(Instant, u64)>,
    started: Option<Instant>,
}

struct RssSummary {
    baseline_max: Option<u64>,
    slow_max: Option<u64>,
    end: Option<u64>,
}

impl Monitor {
    fn start(common: &Common, target: Target, every_ms: u64) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let pid = common.server_pid;
        let metrics_url =
            (target == Target::Chinwag).then(|| format!("http://{}/metrics", common.addr));
        let overflows = Rc::new(std::cell::Cell::new(0));
        let latest = overflows.clone();
        let task = tokio::task::spawn_local(async move {
            let http = reqwest::Client::new();
            let mut samples = Samples { started: Some(Instant::now()), ..Samples::default() };
            let mut tick = tokio::time::interval(Duration::from_millis(every_ms.max(10)));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let now = Instant::now();
                if let Some(rss) = pid.and_then(rss_bytes) {
                    samples.rss.push((now, rss));
                }
                if let Some(url) = &metrics_url
                    && let Some(v) = overflow_count(&http, url).await
                {
                    samples.overflows.push((now, v));
                    latest.set(v);
                }
            }
            samples
        });
        Monitor { task, stop, overflows }
    }

    async fn stop(self) -> Samples {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// `chinwag_queue_overflows_total` from the server's Prometheus text.
async fn overflow_count(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("chinwag_queue_overflows_total"))
        .and_then(|l| l.split_ascii_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

impl Samples {
    /// Seconds after `frozen` at which each cut-off was first counted (one entry per cut-off).
    fn cut_off_times(&self, frozen: Instant) -> Vec<f64> {
        let base =
            self.overflows.iter().take_while(|(t, _)| *t <= frozen).last().map_or(0, |&(_, v)| v);
        let mut out = Vec::new();
        let mut seen = base;
        for &(t, v) in &self.overflows {
            while v > seen {
                out.push(round(t.saturating_duration_since(frozen).as_secs_f64(), 2));
                seen += 1;
            }
        }
        out
    }

    fn rss_summary(&self, frozen: Instant, recover: Instant) -> RssSummary {
        let max_in = |from: Option<Instant>, to: Instant| {
            self.rss
                .iter()
                .filter(|(t, _)| from.is_none_or(|f| *t >= f) && *t < to)
                .map(|&(_, v)| v)
                .max()
        };
        RssSummary {
            baseline_max: max_in(None, frozen),
            slow_max: max_in(Some(frozen), recover),
            end: self.rss.last().map(|&(_, v)| v),
        }
    }

    fn since_start(&self, t: Instant) -> Option<f64> {
        self.started.map(|s| round(t.saturating_duration_since(s).as_secs_f64(), 2))
    }

    /// At most `max` (seconds since the start, bytes) pairs, evenly thinned.
    fn thinned_rss(&self, max: usize) -> Vec<(f64, u64)> {
        let Some(start) = self.started else { return Vec::new() };
        let step = self.rss.len().div_ceil(max.max(1)).max(1);
        self.rss
            .iter()
            .step_by(step)
            .map(|&(t, v)| (round(t.saturating_duration_since(start).as_secs_f64(), 2), v))
            .collect()
    }
}
