//! Resuming where this device left off: the positions (highest gapless `seq` per conversation)
//! and the cursor that `auth` carries, what `resumed` says about them, and saving them to the
//! state file so that a restart of the process resumes too.

use std::time::Duration;

use chinwag_proto::frames::{ResumeRequest, ResumedConversation};
use chinwag_proto::ids::{ConversationId, Millis};
use chinwag_proto::model::Conversation;
use tokio::time::Instant;

use super::Driver;
use crate::config::StartFrom;
use crate::events::{Event, Recovery};
use crate::shared::lock;

/// Positions are written to the state file at most this often.
const SAVE_POSITIONS_EVERY: Duration = Duration::from_millis(500);

impl Driver {
    pub(super) fn resume_request(&self) -> ResumeRequest {
        let cache = lock(&self.shared.cache);
        let positions = cache.positions();
        let since = match (cache.cursor(), self.shared.config.start_from) {
            (Some(c), _) => Some(c),
            (None, StartFrom::Everything) => Some(0),
            (None, StartFrom::Now) => None,
        };
        ResumeRequest { positions, since }
    }

    pub(super) async fn on_resumed(
        &mut self,
        conversations: Vec<ResumedConversation>,
        unavailable: Vec<ConversationId>,
        cursor: Millis,
    ) {
        let mut replayed = 0;
        {
            let mut cache = lock(&self.shared.cache);
            cache.set_cursor(cursor);
            for u in &unavailable {
                cache.forget(u);
            }
        }
        for u in &unavailable {
            let _ = lock(&self.shared.outbox).forget_position(u);
        }
        for c in conversations {
            replayed += c.to_seq.saturating_sub(c.from_seq);
            if !c.complete {
                let position =
                    lock(&self.shared.cache).position(&c.conversation_id).unwrap_or(c.to_seq);
                self.fill_gap(c.conversation_id, position);
            }
        }
        self.positions_dirty = true;
        self.save_positions(true);
        let recovery = if unavailable.is_empty() {
            Recovery::Recovered { replayed }
        } else {
            Recovery::Resynced { replayed, unavailable }
        };
        self.emit(Event::Resumed(recovery)).await;
    }

    pub(super) async fn on_conversation(&mut self, conversation: Conversation) {
        {
            // Known from now on: listed in the next resume (so that leaving it is reported as
            // `unavailable`). With `Everything` its messages follow from seq 1; with `Now` only
            // what comes after its current last message.
            let mut cache = lock(&self.shared.cache);
            if cache.position(&conversation.id).is_none() {
                let start = match self.shared.config.start_from {
                    StartFrom::Everything => 0,
                    StartFrom::Now => conversation.last_seq,
                };
                cache.set_position(conversation.id.clone(), start);
            }
        }
        self.positions_dirty = true;
        self.emit(Event::Conversation(Box::new(conversation))).await;
    }

    /// Write the positions if they moved: `now`, or when the last write is old enough.
    pub(super) fn save_positions(&mut self, now: bool) {
        if !self.positions_dirty || (!now && self.positions_saved.elapsed() < SAVE_POSITIONS_EVERY)
        {
            return;
        }
        let (positions, cursor) = {
            let cache = lock(&self.shared.cache);
            (cache.positions(), cache.cursor())
        };
        // A small transaction in WAL mode without fsync: fast enough for the driver's task.
        if let Err(e) = lock(&self.shared.outbox).save_positions(&positions, cursor) {
            tracing::warn!(error = %e, "saving resume positions");
        }
        self.positions_dirty = false;
        self.positions_saved = Instant::now();
    }
}
