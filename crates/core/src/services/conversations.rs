//! Creating, listing and reading conversations.

use chinwag_broker::{EventKind, Topic};
use chinwag_proto::clock::now_millis;
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::{ConversationId, UserId};
use chinwag_proto::model::{Conversation, ConversationKind, Role};
use chinwag_proto::rest::{ConversationPage, CreateConversationRequest};
use chinwag_store::{ConversationView, ListCursor, NewConversation};

use super::Services;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// The view of a conversation one member sees.
pub fn to_conversation(view: ConversationView) -> Conversation {
    let r = view.record;
    Conversation {
        unread: r.last_seq.saturating_sub(view.read_seq),
        id: r.id,
        kind: r.kind,
        subject: r.subject,
        title: r.title,
        created_by: r.created_by,
        created_at: r.created_at,
        last_seq: r.last_seq,
        last_activity: r.last_activity,
        last_message: view.last_message,
        members: r.members,
        read_seq: view.read_seq,
    }
}

impl Services {
    /// Create a conversation; for `direct`, return the existing one for the same pair and subject.
    pub async fn create_conversation(
        &self,
        who: &Principal,
        req: CreateConversationRequest,
    ) -> ServiceResult<(Conversation, bool)> {
        if let Some(s) = &req.subject {
            self.check_id("subject", s)?;
        }
        if let Some(t) = &req.title {
            self.check_id("title", t)?;
        }
        let mut others: Vec<UserId> = Vec::with_capacity(req.members.len());
        for m in req.members {
            self.check_id("members[]", m.as_str())?;
            if m != who.user && !others.contains(&m) {
                others.push(m);
            }
        }
        let direct_key = match req.kind {
            ConversationKind::Direct => {
                let [other] = others.as_slice() else {
                    return Err(ServiceError::invalid(
                        "a direct conversation has exactly one other member",
                    ));
                };
                let mut pair = [who.user.as_str(), other.as_str()];
                pair.sort_unstable();
                // Length-prefixed so that no choice of ids and subject can collide.
                let subject = req.subject.as_deref().unwrap_or("");
                Some(format!(
                    "{}:{}|{}:{}|{}",
                    pair[0].len(),
                    pair[0],
                    pair[1].len(),
                    pair[1],
                    subject
                ))
            }
            ConversationKind::Group => {
                if others.len() + 1 > self.limits.max_members {
                    return Err(ServiceError::too_large(format!(
                        "a group has at most {} members",
                        self.limits.max_members
                    )));
                }
                None
            }
        };
        let owner_role = match req.kind {
            ConversationKind::Direct => Role::Member,
            ConversationKind::Group => Role::Owner,
        };
        let mut members = vec![(who.user.clone(), owner_role)];
        members.extend(others.into_iter().map(|u| (u, Role::Member)));
        let (record, created) = self
            .store
            .create_conversation(NewConversation {
                id: ConversationId(ulid::Ulid::new().to_string()),
                tenant: who.tenant.clone(),
                kind: req.kind,
                subject: req.subject,
                title: req.title,
                created_by: who.user.clone(),
                created_at: now_millis(),
                members,
                direct_key,
            })
            .await?;
        if !record.members.iter().any(|m| m.user_id == who.user) {
            // A direct key only ever matches a conversation of the same pair.
            return Err(ServiceError::not_found("no such conversation"));
        }
        let view = |read_seq| {
            to_conversation(ConversationView {
                record: record.clone(),
                last_message: None,
                read_seq,
            })
        };
        if created {
            for m in &record.members {
                let frame = ServerFrame::Conversation { conversation: view(0) };
                self.publish(
                    Topic::User(who.tenant.clone(), m.user_id.clone()),
                    EventKind::Joined(record.id.clone()),
                    &frame,
                );
            }
            Ok((view(0), true))
        } else {
            let existing = self
                .store
                .conversation_view(&who.tenant, &who.user, &record.id)
                .await?
                .ok_or_else(|| ServiceError::not_found("no such conversation"))?;
            Ok((to_conversation(existing), false))
        }
    }

    /// The caller's conversations, most recent activity first.
    pub async fn list_conversations(
        &self,
        who: &Principal,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> ServiceResult<ConversationPage> {
        let limit = self.limits.page_size(limit)?;
        let cursor = cursor.map(parse_cursor).transpose()?;
        let views = self.store.list_conversations(&who.tenant, &who.user, cursor, limit).await?;
        let next_cursor = (views.len() == limit as usize)
            .then(|| views.last().map(|v| format!("{}.{}", v.record.last_activity, v.record.id)));
        Ok(ConversationPage {
            conversations: views.into_iter().map(to_conversation).collect(),
            next_cursor: next_cursor.flatten(),
        })
    }

    /// One conversation, if the caller is a member.
    pub async fn get_conversation(
        &self,
        who: &Principal,
        id: &ConversationId,
    ) -> ServiceResult<Conversation> {
        self.check_id("conversation_id", id.as_str())?;
        self.store
            .conversation_view(&who.tenant, &who.user, id)
            .await?
            .map(to_conversation)
            .ok_or_else(|| ServiceError::not_found("no such conversation"))
    }
}

fn parse_cursor(s: &str) -> ServiceResult<ListCursor> {
    let bad = || ServiceError::invalid("`cursor` is not a cursor this server issued");
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    let last_activity = at.parse().map_err(|_| bad())?;
    if id.is_empty() || id.len() > 64 {
        return Err(bad());
    }
    Ok(ListCursor { last_activity, conversation_id: ConversationId(id.to_owned()) })
}
