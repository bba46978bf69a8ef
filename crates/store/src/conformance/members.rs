//! Adding, removing and promoting members.

use std::sync::Arc;

use chinwag_proto::ids::{ConversationId, TenantId, UserId};
use chinwag_proto::model::Role;

use super::fixtures::{RecordingSink, T0, create, group, tenant, user};
use crate::{Store, StoreError};

async fn role_of(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &ConversationId,
    who: &UserId,
) -> Option<Role> {
    let record = store.conversation(tenant, id).await.unwrap().expect("conversation");
    record.members.iter().find(|m| m.user_id == *who).map(|m| m.role)
}

pub(super) async fn add_remove_and_roles(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (owner, dan) = (user("owner"), user("dan"));
    let id = create(&store, group(&acme, &owner, &[], T0)).await.id;

    assert!(store.add_member(&acme, &id, &dan, Role::Member, T0 + 1).await.unwrap());
    assert_eq!(role_of(&store, &acme, &id, &dan).await, Some(Role::Member));
    let record = store.conversation(&acme, &id).await.unwrap().expect("conversation");
    let joined = record.members.iter().find(|m| m.user_id == dan).map(|m| m.joined_at);
    assert_eq!(joined, Some(T0 + 1));

    // Already a member: false, and the role is left as it was.
    assert!(!store.add_member(&acme, &id, &dan, Role::Admin, T0 + 2).await.unwrap());
    assert_eq!(role_of(&store, &acme, &id, &dan).await, Some(Role::Member));

    store.set_role(&acme, &id, &dan, Role::Admin).await.expect("set_role");
    assert_eq!(role_of(&store, &acme, &id, &dan).await, Some(Role::Admin));
    assert_eq!(role_of(&store, &acme, &id, &owner).await, Some(Role::Owner), "others untouched");

    let stranger = user("stranger");
    let err = store.set_role(&acme, &id, &stranger, Role::Admin).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "set_role on a non-member: {err:?}");
    assert_eq!(role_of(&store, &acme, &id, &stranger).await, None, "set_role must not add");

    assert!(store.remove_member(&acme, &id, &dan).await.unwrap());
    assert_eq!(role_of(&store, &acme, &id, &dan).await, None);
    assert!(!store.remove_member(&acme, &id, &dan).await.unwrap(), "removing twice");
    assert!(store.memberships(&acme, &dan).await.unwrap().is_empty());
    let err = store.set_role(&acme, &id, &dan, Role::Member).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "set_role after removal: {err:?}");

    // Rejoining works and starts from a plain add.
    assert!(store.add_member(&acme, &id, &dan, Role::Member, T0 + 3).await.unwrap());
    assert_eq!(role_of(&store, &acme, &id, &dan).await, Some(Role::Member));

    let missing = ConversationId::new("no-such-conversation");
    let err = store.add_member(&acme, &missing, &dan, Role::Member, T0).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "add_member to a missing conversation: {err:?}"
    );
    assert!(!store.remove_member(&acme, &missing, &dan).await.unwrap());
    let err = store.set_role(&acme, &missing, &dan, Role::Admin).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}
