//! Who a credential speaks for, and why one was refused: the types every
//! authentication scheme answers with ([`Principal`], [`Verified`],
//! [`CredentialFacts`], [`AuthError`] and its [`Refusal`] reasons).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::published::KeysUnavailable;
use crate::domain::{FederatedToken, Subject, TokenGeneration};
use crate::store::StoreError;

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A person, identified by the `sub` of their OAuth access token.
    User { user_id: Uuid },
    /// A service account, authenticated by one of its tokens.
    ServiceAccount {
        service_account_id: Uuid,
        account_id: Uuid,
    },
}

impl Principal {
    /// The user behind the call, if a person made it (recorded as
    /// `created_by_user_id` and `revoked_by_user_id`).
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Principal::User { user_id } => Some(*user_id),
            Principal::ServiceAccount { .. } => None,
        }
    }

    /// The grant subject this caller's capabilities are looked up under.
    pub fn subject(&self) -> Subject {
        match self {
            Principal::User { user_id } => Subject::user(*user_id),
            Principal::ServiceAccount {
                service_account_id, ..
            } => Subject::ServiceAccount(*service_account_id),
        }
    }

    /// A short description for logs: kind and id, never a credential.
    pub fn log_id(&self) -> String {
        match self {
            Principal::User { user_id } => format!("user:{user_id}"),
            Principal::ServiceAccount {
                service_account_id, ..
            } => format!("service_account:{service_account_id}"),
        }
    }
}

/// A credential that passed every check: who it speaks for, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub principal: Principal,
    pub credential: CredentialFacts,
}

/// What a verified credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialFacts {
    /// A service-account token of this server.
    ServiceAccountToken {
        public_id: String,
        /// The current token, or the previous one (in a rotation's grace
        /// period).
        generation: TokenGeneration,
        /// The service account's name.
        name: String,
        issued_at: DateTime<Utc>,
        /// When this token stops working: the service account's
        /// `expires_at`, or for a previous token the end of its grace period.
        expires_at: Option<DateTime<Utc>>,
    },
    /// A short-lived token a federation exchange minted (boxed: it carries
    /// its provenance).
    FederatedToken(Arc<FederatedFacts>),
    /// An OAuth access token, as its claims describe it.
    AccessToken {
        issued_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
        /// The groups its groups claim lists (`--oauth-groups-claim`).
        groups: Vec<String>,
    },
}

/// A verified federated token: the service account's name and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedFacts {
    pub name: String,
    pub token: FederatedToken,
}

impl CredentialFacts {
    /// For a previous token in its grace period, when it stops working (the
    /// `Sunset` of responses to requests made with it).
    pub fn sunset(&self) -> Option<DateTime<Utc>> {
        match self {
            CredentialFacts::ServiceAccountToken {
                generation: TokenGeneration::Previous,
                expires_at,
                ..
            } => *expires_at,
            _ => None,
        }
    }

    /// Whether this is a service account's previous token, working in its
    /// rotation's grace period.
    pub fn is_previous_token(&self) -> bool {
        matches!(
            self,
            CredentialFacts::ServiceAccountToken {
                generation: TokenGeneration::Previous,
                ..
            }
        )
    }

    /// [`Self::groups`], taken.
    pub fn into_groups(self) -> Vec<String> {
        match self {
            CredentialFacts::AccessToken { groups, .. } => groups,
            _ => vec![],
        }
    }

    /// The public id of a service-account token, federated or not (none for
    /// an access token).
    pub fn token_public_id(&self) -> Option<&str> {
        match self {
            CredentialFacts::ServiceAccountToken { public_id, .. } => Some(public_id),
            CredentialFacts::FederatedToken(facts) => Some(&facts.token.token.public_id),
            CredentialFacts::AccessToken { .. } => None,
        }
    }

    /// The federated token, when the credential is one.
    pub fn federated(&self) -> Option<&Arc<FederatedFacts>> {
        match self {
            CredentialFacts::FederatedToken(facts) => Some(facts),
            _ => None,
        }
    }

    /// The groups the credential's principal belongs to: a user's, as its
    /// access token lists them; none for a service account.
    pub fn groups(&self) -> &[String] {
        match self {
            CredentialFacts::AccessToken { groups, .. } => groups,
            _ => &[],
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            CredentialFacts::ServiceAccountToken { expires_at, .. } => *expires_at,
            CredentialFacts::FederatedToken(facts) => Some(facts.token.expires_at),
            CredentialFacts::AccessToken { expires_at, .. } => Some(*expires_at),
        }
    }

    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        match self {
            CredentialFacts::ServiceAccountToken { issued_at, .. } => Some(*issued_at),
            CredentialFacts::FederatedToken(facts) => Some(facts.token.token.issued_at),
            CredentialFacts::AccessToken { issued_at, .. } => *issued_at,
        }
    }
}

/// Why a credential was refused. For logs and metrics only: every reason
/// gets the same answer, so that probing learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MalformedAuthorizationHeader,
    MalformedBasicCredentials,
    /// No scheme of this server takes credentials of this form.
    NotOurs,
    WrongPrefix,
    Malformed,
    BadChecksum,
    UnknownPublicId,
    WrongSecret,
    Revoked,
    Expired,
    PreviousPastGrace,
    /// The service account's own token was turned off (federation only).
    StaticTokenDisabled,
    UnknownClient,
    RevokedClient,
    JwtMalformed,
    JwtAlgorithm,
    JwtCritical,
    JwtNotAccessTokenType,
    JwtMalformedClaims,
    JwtUntrustedIssuer,
    JwtUnknownKey,
    JwtBadSignature,
    JwtExpired,
    JwtNotYetValid,
    JwtIssuerMismatch,
    JwtAudience,
    JwtNoExpiry,
    JwtBadNotBefore,
    JwtNotAccessToken,
    JwtSubjectNotUuid,
    JwtBadIssuedAt,
}

impl Refusal {
    /// As logs and the `reason` label of the metrics say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MalformedAuthorizationHeader => "malformed authorization header",
            Refusal::MalformedBasicCredentials => "malformed Basic credentials",
            Refusal::NotOurs => "not a credential this server issues or trusts",
            Refusal::WrongPrefix => "wrong prefix",
            Refusal::Malformed => "malformed",
            Refusal::BadChecksum => "bad checksum",
            Refusal::UnknownPublicId => "unknown public id",
            Refusal::WrongSecret => "wrong secret",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::PreviousPastGrace => "previous token past its grace period",
            Refusal::StaticTokenDisabled => "the service account's own token is turned off",
            Refusal::UnknownClient => "unknown client",
            Refusal::RevokedClient => "revoked client",
            Refusal::JwtMalformed => "malformed JWT or unsupported algorithm",
            Refusal::JwtAlgorithm => "JWT algorithm not accepted",
            Refusal::JwtCritical => "JWT header has crit",
            Refusal::JwtNotAccessTokenType => "JWT type is not an access token",
            Refusal::JwtMalformedClaims => "malformed JWT claims",
            Refusal::JwtUntrustedIssuer => "JWT from an issuer this server does not trust",
            Refusal::JwtUnknownKey => "JWT signed by a key the issuer does not publish",
            Refusal::JwtBadSignature => "JWT signature does not verify",
            Refusal::JwtExpired => "JWT expired",
            Refusal::JwtNotYetValid => "JWT not yet valid",
            Refusal::JwtIssuerMismatch => "JWT issuer mismatch",
            Refusal::JwtAudience => "JWT audience not accepted",
            Refusal::JwtNoExpiry => "JWT without a valid exp",
            Refusal::JwtBadNotBefore => "JWT with an invalid nbf",
            Refusal::JwtNotAccessToken => "JWT is not an access token",
            Refusal::JwtSubjectNotUuid => "JWT sub is not a UUID",
            Refusal::JwtBadIssuedAt => "JWT with an invalid iat",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a caller is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential at all (RFC 6750 §3.1: no error code in the challenge).
    #[error("no credential")]
    Missing,
    /// A credential was sent but it is not valid; the reason is for logs only.
    #[error("invalid credential ({0})")]
    Refused(Refusal),
    /// The credential could not be checked because the store is unavailable.
    #[error("cannot check the credential")]
    Unavailable(#[source] StoreError),
    /// A user token could not be checked because its issuer's keys cannot be
    /// fetched.
    #[error("cannot check the credential")]
    IssuerUnavailable(#[source] KeysUnavailable),
    /// A bug or a corrupt database.
    #[error("cannot check the credential")]
    Internal(#[source] StoreError),
}

impl AuthError {
    /// `outcome` and `reason`, as the metrics label an authentication that
    /// ended this way.
    pub fn outcome(&self) -> (&'static str, &'static str) {
        match self {
            AuthError::Missing => ("missing", "no credential"),
            AuthError::Refused(refusal) => ("invalid", refusal.as_str()),
            AuthError::Unavailable(_) => ("unavailable", "database"),
            AuthError::IssuerUnavailable(_) => ("unavailable", "issuer keys"),
            AuthError::Internal(_) => ("error", "internal"),
        }
    }
}

impl From<Refusal> for AuthError {
    fn from(refusal: Refusal) -> Self {
        AuthError::Refused(refusal)
    }
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            AuthError::Unavailable(error)
        } else {
            AuthError::Internal(error)
        }
    }
}
