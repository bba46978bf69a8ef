//! Filling gaps. The cache holds back a message that arrives past a hole in its conversation's
//! `seq`s; the missing messages are fetched with `history` pages after the position, one page
//! at a time per conversation, until the hole is closed, and the held messages follow in order.

use std::collections::{HashMap, HashSet};

use chinwag_proto::commands::GetHistory;
use chinwag_proto::error::ErrorBody;
use chinwag_proto::frames::{ClientFrame, ServerFrame};
use chinwag_proto::ids::{ConversationId, Seq};
use chinwag_proto::model::Message;

use super::{Driver, with_id};
use crate::events::{Event, describe};
use crate::shared::lock;

/// History pages asked for to fill gaps, on the current connection.
#[derive(Debug, Default)]
pub(super) struct GapFills {
    /// Request id → the conversation its page fills.
    requests: HashMap<String, ConversationId>,
    /// Conversations with a page on the way: however many messages arrive past the gap
    /// meanwhile, it is asked for once.
    filling: HashSet<ConversationId>,
}

impl GapFills {
    pub(super) fn clear(&mut self) {
        self.requests.clear();
        self.filling.clear();
    }

    /// The conversation whose page this reply is, if it is one; its gap may be asked again.
    fn answered(&mut self, id: &str) -> Option<ConversationId> {
        let conversation = self.requests.remove(id)?;
        self.filling.remove(&conversation);
        Some(conversation)
    }
}

impl Driver {
    /// Ask for the messages after `after`, unless a page for this conversation is on the way.
    pub(super) fn fill_gap(&mut self, conversation: ConversationId, after: Seq) {
        if !self.authed || !self.gaps.filling.insert(conversation.clone()) {
            return;
        }
        let limit =
            lock(&self.shared.session).as_ref().map(|s| s.limits.max_page_size).unwrap_or(200);
        let id = self.id("g");
        let frame = ClientFrame::new(
            None,
            GetHistory {
                conversation_id: conversation.clone(),
                before: None,
                after: Some(after),
                limit: Some(limit.clamp(1, 200)),
            },
        );
        self.out.push_back(with_id(&frame, &id));
        self.gaps.requests.insert(id, conversation);
    }

    /// A page of history: one that fills a gap goes through the cache like live messages (and
    /// asks for the next page while there is more); any other answers a request.
    pub(super) async fn on_history(
        &mut self,
        id: &str,
        conversation_id: ConversationId,
        messages: Vec<Message>,
        has_more: bool,
    ) {
        let Some(conversation) = self.gaps.answered(id) else {
            let page = ServerFrame::History { id: None, conversation_id, messages, has_more };
            return self.reply(id, Ok(page));
        };
        for m in messages {
            self.on_message(m).await;
        }
        if has_more {
            let position = lock(&self.shared.cache).position(&conversation).unwrap_or(0);
            self.fill_gap(conversation, position);
        }
    }

    /// The page was refused: the gap stays, and the next message past it asks again.
    pub(super) async fn gap_fill_refused(&mut self, id: &str, error: ErrorBody) {
        self.gaps.answered(id);
        self.emit(Event::Error(describe(&error))).await;
    }
}
