//! The store through a real PgBouncer (Debian's 1.18) in transaction
//! pooling: where the URL leads is found as it opens, migrations run once
//! whichever way each instance takes (through the pooler in one transaction,
//! or over a direct URL under sqlx's own lock), and what a pooler cannot
//! carry is refused with a message that says what to change. The behaviour
//! suites run through PgBouncer too (`pgbouncer::` tests, `on_every_store!`).

use std::time::Duration;

use hbx_service_accounts::store::sessions::Sessions;
use hbx_service_accounts::store::transaction_pooler::{Route, RouteNotice};
use hbx_service_accounts::store::{AccountStore, PostgresOptions, PostgresStore};
use sqlx::migrate::Migrate;
use sqlx::{Connection, PgConnection};

use super::account;
use crate::common::pgbouncer::{PgBouncer, PoolerSettings};
use crate::common::postgres::{TestDatabase, assert_each_migration_ran_once, log_created_objects};

/// An error and its causes, as the command line shows them.
fn with_causes(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn options(direct_url: Option<&str>) -> PostgresOptions {
    PostgresOptions {
        max_connections: 2,
        timeout: TIMEOUT,
        direct_url: direct_url.map(str::to_owned),
    }
}

/// Straight to PostgreSQL nothing changes: sessions are kept (named,
/// cached statements; settings made when connecting) and changes are heard
/// on the database connection.
#[tokio::test]
async fn straight_to_postgresql_sessions_are_kept() {
    let database = TestDatabase::create().await;
    let (store, route) = PostgresStore::open_routed(&database.url, &options(None))
        .await
        .unwrap();
    assert_eq!(
        route,
        Route {
            transaction_pooler: false,
            settings_kept: true,
            direct: false,
        }
    );
    assert_eq!(store.sessions(), &Sessions::Kept);
    assert_eq!(route.notice(), None);
}

/// Through PgBouncer, with its default refusal of the startup parameters
/// sqlx sends, or configured to ignore them (as many deployments are): the
/// pooler is found, settings are made in each transaction, and the store
/// works.
#[tokio::test]
async fn through_pgbouncer_sessions_last_a_transaction() {
    for ignore_startup_parameters in [false, true] {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with(PoolerSettings {
            ignore_startup_parameters,
            ..PoolerSettings::default()
        });
        let (store, route) =
            PostgresStore::open_routed(&pooler.url_for(&database.url), &options(None))
                .await
                .unwrap_or_else(|error| {
                    panic!("ignoring parameters: {ignore_startup_parameters}: {error}")
                });
        assert_eq!(
            route,
            Route {
                transaction_pooler: true,
                settings_kept: false,
                direct: false,
            },
            "ignoring parameters: {ignore_startup_parameters}"
        );
        let timeout_ms = TIMEOUT.as_millis();
        assert_eq!(
            store.sessions(),
            &Sessions::per_transaction(&[format!("SET LOCAL statement_timeout = {timeout_ms}")])
        );
        assert!(
            matches!(route.notice(), Some(RouteNotice::Warning(_))),
            "{:?}",
            route.notice()
        );
        let acme = account("acme");
        store.create_account(&acme).await.unwrap();
        assert_eq!(store.get_account(acme.id).await.unwrap(), Some(acme));
    }
}

/// Through a pooler of one server connection, every statement the store
/// sends (migrations, probe, reads and writes) runs on that one: afterwards
/// it holds no prepared statement, no setting and no advisory lock of ours,
/// so whichever client it serves next finds it clean.
#[tokio::test]
async fn nothing_is_left_on_the_pooled_server_connection() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start_with(PoolerSettings {
        pool_size: 1,
        ..PoolerSettings::default()
    });
    let pooled_url = pooler.url_for(&database.url);
    let (store, route) = PostgresStore::open_routed(&pooled_url, &options(None))
        .await
        .unwrap();
    assert!(route.transaction_pooler, "{route:?}");
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    assert_eq!(store.get_account(acme.id).await.unwrap(), Some(acme));
    // As PgBouncer takes a client: no startup parameter it does not track.
    let plain = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&pooled_url)
        .unwrap()
        .extra_float_digits(None);
    let mut client = PgConnection::connect_with(&plain).await.unwrap();
    let left = sqlx::raw_sql(
        "SELECT (SELECT count(*) FROM pg_prepared_statements)::text, \
         current_setting('statement_timeout'), \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())::text",
    )
    .fetch_one(&mut client)
    .await
    .unwrap();
    use sqlx::Row;
    let left: (String, String, String) = (left.get(0), left.get(1), left.get(2));
    assert_eq!(
        left,
        ("0".into(), "0".into(), "0".into()),
        "(prepared statements, statement_timeout, advisory locks)"
    );
}

/// Four instances starting together on an empty database, two through the
/// pooler alone (one transaction, a transaction-level lock) and two with a
/// direct URL (sqlx's migrator and its session lock): every object the
/// migrations make is created once, as an event trigger counts.
#[tokio::test]
async fn instances_migrating_through_the_pooler_and_directly_run_each_migration_once() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start();
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    log_created_objects(&mut connection).await;
    let pooled_url = pooler.url_for(&database.url);
    let through_pooler = options(None);
    let with_direct = options(Some(&database.url));
    let opened = futures::future::join_all([
        PostgresStore::open(&pooled_url, &through_pooler),
        PostgresStore::open(&pooled_url, &with_direct),
        PostgresStore::open(&pooled_url, &through_pooler),
        PostgresStore::open(&pooled_url, &with_direct),
    ])
    .await;
    for store in &opened {
        assert!(store.is_ok(), "{store:?}");
    }
    assert_each_migration_ran_once(&mut connection).await;
}

/// The transaction-level lock taken through the pooler is sqlx's own
/// migration lock: while a session holds it (as sqlx's migrator does), a
/// store opening through the pooler waits, and goes on once it is let go.
#[tokio::test]
async fn migrating_through_the_pooler_waits_for_sqlx_migrators_lock() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start();
    let mut holder = PgConnection::connect(&database.url).await.unwrap();
    holder.lock().await.expect("sqlx's migration lock");
    let pooled_url = pooler.url_for(&database.url);
    let through_pooler = options(None);
    let opening = PostgresStore::open(&pooled_url, &through_pooler);
    tokio::pin!(opening);
    tokio::select! {
        opened = &mut opening => panic!("the store migrated while sqlx's lock was held: {opened:?}"),
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    let (opened, unlocked) = tokio::join!(tokio::time::timeout(TIMEOUT, opening), holder.unlock());
    unlocked.unwrap();
    let opened = opened.expect("the store opens once the lock is let go");
    assert!(opened.is_ok(), "{opened:?}");
    let _ = holder.close().await;
}

/// A pooler in statement pooling cannot run the store's transactions: the
/// store refuses to open, saying so.
#[tokio::test]
async fn statement_pooling_is_refused_with_what_to_change() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start_with(PoolerSettings {
        pool_mode: "statement",
        ..PoolerSettings::default()
    });
    let error = PostgresStore::open(&pooler.url_for(&database.url), &options(None))
        .await
        .expect_err("statement pooling is refused");
    let error = with_causes(&error);
    assert!(error.contains("statement pooling"), "{error}");
    assert!(error.contains("use transaction pooling"), "{error}");
}

/// A direct URL that goes through the pooler too (refusing or dropping the
/// settings given when connecting) is refused: it could carry neither the
/// migration lock nor LISTEN. The database's password never shows.
#[tokio::test]
async fn a_direct_url_through_the_pooler_is_refused() {
    for ignore_startup_parameters in [false, true] {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with(PoolerSettings {
            ignore_startup_parameters,
            ..PoolerSettings::default()
        });
        let pooled_url = pooler.url_for(&database.url);
        let error = PostgresStore::open(&pooled_url, &options(Some(&pooled_url)))
            .await
            .expect_err("a direct URL through the pooler is refused");
        let error = with_causes(&error);
        assert!(
            error.contains("--database-direct-url") && error.contains("must bypass the pooler"),
            "ignoring parameters: {ignore_startup_parameters}: {error}"
        );
    }
}
