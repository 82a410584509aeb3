//! An issuer's signing keys: fetched from its JWKS (a URL, a file, or the
//! `jwks_uri` its OpenID configuration names), cached, and fetched again when a
//! token names a key the cache does not hold, at most once per interval, so
//! garbage tokens cannot make the server hammer the issuer. Nothing is fetched
//! before the first token needs it: the server starts while the issuer is down.
//! A set older than its maximum age is refreshed in the background while the
//! known keys go on serving, so an issuer outage does not stall requests.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::auth::published::{FetchError, read_document};
use crate::clock::Clock;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
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

/// How keys are cached and refreshed.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// Least time between two fetches (an unknown `kid` triggers one).
    pub refetch_interval: TimeDelta,
    /// Keys older than this are refreshed on next use (so that keys the issuer
    /// withdrew stop being trusted); if that fails, the old ones stay in use.
    pub max_age: TimeDelta,
    /// Bound on one fetch.
    pub fetch_timeout: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            max_age: TimeDelta::minutes(10),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// One key an issuer signs with.
pub struct TrustedKey {
    kid: Option<String>,
    /// The only algorithm this key may verify.
    algorithm: Algorithm,
    pub key: DecodingKey,
}

struct Snapshot {
    keys: Vec<Arc<TrustedKey>>,
    fetched_at: DateTime<Utc>,
}

#[derive(Default)]
struct FetchState {
    /// Learned from discovery, once.
    jwks_uri: Option<String>,
}

/// An issuer or JWKS URL that is not https (nor plain http on loopback).
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} must be an https URL (plain http only on a loopback address), not {url:?}: keys \
     fetched in clear text could be replaced on the way"
)]
pub struct InsecureUrl {
    pub what: &'static str,
    pub url: String,
}

/// `url` is https, or http on a loopback address (127.0.0.0/8, ::1,
/// localhost).
pub fn require_https(url: &str, what: &'static str) -> Result<(), InsecureUrl> {
    let insecure = || InsecureUrl {
        what,
        url: url.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback { Ok(()) } else { Err(insecure()) }
        }
        _ => Err(insecure()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The keys cannot be had: `what` says what failed, `source` (for the
    /// log) why, when another error is the cause.
    #[error("the issuer's keys cannot be fetched: {what}")]
    Unavailable {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl KeyError {
    fn unavailable(what: impl Into<String>) -> Self {
        KeyError::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    fn caused(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        KeyError::Unavailable {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}

pub struct IssuerKeys {
    issuer: String,
    source: KeySource,
    policy: KeyPolicy,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held while fetching, so that one fetch serves every waiting request.
    fetching: tokio::sync::Mutex<FetchState>,
    last_attempt: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl IssuerKeys {
    pub fn new(
        issuer: String,
        source: KeySource,
        policy: KeyPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(policy.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("hbx-sa/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with no custom TLS settings builds");
        Self {
            issuer,
            source,
            policy,
            http,
            clock,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(FetchState::default()),
            last_attempt: std::sync::Mutex::new(None),
        }
    }

    /// The keys that may have signed a token whose header names `kid` (if
    /// any) and `algorithm`. Empty: no such key, even after a refetch.
    pub async fn candidates(
        self: &Arc<Self>,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Vec<Arc<TrustedKey>>, KeyError> {
        let snapshot = self.current.read().expect("keys lock").clone();
        if let Some(snapshot) = &snapshot {
            let found = matching(snapshot, kid, algorithm);
            if !found.is_empty() {
                // Known key. If the set is old, refresh it in the background:
                // this request does not wait for the issuer.
                if self.clock.now() - snapshot.fetched_at >= self.policy.max_age
                    && self.may_attempt()
                {
                    let keys = self.clone();
                    let seen = snapshot.fetched_at;
                    tokio::spawn(async move {
                        let _ = keys.refresh(Some(seen)).await;
                    });
                }
                return Ok(found);
            }
        }
        // No keys yet, or an unknown key: fetch now (rate limited).
        match self.refresh(snapshot.as_ref().map(|s| s.fetched_at)).await {
            Ok(Some(refreshed)) => Ok(matching(&refreshed, kid, algorithm)),
            // Refreshing is not allowed yet: answer from what we have.
            Ok(None) => match &snapshot {
                Some(snapshot) => Ok(matching(snapshot, kid, algorithm)),
                None => Err(KeyError::unavailable(
                    "no keys yet, and the last attempt to fetch them failed moments ago",
                )),
            },
            Err(error) => Err(error),
        }
    }

    /// Whether the refetch interval has passed since the last attempt.
    fn may_attempt(&self) -> bool {
        self.last_attempt
            .lock()
            .expect("attempt lock")
            .is_none_or(|last| self.clock.now() - last >= self.policy.refetch_interval)
    }

    /// Fetches the keys unless another caller just did, or the last attempt
    /// was less than the refetch interval ago (then `Ok(None)`).
    async fn refresh(
        &self,
        seen: Option<DateTime<Utc>>,
    ) -> Result<Option<Arc<Snapshot>>, KeyError> {
        let mut state = self.fetching.lock().await;
        // Someone refreshed while we waited for the lock: use theirs.
        if let Some(current) = self.current.read().expect("keys lock").clone()
            && Some(current.fetched_at) != seen
        {
            return Ok(Some(current));
        }
        if !self.may_attempt() {
            return Ok(None);
        }
        let now = self.clock.now();
        *self.last_attempt.lock().expect("attempt lock") = Some(now);
        let set = self.fetch(&mut state).await?;
        let snapshot = Arc::new(Snapshot {
            keys: set
                .keys
                .iter()
                .filter_map(trusted_key)
                .map(Arc::new)
                .collect(),
            fetched_at: now,
        });
        *self.current.write().expect("keys lock") = Some(snapshot.clone());
        Ok(Some(snapshot))
    }

    async fn fetch(&self, state: &mut FetchState) -> Result<JwkSet, KeyError> {
        let text = match &self.source {
            KeySource::Fixed(set) => return Ok(set.clone()),
            KeySource::JwksFile(path) => std::fs::read_to_string(path)
                .map_err(|e| KeyError::caused(format!("cannot read {}", path.display()), e))?,
            KeySource::JwksUrl(url) => self.get(url).await?,
            KeySource::Discover => {
                let jwks_uri = match &state.jwks_uri {
                    Some(uri) => uri.clone(),
                    None => {
                        let uri = self.discover().await?;
                        state.jwks_uri = Some(uri.clone());
                        uri
                    }
                };
                self.get(&jwks_uri).await?
            }
        };
        parse_jwks(&text)
    }

    async fn discover(&self) -> Result<String, KeyError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let text = self.get(&url).await?;
        let configuration: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| KeyError::caused(format!("{url} is not JSON"), e))?;
        // OpenID Connect Discovery §4.3: the issuer it states must be exactly
        // the one asked about, or its keys are someone else's.
        if configuration["issuer"].as_str() != Some(self.issuer.as_str()) {
            return Err(KeyError::unavailable(format!(
                "{url} states issuer {} instead of {:?}",
                configuration["issuer"], self.issuer
            )));
        }
        let jwks_uri = configuration["jwks_uri"]
            .as_str()
            .ok_or_else(|| KeyError::unavailable(format!("{url} names no jwks_uri")))?;
        require_https(jwks_uri, "the discovered jwks_uri")
            .map_err(|e| KeyError::caused(format!("{url} names an insecure jwks_uri"), e))?;
        Ok(jwks_uri.to_owned())
    }

    /// The body of `url` (bounded: [`crate::auth::published`]).
    async fn get(&self, url: &str) -> Result<String, KeyError> {
        let body = read_document(self.http.get(url), url)
            .await
            .map_err(|error| match error {
                FetchError::Http { url, source } => KeyError::caused(format!("GET {url}"), source),
                too_large @ FetchError::TooLarge { .. } => {
                    KeyError::unavailable(too_large.to_string())
                }
            })?;
        String::from_utf8(body)
            .map_err(|_| KeyError::unavailable(format!("GET {url}: the document is not UTF-8")))
    }
}

/// Reads a JWKS, skipping keys it cannot use (encryption keys, unknown types)
/// rather than failing on them: issuers publish all sorts.
fn parse_jwks(text: &str) -> Result<JwkSet, KeyError> {
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| KeyError::caused("the JWKS is not JSON", e))?;
    let keys = document["keys"]
        .as_array()
        .ok_or_else(|| KeyError::unavailable("the JWKS has no \"keys\" array"))?;
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

fn matching(snapshot: &Snapshot, kid: Option<&str>, algorithm: Algorithm) -> Vec<Arc<TrustedKey>> {
    snapshot
        .keys
        .iter()
        .filter(|key| key.algorithm == algorithm)
        .filter(|key| kid.is_none() || key.kid.as_deref() == kid)
        .cloned()
        .collect()
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
