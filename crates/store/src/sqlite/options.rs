//! Tuning knobs of the SQLite store, each with its default and the reason for it.

use std::time::Duration;

/// How the SQLite store opens and runs its database. `Default` is what production should use.
///
/// Zero counts (`max_batch`, `queue_capacity`, `read_connections`, `checkpoint_pages`) are
/// treated as 1: a store that can hold no request could never make progress.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `synchronous=FULL` (default `true`): every COMMIT is fsynced before any request in it is
    /// acknowledged, so an acknowledged message survives power loss (G1). `false` selects
    /// `NORMAL`, which only survives process crashes; measured here it buys just 0–20 %.
    pub synchronous_full: bool,
    /// Most write requests the writer puts into one transaction (default 512). Bigger batches
    /// amortize the fsync further but make every caller in the batch wait for the whole batch.
    pub max_batch: usize,
    /// Write requests that may be queued for or inside the writer at once (default 4096). When it
    /// is full, callers wait for room (backpressure reaches the sender's session, which is itself
    /// bounded), rather than the queue growing without limit (G5).
    pub queue_capacity: usize,
    /// Read-only connections, i.e. reads that run in parallel on blocking threads (default 4).
    /// More callers wait for a free connection without holding a thread.
    pub read_connections: usize,
    /// How long a statement waits for a lock held by another process before failing with
    /// `Unavailable` (default 5 s). Within one store the single writer never waits on itself.
    pub busy_timeout: Duration,
    /// `mmap_size` per connection, in bytes (default 256 MiB; 0 disables). Reading pages through
    /// the mapping halved history-page latency in the prototype. SQLite still writes with
    /// `write()`, so a stray pointer cannot corrupt the file through the mapping.
    pub mmap_bytes: u64,
    /// WAL size, in pages, past which the writer runs a PASSIVE checkpoint between two batches
    /// (default 1000 pages, SQLite's own auto-checkpoint size: about 4 MiB). See `checkpoint.rs`.
    pub checkpoint_pages: u32,
    /// Without writes for this long, the writer checkpoints everything and truncates the WAL
    /// file (default 1 s), so a quiet server leaves a compact database behind.
    pub idle_checkpoint_after: Duration,
    /// The writer connection's page cache, in bytes (default 32 MiB; SQLite's own default is
    /// 2 MiB). An append reads the conversation's row, its index tail and its table tail: once
    /// those of all busy conversations no longer fit, every append reads pages back.
    pub writer_cache_bytes: u64,
    /// Size the WAL file is cut back to when SQLite restarts it (default 64 MiB), so one burst
    /// does not keep its disk space forever.
    pub journal_size_limit: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous_full: true,
            max_batch: 512,
            queue_capacity: 4096,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            mmap_bytes: 256 * 1024 * 1024,
            checkpoint_pages: 1000,
            idle_checkpoint_after: Duration::from_secs(1),
            writer_cache_bytes: 32 * 1024 * 1024,
            journal_size_limit: 64 * 1024 * 1024,
        }
    }
}

impl SqliteOptions {
    /// The options with zero counts raised to 1 (see the type's docs).
    pub(super) fn sanitized(mut self) -> Self {
        // The upper clamps keep `Semaphore::new` from panicking on absurd values.
        let most = tokio::sync::Semaphore::MAX_PERMITS;
        self.max_batch = self.max_batch.max(1);
        self.queue_capacity = self.queue_capacity.clamp(1, most);
        self.read_connections = self.read_connections.clamp(1, most);
        self.checkpoint_pages = self.checkpoint_pages.max(1);
        self
    }
}
