//! Every knob of the PostgreSQL store, with its default and the reason for it.

use std::time::Duration;

/// How the PostgreSQL store runs. [`Default`] is what `chinwag serve` uses.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The schema to keep Chinwag's tables in (created if missing); `None` uses the
    /// connection's `search_path` (usually `public`). Lets several installations, or test runs,
    /// share one database.
    pub schema: Option<String>,
    /// Most connections the node opens (readers and the writer together). PostgreSQL's
    /// `max_connections` must cover this times the number of nodes.
    pub pool_size: usize,
    /// Most appends and amends queued for the writer or in its batch; callers past it wait for
    /// room (backpressure, G5).
    pub queue_capacity: usize,
    /// Most appends and amends in one transaction (group commit).
    pub max_batch: usize,
    /// How long connecting to PostgreSQL may take before the call fails as `unavailable`.
    pub connect_timeout: Duration,
    /// How long a call may wait for a free pooled connection before it fails as `unavailable`.
    pub wait_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: None,
            // Reads are short; 16 keeps the 2-core node's readers busy without crowding a
            // PostgreSQL shared by several nodes (its default max_connections is 100).
            pool_size: 16,
            queue_capacity: 4096,
            max_batch: 512,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
        }
    }
}

impl PgOptions {
    /// Clamps every value to what works (at least 1 of everything; the writer needs one
    /// connection and readers at least one more).
    pub(super) fn sanitized(mut self) -> Self {
        let most = tokio::sync::Semaphore::MAX_PERMITS;
        self.pool_size = self.pool_size.clamp(2, 10_000);
        self.queue_capacity = self.queue_capacity.clamp(1, most);
        self.max_batch = self.max_batch.clamp(1, self.queue_capacity);
        self
    }
}
