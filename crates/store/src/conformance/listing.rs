//! What a member sees of their conversations: the list and its cursor, single views,
//! memberships, and read positions.

use std::sync::Arc;

use chinwag_proto::ids::{ConversationId, Millis, Seq, TenantId, UserId};

use super::fixtures::{RecordingSink, T0, append_n, create, group, normalized, tenant, text, user};
use crate::{ConversationView, ListCursor, Store, StoreError};

pub(super) async fn mark_read_is_forward_only_and_clamped(
    store: Arc<dyn Store>,
    _: Arc<RecordingSink>,
) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;

    assert_eq!(store.mark_read(&acme, &id, &ann, 0).await.unwrap(), (0, 0));
    assert_eq!(store.mark_read(&acme, &id, &ann, 5).await.unwrap(), (0, 0), "clamped to last_seq");
    append_n(&store, &acme, &id, &ben, 5).await;
    let ben_view = store.conversation_view(&acme, &ben, &id).await.unwrap().expect("view");
    assert_eq!(ben_view.read_seq, 5, "a sender has read their own messages");
    let ann_view = store.conversation_view(&acme, &ann, &id).await.unwrap().expect("view");
    assert_eq!(ann_view.read_seq, 0, "each member has their own position");

    let steps: [(Seq, (Seq, Seq)); 6] = [
        (3, (3, 5)),
        (2, (3, 5)), // never backwards
        (0, (3, 5)),
        (100, (5, 5)), // clamped
        (Seq::MAX, (5, 5)),
        (4, (5, 5)),
    ];
    for (seq, want) in steps {
        assert_eq!(store.mark_read(&acme, &id, &ann, seq).await.unwrap(), want, "mark_read({seq})");
    }
    let view = store.conversation_view(&acme, &ann, &id).await.unwrap().expect("view");
    assert_eq!(view.read_seq, 5);

    let err = store.mark_read(&acme, &id, &user("stranger"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "mark_read by a non-member: {err:?}");
    let missing = ConversationId::new("no-such-conversation");
    let err = store.mark_read(&acme, &missing, &ann, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "mark_read in a missing conversation: {err:?}");
}

/// `(last_activity, id)` of every view, the list's sort key.
fn keys(views: &[ConversationView]) -> Vec<(Millis, ConversationId)> {
    views.iter().map(|v| (v.record.last_activity, v.record.id.clone())).collect()
}

async fn list_all(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    who: &UserId,
    page_size: u32,
) -> Vec<ConversationView> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_conversations(tenant, who, cursor.clone(), page_size).await.unwrap();
        assert!(page.len() <= page_size as usize, "a page holds at most `limit`");
        let Some(last) = page.last() else { break };
        // A cursor that does not move past its own row would loop forever: fail instead.
        let key = (last.record.last_activity, last.record.id.clone());
        assert!(
            cursor
                .as_ref()
                .is_none_or(|c: &ListCursor| (c.last_activity, c.conversation_id.clone()) > key),
            "a page after the cursor must hold only older rows"
        );
        cursor = Some(ListCursor {
            last_activity: last.record.last_activity,
            conversation_id: last.record.id.clone(),
        });
        all.extend(page);
    }
    all
}

pub(super) async fn list_order_and_cursor(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    // Created at T0, T0+1, ... but two share a timestamp, so the id breaks the tie.
    let mut ids = Vec::new();
    for at in [0, 1, 2, 3, 3, 4] {
        ids.push(create(&store, group(&acme, &ann, &[&ben], T0 + at)).await.id);
    }
    // Ann is in none of these: they must not show up in her list.
    create(&store, group(&acme, &ben, &[], T0 + 50)).await;
    // Activity moves the oldest conversation to the top.
    let newest = text(&acme, &ids[0], &ben, "c-1", "newest", T0 + 100);
    let newest = store.append(newest).await.unwrap().message;
    let older = text(&acme, &ids[2], &ben, "c-1", "older", T0 + 90);
    let older = store.append(older).await.unwrap().message;
    store.mark_read(&acme, &ids[2], &ann, 1).await.unwrap();

    let all = store.list_conversations(&acme, &ann, None, 100).await.unwrap();
    assert_eq!(all.len(), 6, "exactly ann's conversations");
    let mut want = keys(&all);
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys(&all), want, "ordered by (last_activity, id) descending");
    assert_eq!(all[0].record.id, ids[0]);
    assert_eq!(all[0].last_message.as_ref(), Some(&newest));
    assert_eq!(all[1].record.id, ids[2]);
    assert_eq!(all[1].last_message.as_ref(), Some(&older));
    assert_eq!(all[1].read_seq, 1);
    assert!(all[2..].iter().all(|v| v.last_message.is_none() && v.read_seq == 0));
    for v in &all {
        let record = store.conversation(&acme, &v.record.id).await.unwrap().expect("record");
        assert_eq!(normalized(v.record.clone()), normalized(record), "list rows are full records");
    }

    // Pages of any size cover the list exactly once, in order.
    for size in [1, 2, 4, 5] {
        assert_eq!(keys(&list_all(&store, &acme, &ann, size).await), keys(&all), "pages of {size}");
    }
    assert!(store.list_conversations(&acme, &ann, None, 0).await.unwrap().is_empty());
    let past_the_end =
        ListCursor { last_activity: Millis::MIN, conversation_id: ConversationId::new("") };
    assert!(
        store.list_conversations(&acme, &ann, Some(past_the_end), 10).await.unwrap().is_empty()
    );
    assert!(store.list_conversations(&acme, &user("nobody"), None, 10).await.unwrap().is_empty());
}

pub(super) async fn views_and_memberships(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let a = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    let b = create(&store, group(&acme, &ann, &[], T0 + 1)).await.id;
    let sent = append_n(&store, &acme, &a, &ben, 3).await;

    let view = store.conversation_view(&acme, &ann, &a).await.unwrap().expect("ann's view");
    let record = store.conversation(&acme, &a).await.unwrap().expect("record");
    assert_eq!(normalized(view.record), normalized(record));
    assert_eq!(view.last_message.as_ref(), sent.last());
    assert_eq!(view.read_seq, 0);
    assert_eq!(store.conversation_view(&acme, &ben, &b).await.unwrap(), None, "not a member");
    let missing = ConversationId::new("no-such-conversation");
    assert_eq!(store.conversation_view(&acme, &ann, &missing).await.unwrap(), None);

    let mut got = store.memberships(&acme, &ann).await.unwrap();
    got.sort();
    let last_activity = sent.last().map(|m| m.created_at.max(T0)).unwrap_or(T0);
    let mut want = vec![(a.clone(), 3, last_activity), (b.clone(), 0, T0 + 1)];
    want.sort();
    assert_eq!(got, want, "(id, last_seq, last_activity) of each conversation");
    assert_eq!(store.memberships(&acme, &ben).await.unwrap().len(), 1);

    assert!(store.remove_member(&acme, &a, &ann).await.unwrap());
    let ids: Vec<_> =
        store.memberships(&acme, &ann).await.unwrap().into_iter().map(|m| m.0).collect();
    assert_eq!(ids, vec![b], "a removed member loses the membership");
    assert_eq!(store.conversation_view(&acme, &ann, &a).await.unwrap(), None);
}
