//! The Redis broker: fan-out between nodes over Redis pub/sub.
//!
//! - **Channels**: one per topic, `{prefix}c:{tenant length}:{tenant}{conversation}` and
//!   `{prefix}u:…` for users (the length keeps two topics from sharing a name). A node
//!   subscribes only to the topics its local devices need: the hub calls
//!   [`Broker::subscribe`] for its first local member device of a conversation (or device of a
//!   user) and [`Broker::unsubscribe`] after the last.
//! - **Publishing** delivers to this node's hub at once (local devices never wait for Redis,
//!   and keep being served while it is away) and queues the event's envelope
//!   ([`Event::to_wire`]: the bytes serialized once by the publisher) for the publisher task,
//!   which sends everything queued as one pipeline of `PUBLISH`es on one connection, so events
//!   of one topic leave in publish order. Receivers drop envelopes of their own node.
//! - **Failures**: both connections reconnect with capped, jittered backoff. While either is
//!   down the broker is not [`healthy`](Broker::healthy) (the node is not ready). Envelopes the
//!   publisher could not send are not retried (at-most-once): their topics are remembered, and
//!   once the publisher is back it publishes a [`EventKind::Resync`] on each, so the nodes that
//!   missed them send those devices back to the store (G4). When the subscriber reconnects, it
//!   subscribes again to everything needed, then calls [`EventReceiver::lost`]: every local
//!   device catches up from the store. Nobody is left with a silent gap.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{Broker, EncodedEvent, Event, EventKind, EventReceiver, Topic};

pub mod presence;

/// How the Redis broker runs. [`Default`] is what `chinwag serve` uses.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Put in front of every channel name, so several installations can share one Redis.
    pub prefix: String,
    /// Most envelopes waiting for the publisher; past it, publishes to other nodes are dropped
    /// (and their topics resynced later) rather than growing memory.
    pub publish_queue: usize,
    /// Most envelopes in one pipeline.
    pub max_pipeline: usize,
    /// How long connecting, and each command, may take before the connection counts as lost.
    pub timeout: Duration,
    /// First reconnect delay (each attempt doubles it, with jitter).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How often the subscriber checks its idle connection with a `PING`.
    pub ping_every: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "chinwag:".into(),
            publish_queue: 65_536,
            max_pipeline: 512,
            timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ping_every: Duration::from_secs(1),
        }
    }
}

/// Counters of the broker's work, for metrics.
#[derive(Debug, Default)]
pub struct RedisStats {
    /// Envelopes sent to Redis.
    pub published: AtomicU64,
    /// Envelopes not sent (queue full, or the connection failed with them).
    pub dropped: AtomicU64,
    /// Envelopes from other nodes handed to the hub.
    pub received: AtomicU64,
    /// Envelopes that could not be decoded (another build's, or corrupt).
    pub malformed: AtomicU64,
    /// Connections (publisher and subscriber) re-established after a loss.
    pub reconnects: AtomicU64,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is not one the client accepts.
    #[error("the Redis URL is not valid: {0}")]
    Url(String),
    /// Redis did not answer.
    #[error("Redis is not reachable: {0}")]
    Unreachable(String),
}

enum Command {
    /// Bring this channel's subscription in line with the wanted set.
    Sync(Bytes),
    /// Answer once every command before it is done.
    Barrier(oneshot::Sender<()>),
}

struct Inner {
    node: u64,
    options: RedisOptions,
    client: redis::Client,
    receiver: RwLock<Option<Weak<dyn EventReceiver>>>,
    /// The channels local devices need.
    wanted: Mutex<HashSet<Bytes>>,
    commands: mpsc::UnboundedSender<Command>,
    outgoing: mpsc::Sender<(Bytes, Bytes)>,
    /// Topics whose envelopes were dropped, to resync once the publisher is back; `None` when
    /// there were too many to remember (then every node resyncs everything).
    dropped: Mutex<Option<HashSet<Bytes>>>,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    stats: RedisStats,
    stop: CancellationToken,
}

/// Most dropped topics remembered one by one.
const MAX_DROPPED_TOPICS: usize = 10_000;
/// The channel every node listens on for cluster-wide notices.
const ALL: &[u8] = b"all";

/// The Redis broker; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct RedisBroker {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker").field("node", &self.inner.node).finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// Connects to `url` (`redis://host:port/db`) as node `node`, checks that Redis answers,
    /// and starts the publisher and subscriber tasks. Must be called on a tokio runtime.
    pub async fn connect(url: &str, node: u64, options: RedisOptions) -> Result<Self, RedisError> {
        let client = client(url, node)?;
        probe(&client, &options).await?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (outgoing, outgoing_rx) = mpsc::channel(options.publish_queue.max(1));
        let inner = Arc::new(Inner {
            node,
            options,
            client,
            receiver: RwLock::new(None),
            wanted: Mutex::new(HashSet::from([Bytes::from_static(ALL)])),
            commands,
            outgoing,
            dropped: Mutex::new(Some(HashSet::new())),
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            stats: RedisStats::default(),
            stop: CancellationToken::new(),
        });
        let tasks = vec![
            tokio::spawn(publisher(inner.clone(), outgoing_rx)),
            tokio::spawn(subscriber(inner.clone(), command_rx)),
        ];
        Ok(Self { inner, tasks: Arc::new(Mutex::new(tasks)) })
    }

    /// The broker's counters.
    pub fn stats(&self) -> &RedisStats {
        &self.inner.stats
    }

    /// Stops both tasks. What is queued for other nodes is sent first, if Redis takes it within
    /// the options' timeout (a node that drains passes on the events of its last commits).
    /// Idempotent.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for mut t in tasks {
            if tokio::time::timeout(self.inner.options.timeout, &mut t).await.is_err() {
                t.abort();
            }
        }
    }

    /// The channel of `topic`.
    pub fn channel(&self, topic: &Topic) -> Bytes {
        channel_of(&self.inner.options.prefix, topic)
    }
}

/// A client for `url` whose connections name node `node` (`CLIENT LIST` shows
/// `lib-name=chinwag lib-ver=VERSION-NODE` on Redis 7.2 and later).
pub(crate) fn client(url: &str, node: u64) -> Result<redis::Client, RedisError> {
    use redis::IntoConnectionInfo;
    let info = url.into_connection_info().map_err(|e| RedisError::Url(e.to_string()))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_lib_name("chinwag", format!("{}-{node:016x}", env!("CARGO_PKG_VERSION")));
    redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| RedisError::Url(e.to_string()))
}

/// `{prefix}c:{len}:{tenant}{conversation}` or `{prefix}u:{len}:{tenant}{user}`.
fn channel_of(prefix: &str, topic: &Topic) -> Bytes {
    let (tag, tenant, id) = match topic {
        Topic::Conversation(t, c) => ("c", t.as_str(), c.as_str()),
        Topic::User(t, u) => ("u", t.as_str(), u.as_str()),
    };
    Bytes::from(format!("{prefix}{tag}:{}:{tenant}{id}", tenant.len()))
}

/// Fails unless Redis answers a `PING` within the options' timeout (start-up fails fast).
pub(crate) async fn probe(
    client: &redis::Client,
    options: &RedisOptions,
) -> Result<(), RedisError> {
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&connection_config(options))
        .await
        .map_err(|e| RedisError::Unreachable(e.to_string()))?;
    redis::cmd("PING")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| RedisError::Unreachable(e.to_string()))
}

pub(crate) fn connection_config(options: &RedisOptions) -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout))
}

impl Inner {
    fn receiver(&self) -> Option<Arc<dyn EventReceiver>> {
        self.receiver.read().as_ref().and_then(Weak::upgrade)
    }

    fn full_channel(&self, name: &[u8]) -> Vec<u8> {
        [self.options.prefix.as_bytes(), name].concat()
    }

    fn note_dropped(&self, channel: Bytes) {
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        let mut dropped = self.dropped.lock();
        if let Some(set) = dropped.as_mut() {
            set.insert(channel);
            if set.len() > MAX_DROPPED_TOPICS {
                *dropped = None;
            }
        }
    }

    /// A delay of `backoff` with jitter (half to all of it), then the next, doubled and capped.
    async fn back_off(&self, backoff: &mut Duration) -> bool {
        let jittered = backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5);
        *backoff = (*backoff * 2).min(self.options.backoff_max);
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(jittered) => true,
        }
    }
}

impl Broker for RedisBroker {
    fn attach(&self, receiver: Arc<dyn EventReceiver>) {
        *self.inner.receiver.write() = Some(Arc::downgrade(&receiver));
    }

    fn publish(&self, event: Event) {
        let inner = &self.inner;
        if let Some(r) = inner.receiver() {
            r.receive(&event);
        }
        let channel = channel_of(&inner.options.prefix, &event.topic);
        let wire = match event.to_wire(inner.node) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "event not published to other nodes");
                return inner.note_dropped(channel);
            }
        };
        if let Err(e) = inner.outgoing.try_send((channel, wire)) {
            let (channel, _) = match e {
                mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item) => {
                    item
                }
            };
            inner.note_dropped(channel);
        }
    }

    fn subscribe(&self, topic: &Topic) {
        let channel = self.channel(topic);
        self.inner.wanted.lock().insert(channel.clone());
        let _ = self.inner.commands.send(Command::Sync(channel));
    }

    fn unsubscribe(&self, topic: &Topic) {
        let channel = self.channel(topic);
        self.inner.wanted.lock().remove(&channel);
        let _ = self.inner.commands.send(Command::Sync(channel));
    }

    fn subscribed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.inner.commands.send(Command::Barrier(tx)).is_ok();
        let wait = self.inner.options.timeout;
        Box::pin(async move {
            if sent {
                // Bounded: a subscriber stuck reconnecting answers every barrier at once, and
                // a lost connection is followed by `lost` anyway.
                let _ = tokio::time::timeout(wait, rx).await;
            }
        })
    }

    fn may_reorder(&self) -> bool {
        true
    }

    fn healthy(&self) -> bool {
        self.inner.publisher_up.load(Ordering::Relaxed)
            && self.inner.subscriber_up.load(Ordering::Relaxed)
    }
}

/// Sends queued envelopes, a pipeline at a time; reconnects; resyncs what it dropped.
async fn publisher(inner: Arc<Inner>, mut queue: mpsc::Receiver<(Bytes, Bytes)>) {
    let mut backoff = inner.options.backoff_min;
    let mut connected_before = false;
    let mut batch: Vec<(Bytes, Bytes)> = Vec::with_capacity(inner.options.max_pipeline);
    'connect: loop {
        let config = connection_config(&inner.options);
        let conn = tokio::select! {
            _ = inner.stop.cancelled() => return,
            c = inner.client.get_multiplexed_async_connection_with_config(&config) => c,
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                inner.publisher_up.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "Redis publisher cannot connect; retrying");
                // What waits meanwhile would be stale: drop it, and resync its topics later.
                while let Ok((channel, _)) = queue.try_recv() {
                    inner.note_dropped(channel);
                }
                if !inner.back_off(&mut backoff).await {
                    return;
                }
                continue;
            }
        };
        if connected_before {
            inner.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("Redis publisher reconnected");
        }
        connected_before = true;
        backoff = inner.options.backoff_min;
        inner.publisher_up.store(true, Ordering::Relaxed);
        // Tell the nodes that missed envelopes which topics to resync.
        let dropped = inner.dropped.lock().replace(HashSet::new());
        let notices: Vec<Bytes> = match dropped {
            Some(set) => set.into_iter().collect(),
            None => vec![Bytes::from(inner.full_channel(ALL))],
        };
        for chunk in notices.chunks(inner.options.max_pipeline.max(1)) {
            let mut pipe = redis::pipe();
            for channel in chunk {
                pipe.publish(channel.as_ref(), resync_envelope(inner.node)).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "Redis publisher lost its connection");
                for channel in notices {
                    inner.note_dropped(channel);
                }
                continue 'connect;
            }
        }
        loop {
            let first = tokio::select! {
                biased;
                item = queue.recv() => match item {
                    Some(item) => item,
                    None => return,
                },
                // Closing: what was queued before has been taken above; send it, then stop.
                _ = inner.stop.cancelled() => match queue.try_recv() {
                    Ok(item) => item,
                    Err(_) => return,
                },
            };
            batch.push(first);
            while batch.len() < inner.options.max_pipeline {
                match queue.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for (channel, wire) in &batch {
                pipe.publish(channel.as_ref(), wire.as_ref()).ignore();
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => {
                    inner.stats.published.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                }
                Err(e) => {
                    inner.publisher_up.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "Redis publisher lost its connection");
                    // Some of the batch may have gone out: resync all of it.
                    for (channel, _) in batch.drain(..) {
                        inner.note_dropped(channel);
                    }
                    continue 'connect;
                }
            }
        }
    }
}

/// A resync notice: an envelope of kind [`EventKind::Resync`] whose topic the receiver takes
/// from the channel it came on. Its own topic field is a placeholder.
fn resync_envelope(node: u64) -> Vec<u8> {
    let event = Event {
        topic: Topic::User("".into(), "".into()),
        kind: EventKind::Resync,
        skip_user: None,
        payload: EncodedEvent::default(),
    };
    event.to_wire(node).map(|b| b.to_vec()).unwrap_or_default()
}

/// Keeps the subscriptions in line with what local devices need and hands other nodes'
/// events to the hub; reconnects and then sends every local device back to the store.
async fn subscriber(inner: Arc<Inner>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut backoff = inner.options.backoff_min;
    let mut connected_before = false;
    loop {
        let pubsub = tokio::select! {
            _ = inner.stop.cancelled() => return,
            p = tokio::time::timeout(inner.options.timeout, inner.client.get_async_pubsub()) => p,
        };
        let pubsub = match pubsub {
            Ok(Ok(p)) => p,
            failed => {
                inner.subscriber_up.store(false, Ordering::Relaxed);
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                tracing::warn!(error = %reason, "Redis subscriber cannot connect; retrying");
                // Nothing can be subscribed now: answer barriers, keep only the wanted set.
                answer_barriers(&mut commands);
                if !inner.back_off(&mut backoff).await {
                    return;
                }
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut active: HashSet<Bytes> = HashSet::new();
        let wanted: Vec<Bytes> = inner.wanted.lock().iter().cloned().collect();
        let mut ok = true;
        for chunk in wanted.chunks(1000) {
            let names: Vec<Vec<u8>> = chunk.iter().map(|c| full_name(&inner, c)).collect();
            if let Err(e) = tokio::time::timeout(inner.options.timeout, sink.subscribe(&names))
                .await
                .map_err(|_| "timed out".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                tracing::warn!(error = %e, "Redis subscriber could not subscribe; reconnecting");
                ok = false;
                break;
            }
            active.extend(chunk.iter().cloned());
        }
        if !ok {
            inner.subscriber_up.store(false, Ordering::Relaxed);
            if !inner.back_off(&mut backoff).await {
                return;
            }
            continue;
        }
        backoff = inner.options.backoff_min;
        inner.subscriber_up.store(true, Ordering::Relaxed);
        if connected_before {
            inner.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("Redis subscriber reconnected; local devices resume from the store");
            if let Some(r) = inner.receiver() {
                r.lost();
            }
        }
        connected_before = true;
        let mut ping = tokio::time::interval(inner.options.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        let lost = loop {
            tokio::select! {
                _ = inner.stop.cancelled() => return,
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Barrier(done)) => {
                        let _ = done.send(());
                    }
                    Some(Command::Sync(channel)) => {
                        let want = inner.wanted.lock().contains(&channel);
                        let name = full_name(&inner, &channel);
                        let result = if want && !active.contains(&channel) {
                            active.insert(channel);
                            tokio::time::timeout(inner.options.timeout, sink.subscribe(name)).await
                        } else if !want && active.contains(&channel) {
                            active.remove(&channel);
                            tokio::time::timeout(inner.options.timeout, sink.unsubscribe(name))
                                .await
                        } else {
                            continue;
                        };
                        match result {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => break e.to_string(),
                            Err(_) => break "subscribe timed out".into(),
                        }
                    }
                },
                message = stream.next() => match message {
                    None => break "connection closed".into(),
                    Some(msg) => deliver(&inner, msg.get_channel_name(), msg.get_payload_bytes()),
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(inner.options.timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break e.to_string(),
                        Err(_) => break "ping timed out".into(),
                    }
                }
            }
        };
        inner.subscriber_up.store(false, Ordering::Relaxed);
        tracing::warn!(error = %lost, "Redis subscriber lost its connection; reconnecting");
        if !inner.back_off(&mut backoff).await {
            return;
        }
    }
}

/// Redis's name for the channel `channel` (prefix included already, except for [`ALL`]).
fn full_name(inner: &Inner, channel: &Bytes) -> Vec<u8> {
    if channel.as_ref() == ALL { inner.full_channel(ALL) } else { channel.to_vec() }
}

fn answer_barriers(commands: &mut mpsc::UnboundedReceiver<Command>) {
    while let Ok(command) = commands.try_recv() {
        if let Command::Barrier(done) = command {
            let _ = done.send(());
        }
    }
}

/// Hands one envelope from another node to the hub.
fn deliver(inner: &Inner, channel: &str, payload: &[u8]) {
    let wire = Bytes::copy_from_slice(payload);
    let (origin, event) = match Event::from_wire(&wire) {
        Ok(decoded) => decoded,
        Err(e) => {
            inner.stats.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, channel, "dropped an event envelope");
            return;
        }
    };
    if origin == inner.node {
        return;
    }
    let Some(receiver) = inner.receiver() else { return };
    inner.stats.received.fetch_add(1, Ordering::Relaxed);
    if event.kind == EventKind::Resync {
        if channel.as_bytes() == inner.full_channel(ALL).as_slice() {
            return receiver.lost();
        }
        match topic_of(&inner.options.prefix, channel) {
            Some(topic) => receiver.receive(&Event { topic, ..event }),
            None => receiver.lost(),
        }
        return;
    }
    receiver.receive(&event);
}

/// The topic a channel name stands for (the inverse of [`channel_of`]).
fn topic_of(prefix: &str, channel: &str) -> Option<Topic> {
    let rest = channel.strip_prefix(prefix)?;
    let (tag, rest) = rest.split_once(':')?;
    let (len, rest) = rest.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let (tenant, id) = (rest.get(..len)?, rest.get(len..)?);
    match tag {
        "c" => Some(Topic::Conversation(tenant.into(), id.into())),
        "u" => Some(Topic::User(tenant.into(), id.into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_distinct_and_map_back_to_their_topics() {
        let topics = [
            Topic::Conversation("ab".into(), "c".into()),
            Topic::Conversation("a".into(), "bc".into()),
            Topic::User("ab".into(), "c".into()),
            Topic::User("t:1".into(), "user:é".into()),
        ];
        let names: HashSet<Bytes> = topics.iter().map(|t| channel_of("p:", t)).collect();
        assert_eq!(names.len(), topics.len(), "no two topics share a channel");
        for t in &topics {
            let name = channel_of("p:", t);
            assert_eq!(topic_of("p:", std::str::from_utf8(&name).unwrap()).as_ref(), Some(t));
        }
        assert_eq!(topic_of("p:", "p:x:1:ab"), None);
        assert_eq!(topic_of("p:", "p:c:9:ab"), None);
        assert_eq!(topic_of("p:", "other:c:1:ab"), None);
    }
}
