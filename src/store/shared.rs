//! The store, written once for every database: [`SqlStore`] implements
//! [`Store`] over any [`Backend`]. What differs between databases (connecting,
//! classifying errors, how a write transaction starts) lives in their modules.
//!
//! Every operation is bounded by the store's timeout on the client side, so a
//! database that stops answering (or a network that drops packets) fails the
//! request with [`StoreError::Unavailable`] instead of hanging it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use slog::Logger;
use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use super::backend::{Arg, Backend, Decodes, ErrorClass, SqlQuery};
use super::changes::{ChangeHub, CredentialChange};
use super::rows::{
    self, AccountRow, AuditEventRow, CapabilityRow, CountRow, CursorRow, GrantRow, IdempotencyRow,
    IntrospectionClientRow, PublicIdRow, ServiceAccountRow, Timestamp,
};
use super::{
    BoxError, Claimed, ClientLookup, Complete, EscalationGuard, Grant, GrantLookup,
    IdempotencyClaim, IdempotentCompletion, LastUse, LastUseLog, LeakResponse, PageRequest,
    PoolStats, Revocation, Store, StoreError, StoreStats, StoredIntrospectionClient,
    StoredServiceAccount, TokenLookup, TokenReplacement, sql,
};
use crate::domain::{
    Account, AuditDetail, AuditEvent, Capability, CapabilityKey, IntrospectionClient,
    ServiceAccount, Subject, TokenGeneration,
};

/// A store on one SQL database. Writes go through `writer`, reads through
/// `readers` (the same pool on PostgreSQL; on SQLite one writer connection and
/// a pool of read-only ones).
#[derive(Debug)]
pub struct SqlStore<D: Backend> {
    writer: Pool<D>,
    readers: Pool<D>,
    /// Whether `readers` is `writer` (one pool, PostgreSQL).
    shared_pool: bool,
    timeout: Duration,
    changes: Arc<ChangeHub>,
    health: Arc<Health>,
}

/// What the store knows of the database's health, and counts of failures.
#[derive(Debug, Default)]
struct Health {
    /// Known to be unreachable: every operation fails at once.
    down: AtomicBool,
    unavailable_errors: AtomicU64,
    internal_errors: AtomicU64,
}

/// How often a probe looks for a database known to be down.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Longest a probe waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl<D: Backend> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            readers: self.readers.clone(),
            shared_pool: self.shared_pool,
            timeout: self.timeout,
            changes: self.changes.clone(),
            health: self.health.clone(),
        }
    }
}

/// The database could not be reached (as opposed to being busy): what trips
/// the store into failing fast until a probe finds it back.
#[derive(Debug, thiserror::Error)]
#[error("the database cannot be reached")]
pub struct Unreachable(#[source] pub BoxError);

/// Known to be unreachable: refused without trying.
#[derive(Debug, thiserror::Error)]
#[error("the database is known to be unreachable; a probe is checking for it in the background")]
pub struct KnownDown;

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

fn decode<D: Backend + Decodes<R>, R>(row: &D::Row) -> Result<R, StoreError> {
    D::decode(row).map_err(|e| StoreError::Internal(Box::new(e)))
}

fn query<D: Backend>(sql: &'static str) -> SqlQuery<D> {
    sqlx::query::<D>(sql)
}

async fn fetch_optional<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<Option<D::Row>, StoreError> {
    D::fetch_optional(connection, query)
        .await
        .map_err(store_error::<D>)
}

async fn fetch_all<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<Vec<D::Row>, StoreError> {
    D::fetch_all(connection, query)
        .await
        .map_err(store_error::<D>)
}

async fn execute<D: Backend>(
    connection: &mut D::Connection,
    query: SqlQuery<D>,
) -> Result<(), StoreError> {
    D::execute(connection, query)
        .await
        .map_err(store_error::<D>)
}

impl<D: Backend> SqlStore<D> {
    pub(super) fn new(writer: Pool<D>, readers: Pool<D>, timeout: Duration) -> Self {
        Self {
            shared_pool: false,
            writer,
            readers,
            timeout,
            changes: Arc::default(),
            health: Arc::default(),
        }
    }

    /// One pool for reads and writes.
    pub(super) fn with_one_pool(pool: Pool<D>, timeout: Duration) -> Self {
        Self {
            shared_pool: true,
            ..Self::new(pool.clone(), pool, timeout)
        }
    }

    /// Runs `operation`, failing it as unavailable if it takes longer than the
    /// timeout, or at once while the database is known to be unreachable. A
    /// failure to reach the database marks it down and starts a probe.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.health.down.load(Ordering::SeqCst) {
            self.health
                .unavailable_errors
                .fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable(Box::new(KnownDown)));
        }
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, operation)
            .await
            .unwrap_or_else(|_| {
                let timed_out = Box::new(TimedOut(timeout));
                Err(StoreError::Unavailable(if D::TIMEOUT_MEANS_UNREACHABLE {
                    Box::new(Unreachable(timed_out))
                } else {
                    timed_out
                }))
            });
        match &result {
            Err(StoreError::Unavailable(cause)) => {
                self.health
                    .unavailable_errors
                    .fetch_add(1, Ordering::Relaxed);
                if cause.is::<Unreachable>() {
                    self.mark_down();
                }
            }
            Err(StoreError::Internal(_)) => {
                self.health.internal_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        result
    }

    /// Marks the database down (once) and probes for it in the background
    /// until it answers again.
    fn mark_down(&self) {
        if self.health.down.swap(true, Ordering::SeqCst) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                if store.writer.is_closed() {
                    return;
                }
                if let Ok(Ok(())) = tokio::time::timeout(PROBE_TIMEOUT, store.probe()).await {
                    store.health.down.store(false, Ordering::SeqCst);
                    return;
                }
            }
        });
    }

    /// Whether the database answers a fresh connection (not one from the
    /// pool, whose connections may all be gone).
    async fn probe(&self) -> Result<(), sqlx::Error> {
        use sqlx::ConnectOptions;
        let mut connection = self.writer.connect_options().connect().await?;
        D::execute(&mut connection, query::<D>(sql::PROBE)).await
    }

    async fn read(&self) -> Result<PoolConnection<D>, StoreError> {
        self.readers.acquire().await.map_err(store_error::<D>)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, D>, StoreError> {
        self.writer
            .begin_with(D::BEGIN_WRITE)
            .await
            .map_err(store_error::<D>)
    }

    /// Runs `work` in a write transaction that changes credentials: the changes
    /// it reports are recorded for other processes in the same transaction,
    /// and once it has committed, this process's subscribers are told before
    /// the caller hears of it (so the next request sees the change).
    async fn write_changing<T>(
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

    /// This process's subscribers to credential changes (a cache).
    pub fn changes(&self) -> &Arc<ChangeHub> {
        &self.changes
    }

    /// Runs `work` in a write transaction and commits it; bounded.
    async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut D::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let value = work(&mut tx).await?;
            tx.commit().await.map_err(store_error::<D>)?;
            Ok(value)
        })
        .await
    }

    async fn count(&self, sql: &'static str) -> Result<i64, StoreError> {
        self.bounded(async {
            let row = fetch_optional(&mut *self.read().await?, query::<D>(sql))
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

/// The store's own bound on an operation ran out.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {} ms", .0.as_millis())]
struct TimedOut(Duration);

async fn insert_account<D: Backend>(
    connection: &mut D::Connection,
    account: &Account,
) -> Result<(), StoreError> {
    execute(
        connection,
        rows::bind_account(query::<D>(sql::INSERT_ACCOUNT), account),
    )
    .await
}

async fn insert_service_account<D: Backend>(
    connection: &mut D::Connection,
    new: &StoredServiceAccount,
) -> Result<(), StoreError> {
    let row = ServiceAccountRow::from_stored(new)?;
    execute(
        connection,
        row.bind(query::<D>(sql::INSERT_SERVICE_ACCOUNT)),
    )
    .await
}

async fn insert_audit_event<D: Backend>(
    connection: &mut D::Connection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    execute(
        connection,
        rows::bind_audit_event(query::<D>(sql::INSERT_AUDIT_EVENT), event),
    )
    .await
}

/// Adds a grant after checking that its account exists and that a service
/// account subject belongs to that account; `false` if it existed already.
async fn insert_grant<D: Backend>(
    connection: &mut D::Connection,
    grant: &Grant,
) -> Result<bool, StoreError> {
    let account = query::<D>(sql::ACCOUNT_EXISTS).arg(grant.account_id);
    if fetch_optional(connection, account).await?.is_none() {
        return Err(StoreError::AccountNotFound);
    }
    if let Subject::ServiceAccount(id) = grant.subject {
        // Locked: a rotation of this service account checks its grants
        // after this grant commits, or commits before it is added.
        let member = query::<D>(sql::LOCK_SERVICE_ACCOUNT)
            .arg(id)
            .arg(grant.account_id);
        if fetch_optional(connection, member).await?.is_none() {
            return Err(StoreError::ServiceAccountNotInAccount);
        }
    }
    let insert = rows::bind_grant(query::<D>(sql::INSERT_GRANT), grant);
    Ok(fetch_optional(connection, insert).await?.is_some())
}

/// Completes an idempotency record inside the operation's transaction; an
/// attempt that lost its lease must not commit its change.
async fn complete_idempotency<D: Backend>(
    connection: &mut D::Connection,
    completion: &IdempotentCompletion,
) -> Result<(), StoreError> {
    let update =
        rows::bind_idempotency_completion(query::<D>(sql::COMPLETE_IDEMPOTENCY_RECORD), completion);
    match fetch_optional(connection, update).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::IdempotencyLeaseLost),
    }
}

/// Revokes service account `id` of `account_id` unless it is revoked
/// already; a row only when it revoked.
fn revoke_query<D: Backend>(account_id: Uuid, id: Uuid, revocation: &Revocation) -> SqlQuery<D> {
    query::<D>(sql::REVOKE)
        .arg(id)
        .arg(account_id)
        .arg(Timestamp(revocation.at))
        .arg(revocation.by_user_id)
        .arg(revocation.reason.as_str())
}

/// Ends the previous token's grace at `at`, if it is in one; a row only then.
fn retire_query<D: Backend>(account_id: Uuid, id: Uuid, at: DateTime<Utc>) -> SqlQuery<D> {
    query::<D>(sql::RETIRE_PREVIOUS_TOKEN)
        .arg(id)
        .arg(account_id)
        .arg(Timestamp(at))
}

/// Locks service account `id` of `account_id` for the transaction; its
/// tokens' public ids (no row: not there).
fn lock<D: Backend>(account_id: Uuid, id: Uuid) -> SqlQuery<D> {
    query::<D>(sql::LOCK_SERVICE_ACCOUNT)
        .arg(id)
        .arg(account_id)
}

/// Every token of a service account as it stood: what a cache must forget
/// when the service account changes.
fn token_changes(service_account: &ServiceAccount) -> Vec<CredentialChange> {
    std::iter::once(&service_account.token)
        .chain(service_account.previous_token.as_ref().map(|p| &p.token))
        .map(|token| CredentialChange::Token(token.public_id.clone()))
        .collect()
}

fn grant_change(grant: &Grant) -> CredentialChange {
    CredentialChange::Grants {
        account_id: grant.account_id,
        subject: grant.subject,
    }
}

async fn select_service_account<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<ServiceAccount>, StoreError> {
    let select = query::<D>(sql::SELECT_SERVICE_ACCOUNT)
        .arg(id)
        .arg(account_id);
    fetch_optional(connection, select)
        .await?
        .map(|row| decode::<D, ServiceAccountRow>(&row)?.into_service_account())
        .transpose()
}

#[async_trait]
impl<D: Backend> TokenLookup for SqlStore<D> {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::SELECT_BY_PUBLIC_ID).arg(public_id);
            fetch_optional(&mut *self.read().await?, select)
                .await?
                .map(|row| decode::<D, ServiceAccountRow>(&row)?.into_stored())
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> LastUseLog for SqlStore<D> {
    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
        self.write(async |tx| {
            for last_use in uses {
                let sql = match last_use.generation {
                    TokenGeneration::Current => sql::RECORD_LAST_USE,
                    TokenGeneration::Previous => sql::RECORD_PREVIOUS_LAST_USE,
                };
                let update = query::<D>(sql)
                    .arg(last_use.service_account_id)
                    .arg(last_use.public_id.as_str())
                    .arg(Timestamp(last_use.at))
                    .arg(Timestamp(last_use.unless_recorded_after));
                execute(tx, update).await?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> GrantLookup for SqlStore<D> {
    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError> {
        self.bounded(async {
            let select = rows::bind_subject(
                query::<D>(sql::SELECT_CAPABILITIES).arg(account_id),
                subject,
            );
            fetch_all(&mut *self.read().await?, select)
                .await?
                .iter()
                .map(|row| decode::<D, CapabilityRow>(row)?.into_key())
                .collect()
        })
        .await
    }

    async fn grants_of(&self, subject: Subject) -> Result<Vec<Grant>, StoreError> {
        self.bounded(async {
            let select = rows::bind_subject(query::<D>(sql::SELECT_GRANTS_OF), subject);
            fetch_all(&mut *self.read().await?, select)
                .await?
                .iter()
                .map(|row| decode::<D, GrantRow>(row)?.into_grant())
                .collect()
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> ClientLookup for SqlStore<D> {
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::SELECT_INTROSPECTION_CLIENT).arg(client_id);
            fetch_optional(&mut *self.read().await?, select)
                .await?
                .map(|row| decode::<D, IntrospectionClientRow>(&row)?.into_stored())
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> Store for SqlStore<D> {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.write(async |tx| insert_account::<D>(tx, account).await)
            .await
    }

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::SELECT_ACCOUNT).arg(id);
            fetch_optional(&mut *self.read().await?, select)
                .await?
                .map(|row| decode::<D, AccountRow>(&row).map(Account::from))
                .transpose()
        })
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.bounded(async {
            fetch_all(&mut *self.read().await?, query::<D>(sql::LIST_ACCOUNTS))
                .await?
                .iter()
                .map(|row| decode::<D, AccountRow>(row).map(Account::from))
                .collect()
        })
        .await
    }

    async fn add_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError> {
        self.write_changing(async |tx| {
            if !insert_grant::<D>(tx, grant).await? {
                return Ok((false, vec![]));
            }
            insert_audit_event::<D>(tx, event).await?;
            Ok((true, vec![grant_change(grant)]))
        })
        .await
    }

    async fn remove_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError> {
        self.write_changing(async |tx| {
            let delete = rows::bind_subject(
                query::<D>(sql::DELETE_GRANT).arg(grant.account_id),
                grant.subject,
            )
            .arg(grant.capability.as_str());
            if fetch_optional(tx, delete).await?.is_none() {
                return Ok((false, vec![]));
            }
            insert_audit_event::<D>(tx, event).await?;
            Ok((true, vec![grant_change(grant)]))
        })
        .await
    }

    async fn grants_in(&self, account_id: Uuid) -> Result<Vec<Grant>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::SELECT_GRANTS_IN).arg(account_id);
            fetch_all(&mut *self.read().await?, select)
                .await?
                .iter()
                .map(|row| decode::<D, GrantRow>(row)?.into_grant())
                .collect()
        })
        .await
    }

    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
        complete: Option<Complete<'_>>,
    ) -> Result<(), StoreError> {
        self.write_changing(async |tx| {
            insert_service_account::<D>(tx, new).await?;
            insert_audit_event::<D>(tx, event).await?;
            if let Some(complete) = complete {
                complete_idempotency::<D>(tx, &complete(&new.service_account)).await?;
            }
            let created = CredentialChange::Token(new.service_account.token.public_id.clone());
            Ok(((), vec![created]))
        })
        .await
    }

    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let grant = Grant {
            account_id: account.id,
            subject: Subject::ServiceAccount(owner.service_account.id),
            capability: Capability::AccountOwner.into(),
            created_at: account.created_at,
        };
        self.write_changing(async |tx| {
            insert_account::<D>(tx, account).await?;
            insert_service_account::<D>(tx, owner).await?;
            insert_grant::<D>(tx, &grant).await?;
            insert_audit_event::<D>(tx, event).await?;
            let created = CredentialChange::Token(owner.service_account.token.public_id.clone());
            Ok(((), vec![created, grant_change(&grant)]))
        })
        .await
    }

    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.bounded(async {
            select_service_account::<D>(&mut *self.read().await?, account_id, id).await
        })
        .await
    }

    async fn rotate_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
        guard: &EscalationGuard,
        complete: Option<Complete<'_>>,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let key_version = rows::stored_key_version(replacement.mac.key_version)?;
        self.write_changing(async |tx| {
            // Locked first, so that no grant to it commits between the check
            // below and this rotation's commit.
            let current = lock::<D>(account_id, id);
            let Some(current) = fetch_optional(tx, current).await? else {
                return Ok((None, vec![]));
            };
            if !guard.exempt {
                let held = rows::bind_subject(
                    query::<D>(sql::SELECT_CAPABILITIES).arg(account_id),
                    Subject::ServiceAccount(id),
                );
                let mut missing = Vec::new();
                for row in fetch_all(tx, held).await? {
                    let key = decode::<D, CapabilityRow>(&row)?.into_key()?;
                    if !guard.held.contains(&key) {
                        missing.push(key.as_str().to_owned());
                    }
                }
                if !missing.is_empty() {
                    return Err(StoreError::WouldEscalate { missing });
                }
            }
            let old = decode::<D, PublicIdRow>(&current)?;
            let update = query::<D>(sql::ROTATE_TOKEN)
                .arg(id)
                .arg(account_id)
                .arg(replacement.token.prefix.as_str())
                .arg(replacement.token.public_id.as_str())
                .arg(replacement.token.last4.as_str())
                .arg(replacement.mac.digest.as_slice())
                .arg(key_version)
                .arg(Timestamp(replacement.at))
                .arg(Timestamp(replacement.token.issued_at))
                .arg(replacement.previous_works_until.map(Timestamp));
            let Some(row) = fetch_optional(tx, update).await? else {
                return Ok((None, vec![]));
            };
            let rotated = decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
            let mut event = event.clone();
            if let Some(previous) = &rotated.previous_token {
                event.detail = Some(AuditDetail::Grace {
                    previous_token_public_id: previous.token.public_id.clone(),
                    until: previous.expires_at,
                });
            }
            insert_audit_event::<D>(tx, &event).await?;
            if let Some(complete) = complete {
                complete_idempotency::<D>(tx, &complete(&rotated)).await?;
            }
            let changes = std::iter::once(old.token_public_id)
                .chain(old.previous_token_public_id)
                .map(CredentialChange::Token)
                .chain(token_changes(&rotated))
                .collect();
            Ok((Some(rotated), changes))
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
        self.write_changing(async |tx| {
            let update = revoke_query::<D>(account_id, id, &revocation);
            match fetch_optional(tx, update).await? {
                Some(row) => {
                    insert_audit_event::<D>(tx, event).await?;
                    let revoked = decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
                    let changes = token_changes(&revoked);
                    Ok((Some(revoked), changes))
                }
                // Revoked already (or not there): the row as it stands, read
                // in the same transaction.
                None => Ok((
                    select_service_account::<D>(tx, account_id, id).await?,
                    vec![],
                )),
            }
        })
        .await
    }

    async fn record_leak(
        &self,
        account_id: Uuid,
        id: Uuid,
        response: LeakResponse,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(before) = fetch_optional(tx, lock::<D>(account_id, id)).await? else {
                return Ok((None, vec![]));
            };
            let before = decode::<D, PublicIdRow>(&before)?;
            let changed = match response {
                LeakResponse::Revoke(revocation) => {
                    fetch_optional(tx, revoke_query::<D>(account_id, id, &revocation)).await?
                }
                LeakResponse::RetirePrevious(at) => {
                    fetch_optional(tx, retire_query::<D>(account_id, id, at)).await?
                }
                LeakResponse::Record => None,
            };
            let (service_account, put_out) = match changed {
                Some(row) => (
                    decode::<D, ServiceAccountRow>(&row)?.into_service_account()?,
                    true,
                ),
                None => (
                    select_service_account::<D>(tx, account_id, id)
                        .await?
                        .ok_or(StoreError::Internal(
                            "a locked service account vanished".into(),
                        ))?,
                    false,
                ),
            };
            let mut event = event.clone();
            if let Some(AuditDetail::Leak { revoked, .. }) = &mut event.detail {
                *revoked = put_out;
            }
            insert_audit_event::<D>(tx, &event).await?;
            let changes = if put_out {
                std::iter::once(before.token_public_id)
                    .chain(before.previous_token_public_id)
                    .map(CredentialChange::Token)
                    .collect()
            } else {
                vec![]
            };
            Ok((Some((service_account, put_out)), changes))
        })
        .await
    }

    async fn retire_previous_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let ids = query::<D>(sql::LOCK_SERVICE_ACCOUNT)
                .arg(id)
                .arg(account_id);
            let Some(ids) = fetch_optional(tx, ids).await? else {
                return Ok((None, vec![]));
            };
            let ids = decode::<D, PublicIdRow>(&ids)?;
            let update = retire_query::<D>(account_id, id, at);
            match (
                fetch_optional(tx, update).await?,
                ids.previous_token_public_id,
            ) {
                (Some(row), Some(retired)) => {
                    let service_account =
                        decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
                    let mut event = event.clone();
                    event.detail = Some(AuditDetail::Retired {
                        previous_token_public_id: retired.clone(),
                    });
                    insert_audit_event::<D>(tx, &event).await?;
                    Ok((
                        Some((service_account, true)),
                        vec![CredentialChange::Token(retired)],
                    ))
                }
                // No previous token in its grace period: nothing to do.
                _ => Ok((
                    select_service_account::<D>(tx, account_id, id)
                        .await?
                        .map(|service_account| (service_account, false)),
                    vec![],
                )),
            }
        })
        .await
    }

    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim) -> Result<Claimed, StoreError> {
        let current = claim
            .keys
            .first()
            .ok_or_else(|| StoreError::Internal("an idempotency claim without a key".into()))?;
        self.write(async |tx| {
            for key in &claim.keys {
                let select = query::<D>(sql::SELECT_IDEMPOTENCY_RECORD).arg(key.key_mac.as_slice());
                let Some(row) = fetch_optional(tx, select).await? else {
                    continue;
                };
                let record = decode::<D, IdempotencyRow>(&row)?;
                if record.expires_at.0 <= claim.at {
                    let delete =
                        query::<D>(sql::DELETE_IDEMPOTENCY_RECORD).arg(key.key_mac.as_slice());
                    execute(tx, delete).await?;
                    continue;
                }
                let claimed = record.claimed(&key.request_mac, claim.at)?;
                if claimed != Claimed::Run {
                    return Ok(claimed);
                }
                if key == current {
                    let take_over = query::<D>(sql::TAKE_OVER_IDEMPOTENCY_RECORD)
                        .arg(key.key_mac.as_slice())
                        .arg(claim.lease)
                        .arg(Timestamp(claim.lease_expires_at))
                        .arg(Timestamp(claim.at));
                    return Ok(match fetch_optional(tx, take_over).await? {
                        Some(_) => Claimed::Run,
                        // Another attempt took it over just now.
                        None => Claimed::InUse,
                    });
                }
                // A dead attempt under an older server key: start over under
                // the current one (the completion names its MAC).
                let delete = query::<D>(sql::DELETE_IDEMPOTENCY_RECORD).arg(key.key_mac.as_slice());
                execute(tx, delete).await?;
                break;
            }
            let insert = rows::bind_idempotency_claim(
                query::<D>(sql::INSERT_IDEMPOTENCY_RECORD),
                claim,
                current,
            )?;
            Ok(match fetch_optional(tx, insert).await? {
                Some(_) => Claimed::Run,
                // Another attempt with this key claimed it at the same time.
                None => Claimed::InUse,
            })
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        completion: &IdempotentCompletion,
    ) -> Result<bool, StoreError> {
        self.write(
            async |tx| match complete_idempotency::<D>(tx, completion).await {
                Ok(()) => Ok(true),
                Err(StoreError::IdempotencyLeaseLost) => Ok(false),
                Err(other) => Err(other),
            },
        )
        .await
    }

    async fn release_idempotency_key(&self, key_mac: &[u8], lease: Uuid) -> Result<(), StoreError> {
        self.write(async |tx| {
            let delete = query::<D>(sql::RELEASE_IDEMPOTENCY_RECORD)
                .arg(key_mac)
                .arg(lease);
            execute(tx, delete).await
        })
        .await
    }

    async fn delete_expired_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let batch = self
                .write(async |tx| {
                    let delete =
                        query::<D>(sql::DELETE_EXPIRED_IDEMPOTENCY_RECORDS).arg(Timestamp(now));
                    Ok(fetch_all(tx, delete).await?.len() as u64)
                })
                .await?;
            deleted += batch;
            if batch < 1000 {
                return Ok(deleted);
            }
        }
    }

    async fn insert_introspection_client(
        &self,
        new: &StoredIntrospectionClient,
    ) -> Result<(), StoreError> {
        let row = IntrospectionClientRow::from_stored(new)?;
        let created = CredentialChange::Client(new.client.client_id.clone());
        self.write_changing(async |tx| {
            execute::<D>(tx, row.bind(query::<D>(sql::INSERT_INTROSPECTION_CLIENT))).await?;
            Ok(((), vec![created]))
        })
        .await
    }

    async fn list_introspection_clients(&self) -> Result<Vec<IntrospectionClient>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::LIST_INTROSPECTION_CLIENTS);
            fetch_all(&mut *self.read().await?, select)
                .await?
                .iter()
                .map(|row| {
                    Ok(decode::<D, IntrospectionClientRow>(row)?
                        .into_stored()?
                        .client)
                })
                .collect()
        })
        .await
    }

    async fn revoke_introspection_client(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IntrospectionClient>, StoreError> {
        self.write_changing(async |tx| {
            let update = query::<D>(sql::REVOKE_INTROSPECTION_CLIENT)
                .arg(client_id)
                .arg(Timestamp(at));
            let (row, changes) = match fetch_optional(tx, update).await? {
                Some(row) => (
                    Some(row),
                    vec![CredentialChange::Client(client_id.to_owned())],
                ),
                None => {
                    let select = query::<D>(sql::SELECT_INTROSPECTION_CLIENT).arg(client_id);
                    (fetch_optional(tx, select).await?, vec![])
                }
            };
            let client = row
                .map(|row| {
                    Ok(decode::<D, IntrospectionClientRow>(&row)?
                        .into_stored()?
                        .client)
                })
                .transpose()?;
            Ok((client, changes))
        })
        .await
    }

    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let select = query::<D>(sql::SELECT_AUDIT_EVENTS).arg(account_id);
            fetch_all(&mut *self.read().await?, select)
                .await?
                .iter()
                .map(|row| decode::<D, AuditEventRow>(row)?.into_event())
                .collect()
        })
        .await
    }

    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        self.bounded(async {
            let mut connection = self.read().await?;
            // Resolve the cursor to its position first: the page query then
            // walks the (account_id, created_at, id) index from there, so a
            // page costs the same however large the account is.
            let (after_created_at, after_id) = match page.after {
                None => (Timestamp::before_everything(), Uuid::nil()),
                Some(after) => {
                    let select = query::<D>(sql::SELECT_CURSOR).arg(after).arg(account_id);
                    let row = fetch_optional(&mut *connection, select)
                        .await?
                        .ok_or(StoreError::CursorNotFound)?;
                    (decode::<D, CursorRow>(&row)?.created_at, after)
                }
            };
            // Two statements rather than one with a flag, so that the
            // active-only page can use the partial index of non-revoked
            // service accounts.
            let sql = if page.include_revoked {
                sql::LIST_ALL
            } else {
                sql::LIST_ACTIVE
            };
            let select = query::<D>(sql)
                .arg(account_id)
                .arg(after_created_at)
                .arg(after_id)
                .arg(i64::from(page.limit));
            fetch_all(&mut *connection, select)
                .await?
                .iter()
                .map(|row| decode::<D, ServiceAccountRow>(row)?.into_service_account())
                .collect()
        })
        .await
    }

    fn changes(&self) -> &Arc<ChangeHub> {
        &self.changes
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied = self.count(sql::COUNT_APPLIED_MIGRATIONS).await?;
        let known = D::migrator().iter().count() as i64;
        if applied < known {
            return Err(StoreError::Internal(
                format!("{applied} of {known} migrations are applied").into(),
            ));
        }
        Ok(())
    }

    async fn count_active_service_accounts(&self) -> Result<u64, StoreError> {
        let count = self.count(sql::COUNT_ACTIVE_SERVICE_ACCOUNTS).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn stats(&self) -> StoreStats {
        let pool = |name, pool: &Pool<D>| PoolStats {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        };
        let pools = if self.shared_pool {
            vec![pool("shared", &self.writer)]
        } else {
            vec![pool("readers", &self.readers), pool("writer", &self.writer)]
        };
        StoreStats {
            pools,
            unavailable_errors: self.health.unavailable_errors.load(Ordering::Relaxed),
            internal_errors: self.health.internal_errors.load(Ordering::Relaxed),
            down: self.health.down.load(Ordering::SeqCst),
        }
    }

    fn watch_other_writers(&self, log: Logger) -> BoxFuture<'static, ()> {
        D::watch_other_writers(self.readers.clone(), self.changes.clone(), log)
    }

    async fn close(&self) {
        self.close_pools().await;
    }
}
