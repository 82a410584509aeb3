//! PostgreSQL through a connection pooler (PgBouncer): finding out, as the
//! store opens, where the database URL leads, and migrating through a
//! transaction pooler when there is no direct connection.
//!
//! A transaction pooler lends a client connection a server connection for
//! one transaction at a time. What lives on a server connection between
//! transactions (named prepared statements, `SET` settings, session advisory
//! locks, `LISTEN`) is then either lost or, worse, someone else's. PgBouncer
//! also refuses (or, configured to, ignores) startup parameters it does not
//! track, such as `options` (where `statement_timeout` was set) and
//! `extra_float_digits`. [`find_route`] tells, without assuming PgBouncer's
//! name or version, from what the connections do:
//! - whether settings given when connecting hold (refused or dropped: no);
//! - whether a session survives between transactions: while a second client
//!   holds a transaction open, the first client's next statement runs on a
//!   different server process (or waits for one), or the second client was
//!   given the first's server process. Straight to PostgreSQL, or through a
//!   session pooler, neither ever happens.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Pool, Postgres, Row};

use super::error::StoreError;
use super::sql_store::store_error;

/// Where the database URL leads, as far as the store needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// A session lasts one transaction: the URL leads to a transaction
    /// pooler (found, or taken as said when a direct URL is given).
    pub transaction_pooler: bool,
    /// Settings given when connecting reach the database.
    pub settings_kept: bool,
    /// A direct connection (`--database-direct-url`) bypasses the pooler for
    /// migrations and for hearing other instances' changes.
    pub direct: bool,
}

impl Route {
    /// Given a direct URL, the database URL is taken to lead to a
    /// transaction pooler: nothing is probed, nothing kept between
    /// transactions.
    pub const WITH_DIRECT_CONNECTION: Route = Route {
        transaction_pooler: true,
        settings_kept: false,
        direct: true,
    };

    /// Whether connections may keep sessions (named statements, settings
    /// made when connecting): straight to the database, nothing in between
    /// that drops them.
    pub fn sessions_kept(&self) -> bool {
        !self.transaction_pooler && self.settings_kept
    }

    /// Whether other instances' changes are heard (`LISTEN`): over the
    /// direct connection, or over the database URL when it keeps sessions.
    pub fn hears_other_writers(&self) -> bool {
        self.direct || !self.transaction_pooler
    }

    /// What the operator is told when the store opens; nothing when the URL
    /// leads straight to the database.
    pub fn notice(&self) -> Option<RouteNotice> {
        if self.direct {
            return Some(RouteNotice::Info(
                "PostgreSQL through a pooler, with a direct connection \
                 (--database-direct-url): statements are unnamed and settings made in each \
                 transaction; migrations and notifications of other instances' credential \
                 changes (LISTEN) use the direct connection"
                    .to_owned(),
            ));
        }
        if self.transaction_pooler {
            return Some(RouteNotice::Warning(
                "the database URL leads to a transaction pooler (such as PgBouncer in \
                 transaction pooling) and no --database-direct-url is set: statements are \
                 unnamed and settings made in each transaction, migrations run in one \
                 transaction under a transaction-level lock, and other instances' credential \
                 changes are not heard (LISTEN needs a session): a token revoked or rotated \
                 elsewhere is refused here within the credential cache's lifetime \
                 (--credential-cache-ttl). Set --database-direct-url to a URL that bypasses \
                 the pooler to hear them at once"
                    .to_owned(),
            ));
        }
        (!self.settings_kept).then(|| {
            RouteNotice::Info(
                "settings given when connecting do not reach PostgreSQL (a pooler refuses or \
                 drops them): they are made in each transaction instead"
                    .to_owned(),
            )
        })
    }
}

/// What the operator is told about a [`Route`] when the store opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteNotice {
    /// How the store connects.
    Info(String),
    /// A fallback with a weaker guarantee (the revocation bound).
    Warning(String),
}

/// The URL leads to a pooler in statement pooling, where no transaction
/// (so no change of more than one statement) can run.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database URL leads to a pooler in statement pooling, which cannot run transactions: \
     use transaction pooling (or session pooling) for this database"
)]
pub struct StatementPooling(#[source] sqlx::Error);

/// How many times the session test runs before the URL is taken to keep
/// sessions: once settles it behind a pooler that reuses the server process
/// it last released (PgBouncer's default); a pooler that rotates them may
/// need a second look.
const SESSION_TESTS: usize = 2;

/// Finds where the database URL leads: `with_settings` connects as the
/// store would straight to the database (its `statement_timeout`, expected
/// to read `statement_timeout_ms`), `plain` without any startup parameter a
/// pooler may refuse. Waits at most `wait` for a statement a pooler may
/// hold back. Uses two connections, closed before it returns.
pub async fn find_route(
    with_settings: &PgConnectOptions,
    plain: &PgConnectOptions,
    statement_timeout_ms: u128,
    wait: Duration,
) -> Result<Route, StoreError> {
    let (mut first, settings_sent) = match with_settings.connect().await {
        Ok(connection) => (connection, true),
        Err(error) if refuses_startup_parameter(&error) => (connect(plain).await?, false),
        Err(error) => return Err(store_error::<Postgres>(error)),
    };
    let settings_kept =
        settings_sent && statement_timeout_ms == statement_timeout_of(&mut first).await?;
    let mut transaction_pooler = false;
    for _ in 0..SESSION_TESTS {
        if !keeps_its_session(&mut first, plain, wait).await? {
            transaction_pooler = true;
            break;
        }
    }
    let _ = first.close().await;
    Ok(Route {
        transaction_pooler,
        settings_kept,
        direct: false,
    })
}

/// Whether `first` keeps its server process while another client holds a
/// transaction open (see the module's documentation).
async fn keeps_its_session(
    first: &mut PgConnection,
    plain: &PgConnectOptions,
    wait: Duration,
) -> Result<bool, StoreError> {
    let before = text(first, "SELECT pg_backend_pid()::text").await?;
    let mut second = connect(plain).await?;
    if let Err(error) = sqlx::raw_sql("BEGIN").execute(&mut second).await {
        return Err(if error.to_string().contains("statement pooling") {
            StoreError::Internal(Box::new(StatementPooling(error)))
        } else {
            store_error::<Postgres>(error)
        });
    }
    let lent = text(&mut second, "SELECT pg_backend_pid()::text").await?;
    // Given `first`'s server process: `first` had none of its own (and
    // asking it again would wait for `second`, through a pool of one).
    let after = if lent == before {
        None
    } else {
        Some(tokio::time::timeout(wait, text(first, "SELECT pg_backend_pid()::text")).await)
    };
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut second).await;
    let _ = second.close().await;
    match after {
        None => Ok(false),
        // Waiting for a server process while another client holds one:
        // `first` had none of its own.
        Some(Err(_)) => Ok(false),
        Some(Ok(after)) => Ok(after? == before),
    }
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    options.connect().await.map_err(store_error::<Postgres>)
}

/// The first column of the one row `sql` answers, as text; sent unprepared
/// (the simple query protocol), so nothing is left on a server connection.
async fn text(connection: &mut PgConnection, sql: &'static str) -> Result<String, StoreError> {
    let row = sqlx::raw_sql(sql)
        .fetch_one(connection)
        .await
        .map_err(store_error::<Postgres>)?;
    row.try_get::<String, _>(0)
        .map_err(|error| StoreError::Internal(Box::new(error)))
}

/// The `statement_timeout` in effect on `connection`, in milliseconds.
async fn statement_timeout_of(connection: &mut PgConnection) -> Result<u128, StoreError> {
    let setting = text(
        connection,
        "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'",
    )
    .await?;
    setting
        .parse()
        .map_err(|_| StoreError::Internal(format!("statement_timeout reads {setting:?}").into()))
}

/// The direct URL leads somewhere that is not PostgreSQL's own session.
#[derive(Debug, thiserror::Error)]
#[error(
    "the direct database URL (--database-direct-url) does not lead straight to PostgreSQL \
     ({0}): it must bypass the pooler the database URL goes through"
)]
pub struct DirectUrlThroughPooler(&'static str);

/// Checks that `direct` (the pool of the direct URL, connecting with a
/// `statement_timeout` of `statement_timeout_ms`) reaches PostgreSQL
/// itself: a pooler refuses or drops settings given when connecting.
pub async fn check_direct(
    direct: &Pool<Postgres>,
    statement_timeout_ms: u128,
) -> Result<(), StoreError> {
    let through_pooler = |why| StoreError::Internal(Box::new(DirectUrlThroughPooler(why)));
    let mut connection = direct.acquire().await.map_err(|error| {
        if refuses_startup_parameter(&error) {
            through_pooler("it refuses startup parameters, as PgBouncer does")
        } else {
            store_error::<Postgres>(error)
        }
    })?;
    if statement_timeout_of(&mut connection).await? != statement_timeout_ms {
        return Err(through_pooler(
            "settings given when connecting do not reach the database",
        ));
    }
    Ok(())
}

/// PgBouncer's answer to a startup parameter it does not track.
fn refuses_startup_parameter(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.message().contains("unsupported startup parameter"))
}

/// The advisory lock sqlx's migrator takes for a database (a session lock,
/// which a transaction pooler cannot carry): taken here as a transaction
/// lock of the same key, instances migrating each way exclude each other.
pub fn migration_lock_key(database_name: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32fast::hash(database_name.as_bytes()))
}

/// Runs `migrator`'s pending migrations in one transaction on a connection
/// made with `options` (through a transaction pooler: one server connection
/// for the whole transaction), under a transaction-level advisory lock, so
/// instances starting together apply each migration once. The named
/// statements sqlx's migrator prepares are deallocated before the commit;
/// any left by someone else are deallocated first.
pub async fn migrate_in_one_transaction(
    migrator: &mut Migrator,
    options: &PgConnectOptions,
) -> Result<(), StoreError> {
    let internal = |error: sqlx::migrate::MigrateError| StoreError::Internal(Box::new(error));
    let mut connection = connect(options).await?;
    let mut tx = connection.begin().await.map_err(store_error::<Postgres>)?;
    sqlx::raw_sql("DEALLOCATE ALL")
        .execute(&mut *tx)
        .await
        .map_err(store_error::<Postgres>)?;
    let database = text(&mut tx, "SELECT current_database()::text").await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .persistent(false)
        .bind(migration_lock_key(&database))
        .execute(&mut *tx)
        .await
        .map_err(store_error::<Postgres>)?;
    migrator.set_locking(false);
    migrator.run(&mut *tx).await.map_err(internal)?;
    sqlx::raw_sql("DEALLOCATE ALL")
        .execute(&mut *tx)
        .await
        .map_err(store_error::<Postgres>)?;
    tx.commit().await.map_err(store_error::<Postgres>)?;
    let _ = connection.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_sqlx_migrators() {
        // sqlx: 0x3d32ad9e * crc32(name) (CRC-32/ISO-HDLC, "check" value
        // 0xCBF43926 for "123456789").
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            migration_lock_key("123456789"),
            0x3d32_ad9e * 0xCBF4_3926_i64
        );
    }

    #[test]
    fn the_notice_says_what_each_route_falls_back_to() {
        let straight = Route {
            transaction_pooler: false,
            settings_kept: true,
            direct: false,
        };
        assert!(straight.sessions_kept() && straight.hears_other_writers());
        assert_eq!(straight.notice(), None);

        let pooled = Route {
            transaction_pooler: true,
            settings_kept: false,
            direct: false,
        };
        assert!(!pooled.sessions_kept() && !pooled.hears_other_writers());
        let Some(RouteNotice::Warning(text)) = pooled.notice() else {
            panic!("a warning: {:?}", pooled.notice());
        };
        assert!(text.contains("--credential-cache-ttl"), "{text}");
        assert!(text.contains("--database-direct-url"), "{text}");

        let direct = Route::WITH_DIRECT_CONNECTION;
        assert!(!direct.sessions_kept() && direct.hears_other_writers());
        let Some(RouteNotice::Info(text)) = direct.notice() else {
            panic!("not a warning: {:?}", direct.notice());
        };
        assert!(text.contains("direct connection"), "{text}");

        let settings_dropped = Route {
            settings_kept: false,
            ..straight
        };
        assert!(!settings_dropped.sessions_kept() && settings_dropped.hears_other_writers());
        assert!(matches!(
            settings_dropped.notice(),
            Some(RouteNotice::Info(_))
        ));
    }
}
