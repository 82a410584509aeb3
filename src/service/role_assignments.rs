//! Role assignments: giving, revoking and listing roles in an account, for
//! the API and the command line alike, under the rules of
//! [`super::escalation`]. What a role expands to comes from the role table
//! when answering. Every change is audited with who made it.

use std::sync::Arc;

use uuid::Uuid;

use super::authorizations::{Seal, change_event};
use super::error::{ServiceError, page_error};
use super::escalation::{self, Granter};
use crate::clock::Clock;
use crate::domain::{
    AuditAction, AuditDetail, CapabilityKey, Resource, ResourceType, RoleAssignment, RoleKey,
    RoleTable, Subject, SubjectType, ValidationError,
};
use crate::store::{RoleAssignmentStore, RolePage, StoreError};

/// A role assignment as a client asks for it, checked whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRequest {
    pub role: RoleKey,
    pub subject: Subject,
    pub resource: Resource,
}

impl RoleRequest {
    pub fn parse(
        account_id: Uuid,
        role: RoleKey,
        subject_type: SubjectType,
        subject_id: &str,
        resource_type: ResourceType,
        resource_id: Uuid,
    ) -> Result<Self, ValidationError> {
        let resource = Resource::parse(account_id, Some(resource_type), Some(resource_id))?
            .ok_or_else(|| ValidationError::new("resource_type", "is required"))?;
        Ok(Self {
            role,
            subject: Subject::parse(subject_type, subject_id)?,
            resource,
        })
    }
}

fn role_detail(assignment: &RoleAssignment) -> AuditDetail {
    AuditDetail::Role {
        role_assignment_id: assignment.id,
        subject: assignment.subject.clone(),
        role: assignment.role,
        resource: assignment.resource,
    }
}

pub struct RoleAssignments {
    store: Arc<dyn RoleAssignmentStore>,
    table: Arc<RoleTable>,
    clock: Arc<dyn Clock>,
}

impl RoleAssignments {
    pub fn new(
        store: Arc<dyn RoleAssignmentStore>,
        table: Arc<RoleTable>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            table,
            clock,
        }
    }

    /// The role table roles are expanded with.
    pub fn table(&self) -> &Arc<RoleTable> {
        &self.table
    }

    /// What `role` expands to now.
    pub fn expand(&self, role: RoleKey) -> &[CapabilityKey] {
        self.table.expand(role)
    }

    /// Gives `request` in `account_id`, if `granter` may; `seal` records the
    /// response under the request's idempotency key in the same transaction.
    pub async fn assign(
        &self,
        granter: Granter<'_>,
        account_id: Uuid,
        request: RoleRequest,
        seal: Option<Seal<RoleAssignment>>,
    ) -> Result<RoleAssignment, ServiceError> {
        escalation::may_assign(
            granter,
            &request.subject,
            request.role,
            request.resource,
            &self.table,
        )?;
        let assignment = RoleAssignment {
            id: Uuid::new_v4(),
            account_id,
            role: request.role,
            subject: request.subject,
            resource: request.resource,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        let event = change_event(
            granter,
            account_id,
            &assignment.subject,
            AuditAction::RoleAssign,
            role_detail(&assignment),
            assignment.created_at,
        );
        let completion = seal.map(|seal| seal(&assignment));
        self.store
            .create_role_assignment(&assignment, &event, completion.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::RoleAssignmentExists => ServiceError::RoleAssignmentExists,
                other => other.into(),
            })?;
        Ok(assignment)
    }

    /// Revokes assignment `id` of `account_id`, if `granter` may; revoking a
    /// revoked one changes nothing and answers it as it is.
    pub async fn revoke(
        &self,
        granter: Granter<'_>,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<RoleAssignment, ServiceError> {
        let found = self
            .store
            .get_role_assignment(account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        escalation::may_revoke_role(granter, &found)?;
        let now = self.clock.now();
        let event = change_event(
            granter,
            account_id,
            &found.subject,
            AuditAction::RoleRevoke,
            role_detail(&found),
            now,
        );
        let (revoked, _) = self
            .store
            .revoke_role_assignment(account_id, id, now, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(revoked)
    }

    /// Role assignment `id` of `account_id`, revoked or not.
    pub async fn get(&self, account_id: Uuid, id: Uuid) -> Result<RoleAssignment, ServiceError> {
        self.store
            .get_role_assignment(account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A page of the account's role assignments.
    pub async fn list(
        &self,
        account_id: Uuid,
        page: RolePage,
    ) -> Result<Vec<RoleAssignment>, ServiceError> {
        self.store
            .list_role_assignments(account_id, page)
            .await
            .map_err(page_error("after", "role assignment"))
    }
}
