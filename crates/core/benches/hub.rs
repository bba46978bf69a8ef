//! Hub fan-out: one conversation event delivered to N local devices' queues, the user-space part
//! of every delivery (member lookup, one queue push per device, the device's wake-up), without
//! sockets. Measured with fan-out windows off (an event delivered at once, as in a quiet
//! conversation) and per event inside a window (appended to the window's buffer; the delivery
//! then happens once per window). Run with `cargo bench -p chinwag-core`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chinwag_broker::{EncodedEvent, Event, EventKind, EventReceiver, Topic};
use chinwag_core::device_queue::{DeviceReceiver, device_queue};
use chinwag_core::hub::Hub;
use chinwag_core::metrics::Metrics;
use chinwag_proto::ids::{ConversationId, TenantId, UserId};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const FRAME: &[u8] = br#"{"type":"message","message":{"id":"01JD3Y9A7B8C9D0E1F2G3H4J5K","conversation_id":"01JD3Y8K6Q2M5V7W9X0Z1A2B3C","seq":4242,"sender":"alice","client_msg_id":"dev-7f3a-99","kind":"text","body":"Is the bike still for sale?","created_at":1795319262001}}"#;

/// A hub with `members` users, one device each, all in conversation `c`.
fn hub_with(members: usize, window: Duration) -> (Arc<Hub>, Vec<DeviceReceiver>) {
    let hub = Hub::new(4, window, 64 << 20, Arc::new(Metrics::new()));
    let tenant = TenantId::from("t");
    let conversation = ConversationId::from("c");
    let mut receivers = Vec::with_capacity(members);
    for i in 0..members {
        let user = UserId::from(format!("user-{i}").as_str());
        let (tx, rx) = device_queue(1 << 20, 1 << 30);
        hub.register(&tenant, &user, tx).expect("register");
        hub.join_many(&tenant, &user, std::slice::from_ref(&conversation));
        receivers.push(rx);
    }
    (hub, receivers)
}

fn event(seq: u64) -> Event {
    Event {
        topic: Topic::Conversation("t".into(), "c".into()),
        kind: EventKind::Message { seq },
        skip_user: None,
        payload: EncodedEvent::from_json(Bytes::from_static(FRAME)),
    }
}

fn fan_out(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("hub");
    for members in [10usize, 100, 1000] {
        group.throughput(Throughput::Elements(members as u64));
        let (hub, mut receivers) = hub_with(members, Duration::ZERO);
        let mut seq = 0;
        group.bench_function(format!("deliver_at_once/{members}"), |b| {
            b.iter_batched(
                || {
                    for rx in &mut receivers {
                        rx.try_recv_all();
                    }
                    seq += 1;
                    event(seq)
                },
                |e| hub.receive(&e),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // Inside an open window an event is only appended: its cost no longer grows with members.
    // A fresh hub per sample, so the window (which no task drains here) is freed in between.
    let mut group = c.benchmark_group("hub_window");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).measurement_time(Duration::from_secs(1));
    group.bench_function("append/1000", |b| {
        b.iter_custom(|iters| {
            let (hub, _receivers) = hub_with(1000, Duration::from_secs(3600));
            hub.receive(&event(1)); // opens the window
            let started = Instant::now();
            for seq in 0..iters {
                hub.receive(&event(seq + 2));
            }
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
