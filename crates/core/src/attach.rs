//! A device's life on this node, from attach to detach, the same for every transport.
//!
//! Attaching an authenticated connection (a WebSocket session, an event stream, any later
//! transport) registers it in the hub (refused past `max_connections_per_user`), loads the
//! user's conversations so that their events are routed to it, takes a presence lease and tells
//! co-members when the user came online. [`AttachedDevice`] is the guard of all of that: the
//! transport detaches it with [`AttachedDevice::detach`] once its close is done, and dropping it
//! undoes everything too (a transport task that panicked or was cancelled leaves no registration
//! and no lease behind). What a transport keeps for itself is reading frames and writing bytes.
//!
//! Order matters twice: the device is registered before the memberships are loaded, so that an
//! event racing the load is queued rather than lost; and the lease is taken after the routing,
//! so that a device that shows online also receives.

use chinwag_proto::PROTOCOL_VERSION;
use chinwag_proto::close::{self, CloseCode};
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{ConnectionLimits, ServerFrame};
use chinwag_proto::ids::{ConversationId, DeviceId, RequestId, Seq};

use crate::auth::Principal;
use crate::device_queue::{DeviceReceiver, device_queue};
use crate::error::ServiceError;
use crate::hub::RegisterError;
use crate::node::Node;

/// Advised wait after `too_many_connections`.
const TOO_MANY_RETRY_MS: u64 = 5_000;

/// Why a device could not attach: the error to tell the client, and the close code and reason
/// (with its `retry_after_ms` advice, where there is one) for transports that close with one.
#[derive(Debug)]
pub struct Refusal {
    pub error: ServiceError,
    pub close: CloseCode,
    pub reason: String,
}

/// An authenticated device attached to this node; detaches on drop.
#[derive(Debug)]
pub struct AttachedDevice {
    node: Node,
    principal: Principal,
    id: DeviceId,
    /// Set once [`AttachedDevice::detach`] has undone the attachment, so drop does nothing.
    detached: bool,
}

impl AttachedDevice {
    /// Attach a device of `principal`: register it, route its conversations, lease presence.
    /// The receiver is the device's bounded queue of live events.
    pub async fn attach(
        node: &Node,
        principal: Principal,
    ) -> Result<(Self, DeviceReceiver), Refusal> {
        if node.shutdown.is_cancelled() {
            return Err(Refusal {
                error: ServiceError::new(ErrorCode::Unavailable, "draining"),
                close: close::SERVICE_RESTART,
                reason: restart_advice(),
            });
        }
        let services = &node.services;
        let limits = &services.limits;
        let (tx, rx) = device_queue(limits.outbound_queue_frames, limits.outbound_queue_bytes);
        let id = match services.hub.register(&principal.tenant, &principal.user, tx) {
            Ok((id, _first_device)) => id,
            Err(RegisterError::TooManyConnections) => {
                return Err(Refusal {
                    error: ServiceError {
                        message: "too many connections for this user".into(),
                        ..ServiceError::rate_limited(TOO_MANY_RETRY_MS)
                    },
                    close: close::TOO_MANY_CONNECTIONS,
                    reason: format!("retry_after_ms={TOO_MANY_RETRY_MS}"),
                });
            }
        };
        // From here on, dropping `device` unregisters it.
        let device = Self { node: node.clone(), principal, id, detached: false };
        let p = &device.principal;
        let ids: Vec<ConversationId> = match services.store.memberships(&p.tenant, &p.user).await {
            Ok(list) => list.into_iter().map(|(id, _, _)| id).collect(),
            Err(e) => return Err(store_refusal(e.into())),
        };
        services.hub.join_many(&p.tenant, &p.user, &ids);
        // Before anything reads the store for this device (its resume replay): every topic it
        // needs is subscribed, so nothing published meanwhile falls between the two.
        services.broker.subscribed().await;
        if services.broker.may_reorder() {
            // Where messages can come from other nodes, tell the hub which seq comes next in
            // each conversation, read now that the subscriptions are in effect: everything
            // after it arrives live, everything up to it is in the store for the resume. (Read
            // before subscribing, a message stored in between would be awaited in vain.)
            match services.store.memberships(&p.tenant, &p.user).await {
                Ok(list) => {
                    let positions: Vec<(ConversationId, Seq)> =
                        list.into_iter().map(|(id, last_seq, _)| (id, last_seq)).collect();
                    services.hub.expect_after(&p.tenant, &positions);
                }
                Err(e) => return Err(store_refusal(e.into())),
            }
        }
        if services.presence.connect(&p.tenant, &p.user, id, services.presence_ttl()).await {
            // A failure (storage down) only costs co-members the event, so it is logged.
            let online = services.presence_changed_in(&p.tenant, &p.user, true, Some(&ids)).await;
            if let Err(e) = online {
                tracing::warn!(error = %e, "could not publish presence");
            }
        }
        Ok((device, rx))
    }

    /// The node this device is attached to.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Who is on the other end.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// The `authed` frame (reply to `auth` with `id`, or the first frame of an event stream):
    /// who the device is, and the limits it must keep to.
    pub fn authed(&self, id: Option<RequestId>) -> ServerFrame {
        let limits = &self.node.services.limits;
        ServerFrame::Authed {
            id,
            user: self.principal.info(),
            connection_id: self.id.to_string(),
            protocol: PROTOCOL_VERSION,
            heartbeat_ms: limits.heartbeat_ms,
            expires_at: self.principal.expires_at,
            limits: ConnectionLimits {
                max_frame_bytes: limits.max_frame_bytes,
                max_body_bytes: limits.max_body_bytes,
                max_page_size: limits.max_page_size,
                requests_per_second: limits.requests_per_second,
            },
        }
    }

    /// A fresh credential for the same user (a token refresh); another user's is refused.
    pub fn refresh(&mut self, principal: Principal) -> Result<(), ServiceError> {
        if principal.tenant != self.principal.tenant || principal.user != self.principal.user {
            return Err(ServiceError::new(
                ErrorCode::Forbidden,
                "a refreshed token must name the same user",
            ));
        }
        self.principal = principal;
        Ok(())
    }

    /// The peer is alive: extend the presence lease.
    pub fn renew_lease(&self) {
        let services = &self.node.services;
        let p = &self.principal;
        services.presence.renew(&p.tenant, &p.user, self.id, services.presence_ttl());
    }

    /// Undo the attachment and tell co-members if the user went offline (which also records
    /// `last_seen`), waiting for that.
    pub async fn detach(mut self) {
        if self.release() {
            give_back_lease(&self.node, &self.principal, self.id).await;
        }
    }

    /// Leave the hub; `true` the first time (the lease is then the caller's to give back).
    fn release(&mut self) -> bool {
        if std::mem::replace(&mut self.detached, true) {
            return false;
        }
        let p = &self.principal;
        self.node.services.hub.unregister(&p.tenant, &p.user, self.id);
        true
    }
}

impl Drop for AttachedDevice {
    fn drop(&mut self) {
        if !self.release() {
            return;
        }
        // Dropped without `detach` (a cancelled or failed transport task): give the lease back
        // from a task of the node's own, which shutdown waits for.
        let (node, principal, id) = (self.node.clone(), self.principal.clone(), self.id);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                node.sessions
                    .clone()
                    .spawn_on(async move { give_back_lease(&node, &principal, id).await }, &rt);
            }
            Err(_) => {
                tracing::warn!("a device detached outside the runtime; its lease will expire")
            }
        }
    }
}

/// Give the device's presence lease back, and tell co-members if the user went offline (which
/// also records `last_seen`).
/// A device refused because its conversations could not be read: storage that is away for now
/// is `service_restart` with advice on when to come back; anything else is an internal error.
fn store_refusal(error: ServiceError) -> Refusal {
    if error.code == ErrorCode::Unavailable {
        Refusal { error, close: close::SERVICE_RESTART, reason: restart_advice() }
    } else {
        Refusal { error, close: close::INTERNAL_ERROR, reason: String::new() }
    }
}

async fn give_back_lease(node: &Node, p: &Principal, device: DeviceId) {
    if !node.services.presence.disconnect(&p.tenant, &p.user, device).await {
        return;
    }
    if let Err(e) = node.services.presence_changed(&p.tenant, &p.user, false).await {
        tracing::warn!(error = %e, "could not publish presence");
    }
}

/// The advice of a draining server: come back after a jittered delay, so that its clients do
/// not return as one storm.
pub fn restart_advice() -> String {
    let ms: u64 = rand::random_range(1_000..5_000);
    format!("retry_after_ms={ms}")
}
