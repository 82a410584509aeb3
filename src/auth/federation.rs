//! Verifying the OIDC tokens workloads present to the federation exchange:
//! the header's algorithm bound to the key's type (RS256, ES256 or EdDSA;
//! never `none` or an HMAC), no `crit`, and the signature under a key the
//! identity provider publishes, fetched through the one published-key
//! fetcher (per provider: fetched when first needed, refetched at most once
//! per interval on an unknown `kid`, the last good keys kept through an
//! outage). The claims are returned for the exchange to check: times,
//! audience, `jti` and the rule's conditions are its business.

use std::sync::Arc;

use jsonwebtoken::Validation;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use slog::Logger;
use uuid::Uuid;

use super::oauth::keys::{self, IssuerKeys, JwksLocation};
use super::oauth::{ACCEPTED_ALGORITHMS, names_critical_extensions};
use super::published::{KeysUnavailable, RefreshPolicy};
use crate::clock::Clock;
use crate::domain::{IdentityProvider, ProviderKeys};

/// The largest presented token accepted: CI platforms' tokens are 1–2 KB.
pub const MAX_SUBJECT_TOKEN_BYTES: usize = 16 * 1024;

/// Why a presented token was refused before its claims were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectTokenRefusal {
    /// Not a JWT, too large, or its claims are not a JSON object.
    Malformed,
    /// `none`, an HMAC, or another algorithm not accepted; or `crit`.
    Algorithm,
    /// No key of the provider for its `kid` and algorithm, even after a
    /// refetch.
    UnknownKey,
    /// The signature does not verify.
    Signature,
}

impl SubjectTokenRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectTokenRefusal::Malformed => "malformed",
            SubjectTokenRefusal::Algorithm => "algorithm",
            SubjectTokenRefusal::UnknownKey => "unknown_key",
            SubjectTokenRefusal::Signature => "signature",
        }
    }
}

/// A presented token that could not be verified.
#[derive(Debug)]
pub enum SubjectTokenError {
    Refused(SubjectTokenRefusal),
    /// The provider's keys cannot be had (and none were had before).
    KeysUnavailable(KeysUnavailable),
}

impl From<SubjectTokenRefusal> for SubjectTokenError {
    fn from(refusal: SubjectTokenRefusal) -> Self {
        SubjectTokenError::Refused(refusal)
    }
}

/// The `iss` a token claims, read before anything is verified: it only
/// chooses which provider's keys to verify with. None: not a JWT whose
/// payload names an issuer.
pub fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_SUBJECT_TOKEN_BYTES || token.split('.').count() != 3 {
        return None;
    }
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// The published keys of every identity provider a token was presented for,
/// by provider id (a provider never changes; a deleted one's keys are simply
/// never asked for again).
pub struct FederationKeys {
    keys: moka::sync::Cache<Uuid, Arc<IssuerKeys>>,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    log: Logger,
}

/// Providers whose keys are kept at most.
const KEPT_PROVIDERS: u64 = 10_000;

impl FederationKeys {
    pub fn new(policy: RefreshPolicy, clock: Arc<dyn Clock>, log: Logger) -> Self {
        Self {
            keys: moka::sync::Cache::builder()
                .max_capacity(KEPT_PROVIDERS)
                .build(),
            policy,
            clock,
            log,
        }
    }

    fn keys_of(&self, provider: &IdentityProvider) -> Arc<IssuerKeys> {
        self.keys.get_with(provider.id, || {
            let location = match &provider.keys {
                ProviderKeys::Discovery => JwksLocation::Discover,
                ProviderKeys::JwksUrl(url) => JwksLocation::JwksUrl(url.clone()),
                ProviderKeys::Inline(text) => {
                    JwksLocation::Fixed(keys::parse_jwks(text).unwrap_or(JwkSet { keys: vec![] }))
                }
            };
            Arc::new(keys::issuer_keys(
                provider.issuer.as_str().to_owned(),
                location,
                self.policy,
                self.clock.clone(),
                self.log.new(slog::o!(
                    "component" => "federation_keys",
                    "identity_provider_id" => provider.id.to_string(),
                )),
            ))
        })
    }

    /// The claims of `token` if it is signed by one of `provider`'s keys.
    pub async fn verify(
        &self,
        provider: &IdentityProvider,
        token: &str,
    ) -> Result<Map<String, Value>, SubjectTokenError> {
        if token.len() > MAX_SUBJECT_TOKEN_BYTES {
            return Err(SubjectTokenRefusal::Malformed.into());
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| SubjectTokenRefusal::Malformed)?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) || names_critical_extensions(token) {
            return Err(SubjectTokenRefusal::Algorithm.into());
        }
        let candidates =
            keys::candidates(&self.keys_of(provider), header.kid.as_deref(), header.alg)
                .await
                .map_err(SubjectTokenError::KeysUnavailable)?;
        if candidates.is_empty() {
            return Err(SubjectTokenRefusal::UnknownKey.into());
        }
        // The signature only: the exchange checks every claim.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        candidates
            .iter()
            .find_map(|candidate| {
                jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, &validation).ok()
            })
            .map(|data| data.claims)
            .ok_or(SubjectTokenRefusal::Signature.into())
    }
}
