//! What can go wrong in the store, in the store's own terms. Callers that
//! expect a particular refusal (a name conflict, a paging cursor) match it;
//! the rest say whether retrying later may help.

/// A boxed error kept as the source of another, for the logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another non-revoked service account of the account has this name.
    #[error("a non-revoked service account with this name exists in the account")]
    NameConflict,
    #[error("the account does not exist")]
    AccountNotFound,
    /// A grant named a service account that is not in the grant's account.
    #[error("the service account does not exist in this account")]
    ServiceAccountNotInAccount,
    /// A live copy of the grant exists.
    #[error("a live authorization of the same grant to the same subject exists")]
    AuthorizationExists,
    /// A live copy of the role assignment exists.
    #[error("a live assignment of the same role to the same subject on the same resource exists")]
    RoleAssignmentExists,
    /// The account has an identity provider with the same issuer.
    #[error("the account already has an identity provider with this issuer")]
    IdentityProviderExists,
    /// The account has no identity provider of that id.
    #[error("the identity provider does not exist in this account")]
    IdentityProviderNotFound,
    /// Federation rules still name the identity provider.
    #[error("federation rules still name this identity provider")]
    IdentityProviderInUse,
    /// The presented token's `jti` was exchanged before.
    #[error("the presented token was exchanged before")]
    JtiReplayed,
    /// A rotation would hand the caller a token holding capabilities it does
    /// not hold itself.
    #[error("the service account holds capabilities the caller lacks: {missing:?}")]
    WouldEscalate { missing: Vec<String> },
    /// Removing the grant would leave the account without an owner that can
    /// act (a user, or a service account that is not revoked).
    #[error("the grant is the account's last owner")]
    LastOwner,
    /// A page's `after` does not name a service account of the account.
    #[error("the paging cursor does not name a service account of this account")]
    CursorNotFound,
    /// An idempotent attempt outlived its lease and another took over: its
    /// change was not committed.
    #[error("another request with the same idempotency key took over")]
    IdempotencyLeaseLost,
    /// The database cannot be reached or is too busy; retrying later may work.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or a corrupt database.
    #[error("the database failed")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Whether retrying later may succeed (the database was unreachable or
    /// busy), as opposed to a refusal or a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
