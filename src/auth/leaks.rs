//! Who may report leaked tokens: secret-scanning partners (GitHub's secret
//! scanning partner program, GitLab's token revocation), whose reports are
//! signed. Each report carries a key identifier and a base64 DER ECDSA
//! P-256/SHA-256 signature over the raw body, in `<Sender>-Public-Key-
//! Identifier` and `<Sender>-Public-Key-Signature` headers; the sender
//! publishes its public keys as `{"public_keys": [{"key_identifier", "key"
//! (PEM), "is_current"}]}`. The keys are fetched when first needed, cached,
//! and fetched again when a report names a key the cache does not hold, at
//! most once per refetch interval (a minute by default), so forged
//! identifiers cannot make the server hammer the sender.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::TimeDelta;
use futures::future::BoxFuture;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use slog::Logger;

use crate::auth::published::{
    InsecureUrl, KeySource, KeysUnavailable, PublishedKeys, RefreshPolicy, read_document,
    require_https,
};
use crate::clock::Clock;

/// Least time between two fetches of a sender's keys, when not told
/// otherwise.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where GitHub publishes the keys that sign its secret-scanning reports.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// A secret-scanning partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    GitHub,
    GitLab,
}

impl Sender {
    /// As the audit log and the metrics name it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Sender::GitHub => "github",
            Sender::GitLab => "gitlab",
        }
    }

    /// The header that names the signing key.
    pub fn key_identifier_header(&self) -> &'static str {
        match self {
            Sender::GitHub => "Github-Public-Key-Identifier",
            Sender::GitLab => "Gitlab-Public-Key-Identifier",
        }
    }

    /// The header that carries the signature.
    pub fn signature_header(&self) -> &'static str {
        match self {
            Sender::GitHub => "Github-Public-Key-Signature",
            Sender::GitLab => "Gitlab-Public-Key-Signature",
        }
    }
}

/// Why a report is not accepted as the sender's.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the signature is not base64 DER ECDSA")]
    Malformed,
    #[error("no published key has identifier {0:?}, even after fetching the keys again")]
    UnknownKey(String),
    #[error("the signature does not verify under key {0:?}")]
    Invalid(String),
    /// No key URL is configured for this sender: its reports are not taken.
    #[error("this server takes no reports from {0} (no keys URL is configured)")]
    NotConfigured(&'static str),
    /// The keys cannot be fetched now (none are held yet, or the report
    /// names a key not held and fetching again failed): the report may be
    /// genuine, signed by a key the sender just published; it should retry.
    #[error("the sender's public keys cannot be fetched")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A partner's key list, as a published key source.
pub struct PartnerKeys {
    url: String,
}

/// One key a partner signs with.
pub struct PartnerKey {
    identifier: String,
    key: VerifyingKey,
}

impl KeySource for PartnerKeys {
    type Key = PartnerKey;

    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<PartnerKey>, KeysUnavailable>> {
        Box::pin(async move {
            let document = read_document(http, &self.url).await?;
            parse_keys(&document).map_err(|e| {
                KeysUnavailable::caused(
                    format!(
                        "{} is not a public key list",
                        crate::redact::fetched_url(&self.url)
                    ),
                    e,
                )
            })
        })
    }
}

/// One sender's published keys, fetched on demand (none configured: its
/// reports are refused).
pub struct SenderKeys {
    sender: Sender,
    keys: Option<Arc<PublishedKeys<PartnerKeys>>>,
}

impl SenderKeys {
    /// Keys of `sender` published at `url` (none: its reports are refused),
    /// fetched again at most once per `refetch_interval`; the URL must be
    /// https, or http on loopback.
    pub fn new(
        sender: Sender,
        url: Option<String>,
        refetch_interval: Duration,
        clock: Arc<dyn Clock>,
        log: &Logger,
    ) -> Result<Self, InsecureUrl> {
        let keys = match url {
            None => None,
            Some(url) => {
                require_https(&url, "a secret-scanning keys URL")?;
                let policy = RefreshPolicy {
                    refetch_interval: TimeDelta::from_std(refetch_interval)
                        .unwrap_or(TimeDelta::MAX),
                    max_age: None,
                    fetch_timeout: FETCH_TIMEOUT,
                };
                let log = log.new(slog::o!("component" => "partner_keys",
                    "sender" => sender.as_str()));
                Some(Arc::new(PublishedKeys::new(
                    PartnerKeys { url },
                    policy,
                    clock,
                    log,
                )))
            }
        };
        Ok(Self { sender, keys })
    }

    pub fn sender(&self) -> Sender {
        self.sender
    }

    /// Checks that `body` was signed by the sender: `key_identifier` and
    /// `signature` are the values of its two headers.
    pub async fn verify(
        &self,
        key_identifier: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let Some(keys) = &self.keys else {
            return Err(SignatureError::NotConfigured(self.sender.as_str()));
        };
        let key_identifier =
            key_identifier.ok_or(SignatureError::Missing(self.sender.key_identifier_header()))?;
        let signature = signature.ok_or(SignatureError::Missing(self.sender.signature_header()))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or(SignatureError::Malformed)?;
        let found = keys
            .find(|key| key.identifier == key_identifier)
            .await
            .map_err(|e| SignatureError::Unavailable(Box::new(e)))?;
        let key = found
            .first()
            .ok_or_else(|| SignatureError::UnknownKey(key_identifier.to_owned()))?;
        key.key
            .verify(body, &signature)
            .map_err(|_| SignatureError::Invalid(key_identifier.to_owned()))
    }
}

/// The keys of a `{"public_keys": [...]}` document; keys that
/// are not P-256 public keys in PEM are left out.
pub fn parse_keys(document: &[u8]) -> Result<Vec<PartnerKey>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Document {
        public_keys: Vec<PublishedKey>,
    }
    #[derive(serde::Deserialize)]
    struct PublishedKey {
        key_identifier: String,
        key: String,
    }
    let document: Document = serde_json::from_slice(document)?;
    Ok(document
        .public_keys
        .into_iter()
        .filter_map(|published| {
            let key = VerifyingKey::from_public_key_pem(&published.key).ok()?;
            Some(PartnerKey {
                identifier: published.key_identifier,
                key,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_p256_are_left_out() {
        let document = br#"{"public_keys": [
            {"key_identifier": "bad", "key": "not a key", "is_current": true}
        ]}"#;
        assert!(parse_keys(document).unwrap().is_empty());
        assert!(parse_keys(b"[]").is_err());
    }
}
