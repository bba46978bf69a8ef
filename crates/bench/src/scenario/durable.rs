//! `durable` (Chinwag only): many senders, each keeping `--window` sends in flight on its
//! connection; every `ack` arrives only after the message is committed (G1) → acknowledged
//! messages per second and ack latency (send time in the body, which the ack echoes).
//!
//! Each sender writes to its own conversation by default (`--conversations 0`), or the senders
//! share `--conversations K` groups (hot conversations contend for the same `seq`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::bail;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

use crate::clock::now_us;
use crate::conn::Conn;
use crate::latency;
use crate::procstat::CpuUse;
use crate::report::{Errors, opt, pct1, round, us_each};
use crate::scan::Stamp;
use crate::setup::{self, Common};
use crate::target::{Kind, Target};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct DurableArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 200)]
    pub senders: usize,
    /// Sends in flight per connection (the server handles them one at a time, in order).
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// 0: a conversation per sender; K: the senders share K conversations.
    #[arg(long, default_value_t = 0)]
    pub conversations: usize,
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
}

struct Shared {
    /// Acks are counted and timed only while measuring.
    measuring: bool,
    stopped: bool,
    acks: u64,
    hist: Histogram<u64>,
    errors: Errors,
    closed: u64,
}

pub fn run(args: DurableArgs) -> anyhow::Result<serde_json::Value> {
    crate::run_local(run_async(args))
}

async fn run_async(args: DurableArgs) -> anyhow::Result<serde_json::Value> {
    let common = &args.common;
    if common.target != Target::Chinwag {
        bail!("durable measures acknowledged writes: only --target chinwag stores anything");
    }
    let n = args.senders.max(1);
    let k = if args.conversations == 0 { n } else { args.conversations.min(n) };
    let shared = Rc::new(RefCell::new(Shared {
        measuring: false,
        stopped: false,
        acks: 0,
        hist: latency::histogram(),
        errors: Errors::default(),
        closed: 0,
    }));
    let tasks = start_senders(&args, n, k, &shared).await?;
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;
    let meter = common.cpu_meter();
    let started = Instant::now();
    shared.borrow_mut().measuring = true;
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    {
        let mut s = shared.borrow_mut();
        s.measuring = false;
        s.stopped = true;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = meter.stop();
    let rss = common.server_rss();
    // Let in-flight sends finish so the server is quiet for whatever runs next.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in &tasks {
        t.abort();
    }
    Ok(report(&args, &shared.borrow(), (n, k), wall, cpu, rss))
}

/// `n` senders in `k` conversations (sender i in conversation i mod k), connected and sending.
async fn start_senders(
    args: &DurableArgs,
    n: usize,
    k: usize,
    shared: &Rc<RefCell<Shared>>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let common = &args.common;
    let prefix = setup::run_prefix();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-s{i}")).collect();
    let groups: Vec<(String, Vec<String>)> = (0..k)
        .map(|j| {
            let members: Vec<String> = users.iter().skip(j).step_by(k).cloned().collect();
            (members[0].clone(), members[1..].to_vec())
        })
        .collect();
    let ids = setup::create_groups(common.addr, &common.token_secret, groups, 16).await?;
    let tokens: Vec<String> =
        users.iter().map(|u| setup::token(&common.token_secret, u)).collect::<Result<_, _>>()?;
    let opened =
        setup::open_all(common, n, |_| Target::Chinwag.path(""), |i| Some(tokens[i].clone()))
            .await?;
    let mut tasks = Vec::new();
    for (i, conn) in opened.conns.into_iter().enumerate() {
        let sender = Sender {
            room: ids[i % k].clone(),
            name: format!("{prefix}s{i}"),
            request: 0,
            payload: args.payload,
            scratch: Vec::with_capacity(args.payload + 256),
        };
        tasks.push(tokio::task::spawn_local(send_loop(
            conn.expect("opened"),
            sender,
            args.window.max(1),
            shared.clone(),
        )));
    }
    Ok(tasks)
}

/// The human summary on stderr and the JSON result of `n` senders into `k` conversations,
/// measured over `wall` seconds.
fn report(
    args: &DurableArgs,
    s: &Shared,
    (n, k): (usize, usize),
    wall: f64,
    cpu: CpuUse,
    rss: Option<u64>,
) -> serde_json::Value {
    let common = &args.common;
    let lat = latency::summary(&s.hist);
    let acks_per_s = s.acks as f64 / wall;
    let us_per_ack = us_each(cpu.server_cpu_secs, s.acks, 2);
    eprintln!(
        "durable {}: {n} senders × window {} into {k} conversations: {:.0} acks/s, ack {}; server {} % CPU, {} µs/ack; {} errors",
        common.label(),
        args.window,
        acks_per_s,
        latency::human(&lat),
        opt(pct1(cpu.server_pct())),
        opt(us_per_ack),
        s.errors.count
    );
    json!({
        "scenario": "durable",
        "label": common.label(),
        "target": common.target,
        "senders": n,
        "window": args.window,
        "conversations": k,
        "acks": s.acks,
        "acks_per_s": round(acks_per_s, 0),
        "latency": lat,
        "errors": s.errors.count,
        "first_error": s.errors.first,
        "closed": s.closed,
        "server_cpu_pct": pct1(cpu.server_pct()),
        "server_us_per_ack": us_per_ack,
        "generator_cpu_pct": pct1(cpu.generator_pct()),
        "server_rss_bytes": rss,
        "args": args,
    })
}

struct Sender {
    room: String,
    name: String,
    request: u64,
    payload: usize,
    scratch: Vec<u8>,
}

impl Sender {
    fn queue(&mut self, out: &mut Vec<u8>) {
        self.request += 1;
        self.scratch.clear();
        let stamp = Stamp { sent_us: now_us(), step: 0 };
        Target::Chinwag.write_send(
            &mut self.scratch,
            &self.room,
            &self.name,
            self.request,
            stamp,
            self.payload,
        );
        crate::frame::encode_masked(out, crate::frame::OP_TEXT, &self.scratch);
    }
}

async fn send_loop(mut conn: Conn, mut sender: Sender, window: usize, shared: Rc<RefCell<Shared>>) {
    for _ in 0..window {
        sender.queue(&mut conn.out);
    }
    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
        let mut s = shared.borrow_mut();
        match Target::Chinwag.classify(payload) {
            Kind::Ack => {
                if s.measuring
                    && let Some(stamp) = Target::Chinwag.stamp(payload)
                {
                    s.acks += 1;
                    latency::record(&mut s.hist, stamp.sent_us, now);
                }
                if !s.stopped {
                    sender.queue(out);
                }
            }
            Kind::Error => {
                s.errors.note(payload);
                if !s.stopped {
                    sender.queue(out);
                }
            }
            _ => {}
        }
    };
    loop {
        if conn.flush_queued().is_err() {
            break;
        }
        let served = tokio::select! {
            r = conn.stream.readable() => conn.serve_readable(r, &mut on_text),
            r = conn.stream.writable(), if !conn.out.is_empty() => conn.serve_writable(r),
        };
        if served.is_err() {
            break;
        }
    }
    shared.borrow_mut().closed += 1;
}
