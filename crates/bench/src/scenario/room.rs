//! What the one-room scenarios (`fanout`, `slow`) share: the room with every member connected,
//! the publishers and their schedule, and the measured periods the members count into.
//!
//! A period is a publishing phase: message j of period k is due at `start + j / rate`, and every
//! member that receives a stamped message counts it (and its latency) into the period its stamp
//! names.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::conn::Conn;
use crate::latency;
use crate::report::Errors;
use crate::scan::Stamp;
use crate::setup::{self, Common, Opened};
use crate::target::{Kind, Target};

/// One room (for Chinwag a group conversation) with `n` members, each one open connection.
pub(crate) struct OneRoom {
    /// Keeps this run's user ids apart from earlier runs'.
    pub prefix: String,
    pub room: String,
    /// Each member's token (Chinwag), index-aligned with the connections.
    pub tokens: Vec<Option<String>>,
    pub opened: Opened,
}

impl OneRoom {
    /// Users `{prefix}-{tag}{i}` for i < `n`, their room, and a connection each; fails unless
    /// every connection opened.
    pub(crate) async fn open(common: &Common, n: usize, tag: &str) -> anyhow::Result<Self> {
        let target = common.target;
        let prefix = setup::run_prefix();
        let users: Vec<String> = (0..n).map(|i| format!("{prefix}-{tag}{i}")).collect();
        let room = setup::one_room(common, target, &prefix, &users).await?;
        let tokens = setup::room_tokens(common, target, &users)?;
        let opened = setup::open_room(common, target, &room, &tokens).await?;
        Ok(Self { prefix, room, tokens, opened })
    }

    /// The open connections in member order; the first `publishers` members publish, each its
    /// share of the schedule with `payload`-byte bodies.
    pub(crate) fn members(
        &mut self,
        publishers: usize,
        payload: usize,
    ) -> Vec<(usize, Conn, Option<Publisher>)> {
        let conns = std::mem::take(&mut self.opened.conns);
        conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let publisher = (i < publishers).then(|| {
                    Publisher::new(i as u64, publishers as u64, &self.room, &self.prefix, payload)
                });
                (i, conn.expect("all opened"), publisher)
            })
            .collect()
    }
}

/// A publishing period: message j of the step is due at `start + j / rate`, none after `until`.
#[derive(Clone, Copy)]
pub(crate) struct Phase {
    pub step: u32,
    pub rate: f64,
    pub start: Instant,
    pub until: Instant,
}

/// One measured period: messages published in it, and the stamped ones the members received,
/// with their end-to-end latency.
pub(crate) struct Period {
    pub sent: u64,
    pub received: u64,
    pub hist: Histogram<u64>,
}

/// What the room's members report into, whatever the scenario (each keeps its own counters
/// beside it).
pub(crate) struct Schedule {
    pub target: Target,
    /// The period being published, if any.
    pub phase: Option<Phase>,
    pub periods: Vec<Period>,
    pub acks: u64,
    pub errors: Errors,
}

impl Schedule {
    pub(crate) fn new(target: Target, periods: usize) -> Self {
        Schedule {
            target,
            phase: None,
            periods: (0..periods)
                .map(|_| Period { sent: 0, received: 0, hist: latency::histogram() })
                .collect(),
            acks: 0,
            errors: Errors::default(),
        }
    }

    /// Start publishing period `step` at `rate` for `secs`.
    pub(crate) fn open(&mut self, step: usize, rate: f64, secs: f64) -> Phase {
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(secs);
        let phase = Phase { step: step as u32, rate, start, until };
        self.phase = Some(phase);
        phase
    }

    /// Queue what `p` owes the open period by now, and count it as sent.
    pub(crate) fn publish_due(&mut self, p: &mut Publisher, out: &mut Vec<u8>) {
        let Some(phase) = self.phase else { return };
        let queued = p.queue_due(phase, self.target, out);
        self.periods[phase.step as usize].sent += queued;
    }

    /// Count a stamped message a member received (read at `now`) into its period.
    pub(crate) fn count_received(&mut self, stamp: Stamp, now: u64) {
        if let Some(p) = self.periods.get_mut(stamp.step as usize) {
            p.received += 1;
            latency::record(&mut p.hist, stamp.sent_us, now);
        }
    }

    /// The frames every member handles alike: acks and errors are counted, Socket.IO pings
    /// answered (into `out`).
    pub(crate) fn on_reply(&mut self, kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
        match kind {
            Kind::Ack => self.acks += 1,
            Kind::Error => self.errors.note(payload),
            Kind::EnginePing => crate::frame::encode_masked(out, crate::frame::OP_TEXT, b"3"),
            _ => {}
        }
    }

    /// Received and owed deliveries of period `k` when each message goes to `members`.
    pub(crate) fn progress(&self, k: usize, members: u64) -> (u64, u64) {
        let p = &self.periods[k];
        (p.received, p.sent * members)
    }
}

/// End the open period: let every publisher take its last tick up to `until`, then stop them.
pub(crate) async fn close<S: AsMut<Schedule>>(shared: &RefCell<S>) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    shared.borrow_mut().as_mut().phase = None;
}

/// The publishers' clock: a tick every millisecond, late ticks delayed rather than bunched.
pub(crate) fn publish_ticks() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
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
