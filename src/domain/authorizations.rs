//! Who holds what in an account, in Hybridbox's shape: the subject of a grant
//! (a user, a group of users, or a service account), the kind of grant, the
//! resource it may be scoped to, and the grant itself ([`Authorization`]).

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::accounts::CapabilityKey;
use super::names::ValidationError;

/// Declares a closed set of words (an enum of Hybridbox's): the values, their
/// wire names, and parsing that names the allowed values when it fails.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::new(
                        $field,
                        format!("is not one of the allowed values: use one of {}", allowed.join(", ")),
                    )
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(
    /// What a grant gives: one capability, ownership of the account (every
    /// capability), or the platform operator's `super_admin` (every
    /// capability; granted only at the command line).
    GrantKind, "grant_kind" {
        Capability = "capability",
        AccountOwner = "account_owner",
        SuperAdmin = "super_admin",
    }
);

words!(
    /// Who a grant is for.
    SubjectType, "subject_type" {
        User = "user",
        Group = "group",
        ServiceAccount = "service_account",
    }
);

words!(
    /// What a grant may be scoped to (Hybridbox's resource types).
    ResourceType, "resource_type" {
        Client = "client",
        Account = "account",
        Workspace = "workspace",
        Domain = "domain",
        DnsRecord = "dns_record",
        Mailbox = "mailbox",
        Redirect = "redirect",
        Forwarding = "forwarding",
        Credential = "credential",
        Tenant = "tenant",
        Route = "route",
        Proxy = "proxy",
    }
);

/// The longest user or group id (the identity provider's).
pub const SUBJECT_ID_MAX_CHARS: usize = 255;

/// Who a grant is for: a user or a group by the identity provider's ids (a
/// user by the `sub` of their access tokens, a group as the token's groups
/// claim names it), or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(String),
    Group(String),
    ServiceAccount(Uuid),
}

impl Subject {
    /// A subject from its type and id as a client sends them: a user or
    /// group id is 1–255 characters without control characters (a user id
    /// that is a UUID is kept in its canonical lowercase form, as access
    /// tokens carry it); a service account's is its UUID.
    pub fn parse(kind: SubjectType, id: &str) -> Result<Self, ValidationError> {
        match kind {
            SubjectType::ServiceAccount => Uuid::parse_str(id)
                .map(Subject::ServiceAccount)
                .map_err(|_| {
                    ValidationError::new(
                        "subject_id",
                        "must be the id (a UUID) of a service account of this account",
                    )
                }),
            SubjectType::User | SubjectType::Group => {
                let chars = id.chars().count();
                if chars == 0 {
                    return Err(ValidationError::new("subject_id", "must not be empty"));
                }
                if chars > SUBJECT_ID_MAX_CHARS {
                    return Err(ValidationError::new(
                        "subject_id",
                        format!(
                            "is {chars} characters long; at most {SUBJECT_ID_MAX_CHARS} are allowed"
                        ),
                    ));
                }
                if id.chars().any(char::is_control) {
                    return Err(ValidationError::new(
                        "subject_id",
                        "must not contain control characters",
                    ));
                }
                Ok(match kind {
                    SubjectType::User => Subject::User(match Uuid::parse_str(id) {
                        Ok(uuid) => uuid.to_string(),
                        Err(_) => id.to_owned(),
                    }),
                    _ => Subject::Group(id.to_owned()),
                })
            }
        }
    }

    /// The subject a stored type and id make (trusted: no length checks).
    pub fn from_parts(kind: &str, id: &str) -> Option<Self> {
        match SubjectType::parse(kind).ok()? {
            SubjectType::User => Some(Subject::User(id.to_owned())),
            SubjectType::Group => Some(Subject::Group(id.to_owned())),
            SubjectType::ServiceAccount => Uuid::parse_str(id).ok().map(Subject::ServiceAccount),
        }
    }

    /// A user, by the UUID `sub` of their access tokens.
    pub fn user(id: Uuid) -> Self {
        Subject::User(id.to_string())
    }

    pub fn kind(&self) -> SubjectType {
        match self {
            Subject::User(_) => SubjectType::User,
            Subject::Group(_) => SubjectType::Group,
            Subject::ServiceAccount(_) => SubjectType::ServiceAccount,
        }
    }

    /// The id as stored and shown.
    pub fn id(&self) -> String {
        match self {
            Subject::User(id) | Subject::Group(id) => id.clone(),
            Subject::ServiceAccount(id) => id.to_string(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

/// A resource a grant or role is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    pub kind: ResourceType,
    pub id: Uuid,
}

impl Resource {
    /// Whether the resource is the whole account `account_id` (a grant on it
    /// is account-wide).
    pub fn is_account(&self, account_id: Uuid) -> bool {
        self.kind == ResourceType::Account && self.id == account_id
    }

    /// A resource from its two optional parts, which come together; an
    /// `account` resource must be the account the grant is made in.
    pub fn parse(
        account_id: Uuid,
        kind: Option<ResourceType>,
        id: Option<Uuid>,
    ) -> Result<Option<Self>, ValidationError> {
        match (kind, id) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ValidationError::new(
                "resource_id",
                "is required with resource_type: name the resource the grant is scoped to",
            )),
            (None, Some(_)) => Err(ValidationError::new(
                "resource_type",
                "is required with resource_id: say what kind of resource it is",
            )),
            (Some(kind), Some(id)) => {
                let resource = Resource { kind, id };
                if kind == ResourceType::Account && !resource.is_account(account_id) {
                    return Err(ValidationError::new(
                        "resource_id",
                        "an `account` resource must be this account (the account in the path)",
                    ));
                }
                Ok(Some(resource))
            }
        }
    }
}

/// What a grant gives, checked whole: a capability grant names its key;
/// ownership and `super_admin` name none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grants {
    Capability(CapabilityKey),
    AccountOwner,
    SuperAdmin,
}

impl Grants {
    pub fn parse(kind: GrantKind, capability_key: Option<&str>) -> Result<Self, ValidationError> {
        match (kind, capability_key) {
            (GrantKind::Capability, Some(key)) => {
                let key = CapabilityKey::parse(key).map_err(|e| {
                    ValidationError::new(
                        "capability_key",
                        e.message.replace(
                            " (ownership is granted with --owner)",
                            " (ownership is grant_kind account_owner)",
                        ),
                    )
                })?;
                if key.as_str() == GrantKind::AccountOwner.as_str() {
                    return Err(ValidationError::new(
                        "capability_key",
                        "account_owner is not a capability key: grant ownership with \
                         grant_kind account_owner and no capability_key",
                    ));
                }
                Ok(Grants::Capability(key))
            }
            (GrantKind::Capability, None) => Err(ValidationError::new(
                "capability_key",
                "is required when grant_kind is capability: name the capability (auth.manage, ...)",
            )),
            (kind, Some(_)) => Err(ValidationError::new(
                "capability_key",
                format!("must be left out when grant_kind is {kind}: it grants every capability"),
            )),
            (GrantKind::AccountOwner, None) => Ok(Grants::AccountOwner),
            (GrantKind::SuperAdmin, None) => Ok(Grants::SuperAdmin),
        }
    }

    pub fn kind(&self) -> GrantKind {
        match self {
            Grants::Capability(_) => GrantKind::Capability,
            Grants::AccountOwner => GrantKind::AccountOwner,
            Grants::SuperAdmin => GrantKind::SuperAdmin,
        }
    }

    pub fn capability_key(&self) -> Option<&CapabilityKey> {
        match self {
            Grants::Capability(key) => Some(key),
            _ => None,
        }
    }

    /// Whether it gives every capability (ownership or `super_admin`).
    pub fn is_owner(&self) -> bool {
        !matches!(self, Grants::Capability(_))
    }
}

/// A grant of something to a subject in an account, live until revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub id: Uuid,
    pub account_id: Uuid,
    pub subject: Subject,
    pub grants: Grants,
    pub resource: Option<Resource>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_name_the_allowed_values() {
        assert_eq!(
            GrantKind::parse("account_owner"),
            Ok(GrantKind::AccountOwner)
        );
        assert_eq!(ResourceType::ALL.len(), 12);
        assert_eq!(
            ResourceType::parse("dns_record"),
            Ok(ResourceType::DnsRecord)
        );
        let refused = SubjectType::parse("robot").unwrap_err();
        assert_eq!(refused.field, "subject_type");
        assert!(
            refused.message.contains("user, group, service_account"),
            "{refused:?}"
        );
        for word in ResourceType::ALL {
            assert_eq!(ResourceType::parse(word.as_str()), Ok(*word));
        }
    }

    #[test]
    fn subjects_are_checked_and_kept_as_given() {
        let id = Uuid::new_v4();
        let upper = id.to_string().to_uppercase();
        assert_eq!(
            Subject::parse(SubjectType::User, &upper),
            Ok(Subject::user(id))
        );
        assert_eq!(
            Subject::parse(SubjectType::Group, "Platform Team"),
            Ok(Subject::Group("Platform Team".into()))
        );
        assert_eq!(
            Subject::parse(SubjectType::ServiceAccount, &id.to_string()),
            Ok(Subject::ServiceAccount(id))
        );
        let long = "x".repeat(SUBJECT_ID_MAX_CHARS);
        assert!(Subject::parse(SubjectType::User, &long).is_ok());
        for (kind, bad) in [
            (SubjectType::User, String::new()),
            (SubjectType::Group, format!("{long}y")),
            (SubjectType::User, "a\u{0}b".into()),
            (SubjectType::Group, "a\nb".into()),
            (SubjectType::ServiceAccount, "not-a-uuid".into()),
        ] {
            let refused = Subject::parse(kind, &bad).unwrap_err();
            assert_eq!(refused.field, "subject_id", "{bad:?}");
        }
        assert_eq!(
            Subject::from_parts("group", "ops"),
            Some(Subject::Group("ops".into()))
        );
        assert_eq!(Subject::from_parts("service_account", "x"), None);
        assert_eq!(Subject::from_parts("robot", "x"), None);
        assert_eq!(Subject::Group("ops".into()).to_string(), "group ops");
    }

    #[test]
    fn grants_and_resources_come_whole() {
        let account = Uuid::new_v4();
        let other = Uuid::new_v4();
        assert_eq!(
            Grants::parse(GrantKind::Capability, Some("auth.manage")),
            Ok(Grants::Capability(
                CapabilityKey::parse("auth.manage").unwrap()
            ))
        );
        assert_eq!(
            Grants::parse(GrantKind::AccountOwner, None),
            Ok(Grants::AccountOwner)
        );
        assert_eq!(
            Grants::parse(GrantKind::SuperAdmin, None),
            Ok(Grants::SuperAdmin)
        );
        for (kind, key) in [
            (GrantKind::Capability, None),
            (GrantKind::AccountOwner, Some("auth.manage")),
            (GrantKind::SuperAdmin, Some("auth.manage")),
            (GrantKind::Capability, Some("Auth.Manage")),
            (GrantKind::Capability, Some("account_owner")),
        ] {
            assert_eq!(
                Grants::parse(kind, key).unwrap_err().field,
                "capability_key"
            );
        }
        assert!(
            Grants::AccountOwner.is_owner()
                && !Grants::parse(GrantKind::Capability, Some("a.b"))
                    .unwrap()
                    .is_owner()
        );
        let key = CapabilityKey::parse("dns.write").unwrap();
        let grant = Grants::Capability(key.clone());
        assert_eq!(grant.capability_key(), Some(&key));
        assert_eq!(grant.kind(), GrantKind::Capability);
        for (whole, kind) in [
            (Grants::AccountOwner, GrantKind::AccountOwner),
            (Grants::SuperAdmin, GrantKind::SuperAdmin),
        ] {
            assert_eq!(whole.capability_key(), None);
            assert_eq!(whole.kind(), kind);
            assert!(whole.is_owner());
        }

        assert_eq!(Resource::parse(account, None, None), Ok(None));
        let workspace = Resource::parse(account, Some(ResourceType::Workspace), Some(other));
        assert_eq!(
            workspace,
            Ok(Some(Resource {
                kind: ResourceType::Workspace,
                id: other
            }))
        );
        assert!(
            Resource::parse(account, Some(ResourceType::Account), Some(account))
                .unwrap()
                .unwrap()
                .is_account(account)
        );
        assert_eq!(
            Resource::parse(account, Some(ResourceType::Account), Some(other))
                .unwrap_err()
                .field,
            "resource_id"
        );
        assert_eq!(
            Resource::parse(account, Some(ResourceType::Domain), None)
                .unwrap_err()
                .field,
            "resource_id"
        );
        assert_eq!(
            Resource::parse(account, None, Some(other))
                .unwrap_err()
                .field,
            "resource_type"
        );
    }
}
