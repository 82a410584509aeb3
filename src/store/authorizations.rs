//! Authorizations: a capability (or ownership) granted to a user, a group or
//! a service account in an account, account-wide or on one resource; revoked,
//! never deleted. Every change is audited and told to the credential caches.
//! What authorization reads of them is in [`super::holdings`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_events;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::changes::CredentialChange;
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::idempotency::{self, IdempotentCompletion};
use super::keyset;
use super::service_accounts::sql::LOCK_SERVICE_ACCOUNT;
use super::sql_store::{SqlStore, decode, fetch_all, fetch_optional, query};
use crate::domain::{
    AuditEvent, Authorization, GrantKind, Grants, Resource, ResourceType, Subject, SubjectType,
};

/// Which authorizations a listing returns, and one page of them in
/// `(created_at, id)` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationFilter {
    pub subject_type: Option<SubjectType>,
    pub subject_id: Option<String>,
    pub grant_kind: Option<GrantKind>,
    pub capability_key: Option<String>,
    pub include_revoked: bool,
    /// At most this many.
    pub limit: u32,
    /// Start after this authorization (the last of the previous page).
    pub after: Option<Uuid>,
}

/// Granting, revoking and listing authorizations.
#[async_trait]
pub trait AuthorizationStore: Send + Sync + 'static {
    /// Adds `authorization`, records `event` and completes an idempotency
    /// record with `complete` if given, all or nothing. A live copy
    /// of the same grant is [`StoreError::AuthorizationExists`]; a service
    /// account subject must be one of the account's (not revoked).
    async fn create_authorization(
        &self,
        authorization: &Authorization,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError>;

    /// Revokes authorization `id` of `account_id` at `at` and records
    /// `event`, unless it is revoked already (then nothing changes and
    /// nothing is recorded: `false`). Revoking the last live owner grant of
    /// an account that can act is [`StoreError::LastOwner`]. `None`: no such
    /// authorization in the account.
    async fn revoke_authorization(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(Authorization, bool)>, StoreError>;

    async fn get_authorization(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Authorization>, StoreError>;

    /// A page of the account's authorizations; an `after` that names none of
    /// them is [`StoreError::CursorNotFound`].
    async fn list_authorizations(
        &self,
        account_id: Uuid,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<Authorization>, StoreError>;
}

const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1";

/// Adds a grant unless a live copy exists; returns a row only when added.
const INSERT: &str = "INSERT INTO authorizations (id, account_id, grant_kind, subject_type, \
    subject_id, capability_key, resource_type, resource_id, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id";

const SELECT_ONE: &str = "SELECT id, account_id, grant_kind, subject_type, subject_id, \
    capability_key, resource_type, resource_id, created_at, revoked_at \
    FROM authorizations WHERE account_id = $1 AND id = $2";

const REVOKE: &str = "UPDATE authorizations SET revoked_at = $3 WHERE account_id = $1 AND id = $2 \
     AND revoked_at IS NULL RETURNING id";

/// Locks an account's row for the rest of the write transaction (PostgreSQL
/// locks per row; SQLite's write transaction holds the whole database), so
/// that two revocations of an account's owners run one after the other.
const LOCK_ACCOUNT: &str = "UPDATE accounts SET id = id WHERE id = $1 RETURNING id";

/// The account's live owner grants.
const SELECT_OWNERS: &str = "SELECT subject_type, subject_id FROM authorizations \
    WHERE account_id = $1 AND grant_kind = 'account_owner' AND revoked_at IS NULL";

const SERVICE_ACCOUNT_LIVE: &str =
    "SELECT 1 FROM service_accounts WHERE id = $1 AND revoked_at IS NULL";

const SELECT_CURSOR: &str =
    "SELECT created_at FROM authorizations WHERE id = $1 AND account_id = $2";

const LIST: &str = "SELECT id, account_id, grant_kind, subject_type, subject_id, \
    capability_key, resource_type, resource_id, created_at, revoked_at \
    FROM authorizations WHERE account_id = $1 \
    AND ($2 IS NULL OR subject_type = $2) AND ($3 IS NULL OR subject_id = $3) \
    AND ($4 IS NULL OR grant_kind = $4) AND ($5 IS NULL OR capability_key = $5) \
    AND ($6 = 1 OR revoked_at IS NULL) AND (created_at, id) > ($7, $8) \
    ORDER BY created_at, id LIMIT $9";

/// The `authorizations` table.
pub(super) struct AuthorizationRow {
    id: Uuid,
    account_id: Uuid,
    grant_kind: String,
    subject_type: String,
    subject_id: String,
    capability_key: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<Uuid>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl FromColumns for AuthorizationRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            grant_kind: columns.get("grant_kind")?,
            subject_type: columns.get("subject_type")?,
            subject_id: columns.get("subject_id")?,
            capability_key: columns.get("capability_key")?,
            resource_type: columns.get("resource_type")?,
            resource_id: columns.get("resource_id")?,
            created_at: columns.get("created_at")?,
            revoked_at: columns.get("revoked_at")?,
        })
    }
}

impl AuthorizationRow {
    pub(super) fn into_authorization(self) -> Result<Authorization, StoreError> {
        let id = self.id;
        let invalid = |what: &str, value: &str| {
            corrupt(format!("authorization {id}: invalid {what} {value:?}"))
        };
        let kind = GrantKind::parse(&self.grant_kind)
            .map_err(|_| invalid("grant_kind", &self.grant_kind))?;
        let resource = match (&self.resource_type, self.resource_id) {
            (None, None) => None,
            (Some(kind), Some(id)) => Some(Resource {
                kind: ResourceType::parse(kind).map_err(|_| invalid("resource_type", kind))?,
                id,
            }),
            _ => return Err(invalid("resource", "half")),
        };
        Ok(Authorization {
            id: self.id,
            account_id: self.account_id,
            subject: Subject::from_parts(&self.subject_type, &self.subject_id)
                .ok_or_else(|| invalid("subject", &self.subject_type))?,
            grants: Grants::parse(kind, self.capability_key.as_deref()).map_err(|_| {
                invalid(
                    "capability_key",
                    self.capability_key.as_deref().unwrap_or(""),
                )
            })?,
            resource,
            created_at: self.created_at.0,
            revoked_at: self.revoked_at.map(|at| at.0),
        })
    }
}

struct OwnerRow {
    subject_type: String,
    subject_id: String,
}

impl FromColumns for OwnerRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            subject_type: columns.get("subject_type")?,
            subject_id: columns.get("subject_id")?,
        })
    }
}

/// What a cache must forget when a grant of `subject` in `account_id`
/// changes.
pub(super) fn change_of(account_id: Uuid, subject: &Subject) -> CredentialChange {
    CredentialChange::Grants {
        account_id,
        subject: subject.clone(),
    }
}

/// [`StoreError::AccountNotFound`] unless `account_id` exists.
pub(super) async fn check_account<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
) -> Result<(), StoreError> {
    match fetch_optional(connection, query::<D>(ACCOUNT_EXISTS).arg(account_id)).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::AccountNotFound),
    }
}

/// Checks, in the transaction on `connection`, that `account_id` exists and
/// that a service account subject is a live one of that account (locked: a
/// rotation of it checks its grants after this change commits, or commits
/// before it).
pub(super) async fn check_subject<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    subject: &Subject,
) -> Result<(), StoreError> {
    check_account::<D>(connection, account_id).await?;
    if let Subject::ServiceAccount(id) = subject {
        let member = query::<D>(LOCK_SERVICE_ACCOUNT).arg(*id).arg(account_id);
        if fetch_optional(connection, member).await?.is_none()
            || fetch_optional(connection, query::<D>(SERVICE_ACCOUNT_LIVE).arg(*id))
                .await?
                .is_none()
        {
            return Err(StoreError::ServiceAccountNotInAccount);
        }
    }
    Ok(())
}

/// Adds `authorization` in the transaction on `connection`, after
/// [`check_subject`]; [`StoreError::AuthorizationExists`] if a live copy
/// exists.
pub(super) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    authorization: &Authorization,
) -> Result<(), StoreError> {
    check_subject::<D>(connection, authorization.account_id, &authorization.subject).await?;
    let insert = query::<D>(INSERT)
        .arg(authorization.id)
        .arg(authorization.account_id)
        .arg(authorization.grants.kind().as_str())
        .arg(authorization.subject.kind().as_str())
        .arg(authorization.subject.id().as_str())
        .arg(
            authorization
                .grants
                .capability_key()
                .map(|k| k.as_str().to_owned()),
        )
        .arg(authorization.resource.map(|r| r.kind.as_str().to_owned()))
        .arg(authorization.resource.map(|r| r.id))
        .arg(Timestamp(authorization.created_at));
    match fetch_optional(connection, insert).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::AuthorizationExists),
    }
}

/// How many live owner grants of `account_id` belong to someone who can
/// act (a user, a group, or a service account that is not revoked).
async fn live_owners<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
) -> Result<usize, StoreError> {
    let rows = fetch_all(connection, query::<D>(SELECT_OWNERS).arg(account_id)).await?;
    let mut count = 0;
    for row in &rows {
        let owner = decode::<D, OwnerRow>(row)?;
        match Subject::from_parts(&owner.subject_type, &owner.subject_id) {
            Some(Subject::ServiceAccount(id)) => {
                let live = query::<D>(SERVICE_ACCOUNT_LIVE).arg(id);
                if fetch_optional(connection, live).await?.is_some() {
                    count += 1;
                }
            }
            Some(_) => count += 1,
            None => return Err(corrupt(format!("owner subject {:?}", owner.subject_type))),
        }
    }
    Ok(count)
}

async fn select_one<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<Authorization>, StoreError> {
    fetch_optional(connection, query::<D>(SELECT_ONE).arg(account_id).arg(id))
        .await?
        .map(|row| decode::<D, AuthorizationRow>(&row)?.into_authorization())
        .transpose()
}

#[async_trait]
impl<D: Backend> AuthorizationStore for SqlStore<D> {
    async fn create_authorization(
        &self,
        authorization: &Authorization,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError> {
        self.write_changing(async |tx| {
            insert::<D>(tx, authorization).await?;
            audit_events::insert::<D>(tx, event).await?;
            if let Some(completion) = complete {
                idempotency::complete::<D>(tx, completion).await?;
            }
            let change = change_of(authorization.account_id, &authorization.subject);
            Ok(((), vec![change]))
        })
        .await
    }

    async fn revoke_authorization(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(Authorization, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(found) = select_one::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            if found.revoked_at.is_some() {
                return Ok((Some((found, false)), vec![]));
            }
            let owner = found.grants == Grants::AccountOwner;
            let owners_before = if owner {
                fetch_optional(tx, query::<D>(LOCK_ACCOUNT).arg(account_id)).await?;
                live_owners::<D>(tx, account_id).await?
            } else {
                0
            };
            let revoke = query::<D>(REVOKE)
                .arg(account_id)
                .arg(id)
                .arg(Timestamp(at));
            if fetch_optional(tx, revoke).await?.is_none() {
                return Err(StoreError::Internal(
                    "a locked grant was not revoked".into(),
                ));
            }
            // The last owner that can act stays: without one, nobody could
            // ever grant anything in the account again.
            if owner && owners_before > 0 && live_owners::<D>(tx, account_id).await? == 0 {
                return Err(StoreError::LastOwner);
            }
            audit_events::insert::<D>(tx, event).await?;
            let change = change_of(account_id, &found.subject);
            let revoked = Authorization {
                revoked_at: Some(Timestamp(at).0),
                ..found
            };
            Ok((Some((revoked, true)), vec![change]))
        })
        .await
    }

    async fn get_authorization(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Authorization>, StoreError> {
        self.reading(async |connection| select_one::<D>(connection, account_id, id).await)
            .await
    }

    async fn list_authorizations(
        &self,
        account_id: Uuid,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<Authorization>, StoreError> {
        self.reading(async |connection| {
            let (after_created_at, after_id) =
                keyset::after_created::<D>(connection, SELECT_CURSOR, account_id, filter.after)
                    .await?;
            let select = query::<D>(LIST)
                .arg(account_id)
                .arg(filter.subject_type.map(|t| t.as_str().to_owned()))
                .arg(filter.subject_id.clone())
                .arg(filter.grant_kind.map(|k| k.as_str().to_owned()))
                .arg(filter.capability_key.clone())
                .arg(i32::from(filter.include_revoked))
                .arg(after_created_at)
                .arg(after_id)
                .arg(i64::from(filter.limit));
            fetch_all(connection, select)
                .await?
                .iter()
                .map(|row| decode::<D, AuthorizationRow>(row)?.into_authorization())
                .collect()
        })
        .await
    }
}
