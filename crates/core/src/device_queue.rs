//! A device's outbound queue: the only buffer between the hub and one connection's socket.
//!
//! Bounded twice, by entries and by bytes, because a few huge batches and many tiny frames must
//! both be capped. Overflow rule (G5): the hub never waits; a push that does not fit marks the
//! device slow, wakes its session, and drops every later push. The session closes with
//! `slow_consumer` (4008) and the client recovers through resume (G4).
//!
//! The queue is a `VecDeque` under a short synchronous lock rather than a channel: an idle
//! connection then holds no buffer at all (a channel keeps a block of slots allocated for its
//! whole life), and the session takes everything queued in one lock instead of one receive per
//! entry. The lock is never held across `.await` (`parking_lot`, guarded by the lint).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use bytes::Bytes;
use chinwag_proto::ids::{ConversationId, Seq};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// One entry on its way to a device: one encoded event, or a window's encoded events of one
/// conversation back to back (see `hub/windows.rs`). Transport-neutral: each transport frames
/// it at its edge.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Encoded events (JSON), shared with every other recipient.
    pub payload: Bytes,
    /// For conversation events: where each event ends and which message seq it carries, so the
    /// session can drop what a resume replay already sent.
    pub events: Option<Arc<ConversationFrames>>,
}

/// The layout of an [`Outbound`] that holds conversation events, shared by its recipients.
#[derive(Debug)]
pub struct ConversationFrames {
    pub conversation: ConversationId,
    /// Per event, in order: its end offset in the bytes, and its message seq (0 for events that
    /// are not messages: those are always delivered).
    pub frames: Box<[(u32, Seq)]>,
    /// Lowest and highest message seq among the events (0 when there is none).
    pub first_seq: Seq,
    pub last_seq: Seq,
    /// The whole entry as WebSocket frames, made by the first WebSocket device that writes it
    /// and shared by the others: one buffer, one write per device (see `replay.rs`).
    ws: OnceLock<Bytes>,
}

impl ConversationFrames {
    pub fn new(conversation: ConversationId, frames: Box<[(u32, Seq)]>) -> Self {
        let seqs = frames.iter().map(|&(_, seq)| seq).filter(|&seq| seq > 0);
        let first_seq = seqs.clone().min().unwrap_or(0);
        let last_seq = seqs.max().unwrap_or(0);
        Self { conversation, frames, first_seq, last_seq, ws: OnceLock::new() }
    }

    /// Each event of `bytes` on its own, with its message seq (0 for other events).
    pub fn split<'a>(&'a self, bytes: &'a Bytes) -> impl Iterator<Item = (Bytes, Seq)> + 'a {
        let starts = std::iter::once(0).chain(self.frames.iter().map(|&(end, _)| end as usize));
        starts
            .zip(self.frames.iter())
            .map(|(start, &(end, seq))| (bytes.slice(start..end as usize), seq))
    }

    /// Whether a device that already has every message up to `have` needs every event here.
    pub fn all_fresh(&self, have: Seq) -> bool {
        self.first_seq == 0 || self.first_seq > have
    }

    /// The events of `bytes` a device that has every message up to `have` still needs.
    pub fn fresh<'a>(&'a self, bytes: &'a Bytes, have: Seq) -> impl Iterator<Item = Bytes> + 'a {
        self.split(bytes).filter(move |&(_, seq)| seq == 0 || seq > have).map(|(e, _)| e)
    }

    /// All of `bytes` as WebSocket frames in one buffer, framed once for every recipient.
    pub fn ws_frames(&self, bytes: &Bytes) -> Bytes {
        self.ws
            .get_or_init(|| {
                let hint = bytes.len() + self.frames.len() * 4;
                crate::wire::ws_frames(self.split(bytes).map(|(e, _)| e), hint)
            })
            .clone()
    }
}

#[derive(Debug, Default)]
struct Queue {
    entries: VecDeque<Outbound>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Set on overflow or discard; the queue then takes nothing more.
    slow: AtomicBool,
    /// Set with `slow` when the device must catch up from the store because events meant for
    /// it may have been lost between nodes (not because it read too slowly).
    resync: AtomicBool,
    /// Wakes the session when the queue goes from empty to non-empty, or the device turns slow.
    /// The queue has one consumer, so a waker slot does (cheaper than a `Notify`'s waiter list).
    ready: AtomicWaker,
    /// Wakes a session stuck in a socket write once the device turns slow.
    slow_wake: Notify,
}

/// The hub's end of a device queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceSender {
    shared: Arc<Shared>,
    max_entries: usize,
    max_bytes: usize,
}

/// The session's end of a device queue.
#[derive(Debug)]
pub struct DeviceReceiver {
    shared: Arc<Shared>,
}

/// A new queue bounded by `max_entries` entries and `max_bytes` bytes.
pub fn device_queue(max_entries: usize, max_bytes: usize) -> (DeviceSender, DeviceReceiver) {
    let shared = Arc::new(Shared::default());
    (
        DeviceSender { shared: shared.clone(), max_entries: max_entries.max(1), max_bytes },
        DeviceReceiver { shared },
    )
}

impl DeviceSender {
    /// Queue an entry without waiting. Returns `false` if the device is (now) a slow consumer.
    pub fn push(&self, out: Outbound) -> bool {
        if self.shared.slow.load(Ordering::Relaxed) {
            return false;
        }
        let len = out.payload.len();
        let was_empty = {
            let mut q = self.shared.queue.lock();
            if q.entries.len() >= self.max_entries || q.bytes + len > self.max_bytes {
                None
            } else {
                q.bytes += len;
                q.entries.push_back(out);
                Some(q.entries.len() == 1)
            }
        };
        match was_empty {
            Some(true) => {
                self.shared.ready.wake();
                true
            }
            Some(false) => true,
            None => {
                self.mark_slow();
                false
            }
        }
    }

    fn mark_slow(&self) {
        if !self.shared.slow.swap(true, Ordering::Relaxed) {
            // Both: a session waiting for entries learns it from `recv_all`, one stuck in a
            // write from its `SlowWatch`.
            self.shared.ready.wake();
            self.shared.slow_wake.notify_one();
        }
    }

    pub fn is_slow(&self) -> bool {
        self.shared.slow.load(Ordering::Relaxed)
    }

    /// Events meant for this device may have been lost between nodes: end its session as a
    /// slow one is ended (its queue is dropped, it resumes from the store, G4), but with the
    /// reason `resync`, so that it is told to come back after a spread delay rather than at
    /// once and the close is not counted as an overflow.
    pub fn resync(&self) {
        self.shared.resync.store(true, Ordering::Relaxed);
        self.mark_slow();
    }

    /// Same queue?
    pub fn same_as(&self, other: &DeviceSender) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// See [`DeviceReceiver::slow_watch`].
#[derive(Debug, Clone)]
pub struct SlowWatch(Arc<Shared>);

impl SlowWatch {
    /// Resolves once the device has been marked slow. Cancel-safe.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.slow_wake.notified();
            tokio::pin!(notified);
            // Register interest before checking the flag, so a wake between the two is not lost.
            notified.as_mut().enable();
            if self.0.slow.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }
}

impl DeviceReceiver {
    /// Wait until something is queued, then take all of it. Returns `None` once the device is
    /// slow (its queue discarded or about to be): the session's one signal to close it. Cancel-safe: entries are taken only in the same poll that returns them.
    pub async fn recv_all(&mut self) -> Option<VecDeque<Outbound>> {
        std::future::poll_fn(|cx| {
            for attempt in 0..2 {
                if self.is_slow() {
                    return Poll::Ready(None);
                }
                if let Some(taken) = self.try_recv_all() {
                    return Poll::Ready(Some(taken));
                }
                // Register, then look again: a push between the first look and the
                // registration would otherwise wake nobody.
                if attempt == 0 {
                    self.shared.ready.register(cx.waker());
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Take everything queued, if anything is.
    pub fn try_recv_all(&self) -> Option<VecDeque<Outbound>> {
        let mut q = self.shared.queue.lock();
        if q.entries.is_empty() {
            return None;
        }
        q.bytes = 0;
        // Taking the deque hands its allocation to the session, which frees it after writing:
        // an idle connection keeps no queue memory.
        Some(std::mem::take(&mut q.entries))
    }

    /// A handle that resolves once the device is marked slow; separate from the receiver so a
    /// session can wait on both in one `select!`.
    pub fn slow_watch(&self) -> SlowWatch {
        SlowWatch(self.shared.clone())
    }

    pub fn is_slow(&self) -> bool {
        self.shared.slow.load(Ordering::Relaxed)
    }

    /// Free everything queued (a slow consumer's backlog) and refuse further pushes.
    pub fn discard(&mut self) {
        self.shared.slow.store(true, Ordering::Relaxed);
        let mut q = self.shared.queue.lock();
        q.entries = VecDeque::new();
        q.bytes = 0;
    }

    /// Whether the device was ended by [`DeviceSender::resync`] rather than by overflowing.
    pub fn must_resync(&self) -> bool {
        self.shared.resync.load(Ordering::Relaxed)
    }

    pub fn queued_bytes(&self) -> usize {
        self.shared.queue.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: usize) -> Outbound {
        Outbound { payload: Bytes::from(vec![0u8; n]), events: None }
    }

    #[tokio::test]
    async fn overflow_by_entries_or_bytes_marks_slow_and_wakes() {
        let (tx, mut rx) = device_queue(2, 1000);
        assert!(tx.push(out(10)) && tx.push(out(10)));
        assert_eq!(rx.queued_bytes(), 20);
        assert!(!tx.push(out(10)), "a third entry overflows a 2-entry queue");
        assert!(tx.is_slow());
        rx.slow_watch().wait().await; // returns at once: already slow
        assert!(!tx.push(out(1)), "a slow device takes nothing more");
        rx.discard();
        assert_eq!(rx.queued_bytes(), 0);
        assert!(rx.recv_all().await.is_none(), "a discarded queue ends");

        let (tx, rx) = device_queue(100, 25);
        assert!(tx.push(out(20)));
        assert!(!tx.push(out(10)), "byte bound");
        assert!(rx.is_slow());
    }

    #[tokio::test]
    async fn recv_all_takes_everything_queued_and_waits_when_empty() {
        let (tx, mut rx) = device_queue(16, 1 << 20);
        assert!(tx.push(out(1)) && tx.push(out(2)) && tx.push(out(3)));
        let got = rx.recv_all().await.unwrap();
        assert_eq!(got.iter().map(|o| o.payload.len()).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rx.queued_bytes(), 0);
        assert!(rx.try_recv_all().is_none());

        let waiter = tokio::spawn(async move { rx.recv_all().await.map(|q| q.len()) });
        tokio::task::yield_now().await;
        assert!(tx.push(out(4)));
        assert_eq!(waiter.await.unwrap(), Some(1), "a push wakes a waiting session");
    }

    #[test]
    fn fresh_events_drop_only_messages_the_device_has() {
        // Three events: message 5 (bytes 0..3), a receipt (3..5), message 6 (5..9).
        let bytes = Bytes::from_static(b"aaabbcccc");
        let layout = ConversationFrames::new("c".into(), Box::new([(3, 5), (5, 0), (9, 6)]));
        assert_eq!((layout.first_seq, layout.last_seq), (5, 6));
        let parts = |have| {
            let v = layout.fresh(&bytes, have);
            v.map(|b| String::from_utf8(b.to_vec()).unwrap()).collect::<Vec<_>>()
        };
        assert!(layout.all_fresh(4) && !layout.all_fresh(5));
        assert_eq!(parts(4), ["aaa", "bb", "cccc"]);
        assert_eq!(parts(5), ["bb", "cccc"]);
        assert_eq!(parts(6), ["bb"], "the receipt is always delivered");
        assert_eq!(parts(9), ["bb"]);
        let split: Vec<(Bytes, Seq)> = layout.split(&bytes).collect();
        assert_eq!(
            split,
            [
                (Bytes::from_static(b"aaa"), 5),
                (Bytes::from_static(b"bb"), 0),
                (Bytes::from_static(b"cccc"), 6)
            ]
        );
        let only_events = ConversationFrames::new("c".into(), Box::new([(2, 0), (5, 0)]));
        assert!(only_events.all_fresh(100), "no messages: nothing is ever stale");

        // Framed for WebSocket once, and the same buffer for every recipient.
        let framed = layout.ws_frames(&bytes);
        let expected: Vec<u8> = [&b"aaa"[..], b"bb", b"cccc"]
            .iter()
            .flat_map(|e| chinwag_ws::encode_text(e).to_vec())
            .collect();
        assert_eq!(framed.to_vec(), expected);
        assert_eq!(layout.ws_frames(&bytes).as_ptr(), framed.as_ptr(), "framed once, shared");
    }
}
