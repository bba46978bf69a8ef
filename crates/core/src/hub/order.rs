//! Putting a conversation's messages back in `seq` order when they come from several nodes.
//!
//! One node publishes a conversation's messages in commit order, but two nodes committing to
//! the same conversation publish independently, and a network broker can hand their events to
//! a third node in the other order (seq 8 from node b before seq 7 from node a). Devices must
//! see one order (a session drops a message at or below the highest it wrote, as a replay
//! seam), so with such a broker every message event goes through its conversation's
//! sequencer: the next `seq` goes out at once, one further ahead waits up to [`HOLD`] for the
//! ones before it, and one at or below what was delivered is a duplicate and dropped.
//!
//! A message that never comes (the broker dropped it) costs [`HOLD`]: then what waits goes out
//! with the gap, which the client fills from `history` (`docs/protocol.md`, "Detecting gaps"),
//! and the publisher's resync notice sends the devices back to the store anyway. Sequencers
//! exist only for conversations with local members, hold at most [`MAX_HELD`] events each, and
//! are dropped with the conversation's last local member.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::atomic::Ordering;

use chinwag_broker::Event;
use chinwag_proto::frames::ServerFrame;
use chinwag_proto::ids::{ConversationId, Seq, TenantId};
use chinwag_store::HistoryRange;

use super::{ConvKey, Hub};

/// How long a message waits for the ones before it. Reordered messages wait only until the one
/// before them arrives (a few milliseconds); the full wait is paid only for a message that was
/// lost, and it must outlast a burst in the broker, or a burst would send every device to
/// resume.
pub(super) const HOLD: Duration = Duration::from_secs(1);
/// Most messages waiting in one conversation; past it they all go out.
pub(super) const MAX_HELD: usize = 1024;
/// Most missing messages read from the store for one gap.
const FILL_MAX: Seq = 200;

/// One conversation's order: the highest seq delivered (or known stored, when a device's
/// attachment read it), and what waits for a gap to close.
#[derive(Default)]
pub(super) struct Sequencer {
    /// `None` until the first message or [`Hub::expect_after`]: then anything goes out at once.
    last: Option<Seq>,
    held: BTreeMap<Seq, Event>,
    /// A flush task is scheduled.
    timer: bool,
}

/// What [`Sequencer::accept`] decided.
pub(super) enum Accepted {
    /// Deliver these, in order.
    Deliver(Vec<Event>),
    /// Deliver these, in order, past messages that never came: then the devices must catch up
    /// from the store.
    PastAGap(Vec<Event>),
    /// Held; schedule a flush (none was scheduled).
    HeldStartTimer,
    /// Held, or dropped as a duplicate: nothing to do now.
    Nothing,
}

impl Sequencer {
    pub(super) fn accept(&mut self, seq: Seq, event: &Event) -> Accepted {
        let last = match self.last {
            None => seq.saturating_sub(1),
            Some(last) => last,
        };
        if seq == last + 1 {
            self.last = Some(seq);
            let mut out = vec![event.clone()];
            out.extend(self.release());
            return Accepted::Deliver(out);
        }
        if seq <= last {
            return Accepted::Nothing;
        }
        self.held.insert(seq, event.clone());
        if self.held.len() > MAX_HELD {
            return Accepted::PastAGap(self.flush());
        }
        if self.timer {
            Accepted::Nothing
        } else {
            self.timer = true;
            Accepted::HeldStartTimer
        }
    }

    /// What held events follow the last delivered one without a gap.
    fn release(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(last) = self.last {
            // Anything at or below `last` that waited is stale now.
            while let Some(entry) = self.held.first_entry() {
                if *entry.key() > last {
                    break;
                }
                entry.remove();
            }
            match self.held.remove(&(last + 1)) {
                Some(next) => {
                    self.last = Some(last + 1);
                    out.push(next);
                }
                None => break,
            }
        }
        out
    }

    /// Messages up to `seq` are stored and reach a new device from the store: expect
    /// `seq + 1`, unless this conversation already has an order here. Then it is kept: the
    /// devices already attached get what is on its way live, and the new one drops what its
    /// resume brought too.
    fn expect_after(&mut self, seq: Seq) -> Vec<Event> {
        if self.last.is_none() {
            self.last = Some(seq);
        }
        self.release()
    }

    /// Everything held, in order, gaps and all.
    pub(super) fn flush(&mut self) -> Vec<Event> {
        self.timer = false;
        let held = std::mem::take(&mut self.held);
        if let Some((&top, _)) = held.last_key_value() {
            self.last = Some(self.last.map_or(top, |last| last.max(top)));
        }
        held.into_values().collect()
    }
}

impl Hub {
    /// A message event through its conversation's sequencer. Delivery happens under the
    /// sequencer's lock, so that two callers (the broker's task and this node's commit path)
    /// cannot interleave what they release.
    pub(super) fn in_order(&self, ckey: ConvKey, seq: Seq, event: &Event) {
        let shard = self.shard(&ckey);
        let mut sequencers = self.sequencers[shard].lock();
        let sequencer = match sequencers.get_mut(&ckey) {
            Some(s) => s,
            None if self.has_members(&ckey) => sequencers.entry(ckey.clone()).or_default(),
            // Nobody here needs it.
            None => return,
        };
        match sequencer.accept(seq, event) {
            Accepted::Deliver(events) => {
                for e in &events {
                    self.conversation_event(ckey.clone(), e);
                }
            }
            Accepted::PastAGap(events) => {
                for e in &events {
                    self.conversation_event(ckey.clone(), e);
                }
                drop(sequencers);
                self.metrics.resyncs_gap.inc();
                self.resync_members(&ckey);
            }
            Accepted::HeldStartTimer => {
                let (Some(runtime), Some(hub)) = (&self.runtime, self.this.upgrade()) else {
                    // No runtime to wait on: deliver now rather than never.
                    for e in &sequencer.flush() {
                        self.conversation_event(ckey.clone(), e);
                    }
                    return;
                };
                runtime.spawn(async move {
                    tokio::time::sleep(HOLD).await;
                    hub.flush_held(ckey);
                });
            }
            Accepted::Nothing => {}
        }
    }

    /// A device attached with these conversations, read from the store with their `last_seq`:
    /// the next live message of each is `last_seq + 1` (what came before reaches the device by
    /// its resume), so even the first messages from other nodes are put in order. Nothing, if
    /// the broker does not reorder.
    pub fn expect_after(&self, tenant: &TenantId, positions: &[(ConversationId, Seq)]) {
        if !self.ordered.load(Ordering::Relaxed) {
            return;
        }
        for (conversation, last_seq) in positions {
            let ckey = (tenant.clone(), conversation.clone());
            let mut sequencers = self.sequencers[self.shard(&ckey)].lock();
            let released = sequencers.entry(ckey.clone()).or_default().expect_after(*last_seq);
            for e in &released {
                self.conversation_event(ckey.clone(), e);
            }
        }
    }

    /// The wait for a missing message is over. It is in the store (it was committed before the
    /// ones after it), so it is read from there and delivered in its place, with what waited
    /// behind it. Only if that fails does what waited go out past the gap, and the
    /// conversation's devices here are sent to catch up from the store, so nobody keeps a
    /// silent gap.
    fn flush_held(&self, ckey: ConvKey) {
        let (from, upto) = {
            let mut sequencers = self.sequencers[self.shard(&ckey)].lock();
            let Some(sequencer) = sequencers.get_mut(&ckey) else { return };
            let Some((&first_held, _)) = sequencer.held.first_key_value() else {
                sequencer.timer = false;
                return;
            };
            (sequencer.last.unwrap_or(0), first_held)
        };
        let (Some(store), Some(runtime), Some(hub)) =
            (self.store.get().cloned(), self.runtime.clone(), self.this.upgrade())
        else {
            return self.give_up_on_gap(&ckey);
        };
        // At most a page: a longer gap is one the devices fill by resuming.
        let want = (upto - from - 1).min(FILL_MAX);
        runtime.spawn(async move {
            let (tenant, conversation) = (&ckey.0, &ckey.1);
            let read = store.history(tenant, conversation, HistoryRange::After(from), want as u32);
            match read.await {
                Ok(page) => hub.fill_gap(&ckey, upto, page.messages),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read a missing message");
                    hub.give_up_on_gap(&ckey);
                }
            }
        });
    }

    /// Messages read from the store for a gap: through the sequencer like live ones (what was
    /// delivered meanwhile is dropped by its seq), then whatever still waits past a gap goes out.
    fn fill_gap(&self, ckey: &ConvKey, upto: Seq, messages: Vec<chinwag_proto::model::Message>) {
        let filled = messages.len();
        let mut sequencers = self.sequencers[self.shard(ckey)].lock();
        let Some(sequencer) = sequencers.get_mut(ckey) else { return };
        for m in messages {
            let seq = m.seq;
            let event = Event {
                topic: chinwag_broker::Topic::Conversation(ckey.0.clone(), ckey.1.clone()),
                kind: chinwag_broker::EventKind::Message { seq },
                skip_user: None,
                payload: crate::wire::encode_event(&ServerFrame::Message { message: m }),
            };
            if let Accepted::Deliver(events) | Accepted::PastAGap(events) =
                sequencer.accept(seq, &event)
            {
                for e in &events {
                    self.conversation_event(ckey.clone(), e);
                }
            }
        }
        let closed = sequencer.last.is_some_and(|last| last + 1 >= upto);
        if closed {
            self.metrics.gaps_filled.inc();
            tracing::debug!(conversation = %ckey.1, filled, "filled a gap from the store");
        }
        sequencer.timer = false;
        if sequencer.held.is_empty() {
            return;
        }
        drop(sequencers);
        if closed {
            // What waits now waits for a later gap: give it its own wait.
            if let (Some(runtime), Some(hub)) = (&self.runtime, self.this.upgrade()) {
                let ckey = ckey.clone();
                if let Some(s) = self.sequencers[self.shard(&ckey)].lock().get_mut(&ckey) {
                    s.timer = true;
                }
                runtime.spawn(async move {
                    tokio::time::sleep(HOLD).await;
                    hub.flush_held(ckey);
                });
                return;
            }
        }
        self.give_up_on_gap(ckey);
    }

    /// What waits goes out past the gap, and the conversation's devices here resume.
    fn give_up_on_gap(&self, ckey: &ConvKey) {
        let mut sequencers = self.sequencers[self.shard(ckey)].lock();
        let Some(sequencer) = sequencers.get_mut(ckey) else { return };
        let events = sequencer.flush();
        if events.is_empty() {
            return;
        }
        for e in &events {
            self.conversation_event(ckey.clone(), e);
        }
        drop(sequencers);
        tracing::info!(conversation = %ckey.1, held = events.len(), "a message never came; devices resume");
        self.metrics.resyncs_gap.inc();
        self.resync_members(ckey);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chinwag_broker::{EventKind, EventReceiver, Topic};
    use chinwag_proto::ids::TenantId;

    use super::*;
    use crate::device_queue::device_queue;
    use crate::hub::tests::{drain, ev};
    use crate::metrics::Metrics;

    /// A broker that says it may reorder, for the hub to sequence.
    struct Reordering;
    impl chinwag_broker::Broker for Reordering {
        fn attach(&self, _: Arc<dyn EventReceiver>) {}
        fn publish(&self, _: Event) {}
        fn may_reorder(&self) -> bool {
            true
        }
    }

    fn seqs(got: Vec<(Vec<u8>, Vec<Seq>)>) -> Vec<Seq> {
        got.into_iter().flat_map(|(_, s)| s).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn messages_from_several_nodes_reach_devices_in_seq_order_once() {
        let hub = Hub::new(4, Duration::ZERO, 4 << 20, Arc::new(Metrics::new()));
        hub.use_broker(Arc::new(Reordering));
        let t = TenantId::from("t");
        let (a, mut ar) = device_queue(1024, 1 << 20);
        hub.register(&t, &"a".into(), a).unwrap();
        hub.join_many(&t, &"a".into(), &["c".into()]);
        let c = || Topic::Conversation(t.clone(), "c".into());
        let m = |seq| ev(c(), EventKind::Message { seq }, b"m");

        hub.receive(&m(5));
        hub.receive(&m(7));
        hub.receive(&m(8));
        assert_eq!(seqs(drain(&mut ar)), [5], "7 and 8 wait for 6");
        hub.receive(&ev(c(), EventKind::Other, b"r"));
        assert_eq!(drain(&mut ar).len(), 1, "events that are not messages never wait");
        hub.receive(&m(6));
        assert_eq!(seqs(drain(&mut ar)), [6, 7, 8], "the gap closed: in order");
        hub.receive(&m(7));
        assert!(drain(&mut ar).is_empty(), "a duplicate is dropped");

        // A message that never comes holds the rest for HOLD, then they go out past the gap
        // and the device is sent to catch up from the store.
        hub.receive(&m(10));
        hub.receive(&m(11));
        tokio::time::sleep(HOLD / 2).await;
        assert!(drain(&mut ar).is_empty());
        assert!(!ar.is_slow());
        tokio::time::sleep(HOLD).await;
        assert!(ar.is_slow() && ar.must_resync(), "past a gap: the device resumes");
        let (a2, mut a2r) = device_queue(1024, 1 << 20);
        hub.register(&t, &"a".into(), a2).unwrap();
        hub.receive(&m(9));
        assert!(drain(&mut a2r).is_empty(), "too late: the resume brought it");
        hub.receive(&m(12));
        assert_eq!(seqs(drain(&mut a2r)), [12]);

        // A device attached having read from the store that c2 is at seq 4: the first live
        // message from another node must be 5, even when 6 overtakes it.
        hub.join_many(&t, &"a".into(), &["c2".into()]);
        hub.expect_after(&t, &[("c2".into(), 4)]);
        let c2 =
            |seq| ev(Topic::Conversation(t.clone(), "c2".into()), EventKind::Message { seq }, b"m");
        hub.receive(&c2(6));
        hub.receive(&c2(4));
        assert!(drain(&mut a2r).is_empty(), "6 waits for 5; 4 is stored already");
        hub.receive(&c2(5));
        assert_eq!(seqs(drain(&mut a2r)), [5, 6]);
        // Another device attaching after 7 and 8 were stored, while they are still on their
        // way here, must not make the devices already here skip them.
        hub.expect_after(&t, &[("c2".into(), 8)]);
        hub.receive(&c2(7));
        hub.receive(&c2(8));
        assert_eq!(seqs(drain(&mut a2r)), [7, 8]);

        // A conversation nobody here is in gets no sequencer.
        hub.receive(&ev(
            Topic::Conversation(t.clone(), "z".into()),
            EventKind::Message { seq: 3 },
            b"m",
        ));
        assert!(hub.sequencers.iter().all(|s| !s.lock().contains_key(&(t.clone(), "z".into()))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_that_does_not_come_is_read_from_the_store_in_its_place() {
        use chinwag_proto::ids::{ClientMsgId, MessageId};
        use chinwag_proto::model::{ConversationKind, Role};
        use chinwag_store::sqlite::{SqliteOptions, SqliteStore};
        use chinwag_store::{NewConversation, NewMessage, NoSink, Store};

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path(), SqliteOptions::default(), Arc::new(NoSink)).unwrap(),
        );
        let t = TenantId::from("t");
        let created = store
            .create_conversation(NewConversation {
                id: "c".into(),
                tenant: t.clone(),
                kind: ConversationKind::Group,
                subject: None,
                title: None,
                created_by: "a".into(),
                created_at: 1,
                members: vec![("a".into(), Role::Owner)],
                direct_key: None,
            })
            .await
            .unwrap();
        let conversation = created.0.id.clone();
        for i in 1..=3 {
            store
                .append(NewMessage {
                    tenant: t.clone(),
                    conversation_id: conversation.clone(),
                    id: MessageId::new(format!("m{i}")),
                    sender: "a".into(),
                    client_msg_id: ClientMsgId::new(format!("k{i}")),
                    kind: "text".into(),
                    body: format!("message {i}"),
                    payload: None,
                    created_at: 2,
                    reply_to: None,
                })
                .await
                .unwrap();
        }
        let hub = Hub::new(4, Duration::ZERO, 4 << 20, Arc::new(Metrics::new()));
        hub.use_broker(Arc::new(Reordering));
        hub.use_store(store);
        let (a, mut ar) = device_queue(1024, 1 << 20);
        hub.register(&t, &"a".into(), a).unwrap();
        hub.join_many(&t, &"a".into(), std::slice::from_ref(&conversation));
        let m = |seq| {
            ev(
                Topic::Conversation(t.clone(), conversation.clone()),
                EventKind::Message { seq },
                b"m",
            )
        };

        hub.receive(&m(1));
        hub.receive(&m(3));
        assert_eq!(seqs(drain(&mut ar)), [1], "3 waits for 2, which the broker lost");
        tokio::time::sleep(HOLD + Duration::from_millis(500)).await;
        let got = drain(&mut ar);
        assert_eq!(seqs(got.clone()), [2, 3], "2 read from the store, then 3, in order");
        assert!(String::from_utf8_lossy(&got[0].0).contains("message 2"), "{got:?}");
        assert!(!ar.is_slow(), "nobody has to resume");
    }

    #[tokio::test]
    async fn a_lost_broker_connection_or_a_resync_ends_the_devices_that_need_it() {
        let hub = Hub::new(4, Duration::ZERO, 4 << 20, Arc::new(Metrics::new()));
        let t = TenantId::from("t");
        let (a, ar) = device_queue(16, 1 << 20);
        let (b, br) = device_queue(16, 1 << 20);
        hub.register(&t, &"a".into(), a).unwrap();
        hub.register(&t, &"b".into(), b).unwrap();
        hub.join_many(&t, &"a".into(), &["c".into()]);
        hub.receive(&ev(Topic::Conversation(t.clone(), "c".into()), EventKind::Resync, b""));
        assert!(ar.is_slow() && ar.must_resync(), "a member of c must catch up");
        assert!(!br.is_slow(), "b is not in c");
        hub.lost();
        assert!(br.must_resync(), "after a lost connection, every device catches up");
    }
}
