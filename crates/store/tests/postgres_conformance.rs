//! The conformance suite against PostgreSQL, each case in a schema of its own that is dropped
//! when the case ends, plus what only the PostgreSQL store has: migrations shared by nodes,
//! seqs handed out by several stores (nodes) on one database, and `unavailable` while the
//! database cannot be reached.
//!
//! Needs `TEST_CHINWAG_POSTGRES_URL` (`.ci/run` sets it to the local server). Unset, every test
//! here says so and passes without running; set but unreachable, they fail.

use std::sync::Arc;
use std::time::Duration;

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Message, Role};
use chinwag_store::conformance::RecordingSink;
use chinwag_store::conformance::postgres::{TestSchema, available, url};
use chinwag_store::postgres::{PgOptions, PgStore, SCHEMA_VERSION};
use chinwag_store::{
    CommitSink, HistoryRange, NewConversation, NewMessage, NoSink, Store, StoreError,
};

async fn fresh(sink: Arc<dyn CommitSink>) -> (PgStore, TestSchema) {
    let schema = TestSchema::new();
    (schema.open(sink).await, schema)
}

mod conformance_suite {
    chinwag_store::store_conformance_tests!(super::fresh, if = super::available);
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
        members: vec![(UserId::new("ann"), Role::Owner), (UserId::new("bob"), Role::Member)],
        direct_key: None,
    }
}

fn message(conversation: &str, sender: &str, client_msg_id: &str) -> NewMessage {
    NewMessage {
        tenant: tenant(),
        conversation_id: ConversationId::new(conversation),
        id: MessageId::new(format!("m-{sender}-{client_msg_id}")),
        sender: UserId::new(sender),
        client_msg_id: ClientMsgId::new(client_msg_id),
        kind: "text".into(),
        body: format!("body of {client_msg_id}"),
        payload: None,
        created_at: 2,
        reply_to: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stores_on_one_database_hand_out_gapless_seqs() {
    if !available() {
        return;
    }
    // Three stores are three nodes: each has its own writer and pool, and they meet only in
    // the database. Every sender sends to both conversations through every node, and retries.
    let schema = TestSchema::new();
    let sinks: Vec<_> = (0..3).map(|_| Arc::new(RecordingSink::default())).collect();
    let mut nodes = Vec::new();
    for sink in &sinks {
        nodes.push(Arc::new(schema.open(sink.clone()).await));
    }
    for c in ["c1", "c2"] {
        nodes[0].create_conversation(conversation(c)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for sender in ["ann", "bob"] {
            let node = node.clone();
            let peer = nodes[(n + 1) % 3].clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..60 {
                    let c = if i % 2 == 0 { "c1" } else { "c2" };
                    let m = message(c, sender, &format!("{n}-{i}"));
                    let first = node.append(m.clone()).await.expect("append");
                    // The retry goes to another node, as a client that reconnected elsewhere.
                    let retry = peer.append(m).await.expect("retry");
                    assert!(retry.duplicate);
                    assert_eq!(retry.message, first.message);
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for c in ["c1", "c2"] {
        let id = ConversationId::new(c);
        let page = nodes[2].history(&tenant(), &id, HistoryRange::After(0), 1000).await.unwrap();
        let seqs: Vec<_> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=180).collect::<Vec<_>>(), "{c}: every message once, no gaps");
        // Each node's sink saw its own commits of the conversation in seq order.
        for sink in &sinks {
            let mine: Vec<_> = sink
                .all()
                .into_iter()
                .filter(|(_, m)| m.conversation_id == id)
                .map(|(_, m)| m.seq)
                .collect();
            assert_eq!(mine.len(), 60, "{c}: each node committed its share once");
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "{c}: sink order is seq order: {mine:?}");
        }
    }
    for node in &nodes {
        node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    if !available() {
        return;
    }
    let schema = TestSchema::new();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let (url, options) = (schema.url.clone(), schema.options());
            tokio::spawn(async move { PgStore::open(&url, options, Arc::new(NoSink)).await })
        })
        .collect();
    for open in opens {
        open.await.unwrap().expect("every node starts").close().await;
    }
    let raw = schema.raw().await;
    let table = format!("\"{}\".chinwag_schema", schema.name);
    let rows = raw.query(&format!("SELECT version::bigint FROM {table}"), &[]).await.unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [SCHEMA_VERSION], "one version row, at the latest version");

    raw.execute(&format!("UPDATE {table} SET version = version + 1"), &[]).await.unwrap();
    let err = PgStore::open(&schema.url, schema.options(), Arc::new(NoSink))
        .await
        .expect_err("a schema from a newer build must be refused");
    assert!(matches!(&err, StoreError::Backend(m) if m.contains("newer")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_proposing_a_setting_together_all_get_the_first_one_stored() {
    if !available() {
        return;
    }
    let schema = TestSchema::new();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(schema.open(Arc::new(NoSink)).await));
    }
    let proposals: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            tokio::spawn(async move { store.shared_setting("secret", &format!("value-{i}")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for p in proposals {
        answers.push(p.await.unwrap().expect("shared setting"));
    }
    assert!(answers[0].starts_with("value-"), "{answers:?}");
    assert!(answers.iter().all(|a| *a == answers[0]), "one value for every node: {answers:?}");
    let later = stores[1].shared_setting("secret", "another").await.unwrap();
    assert_eq!(later, answers[0], "a stored setting is never replaced");
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_and_a_bad_url_is_an_error() {
    if !available() {
        return;
    }
    // Nothing listens on port 1.
    let options = PgOptions { connect_timeout: Duration::from_secs(2), ..PgOptions::default() };
    let err = PgStore::open("postgres://chinwag@127.0.0.1:1/none", options, Arc::new(NoSink))
        .await
        .expect_err("nothing to connect to");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = PgStore::open("postgres://[::1", PgOptions::default(), Arc::new(NoSink))
        .await
        .expect_err("not a URL");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let bad_schema = PgOptions { schema: Some("x; DROP TABLE y".into()), ..PgOptions::default() };
    let err = PgStore::open(&url().unwrap(), bad_schema, Arc::new(NoSink))
        .await
        .expect_err("not a schema name");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_under_load_fail_as_unavailable_and_lose_nothing_acknowledged() {
    if !available() {
        return;
    }
    // What a PostgreSQL restart does to a node: every connection is cut. Sends fail with
    // `Unavailable` while it happens, nothing acknowledged is lost, and the store recovers by
    // itself (the pool opens new connections).
    let schema = TestSchema::new();
    // Its own application name, so that only this store's connections are cut.
    let name = format!("chinwag_{}", schema.name);
    let sep = if schema.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name={name}", schema.url);
    let store = Arc::new(PgStore::open(&url, schema.options(), Arc::new(NoSink)).await.unwrap());
    store.create_conversation(conversation("c")).await.unwrap();
    let raw = schema.raw().await;
    let senders: Vec<_> = (0..8)
        .map(|s| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut unavailable = 0;
                for i in 0..150 {
                    match store.append(message("c", "ann", &format!("{s}-{i}"))).await {
                        Ok(a) => acked.push(a.message),
                        Err(StoreError::Unavailable(_)) => unavailable += 1,
                        Err(e) => panic!("a send failed with {e:?}, not unavailable"),
                    }
                }
                (acked, unavailable)
            })
        })
        .collect();
    let mut killed = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let rows = raw
            .query(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1) t",
                &[&name],
            )
            .await
            .unwrap();
        killed += rows[0].get::<_, i64>(0);
    }
    let mut acked: Vec<Message> = Vec::new();
    let mut unavailable = 0;
    for s in senders {
        let (a, u) = s.await.unwrap();
        acked.extend(a);
        unavailable += u;
    }
    assert!(killed > 0, "connections were cut");
    store.ping().await.expect("the store recovers by itself");
    let id = ConversationId::new("c");
    let page = store.history(&tenant(), &id, HistoryRange::After(0), 10_000).await.unwrap();
    let seqs: Vec<_> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=page.messages.len() as u64).collect::<Vec<_>>(), "no gaps");
    for m in &acked {
        assert_eq!(page.messages.get(m.seq as usize - 1), Some(m), "acknowledged and stored");
    }
    eprintln!(
        "cut {killed} connections; {} sends acknowledged, {unavailable} unavailable, {} stored",
        acked.len(),
        page.messages.len()
    );
    store.close().await;
}
