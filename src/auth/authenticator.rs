//! Turns a bearer credential into a [`Verified`] principal with the scheme
//! that the credential's form calls for: this server's prefix for a
//! service-account token, three dot-separated parts for an OAuth JWT. The
//! schemes share nothing, so an issuer outage cannot touch service-account
//! tokens. The same checks serve a request's own credential
//! ([`Authenticator::authenticate`]) and a token another service asks about
//! ([`Authenticator::verify`], for introspection).

use std::sync::Arc;

use super::bearer::{BearerError, bearer_credential};
use super::principal::{AuthError, Refusal, Verified};
use super::scheme::{AuthnScheme, SchemeResult};

/// The kind the metrics give a credential that no scheme claims.
pub const UNKNOWN_KIND: &str = "unknown";

/// How one authentication ended, and which kind of credential it was.
#[derive(Debug)]
pub struct Authentication {
    /// The claiming scheme's kind, or [`UNKNOWN_KIND`].
    pub kind: &'static str,
    pub result: Result<Verified, AuthError>,
}

pub struct Authenticator {
    schemes: Vec<Arc<dyn AuthnScheme>>,
}

impl Authenticator {
    /// An authenticator asking `schemes` in order.
    pub fn new(schemes: Vec<Arc<dyn AuthnScheme>>) -> Self {
        Self { schemes }
    }

    /// Verifies the request's bearer credential.
    pub async fn authenticate(&self, headers: &http::HeaderMap) -> Authentication {
        match bearer_credential(headers) {
            Ok(credential) => self.verify(credential).await,
            Err(error) => Authentication {
                kind: UNKNOWN_KIND,
                result: Err(match error {
                    BearerError::Missing => AuthError::Missing,
                    BearerError::Malformed => Refusal::MalformedAuthorizationHeader.into(),
                }),
            },
        }
    }

    /// Verifies a credential of any kind this server takes. A success counts
    /// as a use of a service-account token (`last_used_at`).
    pub async fn verify(&self, credential: &str) -> Authentication {
        for scheme in &self.schemes {
            let result = match scheme.authenticate(credential).await {
                SchemeResult::NotMine => continue,
                SchemeResult::Authenticated(verified) => Ok(verified),
                SchemeResult::Failed(error) => Err(error),
            };
            return Authentication {
                kind: scheme.kind(),
                result,
            };
        }
        Authentication {
            kind: UNKNOWN_KIND,
            result: Err(Refusal::NotOurs.into()),
        }
    }
}
