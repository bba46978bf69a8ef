//! PostgreSQL and pool errors to [`StoreError`]: what means "the database is not there right
//! now" becomes `Unavailable` (the node answers `unavailable` and clients retry), the rest
//! `Backend`.

use tokio_postgres::error::SqlState;

use crate::StoreError;

/// Adds what was being done to a driver error.
pub(super) trait Context<T> {
    fn ctx(self, doing: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, doing: &str) -> Result<T, StoreError> {
        self.map_err(|e| classify(doing, &e))
    }
}

impl<T> Context<T> for Result<T, deadpool_postgres::PoolError> {
    fn ctx(self, doing: &str) -> Result<T, StoreError> {
        // Whatever stopped the pool from handing out a connection (refused, timed out, a
        // login or a database that is refused now), no work was done: the database is not
        // there for this node right now, and a retry later may succeed.
        self.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => {
                StoreError::Unavailable(format!("{doing}: PostgreSQL: {}", describe(&e)))
            }
            other => StoreError::Unavailable(format!("{doing}: PostgreSQL: {other}")),
        })
    }
}

/// Whether `e` says the server or the connection is gone (or refusing work for now), as
/// opposed to a statement that failed on its own.
pub(super) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: an I/O error, a timeout, a protocol error on the connection.
        None => true,
        Some(code) => {
            let class = &code.code()[..2];
            // 08: connection exceptions; 57: operator intervention (shutdown, crash recovery);
            // 53: insufficient resources (too many connections, out of disk or memory).
            class == "08"
                || class == "57"
                || class == "53"
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
    }
}

pub(super) fn classify(doing: &str, e: &tokio_postgres::Error) -> StoreError {
    if is_unavailable(e) {
        StoreError::Unavailable(format!("{doing}: PostgreSQL: {}", describe(e)))
    } else {
        StoreError::Backend(format!("{doing}: {}", describe(e)))
    }
}

pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The server's message when there is one (the driver's `Display` says only "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}
