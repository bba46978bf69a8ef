//! The persistent outbox and resume state: one SQLite file per device.
//!
//! Every outgoing change (a send, an edit, a read marker) is written here *before* anything else
//! happens to it, with the `client_msg_id` it will carry on every attempt, so a retry after a
//! reconnect or after the process restarts is the same request and the server stores it once
//! (G2). A row leaves the outbox only when the server acknowledged it (G1: acked means durable).
//!
//! The file is in WAL mode with `synchronous=NORMAL`: a row survives the process being killed at
//! any moment (what a restart or crash of the app looks like); a power loss may lose the last
//! few rows written.

use std::path::Path;

use chinwag_proto::frames::{ClientFrame, Position};
use chinwag_proto::ids::{ConversationId, Millis, Seq};
use rusqlite::{Connection, OptionalExtension, params};

/// Which queue an entry waits in. Control entries (read markers) are sent before any chat
/// entry, so a backlog of messages never delays them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Messages, edits, deletions, reactions.
    Chat = 0,
    /// Read markers.
    Control = 1,
}

/// One outgoing change waiting for its acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Insertion order; entries of one priority are sent in this order.
    pub n: i64,
    /// The `client_msg_id` for sends and amendments; `read:<conversation>` for read markers.
    pub key: String,
    /// The conversation it changes.
    pub conversation_id: ConversationId,
    /// Which queue it waits in.
    pub priority: Priority,
    /// The frame to send, without a request id (the client sets one per attempt).
    pub frame: ClientFrame,
    /// When it was queued (wall clock).
    pub created_at: Millis,
    /// Past this time without an ack, the entry is `failed` (until retried).
    pub deadline_at: Millis,
    /// Failed: not sent again until [`Outbox::retry`].
    pub failed: bool,
    /// Why it failed, for the application.
    pub error: Option<String>,
}

/// Why the outbox refused or could not do something.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds `capacity` entries already; nothing was written.
    #[error("outbox full: {capacity} entries are waiting")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// An entry with this key is already waiting.
    #[error("an entry with client_msg_id `{0}` is already in the outbox")]
    Duplicate(String),
    /// No entry with this key.
    #[error("no outbox entry `{0}`")]
    NotFound(String),
    /// The file holds a row this version cannot read.
    #[error("outbox row {n} is unreadable: {reason}")]
    Corrupt {
        /// The row.
        n: i64,
        /// Why it cannot be read.
        reason: String,
    },
    /// SQLite failed (disk full, file locked by another process, …).
    #[error("outbox storage: {0}")]
    Storage(#[from] rusqlite::Error),
}

/// The outbox and the saved resume positions, in one SQLite file.
#[derive(Debug)]
pub struct Outbox {
    conn: Connection,
    capacity: usize,
    /// Rows in the outbox table, kept here so that `push` can refuse without a query.
    len: usize,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    frame TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS positions (conversation_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

impl Outbox {
    /// Open (or create) the file at `path`, holding at most `capacity` entries.
    pub fn open(path: &Path, capacity: usize) -> Result<Self, OutboxError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn, capacity)
    }

    /// An outbox that lives as long as the process (nothing survives a restart).
    pub fn in_memory(capacity: usize) -> Result<Self, OutboxError> {
        Self::init(Connection::open_in_memory()?, capacity)
    }

    fn init(conn: Connection, capacity: usize) -> Result<Self, OutboxError> {
        conn.execute_batch(SCHEMA)?;
        let len: i64 = conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(Self { conn, capacity, len: len.max(0) as usize })
    }

    /// Entries waiting (failed ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// At most this many message entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Write a new entry. Refused with [`OutboxError::Full`] when `capacity` entries wait, and
    /// with [`OutboxError::Duplicate`] when the key is already there.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        key: &str,
        conversation_id: &ConversationId,
        priority: Priority,
        frame: &ClientFrame,
        now: Millis,
        deadline_at: Millis,
    ) -> Result<OutboxEntry, OutboxError> {
        if self.len >= self.capacity {
            return Err(OutboxError::Full { capacity: self.capacity });
        }
        let json = serde_json::to_string(frame)
            .map_err(|e| OutboxError::Corrupt { n: 0, reason: e.to_string() })?;
        let inserted = self.conn.execute(
            "INSERT INTO outbox (key, conversation_id, priority, frame, created_at, deadline_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO NOTHING",
            params![key, conversation_id.as_str(), priority as i64, json, now, deadline_at],
        )?;
        if inserted == 0 {
            return Err(OutboxError::Duplicate(key.to_owned()));
        }
        self.len += 1;
        Ok(OutboxEntry {
            n: self.conn.last_insert_rowid(),
            key: key.to_owned(),
            conversation_id: conversation_id.clone(),
            priority,
            frame: frame.clone(),
            created_at: now,
            deadline_at,
            failed: false,
            error: None,
        })
    }

    /// Write a control entry, replacing an earlier one with the same key (a newer read marker
    /// supersedes the older). Control entries are small and few (one per conversation), so
    /// they are not counted against `capacity`.
    pub fn upsert_control(
        &mut self,
        key: &str,
        conversation_id: &ConversationId,
        frame: &ClientFrame,
        now: Millis,
        deadline_at: Millis,
    ) -> Result<OutboxEntry, OutboxError> {
        let existed = self.remove(key)?;
        if !existed {
            self.len += 1;
        }
        let json = serde_json::to_string(frame)
            .map_err(|e| OutboxError::Corrupt { n: 0, reason: e.to_string() })?;
        self.conn.execute(
            "INSERT INTO outbox (key, conversation_id, priority, frame, created_at, deadline_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key,
                conversation_id.as_str(),
                Priority::Control as i64,
                json,
                now,
                deadline_at
            ],
        )?;
        Ok(OutboxEntry {
            n: self.conn.last_insert_rowid(),
            key: key.to_owned(),
            conversation_id: conversation_id.clone(),
            priority: Priority::Control,
            frame: frame.clone(),
            created_at: now,
            deadline_at,
            failed: false,
            error: None,
        })
    }

    /// The entry was acknowledged (or discarded): remove it. Returns whether it was there.
    pub fn remove(&mut self, key: &str) -> Result<bool, OutboxError> {
        let n = self.conn.execute("DELETE FROM outbox WHERE key = ?1", [key])?;
        if n > 0 {
            self.len = self.len.saturating_sub(n);
        }
        Ok(n > 0)
    }

    /// The entry with this key, if any.
    pub fn get(&self, key: &str) -> Result<Option<OutboxEntry>, OutboxError> {
        let row = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM outbox WHERE key = ?1"), [key], raw_row)
            .optional()?;
        row.map(decode).transpose()
    }

    /// Every entry, control entries first, each priority in insertion order.
    pub fn entries(&self) -> Result<Vec<OutboxEntry>, OutboxError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY priority DESC, n ASC"))?;
        let rows = stmt.query_map([], raw_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// The entry missed its deadline (or the server refused it for good): keep it, stop sending.
    pub fn mark_failed(&mut self, key: &str, error: &str) -> Result<(), OutboxError> {
        self.conn.execute(
            "UPDATE outbox SET failed = 1, error = ?2 WHERE key = ?1",
            params![key, error],
        )?;
        Ok(())
    }

    /// Send a failed entry again, with the same key, until a new deadline.
    pub fn retry(&mut self, key: &str, deadline_at: Millis) -> Result<OutboxEntry, OutboxError> {
        let n = self.conn.execute(
            "UPDATE outbox SET failed = 0, error = NULL, deadline_at = ?2 WHERE key = ?1",
            params![key, deadline_at],
        )?;
        if n == 0 {
            return Err(OutboxError::NotFound(key.to_owned()));
        }
        self.get(key)?.ok_or_else(|| OutboxError::NotFound(key.to_owned()))
    }

    /// Save the resume state: positions only move forward, the cursor is replaced.
    pub fn save_positions(
        &mut self,
        positions: &[Position],
        cursor: Option<Millis>,
    ) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO positions (conversation_id, seq) VALUES (?1, ?2)
                 ON CONFLICT(conversation_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
            )?;
            for p in positions {
                stmt.execute(params![p.conversation_id.as_str(), p.seq as i64])?;
            }
            if let Some(c) = cursor {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('cursor', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [c],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget a conversation's position (it became unavailable).
    pub fn forget_position(&mut self, conversation: &ConversationId) -> Result<(), OutboxError> {
        self.conn
            .execute("DELETE FROM positions WHERE conversation_id = ?1", [conversation.as_str()])?;
        Ok(())
    }

    /// The saved positions and cursor.
    pub fn load_positions(&self) -> Result<(Vec<Position>, Option<Millis>), OutboxError> {
        let mut stmt = self.conn.prepare("SELECT conversation_id, seq FROM positions")?;
        let positions = stmt
            .query_map([], |r| {
                Ok(Position {
                    conversation_id: ConversationId::new(r.get::<_, String>(0)?),
                    seq: r.get::<_, i64>(1)?.max(0) as Seq,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let cursor = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'cursor'", [], |r| r.get(0))
            .optional()?;
        Ok((positions, cursor))
    }
}

const COLUMNS: &str =
    "n, key, conversation_id, priority, frame, created_at, deadline_at, failed, error";

type RawRow = (i64, String, String, i64, String, i64, i64, bool, Option<String>);

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn decode(row: RawRow) -> Result<OutboxEntry, OutboxError> {
    let (n, key, conversation_id, priority, frame, created_at, deadline_at, failed, error) = row;
    let frame: ClientFrame = serde_json::from_str(&frame)
        .map_err(|e| OutboxError::Corrupt { n, reason: e.to_string() })?;
    Ok(OutboxEntry {
        n,
        key,
        conversation_id: ConversationId::new(conversation_id),
        priority: if priority == Priority::Control as i64 {
            Priority::Control
        } else {
            Priority::Chat
        },
        frame,
        created_at,
        deadline_at,
        failed,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chinwag_proto::commands::{MarkRead, SendMessage};

    fn send(conv: &str, id: &str) -> ClientFrame {
        ClientFrame::new(
            None,
            SendMessage {
                conversation_id: conv.into(),
                client_msg_id: id.into(),
                kind: None,
                body: format!("body of {id}"),
                payload: None,
                reply_to: None,
            },
        )
    }

    #[test]
    fn survives_reopen_in_order_with_control_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let conv: ConversationId = "c".into();
        {
            let mut o = Outbox::open(&path, 10).unwrap();
            for i in 0..3 {
                let id = format!("m{i}");
                o.push(&id, &conv, Priority::Chat, &send("c", &id), 1, 100).unwrap();
            }
            let read = ClientFrame::new(None, MarkRead { conversation_id: conv.clone(), seq: 4 });
            o.upsert_control("read:c", &conv, &read, 1, 100).unwrap();
            let read = ClientFrame::new(None, MarkRead { conversation_id: conv.clone(), seq: 5 });
            o.upsert_control("read:c", &conv, &read, 1, 100).unwrap();
            assert!(o.remove("m1").unwrap());
            o.save_positions(&[Position { conversation_id: conv.clone(), seq: 7 }], Some(99))
                .unwrap();
            o.save_positions(&[Position { conversation_id: conv.clone(), seq: 3 }], None).unwrap();
        }
        let o = Outbox::open(&path, 10).unwrap();
        assert_eq!(o.len(), 3);
        let keys: Vec<String> = o.entries().unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["read:c", "m0", "m2"]);
        assert_eq!(o.entries().unwrap()[1].frame, send("c", "m0"), "the frame survives intact");
        let (positions, cursor) = o.load_positions().unwrap();
        assert_eq!((positions[0].seq, cursor), (7, Some(99)), "positions never move back");
    }

    #[test]
    fn full_duplicate_and_failed_entries() {
        let mut o = Outbox::in_memory(2).unwrap();
        let conv: ConversationId = "c".into();
        o.push("a", &conv, Priority::Chat, &send("c", "a"), 1, 100).unwrap();
        assert!(matches!(
            o.push("a", &conv, Priority::Chat, &send("c", "a"), 1, 100),
            Err(OutboxError::Duplicate(k)) if k == "a"
        ));
        o.push("b", &conv, Priority::Chat, &send("c", "b"), 1, 100).unwrap();
        assert!(matches!(
            o.push("c", &conv, Priority::Chat, &send("c", "c"), 1, 100),
            Err(OutboxError::Full { capacity: 2 })
        ));
        o.mark_failed("a", "deadline passed").unwrap();
        let a = o.get("a").unwrap().unwrap();
        assert!(a.failed && a.error.as_deref() == Some("deadline passed"));
        let a = o.retry("a", 500).unwrap();
        assert!(!a.failed && a.deadline_at == 500);
        assert!(matches!(o.retry("zz", 1), Err(OutboxError::NotFound(_))));
        o.remove("a").unwrap();
        o.push("c", &conv, Priority::Chat, &send("c", "c"), 1, 100).unwrap();
    }

    #[test]
    fn a_corrupt_row_is_a_typed_error() {
        let o = Outbox::in_memory(2).unwrap();
        o.conn
            .execute(
                "INSERT INTO outbox (key, conversation_id, priority, frame, created_at, deadline_at)
                 VALUES ('x', 'c', 0, '{not json', 0, 0)",
                [],
            )
            .unwrap();
        assert!(matches!(o.entries(), Err(OutboxError::Corrupt { .. })));
    }
}
