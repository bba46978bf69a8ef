//! The conformance suite against SQLite, plus what only a file-backed store has: durability
//! across reopen, migrations, the WAL's bound, and shutdown.

use std::path::Path;
use std::sync::Arc;

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Message, Role};
use chinwag_store::conformance::RecordingSink;
use chinwag_store::sqlite::{DATABASE_FILE, SCHEMA_VERSION, SqliteOptions, SqliteStore};
use chinwag_store::{
    CommitSink, HistoryRange, NewConversation, NewMessage, NoSink, Store, StoreError,
};

fn open(dir: &Path, sink: Arc<dyn CommitSink>) -> SqliteStore {
    SqliteStore::open(dir, SqliteOptions::default(), sink).expect("open")
}

fn tenant() -> TenantId {
    TenantId::new("acme")
}

fn conversation(id: &str) -> NewConversation {
    NewConversation {
        id: ConversationId::new(id),
        tenant: tenant(),
        kind: ConversationKind::Group,
        subject: None,
        title: None,
        created_by: UserId::new("ann"),
        created_at: 1,
        members: vec![(UserId::new("ann"), Role::Owner)],
        direct_key: None,
    }
}

fn message(conversation: &str, client_msg_id: &str) -> NewMessage {
    NewMessage {
        tenant: tenant(),
        conversation_id: ConversationId::new(conversation),
        id: MessageId::new(format!("m-{client_msg_id}")),
        sender: UserId::new("ann"),
        client_msg_id: ClientMsgId::new(client_msg_id),
        kind: "text".into(),
        body: format!("body of {client_msg_id}"),
        payload: None,
        created_at: 2,
        reply_to: None,
    }
}

/// Appends `n` messages from concurrent tasks, so they share batches.
async fn append_concurrently(store: &Arc<SqliteStore>, conversation: &str, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            let m = message(conversation, &format!("c-{i}"));
            tokio::spawn(async move { store.append(m).await })
        })
        .collect();
    for task in tasks {
        assert!(!task.await.expect("task").expect("append").duplicate);
    }
}

fn user_version(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(DATABASE_FILE)).expect("open raw");
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version")
}

/// A fresh store in its own directory, kept until the case ends.
async fn fresh(sink: Arc<dyn CommitSink>) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    (open(dir.path(), sink), dir)
}

mod conformance_suite {
    chinwag_store::store_conformance_tests!(super::fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), Arc::new(NoSink)));
    store.create_conversation(conversation("c")).await.unwrap();
    append_concurrently(&store, "c", 300).await;
    store.close().await;

    let sink = Arc::new(RecordingSink::default());
    let store = Arc::new(open(dir.path(), sink.clone()));
    let c = ConversationId::new("c");
    let page = store.history(&tenant(), &c, HistoryRange::After(0), 1000).await.unwrap();
    let seqs: Vec<_> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());

    // Seqs continue, and a retry of a send from before the restart is still a retry (G2).
    let next = store.append(message("c", "after-restart")).await.unwrap();
    assert_eq!(next.message.seq, 301);
    let retry = store.append(message("c", "c-7")).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.message.body, "body of c-7");
    let sent: Vec<Message> = sink.all().into_iter().map(|(_, m)| m).collect();
    assert_eq!(sent, vec![next.message]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_close_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), Arc::new(NoSink)));
    store.create_conversation(conversation("c")).await.unwrap();
    append_concurrently(&store, "c", 50).await;
    drop(store);

    let store = open(dir.path(), Arc::new(NoSink));
    let record = store.conversation(&tenant(), &ConversationId::new("c")).await.unwrap();
    assert_eq!(record.map(|r| r.last_seq), Some(50));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = open(dir.path(), Arc::new(NoSink));
        store.ping().await.unwrap();
        store.close().await;
        assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), Arc::new(NoSink)).close().await;
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);

    let err = SqliteStore::open(dir.path(), SqliteOptions::default(), Arc::new(NoSink))
        .expect_err("a database from a newer build must be refused");
    assert!(matches!(&err, StoreError::Backend(m) if m.contains("newer")), "{err:?}");
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION + 1, "and left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(NoSink));
    store.create_conversation(conversation("c")).await.unwrap();
    store.close().await;
    store.close().await; // idempotent

    let unavailable = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Unavailable(_)));
    assert!(unavailable(store.append(message("c", "late")).await.map(|_| ())));
    let c = ConversationId::new("c");
    let history = store.history(&tenant(), &c, HistoryRange::Latest, 5).await;
    assert!(unavailable(history.map(|_| ())));
    assert!(unavailable(store.ping().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_or_a_file_path() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/data");
    let store = open(&dir, Arc::new(NoSink));
    assert_eq!(store.path(), dir.join(DATABASE_FILE));
    store.close().await;

    let file = root.path().join("elsewhere/custom.db");
    let store = open(&file, Arc::new(NoSink));
    assert_eq!(store.path(), file);
    store.ping().await.unwrap();
    store.close().await;
    assert!(file.is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_and_is_emptied_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { checkpoint_pages: 64, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open(dir.path(), options, Arc::new(NoSink)).unwrap());
    let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    for c in 0..20 {
        store.create_conversation(conversation(&format!("c{c}"))).await.unwrap();
    }
    let mut largest = 0;
    for round in 0..20 {
        // Ten conversations at once, so batches touch many pages.
        let tasks: Vec<_> = (0..10)
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        let m =
                            message(&format!("c{}", (c + round) % 20), &format!("{round}-{c}-{i}"));
                        store.append(m).await.expect("append");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        largest = largest.max(wal_len());
    }
    // 2000 messages without checkpoints leave several MiB of WAL; bounded, it stays well under
    // 1000 pages even counting the batch that crosses the threshold.
    assert!(largest < 1000 * 4096, "the WAL grew to {largest} bytes");
    store.close().await;
    assert_eq!(wal_len(), 0, "close checkpoints and truncates the WAL");
}

/// A sink that panics: the server's bug must not lose or block writes.
struct PanickingSink;

impl CommitSink for PanickingSink {
    fn committed(&self, _: &TenantId, _: &[Message]) {
        panic!("sink bug");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sink_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(PanickingSink));
    store.create_conversation(conversation("c")).await.unwrap();
    for i in 0..3 {
        let appended = store.append(message("c", &format!("p-{i}"))).await.unwrap();
        assert_eq!(appended.message.seq, i + 1);
    }
    store.ping().await.unwrap();
    store.close().await;
}
