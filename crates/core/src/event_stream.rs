//! A server-sent events stream: the WebSocket session's events for networks that block
//! WebSocket. Requests go up as plain REST calls; this is only the way down.
//!
//! A stream is a device like a WebSocket connection, attached the same way ([`crate::attach`]:
//! registered in the hub, so it counts against `max_connections_per_user` and in the
//! `connections` gauge, and holding a presence lease while open), fed by the same bounded device
//! queue, replayed by the same [`crate::replay`]. Each encoded event the hub queued (a server
//! frame's JSON, one line) is sent as one SSE event whose `data` is that JSON, unchanged. The stream starts with `authed`; with a resume request the replay and
//! `resumed` follow, then live events, dropping messages the replay already sent (G4).
//!
//! Where a WebSocket would close with a code, the stream sends `event: close` with
//! `{"code":…,"name":…,"reason":…}` (the same codes and advice) and ends.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chinwag_broker::EncodedEvent;
use chinwag_proto::close::{self, CloseCode};
use chinwag_proto::frames::ResumeRequest;
use chinwag_proto::ids::{ConversationId, Seq};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::attach::{AttachedDevice, restart_advice};
use crate::auth::Principal;
use crate::device_queue::DeviceReceiver;
use crate::error::ServiceError;
use crate::node::Node;
use crate::replay::{Framing, ReplayTarget, Written, replay};
use crate::wire::encode_event;

/// SSE chunks between the stream task and the HTTP body. Bounded: each chunk is at most one
/// batch of the device queue, so this holds at most `STREAM_CHUNKS` batches. Overflow rule: the
/// task waits up to `write_timeout_ms` for room, then ends the stream as a slow consumer (the
/// client resumes; nothing is lost).
const STREAM_CHUNKS: usize = 16;
/// Most frames taken from the device queue for one chunk.
const CHUNK_FRAMES: usize = 256;

/// Open a stream for `principal`; the receiver yields the body's chunks and ends with the stream.
/// Refused (as the device's [`crate::attach::Refusal`] says) with `rate_limited` when the user
/// holds `max_connections_per_user` connections, `unavailable` while draining, or the storage
/// error that kept the user's conversations from loading.
pub async fn open(
    node: &Node,
    principal: Principal,
    resume: Option<ResumeRequest>,
) -> Result<mpsc::Receiver<Bytes>, ServiceError> {
    let (device, rx) = AttachedDevice::attach(node, principal).await.map_err(|r| r.error)?;
    let (out_tx, out_rx) = mpsc::channel(STREAM_CHUNKS);
    let out = SseOut {
        tx: out_tx,
        written: Written::default(),
        write_timeout: Duration::from_millis(node.services.limits.write_timeout_ms),
        slow: false,
    };
    node.sessions.spawn(run(device, rx, out, resume));
    Ok(out_rx)
}

async fn run(
    device: AttachedDevice,
    mut rx: DeviceReceiver,
    mut out: SseOut,
    resume: Option<ResumeRequest>,
) {
    let end = stream(&device, &mut rx, &mut out, resume).await;
    if let Some((code, reason)) = end {
        out.close(code, &reason);
    }
    device.detach().await;
}

/// Serve the stream until it must end; returns the close to send, if any (`None`: the client
/// went away).
async fn stream(
    device: &AttachedDevice,
    rx: &mut DeviceReceiver,
    out: &mut SseOut,
    resume: Option<ResumeRequest>,
) -> Option<(CloseCode, String)> {
    let node = device.node();
    let services = node.services.clone();
    let p = device.principal();
    let mut alive = out.write(vec![encode_event(&device.authed(None))]).await;
    if let (true, Some(req)) = (alive, resume) {
        alive = replay(&services, p, None, req, out).await;
    }
    if !alive {
        return out.ending();
    }

    let slow = rx.slow_watch();
    let mut heartbeat = tokio::time::interval(Duration::from_millis(services.limits.heartbeat_ms));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    let expiry = tokio::time::sleep_until(p.expiry_deadline());
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            biased;
            _ = node.shutdown.cancelled() => {
                return Some((close::SERVICE_RESTART, restart_advice()));
            }
            _ = slow.wait() => return Some(ended_slow(&services, rx)),
            _ = &mut expiry => return Some((close::TOKEN_EXPIRED, String::new())),
            _ = out.tx.closed() => return None,
            queued = rx.recv_all() => {
                let Some(queued) = queued else { return Some(ended_slow(&services, rx)) };
                // One SSE event per encoded event: a fan-out window's entry is split by its
                // layout.
                let events = out.written.fresh(queued, rx, Framing::PerEvent, CHUNK_FRAMES);
                if !out.write(events.into_iter().map(EncodedEvent::from_json).collect()).await {
                    return out.ending();
                }
            }
            _ = heartbeat.tick() => {
                device.renew_lease();
                // A comment line: keeps proxies from timing the stream out and lets a dead
                // client be noticed by the failing write.
                if !out.send(Bytes::from_static(b": heartbeat\n\n")).await {
                    return out.ending();
                }
            }
        }
    }
}

/// The close for a device whose queue was ended: a slow consumer, or one that must catch up
/// from the store (events for it may have been lost between nodes).
fn ended_slow(
    services: &crate::services::Services,
    rx: &mut DeviceReceiver,
) -> (CloseCode, String) {
    rx.discard();
    if rx.must_resync() {
        return (close::SERVICE_RESTART, restart_advice());
    }
    services.metrics.queue_overflows.inc();
    (close::SLOW_CONSUMER, String::new())
}

/// The stream's writing end.
struct SseOut {
    tx: mpsc::Sender<Bytes>,
    /// What a resume replay wrote, to drop the live events it already sent.
    written: Written,
    write_timeout: Duration,
    /// A write stalled past `write_timeout`.
    slow: bool,
}

impl SseOut {
    async fn send(&mut self, chunk: Bytes) -> bool {
        match timeout(self.write_timeout, self.tx.send(chunk)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                self.slow = true;
                false
            }
        }
    }

    /// Why writing stopped: a stall is a slow consumer; otherwise the client left.
    fn ending(&self) -> Option<(CloseCode, String)> {
        self.slow.then(|| (close::SLOW_CONSUMER, String::new()))
    }

    /// The last event, if there is room for it; the body ends when the task drops the sender.
    fn close(&self, code: CloseCode, reason: &str) {
        let data = serde_json::json!({"code": code.code, "name": code.name, "reason": reason});
        let _ = self.tx.try_send(Bytes::from(format!("event: close\ndata: {data}\n\n")));
    }
}

impl ReplayTarget for SseOut {
    /// The event stream's edge: each encoded event (one line of JSON) as one SSE event.
    async fn write(&mut self, events: Vec<EncodedEvent>) -> bool {
        if events.is_empty() {
            return true;
        }
        let size: usize = events.iter().map(|e| e.len() + 8).sum();
        let mut chunk = BytesMut::with_capacity(size);
        for event in &events {
            chunk.extend_from_slice(b"data: ");
            chunk.extend_from_slice(event.bytes());
            chunk.extend_from_slice(b"\n\n");
        }
        self.send(chunk.freeze()).await
    }

    fn note_sent(&mut self, conversation: &ConversationId, seq: Seq) {
        self.written.note(conversation, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_encode_without_line_breaks() {
        let frame = chinwag_proto::frames::ServerFrame::error(
            None,
            chinwag_proto::error::ErrorCode::Invalid,
            "a\nb\r\nc",
        );
        let encoded = encode_event(&frame);
        let payload = encoded.bytes();
        assert!(!payload.contains(&b'\n') && !payload.contains(&b'\r'));
        let back: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(back["error"]["message"], "a\nb\r\nc");
    }
}
