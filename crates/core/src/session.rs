//! One WebSocket connection, from the first frame to the close.
//!
//! A session is one task that owns the socket: it selects on the socket (requests), its device
//! queue (live events), the slow-consumer signal, the heartbeat, the token's expiry and the
//! node's shutdown. Requests are handled one at a time, in order, and their replies are written
//! at once; live events are drained from the queue in batches and written with one vectored write.
//! Because the session is the only writer, a resume replay is never interleaved with live events
//! of the same conversation.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use chinwag_proto::PROTOCOL_VERSION;
use chinwag_proto::close::{self, CloseCode};
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{ClientFrame, ConnectionLimits, ResumeRequest, ServerFrame};
use chinwag_proto::ids::{ConversationId, RequestId, Seq};
use chinwag_store::Receipt;
use chinwag_ws::{WebSocket, WsError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout};

use crate::auth::{Principal, now_millis};
use crate::device::{DeviceReceiver, Outbound, device_queue};
use crate::error::ServiceError;
use crate::fanout::encode_frame;
use crate::hub::{DeviceId, RegisterError};
use crate::node::Node;
use crate::rate::TokenBucket;
use crate::services::{Amended, Change, SendInput};

/// Frames gathered for one socket write before taking more from the queue stops.
const WRITE_BATCH: usize = 256;
/// How long a close handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Advised wait after `too_many_connections`.
const TOO_MANY_RETRY_MS: u64 = 5_000;

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

/// Authenticate, register the device, load memberships, reply `authed` and resume. `None`
/// when the connection was refused (and closed).
async fn open<S>(
    node: Node,
    mut ws: WebSocket<S>,
    pre_auth: Option<Principal>,
) -> Option<(Session<S>, Flow)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let services = node.services.clone();
    let limits = &services.limits;
    let (principal, first) = match pre_auth {
        Some(p) => (p, None),
        None => {
            let (p, id, resume) = authenticate(&node, &mut ws).await?;
            (p, Some((id, resume)))
        }
    };

    let (tx, rx) = device_queue(limits.outbound_queue_frames, limits.outbound_queue_bytes);
    let device = match services.hub.register(&principal.tenant, &principal.user, tx) {
        Ok((device, _first_device)) => device,
        Err(RegisterError::TooManyConnections) => {
            let error = ServiceError {
                message: "too many connections for this user".into(),
                ..ServiceError::rate_limited(TOO_MANY_RETRY_MS)
            };
            let frame = ServerFrame::Error { id: None, error: error.to_body() };
            let _ = timeout(CLOSE_TIMEOUT, ws.send_text(&frame.to_json())).await;
            close_with(&mut ws, close::TOO_MANY_CONNECTIONS, "").await;
            return None;
        }
    };
    let mut session = Session {
        ws,
        node,
        principal,
        device,
        rx,
        sent: HashMap::new(),
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

/// Tell co-members; a failure (storage down) only costs them the event, so it is logged.
async fn announce_presence(services: &crate::services::Services, p: &Principal, online: bool) {
    if let Err(e) = services.presence_changed(&p.tenant, &p.user, online).await {
        tracing::warn!(error = %e, "could not publish presence");
    }
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
            Ok(ClientFrame::Auth { id, token, resume }) => match services.auth.verify(&token) {
                Ok(p) => return Some((p, id, resume)),
                Err(e) => {
                    let code = if e.code == ErrorCode::TokenExpired {
                        close::TOKEN_EXPIRED
                    } else {
                        close::AUTH_FAILED
                    };
                    (ServerFrame::Error { id, error: e.to_body() }, code)
                }
            },
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
    node: Node,
    principal: Principal,
    device: DeviceId,
    rx: DeviceReceiver,
    /// Highest message seq written per conversation, to drop live events a replay already sent.
    sent: HashMap<ConversationId, Seq>,
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
    /// Route the user's conversations here, reply `authed`, and resume if asked.
    async fn start(&mut self, first: Option<(Option<RequestId>, Option<ResumeRequest>)>) -> Flow {
        let services = self.node.services.clone();
        // Memberships are loaded after registering, so an event racing the load is not lost.
        let p = &self.principal;
        let ids: Vec<ConversationId> = match services.store.memberships(&p.tenant, &p.user).await {
            Ok(list) => list.into_iter().map(|(id, _, _)| id).collect(),
            Err(e) => {
                let e = ServiceError::from(e);
                let _ = self.write(ServerFrame::Error { id: None, error: e.to_body() }).await;
                return Flow::Close(close::INTERNAL_ERROR, String::new());
            }
        };
        services.hub.join_many(&p.tenant, &p.user, &ids);
        let ttl = services.presence_ttl();
        if services.presence.connect(&p.tenant, &p.user, self.device.0, ttl) {
            let online = services.presence_changed_in(&p.tenant, &p.user, true, Some(&ids)).await;
            if let Err(e) = online {
                tracing::warn!(error = %e, "could not publish presence");
            }
        }
        let (id, resume) = first.unwrap_or((None, None));
        let flow = self.authed(id.clone()).await;
        match (flow, resume) {
            (Flow::Continue, Some(req)) => self.resume(id, req).await,
            (flow, _) => flow,
        }
    }

    /// Close as `flow` says, and leave the hub and presence.
    async fn end(&mut self, flow: Flow) {
        self.finish(flow).await;
        let services = self.node.services.clone();
        let p = &self.principal;
        services.hub.unregister(&p.tenant, &p.user, self.device);
        if services.presence.disconnect(&p.tenant, &p.user, self.device.0) {
            announce_presence(&services, p, false).await;
        }
    }

    /// The live connection: requests, events, heartbeats, until something ends it.
    async fn live(&mut self, mut flow: Flow) -> Flow {
        let services = self.node.services.clone();
        let limits = &services.limits;
        // Set up once, not once per loop turn (the loop turns once per batch of events, and
        // registering a waiter takes a lock). A slow consumer shows as `recv_all` ending.
        let shutdown = self.node.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let beat = Duration::from_millis(limits.heartbeat_ms);
        let idle = Duration::from_millis(limits.idle_timeout_ms);
        // One timer for both the heartbeat and the token's expiry, whichever is due first; it
        // is reset when it fires or when a refresh changes the expiry, not once per loop turn.
        let mut next_beat = Instant::now() + beat;
        let mut expires_at = self.principal.expires_at;
        let mut expiry = self.expiry();
        let timer = tokio::time::sleep_until(next_beat.min(expiry));
        tokio::pin!(timer);
        while let Flow::Continue = flow {
            if self.principal.expires_at != expires_at {
                expires_at = self.principal.expires_at;
                expiry = self.expiry();
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
                        let p = &self.principal;
                        services.presence.renew(&p.tenant, &p.user, self.device.0, services.presence_ttl());
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
                let grace = Duration::from_millis(self.node.services.limits.slow_close_grace_ms);
                if timeout(grace, self.ws.flush()).await.is_err() {
                    return;
                }
            }
            close_with(&mut self.ws, code, &reason).await;
        }
    }

    /// The token's expiry as a timer deadline (far away when the token does not expire).
    fn expiry(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(365 * 86_400);
        match self.principal.expires_at {
            Some(at) => {
                let left = at.saturating_sub(now_millis()).max(0) as u64;
                Instant::now() + Duration::from_millis(left)
            }
            None => far,
        }
    }

    async fn authed(&mut self, id: Option<RequestId>) -> Flow {
        let limits = &self.node.services.limits;
        let frame = ServerFrame::Authed {
            id,
            user: self.principal.info(),
            connection_id: format!("{}", self.device.0),
            protocol: PROTOCOL_VERSION,
            heartbeat_ms: limits.heartbeat_ms,
            expires_at: self.principal.expires_at,
            limits: ConnectionLimits {
                max_frame_bytes: limits.max_frame_bytes,
                max_body_bytes: limits.max_body_bytes,
                max_page_size: limits.max_page_size,
                requests_per_second: limits.requests_per_second,
            },
        };
        self.write(frame).await
    }

    async fn on_message(&mut self, msg: Result<chinwag_ws::Message, WsError>) -> Flow {
        let services = self.node.services.clone();
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
        let services = self.node.services.clone();
        let decoded = ClientFrame::decode(&text);
        let id = match &decoded {
            Ok(frame) => frame.request_id().cloned(),
            Err(e) => e.id.clone(),
        };
        if let Some(flow) = self.rate_limit(id.clone()).await {
            return flow;
        }
        let frame = match decoded {
            Ok(f) => f,
            Err(e) => return self.write(ServerFrame::error(e.id, e.code, e.message)).await,
        };
        let who = self.principal.clone();
        let reply = match frame {
            ClientFrame::Auth { id, token, resume } => {
                return self.refresh(id, &token, resume).await;
            }
            ClientFrame::Resume { id, request } => return self.resume(id, request).await,
            ClientFrame::Send {
                id,
                conversation_id,
                client_msg_id,
                kind,
                body,
                payload,
                reply_to,
            } => services
                .send(
                    &who,
                    SendInput { conversation_id, client_msg_id, kind, body, payload, reply_to },
                )
                .await
                .map(|a| ServerFrame::Ack {
                    id: id.clone(),
                    message: a.message,
                    duplicate: a.duplicate,
                }),
            ClientFrame::Edit { id, conversation_id, seq, client_msg_id, body } => {
                let change = Change::Edit { body };
                services
                    .amend(&who, &conversation_id, seq, client_msg_id, change)
                    .await
                    .map(|a| amended(id.clone(), a))
            }
            ClientFrame::Delete { id, conversation_id, seq, client_msg_id } => services
                .amend(&who, &conversation_id, seq, client_msg_id, Change::Delete)
                .await
                .map(|a| amended(id.clone(), a)),
            ClientFrame::React { id, conversation_id, seq, client_msg_id, emoji, add } => {
                let change = Change::React { emoji, add };
                services
                    .amend(&who, &conversation_id, seq, client_msg_id, change)
                    .await
                    .map(|a| amended(id.clone(), a))
            }
            ClientFrame::History { id, conversation_id, before, after, limit } => services
                .history(&who, &conversation_id, before, after, limit)
                .await
                .map(|page| ServerFrame::History {
                    id: id.clone(),
                    conversation_id,
                    messages: page.messages,
                    has_more: page.has_more,
                }),
            ClientFrame::Read { id, conversation_id, seq } => services
                .mark_read(&who, &conversation_id, seq)
                .await
                .map(|_| ServerFrame::Ok { id: id.clone() }),
            ClientFrame::Received { id, conversation_id, seq } => services
                .receipt(&who, &conversation_id, Receipt::Delivered, seq)
                .await
                .map(|_| ServerFrame::Ok { id: id.clone() }),
            ClientFrame::Typing { id, conversation_id, typing } => services
                .typing(&who, &conversation_id, typing)
                .await
                .map(|()| ServerFrame::Ok { id: id.clone() }),
            ClientFrame::Draft { id, conversation_id, version, body } => services
                .save_draft(&who, &conversation_id, version, body)
                .await
                .map(|draft| ServerFrame::DraftSaved { id: id.clone(), conversation_id, draft }),
            ClientFrame::Presence { id, users } => services
                .presence_of(&who, &users)
                .await
                .map(|users| ServerFrame::PresenceState { id: id.clone(), users }),
            ClientFrame::Ping { id, ts } => {
                Ok(ServerFrame::Pong { id: id.clone(), ts, server_ts: now_millis() })
            }
        };
        let frame = reply.unwrap_or_else(|e| ServerFrame::Error { id, error: e.to_body() });
        self.write(frame).await
    }

    /// Charge one incoming frame to the connection's and the user's rate limits. Every frame
    /// counts, whether it decodes or not: a flood of garbage is a flood too (G7). `None` lets the
    /// frame through; otherwise the reply (`rate_limited`, with `id`) or, after
    /// `rate_limit_strikes` refusals in a row, the close with 4009.
    async fn rate_limit(&mut self, id: Option<RequestId>) -> Option<Flow> {
        let services = self.node.services.clone();
        let limited = self
            .bucket
            .take()
            .map_err(|wait| ServiceError::rate_limited(wait.as_millis().max(1) as u64))
            .and_then(|()| services.check_user_rate(&self.principal));
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
    async fn refresh(
        &mut self,
        id: Option<RequestId>,
        token: &str,
        resume: Option<ResumeRequest>,
    ) -> Flow {
        match self.node.services.auth.verify(token) {
            Ok(p) if p.tenant == self.principal.tenant && p.user == self.principal.user => {
                self.principal = p;
                let flow = self.authed(id.clone()).await;
                match (flow, resume) {
                    (Flow::Continue, Some(req)) => self.resume(id, req).await,
                    (flow, _) => flow,
                }
            }
            Ok(_) => {
                self.write(ServerFrame::error(
                    id,
                    ErrorCode::Forbidden,
                    "a refreshed token must name the same user",
                ))
                .await
            }
            Err(e) => self.write(ServerFrame::Error { id, error: e.to_body() }).await,
        }
    }

    /// Replay what the device missed (G4), then reply `resumed` (`replay.rs`, shared with the
    /// event stream).
    async fn resume(&mut self, id: Option<RequestId>, req: ResumeRequest) -> Flow {
        let services = self.node.services.clone();
        let who = self.principal.clone();
        let mut target = WsReplay { session: self, flow: Flow::Continue };
        crate::replay::replay(&services, &who, id, req, &mut target).await;
        target.flow
    }

    /// Write what was queued, and anything queued meanwhile, in one write: without the
    /// messages this device already has (a resume replay may have sent them).
    async fn write_live(&mut self, queued: VecDeque<Outbound>) -> Flow {
        let mut frames = Vec::with_capacity(queued.len());
        let mut next = Some(queued);
        while let Some(queued) = next {
            for out in queued {
                let Some(layout) = &out.events else {
                    frames.push(out.frame);
                    continue;
                };
                let have = self.sent.get(&layout.conversation).copied().unwrap_or(0);
                layout.fresh_parts(&out.frame, have, &mut frames);
                if layout.last_seq > have {
                    match self.sent.get_mut(&layout.conversation) {
                        Some(top) => *top = layout.last_seq,
                        None => {
                            self.sent.insert(layout.conversation.clone(), layout.last_seq);
                        }
                    }
                }
            }
            next = if frames.len() < WRITE_BATCH { self.rx.try_recv_all() } else { None };
        }
        self.write_frames(frames).await
    }

    async fn write(&mut self, frame: ServerFrame) -> Flow {
        self.write_frames(vec![encode_frame(&frame)]).await
    }

    async fn write_frames(&mut self, frames: Vec<Bytes>) -> Flow {
        if frames.is_empty() {
            return Flow::Continue;
        }
        self.node.services.metrics.frames_out.inc_by(frames.len() as u64);
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
        let wait = Duration::from_millis(self.node.services.limits.write_timeout_ms);
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
        self.node.services.metrics.queue_overflows.inc();
        // Free the backlog now: memory stays bounded while the close is attempted.
        self.rx.discard();
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
    async fn write(&mut self, frames: Vec<Bytes>) -> bool {
        self.flow = self.session.write_frames(frames).await;
        matches!(self.flow, Flow::Continue)
    }

    fn note_sent(&mut self, conversation: &ConversationId, seq: Seq) {
        let top = self.session.sent.entry(conversation.clone()).or_insert(0);
        *top = (*top).max(seq);
    }
}

fn amended(id: Option<RequestId>, a: Amended) -> ServerFrame {
    ServerFrame::Amended { id, target: a.target, event: a.event, duplicate: a.duplicate }
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

/// A draining server spreads reconnects over a few seconds so they do not arrive as one storm.
fn restart_advice() -> String {
    let ms: u64 = rand::random_range(1_000..5_000);
    format!("retry_after_ms={ms}")
}
