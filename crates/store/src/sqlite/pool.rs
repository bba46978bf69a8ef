//! Read-only connections for reads, which run on tokio's blocking threads.
//!
//! SQLite calls block, so reads go to `spawn_blocking`; WAL lets them run alongside the writer's
//! transactions, each on a consistent snapshot. A semaphore with one permit per connection is
//! taken *before* a blocking thread is used, so excess callers wait asynchronously (in FIFO
//! order) rather than parking blocking threads, and a permit holder always finds a connection.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::connection::open_reader;
use super::options::SqliteOptions;
use crate::{StoreError, StoreResult};

pub(super) struct ReadPool {
    path: PathBuf,
    options: SqliteOptions,
    /// Idle connections. A std mutex: it is held only to push or pop, never across an `.await`
    /// (and only on blocking threads), so an async mutex would buy nothing.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection; closed by [`ReadPool::close`].
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(super) fn open(path: PathBuf, options: &SqliteOptions) -> StoreResult<Arc<Self>> {
        let idle = (0..options.read_connections)
            .map(|_| open_reader(&path, options))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Arc::new(Self {
            path,
            options: options.clone(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(options.read_connections)),
        }))
    }

    /// Runs `read` on a pooled connection on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| closed())?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.checkout()?;
            let result = read(&mut conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a SQLite read task failed: {e}")))?
    }

    /// Refuses further reads and closes the idle connections (busy ones close when returned).
    pub(super) fn close(&self) {
        self.permits.close();
        self.lock().clear();
    }

    fn checkout(&self) -> StoreResult<Connection> {
        match self.lock().pop() {
            Some(conn) => Ok(conn),
            // Only if a read panicked and took its connection down with it: replace it.
            None => open_reader(&self.path, &self.options),
        }
    }

    fn give_back(&self, conn: Connection) {
        if !self.permits.is_closed() {
            self.lock().push(conn);
        }
    }

    /// Nothing panics while holding the lock (push, pop, clear), so poisoning cannot happen;
    /// if it somehow did, the vector is still valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite store is closed".into())
}
