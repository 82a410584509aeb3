//! Operator actions behind the command line: creating accounts, granting
//! capabilities and roles (through the same service and rules as the API,
//! except that the operator may grant anything), bootstrapping an account's first credential, and managing
//! introspection clients. These bypass the API's authorization on purpose:
//! whoever can run them can already read the database.

use std::sync::Arc;

use uuid::Uuid;

use super::audit_events::AuditLog;
use super::authorizations::{self, Authorizations, GrantRequest};
use super::error::ServiceError;
use super::escalation::Granter;
use super::minter::TokenMinter;
use super::role_assignments::{RoleAssignments, RoleRequest};
use super::service_accounts::IssuedServiceAccount;
use crate::clock::Clock;
use crate::domain::IntrospectionClient;
use crate::domain::{
    Account, Actor, AuditAction, AuditEvent, Authorization, Capability, CapabilityKey, Grants,
    OperatorName, Origin, Resource, RoleAssignment, RoleKey, ServiceAccountName, Subject,
};
use crate::store::{
    AccountStore, AuditEventStore, AuditFilter, AuthorizationFilter, IntrospectionClientStore,
    RolePage, StoredIntrospectionClient,
};
use crate::token::{PlaintextToken, client};

/// The name given to the service account `bootstrap` creates, unless told otherwise.
pub const DEFAULT_BOOTSTRAP_NAME: &str = "bootstrap-owner";

pub struct Admin {
    accounts: Arc<dyn AccountStore>,
    authorizations: Arc<Authorizations>,
    roles: Arc<RoleAssignments>,
    introspection_clients: Arc<dyn IntrospectionClientStore>,
    audit_events: Arc<dyn AuditEventStore>,
    clock: Arc<dyn Clock>,
}

/// A new introspection client and its secret, shown this once.
#[derive(Debug)]
pub struct NewIntrospectionClient {
    pub client: IntrospectionClient,
    pub secret: PlaintextToken,
}

/// What `bootstrap` made: an account and its owner service account with a token.
#[derive(Debug)]
pub struct Bootstrapped {
    pub account: Account,
    pub owner: IssuedServiceAccount,
}

impl Admin {
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        authorizations: Arc<Authorizations>,
        roles: Arc<RoleAssignments>,
        introspection_clients: Arc<dyn IntrospectionClientStore>,
        audit_events: Arc<dyn AuditEventStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            authorizations,
            roles,
            introspection_clients,
            audit_events,
            clock,
        }
    }

    /// `Err(AccountNotFound)` unless account `account_id` exists.
    async fn require_account(&self, account_id: Uuid) -> Result<(), AdminError> {
        match self
            .accounts
            .get_account(account_id)
            .await
            .map_err(ServiceError::from)?
        {
            Some(_) => Ok(()),
            None => Err(AdminError::AccountNotFound(account_id)),
        }
    }

    pub async fn create_account(&self, name: String) -> Result<Account, ServiceError> {
        let account = Account {
            id: Uuid::new_v4(),
            name: OperatorName::parse(name)?.as_str().to_owned(),
            created_at: self.clock.now(),
        };
        self.accounts.create_account(&account).await?;
        Ok(account)
    }

    /// Every account, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>, ServiceError> {
        Ok(self.accounts.list_accounts().await?)
    }

    /// Grants `grants` (on `resource`) in `account_id` to `subject`, audited
    /// as the operator's, who may grant anything (`super_admin` included).
    /// A service account can only hold grants in its own account. Granting
    /// what is held already changes nothing (`false`) and answers the live
    /// grant.
    pub async fn grant(
        &self,
        account_id: Uuid,
        subject: Subject,
        grants: Grants,
        resource: Option<Resource>,
    ) -> Result<(Authorization, bool), AdminError> {
        self.require_account(account_id).await?;
        let request = GrantRequest {
            subject: subject.clone(),
            grants: grants.clone(),
            resource,
        };
        match self
            .authorizations
            .grant(Granter::Operator, account_id, request, None)
            .await
        {
            Ok(granted) => Ok((granted, true)),
            Err(ServiceError::AuthorizationExists) => {
                let live = self
                    .authorizations
                    .live_matching(account_id, &subject, &grants)
                    .await?
                    .into_iter()
                    .find(|a| a.resource == resource)
                    .ok_or_else(|| {
                        ServiceError::Internal("a grant that exists was not found".into())
                    })?;
                Ok((live, false))
            }
            Err(error) => Err(self.admin_error(error, account_id, &subject)),
        }
    }

    /// Grants a capability key (`account_owner`: ownership) account-wide.
    pub async fn add_grant(
        &self,
        account_id: Uuid,
        subject: Subject,
        capability: CapabilityKey,
    ) -> Result<Authorization, AdminError> {
        let grants = grants_of_key(capability);
        Ok(self.grant(account_id, subject, grants, None).await?.0)
    }

    /// Revokes every live account-wide grant of `capability` (`account_owner`:
    /// ownership) to `subject` in `account_id`, audited; `false` when there
    /// was none. The last owner that can act is kept (`last_owner`).
    pub async fn remove_grant(
        &self,
        account_id: Uuid,
        subject: Subject,
        capability: CapabilityKey,
    ) -> Result<bool, AdminError> {
        self.revoke_matching(account_id, subject, grants_of_key(capability))
            .await
    }

    /// Revokes every live account-wide grant of `grants` to `subject` in
    /// `account_id`; `false` when there was none.
    pub async fn revoke_matching(
        &self,
        account_id: Uuid,
        subject: Subject,
        grants: Grants,
    ) -> Result<bool, AdminError> {
        self.require_account(account_id).await?;
        let live = self
            .authorizations
            .live_matching(account_id, &subject, &grants)
            .await?;
        let mut removed = false;
        for found in live.into_iter().filter(|a| a.resource.is_none()) {
            self.authorizations
                .revoke(Granter::Operator, account_id, found.id)
                .await
                .map_err(|e| self.admin_error(e, account_id, &subject))?;
            removed = true;
        }
        Ok(removed)
    }

    /// Revokes authorization `id` of `account_id` (revoked already: as it is).
    pub async fn revoke_authorization(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Authorization, AdminError> {
        self.require_account(account_id).await?;
        self.authorizations
            .revoke(Granter::Operator, account_id, id)
            .await
            .map_err(|e| match e {
                ServiceError::NotFound => AdminError::AuthorizationNotFound(id),
                ServiceError::LastOwner => AdminError::LastOwner { account_id },
                other => other.into(),
            })
    }

    /// Every live grant on an account (revoked ones too with
    /// `include_revoked`), oldest first.
    pub async fn grants(
        &self,
        account_id: Uuid,
        include_revoked: bool,
    ) -> Result<Vec<Authorization>, AdminError> {
        self.require_account(account_id).await?;
        let mut all = Vec::new();
        let mut filter = AuthorizationFilter {
            include_revoked,
            limit: authorizations::MAX_PAGE,
            ..AuthorizationFilter::default()
        };
        loop {
            let page = self.authorizations.list(account_id, &filter).await?;
            let full = page.len() == authorizations::MAX_PAGE as usize;
            filter.after = page.last().map(|a| a.id);
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    /// Gives `role` on `resource` to `subject` in `account_id`, audited as
    /// the operator's.
    pub async fn assign_role(
        &self,
        account_id: Uuid,
        request: RoleRequest,
    ) -> Result<RoleAssignment, AdminError> {
        self.require_account(account_id).await?;
        let subject = request.subject.clone();
        self.roles
            .assign(Granter::Operator, account_id, request, None)
            .await
            .map_err(|e| self.admin_error(e, account_id, &subject))
    }

    /// Revokes role assignment `id` of `account_id`.
    pub async fn revoke_role(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<RoleAssignment, AdminError> {
        self.require_account(account_id).await?;
        self.roles
            .revoke(Granter::Operator, account_id, id)
            .await
            .map_err(|e| match e {
                ServiceError::NotFound => AdminError::RoleAssignmentNotFound(id),
                other => other.into(),
            })
    }

    /// Every role assignment on an account (revoked ones with
    /// `include_revoked`), oldest first.
    pub async fn role_assignments(
        &self,
        account_id: Uuid,
        include_revoked: bool,
    ) -> Result<Vec<RoleAssignment>, AdminError> {
        self.require_account(account_id).await?;
        let mut all = Vec::new();
        let mut page = RolePage {
            include_revoked,
            limit: authorizations::MAX_PAGE,
            after: None,
        };
        loop {
            let found = self.roles.list(account_id, page).await?;
            let full = found.len() == authorizations::MAX_PAGE as usize;
            page.after = found.last().map(|a| a.id);
            all.extend(found);
            if !full {
                return Ok(all);
            }
        }
    }

    /// What role `role` expands to.
    pub fn expand(&self, role: RoleKey) -> &[CapabilityKey] {
        self.roles.expand(role)
    }

    /// The operator's words for a refused change.
    fn admin_error(&self, error: ServiceError, account_id: Uuid, subject: &Subject) -> AdminError {
        match (error, subject) {
            (ServiceError::NotFound, Subject::ServiceAccount(id)) => {
                AdminError::ServiceAccountNotInAccount {
                    service_account_id: *id,
                    account_id,
                }
            }
            (ServiceError::LastOwner, _) => AdminError::LastOwner { account_id },
            (error, _) => error.into(),
        }
    }

    /// Creates an introspection client; its secret is MACed with the token keys.
    pub async fn create_introspection_client(
        &self,
        minter: &TokenMinter,
        name: String,
    ) -> Result<NewIntrospectionClient, ServiceError> {
        let name = OperatorName::parse(name)?;
        let credentials = client::generate();
        let client = IntrospectionClient {
            client_id: credentials.client_id,
            name: name.as_str().to_owned(),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        let secret = minter.keyring.mac(&client::mac_input(
            &client.client_id,
            credentials.secret.expose(),
        ));
        self.introspection_clients
            .insert_introspection_client(&StoredIntrospectionClient {
                client: client.clone(),
                secret,
            })
            .await?;
        Ok(NewIntrospectionClient {
            client,
            secret: credentials.secret,
        })
    }

    pub async fn introspection_clients(&self) -> Result<Vec<IntrospectionClient>, ServiceError> {
        Ok(self
            .introspection_clients
            .list_introspection_clients()
            .await?)
    }

    /// Revokes a client: it can no longer introspect. Revoking again changes
    /// nothing.
    pub async fn revoke_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<IntrospectionClient, AdminError> {
        self.introspection_clients
            .revoke_introspection_client(client_id, self.clock.now())
            .await
            .map_err(|e| AdminError::Service(e.into()))?
            .ok_or_else(|| AdminError::IntrospectionClientNotFound(client_id.to_owned()))
    }

    /// A page of the account's audit log, newest first, as the API lists it.
    pub async fn audit_page(
        &self,
        account_id: Uuid,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        self.require_account(account_id).await?;
        Ok(AuditLog::new(self.audit_events.clone())
            .page(account_id, filter)
            .await?)
    }

    /// Creates an account and a service account that owns it, and returns that
    /// service account's token: the way to a first credential without an OAuth
    /// issuer. All or nothing.
    pub async fn bootstrap(
        &self,
        minter: &TokenMinter,
        account_name: String,
        service_account_name: String,
    ) -> Result<Bootstrapped, ServiceError> {
        let now = self.clock.now();
        let account = Account {
            id: Uuid::new_v4(),
            name: OperatorName::parse(account_name)?.as_str().to_owned(),
            created_at: now,
        };
        let name = ServiceAccountName::parse(service_account_name)?;
        let (owner, token) = minter.new_service_account(account.id, &name, None, None, now);
        let event = AuditEvent::new(
            now,
            account.id,
            Some(owner.service_account.id),
            AuditAction::Create,
            Actor::Operator,
            Origin::default(),
        )
        .about_token(&owner.service_account.token.public_id);
        self.accounts.bootstrap(&account, &owner, &event).await?;
        Ok(Bootstrapped {
            account,
            owner: IssuedServiceAccount {
                service_account: owner.service_account,
                token,
            },
        })
    }
}

/// What a capability key grants at the command line: `account_owner` is
/// ownership.
fn grants_of_key(capability: CapabilityKey) -> Grants {
    if capability.known() == Some(Capability::AccountOwner) {
        Grants::AccountOwner
    } else {
        Grants::Capability(capability)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("account {0} does not exist (create one with `hbx-sa accounts create`)")]
    AccountNotFound(Uuid),
    #[error(
        "service account {service_account_id} is not a live service account of account \
         {account_id}: a service account can only hold grants in its own account"
    )]
    ServiceAccountNotInAccount {
        service_account_id: Uuid,
        account_id: Uuid,
    },
    #[error(
        "refused (last_owner): this grant is the last owner of account {account_id} that can \
         act; without one, nobody could grant anything there again. Grant `account_owner` to \
         another user or service account first"
    )]
    LastOwner { account_id: Uuid },
    #[error("account has no authorization {0} (see `hbx-sa grants list`)")]
    AuthorizationNotFound(Uuid),
    #[error("account has no role assignment {0} (see `hbx-sa roles list`)")]
    RoleAssignmentNotFound(Uuid),
    #[error("there is no introspection client {0:?} (see `hbx-sa introspection-clients list`)")]
    IntrospectionClientNotFound(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}
