//! Group commit: many queued writes, one `BEGIN IMMEDIATE … COMMIT`, one fsync.
//!
//! Each write runs in its own savepoint, so a failing one (a taken username, a missing
//! conversation) rolls back only its own changes and gets its own error while the rest commit.
//! Nobody is answered before COMMIT returns (G1); the commit sink sees the new messages before
//! their senders get their acks, so live delivery order is `seq` order.

use chinwag_proto::ids::TenantId;
use chinwag_proto::model::Message;
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::error::Context;
use super::writes::Write;
use crate::{CommitSink, StoreError, StoreResult, rules};

/// A write waiting in the queue, with its kind erased so one queue carries them all.
pub(super) trait Queued: Send {
    /// Runs the write (once); returns whether it succeeded.
    fn apply(&mut self, conn: &Connection, stored: &mut Vec<(TenantId, Message)>) -> bool;
    /// Sends the outcome, or `batch_error` if the batch did not commit (a write that failed on
    /// its own keeps its own error: it would have failed anyway).
    fn answer(self: Box<Self>, batch_error: Option<&StoreError>);
}

/// A write, its outcome once run, and where the caller waits for it.
pub(super) struct Pending<W: Write> {
    write: Option<W>,
    outcome: Option<StoreResult<W::Output>>,
    reply: oneshot::Sender<StoreResult<W::Output>>,
    /// Room in the writer's queue, given back when the caller is answered (see `writer.rs`).
    _room: OwnedSemaphorePermit,
}

impl<W: Write> Pending<W> {
    pub(super) fn new(
        write: W,
        reply: oneshot::Sender<StoreResult<W::Output>>,
        room: OwnedSemaphorePermit,
    ) -> Self {
        Self { write: Some(write), outcome: None, reply, _room: room }
    }
}

impl<W: Write> Queued for Pending<W> {
    fn apply(&mut self, conn: &Connection, stored: &mut Vec<(TenantId, Message)>) -> bool {
        let outcome = match self.write.take() {
            Some(write) => write.apply(conn, stored),
            None => Err(StoreError::Backend("a write was applied twice".into())),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, batch_error: Option<&StoreError>) {
        let outcome = match (self.outcome, batch_error) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(_)) | None, Some(e)) => Err(rules::copy_error(e)),
            (Some(Ok(out)), None) => Ok(out),
            (None, None) => Err(StoreError::Backend("a write was never applied".into())),
        };
        // The caller may have stopped waiting (its task was cancelled). The write stands: the
        // client's retry with the same client_msg_id finds it (G2).
        let _ = self.reply.send(outcome);
    }
}

/// Runs `batch` in one transaction, hands the new messages to `sink`, then answers everyone.
pub(super) fn commit(conn: &Connection, mut batch: Vec<Box<dyn Queued>>, sink: &dyn CommitSink) {
    let mut stored = Vec::new();
    match run(conn, &mut batch, &mut stored) {
        Ok(()) => {
            rules::publish(sink, stored);
            for write in batch {
                write.answer(None);
            }
        }
        Err(e) => {
            let writes = batch.len();
            tracing::error!(error = %e, writes, "SQLite batch failed; none acknowledged");
            if !conn.is_autocommit()
                && let Err(rollback) = conn.execute_batch("ROLLBACK")
            {
                tracing::error!(error = %rollback, "SQLite rollback failed");
            }
            for write in batch {
                write.answer(Some(&e));
            }
        }
    }
}

fn run(
    conn: &Connection,
    batch: &mut [Box<dyn Queued>],
    stored: &mut Vec<(TenantId, Message)>,
) -> StoreResult<()> {
    exec(conn, "BEGIN IMMEDIATE").ctx("starting a batch")?;
    for write in batch.iter_mut() {
        exec(conn, "SAVEPOINT write").ctx("starting a savepoint")?;
        let kept = stored.len();
        if write.apply(conn, stored) {
            exec(conn, "RELEASE write").ctx("releasing a savepoint")?;
            continue;
        }
        stored.truncate(kept);
        // Some errors (disk full, I/O) make SQLite roll back the whole transaction itself; the
        // writes before this one are gone too, so the batch as a whole has failed.
        if conn.is_autocommit() {
            return Err(StoreError::Backend(
                "SQLite rolled the batch back after a failed write".into(),
            ));
        }
        exec(conn, "ROLLBACK TO write").ctx("rolling back a savepoint")?;
        exec(conn, "RELEASE write").ctx("releasing a savepoint")?;
    }
    exec(conn, "COMMIT").ctx("committing a batch")
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chinwag_proto::ids::UserId;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::sqlite::{schema, writes::CreateAccount};
    use crate::{Account, NoSink};

    /// Writes a row, then fails: its row must not survive the batch.
    struct WriteThenFail;

    impl Write for WriteThenFail {
        type Output = ();
        fn apply(self, conn: &Connection, _: &mut Vec<(TenantId, Message)>) -> StoreResult<()> {
            conn.execute(
                "INSERT INTO accounts (tenant, username, user_id, password_hash, created_at) \
                 VALUES ('t', 'ghost', 'u-ghost', 'h', 0)",
                [],
            )
            .map_err(|e| StoreError::Backend(e.to_string()))?;
            Err(StoreError::NotFound("on purpose".into()))
        }
    }

    fn account(username: &str) -> Account {
        Account {
            tenant: TenantId::new("t"),
            user_id: UserId::new(format!("u-{username}")),
            username: username.into(),
            password_hash: "h".into(),
            name: None,
        }
    }

    fn queue<W: Write>(
        write: W,
        room: &Arc<Semaphore>,
    ) -> (Box<dyn Queued>, oneshot::Receiver<StoreResult<W::Output>>) {
        let (reply, answer) = oneshot::channel();
        let permit = room.clone().try_acquire_owned().expect("room");
        (Box::new(Pending::new(write, reply, permit)), answer)
    }

    #[test]
    fn a_failed_write_rolls_back_only_itself() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let room = Arc::new(Semaphore::new(8));
        let (a, a_answer) = queue(CreateAccount(account("a")), &room);
        let (bad, bad_answer) = queue(WriteThenFail, &room);
        let (dup, dup_answer) = queue(CreateAccount(account("a")), &room);
        let (b, b_answer) = queue(CreateAccount(account("b")), &room);
        commit(&conn, vec![a, bad, dup, b], &NoSink);

        assert!(a_answer.blocking_recv().unwrap().is_ok());
        assert!(matches!(bad_answer.blocking_recv().unwrap(), Err(StoreError::NotFound(_))));
        assert!(matches!(dup_answer.blocking_recv().unwrap(), Err(StoreError::Conflict(_))));
        assert!(b_answer.blocking_recv().unwrap().is_ok());
        let names: Vec<String> = conn
            .prepare("SELECT username FROM accounts ORDER BY username")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(names, ["a", "b"], "the failed write's row is gone, the others committed");
        assert!(conn.is_autocommit(), "the batch transaction is closed");
        assert_eq!(room.available_permits(), 8, "answered writes give their room back");
    }
}
