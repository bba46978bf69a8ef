//! From rusqlite errors to [`StoreError`]: what the caller can act on, with context for the logs.

use rusqlite::ErrorCode;

use crate::StoreError;

/// Adds what was being done to a rusqlite error. Lock contention (another process holding the
/// database past `busy_timeout`) is `Unavailable`, which callers retry; the rest is `Backend`.
pub(super) fn backend(context: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("{context}: database is locked: {e}"))
        }
        _ => StoreError::Backend(format!("{context}: {e}")),
    }
}

/// Whether `e` is a UNIQUE or PRIMARY KEY violation (the row already exists).
pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }
        _ => false,
    }
}

/// Helper for `?` on rusqlite results: `.ctx("loading members")?`.
pub(super) trait Context<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|e| backend(context, e))
    }
}

/// The writer thread has stopped (closed store, or it died): nothing can be written.
pub(super) fn writer_gone() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}
