//! An issuer's signing keys: its JWKS, from a URL, a file, or the `jwks_uri`
//! its OpenID configuration names (discovered once), read through the one
//! published-key fetcher ([`crate::auth::published`]: fetched when first
//! needed, refetched on an unknown `kid` at most once per interval, refreshed
//! in the background when old). Only signing keys of the accepted types are
//! kept.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::TimeDelta;
use futures::future::BoxFuture;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use slog::Logger;

use crate::auth::published::{
    KeySource, KeysUnavailable, PublishedKeys, RefreshPolicy, read_document, require_https,
};
use crate::clock::Clock;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum JwksLocation {
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discover,
    JwksUrl(String),
    /// A JWKS document on disk, read again whenever keys are refreshed.
    JwksFile(PathBuf),
    /// A fixed set (the development key).
    Fixed(JwkSet),
}

/// Least time between two JWKS fetches when not told otherwise.
pub const DEFAULT_REFETCH_INTERVAL: TimeDelta = TimeDelta::seconds(10);

/// How an issuer's keys are cached and refreshed when not told otherwise:
/// refetched at most every 10 s, refreshed once 10 minutes old.
pub fn default_policy() -> RefreshPolicy {
    RefreshPolicy {
        refetch_interval: DEFAULT_REFETCH_INTERVAL,
        max_age: Some(TimeDelta::minutes(10)),
        fetch_timeout: Duration::from_secs(5),
    }
}

/// One key an issuer signs with.
pub struct TrustedKey {
    kid: Option<String>,
    /// The only algorithm this key may verify.
    algorithm: Algorithm,
    pub key: DecodingKey,
}

/// An issuer's JWKS, as a published key source.
pub struct Jwks {
    issuer: String,
    location: JwksLocation,
    /// Learned from discovery, once.
    jwks_uri: Mutex<Option<String>>,
}

/// One issuer's keys.
pub type IssuerKeys = PublishedKeys<Jwks>;

/// The keys of `issuer`, from `location`.
pub fn issuer_keys(
    issuer: String,
    location: JwksLocation,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    log: Logger,
) -> IssuerKeys {
    PublishedKeys::new(
        Jwks {
            issuer,
            location,
            jwks_uri: Mutex::new(None),
        },
        policy,
        clock,
        log,
    )
}

/// The keys that may have signed a token whose header names `kid` (if any)
/// and `algorithm`. Empty: no such key, even after a refetch.
pub async fn candidates(
    keys: &Arc<IssuerKeys>,
    kid: Option<&str>,
    algorithm: Algorithm,
) -> Result<Vec<Arc<TrustedKey>>, KeysUnavailable> {
    keys.find(|key| key.algorithm == algorithm && (kid.is_none() || key.kid.as_deref() == kid))
        .await
}

impl KeySource for Jwks {
    type Key = TrustedKey;

    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<TrustedKey>, KeysUnavailable>> {
        Box::pin(async move {
            let text = match &self.location {
                JwksLocation::Fixed(set) => {
                    return Ok(set.keys.iter().filter_map(trusted_key).collect());
                }
                JwksLocation::JwksFile(path) => std::fs::read_to_string(path).map_err(|e| {
                    KeysUnavailable::caused(format!("cannot read {}", path.display()), e)
                })?,
                JwksLocation::JwksUrl(url) => get(http, url).await?,
                JwksLocation::Discover => {
                    let known = self
                        .jwks_uri
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    let jwks_uri = match known {
                        Some(uri) => uri,
                        None => {
                            let uri = self.discover(http).await?;
                            *self.jwks_uri.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some(uri.clone());
                            uri
                        }
                    };
                    get(http, &jwks_uri).await?
                }
            };
            Ok(parse_jwks(&text)?
                .keys
                .iter()
                .filter_map(trusted_key)
                .collect())
        })
    }
}

impl Jwks {
    async fn discover(&self, http: &reqwest::Client) -> Result<String, KeysUnavailable> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let text = get(http, &url).await?;
        let url = crate::redact::fetched_url(&url);
        let configuration: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| KeysUnavailable::caused(format!("{url} is not JSON"), e))?;
        // OpenID Connect Discovery §4.3: the issuer it states must be exactly
        // the one asked about, or its keys are someone else's.
        if configuration["issuer"].as_str() != Some(self.issuer.as_str()) {
            return Err(KeysUnavailable::new(format!(
                "{url} states issuer {} instead of {:?}",
                configuration["issuer"], self.issuer
            )));
        }
        let jwks_uri = configuration["jwks_uri"]
            .as_str()
            .ok_or_else(|| KeysUnavailable::new(format!("{url} names no jwks_uri")))?;
        require_https(jwks_uri, "the discovered jwks_uri")
            .map_err(|e| KeysUnavailable::caused(format!("{url} names an insecure jwks_uri"), e))?;
        Ok(jwks_uri.to_owned())
    }
}

/// The body of `url` as text (bounded: [`crate::auth::published`]).
async fn get(http: &reqwest::Client, url: &str) -> Result<String, KeysUnavailable> {
    String::from_utf8(read_document(http, url).await?).map_err(|_| {
        let url = crate::redact::fetched_url(url);
        KeysUnavailable::new(format!("GET {url}: the document is not UTF-8"))
    })
}

/// Reads a JWKS, skipping keys it cannot use (encryption keys, unknown types)
/// rather than failing on them: issuers publish all sorts.
pub fn parse_jwks(text: &str) -> Result<JwkSet, KeysUnavailable> {
    let document: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| KeysUnavailable::caused("the JWKS is not JSON", e))?;
    let keys = document["keys"]
        .as_array()
        .ok_or_else(|| KeysUnavailable::new("the JWKS has no \"keys\" array"))?;
    Ok(JwkSet {
        keys: keys
            .iter()
            .filter(|key| key["use"].as_str().is_none_or(|u| u == "sig"))
            .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
            .collect(),
    })
}

/// A usable signing key: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA),
/// whose declared `alg`, if any, agrees with its type. Anything else
/// (symmetric keys above all) is never trusted.
fn trusted_key(jwk: &Jwk) -> Option<TrustedKey> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    let declared_agrees = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => algorithm == Algorithm::EdDSA,
        Some(_) => false,
    };
    if !declared_agrees {
        return None;
    }
    Some(TrustedKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_keys_of_accepted_types_are_trusted() {
        let jwks = r#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "enc", "use": "enc", "alg": "RSA-OAEP"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "rsa", "alg": "RS256"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "pss", "alg": "PS256"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"},
            {"kty": "weird", "kid": "unknown"}
        ]}"#;
        let set = parse_jwks(jwks).unwrap();
        let kids: Vec<String> = set
            .keys
            .iter()
            .filter_map(trusted_key)
            .filter_map(|key| key.kid)
            .collect();
        assert_eq!(kids, vec!["rsa", "ed"]);
    }

    #[test]
    fn broken_documents_are_errors() {
        for text in ["", "[]", "{}", r#"{"keys": 1}"#] {
            assert!(parse_jwks(text).is_err(), "{text:?}");
        }
    }
}
