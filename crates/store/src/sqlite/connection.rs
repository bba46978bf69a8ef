//! Where the database file lives, and how the writer's and the readers' connections are set up.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::error::Context;
use super::options::SqliteOptions;
use crate::{StoreError, StoreResult};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "chinwag.db";

/// Statements each connection keeps prepared. Every query here is a `prepare_cached` constant
/// and there are fewer than this, so nothing is ever re-prepared.
const STATEMENT_CACHE: usize = 64;

/// Resolves `dir_or_path` and creates the directories it needs. A path that is an existing
/// file, or ends in `.db`, `.sqlite` or `.sqlite3`, is the database itself; anything else is a
/// data directory holding [`DATABASE_FILE`].
pub(super) fn database_path(dir_or_path: &Path) -> StoreResult<PathBuf> {
    let is_file = dir_or_path.is_file()
        || dir_or_path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "db" | "sqlite" | "sqlite3"));
    let (dir, file) = if is_file {
        let dir = dir_or_path.parent().filter(|p| !p.as_os_str().is_empty());
        (dir.map(Path::to_path_buf), dir_or_path.to_path_buf())
    } else {
        (Some(dir_or_path.to_path_buf()), dir_or_path.join(DATABASE_FILE))
    };
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::Backend(format!("creating data directory {}: {e}", dir.display()))
        })?;
    }
    Ok(file)
}

/// The one connection that writes. WAL lets readers run during its transactions; the automatic
/// checkpoint is off because it would run inside a COMMIT (the writer checkpoints between
/// batches instead, see `checkpoint.rs`).
pub(super) fn open_writer(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(&format!("opening {}", path.display()))?;
    common_setup(&conn, options)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .ctx("setting journal_mode=WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{} refuses WAL mode (journal_mode stays {mode}); is it on a network filesystem?",
            path.display()
        )));
    }
    let synchronous = if options.synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", synchronous).ctx("setting synchronous")?;
    conn.pragma_update(None, "foreign_keys", true).ctx("setting foreign_keys")?;
    conn.pragma_update(None, "journal_size_limit", options.journal_size_limit)
        .ctx("setting journal_size_limit")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0).ctx("disabling wal_autocheckpoint")?;
    // Negative: KiB. Pages the writer evicts must be read back (from the WAL, which the mapping
    // does not cover) on the next append to the same conversation.
    let cache_kib = -i64::try_from(options.writer_cache_bytes / 1024).unwrap_or(i64::MAX);
    conn.pragma_update(None, "cache_size", cache_kib).ctx("setting cache_size")?;
    Ok(conn)
}

/// A connection that can only read, for the read pool. Opened after the writer, so the file
/// exists and is already in WAL mode.
pub(super) fn open_reader(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(&format!("opening {} for reading", path.display()))?;
    common_setup(&conn, options)?;
    Ok(conn)
}

fn common_setup(conn: &Connection, options: &SqliteOptions) -> StoreResult<()> {
    conn.busy_timeout(options.busy_timeout).ctx("setting busy_timeout")?;
    conn.pragma_update(None, "mmap_size", options.mmap_bytes).ctx("setting mmap_size")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .unwrap()
    }

    #[test]
    fn the_writer_is_durable_and_never_checkpoints_inside_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path()).unwrap();
        let conn = open_writer(&path, &SqliteOptions::default()).unwrap();
        assert_eq!(pragma(&conn, "journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma(&conn, "synchronous"), "Integer(2)", "FULL");
        assert_eq!(pragma(&conn, "foreign_keys"), "Integer(1)");
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), "Integer(0)");
        let reader = open_reader(&path, &SqliteOptions::default()).unwrap();
        assert!(reader.execute_batch("CREATE TABLE t (x)").is_err(), "readers cannot write");
    }
}
