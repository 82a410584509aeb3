//! Authorization against an account: who the caller is ([`Caller`]), and
//! the proof ([`AccountAccess`]) that it may exercise a capability there,
//! which only [`Authorizer::authorize`] makes and every operation needs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ServiceError;
use crate::auth::Principal;
use crate::domain::{Actor, AuditAction, AuditEvent, Capability, CapabilityKey};
use crate::store::GrantLookup;

/// An authenticated principal making one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Whether the credential was a service account's previous token, still
    /// working in its rotation's grace period (such a caller may use the API
    /// but not issue or change credentials).
    pub previous_token: bool,
    /// The API request, recorded in the audit log.
    pub request_id: Option<String>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match self.principal {
            Principal::User { user_id } => Actor::User(user_id),
            Principal::ServiceAccount {
                service_account_id, ..
            } => Actor::ServiceAccount(service_account_id),
        }
    }
}

/// Proof that a caller may exercise a capability on an account: only
/// [`Authorizer::authorize`] makes one, and every operation needs one.
#[derive(Debug, Clone)]
pub struct AccountAccess {
    pub(super) caller: Caller,
    account_id: Uuid,
    /// What the caller holds on the account.
    pub(super) held: Vec<CapabilityKey>,
}

impl AccountAccess {
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }

    /// Refuses `operation` to a caller using a previous token: that token is
    /// meant to keep old deployments working through a rotation, and if it
    /// could rotate (or create, retire, revoke others) a leaked copy would
    /// replace the current token and outlive its grace period.
    pub(super) fn require_current_token(
        &self,
        operation: &'static str,
    ) -> Result<(), ServiceError> {
        if self.caller.previous_token {
            return Err(ServiceError::PreviousToken { operation });
        }
        Ok(())
    }

    /// Whether the caller is service account `id` itself.
    pub(super) fn is_service_account(&self, id: Uuid) -> bool {
        matches!(self.caller.principal,
            Principal::ServiceAccount { service_account_id, .. } if service_account_id == id)
    }

    pub(super) fn audit(
        &self,
        service_account_id: Uuid,
        action: AuditAction,
        at: DateTime<Utc>,
    ) -> AuditEvent {
        AuditEvent {
            occurred_at: at,
            account_id: self.account_id,
            service_account_id: Some(service_account_id),
            action,
            actor: self.caller.actor(),
            request_id: self.caller.request_id.clone(),
            detail: None,
        }
    }
}

/// Decides what callers may do in an account, from their grants.
pub struct Authorizer {
    grants: Arc<dyn GrantLookup>,
}

impl Authorizer {
    /// `grants` answers the authorization questions (it may be a cache in
    /// front of the store).
    pub fn new(grants: Arc<dyn GrantLookup>) -> Self {
        Self { grants }
    }

    /// Checks that the caller may exercise `needed` on `account_id`.
    ///
    /// No standing in the account (including an account that does not exist)
    /// is [`ServiceError::NotFound`]; standing without the capability is
    /// [`ServiceError::Forbidden`]. A service account has standing in its own
    /// account only; a user wherever they hold a grant.
    pub async fn authorize(
        &self,
        caller: Caller,
        account_id: Uuid,
        needed: Capability,
    ) -> Result<AccountAccess, ServiceError> {
        if let Principal::ServiceAccount {
            account_id: home, ..
        } = caller.principal
            && home != account_id
        {
            return Err(ServiceError::NotFound);
        }
        let held = self
            .grants
            .capabilities(account_id, caller.principal.subject())
            .await?;
        if held.is_empty() && matches!(caller.principal, Principal::User { .. }) {
            return Err(ServiceError::NotFound);
        }
        if !held
            .iter()
            .filter_map(CapabilityKey::known)
            .any(|c| c.satisfies(needed))
        {
            return Err(ServiceError::Forbidden { needed });
        }
        Ok(AccountAccess {
            caller,
            account_id,
            held,
        })
    }
}
