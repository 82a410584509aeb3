//! The store, written once for every database: [`SqlStore`] holds the
//! connection pools and runs reads and write transactions over any
//! [`Backend`], bounded by the circuit breaker ([`super::breaker`]). Each
//! resource's queries live in the resource's own module (`accounts`,
//! `service_accounts`, `grants`, ...), as an `impl` of its trait for
//! `SqlStore<D>`; what differs between databases (connecting, classifying
//! errors, how a write transaction starts) lives in their modules.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use slog::Logger;
use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use super::backend::{Backend, Columns, ErrorClass, FromColumns, SqlQuery};
use super::breaker::{Breaker, Probe, Unreachable};
use super::changes::{ChangeHub, CredentialChange, CredentialChanges};
use super::error::StoreError;
use super::refusal::RefusalCheck;
use super::sessions::{Sessions, prepared, unnamed_within};

/// A store on one SQL database. Writes go through `writer`, reads through
/// `readers` (the same pool on PostgreSQL; on SQLite one writer connection and
/// a pool of read-only ones).
#[derive(Debug)]
pub struct SqlStore<D: Backend> {
    pub(super) writer: Pool<D>,
    pub(super) readers: Pool<D>,
    /// Whether `readers` is `writer` (one pool, PostgreSQL).
    pub(super) shared_pool: bool,
    timeout: Duration,
    changes: Arc<ChangeHub>,
    pub(super) breaker: Arc<Breaker>,
    /// Fails an acquire at once when the database refuses connections.
    refusals: Arc<RefusalCheck>,
    /// What connections keep between transactions.
    sessions: Sessions,
    /// Where other writers' changes are heard; none when no connection can
    /// hear them (behind a transaction pooler without a direct connection),
    /// which leaves the credential cache's lifetime as the bound.
    change_feed: Option<(Pool<D>, &'static str)>,
}

impl<D: Backend> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            readers: self.readers.clone(),
            shared_pool: self.shared_pool,
            timeout: self.timeout,
            changes: self.changes.clone(),
            breaker: self.breaker.clone(),
            refusals: self.refusals.clone(),
            sessions: self.sessions.clone(),
            change_feed: self.change_feed.clone(),
        }
    }
}

/// Turns a database error into a [`StoreError`], by the backend's reading of it.
pub fn store_error<D: Backend>(error: sqlx::Error) -> StoreError {
    match D::classify(&error) {
        ErrorClass::Unreachable => StoreError::Unavailable(Box::new(Unreachable(Box::new(error)))),
        ErrorClass::Busy => StoreError::Unavailable(Box::new(error)),
        ErrorClass::ActiveNameTaken => StoreError::NameConflict,
        ErrorClass::MissingReference => StoreError::AccountNotFound,
        ErrorClass::Other => StoreError::Internal(Box::new(error)),
    }
}

/// Reads one result row as an `R`.
pub fn decode<D: Backend, R: FromColumns>(row: &D::Row) -> Result<R, StoreError> {
    R::from_columns(Columns::<D>::new(row)).map_err(|e| StoreError::Internal(Box::new(e)))
}

/// A statement to bind parameters to.
pub fn query<D: Backend>(sql: &'static str) -> SqlQuery<D> {
    sqlx::query::<D>(sql)
}

pub async fn fetch_optional<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<Option<D::Row>, StoreError> {
    D::fetch_optional(connection, prepared(query))
        .await
        .map_err(store_error::<D>)
}

pub async fn fetch_all<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<Vec<D::Row>, StoreError> {
    D::fetch_all(connection, prepared(query))
        .await
        .map_err(store_error::<D>)
}

pub async fn execute<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<(), StoreError> {
    D::execute(connection, prepared(query))
        .await
        .map_err(store_error::<D>)
}

/// A count.
pub struct CountRow {
    pub count: i64,
}

impl FromColumns for CountRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            count: columns.get("count")?,
        })
    }
}

/// The trivial statement a probe runs.
const PROBE: &str = "SELECT 1";

impl<D: Backend> SqlStore<D> {
    pub(super) fn new(writer: Pool<D>, readers: Pool<D>, timeout: Duration) -> Self {
        Self {
            shared_pool: false,
            change_feed: Some((readers.clone(), "the database connection")),
            writer,
            readers,
            timeout,
            changes: Arc::default(),
            breaker: Arc::default(),
            refusals: Arc::default(),
            sessions: Sessions::Kept,
        }
    }

    /// The store with `sessions` kept between transactions.
    pub(super) fn with_sessions(self, sessions: Sessions) -> Self {
        Self { sessions, ..self }
    }

    /// The store hearing other writers' changes on `change_feed` (a pool
    /// and its name for the log; none: not at all).
    pub(super) fn with_change_feed(self, change_feed: Option<(Pool<D>, &'static str)>) -> Self {
        Self {
            change_feed,
            ..self
        }
    }

    /// What connections keep between transactions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// One pool for reads and writes.
    pub(super) fn with_one_pool(pool: Pool<D>, timeout: Duration) -> Self {
        Self {
            shared_pool: true,
            ..Self::new(pool.clone(), pool, timeout)
        }
    }

    /// Runs `operation` through the circuit breaker: bounded by the store's
    /// timeout, refused at once while the database is known to be down.
    pub(super) async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.breaker
            .run(
                self.timeout,
                D::TIMEOUT_MEANS_UNREACHABLE,
                || self.probe(),
                operation,
            )
            .await
    }

    /// Whether the database answers a fresh connection (not one from the
    /// pool, whose connections may all be gone); none once closed.
    fn probe(&self) -> Probe {
        let writer = self.writer.clone();
        Arc::new(move || {
            let writer = writer.clone();
            Box::pin(async move {
                use sqlx::ConnectOptions;
                if writer.is_closed() {
                    return None;
                }
                let answered = async {
                    let mut connection = writer.connect_options().connect().await?;
                    // Unprepared: a statement prepared under a name would
                    // stay on a pooler's server connection.
                    D::execute_unprepared(&mut connection, PROBE).await
                };
                Some(answered.await.is_ok())
            })
        })
    }

    /// A connection for reading.
    pub(super) async fn read(&self) -> Result<PoolConnection<D>, StoreError> {
        let acquiring = async { self.readers.acquire().await.map_err(store_error::<D>) };
        self.refusals.acquire(&self.readers, acquiring).await
    }

    /// Begins a transaction on `pool` with `begin`.
    async fn begin(
        &self,
        pool: &Pool<D>,
        begin: sqlx::SqlStr,
    ) -> Result<Transaction<'static, D>, StoreError> {
        let beginning = async { pool.begin_with(begin).await.map_err(store_error::<D>) };
        self.refusals.acquire(pool, beginning).await
    }

    /// Runs `work` in a transaction begun on `pool` with `begin`, and
    /// commits it.
    async fn in_transaction<T>(
        &self,
        pool: &Pool<D>,
        begin: sqlx::SqlStr,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.begin(pool, begin).await?;
        let value = work(&mut tx).await?;
        tx.commit().await.map_err(store_error::<D>)?;
        Ok(value)
    }

    /// Runs `work` in a transaction on `pool` begun with `begin` (the
    /// sessions' own, which makes their settings), every statement unnamed:
    /// how both reads and writes run where sessions last a transaction;
    /// bounded.
    async fn in_transaction_session<T>(
        &self,
        pool: &Pool<D>,
        begin: sqlx::SqlStr,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.bounded(unnamed_within(self.in_transaction(pool, begin, work)))
            .await
    }

    /// Runs `work` on a read connection (in a transaction of its own where
    /// sessions last a transaction); bounded.
    pub(super) async fn reading<T>(
        &self,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.sessions.begin() {
            None => {
                self.bounded(async { work(&mut *self.read().await?).await })
                    .await
            }
            Some(begin) => {
                self.in_transaction_session(&self.readers, begin, work)
                    .await
            }
        }
    }

    /// Runs `work` in a write transaction and commits it; bounded.
    pub(super) async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.sessions.begin() {
            None => {
                let begin = sqlx::SqlSafeStr::into_sql_str(D::BEGIN_WRITE);
                self.bounded(self.in_transaction(&self.writer, begin, work))
                    .await
            }
            Some(begin) => self.in_transaction_session(&self.writer, begin, work).await,
        }
    }

    /// Runs `work` in a write transaction that changes credentials: the changes
    /// it reports are recorded for other processes in the same transaction,
    /// and once it has committed, this process's subscribers are told before
    /// the caller hears of it (so the next request sees the change).
    pub(super) async fn write_changing<T>(
        &self,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<(T, Vec<CredentialChange>), StoreError>,
    ) -> Result<T, StoreError> {
        // The changes are told even when the write reports a failure: its
        // timeout may have fired after the commit landed, and forgetting what
        // did not change costs only a read.
        let mut staged = Vec::new();
        let result = self
            .write(async |tx| {
                let (value, changes) = work(tx).await?;
                if !changes.is_empty() {
                    D::record_changes(tx, &changes)
                        .await
                        .map_err(store_error::<D>)?;
                }
                staged = changes;
                Ok(value)
            })
            .await;
        self.changes.publish(&staged);
        result
    }

    /// The one number `sql` (a `SELECT count(*) AS count ...`) answers.
    pub(super) async fn count(&self, sql: &'static str) -> Result<i64, StoreError> {
        self.reading(async |connection| {
            let row = fetch_optional(connection, query::<D>(sql))
                .await?
                .ok_or_else(|| StoreError::Internal("a count returned no row".into()))?;
            Ok(decode::<D, CountRow>(&row)?.count)
        })
        .await
    }

    /// Closes every connection, after which every call fails.
    pub async fn close_pools(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    #[cfg(test)]
    pub(super) fn readers(&self) -> &Pool<D> {
        &self.readers
    }
}

impl<D: Backend> CredentialChanges for SqlStore<D> {
    fn changes(&self) -> &Arc<ChangeHub> {
        &self.changes
    }

    fn watch_other_writers(&self, log: Logger) -> BoxFuture<'static, ()> {
        match &self.change_feed {
            Some((feed, name)) => D::watch_other_writers(
                feed.clone(),
                name,
                self.writer.clone(),
                self.changes.clone(),
                log,
            ),
            // Said once when the store opened (see `PostgresStore::route`).
            None => Box::pin(std::future::ready(())),
        }
    }
}
