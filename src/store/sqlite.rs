//! The embedded default store: one SQLite file in the data directory.
//!
//! WAL journal with `synchronous = FULL`, so a commit is on disk before it
//! returns; all writes go through one connection (SQLite has one writer anyway,
//! and queueing in-process avoids lock-upgrade failures), reads through a small
//! pool. Other processes (the command line while a server runs) wait on the
//! busy timeout instead of failing.
//!
//! What is SQLite's own: connecting, how a [`Timestamp`] is encoded
//! (microseconds since the epoch, an `INTEGER`), and reading its errors.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArgumentsBuffer, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous, SqliteTypeInfo, SqliteValueRef,
};
use sqlx::{Decode, Encode, Sqlite, Type};

use super::StoreError;
use super::backend::{Backend, ErrorClass};
use super::rows::Timestamp;
use super::shared::{SqlStore, store_error};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "hbx-sa.sqlite3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const READ_CONNECTIONS: u32 = 4;

pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `path` and brings its schema
    /// up to date. `timeout` bounds how long an operation waits for a
    /// connection or for SQLite's write lock before failing as unavailable.
    pub async fn open(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| StoreError::Internal(Box::new(e)))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(timeout);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options.clone())
            .await
            .map_err(store_error::<Sqlite>)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(store_error::<Sqlite>)?;
        Ok(Self::new(writer, readers, timeout))
    }
}

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn classify(error: &sqlx::Error) -> ErrorClass {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => ErrorClass::Unavailable,
            sqlx::Error::Database(e) => {
                // SQLITE_BUSY (5), SQLITE_LOCKED (6) and SQLITE_BUSY_SNAPSHOT
                // (517), after the busy timeout.
                if matches!(e.code().as_deref(), Some("5" | "6" | "517")) {
                    ErrorClass::Unavailable
                } else if e.is_unique_violation() {
                    // SQLite names the columns, not the index:
                    // "UNIQUE constraint failed: service_accounts.account_id, service_accounts.name"
                    let columns = e.message().rsplit(": ").next().unwrap_or("");
                    if columns == "service_accounts.account_id, service_accounts.name" {
                        ErrorClass::ActiveNameTaken
                    } else {
                        ErrorClass::Other
                    }
                } else if e.is_foreign_key_violation() {
                    ErrorClass::MissingReference
                } else {
                    ErrorClass::Other
                }
            }
            _ => ErrorClass::Other,
        }
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode(self.0.timestamp_micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        chrono::DateTime::from_timestamp_micros(micros)
            .map(Timestamp)
            .ok_or_else(|| format!("timestamp {micros} is out of range").into())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use uuid::Uuid;

    use super::*;
    use crate::store::sql;

    /// Both list statements seek into an index and read it in order: no table
    /// scan and no sort, so a page costs the same however large the account.
    #[tokio::test]
    async fn list_pages_are_index_range_scans() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("plan.sqlite3"), Duration::from_secs(5))
            .await
            .unwrap();
        for (sql, index) in [
            (sql::LIST_ALL, "service_accounts_by_account"),
            (sql::LIST_ACTIVE, "service_accounts_active_by_account"),
        ] {
            let plan: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .bind(Uuid::nil())
                    .bind(0_i64)
                    .bind(Uuid::nil())
                    .bind(100_i64)
                    .fetch_all(store.readers())
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.get::<String, _>("detail"))
                    .collect();
            let plan = plan.join("; ");
            assert!(
                plan.contains(&format!("SEARCH service_accounts USING INDEX {index} (account_id=? AND (created_at,id)>(?,?))")),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
        }
    }
}
