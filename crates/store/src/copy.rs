//! Copying an embedded SQLite database into PostgreSQL (`chinwag migrate-store`): every
//! account, conversation, member (with receipts), message (with its lifecycle), draft and last
//! seen, as stored, so seqs, ids and idempotency keys survive the move.
//!
//! Table by table, in pages read in primary-key order, each page one PostgreSQL transaction of
//! `INSERT … ON CONFLICT DO NOTHING`: a copy that stops half way (a crash, a lost connection)
//! is run again and carries on, skipping what is there. Then every table's rows are counted on
//! both sides; the copy is done only when they match. Run it while no server uses either
//! database (stop the node, copy, then start the nodes on PostgreSQL).

use std::path::Path;
use std::sync::Arc;

use rusqlite::{OpenFlags, types::Value as Sql};
use tokio_postgres::types::ToSql;

use crate::postgres::{PgOptions, PgStore};
use crate::sqlite::{DATABASE_FILE, SqliteOptions, SqliteStore};
use crate::{NoSink, StoreError, StoreResult};

/// Rows per page.
const PAGE: usize = 2_000;

/// A column's PostgreSQL type, for the `unnest` of its page.
#[derive(Clone, Copy)]
enum Col {
    Text,
    OptText,
    Int,
    OptInt,
    Bool,
}

impl Col {
    fn array(self) -> &'static str {
        match self {
            Col::Text | Col::OptText => "text[]",
            Col::Int | Col::OptInt => "bigint[]",
            Col::Bool => "boolean[]",
        }
    }
}

/// One table to copy: its name, its primary key and its columns (the same on both sides).
struct Table {
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [(&'static str, Col)],
}

const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        key: &["tenant", "username"],
        columns: &[
            ("tenant", Col::Text),
            ("username", Col::Text),
            ("user_id", Col::Text),
            ("password_hash", Col::Text),
            ("name", Col::OptText),
            ("created_at", Col::Int),
        ],
    },
    Table {
        name: "conversations",
        key: &["id"],
        columns: &[
            ("id", Col::Text),
            ("tenant", Col::Text),
            ("kind", Col::Text),
            ("subject", Col::OptText),
            ("title", Col::OptText),
            ("direct_key", Col::OptText),
            ("created_by", Col::Text),
            ("created_at", Col::Int),
            ("last_seq", Col::Int),
            ("last_activity", Col::Int),
        ],
    },
    Table {
        name: "members",
        key: &["conversation_id", "user_id"],
        columns: &[
            ("conversation_id", Col::Text),
            ("user_id", Col::Text),
            ("tenant", Col::Text),
            ("role", Col::Text),
            ("joined_at", Col::Int),
            ("delivered_seq", Col::Int),
            ("read_seq", Col::Int),
        ],
    },
    Table {
        name: "messages",
        key: &["conversation_id", "seq"],
        columns: &[
            ("conversation_id", Col::Text),
            ("seq", Col::Int),
            ("id", Col::Text),
            ("sender", Col::Text),
            ("client_msg_id", Col::Text),
            ("kind", Col::Text),
            ("body", Col::Text),
            ("payload", Col::OptText),
            ("created_at", Col::Int),
            ("reply_to", Col::OptInt),
            ("target", Col::OptInt),
            ("edited_at", Col::OptInt),
            ("deleted", Col::Bool),
            ("reactions", Col::OptText),
        ],
    },
    Table {
        name: "drafts",
        key: &["conversation_id", "user_id"],
        columns: &[
            ("conversation_id", Col::Text),
            ("user_id", Col::Text),
            ("version", Col::Int),
            ("body", Col::Text),
            ("updated_at", Col::Int),
        ],
    },
    Table {
        name: "last_seen",
        key: &["tenant", "user_id"],
        columns: &[("tenant", Col::Text), ("user_id", Col::Text), ("at", Col::Int)],
    },
];

/// What was copied: per table, rows in the source, rows written now, rows in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Rows in SQLite.
    pub source: u64,
    /// Rows this run inserted (fewer than `source` when an earlier run copied some).
    pub inserted: u64,
    /// Rows in PostgreSQL afterwards.
    pub target: u64,
}

/// Copies the SQLite database in `dir` into PostgreSQL at `url` (schema and pool from
/// `options`), then checks every table's count. `progress` hears each table as it finishes.
///
/// Fails with `Backend` when the counts differ (the target held other rows, or was written to
/// meanwhile), and with the store errors of either side.
pub async fn sqlite_to_postgres(
    dir: &Path,
    url: &str,
    options: PgOptions,
    mut progress: impl FnMut(&TableCopy),
) -> StoreResult<Vec<TableCopy>> {
    // Bring the source to this build's schema first (and refuse a newer one).
    SqliteStore::open(dir, SqliteOptions::default(), Arc::new(NoSink))?.close().await;
    let source = rusqlite::Connection::open_with_flags(
        dir.join(DATABASE_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("opening the SQLite database: {e}")))?;
    let target = PgStore::open(url, options, Arc::new(NoSink)).await?;
    let result = copy_all(&source, &target, &mut progress).await;
    target.close().await;
    result
}

async fn copy_all(
    source: &rusqlite::Connection,
    target: &PgStore,
    progress: &mut impl FnMut(&TableCopy),
) -> StoreResult<Vec<TableCopy>> {
    let mut report = Vec::new();
    for table in TABLES {
        let inserted = copy_table(source, target, table).await?;
        let count_source: i64 = source
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| r.get(0))
            .map_err(sqlite_error)?;
        let client = target.raw_client().await?;
        let count_target: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
            .await
            .map_err(|e| StoreError::Backend(format!("counting {}: {e}", table.name)))?
            .get(0);
        let copy = TableCopy {
            table: table.name,
            source: count_source as u64,
            inserted,
            target: count_target as u64,
        };
        progress(&copy);
        if copy.source != copy.target {
            return Err(StoreError::Backend(format!(
                "{}: {} rows in SQLite but {} in PostgreSQL; copy into an empty database",
                table.name, copy.source, copy.target
            )));
        }
        report.push(copy);
    }
    Ok(report)
}

/// Copies one table page by page; returns the rows inserted.
async fn copy_table(
    source: &rusqlite::Connection,
    target: &PgStore,
    table: &Table,
) -> StoreResult<u64> {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let key_at: Vec<usize> = table
        .key
        .iter()
        .map(|k| names.iter().position(|n| n == k).expect("key among the columns"))
        .collect();
    let order = table.key.join(", ");
    let after = format!(
        "({}) > ({})",
        order,
        (1..=table.key.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
    );
    let first =
        format!("SELECT {} FROM {} ORDER BY {order} LIMIT {PAGE}", names.join(", "), table.name);
    let next = format!(
        "SELECT {} FROM {} WHERE {after} ORDER BY {order} LIMIT {PAGE}",
        names.join(", "),
        table.name
    );
    let insert = format!(
        "INSERT INTO {t} ({cols}) SELECT * FROM unnest({params}) ON CONFLICT DO NOTHING",
        t = table.name,
        cols = names.join(", "),
        params = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("${}::{}", i + 1, c.array()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut inserted = 0u64;
    let mut last_key: Option<Vec<Sql>> = None;
    loop {
        let rows = read_page(source, table, &first, &next, last_key.as_deref())?;
        let Some(last) = rows.last() else { return Ok(inserted) };
        last_key = Some(key_at.iter().map(|&i| last[i].clone()).collect());
        let columns = to_columns(table, &rows)?;
        let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(|c| c.as_param()).collect();
        let mut client = target.raw_client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| StoreError::Unavailable(format!("copying {}: {e}", table.name)))?;
        inserted += tx
            .execute(&insert, &params)
            .await
            .map_err(|e| StoreError::Backend(format!("copying {}: {e}", table.name)))?;
        tx.commit()
            .await
            .map_err(|e| StoreError::Unavailable(format!("copying {}: {e}", table.name)))?;
        if rows.len() < PAGE {
            return Ok(inserted);
        }
    }
}

fn read_page(
    source: &rusqlite::Connection,
    table: &Table,
    first: &str,
    next: &str,
    after: Option<&[Sql]>,
) -> StoreResult<Vec<Vec<Sql>>> {
    let width = table.columns.len();
    let read = |row: &rusqlite::Row<'_>| (0..width).map(|i| row.get::<_, Sql>(i)).collect();
    let rows = || -> rusqlite::Result<Vec<Vec<Sql>>> {
        match after {
            None => source.prepare_cached(first)?.query_map([], read)?.collect(),
            Some(key) => source
                .prepare_cached(next)?
                .query_map(rusqlite::params_from_iter(key.iter()), read)?
                .collect(),
        }
    };
    rows().map_err(sqlite_error)
}

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("reading the SQLite database: {e}"))
}

/// A page's column, typed for PostgreSQL.
enum Column {
    Text(Vec<String>),
    OptText(Vec<Option<String>>),
    Int(Vec<i64>),
    OptInt(Vec<Option<i64>>),
    Bool(Vec<bool>),
}

impl Column {
    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(v) => v,
            Column::OptText(v) => v,
            Column::Int(v) => v,
            Column::OptInt(v) => v,
            Column::Bool(v) => v,
        }
    }
}

fn to_columns(table: &Table, rows: &[Vec<Sql>]) -> StoreResult<Vec<Column>> {
    let bad = |name: &str, v: &Sql| {
        StoreError::Backend(format!("{}.{name}: unexpected value {v:?} in SQLite", table.name))
    };
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, &(name, col))| {
            let values = rows.iter().map(|r| &r[i]);
            Ok(match col {
                Col::Text => Column::Text(
                    values
                        .map(|v| match v {
                            Sql::Text(s) => Ok(s.clone()),
                            other => Err(bad(name, other)),
                        })
                        .collect::<StoreResult<_>>()?,
                ),
                Col::OptText => Column::OptText(
                    values
                        .map(|v| match v {
                            Sql::Text(s) => Ok(Some(s.clone())),
                            Sql::Null => Ok(None),
                            other => Err(bad(name, other)),
                        })
                        .collect::<StoreResult<_>>()?,
                ),
                Col::Int => Column::Int(
                    values
                        .map(|v| match v {
                            Sql::Integer(n) => Ok(*n),
                            other => Err(bad(name, other)),
                        })
                        .collect::<StoreResult<_>>()?,
                ),
                Col::OptInt => Column::OptInt(
                    values
                        .map(|v| match v {
                            Sql::Integer(n) => Ok(Some(*n)),
                            Sql::Null => Ok(None),
                            other => Err(bad(name, other)),
                        })
                        .collect::<StoreResult<_>>()?,
                ),
                Col::Bool => Column::Bool(
                    values
                        .map(|v| match v {
                            Sql::Integer(n) => Ok(*n != 0),
                            other => Err(bad(name, other)),
                        })
                        .collect::<StoreResult<_>>()?,
                ),
            })
        })
        .collect()
}
