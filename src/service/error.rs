//! A failed operation, in the service's terms: typed here, mapped to HTTP
//! in one place (`server::error`).

use chrono::{DateTime, Utc};

use crate::domain::{Capability, ValidationError};
use crate::store::{BoxError, StoreError};

/// A failed operation, in the service's terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The account or service account does not exist, or the caller has no
    /// standing in it (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// The caller has standing in the account but lacks `needed`.
    #[error("the caller lacks the {needed} capability on this account")]
    Forbidden { needed: Capability },
    /// A change to who holds what that the rules of escalation refuse:
    /// `required` is what the caller would need (for the
    /// `Hbx-Required-Capabilities` header), `reason` says why, for people.
    #[error("not permitted: {reason}")]
    NotPermitted {
        required: Vec<String>,
        reason: String,
    },
    /// A live copy of the grant exists.
    #[error("the subject already holds this grant")]
    AuthorizationExists,
    /// A live copy of the role assignment exists.
    #[error("the subject already has this role on this resource")]
    RoleAssignmentExists,
    /// The account has an identity provider with the same issuer.
    #[error("the account already has an identity provider with this issuer")]
    IdentityProviderExists,
    /// Federation rules still name the identity provider.
    #[error("federation rules still name this identity provider")]
    IdentityProviderInUse,
    /// A federation rule would let strangers in: `rail` names the rule of
    /// [`crate::domain::federation_rules::check_rails`] it breaks.
    #[error(transparent)]
    RailBroken(#[from] crate::domain::RailBroken),
    /// A federated token may not do this (rotate or retire a token, turn it
    /// off, or make federation rules).
    #[error("a federated token cannot {operation}")]
    FederatedToken { operation: &'static str },
    /// Revoking it would leave the account without an owner that can act.
    #[error("the grant is the account's last owner")]
    LastOwner,
    /// The operation would hand the caller a credential holding capabilities
    /// the caller does not hold itself.
    #[error("the service account holds capabilities the caller lacks: {missing:?}")]
    WouldEscalate { missing: Vec<String> },
    /// The request was made with a previous token in its grace period, which
    /// may go on calling the API but not issue or change credentials.
    #[error("a previous token (in its rotation's grace period) cannot {operation}")]
    PreviousToken { operation: &'static str },
    /// An idempotent replay would hand back a token that has since been
    /// rotated away.
    #[error("the token this key's response carries has since been rotated away")]
    ReplaySuperseded,
    #[error("a service account named {name:?} already exists in this account")]
    NameConflict { name: String },
    #[error("the service account is revoked")]
    Revoked,
    #[error("the service account's token expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
    /// The idempotency key was used with a different request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// A request with the same idempotency key is still running.
    #[error("a request with the same idempotency key is still running")]
    IdempotencyKeyInUse,
    /// The store cannot be reached; retrying later may work.
    #[error("the storage is unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or a corrupt database; the source says what, for the log only.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// A page's store error, with a cursor (`field`) that names no `record` of
/// the account answered as the client's mistake, saying what to pass.
pub(super) fn page_error(
    field: &'static str,
    record: &'static str,
) -> impl FnOnce(StoreError) -> ServiceError {
    move |error| match error {
        StoreError::CursorNotFound => ValidationError::new(
            field,
            format!(
                "names no {record} of this account: pass the `id` of the last {record} of the \
                 previous page"
            ),
        )
        .into(),
        other => other.into(),
    }
}

impl From<StoreError> for ServiceError {
    /// The store's errors that need no context to be understood. Callers that
    /// expect a particular one (a name conflict, a paging cursor) match it
    /// first; reaching here with it is a bug, so it is internal.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ServiceError::Unavailable(error),
            StoreError::AccountNotFound | StoreError::ServiceAccountNotInAccount => {
                ServiceError::NotFound
            }
            StoreError::IdempotencyLeaseLost => ServiceError::IdempotencyKeyInUse,
            StoreError::AuthorizationExists => ServiceError::AuthorizationExists,
            StoreError::RoleAssignmentExists => ServiceError::RoleAssignmentExists,
            StoreError::LastOwner => ServiceError::LastOwner,
            StoreError::IdentityProviderExists => ServiceError::IdentityProviderExists,
            StoreError::IdentityProviderInUse => ServiceError::IdentityProviderInUse,
            StoreError::IdentityProviderNotFound => ServiceError::Invalid(ValidationError::new(
                "identity_provider_id",
                "names no identity provider of this account: register it first \
                 (POST .../auth/identity-providers)",
            )),
            StoreError::NameConflict
            | StoreError::JtiReplayed
            | StoreError::CursorNotFound
            | StoreError::WouldEscalate { .. }
            | StoreError::Internal(_) => ServiceError::Internal(Box::new(error)),
        }
    }
}
