//! Safe retries of create and rotate (contract §9): a request with an
//! `Idempotency-Key` runs once; a repeat within the retention period gets the
//! first one's response again, and changes nothing.
//!
//! A key is scoped to the caller, the operation and the path. The store keeps
//! only what the server key makes of it:
//! - the record is found by `HMAC(server key, scope, key)`;
//! - the request is compared by an HMAC under a key derived from the server
//!   key *and* the idempotency key;
//! - the recorded response (which holds a token) is sealed with
//!   XChaCha20-Poly1305 under another key derived from both, bound to its
//!   record and status.
//!
//! So a copy of the database, even with the key file, reveals neither a token
//! nor an idempotency key: opening a response needs the idempotency key,
//! which only the client has.
//!
//! An attempt holds a lease on its record while it runs. The operation's
//! change and the completion of the record commit in one transaction, so a
//! crash leaves either both or neither; an attempt that died leaves a lease
//! that runs out, after which a retry runs anew.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ServiceError;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::domain::ValidationError;
use crate::store::{
    Claimed, IdempotencyClaim, IdempotencyKeyMac, IdempotencyStore, IdempotentCompletion,
    SealedResponse,
};
use crate::token::keyring::TokenKeyring;

/// The request header that carries the key.
pub const KEY_HEADER: &str = "Idempotency-Key";
/// Shortest and longest key.
pub const KEY_MIN_LEN: usize = 16;
pub const KEY_MAX_LEN: usize = 255;
/// How long a key is remembered when not told otherwise.
pub const DEFAULT_RETENTION: TimeDelta = TimeDelta::hours(24);
/// How often expired records are deleted.
pub const CLEANUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Separates this use of the server key from its others.
const KEY_MAC_LABEL: &[u8] = b"hbx-sa idempotency key v1";
const RESPONSE_KEY_PURPOSE: &[u8] = b"hbx-sa idempotency response v1";
const REQUEST_KEY_PURPOSE: &[u8] = b"hbx-sa idempotency request v1";
const NONCE_LEN: usize = 24;

/// A valid idempotency key: 16 to 255 printable ASCII characters, neither
/// starting nor ending with a space (HTTP would drop it).
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let printable = value.bytes().all(|b| (b' '..=b'~').contains(&b));
        if !(KEY_MIN_LEN..=KEY_MAX_LEN).contains(&value.len())
            || !printable
            || value.starts_with(' ')
            || value.ends_with(' ')
        {
            return Err(ValidationError::new(
                KEY_HEADER,
                format!(
                    "must be {KEY_MIN_LEN} to {KEY_MAX_LEN} printable ASCII characters (send a \
                     random UUID); got {} characters{}",
                    value.chars().count(),
                    if printable {
                        ""
                    } else {
                        ", not all printable ASCII"
                    }
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// Never shows the key: it is a secret of the client's (it opens the recorded
/// response).
impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdempotencyKey(<redacted>)")
    }
}

/// Whose key it is and what for: the same key from another caller, or for
/// another operation or path, is another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub caller: Principal,
    /// The operation id.
    pub operation: String,
    /// The request's path, from its parsed parameters.
    pub path: String,
}

impl IdempotencyScope {
    fn bytes(&self, key: &IdempotencyKey) -> Vec<u8> {
        [
            self.caller.log_id().as_bytes(),
            self.operation.as_bytes(),
            self.path.as_bytes(),
            key.0.as_bytes(),
        ]
        .join(&0u8)
    }
}

/// A response as recorded: its status and its JSON body (for a refusal,
/// `error_code` and `message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begun {
    /// Run it, and complete the record with this attempt.
    Run(Attempt),
    /// Answered already: send this again.
    Replay(RecordedResponse),
}

/// A running attempt: only it may complete its record.
#[derive(Clone)]
pub struct Attempt {
    key_mac: Vec<u8>,
    lease: Uuid,
    response_key: [u8; 32],
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// The keys one server key version gives a scoped idempotency key.
struct Derived {
    version: u32,
    key_mac: Vec<u8>,
    request_key: [u8; 32],
    response_key: [u8; 32],
}

pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    keyring: Arc<TokenKeyring>,
    clock: Arc<dyn Clock>,
    retention: TimeDelta,
    lease: TimeDelta,
}

impl Idempotency {
    /// Records kept `retention`; an attempt that has not completed after
    /// `lease` is taken to have died (it must exceed any request's duration).
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        keyring: Arc<TokenKeyring>,
        clock: Arc<dyn Clock>,
        retention: TimeDelta,
        lease: TimeDelta,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            retention,
            lease,
        }
    }

    fn derive(&self, key: &IdempotencyKey, scope: &IdempotencyScope) -> Vec<Derived> {
        let scoped = scope.bytes(key);
        let secret = key.0.as_bytes();
        let purpose = |label: &[u8]| [label, &scoped].join(&0u8);
        self.keyring
            .versions()
            .into_iter()
            .filter_map(|version| {
                Some(Derived {
                    version,
                    key_mac: self
                        .keyring
                        .mac_under(version, &[KEY_MAC_LABEL, &scoped].join(&0u8))?
                        .to_vec(),
                    request_key: self.keyring.derive(
                        version,
                        secret,
                        &purpose(REQUEST_KEY_PURPOSE),
                    )?,
                    response_key: self.keyring.derive(
                        version,
                        secret,
                        &purpose(RESPONSE_KEY_PURPOSE),
                    )?,
                })
            })
            .collect()
    }

    /// Claims `key` for `request` (what makes two requests the same: the
    /// decoded input, serialized): run it, replay a recorded answer, or
    /// refuse ([`ServiceError::IdempotencyKeyReused`],
    /// [`ServiceError::IdempotencyKeyInUse`]).
    pub async fn begin(
        &self,
        key: &IdempotencyKey,
        scope: &IdempotencyScope,
        request: &impl Serialize,
    ) -> Result<Begun, ServiceError> {
        let request =
            serde_json::to_vec(request).map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let derived = self.derive(key, scope);
        let now = self.clock.now();
        let claim = IdempotencyClaim {
            keys: derived
                .iter()
                .map(|d| IdempotencyKeyMac {
                    key_version: d.version,
                    key_mac: d.key_mac.clone(),
                    request_mac: hmac(&d.request_key, &request).to_vec(),
                })
                .collect(),
            operation: scope.operation.clone(),
            at: now,
            expires_at: now + self.retention,
            lease: Uuid::new_v4(),
            lease_expires_at: now + self.lease,
        };
        match self.store.claim_idempotency_key(&claim).await? {
            Claimed::Run => {
                let current = derived.into_iter().next().ok_or_else(|| {
                    ServiceError::Internal("the keyring has no key version".into())
                })?;
                Ok(Begun::Run(Attempt {
                    key_mac: current.key_mac,
                    lease: claim.lease,
                    response_key: current.response_key,
                }))
            }
            Claimed::Done {
                key_version,
                response,
            } => {
                let keys = derived
                    .iter()
                    .find(|d| d.version == key_version)
                    .ok_or_else(|| {
                        ServiceError::Internal(
                            format!("a recorded response under unknown key v{key_version}").into(),
                        )
                    })?;
                open(&keys.response_key, &keys.key_mac, &response).map(Begun::Replay)
            }
            Claimed::InUse => Err(ServiceError::IdempotencyKeyInUse),
            Claimed::Reused => Err(ServiceError::IdempotencyKeyReused),
        }
    }

    /// The completion of `attempt` with `response`, sealed: for the store to
    /// write in the operation's own transaction.
    pub fn completion(
        &self,
        attempt: &Attempt,
        response: &RecordedResponse,
    ) -> IdempotentCompletion {
        IdempotentCompletion {
            key_mac: attempt.key_mac.clone(),
            lease: attempt.lease,
            response: seal(&attempt.response_key, &attempt.key_mac, response),
        }
    }

    /// Records a refusal (a 4xx: nothing changed) as `attempt`'s answer.
    pub async fn finish(
        &self,
        attempt: &Attempt,
        response: &RecordedResponse,
    ) -> Result<(), ServiceError> {
        match self
            .store
            .complete_idempotency_key(&self.completion(attempt, response))
            .await?
        {
            true => Ok(()),
            false => Err(ServiceError::IdempotencyKeyInUse),
        }
    }

    /// Forgets `attempt` (it failed in a way not to be replayed, a 5xx), so
    /// that a retry runs anew.
    pub async fn abandon(&self, attempt: &Attempt) -> Result<(), ServiceError> {
        Ok(self
            .store
            .release_idempotency_key(&attempt.key_mac, attempt.lease)
            .await?)
    }

    /// Deletes the records past their retention; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_expired_idempotency_keys(self.clock.now())
            .await?)
    }
}

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// What the sealed bytes are bound to: their record and their status, so
/// that nobody with write access to the table can move or relabel them.
fn associated_data(key_mac: &[u8], status: u16) -> Vec<u8> {
    [key_mac, &status.to_be_bytes()].concat()
}

fn seal(key: &[u8; 32], key_mac: &[u8], response: &RecordedResponse) -> SealedResponse {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XNonce::generate();
    let plaintext = serde_json::to_vec(&response.body).expect("JSON values serialize");
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: &associated_data(key_mac, response.status),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message this size");
    SealedResponse {
        status: response.status,
        sealed: [nonce.as_slice(), &sealed].concat(),
    }
}

fn open(
    key: &[u8; 32],
    key_mac: &[u8],
    response: &SealedResponse,
) -> Result<RecordedResponse, ServiceError> {
    let corrupt = || ServiceError::Internal("a recorded response does not open".into());
    if response.sealed.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let (nonce, ciphertext) = response.sealed.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| corrupt())?;
    let plaintext = XChaCha20Poly1305::new(key.into())
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &associated_data(key_mac, response.status),
            },
        )
        .map_err(|_| corrupt())?;
    Ok(RecordedResponse {
        status: response.status,
        body: serde_json::from_slice(&plaintext).map_err(|_| corrupt())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_at_the_boundaries() {
        assert!(IdempotencyKey::parse(&"k".repeat(16)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("a key with spaces inside").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(15)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse(" leading-space-key").is_err());
        assert!(IdempotencyKey::parse("trailing-space-key ").is_err());
        assert!(IdempotencyKey::parse("tab\tinside-the-key").is_err());
        assert!(IdempotencyKey::parse("non-ascii-ключ-key").is_err());
        let error = IdempotencyKey::parse("short").unwrap_err();
        assert_eq!(error.field, KEY_HEADER);
        assert!(!format!("{:?}", IdempotencyKey::parse(&"s".repeat(20)).unwrap()).contains('s'));
    }

    #[test]
    fn a_sealed_response_opens_only_with_its_key_record_and_status() {
        let key = [7u8; 32];
        let response = RecordedResponse {
            status: 201,
            body: serde_json::json!({"token": "hbxsa_secret"}),
        };
        let sealed = seal(&key, b"record", &response);
        assert!(!sealed.sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(open(&key, b"record", &sealed).unwrap(), response);
        assert!(open(&[8u8; 32], b"record", &sealed).is_err());
        assert!(open(&key, b"another", &sealed).is_err());
        let relabelled = SealedResponse {
            status: 200,
            ..sealed.clone()
        };
        assert!(open(&key, b"record", &relabelled).is_err());
        let mut flipped = sealed.clone();
        *flipped.sealed.last_mut().unwrap() ^= 1;
        assert!(open(&key, b"record", &flipped).is_err());
        // A fresh nonce each time.
        assert_ne!(seal(&key, b"record", &response).sealed, sealed.sealed);
    }
}
