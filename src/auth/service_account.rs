//! The service-account token scheme: format check, lookup by public id, MAC
//! check in constant time, then revocation and expiry.

use std::sync::Arc;

use super::last_use::LastUseRecorder;
use super::{AuthError, CredentialFacts, Principal, Verified};
use crate::clock::Clock;
use crate::store::TokenLookup;
use crate::token::keyring::TokenKeyring;
use crate::token::{self, TokenFormatError, TokenPrefix};

pub struct ServiceAccountAuthenticator {
    credentials: Arc<dyn TokenLookup>,
    keyring: Arc<TokenKeyring>,
    prefix: TokenPrefix,
    clock: Arc<dyn Clock>,
    last_use: Option<Arc<LastUseRecorder>>,
}

impl ServiceAccountAuthenticator {
    /// An authenticator that records each successful use with `last_use`
    /// (none: uses are not recorded).
    pub fn new(
        credentials: Arc<dyn TokenLookup>,
        keyring: Arc<TokenKeyring>,
        prefix: TokenPrefix,
        clock: Arc<dyn Clock>,
        last_use: Option<Arc<LastUseRecorder>>,
    ) -> Self {
        Self {
            credentials,
            keyring,
            prefix,
            clock,
            last_use,
        }
    }

    /// Whether `credential` has this scheme's form (our prefix). A credential
    /// that does not is for another scheme.
    pub fn recognizes(&self, credential: &str) -> bool {
        credential
            .strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('_'))
    }

    pub async fn authenticate(&self, credential: &str) -> Result<Verified, AuthError> {
        // Everything that needs no database is checked first: a typo, a
        // truncated copy or a forged look-alike never costs a query.
        let parsed = token::parse(&self.prefix, credential).map_err(|e| {
            AuthError::InvalidToken(match e {
                TokenFormatError::WrongPrefix => "wrong prefix",
                TokenFormatError::Malformed => "malformed",
                TokenFormatError::BadChecksum => "bad checksum",
            })
        })?;
        let stored = self
            .credentials
            .find_by_public_id(parsed.public_id())
            .await?;
        let Some(stored) = stored else {
            self.keyring.burn_equivalent_work(parsed.as_str());
            return Err(AuthError::InvalidToken("unknown public id"));
        };
        if !self.keyring.verify(parsed.as_str(), &stored.mac) {
            return Err(AuthError::InvalidToken("wrong secret"));
        }
        let service_account = stored.service_account;
        if service_account.revoked_at.is_some() {
            return Err(AuthError::InvalidToken("revoked"));
        }
        if service_account.is_expired_at(self.clock.now()) {
            return Err(AuthError::InvalidToken("expired"));
        }
        if let Some(last_use) = &self.last_use {
            last_use.note(&service_account);
        }
        Ok(Verified {
            principal: Principal::ServiceAccount {
                service_account_id: service_account.id,
                account_id: service_account.account_id,
            },
            credential: CredentialFacts::ServiceAccountToken {
                public_id: service_account.token.public_id,
                name: service_account.name,
                issued_at: service_account.token.issued_at,
                expires_at: service_account.expires_at,
            },
        })
    }
}
