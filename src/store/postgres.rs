//! The scale-out store: one PostgreSQL database shared by any number of
//! identical server processes.
//!
//! Every operation is bounded by the configured timeout, on the client side (so
//! a database that stops answering, or a network that drops packets, fails the
//! request with [`StoreError::Unavailable`] instead of hanging it) and on the
//! server side (`statement_timeout`). The pool reconnects by itself when the
//! database comes back. Migrations run at start under sqlx's advisory lock, so
//! instances starting together do not race.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per process when not told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Bounds every operation: waiting for a connection, and running.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    timeout: Duration,
}

impl PostgresStore {
    /// Connects to `url`, waiting at most `options.timeout` for the database,
    /// and brings the schema up to date.
    pub async fn open(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let timeout = options.timeout;
        let statement_timeout = format!("{}ms", timeout.as_millis());
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("the database URL is invalid: {e}")))?
            .application_name("hbx-sa")
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(timeout)
            .connect_with(connect)
            .await
            .map_err(map_error)?;
        // Migrations may wait for another instance's; they are not bounded by
        // the request timeout.
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating the database: {e}")))?;
        Ok(Self { pool, timeout })
    }

    /// Runs `operation`, failing it as unavailable if it takes longer than the
    /// timeout (a dead network never answers, and nothing else would notice).
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the database did not answer within {} ms",
                    self.timeout.as_millis()
                )))
            })
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(map_error)
    }

    async fn fetch_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let row = sqlx::query(sql::SELECT_SERVICE_ACCOUNT)
            .bind(id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        row.as_ref()
            .map(|row| stored_service_account(row).map(|stored| stored.service_account))
            .transpose()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.bounded(async {
            sqlx::query(sql::INSERT_ACCOUNT)
                .bind(account.id)
                .bind(&account.name)
                .bind(account.created_at)
                .execute(&self.pool)
                .await
                .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        self.bounded(async {
            let row = sqlx::query(sql::SELECT_ACCOUNT)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
            row.map(|row| {
                Ok(Account {
                    id: row.try_get("id").map_err(internal)?,
                    name: row.try_get("name").map_err(internal)?,
                    created_at: row.try_get("created_at").map_err(internal)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn add_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            insert_grant(&mut tx, grant).await?;
            tx.commit().await.map_err(map_error)
        })
        .await
    }

    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sql::SELECT_CAPABILITIES)
                .bind(account_id)
                .bind(subject.kind())
                .bind(subject.id())
                .fetch_all(&self.pool)
                .await
                .map_err(map_error)?;
            rows.iter()
                .map(|row| {
                    let key: String = row.try_get("capability").map_err(internal)?;
                    CapabilityKey::parse(&key).map_err(|e| internal(e.message))
                })
                .collect()
        })
        .await
    }

    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            insert_service_account(&mut tx, new).await?;
            insert_audit_event(&mut tx, event).await?;
            tx.commit().await.map_err(map_error)
        })
        .await
    }

    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            sqlx::query(sql::INSERT_ACCOUNT)
                .bind(account.id)
                .bind(&account.name)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
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
        })
        .await
    }

    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.bounded(self.fetch_service_account(account_id, id))
            .await
    }

    async fn rotate_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            let row = sqlx::query(sql::ROTATE_TOKEN)
                .bind(id)
                .bind(account_id)
                .bind(&replacement.token.prefix)
                .bind(&replacement.token.public_id)
                .bind(&replacement.token.last4)
                .bind(&replacement.mac.digest)
                .bind(key_version(replacement.mac.key_version)?)
                .bind(replacement.at)
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
        })
        .await
    }

    async fn revoke(
        &self,
        account_id: Uuid,
        id: Uuid,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            let revoked = sqlx::query(sql::REVOKE)
                .bind(id)
                .bind(account_id)
                .bind(revocation.at)
                .bind(revocation.by_user_id)
                .execute(&mut *tx)
                .await
                .map_err(map_error)?
                .rows_affected()
                == 1;
            if revoked {
                insert_audit_event(&mut tx, event).await?;
            }
            tx.commit().await.map_err(map_error)?;
            self.fetch_service_account(account_id, id).await
        })
        .await
    }

    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin().await?;
            for last_use in uses {
                sqlx::query(sql::RECORD_LAST_USE)
                    .bind(last_use.service_account_id)
                    .bind(&last_use.public_id)
                    .bind(last_use.at)
                    .bind(last_use.unless_recorded_after)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_error)?;
            }
            tx.commit().await.map_err(map_error)
        })
        .await
    }

    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sql::SELECT_AUDIT_EVENTS)
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(map_error)?;
            rows.iter().map(audit_event).collect()
        })
        .await
    }

    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        self.bounded(async {
            let (after_created_at, after_id) = match page.after {
                // Before any timestamp this service writes (and within the
                // range PostgreSQL accepts).
                None => (
                    chrono::DateTime::from_timestamp(-62_135_596_800, 0).expect("0001-01-01"),
                    Uuid::nil(),
                ),
                Some(after) => {
                    let row = sqlx::query(sql::SELECT_CURSOR)
                        .bind(after)
                        .bind(account_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_error)?
                        .ok_or(StoreError::CursorNotFound)?;
                    (row.try_get("created_at").map_err(internal)?, after)
                }
            };
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
                .fetch_all(&self.pool)
                .await
                .map_err(map_error)?;
            rows.iter()
                .map(|row| stored_service_account(row).map(|stored| stored.service_account))
                .collect()
        })
        .await
    }

    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        self.bounded(async {
            let row = sqlx::query(sql::SELECT_BY_PUBLIC_ID)
                .bind(public_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
            row.as_ref().map(stored_service_account).transpose()
        })
        .await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_service_account(
    tx: &mut Transaction<'static, Postgres>,
    new: &StoredServiceAccount,
) -> Result<(), StoreError> {
    let sa = &new.service_account;
    sqlx::query(sql::INSERT_SERVICE_ACCOUNT)
        .bind(sa.id)
        .bind(sa.account_id)
        .bind(&sa.name)
        .bind(sa.created_at)
        .bind(sa.updated_at)
        .bind(sa.created_by_user_id)
        .bind(sa.expires_at)
        .bind(sa.last_used_at)
        .bind(sa.revoked_at)
        .bind(sa.revoked_by_user_id)
        .bind(&sa.token.prefix)
        .bind(&sa.token.public_id)
        .bind(&sa.token.last4)
        .bind(&new.mac.digest)
        .bind(key_version(new.mac.key_version)?)
        .execute(&mut **tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(e)
                if e.is_unique_violation()
                    && e.constraint() == Some("service_accounts_active_name") =>
            {
                StoreError::NameConflict
            }
            sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::AccountNotFound,
            _ => map_error(error),
        })?;
    Ok(())
}

async fn insert_audit_event(
    tx: &mut Transaction<'static, Postgres>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_AUDIT_EVENT)
        .bind(event.occurred_at)
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
    tx: &mut Transaction<'static, Postgres>,
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
        .bind(grant.created_at)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

fn stored_service_account(row: &PgRow) -> Result<StoredServiceAccount, StoreError> {
    let key_version: i32 = row.try_get("token_key_version").map_err(internal)?;
    Ok(StoredServiceAccount {
        service_account: ServiceAccount {
            id: row.try_get("id").map_err(internal)?,
            account_id: row.try_get("account_id").map_err(internal)?,
            name: row.try_get("name").map_err(internal)?,
            created_at: row.try_get("created_at").map_err(internal)?,
            updated_at: row.try_get("updated_at").map_err(internal)?,
            created_by_user_id: row.try_get("created_by_user_id").map_err(internal)?,
            expires_at: row.try_get("expires_at").map_err(internal)?,
            last_used_at: row.try_get("last_used_at").map_err(internal)?,
            revoked_at: row.try_get("revoked_at").map_err(internal)?,
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

fn audit_event(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let action: String = row.try_get("action").map_err(internal)?;
    let actor_type: String = row.try_get("actor_type").map_err(internal)?;
    let actor_id: Option<Uuid> = row.try_get("actor_id").map_err(internal)?;
    Ok(AuditEvent {
        occurred_at: row.try_get("occurred_at").map_err(internal)?,
        account_id: row.try_get("account_id").map_err(internal)?,
        service_account_id: row.try_get("service_account_id").map_err(internal)?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| internal(format!("unknown audit action {action:?}")))?,
        actor: Actor::from_parts(&actor_type, actor_id)
            .ok_or_else(|| internal(format!("invalid audit actor {actor_type:?}")))?,
        request_id: row.try_get("request_id").map_err(internal)?,
    })
}

fn key_version(version: u32) -> Result<i32, StoreError> {
    i32::try_from(version).map_err(|_| internal(format!("key version {version} is too large")))
}

fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

/// Connection-level failures, timeouts and a database that is shutting down or
/// starting are "unavailable" (worth a retry); everything else is internal.
fn map_error(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            // 08: connection exception; 53300: too many connections;
            // 57014: statement timeout; 57P01-57P03: shutting down or starting.
            code.starts_with("08")
                || matches!(&*code, "53300" | "57014" | "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Internal(error.to_string())
    }
}
