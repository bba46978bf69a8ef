//! What a handle tells the driver. Most commands only mirror a change the handle already made
//! to the outbox file; the file is the truth, so losing one to a full channel costs a reload,
//! never a message.

use chinwag_proto::frames::{ClientFrame, ServerFrame};
use tokio::sync::oneshot;

use crate::error::RequestError;
use crate::outbox::OutboxEntry;

/// Commands from handles to the driver. Bounded; what overflows: sends and other changes of
/// the outbox never wait (they are in the file already, and a full channel makes the driver
/// reload the file); requests wait for room within their `request_timeout`.
pub(crate) const COMMAND_CAPACITY: usize = 1_024;

pub(crate) enum Command {
    /// A new outbox entry (already written to the file).
    Enqueued(OutboxEntry),
    /// A failed entry is to be sent again.
    Retry(OutboxEntry),
    /// An entry was removed from the file by the application.
    Discarded(String),
    /// A request that needs a connection and gets one reply.
    Request { frame: ClientFrame, reply: oneshot::Sender<Result<ServerFrame, RequestError>> },
    /// Leave the offline state (breaker or a no-reconnect close) and connect now.
    Reconnect,
}
