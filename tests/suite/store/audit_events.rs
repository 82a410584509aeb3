//! The audit log's store: pages newest first through every filter, and the
//! migration that gave events ids, run over events recorded before it (the
//! database is migrated to the version before, given events in the old
//! shape, then opened by the store, which migrates the rest).

use std::borrow::Cow;
use std::path::Path;

use hbx_service_accounts::domain::{Actor, AuditAction};
use hbx_service_accounts::store::{AuditFilter, PostgresOptions, PostgresStore, SqliteStore};
use sqlx::migrate::Migrator;
use sqlx::{Executor, PgPool, SqlitePool};
use uuid::Uuid;

use super::Store;
use crate::common::Backend;
use crate::common::postgres::TestDatabase;
use crate::common::stores::{StoreGuard, TIMEOUT};

/// The migrations of `directory` before `version`, run on `pool`'s database.
async fn migrate_before<D: sqlx::Database>(pool: &sqlx::Pool<D>, directory: &str, version: i64)
where
    D::Connection: sqlx::migrate::Migrate,
{
    let mut migrator = Migrator::new(Path::new(directory))
        .await
        .expect("the migrations");
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    assert!(!before.is_empty());
    migrator.migrations = Cow::Owned(before);
    migrator.run(pool).await.expect("the older migrations");
}

/// A database holding account `account` with two events in the shape the
/// audit log had before events had ids, opened by the store.
async fn store_with_old_events(backend: Backend, account: Uuid) -> (Box<dyn Store>, StoreGuard) {
    let hex = account.simple().to_string();
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("old.sqlite3");
            let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", file.display()))
                .await
                .unwrap();
            migrate_before(&pool, "migrations/sqlite", 9).await;
            pool.execute(sqlx::AssertSqlSafe(format!(
                "INSERT INTO accounts VALUES (x'{hex}', 'old', 0); \
                 INSERT INTO audit_events (occurred_at, account_id, service_account_id, action, \
                   actor_type, actor_id, request_id, detail) VALUES \
                   (1000000, x'{hex}', x'{hex}', 'create', 'operator', NULL, NULL, NULL), \
                   (2000000, x'{hex}', x'{hex}', 'rotate', 'service_account', x'{hex}', 'r-2', \
                    NULL);"
            )))
            .await
            .unwrap();
            pool.close().await;
            let store = SqliteStore::open(&file, TIMEOUT).await.expect("migrated");
            (Box::new(store), Box::new(dir))
        }
        Backend::PgBouncer => unreachable!("the upgrade runs on SQLite and PostgreSQL"),
        Backend::Postgres => {
            let database = TestDatabase::create().await;
            let pool = PgPool::connect(&database.url).await.unwrap();
            migrate_before(&pool, "migrations/postgres", 8).await;
            pool.execute(sqlx::AssertSqlSafe(format!(
                "INSERT INTO accounts VALUES ('{account}', 'old', now()); \
                 INSERT INTO audit_events (occurred_at, account_id, service_account_id, action, \
                   actor_type, actor_id, request_id, detail) VALUES \
                   ('2001-01-01 00:00:00+00', '{account}', '{account}', 'create', 'operator', NULL, NULL, \
                    NULL), \
                   ('2002-01-01 00:00:00+00', '{account}', '{account}', 'rotate', 'service_account', \
                    '{account}', 'r-2', NULL);"
            )))
            .await
            .unwrap();
            pool.close().await;
            let options = PostgresOptions {
                max_connections: 2,
                timeout: TIMEOUT,
                direct_url: None,
            };
            let store = PostgresStore::open(&database.url, &options)
                .await
                .expect("migrated");
            (Box::new(store), Box::new(database))
        }
    }
}

/// Events recorded before the migration get distinct random (version 4)
/// ids, keep their order and fields, and page like new ones.
async fn events_recorded_before_ids_get_them(backend: Backend) {
    let account = Uuid::new_v4();
    let (store, _guard) = store_with_old_events(backend, account).await;
    let all = store.audit_events(account).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].action, AuditAction::Create);
    assert_eq!(all[0].actor, Actor::Operator);
    assert_eq!(all[1].action, AuditAction::Rotate);
    assert_eq!(all[1].actor, Actor::ServiceAccount(account));
    assert_eq!(all[1].origin.request_id.as_deref(), Some("r-2"));
    assert_eq!(all[1].origin.source_ip, None);
    assert_ne!(all[0].id, all[1].id);
    for event in &all {
        assert_eq!(event.id.get_version_num(), 4, "{}", event.id);
        assert_eq!(event.id.get_variant(), uuid::Variant::RFC4122);
    }
    let page = |before: Option<Uuid>| AuditFilter {
        before,
        limit: 1,
        ..Default::default()
    };
    let newest = store.audit_page(account, &page(None)).await.unwrap();
    assert_eq!(newest, vec![all[1].clone()]);
    let next = store
        .audit_page(account, &page(Some(all[1].id)))
        .await
        .unwrap();
    assert_eq!(next, vec![all[0].clone()]);
    let end = store
        .audit_page(account, &page(Some(all[0].id)))
        .await
        .unwrap();
    assert_eq!(end, vec![]);
}

on_both_stores!(events_recorded_before_ids_get_them,);
