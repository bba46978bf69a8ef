//! One `slow` member's connection: healthy members count and time what arrives (and publish
//! their share if they publish); a slow member stops polling its socket while the stage is
//! `Frozen`, then reads again and, for Chinwag, recovers what it missed after being cut off.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Shared, Stage};
use crate::chinwag::{self, SeqTrack};
use crate::conn::{Conn, Open};
use crate::report::round;
use crate::scan;
use crate::scenario::room::{self, Publisher};
use crate::target::{Kind, Target};

/// What a slow member needs to come back after the server cut it off.
pub(super) struct SlowMember {
    /// Its index among the slow members.
    pub index: usize,
    pub token: Option<String>,
    pub source: IpAddr,
    pub room: String,
    pub addr: SocketAddr,
}

/// One member: serve its connection until the run stops it (or, slow, until it is closed or
/// complete), then record how it ended; a closed Chinwag slow member recovers.
pub(super) async fn member(
    mut conn: Conn,
    shared: Rc<RefCell<Shared>>,
    publisher: Option<Publisher>,
    slow: Option<SlowMember>,
    mut stage: watch::Receiver<Stage>,
) {
    let target = shared.borrow().room.target;
    let slow_index = slow.as_ref().map(|s| s.index);
    let mut counting = Counting { target, slow: slow_index, track: SeqTrack::default() };
    let ended = {
        let mut on_text = |payload: &[u8], now: u64, out: &mut Vec<u8>| {
            counting.on_frame(&mut shared.borrow_mut(), payload, now, out);
        };
        serve(&mut conn, &shared, publisher, slow_index, &mut stage, &mut on_text).await
    };
    let track = counting.track;
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
    if let Err(e) = recover(&shared, &slow, track).await {
        shared.borrow_mut().slow[i].error = Some(e.to_string());
    }
}

/// The connection loop: read (unless frozen), write, publish on the tick; a slow member also
/// follows the stage and ends once complete in `Recover`. Returns how the connection ended, or
/// `None` when a slow member is complete.
async fn serve(
    conn: &mut Conn,
    shared: &RefCell<Shared>,
    mut publisher: Option<Publisher>,
    slow: Option<usize>,
    stage: &mut watch::Receiver<Stage>,
    on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
) -> Option<String> {
    let mut tick = room::publish_ticks();
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        let frozen = slow.is_some() && *stage.borrow() == Stage::Frozen;
        if slow.is_some() && *stage.borrow() == Stage::Recover && slow_complete(shared, slow) {
            return None;
        }
        let served = tokio::select! {
            r = conn.stream.readable(), if !frozen => conn.serve_readable(r, on_text),
            r = conn.stream.writable(), if !frozen && !conn.out.is_empty() => conn.serve_writable(r),
            _ = tick.tick(), if publisher.is_some() => {
                if let Some(p) = publisher.as_mut() {
                    shared.borrow_mut().room.publish_due(p, &mut conn.out);
                }
                conn.flush_queued()
            }
            r = stage.changed(), if slow.is_some() => r.map_err(|_| "stopped".to_owned()),
            _ = check.tick(), if slow.is_some() && !frozen => Ok(()),
        };
        if let Err(e) = served {
            return Some(e);
        }
    }
}

/// How a member counts what it receives: healthy members feed the phase's figures, slow
/// members count what they hold.
struct Counting {
    target: Target,
    /// The member's index among the slow ones; `None` for a healthy member.
    slow: Option<usize>,
    track: SeqTrack,
}

impl Counting {
    /// One frame from the server: messages are counted, acks also raise the highest
    /// acknowledged `seq`.
    fn on_frame(&mut self, s: &mut Shared, payload: &[u8], now: u64, out: &mut Vec<u8>) {
        match self.target.classify(payload) {
            Kind::Message => self.on_message(s, payload, now),
            kind => {
                if kind == Kind::Ack
                    && let Some(seq) = scan::field_u64(payload, br#""seq":"#)
                {
                    s.max_acked_seq = s.max_acked_seq.max(seq);
                }
                s.room.on_reply(kind, payload, out);
            }
        }
    }

    /// Count a received message. Healthy members feed the phase's latency histogram; slow
    /// members count what they hold.
    fn on_message(&mut self, s: &mut Shared, payload: &[u8], now: u64) {
        let stamp = self.target.stamp(payload);
        let seq = (self.target == Target::Chinwag)
            .then(|| scan::field_u64(payload, br#""seq":"#))
            .flatten();
        let track = &mut self.track;
        match self.slow {
            None => {
                if let Some(stamp) = stamp {
                    s.room.count_received(stamp, now);
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
}

fn mark_complete(s: &mut Shared, i: usize) {
    if let (Some(expected), Some(started)) = (s.expected, s.recover_started) {
        let st = &mut s.slow[i];
        if st.complete_after_secs.is_none() && st.received >= expected {
            st.complete_after_secs = Some(started.elapsed().as_secs_f64());
        }
    }
}

fn slow_complete(shared: &RefCell<Shared>, i: Option<usize>) -> bool {
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
    shared: &RefCell<Shared>,
    slow: &SlowMember,
    track: SeqTrack,
) -> anyhow::Result<()> {
    let i = slow.index;
    let track = RefCell::new(track);
    let token = slow.token.clone().unwrap_or_default();
    let count = |seq: u64| {
        let mut s = shared.borrow_mut();
        let mut track = track.borrow_mut();
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
    let count_message = |payload: &[u8]| {
        if let Some((_, seq)) = chinwag::message_position(payload) {
            count(seq);
        }
    };
    loop {
        if slow_complete(shared, Some(i)) {
            return Ok(());
        }
        shared.borrow_mut().slow[i].reconnects += 1;
        let positions = vec![(slow.room.clone(), track.borrow().last)];
        let mut on_message = |payload: &[u8], _now: u64, _replayed: bool| count_message(payload);
        let (mut conn, incomplete) = chinwag::reconnect(
            slow.addr,
            slow.source,
            &token,
            &positions,
            Duration::from_secs(30),
            &mut on_message,
        )
        .await?;
        for (conversation, _) in incomplete {
            let after = track.borrow().last;
            let mut on_page = |seq: u64, _body: &[u8], _now: u64| count(seq);
            let mut on_live = |payload: &[u8], _now: u64| count_message(payload);
            let pages =
                chinwag::page_history(&mut conn, &conversation, after, &mut on_page, &mut on_live)
                    .await?;
            shared.borrow_mut().slow[i].history_pages += pages;
        }
        if read_live(shared, i, &mut conn, &count_message).await? {
            return Ok(());
        }
    }
}

/// Read live `message` events until the slow member is complete (`true`) or closed again
/// (`false`).
async fn read_live(
    shared: &RefCell<Shared>,
    i: usize,
    conn: &mut Conn,
    count_message: &impl Fn(&[u8]),
) -> anyhow::Result<bool> {
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        if slow_complete(shared, Some(i)) {
            return Ok(true);
        }
        let mut on_text = |payload: &[u8], _now: u64, _out: &mut Vec<u8>| {
            if chinwag::frame_type(payload) == b"message" {
                count_message(payload);
            }
        };
        tokio::select! {
            r = conn.read(&mut on_text) => match r? {
                Open::Yes => conn.try_flush()?,
                Open::No => return Ok(false),
            },
            _ = check.tick() => {}
        }
    }
}
