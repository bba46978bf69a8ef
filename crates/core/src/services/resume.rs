//! Resume (G4): what a reconnecting device missed.
//!
//! The plan is computed from the store after the device is registered in the hub, so anything
//! committed later arrives live; the session replays the plan, then drains live events, and drops
//! live messages it already replayed (by `seq`). Nothing is missed and nothing is sent twice.

use std::collections::HashMap;

use chinwag_proto::clock::now_millis;
use chinwag_proto::frames::ResumeRequest;
use chinwag_proto::ids::{ConversationId, Millis, Seq};

use super::Services;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// One conversation to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeItem {
    pub conversation_id: ConversationId,
    /// Replay messages with `seq > from_seq`.
    pub from_seq: Seq,
    /// The conversation's newest seq when the plan was made.
    pub last_seq: Seq,
    /// The device did not list it: send the conversation itself first.
    pub new: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResumePlan {
    pub items: Vec<ResumeItem>,
    /// Listed conversations the user is not a member of (or that do not exist).
    pub unavailable: Vec<ConversationId>,
    /// For the device's next `since`.
    pub cursor: Millis,
}

impl Services {
    pub async fn resume_plan(
        &self,
        who: &Principal,
        req: &ResumeRequest,
    ) -> ServiceResult<ResumePlan> {
        if req.positions.len() > 10_000 {
            return Err(ServiceError::too_large("at most 10000 positions per resume"));
        }
        // Taken before reading, so that activity during the read is covered by the next resume.
        let cursor = now_millis();
        let memberships = self.store.memberships(&who.tenant, &who.user).await?;
        let mine: HashMap<&ConversationId, (Seq, Millis)> =
            memberships.iter().map(|(id, last, at)| (id, (*last, *at))).collect();
        let mut items = Vec::new();
        let mut unavailable = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for p in &req.positions {
            if !listed.insert(&p.conversation_id) {
                continue;
            }
            match mine.get(&p.conversation_id) {
                Some(&(last_seq, _)) => {
                    if last_seq > p.seq {
                        items.push(ResumeItem {
                            conversation_id: p.conversation_id.clone(),
                            from_seq: p.seq,
                            last_seq,
                            new: false,
                        });
                    }
                }
                None => unavailable.push(p.conversation_id.clone()),
            }
        }
        if let Some(since) = req.since {
            for (id, last_seq, at) in &memberships {
                if *at >= since && !listed.contains(id) {
                    items.push(ResumeItem {
                        conversation_id: id.clone(),
                        from_seq: 0,
                        last_seq: *last_seq,
                        new: true,
                    });
                }
            }
        }
        Ok(ResumePlan { items, unavailable, cursor })
    }
}
