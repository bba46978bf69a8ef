//! SQLite appends with group commit: many concurrent `append` calls through the `Store` API into a
//! store in a temporary directory (WAL, `synchronous=FULL`: every commit is fsynced). One
//! iteration is one acknowledged message; the appends run 64 at a time into 64 group
//! conversations, so the single writer batches whatever is pending into each transaction. The
//! database grows as the benchmark runs, as a real one does. Run with `cargo bench -p chinwag-store`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Role};
use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
use chinwag_store::{NewConversation, NewMessage, NoSink, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CONCURRENCY: u64 = 64;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(dir.path(), SqliteOptions::default(), Arc::new(NoSink)).expect("store"),
    );
    let tenant = TenantId::new("default");
    let body = "Is the bike still for sale? I could pick it up on Saturday morning.".repeat(2);
    let conversations: Vec<(ConversationId, UserId)> = rt.block_on(async {
        let mut out = Vec::new();
        for k in 0..CONCURRENCY {
            let members = (0..10)
                .map(|j| {
                    let role = if j == 0 { Role::Owner } else { Role::Member };
                    (UserId::new(format!("u{}", k * 10 + j)), role)
                })
                .collect();
            let new = NewConversation {
                id: ConversationId::new(ulid::Ulid::new().to_string()),
                tenant: tenant.clone(),
                kind: ConversationKind::Group,
                subject: None,
                title: Some("bench".into()),
                created_by: UserId::new(format!("u{}", k * 10)),
                created_at: 1,
                members,
                direct_key: None,
            };
            let (record, _) = store.create_conversation(new).await.expect("conversation");
            out.push((record.id, UserId::new(format!("u{}", k * 10 + k % 10))));
        }
        out
    });
    let conversations = Arc::new(conversations);
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("sqlite_append_group_commit_64_concurrent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for t in 0..CONCURRENCY {
                    let (store, conversations) = (store.clone(), conversations.clone());
                    let (tenant, body) = (tenant.clone(), body.clone());
                    // Task t appends every message i with i mod CONCURRENCY = t.
                    let mine = (iters + CONCURRENCY - 1 - t) / CONCURRENCY;
                    tasks.spawn(async move {
                        let (conversation, sender) = &conversations[t as usize];
                        for _ in 0..mine {
                            let id = ulid::Ulid::new().to_string();
                            let message = NewMessage {
                                tenant: tenant.clone(),
                                conversation_id: conversation.clone(),
                                id: MessageId::new(id.clone()),
                                sender: sender.clone(),
                                client_msg_id: ClientMsgId::new(id),
                                kind: "text".into(),
                                body: body.clone(),
                                payload: None,
                                created_at: 2,
                                reply_to: None,
                            };
                            store.append(message).await.expect("append");
                        }
                    });
                }
                while let Some(r) = tasks.join_next().await {
                    r.expect("append task");
                }
                started.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
