//! A PostgreSQL schema of its own for one test, and the environment variable that names the
//! test server. Shared by the store's suite and the server's cluster tests.

use std::sync::Arc;

use crate::CommitSink;
use crate::postgres::{PgOptions, PgStore};

/// The variable naming the PostgreSQL server tests use (`.ci/run` sets it to the local one).
pub const URL_VAR: &str = "TEST_CHINWAG_POSTGRES_URL";

/// The test server's URL, if [`URL_VAR`] is set.
pub fn url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.is_empty())
}

/// Whether PostgreSQL tests run here; says so on stderr when they do not.
pub fn available() -> bool {
    let found = url().is_some();
    if !found {
        eprintln!("{URL_VAR} is not set: PostgreSQL tests not run");
    }
    found
}

/// A schema for one test, named `chinwag_test_<ulid>`, dropped with everything in it when this
/// is dropped (also after a failed assertion).
#[derive(Debug)]
pub struct TestSchema {
    /// The server's URL.
    pub url: String,
    /// The schema's name.
    pub name: String,
}

impl TestSchema {
    /// A new schema name on the server of [`URL_VAR`] (created by the first store opened on it).
    ///
    /// # Panics
    /// If [`URL_VAR`] is not set: check [`available`] first.
    pub fn new() -> Self {
        let url = url().unwrap_or_else(|| panic!("{URL_VAR} is not set"));
        let name = format!("chinwag_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        Self { url, name }
    }

    /// Store options for this schema, with a pool small enough for many tests at once.
    pub fn options(&self) -> PgOptions {
        PgOptions { schema: Some(self.name.clone()), pool_size: 8, ..PgOptions::default() }
    }

    /// Opens a store on this schema.
    ///
    /// # Panics
    /// If PostgreSQL is not usable: the variable is set, so it must be.
    pub async fn open(&self, sink: Arc<dyn CommitSink>) -> PgStore {
        PgStore::open(&self.url, self.options(), sink)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL is not usable: {e}"))
    }

    /// A plain connection, for checks the store does not offer.
    pub async fn raw(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL is not usable: {e}"));
        tokio::spawn(conn);
        client
    }
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside (or outside) any runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}: {dropped:?}", self.name);
        }
    }
}
