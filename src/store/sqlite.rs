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
use std::sync::Arc;

use futures::future::BoxFuture;
use slog::{Logger, warn};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Decode, Encode, Pool, Sqlite, Type};

use super::backend::{Backend, ErrorClass};
use super::changes::{ChangeHub, CredentialChange};
use super::columns::Timestamp;
use super::error::StoreError;
use super::sql_store::{SqlStore, store_error};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "hbx-sa.sqlite3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const READ_CONNECTIONS: u32 = 4;

// Neither pool pings a connection before lending it (sqlx's default): a
// connection to a local file has no peer that could have dropped it, and each
// ping is one more hand-off to the connection's worker thread, doubling the
// cost of a point read (BENCHMARKS.md).

pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `path` and brings its schema
    /// up to date. `timeout` bounds how long an operation waits for a
    /// connection or for SQLite's write lock before failing as unavailable.
    pub async fn open(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        // Created before SQLite does (it would follow the umask); its `-wal`
        // and `-shm` files take the same mode.
        crate::private_files::create_file_if_missing(path)
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
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
            .test_before_acquire(false)
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
            .test_before_acquire(false)
            .acquire_timeout(timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(store_error::<Sqlite>)?;
        Ok(Self::new(writer, readers, timeout))
    }
}

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const TIMEOUT_MEANS_UNREACHABLE: bool = false;

    const INSERT_AUDIT_EVENT: &'static str = "INSERT INTO audit_events_with_lifecycle (id, \
        occurred_at, account_id, service_account_id, action, actor_type, actor_id, \
        actor_token_public_id, token_public_id, request_id, source_ip, user_agent, detail, \
        actor_federation, lifecycle) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

    const CLAIM_WEBHOOK_EVENTS: &'static str = "UPDATE webhook_events SET lease_owner = $1, lease_until = $2 \
        WHERE (message_id, webhook_id) IN (SELECT message_id, webhook_id FROM webhook_events \
        WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
        ORDER BY next_attempt_at LIMIT $4) \
        RETURNING message_id, webhook_id, account_id, event_type, payload, created_at, attempts";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn classify(error: &sqlx::Error) -> ErrorClass {
        match error {
            // The pool times out when every connection is busy (the one
            // writer, above all): busy, not gone.
            sqlx::Error::PoolTimedOut => ErrorClass::Busy,
            sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                ErrorClass::Unreachable
            }
            sqlx::Error::Database(e) => {
                // SQLITE_BUSY (5), SQLITE_LOCKED (6) and SQLITE_BUSY_SNAPSHOT
                // (517), after the busy timeout.
                if matches!(e.code().as_deref(), Some("5" | "6" | "517")) {
                    ErrorClass::Busy
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

    fn record_changes<'c>(
        connection: &'c mut SqliteConnection,
        changes: &'c [CredentialChange],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for change in changes {
                sqlx::query("INSERT INTO credential_changes (change) VALUES ($1)")
                    .bind(change.encode())
                    .execute(&mut *connection)
                    .await?;
            }
            // Keep the table short: a watcher that falls this far behind
            // notices the gap and forgets everything.
            sqlx::query(
                "DELETE FROM credential_changes \
                 WHERE seq <= (SELECT max(seq) FROM credential_changes) - $1",
            )
            .bind(KEPT_CHANGES)
            .execute(&mut *connection)
            .await?;
            Ok(())
        })
    }

    fn watch_other_writers(
        readers: Pool<Sqlite>,
        _: &'static str,
        _: Pool<Sqlite>,
        hub: Arc<ChangeHub>,
        log: Logger,
    ) -> BoxFuture<'static, ()> {
        Box::pin(watch(readers, hub, log))
    }
}

/// How many change records are kept for watchers.
const KEPT_CHANGES: i64 = 10_000;
/// How often a watcher asks whether another connection wrote.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Notices other writers cheaply: `PRAGMA data_version` on one connection of
/// its own changes only when another connection (another process, or this
/// process's writer) has committed; only then are the change records after
/// the last one seen read.
async fn watch(readers: Pool<Sqlite>, hub: Arc<ChangeHub>, log: Logger) {
    let mut connection: Option<SqliteConnection> = None;
    let mut last_version = None;
    let mut last_seq = None;
    loop {
        if readers.is_closed() {
            return;
        }
        let connection_now = match &mut connection {
            Some(connection) => connection,
            None => match readers.acquire().await {
                Ok(pooled) => connection.insert(pooled.detach()),
                Err(error) => {
                    if !readers.is_closed() {
                        warn!(log, "cannot watch for other writers yet"; "error" => %error);
                    }
                    tokio::time::sleep(WATCH_INTERVAL * 10).await;
                    continue;
                }
            },
        };
        match poll(connection_now, &mut last_version, &mut last_seq).await {
            Ok(changes) => hub.publish(&changes),
            Err(error) => {
                warn!(log, "lost track of other writers; forgetting cached credentials";
                    "error" => %error);
                connection = None;
                last_version = None;
                hub.publish(&[CredentialChange::Everything]);
            }
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

/// The changes recorded since the last poll (none if nobody wrote).
async fn poll(
    connection: &mut SqliteConnection,
    last_version: &mut Option<i64>,
    last_seq: &mut Option<i64>,
) -> Result<Vec<CredentialChange>, sqlx::Error> {
    let version: i64 = sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *connection)
        .await?;
    if *last_version == Some(version) {
        return Ok(Vec::new());
    }
    *last_version = Some(version);
    let Some(seen) = *last_seq else {
        // First look: start from the newest record.
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM credential_changes")
            .fetch_one(&mut *connection)
            .await?;
        *last_seq = Some(newest.unwrap_or(0));
        return Ok(Vec::new());
    };
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, change FROM credential_changes WHERE seq > $1 ORDER BY seq")
            .bind(seen)
            .fetch_all(&mut *connection)
            .await?;
    let Some((newest, _)) = rows.last() else {
        return Ok(Vec::new());
    };
    *last_seq = Some(*newest);
    // Records are numbered without gaps; a gap means some were deleted
    // before this watcher read them.
    if rows[0].0 != seen + 1 {
        return Ok(vec![CredentialChange::Everything]);
    }
    Ok(rows
        .iter()
        .map(|(_, change)| CredentialChange::decode(change))
        .collect())
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
    use crate::store::service_accounts::sql;

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
