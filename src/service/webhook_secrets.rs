//! Webhook signing secrets at rest: sealed (XChaCha20-Poly1305) under a key
//! derived from the token keys, bound to their subscription, so the database
//! alone never gives one away and a sealed secret cannot be moved to another
//! subscription.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

use crate::domain::SigningSecret;
use crate::store::SealedSecret;
use crate::token::keyring::TokenKeyring;

const PURPOSE: &[u8] = b"hbx-sa webhook signing secrets v1";
const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretSealer {
    keyring: Arc<TokenKeyring>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the signing secret of webhook {0} does not open (a token key it was sealed under is gone, or the row was altered)"
)]
pub struct UnopenableSecret(pub Uuid);

impl SecretSealer {
    pub fn new(keyring: Arc<TokenKeyring>) -> Self {
        Self { keyring }
    }

    fn cipher(&self, version: u32) -> Option<XChaCha20Poly1305> {
        let key = self.keyring.derive(version, &[], PURPOSE)?;
        Some(XChaCha20Poly1305::new(&key.into()))
    }

    pub fn seal(&self, webhook_id: Uuid, secret: &SigningSecret) -> SealedSecret {
        let version = self.keyring.current_version();
        let cipher = self
            .cipher(version)
            .expect("the current key version exists");
        let nonce = XNonce::generate();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.bytes(),
                    aad: webhook_id.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts 32 bytes");
        SealedSecret {
            key_version: version,
            sealed: [nonce.as_slice(), &sealed].concat(),
        }
    }

    pub fn open(
        &self,
        webhook_id: Uuid,
        sealed: &SealedSecret,
    ) -> Result<SigningSecret, UnopenableSecret> {
        let fail = || UnopenableSecret(webhook_id);
        if sealed.sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ciphertext) = sealed.sealed.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| fail())?;
        let plain = self
            .cipher(sealed.key_version)
            .ok_or_else(fail)?
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: webhook_id.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        SigningSecret::from_bytes(&plain).ok_or_else(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_subscription_only() {
        let sealer = SecretSealer::new(Arc::new(TokenKeyring::single(1, [7; 32])));
        let secret = SigningSecret::generate();
        let id = Uuid::new_v4();
        let sealed = sealer.seal(id, &secret);
        assert!(!sealed.sealed.windows(32).any(|w| w == secret.bytes()));
        assert_eq!(sealer.open(id, &sealed).unwrap(), secret);
        assert!(sealer.open(Uuid::new_v4(), &sealed).is_err());
        let mut altered = sealed.clone();
        altered.sealed[30] ^= 1;
        assert!(sealer.open(id, &altered).is_err());
        let other = SecretSealer::new(Arc::new(TokenKeyring::single(1, [8; 32])));
        assert!(other.open(id, &sealed).is_err());
        let unknown = SealedSecret {
            key_version: 9,
            ..sealed
        };
        assert!(sealer.open(id, &unknown).is_err());
    }
}
