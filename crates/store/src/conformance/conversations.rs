//! Creating and loading conversations; one direct conversation per key.

use std::sync::Arc;

use chinwag_proto::ids::ConversationId;
use chinwag_proto::model::{ConversationKind, Role};

use super::fixtures::{RecordingSink, T0, create, direct, group, normalized, tenant, user};
use crate::Store;

pub(super) async fn create_and_load(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (owner, ann, ben) = (user("owner"), user("ann"), user("ben"));
    let mut new = group(&acme, &owner, &[&ann, &ben], T0);
    new.subject = Some("deal:7".into());
    let record = create(&store, new.clone()).await;

    assert_eq!(record.id, new.id);
    assert_eq!(record.tenant, acme);
    assert_eq!(record.kind, ConversationKind::Group);
    assert_eq!(record.subject.as_deref(), Some("deal:7"));
    assert_eq!(record.title.as_deref(), Some("a group"));
    assert_eq!(record.created_by, owner);
    assert_eq!(record.created_at, T0);
    assert_eq!(record.last_seq, 0, "no messages yet");
    assert_eq!(record.last_activity, T0, "activity starts at creation");
    let roles: Vec<_> = normalized(record.clone())
        .members
        .iter()
        .map(|m| (m.user_id.clone(), m.role, m.joined_at))
        .collect();
    assert_eq!(
        roles,
        vec![(ann.clone(), Role::Member, T0), (ben, Role::Member, T0), (owner, Role::Owner, T0)]
    );

    let loaded = store.conversation(&acme, &new.id).await.unwrap().expect("created conversation");
    assert_eq!(normalized(loaded), normalized(record));
    let missing = ConversationId::new("no-such-conversation");
    assert_eq!(store.conversation(&acme, &missing).await.unwrap(), None);

    // A member listed twice is one member.
    let mut twice = group(&acme, &ann, &[&user("cy"), &user("cy")], T0);
    twice.title = None;
    let record = create(&store, twice).await;
    assert_eq!(record.members.len(), 2);
    assert_eq!(record.title, None);
}

pub(super) async fn direct_key_is_unique(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let (ann, ben) = (user("ann"), user("ben"));
    let first = create(&store, direct(&acme, &ann, &ben, "ann|ben|item:42", T0)).await;
    assert_eq!(first.kind, ConversationKind::Direct);
    assert_eq!(first.members.len(), 2);

    // Same key, new id (the server makes a fresh one each time): the existing one comes back.
    let (again, created) = store
        .create_conversation(direct(&acme, &ben, &ann, "ann|ben|item:42", T0 + 5))
        .await
        .unwrap();
    assert!(!created, "the same direct key must not create a second conversation");
    assert_eq!(normalized(again), normalized(first.clone()));

    // Another key, or the same key in another tenant, is another conversation.
    let other_subject = create(&store, direct(&acme, &ann, &ben, "ann|ben|item:43", T0)).await;
    assert_ne!(other_subject.id, first.id);
    let other_tenant = create(&store, direct(&globex, &ann, &ben, "ann|ben|item:42", T0)).await;
    assert_ne!(other_tenant.id, first.id);
    assert_eq!(other_tenant.tenant, globex);

    // Groups have no key: two identical groups are two conversations.
    let g1 = create(&store, group(&acme, &ann, &[&ben], T0)).await;
    let g2 = create(&store, group(&acme, &ann, &[&ben], T0)).await;
    assert_ne!(g1.id, g2.id);
}

pub(super) async fn concurrent_direct_creates(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            let new = direct(&acme, &user("ann"), &user("ben"), "race", T0 + i);
            tokio::spawn(async move { store.create_conversation(new).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let (record, was_created) = task.await.expect("task").expect("create_conversation");
        created += usize::from(was_created);
        ids.push(record.id);
    }
    assert_eq!(created, 1, "exactly one racing create makes the conversation");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every racer gets the same conversation: {ids:?}");
}
