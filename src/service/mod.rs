//! What the API does, independent of HTTP: authorization against an account,
//! then the service-account operations. Input arrives as plain values and is
//! parsed into domain types here, once; errors are typed ([`ServiceError`]) and
//! mapped to HTTP elsewhere (`server::error`).

pub mod admin;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::Principal;
use crate::clock::{Clock, truncate_to_micros};
use crate::domain::{Capability, ServiceAccount, ServiceAccountName, TokenFacts, ValidationError};
use crate::store::{Store, StoreError, StoredServiceAccount};
use crate::token::keyring::{TokenKeyring, TokenMac};
use crate::token::{self, PlaintextToken, TokenPrefix};

/// A failed operation, in the service's terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The account or service account does not exist, or the caller has no
    /// standing in it (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// The caller has standing in the account but lacks `needed`.
    #[error("the caller lacks the {needed} capability on this account")]
    Forbidden { needed: Capability },
    #[error("a service account named {name:?} already exists in this account")]
    NameConflict { name: String },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
            StoreError::AccountNotFound | StoreError::ServiceAccountNotInAccount => {
                ServiceError::NotFound
            }
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// Proof that a principal may exercise a capability on an account: only
/// [`ServiceAccounts::authorize`] makes one, and every operation needs one.
#[derive(Debug, Clone, Copy)]
pub struct AccountAccess {
    principal: Principal,
    account_id: Uuid,
}

impl AccountAccess {
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// A create request as it arrived (already decoded from JSON, not yet validated).
#[derive(Debug, Clone)]
pub struct CreateServiceAccount {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A service account together with its new plaintext token: the only moment
/// the token exists outside its owner's hands.
#[derive(Debug)]
pub struct IssuedServiceAccount {
    pub service_account: ServiceAccount,
    pub token: PlaintextToken,
}

/// How tokens are minted: their prefix and the keys that MAC them.
#[derive(Clone)]
pub struct TokenIssuer {
    pub prefix: TokenPrefix,
    pub keyring: Arc<TokenKeyring>,
}

impl TokenIssuer {
    /// A new token, the facts about it that are shown, and the MAC that is stored.
    pub fn issue(&self) -> (PlaintextToken, TokenFacts, TokenMac) {
        let generated = token::generate(&self.prefix);
        let mac = self.keyring.mac(generated.plaintext.expose());
        let facts = TokenFacts {
            prefix: self.prefix.as_str().to_owned(),
            public_id: generated.public_id,
            last4: generated.last4,
        };
        (generated.plaintext, facts, mac)
    }

    /// A new service account, not yet stored, with a fresh token.
    pub fn new_service_account(
        &self,
        account_id: Uuid,
        name: &ServiceAccountName,
        created_by_user_id: Option<Uuid>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> (StoredServiceAccount, PlaintextToken) {
        let (token, facts, mac) = self.issue();
        let service_account = ServiceAccount {
            id: Uuid::new_v4(),
            account_id,
            name: name.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            created_by_user_id,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            revoked_by_user_id: None,
            token: facts,
        };
        (
            StoredServiceAccount {
                service_account,
                mac,
            },
            token,
        )
    }
}

/// The service-account operations of the public API.
pub struct ServiceAccounts {
    store: Arc<dyn Store>,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
}

impl ServiceAccounts {
    pub fn new(store: Arc<dyn Store>, issuer: TokenIssuer, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            issuer,
            clock,
        }
    }

    /// Checks that `principal` may exercise `needed` on `account_id`.
    ///
    /// No standing in the account (including an account that does not exist)
    /// is [`ServiceError::NotFound`]; standing without the capability is
    /// [`ServiceError::Forbidden`]. A service account has standing in its own
    /// account only; a user wherever they hold a grant.
    pub async fn authorize(
        &self,
        principal: &Principal,
        account_id: Uuid,
        needed: Capability,
    ) -> Result<AccountAccess, ServiceError> {
        if let Principal::ServiceAccount {
            account_id: home, ..
        } = principal
            && *home != account_id
        {
            return Err(ServiceError::NotFound);
        }
        let held = self
            .store
            .capabilities(account_id, principal.subject())
            .await?;
        if held.is_empty() && matches!(principal, Principal::User { .. }) {
            return Err(ServiceError::NotFound);
        }
        if !held.iter().any(|c| c.satisfies(needed)) {
            return Err(ServiceError::Forbidden { needed });
        }
        Ok(AccountAccess {
            principal: *principal,
            account_id,
        })
    }

    /// Creates a service account in the authorized account and issues its token.
    pub async fn create(
        &self,
        access: &AccountAccess,
        request: CreateServiceAccount,
    ) -> Result<IssuedServiceAccount, ServiceError> {
        let now = self.clock.now();
        let name = ServiceAccountName::parse(request.name)?;
        let expires_at = parse_expiry(request.expires_at, now)?;
        let (stored, token) = self.issuer.new_service_account(
            access.account_id,
            &name,
            access.principal.user_id(),
            expires_at,
            now,
        );
        self.store
            .insert_service_account(&stored)
            .await
            .map_err(|e| match e {
                StoreError::NameConflict => ServiceError::NameConflict {
                    name: name.as_str().to_owned(),
                },
                other => other.into(),
            })?;
        Ok(IssuedServiceAccount {
            service_account: stored.service_account,
            token,
        })
    }
}

/// `expires_at` must lie in the future; it is kept to the microsecond.
fn parse_expiry(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let Some(expires_at) = requested.map(truncate_to_micros) else {
        return Ok(None);
    };
    if expires_at <= now {
        return Err(ValidationError::new(
            "expires_at",
            format!(
                "must be in the future (got {}, the server's time is {})",
                expires_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
        ));
    }
    Ok(Some(expires_at))
}
