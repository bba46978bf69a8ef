//! Replies, edits, deletes for everyone, and reactions.

use std::sync::Arc;

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, Seq, TenantId, UserId};

use super::fixtures::{RecordingSink, T0, append_n, create, group, tenant, text, ulid, user};
use crate::{Amend, Change, HistoryRange, Store, StoreError};

fn amend(
    t: &TenantId,
    id: &ConversationId,
    actor: &UserId,
    target: Seq,
    change: Change,
    key: &str,
) -> Amend {
    Amend {
        tenant: t.clone(),
        conversation_id: id.clone(),
        actor: actor.clone(),
        target,
        change,
        id: MessageId::new(ulid()),
        client_msg_id: ClientMsgId::new(key),
        created_at: T0 + 100,
        moderator: false,
    }
}

pub(super) async fn replies_point_at_existing_messages(
    store: Arc<dyn Store>,
    _: Arc<RecordingSink>,
) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    append_n(&store, &acme, &id, &ann, 2).await;
    let reply =
        crate::NewMessage { reply_to: Some(2), ..text(&acme, &id, &ben, "r-1", "yes", T0 + 5) };
    assert_eq!(store.append(reply).await.unwrap().message.reply_to, Some(2));
    for bad in [0, 4, 99] {
        let reply = crate::NewMessage {
            reply_to: Some(bad),
            ..text(&acme, &id, &ben, &ulid(), "?", T0 + 6)
        };
        let err = store.append(reply).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "reply_to {bad}: {err:?}");
    }
}

pub(super) async fn edits_deletes_and_reactions_are_events_with_their_own_seq(
    store: Arc<dyn Store>,
    sink: Arc<RecordingSink>,
) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    append_n(&store, &acme, &id, &ann, 2).await; // seq 1, 2

    let edit = Change::Edit { body: "fixed".into() };
    let edited = store.amend(amend(&acme, &id, &ann, 1, edit.clone(), "e-1")).await.unwrap();
    let event = edited.event.clone().expect("an event");
    assert_eq!((event.seq, event.kind.as_str(), event.target), (3, "edit", Some(1)));
    assert_eq!(edited.target.body, "fixed");
    assert_eq!(edited.target.edited_at, Some(T0 + 100));
    assert_eq!(
        event.payload.as_ref().unwrap()["message"]["body"],
        "fixed",
        "the event carries the new state"
    );
    // A retry returns the same event; nothing new is stored (G2).
    let again = store.amend(amend(&acme, &id, &ann, 1, edit, "e-1")).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.event, Some(event.clone()));

    let err = store
        .amend(amend(&acme, &id, &ben, 1, Change::Edit { body: "mine".into() }, "e-2"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "editing someone else's: {err:?}");
    let err = store.amend(amend(&acme, &id, &ann, 3, Change::Delete, "e-3")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "changing an event: {err:?}");

    let thumbs = |add| Change::React { emoji: "👍".into(), add };
    let r = store.amend(amend(&acme, &id, &ben, 2, thumbs(true), "r-1")).await.unwrap();
    assert_eq!(r.target.reactions.get("👍"), Some(&vec![ben.clone()]));
    assert_eq!(r.event.as_ref().map(|e| e.seq), Some(4));
    let same = store.amend(amend(&acme, &id, &ben, 2, thumbs(true), "r-2")).await.unwrap();
    assert_eq!((same.event, same.duplicate), (None, false), "one reaction per user per emoji");
    store.amend(amend(&acme, &id, &ann, 2, thumbs(true), "r-3")).await.unwrap();
    let off = store.amend(amend(&acme, &id, &ben, 2, thumbs(false), "r-4")).await.unwrap();
    assert_eq!(off.target.reactions.get("👍"), Some(&vec![ann.clone()]));

    let err = store.amend(amend(&acme, &id, &ben, 2, Change::Delete, "d-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "a member deleting someone else's: {err:?}");
    let moderated = Amend { moderator: true, ..amend(&acme, &id, &ben, 2, Change::Delete, "d-2") };
    let deleted = store.amend(moderated).await.unwrap();
    assert!(
        deleted.target.deleted
            && deleted.target.body.is_empty()
            && deleted.target.reactions.is_empty()
    );
    let err = store
        .amend(amend(&acme, &id, &ann, 2, Change::Edit { body: "back".into() }, "e-9"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "editing a deleted message: {err:?}");

    // History shows current state; the sink got every event once, in seq order.
    let page = store.history(&acme, &id, HistoryRange::After(0), 50).await.unwrap();
    let seqs: Vec<Seq> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert_eq!(page.messages[0].body, "fixed");
    assert!(page.messages[1].deleted);
    assert_eq!(sink.seqs(&id), seqs);

    let err = store.amend(amend(&acme, &id, &ann, 99, Change::Delete, "x-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err =
        store.amend(amend(&tenant("evil"), &id, &ann, 1, Change::Delete, "x-2")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "another tenant: {err:?}");
}
