//! What the SQL store needs from a database driver, as one trait, [`Backend`],
//! implemented by SQLite and PostgreSQL. It names the *values* a database
//! must bind as parameters and read from columns, never a table's row: a new
//! table needs nothing here unless it brings a new kind of value.
//!
//! sqlx states what a database can do as bounds on other types (`Uuid:
//! Encode<DB>`, `&mut Connection: Executor`), and Rust does not carry such
//! bounds along with a trait. The small traits below turn each of them into a
//! method of the database type itself ([`Binds`], [`Reads`], [`Runs`],
//! implemented for every database that has the capability), so that generic
//! code needs one bound, `D: Backend`, instead of a dozen.

use std::sync::Arc;

use futures::future::BoxFuture;
use slog::Logger;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Pool, Row, Type};
use uuid::Uuid;

use super::changes::{ChangeHub, CredentialChange};
use super::columns::Timestamp;

/// A statement with its parameters, ready to run.
pub type SqlQuery<D> = sqlx::query::Query<'static, D, <D as Database>::Arguments>;

/// The database can take a `T` as a statement parameter.
pub trait Binds<T>: Database {
    fn bind_to(query: SqlQuery<Self>, value: T) -> SqlQuery<Self>;
}

impl<D: Database, T> Binds<T> for D
where
    T: for<'t> Encode<'t, D> + Type<D>,
{
    fn bind_to(query: SqlQuery<D>, value: T) -> SqlQuery<D> {
        query.bind(value)
    }
}

/// `query.arg(value)`: binds the next parameter.
pub trait Arg<D: Database> {
    fn arg<T>(self, value: T) -> Self
    where
        D: Binds<T>;
}

impl<D: Database> Arg<D> for SqlQuery<D> {
    fn arg<T>(self, value: T) -> Self
    where
        D: Binds<T>,
    {
        D::bind_to(self, value)
    }
}

/// The database can read a column as a `T`.
pub trait Reads<T>: Database {
    fn read(row: &Self::Row, column: &str) -> Result<T, sqlx::Error>;
}

impl<D: Database, T> Reads<T> for D
where
    T: for<'r> Decode<'r, D> + Type<D>,
    for<'c> &'c str: ColumnIndex<D::Row>,
{
    fn read(row: &D::Row, column: &str) -> Result<T, sqlx::Error> {
        row.try_get(column)
    }
}

/// One row of a result, read column by column by name.
pub struct Columns<'r, D: Backend>(&'r D::Row);

impl<'r, D: Backend> Columns<'r, D> {
    pub fn new(row: &'r D::Row) -> Self {
        Self(row)
    }

    /// The value of `column`, as the type the caller needs.
    pub fn get<T>(&self, column: &str) -> Result<T, sqlx::Error>
    where
        D: Reads<T>,
    {
        D::read(self.0, column)
    }
}

/// A row type read from a result row's columns: each table's row struct
/// implements it once, for every database.
pub trait FromColumns: Sized {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error>;
}

/// Statements can be run on one of the database's connections (a pooled
/// connection or a transaction both dereference to one).
pub trait Runs: Database {
    fn fetch_optional(
        connection: &mut Self::Connection,
        query: SqlQuery<Self>,
    ) -> BoxFuture<'_, Result<Option<Self::Row>, sqlx::Error>>;

    fn fetch_all(
        connection: &mut Self::Connection,
        query: SqlQuery<Self>,
    ) -> BoxFuture<'_, Result<Vec<Self::Row>, sqlx::Error>>;

    fn execute(
        connection: &mut Self::Connection,
        query: SqlQuery<Self>,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>>;

    /// Runs `sql` unprepared (PostgreSQL's simple query protocol: one
    /// message, nothing left on the connection).
    fn execute_unprepared<'c>(
        connection: &'c mut Self::Connection,
        sql: &'static str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
}

impl<D: Database> Runs for D
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    SqlQuery<D>: sqlx::Execute<'static, D>,
{
    fn fetch_optional(
        connection: &mut D::Connection,
        query: SqlQuery<D>,
    ) -> BoxFuture<'_, Result<Option<D::Row>, sqlx::Error>> {
        connection.fetch_optional(query)
    }

    fn fetch_all(
        connection: &mut D::Connection,
        query: SqlQuery<D>,
    ) -> BoxFuture<'_, Result<Vec<D::Row>, sqlx::Error>> {
        connection.fetch_all(query)
    }

    fn execute(
        connection: &mut D::Connection,
        query: SqlQuery<D>,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move { connection.execute(query).await.map(|_| ()) })
    }

    fn execute_unprepared<'c>(
        connection: &'c mut D::Connection,
        sql: &'static str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move { sqlx::raw_sql(sql).execute(connection).await.map(|_| ()) })
    }
}

/// How a database error is to be understood. Databases say it differently
/// (PostgreSQL names the violated constraint, SQLite only its columns), so
/// each [`Backend`] classifies its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database cannot be reached: refused or lost connections, a pool
    /// that cannot connect, a database shutting down. Later requests fail at
    /// once until a probe finds it back.
    Unreachable,
    /// Reachable but busy: a lock or statement timeout, too many clients, a
    /// deadlock. Worth a retry later.
    Busy,
    /// The unique index on an account's non-revoked service-account names.
    ActiveNameTaken,
    /// A foreign key names a row that does not exist.
    MissingReference,
    /// Anything else: a bug or a corrupt database.
    Other,
}

/// A database the SQL store runs on: every kind of value the store binds
/// and reads, plus the few things that really differ between databases.
pub trait Backend:
    Runs
    + sqlx::database::HasStatementCache
    + Binds<Uuid>
    + Binds<Option<Uuid>>
    + for<'a> Binds<&'a str>
    + Binds<Option<String>>
    + Binds<Timestamp>
    + Binds<Option<Timestamp>>
    + Binds<i32>
    + Binds<Option<i32>>
    + Binds<i64>
    + for<'a> Binds<&'a [u8]>
    + Reads<Uuid>
    + Reads<Option<Uuid>>
    + Reads<String>
    + Reads<Option<String>>
    + Reads<Timestamp>
    + Reads<Option<Timestamp>>
    + Reads<i32>
    + Reads<Option<i32>>
    + Reads<i64>
    + Reads<Vec<u8>>
    + Reads<Option<Vec<u8>>>
{
    /// Whether an operation that outlives the store's timeout means the
    /// database cannot be reached (a network that stopped answering), rather
    /// than that it is busy (SQLite's lock held by another writer).
    const TIMEOUT_MEANS_UNREACHABLE: bool;

    /// The migrations of this database, embedded in the binary.
    fn migrator() -> &'static sqlx::migrate::Migrator;

    /// The statement that opens a write transaction. SQLite's must take the
    /// write lock at once (`BEGIN IMMEDIATE`), so that a transaction never
    /// fails halfway on a lock upgrade.
    const BEGIN_WRITE: &'static str;

    /// Records an audit event (`$1` to `$14`, as `audit_events` has them)
    /// and queues the lifecycle events it makes (`$15`: a JSON array of
    /// `{message_id, type, body, name_pattern, kind_pattern}`, or null) for
    /// every enabled subscription of its account that wants them: one
    /// statement, since every change passes here (SQLite through a view's
    /// trigger, PostgreSQL a data-modifying `WITH`).
    const INSERT_AUDIT_EVENT: &'static str;

    /// Leases due outbox rows to one worker (`$1` owner, `$2` until, `$3`
    /// now, `$4` how many), returning them. PostgreSQL skips rows another
    /// instance is claiming (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer, so the update itself is the lease.
    const CLAIM_WEBHOOK_EVENTS: &'static str;

    fn classify(error: &sqlx::Error) -> ErrorClass;

    /// Records `changes` for the other processes on this database, inside the
    /// write transaction, so that they learn of them once it commits.
    fn record_changes<'c>(
        connection: &'c mut Self::Connection,
        changes: &'c [CredentialChange],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// Tells `hub` of the changes other processes make to this database,
    /// heard on a connection of `feed` (named `feed_name` in the log), until
    /// `feed` is closed; `writers` may be used to check that what is sent is
    /// heard. When it may have missed some, it says
    /// [`CredentialChange::Everything`].
    fn watch_other_writers(
        feed: Pool<Self>,
        feed_name: &'static str,
        writers: Pool<Self>,
        hub: Arc<ChangeHub>,
        log: Logger,
    ) -> BoxFuture<'static, ()>;
}
