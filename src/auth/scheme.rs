//! The shape every bearer-credential scheme has (after omicron's
//! `HttpAuthnScheme`): given a credential, a scheme says it is not one of
//! its own, or who it speaks for, or why it is refused. The
//! [`Authenticator`](super::authenticator::Authenticator) asks each scheme in
//! turn; the first that claims the credential decides.

use async_trait::async_trait;

use super::principal::{AuthError, Verified};

/// A scheme's answer about one credential.
#[derive(Debug)]
pub enum SchemeResult {
    /// Not this scheme's form of credential: ask the next one.
    NotMine,
    /// The credential passed every check.
    Authenticated(Verified),
    /// The credential is this scheme's, and it is refused (or cannot be
    /// checked now).
    Failed(AuthError),
}

impl From<Result<Verified, AuthError>> for SchemeResult {
    fn from(result: Result<Verified, AuthError>) -> Self {
        match result {
            Ok(verified) => SchemeResult::Authenticated(verified),
            Err(error) => SchemeResult::Failed(error),
        }
    }
}

#[async_trait]
pub trait AuthnScheme: Send + Sync + 'static {
    /// The kind of credential this scheme verifies, as the metrics name it
    /// (`service_account`, `user`).
    fn kind(&self) -> &'static str;

    async fn authenticate(&self, credential: &str) -> SchemeResult;
}
