//! A server-sent events stream: the WebSocket session's events for networks that block
//! WebSocket. Requests go up as plain REST calls; this is only the way down.
//!
//! A stream is a device like a WebSocket connection: registered in the hub (so it counts against
//! `max_connections_per_user` and in the `connections` gauge), fed by the same bounded device
//! queue, replayed by the same [`crate::replay`], holding a presence lease while open. Each frame
//! the hub queued (a complete WebSocket frame) is sent as one SSE event whose `data` is the
//! frame's JSON, unchanged. The stream starts with `authed`; with a resume request the replay and
//! `resumed` follow, then live events, dropping messages the replay already sent (G4).
//!
//! Where a WebSocket would close with a code, the stream sends `event: close` with
//! `{"code":…,"name":…,"reason":…}` (the same codes and advice) and ends.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chinwag_proto::PROTOCOL_VERSION;
use chinwag_proto::close::{self, CloseCode};
use chinwag_proto::frames::{ConnectionLimits, ResumeRequest, ServerFrame};
use chinwag_proto::ids::{ConversationId, Seq};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use crate::auth::{Principal, now_millis};
use crate::device::{DeviceReceiver, device_queue};
use crate::error::ServiceError;
use crate::fanout::encode_frame;
use crate::hub::{DeviceId, RegisterError};
use crate::node::Node;
use crate::replay::{ReplayTarget, replay};

/// SSE chunks between the stream task and the HTTP body. Bounded: each chunk is at most one
/// batch of the device queue, so this holds at most `STREAM_CHUNKS` batches. Overflow rule: the
/// task waits up to `write_timeout_ms` for room, then ends the stream as a slow consumer (the
/// client resumes; nothing is lost).
const STREAM_CHUNKS: usize = 16;
/// Most frames taken from the device queue for one chunk.
const CHUNK_FRAMES: usize = 256;
/// Advised wait after `too_many_connections`, as for WebSocket.
const TOO_MANY_RETRY_MS: u64 = 5_000;

/// Open a stream for `principal`; the receiver yields the body's chunks and ends with the stream.
/// Refused with `rate_limited` when the user holds `max_connections_per_user` connections, and
/// `unavailable` while draining.
pub fn open(
    node: &Node,
    principal: Principal,
    resume: Option<ResumeRequest>,
) -> Result<mpsc::Receiver<Bytes>, ServiceError> {
    if node.shutdown.is_cancelled() {
        return Err(ServiceError::new(chinwag_proto::error::ErrorCode::Unavailable, "draining"));
    }
    let services = &node.services;
    let limits = &services.limits;
    let (tx, rx) = device_queue(limits.outbound_queue_frames, limits.outbound_queue_bytes);
    let device = match services.hub.register(&principal.tenant, &principal.user, tx) {
        Ok((device, _)) => device,
        Err(RegisterError::TooManyConnections) => {
            return Err(ServiceError {
                message: "too many connections for this user".into(),
                ..ServiceError::rate_limited(TOO_MANY_RETRY_MS)
            });
        }
    };
    let (out_tx, out_rx) = mpsc::channel(STREAM_CHUNKS);
    let out = SseOut {
        tx: out_tx,
        sent: HashMap::new(),
        write_timeout: Duration::from_millis(limits.write_timeout_ms),
        slow: false,
    };
    node.sessions.spawn(run(node.clone(), principal, device, rx, out, resume));
    Ok(out_rx)
}

async fn run(
    node: Node,
    principal: Principal,
    device: DeviceId,
    mut rx: DeviceReceiver,
    mut out: SseOut,
    resume: Option<ResumeRequest>,
) {
    let services = node.services.clone();
    let p = &principal;
    if services.presence.connect(&p.tenant, &p.user, device.0, services.presence_ttl()) {
        announce_presence(&node, p, true).await;
    }
    let end = stream(&node, p, device, &mut rx, &mut out, resume).await;
    if let Some((code, reason)) = end {
        out.close(code, &reason);
    }
    services.hub.unregister(&p.tenant, &p.user, device);
    if services.presence.disconnect(&p.tenant, &p.user, device.0) {
        announce_presence(&node, p, false).await;
    }
}

/// Tell co-members; a failure (storage down) only costs them the event, so it is logged.
async fn announce_presence(node: &Node, p: &Principal, online: bool) {
    if let Err(e) = node.services.presence_changed(&p.tenant, &p.user, online).await {
        tracing::warn!(error = %e, "could not publish presence");
    }
}

/// Serve the stream until it must end; returns the close to send, if any (`None`: the client
/// went away).
async fn stream(
    node: &Node,
    p: &Principal,
    device: DeviceId,
    rx: &mut DeviceReceiver,
    out: &mut SseOut,
    resume: Option<ResumeRequest>,
) -> Option<(CloseCode, String)> {
    let services = node.services.clone();
    let limits = &services.limits;
    // Memberships are loaded after registering, so an event racing the load is not lost.
    match services.store.memberships(&p.tenant, &p.user).await {
        Ok(list) => {
            let ids: Vec<ConversationId> = list.into_iter().map(|(id, _, _)| id).collect();
            services.hub.join_many(&p.tenant, &p.user, &ids);
        }
        Err(e) => {
            let e = ServiceError::from(e);
            out.write(vec![encode_frame(&ServerFrame::Error { id: None, error: e.to_body() })])
                .await;
            return Some((close::INTERNAL_ERROR, String::new()));
        }
    }
    let authed = ServerFrame::Authed {
        id: None,
        user: p.info(),
        connection_id: format!("{}", device.0),
        protocol: PROTOCOL_VERSION,
        heartbeat_ms: limits.heartbeat_ms,
        expires_at: p.expires_at,
        limits: ConnectionLimits {
            max_frame_bytes: limits.max_frame_bytes,
            max_body_bytes: limits.max_body_bytes,
            max_page_size: limits.max_page_size,
            requests_per_second: limits.requests_per_second,
        },
    };
    let mut alive = out.write(vec![encode_frame(&authed)]).await;
    if let (true, Some(req)) = (alive, resume) {
        alive = replay(&services, p, None, req, out).await;
    }
    if !alive {
        return out.ending();
    }

    let slow = rx.slow_watch();
    let mut heartbeat = tokio::time::interval(Duration::from_millis(limits.heartbeat_ms));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    let expiry = tokio::time::sleep_until(expiry_instant(p));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            biased;
            _ = node.shutdown.cancelled() => {
                let ms: u64 = rand::random_range(1_000..5_000);
                return Some((close::SERVICE_RESTART, format!("retry_after_ms={ms}")));
            }
            _ = slow.wait() => {
                services.metrics.queue_overflows.inc();
                rx.discard();
                return Some((close::SLOW_CONSUMER, String::new()));
            }
            _ = &mut expiry => return Some((close::TOKEN_EXPIRED, String::new())),
            _ = out.tx.closed() => return None,
            queued = rx.recv_all() => {
                let Some(queued) = queued else {
                    services.metrics.queue_overflows.inc();
                    rx.discard();
                    return Some((close::SLOW_CONSUMER, String::new()));
                };
                // One SSE event per frame: a fan-out window's buffer is split by its layout.
                let mut frames = Vec::with_capacity(queued.len());
                let mut next = Some(queued);
                while let Some(queued) = next {
                    for o in queued {
                        match &o.events {
                            None => frames.push(o.frame),
                            Some(layout) => {
                                for (frame, seq) in layout.split(&o.frame) {
                                    if seq == 0 || out.fresh(&layout.conversation, seq) {
                                        frames.push(frame);
                                    }
                                }
                            }
                        }
                    }
                    next = if frames.len() < CHUNK_FRAMES { rx.try_recv_all() } else { None };
                }
                if !out.write(frames).await {
                    return out.ending();
                }
            }
            _ = heartbeat.tick() => {
                services.presence.renew(&p.tenant, &p.user, device.0, services.presence_ttl());
                // A comment line: keeps proxies from timing the stream out and lets a dead
                // client be noticed by the failing write.
                if !out.send(Bytes::from_static(b": heartbeat\n\n")).await {
                    return out.ending();
                }
            }
        }
    }
}

/// The token's expiry as a timer deadline (far away when the token does not expire).
fn expiry_instant(p: &Principal) -> Instant {
    match p.expires_at {
        Some(at) => {
            let left = at.saturating_sub(now_millis()).max(0) as u64;
            Instant::now() + Duration::from_millis(left)
        }
        None => Instant::now() + Duration::from_secs(365 * 86_400),
    }
}

/// The stream's writing end.
struct SseOut {
    tx: mpsc::Sender<Bytes>,
    /// Highest message seq written per conversation, to drop live events a replay already sent.
    sent: HashMap<ConversationId, Seq>,
    write_timeout: Duration,
    /// A write stalled past `write_timeout`.
    slow: bool,
}

impl SseOut {
    /// Whether a live message event is new to this stream (and remember it).
    fn fresh(&mut self, conversation: &ConversationId, seq: Seq) -> bool {
        let top = self.sent.entry(conversation.clone()).or_insert(0);
        if seq > *top {
            *top = seq;
            true
        } else {
            false
        }
    }

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
    async fn write(&mut self, frames: Vec<Bytes>) -> bool {
        if frames.is_empty() {
            return true;
        }
        let mut chunk = BytesMut::new();
        for frame in &frames {
            chunk.extend_from_slice(b"data: ");
            chunk.extend_from_slice(ws_payload(frame));
            chunk.extend_from_slice(b"\n\n");
        }
        self.send(chunk.freeze()).await
    }

    fn note_sent(&mut self, conversation: &ConversationId, seq: Seq) {
        let top = self.sent.entry(conversation.clone()).or_insert(0);
        *top = (*top).max(seq);
    }
}

/// The payload of a complete, unmasked WebSocket frame as the server encodes it (the JSON of a
/// server frame: compact, so it has no line breaks and fits in one `data:` line).
fn ws_payload(frame: &[u8]) -> &[u8] {
    let header = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.get(header..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_come_out_of_frames_of_every_length_class() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
            let json = "x".repeat(len);
            let frame = chinwag_ws::encode_text(json.as_bytes());
            assert_eq!(ws_payload(&frame), json.as_bytes(), "length {len}");
        }
    }

    #[test]
    fn server_frames_encode_without_line_breaks() {
        let frame = ServerFrame::error(None, chinwag_proto::error::ErrorCode::Invalid, "a\nb\r\nc");
        let encoded = encode_frame(&frame);
        let payload = ws_payload(&encoded);
        assert!(!payload.contains(&b'\n') && !payload.contains(&b'\r'));
        let back: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(back["error"]["message"], "a\nb\r\nc");
    }
}
