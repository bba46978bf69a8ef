//! One WebSocket connection, from the first frame to the close.
//!
//! A session is one task that owns the socket: it selects on the socket (requests), its device
//! queue (live events), the slow-consumer signal, the heartbeat, the token's expiry and the
//! node's shutdown. Requests are handled one at a time, in order, and their replies are written
//! at once; live events are drained from the queue in batches and written with one vectored write.
//! Because the session is the only writer, a resume replay is never interleaved with live events
//! of the same conversation.

use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use chinwag_broker::EncodedEvent;
use chinwag_proto::close::{self, CloseCode};
use chinwag_proto::commands::Authenticate;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{ClientFrame, Request, ResumeRequest, ServerFrame};
use chinwag_proto::ids::{ConversationId, RequestId, Seq};
use chinwag_ws::{WebSocket, WsError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout};

use crate::attach::{AttachedDevice, restart_advice};
use crate::auth::Principal;
use crate::commands::{self, Answer};
use crate::device_queue::{DeviceReceiver, Outbound};
use crate::error::ServiceError;
use crate::node::Node;
use crate::rate::TokenBucket;
use crate::replay::{Framing, Written};
use crate::wire::{ws_encode, ws_frame};

/// Frames gathered for one socket write before taking more from the queue stops.
const WRITE_BATCH: usize = 256;
/// How long a close handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serve one upgraded connection until it closes. `pre_auth` is set when a session cookie
/// authenticated the upgrade.
///
/// Every open connection keeps this future, so its size is idle memory per connection. The
/// opening (authentication, registration, memberships, resume) runs in its own boxed future and
/// is gone once the session is live; what stays is the [`Session`] and its loop.
pub fn run<S>(
    node: Node,
    ws: WebSocket<S>,
    pre_auth: Option<Principal>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let opening = Box::pin(open(node, ws, pre_auth));
    async move {
        let Some((mut session, flow)) = opening.await else { return };
        let flow = session.live(flow).await;
        Box::pin(session.end(flow)).await;
    }
}

/// Authenticate, attach the device, reply `authed` and resume. `None` when the connection was
/// refused (and closed).
async fn open<S>(
    node: Node,
    mut ws: WebSocket<S>,
    pre_auth: Option<Principal>,
) -> Option<(Session<S>, Flow)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (principal, first) = match pre_auth {
        Some(p) => (p, None),
        None => {
            let (p, id, resume) = authenticate(&node, &mut ws).await?;
            (p, Some((id, resume)))
        }
    };
    let (device, rx) = match AttachedDevice::attach(&node, principal).await {
        Ok(attached) => attached,
        Err(refusal) => {
            let frame = ServerFrame::Error { id: None, error: refusal.error.to_body() };
            let _ = timeout(CLOSE_TIMEOUT, ws.send_text(&frame.to_json())).await;
            close_with(&mut ws, refusal.close, &refusal.reason).await;
            return None;
        }
    };
    let limits = &node.services.limits;
    let mut session = Session {
        ws,
        device,
        rx,
        written: Written::default(),
        bucket: TokenBucket::new(
            limits.requests_per_second,
            limits.requests_per_second.saturating_mul(2),
        ),
        strikes: 0,
        last_heard: Instant::now(),
    };
    let flow = session.start(first).await;
    Some((session, flow))
}

/// Wait for the `auth` frame. On failure the connection has been closed.
async fn authenticate<S>(
    node: &Node,
    ws: &mut WebSocket<S>,
) -> Option<(Principal, Option<RequestId>, Option<ResumeRequest>)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let services = &node.services;
    let wait = Duration::from_millis(services.limits.auth_timeout_ms);
    let first = tokio::select! {
        r = timeout(wait, ws.recv()) => r,
        _ = node.shutdown.cancelled() => {
            close_with(ws, close::SERVICE_RESTART, &restart_advice()).await;
            return None;
        }
    };
    services.metrics.frames_in.inc();
    let refuse = |id, code, message: &str| ServerFrame::error(id, code, message);
    let (reply, code) = match first {
        Err(_) => {
            close_with(ws, close::AUTH_TIMEOUT, "").await;
            return None;
        }
        Ok(Err(e)) => {
            close_on_ws_error(ws, &e).await;
            return None;
        }
        Ok(Ok(chinwag_ws::Message::Text(text))) => match ClientFrame::decode(&text) {
            Ok(ClientFrame { id, request: Request::Auth(auth) }) => {
                match services.auth.verify(&auth.token) {
                    Ok(p) => return Some((p, id, auth.resume)),
                    Err(e) => {
                        let code = if e.code == ErrorCode::TokenExpired {
                            close::TOKEN_EXPIRED
                        } else {
                            close::AUTH_FAILED
                        };
                        (ServerFrame::Error { id, error: e.to_body() }, code)
                    }
                }
            }
            Ok(other) => (
                refuse(
                    other.request_id().cloned(),
                    ErrorCode::Unauthenticated,
                    "the first frame must be `auth`",
                ),
                close::AUTH_FAILED,
            ),
            Err(e) => (refuse(e.id, e.code, &e.message), close::AUTH_FAILED),
        },
        Ok(Ok(chinwag_ws::Message::Close(_))) => return None,
        Ok(Ok(_)) => (
            refuse(
                None,
                ErrorCode::Unauthenticated,
                "the first frame must be a JSON `auth` text frame",
            ),
            close::AUTH_FAILED,
        ),
    };
    let _ = timeout(CLOSE_TIMEOUT, ws.send_text(&reply.to_json())).await;
    close_with(ws, code, "").await;
    None
}

struct Session<S> {
    ws: WebSocket<S>,
    /// The device this connection is: its registration, lease and principal.
    device: AttachedDevice,
    rx: DeviceReceiver,
    /// What a resume replay wrote, to drop the live events it already sent.
    written: Written,
    bucket: TokenBucket,
    /// Consecutive rate-limited requests; at `rate_limit_strikes` the connection is closed.
    strikes: u32,
    /// Last time anything arrived from the peer; silence past `idle_timeout_ms` reaps it.
    last_heard: Instant,
}

/// Whether the session goes on after handling something.
enum Flow {
    Continue,
    Close(CloseCode, String),
    /// The socket is gone or unusable: stop without a close handshake.
    Drop,
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Reply `authed`, and resume if asked.
    async fn start(&mut self, first: Option<(Option<RequestId>, Option<ResumeRequest>)>) -> Flow {
        let (id, resume) = first.unwrap_or((None, None));
        let flow = self.write(self.device.authed(id.clone())).await;
        match (flow, resume) {
            (Flow::Continue, Some(req)) => self.resume(id, req).await,
            (flow, _) => flow,
        }
    }

    /// Close as `flow` says, then detach the device.
    async fn end(mut self, flow: Flow) {
        self.finish(flow).await;
        self.device.detach().await;
    }

    /// The live connection: requests, events, heartbeats, until something ends it.
    async fn live(&mut self, mut flow: Flow) -> Flow {
        let services = self.device.node().services.clone();
        let limits = &services.limits;
        // Set up once, not once per loop turn (the loop turns once per batch of events, and
        // registering a waiter takes a lock). A slow consumer shows as `recv_all` ending.
        let shutdown = self.device.node().shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let beat = Duration::from_millis(limits.heartbeat_ms);
        let idle = Duration::from_millis(limits.idle_timeout_ms);
        // One timer for both the heartbeat and the token's expiry, whichever is due first; it
        // is reset when it fires or when a refresh changes the expiry, not once per loop turn.
        let mut next_beat = Instant::now() + beat;
        let mut expires_at = self.device.principal().expires_at;
        let mut expiry = self.device.principal().expiry_deadline();
        let timer = tokio::time::sleep_until(next_beat.min(expiry));
        tokio::pin!(timer);
        while let Flow::Continue = flow {
            if self.device.principal().expires_at != expires_at {
                expires_at = self.device.principal().expires_at;
                expiry = self.device.principal().expiry_deadline();
                timer.as_mut().reset(next_beat.min(expiry));
            }
            flow = tokio::select! {
                biased;
                _ = &mut shutdown => Flow::Close(close::SERVICE_RESTART, restart_advice()),
                _ = &mut timer => {
                    let now = Instant::now();
                    if now >= expiry {
                        Flow::Close(close::TOKEN_EXPIRED, String::new())
                    } else if now < next_beat {
                        timer.as_mut().reset(next_beat.min(expiry));
                        Flow::Continue
                    } else if self.last_heard.elapsed() > idle {
                        Flow::Close(close::HEARTBEAT_TIMEOUT, String::new())
                    } else {
                        next_beat = now + beat;
                        timer.as_mut().reset(next_beat.min(expiry));
                        self.device.renew_lease();
                        Box::pin(self.guarded(|ws| Box::pin(ws.ping(b"")))).await
                    }
                }
                // Output before input: a client that pipelines requests must not starve its own
                // event queue into a slow-consumer close.
                queued = self.rx.recv_all() => match queued {
                    Some(queued) => Box::pin(self.write_live(queued)).await,
                    None => self.slow_consumer(),
                },
                msg = self.ws.recv() => {
                    self.last_heard = Instant::now();
                    Box::pin(self.on_message(msg)).await
                }
            };
        }
        flow
    }

    async fn finish(&mut self, flow: Flow) {
        if let Flow::Close(code, reason) = flow {
            if code == close::SLOW_CONSUMER {
                // The peer's socket is full. Give it `slow_close_grace_ms` to read what was
                // already handed to the socket, so that it then sees the close code; the queue is
                // gone, so this holds at most one write batch.
                let grace = Duration::from_millis(self.limits().slow_close_grace_ms);
                if timeout(grace, self.ws.flush()).await.is_err() {
                    return;
                }
            }
            close_with(&mut self.ws, code, &reason).await;
        }
    }

    fn limits(&self) -> &crate::limits::Limits {
        &self.device.node().services.limits
    }

    async fn on_message(&mut self, msg: Result<chinwag_ws::Message, WsError>) -> Flow {
        let services = self.device.node().services.clone();
        match msg {
            Ok(chinwag_ws::Message::Text(text)) => {
                services.metrics.frames_in.inc();
                self.on_text(text).await
            }
            Ok(chinwag_ws::Message::Binary(_)) => {
                services.metrics.frames_in.inc();
                if let Some(flow) = self.rate_limit(None).await {
                    return flow;
                }
                self.write(ServerFrame::error(
                    None,
                    ErrorCode::Malformed,
                    "binary frames are not part of the protocol; send JSON text frames",
                ))
                .await
            }
            Ok(chinwag_ws::Message::Pong(_)) => Flow::Continue,
            Ok(chinwag_ws::Message::Close(_)) => Flow::Drop,
            Err(e) => match e.close_code() {
                Some(code) => {
                    let code = CloseCode::from_code(code).unwrap_or(close::PROTOCOL_ERROR);
                    Flow::Close(code, e.to_string())
                }
                None => Flow::Drop,
            },
        }
    }

    async fn on_text(&mut self, text: Bytes) -> Flow {
        let decoded = ClientFrame::decode(&text);
        let id = match &decoded {
            Ok(frame) => frame.id.clone(),
            Err(e) => e.id.clone(),
        };
        if let Some(flow) = self.rate_limit(id.clone()).await {
            return flow;
        }
        let request = match decoded {
            Ok(frame) => frame.request,
            Err(e) => return self.write(ServerFrame::error(e.id, e.code, e.message)).await,
        };
        let services = self.device.node().services.clone();
        match commands::answer(&services, self.device.principal(), id.clone(), request).await {
            Answer::Reply(frame) => self.write(frame).await,
            Answer::Refresh(auth) => self.refresh(id, auth).await,
            Answer::Resume(req) => self.resume(id, req).await,
        }
    }

    /// Charge one incoming frame to the connection's and the user's rate limits. Every frame
    /// counts, whether it decodes or not: a flood of garbage is a flood too (G7). `None` lets the
    /// frame through; otherwise the reply (`rate_limited`, with `id`) or, after
    /// `rate_limit_strikes` refusals in a row, the close with 4009.
    async fn rate_limit(&mut self, id: Option<RequestId>) -> Option<Flow> {
        let services = self.device.node().services.clone();
        let limited = self
            .bucket
            .take()
            .map_err(|wait| ServiceError::rate_limited(wait.as_millis().max(1) as u64))
            .and_then(|()| services.check_user_rate(self.device.principal()));
        let Err(e) = limited else {
            self.strikes = 0;
            return None;
        };
        self.strikes += 1;
        if self.strikes >= services.limits.rate_limit_strikes {
            return Some(Flow::Close(close::RATE_LIMITED, "retry_after_ms=5000".into()));
        }
        Some(self.write(ServerFrame::Error { id, error: e.to_body() }).await)
    }

    /// A later `auth`: a fresh token for the same user extends the session.
    async fn refresh(&mut self, id: Option<RequestId>, auth: Authenticate) -> Flow {
        let refreshed = self
            .device
            .node()
            .services
            .auth
            .verify(&auth.token)
            .and_then(|p| self.device.refresh(p));
        if let Err(e) = refreshed {
            return self.write(ServerFrame::Error { id, error: e.to_body() }).await;
        }
        let flow = self.write(self.device.authed(id.clone())).await;
        match (flow, auth.resume) {
            (Flow::Continue, Some(req)) => self.resume(id, req).await,
            (flow, _) => flow,
        }
    }

    /// Replay what the device missed (G4), then reply `resumed` (`replay.rs`, shared with the
    /// event stream).
    async fn resume(&mut self, id: Option<RequestId>, req: ResumeRequest) -> Flow {
        let services = self.device.node().services.clone();
        let who = self.device.principal().clone();
        let mut target = WsReplay { session: self, flow: Flow::Continue };
        crate::replay::replay(&services, &who, id, req, &mut target).await;
        target.flow
    }

    /// Write what was queued, and anything queued meanwhile, in one write: without the
    /// messages this device already has (a resume replay may have sent them).
    async fn write_live(&mut self, queued: VecDeque<Outbound>) -> Flow {
        let frames = self.written.fresh(queued, &self.rx, Framing::WebSocket, WRITE_BATCH);
        self.write_frames(frames).await
    }

    async fn write(&mut self, frame: ServerFrame) -> Flow {
        self.write_frames(vec![ws_encode(&frame)]).await
    }

    async fn write_frames(&mut self, frames: Vec<Bytes>) -> Flow {
        if frames.is_empty() {
            return Flow::Continue;
        }
        self.device.node().services.metrics.frames_out.inc_by(frames.len() as u64);
        self.guarded(move |ws| Box::pin(async move { ws.send_frames(&frames).await })).await
    }

    /// Run a socket write under the write timeout; a stalled write, or the queue overflowing
    /// meanwhile, makes a slow consumer.
    ///
    /// Most writes complete at once, so the write is first polled once without a waker: only a
    /// write the socket does not take whole pays for a timer and a slow-consumer watch. Frames
    /// handed to the socket stay with it after that first poll (`send_frames` takes them over
    /// then), so what is left is a `flush`, and framing stays intact if the wait is abandoned.
    async fn guarded<F>(&mut self, op: F) -> Flow
    where
        F: for<'a> FnOnce(
            &'a mut WebSocket<S>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::io::Result<()>> + Send + 'a>,
        >,
    {
        let first = {
            let mut write = op(&mut self.ws);
            write.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        };
        match first {
            Poll::Ready(Ok(())) => return Flow::Continue,
            Poll::Ready(Err(_)) => return Flow::Drop,
            Poll::Pending => {}
        }
        let wait = Duration::from_millis(self.limits().write_timeout_ms);
        let slow = self.rx.slow_watch();
        let done = tokio::select! {
            r = timeout(wait, self.ws.flush()) => r.ok(),
            _ = slow.wait() => None,
        };
        match done {
            Some(Ok(())) => Flow::Continue,
            Some(Err(_)) => Flow::Drop,
            None => self.slow_consumer(),
        }
    }

    fn slow_consumer(&mut self) -> Flow {
        // Free the backlog now: memory stays bounded while the close is attempted.
        self.rx.discard();
        if self.rx.must_resync() {
            return Flow::Close(close::SERVICE_RESTART, restart_advice());
        }
        self.device.node().services.metrics.queue_overflows.inc();
        Flow::Close(close::SLOW_CONSUMER, String::new())
    }
}

/// The session as a replay target: writes go to the socket; the first failure is kept as the
/// session's next step.
struct WsReplay<'a, S> {
    session: &'a mut Session<S>,
    flow: Flow,
}

impl<S> crate::replay::ReplayTarget for WsReplay<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn write(&mut self, events: Vec<EncodedEvent>) -> bool {
        let frames = events.iter().map(|e| ws_frame(e.bytes())).collect();
        self.flow = self.session.write_frames(frames).await;
        matches!(self.flow, Flow::Continue)
    }

    fn note_sent(&mut self, conversation: &ConversationId, seq: Seq) {
        self.session.written.note(conversation, seq);
    }
}

async fn close_on_ws_error<S>(ws: &mut WebSocket<S>, e: &WsError)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if let Some(code) = e.close_code() {
        let code = CloseCode::from_code(code).unwrap_or(close::PROTOCOL_ERROR);
        close_with(ws, code, &e.to_string()).await;
    }
}

async fn close_with<S>(ws: &mut WebSocket<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let reason = if reason.is_empty() { code.name } else { reason };
    let _ = timeout(CLOSE_TIMEOUT, ws.close(code.code, reason)).await;
}
