//! A device's outbound queue: the only buffer between the hub and one connection's socket.
//!
//! Bounded twice, by frames (the channel) and by bytes (a counter), because a few huge frames and
//! many tiny ones must both be capped. Overflow rule (G5): the hub never waits; a push that does
//! not fit marks the device slow, wakes its session, and drops every later push. The session
//! closes with `slow_consumer` (4008) and the client recovers through resume (G4).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use chinwag_proto::ids::{ConversationId, Seq};
use tokio::sync::{Notify, mpsc};

/// One frame on its way to a device.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// A complete WebSocket frame, usually shared with every other recipient.
    pub frame: Bytes,
    /// For message events: which conversation and seq, so the session can drop what it already
    /// sent during a resume replay.
    pub message: Option<(Arc<ConversationId>, Seq)>,
}

#[derive(Debug, Default)]
struct Shared {
    queued_bytes: AtomicUsize,
    slow: AtomicBool,
    wake: Notify,
}

/// The hub's end of a device queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceSender {
    tx: mpsc::Sender<Outbound>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

/// The session's end of a device queue.
#[derive(Debug)]
pub struct DeviceReceiver {
    rx: mpsc::Receiver<Outbound>,
    shared: Arc<Shared>,
}

/// A new queue bounded by `max_frames` frames and `max_bytes` bytes.
pub fn device_queue(max_frames: usize, max_bytes: usize) -> (DeviceSender, DeviceReceiver) {
    let (tx, rx) = mpsc::channel(max_frames.max(1));
    let shared = Arc::new(Shared::default());
    (DeviceSender { tx, shared: shared.clone(), max_bytes }, DeviceReceiver { rx, shared })
}

impl DeviceSender {
    /// Queue a frame without waiting. Returns `false` if the device is (now) a slow consumer.
    pub fn push(&self, out: Outbound) -> bool {
        if self.shared.slow.load(Ordering::Relaxed) {
            return false;
        }
        let len = out.frame.len();
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if before + len > self.max_bytes || self.tx.try_send(out).is_err() {
            self.shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.mark_slow();
            return false;
        }
        true
    }

    fn mark_slow(&self) {
        if !self.shared.slow.swap(true, Ordering::Relaxed) {
            self.shared.wake.notify_one();
        }
    }

    pub fn is_slow(&self) -> bool {
        self.shared.slow.load(Ordering::Relaxed)
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
            let notified = self.0.wake.notified();
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
    /// Wait for the next frame. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let out = self.rx.recv().await?;
        self.shared.queued_bytes.fetch_sub(out.frame.len(), Ordering::Relaxed);
        Some(out)
    }

    /// Take a frame that is already queued, if any.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        let out = self.rx.try_recv().ok()?;
        self.shared.queued_bytes.fetch_sub(out.frame.len(), Ordering::Relaxed);
        Some(out)
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
        self.rx.close();
        while self.try_recv().is_some() {}
    }

    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: usize) -> Outbound {
        Outbound { frame: Bytes::from(vec![0u8; n]), message: None }
    }

    #[tokio::test]
    async fn overflow_by_frames_or_bytes_marks_slow_and_wakes() {
        let (tx, mut rx) = device_queue(2, 1000);
        assert!(tx.push(out(10)) && tx.push(out(10)));
        assert!(!tx.push(out(10)), "third frame overflows a 2-frame queue");
        assert!(tx.is_slow());
        rx.slow_watch().wait().await; // returns at once: already slow
        assert!(!tx.push(out(1)), "a slow device takes nothing more");
        rx.discard();
        assert_eq!(rx.queued_bytes(), 0);

        let (tx, rx) = device_queue(100, 25);
        assert!(tx.push(out(20)));
        assert!(!tx.push(out(10)), "byte bound");
        assert!(rx.is_slow());
    }
}
