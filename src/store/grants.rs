//! Grants: a capability on an account held by a subject (a user or a service
//! account). What authorization reads ([`GrantLookup`], also through the
//! credential cache) and what the operator's commands change ([`GrantStore`]).
//! Every change is audited and told to the credential caches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_events;
use super::backend::{Arg, Backend, Columns, FromColumns, SqlQuery};
use super::changes::CredentialChange;
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::service_accounts::sql::LOCK_SERVICE_ACCOUNT;
use super::sql_store::{CountRow, SqlStore, decode, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, Capability, CapabilityKey, Subject};

/// A grant of one capability on one account to one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account_id: Uuid,
    pub subject: Subject,
    pub capability: CapabilityKey,
    pub created_at: DateTime<Utc>,
}

/// What authorization (and whoami) asks of the store: what a subject holds.
#[async_trait]
pub trait GrantLookup: Send + Sync + 'static {
    /// The capability keys `subject` holds on `account_id` (empty: no standing
    /// through grants).
    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError>;

    /// Every grant `subject` holds, in every account, by account.
    async fn grants_of(&self, subject: Subject) -> Result<Vec<Grant>, StoreError>;
}

/// Changing and listing grants.
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Adds a grant and records `event`; adding one that exists already
    /// changes nothing and records nothing (`false`). A service account can
    /// only be granted capabilities in its own account.
    async fn add_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Removes the grant of `grant.capability` on `grant.account_id` to
    /// `grant.subject` and records `event`; `false` (and nothing recorded) if
    /// there was none.
    async fn remove_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Every grant on an account, by subject.
    async fn grants_in(&self, account_id: Uuid) -> Result<Vec<Grant>, StoreError>;
}

const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1";

/// Adds a grant unless it exists; returns a row only when it was added.
const INSERT: &str = "INSERT INTO grants \
    (account_id, subject_kind, subject_id, capability, created_at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING account_id";

/// Removes a grant; returns a row only when there was one.
const DELETE: &str = "DELETE FROM grants \
    WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3 AND capability = $4 \
    RETURNING account_id";

/// Locks an account's row for the rest of the write transaction (PostgreSQL
/// locks per row; SQLite's write transaction holds the whole database), so
/// that two removals of an account's owners run one after the other.
const LOCK_ACCOUNT: &str = "UPDATE accounts SET id = id WHERE id = $1 RETURNING id";

/// The account's owners that can still act: users, and service accounts that
/// are not revoked.
const COUNT_LIVE_OWNERS: &str = "SELECT count(*) AS count FROM grants g \
    WHERE g.account_id = $1 AND g.capability = $2 AND (g.subject_kind = 'user' \
    OR EXISTS (SELECT 1 FROM service_accounts s \
    WHERE s.id = g.subject_id AND s.revoked_at IS NULL))";

/// Every grant on an account.
const SELECT_IN: &str = "SELECT account_id, subject_kind, subject_id, capability, created_at \
    FROM grants WHERE account_id = $1 ORDER BY subject_kind, subject_id, capability";

/// Every grant a subject holds, in every account.
const SELECT_OF: &str = "SELECT account_id, subject_kind, subject_id, capability, created_at \
    FROM grants WHERE subject_kind = $1 AND subject_id = $2 ORDER BY account_id, capability";

const SELECT_CAPABILITIES: &str = "SELECT capability FROM grants \
    WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3";

/// The `grants` table.
struct GrantRow {
    account_id: Uuid,
    subject_kind: String,
    subject_id: Uuid,
    capability: String,
    created_at: Timestamp,
}

impl FromColumns for GrantRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            account_id: columns.get("account_id")?,
            subject_kind: columns.get("subject_kind")?,
            subject_id: columns.get("subject_id")?,
            capability: columns.get("capability")?,
            created_at: columns.get("created_at")?,
        })
    }
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant, StoreError> {
        Ok(Grant {
            account_id: self.account_id,
            subject: Subject::from_parts(&self.subject_kind, self.subject_id)
                .ok_or_else(|| corrupt(format!("unknown subject kind {:?}", self.subject_kind)))?,
            capability: parse_capability(&self.capability)?,
            created_at: self.created_at.0,
        })
    }
}

/// One capability a subject holds on an account.
struct CapabilityRow {
    capability: String,
}

impl FromColumns for CapabilityRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            capability: columns.get("capability")?,
        })
    }
}

fn parse_capability(key: &str) -> Result<CapabilityKey, StoreError> {
    CapabilityKey::parse(key).map_err(|e| corrupt(e.to_string()))
}

/// Binds a subject's kind and id (two parameters).
fn bind_subject<D: Backend>(query: SqlQuery<D>, subject: Subject) -> SqlQuery<D> {
    query.arg(subject.kind()).arg(subject.id())
}

/// What a cache must forget when `grant` changes.
pub(super) fn change_of(grant: &Grant) -> CredentialChange {
    CredentialChange::Grants {
        account_id: grant.account_id,
        subject: grant.subject,
    }
}

/// Adds a grant in the transaction on `connection`, after checking that its
/// account exists and that a service account subject belongs to that
/// account; `false` if it existed already.
pub(super) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    grant: &Grant,
) -> Result<bool, StoreError> {
    let account = query::<D>(ACCOUNT_EXISTS).arg(grant.account_id);
    if fetch_optional(connection, account).await?.is_none() {
        return Err(StoreError::AccountNotFound);
    }
    if let Subject::ServiceAccount(id) = grant.subject {
        // Locked: a rotation of this service account checks its grants
        // after this grant commits, or commits before it is added.
        let member = query::<D>(LOCK_SERVICE_ACCOUNT)
            .arg(id)
            .arg(grant.account_id);
        if fetch_optional(connection, member).await?.is_none() {
            return Err(StoreError::ServiceAccountNotInAccount);
        }
    }
    let insert = bind_subject(query::<D>(INSERT).arg(grant.account_id), grant.subject)
        .arg(grant.capability.as_str())
        .arg(Timestamp(grant.created_at));
    Ok(fetch_optional(connection, insert).await?.is_some())
}

/// What `subject` holds on `account_id`, read on `connection` (inside a
/// transaction: as the transaction sees it).
pub(super) async fn held<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    subject: Subject,
) -> Result<Vec<CapabilityKey>, StoreError> {
    let select = bind_subject(query::<D>(SELECT_CAPABILITIES).arg(account_id), subject);
    fetch_all(connection, select)
        .await?
        .iter()
        .map(|row| parse_capability(&decode::<D, CapabilityRow>(row)?.capability))
        .collect()
}

fn grants<D: Backend>(rows: &[D::Row]) -> Result<Vec<Grant>, StoreError> {
    rows.iter()
        .map(|row| decode::<D, GrantRow>(row)?.into_grant())
        .collect()
}

#[async_trait]
impl<D: Backend> GrantLookup for SqlStore<D> {
    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError> {
        self.reading(async |connection| held::<D>(connection, account_id, subject).await)
            .await
    }

    async fn grants_of(&self, subject: Subject) -> Result<Vec<Grant>, StoreError> {
        self.reading(async |connection| {
            grants::<D>(&fetch_all(connection, bind_subject(query::<D>(SELECT_OF), subject)).await?)
        })
        .await
    }
}

/// How many owners of `account_id` can still act, as `connection` sees it.
async fn live_owners<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
) -> Result<i64, StoreError> {
    let count = query::<D>(COUNT_LIVE_OWNERS)
        .arg(account_id)
        .arg(Capability::AccountOwner.as_str());
    let row = fetch_optional(connection, count)
        .await?
        .ok_or_else(|| StoreError::Internal("a count returned no row".into()))?;
    Ok(decode::<D, CountRow>(&row)?.count)
}

#[async_trait]
impl<D: Backend> GrantStore for SqlStore<D> {
    async fn add_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError> {
        self.write_changing(async |tx| {
            if !insert::<D>(tx, grant).await? {
                return Ok((false, vec![]));
            }
            audit_events::insert::<D>(tx, event).await?;
            Ok((true, vec![change_of(grant)]))
        })
        .await
    }

    async fn remove_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError> {
        let removes_an_owner = grant.capability.known() == Some(Capability::AccountOwner);
        self.write_changing(async |tx| {
            let owners_before = if removes_an_owner {
                fetch_optional(tx, query::<D>(LOCK_ACCOUNT).arg(grant.account_id)).await?;
                live_owners::<D>(tx, grant.account_id).await?
            } else {
                0
            };
            let delete = bind_subject(query::<D>(DELETE).arg(grant.account_id), grant.subject)
                .arg(grant.capability.as_str());
            if fetch_optional(tx, delete).await?.is_none() {
                return Ok((false, vec![]));
            }
            // The last owner that can act stays: without one, nobody could
            // ever grant anything in the account again.
            if removes_an_owner
                && owners_before > 0
                && live_owners::<D>(tx, grant.account_id).await? == 0
            {
                return Err(StoreError::LastOwner);
            }
            audit_events::insert::<D>(tx, event).await?;
            Ok((true, vec![change_of(grant)]))
        })
        .await
    }

    async fn grants_in(&self, account_id: Uuid) -> Result<Vec<Grant>, StoreError> {
        self.reading(async |connection| {
            grants::<D>(&fetch_all(connection, query::<D>(SELECT_IN).arg(account_id)).await?)
        })
        .await
    }
}
