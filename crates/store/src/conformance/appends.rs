//! Appends: G2 (idempotent sends), G3 (gapless seq under concurrency), the commit sink's
//! order, and failures that must stay local to their own request.

use std::collections::BTreeMap;
use std::sync::Arc;

use chinwag_proto::ids::ConversationId;
use serde_json::json;

use super::fixtures::{RecordingSink, T0, append_n, create, group, tenant, text, ulid, user};
use crate::{Account, HistoryRange, Store, StoreError};

pub(super) async fn stores_and_summarizes(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;

    let mut offer = text(&acme, &id, &ben, "c-2", "an offer", T0 + 20);
    offer.kind = "offer".into();
    offer.payload = Some(json!({"amount": 3, "nested": [1, "x", null, 2.5], "note": "ñ ✓"}));
    let inputs = [
        text(&acme, &id, &ann, "c-1", "hello", T0 + 10),
        offer,
        text(&acme, &id, &ann, "c-3", "", T0 + 30),
    ];
    let mut stored = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let appended = store.append(input.clone()).await.expect("append");
        assert!(!appended.duplicate);
        let m = &appended.message;
        assert_eq!(m.seq, i as u64 + 1, "seqs start at 1 and go up by one");
        assert_eq!(
            (&m.id, &m.conversation_id, &m.sender, &m.client_msg_id),
            (&input.id, &input.conversation_id, &input.sender, &input.client_msg_id)
        );
        assert_eq!((&m.kind, &m.body, &m.payload), (&input.kind, &input.body, &input.payload));
        assert_eq!(m.created_at, input.created_at);
        stored.push(appended.message);
    }

    let record = store.conversation(&acme, &id).await.unwrap().expect("conversation");
    assert_eq!(record.last_seq, 3);
    assert_eq!(record.last_activity, T0 + 30, "activity follows the newest message");
    let page = store.history(&acme, &id, HistoryRange::Latest, 50).await.unwrap();
    assert_eq!(page.messages, stored, "history returns exactly what append returned");
    assert!(!page.has_more);

    let seen = sink.all();
    assert_eq!(seen.len(), 3, "the sink gets each new message once");
    assert!(seen.iter().all(|(t, _)| *t == acme), "with its tenant");
    assert_eq!(seen.into_iter().map(|(_, m)| m).collect::<Vec<_>>(), stored);
}

pub(super) async fn missing_conversation(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let missing = ConversationId::new("no-such-conversation");
    let err = store.append(text(&acme, &missing, &user("ann"), "c-1", "hi", T0)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "append to a missing conversation: {err:?}");
    assert!(sink.all().is_empty(), "nothing reaches the sink");
}

pub(super) async fn retries_are_idempotent(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let (ann, ben) = (user("ann"), user("ben"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    let other = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;

    let original = store.append(text(&acme, &id, &ann, "c-1", "first", T0 + 1)).await.unwrap();
    assert!(!original.duplicate);

    // The retry carries a new server id and even another body: the original comes back.
    let retry = store.append(text(&acme, &id, &ann, "c-1", "changed", T0 + 2)).await.unwrap();
    assert!(retry.duplicate, "the same (sender, client_msg_id) is a retry");
    assert_eq!(retry.message, original.message, "a retry returns the original, id and seq");
    assert_eq!(sink.all().len(), 1, "a duplicate is not handed to the sink");

    // The key is (conversation, sender, client_msg_id): change any part and it is a new message.
    let by_ben = store.append(text(&acme, &id, &ben, "c-1", "ben's", T0 + 3)).await.unwrap();
    assert!(!by_ben.duplicate, "another sender's c-1 is another message");
    assert_eq!(by_ben.message.seq, 2);
    let elsewhere = store.append(text(&acme, &other, &ann, "c-1", "there", T0 + 4)).await.unwrap();
    assert!(!elsewhere.duplicate, "c-1 in another conversation is another message");
    assert_eq!(elsewhere.message.seq, 1);
    assert_ne!(elsewhere.message.id, original.message.id);

    // Still a retry after other messages went in.
    let late = store.append(text(&acme, &id, &ann, "c-1", "late", T0 + 5)).await.unwrap();
    assert!(late.duplicate);
    assert_eq!(late.message, original.message);

    let page = store.history(&acme, &id, HistoryRange::Latest, 50).await.unwrap();
    assert_eq!(page.messages.len(), 2, "one row per distinct send");
    assert_eq!(sink.all().len(), 3);
}

pub(super) async fn concurrent_retries_store_once(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let ann = user("ann");
    let id = create(&store, group(&acme, &ann, &[], T0)).await.id;

    // Twenty copies of one send at once (a client retrying over several connections), mixed
    // with other sends, so retries land in the same batch as their original.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let cmid = if i % 2 == 0 { "c-race".to_owned() } else { format!("c-{i}") };
            let m = text(&acme, &id, &ann, &cmid, &format!("copy {i}"), T0 + i);
            tokio::spawn(async move { (i % 2 == 0, store.append(m).await) })
        })
        .collect();
    let mut copies = Vec::new();
    for task in tasks {
        let (is_copy, result) = task.await.expect("task");
        let appended = result.expect("append");
        if is_copy {
            copies.push(appended);
        } else {
            assert!(!appended.duplicate);
        }
    }
    let originals: Vec<_> = copies.iter().filter(|a| !a.duplicate).collect();
    assert_eq!(originals.len(), 1, "exactly one copy is stored, the rest are duplicates");
    let original = &originals[0].message;
    assert!(copies.iter().all(|a| a.message == *original), "every copy gets the original");

    let page = store.history(&acme, &id, HistoryRange::Latest, 100).await.unwrap();
    assert_eq!(page.messages.len(), 21);
    let seqs: Vec<_> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>());
    assert_eq!(sink.seqs(&id), seqs, "the sink saw each stored message once, in seq order");
}

pub(super) async fn concurrent_senders_get_gapless_seqs(
    store: Arc<dyn Store>,
    sink: Arc<RecordingSink>,
) {
    const SENDERS: u64 = 20;
    const EACH: u64 = 25;
    let acme = tenant("acme");
    let owner = user("owner");
    let id = create(&store, group(&acme, &owner, &[], T0)).await.id;

    let tasks: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (store, acme, id) = (store.clone(), acme.clone(), id.clone());
            tokio::spawn(async move {
                let sender = user(&format!("sender-{s}"));
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let m = text(&acme, &id, &sender, &format!("{s}-{i}"), "hi", T0 + i as i64);
                    seqs.push(store.append(m).await.expect("append").message.seq);
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("task");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one sender's messages keep their order");
        all.extend(seqs);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (1..=SENDERS * EACH).collect();
    assert_eq!(all, expected, "seqs are exactly 1..=N: no gaps, no repeats");
    assert_eq!(sink.seqs(&id), expected, "the sink saw every message once, in seq order");
    let record = store.conversation(&acme, &id).await.unwrap().expect("conversation");
    assert_eq!(record.last_seq, SENDERS * EACH);
}

pub(super) async fn sink_order_across_conversations(
    store: Arc<dyn Store>,
    sink: Arc<RecordingSink>,
) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let ann = user("ann");
    let mut conversations = Vec::new();
    for i in 0..6 {
        let t = if i % 2 == 0 { &acme } else { &globex };
        conversations.push((t.clone(), create(&store, group(t, &ann, &[], T0)).await.id));
    }
    let conversations = Arc::new(conversations);
    let tasks: Vec<_> = (0..10)
        .map(|task| {
            let (store, conversations, ann) = (store.clone(), conversations.clone(), ann.clone());
            tokio::spawn(async move {
                for i in 0..30 {
                    let (t, id) = &conversations[(task + i) % conversations.len()];
                    let m = text(t, id, &ann, &format!("{task}-{i}"), "hi", T0);
                    store.append(m).await.expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let mut per_conversation: BTreeMap<ConversationId, Vec<u64>> = BTreeMap::new();
    for (t, m) in sink.all() {
        let owner = conversations.iter().find(|(_, id)| *id == m.conversation_id);
        assert_eq!(owner.map(|(ct, _)| ct), Some(&t), "the sink is told the right tenant");
        per_conversation.entry(m.conversation_id).or_default().push(m.seq);
    }
    assert_eq!(per_conversation.values().map(Vec::len).sum::<usize>(), 300);
    for (t, id) in conversations.iter() {
        let seqs = per_conversation.get(id).cloned().unwrap_or_default();
        let last = store.conversation(t, id).await.unwrap().expect("conversation").last_seq;
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "sink order for {id}");
    }
}

/// Requests that fail (missing conversation, taken username) share batches with ones that
/// succeed; only they may fail.
pub(super) async fn failures_do_not_poison_others(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let ann = user("ann");
    let id = create(&store, group(&acme, &ann, &[], T0)).await.id;
    let taken = Account {
        tenant: acme.clone(),
        user_id: user("u-taken"),
        username: "taken".into(),
        password_hash: "h".into(),
        name: None,
    };
    store.create_account(taken.clone()).await.expect("create_account");

    for round in 0..3 {
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let (store, acme, id, ann) = (store.clone(), acme.clone(), id.clone(), ann.clone());
                let taken = Account { user_id: user(&format!("u-{round}-{i}")), ..taken.clone() };
                tokio::spawn(async move {
                    match i % 3 {
                        0 => {
                            let missing = ConversationId::new(ulid());
                            let m = text(&acme, &missing, &ann, "c", "x", T0);
                            matches!(store.append(m).await, Err(StoreError::NotFound(_)))
                        }
                        1 => matches!(
                            store.create_account(taken).await,
                            Err(StoreError::Conflict(_))
                        ),
                        _ => {
                            let m = text(&acme, &id, &ann, &format!("{round}-{i}"), "ok", T0);
                            store.append(m).await.is_ok_and(|a| !a.duplicate)
                        }
                    }
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert!(
                task.await.expect("task"),
                "request {i} of round {round} got the wrong outcome"
            );
        }
    }
    let page = store.history(&acme, &id, HistoryRange::Latest, 100).await.unwrap();
    let seqs: Vec<_> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "every good append stored, gapless");
    assert_eq!(sink.seqs(&id), seqs);
    assert_eq!(sink.all().len(), 30, "failed appends reach no sink");
    assert_eq!(
        store.account_by_username(&acme, "taken").await.unwrap().map(|a| a.user_id),
        Some(user("u-taken"))
    );
    // A conversation's own later appends are unaffected.
    let more = append_n(&store, &acme, &id, &ann, 2).await;
    assert_eq!(more.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![31, 32]);
}
