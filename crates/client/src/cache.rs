//! The local history cache: per conversation, the messages this device holds (bounded by age and
//! count), and beside them the resume positions (the highest gapless `seq` per conversation and
//! the last `resumed` cursor) that the client sends when it reconnects (G4).
//!
//! Positions are never evicted with messages: forgetting a position would make the next resume
//! replay the whole conversation. Messages that arrive past a gap are held back (not delivered)
//! until the gap is filled, so an application always sees a conversation in `seq` order, each
//! message once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chinwag_proto::frames::Position;
use chinwag_proto::ids::{ConversationId, Millis, Seq};
use chinwag_proto::model::Message;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Bounds of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Messages older than this (since they were cached) are evicted (default 24 h).
    pub ttl: Duration,
    /// At most this many messages per conversation; the lowest `seq`s go first (default 1,000).
    pub max_messages_per_conversation: usize,
    /// At most this many conversations with cached messages; the least recently touched go
    /// first (default 500). Their positions stay.
    pub max_conversations: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            max_messages_per_conversation: 1_000,
            max_conversations: 500,
        }
    }
}

/// Counters since the cache was created (or imported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Conversations with cached messages now.
    pub conversations: usize,
    /// Cached messages now, over all conversations.
    pub messages: usize,
    /// Reads of a conversation that found cached messages.
    pub hits: u64,
    /// Reads of a conversation with nothing cached.
    pub misses: u64,
    /// Incoming messages dropped because their `seq` was already held (G4 duplicates).
    pub duplicates: u64,
    /// Messages evicted because they were older than the TTL.
    pub evicted_by_ttl: u64,
    /// Messages evicted by the per-conversation or conversation-count bound.
    pub evicted_by_size: u64,
}

/// What [`HistoryCache::accept`] made of an incoming message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accepted {
    /// Messages now deliverable, in `seq` order: the new one, and any held-back ones it
    /// unblocked. Empty for a duplicate or a message held back behind a gap.
    pub deliver: Vec<Message>,
    /// The message's `seq` was already held: dropped.
    pub duplicate: bool,
    /// A gap: messages after this `seq` are missing; fetch `history` with `after` it.
    pub missing_after: Option<Seq>,
}

#[derive(Debug, Clone)]
struct Cached {
    message: Message,
    at: Instant,
}

#[derive(Debug, Default, Clone)]
struct ConversationCache {
    messages: BTreeMap<Seq, Cached>,
    /// Messages past a gap, not yet delivered; not evicted by age (they are needed to close
    /// the gap), at most `max_messages_per_conversation`.
    held: BTreeMap<Seq, Message>,
    touched: Option<Instant>,
}

/// Per-conversation history with TTL and size bounds, and the resume positions.
///
/// ```
/// use chinwag_client::cache::{CacheConfig, HistoryCache};
/// # fn message(seq: u64) -> chinwag_proto::model::Message {
/// #     serde_json::from_value(serde_json::json!({"id": format!("m{seq}"), "conversation_id": "c",
/// #         "seq": seq, "sender": "bob", "client_msg_id": format!("b{seq}"), "kind": "text",
/// #         "body": "hi", "created_at": 0})).unwrap()
/// # }
/// let mut cache = HistoryCache::new(CacheConfig::default());
/// assert_eq!(cache.accept(message(1)).deliver.len(), 1);
/// assert!(cache.accept(message(1)).duplicate, "the same seq again is dropped");
/// let json = cache.export_json();
/// let copy = HistoryCache::import_json(CacheConfig::default(), &json).unwrap();
/// assert_eq!(copy.position(&"c".into()), Some(1));
/// ```
#[derive(Debug)]
pub struct HistoryCache {
    config: CacheConfig,
    conversations: HashMap<ConversationId, ConversationCache>,
    /// Highest gapless `seq` per conversation: what resume asks to continue from.
    positions: BTreeMap<ConversationId, Seq>,
    /// The `cursor` of the last `resumed` reply.
    cursor: Option<Millis>,
    stats: CacheStats,
}

/// The JSON form of a cache: positions, cursor and messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheSnapshot {
    /// Format version of this snapshot.
    pub version: u32,
    /// The `cursor` of the last `resumed` reply.
    #[serde(default)]
    pub cursor: Option<Millis>,
    /// The highest gapless `seq` per conversation.
    #[serde(default)]
    pub positions: Vec<Position>,
    /// Cached messages, per conversation.
    #[serde(default)]
    pub conversations: Vec<CachedConversation>,
}

/// One conversation's cached messages in a [`CacheSnapshot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedConversation {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its cached messages in `seq` order.
    pub messages: Vec<Message>,
}

/// Why an import failed. The cache is unchanged when it does.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Not JSON, or not a snapshot.
    #[error("cache snapshot is not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("cache snapshot version {0} is not supported (expected {SNAPSHOT_VERSION})")]
    /// A snapshot of another format version.
    Version(u32),
    /// A message filed under a conversation it does not belong to.
    #[error("cache snapshot holds a message of conversation {found} under {expected}")]
    WrongConversation {
        /// The conversation it was filed under.
        expected: ConversationId,
        /// The conversation the message names.
        found: ConversationId,
    },
}

const SNAPSHOT_VERSION: u32 = 1;

impl HistoryCache {
    /// An empty cache with these bounds.
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            conversations: HashMap::new(),
            positions: BTreeMap::new(),
            cursor: None,
            stats: CacheStats::default(),
        }
    }

    /// The bounds of this cache.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Take in a message from the server (live, replayed, or a history page).
    pub fn accept(&mut self, message: Message) -> Accepted {
        let now = Instant::now();
        let conv_id = message.conversation_id.clone();
        let position = self.positions.get(&conv_id).copied().unwrap_or(0);
        let entry = self.conversations.entry(conv_id.clone()).or_default();
        entry.touched = Some(now);
        let seq = message.seq;
        if seq <= position || entry.held.contains_key(&seq) {
            self.stats.duplicates += 1;
            return Accepted { duplicate: true, ..Accepted::default() };
        }
        if seq > position + 1 {
            entry.held.insert(seq, message);
            // Held messages are bounded like cached ones; the newest go first, and filling the
            // gap from `history` brings them again.
            while entry.held.len() > self.config.max_messages_per_conversation.max(1) {
                entry.held.pop_last();
            }
            return Accepted { missing_after: Some(position), ..Accepted::default() };
        }
        let mut deliver = vec![message];
        let mut next = seq + 1;
        while let Some(m) = entry.held.remove(&next) {
            deliver.push(m);
            next += 1;
        }
        for m in &deliver {
            entry.messages.insert(m.seq, Cached { message: m.clone(), at: now });
            if let Some(target) = m.target
                && let Some(state) = m.payload.as_ref().and_then(|p| p.get("message"))
                && let Ok(state) = serde_json::from_value::<Message>(state.clone())
                && let Some(cached) = entry.messages.get_mut(&target)
            {
                // A lifecycle event: the target's state after the change replaces it.
                cached.message = state;
            }
        }
        self.positions.insert(conv_id.clone(), next - 1);
        let missing_after = (!entry.held.is_empty()).then_some(next - 1);
        self.enforce_bounds(&conv_id);
        Accepted { deliver, duplicate: false, missing_after }
    }

    /// The highest gapless `seq` held for a conversation.
    pub fn position(&self, conversation: &ConversationId) -> Option<Seq> {
        self.positions.get(conversation).copied()
    }

    /// Positions of every known conversation, for `resume`.
    pub fn positions(&self) -> Vec<Position> {
        self.positions
            .iter()
            .map(|(c, s)| Position { conversation_id: c.clone(), seq: *s })
            .collect()
    }

    /// Learn a conversation's position without its messages (a conversation listed over REST,
    /// or positions restored from disk). Only moves forward.
    pub fn set_position(&mut self, conversation: ConversationId, seq: Seq) {
        let p = self.positions.entry(conversation).or_insert(0);
        *p = (*p).max(seq);
    }

    /// The `cursor` of the last `resumed` reply, passed as `since` on the next resume.
    pub fn cursor(&self) -> Option<Millis> {
        self.cursor
    }

    /// Keep the cursor of a `resumed` reply.
    pub fn set_cursor(&mut self, cursor: Millis) {
        self.cursor = Some(cursor);
    }

    /// Forget a conversation entirely (the user left it, or resume said it is unavailable).
    pub fn forget(&mut self, conversation: &ConversationId) {
        self.conversations.remove(conversation);
        self.positions.remove(conversation);
    }

    /// The cached messages of a conversation, in `seq` order (expired ones are evicted first).
    pub fn messages(&mut self, conversation: &ConversationId) -> Vec<Message> {
        self.evict_expired();
        let found = self.conversations.get_mut(conversation).filter(|c| !c.messages.is_empty());
        match found {
            Some(c) => {
                self.stats.hits += 1;
                c.touched = Some(Instant::now());
                c.messages.values().map(|m| m.message.clone()).collect()
            }
            None => {
                self.stats.misses += 1;
                Vec::new()
            }
        }
    }

    /// Drop messages cached longer than the TTL.
    pub fn evict_expired(&mut self) {
        let Some(limit) = Instant::now().checked_sub(self.config.ttl) else { return };
        let mut evicted = 0;
        for c in self.conversations.values_mut() {
            let before = c.messages.len();
            c.messages.retain(|_, m| m.at > limit);
            evicted += (before - c.messages.len()) as u64;
        }
        self.stats.evicted_by_ttl += evicted;
        self.conversations.retain(|_, c| !c.messages.is_empty() || !c.held.is_empty());
    }

    fn enforce_bounds(&mut self, just_touched: &ConversationId) {
        if let Some(c) = self.conversations.get_mut(just_touched) {
            while c.messages.len() > self.config.max_messages_per_conversation {
                c.messages.pop_first();
                self.stats.evicted_by_size += 1;
            }
        }
        while self.conversations.len() > self.config.max_conversations.max(1) {
            let oldest = self
                .conversations
                .iter()
                .filter(|(id, _)| *id != just_touched)
                .min_by_key(|(_, c)| c.touched)
                .map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            if let Some(c) = self.conversations.remove(&oldest) {
                self.stats.evicted_by_size += c.messages.len() as u64;
            }
        }
    }

    /// Current sizes and the counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            conversations: self.conversations.values().filter(|c| !c.messages.is_empty()).count(),
            messages: self.conversations.values().map(|c| c.messages.len()).sum(),
            ..self.stats
        }
    }

    /// The cache as JSON: cursor, positions and cached messages (held-back ones are left out:
    /// they are past the positions and will be replayed).
    pub fn export_json(&self) -> String {
        let mut conversations: Vec<CachedConversation> = self
            .conversations
            .iter()
            .filter(|(_, c)| !c.messages.is_empty())
            .map(|(id, c)| CachedConversation {
                conversation_id: id.clone(),
                messages: c.messages.values().map(|m| m.message.clone()).collect(),
            })
            .collect();
        conversations.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
        let snapshot = CacheSnapshot {
            version: SNAPSHOT_VERSION,
            cursor: self.cursor,
            positions: self.positions(),
            conversations,
        };
        serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into())
    }

    /// A cache from [`HistoryCache::export_json`] output. Imported messages count as cached
    /// now; the bounds of `config` apply at once.
    pub fn import_json(config: CacheConfig, json: &str) -> Result<Self, CacheError> {
        let snapshot: CacheSnapshot = serde_json::from_str(json)?;
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(CacheError::Version(snapshot.version));
        }
        let mut cache = Self::new(config);
        cache.cursor = snapshot.cursor;
        for p in snapshot.positions {
            cache.set_position(p.conversation_id, p.seq);
        }
        let now = Instant::now();
        for conv in snapshot.conversations {
            let entry = cache.conversations.entry(conv.conversation_id.clone()).or_default();
            entry.touched = Some(now);
            for m in conv.messages {
                if m.conversation_id != conv.conversation_id {
                    return Err(CacheError::WrongConversation {
                        expected: conv.conversation_id,
                        found: m.conversation_id,
                    });
                }
                entry.messages.insert(m.seq, Cached { message: m, at: now });
            }
            cache.enforce_bounds(&conv.conversation_id);
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(conv: &str, seq: Seq) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": format!("m{seq}"), "conversation_id": conv, "seq": seq, "sender": "bob",
            "client_msg_id": format!("b{seq}"), "kind": "text", "body": format!("body {seq}"),
            "created_at": 1_000 + seq as i64
        }))
        .unwrap()
    }

    fn seqs(ms: &[Message]) -> Vec<Seq> {
        ms.iter().map(|m| m.seq).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn duplicates_are_dropped_and_gaps_held_back() {
        let mut c = HistoryCache::new(CacheConfig::default());
        let c1: ConversationId = "c1".into();
        assert_eq!(seqs(&c.accept(msg("c1", 1)).deliver), [1]);
        assert!(c.accept(msg("c1", 1)).duplicate);
        let gap = c.accept(msg("c1", 4));
        assert_eq!((gap.deliver.len(), gap.missing_after), (0, Some(1)));
        assert!(c.accept(msg("c1", 4)).duplicate, "a held-back seq is a duplicate too");
        assert_eq!(c.position(&c1), Some(1), "the position stops at the gap");
        let partial = c.accept(msg("c1", 2));
        assert_eq!((seqs(&partial.deliver), partial.missing_after), (vec![2], Some(2)));
        assert_eq!(seqs(&c.accept(msg("c1", 3)).deliver), [3, 4], "the gap closes in order");
        assert_eq!(c.position(&c1), Some(4));
        assert_eq!(seqs(&c.messages(&c1)), [1, 2, 3, 4]);
        assert_eq!(c.stats().duplicates, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn messages_held_behind_a_gap_are_bounded() {
        let config = CacheConfig { max_messages_per_conversation: 3, ..CacheConfig::default() };
        let mut c = HistoryCache::new(config);
        for s in 10..=20 {
            assert_eq!(c.accept(msg("a", s)).missing_after, Some(0));
        }
        let mut delivered = Vec::new();
        for s in 1..=9 {
            delivered.extend(seqs(&c.accept(msg("a", s)).deliver));
        }
        assert_eq!(delivered, (1..=12).collect::<Vec<_>>(), "the three lowest were held");
        assert_eq!(seqs(&c.accept(msg("a", 13)).deliver), [13], "the dropped ones come again");
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_evicts_messages_but_keeps_positions() {
        let config = CacheConfig { ttl: Duration::from_secs(60), ..CacheConfig::default() };
        let mut c = HistoryCache::new(config);
        let c1: ConversationId = "c1".into();
        c.accept(msg("c1", 1));
        tokio::time::advance(Duration::from_secs(40)).await;
        c.accept(msg("c1", 2));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(seqs(&c.messages(&c1)), [2], "seq 1 is 70 s old, seq 2 is 30 s old");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(c.messages(&c1).is_empty());
        let stats = c.stats();
        assert_eq!((stats.evicted_by_ttl, stats.messages, stats.misses), (2, 0, 1));
        assert_eq!(c.position(&c1), Some(2), "resume still continues after seq 2");
        assert!(c.accept(msg("c1", 2)).duplicate, "an evicted seq is still not delivered twice");
    }

    #[tokio::test(start_paused = true)]
    async fn size_bounds_evict_oldest_messages_and_least_recent_conversations() {
        let config = CacheConfig {
            max_messages_per_conversation: 3,
            max_conversations: 2,
            ..CacheConfig::default()
        };
        let mut c = HistoryCache::new(config);
        for s in 1..=5 {
            c.accept(msg("a", s));
        }
        assert_eq!(seqs(&c.messages(&"a".into())), [3, 4, 5]);
        tokio::time::advance(Duration::from_secs(1)).await;
        c.accept(msg("b", 1));
        tokio::time::advance(Duration::from_secs(1)).await;
        c.messages(&"a".into()); // touch a: b is now the least recent
        tokio::time::advance(Duration::from_secs(1)).await;
        c.accept(msg("c", 1));
        assert!(c.messages(&"b".into()).is_empty(), "b was evicted");
        assert_eq!(c.stats().conversations, 2);
        assert_eq!(c.stats().evicted_by_size, 3);
        assert_eq!(c.position(&"b".into()), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn export_import_round_trip() {
        let mut c = HistoryCache::new(CacheConfig::default());
        for s in 1..=3 {
            c.accept(msg("a", s));
        }
        c.accept(msg("b", 1));
        c.set_cursor(1_795_000_000_000);
        c.set_position("known-only".into(), 9);
        let json = c.export_json();
        let mut back = HistoryCache::import_json(CacheConfig::default(), &json).unwrap();
        assert_eq!(back.positions(), c.positions());
        assert_eq!(back.cursor(), Some(1_795_000_000_000));
        assert_eq!(back.messages(&"a".into()), c.messages(&"a".into()));
        assert_eq!(back.export_json(), json, "a second export is identical");
        assert!(back.accept(msg("a", 3)).duplicate);

        assert!(matches!(
            HistoryCache::import_json(CacheConfig::default(), "{nope"),
            Err(CacheError::Malformed(_))
        ));
        assert!(matches!(
            HistoryCache::import_json(CacheConfig::default(), r#"{"version":99}"#),
            Err(CacheError::Version(99))
        ));
        let wrong = json.replacen(
            "\"conversation_id\":\"a\",\"messages\"",
            "\"conversation_id\":\"z\",\"messages\"",
            1,
        );
        assert!(matches!(
            HistoryCache::import_json(CacheConfig::default(), &wrong),
            Err(CacheError::WrongConversation { .. })
        ));
    }
}
