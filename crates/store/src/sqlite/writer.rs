//! The writer: one std thread owns the only write connection, and callers queue writes to it.
//!
//! Why one thread: SQLite allows one writer at a time anyway, and a pool of writers measured
//! worse (busy-handler sleeps, failed lock upgrades). One thread that drains everything pending
//! into one transaction turns contention into batching (see `batch.rs`).
//!
//! The queue: a std channel gated by a semaphore of `queue_capacity` permits. A caller takes a
//! permit before queuing and holds it until answered, so at most `queue_capacity` writes are
//! queued or in flight; when that is reached, callers wait (asynchronously, in FIFO order) for
//! room — backpressure instead of unbounded memory (G5). A std channel rather than tokio's
//! because the writer is a plain thread that needs `recv_timeout` for its idle checkpoint.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};

use rusqlite::Connection;
use tokio::sync::{Semaphore, oneshot, watch};

use super::batch::{self, Pending, Queued};
use super::checkpoint::Checkpointer;
use super::error::writer_gone;
use super::options::SqliteOptions;
use super::writes::Write;
use crate::{CommitSink, StoreError, StoreResult};

enum Command {
    Write(Box<dyn Queued>),
    /// Finish what was queued before this, checkpoint, and stop.
    Shutdown,
}

/// The callers' side of the writer.
pub(super) struct Writer {
    commands: Sender<Command>,
    /// Room in the queue (see module docs). Closed by [`Writer::close`], which fails waiting and
    /// later callers with `Unavailable` at once.
    room: Arc<Semaphore>,
    /// Never sent to: its sender lives on the writer thread and is dropped when the thread ends
    /// (also by a panic), which is what [`Writer::close`] waits for.
    stopped: watch::Receiver<()>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already migrated).
    pub(super) fn spawn(
        conn: Connection,
        options: &SqliteOptions,
        sink: Arc<dyn CommitSink>,
    ) -> StoreResult<Self> {
        let (commands, queue) = mpsc::channel();
        let (stopped_tx, stopped) = watch::channel(());
        let thread =
            WriterThread { conn, queue, sink, options: options.clone(), _stopped: stopped_tx };
        std::thread::Builder::new()
            .name("chinwag-sqlite-writer".into())
            .spawn(move || thread.run())
            .map_err(|e| StoreError::Backend(format!("starting the SQLite writer thread: {e}")))?;
        Ok(Self { commands, room: Arc::new(Semaphore::new(options.queue_capacity)), stopped })
    }

    /// Queues `write` and waits until its batch has committed (or failed).
    ///
    /// Cancel-safe in the only way a write can be: if the caller stops waiting, the write may
    /// still commit, and an idempotent retry finds it.
    pub(super) async fn submit<W: Write>(&self, write: W) -> StoreResult<W::Output> {
        let room = self.room.clone().acquire_owned().await.map_err(|_| writer_gone())?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Write(Box::new(Pending::new(write, reply, room))))
            .map_err(|_| writer_gone())?;
        // A dropped reply means the thread died or stopped before reaching this write: it was
        // not committed.
        answer.await.map_err(|_| writer_gone())?
    }

    /// Stops taking writes, lets the writer finish everything queued, checkpoint and exit, and
    /// waits for that. Idempotent.
    pub(super) async fn close(&self) {
        self.room.close();
        // Fails only if the thread is already gone, which is what we wait for anyway.
        let _ = self.commands.send(Command::Shutdown);
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }
}

struct WriterThread {
    conn: Connection,
    queue: Receiver<Command>,
    sink: Arc<dyn CommitSink>,
    options: SqliteOptions,
    _stopped: watch::Sender<()>,
}

impl WriterThread {
    fn run(self) {
        let mut checkpoints = Checkpointer::install(&self.conn, &self.options);
        let mut stopping = false;
        while !stopping {
            // Block for the first write (checkpointing if it is long in coming) ...
            let Some(first) = self.next(&mut checkpoints) else { break };
            let mut writes = Vec::new();
            match first {
                Command::Write(w) => writes.push(w),
                Command::Shutdown => stopping = true,
            }
            // ... then take whatever else is already waiting, without lingering: a lone write
            // commits at once, and under load the batch fills by itself while the last fsync runs.
            while !stopping && writes.len() < self.options.max_batch {
                match self.queue.try_recv() {
                    Ok(Command::Write(w)) => writes.push(w),
                    Ok(Command::Shutdown) => stopping = true,
                    Err(_) => break,
                }
            }
            if !writes.is_empty() {
                batch::commit(&self.conn, writes, &*self.sink);
                checkpoints.after_batch(&self.conn);
            }
        }
        // Writes queued after a Shutdown are dropped with the queue: their callers see
        // `Unavailable`, and nothing of theirs was written.
        checkpoints.on_close(&self.conn);
        tracing::info!("SQLite writer stopped");
    }

    /// The next command; `None` when every sender is gone (the store was dropped).
    fn next(&self, checkpoints: &mut Checkpointer) -> Option<Command> {
        if let Some(idle) = checkpoints.idle_timeout() {
            match self.queue.recv_timeout(idle) {
                Ok(command) => return Some(command),
                Err(RecvTimeoutError::Timeout) => checkpoints.on_idle(&self.conn),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        self.queue.recv().ok()
    }
}
