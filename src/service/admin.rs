//! Operator actions behind the command line: creating accounts, granting
//! capabilities, bootstrapping an account's first credential, and managing
//! introspection clients. These bypass the API's authorization on purpose:
//! whoever can run them can already read the database.

use std::sync::Arc;

use uuid::Uuid;

use super::error::ServiceError;
use super::minter::TokenMinter;
use super::service_accounts::IssuedServiceAccount;
use crate::clock::Clock;
use crate::domain::IntrospectionClient;
use crate::domain::{
    Account, Actor, AuditAction, AuditDetail, AuditEvent, CapabilityKey, OperatorName,
    ServiceAccountName, Subject,
};
use crate::store::{
    AccountStore, AuditEventStore, Grant, GrantStore, IntrospectionClientStore, StoreError,
    StoredIntrospectionClient,
};
use crate::token::{PlaintextToken, client};

/// The name given to the service account `bootstrap` creates, unless told otherwise.
pub const DEFAULT_BOOTSTRAP_NAME: &str = "bootstrap-owner";

pub struct Admin {
    accounts: Arc<dyn AccountStore>,
    grants: Arc<dyn GrantStore>,
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
        grants: Arc<dyn GrantStore>,
        introspection_clients: Arc<dyn IntrospectionClientStore>,
        audit_events: Arc<dyn AuditEventStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            grants,
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

    /// Grants `capability` on `account_id` to `subject`, audited as the
    /// operator's. A service account can only hold grants in its own account.
    /// Granting what is held already changes nothing.
    pub async fn add_grant(
        &self,
        account_id: Uuid,
        subject: Subject,
        capability: CapabilityKey,
    ) -> Result<Grant, AdminError> {
        let grant = Grant {
            account_id,
            subject,
            capability,
            created_at: self.clock.now(),
        };
        let event = grant_event(&grant, AuditAction::GrantAdd);
        self.grants
            .add_grant(&grant, &event)
            .await
            .map_err(|e| grant_error(e, &grant))?;
        Ok(grant)
    }

    /// Takes `capability` on `account_id` away from `subject`, audited; `false`
    /// when it was not held.
    pub async fn remove_grant(
        &self,
        account_id: Uuid,
        subject: Subject,
        capability: CapabilityKey,
    ) -> Result<(Grant, bool), AdminError> {
        self.require_account(account_id).await?;
        let grant = Grant {
            account_id,
            subject,
            capability,
            created_at: self.clock.now(),
        };
        let event = grant_event(&grant, AuditAction::GrantRemove);
        let removed = self
            .grants
            .remove_grant(&grant, &event)
            .await
            .map_err(|e| grant_error(e, &grant))?;
        Ok((grant, removed))
    }

    /// Every grant on an account.
    pub async fn grants(&self, account_id: Uuid) -> Result<Vec<Grant>, AdminError> {
        self.require_account(account_id).await?;
        Ok(self
            .grants
            .grants_in(account_id)
            .await
            .map_err(ServiceError::from)?)
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

    /// The account's audit log, oldest first.
    pub async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, AdminError> {
        self.require_account(account_id).await?;
        Ok(self
            .audit_events
            .audit_events(account_id)
            .await
            .map_err(ServiceError::from)?)
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
        let event = AuditEvent {
            occurred_at: now,
            account_id: account.id,
            service_account_id: Some(owner.service_account.id),
            action: AuditAction::Create,
            actor: Actor::Operator,
            request_id: None,
            detail: None,
        };
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

/// The audit event of an operator's change to `grant`.
fn grant_event(grant: &Grant, action: AuditAction) -> AuditEvent {
    AuditEvent {
        occurred_at: grant.created_at,
        account_id: grant.account_id,
        service_account_id: match grant.subject {
            Subject::ServiceAccount(id) => Some(id),
            Subject::User(_) => None,
        },
        action,
        actor: Actor::Operator,
        request_id: None,
        detail: Some(AuditDetail::Grant {
            subject: grant.subject,
            capability: grant.capability.clone(),
        }),
    }
}

fn grant_error(error: StoreError, grant: &Grant) -> AdminError {
    match error {
        StoreError::AccountNotFound => AdminError::AccountNotFound(grant.account_id),
        StoreError::ServiceAccountNotInAccount => AdminError::ServiceAccountNotInAccount {
            service_account_id: grant.subject.id(),
            account_id: grant.account_id,
        },
        StoreError::LastOwner => AdminError::LastOwner {
            account_id: grant.account_id,
        },
        StoreError::NameConflict
        | StoreError::CursorNotFound
        | StoreError::IdempotencyLeaseLost
        | StoreError::WouldEscalate { .. }
        | StoreError::Unavailable(_)
        | StoreError::Internal(_) => AdminError::Service(error.into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("account {0} does not exist (create one with `hbx-sa accounts create`)")]
    AccountNotFound(Uuid),
    #[error(
        "service account {service_account_id} is not in account {account_id}: \
         a service account can only hold grants in its own account"
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
    #[error("there is no introspection client {0:?} (see `hbx-sa introspection-clients list`)")]
    IntrospectionClientNotFound(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}
