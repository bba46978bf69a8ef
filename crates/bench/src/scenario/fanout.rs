//! `fanout`: one room (a Chinwag group) of N members, each member one connection; a few of them
//! publish at a swept rate. Every member receives every message (the publisher included), so a
//! rate R offers R × N deliveries per second.
//!
//! Per step: delivered % (stamped messages received ÷ sent × N, after a drain), server CPU µs
//! per delivery and share of its core, the generator's own CPU, server RSS, and end-to-end
//! latency (send time in the body → read time at the receiver) in an HdrHistogram.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

use crate::conn::{Conn, Open};
use crate::latency::{self, Summary};
use crate::procstat::{CpuMeter, rss_bytes};
use crate::scan::{self, Stamp};
use crate::setup::{self, Common};
use crate::target::{Kind, Target};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct FanoutArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Members of the room, one connection each.
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Publish rates to sweep, messages per second (each is `--step-secs` long).
    #[arg(long, value_delimiter = ',', default_value = "100,200,500,1000,2000")]
    pub rates: Vec<f64>,
    #[arg(long, default_value_t = 10.0)]
    pub step_secs: f64,
    /// Members that publish (the rate is split evenly among them). Chinwag handles a
    /// connection's requests one at a time, each acknowledged after commit, so one publisher
    /// cannot go faster than one commit per message.
    #[arg(long, default_value_t = 8)]
    pub publishers: usize,
    /// Message body size in bytes (at least the stamp, about 20 bytes).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// After a step, wait at most this long for the last deliveries (stops earlier once all
    /// arrived or nothing arrived for a second).
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Stop the sweep after a step that delivered less than this percentage.
    #[arg(long, default_value_t = 50.0)]
    pub stop_below_pct: f64,
    /// Pause between steps.
    #[arg(long, default_value_t = 1.0)]
    pub settle_secs: f64,
}

/// One step of the sweep while it runs.
struct StepState {
    sent: u64,
    received: u64,
    hist: Histogram<u64>,
}

/// A publishing period: message j of the step is due at `start + j / rate`, none after `until`.
#[derive(Clone, Copy)]
pub(crate) struct Phase {
    pub step: u32,
    pub rate: f64,
    pub start: Instant,
    pub until: Instant,
}

/// Everything the connection tasks report, on one thread (hence `RefCell`, no atomics).
struct Shared {
    target: Target,
    phase: Option<Phase>,
    steps: Vec<StepState>,
    acks: u64,
    errors: u64,
    first_error: Option<String>,
    close_codes: BTreeMap<String, u64>,
    seq_gaps: u64,
    seq_dups: u64,
    unstamped: u64,
}

/// A publishing member's share of the schedule.
pub(crate) struct Publisher {
    index: u64,
    count: u64,
    room: String,
    sender: String,
    payload: usize,
    request: u64,
    step: Option<u32>,
    sent_in_step: u64,
    scratch: Vec<u8>,
}

#[derive(Debug, Serialize)]
struct StepResult {
    rate: f64,
    secs: f64,
    offered_deliveries_per_s: f64,
    sent: u64,
    expected: u64,
    delivered: u64,
    delivered_pct: f64,
    drain_secs: f64,
    server_cpu_secs: Option<f64>,
    server_cpu_pct: Option<f64>,
    server_us_per_delivery: Option<f64>,
    generator_cpu_pct: Option<f64>,
    /// CPU shares while publishing only (the figures above include the drain).
    publish_server_cpu_pct: Option<f64>,
    publish_generator_cpu_pct: Option<f64>,
    server_rss_bytes: Option<u64>,
    latency: Summary,
}

pub fn run(args: FanoutArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: FanoutArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    let target = common.target;
    let n = args.members.max(1);
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-m{i}")).collect();
    let room = setup::one_room(common, target, &prefix, &users).await?;
    let tokens = setup::room_tokens(common, target, &users)?;
    let opened = setup::open_room(common, target, &room, &tokens).await?;
    eprintln!(
        "fanout {}: {n} members connected in {:.1} s",
        common.label(),
        opened.elapsed.as_secs_f64()
    );

    let shared = Rc::new(RefCell::new(Shared {
        target,
        phase: None,
        steps: args
            .rates
            .iter()
            .map(|_| StepState { sent: 0, received: 0, hist: latency::histogram() })
            .collect(),
        acks: 0,
        errors: 0,
        first_error: None,
        close_codes: BTreeMap::new(),
        seq_gaps: 0,
        seq_dups: 0,
        unstamped: 0,
    }));
    let publishers = args.publishers.clamp(1, n) as u64;
    let mut tasks = Vec::with_capacity(n);
    for (i, conn) in opened.conns.into_iter().enumerate() {
        let conn = conn.expect("all opened");
        let publisher = ((i as u64) < publishers)
            .then(|| Publisher::new(i as u64, publishers, &room, &prefix, args.payload));
        tasks.push(tokio::task::spawn_local(member(conn, shared.clone(), publisher)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut results = Vec::new();
    for (k, &rate) in args.rates.iter().enumerate() {
        let meter = CpuMeter::start(common.server_pid);
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(args.step_secs);
        shared.borrow_mut().phase = Some(Phase { step: k as u32, rate, start, until });
        tokio::time::sleep_until(until.into()).await;
        // Let every publisher take its last tick up to `until`.
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.borrow_mut().phase = None;
        let during = meter.stop();
        let drain_start = Instant::now();
        let (mut last, mut last_change) = (0, Instant::now());
        loop {
            let (sent, received) = {
                let s = shared.borrow();
                (s.steps[k].sent, s.steps[k].received)
            };
            if received >= sent * n as u64 || drain_start.elapsed().as_secs_f64() >= args.drain_secs
            {
                break;
            }
            if received != last {
                (last, last_change) = (received, Instant::now());
            } else if last_change.elapsed() >= Duration::from_secs(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = meter.stop();
        let stop = {
            let s = shared.borrow();
            let st = &s.steps[k];
            let expected = st.sent * n as u64;
            let delivered_pct =
                if expected == 0 { 0.0 } else { 100.0 * st.received as f64 / expected as f64 };
            let r = StepResult {
                rate,
                secs: args.step_secs,
                offered_deliveries_per_s: rate * n as f64,
                sent: st.sent,
                expected,
                delivered: st.received,
                delivered_pct: round(delivered_pct, 3),
                drain_secs: round(drain_start.elapsed().as_secs_f64(), 2),
                server_cpu_secs: cpu.server_cpu_secs.map(|v| round(v, 2)),
                server_cpu_pct: cpu.server_pct().map(|v| round(v, 1)),
                server_us_per_delivery: cpu
                    .server_cpu_secs
                    .filter(|_| st.received > 0)
                    .map(|c| round(c * 1e6 / st.received as f64, 3)),
                generator_cpu_pct: cpu.generator_pct().map(|v| round(v, 1)),
                publish_server_cpu_pct: during.server_pct().map(|v| round(v, 1)),
                publish_generator_cpu_pct: during.generator_pct().map(|v| round(v, 1)),
                server_rss_bytes: common.server_pid.and_then(rss_bytes),
                latency: latency::summary(&st.hist),
            };
            eprintln!(
                "  {rate:>6} msg/s → {:>9.0} deliveries/s offered: delivered {:.2} % (drain {:.1} s), server {} µs/delivery ({} % CPU publishing, {} % overall), generator {} % CPU publishing, {}",
                r.offered_deliveries_per_s,
                r.delivered_pct,
                r.drain_secs,
                opt(r.server_us_per_delivery),
                opt(r.publish_server_cpu_pct),
                opt(r.server_cpu_pct),
                opt(r.publish_generator_cpu_pct),
                latency::human(&r.latency)
            );
            let stop = r.delivered_pct < args.stop_below_pct;
            results.push(r);
            stop
        };
        if stop {
            eprintln!("  stopping the sweep: under {} % delivered", args.stop_below_pct);
            break;
        }
        tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    }
    for t in &tasks {
        t.abort();
    }
    let s = shared.borrow();
    Ok(json!({
        "scenario": "fanout",
        "label": common.label(),
        "target": target,
        "members": n,
        "publishers": publishers,
        "payload_bytes": args.payload,
        "connect_secs": round(opened.elapsed.as_secs_f64(), 2),
        "acks": s.acks,
        "errors": s.errors,
        "first_error": s.first_error,
        "close_codes": s.close_codes,
        "seq_gaps": s.seq_gaps,
        "seq_dups": s.seq_dups,
        "unstamped": s.unstamped,
        "steps": results,
        "args": args,
    }))
}

/// One member's connection: count and time what arrives; publish its share if it publishes.
async fn member(mut conn: Conn, shared: Rc<RefCell<Shared>>, mut publisher: Option<Publisher>) {
    let target = shared.borrow().target;
    let mut last_seq = 0u64;
    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
        let mut s = shared.borrow_mut();
        match target.classify(payload) {
            Kind::Message => {
                let Some(stamp) = target.stamp(payload) else {
                    s.unstamped += 1;
                    return;
                };
                if let Some(step) = s.steps.get_mut(stamp.step as usize) {
                    step.received += 1;
                    latency::record(&mut step.hist, stamp.sent_us, now);
                }
                if target == Target::Chinwag
                    && let Some(seq) = scan::field_u64(payload, br#""seq":"#)
                {
                    if last_seq != 0 && seq != last_seq + 1 {
                        if seq <= last_seq {
                            s.seq_dups += 1;
                        } else {
                            s.seq_gaps += seq - last_seq - 1;
                        }
                    }
                    last_seq = seq;
                }
            }
            Kind::Ack => s.acks += 1,
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
    let ended = loop {
        tokio::select! {
            r = conn.stream.readable() => {
                if let Err(e) = r {
                    break e.to_string();
                }
                match conn.read_now(&mut on_text) {
                    Ok(Open::Yes) => {}
                    Ok(Open::No) => break conn.close_code.map_or("eof".into(), |c| c.to_string()),
                    Err(e) => break e.to_string(),
                }
                if !conn.out.is_empty() && let Err(e) = conn.try_flush() {
                    break e.to_string();
                }
            }
            r = conn.stream.writable(), if !conn.out.is_empty() => {
                if let Err(e) = r.and_then(|()| conn.try_flush()) {
                    break e.to_string();
                }
            }
            _ = tick.tick(), if publisher.is_some() => {
                if let Some(p) = publisher.as_mut() {
                    publish_due(p, &mut conn, &shared);
                }
                if !conn.out.is_empty() && let Err(e) = conn.try_flush() {
                    break e.to_string();
                }
            }
        }
    };
    *shared.borrow_mut().close_codes.entry(ended).or_default() += 1;
}

fn publish_due(p: &mut Publisher, conn: &mut Conn, shared: &Rc<RefCell<Shared>>) {
    let mut s = shared.borrow_mut();
    let Some(phase) = s.phase else { return };
    let queued = p.queue_due(phase, s.target, &mut conn.out);
    s.steps[phase.step as usize].sent += queued;
}

impl Publisher {
    /// Publisher `index` of `count` into `room`; its `client_msg_id`s start with `prefix`.
    pub(crate) fn new(index: u64, count: u64, room: &str, prefix: &str, payload: usize) -> Self {
        Publisher {
            index,
            count,
            room: room.to_owned(),
            sender: format!("{prefix}p{index}"),
            payload,
            request: 0,
            step: None,
            sent_in_step: 0,
            scratch: Vec::with_capacity(payload + 256),
        }
    }

    /// Queue (framed, into `out`) the messages that are due by now: of the phase's schedule
    /// (message j is due at j / rate), this publisher sends every j with j mod count = index.
    /// Returns how many it queued.
    pub(crate) fn queue_due(&mut self, phase: Phase, target: Target, out: &mut Vec<u8>) -> u64 {
        if self.step != Some(phase.step) {
            self.step = Some(phase.step);
            self.sent_in_step = 0;
        }
        let elapsed = Instant::now().min(phase.until).saturating_duration_since(phase.start);
        let total_due = (elapsed.as_secs_f64() * phase.rate) as u64;
        let mine = (total_due + self.count - 1 - self.index) / self.count;
        if mine <= self.sent_in_step {
            return 0;
        }
        let stamp = Stamp { sent_us: crate::clock::now_us(), step: phase.step };
        let mut queued = 0;
        while self.sent_in_step < mine {
            self.request += 1;
            self.scratch.clear();
            target.write_send(
                &mut self.scratch,
                &self.room,
                &self.sender,
                self.request,
                stamp,
                self.payload,
            );
            crate::frame::encode_masked(out, crate::frame::OP_TEXT, &self.scratch);
            self.sent_in_step += 1;
            queued += 1;
        }
        queued
    }
}

pub(crate) fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v}"))
}
