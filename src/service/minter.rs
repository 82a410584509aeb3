//! Minting service-account tokens: their prefix and the keys that MAC them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{ServiceAccount, ServiceAccountName, TokenFacts};
use crate::store::StoredServiceAccount;
use crate::token::keyring::{TokenKeyring, TokenMac};
use crate::token::{self, PlaintextToken, TokenPrefix};

/// Mints service-account tokens: their prefix and the keys that MAC them.
/// (Not to be confused with an OAuth issuer, which vouches for users.)
#[derive(Clone)]
pub struct TokenMinter {
    pub prefix: TokenPrefix,
    pub keyring: Arc<TokenKeyring>,
}

impl TokenMinter {
    /// A new token issued at `at`, the facts about it that are shown, and the
    /// MAC that is stored.
    pub fn issue(&self, at: DateTime<Utc>) -> (PlaintextToken, TokenFacts, TokenMac) {
        let generated = token::generate(&self.prefix);
        let mac = self.keyring.mac(generated.plaintext.expose());
        let facts = TokenFacts {
            prefix: self.prefix.as_str().to_owned(),
            public_id: generated.public_id,
            last4: generated.last4,
            issued_at: at,
        };
        (generated.plaintext, facts, mac)
    }

    /// A new service account, not yet stored, with a fresh token.
    pub fn new_service_account(
        &self,
        account_id: Uuid,
        name: &ServiceAccountName,
        created_by_user_id: Option<Uuid>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> (StoredServiceAccount, PlaintextToken) {
        let (token, facts, mac) = self.issue(now);
        let service_account = ServiceAccount {
            id: Uuid::new_v4(),
            account_id,
            name: name.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            created_by_user_id,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            revoked_by_user_id: None,
            revoked_reason: None,
            token: facts,
            previous_token: None,
            static_token_disabled_at: None,
        };
        (
            StoredServiceAccount {
                service_account,
                mac,
                previous_mac: None,
                federated: None,
            },
            token,
        )
    }
}
