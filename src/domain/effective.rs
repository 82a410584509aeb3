//! What a principal may do in an account, all sources counted: its own
//! grants, its roles' expansions, and (for a user) its groups' grants and
//! roles; ownership (or `super_admin`) implies every capability. Our own
//! operations count account-wide capabilities; resource-scoped ones are
//! reported for the services that own those resources.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::accounts::{Capability, CapabilityKey};
use super::authorizations::{Authorization, Grants, Resource};
use super::roles::{RoleAssignment, RoleTable};

/// What one subject holds in one account: its live grants and roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub authorizations: Vec<Authorization>,
    pub roles: Vec<RoleAssignment>,
}

/// What one subject holds, by account.
pub type HoldingsByAccount = BTreeMap<Uuid, Holdings>;

/// A capability held on one resource only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScopedCapability {
    pub capability_key: CapabilityKey,
    pub resource: Resource,
}

/// A principal's effective capabilities in one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// Holds at least one live grant or role there (directly or through a
    /// group).
    pub standing: bool,
    /// Owns the account (or is `super_admin` there): every capability.
    pub owner: bool,
    /// Account-wide capability keys (ownership aside).
    pub capabilities: BTreeSet<CapabilityKey>,
    /// Capabilities held on one resource, not account-wide.
    pub scoped: BTreeSet<ScopedCapability>,
}

impl Effective {
    /// Adds up `holdings` (the principal's own, and its groups') in
    /// `account_id`, expanding roles through `roles`.
    pub fn of<'a>(
        account_id: Uuid,
        holdings: impl IntoIterator<Item = &'a Holdings>,
        roles: &RoleTable,
    ) -> Self {
        Self::add_up(account_id, holdings, roles, true)
    }

    /// [`Self::of`] without the resource-scoped capabilities (`scoped` left
    /// empty): all that authorizing one of this service's operations needs,
    /// made on every request without a set entry for each scoped grant.
    pub fn account_wide<'a>(
        account_id: Uuid,
        holdings: impl IntoIterator<Item = &'a Holdings>,
        roles: &RoleTable,
    ) -> Self {
        Self::add_up(account_id, holdings, roles, false)
    }

    fn add_up<'a>(
        account_id: Uuid,
        holdings: impl IntoIterator<Item = &'a Holdings>,
        roles: &RoleTable,
        with_scoped: bool,
    ) -> Self {
        let mut effective = Effective::default();
        let mut add = |key: &CapabilityKey, resource: Option<Resource>| match resource {
            Some(resource) if !resource.is_account(account_id) => {
                if with_scoped {
                    effective.scoped.insert(ScopedCapability {
                        capability_key: key.clone(),
                        resource,
                    });
                }
            }
            _ => {
                effective.capabilities.insert(key.clone());
            }
        };
        let mut standing = false;
        let mut owner = false;
        for held in holdings {
            for grant in &held.authorizations {
                standing = true;
                match &grant.grants {
                    Grants::Capability(key) => add(key, grant.resource),
                    Grants::AccountOwner | Grants::SuperAdmin => owner = true,
                }
            }
            for role in &held.roles {
                standing = true;
                for key in roles.expand(role.role) {
                    add(key, Some(role.resource));
                }
            }
        }
        // A scoped capability also held account-wide says nothing more.
        let Effective {
            capabilities,
            scoped,
            ..
        } = &mut effective;
        scoped.retain(|s| !capabilities.contains(&s.capability_key));
        effective.standing = standing;
        effective.owner = owner;
        effective
    }

    /// Whether one of this service's operations needing `needed` is allowed.
    pub fn satisfies(&self, needed: Capability) -> bool {
        match needed {
            Capability::AccountOwner => self.owner,
            Capability::AuthManage => {
                self.owner
                    || self
                        .capabilities
                        .iter()
                        .any(|key| key.known() == Some(needed))
            }
        }
    }

    /// What a token limited to `ceiling` (a federated token's capabilities)
    /// may exercise of this: those of its keys held here, ownership's
    /// included, and never ownership itself.
    pub fn within(mut self, ceiling: &[CapabilityKey]) -> Self {
        if self.owner {
            self.capabilities.extend(ceiling.iter().cloned());
            self.owner = false;
        }
        self.capabilities.retain(|key| ceiling.contains(key));
        self.scoped
            .retain(|scoped| ceiling.contains(&scoped.capability_key));
        self
    }

    /// Whether `key` is held on `resource` (account-wide: `None`): what a
    /// caller must hold to grant it there.
    pub fn holds(&self, key: &CapabilityKey, resource: Option<Resource>) -> bool {
        self.owner
            || self.capabilities.contains(key)
            || resource.is_some_and(|resource| {
                self.scoped.contains(&ScopedCapability {
                    capability_key: key.clone(),
                    resource,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{ResourceType, RoleKey, Subject};

    fn key(k: &str) -> CapabilityKey {
        CapabilityKey::parse(k).unwrap()
    }

    fn grant(account_id: Uuid, grants: Grants, resource: Option<Resource>) -> Authorization {
        Authorization {
            id: Uuid::new_v4(),
            account_id,
            subject: Subject::Group("g".into()),
            grants,
            resource,
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    fn role(account_id: Uuid, role: RoleKey, resource: Resource) -> RoleAssignment {
        RoleAssignment {
            id: Uuid::new_v4(),
            account_id,
            role,
            subject: Subject::Group("g".into()),
            resource,
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn every_source_adds_up() {
        let account = Uuid::new_v4();
        let table = RoleTable::default_table();
        let workspace = Resource {
            kind: ResourceType::Workspace,
            id: Uuid::new_v4(),
        };
        let whole = Resource {
            kind: ResourceType::Account,
            id: account,
        };
        let own = Holdings {
            authorizations: vec![
                grant(account, Grants::Capability(key("billing.read")), None),
                grant(
                    account,
                    Grants::Capability(key("dns.read")),
                    Some(workspace),
                ),
            ],
            roles: vec![],
        };
        let group = Holdings {
            authorizations: vec![],
            roles: vec![role(account, RoleKey::CredentialManager, whole)],
        };
        let effective = Effective::of(account, [&own, &group], &table);
        let account_wide = Effective::account_wide(account, [&own, &group], &table);
        assert_eq!(
            account_wide,
            Effective {
                scoped: BTreeSet::new(),
                ..effective.clone()
            },
            "the same but for the scoped capabilities"
        );
        assert!(effective.standing && !effective.owner);
        assert!(
            effective.satisfies(Capability::AuthManage),
            "through the group's role"
        );
        assert!(!effective.satisfies(Capability::AccountOwner));
        assert!(effective.capabilities.contains(&key("billing.read")));
        assert!(effective.holds(&key("dns.read"), Some(workspace)));
        assert!(!effective.holds(&key("dns.read"), None), "scoped only");
        assert_eq!(effective.scoped.len(), 1);

        let scoped_role = Holdings {
            authorizations: vec![],
            roles: vec![role(account, RoleKey::CredentialManager, workspace)],
        };
        let effective = Effective::of(account, [&scoped_role], &table);
        let account_wide = Effective::account_wide(account, [&scoped_role], &table);
        assert!(account_wide.standing && account_wide.capabilities.is_empty());
        assert!(account_wide.scoped.is_empty() && !effective.scoped.is_empty());
        assert!(
            !effective.satisfies(Capability::AuthManage),
            "a scoped role is not account-wide"
        );
        assert!(effective.holds(&key("auth.manage"), Some(workspace)));

        let owner = Holdings {
            authorizations: vec![grant(account, Grants::AccountOwner, None)],
            roles: vec![],
        };
        let effective = Effective::of(account, [&owner], &table);
        assert!(effective.owner && effective.satisfies(Capability::AccountOwner));
        assert!(effective.holds(&key("anything.at_all"), Some(workspace)));
        let superuser = Holdings {
            authorizations: vec![grant(account, Grants::SuperAdmin, None)],
            roles: vec![],
        };
        assert!(Effective::of(account, [&superuser], &table).owner);

        let nothing = Effective::of(account, [&Holdings::default()], &table);
        assert!(!nothing.standing && !nothing.satisfies(Capability::AuthManage));
    }
}
