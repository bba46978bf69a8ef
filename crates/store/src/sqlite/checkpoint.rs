//! Keeping the WAL bounded without checkpointing inside a COMMIT.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, and measured
//! here it set the p99 of acks (5–10 ms). So it is off (`wal_autocheckpoint=0`) and the writer
//! thread checkpoints itself, after it has answered a batch:
//! - **Between batches**, once the WAL has grown `checkpoint_pages` since the last checkpoint: a
//!   PASSIVE checkpoint. The writer is the only writer, so nothing is appended while it runs and
//!   it can copy the whole WAL back (unless a reader still needs old frames); the next write then
//!   starts the WAL over from the top, which keeps it bounded. A separate checkpointer thread
//!   would race the writer and, under continuous writes, never catch up (FIELD_NOTES).
//! - **When idle** (`idle_checkpoint_after` without writes): TRUNCATE, which also empties the WAL
//!   file. Writes arriving meanwhile wait for it, but only a quiet store gets here.
//! - **On close**: TRUNCATE, so a stopped server leaves a self-contained database file.
//!
//! The WAL's size comes from SQLite's WAL hook, called on the committing thread after every
//! commit with the number of frames in the WAL. Only the writer thread commits, so a
//! thread-local carries the number from the hook (a plain `fn`, no state) to the checkpointer.

use std::cell::Cell;
use std::ffi::c_int;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::options::SqliteOptions;

thread_local! {
    /// Frames in the WAL after the last commit on this thread (the writer thread).
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
    /// Whether anything was committed since the checkpointer last looked.
    static WAL_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

fn on_commit(_: &Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    WAL_WRITTEN.set(true);
    Ok(())
}

/// The writer thread's checkpoint policy. Create it on the writer thread (see module docs).
pub(super) struct Checkpointer {
    threshold: c_int,
    idle_after: Duration,
    /// WAL frames at the last checkpoint: the next one is due `threshold` frames later. Without
    /// it, a reader pinning old frames would make every batch retry a checkpoint that cannot
    /// finish.
    frames_at_last: c_int,
    /// Something was committed since the last TRUNCATE: an idle checkpoint has work to do.
    idle_work: bool,
}

impl Checkpointer {
    /// Installs the WAL hook on the writer connection. `wal_autocheckpoint` must already be set:
    /// setting it replaces the hook.
    pub(super) fn install(conn: &Connection, options: &SqliteOptions) -> Self {
        conn.wal_hook(Some(on_commit));
        Self {
            threshold: c_int::try_from(options.checkpoint_pages).unwrap_or(c_int::MAX),
            idle_after: options.idle_checkpoint_after,
            frames_at_last: 0,
            idle_work: false,
        }
    }

    /// After a batch was answered: a PASSIVE checkpoint if the WAL grew enough.
    pub(super) fn after_batch(&mut self, conn: &Connection) {
        if !WAL_WRITTEN.replace(false) {
            return;
        }
        self.idle_work = true;
        let frames = WAL_FRAMES.get();
        if frames < self.frames_at_last {
            self.frames_at_last = 0; // the WAL was started over
        }
        if frames - self.frames_at_last >= self.threshold {
            checkpoint(conn, Mode::Passive);
            self.frames_at_last = frames;
        }
    }

    /// How long the writer should wait for a request before [`Self::on_idle`]; `None` when
    /// there is nothing to checkpoint, so it can sleep until the next request.
    pub(super) fn idle_timeout(&self) -> Option<Duration> {
        self.idle_work.then_some(self.idle_after)
    }

    /// No write for `idle_after`: copy everything back and empty the WAL file.
    pub(super) fn on_idle(&mut self, conn: &Connection) {
        if checkpoint(conn, Mode::Truncate) {
            self.idle_work = false;
            self.frames_at_last = 0;
            WAL_FRAMES.set(0);
        }
        // Otherwise a reader held old frames past the busy timeout: try again at the next idle.
    }

    /// The writer is stopping: leave nothing in the WAL.
    pub(super) fn on_close(&mut self, conn: &Connection) {
        checkpoint(conn, Mode::Truncate);
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Copies back what no reader still needs; never waits.
    Passive,
    /// Copies back everything (waiting for readers) and empties the WAL file.
    Truncate,
}

/// Runs a checkpoint; returns whether it copied back the whole WAL. Failures are logged, not
/// returned: the WAL only grows until the next attempt, and every commit is already durable.
fn checkpoint(conn: &Connection, mode: Mode) -> bool {
    let sql = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
    };
    let result = conn.query_row(sql, [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match result {
        Ok((busy, log, done)) => {
            tracing::debug!(?mode, busy, log, done, "SQLite checkpoint");
            busy == 0 && log == done
        }
        Err(e) => {
            tracing::warn!(?mode, error = %e, "SQLite checkpoint failed");
            false
        }
    }
}
