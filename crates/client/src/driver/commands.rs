//! What the handles ask of the driver, and the replies to their requests. Changes of the
//! outbox are taken whether connected or not (they are in the file already); a request needs a
//! connection: without one it is refused at once with `NotConnected`, not held for the next.

use chinwag_proto::frames::ServerFrame;

use super::connection::End;
use super::{Driver, with_id};
use crate::command::Command;
use crate::error::RequestError;

/// Application requests waiting for a reply on one connection.
const MAX_PENDING_REQUESTS: usize = 1_024;

impl Driver {
    /// Handle a command; `connected` says whether requests can go out now.
    pub(super) async fn on_command(&mut self, cmd: Command, connected: bool) -> Option<End> {
        match cmd {
            Command::Enqueued(entry) if self.replay.known(&entry) => {}
            Command::Enqueued(entry) | Command::Retry(entry) => self.queued(entry).await,
            Command::Discarded(key) => self.replay.discard(&key),
            Command::Request { frame, reply } => {
                if !connected {
                    let _ = reply.send(Err(RequestError::NotConnected));
                } else if self.requests.len() >= MAX_PENDING_REQUESTS {
                    let _ = reply.send(Err(RequestError::TooMany(MAX_PENDING_REQUESTS)));
                } else {
                    let id = self.id("r");
                    self.out.push_back(with_id(&frame, &id));
                    self.requests.insert(id, reply);
                }
            }
            Command::Reconnect => return Some(End::Reconnect),
        }
        None
    }

    /// The reply to the application request with this id.
    pub(super) fn reply(&mut self, id: &str, frame: Result<ServerFrame, RequestError>) {
        if let Some(tx) = self.requests.remove(id) {
            let _ = tx.send(frame);
        }
    }
}
