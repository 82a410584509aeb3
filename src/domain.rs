//! The service's vocabulary: accounts, service accounts, subjects and
//! capabilities, as types that can only hold valid values. Input is parsed into
//! these once, at the edge; everything past that point can trust them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Longest name, in Unicode scalar values (what JSON Schema's `maxLength` counts).
pub const NAME_MAX_CHARS: usize = 120;

/// An input value that is not acceptable, with the field it came from and what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A human-readable name: 1–120 Unicode scalar values, not only white space,
/// without control characters and without the invisible bidirectional controls
/// that can make a name display as something it is not. Kept exactly as given
/// (no trimming or normalization), so what is stored is what was sent.
fn check_display_name(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters long (got {chars})"),
        ));
    }
    if value.chars().all(char::is_whitespace) {
        return Err(ValidationError::new(field, "must not be only white space"));
    }
    if let Some((position, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_in_names(*c))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain control or bidirectional-override characters \
                 (found U+{:04X} at character {})",
                u32::from(c),
                position + 1
            ),
        ));
    }
    Ok(())
}

fn is_forbidden_in_names(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'              // line and paragraph separators
            | '\u{200E}' | '\u{200F}'            // left-to-right / right-to-left marks
            | '\u{202A}'..='\u{202E}'            // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}'            // bidi isolates
        )
}

/// The name of a service account. Unique among an account's non-revoked service
/// accounts (the store enforces that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountName(String);

impl ServiceAccountName {
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        check_display_name("name", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an account (set by an operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        check_display_name("name", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account: the tenant that owns service accounts and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A human, identified by the `sub` of their OAuth access tokens.
    User(Uuid),
    ServiceAccount(Uuid),
}

impl Subject {
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::User(_) => "user",
            Subject::ServiceAccount(_) => "service_account",
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Subject::User(id) | Subject::ServiceAccount(id) => *id,
        }
    }
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

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "capability",
                    format!(
                        "unknown capability {value:?}; known: auth.manage (ownership is granted with --owner)"
                    ),
                )
            })
    }

    /// Whether holding `self` satisfies a need for `needed`.
    pub fn satisfies(&self, needed: Capability) -> bool {
        *self == needed || *self == Capability::AccountOwner
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The non-secret facts about a service account's current token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub prefix: String,
    pub public_id: String,
    pub last4: String,
}

/// A service account as the service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_user_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by_user_id: Option<Uuid>,
    pub token: TokenFacts,
}

impl ServiceAccount {
    /// Whether its token is past `expires_at` at `now` (a token is dead at the
    /// instant it expires).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| now >= expires_at)
    }
}

/// What happened to a service account, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Create,
    Rotate,
    Revoke,
}

impl AuditAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Rotate => "rotate",
            AuditAction::Revoke => "revoke",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            AuditAction::Create,
            AuditAction::Rotate,
            AuditAction::Revoke,
        ]
        .into_iter()
        .find(|a| a.as_str() == value)
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ServiceAccount(Uuid),
    /// Someone at the command line (`hbx-sa bootstrap`), with no API identity.
    Operator,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ServiceAccount(_) => "service_account",
            Actor::Operator => "operator",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::User(id) | Actor::ServiceAccount(id) => Some(*id),
            Actor::Operator => None,
        }
    }

    pub fn from_parts(kind: &str, id: Option<Uuid>) -> Option<Self> {
        match (kind, id) {
            ("user", Some(id)) => Some(Actor::User(id)),
            ("service_account", Some(id)) => Some(Actor::ServiceAccount(id)),
            ("operator", None) => Some(Actor::Operator),
            _ => None,
        }
    }
}

/// One entry of the audit log: written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    pub action: AuditAction,
    pub actor: Actor,
    /// The API request that made the change (none for command-line actions).
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_at_the_boundaries() {
        assert!(ServiceAccountName::parse("a".into()).is_ok());
        assert!(ServiceAccountName::parse("x".repeat(120)).is_ok());
        // 120 four-byte characters: 480 bytes, still 120 characters.
        assert!(ServiceAccountName::parse("🦀".repeat(120)).is_ok());
        assert!(ServiceAccountName::parse("é".repeat(120)).is_ok());
        assert!(ServiceAccountName::parse(" padded name ".into()).is_ok());
        let too_long = ServiceAccountName::parse("x".repeat(121)).unwrap_err();
        assert_eq!(too_long.field, "name");
        assert!(too_long.message.contains("at most 120"));
        assert!(ServiceAccountName::parse("🦀".repeat(121)).is_err());
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "",
            " ",
            "\t\n ",
            "\u{3000}",
            "a\u{0}b",
            "line\nbreak",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "evil\u{202E}gpj.exe",
            "iso\u{2066}late",
            "sep\u{2028}arator",
        ] {
            let error = ServiceAccountName::parse(bad.into()).unwrap_err();
            assert_eq!(error.field, "name", "{bad:?}");
        }
    }

    #[test]
    fn capabilities_parse_and_imply() {
        assert_eq!(
            Capability::parse("auth.manage").unwrap(),
            Capability::AuthManage
        );
        assert!(
            Capability::parse("auth.mange")
                .unwrap_err()
                .message
                .contains("known: auth.manage")
        );
        assert!(Capability::AccountOwner.satisfies(Capability::AuthManage));
        assert!(Capability::AuthManage.satisfies(Capability::AuthManage));
        assert!(!Capability::AuthManage.satisfies(Capability::AccountOwner));
    }
}
