//! Live conversation state: delivery and read watermarks, drafts, last seen, co-members.

use std::sync::Arc;

use super::fixtures::{RecordingSink, T0, append_n, create, group, tenant, text, user};
use crate::{Draft, DraftSave, Receipt, Store, StoreError, Watermarks};

pub(super) async fn receipts_only_move_forward_and_read_implies_delivered(
    store: Arc<dyn Store>,
    _: Arc<RecordingSink>,
) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    append_n(&store, &acme, &id, &ann, 6).await;
    let w = |delivered_seq, read_seq, changed| Watermarks {
        delivered_seq,
        read_seq,
        last_seq: 6,
        changed,
    };

    let steps = [
        (Receipt::Delivered, 2, w(2, 0, true)),
        (Receipt::Delivered, 1, w(2, 0, false)), // never backwards
        (Receipt::Delivered, 2, w(2, 0, false)), // nothing new
        (Receipt::Read, 4, w(4, 4, true)),       // read implies delivered
        (Receipt::Delivered, 3, w(4, 4, false)),
        (Receipt::Delivered, 99, w(6, 4, true)), // clamped to last_seq
        (Receipt::Read, 1, w(6, 4, false)),
    ];
    for (receipt, seq, want) in steps {
        assert_eq!(
            store.mark(&acme, &id, &ben, receipt, seq).await.unwrap(),
            want,
            "{receipt:?} {seq}"
        );
    }
    let record = store.conversation(&acme, &id).await.unwrap().expect("record");
    let positions: Vec<_> = record
        .members
        .iter()
        .map(|m| (m.user_id.as_str().to_owned(), m.delivered_seq, m.read_seq))
        .collect();
    assert_eq!(
        positions,
        [("ann".to_owned(), 6, 6), ("ben".to_owned(), 6, 4)],
        "a sender has its own messages"
    );

    let err = store.mark(&acme, &id, &user("stranger"), Receipt::Delivered, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.mark(&tenant("evil"), &id, &ben, Receipt::Read, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "another tenant: {err:?}");
}

pub(super) async fn drafts_are_versioned_and_cleared_by_sending(
    store: Arc<dyn Store>,
    _: Arc<RecordingSink>,
) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    assert_eq!(store.draft(&acme, &id, &ann).await.unwrap(), None);

    let saved = store.save_draft(&acme, &id, &ann, 0, "hel".into(), T0 + 1).await.unwrap();
    assert_eq!(
        saved,
        DraftSave::Saved(Draft { version: 1, body: "hel".into(), updated_at: T0 + 1 })
    );
    let saved = store.save_draft(&acme, &id, &ann, 1, "hello".into(), T0 + 2).await.unwrap();
    assert_eq!(
        saved,
        DraftSave::Saved(Draft { version: 2, body: "hello".into(), updated_at: T0 + 2 })
    );
    // A second device still on version 1 loses, and learns the current draft.
    let stale = store.save_draft(&acme, &id, &ann, 1, "help".into(), T0 + 3).await.unwrap();
    assert_eq!(
        stale,
        DraftSave::Conflict(Draft { version: 2, body: "hello".into(), updated_at: T0 + 2 })
    );
    let never = store.save_draft(&acme, &id, &ben, 3, "x".into(), T0 + 3).await.unwrap();
    assert_eq!(
        never,
        DraftSave::Conflict(Draft { version: 0, body: String::new(), updated_at: 0 })
    );
    assert_eq!(store.draft(&acme, &id, &ben).await.unwrap(), None, "each user has their own");

    // Sending clears the sender's draft as a new version; a duplicate send clears nothing.
    let sent = store.append(text(&acme, &id, &ann, "c-1", "hello", T0 + 10)).await.unwrap();
    assert_eq!(
        sent.draft_cleared,
        Some(Draft { version: 3, body: String::new(), updated_at: T0 + 10 })
    );
    let again = store.append(text(&acme, &id, &ann, "c-1", "hello", T0 + 11)).await.unwrap();
    assert_eq!((again.duplicate, again.draft_cleared), (true, None));
    let next = store.append(text(&acme, &id, &ann, "c-2", "more", T0 + 12)).await.unwrap();
    assert_eq!(next.draft_cleared, None, "an empty draft is not cleared again");
    assert_eq!(store.draft(&acme, &id, &ann).await.unwrap().map(|d| d.version), Some(3));

    let err = store.save_draft(&acme, &id, &user("stranger"), 0, "x".into(), T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.draft(&tenant("evil"), &id, &ann).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "another tenant: {err:?}");
}

pub(super) async fn last_seen_and_co_members(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let (acme, evil) = (tenant("acme"), tenant("evil"));
    let (ann, ben, cat, dan) = (user("ann"), user("ben"), user("cat"), user("dan"));
    create(&store, group(&acme, &ann, &[&ben], T0)).await;
    create(&store, group(&acme, &ann, &[&ben, &cat], T0)).await;
    create(&store, group(&evil, &ann, &[&dan], T0)).await;
    let co = store.co_members(&acme, &ann).await.unwrap();
    assert_eq!(co, [ben.clone(), cat.clone()], "each once, only this tenant");
    assert_eq!(store.co_members(&acme, &cat).await.unwrap(), [ann.clone(), ben.clone()]);
    assert!(store.co_members(&acme, &dan).await.unwrap().is_empty());

    store.set_last_seen(&acme, &ben, T0 + 5).await.unwrap();
    store.set_last_seen(&acme, &ben, T0 + 3).await.unwrap(); // never backwards
    store.set_last_seen(&evil, &cat, T0 + 9).await.unwrap();
    let seen = store.last_seen(&acme, &[ben.clone(), cat.clone()]).await.unwrap();
    assert_eq!(seen, [(ben, T0 + 5)], "cat was seen only in another tenant");
}
