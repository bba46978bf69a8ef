//! One `chat` user: its connection, its Poisson sends, its churn (drop and reconnect with
//! `resume`, re-sending what was not acknowledged), and what it counts of what arrives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Shared, Stage};
use crate::chinwag::{self, SeqTrack};
use crate::conn::Conn;
use crate::scan::{self, Stamp};
use crate::target::{Kind, Target};

/// A small deterministic generator (xorshift64*), one per user: no shared state, no dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
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

pub(super) struct User {
    pub(super) target: Target,
    /// The upgrade path (peers: the user's two rooms).
    pub(super) path: String,
    pub(super) addr: SocketAddr,
    pub(super) source: IpAddr,
    pub(super) token: String,
    /// Group, then direct.
    pub(super) convs: [String; 2],
    pub(super) members: [u64; 2],
    pub(super) tracks: [SeqTrack; 2],
    pub(super) rng: Rng,
    pub(super) per_user_rate: f64,
    pub(super) churn_per_s: f64,
    pub(super) group_share: f64,
    pub(super) payload: usize,
    pub(super) sender: String,
    pub(super) request: u64,
    /// Sends not yet acknowledged: request id → the `send` frame's payload.
    pub(super) pending: HashMap<u64, Vec<u8>>,
    pub(super) scratch: Vec<u8>,
}

/// What a device holds at the end: conversation → last `seq`.
pub(super) struct Final {
    pub(super) held: Vec<(String, u64)>,
}

impl User {
    pub(super) async fn run(
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
                    let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
                        self.on_frame(&shared, payload, now, false, out);
                    };
                    if let Err(e) = conn.serve_readable(r, &mut on_text) {
                        break e;
                    }
                }
                r = conn.stream.writable(), if !conn.out.is_empty() => {
                    if let Err(e) = conn.serve_writable(r) {
                        break e;
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
            if let Err(e) = conn.flush_queued() {
                break e;
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
                s.errors.note(payload);
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
                    s.errors.first.get_or_insert_with(|| format!("reconnect: {e}"));
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
