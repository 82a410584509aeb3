//! The embedded default store: one SQLite file in the data directory.
//!
//! WAL journal with `synchronous = FULL`, so a commit is on disk before it
//! returns; all writes go through one connection (SQLite has one writer anyway,
//! and queueing in-process avoids lock-upgrade failures), reads through a small
//! pool. Other processes (the command line while a server runs) wait on the
//! busy timeout instead of failing.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::{
    Grant, LastUse, PageRequest, Revocation, Store, StoreError, StoredServiceAccount,
    TokenReplacement, sql,
};
use crate::domain::{
    Account, Actor, AuditAction, AuditEvent, Capability, CapabilityKey, ServiceAccount, Subject,
    TokenFacts,
};
use crate::token::keyring::TokenMac;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "hbx-sa.sqlite3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const READ_CONNECTIONS: u32 = 4;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema
    /// up to date. `timeout` bounds how long an operation waits for a
    /// connection or for SQLite's write lock before failing as unavailable.
    pub async fn open(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(internal)?
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
            .map_err(map_error)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {}: {e}", path.display())))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(map_error)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction that holds SQLite's write lock from its first
    /// statement, so it can never fail halfway on a lock upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_error)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_account(&mut tx, account).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(sql::SELECT_ACCOUNT)
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)?;
        row.map(|row| {
            Ok(Account {
                id: row.try_get("id").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                created_at: from_micros(row.try_get("created_at").map_err(internal)?)?,
            })
        })
        .transpose()
    }

    async fn add_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_grant(&mut tx, grant).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError> {
        let rows = sqlx::query(sql::SELECT_CAPABILITIES)
            .bind(account_id)
            .bind(subject.kind())
            .bind(subject.id())
            .fetch_all(&self.readers)
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get("capability").map_err(internal)?;
                CapabilityKey::parse(&key).map_err(|e| internal(e.message))
            })
            .collect()
    }

    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_service_account(&mut tx, new).await?;
        insert_audit_event(&mut tx, event).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_account(&mut tx, account).await?;
        insert_service_account(&mut tx, owner).await?;
        let grant = Grant {
            account_id: account.id,
            subject: Subject::ServiceAccount(owner.service_account.id),
            capability: Capability::AccountOwner.into(),
            created_at: account.created_at,
        };
        insert_grant(&mut tx, &grant).await?;
        insert_audit_event(&mut tx, event).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let row = sqlx::query(sql::SELECT_SERVICE_ACCOUNT)
            .bind(id)
            .bind(account_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)?;
        row.as_ref()
            .map(|row| stored_service_account(row).map(|stored| stored.service_account))
            .transpose()
    }

    async fn rotate_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sql::ROTATE_TOKEN)
            .bind(id)
            .bind(account_id)
            .bind(&replacement.token.prefix)
            .bind(&replacement.token.public_id)
            .bind(&replacement.token.last4)
            .bind(&replacement.mac.digest)
            .bind(i64::from(replacement.mac.key_version))
            .bind(micros(replacement.at))
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let rotated = stored_service_account(&row)?.service_account;
        insert_audit_event(&mut tx, event).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(Some(rotated))
    }

    async fn revoke(
        &self,
        account_id: Uuid,
        id: Uuid,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = sqlx::query(sql::REVOKE)
            .bind(id)
            .bind(account_id)
            .bind(micros(revocation.at))
            .bind(revocation.by_user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?
            .rows_affected()
            == 1;
        if revoked {
            insert_audit_event(&mut tx, event).await?;
        }
        let row = sqlx::query(sql::SELECT_SERVICE_ACCOUNT)
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        row.as_ref()
            .map(|row| stored_service_account(row).map(|stored| stored.service_account))
            .transpose()
    }

    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for last_use in uses {
            sqlx::query(sql::RECORD_LAST_USE)
                .bind(last_use.service_account_id)
                .bind(&last_use.public_id)
                .bind(micros(last_use.at))
                .bind(micros(last_use.unless_recorded_after))
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }

    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(sql::SELECT_AUDIT_EVENTS)
            .bind(account_id)
            .fetch_all(&self.readers)
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let action: String = row.try_get("action").map_err(internal)?;
                let actor_type: String = row.try_get("actor_type").map_err(internal)?;
                let actor_id: Option<Uuid> = row.try_get("actor_id").map_err(internal)?;
                Ok(AuditEvent {
                    occurred_at: from_micros(row.try_get("occurred_at").map_err(internal)?)?,
                    account_id: row.try_get("account_id").map_err(internal)?,
                    service_account_id: row.try_get("service_account_id").map_err(internal)?,
                    action: AuditAction::parse(&action)
                        .ok_or_else(|| internal(format!("unknown audit action {action:?}")))?,
                    actor: Actor::from_parts(&actor_type, actor_id)
                        .ok_or_else(|| internal(format!("invalid audit actor {actor_type:?}")))?,
                    request_id: row.try_get("request_id").map_err(internal)?,
                })
            })
            .collect()
    }

    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        // Resolve the cursor to its position first: the page query then walks
        // the (account_id, created_at, id) index from there, so a page costs the
        // same however large the account is.
        let (after_created_at, after_id) = match page.after {
            None => (i64::MIN, Uuid::nil()),
            Some(after) => {
                let row = sqlx::query(sql::SELECT_CURSOR)
                    .bind(after)
                    .bind(account_id)
                    .fetch_optional(&self.readers)
                    .await
                    .map_err(map_error)?
                    .ok_or(StoreError::CursorNotFound)?;
                (row.try_get("created_at").map_err(internal)?, after)
            }
        };
        // Two statements rather than one with a flag, so that the active-only
        // page can use the partial index of non-revoked service accounts.
        let sql = if page.include_revoked {
            sql::LIST_ALL
        } else {
            sql::LIST_ACTIVE
        };
        let rows = sqlx::query(sql)
            .bind(account_id)
            .bind(after_created_at)
            .bind(after_id)
            .bind(i64::from(page.limit))
            .fetch_all(&self.readers)
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| stored_service_account(row).map(|stored| stored.service_account))
            .collect()
    }

    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        let row = sqlx::query(sql::SELECT_BY_PUBLIC_ID)
            .bind(public_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)?;
        row.as_ref().map(stored_service_account).transpose()
    }

    /// Closing the last connection also checkpoints the WAL into the main file.
    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

async fn insert_account(
    tx: &mut Transaction<'static, Sqlite>,
    account: &Account,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_ACCOUNT)
        .bind(account.id)
        .bind(&account.name)
        .bind(micros(account.created_at))
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

async fn insert_service_account(
    tx: &mut Transaction<'static, Sqlite>,
    new: &StoredServiceAccount,
) -> Result<(), StoreError> {
    let sa = &new.service_account;
    sqlx::query(sql::INSERT_SERVICE_ACCOUNT)
        .bind(sa.id)
        .bind(sa.account_id)
        .bind(&sa.name)
        .bind(micros(sa.created_at))
        .bind(micros(sa.updated_at))
        .bind(sa.created_by_user_id)
        .bind(sa.expires_at.map(micros))
        .bind(sa.last_used_at.map(micros))
        .bind(sa.revoked_at.map(micros))
        .bind(sa.revoked_by_user_id)
        .bind(&sa.token.prefix)
        .bind(&sa.token.public_id)
        .bind(&sa.token.last4)
        .bind(&new.mac.digest)
        .bind(i64::from(new.mac.key_version))
        .execute(&mut **tx)
        .await
        .map_err(|error| match unique_violation_on(&error) {
            Some(message) if message.contains("service_accounts.name") => StoreError::NameConflict,
            _ if is_foreign_key_violation(&error) => StoreError::AccountNotFound,
            _ => map_error(error),
        })?;
    Ok(())
}

async fn insert_audit_event(
    tx: &mut Transaction<'static, Sqlite>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_AUDIT_EVENT)
        .bind(micros(event.occurred_at))
        .bind(event.account_id)
        .bind(event.service_account_id)
        .bind(event.action.as_str())
        .bind(event.actor.kind())
        .bind(event.actor.id())
        .bind(&event.request_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

async fn insert_grant(
    tx: &mut Transaction<'static, Sqlite>,
    grant: &Grant,
) -> Result<(), StoreError> {
    let account_exists = sqlx::query(sql::ACCOUNT_EXISTS)
        .bind(grant.account_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_error)?
        .is_some();
    if !account_exists {
        return Err(StoreError::AccountNotFound);
    }
    if let Subject::ServiceAccount(id) = grant.subject {
        let in_account = sqlx::query(sql::SERVICE_ACCOUNT_IN_ACCOUNT)
            .bind(id)
            .bind(grant.account_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_error)?
            .is_some();
        if !in_account {
            return Err(StoreError::ServiceAccountNotInAccount);
        }
    }
    sqlx::query(sql::INSERT_GRANT)
        .bind(grant.account_id)
        .bind(grant.subject.kind())
        .bind(grant.subject.id())
        .bind(grant.capability.as_str())
        .bind(micros(grant.created_at))
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

fn stored_service_account(row: &SqliteRow) -> Result<StoredServiceAccount, StoreError> {
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(column)
            .map_err(internal)?
            .map(from_micros)
            .transpose()
    };
    let key_version: i64 = row.try_get("token_key_version").map_err(internal)?;
    Ok(StoredServiceAccount {
        service_account: ServiceAccount {
            id: row.try_get("id").map_err(internal)?,
            account_id: row.try_get("account_id").map_err(internal)?,
            name: row.try_get("name").map_err(internal)?,
            created_at: from_micros(row.try_get("created_at").map_err(internal)?)?,
            updated_at: from_micros(row.try_get("updated_at").map_err(internal)?)?,
            created_by_user_id: row.try_get("created_by_user_id").map_err(internal)?,
            expires_at: optional_time("expires_at")?,
            last_used_at: optional_time("last_used_at")?,
            revoked_at: optional_time("revoked_at")?,
            revoked_by_user_id: row.try_get("revoked_by_user_id").map_err(internal)?,
            token: TokenFacts {
                prefix: row.try_get("token_prefix").map_err(internal)?,
                public_id: row.try_get("token_public_id").map_err(internal)?,
                last4: row.try_get("token_last4").map_err(internal)?,
            },
        },
        mac: TokenMac {
            key_version: u32::try_from(key_version).map_err(internal)?,
            digest: row.try_get("token_mac").map_err(internal)?,
        },
    })
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(value: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| StoreError::Internal(format!("timestamp {value} is out of range")))
}

fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

fn unique_violation_on(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => Some(e.message().to_owned()),
        _ => None,
    }
}

fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_foreign_key_violation())
}

/// Connection-level failures and lock timeouts are "unavailable" (worth a
/// retry); everything else is internal.
fn map_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), after the busy timeout.
        sqlx::Error::Database(e)
            if matches!(e.code().as_deref(), Some("5") | Some("6") | Some("517")) =>
        {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    .fetch_all(&store.readers)
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
