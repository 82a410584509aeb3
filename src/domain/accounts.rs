//! Accounts and the capabilities grants give in them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::names::ValidationError;

/// An account: the tenant that owns service accounts and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// What a grant allows. Every service-account operation needs
/// [`Capability::AuthManage`]; [`Capability::AccountOwner`] implies every capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    AuthManage,
    AccountOwner,
}

impl Capability {
    pub const ALL: [Capability; 2] = [Capability::AuthManage, Capability::AccountOwner];

    pub fn as_str(&self) -> &'static str {
        match self {
            Capability::AuthManage => "auth.manage",
            Capability::AccountOwner => "account_owner",
        }
    }

    /// The capability a key names, if this service acts on it.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == key)
    }

    /// Whether holding `self` satisfies a need for `needed`.
    pub fn satisfies(&self, needed: Capability) -> bool {
        *self == needed || *self == Capability::AccountOwner
    }
}

/// The key of a grant: a capability of this service ([`Capability`]) or of
/// another part of Hybridbox (`billing.read`, say), which this service stores
/// and counts as standing in the account but never acts on. Dotted lowercase
/// segments (`auth.manage`), or `account_owner`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapabilityKey(String);

impl CapabilityKey {
    const MAX_LEN: usize = 100;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let segment_ok = |segment: &str| {
            segment.starts_with(|c: char| c.is_ascii_lowercase())
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let well_formed = value == Capability::AccountOwner.as_str()
            || (value.len() <= Self::MAX_LEN
                && value.split('.').count() >= 2
                && value.split('.').all(segment_ok));
        if !well_formed {
            return Err(ValidationError::new(
                "capability",
                format!(
                    "{value:?} is not a capability key: use dotted lowercase words such as \
                     auth.manage (ownership is granted with --owner)"
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The capability of this service the key names, if any.
    pub fn known(&self) -> Option<Capability> {
        Capability::from_key(&self.0)
    }
}

impl From<Capability> for CapabilityKey {
    fn from(capability: Capability) -> Self {
        Self(capability.as_str().to_owned())
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_and_imply() {
        let key = |k: &str| CapabilityKey::parse(k).map(|key| key.known());
        assert_eq!(key("auth.manage"), Ok(Some(Capability::AuthManage)));
        assert_eq!(key("account_owner"), Ok(Some(Capability::AccountOwner)));
        assert_eq!(
            key("billing.read"),
            Ok(None),
            "other services' capabilities are kept"
        );
        // Digits and underscores after a segment's first letter.
        assert_eq!(key("billing_v2.read_all"), Ok(None));
        assert_eq!(key("s3.put_object2"), Ok(None));
        for bad in [
            "",
            "auth",
            "Auth.Manage",
            "auth..manage",
            "auth.manage.",
            ".auth",
            "auth.man age",
            "1x.y",
        ] {
            assert!(CapabilityKey::parse(bad).is_err(), "{bad:?}");
        }
        // What is stored and shown is the key as given.
        assert_eq!(
            CapabilityKey::parse("billing.read").unwrap().as_str(),
            "billing.read"
        );
        assert_eq!(
            CapabilityKey::from(Capability::AuthManage).as_str(),
            "auth.manage"
        );
        assert_eq!(Capability::AuthManage.to_string(), "auth.manage");
        assert_eq!(Capability::AccountOwner.to_string(), "account_owner");
        assert!(Capability::AccountOwner.satisfies(Capability::AuthManage));
        assert!(Capability::AuthManage.satisfies(Capability::AuthManage));
        assert!(!Capability::AuthManage.satisfies(Capability::AccountOwner));
    }
}
