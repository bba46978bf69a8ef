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

use serde::Serialize;
use serde_json::json;

use crate::conn::Conn;
use crate::latency::{self, Summary};
use crate::procstat::CpuUse;
use crate::report::{opt, pct, pct1, round, us_each};
use crate::scan;
use crate::scenario::room::{self, OneRoom, Publisher, Schedule};
use crate::setup::Common;
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

/// Everything the connection tasks report, on one thread (hence `RefCell`, no atomics): the
/// room's periods (one per rate) and fan-out's own counters.
struct Shared {
    room: Schedule,
    close_codes: BTreeMap<String, u64>,
    seq_gaps: u64,
    seq_dups: u64,
    unstamped: u64,
}

impl AsMut<Schedule> for Shared {
    fn as_mut(&mut self) -> &mut Schedule {
        &mut self.room
    }
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
    let n = args.members.max(1);
    let mut one = OneRoom::open(common, n, "m").await?;
    eprintln!(
        "fanout {}: {n} members connected in {:.1} s",
        common.label(),
        one.opened.elapsed.as_secs_f64()
    );
    let shared = Rc::new(RefCell::new(Shared {
        room: Schedule::new(common.target, args.rates.len()),
        close_codes: BTreeMap::new(),
        seq_gaps: 0,
        seq_dups: 0,
        unstamped: 0,
    }));
    let publishers = args.publishers.clamp(1, n);
    let tasks: Vec<_> = one
        .members(publishers, args.payload)
        .into_iter()
        .map(|(_, conn, publisher)| {
            tokio::task::spawn_local(member(conn, shared.clone(), publisher))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut results = Vec::new();
    for (k, &rate) in args.rates.iter().enumerate() {
        let r = step(&args, &shared, k, rate, n as u64).await;
        let stop = r.delivered_pct < args.stop_below_pct;
        results.push(r);
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
        "target": common.target,
        "members": n,
        "publishers": publishers,
        "payload_bytes": args.payload,
        "connect_secs": round(one.opened.elapsed.as_secs_f64(), 2),
        "acks": s.room.acks,
        "errors": s.room.errors.count,
        "first_error": s.room.errors.first,
        "close_codes": s.close_codes,
        "seq_gaps": s.seq_gaps,
        "seq_dups": s.seq_dups,
        "unstamped": s.unstamped,
        "steps": results,
        "args": args,
    }))
}

/// Step `k` of the sweep: publish at `rate` for `--step-secs`, drain, and report it.
async fn step(
    args: &FanoutArgs,
    shared: &RefCell<Shared>,
    k: usize,
    rate: f64,
    n: u64,
) -> StepResult {
    let meter = args.common.cpu_meter();
    let phase = shared.borrow_mut().room.open(k, rate, args.step_secs);
    tokio::time::sleep_until(phase.until.into()).await;
    room::close(shared).await;
    let during = meter.stop();
    let progress = || shared.borrow().room.progress(k, n);
    let drain_start =
        crate::measure::drain(args.drain_secs, Some(Duration::from_secs(1)), progress).await;
    let cpu = meter.stop();
    let s = shared.borrow();
    let r = step_result(args, &s.room.periods[k], rate, n, drain_start, cpu, during);
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
    r
}

/// A step's figures: `cpu` over publishing and draining, `during` over publishing only.
fn step_result(
    args: &FanoutArgs,
    st: &room::Period,
    rate: f64,
    n: u64,
    drain_start: Instant,
    cpu: CpuUse,
    during: CpuUse,
) -> StepResult {
    let expected = st.sent * n;
    StepResult {
        rate,
        secs: args.step_secs,
        offered_deliveries_per_s: rate * n as f64,
        sent: st.sent,
        expected,
        delivered: st.received,
        delivered_pct: round(pct(st.received, expected), 3),
        drain_secs: round(drain_start.elapsed().as_secs_f64(), 2),
        server_cpu_secs: cpu.server_cpu_secs.map(|v| round(v, 2)),
        server_cpu_pct: pct1(cpu.server_pct()),
        server_us_per_delivery: us_each(cpu.server_cpu_secs, st.received, 3),
        generator_cpu_pct: pct1(cpu.generator_pct()),
        publish_server_cpu_pct: pct1(during.server_pct()),
        publish_generator_cpu_pct: pct1(during.generator_pct()),
        server_rss_bytes: args.common.server_rss(),
        latency: latency::summary(&st.hist),
    }
}

/// One member's connection: count and time what arrives; publish its share if it publishes.
async fn member(mut conn: Conn, shared: Rc<RefCell<Shared>>, mut publisher: Option<Publisher>) {
    let target = shared.borrow().room.target;
    let mut last_seq = 0u64;
    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
        let mut s = shared.borrow_mut();
        match target.classify(payload) {
            Kind::Message => {
                let Some(stamp) = target.stamp(payload) else {
                    s.unstamped += 1;
                    return;
                };
                s.room.count_received(stamp, now);
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
            kind => s.room.on_reply(kind, payload, out),
        }
    };
    let mut tick = room::publish_ticks();
    let ended = loop {
        tokio::select! {
            r = conn.stream.readable() => {
                if let Err(e) = conn.serve_readable(r, &mut on_text) {
                    break e;
                }
            }
            r = conn.stream.writable(), if !conn.out.is_empty() => {
                if let Err(e) = conn.serve_writable(r) {
                    break e;
                }
            }
            _ = tick.tick(), if publisher.is_some() => {
                if let Some(p) = publisher.as_mut() {
                    shared.borrow_mut().room.publish_due(p, &mut conn.out);
                }
                if let Err(e) = conn.flush_queued() {
                    break e;
                }
            }
        }
    };
    *shared.borrow_mut().close_codes.entry(ended).or_default() += 1;
}
