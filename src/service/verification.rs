//! Who a verified credential speaks for, in full: the principal, its token,
//! and its grants in every account where it has standing. What whoami answers
//! the caller and introspection answers a platform component; both count as a
//! use of the token (the verification noted it).

use std::collections::BTreeSet;
use std::sync::Arc;

use uuid::Uuid;

use super::access::Caller;
use super::error::ServiceError;
use crate::auth::{Principal, Verified};
use crate::domain::{Effective, HoldingsByAccount, Origin, RoleTable, ScopedCapability};
use crate::store::GrantLookup;

/// What a principal may do in one account, all sources counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountGrants {
    pub account_id: Uuid,
    /// Account-wide capability keys, ownership aside (`auth.manage`, and
    /// other services' keys such as `billing.read`), sorted.
    pub capabilities: Vec<String>,
    /// Ownership of the account, which implies every capability.
    pub owner: bool,
    /// Capabilities held on one resource only, sorted.
    pub scoped: Vec<ScopedCapability>,
}

/// A verified credential and what its principal may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub verified: Verified,
    /// One entry per account in which the principal has standing: a service
    /// account's own account (always, even with no grant), a user's accounts
    /// with at least one grant or role (its own or a group's).
    pub grants: Vec<AccountGrants>,
}

pub struct Identities {
    grants: Arc<dyn GrantLookup>,
    roles: Arc<RoleTable>,
}

impl Identities {
    pub fn new(grants: Arc<dyn GrantLookup>, roles: Arc<RoleTable>) -> Self {
        Self { grants, roles }
    }

    pub async fn describe(&self, verified: Verified) -> Result<Identity, ServiceError> {
        let caller = Caller::from_verified(verified.clone(), Origin::default());
        let mut holdings: Vec<Arc<HoldingsByAccount>> = Vec::new();
        for subject in caller.subjects() {
            holdings.push(self.grants.holdings(&subject).await?);
        }
        let accounts: BTreeSet<Uuid> = match verified.principal {
            // Its own account only, with or without grants.
            Principal::ServiceAccount { account_id, .. } => BTreeSet::from([account_id]),
            Principal::User { .. } => holdings.iter().flat_map(|h| h.keys().copied()).collect(),
        };
        let grants = accounts
            .into_iter()
            .map(|account_id| {
                let effective = caller.limit(Effective::of(
                    account_id,
                    holdings.iter().filter_map(|h| h.get(&account_id)),
                    &self.roles,
                ));
                AccountGrants {
                    account_id,
                    capabilities: effective
                        .capabilities
                        .iter()
                        .map(|key| key.as_str().to_owned())
                        .collect(),
                    owner: effective.owner,
                    scoped: effective.scoped.into_iter().collect(),
                }
            })
            .collect();
        Ok(Identity { verified, grants })
    }
}
