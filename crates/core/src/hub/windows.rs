//! Fan-out windows: how a busy conversation's events reach each device in one write per window.
//!
//! Writing to a socket costs far more than anything else on the path (a loopback `writev` is
//! several microseconds, whatever it carries), so a busy conversation's events are delivered in
//! windows: the first event of a quiet conversation goes out at once and opens a window of
//! `fanout_window_ms`; events arriving while it is open are appended to one buffer, and when it
//! closes that buffer goes to every member's devices as one queue entry, which their sessions
//! write with one syscall. A window that closes empty ends; the next event goes out at once
//! again. So a quiet conversation sees no added latency, and a busy one trades at most one
//! window of latency for one write per device per window instead of one per event.
//!
//! Order: a conversation's messages come from one publisher in `seq` order; the first event is
//! delivered before the window's task exists, and only that task delivers the window's buffers,
//! in order, so no device can see a later message before an earlier one. Events meant for all
//! but one user (typing) bypass windows. Membership is read when a buffer is delivered: a member
//! removed within a window does not get that window's events (they would be refused to them by
//! history too), one added gets them (members read the conversation's history anyway).
//!
//! Memory: a window holds what its conversation published in one window; its buffer is sealed
//! at [`WINDOW_SEAL_BYTES`] (or an eighth of the device queues' byte bound, if that is less) and
//! a new one started, so one queue entry never makes a device a slow consumer by itself.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use chinwag_broker::{Event, EventKind};
use chinwag_proto::ids::{ConversationId, Seq};

use super::{ConvKey, Hub};
use crate::device_queue::{ConversationFrames, Outbound};

/// A window's buffer is sealed, and a new one begun, once it holds this many bytes.
pub const WINDOW_SEAL_BYTES: usize = 256 * 1024;

/// Events of one busy conversation waiting for its window to close.
#[derive(Default)]
pub(super) struct Window {
    /// Full buffers, in order, delivered before `bytes`.
    sealed: Vec<Outbound>,
    /// Encoded events appended since the last delivery, concatenated.
    bytes: BytesMut,
    /// Per event in `bytes`: end offset and message seq (0 for other events).
    frames: Vec<(u32, Seq)>,
}

impl Window {
    fn append(&mut self, conversation: &ConversationId, event: &Event, seal_bytes: usize) {
        if !self.bytes.is_empty() && self.bytes.len() + event.payload.len() > seal_bytes {
            let sealed = self.take_current(conversation);
            self.sealed.extend(sealed);
        }
        self.bytes.extend_from_slice(event.payload.bytes());
        self.frames.push((self.bytes.len() as u32, seq_of(event)));
    }

    fn take_current(&mut self, conversation: &ConversationId) -> Option<Outbound> {
        if self.frames.is_empty() {
            return None;
        }
        let frames = std::mem::take(&mut self.frames).into_boxed_slice();
        Some(Outbound {
            payload: self.bytes.split().freeze(),
            events: Some(Arc::new(ConversationFrames::new(conversation.clone(), frames))),
        })
    }

    /// Everything waiting, in order; empty when the window saw nothing.
    fn take_all(&mut self, conversation: &ConversationId) -> Vec<Outbound> {
        let mut all = std::mem::take(&mut self.sealed);
        all.extend(self.take_current(conversation));
        // A quiet window gives its buffer back rather than keeping it for the next burst.
        self.bytes = BytesMut::new();
        all
    }
}

fn seq_of(event: &Event) -> Seq {
    match event.kind {
        EventKind::Message { seq } => seq,
        _ => 0,
    }
}

impl Hub {
    pub(super) fn conversation_event(&self, ckey: ConvKey, event: &Event) {
        let single = |event: &Event| Outbound {
            payload: event.payload.bytes().clone(),
            events: Some(Arc::new(ConversationFrames::new(
                ckey.1.clone(),
                Box::new([(event.payload.len() as u32, seq_of(event))]),
            ))),
        };
        let runtime = match &self.runtime {
            Some(rt) if !self.window.is_zero() && event.skip_user.is_none() => rt,
            _ => return self.deliver(&ckey, &single(event), event.skip_user.as_ref()),
        };
        {
            let mut windows = self.windows[self.shard(&ckey)].lock();
            if let Some(window) = windows.get_mut(&ckey) {
                window.append(&ckey.1, event, self.seal_bytes);
                return;
            }
            windows.insert(ckey.clone(), Window::default());
        }
        // A quiet conversation: deliver now, and only then start the window's task, so that
        // nothing of the window can overtake this event.
        self.deliver(&ckey, &single(event), None);
        let Some(hub) = self.this.upgrade() else { return };
        runtime.spawn(async move { hub.run_window(ckey).await });
    }

    /// A conversation's window: every `window`, deliver what arrived; end after a quiet one.
    async fn run_window(&self, ckey: ConvKey) {
        loop {
            tokio::time::sleep(self.window).await;
            let due = {
                let mut windows = self.windows[self.shard(&ckey)].lock();
                let Some(window) = windows.get_mut(&ckey) else { return };
                let due = window.take_all(&ckey.1);
                if due.is_empty() {
                    windows.remove(&ckey);
                    return;
                }
                due
            };
            let started = Instant::now();
            for out in &due {
                self.deliver(&ckey, out, None);
            }
            self.metrics.fanout_seconds.observe(started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use chinwag_broker::{EventReceiver, Topic};
    use chinwag_proto::ids::TenantId;

    use super::*;
    use crate::device_queue::device_queue;
    use crate::hub::tests::{drain, ev, frames};
    use crate::metrics::Metrics;

    #[tokio::test(start_paused = true)]
    async fn a_busy_conversation_is_delivered_in_windows_a_quiet_one_at_once() {
        let window = Duration::from_millis(20);
        let hub = Hub::new(4, window, 4 << 20, Arc::new(Metrics::new()));
        let t = TenantId::from("t");
        let (a, mut ar) = device_queue(64, 1 << 20);
        hub.register(&t, &"a".into(), a).unwrap();
        hub.join_many(&t, &"a".into(), &["c".into()]);
        let c = || Topic::Conversation(t.clone(), "c".into());

        // The first event of a quiet conversation goes out at once.
        hub.receive(&ev(c(), EventKind::Message { seq: 1 }, b"m1"));
        assert_eq!(drain(&mut ar), [(b"m1".to_vec(), vec![1])]);

        // Events within the window wait for it, then arrive as one entry, in order, with
        // their layout; typing (skip_user) does not wait.
        hub.receive(&ev(c(), EventKind::Message { seq: 2 }, b"m2"));
        hub.receive(&ev(c(), EventKind::Other, b"r"));
        hub.receive(&ev(c(), EventKind::Message { seq: 3 }, b"m3"));
        let typing = Event { skip_user: Some("z".into()), ..ev(c(), EventKind::Other, b"t") };
        hub.receive(&typing);
        assert_eq!(frames(&mut ar), ["t"]);
        tokio::time::sleep(window / 2).await;
        assert!(drain(&mut ar).is_empty(), "still inside the window");
        tokio::time::sleep(window).await;
        assert_eq!(drain(&mut ar), [(b"m2rm3".to_vec(), vec![2, 0, 3])]);

        // A window that closes empty ends: the next event goes out at once again.
        tokio::time::sleep(window * 3).await;
        assert!(hub.windows.iter().all(|s| s.lock().is_empty()), "no window left open");
        hub.receive(&ev(c(), EventKind::Message { seq: 4 }, b"m4"));
        assert_eq!(frames(&mut ar), ["m4"]);

        // A window's buffer is sealed at WINDOW_SEAL_BYTES: big bursts become several entries.
        static BIG: [u8; WINDOW_SEAL_BYTES / 2 + 1] = [b'x'; WINDOW_SEAL_BYTES / 2 + 1];
        for seq in 5..=7 {
            hub.receive(&Event {
                payload: chinwag_broker::EncodedEvent::from_json(Bytes::from_static(&BIG)),
                ..ev(c(), EventKind::Message { seq }, b"")
            });
        }
        tokio::time::sleep(window * 2).await;
        let seqs: Vec<Vec<Seq>> = drain(&mut ar).into_iter().map(|(_, s)| s).collect();
        assert_eq!(seqs, [vec![5], vec![6], vec![7]]);
    }
}
