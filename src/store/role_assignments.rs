//! Role assignments: one of Hybridbox's roles given to a user, a group or a
//! service account on a resource; revoked, never deleted. What a role expands
//! to is not stored: the role table decides it when answering. Every change
//! is audited and told to the credential caches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_events;
use super::authorizations::{change_of, check_subject};
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::idempotency::{self, IdempotentCompletion};
use super::keyset;
use super::sql_store::{SqlStore, decode, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, Resource, ResourceType, RoleAssignment, RoleKey, Subject};

/// One page of an account's role assignments in `(created_at, id)` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolePage {
    pub include_revoked: bool,
    pub limit: u32,
    pub after: Option<Uuid>,
}

/// Assigning, revoking and listing roles.
#[async_trait]
pub trait RoleAssignmentStore: Send + Sync + 'static {
    /// Adds `assignment`, records `event` and completes an idempotency record
    /// with `complete` if given, all or nothing. A live copy is
    /// [`StoreError::RoleAssignmentExists`]; a service account subject must
    /// be one of the account's (not revoked).
    async fn create_role_assignment(
        &self,
        assignment: &RoleAssignment,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError>;

    /// Revokes assignment `id` of `account_id` at `at` and records `event`,
    /// unless it is revoked already (`false`, nothing recorded). `None`: no
    /// such assignment in the account.
    async fn revoke_role_assignment(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(RoleAssignment, bool)>, StoreError>;

    async fn get_role_assignment(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<RoleAssignment>, StoreError>;

    /// A page of the account's role assignments; an `after` that names none
    /// of them is [`StoreError::CursorNotFound`].
    async fn list_role_assignments(
        &self,
        account_id: Uuid,
        page: RolePage,
    ) -> Result<Vec<RoleAssignment>, StoreError>;
}

const INSERT: &str = "INSERT INTO role_assignments (id, account_id, role_key, subject_type, \
    subject_id, resource_type, resource_id, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id";

const SELECT_ONE: &str = "SELECT id, account_id, role_key, subject_type, subject_id, \
    resource_type, resource_id, created_at, revoked_at \
    FROM role_assignments WHERE account_id = $1 AND id = $2";

const REVOKE: &str = "UPDATE role_assignments SET revoked_at = $3 WHERE account_id = $1 AND id = $2 \
     AND revoked_at IS NULL RETURNING id";

const SELECT_CURSOR: &str =
    "SELECT created_at FROM role_assignments WHERE id = $1 AND account_id = $2";

const LIST: &str = "SELECT id, account_id, role_key, subject_type, subject_id, \
    resource_type, resource_id, created_at, revoked_at \
    FROM role_assignments WHERE account_id = $1 \
    AND ($2 = 1 OR revoked_at IS NULL) AND (created_at, id) > ($3, $4) \
    ORDER BY created_at, id LIMIT $5";

/// The `role_assignments` table.
pub(super) struct RoleAssignmentRow {
    id: Uuid,
    account_id: Uuid,
    role_key: String,
    subject_type: String,
    subject_id: String,
    resource_type: String,
    resource_id: Uuid,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl FromColumns for RoleAssignmentRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            role_key: columns.get("role_key")?,
            subject_type: columns.get("subject_type")?,
            subject_id: columns.get("subject_id")?,
            resource_type: columns.get("resource_type")?,
            resource_id: columns.get("resource_id")?,
            created_at: columns.get("created_at")?,
            revoked_at: columns.get("revoked_at")?,
        })
    }
}

impl RoleAssignmentRow {
    pub(super) fn into_assignment(self) -> Result<RoleAssignment, StoreError> {
        let id = self.id;
        let invalid = |what: &str, value: &str| {
            corrupt(format!("role assignment {id}: invalid {what} {value:?}"))
        };
        Ok(RoleAssignment {
            id: self.id,
            account_id: self.account_id,
            role: RoleKey::parse(&self.role_key)
                .map_err(|_| invalid("role_key", &self.role_key))?,
            subject: Subject::from_parts(&self.subject_type, &self.subject_id)
                .ok_or_else(|| invalid("subject", &self.subject_type))?,
            resource: Resource {
                kind: ResourceType::parse(&self.resource_type)
                    .map_err(|_| invalid("resource_type", &self.resource_type))?,
                id: self.resource_id,
            },
            created_at: self.created_at.0,
            revoked_at: self.revoked_at.map(|at| at.0),
        })
    }
}

async fn select_one<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<RoleAssignment>, StoreError> {
    fetch_optional(connection, query::<D>(SELECT_ONE).arg(account_id).arg(id))
        .await?
        .map(|row| decode::<D, RoleAssignmentRow>(&row)?.into_assignment())
        .transpose()
}

#[async_trait]
impl<D: Backend> RoleAssignmentStore for SqlStore<D> {
    async fn create_role_assignment(
        &self,
        assignment: &RoleAssignment,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError> {
        self.write_changing(async |tx| {
            check_subject::<D>(tx, assignment.account_id, &assignment.subject).await?;
            let insert = query::<D>(INSERT)
                .arg(assignment.id)
                .arg(assignment.account_id)
                .arg(assignment.role.as_str())
                .arg(assignment.subject.kind().as_str())
                .arg(assignment.subject.id().as_str())
                .arg(assignment.resource.kind.as_str())
                .arg(assignment.resource.id)
                .arg(Timestamp(assignment.created_at));
            if fetch_optional(tx, insert).await?.is_none() {
                return Err(StoreError::RoleAssignmentExists);
            }
            audit_events::insert::<D>(tx, event).await?;
            if let Some(completion) = complete {
                idempotency::complete::<D>(tx, completion).await?;
            }
            let change = change_of(assignment.account_id, &assignment.subject);
            Ok(((), vec![change]))
        })
        .await
    }

    async fn revoke_role_assignment(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(RoleAssignment, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(found) = select_one::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            if found.revoked_at.is_some() {
                return Ok((Some((found, false)), vec![]));
            }
            let revoke = query::<D>(REVOKE)
                .arg(account_id)
                .arg(id)
                .arg(Timestamp(at));
            if fetch_optional(tx, revoke).await?.is_none() {
                return Err(StoreError::Internal(
                    "a live assignment was not revoked".into(),
                ));
            }
            audit_events::insert::<D>(tx, event).await?;
            let change = change_of(account_id, &found.subject);
            let revoked = RoleAssignment {
                revoked_at: Some(at),
                ..found
            };
            Ok((Some((revoked, true)), vec![change]))
        })
        .await
    }

    async fn get_role_assignment(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<RoleAssignment>, StoreError> {
        self.reading(async |connection| select_one::<D>(connection, account_id, id).await)
            .await
    }

    async fn list_role_assignments(
        &self,
        account_id: Uuid,
        page: RolePage,
    ) -> Result<Vec<RoleAssignment>, StoreError> {
        self.reading(async |connection| {
            let (after_created_at, after_id) =
                keyset::after_created::<D>(connection, SELECT_CURSOR, account_id, page.after)
                    .await?;
            let select = query::<D>(LIST)
                .arg(account_id)
                .arg(i32::from(page.include_revoked))
                .arg(after_created_at)
                .arg(after_id)
                .arg(i64::from(page.limit));
            fetch_all(connection, select)
                .await?
                .iter()
                .map(|row| decode::<D, RoleAssignmentRow>(row)?.into_assignment())
                .collect()
        })
        .await
    }
}
