//! Frames from the server: acknowledgements and replies matched to what was sent by their
//! request id, events handed on to the application, and messages through the cache, so the
//! application sees each conversation once and in `seq` order (G3, G4).

use chinwag_proto::error::{ErrorBody, ErrorCode};
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::model::Message;

use super::connection::End;
use super::{Driver, id_str};
use crate::config::StartFrom;
use crate::error::RequestError;
use crate::events::{Event, describe};
use crate::shared::{SessionInfo, lock};

impl Driver {
    pub(super) async fn on_frame(&mut self, text: &str) -> Option<End> {
        let frame: ServerFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                // New frame types may be added within a protocol version: not fatal.
                self.emit(Event::Error(format!("unreadable server frame: {e}"))).await;
                return None;
            }
        };
        match frame {
            ServerFrame::Ack { message, .. } => {
                let key = message.client_msg_id.as_str().to_owned();
                self.acked(&key, Some(message.seq)).await;
            }
            ServerFrame::Amended { id, event, .. } => {
                if let Some(key) = id_str(id.as_ref()).and_then(|s| s.strip_prefix("o:")) {
                    let key = key.to_owned();
                    self.acked(&key, event.map(|e| e.seq)).await;
                }
            }
            ServerFrame::Ok { id } => {
                let id = id_str(id.as_ref())?;
                if let Some(key) = id.strip_prefix("o:") {
                    let key = key.to_owned();
                    self.acked(&key, None).await;
                } else {
                    let id = id.to_owned();
                    self.reply(&id, Ok(ServerFrame::Ok { id: None }));
                }
            }
            ServerFrame::Error { id, error } => {
                return self.on_error(id_str(id.as_ref()), error).await;
            }
            ServerFrame::Message { message } => self.on_message(message).await,
            ServerFrame::History { id, conversation_id, messages, has_more } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                self.on_history(&id, conversation_id, messages, has_more).await;
            }
            ServerFrame::Resumed { conversations, unavailable, cursor, .. } => {
                self.on_resumed(conversations, unavailable, cursor).await;
            }
            ServerFrame::Pong { id, .. } => self.on_pong(id_str(id.as_ref())).await,
            ServerFrame::Authed { user, limits, expires_at, .. } => {
                // The reply to a token refresh on this connection.
                self.refresh.authed(expires_at);
                *lock(&self.shared.session) = Some(SessionInfo { user, limits });
            }
            ServerFrame::DraftSaved { id, conversation_id, draft } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                self.reply(&id, Ok(ServerFrame::DraftSaved { id: None, conversation_id, draft }));
            }
            ServerFrame::PresenceState { id, users } => {
                let id = id_str(id.as_ref()).unwrap_or_default().to_owned();
                self.reply(&id, Ok(ServerFrame::PresenceState { id: None, users }));
            }
            ServerFrame::Receipt { conversation_id, user_id, delivered_seq, read_seq } => {
                self.on_receipt(conversation_id, user_id, delivered_seq, read_seq).await;
            }
            ServerFrame::Typing { conversation_id, user_id, typing } => {
                self.emit(Event::Typing { conversation_id, user_id, typing }).await;
            }
            ServerFrame::Presence(p) => self.emit(Event::Presence(p)).await,
            ServerFrame::Draft { conversation_id, draft } => {
                self.emit(Event::Draft { conversation_id, draft }).await;
            }
            ServerFrame::Conversation { conversation } => self.on_conversation(conversation).await,
            ServerFrame::MemberAdded { conversation_id, member } => {
                self.emit(Event::MemberAdded { conversation_id, member }).await;
            }
            ServerFrame::MemberUpdated { conversation_id, member } => {
                self.emit(Event::MemberUpdated { conversation_id, member }).await;
            }
            ServerFrame::MemberRemoved { conversation_id, user_id } => {
                if self.me.as_ref() == Some(&user_id) {
                    lock(&self.shared.cache).forget(&conversation_id);
                    let _ = lock(&self.shared.outbox).forget_position(&conversation_id);
                }
                self.emit(Event::MemberRemoved { conversation_id, user_id }).await;
            }
            ServerFrame::ReadUpdated { conversation_id, read_seq, unread } => {
                self.emit(Event::ReadUpdated { conversation_id, read_seq, unread }).await;
            }
        }
        None
    }

    async fn on_error(&mut self, id: Option<&str>, error: ErrorBody) -> Option<End> {
        let id = id.map(str::to_owned);
        match id.as_deref() {
            Some(id) if id.starts_with("o:") => return self.refused(&id[2..], error).await,
            Some(id) if id.starts_with("r:") => self.reply(id, Err(RequestError::Server(error))),
            Some(id) if id.starts_with("g:") => self.gap_fill_refused(id, error).await,
            Some(id) if id.starts_with("p:") || id.starts_with("d:") => {}
            Some("auth-refresh") => {
                // The refreshed token was refused: reconnect with another one.
                self.emit(Event::Error(describe(&error))).await;
                return Some(End::BadToken);
            }
            _ => {
                if error.code == ErrorCode::TokenExpired {
                    return Some(End::BadToken);
                }
                self.emit(Event::Error(describe(&error))).await;
            }
        }
        None
    }

    /// A message, live, replayed by a resume or from a gap's history page.
    pub(super) async fn on_message(&mut self, message: Message) {
        let conversation = message.conversation_id.clone();
        let accepted = {
            let mut cache = lock(&self.shared.cache);
            if self.shared.config.start_from == StartFrom::Now
                && cache.position(&conversation).is_none()
            {
                // A conversation first seen live: start from here, fetch history on demand.
                cache.set_position(conversation.clone(), message.seq.saturating_sub(1));
            }
            cache.accept(message)
        };
        if let Some(after) = accepted.missing_after {
            self.fill_gap(conversation.clone(), after);
        }
        if accepted.deliver.is_empty() {
            return;
        }
        self.positions_dirty = true;
        for m in accepted.deliver {
            if self.me.as_ref() != Some(&m.sender) {
                self.received_from_other(&conversation, &m).await;
            }
            self.emit(Event::Message(m)).await;
        }
    }
}
