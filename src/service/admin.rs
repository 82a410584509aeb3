//! Operator actions behind the command line: creating accounts, granting
//! capabilities, and bootstrapping an account's first credential. These bypass
//! the API's authorization on purpose: whoever can run them can already read the
//! database.

use std::sync::Arc;

use uuid::Uuid;

use super::{IssuedServiceAccount, ServiceError, TokenMinter};
use crate::clock::Clock;
use crate::domain::{
    Account, AccountName, Actor, AuditAction, AuditEvent, CapabilityKey, ServiceAccountName,
    Subject,
};
use crate::store::{Grant, Store, StoreError};

/// The name given to the service account `bootstrap` creates, unless told otherwise.
pub const DEFAULT_BOOTSTRAP_NAME: &str = "bootstrap-owner";

pub struct Admin {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// What `bootstrap` made: an account and its owner service account with a token.
#[derive(Debug)]
pub struct Bootstrapped {
    pub account: Account,
    pub owner: IssuedServiceAccount,
}

impl Admin {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn create_account(&self, name: String) -> Result<Account, ServiceError> {
        let account = Account {
            id: Uuid::new_v4(),
            name: AccountName::parse(name)?.as_str().to_owned(),
            created_at: self.clock.now(),
        };
        self.store.create_account(&account).await?;
        Ok(account)
    }

    /// Grants `capability` on `account_id` to `subject`. A service account can
    /// only hold grants in its own account.
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
        self.store.add_grant(&grant).await.map_err(|e| match e {
            StoreError::AccountNotFound => AdminError::AccountNotFound(account_id),
            StoreError::ServiceAccountNotInAccount => AdminError::ServiceAccountNotInAccount {
                service_account_id: subject.id(),
                account_id,
            },
            StoreError::NameConflict
            | StoreError::CursorNotFound
            | StoreError::Unavailable(_)
            | StoreError::Internal(_) => AdminError::Service(e.into()),
        })?;
        Ok(grant)
    }

    /// The account's audit log, oldest first.
    pub async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, AdminError> {
        if self
            .store
            .get_account(account_id)
            .await
            .map_err(ServiceError::from)?
            .is_none()
        {
            return Err(AdminError::AccountNotFound(account_id));
        }
        Ok(self
            .store
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
            name: AccountName::parse(account_name)?.as_str().to_owned(),
            created_at: now,
        };
        let name = ServiceAccountName::parse(service_account_name)?;
        let (owner, token) = minter.new_service_account(account.id, &name, None, None, now);
        let event = AuditEvent {
            occurred_at: now,
            account_id: account.id,
            service_account_id: owner.service_account.id,
            action: AuditAction::Create,
            actor: Actor::Operator,
            request_id: None,
        };
        self.store.bootstrap(&account, &owner, &event).await?;
        Ok(Bootstrapped {
            account,
            owner: IssuedServiceAccount {
                service_account: owner.service_account,
                token,
            },
        })
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
    #[error(transparent)]
    Service(#[from] ServiceError),
}
