//! The scale-out store: one PostgreSQL database shared by any number of
//! identical server processes.
//!
//! What is PostgreSQL's own: connecting (with `statement_timeout` set to the
//! store's timeout, so the server gives up on a statement when the client
//! does), how a [`Timestamp`] is encoded (a `timestamptz`), and reading its
//! errors. The pool reconnects by itself when the database comes back.
//! Migrations run at start under sqlx's advisory lock, so instances starting
//! together do not race.
//!
//! Through a transaction pooler (PgBouncer) the store keeps nothing on a
//! connection between transactions ([`super::sessions`]); where the URL
//! leads is found as the store opens ([`super::transaction_pooler`]). A
//! direct URL beside it carries what a pooler cannot: migrations under
//! sqlx's session lock, and the `LISTEN` for other instances' changes.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgTypeInfo, PgValueRef, Postgres,
};
use std::sync::Arc;

use futures::future::BoxFuture;
use slog::Logger;
use sqlx::postgres::PgConnection;
use sqlx::{Decode, Encode, Pool, Type};

use super::backend::{Backend, ErrorClass};
use super::change_listener;
use super::changes::{ChangeHub, CredentialChange};
use super::columns::Timestamp;
use super::error::StoreError;
use super::sessions::{Sessions, prepared};
use super::sql_store::{SqlStore, store_error};
use super::transaction_pooler::{Route, check_direct, find_route, migrate_in_one_transaction};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per process when not told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A pooled connection idle for this long is pinged before it is lent; one
/// in steady use is not. sqlx's default pings on every acquire, a second round
/// trip to the database for each point read. A connection the database (or
/// something between) dropped while it sat idle is replaced without an error;
/// one lost while in use fails its statement, which the store reports as
/// unavailable and, if the database cannot be reached, marks it down.
pub const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Bounds every operation: waiting for a connection, and running.
    pub timeout: Duration,
    /// A URL that bypasses a transaction pooler the main URL goes through:
    /// one connection, for migrations and for hearing other instances'
    /// changes. Given, the main URL is taken to lead to a pooler.
    pub direct_url: Option<String>,
}

pub type PostgresStore = SqlStore<Postgres>;

/// The URL could not be understood. Its text is never repeated: it may hold a
/// password.
#[derive(Debug, thiserror::Error)]
#[error("the database URL is invalid (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")]
pub struct InvalidDatabaseUrl;

/// The direct URL could not be understood (its text is never repeated).
#[derive(Debug, thiserror::Error)]
#[error(
    "the direct database URL is invalid (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"
)]
pub struct InvalidDirectUrl;

/// How long opening waits for a statement a pooler may hold back while
/// finding where the URL leads.
const ROUTE_WAIT: Duration = Duration::from_secs(2);

impl SqlStore<Postgres> {
    /// Connects to `url`, waiting at most `options.timeout` for the database,
    /// and brings the schema up to date.
    pub async fn open(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        Ok(Self::open_routed(url, options).await?.0)
    }

    /// [`Self::open`], also saying where the URL was found to lead (a
    /// transaction pooler, a direct connection beside it), which the
    /// operator is to be told ([`Route::notice`]).
    pub async fn open_routed(
        url: &str,
        options: &PostgresOptions,
    ) -> Result<(Self, Route), StoreError> {
        let timeout = options.timeout;
        let timeout_ms = timeout.as_millis();
        let statement_timeout = format!("{timeout_ms}ms");
        let base = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Internal(Box::new(InvalidDatabaseUrl)))?
            .application_name("hbx-sa");
        let with_settings = base
            .clone()
            .options([("statement_timeout", statement_timeout.as_str())]);
        // Nothing a pooler refuses or keeps: no startup parameters beyond
        // those PgBouncer tracks, no statement kept under a name.
        let pooled = base.extra_float_digits(None).statement_cache_capacity(0);
        let direct = match &options.direct_url {
            Some(direct_url) => Some(
                PgConnectOptions::from_str(direct_url)
                    .map_err(|_| StoreError::Internal(Box::new(InvalidDirectUrl)))?
                    .application_name("hbx-sa")
                    .options([("statement_timeout", statement_timeout.as_str())]),
            ),
            None => None,
        };
        let route = match direct {
            Some(_) => Route::WITH_DIRECT_CONNECTION,
            None => {
                find_route(&with_settings, &pooled, timeout_ms, timeout.min(ROUTE_WAIT)).await?
            }
        };
        let (sessions, connect) = if route.sessions_kept() {
            (Sessions::Kept, with_settings)
        } else {
            let setting = format!("SET LOCAL statement_timeout = {timeout_ms}");
            (Sessions::per_transaction(&[setting]), pooled.clone())
        };
        let pool = pool_options(options.max_connections, timeout)
            .connect_with(connect)
            .await
            .map_err(store_error::<Postgres>)?;
        // One connection: migrations, then the listener.
        let direct = direct.map(|direct| pool_options(1, timeout).connect_lazy_with(direct));
        // Migrations may wait for another instance's; they are not bounded by
        // the request timeout.
        let migrate_error = |e: sqlx::migrate::MigrateError| StoreError::Internal(Box::new(e));
        match (&direct, &sessions) {
            (Some(direct), _) => {
                check_direct(direct, timeout_ms).await?;
                MIGRATOR.run(direct).await.map_err(migrate_error)?;
            }
            (None, Sessions::Kept) => MIGRATOR.run(&pool).await.map_err(migrate_error)?,
            (None, Sessions::PerTransaction { .. }) => {
                let mut migrator = sqlx::migrate!("migrations/postgres");
                migrate_in_one_transaction(&mut migrator, &pooled).await?;
            }
        }
        let change_feed = match direct {
            Some(direct) => Some((direct, "the direct connection (--database-direct-url)")),
            None if route.hears_other_writers() => Some((pool.clone(), "the database connection")),
            None => None,
        };
        let store = Self::with_one_pool(pool, timeout)
            .with_sessions(sessions)
            .with_change_feed(change_feed);
        Ok((store, route))
    }
}

/// A pool of at most `max_connections`, each bounded by `timeout`.
fn pool_options(max_connections: u32, timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_BEFORE_PING {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const TIMEOUT_MEANS_UNREACHABLE: bool = true;

    const INSERT_AUDIT_EVENT: &'static str = "WITH audit AS (INSERT INTO audit_events (id, \
        occurred_at, account_id, service_account_id, action, actor_type, actor_id, \
        actor_token_public_id, token_public_id, request_id, source_ip, user_agent, detail, \
        actor_federation) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)) \
        INSERT INTO webhook_events (message_id, webhook_id, account_id, event_type, payload, \
        created_at, status, attempts, next_attempt_at) \
        SELECT e->>'message_id', w.id, w.account_id, e->>'type', e->>'body', $2, 'pending', 0, $2 \
        FROM jsonb_array_elements(coalesce(CAST($15 AS text)::jsonb, '[]'::jsonb)) AS e, \
        webhooks AS w \
        WHERE w.account_id = $3 AND w.disabled_at IS NULL \
        AND ((' ' || w.event_types || ' ') LIKE e->>'name_pattern' ESCAPE '\\' \
        OR (' ' || w.event_types || ' ') LIKE e->>'kind_pattern' ESCAPE '\\')";

    const CLAIM_WEBHOOK_EVENTS: &'static str = "UPDATE webhook_events SET lease_owner = $1, lease_until = $2 \
        WHERE (message_id, webhook_id) IN (SELECT message_id, webhook_id FROM webhook_events \
        WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
        ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
        RETURNING message_id, webhook_id, account_id, event_type, payload, created_at, attempts";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn classify(error: &sqlx::Error) -> ErrorClass {
        match error {
            // A pool that cannot hand out a connection in time, with a
            // database that refuses or drops connections, is the usual sign
            // of an outage (under load it may only be busy: the probe tells).
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => ErrorClass::Unreachable,
            sqlx::Error::Database(e) => {
                let code = e.code().unwrap_or_default();
                // 08: connection exception; 57P01-57P03: shutting down or
                // starting. 53300: too many connections; 57014: statement
                // timeout; 40001/40P01: serialization failure, deadlock.
                if code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03") {
                    ErrorClass::Unreachable
                } else if matches!(&*code, "53300" | "57014" | "40001" | "40P01") {
                    ErrorClass::Busy
                } else if e.is_unique_violation()
                    && e.constraint() == Some("service_accounts_active_name")
                {
                    ErrorClass::ActiveNameTaken
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
        connection: &'c mut PgConnection,
        changes: &'c [CredentialChange],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for change in changes {
                // Sent when (and if) the transaction commits.
                prepared(sqlx::query("SELECT pg_notify($1, $2)"))
                    .bind(change_listener::CHANNEL)
                    .bind(change.encode())
                    .execute(&mut *connection)
                    .await?;
            }
            Ok(())
        })
    }

    fn watch_other_writers(
        feed: Pool<Postgres>,
        feed_name: &'static str,
        writers: Pool<Postgres>,
        hub: Arc<ChangeHub>,
        log: Logger,
    ) -> BoxFuture<'static, ()> {
        Box::pin(change_listener::listen(feed, feed_name, writers, hub, log))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Timestamp)
    }
}
