//! History pages: ascending seq, the right window for each range, an honest `has_more`.

use std::sync::Arc;

use chinwag_proto::ids::{ConversationId, Seq, TenantId};

use super::fixtures::{RecordingSink, T0, append_n, create, group, tenant, user};
use crate::{HistoryPage, HistoryRange, Store, StoreError};

const COUNT: u64 = 57;

async fn page(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &ConversationId,
    range: HistoryRange,
    limit: u32,
) -> (Vec<Seq>, bool) {
    let HistoryPage { messages, has_more } =
        store.history(tenant, id, range, limit).await.expect("history");
    (messages.iter().map(|m| m.seq).collect(), has_more)
}

fn seqs(range: std::ops::RangeInclusive<Seq>) -> Vec<Seq> {
    range.collect()
}

pub(super) async fn pages_cover_everything_once(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let ann = user("ann");
    let id = create(&store, group(&acme, &ann, &[], T0)).await.id;
    let stored = append_n(&store, &acme, &id, &ann, COUNT).await;

    // Backwards from the newest page, as a client scrolling up.
    let (mut newest, mut more) = page(&store, &acme, &id, HistoryRange::Latest, 10).await;
    assert_eq!(newest, seqs(48..=57), "Latest is the newest `limit`, ascending");
    assert!(more);
    let mut backwards = newest.clone();
    while more {
        let Some(&first) = newest.first() else { panic!("has_more with an empty page") };
        (newest, more) = page(&store, &acme, &id, HistoryRange::Before(first), 10).await;
        assert!(newest.windows(2).all(|w| w[0] + 1 == w[1]), "ascending and contiguous");
        assert!(newest.last().is_some_and(|l| *l + 1 == first), "adjacent to the previous page");
        backwards.splice(0..0, newest.iter().copied());
    }
    assert_eq!(backwards, seqs(1..=COUNT), "paging back covers everything exactly once");

    // Forwards from the start, as a device catching up.
    let mut forwards: Vec<Seq> = Vec::new();
    let mut after = 0;
    loop {
        let (got, more) = page(&store, &acme, &id, HistoryRange::After(after), 10).await;
        assert!(got.first().is_none_or(|f| *f == after + 1), "starts right after the bound");
        forwards.extend(got.iter().copied());
        match got.last() {
            Some(last) if more => after = *last,
            _ => {
                assert!(!more, "has_more with an empty page");
                break;
            }
        }
    }
    assert_eq!(forwards, seqs(1..=COUNT), "paging forward covers everything exactly once");

    // The pages hold the stored messages themselves.
    let full = store.history(&acme, &id, HistoryRange::After(0), 1000).await.unwrap();
    assert_eq!(full.messages, stored);
    assert!(!full.has_more);
}

pub(super) async fn edges(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let ann = user("ann");
    let id = create(&store, group(&acme, &ann, &[], T0)).await.id;
    assert_eq!(page(&store, &acme, &id, HistoryRange::Latest, 10).await, (vec![], false));
    assert_eq!(page(&store, &acme, &id, HistoryRange::After(0), 10).await, (vec![], false));
    append_n(&store, &acme, &id, &ann, COUNT).await;

    let cases = [
        // A page that exactly fits, or more than fits, has nothing more.
        (HistoryRange::Latest, 57, seqs(1..=57), false),
        (HistoryRange::Latest, 100, seqs(1..=57), false),
        (HistoryRange::After(47), 10, seqs(48..=57), false),
        (HistoryRange::After(46), 10, seqs(47..=56), true),
        (HistoryRange::Before(11), 10, seqs(1..=10), false),
        (HistoryRange::Before(12), 10, seqs(2..=11), true),
        // Nothing beyond the ends.
        (HistoryRange::After(57), 10, vec![], false),
        (HistoryRange::After(56), 10, vec![57], false),
        (HistoryRange::Before(1), 10, vec![], false),
        (HistoryRange::Before(0), 10, vec![], false),
        (HistoryRange::Before(2), 10, vec![1], false),
        // Bounds past the end are harmless.
        (HistoryRange::Before(1000), 5, seqs(53..=57), true),
        (HistoryRange::Before(Seq::MAX), 5, seqs(53..=57), true),
        (HistoryRange::After(Seq::MAX), 5, vec![], false),
        // limit 0: an empty page that still says whether there is more.
        (HistoryRange::Latest, 0, vec![], true),
        (HistoryRange::After(57), 0, vec![], false),
        (HistoryRange::Before(1), 0, vec![], false),
    ];
    for (range, limit, want, want_more) in cases {
        let got = page(&store, &acme, &id, range, limit).await;
        assert_eq!(got, (want, want_more), "history({range:?}, limit {limit})");
    }
    let huge = page(&store, &acme, &id, HistoryRange::Latest, u32::MAX).await;
    assert_eq!(huge, (seqs(1..=57), false));

    let missing = ConversationId::new("no-such-conversation");
    let err = store.history(&acme, &missing, HistoryRange::Latest, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "history of a missing conversation: {err:?}");
}
