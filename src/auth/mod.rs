//! Who is calling: a credential turned into a [`Verified`] principal, or a
//! reason why not. One scheme per credential kind, chosen by the token's form
//! (service-account tokens carry this server's prefix). The same checks serve
//! a request's bearer credential ([`Authenticator::authenticate`]) and a token
//! another service asks about ([`Authenticator::verify`], for introspection).
//! Introspection clients authenticate with HTTP Basic
//! ([`introspection_client`]).

pub mod basic;
pub mod bearer;
pub mod cache;
pub mod introspection_client;
pub mod last_use;
pub mod oauth;
pub mod published;
pub mod secret_scanning;
pub mod service_account;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use self::oauth::OAuthAuthenticator;
use self::oauth::keys::KeyError;
use crate::domain::TokenGeneration;
use crate::store::StoreError;

pub use bearer::{BearerError, bearer_credential};
pub use service_account::ServiceAccountAuthenticator;

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A person, identified by the `sub` of their OAuth access token.
    User { user_id: Uuid },
    /// A service account, authenticated by its current token.
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
    pub fn subject(&self) -> crate::domain::Subject {
        match self {
            Principal::User { user_id } => crate::domain::Subject::User(*user_id),
            Principal::ServiceAccount {
                service_account_id, ..
            } => crate::domain::Subject::ServiceAccount(*service_account_id),
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
    /// An OAuth access token, as its claims describe it.
    AccessToken {
        issued_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
    },
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

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            CredentialFacts::ServiceAccountToken { expires_at, .. } => *expires_at,
            CredentialFacts::AccessToken { expires_at, .. } => Some(*expires_at),
        }
    }

    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        match self {
            CredentialFacts::ServiceAccountToken { issued_at, .. } => Some(*issued_at),
            CredentialFacts::AccessToken { issued_at, .. } => *issued_at,
        }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (RFC 6750 §3.1: no error code in the challenge).
    #[error("no credential: send Authorization: Bearer <token>")]
    MissingCredential,
    /// A credential was sent but it is not valid: malformed, bad checksum,
    /// unknown, wrong secret, expired or revoked. The reason is for logs only;
    /// every case gets the same answer.
    #[error("invalid token ({0})")]
    InvalidToken(&'static str),
    /// The credential could not be checked because the store is unavailable.
    #[error("cannot check the credential")]
    Unavailable(#[source] StoreError),
    /// A user token could not be checked because its issuer's keys cannot be
    /// fetched.
    #[error("cannot check the credential")]
    IssuerUnavailable(#[source] KeyError),
    /// A bug or a corrupt database.
    #[error("cannot check the credential")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => AuthError::Unavailable(error),
            StoreError::NameConflict
            | StoreError::AccountNotFound
            | StoreError::ServiceAccountNotInAccount
            | StoreError::CursorNotFound
            | StoreError::IdempotencyLeaseLost
            | StoreError::WouldEscalate { .. }
            | StoreError::Internal(_) => AuthError::Internal(error),
        }
    }
}

/// Turns a request's headers into a [`Principal`], with the credential scheme
/// that the credential's form calls for: this server's prefix for a
/// service-account token, three dot-separated parts for an OAuth JWT. The two
/// share nothing, so an issuer outage cannot touch service-account tokens.
pub struct Authenticator {
    service_accounts: ServiceAccountAuthenticator,
    oauth: Option<Arc<OAuthAuthenticator>>,
}

impl Authenticator {
    /// `oauth`: none when no issuer is trusted (JWTs are then refused).
    pub fn new(
        service_accounts: ServiceAccountAuthenticator,
        oauth: Option<Arc<OAuthAuthenticator>>,
    ) -> Self {
        Self {
            service_accounts,
            oauth,
        }
    }

    /// What kind of credential `credential` looks like, for metrics:
    /// `service_account`, `user`, or `unknown`.
    pub fn kind_of(&self, credential: &str) -> &'static str {
        if self.service_accounts.recognizes(credential) {
            "service_account"
        } else if OAuthAuthenticator::recognizes(credential) {
            "user"
        } else {
            "unknown"
        }
    }

    /// Verifies the request's bearer credential.
    pub async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Verified, AuthError> {
        let credential = bearer_credential(headers).map_err(|e| match e {
            BearerError::Missing => AuthError::MissingCredential,
            BearerError::Malformed => AuthError::InvalidToken("malformed authorization header"),
        })?;
        self.verify(credential).await
    }

    /// Verifies a credential of either kind. A success counts as a use of a
    /// service-account token (`last_used_at`).
    pub async fn verify(&self, credential: &str) -> Result<Verified, AuthError> {
        if self.service_accounts.recognizes(credential) {
            return self.service_accounts.authenticate(credential).await;
        }
        if let Some(oauth) = &self.oauth
            && OAuthAuthenticator::recognizes(credential)
        {
            return oauth.authenticate(credential).await;
        }
        Err(AuthError::InvalidToken(
            "not a credential this server issues or trusts",
        ))
    }
}
