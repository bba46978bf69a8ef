//! Live conversation state: receipts, typing, drafts, presence. Everything is visible only to
//! people who share the conversation (G6).

use std::collections::HashSet;
use std::time::Duration;

use chinwag_broker::{Event, EventKind, Topic};
use chinwag_proto::clock::now_millis;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{DraftState, ServerFrame, UserPresence};
use chinwag_proto::ids::{ConversationId, Seq, TenantId, UserId};
use chinwag_store::{Draft, DraftSave, Receipt, Watermarks};

use super::Services;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::wire::encode_event;

/// Users one presence query may ask about.
const MAX_PRESENCE_QUERY: usize = 200;

pub(crate) fn draft_state(d: Draft) -> DraftState {
    DraftState { version: d.version, body: d.body, updated_at: d.updated_at }
}

/// Up to this many conversations, co-members come from the roster cache (see
/// [`Services::presence_changed_in`]).
const ROSTER_PRESENCE_MAX: usize = 64;

impl Services {
    /// Move one of the caller's watermarks; members hear a `receipt` when it moved, and the
    /// caller's devices a `read_updated` when the read position did.
    pub async fn receipt(
        &self,
        who: &Principal,
        id: &ConversationId,
        receipt: Receipt,
        seq: Seq,
    ) -> ServiceResult<Watermarks> {
        self.role_of(who, id).await?;
        let w = self.store.mark(&who.tenant, id, &who.user, receipt, seq).await?;
        if w.changed {
            self.publish(
                Topic::Conversation(who.tenant.clone(), id.clone()),
                EventKind::Other,
                &ServerFrame::Receipt {
                    conversation_id: id.clone(),
                    user_id: who.user.clone(),
                    delivered_seq: w.delivered_seq,
                    read_seq: w.read_seq,
                },
            );
        }
        if receipt == Receipt::Read {
            self.publish(
                Topic::User(who.tenant.clone(), who.user.clone()),
                EventKind::Other,
                &ServerFrame::ReadUpdated {
                    conversation_id: id.clone(),
                    read_seq: w.read_seq,
                    unread: w.last_seq.saturating_sub(w.read_seq),
                },
            );
        }
        Ok(w)
    }

    /// Every member's watermarks, as `receipt` frames (resume sends them so that no device keeps
    /// stale message states).
    pub async fn receipts(
        &self,
        who: &Principal,
        id: &ConversationId,
    ) -> ServiceResult<Vec<ServerFrame>> {
        self.role_of(who, id).await?;
        let record = self
            .store
            .conversation(&who.tenant, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such conversation"))?;
        Ok(record
            .members
            .into_iter()
            .map(|m| ServerFrame::Receipt {
                conversation_id: id.clone(),
                user_id: m.user_id,
                delivered_seq: m.delivered_seq,
                read_seq: m.read_seq,
            })
            .collect())
    }

    /// Start or stop the caller's typing indicator. Published only on change, never to the
    /// typist's own devices.
    pub async fn typing(
        &self,
        who: &Principal,
        id: &ConversationId,
        typing: bool,
    ) -> ServiceResult<()> {
        self.role_of(who, id).await?;
        if let Some(change) = self.typing.set(&who.tenant, id, &who.user, typing) {
            self.publish_typing(change);
        }
        Ok(())
    }

    pub(crate) fn publish_typing(&self, change: crate::typing::TypingChange) {
        let frame = ServerFrame::Typing {
            conversation_id: change.conversation.clone(),
            user_id: change.user.clone(),
            typing: change.typing,
        };
        self.broker.publish(Event {
            topic: Topic::Conversation(change.tenant, change.conversation),
            kind: EventKind::Other,
            skip_user: Some(change.user),
            payload: encode_event(&frame),
        });
    }

    /// The caller's draft (version 0 and empty when there is none).
    pub async fn draft(&self, who: &Principal, id: &ConversationId) -> ServiceResult<DraftState> {
        self.role_of(who, id).await?;
        let d = self.store.draft(&who.tenant, id, &who.user).await?;
        Ok(d.map(draft_state).unwrap_or(DraftState {
            version: 0,
            body: String::new(),
            updated_at: 0,
        }))
    }

    /// Save the caller's draft edited from `version`; the caller's devices hear the new one. A
    /// stale `version` is a `conflict` carrying the current draft.
    pub async fn save_draft(
        &self,
        who: &Principal,
        id: &ConversationId,
        version: u64,
        body: String,
    ) -> ServiceResult<DraftState> {
        if body.len() > self.limits.max_body_bytes {
            return Err(ServiceError::too_large(format!(
                "a draft is at most {} bytes",
                self.limits.max_body_bytes
            )));
        }
        self.role_of(who, id).await?;
        match self.store.save_draft(&who.tenant, id, &who.user, version, body, now_millis()).await?
        {
            DraftSave::Saved(d) => {
                let draft = draft_state(d);
                self.publish_draft(&who.tenant, &who.user, id, draft.clone());
                Ok(draft)
            }
            DraftSave::Conflict(current) => Err(ServiceError {
                current: serde_json::to_value(draft_state(current)).ok(),
                ..ServiceError::new(ErrorCode::Conflict, "the draft changed since that version")
            }),
        }
    }

    pub(crate) fn publish_draft(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &ConversationId,
        draft: DraftState,
    ) {
        self.publish(
            Topic::User(tenant.clone(), user.clone()),
            EventKind::Other,
            &ServerFrame::Draft { conversation_id: id.clone(), draft },
        );
    }

    /// Online state and last seen of `users`, limited to the caller and the people who share a
    /// conversation with them; anyone else is left out, as if unknown (G6).
    pub async fn presence_of(
        &self,
        who: &Principal,
        users: &[UserId],
    ) -> ServiceResult<Vec<UserPresence>> {
        if users.len() > MAX_PRESENCE_QUERY {
            return Err(ServiceError::too_large(format!(
                "at most {MAX_PRESENCE_QUERY} users per query"
            )));
        }
        let visible: HashSet<UserId> =
            self.store.co_members(&who.tenant, &who.user).await?.into_iter().collect();
        let mut asked: Vec<UserId> = Vec::new();
        for u in users {
            if (visible.contains(u) || *u == who.user) && !asked.contains(u) {
                asked.push(u.clone());
            }
        }
        let seen: std::collections::HashMap<UserId, i64> =
            self.store.last_seen(&who.tenant, &asked).await?.into_iter().collect();
        let mut answers = Vec::with_capacity(asked.len());
        for u in asked {
            answers.push(UserPresence {
                online: self.presence.is_online(&who.tenant, &u).await,
                last_seen: seen.get(&u).copied(),
                user_id: u,
            });
        }
        Ok(answers)
    }

    /// Tell everyone who shares a conversation with `user` that they came online or went
    /// offline; going offline also records `last_seen`.
    pub async fn presence_changed(
        &self,
        tenant: &TenantId,
        user: &UserId,
        online: bool,
    ) -> ServiceResult<()> {
        self.presence_changed_in(tenant, user, online, None).await
    }

    /// [`Services::presence_changed`] for a caller that already holds the user's conversations
    /// (a session that just loaded them): the co-members then come from the roster cache rather
    /// than a query, which keeps a reconnect storm off the database. Users in many conversations
    /// still ask the store, one query instead of many roster loads.
    pub async fn presence_changed_in(
        &self,
        tenant: &TenantId,
        user: &UserId,
        online: bool,
        conversations: Option<&[ConversationId]>,
    ) -> ServiceResult<()> {
        let last_seen = if online {
            None
        } else {
            let at = now_millis();
            self.store.set_last_seen(tenant, user, at).await?;
            Some(at)
        };
        let frame =
            ServerFrame::Presence(UserPresence { user_id: user.clone(), online, last_seen });
        let payload = encode_event(&frame);
        if self.broker.may_reorder() {
            // Between nodes, one event per conversation rather than one per co-member: a user
            // joining a room of a thousand costs a thousand times fewer publishes (each node's
            // hub hands it to its own members; one who shares several conversations with the
            // user hears it once per conversation).
            let ids: Vec<ConversationId> = match conversations {
                Some(ids) => ids.to_vec(),
                None => self
                    .store
                    .memberships(tenant, user)
                    .await?
                    .into_iter()
                    .map(|(id, _, _)| id)
                    .collect(),
            };
            for id in ids {
                self.broker.publish(Event {
                    topic: Topic::Conversation(tenant.clone(), id),
                    kind: EventKind::Other,
                    skip_user: Some(user.clone()),
                    payload: payload.clone(),
                });
            }
            return Ok(());
        }
        let others = match conversations {
            Some(ids) if ids.len() <= ROSTER_PRESENCE_MAX => {
                let mut others = std::collections::BTreeSet::new();
                for id in ids {
                    // A conversation deleted meanwhile has no one left to tell.
                    let Ok(roster) = self.roster(tenant, id).await else { continue };
                    others.extend(roster.keys().filter(|u| *u != user).cloned());
                }
                others.into_iter().collect()
            }
            _ => self.store.co_members(tenant, user).await?,
        };
        for other in others {
            self.broker.publish(Event {
                topic: Topic::User(tenant.clone(), other),
                kind: EventKind::Other,
                skip_user: None,
                payload: payload.clone(),
            });
        }
        Ok(())
    }

    /// The lease a device holds while its peer is alive: as long as the peer may stay silent.
    pub fn presence_ttl(&self) -> Duration {
        Duration::from_millis(self.limits.idle_timeout_ms)
    }
}
