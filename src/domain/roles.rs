//! Roles: Hybridbox's nine role keys, what each expands to (the role table,
//! operator configuration read when answering, so that a change to it applies
//! to existing assignments), and a role assigned to a subject on a resource.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::accounts::CapabilityKey;
use super::authorizations::{Resource, Subject};
use super::names::ValidationError;

words!(
    /// Hybridbox's role keys.
    RoleKey, "role_key" {
        Viewer = "viewer",
        Editor = "editor",
        DomainManager = "domain_manager",
        Manager = "manager",
        DnsManager = "dns_manager",
        IpManager = "ip_manager",
        BillingViewer = "billing_viewer",
        BillingAdmin = "billing_admin",
        CredentialManager = "credential_manager",
    }
);

/// The role table shipped with the server (`deploy/roles.toml`): what each
/// role expands to unless the operator gives another (`--roles-file`).
pub const DEFAULT_ROLE_TABLE: &str = include_str!("../../deploy/roles.toml");

/// What each role expands to: capability keys, never ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTable {
    expansions: BTreeMap<RoleKey, Vec<CapabilityKey>>,
}

impl RoleTable {
    /// Reads a table: a TOML document with one key per role, each an array of
    /// capability keys. Every role must be there (an empty array expands to
    /// nothing); an unknown role, a malformed key or `account_owner` is an
    /// error that names it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: BTreeMap<String, Vec<String>> =
            toml::from_str(text).map_err(|e| format!("not a role table: {e}"))?;
        let mut expansions = BTreeMap::new();
        for (role, keys) in table {
            let role = RoleKey::parse(&role).map_err(|e| format!("role `{role}` {}", e.message))?;
            let mut parsed = BTreeSet::new();
            for key in keys {
                let capability = CapabilityKey::parse(&key)
                    .ok()
                    .filter(|k| k.known() != Some(super::accounts::Capability::AccountOwner))
                    .ok_or_else(|| {
                        format!("role `{role}`: {key:?} is not a capability key (dotted lowercase words such as auth.manage; ownership cannot be in a role)")
                    })?;
                parsed.insert(capability);
            }
            expansions.insert(role, parsed.into_iter().collect());
        }
        let missing: Vec<&str> = RoleKey::ALL
            .iter()
            .filter(|role| !expansions.contains_key(*role))
            .map(RoleKey::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the role table has no entry for {} (every role needs one; [] expands to nothing)",
                missing.join(", ")
            ));
        }
        Ok(Self { expansions })
    }

    /// The table shipped with the server.
    pub fn default_table() -> Self {
        Self::parse(DEFAULT_ROLE_TABLE).expect("deploy/roles.toml is a valid role table")
    }

    /// The capability keys `role` expands to, sorted.
    pub fn expand(&self, role: RoleKey) -> &[CapabilityKey] {
        self.expansions.get(&role).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A role given to a subject on a resource, live until revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub id: Uuid,
    pub account_id: Uuid,
    pub role: RoleKey,
    pub subject: Subject,
    pub resource: Resource,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_names_every_role() {
        let table = RoleTable::default_table();
        let manage = CapabilityKey::parse("auth.manage").unwrap();
        assert!(table.expand(RoleKey::CredentialManager).contains(&manage));
        assert!(!table.expand(RoleKey::Viewer).contains(&manage));
        for role in RoleKey::ALL {
            assert!(!table.expand(*role).is_empty(), "{role}");
        }
    }

    #[test]
    fn a_bad_table_is_refused_by_name() {
        let every = |extra: &str| {
            let mut text: String = RoleKey::ALL.iter().map(|r| format!("{r} = []\n")).collect();
            text.push_str(extra);
            RoleTable::parse(&text)
        };
        assert!(every("").is_ok());
        assert!(every("owner = []\n").unwrap_err().contains("owner"));
        let without_viewer = "editor = []\n";
        assert!(
            RoleTable::parse(without_viewer)
                .unwrap_err()
                .contains("viewer")
        );
        let bad_key = RoleKey::ALL
            .iter()
            .map(|r| {
                if *r == RoleKey::Viewer {
                    "viewer = [\"Read\"]\n".to_owned()
                } else {
                    format!("{r} = []\n")
                }
            })
            .collect::<String>();
        assert!(RoleTable::parse(&bad_key).unwrap_err().contains("\"Read\""));
        let owner_key = bad_key.replace("\"Read\"", "\"account_owner\"");
        assert!(
            RoleTable::parse(&owner_key)
                .unwrap_err()
                .contains("account_owner")
        );
        assert!(
            RoleTable::parse("viewer = 3")
                .unwrap_err()
                .contains("not a role table")
        );
    }
}
