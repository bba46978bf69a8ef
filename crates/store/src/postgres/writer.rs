//! The writer: one task per node takes every append and amend and commits them in batches.
//!
//! Why one task: a message's seq is handed out under the conversation's row lock, and the
//! commit sink must see a node's commits in commit order (so live delivery order is seq order on
//! the node). One task that drains everything pending into one transaction gives both, and
//! turns load into bigger batches rather than more transactions: one round of statements and
//! one WAL flush for up to `max_batch` messages (see `batch.rs`). Other nodes' writers contend
//! only for the row locks of conversations both touch, which every writer takes in one sorted
//! statement, so they queue behind each other and never deadlock.
//!
//! The queue: a channel gated by a semaphore of `queue_capacity` permits, as the SQLite writer:
//! a caller holds a permit from before queuing until it is answered, so at most that many writes
//! are queued or in flight, and callers beyond wait for room (G5).

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::batch;
use crate::{Amend, Amended, Appended, CommitSink, NewMessage, StoreError, StoreResult};

/// A write that takes a seq, with where its caller waits.
pub(super) enum Write {
    Append(NewMessage, oneshot::Sender<StoreResult<Appended>>),
    Amend(Amend, oneshot::Sender<StoreResult<Amended>>),
}

/// A queued write and its room in the queue, given back once it is answered.
pub(super) struct Job {
    pub(super) write: Write,
    _room: OwnedSemaphorePermit,
}

impl Job {
    /// Sends the outcome; a caller that stopped waiting finds the write by retrying (G2).
    pub(super) fn answer(self, outcome: batch::Outcome) {
        match (self.write, outcome) {
            (Write::Append(_, reply), batch::Outcome::Appended(r)) => drop(reply.send(r)),
            (Write::Amend(_, reply), batch::Outcome::Amended(r)) => drop(reply.send(r)),
            (Write::Append(_, reply), _) => drop(reply.send(Err(mismatch()))),
            (Write::Amend(_, reply), _) => drop(reply.send(Err(mismatch()))),
        }
    }

    pub(super) fn fail(self, e: StoreError) {
        match self.write {
            Write::Append(_, reply) => drop(reply.send(Err(e))),
            Write::Amend(_, reply) => drop(reply.send(Err(e))),
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::Backend("a write got another's outcome".into())
}

#[allow(
    clippy::large_enum_variant,
    reason = "`Shutdown` is sent once; boxing would cost every write an allocation"
)]
enum Command {
    Job(Job),
    /// Finish what was queued before this, and stop.
    Shutdown,
}

/// The callers' side of the writer.
pub(super) struct Writer {
    commands: mpsc::UnboundedSender<Command>,
    /// Room in the queue; closed by [`Writer::close`], which fails later callers at once.
    room: Arc<Semaphore>,
    /// Never sent to: the task drops its sender when it ends, which `close` waits for.
    stopped: watch::Receiver<()>,
}

impl Writer {
    pub(super) fn spawn(
        pool: Pool,
        queue_capacity: usize,
        max_batch: usize,
        sink: Arc<dyn CommitSink>,
    ) -> Self {
        let (commands, queue) = mpsc::unbounded_channel();
        let (stopped_tx, stopped) = watch::channel(());
        tokio::spawn(run(queue, pool, max_batch, sink, stopped_tx));
        Self { commands, room: Arc::new(Semaphore::new(queue_capacity)), stopped }
    }

    pub(super) async fn append(&self, new: NewMessage) -> StoreResult<Appended> {
        let room = self.room().await?;
        let (reply, answer) = oneshot::channel();
        self.queue(Job { write: Write::Append(new, reply), _room: room })?;
        answer.await.map_err(|_| writer_gone())?
    }

    pub(super) async fn amend(&self, amend: Amend) -> StoreResult<Amended> {
        let room = self.room().await?;
        let (reply, answer) = oneshot::channel();
        self.queue(Job { write: Write::Amend(amend, reply), _room: room })?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn room(&self) -> StoreResult<OwnedSemaphorePermit> {
        self.room.clone().acquire_owned().await.map_err(|_| writer_gone())
    }

    fn queue(&self, job: Job) -> StoreResult<()> {
        self.commands.send(Command::Job(job)).map_err(|_| writer_gone())
    }

    /// Stops taking writes, lets the writer finish what was queued, and waits for it.
    /// Idempotent.
    pub(super) async fn close(&self) {
        self.room.close();
        let _ = self.commands.send(Command::Shutdown);
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the PostgreSQL store is closed".into())
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Command>,
    pool: Pool,
    max_batch: usize,
    sink: Arc<dyn CommitSink>,
    _stopped: watch::Sender<()>,
) {
    let mut stopping = false;
    while !stopping {
        let Some(first) = queue.recv().await else { break };
        let mut jobs = Vec::new();
        match first {
            Command::Job(job) => jobs.push(job),
            Command::Shutdown => stopping = true,
        }
        // Whatever else is already waiting joins the batch, without lingering: a lone write
        // commits at once, and under load the batch fills while the last commit runs.
        while !stopping && jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(Command::Job(job)) => jobs.push(job),
                Ok(Command::Shutdown) => stopping = true,
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            batch::commit(&pool, jobs, &*sink).await;
        }
    }
    tracing::info!("PostgreSQL writer stopped");
}
