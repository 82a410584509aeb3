//! Who a verified credential speaks for, in full: the principal, its token,
//! and its grants in every account where it has standing. What whoami answers
//! the caller and introspection answers a platform component; both count as a
//! use of the token (the verification noted it).

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::error::ServiceError;
use crate::auth::{Principal, Verified};
use crate::domain::{Capability, Subject};
use crate::store::GrantLookup;

/// What a subject holds in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountGrants {
    pub account_id: Uuid,
    /// Capability keys held, ownership aside (`auth.manage`, and other
    /// services' keys such as `billing.read`), sorted.
    pub capabilities: Vec<String>,
    /// Ownership of the account, which implies every capability.
    pub owner: bool,
}

/// A verified credential and the grants of its principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub verified: Verified,
    /// One entry per account in which the principal has standing: a service
    /// account's own account (always, even with no grant), a user's accounts
    /// with at least one grant.
    pub grants: Vec<AccountGrants>,
}

pub struct Identities {
    grants: Arc<dyn GrantLookup>,
}

impl Identities {
    pub fn new(grants: Arc<dyn GrantLookup>) -> Self {
        Self { grants }
    }

    pub async fn describe(&self, verified: Verified) -> Result<Identity, ServiceError> {
        let grants = match verified.principal {
            Principal::ServiceAccount {
                service_account_id,
                account_id,
            } => {
                let held = self
                    .grants
                    .capabilities(account_id, Subject::ServiceAccount(service_account_id))
                    .await?;
                vec![account_grants(
                    account_id,
                    held.iter().map(|key| key.as_str()),
                )]
            }
            Principal::User { user_id } => {
                let mut by_account: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
                for grant in self.grants.grants_of(Subject::User(user_id)).await? {
                    by_account
                        .entry(grant.account_id)
                        .or_default()
                        .push(grant.capability.as_str().to_owned());
                }
                by_account
                    .into_iter()
                    .map(|(account_id, keys)| {
                        account_grants(account_id, keys.iter().map(String::as_str))
                    })
                    .collect()
            }
        };
        Ok(Identity { verified, grants })
    }
}

fn account_grants<'a>(account_id: Uuid, keys: impl Iterator<Item = &'a str>) -> AccountGrants {
    let owner_key = Capability::AccountOwner.as_str();
    let mut owner = false;
    let mut capabilities = Vec::new();
    for key in keys {
        if key == owner_key {
            owner = true;
        } else {
            capabilities.push(key.to_owned());
        }
    }
    capabilities.sort();
    capabilities.dedup();
    AccountGrants {
        account_id,
        capabilities,
        owner,
    }
}
