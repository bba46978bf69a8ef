//! The suite every [`Store`] implementation must pass. It tries hard to break the contract in
//! `lib.rs`: idempotency under races, gapless seqs under concurrent senders, the commit sink's
//! order, paging edges, tenant isolation, and failures that must not take others down.
//!
//! A backend runs it from an integration test with a function that opens a fresh, empty store
//! around the given sink (SQLite: a temp dir per store; PostgreSQL: a fresh schema), returning
//! the store and whatever must live as long as it; the macro makes one test per case:
//!
//! ```no_run
//! # use std::sync::Arc;
//! use chinwag_store::CommitSink;
//! use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
//!
//! async fn open(sink: Arc<dyn CommitSink>) -> (SqliteStore, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().expect("tempdir");
//!     (SqliteStore::open(dir.path(), SqliteOptions::default(), sink).expect("open"), dir)
//! }
//!
//! chinwag_store::store_conformance_tests!(open);
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
pub mod postgres;

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

/// Calls `$callback!` with every case as `module::function` pairs: the one list of cases, which
/// [`cases`] and [`store_conformance_tests!`](crate::store_conformance_tests) expand.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
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
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_list {
    (() $($module:ident :: $case:ident),* $(,)?) => {
        vec![$((
            concat!(stringify!($module), "::", stringify!($case)),
            (|s, k| boxed($module::$case(s, k))) as Case,
        )),*]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    (($open:path, $available:path) $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if !$available() {
                    return;
                }
                $crate::conformance::run_one(
                    concat!(stringify!($module), "::", stringify!($case)),
                    $open,
                )
                .await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per case of the suite, each on a fresh store from `$open`
/// (an `async fn(Arc<dyn CommitSink>) -> (S, G)` where `S: Store` and `G` is kept until the case
/// ends: a temp dir, a guard that drops a schema). Use it inside a module per backend, as Zed's
/// `test_both_dbs!`: every backend runs the same cases, and each case is its own test.
///
/// `store_conformance_tests!(open, if = available)` runs a case only when `available()` is
/// true: for a backend that needs a service, which `available` looks for (and says so on stderr
/// when it is not configured; a configured but unreachable service must fail in `open`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($open:path) => {
        $crate::__store_conformance_cases!(__store_conformance_tests!(
            $open,
            $crate::conformance::always
        ));
    };
    ($open:path, if = $available:path) => {
        $crate::__store_conformance_cases!(__store_conformance_tests!($open, $available));
    };
}

/// The precondition of a backend that needs nothing.
#[doc(hidden)]
pub fn always() -> bool {
    true
}

/// Every case with its name (`module::function`), so a backend can also run them one by one.
pub fn cases() -> Vec<(&'static str, Case)> {
    crate::__store_conformance_cases!(__store_conformance_list!())
}

/// Runs the case called `name` on a store from `open(sink)`, keeping the guard that `open`
/// returned alive until the case has ended (also when it panics). Panics if there is no such
/// case.
pub async fn run_one<F, Fut, S, G>(name: &str, open: F)
where
    F: FnOnce(Arc<dyn CommitSink>) -> Fut,
    Fut: Future<Output = (S, G)>,
    S: Store,
{
    let Some((_, case)) = cases().into_iter().find(|(n, _)| *n == name) else {
        panic!("no conformance case called {name}");
    };
    let sink = Arc::new(RecordingSink::default());
    let (store, guard) = open(sink.clone()).await;
    let store: Arc<dyn Store> = Arc::new(store);
    case(store, sink).await;
    drop(guard);
}
