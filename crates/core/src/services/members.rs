//! Membership: add, remove, change roles. Owners and admins manage; anyone may leave.

use chinwag_broker::{EventKind, Topic};
use chinwag_proto::clock::now_millis;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::{ConversationId, UserId};
use chinwag_proto::model::{ConversationKind, Member, Role};

use super::Services;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::services::conversations::to_conversation;

impl Services {
    /// Add a member to a group. Returns `false` if they already were one.
    pub async fn add_member(
        &self,
        who: &Principal,
        id: &ConversationId,
        user: &UserId,
        role: Role,
    ) -> ServiceResult<bool> {
        self.check_id("user_id", user.as_str())?;
        let my_role = self.role_of(who, id).await?;
        let record = self
            .store
            .conversation(&who.tenant, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such conversation"))?;
        if record.kind == ConversationKind::Direct {
            return Err(ServiceError::invalid("a direct conversation keeps its two members"));
        }
        if !my_role.can_manage_members() || role > my_role {
            return Err(ServiceError::forbidden(
                "only owners and admins add members, up to their own role",
            ));
        }
        if record.members.len() >= self.limits.max_members {
            return Err(ServiceError::too_large(format!(
                "a group has at most {} members",
                self.limits.max_members
            )));
        }
        let at = now_millis();
        let added = self.store.add_member(&who.tenant, id, user, role, at).await?;
        self.forget_roster(&who.tenant, id);
        if added {
            let member = Member {
                user_id: user.clone(),
                role,
                joined_at: at,
                delivered_seq: 0,
                read_seq: 0,
            };
            self.publish(
                Topic::Conversation(who.tenant.clone(), id.clone()),
                EventKind::Other,
                &ServerFrame::MemberAdded { conversation_id: id.clone(), member },
            );
            if let Some(view) = self.store.conversation_view(&who.tenant, user, id).await? {
                self.publish(
                    Topic::User(who.tenant.clone(), user.clone()),
                    EventKind::Joined(id.clone()),
                    &ServerFrame::Conversation { conversation: to_conversation(view) },
                );
            }
        }
        Ok(added)
    }

    /// Remove a member (or leave, when `user` is the caller). Returns `false` if not a member.
    pub async fn remove_member(
        &self,
        who: &Principal,
        id: &ConversationId,
        user: &UserId,
    ) -> ServiceResult<bool> {
        self.check_id("user_id", user.as_str())?;
        let my_role = self.role_of(who, id).await?;
        let roster = self.roster(&who.tenant, id).await?;
        let Some(&their_role) = roster.get(user) else {
            return Ok(false);
        };
        if *user != who.user && (!my_role.can_manage_members() || their_role > my_role) {
            return Err(ServiceError::forbidden(
                "only owners and admins remove members, up to their own role",
            ));
        }
        if their_role == Role::Owner && roster.values().filter(|r| **r == Role::Owner).count() == 1
        {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "the last owner cannot leave; make someone else owner first",
            ));
        }
        let removed = self.store.remove_member(&who.tenant, id, user).await?;
        self.forget_roster(&who.tenant, id);
        if removed {
            let frame =
                ServerFrame::MemberRemoved { conversation_id: id.clone(), user_id: user.clone() };
            // The removed user's devices hear it first, then stop getting the conversation's events.
            self.publish(
                Topic::User(who.tenant.clone(), user.clone()),
                EventKind::Left(id.clone()),
                &frame,
            );
            self.publish(
                Topic::Conversation(who.tenant.clone(), id.clone()),
                EventKind::Other,
                &frame,
            );
        }
        Ok(removed)
    }

    /// Change a member's role. Only owners grant or take `owner`; admins manage members.
    pub async fn set_role(
        &self,
        who: &Principal,
        id: &ConversationId,
        user: &UserId,
        role: Role,
    ) -> ServiceResult<()> {
        self.check_id("user_id", user.as_str())?;
        let my_role = self.role_of(who, id).await?;
        let roster = self.roster(&who.tenant, id).await?;
        let their_role =
            *roster.get(user).ok_or_else(|| ServiceError::not_found("not a member"))?;
        if !my_role.can_manage_members() || role > my_role || their_role > my_role {
            return Err(ServiceError::forbidden("not allowed to change this member's role"));
        }
        if their_role == Role::Owner
            && role != Role::Owner
            && roster.values().filter(|r| **r == Role::Owner).count() == 1
        {
            return Err(ServiceError::new(ErrorCode::Conflict, "a group keeps at least one owner"));
        }
        self.store.set_role(&who.tenant, id, user, role).await?;
        self.forget_roster(&who.tenant, id);
        let member = self
            .store
            .conversation(&who.tenant, id)
            .await?
            .and_then(|r| r.members.into_iter().find(|m| m.user_id == *user));
        if let Some(member) = member {
            self.publish(
                Topic::Conversation(who.tenant.clone(), id.clone()),
                EventKind::Other,
                &ServerFrame::MemberUpdated { conversation_id: id.clone(), member },
            );
        }
        Ok(())
    }
}
