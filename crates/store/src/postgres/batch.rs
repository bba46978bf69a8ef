//! Group commit: a batch of appends and amends in one transaction, with a fixed number of
//! statements whatever its size.
//!
//! 1. Lock every conversation of the batch in one `SELECT … ORDER BY id FOR UPDATE` (the sorted
//!    order is what keeps writers on different nodes from deadlocking), which also reads each
//!    one's tenant and `last_seq`: from here to COMMIT nobody else can hand out their seqs (G3).
//! 2. Look up every idempotency key of the batch in one query (G2): retries find the original,
//!    also one committed a moment ago by another node, since the lookup runs after the lock.
//! 3. Decide each write in memory, in arrival order (the rules in `crate::rules`): seqs,
//!    duplicates within the batch, a reply to a missing message. A write that fails on its own
//!    gets its own error and writes nothing, so no savepoints are needed.
//! 4. Write the new messages with one multi-row insert and move the summaries, the senders'
//!    read positions and their drafts with one statement each, sent together (pipelined).
//!    Amends need their target's current row, so pending inserts are written before each one.
//! 5. COMMIT; then the commit sink gets the new messages in seq order, then callers are answered.
//!
//! A batch that fails as a whole is answered `Unavailable` if PostgreSQL is unreachable (nothing
//! was acknowledged; clients retry with the same keys); if it failed for another reason, each
//! of its writes is retried alone, so one bad write cannot fail its neighbours.

use std::collections::HashMap;

use chinwag_proto::ids::{ConversationId, Seq, TenantId, UserId};
use chinwag_proto::model::Message;
use deadpool_postgres::{Pool, Transaction};

use super::error::Context;
use super::rows::{self, message_columns, payload_to_sql, reactions_to_sql, seq_to_sql};
use super::writer::{Job, Write};
use crate::{
    Amend, Amended, Appended, CommitSink, Draft, NewMessage, StoreError, StoreResult, rules,
};

/// What one write of a batch came to.
#[allow(clippy::large_enum_variant, reason = "one per write, moved once to its caller")]
pub(super) enum Outcome {
    Appended(StoreResult<Appended>),
    Amended(StoreResult<Amended>),
}

/// Runs `jobs` as one batch (or one by one, if the batch fails for a reason of its own) and
/// answers every caller.
pub(super) async fn commit(pool: &Pool, jobs: Vec<Job>, sink: &dyn CommitSink) {
    match attempt(pool, &jobs).await {
        Ok((outcomes, stored)) => finish(jobs, outcomes, stored, sink),
        Err(e) if jobs.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, writes = jobs.len(), "PostgreSQL batch failed; retrying its writes one by one");
            for job in jobs {
                match attempt(pool, std::slice::from_ref(&job)).await {
                    Ok((outcomes, stored)) => finish(vec![job], outcomes, stored, sink),
                    Err(e) => job.fail(e),
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, writes = jobs.len(), "PostgreSQL batch failed; none acknowledged");
            for job in jobs {
                job.fail(rules::copy_error(&e));
            }
        }
    }
}

fn finish(
    jobs: Vec<Job>,
    outcomes: Vec<Outcome>,
    stored: Vec<(TenantId, Message)>,
    sink: &dyn CommitSink,
) {
    rules::publish(sink, stored);
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        job.answer(outcome);
    }
}

/// The state of one conversation while the batch holds its lock.
struct Locked {
    tenant: TenantId,
    last_seq: Seq,
}

type Key = (ConversationId, UserId, String);

/// A message decided but not yet inserted.
struct Pending {
    tenant: TenantId,
    message: Message,
    /// For appends: the index of its outcome, which gets the draft the send cleared.
    append: Option<usize>,
}

struct Batch<'a> {
    tx: Transaction<'a>,
    locked: HashMap<ConversationId, Locked>,
    /// Every message under an idempotency key of the batch: stored before, or decided in it.
    known: HashMap<Key, Message>,
    pending: Vec<Pending>,
    outcomes: Vec<Outcome>,
    stored: Vec<(TenantId, Message)>,
}

const LOCK: &str = "SELECT id, tenant, last_seq FROM conversations \
                    WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE";

const KNOWN: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (c, s, i) \
     ON m.conversation_id = k.c AND m.sender = k.s AND m.client_msg_id = k.i"
);

async fn attempt(
    pool: &Pool,
    jobs: &[Job],
) -> StoreResult<(Vec<Outcome>, Vec<(TenantId, Message)>)> {
    let mut client = pool.get().await.ctx("getting a connection for a batch")?;
    let tx = client.transaction().await.ctx("starting a batch")?;
    let mut batch = Batch {
        tx,
        locked: HashMap::new(),
        known: HashMap::new(),
        pending: Vec::new(),
        outcomes: Vec::with_capacity(jobs.len()),
        stored: Vec::new(),
    };
    batch.lock(jobs).await?;
    for job in jobs {
        match &job.write {
            Write::Append(new, _) => {
                let outcome = batch.append(new);
                batch.outcomes.push(Outcome::Appended(outcome));
            }
            Write::Amend(amend, _) => {
                batch.flush().await?;
                let outcome = batch.amend(amend).await?;
                batch.outcomes.push(Outcome::Amended(outcome));
            }
        }
    }
    batch.flush().await?;
    let Batch { tx, outcomes, stored, .. } = batch;
    tx.commit().await.ctx("committing a batch")?;
    Ok((outcomes, stored))
}

fn key_of(job: &Job) -> (&ConversationId, &UserId, &str) {
    match &job.write {
        Write::Append(n, _) => (&n.conversation_id, &n.sender, n.client_msg_id.as_str()),
        Write::Amend(a, _) => (&a.conversation_id, &a.actor, a.client_msg_id.as_str()),
    }
}

impl Batch<'_> {
    /// Steps 1 and 2: the locks and the idempotency keys.
    async fn lock(&mut self, jobs: &[Job]) -> StoreResult<()> {
        let mut ids: Vec<&str> = jobs.iter().map(|j| key_of(j).0.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let (mut cs, mut ss, mut is) = (Vec::new(), Vec::new(), Vec::new());
        for job in jobs {
            let (c, s, i) = key_of(job);
            cs.push(c.as_str());
            ss.push(s.as_str());
            is.push(i);
        }
        let lock = self.tx.prepare_cached(LOCK).await.ctx("preparing the batch lock")?;
        let rows = self.tx.query(&lock, &[&ids]).await.ctx("locking conversations")?;
        for row in &rows {
            let id = ConversationId(rows::get(row, 0)?);
            let locked =
                Locked { tenant: TenantId(rows::get(row, 1)?), last_seq: rows::seq(row, 2)? };
            self.locked.insert(id, locked);
        }
        let known = self.tx.prepare_cached(KNOWN).await.ctx("preparing the key lookup")?;
        let rows =
            self.tx.query(&known, &[&cs, &ss, &is]).await.ctx("looking up client_msg_ids")?;
        for row in &rows {
            let m = rows::message(row, 0)?;
            let key = (m.conversation_id.clone(), m.sender.clone(), m.client_msg_id.0.clone());
            self.known.insert(key, m);
        }
        Ok(())
    }

    /// The conversation's lock state, if it exists in `tenant` (G6).
    fn conversation(&mut self, tenant: &TenantId, id: &ConversationId) -> StoreResult<&mut Locked> {
        match self.locked.get_mut(id) {
            Some(locked) if locked.tenant == *tenant => Ok(locked),
            _ => Err(StoreError::NotFound(format!("conversation {id}"))),
        }
    }

    /// Step 3 for an append.
    fn append(&mut self, new: &NewMessage) -> StoreResult<Appended> {
        let last_seq = self.conversation(&new.tenant, &new.conversation_id)?.last_seq;
        let key = (new.conversation_id.clone(), new.sender.clone(), new.client_msg_id.0.clone());
        if let Some(original) = self.known.get(&key) {
            return Ok(Appended {
                message: original.clone(),
                duplicate: true,
                draft_cleared: None,
            });
        }
        rules::check_reply_to(new, last_seq)?;
        let seq = rules::next_seq(&new.conversation_id, last_seq)?;
        self.conversation(&new.tenant, &new.conversation_id)?.last_seq = seq;
        let message = rules::new_message(new, seq);
        self.known.insert(key, message.clone());
        self.pending.push(Pending {
            tenant: new.tenant.clone(),
            message: message.clone(),
            append: Some(self.outcomes.len()),
        });
        Ok(Appended { message, duplicate: false, draft_cleared: None })
    }

    /// Step 3 for an amend, with the reads and the update of its target. The outer error fails
    /// the batch; the inner one is the amend's own.
    async fn amend(&mut self, amend: &Amend) -> StoreResult<StoreResult<Amended>> {
        let last_seq = match self.conversation(&amend.tenant, &amend.conversation_id) {
            Ok(locked) => locked.last_seq,
            Err(own) => return Ok(Err(own)),
        };
        let key =
            (amend.conversation_id.clone(), amend.actor.clone(), amend.client_msg_id.0.clone());
        let target = self.message_at(&amend.conversation_id, amend.target).await?;
        let Some(target) = target else {
            return Ok(Err(StoreError::NotFound(format!("message {}", amend.target))));
        };
        if let Some(event) = self.known.get(&key) {
            let retry = rules::check_retry(amend, event);
            return Ok(retry.map(|()| Amended {
                target,
                event: Some(event.clone()),
                duplicate: true,
            }));
        }
        let (target, mut event) = match rules::amend(amend.clone(), target) {
            Ok(rules::Outcome::Changed { target, event }) => (target, event),
            Ok(rules::Outcome::Unchanged(target)) => {
                return Ok(Ok(Amended { target, event: None, duplicate: false }));
            }
            Err(own) => return Ok(Err(own)),
        };
        event.seq = match rules::next_seq(&amend.conversation_id, last_seq) {
            Ok(seq) => seq,
            Err(own) => return Ok(Err(own)),
        };
        let update = self
            .tx
            .prepare_cached(
                "UPDATE messages SET body = $3, payload = $4, edited_at = $5, deleted = $6, \
                 reactions = $7 WHERE conversation_id = $1 AND seq = $2",
            )
            .await
            .ctx("preparing a message change")?;
        let payload = payload_to_sql(target.payload.as_ref())?;
        let reactions = reactions_to_sql(&target.reactions)?;
        self.tx
            .execute(
                &update,
                &[
                    &target.conversation_id.as_str(),
                    &seq_to_sql(target.seq),
                    &target.body,
                    &payload,
                    &target.edited_at,
                    &target.deleted,
                    &reactions,
                ],
            )
            .await
            .ctx("changing a message")?;
        self.conversation(&amend.tenant, &amend.conversation_id)?.last_seq = event.seq;
        self.known.insert(key, event.clone());
        self.pending.push(Pending {
            tenant: amend.tenant.clone(),
            message: event.clone(),
            append: None,
        });
        Ok(Ok(Amended { target, event: Some(event), duplicate: false }))
    }

    async fn message_at(&self, id: &ConversationId, seq: Seq) -> StoreResult<Option<Message>> {
        let stmt = self
            .tx
            .prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m WHERE m.conversation_id = $1 AND m.seq = $2"
            ))
            .await
            .ctx("preparing a message read")?;
        let row = self
            .tx
            .query_opt(&stmt, &[&id.as_str(), &seq_to_sql(seq)])
            .await
            .ctx("loading a message")?;
        row.map(|r| rows::message(&r, 0)).transpose()
    }

    /// Step 4: writes the pending messages, their conversations' summaries, the senders' read
    /// positions and the drafts their sends cleared, as four statements sent together.
    async fn flush(&mut self) -> StoreResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let columns = Columns::of(&pending)?;
        let (summaries, positions, drafts) = summarize(&pending);
        let tx = &self.tx;
        let insert = tx.prepare_cached(INSERT).await.ctx("preparing the insert")?;
        let summary = tx.prepare_cached(SUMMARIES).await.ctx("preparing summaries")?;
        let position = tx.prepare_cached(POSITIONS).await.ctx("preparing read positions")?;
        let draft = tx.prepare_cached(DRAFTS).await.ctx("preparing drafts")?;
        let c = &columns;
        let (inserted, _, _, cleared) = futures_util::future::try_join4(
            tx.execute(
                &insert,
                &[
                    &c.conversation,
                    &c.seq,
                    &c.id,
                    &c.sender,
                    &c.client_msg_id,
                    &c.kind,
                    &c.body,
                    &c.payload,
                    &c.created_at,
                    &c.reply_to,
                    &c.target,
                    &c.edited_at,
                    &c.deleted,
                    &c.reactions,
                ],
            ),
            tx.execute(&summary, &[&summaries.0, &summaries.1, &summaries.2]),
            tx.execute(&position, &[&positions.0, &positions.1, &positions.2]),
            tx.query(&draft, &[&drafts.0, &drafts.1, &drafts.2]),
        )
        .await
        .ctx("writing a batch")?;
        if inserted != pending.len() as u64 {
            return Err(StoreError::Backend(format!(
                "inserted {inserted} of {} messages",
                pending.len()
            )));
        }
        for row in &cleared {
            let (conversation, user): (&str, &str) = (rows::get(row, 0)?, rows::get(row, 1)?);
            let draft = Draft {
                version: rows::seq(row, 2)?,
                body: rows::get(row, 3)?,
                updated_at: rows::get(row, 4)?,
            };
            let first = pending.iter().find(|p| {
                p.append.is_some()
                    && p.message.conversation_id.as_str() == conversation
                    && p.message.sender.as_str() == user
            });
            if let Some(Outcome::Appended(Ok(appended))) =
                first.and_then(|p| p.append).and_then(|i| self.outcomes.get_mut(i))
            {
                appended.draft_cleared = Some(draft);
            }
        }
        self.stored.extend(pending.into_iter().map(|p| (p.tenant, p.message)));
        Ok(())
    }
}

const INSERT: &str = "INSERT INTO messages (conversation_id, seq, id, sender, client_msg_id, \
     kind, body, payload, created_at, reply_to, target, edited_at, deleted, reactions) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], \
     $12::bigint[], $13::boolean[], $14::text[])";

/// `GREATEST`: a message stamped by a node with a slower clock must not move the conversation
/// back in everyone's list.
const SUMMARIES: &str = "UPDATE conversations c SET last_seq = v.seq, \
     last_activity = GREATEST(c.last_activity, v.at) \
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v (id, seq, at) WHERE c.id = v.id";

/// Own messages are never unread.
const POSITIONS: &str = "UPDATE members m SET read_seq = v.seq, \
     delivered_seq = GREATEST(m.delivered_seq, v.seq) \
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v (c, u, seq) \
     WHERE m.conversation_id = v.c AND m.user_id = v.u AND m.read_seq < v.seq";

/// Sending clears the sender's draft: a new, empty version, so that the sender's other devices
/// drop what they showed, and an edit based on the old version is a conflict.
const DRAFTS: &str = "UPDATE drafts d SET version = d.version + 1, body = '', updated_at = v.at \
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v (c, u, at) \
     WHERE d.conversation_id = v.c AND d.user_id = v.u AND d.body <> '' \
     RETURNING d.conversation_id, d.user_id, d.version, d.body, d.updated_at";

/// The pending messages as one array per column, for `unnest`.
struct Columns<'a> {
    conversation: Vec<&'a str>,
    seq: Vec<i64>,
    id: Vec<&'a str>,
    sender: Vec<&'a str>,
    client_msg_id: Vec<&'a str>,
    kind: Vec<&'a str>,
    body: Vec<&'a str>,
    payload: Vec<Option<String>>,
    created_at: Vec<i64>,
    reply_to: Vec<Option<i64>>,
    target: Vec<Option<i64>>,
    edited_at: Vec<Option<i64>>,
    deleted: Vec<bool>,
    reactions: Vec<Option<String>>,
}

impl<'a> Columns<'a> {
    fn of(pending: &'a [Pending]) -> StoreResult<Self> {
        let n = pending.len();
        let mut c = Columns {
            conversation: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            sender: Vec::with_capacity(n),
            client_msg_id: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            payload: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            reply_to: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            edited_at: Vec::with_capacity(n),
            deleted: Vec::with_capacity(n),
            reactions: Vec::with_capacity(n),
        };
        for Pending { message: m, .. } in pending {
            c.conversation.push(m.conversation_id.as_str());
            c.seq.push(seq_to_sql(m.seq));
            c.id.push(m.id.as_str());
            c.sender.push(m.sender.as_str());
            c.client_msg_id.push(m.client_msg_id.as_str());
            c.kind.push(&m.kind);
            c.body.push(&m.body);
            c.payload.push(payload_to_sql(m.payload.as_ref())?);
            c.created_at.push(m.created_at);
            c.reply_to.push(m.reply_to.map(seq_to_sql));
            c.target.push(m.target.map(seq_to_sql));
            c.edited_at.push(m.edited_at);
            c.deleted.push(m.deleted);
            c.reactions.push(reactions_to_sql(&m.reactions)?);
        }
        Ok(c)
    }
}

/// Columns for `unnest`: conversation, newest seq, latest time.
type Summaries<'a> = (Vec<&'a str>, Vec<i64>, Vec<i64>);
/// Columns for `unnest`: conversation, user, a number.
type Pairs<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<i64>);

/// Per conversation its newest seq and latest time; per (conversation, sender) the newest seq
/// (read positions) and, for appends, the time of the first send (draft clearing).
fn summarize(pending: &[Pending]) -> (Summaries<'_>, Pairs<'_>, Pairs<'_>) {
    let mut summaries: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut positions: HashMap<(&str, &str), i64> = HashMap::new();
    let mut drafts: HashMap<(&str, &str), i64> = HashMap::new();
    for p in pending {
        let m = &p.message;
        let (c, u, seq) = (m.conversation_id.as_str(), m.sender.as_str(), seq_to_sql(m.seq));
        let s = summaries.entry(c).or_insert((seq, m.created_at));
        *s = (s.0.max(seq), s.1.max(m.created_at));
        let r = positions.entry((c, u)).or_insert(seq);
        *r = (*r).max(seq);
        if p.append.is_some() {
            drafts.entry((c, u)).or_insert(m.created_at);
        }
    }
    let mut s = (Vec::new(), Vec::new(), Vec::new());
    for (c, (seq, at)) in summaries {
        s.0.push(c);
        s.1.push(seq);
        s.2.push(at);
    }
    (s, columns_of(positions), columns_of(drafts))
}

fn columns_of<'a>(map: HashMap<(&'a str, &'a str), i64>) -> Pairs<'a> {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for ((c, u), v) in map {
        out.0.push(c);
        out.1.push(u);
        out.2.push(v);
    }
    out
}
