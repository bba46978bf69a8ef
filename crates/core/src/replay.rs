//! The resume replay (G4), one implementation for every transport: the WebSocket session and the
//! server-sent events stream both call [`replay`] after registering their device in the hub.
//!
//! Order on the wire: for each planned conversation its `conversation` event when the device did
//! not know it, then its missed messages in `seq` order (at most `resume_max_messages`), then a
//! `receipt` for every member of every resumed conversation, then `resumed`. The target records
//! the highest `seq` it wrote per conversation, so that live events queued meanwhile are dropped
//! when already replayed.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use bytes::Bytes;
use chinwag_broker::EncodedEvent;
use chinwag_proto::frames::{ResumeRequest, ResumedConversation, ServerFrame};
use chinwag_proto::ids::{ConversationId, RequestId, Seq};
use chinwag_store::HistoryRange;

use crate::auth::Principal;
use crate::device_queue::{DeviceReceiver, Outbound};
use crate::error::ServiceError;
use crate::services::Services;
use crate::wire::{encode_event, ws_frame};

/// Messages read from the store per replay page.
const REPLAY_PAGE: u32 = 200;

/// The highest message seq written to one device per conversation, so that live events a resume
/// replay already wrote are dropped: the device gets every message once (G4).
#[derive(Debug, Default)]
pub(crate) struct Written(HashMap<ConversationId, Seq>);

/// How a transport frames live events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// WebSocket frames; a fan-out window's entry as one buffer framed once for all its
    /// recipients, so it goes out in one write.
    WebSocket,
    /// The encoded events one by one, unframed (the event stream frames each as an SSE event).
    PerEvent,
}

impl Written {
    /// A message of `conversation` with `seq` is being written: `false` if it already was (or
    /// `seq` is 0, which no message has).
    pub(crate) fn note(&mut self, conversation: &ConversationId, seq: Seq) -> bool {
        if seq == 0 {
            return false;
        }
        match self.0.get_mut(conversation) {
            Some(top) if *top >= seq => false,
            Some(top) => {
                *top = seq;
                true
            }
            None => {
                self.0.insert(conversation.clone(), seq);
                true
            }
        }
    }

    /// What to write for `queued` and whatever `rx` holds meanwhile (until about `max` items):
    /// every entry without the messages already written.
    pub(crate) fn fresh(
        &mut self,
        queued: VecDeque<Outbound>,
        rx: &DeviceReceiver,
        framing: Framing,
        max: usize,
    ) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity(queued.len());
        let mut next = Some(queued);
        while let Some(queued) = next {
            for out in queued {
                self.fresh_entry(out, framing, &mut frames);
            }
            next = if frames.len() < max { rx.try_recv_all() } else { None };
        }
        frames
    }

    fn fresh_entry(&mut self, out: Outbound, framing: Framing, into: &mut Vec<Bytes>) {
        let Some(layout) = &out.events else {
            into.push(match framing {
                Framing::WebSocket => ws_frame(&out.payload),
                Framing::PerEvent => out.payload,
            });
            return;
        };
        match framing {
            Framing::WebSocket => {
                let have = self.0.get(&layout.conversation).copied().unwrap_or(0);
                if layout.all_fresh(have) {
                    into.push(layout.ws_frames(&out.payload));
                } else {
                    // Behind a resume replay's seam (rare): only what the device lacks.
                    into.extend(layout.fresh(&out.payload, have).map(|e| ws_frame(&e)));
                }
                self.note(&layout.conversation, layout.last_seq);
            }
            Framing::PerEvent => {
                for (event, seq) in layout.split(&out.payload) {
                    if seq == 0 || self.note(&layout.conversation, seq) {
                        into.push(event);
                    }
                }
            }
        }
    }
}

/// Where a replay is written.
pub(crate) trait ReplayTarget {
    /// Write encoded events in order, framed as the transport frames them. `false` when the
    /// transport is gone or closing: the replay stops.
    fn write(&mut self, events: Vec<EncodedEvent>) -> impl Future<Output = bool> + Send;
    /// A message event of `conversation` with `seq` is being written.
    fn note_sent(&mut self, conversation: &ConversationId, seq: Seq);
}

/// Replay what the device missed according to `req`, then write `resumed` (or an `error` reply
/// with `id` when the plan cannot be made). Returns `false` if the target stopped it.
pub(crate) async fn replay<T: ReplayTarget + Send>(
    services: &Services,
    who: &Principal,
    id: Option<RequestId>,
    req: ResumeRequest,
    target: &mut T,
) -> bool {
    let error =
        |id, e: ServiceError| vec![encode_event(&ServerFrame::Error { id, error: e.to_body() })];
    let plan = match services.resume_plan(who, &req).await {
        Ok(p) => p,
        Err(e) => return target.write(error(id, e)).await,
    };
    let cap = services.limits.resume_max_messages;
    let mut results = Vec::with_capacity(plan.items.len());
    for item in plan.items {
        if item.new {
            match services.get_conversation(who, &item.conversation_id).await {
                Ok(conversation) => {
                    let frame = encode_event(&ServerFrame::Conversation { conversation });
                    if !target.write(vec![frame]).await {
                        return false;
                    }
                }
                // Left between the plan and now: nothing to replay.
                Err(_) => continue,
            }
        }
        let mut at = item.from_seq;
        let mut count = 0u32;
        loop {
            let page = match services
                .store
                .history(
                    &who.tenant,
                    &item.conversation_id,
                    HistoryRange::After(at),
                    REPLAY_PAGE.min(cap - count),
                )
                .await
            {
                Ok(p) => p,
                Err(e) => return target.write(error(id, ServiceError::from(e))).await,
            };
            let Some(last) = page.messages.last() else { break };
            at = last.seq;
            count += page.messages.len() as u32;
            let has_more = page.has_more;
            let mut frames = Vec::with_capacity(page.messages.len());
            for m in page.messages {
                target.note_sent(&m.conversation_id, m.seq);
                frames.push(encode_event(&ServerFrame::Message { message: m }));
            }
            if !target.write(frames).await {
                return false;
            }
            if !has_more || count >= cap || at >= item.last_seq {
                break;
            }
        }
        results.push(ResumedConversation {
            conversation_id: item.conversation_id,
            from_seq: item.from_seq,
            to_seq: at,
            last_seq: item.last_seq,
            complete: at >= item.last_seq,
        });
    }
    // Current watermarks of every resumed conversation, so that no message state is stale.
    let mut known: Vec<ConversationId> = Vec::new();
    for c in req
        .positions
        .iter()
        .map(|p| &p.conversation_id)
        .chain(results.iter().map(|r| &r.conversation_id))
    {
        if !plan.unavailable.contains(c) && !known.contains(c) {
            known.push(c.clone());
        }
    }
    for c in known {
        let Ok(frames) = services.receipts(who, &c).await else { continue };
        if !target.write(frames.iter().map(encode_event).collect()).await {
            return false;
        }
    }
    let resumed = ServerFrame::Resumed {
        id,
        conversations: results,
        unavailable: plan.unavailable,
        cursor: plan.cursor,
    };
    target.write(vec![encode_event(&resumed)]).await
}
