//! A service account's life: created, read, listed a page at a time, and
//! revoked. Each change is audited in its transaction and told to the
//! credential caches. (Its tokens' own changes are in [`super::tokens`].)

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::row::{ServiceAccountRow, StoredServiceAccount};
use super::sql;
use crate::domain::{AuditEvent, RevocationReason, ServiceAccount};
use crate::store::backend::{Arg, Backend, SqlQuery};
use crate::store::changes::CredentialChange;
use crate::store::columns::Timestamp;
use crate::store::error::StoreError;
use crate::store::idempotency::{self, Complete};
use crate::store::keyset;
use crate::store::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::store::{audit_events, federated_tokens};

/// One page of an account's service accounts, in `(created_at, id)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Include revoked service accounts.
    pub include_revoked: bool,
    /// At most this many.
    pub limit: u32,
    /// Start after this service account (the last of the previous page).
    pub after: Option<Uuid>,
}

/// A revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    /// The user who revoked it; none when a service account (or an outsider,
    /// for a leak) did.
    pub by_user_id: Option<Uuid>,
    pub reason: RevocationReason,
}

#[async_trait]
pub trait ServiceAccountStore: Send + Sync + 'static {
    /// Inserts a new service account and its audit event, and completes an
    /// idempotency record with `complete` if given. Fails with
    /// [`StoreError::NameConflict`] if a non-revoked one in the same account has
    /// the same name.
    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
        complete: Option<Complete<'_>>,
    ) -> Result<(), StoreError>;

    /// The service account `id` of `account_id` (none if it is in another account).
    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError>;

    /// A page of the account's service accounts. `page.after` must name a
    /// service account of this account ([`StoreError::CursorNotFound`] if not).
    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError>;

    /// Revokes service account `id` of `account_id` and records `event`, unless
    /// it is revoked already (then nothing changes and nothing is recorded).
    /// Returns the service account as the revoking transaction left it; `None`
    /// if not found.
    async fn revoke(
        &self,
        account_id: Uuid,
        id: Uuid,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError>;

    /// How many service accounts are not revoked, in every account.
    async fn count_active_service_accounts(&self) -> Result<u64, StoreError>;
}

/// Inserts `new` in the transaction on `connection`.
pub(in crate::store) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    new: &StoredServiceAccount,
) -> Result<(), StoreError> {
    let row = ServiceAccountRow::from_stored(new)?;
    execute(connection, row.bind(query::<D>(sql::INSERT))).await
}

/// Service account `id` of `account_id` as `connection` sees it.
pub(super) async fn select<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<ServiceAccount>, StoreError> {
    let select = query::<D>(sql::SELECT).arg(id).arg(account_id);
    fetch_optional(connection, select)
        .await?
        .map(|row| decode::<D, ServiceAccountRow>(&row)?.into_service_account())
        .transpose()
}

/// Revokes service account `id` of `account_id` unless it is revoked
/// already; a row only when it revoked.
pub(super) fn revoke_query<D: Backend>(
    account_id: Uuid,
    id: Uuid,
    revocation: &Revocation,
) -> SqlQuery<D> {
    query::<D>(sql::REVOKE)
        .arg(id)
        .arg(account_id)
        .arg(Timestamp(revocation.at))
        .arg(revocation.by_user_id)
        .arg(revocation.reason.as_str())
}

/// Every token of a service account as it stood: what a cache must forget
/// when the service account changes.
pub(super) fn token_changes(service_account: &ServiceAccount) -> Vec<CredentialChange> {
    std::iter::once(&service_account.token)
        .chain(service_account.previous_token.as_ref().map(|p| &p.token))
        .map(|token| CredentialChange::Token(token.public_id.clone()))
        .collect()
}

#[async_trait]
impl<D: Backend> ServiceAccountStore for SqlStore<D> {
    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
        complete: Option<Complete<'_>>,
    ) -> Result<(), StoreError> {
        self.write_changing(async |tx| {
            insert::<D>(tx, new).await?;
            audit_events::insert::<D>(tx, event).await?;
            if let Some(complete) = complete {
                idempotency::complete::<D>(tx, &complete(&new.service_account)).await?;
            }
            let created = CredentialChange::Token(new.service_account.token.public_id.clone());
            Ok(((), vec![created]))
        })
        .await
    }

    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.reading(async |connection| select::<D>(connection, account_id, id).await)
            .await
    }

    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        self.reading(async |connection| {
            // Resolve the cursor to its position first: the page query then
            // walks the (account_id, created_at, id) index from there, so a
            // page costs the same however large the account is.
            let (after_created_at, after_id) =
                keyset::after_created::<D>(connection, sql::SELECT_CURSOR, account_id, page.after)
                    .await?;
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
            fetch_all(connection, select)
                .await?
                .iter()
                .map(|row| decode::<D, ServiceAccountRow>(row)?.into_service_account())
                .collect()
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
                    audit_events::insert::<D>(tx, event).await?;
                    let revoked = decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
                    let mut changes = token_changes(&revoked);
                    changes.extend(
                        federated_tokens::revoke_all_of::<D>(
                            tx,
                            id,
                            revocation.at,
                            revocation.reason,
                        )
                        .await?,
                    );
                    Ok((Some(revoked), changes))
                }
                // Revoked already (or not there): the row as it stands, read
                // in the same transaction.
                None => Ok((select::<D>(tx, account_id, id).await?, vec![])),
            }
        })
        .await
    }

    async fn count_active_service_accounts(&self) -> Result<u64, StoreError> {
        let count = self.count(sql::COUNT_ACTIVE).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
