//! The suite every [`Store`] implementation must pass. It tries hard to break the contract in
//! `lib.rs`: idempotency under races, gapless seqs under concurrent senders, the commit sink's
//! order, paging edges, tenant isolation, and failures that must not take others down.
//!
//! A backend runs it from an integration test with a factory that opens a fresh, empty store
//! around the given sink (SQLite: a temp dir per store; PostgreSQL: a fresh schema):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
//! # fn open_fresh_store(sink: Arc<dyn chinwag_store::CommitSink>) -> SqliteStore {
//! #     let dir = std::env::temp_dir().join(ulid_like());
//! #     SqliteStore::open(&dir, SqliteOptions::default(), sink).expect("open")
//! # }
//! # fn ulid_like() -> String { format!("chinwag-doc-{}", std::process::id()) }
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn conformance() {
//!     chinwag_store::conformance::run_all(|sink| async move { open_fresh_store(sink) }).await;
//! }
//! ```
//!
//! Run it on a multi-threaded runtime: the races are only real with more than one worker.
//!
//! # Layout
//! - `fixtures.rs`: the recording sink and input builders.
//! - One file per area: `accounts`, `conversations`, `members`, `appends` (idempotency, seq,
//!   sink order, failure isolation), `history`, `listing` (list, views, memberships, read
//!   positions), `live` (receipts, drafts, last seen, co-members), `lifecycle` (replies,
//!   edits, deletes, reactions), `isolation` (tenants),
//!   `hostile` (odd input).

mod accounts;
mod appends;
mod conversations;
mod fixtures;
mod history;
mod hostile;
mod isolation;
mod lifecycle;
mod listing;
mod live;
mod members;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use fixtures::RecordingSink;

use crate::{CommitSink, Store};

/// One case's future.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One case: it gets a fresh, empty store and the sink that store was opened with.
pub type Case = fn(Arc<dyn Store>, Arc<RecordingSink>) -> CaseFuture;

fn boxed(case: impl Future<Output = ()> + Send + 'static) -> CaseFuture {
    Box::pin(case)
}

macro_rules! cases {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path), (|s, k| boxed($path(s, k))) as Case)),*]
    };
}

/// Every case with its name, so a backend can also run them one by one.
pub fn cases() -> Vec<(&'static str, Case)> {
    cases![
        accounts::create_and_conflict,
        accounts::concurrent_same_username,
        conversations::create_and_load,
        conversations::direct_key_is_unique,
        conversations::concurrent_direct_creates,
        members::add_remove_and_roles,
        appends::stores_and_summarizes,
        appends::missing_conversation,
        appends::retries_are_idempotent,
        appends::concurrent_retries_store_once,
        appends::concurrent_senders_get_gapless_seqs,
        appends::sink_order_across_conversations,
        appends::failures_do_not_poison_others,
        history::pages_cover_everything_once,
        history::edges,
        listing::mark_read_is_forward_only_and_clamped,
        listing::list_order_and_cursor,
        listing::views_and_memberships,
        live::receipts_only_move_forward_and_read_implies_delivered,
        live::drafts_are_versioned_and_cleared_by_sending,
        live::last_seen_and_co_members,
        lifecycle::replies_point_at_existing_messages,
        lifecycle::edits_deletes_and_reactions_are_events_with_their_own_seq,
        isolation::other_tenant_sees_nothing,
        hostile::odd_input_round_trips,
    ]
}

/// Runs every case, each on a store from `make(sink)`. Panics (failing the test) at the first
/// broken rule, after printing which case it was.
pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn(Arc<dyn CommitSink>) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    for (name, case) in cases() {
        eprintln!("conformance: {name}");
        let sink = Arc::new(RecordingSink::default());
        let store: Arc<dyn Store> = Arc::new(make(sink.clone()).await);
        case(store, sink).await;
    }
}
