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
                "must not contain control, invisible or bidirectional-override characters \
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
        || is_format_character(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}'              // line and paragraph separators
            // Hangul fillers: letters that render as nothing.
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// Unicode general category Cf (format characters, Unicode 16): invisible
/// characters such as the zero-width space, joiners, the byte-order mark,
/// bidirectional controls and tag characters, which make one name display as
/// another (`bootstrap-owner` with a zero-width space appended).
fn is_format_character(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
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

/// A name set by an operator: of an account, or of an introspection client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName(String);

impl OperatorName {
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

    /// The subject a kind (as [`Subject::kind`] names it) and an id make.
    pub fn from_parts(kind: &str, id: Uuid) -> Option<Self> {
        match kind {
            "user" => Some(Subject::User(id)),
            "service_account" => Some(Subject::ServiceAccount(id)),
            _ => None,
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

/// The non-secret facts about a service account's current token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub prefix: String,
    pub public_id: String,
    pub last4: String,
    /// When the token was issued (created or rotated): introspection's `iat`.
    pub issued_at: DateTime<Utc>,
}

/// Which of a service account's tokens: the current one, or the previous one
/// that a rotation with a grace period left working for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenGeneration {
    Current,
    Previous,
}

impl TokenGeneration {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenGeneration::Current => "current",
            TokenGeneration::Previous => "previous",
        }
    }
}

/// The token a rotation with a grace period replaced, still working until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousToken {
    pub token: TokenFacts,
    /// When it stops working: the rotation's time plus the grace period, or
    /// the service account's own `expires_at` if that comes first.
    pub expires_at: DateTime<Utc>,
    /// Its last successful use, recorded like the current token's.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Why a service account was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Through the revoke operation, by a caller with `auth.manage`.
    Requested,
    /// Reported leaked by a secret-scanning partner (GitHub, GitLab).
    Leaked,
    /// Sent to the public revocation endpoint by someone holding the token.
    Reported,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 3] = [
        RevocationReason::Requested,
        RevocationReason::Leaked,
        RevocationReason::Reported,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RevocationReason::Requested => "requested",
            RevocationReason::Leaked => "leaked",
            RevocationReason::Reported => "reported",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
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
    /// Why it was revoked; none while it is not.
    pub revoked_reason: Option<RevocationReason>,
    pub token: TokenFacts,
    /// The previous token as stored; it works only while
    /// [`ServiceAccount::live_previous_token`] says so.
    pub previous_token: Option<PreviousToken>,
}

impl ServiceAccount {
    /// Whether its tokens are past `expires_at` at `now` (a token is dead at
    /// the instant it expires).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| now >= expires_at)
    }

    /// The previous token, if it still works at `now`: its grace period has
    /// not ended, and the service account is neither revoked nor expired.
    pub fn live_previous_token(&self, now: DateTime<Utc>) -> Option<&PreviousToken> {
        if self.revoked_at.is_some() || self.is_expired_at(now) {
            return None;
        }
        self.previous_token
            .as_ref()
            .filter(|previous| now < previous.expires_at)
    }

    /// The service account as it stands at `now`: a previous token that no
    /// longer works is left out (what the API shows).
    pub fn seen_at(mut self, now: DateTime<Utc>) -> Self {
        if self.live_previous_token(now).is_none() {
            self.previous_token = None;
        }
        self
    }
}

/// A platform component allowed to introspect tokens (HTTP Basic with its
/// `client_id` and a secret that is shown once and stored only as a MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What happened to a service account, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Create,
    Rotate,
    Revoke,
    /// A grant was added (the detail says which).
    GrantAdd,
    /// A grant was removed (the detail says which).
    GrantRemove,
    /// The previous token's grace period was ended before its time (the
    /// detail says which token).
    RetirePreviousToken,
    /// A secret-scanning partner reported one of the service account's
    /// tokens leaked (the detail says who, where, and whether it was revoked).
    LeakReport,
    /// Someone holding one of the service account's tokens sent it to the
    /// public revocation endpoint (the detail says from which address).
    PublicRevocation,
}

impl AuditAction {
    pub const ALL: [AuditAction; 8] = [
        AuditAction::Create,
        AuditAction::Rotate,
        AuditAction::Revoke,
        AuditAction::GrantAdd,
        AuditAction::GrantRemove,
        AuditAction::RetirePreviousToken,
        AuditAction::LeakReport,
        AuditAction::PublicRevocation,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Rotate => "rotate",
            AuditAction::Revoke => "revoke",
            AuditAction::GrantAdd => "grant_add",
            AuditAction::GrantRemove => "grant_remove",
            AuditAction::RetirePreviousToken => "retire_previous_token",
            AuditAction::LeakReport => "leak_report",
            AuditAction::PublicRevocation => "public_revocation",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// What an audit event is about beyond its service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDetail {
    /// The grant that was added or removed.
    Grant {
        subject: Subject,
        capability: CapabilityKey,
    },
    /// A rotation that left the previous token working until `until`.
    Grace {
        previous_token_public_id: String,
        until: DateTime<Utc>,
    },
    /// The previous token whose grace period was ended.
    Retired { previous_token_public_id: String },
    /// A leaked token reported: by whom, where it was found, which token
    /// (its public id), and whether this report revoked the service account
    /// (it may have been revoked already, or the server only records).
    Leak {
        reporter: String,
        token_public_id: String,
        source: Option<String>,
        url: Option<String>,
        revoked: bool,
    },
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ServiceAccount(Uuid),
    /// Someone at the command line (`hbx-sa bootstrap`), with no API identity.
    Operator,
    /// An outsider with no identity here: a secret-scanning partner, or
    /// whoever sent a token to the public revocation endpoint.
    Reporter,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ServiceAccount(_) => "service_account",
            Actor::Operator => "operator",
            Actor::Reporter => "reporter",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::User(id) | Actor::ServiceAccount(id) => Some(*id),
            Actor::Operator | Actor::Reporter => None,
        }
    }

    pub fn from_parts(kind: &str, id: Option<Uuid>) -> Option<Self> {
        match (kind, id) {
            ("user", Some(id)) => Some(Actor::User(id)),
            ("service_account", Some(id)) => Some(Actor::ServiceAccount(id)),
            ("operator", None) => Some(Actor::Operator),
            ("reporter", None) => Some(Actor::Reporter),
            _ => None,
        }
    }
}

/// One entry of the audit log: written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub account_id: Uuid,
    /// The service account the event is about, if it is about one.
    pub service_account_id: Option<Uuid>,
    pub action: AuditAction,
    pub actor: Actor,
    /// The API request that made the change (none for command-line actions).
    pub request_id: Option<String>,
    pub detail: Option<AuditDetail>,
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
            "\u{200B}",
            "bootstrap-owner\u{200B}",
            "arabic\u{061C}mark",
            "\u{FEFF}bom",
            "word\u{2060}joiner",
            "tag\u{E0041}\u{E007F}",
            "soft\u{00AD}hyphen",
            "\u{3164}",
            "filler\u{115F}",
            "filler\u{1160}",
            "half\u{FFA0}width",
        ] {
            let error = ServiceAccountName::parse(bad.into()).unwrap_err();
            assert_eq!(error.field, "name", "{bad:?}");
        }
    }

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
        assert!(Capability::AccountOwner.satisfies(Capability::AuthManage));
        assert!(Capability::AuthManage.satisfies(Capability::AuthManage));
        assert!(!Capability::AuthManage.satisfies(Capability::AccountOwner));
    }
}
