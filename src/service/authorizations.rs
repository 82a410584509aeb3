//! Authorizations: granting, revoking and listing who holds what in an
//! account, for the API and the command line alike, under the rules of
//! [`super::escalation`]. Every change is audited with who made it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{ServiceError, page_error};
use super::escalation::{self, Granter};
use crate::clock::Clock;
use crate::domain::{
    Actor, AuditAction, AuditDetail, AuditEvent, Authorization, CapabilityKey, GrantKind, Grants,
    Origin, Resource, ResourceType, Subject, SubjectType, ValidationError,
};
use crate::store::{AuthorizationFilter, AuthorizationStore, IdempotentCompletion, StoreError};

/// Seals the response to a write for its idempotency record, from the record
/// the write made, for the store to complete in the write's transaction.
pub type Seal<T> = Box<dyn Fn(&T) -> IdempotentCompletion + Send + Sync>;

/// The most authorizations one page lists, and the default.
pub const MAX_PAGE: u32 = 1000;

/// The page size a client asks for: 1 to [`MAX_PAGE`], [`MAX_PAGE`] when
/// it does not say.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ValidationError> {
    match limit {
        None => Ok(MAX_PAGE),
        Some(limit @ 1..=MAX_PAGE) => Ok(limit),
        Some(other) => Err(ValidationError::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE} (got {other})"),
        )),
    }
}

/// A list's filters as a client gives them, checked: a `subject_id` that
/// could name a subject (in the form the records show, a user's UUID in
/// lowercase), a `capability_key` that could be one.
pub fn filter_parts(
    subject_type: Option<SubjectType>,
    subject_id: Option<&str>,
    capability_key: Option<&str>,
) -> Result<(Option<String>, Option<String>), ValidationError> {
    // Checked as any subject id is (length, no control characters), and a
    // UUID kept in the records' lowercase form; an id that no subject of
    // the type could have matches nothing, as a filter should.
    let subject_id = subject_id
        .map(|id| {
            Subject::parse(SubjectType::Group, id).map(|_| {
                match (subject_type, Uuid::parse_str(id)) {
                    (Some(SubjectType::Group), _) | (_, Err(_)) => id.to_owned(),
                    (_, Ok(uuid)) => uuid.to_string(),
                }
            })
        })
        .transpose()?;
    let capability_key = capability_key
        .map(|key| {
            CapabilityKey::parse(key)
                .map(|k| k.as_str().to_owned())
                .map_err(|_| {
                    ValidationError::new(
                        "capability_key",
                        "is not a capability key: use dotted lowercase words such as \
                         auth.manage",
                    )
                })
        })
        .transpose()?;
    Ok((subject_id, capability_key))
}

/// A grant as a client asks for it, checked whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub subject: Subject,
    pub grants: Grants,
    pub resource: Option<Resource>,
}

impl GrantRequest {
    /// Checks a request's parts together: `capability_key` with a
    /// capability grant only; a resource whole (and an `account` resource
    /// being `account_id`); a subject id that can name its type.
    pub fn parse(
        account_id: Uuid,
        grant_kind: GrantKind,
        subject_type: SubjectType,
        subject_id: &str,
        capability_key: Option<&str>,
        resource_type: Option<ResourceType>,
        resource_id: Option<Uuid>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            subject: Subject::parse(subject_type, subject_id)?,
            grants: Grants::parse(grant_kind, capability_key)?,
            resource: Resource::parse(account_id, resource_type, resource_id)?,
        })
    }
}

/// Who made a change, as the audit log records it.
pub(super) fn actor_of(granter: Granter<'_>) -> (Actor, Origin) {
    match granter {
        Granter::Api(access) => (access.caller().actor(), access.caller().origin.clone()),
        Granter::Operator => (Actor::Operator, Origin::default()),
    }
}

/// The audit event of a change to who holds what in `account_id`.
pub(super) fn change_event(
    granter: Granter<'_>,
    account_id: Uuid,
    subject: &Subject,
    action: AuditAction,
    detail: AuditDetail,
    at: DateTime<Utc>,
) -> AuditEvent {
    let (actor, origin) = actor_of(granter);
    let service_account_id = match subject {
        Subject::ServiceAccount(id) => Some(*id),
        _ => None,
    };
    AuditEvent::new(at, account_id, service_account_id, action, actor, origin).with_detail(detail)
}

fn grant_detail(authorization: &Authorization) -> AuditDetail {
    AuditDetail::Grant {
        authorization_id: Some(authorization.id),
        subject: authorization.subject.clone(),
        grants: authorization.grants.clone(),
        resource: authorization.resource,
    }
}

pub struct Authorizations {
    store: Arc<dyn AuthorizationStore>,
    clock: Arc<dyn Clock>,
}

impl Authorizations {
    pub fn new(store: Arc<dyn AuthorizationStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Grants `request` in `account_id`, if `granter` may; `seal` records the
    /// response under the request's idempotency key in the same transaction.
    pub async fn grant(
        &self,
        granter: Granter<'_>,
        account_id: Uuid,
        request: GrantRequest,
        seal: Option<Seal<Authorization>>,
    ) -> Result<Authorization, ServiceError> {
        escalation::may_grant(granter, &request.subject, &request.grants, request.resource)?;
        let authorization = Authorization {
            id: Uuid::new_v4(),
            account_id,
            subject: request.subject,
            grants: request.grants,
            resource: request.resource,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        let event = change_event(
            granter,
            account_id,
            &authorization.subject,
            AuditAction::GrantAdd,
            grant_detail(&authorization),
            authorization.created_at,
        );
        let completion = seal.map(|seal| seal(&authorization));
        self.store
            .create_authorization(&authorization, &event, completion.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::AuthorizationExists => ServiceError::AuthorizationExists,
                other => other.into(),
            })?;
        Ok(authorization)
    }

    /// Revokes authorization `id` of `account_id`, if `granter` may; revoking
    /// a revoked one changes nothing and answers it as it is.
    pub async fn revoke(
        &self,
        granter: Granter<'_>,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Authorization, ServiceError> {
        let found = self
            .store
            .get_authorization(account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        escalation::may_revoke_grant(granter, &found)?;
        let now = self.clock.now();
        let event = change_event(
            granter,
            account_id,
            &found.subject,
            AuditAction::GrantRemove,
            grant_detail(&found),
            now,
        );
        let (revoked, _) = self
            .store
            .revoke_authorization(account_id, id, now, &event)
            .await
            .map_err(|e| match e {
                StoreError::LastOwner => ServiceError::LastOwner,
                other => other.into(),
            })?
            .ok_or(ServiceError::NotFound)?;
        Ok(revoked)
    }

    /// Authorization `id` of `account_id`, revoked or not.
    pub async fn get(&self, account_id: Uuid, id: Uuid) -> Result<Authorization, ServiceError> {
        self.store
            .get_authorization(account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A page of the account's authorizations; an `after` that names none
    /// of them is a validation error naming it.
    pub async fn list(
        &self,
        account_id: Uuid,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<Authorization>, ServiceError> {
        self.store
            .list_authorizations(account_id, filter)
            .await
            .map_err(page_error("after", "authorization"))
    }

    /// Every live authorization in the account matching `subject` and
    /// `grants` (the command line's `grants remove` names a grant by what it
    /// gives, not by id).
    pub async fn live_matching(
        &self,
        account_id: Uuid,
        subject: &Subject,
        grants: &Grants,
    ) -> Result<Vec<Authorization>, ServiceError> {
        let mut found = Vec::new();
        let mut filter = AuthorizationFilter {
            subject_type: Some(subject.kind()),
            subject_id: Some(subject.id()),
            grant_kind: Some(grants.kind()),
            capability_key: grants.capability_key().map(|k| k.as_str().to_owned()),
            include_revoked: false,
            limit: MAX_PAGE,
            after: None,
        };
        loop {
            let page = self.list(account_id, &filter).await?;
            let full = page.len() == MAX_PAGE as usize;
            filter.after = page.last().map(|a| a.id);
            found.extend(page);
            if !full {
                return Ok(found);
            }
        }
    }
}
