//! A store on either database, for the behaviour suite: SQLite in a temporary
//! directory, or a fresh PostgreSQL database (the same set-up the servers use),
//! straight or through PgBouncer.

use std::sync::Arc;
use std::time::Duration;

use hbx_service_accounts::store::{PostgresOptions, PostgresStore, SqliteStore, Store};

use super::Backend;
use super::pgbouncer::PgBouncer;
use super::postgres::TestDatabase;

/// Keeps the store's database alive; drop it after the store.
pub type StoreGuard = Box<dyn std::any::Any + Send>;

pub const TIMEOUT: Duration = Duration::from_secs(5);

fn postgres_options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 4,
        timeout: TIMEOUT,
        direct_url: None,
    }
}

pub async fn open_store(backend: Backend) -> (Arc<dyn Store>, StoreGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = SqliteStore::open(&dir.path().join("store.sqlite3"), TIMEOUT)
                .await
                .expect("open SQLite");
            (Arc::new(store), Box::new(dir))
        }
        Backend::Postgres => {
            let database = TestDatabase::create().await;
            let store = PostgresStore::open(&database.url, &postgres_options())
                .await
                .expect("open PostgreSQL");
            (Arc::new(store), Box::new(database))
        }
        Backend::PgBouncer => {
            let database = TestDatabase::create().await;
            let pooler = PgBouncer::start();
            let store = PostgresStore::open(&pooler.url_for(&database.url), &postgres_options())
                .await
                .expect("open PostgreSQL through PgBouncer");
            // The pooler stops before the database is dropped.
            (Arc::new(store), Box::new((pooler, database)))
        }
    }
}
